//! The allocator's public face: [`GpuAllocator`] and its methods. Each
//! method is a few lines that hand the request to the layer that does the
//! work (see `ARCHITECTURE.md`):
//!
//! - `shape.rs`: what a request becomes in a memory type (rounding, slab class,
//!   strategy, or a dedicated object);
//! - `choose.rs`: which memory type serves it, on the short path (existing
//!   memory only) or the full path;
//! - `place.rs` and `slabs.rs`: where in the shared memory objects it goes,
//!   and when new objects and slabs are made;
//! - `dedicated.rs`: blocks with a memory object of their own;
//! - `release.rs`: blocks coming back, and which empty objects are kept;
//! - `device.rs`: the only place that creates, maps and frees memory objects;
//! - `introspect.rs`: statistics, the memory map and the invariant checks.
//!
//! The public `unsafe fn`s take the caller's promise about the device here,
//! once, by wrapping it in a [`Device`]; everything below them is safe code
//! but for `device.rs`.

mod choose;
mod dedicated;
mod defrag;
mod device;
mod forecast;
mod introspect;
mod memory_type;
mod names;
mod place;
mod pools;
mod release;
mod shape;
mod slabs;

pub use self::forecast::Forecast;
#[cfg(feature = "std")]
pub(crate) use self::shape::{pool_class, Rounding, CLASSES, CLASS_KINDS};

use {
    self::{
        device::{Accounts, Device, Heap},
        memory_type::{TypeLimits, TypeState},
    },
    crate::{
        block::MemoryBlock,
        config::{Config, Sizes},
        error::{AllocationError, TryAllocError},
        pools::{PoolDestroyed, PoolError, PoolId, PoolOptions},
        report::report,
        request::{AllocOptions, Dedicated, ResourceKind},
        usage::{MemoryForUsage, UsageFlags},
        Request,
    },
    alloc::vec::Vec,
    core::{
        fmt::Debug,
        sync::atomic::{AtomicUsize, Ordering},
    },
    gpu_alloc_types::{
        AllocationFlags, DeviceProperties, ExtendedProperties, HeapBudget, MemoryDevice,
        MemoryPropertyFlags, MemoryTypeInfo,
    },
};

/// Source of allocator ids, so blocks can name the allocator that made them.
static NEXT_ALLOCATOR_ID: AtomicUsize = AtomicUsize::new(1);

/// A new allocator id.
pub(crate) fn next_allocator_id() -> usize {
    NEXT_ALLOCATOR_ID.fetch_add(1, Ordering::Relaxed)
}

/// Memory allocator for Vulkan-like APIs.
///
/// See the [crate docs](crate) for an overview and an example.
#[derive(Debug)]
pub struct GpuAllocator<M> {
    /// Unique id, stored in every block this allocator makes.
    id: usize,
    /// The sizes the `Config` asked for.
    sizes: Sizes,
    types: Vec<TypeState<M>>,
    accounts: Accounts,
    usage: MemoryForUsage,
    /// Property bits outside the general-use set that the caller allowed.
    allowed_exotic: u32,
    buffer_device_address: bool,
    buffer_image_granularity: u64,
    /// Usage bits that send a request past the short path: `DEVICE_ADDRESS`
    /// when the feature is off (an error).
    slow_usage: UsageFlags,
    /// Blocks handed out and not yet returned:
    /// `live_blocks == sum of TypeState::blocks + unaccounted_blocks`.
    live_blocks: u64,
    /// Live blocks of imported memory of a memory type that does not exist,
    /// which no `TypeState` counts (see [`import_memory`](Self::import_memory)).
    unaccounted_blocks: u64,
    /// Hints not honoured (`AllocatorStats::hints_dropped`).
    hints_dropped: u64,
    /// The named live blocks.
    names: names::Names,
    /// The user pools.
    pools: pools::UserPools<M>,
    /// The blocks defragmentation may move.
    movables: defrag::Movables,
    /// What the defragmentation passes did.
    defrag: crate::defrag::DefragStats,
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Creates an allocator for a device with the given properties.
    ///
    /// The properties must describe the device later passed to every method.
    /// Property bits that [`MemoryPropertyFlags`] cannot hold are unknown here: use
    /// [`with_extended_properties`](Self::with_extended_properties) to pass them.
    pub fn new(config: Config, props: DeviceProperties<'_>) -> Self {
        let ext = ExtendedProperties::from_properties(&props, 1);
        Self::with_extended_properties(config, props, ext)
    }

