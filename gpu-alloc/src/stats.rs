//! Statistics and the detailed memory map.

#![deny(unsafe_code)]

use {
    crate::request::ResourceKind,
    alloc::{string::String, vec::Vec},
    gpu_alloc_types::{HeapBudget, MemoryPropertyFlags},
};

/// Statistics of one memory type. Part of [`AllocatorStats`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct MemoryTypeStats {
    /// Index of the memory type.
    pub memory_type: u32,
    /// Heap the type draws from.
    pub heap: u32,
    /// Property flags of the type.
    pub props: MemoryPropertyFlags,
    /// Device memory objects held: shared ones plus dedicated and imported blocks.
    pub memory_objects: u32,
    /// Of those, dedicated and imported blocks.
    pub dedicated_objects: u32,
    /// Bytes reserved from the device.
    pub reserved: u64,
    /// Bytes in live blocks.
    pub used: u64,
    /// Live blocks.
    pub blocks: u64,
    /// Free bytes inside shared memory objects.
    pub free: u64,
    /// Largest free range inside one shared memory object.
    pub largest_free: u64,
    /// `1 - largest_free / free` (0 when nothing is free): 0 means all free space
    /// is one range; near 1 means it is scattered in small pieces.
    pub fragmentation: f64,
}

/// Statistics of one memory heap. Part of [`AllocatorStats`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct HeapStats {
    /// Index of the heap.
    pub heap: u32,
    /// Size of the heap.
    pub size: u64,
    /// Most bytes the allocator will hold in the heap (the heap size, or less
    /// after a budget reading).
    pub limit: u64,
    /// The last budget reading for the heap, if any.
    pub budget: Option<HeapBudget>,
    /// Device memory objects held in the heap.
    pub memory_objects: u32,
    /// Bytes reserved from the device.
    pub reserved: u64,
    /// Bytes in live blocks.
    pub used: u64,
    /// Live blocks.
    pub blocks: u64,
    /// Free bytes inside shared memory objects.
    pub free: u64,
    /// Largest free range inside one shared memory object.
    pub largest_free: u64,
    /// `1 - largest_free / free` (0 when nothing is free).
    pub fragmentation: f64,
}

/// A snapshot of the allocator's statistics, from
/// [`GpuAllocator::stats`](crate::GpuAllocator::stats). Computed from counters and
/// one pass over the memory objects (never over the blocks).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct AllocatorStats {
    /// One entry per heap, in heap order.
    pub heaps: Vec<HeapStats>,
    /// One entry per memory type, in type order.
    pub memory_types: Vec<MemoryTypeStats>,
    /// Device memory objects held in total.
    pub memory_objects: u32,
    /// Bytes reserved from the device in total.
    pub reserved: u64,
    /// Bytes in live blocks in total.
    pub used: u64,
    /// Live blocks in total.
    pub blocks: u64,
    /// Memory objects the allocator may still create.
    pub remaining_allocations: u32,
    /// Bytes that threads keep for reuse: free room in the leases of a
    /// [`SharedGpuAllocator`](crate::SharedGpuAllocator)'s thread arenas
    /// (included in `free` of their memory type and heap); 0 for a
    /// `GpuAllocator`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub cached: u64,
    /// Hints the allocator could not honour, since it was created: a priority
    /// or a preferred dedicated resource that the device cannot send, and a
    /// priority of a block placed in a shared memory object (see
    /// [`AllocOptions`](crate::AllocOptions)). Each counts once for the block
    /// made; a request that fails counts nothing.
    #[cfg_attr(feature = "serde", serde(default))]
    pub hints_dropped: u64,
    /// Budget readings the allocator made by itself
    /// ([`GpuAllocator::set_budget_refresh`](crate::GpuAllocator::set_budget_refresh)).
    #[cfg_attr(feature = "serde", serde(default))]
    pub budget_refreshes: u64,
    /// The largest named blocks of each heap (eight at most per heap), by heap
    /// and then size, largest first
    /// ([`GpuAllocator::set_block_name`](crate::GpuAllocator::set_block_name)).
    #[cfg_attr(feature = "serde", serde(default))]
    pub named_blocks: Vec<NamedBlock>,
    /// Every user pool's statistics (destroyed pools that still hold blocks
    /// too), in slot order.
    #[cfg_attr(feature = "serde", serde(default))]
    pub pools: Vec<crate::pools::PoolStats>,
    /// What defragmentation did: passes, blocks and bytes moved, memory
    /// objects and bytes freed, in all and in the last pass.
    #[cfg_attr(feature = "serde", serde(default))]
    pub defrag: crate::defrag::DefragStats,
    /// Live blocks the caller made movable.
    #[cfg_attr(feature = "serde", serde(default))]
    pub movable_blocks: u64,
}

