//! Implementation-agnostic memory allocator for Vulkan-like APIs.
//!
//! [`GpuAllocator`] hands out [`MemoryBlock`]s: ranges of device memory objects it
//! allocates through a [`MemoryDevice`], which a backend implements for its API
//! (`gpu-alloc-ash`, `gpu-alloc-erupt`, `gpu-alloc-gfx`, or your own).
//!
//! ```
//! use gpu_alloc::{Config, GpuAllocator, MemoryDevice, Request, UsageFlags};
//! use gpu_alloc_types::DeviceProperties;
//!
//! /// Uploads `data` into a fresh host-visible block; returns it for the caller to
//! /// bind and later `dealloc`.
//! unsafe fn upload<M: std::fmt::Debug + 'static>(
//!     allocator: &mut GpuAllocator<M>,
//!     device: &impl MemoryDevice<M>,
//!     data: &[u8],
//! ) -> Result<gpu_alloc::MemoryBlock<M>, Box<dyn std::error::Error>> {
//!     let mut block = unsafe {
//!         allocator.alloc(
//!             device,
//!             Request {
//!                 size: data.len() as u64,
//!                 align_mask: 255,
//!                 usage: UsageFlags::UPLOAD,
//!                 memory_types: !0,
//!             },
//!         )
//!     }?;
//!     unsafe { block.write_bytes(device, 0, data) }?;
//!     Ok(block)
//! }
//!
//! fn make_allocator<M: std::fmt::Debug + 'static>(props: DeviceProperties<'_>) -> GpuAllocator<M> {
//!     GpuAllocator::new(Config::i_am_prototyping(), props)
//! }
//! # fn main() {}
//! ```
//!
//! # Choosing a memory type
//!
//! The request's [`UsageFlags`] and its `memory_types` mask pick an ordered list of
//! eligible memory types; when a heap is full the next type is tried. The rules are
//! in the docs of [`UsageFlags`]' module, repeated here:
//!
//! - Eligible: in the mask; `HOST_VISIBLE` if host access is wanted; `PROTECTED`
//!   exactly when [`UsageFlags::PROTECTED`] is asked; `LAZILY_ALLOCATED` only for
//!   [`UsageFlags::TRANSIENT_ATTACHMENT`] without host access; no AMD
//!   device-coherent/uncached or unknown property bits unless allowed with
//!   [`GpuAllocator::allow_memory_properties`].
//! - Ranked, first difference deciding: lazily allocated for transient
//!   attachments; host-cached for `DOWNLOAD`; device-local when fast device access
//!   is wanted (the default without host access), otherwise not device-local;
//!   host-coherent for host access; not host-visible without host access; not
//!   host-cached for write-only host access; fewer property bits; lower index.
//!
//! # Strategies
//!
//! - **Dedicated**: a memory object of its own, for large requests (see [`Config`])
//!   or when [`Dedicated::Required`] is passed.
//! - **General**: two-level segregated fit (TLSF) in shared memory objects: O(1)
//!   allocation and free, any power-of-two alignment without rounding the size,
//!   freed ranges merge with free neighbours. (A best-fit list was the first
//!   general strategy; TLSF replaced it because it is O(1) where best fit is
//!   O(log n) per operation plus a scan past misaligned ranges; `BENCHMARKS.md`
//!   compares them.)
//! - **Slabs** for small general blocks: a request of at most 16 KiB (after
//!   rounding to atoms and granularity pages) whose alignment is small next to its
//!   size goes to a size class (eight per power of two, at most a quarter of the
//!   size lost to rounding, an eighth past 128 bytes) and gets a slot of a slab: a
//!   TLSF range cut into 8 to 64 equal slots, found and freed with a few bit
//!   operations. A class's first slab has 8 slots and each further one twice as
//!   many. An emptied slab stays in its class for the next blocks (blocks coming
//!   and going never make and unmake slabs); empty slabs go back to TLSF when
//!   they are all that is left in their memory object (they never keep one
//!   alive), before their pool makes a new memory object, and on cleanup and
//!   memory pressure.
//! - **Transient**: bump allocation for [`UsageFlags::TRANSIENT`] requests, reset
//!   when a memory object empties.
//!
//! **The common allocation is short.** A request that needs no new memory object
//! (a slot of a slab with room, a TLSF range in an existing object, or a bump in
//! the transient pool's most recent object) of the best memory type its mask
//! allows takes a path with no device call and no error handling: per memory
//! type and pool class, the rounding masks and the size limits below the
//! dedicated thresholds are computed once, when the allocator is made. Anything
//! else (errors, dedicated objects, new objects or slabs, a full heap) takes
//! the full path. Both paths ask one function what a request becomes in a
//! memory type (its rounded size and alignment, its slab class or strategy),
//! so they cannot decide differently. `BENCHMARKS.md` has what each costs.
//!
//! **Memory object sizes.** A pool's first shared memory object has the starting
//! size of its strategy (see [`Config`]); each later one is an eighth of what the
//! pool holds, rounded down to a power of two, so the unused part of the newest
//! object stays a small share of the pool (doubling each time would leave up to
//! half of it unused) while the number of objects grows only logarithmically. A new
//! object is at least the size of the request that makes it, rounded up to a
//! power of two (four times that for a new slab). Both are capped by the
//! strategy's final size, an eighth of the heap and `max_memory_allocation_size`;
//! a general request of more than half that cap gets a dedicated object.
//!
//! **Placement across objects.** A block goes to the memory object of its pool
//! whose largest free range is the smallest that surely holds it (the lowest
//! slot of equals), so large free ranges stay whole and lightly used objects can
//! empty out; the pool keeps its objects bucketed by the size class of their
//! largest free range, so the choice is two bit scans and touches no object.
//!
//! Shared memory objects of host-visible types are mapped once, when created, and
//! blocks are handed out at their offsets.
//!
//! **Retention.** A shared memory object that empties is freed at once if the
//! rest of its pool (memory type × strategy × resource class) still holds the
//! pool's recent high-water mark: the most bytes the pool's blocks had at once
//! in the current and the previous epoch, where an epoch ends after 128 blocks
//! freed (2,048 in transient pools, whose use swings every frame), or an eighth
//! of its memory type's live blocks if that is more. Otherwise it stays. So a
//! workload that ping-pongs across an object boundary, or fills and empties
//! objects every frame, does not call `allocate_memory`/`deallocate_memory` per
//! frame; and when use falls for good (a level unloads), the mark follows it
//! down within two epochs: at the end of each epoch the pool gives back every
//! empty object (and every object held by empty slabs alone) that the lower
//! mark no longer keeps. [`GpuAllocator::cleanup`] frees every empty object and
//! resets the marks; memory pressure frees empty objects too: when a heap (or
//! its budget) is full, or the object limit is reached, empty objects of that
//! heap go back to the device and the allocation is retried.
//!
//! **Buffer-image granularity.** Linear resources (buffers, linear images) and
//! optimal-tiling images never share a `bufferImageGranularity` page: say which a
//! block is for with [`GpuAllocator::try_alloc_with_options`] and
//! [`ResourceKind`], and each kind gets memory objects of its own (no padding).
//! Blocks of unknown kind (every request through the gpu-alloc 0.6 methods) are
//! padded to whole granularity pages. With a granularity of 256 bytes or less,
//! every block is padded that way and the kinds share their objects: two half
//! used pools cost more than the padding (`BENCHMARKS.md`, lavapipe's 64). All
//! of this costs nothing when the granularity is 1, which is what
//! [`GpuAllocator::new`] assumes (use [`GpuAllocator::with_extended_properties`]
//! to pass the device's value).
//!
//! # Pools
//!
//! [`GpuAllocator::create_pool`] sets memory apart: objects of one memory type
//! (chosen by usage, or given) and one size, between `min_objects` (made at
//! once and kept) and `max_objects`, placed by [`PoolAlgorithm::General`],
//! [`PoolAlgorithm::Linear`] or [`PoolAlgorithm::Ring`] (in order, wrapping
//! around inside one object: per-frame uploads), with the pool's priority
//! and export types sent with every object. Blocks go in with
//! [`AllocOptions::pool`]; a full pool is [`TryAllocError::PoolFull`], never
//! a spill into the allocator's other memory (evict, then retry). A pool's
//! objects count against the same object limit and heap budgets as the
//! rest, show in [`GpuAllocator::stats`] (and [`GpuAllocator::pool_stats`])
//! and in the memory map under the pool's name; [`GpuAllocator::destroy_pool`]
//! with live blocks reports them and frees their objects only as they come
//! back. An emptied object goes back to the device unless the pool is at its
//! minimum or holds no other empty object.
//!
//! # Defragmentation
//!
//! A non-moving allocator cannot give back what churn scatters; defragmentation
//! moves blocks the caller allows to move, so that whole memory objects empty
//! out. Make a block movable with [`GpuAllocator::set_movable`] (a tag that
//! finds its resource, and the alignment the resource needs); dedicated,
//! imported, mapped, linear and ring blocks never move. A pass
//! ([`GpuAllocator::begin_defrag_pass`], bounded by [`DefragOptions`]: moves,
//! bytes, memory types, pools) plans moves that empty the least used objects of
//! each general pool into its fuller ones; in pools where none can be
//! emptied, it compacts instead (`DefragOptions::compact`: blocks of sparse
//! slabs into fuller slabs, blocks into fuller objects or lower in their own,
//! half-empty slabs dissolved), so that the free space gathers into whole
//! objects and few ranges. It makes the new blocks at once; the caller
//! copies each block (on the GPU, or on the host), binds its resource to the
//! new block and answers [`DefragMove::done`] (handing the old block over),
//! [`DefragMove::skip`] or [`DefragMove::destroyed`]; then
//! [`GpuAllocator::end_defrag_pass`] frees the old blocks, the unused new
//! ones and the emptied slabs and objects. New blocks keep every rule of a fresh
//! allocation (memory type, alignment, atoms, granularity pages) and never
//! need a new memory object. `stats().defrag` adds up what the passes did.
//!
//! # Virtual allocator
//!
//! [`VirtualAllocator`] places ranges of `0..size` with no device and no memory
//! behind them (sub-ranges of a buffer of yours, descriptor slots, file
//! ranges), by the strategies the pools run inside their memory objects:
//! [`VirtualStrategy::General`] (TLSF), [`VirtualStrategy::Linear`] (bump) and
//! [`VirtualStrategy::Ring`] (in order, wrapping to offset 0, for per-frame
//! data). Sizes and offsets are `u64`, alignments any power of two; it works in
//! `no_std`, has no `unsafe` code, and its
//! [`check_invariants`](VirtualAllocator::check_invariants) is there in every
//! build.
//!
//! ```
//! use gpu_alloc::{VirtualAllocator, VirtualStrategy};
//!
//! let mut uploads = VirtualAllocator::new(64 << 20, VirtualStrategy::Ring).unwrap();
//! let frame: Vec<_> = (0..4).map(|_| uploads.alloc(3 << 20, 256).unwrap()).collect();
//! // The frame's fence: its blocks go, oldest first.
//! for block in frame {
//!     uploads.free(block).unwrap();
//! }
//! assert!(uploads.is_empty());
//! ```
//!
//! # Threads
//!
//! `GpuAllocator<M>` and `MemoryBlock<M>` are `Send` and `Sync` when `M` (the
//! backend's memory handle) is `Send + Sync`, as every backend's is:
//!
//! - Every method that changes the allocator takes `&mut self`, so threads share
//!   one allocator behind a lock (`Mutex<GpuAllocator<M>>`); through `&self` only
//!   statistics are read. A block changes only through `&mut MemoryBlock`.
//! - [`SharedGpuAllocator`] (feature `std`, on by default) has the same methods
//!   through `&self`: each thread places its blocks (up to 1 MiB) in ranges it
//!   leases from one central `GpuAllocator`, under a lock of its own that other
//!   threads take only to free a block of its (or to take back its empty
//!   leases, or for statistics); the central allocator alone
//!   makes memory objects, so every limit stays exact. Blocks may be freed by any
//!   thread.
//! - A block of a shared memory object points at that object, which the
//!   allocator owns; the allocator and the block may read it from different
//!   threads (hence `M: Sync`), and whichever of them goes last frees it (hence
//!   `M: Send`). The hand-over between them is an atomic count, touched only when
//!   a block outlives its allocator or is dropped without `dealloc`.
//! - Mapped host addresses are plain addresses: the caller orders host and
//!   device accesses through them, as the `unsafe` contracts of `map`,
//!   `write_bytes` and `read_bytes` say.
//!
//! `tests/tests/threads.rs` hammers one allocator from 8 threads behind a lock and
//! checks the shadow-model rules; `TESTING.md` has the throughput per thread count.
//!
//! # Limits the allocator keeps
//!
//! - never more memory objects than `max_memory_allocation_count`;
//! - never more bytes in a heap than its size, or its budget once one is set with
//!   [`GpuAllocator::set_heap_budgets`] or [`GpuAllocator::update_budget`];
//! - no memory object larger than `max_memory_allocation_size`;
//! - blocks of host-visible non-coherent memory start and end on
//!   `non_coherent_atom_size` boundaries, so flushes and invalidations stay inside
//!   the block.
//!
//! # Features
//!
//! - `std` (default): `std::error::Error` is implemented either way (through
//!   `core::error::Error`); `std` adds reports of leaks on stderr.
//! - `serde`: `Serialize`/`Deserialize` for the plain data types.
//! - `log`: diagnostics go through the `log` crate.
//! - `tracing`: diagnostics go through `tracing`.
//! - `svg`: `MemoryMap::to_svg`, the memory map of [`GpuAllocator::memory_map`]
//!   as an SVG picture.
//! - `check-invariants`: [`GpuAllocator::check_invariants`] in release builds (it
//!   is always there in debug builds).
//!
//! **Diagnostics** are reports of misuse that cannot be returned as errors (a
//! block dropped without [`GpuAllocator::dealloc`], an allocator dropped with
//! live blocks or without [`GpuAllocator::cleanup`]), at error level, and a
//! record of each device memory object allocated and freed, at debug level. They
//! go to the first of these that is on: `tracing`, then `log`, then stderr
//! (`std`; reports only). Targets are the allocator's module paths, all under
//! `gpu_alloc`. Whichever way they go, [`reported_problems`] counts the reports.