    /// Creates an allocator with everything a backend can tell about the device,
    /// including property bits [`MemoryPropertyFlags`] cannot hold, heap flags and
    /// `bufferImageGranularity`. Where `ext` and `props` disagree on the memory
    /// types or heaps, `ext` wins.
    pub fn with_extended_properties(
        config: Config,
        props: DeviceProperties<'_>,
        ext: ExtendedProperties<'_>,
    ) -> Self {
        let ext = matching_extended(&props, ext);
        let sizes = Sizes::new(&config);
        let atom_mask = props.non_coherent_atom_size.max(1).next_power_of_two() - 1;
        let max_size = props.max_memory_allocation_size;
        let granularity = ext.buffer_image_granularity.max(1);
        let types = ext
            .memory_types
            .iter()
            .map(|&info| {
                let heap_size = ext
                    .memory_heaps
                    .get(info.heap as usize)
                    .map_or(0, |h| h.size);
                let limits = TypeLimits {
                    atom_mask,
                    max_object: heap_size.min(max_size),
                    heap_size,
                    granularity,
                };
                TypeState::new(info, &sizes, limits)
            })
            .collect();
        let flags = if props.buffer_device_address {
            AllocationFlags::DEVICE_ADDRESS
        } else {
            AllocationFlags::empty()
        };
        let heap_sizes = ext.memory_heaps.iter().map(|h| h.size);
        let allowed_exotic = 0;
        GpuAllocator {
            id: next_allocator_id(),
            sizes,
            usage: MemoryForUsage::new(&ext.memory_types, allowed_exotic),
            types,
            accounts: Accounts::new(
                heap_sizes,
                props.max_memory_allocation_count,
                max_size,
                flags,
            ),
            allowed_exotic,
            buffer_device_address: props.buffer_device_address,
            buffer_image_granularity: granularity,
            slow_usage: if props.buffer_device_address {
                UsageFlags::empty()
            } else {
                UsageFlags::DEVICE_ADDRESS
            },
            live_blocks: 0,
            unaccounted_blocks: 0,
            hints_dropped: 0,
            names: names::Names::default(),
            pools: pools::UserPools::default(),
            movables: defrag::Movables::default(),
            defrag: crate::defrag::DefragStats::default(),
        }
    }

    /// Makes memory types with these property bits eligible (as raw
    /// `VkMemoryPropertyFlags` bits: `DEVICE_COHERENT_AMD` `0x40`,
    /// `DEVICE_UNCACHED_AMD` `0x80`, `RDMA_CAPABLE_NV` `0x100`, or bits unknown to
    /// this crate). Such types are never chosen otherwise. Replaces the previous
    /// setting; `0` restores the default.
    pub fn allow_memory_properties(&mut self, raw_bits: u32) {
        self.allowed_exotic = raw_bits & crate::usage::EXOTIC_BITS;
        let infos: Vec<MemoryTypeInfo> = self.types.iter().map(|t| t.info).collect();
        self.usage = MemoryForUsage::new(&infos, self.allowed_exotic);
    }