/// A named live block, as [`AllocatorStats::named_blocks`] lists it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamedBlock {
    /// Heap of the block's memory type.
    pub heap: u32,
    /// The block's memory type.
    pub memory_type: u32,
    /// Size in bytes.
    pub size: u64,
    /// Whether the block has a memory object of its own.
    pub dedicated: bool,
    /// Its name.
    pub name: String,
}

/// A named block's range in a [`MemoryObjectMap`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamedRange {
    /// Offset in the memory object.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// The block's name.
    pub name: String,
}

/// `1 - largest / free`, or 0 when nothing is free.
pub(crate) fn fragmentation(largest: u64, free: u64) -> f64 {
    if free == 0 {
        0.0
    } else {
        1.0 - largest as f64 / free as f64
    }
}

/// How a memory object is used.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// Shared, with general (best-fit) sub-allocation.
    General,
    /// Shared, with transient (linear) sub-allocation.
    Transient,
    /// Owned by one dedicated block.
    Dedicated,
    /// Owned by one imported block.
    Imported,
    /// A memory object of a user pool (`MemoryObjectMap::pool` names it).
    Pool,
}

/// A range inside a memory object, in a [`MemoryObjectMap`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapRange {
    /// Offset in the memory object.
    pub offset: u64,
    /// Size in bytes.
    pub size: u64,
    /// Whether live blocks occupy the range (else it is free). Adjacent live
    /// blocks may show as one range.
    pub used: bool,
}

/// One device memory object in a [`MemoryMap`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryObjectMap {
    /// Memory type of the object.
    pub memory_type: u32,
    /// Heap of the object.
    pub heap: u32,
    /// How the object is used.
    pub kind: ObjectKind,
    /// Which resources the object's pool holds: `Linear` (buffers, linear images)
    /// or `Optimal` (optimal-tiling images) when the device has a
    /// `bufferImageGranularity` above 1 and the blocks said their kind, else
    /// `Unknown`; `Unknown` for dedicated and imported objects.
    pub resource: ResourceKind,
    /// Size of the object in bytes.
    pub size: u64,
    /// Its ranges in offset order, covering it from 0 to `size` (for dedicated
    /// and imported objects, one used range).
    pub ranges: Vec<MapRange>,
    /// The named blocks in it, in offset order.
    #[cfg_attr(feature = "serde", serde(default))]
    pub named: Vec<NamedRange>,
    /// For an object of a user pool: the pool's name, or `"pool N"` (its
    /// slot) for a pool without one.
    #[cfg_attr(feature = "serde", serde(default))]
    pub pool: Option<String>,
}

/// Every memory object the allocator holds with its used and free ranges, from
/// [`GpuAllocator::memory_map`](crate::GpuAllocator::memory_map). This walks every
/// free range, so it costs more than [`AllocatorStats`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MemoryMap {
    /// The statistics at the same moment.
    pub stats: AllocatorStats,
    /// Shared memory objects, grouped by memory type.
    pub objects: Vec<MemoryObjectMap>,
    /// Dedicated and imported memory objects: (memory type, heap, size, kind).
    pub dedicated: Vec<(u32, u32, u64, ObjectKind)>,
}