#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

mod align;
mod allocator;
mod block;
#[cfg(feature = "std")]
mod concurrent;
mod config;
mod defrag;
mod error;
mod pool;
mod pools;
mod report;
mod request;
mod shared;
mod slab;
mod stats;
mod strategy;
#[cfg(feature = "svg")]
mod svg;
mod usage;
mod virtual_alloc;

pub use {
    self::{
        allocator::{Forecast, GpuAllocator},
        block::MemoryBlock,
        config::Config,
        defrag::{
            DefragError, DefragMove, DefragOptions, DefragPass, DefragReport, DefragStats,
            MoveOutcome,
        },
        error::{AllocationError, MapError, TryAllocError},
        pools::{PoolAlgorithm, PoolDestroyed, PoolError, PoolId, PoolOptions, PoolStats},
        report::reported_problems,
        request::{AllocOptions, BudgetPolicy, Dedicated, Request, ResourceKind},
        stats::{
            AllocatorStats, HeapStats, MapRange, MemoryMap, MemoryObjectMap, MemoryTypeStats,
            NamedBlock, NamedRange, ObjectKind,
        },
        usage::UsageFlags,
        virtual_alloc::{
            ForeignBlockError, VirtualAllocError, VirtualAllocator, VirtualBlock, VirtualRange,
            VirtualStats, VirtualStrategy, ZeroCapacityError,
        },
    },
    gpu_alloc_types::*,
};

#[cfg(feature = "std")]
pub use self::concurrent::SharedGpuAllocator;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
