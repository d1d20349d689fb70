//! Conversions between erupt's types and gpu-alloc's: every flag, memory type,
//! heap, requirement and error mapping of this crate lives here.

use {
    erupt::{vk, ObjectHandle},
    gpu_alloc_types::{
        AllocationFlags, DedicatedResource, DeviceMapError, ExternalMemoryHandleTypes,
        FromMemoryRequirements, MemoryHeapFlags, MemoryHeapInfo, MemoryPropertyFlags,
        MemoryRequirements, MemoryTypeInfo, OutOfMemory,
    },
};

/// Converts memory property flags to gpu-alloc's (the gpu-alloc-erupt 0.9
/// function). Bits above the low byte (`RDMA_CAPABLE_NV` and any bit newer than
/// erupt) do not fit in [`MemoryPropertyFlags`] and are dropped here:
/// [`memory_type_info_from_erupt`] keeps them.
pub fn memory_properties_from_erupt(flags: vk::MemoryPropertyFlags) -> MemoryPropertyFlags {
    MemoryTypeInfo {
        heap: 0,
        raw_flags: flags.bits(),
    }
    .props()
}

/// Converts gpu-alloc's memory property flags to erupt's (the gpu-alloc-erupt 0.9
/// function). Lossless: erupt names every bit of [`MemoryPropertyFlags`].
pub fn memory_properties_to_erupt(flags: MemoryPropertyFlags) -> vk::MemoryPropertyFlags {
    vk::MemoryPropertyFlags::from_bits_truncate(u32::from(flags.bits()))
}

/// Describes a memory type with every property bit the driver reported, known to
/// erupt or not.
pub fn memory_type_info_from_erupt(memory_type: &vk::MemoryType) -> MemoryTypeInfo {
    MemoryTypeInfo {
        heap: memory_type.heap_index,
        raw_flags: memory_type.property_flags.bits(),
    }
}

/// Converts heap flags to gpu-alloc's, keeping bits that neither crate names.
pub fn heap_flags_from_erupt(flags: vk::MemoryHeapFlags) -> MemoryHeapFlags {
    MemoryHeapFlags::from_bits_retain(flags.bits())
}

/// Converts gpu-alloc's heap flags to erupt's. Bits that erupt does not name are
/// dropped.
pub fn heap_flags_to_erupt(flags: MemoryHeapFlags) -> vk::MemoryHeapFlags {
    vk::MemoryHeapFlags::from_bits_truncate(flags.bits())
}

/// Describes a memory heap with its size and every flag the driver reported.
pub fn memory_heap_info_from_erupt(heap: &vk::MemoryHeap) -> MemoryHeapInfo {
    MemoryHeapInfo {
        size: heap.size,
        flags: heap_flags_from_erupt(heap.flags),
    }
}

/// Converts allocation flags to the `VkMemoryAllocateFlags` that express them.
pub fn allocation_flags_to_erupt(flags: AllocationFlags) -> vk::MemoryAllocateFlags {
    let mut out = vk::MemoryAllocateFlags::empty();
    if flags.contains(AllocationFlags::DEVICE_ADDRESS) {
        out |= vk::MemoryAllocateFlags::DEVICE_ADDRESS;
    }
    out
}

/// Converts `VkMemoryAllocateFlags` to the allocation flags gpu-alloc knows.
/// Flags with no counterpart (`DEVICE_MASK`, `DEVICE_ADDRESS_CAPTURE_REPLAY`) are
/// dropped.
pub fn allocation_flags_from_erupt(flags: vk::MemoryAllocateFlags) -> AllocationFlags {
    let mut out = AllocationFlags::empty();
    if flags.contains(vk::MemoryAllocateFlags::DEVICE_ADDRESS) {
        out |= AllocationFlags::DEVICE_ADDRESS;
    }
    out
}

/// Converts a resource's memory requirements (from
/// `vkGetBufferMemoryRequirements` or `vkGetImageMemoryRequirements`).
pub fn memory_requirements_from_erupt(requirements: &vk::MemoryRequirements) -> MemoryRequirements {
    MemoryRequirements::new(
        requirements.size,
        requirements.alignment,
        requirements.memory_type_bits,
    )
}