    /// Allocates a memory block.
    ///
    /// # Errors
    ///
    /// See [`AllocationError`]; [`try_alloc`](Self::try_alloc) tells precisely why.
    ///
    /// # Safety
    ///
    /// - `device` is the device whose properties created this allocator, and the
    ///   same device is passed to every call of this allocator and its blocks.
    pub unsafe fn alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        // SAFETY: the caller's promise (`# Safety` above).
        let device = unsafe { Device::new(device) };
        self.alloc_short(&request, ResourceKind::Unknown, |this| {
            this.alloc_full_compat(device, request)
        })
    }

    /// [`alloc`](Self::alloc) past the short path, with the error of gpu-alloc
    /// 0.6 (a function of its own, so that the short path's block goes straight
    /// to the caller).
    #[inline(never)]
    fn alloc_full_compat(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        request: Request,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        self.alloc_full(device, request, &AllocOptions::new())
            .map_err(Into::into)
    }

    /// Allocates a memory block, with a hint about dedicated memory objects.
    ///
    /// # Errors
    ///
    /// See [`AllocationError`]; [`try_alloc_with_dedicated`](Self::try_alloc_with_dedicated)
    /// tells precisely why.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn alloc_with_dedicated(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        dedicated: Dedicated,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        let options = AllocOptions::new().dedicated(dedicated);
        // SAFETY: the caller's promise (`# Safety` of `alloc`).
        let device = unsafe { Device::new(device) };
        self.alloc_with(device, request, options)
            .map_err(Into::into)
    }

    /// Allocates a memory block, returning a precise error.
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`]: each variant says how to recover.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: the caller's promise (`# Safety` of `alloc`).
        let device = unsafe { Device::new(device) };
        self.alloc_with(device, request, AllocOptions::new())
    }

    /// Allocates a memory block with a hint about dedicated memory objects,
    /// returning a precise error.
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`]: each variant says how to recover.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc_with_dedicated(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        dedicated: Dedicated,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let options = AllocOptions::new().dedicated(dedicated);
        // SAFETY: the caller's promise (`# Safety` of `alloc`).
        let device = unsafe { Device::new(device) };
        self.alloc_with(device, request, options)
    }

    /// Allocates a memory block with options (dedicated hint, resource kind for
    /// `bufferImageGranularity`), returning a precise error.
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`]: each variant says how to recover.
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
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: the caller's promise (`# Safety` of `alloc`).
        let device = unsafe { Device::new(device) };
        self.alloc_with(device, request, options)
    }

    /// Every allocation with options: the short path unless a dedicated hint
    /// asks for more.
    #[inline(always)]
    fn alloc_with(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        if options.beyond_kind() {
            let mut result = match options.pool {
                Some(pool) => self.alloc_pooled(device, request, &options, pool),
                None => self.alloc_full(device, request, &options),
            };
            if let (Some(name), Ok(block)) = (options.name, &mut result) {
                self.set_block_name(block, name);
            }
            return result;
        }
        self.alloc_short(&request, options.resource, |this| {
            this.alloc_full(device, request, &options)
        })
    }

    /// Returns a block to the allocator.
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
    pub unsafe fn dealloc(&mut self, device: &impl MemoryDevice<M>, block: MemoryBlock<M>) {
        // SAFETY: the caller's promise, the same as `try_dealloc`'s.
        if let Err(block) = unsafe { self.try_dealloc(device, block) } {
            report(format_args!(
                "GpuAllocator::dealloc was given a MemoryBlock from another allocator; it is \
                 dropped without freeing its memory"
            ));
            block.abandon();
        }
    }

    /// Returns a block to the allocator, or gives it back as `Err` if this allocator
    /// did not make it (nothing else happens then).
    ///
    /// An emptied shared memory object is kept for reuse unless the rest of its
    /// pool holds the pool's high-water mark (see the crate docs on retention);
    /// [`cleanup`](Self::cleanup) and memory pressure free the ones kept.
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
        &mut self,
        device: &impl MemoryDevice<M>,
        mut block: MemoryBlock<M>,
    ) -> Result<(), MemoryBlock<M>> {
        if block.allocator != self.id {
            return Err(block);
        }
        // One test for the two things few blocks have to undo.
        if block.mapped | block.named {
            // SAFETY: the caller's promise: `device` is the block's, and
            // nothing uses a pointer into its mapping any more.
            unsafe { self.unmap_and_unname(device, &mut block) };
        }
        // SAFETY: the caller's promise (`# Safety` above).
        let device = unsafe { Device::new(device) };
        self.release(device, block);
        Ok(())
    }

    /// Unmaps a block that is being returned and forgets its name.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    #[cold]
    #[inline(never)]
    unsafe fn unmap_and_unname(
        &mut self,
        device: &impl MemoryDevice<M>,
        block: &mut MemoryBlock<M>,
    ) {
        // SAFETY: the caller's promise.
        unsafe { block.unmap(device) };
        if block.named {
            let key = block.name_key();
            self.names.forget(key);
            self.movables.forget(key);
        }
    }

    /// Wraps memory allocated outside the allocator in a block, so it can be
    /// handled like the others and freed with [`dealloc`](Self::dealloc). The memory
    /// counts in the heap usage and the object count.
    ///
    /// An invalid `memory_type` is reported, and the memory is then not accounted.
    ///
    /// # Safety
    ///
    /// - `memory` was allocated from the allocator's device, with `memory_type`,
    ///   and `props` are that type's properties.
    /// - The memory object spans exactly `offset..offset + size` as far as the
    ///   block is concerned; for non-coherent memory, `offset` is a multiple of
    ///   `non_coherent_atom_size`.
    /// - The memory is not owned by any other block, and is freed only through the
    ///   returned block.
    pub unsafe fn import_memory(
        &mut self,
        memory: M,
        memory_type: u32,
        props: MemoryPropertyFlags,
        offset: u64,
        size: u64,
    ) -> MemoryBlock<M> {
        self.import(memory, memory_type, props, offset, size)
    }

    /// Creates a pool: memory objects of one memory type and one size, set
    /// apart for the blocks that name it ([`AllocOptions::pool`]), placed by
    /// one algorithm, between a minimum and a maximum number of objects
    /// (the minimum made now). Its objects count against the same object
    /// limit and heap budgets as the allocator's own.
    ///
    /// ```
    /// use gpu_alloc::{AllocOptions, GpuAllocator, MemoryBlock, MemoryDevice, PoolOptions};
    /// use gpu_alloc::{Request, UsageFlags};
    ///
    /// /// A pool of at most two 64 MiB objects for a level's geometry, and its
    /// /// first block.
    /// unsafe fn level_pool<M: std::fmt::Debug + 'static>(
    ///     allocator: &mut GpuAllocator<M>,
    ///     device: &impl MemoryDevice<M>,
    ///     request: Request,
    /// ) -> Result<MemoryBlock<M>, Box<dyn std::error::Error>> {
    ///     let options = PoolOptions::new(64 << 20)
    ///         .usage(UsageFlags::FAST_DEVICE_ACCESS)
    ///         .max_objects(2)
    ///         .name("level geometry");
    ///     let pool = unsafe { allocator.create_pool(device, options) }?;
    ///     let options = AllocOptions::new().pool(pool);
    ///     Ok(unsafe { allocator.try_alloc_with_options(device, request, options) }?)
    /// }
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    ///
    /// See [`PoolError`]: invalid options, or making the minimum objects
    /// failed (then nothing of the pool is kept).
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc), and the [`export`](PoolOptions::export)
    /// types are allowed for the pool's memory type.
    pub unsafe fn create_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        options: PoolOptions,
    ) -> Result<PoolId, PoolError> {
        // SAFETY: the caller's promise (`# Safety` above).
        let device = unsafe { Device::new(device) };
        self.create_pool_on(device, options)
    }

    /// Destroys a pool: it takes no more blocks, its empty memory objects
    /// are freed now, and those that hold live blocks as the last of them is
    /// returned (with [`dealloc`](Self::dealloc), as any block). Live blocks
    /// are reported (a leak of the caller's, usually) and counted in the
    /// result; nothing they use is freed.
    ///
    /// # Errors
    ///
    /// [`PoolError::UnknownPool`] for a pool destroyed already or of another
    /// allocator.
    ///
    /// # Safety
    ///
    /// `device` is the device this allocator is used with.
    pub unsafe fn destroy_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        pool: PoolId,
    ) -> Result<PoolDestroyed, PoolError> {
        // SAFETY: the caller's promise (`# Safety` above).
        let device = unsafe { Device::new(device) };
        self.destroy_pool_on(device, pool)
    }

    /// Ends a defragmentation pass ([`begin_defrag_pass`](Self::begin_defrag_pass)):
    /// frees the old block of every move done (its name and movability go to
    /// the new block), the new block of every other move, then the memory
    /// objects the pass emptied (a user pool keeps its minimum), and gives
    /// back the slabs its compaction emptied (with their objects, if that
    /// empties them). Returns what the pass did, also added to
    /// [`stats`](Self::stats).
    ///
    /// # Errors
    ///
    /// The pass itself, when another allocator planned it (nothing happens).
    ///
    /// # Safety
    ///
    /// - `device` is the device this allocator is used with.
    /// - The device no longer uses the old blocks of the moves done (their
    ///   resources are bound to the new blocks and the copies are complete),
    ///   nor the new blocks of the other moves.
    #[allow(clippy::result_large_err)]
    pub unsafe fn end_defrag_pass(
        &mut self,
        device: &impl MemoryDevice<M>,
        pass: crate::DefragPass<M>,
    ) -> Result<crate::DefragReport, crate::DefragPass<M>> {
        // SAFETY: the caller's promise (`# Safety` above).
        let device = unsafe { Device::new(device) };
        self.end_defrag_pass_on(device, pass)
    }

    /// Frees every shared memory object that holds no block.
    ///
    /// # Safety
    ///
    /// `device` is the device this allocator is used with.
    pub unsafe fn cleanup(&mut self, device: &impl MemoryDevice<M>) {
        // SAFETY: the caller's promise (`# Safety` above).
        let device = unsafe { Device::new(device) };
        // The default pools' empty objects, and the user pools' above their
        // minimum.
        self.release_empty(device, None);
        for state in &mut self.types {
            state
                .general
                .iter_mut()
                .for_each(|pool| pool.reset_high_water());
            state
                .transient
                .iter_mut()
                .for_each(|pool| pool.reset_high_water());
        }
    }

    /// Largest size of one memory object (`max_memory_allocation_size`).
    pub fn max_allocation_size(&self) -> u64 {
        self.accounts.max_object()
    }

    /// How many more memory objects the allocator may create.
    pub fn remaining_allocations(&self) -> u32 {
        self.accounts.remaining
    }

    /// Sets how many more memory objects the allocator may create, for example
    /// when other code allocates memory objects from the same device.
    ///
    /// # Safety
    ///
    /// Together with the objects others hold, the allocator's objects must stay
    /// within the device's `maxMemoryAllocationCount`.
    pub unsafe fn set_remaining_allocations(&mut self, remaining: u32) {
        self.accounts.remaining = remaining;
    }

    /// Bytes of device memory this allocator holds in `heap` (0 for a heap that
    /// does not exist).
    pub fn heap_usage(&self, heap: u32) -> u64 {
        self.accounts.heaps.get(heap as usize).map_or(0, |h| h.used)
    }

    /// Most bytes this allocator will hold in `heap`: the heap size, or less after a
    /// budget reading (0 for a heap that does not exist).
    pub fn heap_budget(&self, heap: u32) -> u64 {
        self.accounts
            .heaps
            .get(heap as usize)
            .map_or(0, Heap::limit)
    }

    /// Sets the heaps' budgets from a reading of `VK_EXT_memory_budget` (one entry
    /// per heap, in order; extra entries are ignored). The allocator then keeps its
    /// own usage of each heap within `budget - (usage - its own usage)`.
    pub fn set_heap_budgets(&mut self, budgets: &[HeapBudget]) {
        self.accounts.set_budgets(budgets);
    }

    /// Reads the heap budgets from the device ([`MemoryDevice::memory_budget`]) and
    /// applies them with [`set_heap_budgets`](Self::set_heap_budgets). Returns
    /// whether the device could tell.
    pub fn update_budget(&mut self, device: &impl MemoryDevice<M>) -> bool {
        let mut budgets = alloc::vec![HeapBudget::default(); self.accounts.heaps.len()];
        let known = device.memory_budget(&mut budgets);
        if known {
            self.set_heap_budgets(&budgets);
        }
        known
    }

    /// Makes the allocator read the heaps' budgets from the device by itself
    /// ([`update_budget`](Self::update_budget)): after every `every` memory
    /// objects it allocates or frees, and after the device runs out of memory
    /// where the last reading said there was room. `0` (the default) reads
    /// them only when asked. VMA reads them every 30 allocations; the reading
    /// is one driver call (`vkGetPhysicalDeviceMemoryProperties2`), cheap
    /// beside the allocations it follows. The readings made are counted in
    /// [`AllocatorStats::budget_refreshes`](crate::AllocatorStats::budget_refreshes).
    pub fn set_budget_refresh(&mut self, every: u32) {
        self.accounts.refresh_every = every;
    }

    /// The interval of [`set_budget_refresh`](Self::set_budget_refresh).
    pub fn budget_refresh(&self) -> u32 {
        self.accounts.refresh_every
    }

    /// `bufferImageGranularity` the allocator was created with (1 if unknown).
    pub fn buffer_image_granularity(&self) -> u64 {
        self.buffer_image_granularity
    }

    /// Number of blocks handed out and not yet returned.
    pub fn live_blocks(&self) -> u64 {
        self.live_blocks
    }

    /// Number of device memory objects the allocator holds (shared ones, and
    /// dedicated and imported blocks).
    pub fn memory_objects(&self) -> u32 {
        self.accounts.objects
    }
}

