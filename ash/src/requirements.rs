//! A buffer's or an image's memory requirements read with
//! `VkMemoryDedicatedRequirements` chained (Vulkan 1.1), so the caller learns
//! whether the resource wants a memory object of its own.

use {
    crate::convert::memory_requirements_from_ash,
    ash::vk,
    gpu_alloc_types::{DedicatedNeed, ResourceRequirements},
};

/// Calls `query` with a `VkMemoryRequirements2` that has
/// `VkMemoryDedicatedRequirements` chained, and reads what it wrote.
fn read_with(query: impl FnOnce(&mut vk::MemoryRequirements2<'_>)) -> ResourceRequirements {
    let mut dedicated = vk::MemoryDedicatedRequirements::default();
    let mut requirements = vk::MemoryRequirements2::default().push_next(&mut dedicated);
    query(&mut requirements);
    let memory = requirements.memory_requirements;
    let dedicated = DedicatedNeed::from_flags(
        dedicated.requires_dedicated_allocation == vk::TRUE,
        dedicated.prefers_dedicated_allocation == vk::TRUE,
    );
    ResourceRequirements::new(memory_requirements_from_ash(&memory), dedicated)
}

/// Reads `buffer`'s memory requirements with `vkGetBufferMemoryRequirements2`
/// and `VkMemoryDedicatedRequirements`.
///
/// ```no_run
/// # use ash::vk;
/// # use gpu_alloc::{AllocOptions, Dedicated, GpuAllocator, Request, UsageFlags};
/// # use gpu_alloc_ash::{buffer_memory_requirements2, dedicated_buffer, DedicatedNeed};
/// # unsafe fn demo(
/// #     allocator: &mut GpuAllocator<vk::DeviceMemory>,
/// #     memory_device: &impl gpu_alloc_types::MemoryDevice<vk::DeviceMemory>,
/// #     device: &ash::Device,
/// #     buffer: vk::Buffer,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// // SAFETY: a Vulkan 1.1 device and one of its buffers.
/// let needs = unsafe { buffer_memory_requirements2(device, buffer) };
/// let request: Request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
/// let mut options = AllocOptions::new().dedicated_resource(dedicated_buffer(buffer));
/// match needs.dedicated {
///     Some(DedicatedNeed::Required) => options = options.dedicated(Dedicated::Required),
///     Some(DedicatedNeed::Preferred) => options = options.dedicated(Dedicated::Preferred),
///     None => {}
/// }
/// // SAFETY: `memory_device` is the allocator's device.
/// let _block = unsafe { allocator.try_alloc_with_options(memory_device, request, options)? };
/// # Ok(()) }
/// ```
///
/// # Safety
///
/// - `device` has Vulkan 1.1: it was created from a physical device whose
///   `apiVersion` is 1.1 or later, by an instance created with `apiVersion`
///   1.1 or later (for `vkGetBufferMemoryRequirements2`).
/// - `buffer` is a live buffer of `device`.
pub unsafe fn buffer_memory_requirements2(
    device: &ash::Device,
    buffer: vk::Buffer,
) -> ResourceRequirements {
    let info = vk::BufferMemoryRequirementsInfo2::default().buffer(buffer);
    read_with(|out| {
        // SAFETY: the caller guarantees a Vulkan 1.1 device and a live buffer
        // of it; `out` is a `VkMemoryRequirements2` with
        // `VkMemoryDedicatedRequirements` chained, valid in 1.1, and outlives
        // the call.
        unsafe { device.get_buffer_memory_requirements2(&info, out) }
    })
}

/// Reads `image`'s memory requirements with `vkGetImageMemoryRequirements2`
/// and `VkMemoryDedicatedRequirements`, as [`buffer_memory_requirements2`]
/// does for buffers.
///
/// # Safety
///
/// - `device` has Vulkan 1.1, as for [`buffer_memory_requirements2`].
/// - `image` is a live image of `device`, not created with
///   `VK_IMAGE_CREATE_DISJOINT_BIT` (a disjoint image's planes have
///   requirements of their own, read with `VkImagePlaneMemoryRequirementsInfo`).
pub unsafe fn image_memory_requirements2(
    device: &ash::Device,
    image: vk::Image,
) -> ResourceRequirements {
    let info = vk::ImageMemoryRequirementsInfo2::default().image(image);
    read_with(|out| {
        // SAFETY: the caller guarantees a Vulkan 1.1 device and a live,
        // non-disjoint image of it; `out` is as for buffers.
        unsafe { device.get_image_memory_requirements2(&info, out) }
    })
}