/// The allocation request for a resource with these memory requirements, used
/// as `usage` says: with `gpu-alloc`, a `gpu_alloc::Request` from a
/// `gpu_alloc::UsageFlags`.
///
/// ```
/// use erupt::vk;
/// use gpu_alloc::{Request, UsageFlags};
///
/// let requirements = vk::MemoryRequirements {
///     size: 1000,
///     alignment: 256,
///     memory_type_bits: 0b110,
/// };
/// let request: Request = gpu_alloc_erupt::request_from_requirements(&requirements, UsageFlags::UPLOAD);
/// assert_eq!(
///     request,
///     Request { size: 1000, align_mask: 255, usage: UsageFlags::UPLOAD, memory_types: 0b110 },
/// );
/// ```
///
/// The type of the request is usually inferred from where it goes
/// (`GpuAllocator::alloc`). This crate depends on `gpu-alloc-types` alone, which
/// is why the request type is a parameter: `gpu-alloc` implements
/// [`FromMemoryRequirements`] for its `Request`.
pub fn request_from_requirements<R, U>(requirements: &vk::MemoryRequirements, usage: U) -> R
where
    R: FromMemoryRequirements<U>,
{
    R::from_memory_requirements(memory_requirements_from_erupt(requirements), usage)
}

/// The dedicated resource for `buffer`, for a dedicated block made for it
/// (`gpu_alloc::AllocOptions::dedicated_resource`): the allocator then sends
/// the buffer in `VkMemoryDedicatedAllocateInfo`.
///
/// ```
/// use erupt::vk;
/// use gpu_alloc_types::DedicatedResource;
///
/// let buffer = vk::Buffer(0x1234);
/// assert_eq!(gpu_alloc_erupt::dedicated_buffer(buffer), DedicatedResource::Buffer(0x1234));
/// ```
pub fn dedicated_buffer(buffer: vk::Buffer) -> DedicatedResource {
    DedicatedResource::Buffer(buffer.to_raw())
}

/// The dedicated resource for `image`, as [`dedicated_buffer`] is for buffers.
pub fn dedicated_image(image: vk::Image) -> DedicatedResource {
    DedicatedResource::Image(image.to_raw())
}

/// The buffer and the image of `VkMemoryDedicatedAllocateInfo` for a
/// dedicated resource: one of them, the other null.
pub(crate) fn dedicated_to_erupt(resource: DedicatedResource) -> (vk::Buffer, vk::Image) {
    match resource {
        DedicatedResource::Buffer(raw) => (vk::Buffer::from_raw(raw), vk::Image::null()),
        DedicatedResource::Image(raw) => (vk::Buffer::null(), vk::Image::from_raw(raw)),
    }
}

/// Converts export handle types to `VkExternalMemoryHandleTypeFlags`, keeping
/// every bit (the bit values are Vulkan's), those newer than erupt too: a
/// handle type the application enabled and erupt does not name still reaches
/// the driver.
pub(crate) fn handle_types_to_erupt(
    types: ExternalMemoryHandleTypes,
) -> vk::ExternalMemoryHandleTypeFlags {
    // SAFETY: `from_bits_unchecked` asks that extra bits be valid for the
    // type. `ExternalMemoryHandleTypeFlags` is `VkExternalMemoryHandleTypeFlags`
    // itself (`repr(transparent)` over its `u32`), handed to Vulkan as it is,
    // and every Vulkan bit is a valid value of it: bits erupt does not name
    // are handle types of later versions of the spec.
    unsafe { vk::ExternalMemoryHandleTypeFlags::from_bits_unchecked(types.bits()) }
}

/// Maps a failed `VkResult` of an allocation, flush or invalidation. Only
/// `VK_ERROR_OUT_OF_HOST_MEMORY` is host-side; `VK_ERROR_TOO_MANY_OBJECTS`, the
/// external-handle and capture-address errors and any unexpected code count as the
/// device being out of memory, which the allocator handles by failing the request.
/// No driver result ever panics.
pub fn out_of_memory_from_erupt(result: vk::Result) -> OutOfMemory {
    if result == vk::Result::ERROR_OUT_OF_HOST_MEMORY {
        OutOfMemory::OutOfHostMemory
    } else {
        OutOfMemory::OutOfDeviceMemory
    }
}

/// Maps a failed `VkResult` of `vkMapMemory`; anything unexpected is
/// [`DeviceMapError::MapFailed`].
pub fn map_error_from_erupt(result: vk::Result) -> DeviceMapError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => DeviceMapError::OutOfHostMemory,
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => DeviceMapError::OutOfDeviceMemory,
        _ => DeviceMapError::MapFailed,
    }
}

#[cfg(test)]
mod tests;
