//! [`SharedGpuAllocator`]: one allocator for many threads, with no lock that
//! every thread meets.
//!
//! Two levels (`ARCHITECTURE.md`, "Many threads"):
//!
//! - **The central allocator**: a [`GpuAllocator`] behind one lock. It alone
//!   creates and frees memory objects, so the object count, heap sizes and
//!   budgets stay exact under any interleaving, and it serves every request the
//!   arenas do not take (large, dedicated, imported, unusual alignment, errors).
//! - **Thread arenas**: each thread allocates from an arena of its own (found
//!   by a thread number, no lookup table), behind a lock that only its thread
//!   takes on allocation. An arena holds *leases*: general blocks of the
//!   central allocator (so placed, aligned and counted as any block), each with
//!   a TLSF over its range that places the thread's blocks. A block is shaped
//!   exactly as the central allocator would shape it (rounding, atoms,
//!   granularity pages, pool class), so every rule of a block holds inside a
//!   lease as it does inside a memory object.
//!
//! A block freed by another thread goes back to its own arena, under that
//! arena's lock. An arena keeps empty leases up to an eighth of what its blocks
//! use (one at least) per memory type and pool class. When a memory type has no
//! room for a new lease, every arena gives its empty leases back and the lease
//! is tried once more, then the free room of other threads' leases is used;
//! when the central allocator runs out of memory or objects, the empty leases
//! go back and the request is tried once more.

mod arena;

#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};
use {
    self::arena::{list_of, Arena, Holding, LeasedAt, LEASE_ALIGN, LEASE_MAX, LEASE_MIN},
    crate::{
        align::is_align_mask,
        allocator::{pool_class, Rounding, ShapingFacts, CLASS_KINDS},
        block::{Flavor, MemoryBlock},
        error::{AllocationError, TryAllocError},
        request::{AllocOptions, Dedicated, ResourceKind},
        shared::ObjectRef,
        stats::{fragmentation, AllocatorStats, MapRange, MemoryMap},
        strategy::Strategy,
        usage::UsageFlags,
        GpuAllocator, Request,
    },
    alloc::vec::Vec,
    core::{
        fmt::Debug,
        sync::atomic::{AtomicUsize, Ordering},
    },
    gpu_alloc_types::{
        DeviceProperties, ExtendedProperties, HeapBudget, MemoryDevice, MemoryPropertyFlags,
    },
    std::sync::PoisonError,
};

/// Arenas per allocator: threads past this many share arenas (correct, and
/// only slower if they allocate at the same moment).
const ARENAS: usize = 64;

/// The largest block a thread arena places; larger ones go to the central
/// allocator, where they are few and their cost is dominated by their size.
const ARENA_BLOCK_MAX: u64 = 1024 * 1024;

/// Source of thread numbers: a thread's arena is its number modulo [`ARENAS`].
static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

