//! User pools: what callers build to set memory apart ([`PoolOptions`]), the
//! handle they allocate from ([`PoolId`]), and what a pool reports
//! ([`PoolStats`], [`PoolDestroyed`], [`PoolError`]).
//!
//! The pools themselves live in the allocator (`allocator/pools.rs`).

#![deny(unsafe_code)]

#[cfg(doc)]
use crate::{AllocOptions, GpuAllocator, TryAllocError};
use {
    crate::usage::UsageFlags,
    alloc::string::String,
    gpu_alloc_types::{ExternalMemoryHandleTypes, MemoryPriority},
};

/// A pool of a [`GpuAllocator`] (or `SharedGpuAllocator`): what
/// [`GpuAllocator::create_pool`] returns and [`AllocOptions::pool`] takes.
///
/// It names one pool of one allocator for the pool's life: after
/// [`destroy_pool`](GpuAllocator::destroy_pool), or given to another
/// allocator, it is refused ([`TryAllocError::UnknownPool`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolId {
    /// Id of the allocator that made the pool.
    pub(crate) allocator: usize,
    /// The pool's slot in the allocator's table.
    pub(crate) index: u32,
    /// Which of the pools that had this slot (slots are reused).
    pub(crate) serial: u32,
}

/// How a pool places blocks in its memory objects.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolAlgorithm {
    /// Any order of allocation and free (two-level segregated fit, as the
    /// allocator's own general pools): for long-lived resources, a level's
    /// geometry, streamed textures.
    #[default]
    General,
    /// Bump allocation: O(1), no overhead, and an object's space comes back
    /// only when every block in it is freed. For data freed all together.
    Linear,
    /// A linear pool that wraps around: blocks freed in the order they were
    /// made (or all at once, in any order, at a frame fence) give their
    /// space back to the next ones without a new memory object. For
    /// per-frame uploads. A block freed out of order keeps its space until
    /// every older block is freed.
    Ring,
}

/// What a pool is: its memory type, the size and number of its memory
/// objects, how it places blocks, and what its objects tell the device.
///
/// ```
/// # use gpu_alloc::{PoolAlgorithm, PoolOptions, UsageFlags};
/// let ring = PoolOptions::new(16 << 20)
///     .usage(UsageFlags::UPLOAD)
///     .algorithm(PoolAlgorithm::Ring)
///     .min_objects(1)
///     .max_objects(1)
///     .name("frame uploads");
/// assert_eq!(ring.max_objects, Some(1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct PoolOptions {
    /// What the memory is for: picks the memory type, as for a request,
    /// among those `memory_types` allows (unless `memory_type` is given).
    pub usage: UsageFlags,
    /// Bit `i` allows memory type `i` (all by default); the pool's type must
    /// also be allowed by every request made in it.
    pub memory_types: u32,
    /// The memory type, given outright (then `usage` and `memory_types` are
    /// not consulted).
    pub memory_type: Option<u32>,
    /// Size of each memory object in bytes (rounded up to the non-coherent
    /// atom size); the largest block the pool can hold.
    pub object_size: u64,
    /// Memory objects made when the pool is created and kept while it lives.
    pub min_objects: u32,
    /// Most memory objects the pool may have (`None`: as many as the device
    /// allows, and at most 65,536). A full pool fails with [`TryAllocError::PoolFull`]; it never
    /// spills into the allocator's other memory.
    pub max_objects: Option<u32>,
    /// How blocks are placed in the objects.
    pub algorithm: PoolAlgorithm,
    /// Priority of the pool's memory objects (`VK_EXT_memory_priority`);
    /// dropped and counted in `AllocatorStats::hints_dropped` (once per
    /// object) on a device without priorities.
    pub priority: Option<MemoryPriority>,
    /// Handle types the pool's memory objects can be exported as; a device
    /// that cannot export them refuses the pool.
    pub export: ExternalMemoryHandleTypes,
    /// The pool's name, for `stats`, the memory map and reports.
    pub name: Option<&'static str>,
}

impl PoolOptions {
    /// A general pool of objects of `object_size` bytes, of the best memory
    /// type for no particular usage (device-local where there is one), with
    /// no objects made up front and no limit.
    pub fn new(object_size: u64) -> Self {
        PoolOptions {
            usage: UsageFlags::empty(),
            memory_types: !0,
            memory_type: None,
            object_size,
            min_objects: 0,
            max_objects: None,
            algorithm: PoolAlgorithm::General,
            priority: None,
            export: ExternalMemoryHandleTypes::empty(),
            name: None,
        }
    }

    /// Sets the usage that picks the memory type.
    pub fn usage(mut self, usage: UsageFlags) -> Self {
        self.usage = usage;
        self
    }

