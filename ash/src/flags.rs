//! Conversions between ash's flag types and those of `gpu-alloc-types`.
//!
//! This is the only place in the crate that turns one kind of flags into the
//! other. The tables below pair every flag `gpu-alloc-types` names with ash's
//! constant; the unit tests check each pair and round-trip every bit.
//!
//! [`MemoryPropertyFlags`] and [`MemoryHeapFlags`] use the Vulkan bit values (the
//! types crate promises it), so those conversions keep bits as they are.
//! [`AllocationFlags`] has bit values of its own, so it goes through its table.

use {
    ash::vk,
    gpu_alloc_types::{
        AllocationFlags, MemoryHeapFlags, MemoryHeapInfo, MemoryPropertyFlags, MemoryTypeInfo,
    },
};

/// Every [`MemoryPropertyFlags`] flag next to ash's constant for the same bit.
pub const MEMORY_PROPERTY_TABLE: [(MemoryPropertyFlags, vk::MemoryPropertyFlags); 8] = [
    (
        MemoryPropertyFlags::DEVICE_LOCAL,
        vk::MemoryPropertyFlags::DEVICE_LOCAL,
    ),
    (
        MemoryPropertyFlags::HOST_VISIBLE,
        vk::MemoryPropertyFlags::HOST_VISIBLE,
    ),
    (
        MemoryPropertyFlags::HOST_COHERENT,
        vk::MemoryPropertyFlags::HOST_COHERENT,
    ),
    (
        MemoryPropertyFlags::HOST_CACHED,
        vk::MemoryPropertyFlags::HOST_CACHED,
    ),
    (
        MemoryPropertyFlags::LAZILY_ALLOCATED,
        vk::MemoryPropertyFlags::LAZILY_ALLOCATED,
    ),
    (
        MemoryPropertyFlags::PROTECTED,
        vk::MemoryPropertyFlags::PROTECTED,
    ),
    (
        MemoryPropertyFlags::DEVICE_COHERENT_AMD,
        vk::MemoryPropertyFlags::DEVICE_COHERENT_AMD,
    ),
    (
        MemoryPropertyFlags::DEVICE_UNCACHED_AMD,
        vk::MemoryPropertyFlags::DEVICE_UNCACHED_AMD,
    ),
];

/// Every [`MemoryHeapFlags`] flag next to ash's constant for the same bit.
pub const MEMORY_HEAP_TABLE: [(MemoryHeapFlags, vk::MemoryHeapFlags); 2] = [
    (
        MemoryHeapFlags::DEVICE_LOCAL,
        vk::MemoryHeapFlags::DEVICE_LOCAL,
    ),
    (
        MemoryHeapFlags::MULTI_INSTANCE,
        vk::MemoryHeapFlags::MULTI_INSTANCE,
    ),
];

/// Every [`AllocationFlags`] flag next to the `VkMemoryAllocateFlags` bit it asks
/// for. The bit values differ (`DEVICE_ADDRESS` is `0x1` here and `0x2` in
/// Vulkan).
pub const ALLOCATION_TABLE: [(AllocationFlags, vk::MemoryAllocateFlags); 1] = [(
    AllocationFlags::DEVICE_ADDRESS,
    vk::MemoryAllocateFlags::DEVICE_ADDRESS,
)];

/// Converts memory property flags to ours. Bits above the low byte (such as
/// `RDMA_CAPABLE_NV`) do not fit in [`MemoryPropertyFlags`] and are dropped:
/// use [`memory_type_info_from_ash`] to keep them.
pub fn memory_properties_from_ash(flags: vk::MemoryPropertyFlags) -> MemoryPropertyFlags {
    // Same bit values by design (see the table and its test); the cast keeps the
    // low byte, which is all MemoryPropertyFlags can hold.
    MemoryPropertyFlags::from_bits_retain((flags.as_raw() & MemoryTypeInfo::KNOWN_BITS) as u8)
}

/// Converts our memory property flags to ash's. Lossless.
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
pub fn memory_heap_flags_from_ash(flags: vk::MemoryHeapFlags) -> MemoryHeapFlags {
    MemoryHeapFlags::from_bits_retain(flags.as_raw())
}

/// Converts our memory heap flags to ash's, keeping every bit.
pub fn memory_heap_flags_to_ash(flags: MemoryHeapFlags) -> vk::MemoryHeapFlags {
    vk::MemoryHeapFlags::from_raw(flags.bits())
}

/// Converts a Vulkan memory heap.
pub fn memory_heap_info_from_ash(heap: &vk::MemoryHeap) -> MemoryHeapInfo {
    MemoryHeapInfo {
        size: heap.size,
        flags: memory_heap_flags_from_ash(heap.flags),
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

#[cfg(test)]
mod tests;