std::thread_local! {
    static THREAD_NUMBER: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

/// An arena's lock, on cache lines of its own: threads that lock neighbouring
/// arenas would otherwise take turns on one line (false sharing).
#[repr(align(128))]
#[derive(Debug)]
struct ArenaCell<M>(Mutex<Arena<M>>);

/// Locks `mutex`; a panic on another thread while it held the lock (a bug)
/// does not stop this one, as every structure is left whole between calls.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A [`GpuAllocator`] that many threads use at once through `&self`.
///
/// It has `GpuAllocator`'s methods with the same meaning (all but
/// `allow_memory_properties`: the arenas read the memory-type ranking once),
/// and makes the same [`MemoryBlock`]s. Blocks up to 1 MiB of the memory type
/// a request would get first are placed by the calling thread's arena, under a
/// lock of its own that other threads take only to free a block of it, to take
/// its empty leases back or to read statistics; everything else goes through
/// one central `GpuAllocator` behind a lock. See the crate's `ARCHITECTURE.md`
/// ("Many threads") and `BENCHMARKS.md` for what this costs and gains.
///
/// A block may be freed by any thread. The room a thread's arena keeps for
/// reuse is shown in [`stats`](Self::stats) as [`AllocatorStats::cached`]:
/// free room in its leases (256 KiB each, larger for blocks over 128 KiB), of
/// which the empty leases are bounded (an eighth of what the arena's blocks of
/// that memory type and kind use, one lease at least) and given back when the
/// device runs out of memory or objects and by [`cleanup`](Self::cleanup);
/// room in leases that still hold blocks serves other threads only when their
/// memory type has no room for a new lease.
///
/// Differences from `GpuAllocator` a caller may see: `TRANSIENT` blocks in
/// the arenas share leases with the others (placed like general blocks);
/// `largest_free` and `fragmentation` in `stats` are the central allocator's
/// (the room inside leases counts in `free` and `cached` only, and in
/// [`memory_map`](Self::memory_map)'s free ranges); dropped without
/// `cleanup`, the allocator reports its threads' leases as live blocks of the
/// central allocator. A panic in the device's callbacks while a lock is held
/// does not poison the allocator for other threads (the lock is taken again).
///
/// ```
/// # fn demo<M: std::fmt::Debug + Send + Sync + 'static>(
/// #     device: &(impl gpu_alloc::MemoryDevice<M> + Sync),
/// #     props: gpu_alloc::DeviceProperties<'_>,
/// # ) {
/// use gpu_alloc::{Config, Request, SharedGpuAllocator, UsageFlags};
///
/// let allocator = SharedGpuAllocator::new(Config::i_am_prototyping(), props);
/// std::thread::scope(|scope| {
///     for _ in 0..4 {
///         scope.spawn(|| {
///             let request = Request {
///                 size: 4096,
///                 align_mask: 255,
///                 usage: UsageFlags::FAST_DEVICE_ACCESS,
///                 memory_types: !0,
///             };
///             // SAFETY: `device` is the device `props` describe.
///             let block = unsafe { allocator.alloc(device, request) }.unwrap();
///             // SAFETY: as above; the block is not in use.
///             unsafe { allocator.dealloc(device, block) };
///         });
///     }
/// });
/// // SAFETY: as above.
/// unsafe { allocator.cleanup(device) };
/// # }
/// ```
#[derive(Debug)]
pub struct SharedGpuAllocator<M> {
    /// Id of the blocks the arenas place (the central allocator has its own).
    id: usize,
    central_id: usize,
    central: Mutex<GpuAllocator<M>>,
    facts: ShapingFacts,
    /// The largest lease of each list (`list_of(ty, class)`), see
    /// [`largest_lease`]; below `LEASE_MIN` where the arenas take no block.
    lease_max: Vec<u64>,
    arenas: Vec<ArenaCell<M>>,
}

/// A request the arenas serve: where and how it is placed.
#[derive(Debug)]
struct Leasable {
    ty: u8,
    class: usize,
    /// `list_of(ty, class)`.
    list: usize,
    /// Rounded as the central allocator rounds it.
    size: u64,
    align_mask: u64,
    /// The largest lease of the list.
    lease_max: u64,
}

/// Why a thread's arena did not place a request.
#[derive(Debug, PartialEq, Eq)]
enum Declined {
    /// Not the arenas' work (too large, dedicated, unusual, invalid), or the
    /// central allocator would not lease for a reason of its own.
    Elsewhere,
    /// The memory type is out of memory or objects for a new lease.
    NoLease,
}

/// Whether an error says the device has no memory or objects left (then empty
/// leases are worth giving back).
trait Pressure {
    fn is_pressure(&self) -> bool;
}

impl Pressure for TryAllocError {
    fn is_pressure(&self) -> bool {
        matches!(
            self,
            TryAllocError::OutOfDeviceMemory | TryAllocError::TooManyObjects
        )
    }
}

impl Pressure for AllocationError {
    fn is_pressure(&self) -> bool {
        matches!(
            self,
            AllocationError::OutOfDeviceMemory | AllocationError::TooManyObjects
        )
    }
}

impl<M> SharedGpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Creates an allocator for a device with the given properties
    /// ([`GpuAllocator::new`]).
    pub fn new(config: crate::Config, props: DeviceProperties<'_>) -> Self {
        Self::from_central(GpuAllocator::new(config, props))
    }

    /// Creates an allocator with everything a backend can tell about the device
    /// ([`GpuAllocator::with_extended_properties`]).
    pub fn with_extended_properties(
        config: crate::Config,
        props: DeviceProperties<'_>,
        ext: ExtendedProperties<'_>,
    ) -> Self {
        Self::from_central(GpuAllocator::with_extended_properties(config, props, ext))
    }

    fn from_central(central: GpuAllocator<M>) -> Self {
        let facts = central.shaping_facts();
        let lease_max = (facts.types.iter())
            .flat_map(|ty| ty.rounding.iter().map(largest_lease))
            .collect();
        SharedGpuAllocator {
            id: crate::allocator::next_allocator_id(),
            central_id: central.id(),
            facts,
            lease_max,
            central: Mutex::new(central),
            arenas: (0..ARENAS)
                .map(|_| ArenaCell(Mutex::new(Arena::default())))
                .collect(),
        }
    }

    /// Allocates a memory block ([`GpuAllocator::alloc`]).
    ///
    /// # Errors
    ///
    /// See [`AllocationError`]; [`try_alloc`](Self::try_alloc) tells precisely why.
    ///
    /// # Safety
    ///
    /// `device` is the device whose properties created this allocator, and the
    /// same device is passed to every call of this allocator and its blocks.
    pub unsafe fn alloc(
        &self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        if let Some(block) = self.alloc_leased(device, &request, ResourceKind::Unknown) {
            return Ok(block);
        }
        // SAFETY: the caller's promise (`# Safety` above).
        self.central_alloc(device, |central| unsafe { central.alloc(device, request) })
    }

    /// Allocates a memory block with a dedicated-memory hint
    /// ([`GpuAllocator::alloc_with_dedicated`]).
    ///
    /// # Errors
    ///
    /// As for [`alloc`](Self::alloc).
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn alloc_with_dedicated(
        &self,
        device: &impl MemoryDevice<M>,
        request: Request,
        dedicated: Dedicated,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        // SAFETY: the caller's promise (`# Safety` of `alloc`).
        self.central_alloc(device, |central| unsafe {
            central.alloc_with_dedicated(device, request, dedicated)
        })
    }

    /// Allocates a memory block and says precisely why not when it cannot
    /// ([`GpuAllocator::try_alloc`]).
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`].
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc(
        &self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: the caller's promise.
        unsafe { self.try_alloc_with_options(device, request, AllocOptions::new()) }
    }

    /// [`try_alloc`](Self::try_alloc) with a dedicated-memory hint
    /// ([`GpuAllocator::try_alloc_with_dedicated`]).
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`].
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc_with_dedicated(
        &self,
        device: &impl MemoryDevice<M>,
        request: Request,
        dedicated: Dedicated,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let options = AllocOptions::new().dedicated(dedicated);
        // SAFETY: the caller's promise.
        unsafe { self.try_alloc_with_options(device, request, options) }
    }

    /// [`try_alloc`](Self::try_alloc) with every option
    /// ([`GpuAllocator::try_alloc_with_options`]).
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`].
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc), and for what `options` send the device:
    /// - a [`dedicated_resource`](AllocOptions::dedicated_resource) is a live
    ///   buffer or image of `device`, not bound to memory, whose memory
    ///   requirements are `request`'s (its size is `request.size`, its memory
    ///   types include those `request.memory_types` allows);
    /// - [`export`](AllocOptions::export) types are allowed for the memory
    ///   types `request` allows, and for the resource if one is given (the
    ///   API's external memory properties say so).
    pub unsafe fn try_alloc_with_options(
        &self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // Options beyond the resource kind, names included, are the central
        // allocator's: its table forgets a name when the block comes back,
        // which an arena's block never does.
        if !options.beyond_kind() {
            if let Some(block) = self.alloc_leased(device, &request, options.resource) {
                return Ok(block);
            }
        }
        self.central_alloc(device, |central| {
            // SAFETY: the caller's promise (`# Safety` of `alloc`).
            unsafe { central.try_alloc_with_options(device, request, options) }
        })
    }

    /// Returns a block to the allocator, from any thread
    /// ([`GpuAllocator::dealloc`]).
    ///
    /// A block this allocator did not make is reported and dropped without any
    /// device call (its memory leaks); use [`try_dealloc`](Self::try_dealloc) to
    /// get it back instead.
    ///
    /// # Safety
    ///
    /// - `device` is the device this allocator is used with.
    /// - The device no longer uses the block's memory, and no pointer into a
    ///   mapping of it is used afterwards.
    pub unsafe fn dealloc(&self, device: &impl MemoryDevice<M>, block: MemoryBlock<M>) {
        // SAFETY: the caller's promise, the same as `try_dealloc`'s.
        if let Err(block) = unsafe { self.try_dealloc(device, block) } {
            crate::report::report(format_args!(
                "SharedGpuAllocator::dealloc was given a MemoryBlock from another allocator; \
                 it is dropped without freeing its memory"
            ));
            block.abandon();
        }
    }

    /// Returns a block to the allocator, or gives it back as `Err` if this
    /// allocator did not make it ([`GpuAllocator::try_dealloc`]).
    ///
    /// # Errors
    ///
    /// The block itself, when another allocator made it.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    #[allow(clippy::result_large_err)]
    pub unsafe fn try_dealloc(
        &self,
        device: &impl MemoryDevice<M>,
        mut block: MemoryBlock<M>,
    ) -> Result<(), MemoryBlock<M>> {
        if block.allocator == self.central_id {
            // SAFETY: the caller's promise.
            return unsafe { lock(&self.central).try_dealloc(device, block) };
        }
        if block.allocator != self.id {
            return Err(block);
        }
        // SAFETY: the caller's promise: `device` is the block's, and nothing
        // uses a pointer into its mapping any more.
        unsafe { block.unmap(device) };
        let (offset, size) = (block.offset, block.size);
        let Flavor::Shared {
            class: arena,
            chunk,
            handle,
            ..
        } = block.into_flavor()
        else {
            unreachable!("an arena's block is a range of a lease")
        };
        let lease = lock(&self.arenas[usize::from(arena)].0).free(
            LeasedAt::from_chunk(chunk, handle),
            offset,
            size,
        );
        if let Some(lease) = lease {
            // SAFETY: the caller's promise; the lease holds no block.
            unsafe { lock(&self.central).dealloc(device, lease) };
        }
        Ok(())
    }

    /// Wraps memory allocated outside the allocator in a block
    /// ([`GpuAllocator::import_memory`]).
    ///
    /// # Safety
    ///
    /// As for [`GpuAllocator::import_memory`].
    pub unsafe fn import_memory(
        &self,
        memory: M,
        memory_type: u32,
        props: MemoryPropertyFlags,
        offset: u64,
        size: u64,
    ) -> MemoryBlock<M> {
        // SAFETY: the caller's promise.
        unsafe { lock(&self.central).import_memory(memory, memory_type, props, offset, size) }
    }

    /// Gives back every empty lease of every thread's arena and frees every
    /// shared memory object that holds no block ([`GpuAllocator::cleanup`]).
    ///
    /// # Safety
    ///
    /// `device` is the device this allocator is used with.
    pub unsafe fn cleanup(&self, device: &impl MemoryDevice<M>) {
        self.give_back_empty_leases(device);
        // SAFETY: the caller's promise.
        unsafe { lock(&self.central).cleanup(device) };
    }

    /// Creates a pool ([`GpuAllocator::create_pool`]); blocks of the pool
    /// are made and freed under the central lock.
    ///
    /// # Errors
    ///
    /// As for [`GpuAllocator::create_pool`].
    ///
    /// # Safety
    ///
    /// As for [`GpuAllocator::create_pool`].
    pub unsafe fn create_pool(
        &self,
        device: &impl MemoryDevice<M>,
        options: crate::PoolOptions,
    ) -> Result<crate::PoolId, crate::PoolError> {
        // SAFETY: the caller's promise.
        unsafe { lock(&self.central).create_pool(device, options) }
    }

    /// Destroys a pool ([`GpuAllocator::destroy_pool`]).
    ///
    /// # Errors
    ///
    /// As for [`GpuAllocator::destroy_pool`].
    ///
    /// # Safety
    ///
    /// As for [`GpuAllocator::destroy_pool`].
    pub unsafe fn destroy_pool(
        &self,
        device: &impl MemoryDevice<M>,
        pool: crate::PoolId,
    ) -> Result<crate::PoolDestroyed, crate::PoolError> {
        // SAFETY: the caller's promise.
        unsafe { lock(&self.central).destroy_pool(device, pool) }
    }

    /// Lets defragmentation move `block` ([`GpuAllocator::set_movable`]).
    /// Only blocks of the central allocator move (large blocks, pool
    /// blocks): a block a thread arena placed is refused as
    /// [`DefragError::ForeignBlock`](crate::DefragError::ForeignBlock).
    ///
    /// # Errors
    ///
    /// As for [`GpuAllocator::set_movable`].
    pub fn set_movable(
        &self,
        block: &mut MemoryBlock<M>,
        tag: u64,
        align_mask: u64,
    ) -> Result<(), crate::DefragError> {
        lock(&self.central).set_movable(block, tag, align_mask)
    }

    /// Makes `block` immovable again ([`GpuAllocator::set_immovable`]).
    pub fn set_immovable(&self, block: &MemoryBlock<M>) -> bool {
        lock(&self.central).set_immovable(block)
    }

    /// Plans a defragmentation pass of the central allocator
    /// ([`GpuAllocator::begin_defrag_pass`]). Other threads allocate and free
    /// while the pass is out; a block freed meanwhile is handled.
    pub fn begin_defrag_pass(&self, options: &crate::DefragOptions) -> crate::DefragPass<M> {
        lock(&self.central).begin_defrag_pass(options)
    }

    /// Ends a defragmentation pass ([`GpuAllocator::end_defrag_pass`]).
    ///
    /// # Errors
    ///
    /// As for [`GpuAllocator::end_defrag_pass`].
    ///
    /// # Safety
    ///
    /// As for [`GpuAllocator::end_defrag_pass`].
    #[allow(clippy::result_large_err)]
    pub unsafe fn end_defrag_pass(
        &self,
        device: &impl MemoryDevice<M>,
        pass: crate::DefragPass<M>,
    ) -> Result<crate::DefragReport, crate::DefragPass<M>> {
        // SAFETY: the caller's promise.
        unsafe { lock(&self.central).end_defrag_pass(device, pass) }
    }

    /// A pool's statistics ([`GpuAllocator::pool_stats`]).
    pub fn pool_stats(&self, pool: crate::PoolId) -> Option<crate::PoolStats> {
        lock(&self.central).pool_stats(pool)
    }

    /// Largest size of one memory object (`max_memory_allocation_size`).
    pub fn max_allocation_size(&self) -> u64 {
        lock(&self.central).max_allocation_size()
    }

    /// How many more memory objects the allocator may create.
    pub fn remaining_allocations(&self) -> u32 {
        lock(&self.central).remaining_allocations()
    }

    /// Sets how many more memory objects the allocator may create
    /// ([`GpuAllocator::set_remaining_allocations`]).
    ///
    /// # Safety
    ///
    /// As for [`GpuAllocator::set_remaining_allocations`].
    pub unsafe fn set_remaining_allocations(&self, remaining: u32) {
        // SAFETY: the caller's promise.
        unsafe { lock(&self.central).set_remaining_allocations(remaining) }
    }

    /// Bytes of device memory this allocator holds in `heap`.
    pub fn heap_usage(&self, heap: u32) -> u64 {
        lock(&self.central).heap_usage(heap)
    }

    /// Most bytes this allocator will hold in `heap` ([`GpuAllocator::heap_budget`]).
    pub fn heap_budget(&self, heap: u32) -> u64 {
        lock(&self.central).heap_budget(heap)
    }

    /// Sets the heaps' budgets ([`GpuAllocator::set_heap_budgets`]).
    pub fn set_heap_budgets(&self, budgets: &[HeapBudget]) {
        lock(&self.central).set_heap_budgets(budgets);
    }

    /// Reads and applies the heap budgets ([`GpuAllocator::update_budget`]).
    pub fn update_budget(&self, device: &impl MemoryDevice<M>) -> bool {
        lock(&self.central).update_budget(device)
    }

    /// Names `block` ([`GpuAllocator::set_block_name`]). Only blocks of the
    /// central allocator take a name: those allocated with
    /// [`AllocOptions::name`], dedicated ones, and those larger than the
    /// threads' arenas place; returns `false` for the others.
    pub fn set_block_name(
        &self,
        block: &mut MemoryBlock<M>,
        name: impl Into<alloc::borrow::Cow<'static, str>>,
    ) -> bool {
        lock(&self.central).set_block_name(block, name)
    }

    /// The name of `block` ([`GpuAllocator::block_name`]).
    pub fn block_name(&self, block: &MemoryBlock<M>) -> Option<alloc::string::String> {
        lock(&self.central).block_name(block).map(Into::into)
    }

    /// What an allocation would do now ([`GpuAllocator::forecast`]), as the
    /// central allocator sees it. The memory type is the one a thread's arena
    /// would use too; whether a memory object would be made does not count
    /// the room in the threads' leases (a block an arena places there makes
    /// none).
    ///
    /// # Errors
    ///
    /// As [`GpuAllocator::forecast`].
    pub fn forecast(
        &self,
        request: &Request,
        options: AllocOptions,
    ) -> Result<crate::Forecast, TryAllocError> {
        lock(&self.central).forecast(request, options)
    }

    /// The memory type an allocation would get now
    /// ([`GpuAllocator::find_memory_type`]).
    ///
    /// # Errors
    ///
    /// As [`GpuAllocator::find_memory_type`].
    pub fn find_memory_type(&self, request: &Request) -> Result<u32, TryAllocError> {
        lock(&self.central).find_memory_type(request)
    }

    /// Makes the allocator read the heaps' budgets by itself
    /// ([`GpuAllocator::set_budget_refresh`]).
    pub fn set_budget_refresh(&self, every: u32) {
        lock(&self.central).set_budget_refresh(every);
    }

    /// `bufferImageGranularity` the allocator was created with (1 if unknown).
    pub fn buffer_image_granularity(&self) -> u64 {
        self.facts.granularity
    }

    /// Number of blocks handed out and not yet returned (exact when no other
    /// thread allocates or frees meanwhile: the arenas and the central
    /// allocator are read one after the other).
    pub fn live_blocks(&self) -> u64 {
        let holdings = self.holdings();
        let leases: u64 = holdings.iter().map(|h| h.leases).sum();
        let blocks: u64 = holdings.iter().map(|h| h.blocks).sum();
        lock(&self.central).live_blocks().saturating_sub(leases) + blocks
    }

    /// Number of device memory objects the allocator holds.
    pub fn memory_objects(&self) -> u32 {
        lock(&self.central).memory_objects()
    }

    /// Statistics ([`GpuAllocator::stats`]). Blocks in thread arenas count as
    /// used and as blocks of their memory type and heap; the room their leases
    /// keep counts as free and as [`AllocatorStats::cached`]. Exact when no
    /// other thread allocates or frees meanwhile.
    pub fn stats(&self) -> AllocatorStats {
        let holdings = self.holdings();
        let mut stats = lock(&self.central).stats();
        let mut cached = 0;
        for (ty, holding) in holdings.iter().enumerate() {
            let spare = holding.held - holding.used;
            cached += spare;
            let Some(type_stats) = stats.memory_types.get_mut(ty) else {
                continue;
            };
            type_stats.used = type_stats.used.saturating_sub(holding.held) + holding.used;
            type_stats.blocks = type_stats.blocks.saturating_sub(holding.leases) + holding.blocks;
            type_stats.free += spare;
            type_stats.fragmentation = fragmentation(type_stats.largest_free, type_stats.free);
            if let Some(heap) = stats.heaps.get_mut(type_stats.heap as usize) {
                heap.used = heap.used.saturating_sub(holding.held) + holding.used;
                heap.blocks = heap.blocks.saturating_sub(holding.leases) + holding.blocks;
                heap.free += spare;
                heap.fragmentation = fragmentation(heap.largest_free, heap.free);
            }
            stats.used = stats.used.saturating_sub(holding.held) + holding.used;
            stats.blocks = stats.blocks.saturating_sub(holding.leases) + holding.blocks;
        }
        stats.cached = cached;
        stats
    }

    /// The memory map ([`GpuAllocator::memory_map`]), with [`stats`](Self::stats)'
    /// figures: the threads' leases show as the used and free ranges inside
    /// them. Exact when no other thread allocates or frees meanwhile.
    pub fn memory_map(&self) -> MemoryMap {
        let stats = self.stats();
        let mut leases = Vec::new();
        for arena in &self.arenas {
            lock(&arena.0).lease_ranges(&mut leases);
        }
        let mut keys = Vec::new();
        let mut map = lock(&self.central).memory_map_keyed(|key| keys.push(key));
        map.stats = stats;
        for (key, ranges) in leases {
            if let Some(index) = keys.iter().position(|&k| k == key) {
                paint(&mut map.objects[index].ranges, &ranges);
            }
        }
        map
    }

    /// Walks every internal structure, the central allocator's and every
    /// arena's, and panics if an invariant does not hold. For tests, at a moment
    /// when no other thread uses the allocator.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub fn check_invariants(&self) {
        for arena in &self.arenas {
            lock(&arena.0).check_invariants();
        }
        lock(&self.central).check_invariants();
    }

    /// What the arenas hold, by memory type.
    fn holdings(&self) -> Vec<Holding> {
        let mut by_type = alloc::vec![Holding::default(); self.facts.types.len()];
        for arena in &self.arenas {
            lock(&arena.0).holdings(&mut by_type);
        }
        by_type
    }

    /// The calling thread's arena.
    fn arena_index(&self) -> usize {
        THREAD_NUMBER.with(|number| *number) % self.arenas.len()
    }

    /// Places a request in the calling thread's arena, leasing more room from
    /// the central allocator if needed; `None` for whatever the arena does not
    /// serve (the central allocator then decides, errors included).
    #[inline]
    fn alloc_leased(
        &self,
        device: &impl MemoryDevice<M>,
        request: &Request,
        resource: ResourceKind,
    ) -> Option<MemoryBlock<M>> {
        let arena = self.arena_index();
        match self.alloc_in_arena(arena, device, request, resource) {
            Ok(block) => Some(block),
            // The memory type is out of memory or objects for a lease: other
            // threads' empty leases may make room, and then the free room of
            // their leases, before the central allocator falls back to a
            // worse type.
            Err(Declined::NoLease) => {
                if self.give_back_empty_leases(device) > 0 {
                    if let Ok(block) = self.alloc_in_arena(arena, device, request, resource) {
                        return Some(block);
                    }
                }
                self.alloc_in_other_arenas(arena, request, resource)
            }
            Err(Declined::Elsewhere) => None,
        }
    }

    /// What a request becomes in the arenas: `Elsewhere` for what they do not
    /// serve.
    #[inline]
    fn leasable(&self, request: &Request, resource: ResourceKind) -> Result<Leasable, Declined> {
        use Declined::Elsewhere;
        let facts = &self.facts;
        if request.size == 0
            || !is_align_mask(request.align_mask)
            || request.usage.intersects(facts.slow_usage)
        {
            return Err(Elsewhere);
        }
        // The type the central allocator's short path would take.
        let ty = (facts.usage)
            .first_allowed(request.usage, request.memory_types)
            .ok_or(Elsewhere)?;
        let class = pool_class(facts.granularity, resource);
        let rounding = &facts.types[usize::from(ty)].rounding[class];
        let transient = request.usage.contains(UsageFlags::TRANSIENT);
        let shape = rounding
            .shape(request.size, request.align_mask, transient)
            .ok_or(Elsewhere)?;
        let list = list_of(u32::from(ty), class);
        let lease_max = self.lease_max[list];
        if lease_max < LEASE_MIN
            || shape.size > ARENA_BLOCK_MAX.min(lease_max / 4)
            || shape.align_mask >= LEASE_ALIGN
        {
            return Err(Elsewhere);
        }
        Ok(Leasable {
            ty,
            class,
            list,
            size: shape.size,
            align_mask: shape.align_mask,
            lease_max,
        })
    }

    /// Places a request in arena `arena_index`, leasing more room from the
    /// central allocator if needed.
    #[inline]
    fn alloc_in_arena(
        &self,
        arena_index: usize,
        device: &impl MemoryDevice<M>,
        request: &Request,
        resource: ResourceKind,
    ) -> Result<MemoryBlock<M>, Declined> {
        let it = self.leasable(request, resource)?;
        let mut arena = lock(&self.arenas[arena_index].0);
        let placed = match arena.alloc(it.list, it.size, it.align_mask) {
            Some(placed) => placed,
            None => {
                let lease_size = Arena::<M>::lease_size(it.size, it.lease_max);
                let lease = self.lease(device, request, it.ty, it.class, lease_size)?;
                if let Err(lease) = arena.add_lease(it.list, lease) {
                    drop(arena);
                    // SAFETY: the caller's promise; the lease holds no block.
                    unsafe { lock(&self.central).dealloc(device, lease) };
                    return Err(Declined::Elsewhere);
                }
                (arena.alloc(it.list, it.size, it.align_mask)).ok_or(Declined::Elsewhere)?
            }
        };
        Ok(self.leased_block(arena_index, &it, placed))
    }

    /// Places a request in the free room of another thread's leases (one
    /// arena locked at a time, no lease made): the last resort before the
    /// central allocator when the memory type has no room for a new lease.
    /// The block belongs to that arena; any thread may free it.
    #[cold]
    fn alloc_in_other_arenas(
        &self,
        own: usize,
        request: &Request,
        resource: ResourceKind,
    ) -> Option<MemoryBlock<M>> {
        let it = self.leasable(request, resource).ok()?;
        (0..self.arenas.len()).filter(|&i| i != own).find_map(|i| {
            let placed = lock(&self.arenas[i].0).alloc(it.list, it.size, it.align_mask)?;
            Some(self.leased_block(i, &it, placed))
        })
    }

    /// The block for a request placed in arena `arena_index`.
    #[inline(always)]
    fn leased_block(
        &self,
        arena_index: usize,
        it: &Leasable,
        (at, offset, object): (LeasedAt, u64, ObjectRef<M>),
    ) -> MemoryBlock<M> {
        let type_facts = &self.facts.types[usize::from(it.ty)];
        MemoryBlock::new(
            self.id,
            u32::from(it.ty),
            type_facts.props,
            offset,
            it.size,
            type_facts.atom_mask,
            Flavor::Shared {
                memory: object.memory,
                base: object.base,
                strategy: Strategy::Leased,
                class: arena_index as u8,
                chunk: at.chunk(),
                handle: at.handle,
            },
        )
    }

    /// A new lease of `size` bytes of memory type `ty`, pool class `class`,
    /// from the central allocator: `NoLease` when the type is out of memory or
    /// objects, `Elsewhere` when the central allocator refuses for another
    /// reason or would give a dedicated object.
    fn lease(
        &self,
        device: &impl MemoryDevice<M>,
        request: &Request,
        ty: u8,
        class: usize,
        size: u64,
    ) -> Result<MemoryBlock<M>, Declined> {
        let lease_request = Request {
            size,
            align_mask: LEASE_ALIGN - 1,
            usage: request.usage - UsageFlags::TRANSIENT,
            memory_types: 1 << ty,
        };
        let options = AllocOptions::new().resource(CLASS_KINDS[class]);
        let mut central = lock(&self.central);
        // SAFETY: the caller's promise (`# Safety` of `alloc`).
        let lease = unsafe { central.try_alloc_with_options(device, lease_request, options) }
            .map_err(|error| {
                if error.is_pressure() {
                    Declined::NoLease
                } else {
                    Declined::Elsewhere
                }
            })?;
        if matches!(lease.flavor, Flavor::Shared { .. }) {
            Ok(lease)
        } else {
            // SAFETY: the caller's promise; the block is not in use.
            unsafe { central.dealloc(device, lease) };
            Err(Declined::Elsewhere)
        }
    }

    /// Runs `call` on the central allocator; if it fails for want of memory or
    /// objects, gives back every arena's empty leases and runs it once more.
    fn central_alloc<E: Pressure>(
        &self,
        device: &impl MemoryDevice<M>,
        mut call: impl FnMut(&mut GpuAllocator<M>) -> Result<MemoryBlock<M>, E>,
    ) -> Result<MemoryBlock<M>, E> {
        let result = call(&mut lock(&self.central));
        match result {
            Err(error) if error.is_pressure() => {
                if self.give_back_empty_leases(device) == 0 {
                    return Err(error);
                }
                call(&mut lock(&self.central))
            }
            result => result,
        }
    }

    /// Takes every empty lease out of every arena (one arena locked at a time,
    /// none while the central lock is held) and gives them back. Returns how
    /// many.
    fn give_back_empty_leases(&self, device: &impl MemoryDevice<M>) -> usize {
        let mut leases = Vec::new();
        for arena in &self.arenas {
            lock(&arena.0).take_empty(&mut leases);
        }
        let count = leases.len();
        if count > 0 {
            let mut central = lock(&self.central);
            for lease in leases {
                // SAFETY: the caller's promise; the leases hold no block.
                unsafe { central.dealloc(device, lease) };
            }
        }
        count
    }
}