    /// Sets the memory types allowed.
    pub fn memory_types(mut self, memory_types: u32) -> Self {
        self.memory_types = memory_types;
        self
    }

    /// Gives the memory type outright.
    pub fn memory_type(mut self, memory_type: u32) -> Self {
        self.memory_type = Some(memory_type);
        self
    }

    /// Sets the number of objects made up front and always kept.
    pub fn min_objects(mut self, min_objects: u32) -> Self {
        self.min_objects = min_objects;
        self
    }

    /// Sets the most objects the pool may have.
    pub fn max_objects(mut self, max_objects: u32) -> Self {
        self.max_objects = Some(max_objects);
        self
    }

    /// Sets the placement algorithm.
    pub fn algorithm(mut self, algorithm: PoolAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets the priority of the pool's objects.
    pub fn priority(mut self, priority: MemoryPriority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets the export handle types of the pool's objects.
    pub fn export(mut self, export: ExternalMemoryHandleTypes) -> Self {
        self.export = export;
        self
    }

    /// Names the pool.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }
}

/// Statistics of one pool ([`GpuAllocator::pool_stats`], and every pool's in
/// `AllocatorStats::pools`). The pool's objects and blocks count in its memory
/// type's and heap's statistics too.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PoolStats {
    /// The pool's name, if it has one.
    pub name: Option<String>,
    /// Its memory type and that type's heap.
    pub memory_type: u32,
    /// The heap of the memory type.
    pub heap: u32,
    /// How it places blocks.
    pub algorithm: PoolAlgorithm,
    /// Size of each of its memory objects.
    pub object_size: u64,
    /// Its limits on memory objects.
    pub min_objects: u32,
    /// `None`: no limit but the device's.
    pub max_objects: Option<u32>,
    /// Memory objects it holds now.
    pub memory_objects: u32,
    /// Bytes of those objects.
    pub reserved: u64,
    /// Bytes of its live blocks (as rounded for alignment rules).
    pub used: u64,
    /// Its live blocks.
    pub blocks: u64,
    /// Bytes of its objects not in a used range.
    pub free: u64,
    /// The largest free range of one object.
    pub largest_free: u64,
    /// `1 - largest_free / free` (0 when nothing is free).
    pub fragmentation: f64,
    /// Whether the pool was destroyed and waits for its last blocks.
    pub destroyed: bool,
}

/// What [`GpuAllocator::destroy_pool`] did: a pool with live blocks is
/// destroyed for new allocations at once, and reported; the memory objects
/// that hold its live blocks are freed as the last of their blocks is freed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolDestroyed {
    /// Memory objects freed now.
    pub objects_freed: u32,
    /// Memory objects kept for the live blocks.
    pub objects_kept: u32,
    /// Blocks of the pool still live (0 for a clean destruction).
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
}

/// Why a pool could not be created or destroyed.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// `object_size` is 0.
    #[error("a pool's memory objects cannot be empty")]
    ZeroObjectSize,
    /// `object_size` (rounded to atoms) is larger than the memory type's
    /// largest object (its heap, or `max_memory_allocation_size`).
    #[error("pool objects of {size} bytes, but at most {max} fit in one memory object")]
    ObjectTooLarge {
        /// The object size asked for, rounded to atoms.
        size: u64,
        /// The largest object of the memory type.
        max: u64,
    },
    /// `max_objects` is 0 or below `min_objects`.
    #[error("pool limits: at least {min} and at most {max} memory objects")]
    InvalidObjectCounts {
        /// `min_objects`.
        min: u32,
        /// `max_objects`.
        max: u32,
    },
    /// `memory_type` is not a memory type of the device.
    #[error("memory type {memory_type} does not exist")]
    InvalidMemoryType {
        /// The memory type given.
        memory_type: u32,
    },
    /// No memory type `memory_types` allows serves `usage`.
    #[error("no memory type allowed serves the pool's usage")]
    NoCompatibleMemoryType,
    /// The device cannot export the handle types asked for.
    #[error("export as {requested:?} requested, but the device exports only {supported:?}")]
    ExportNotSupported {
        /// The handle types asked for.
        requested: ExternalMemoryHandleTypes,
        /// The handle types the device supports.
        supported: ExternalMemoryHandleTypes,
    },
    /// Making the `min_objects` memory objects failed (none is kept).
    #[error("making the pool's memory objects failed: {0}")]
    Allocation(crate::TryAllocError),
    /// The pool was destroyed already, or belongs to another allocator.
    #[error("the pool was destroyed or belongs to another allocator")]
    UnknownPool,
    /// The allocator has 65,536 pools already.
    #[error("too many pools: at most 65536 at once")]
    TooManyPools,
}
