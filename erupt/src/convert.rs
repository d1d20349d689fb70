//! Conversions between erupt's types and gpu-alloc's: every flag and error mapping
//! of this crate lives here.

use {
    erupt::vk,
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, MemoryHeapFlags, MemoryHeapInfo, MemoryPropertyFlags,
        MemoryTypeInfo, OutOfMemory,
    },
};

/// Converts memory property flags to gpu-alloc's. Bits above the low byte
/// (`RDMA_CAPABLE_NV` and any bit newer than erupt) do not fit in
/// [`MemoryPropertyFlags`] and are dropped here: [`memory_type_info`] keeps them.
pub fn memory_properties_from_erupt(flags: vk::MemoryPropertyFlags) -> MemoryPropertyFlags {
    MemoryTypeInfo {
        heap: 0,
        raw_flags: flags.bits(),
    }
    .props()
}

/// Converts gpu-alloc's memory property flags to erupt's. Lossless: erupt names
/// every bit of [`MemoryPropertyFlags`].
pub fn memory_properties_to_erupt(flags: MemoryPropertyFlags) -> vk::MemoryPropertyFlags {
    vk::MemoryPropertyFlags::from_bits_truncate(u32::from(flags.bits()))
}

/// Describes a memory type with every property bit the driver reported, known to
/// erupt or not.
pub fn memory_type_info(memory_type: &vk::MemoryType) -> MemoryTypeInfo {
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
pub fn memory_heap_info(heap: &vk::MemoryHeap) -> MemoryHeapInfo {
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

/// Maps a failed `VkResult` of an allocation, flush or invalidation. Only
/// `VK_ERROR_OUT_OF_HOST_MEMORY` is host-side; `VK_ERROR_TOO_MANY_OBJECTS`, the
/// external-handle and capture-address errors and any unexpected code count as the
/// device being out of memory, which the allocator handles by failing the request.
pub(crate) fn out_of_memory(result: vk::Result) -> OutOfMemory {
    if result == vk::Result::ERROR_OUT_OF_HOST_MEMORY {
        OutOfMemory::OutOfHostMemory
    } else {
        OutOfMemory::OutOfDeviceMemory
    }
}

/// Maps a failed `VkResult` of `vkMapMemory`; anything unexpected is
/// [`DeviceMapError::MapFailed`].
pub(crate) fn map_error(result: vk::Result) -> DeviceMapError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => DeviceMapError::OutOfHostMemory,
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => DeviceMapError::OutOfDeviceMemory,
        _ => DeviceMapError::MapFailed,
    }
}

#[cfg(test)]
mod tests;
