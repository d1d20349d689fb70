//! Conversions between ash's types and those of `gpu-alloc-types`: every flag,
//! memory type, heap, requirement and error mapping of the crate lives here.
//!
//! [`MemoryPropertyFlags`] and [`MemoryHeapFlags`] use the Vulkan bit values (the
//! types crate promises it, and the unit tests pair every flag with ash's constant),
//! so those conversions keep bits as they are. [`AllocationFlags`] has bit values
//! of its own, so it goes through a table. [`ExternalMemoryHandleTypes`] uses
//! Vulkan's bits too, and [`DedicatedResource`] holds raw Vulkan handles.

use {
    ash::vk::{self, Handle},
    gpu_alloc_types::{
        AllocationFlags, DedicatedResource, DeviceMapError, ExternalMemoryHandleTypes,
        FromMemoryRequirements, MemoryHeapFlags, MemoryHeapInfo, MemoryPropertyFlags,
        MemoryRequirements, MemoryTypeInfo, OutOfMemory,
    },
};

/// Every [`AllocationFlags`] flag next to the `VkMemoryAllocateFlags` bit it asks
/// for. The bit values differ (`DEVICE_ADDRESS` is `0x1` here and `0x2` in
/// Vulkan).
const ALLOCATION_TABLE: [(AllocationFlags, vk::MemoryAllocateFlags); 1] = [(
    AllocationFlags::DEVICE_ADDRESS,
    vk::MemoryAllocateFlags::DEVICE_ADDRESS,
)];

/// Converts memory property flags to ours (the gpu-alloc-ash 0.7 function).
/// Bits above the low byte (such as `RDMA_CAPABLE_NV`) do not fit in
/// [`MemoryPropertyFlags`] and are dropped: use [`memory_type_info_from_ash`] to
/// keep them.
pub fn memory_properties_from_ash(flags: vk::MemoryPropertyFlags) -> MemoryPropertyFlags {
    // Same bit values by design (see the unit tests); the cast keeps the
    // low byte, which is all MemoryPropertyFlags can hold.
    MemoryPropertyFlags::from_bits_retain((flags.as_raw() & MemoryTypeInfo::KNOWN_BITS) as u8)
}

/// Converts our memory property flags to ash's (the gpu-alloc-ash 0.7
/// function). Lossless.
pub fn memory_properties_to_ash(flags: MemoryPropertyFlags) -> vk::MemoryPropertyFlags {
    vk::MemoryPropertyFlags::from_raw(u32::from(flags.bits()))
}

/// Converts a Vulkan memory type, keeping every property bit in
/// [`MemoryTypeInfo::raw_flags`], so the allocator can refuse types whose bits it
/// does not know.
pub fn memory_type_info_from_ash(memory_type: &vk::MemoryType) -> MemoryTypeInfo {
    MemoryTypeInfo {
        heap: memory_type.heap_index,
        raw_flags: memory_type.property_flags.as_raw(),
    }
}

/// Converts memory heap flags to ours, keeping every bit (unknown ones too).
pub fn heap_flags_from_ash(flags: vk::MemoryHeapFlags) -> MemoryHeapFlags {
    MemoryHeapFlags::from_bits_retain(flags.as_raw())
}

/// Converts our memory heap flags to ash's, keeping every bit.
pub fn heap_flags_to_ash(flags: MemoryHeapFlags) -> vk::MemoryHeapFlags {
    vk::MemoryHeapFlags::from_raw(flags.bits())
}

/// Converts a Vulkan memory heap.
pub fn memory_heap_info_from_ash(heap: &vk::MemoryHeap) -> MemoryHeapInfo {
    MemoryHeapInfo {
        size: heap.size,
        flags: heap_flags_from_ash(heap.flags),
    }
}

/// Converts allocation flags to the `VkMemoryAllocateFlags` they ask for.
pub fn allocation_flags_to_ash(flags: AllocationFlags) -> vk::MemoryAllocateFlags {
    ALLOCATION_TABLE
        .iter()
        .filter(|(ours, _)| flags.contains(*ours))
        .fold(vk::MemoryAllocateFlags::empty(), |acc, (_, theirs)| {
            acc | *theirs
        })
}

/// Converts `VkMemoryAllocateFlags` to allocation flags. Vulkan bits without an
/// [`AllocationFlags`] counterpart (`DEVICE_MASK`, `DEVICE_ADDRESS_CAPTURE_REPLAY`)
/// are dropped.
pub fn allocation_flags_from_ash(flags: vk::MemoryAllocateFlags) -> AllocationFlags {
    ALLOCATION_TABLE
        .iter()
        .filter(|(_, theirs)| flags.contains(*theirs))
        .fold(AllocationFlags::empty(), |acc, (ours, _)| acc | *ours)
}