/// What a [`SharedGpuAllocator`](crate::SharedGpuAllocator)'s thread arenas
/// need to shape requests exactly as the allocator behind them does: read once,
/// when it is made, and never changed after.
#[cfg(feature = "std")]
#[derive(Debug)]
pub(crate) struct ShapingFacts {
    pub(crate) usage: MemoryForUsage,
    pub(crate) slow_usage: UsageFlags,
    pub(crate) granularity: u64,
    pub(crate) types: Vec<TypeFacts>,
}

/// One memory type's part of [`ShapingFacts`].
#[cfg(feature = "std")]
#[derive(Debug)]
pub(crate) struct TypeFacts {
    pub(crate) props: MemoryPropertyFlags,
    pub(crate) atom_mask: u64,
    pub(crate) rounding: [Rounding; CLASSES],
}

#[cfg(feature = "std")]
impl<M> GpuAllocator<M> {
    pub(crate) fn id(&self) -> usize {
        self.id
    }

    pub(crate) fn shaping_facts(&self) -> ShapingFacts {
        ShapingFacts {
            usage: self.usage.clone(),
            slow_usage: self.slow_usage,
            granularity: self.buffer_image_granularity,
            types: self
                .types
                .iter()
                .map(|state| TypeFacts {
                    props: state.info.props(),
                    atom_mask: state.atom_mask,
                    rounding: state.rounding,
                })
                .collect(),
        }
    }
}