/// The arenas' empty leases are let go of like blocks dropped without
/// `dealloc` (their objects go to whichever of the central allocator and the
/// blocks still out lets go last). A lease whose blocks are still out is
/// leaked instead: its blocks do not count on its memory object (a leased
/// block's drop never reaches it), so letting go of the lease would free the
/// object's cell under them, and `MemoryBlock::memory` would read freed
/// memory. The central allocator then reports, as `GpuAllocator` does,
/// whatever was not freed and cleaned up.
impl<M> Drop for SharedGpuAllocator<M> {
    fn drop(&mut self) {
        for arena in &self.arenas {
            for (lease, busy) in lock(&arena.0).take_all() {
                if busy {
                    core::mem::forget(lease.into_flavor());
                } else {
                    lease.abandon();
                }
            }
        }
    }
}

#[cfg(all(test, loom))]
mod model;

/// The largest lease of a memory type and pool class whose blocks are rounded
/// as `rounding` says: the largest power of two of at most `LEASE_MAX` bytes
/// that the central allocator places in a shared memory object (half its
/// largest object at most, and below its dedicated threshold); below
/// `LEASE_MIN` when there is none. The central allocator gives a larger lease
/// an object of its own, which `lease` hands back at once: an arena asking for
/// one would make and free a memory object for every block it places.
fn largest_lease(rounding: &Rounding) -> u64 {
    let mut size = prev_power_of_two(rounding.cap()).min(LEASE_MAX);
    while size >= LEASE_MIN && rounding.shape(size, LEASE_ALIGN - 1, false).is_none() {
        size /= 2;
    }
    size
}