/// Converts a resource's memory requirements (from
/// `vkGetBufferMemoryRequirements` or `vkGetImageMemoryRequirements`).
pub fn memory_requirements_from_ash(requirements: &vk::MemoryRequirements) -> MemoryRequirements {
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
/// use ash::vk;
/// use gpu_alloc::{Request, UsageFlags};
///
/// let requirements = vk::MemoryRequirements {
///     size: 1000,
///     alignment: 256,
///     memory_type_bits: 0b110,
/// };
/// let request: Request = gpu_alloc_ash::request_from_requirements(&requirements, UsageFlags::UPLOAD);
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
    R::from_memory_requirements(memory_requirements_from_ash(requirements), usage)
}

/// The dedicated resource for `buffer`, for a dedicated block made for it
/// (`gpu_alloc::AllocOptions::dedicated_resource`): the allocator then sends
/// the buffer in `VkMemoryDedicatedAllocateInfo`.
///
/// ```
/// use ash::vk::{self, Handle};
/// use gpu_alloc_types::DedicatedResource;
///
/// let buffer = vk::Buffer::from_raw(0x1234);
/// assert_eq!(gpu_alloc_ash::dedicated_buffer(buffer), DedicatedResource::Buffer(0x1234));
/// ```
pub fn dedicated_buffer(buffer: vk::Buffer) -> DedicatedResource {
    DedicatedResource::Buffer(buffer.as_raw())
}

/// The dedicated resource for `image`, as [`dedicated_buffer`] is for buffers.
pub fn dedicated_image(image: vk::Image) -> DedicatedResource {
    DedicatedResource::Image(image.as_raw())
}

/// The buffer and the image of `VkMemoryDedicatedAllocateInfo` for a
/// dedicated resource: one of them, the other null.
pub(crate) fn dedicated_to_ash(resource: DedicatedResource) -> (vk::Buffer, vk::Image) {
    match resource {
        DedicatedResource::Buffer(raw) => (vk::Buffer::from_raw(raw), vk::Image::null()),
        DedicatedResource::Image(raw) => (vk::Buffer::null(), vk::Image::from_raw(raw)),
    }
}

/// Converts export handle types to `VkExternalMemoryHandleTypeFlags`, keeping
/// every bit (the bit values are Vulkan's).
pub(crate) fn handle_types_to_ash(
    types: ExternalMemoryHandleTypes,
) -> vk::ExternalMemoryHandleTypeFlags {
    vk::ExternalMemoryHandleTypeFlags::from_raw(types.bits())
}

/// How a `VkResult` error becomes an error of `gpu-alloc-types`. The one place the
/// crate decides it; no driver result ever panics.
///
/// | `VkResult`                          | allocate, flush, invalidate | map                  |
/// |-------------------------------------|-----------------------------|----------------------|
/// | `ERROR_OUT_OF_HOST_MEMORY`          | `OutOfHostMemory`           | `OutOfHostMemory`    |
/// | `ERROR_OUT_OF_DEVICE_MEMORY`        | `OutOfDeviceMemory`         | `OutOfDeviceMemory`  |
/// | `ERROR_TOO_MANY_OBJECTS`            | `OutOfDeviceMemory`         | `OutOfDeviceMemory`  |
/// | `ERROR_MEMORY_MAP_FAILED`           | `OutOfDeviceMemory`         | `MapFailed`          |
/// | anything else (`ERROR_DEVICE_LOST`, `ERROR_INVALID_EXTERNAL_HANDLE`, `ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS`, `ERROR_UNKNOWN`, ...) | `OutOfDeviceMemory` | `MapFailed` |
///
/// The catch-all rows pick the error after which the allocator gives up on the
/// memory type or the mapping without retrying the same call: a lost device
/// fails every later call anyway, and the other results cannot come from the
/// calls this crate makes (no imported handles, no capture-replay addresses).
/// A successful `vkMapMemory` that returns a null pointer is `MapFailed` too.
pub fn out_of_memory_from_ash(result: vk::Result) -> OutOfMemory {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => OutOfMemory::OutOfHostMemory,
        // ERROR_OUT_OF_DEVICE_MEMORY, ERROR_TOO_MANY_OBJECTS and the catch-all.
        _ => OutOfMemory::OutOfDeviceMemory,
    }
}

/// How a `vkMapMemory` error becomes a [`DeviceMapError`]; see the table at
/// [`out_of_memory_from_ash`].
pub fn map_error_from_ash(result: vk::Result) -> DeviceMapError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => DeviceMapError::OutOfHostMemory,
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY | vk::Result::ERROR_TOO_MANY_OBJECTS => {
            DeviceMapError::OutOfDeviceMemory
        }
        // ERROR_MEMORY_MAP_FAILED and the catch-all.
        _ => DeviceMapError::MapFailed,
    }
}

#[cfg(test)]
mod tests;