/// `ext`, or the properties' own when `ext` describes other memory types or
/// heaps (keeping its granularity).
fn matching_extended<'a>(
    props: &DeviceProperties<'a>,
    ext: ExtendedProperties<'a>,
) -> ExtendedProperties<'a> {
    if ext.memory_types.len() == props.memory_types.len()
        && ext.memory_heaps.len() == props.memory_heaps.len()
    {
        ext
    } else {
        ExtendedProperties::from_properties(props, ext.buffer_image_granularity)
    }
}

impl<M> Drop for GpuAllocator<M> {
    fn drop(&mut self) {
        // Memory objects that hold slabs: a slab is one used range of its object
        // but holds as many blocks as used slots. Hand the objects over to the
        // blocks still out (see `Pool`'s `Drop`) with that count.
        for state in &mut self.types {
            for (slabs, pool) in state.slabs.iter().zip(&mut state.general) {
                if slabs.is_empty() {
                    continue;
                }
                let mut extra = alloc::vec![0i64; pool.chunks.len()];
                slabs.for_each_slab(|chunk, used| extra[chunk as usize] += used as i64 - 1);
                pool.orphan_all(&extra);
            }
        }
        if self.live_blocks > 0 {
            report(format_args!(
                "GpuAllocator dropped with {} live blocks: their memory is leaked",
                self.live_blocks
            ));
            self.names.report_leaks();
        }
        let held = self.accounts.objects - self.accounts.dedicated_objects;
        if held > 0 {
            report(format_args!(
                "GpuAllocator dropped holding {held} shared memory objects: call cleanup \
                 (after freeing every block) before dropping it"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    /// The allocator and its blocks move between threads and can be shared behind
    /// a lock: every field is plain data, or a `SharedMemory`, `MemoryRef` or
    /// `MappedPtr` whose `Send`/`Sync` impls say why they are sound (see the crate
    /// docs, "Threads").
    #[test]
    fn allocator_and_blocks_are_send_and_sync() {
        assert_send_sync::<GpuAllocator<u64>>();
        assert_send_sync::<MemoryBlock<u64>>();
        #[cfg(feature = "std")]
        assert_send_sync::<crate::SharedGpuAllocator<u64>>();
    }
}