/// Replaces the part of `ranges` (an object's ranges in offset order, covering
/// it) that `over` covers (consecutive ranges) with `over`, merging neighbours
/// of the same use.
fn paint(ranges: &mut Vec<MapRange>, over: &[MapRange]) {
    let (Some(first), Some(last)) = (over.first(), over.last()) else {
        return;
    };
    let (lo, hi) = (first.offset, last.offset + last.size);
    let mut cut = Vec::with_capacity(ranges.len() + over.len() + 2);
    for &range in ranges.iter() {
        let end = range.offset + range.size;
        if end <= lo || range.offset >= hi {
            cut.push(range);
            continue;
        }
        if range.offset < lo {
            cut.push(MapRange {
                size: lo - range.offset,
                ..range
            });
        }
        if end > hi {
            cut.push(MapRange {
                offset: hi,
                size: end - hi,
                used: range.used,
            });
        }
    }
    cut.extend_from_slice(over);
    cut.sort_unstable_by_key(|range| range.offset);
    ranges.clear();
    for range in cut {
        match ranges.last_mut() {
            Some(prev) if prev.used == range.used && prev.offset + prev.size == range.offset => {
                prev.size += range.size;
            }
            _ => ranges.push(range),
        }
    }
}

/// The largest power of two at most `x` (0 for 0).
fn prev_power_of_two(x: u64) -> u64 {
    if x == 0 {
        0
    } else {
        1 << (63 - x.leading_zeros())
    }
}
