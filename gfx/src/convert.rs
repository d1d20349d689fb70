//! Conversions between gfx-hal's types and gpu-alloc's: every flag, memory type,
//! heap, requirement and error mapping of this crate lives here.

use {
    gpu_alloc_types::{
        DeviceMapError, FromMemoryRequirements, MemoryHeapFlags, MemoryHeapInfo,
        MemoryPropertyFlags, MemoryRequirements, MemoryTypeInfo, OutOfMemory,
    },
    hal::{
        adapter, device,
        memory::{HeapFlags, Properties, Requirements},
    },
};

/// gfx-hal's memory properties and the gpu-alloc flag each one stands for. gfx-hal
/// has no counterpart for `PROTECTED`, `DEVICE_COHERENT_AMD` and
/// `DEVICE_UNCACHED_AMD` (its Vulkan backend hides memory types with such bits).
const PROPERTIES: [(Properties, MemoryPropertyFlags); 5] = [
    (Properties::DEVICE_LOCAL, MemoryPropertyFlags::DEVICE_LOCAL),
    (Properties::CPU_VISIBLE, MemoryPropertyFlags::HOST_VISIBLE),
    (Properties::COHERENT, MemoryPropertyFlags::HOST_COHERENT),
    (Properties::CPU_CACHED, MemoryPropertyFlags::HOST_CACHED),
    (
        Properties::LAZILY_ALLOCATED,
        MemoryPropertyFlags::LAZILY_ALLOCATED,
    ),
];

/// gfx-hal's heap flags and their gpu-alloc counterparts.
const HEAP_FLAGS: [(HeapFlags, MemoryHeapFlags); 1] =
    [(HeapFlags::DEVICE_LOCAL, MemoryHeapFlags::DEVICE_LOCAL)];

/// Converts gfx-hal memory properties to gpu-alloc's (the gpu-alloc-gfx 0.3
/// function). Lossless: every gfx-hal property has a counterpart.
pub fn memory_properties_from_gfx(props: Properties) -> MemoryPropertyFlags {
    PROPERTIES
        .iter()
        .filter(|(gfx, _)| props.contains(*gfx))
        .fold(MemoryPropertyFlags::empty(), |acc, (_, ours)| acc | *ours)
}

/// Converts gpu-alloc memory properties to gfx-hal's (the gpu-alloc-gfx 0.3
/// function). `PROTECTED`,
/// `DEVICE_COHERENT_AMD` and `DEVICE_UNCACHED_AMD` have no gfx-hal counterpart
/// and are dropped.
pub fn memory_properties_to_gfx(props: MemoryPropertyFlags) -> Properties {
    PROPERTIES
        .iter()
        .filter(|(_, ours)| props.contains(*ours))
        .fold(Properties::empty(), |acc, (gfx, _)| acc | *gfx)
}

/// Converts gfx-hal heap flags to gpu-alloc's.
pub fn heap_flags_from_gfx(flags: HeapFlags) -> MemoryHeapFlags {
    HEAP_FLAGS
        .iter()
        .filter(|(gfx, _)| flags.contains(*gfx))
        .fold(MemoryHeapFlags::empty(), |acc, (_, ours)| acc | *ours)
}

/// Converts gpu-alloc heap flags to gfx-hal's. `MULTI_INSTANCE` has no gfx-hal
/// counterpart and is dropped.
pub fn heap_flags_to_gfx(flags: MemoryHeapFlags) -> HeapFlags {
    HEAP_FLAGS
        .iter()
        .filter(|(_, ours)| flags.contains(*ours))
        .fold(HeapFlags::empty(), |acc, (gfx, _)| acc | *gfx)
}

/// Describes a gfx-hal memory type. The raw flags are the Vulkan values of the
/// properties gfx-hal reports, which is all it keeps.
pub fn memory_type_info_from_gfx(memory_type: &adapter::MemoryType) -> MemoryTypeInfo {
    MemoryTypeInfo {
        // A heap index past `u32::MAX` cannot exist; saturating keeps it invalid.
        heap: u32::try_from(memory_type.heap_index).unwrap_or(u32::MAX),
        raw_flags: u32::from(memory_properties_from_gfx(memory_type.properties).bits()),
    }
}

/// Describes a gfx-hal memory heap.
pub fn memory_heap_info_from_gfx(heap: &adapter::MemoryHeap) -> MemoryHeapInfo {
    MemoryHeapInfo {
        size: heap.size,
        flags: heap_flags_from_gfx(heap.flags),
    }
}

/// Converts a resource's memory requirements (from
/// `Device::get_buffer_requirements` or `Device::get_image_requirements`). Memory
/// type indices are gfx-hal's, as everywhere in this crate.
pub fn memory_requirements_from_gfx(requirements: &Requirements) -> MemoryRequirements {
    MemoryRequirements::new(
        requirements.size,
        requirements.alignment,
        requirements.type_mask,
    )
}

/// The allocation request for a resource with these memory requirements, used
/// as `usage` says: with `gpu-alloc`, a `gpu_alloc::Request` from a
/// `gpu_alloc::UsageFlags`.
///
/// ```
/// use gpu_alloc::{Request, UsageFlags};
/// use hal::memory::Requirements;
///
/// let requirements = Requirements { size: 1000, alignment: 256, type_mask: 0b110 };
/// let request: Request = gpu_alloc_gfx::request_from_requirements(&requirements, UsageFlags::UPLOAD);
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
pub fn request_from_requirements<R, U>(requirements: &Requirements, usage: U) -> R
where
    R: FromMemoryRequirements<U>,
{
    R::from_memory_requirements(memory_requirements_from_gfx(requirements), usage)
}

/// Maps gfx-hal's out-of-memory error.
pub fn out_of_memory_from_gfx(error: device::OutOfMemory) -> OutOfMemory {
    match error {
        device::OutOfMemory::Host => OutOfMemory::OutOfHostMemory,
        device::OutOfMemory::Device => OutOfMemory::OutOfDeviceMemory,
    }
}

/// Maps a failed allocation: too many objects counts as the device being out of
/// memory.
pub fn allocation_error_from_gfx(error: device::AllocationError) -> OutOfMemory {
    match error {
        device::AllocationError::OutOfMemory(e) => out_of_memory_from_gfx(e),
        device::AllocationError::TooManyObjects => OutOfMemory::OutOfDeviceMemory,
    }
}

/// Maps a failed mapping. `OutOfBounds` and `Access` break the caller's contract
/// and cannot come from a correct caller; they read as a failed mapping.
pub fn map_error_from_gfx(error: device::MapError) -> DeviceMapError {
    match error {
        device::MapError::OutOfMemory(device::OutOfMemory::Host) => DeviceMapError::OutOfHostMemory,
        device::MapError::OutOfMemory(device::OutOfMemory::Device) => {
            DeviceMapError::OutOfDeviceMemory
        }
        device::MapError::OutOfBounds
        | device::MapError::MappingFailed
        | device::MapError::Access => DeviceMapError::MapFailed,
    }
}

#[cfg(test)]
mod tests;
