//! A buffer's or an image's memory requirements read through erupt with
//! `VkMemoryDedicatedRequirements` chained (Vulkan 1.1), so the caller learns
//! whether the resource wants a memory object of its own.

use {
    crate::convert::memory_requirements_from_erupt,
    erupt::{vk, DeviceLoader, ExtendableFrom},
    gpu_alloc_types::{DedicatedNeed, ResourceRequirements},
};

/// Runs `query` on a `VkMemoryRequirements2` with `VkMemoryDedicatedRequirements`
/// in its chain, then reads both.
fn query_with_dedicated(query: impl FnOnce(&mut vk::MemoryRequirements2)) -> ResourceRequirements {
    let mut dedicated = vk::MemoryDedicatedRequirementsBuilder::new();
    let mut out = vk::MemoryRequirements2Builder::new().extend_from(&mut dedicated);
    query(&mut out);
    let memory = out.memory_requirements;
    let need = DedicatedNeed::from_flags(
        dedicated.requires_dedicated_allocation == vk::TRUE,
        dedicated.prefers_dedicated_allocation == vk::TRUE,
    );
    ResourceRequirements::new(memory_requirements_from_erupt(&memory), need)
}

/// Reads `buffer`'s memory requirements with `vkGetBufferMemoryRequirements2`,
/// and whether it needs a dedicated memory object.
///
/// ```no_run
/// # use erupt::{vk, DeviceLoader};
/// # use gpu_alloc::{AllocOptions, Dedicated, GpuAllocator, Request, UsageFlags};
/// # use gpu_alloc_erupt::{buffer_memory_requirements2, dedicated_buffer, DedicatedNeed};
/// # unsafe fn demo(
/// #     allocator: &mut GpuAllocator<vk::DeviceMemory>,
/// #     memory_device: &impl gpu_alloc_types::MemoryDevice<vk::DeviceMemory>,
/// #     device: &DeviceLoader,
/// #     buffer: vk::Buffer,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// // SAFETY: a Vulkan 1.1 device and one of its buffers.
/// let needs = unsafe { buffer_memory_requirements2(device, buffer) };
/// let request: Request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
/// let options = AllocOptions::new().dedicated_resource(dedicated_buffer(buffer));
/// let options = match needs.dedicated {
///     Some(DedicatedNeed::Required) => options.dedicated(Dedicated::Required),
///     Some(DedicatedNeed::Preferred) => options.dedicated(Dedicated::Preferred),
///     None => options,
/// };
/// // SAFETY: `memory_device` is the allocator's device.
/// let _block = unsafe { allocator.try_alloc_with_options(memory_device, request, options)? };
/// # Ok(()) }
/// ```
///
/// # Safety
///
/// - `device` has Vulkan 1.1, so erupt loaded `vkGetBufferMemoryRequirements2`:
///   its instance was created with `apiVersion` 1.1 or later, and its physical
///   device reports 1.1 or later.
/// - `buffer` is a live buffer of `device`.
pub unsafe fn buffer_memory_requirements2(
    device: &DeviceLoader,
    buffer: vk::Buffer,
) -> ResourceRequirements {
    let info = vk::BufferMemoryRequirementsInfo2Builder::new().buffer(buffer);
    query_with_dedicated(|out| {
        // SAFETY: the caller guarantees a Vulkan 1.1 device and a live buffer
        // of it; `out` has `VkMemoryDedicatedRequirements` chained, which 1.1
        // allows, and outlives the call.
        unsafe { device.get_buffer_memory_requirements2(&info, out) }
    })
}

/// Reads `image`'s memory requirements with `vkGetImageMemoryRequirements2`,
/// and whether it needs a dedicated memory object.
///
/// # Safety
///
/// - `device` has Vulkan 1.1, as for [`buffer_memory_requirements2`].
/// - `image` is a live image of `device` without `VK_IMAGE_CREATE_DISJOINT_BIT`
///   (the planes of a disjoint image have requirements of their own).
pub unsafe fn image_memory_requirements2(
    device: &DeviceLoader,
    image: vk::Image,
) -> ResourceRequirements {
    let info = vk::ImageMemoryRequirementsInfo2Builder::new().image(image);
    query_with_dedicated(|out| {
        // SAFETY: the caller guarantees a Vulkan 1.1 device and a live
        // non-disjoint image of it; `out` is as for buffers.
        unsafe { device.get_image_memory_requirements2(&info, out) }
    })
}
