//! User pools: memory objects of one memory type, one size and one algorithm
//! that the caller sets apart ([`GpuAllocator::create_pool`]), with limits on
//! how many there are.
//!
//! A pool is a [`Pool`] of chunks, as the allocator's own pools are, placed by
//! the same strategies (`Tlsf`, `Linear`, `Ring`); what differs is around it:
//! every object has the pool's size and is made with the pool's priority and
//! export types, the pool makes no object past its maximum (a full pool is an
//! error, never a spill into the default pools) and keeps its minimum, and
//! it has no retention epochs: an object that empties goes back to the device
//! unless the pool is at its minimum or holds no other empty object (one
//! empty object is kept for reuse, so that a pool that goes from nothing to
//! one block every frame does not make and free an object every frame).
//! Objects are made and freed through the same [`Accounts`] as every other,
//! so the object-count limit and heap budgets are shared and exact.

#![deny(unsafe_code)]

use {
    super::{
        choose::Placed,
        device::{Accounts, Device},
        memory_type::ChunkView,
        release::free_chunk,
        Forecast, GpuAllocator,
    },
    crate::{
        block::MemoryBlock,
        error::TryAllocError,
        pool::{Chunk, Placement, Pool},
        pools::{PoolAlgorithm, PoolDestroyed, PoolError, PoolId, PoolOptions, PoolStats},
        report::report,
        request::{AllocOptions, BudgetPolicy, Dedicated},
        shared::{ObjectRef, SharedMemory},
        stats::{fragmentation, ObjectKind},
        strategy::{Linear, Ring, Strategy, SubAllocator, Tlsf},
        Request,
    },
    alloc::{string::ToString, vec::Vec},
    core::fmt::Debug,
    gpu_alloc_types::{AllocateInfo, AllocationFlags, MemoryDevice, MemoryPropertyFlags},
};

/// How a user pool's block names its object: the pool's slot in the high 16
/// bits of `Flavor::Shared::chunk`, the object's slot in its pool in the low
/// 16 (so that the blocks of the default pools, which use the field for the
/// object's slot alone, carry nothing more). Hence at most [`MAX_POOLS`]
/// pools and [`MAX_POOL_OBJECTS`] objects per pool.
pub(crate) struct PoolChunk;

/// Most pools an allocator has at once.
pub(crate) const MAX_POOLS: u32 = 1 << 16;

/// Most memory objects one pool has at once.
pub(crate) const MAX_POOL_OBJECTS: u32 = 1 << 16;

impl PoolChunk {
    #[inline(always)]
    pub(crate) fn encode(pool: u32, chunk: u32) -> u32 {
        debug_assert!(pool < MAX_POOLS && chunk < MAX_POOL_OBJECTS);
        pool << 16 | chunk
    }

    #[inline(always)]
    pub(crate) fn decode(chunk: u32) -> (u32, u32) {
        (chunk >> 16, chunk & 0xffff)
    }
}

/// The pools of one allocator, by slot.
#[derive(Debug)]
pub(crate) struct UserPools<M> {
    /// `slots[i]` is `None` iff `i` is in `free`.
    slots: Vec<Option<UserPool<M>>>,
    free: Vec<u32>,
    /// Serial of the next pool made, so that a slot's later pools have ids of
    /// their own.
    next_serial: u32,
}

impl<M> Default for UserPools<M> {
    fn default() -> Self {
        UserPools {
            slots: Vec::new(),
            free: Vec::new(),
            next_serial: 0,
        }
    }
}

/// One pool.
#[derive(Debug)]
pub(crate) struct UserPool<M> {
    serial: u32,
    options: PoolOptions,
    ty: u32,
    heap: u32,
    /// `options.object_size` rounded up to atoms.
    object_size: u64,
    /// What the pool's objects are made with (priority and export types the
    /// device supports), or `None` for a plain allocation.
    info: Option<AllocateInfo>,
    objects: Objects<M>,
    /// Live blocks and their bytes (`objects`' used ranges are exactly these).
    blocks: u64,
    block_bytes: u64,
    /// Whether the device has no priorities for the pool's priority (each
    /// object made counts a dropped hint).
    priority_dropped: bool,
    /// Destroyed: takes no block, and goes when its last object does.
    retired: bool,
}

/// A pool's chunks, by algorithm.
#[derive(Debug)]
enum Objects<M> {
    General(Pool<M, Tlsf>),
    Linear(Pool<M, Linear>),
    Ring(Pool<M, Ring>),
}

/// Runs `$body` with `$pool` bound to the [`Pool`] of whichever algorithm.
macro_rules! with_pool {
    ($objects:expr, $pool:ident => $body:expr) => {
        match $objects {
            Objects::General($pool) => $body,
            Objects::Linear($pool) => $body,
            Objects::Ring($pool) => $body,
        }
    };
}

impl<M> Objects<M> {
    fn new(algorithm: PoolAlgorithm, object_size: u64) -> Self {
        match algorithm {
            PoolAlgorithm::General => Objects::General(Pool::new(object_size)),
            PoolAlgorithm::Linear => Objects::Linear(Pool::new(object_size)),
            PoolAlgorithm::Ring => Objects::Ring(Pool::new(object_size)),
        }
    }

    fn count(&self) -> u32 {
        with_pool!(self, pool => pool.iter().count() as u32)
    }

    /// Places a block in the object that placed the last one if it has
    /// room (for linear and ring pools, almost always: their blocks come and
    /// go in order), else in the best one ([`Pool::alloc`]).
    /// Returns where, and what the block keeps of the object.
    #[inline(always)]
    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(Placement, ObjectRef<M>)> {
        fn place<M, S: SubAllocator>(
            pool: &mut Pool<M, S>,
            size: u64,
            align_mask: u64,
        ) -> Option<(Placement, ObjectRef<M>)> {
            if !S::best_fit_objects() {
                if let Some(found) = pool.alloc_recent(size, align_mask) {
                    return Some(found);
                }
            }
            let placement = pool.alloc(size, align_mask)?;
            Some((placement, pool.get_mut(placement.chunk).object_ref()))
        }
        with_pool!(self, pool => place(pool, size, align_mask))
    }

    /// Adds an object and places `size` bytes at its start.
    fn insert(&mut self, memory: M, base: Option<crate::shared::MappedPtr>, size: u64) -> u32 {
        fn add<M, S: SubAllocator>(
            pool: &mut Pool<M, S>,
            memory: M,
            base: Option<crate::shared::MappedPtr>,
            size: u64,
        ) -> u32 {
            pool.insert(Chunk {
                memory: SharedMemory::new(memory),
                base,
                size,
                sub: S::new(size),
            })
        }
        with_pool!(self, pool => add(pool, memory, base, size))
    }

    /// Frees a block's range; returns whether its object is now empty.
    fn free(&mut self, placement: Placement, size: u64) -> bool {
        let Placement {
            chunk,
            offset,
            handle,
        } = placement;
        // The pool counts no block for retention (`add_block` is never
        // called), so its floor is 0 and `free` says whether it emptied.
        with_pool!(self, pool => pool.free(chunk, offset, size, handle))
    }

    fn can_place(&self, size: u64, align_mask: u64) -> bool {
        with_pool!(self, pool => pool.can_place(size, align_mask))
    }

    fn empty_slots(&self) -> Vec<u32> {
        with_pool!(self, pool => pool.empty_slots())
    }

    fn free_chunk(
        &mut self,
        accounts: &mut Accounts,
        device: Device<'_, M, impl MemoryDevice<M>>,
        heap: u32,
        slot: u32,
    ) -> bool
    where
        M: Debug + 'static,
    {
        with_pool!(self, pool => free_chunk(accounts, device, pool, heap, slot))
    }

    fn views(&self, pool: u32) -> Vec<ChunkView<'_>> {
        fn of<M, S: SubAllocator>(p: &Pool<M, S>, index: u32) -> Vec<ChunkView<'_>> {
            p.iter()
                .map(|chunk| ChunkView {
                    kind: ObjectKind::Pool,
                    resource: crate::request::ResourceKind::Unknown,
                    size: chunk.size,
                    sub: &chunk.sub,
                    key: chunk.memory.key(),
                    mapped: chunk.base.is_some(),
                    pool: Some(index),
                })
                .collect()
        }
        with_pool!(self, p => of(p, pool))
    }

    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    fn check_invariants(&self) {
        with_pool!(self, pool => pool.check_invariants())
    }
}

impl<M> UserPools<M> {
    /// The live pool `id` names (not a retired one).
    fn get(&self, allocator: usize, id: PoolId) -> Option<&UserPool<M>> {
        if id.allocator != allocator {
            return None;
        }
        let pool = self.slots.get(id.index as usize)?.as_ref()?;
        (pool.serial == id.serial && !pool.retired).then_some(pool)
    }

    /// [`get`](Self::get), to change.
    fn get_mut(&mut self, allocator: usize, id: PoolId) -> Option<&mut UserPool<M>> {
        if id.allocator != allocator {
            return None;
        }
        let pool = self.slots.get_mut(id.index as usize)?.as_mut()?;
        (pool.serial == id.serial && !pool.retired).then_some(pool)
    }

    /// Every pool with its slot, retired ones too.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &UserPool<M>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, pool)| Some((slot as u32, pool.as_ref()?)))
    }

    /// The chunks of every pool of memory type `ty`.
    pub(crate) fn chunks_of(&self, ty: u32) -> Vec<ChunkView<'_>> {
        self.iter()
            .filter(|(_, pool)| pool.ty == ty)
            .flat_map(|(slot, pool)| pool.objects.views(slot))
            .collect()
    }

    /// The slot of the live pool `id`.
    pub(crate) fn slot_of(&self, allocator: usize, id: PoolId) -> Option<u32> {
        self.get(allocator, id).map(|_| id.index)
    }

    /// The slots of the live pools of the general algorithm.
    pub(crate) fn general_slots(&self) -> Vec<u32> {
        self.iter()
            .filter(|(_, p)| !p.retired && matches!(p.objects, Objects::General(_)))
            .map(|(slot, _)| slot)
            .collect()
    }

    /// The memory type of the pool in `slot` (which holds one).
    pub(crate) fn memory_type(&self, slot: u32) -> u32 {
        self.slots[slot as usize].as_ref().map_or(0, |p| p.ty)
    }

    /// The algorithm of the pool in `slot`, if it holds one.
    pub(crate) fn algorithm(&self, slot: u32) -> Option<PoolAlgorithm> {
        Some(self.slots.get(slot as usize)?.as_ref()?.options.algorithm)
    }

    /// The objects of the general pool in `slot`.
    pub(crate) fn general_mut(&mut self, slot: u32) -> Option<&mut Pool<M, Tlsf>> {
        match &mut self.slots.get_mut(slot as usize)?.as_mut()?.objects {
            Objects::General(pool) => Some(pool),
            _ => None,
        }
    }

    /// Whether the pool in `slot` holds more objects than its minimum (or is
    /// retired).
    pub(crate) fn above_minimum(&self, slot: u32) -> bool {
        self.slots[slot as usize]
            .as_ref()
            .is_some_and(|p| p.retired || p.objects.count() > p.options.min_objects)
    }

    /// The name of the pool in `slot`, if it has one.
    pub(crate) fn name(&self, slot: u32) -> Option<&'static str> {
        self.slots.get(slot as usize)?.as_ref()?.options.name
    }

    pub(crate) fn stats(&self) -> Vec<PoolStats> {
        self.iter().map(|(_, pool)| pool.stats()).collect()
    }

    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(crate) fn check_invariants(&self, type_count: usize) {
        for (slot, pool) in self.iter() {
            pool.objects.check_invariants();
            assert!((pool.ty as usize) < type_count, "pool {slot}: no such type");
            let views = pool.objects.views(slot);
            let used: u64 = views.iter().map(|v| v.sub.used()).sum();
            let ranges: u64 = views.iter().map(|v| v.sub.live_ranges()).sum();
            assert_eq!(used, pool.block_bytes, "pool {slot}: bytes differ");
            assert_eq!(ranges, pool.blocks, "pool {slot}: blocks differ");
            let count = views.len() as u32;
            if let Some(max) = pool.options.max_objects {
                assert!(count <= max, "pool {slot}: more objects than its maximum");
            }
            if pool.retired {
                assert!(count > 0, "pool {slot}: a retired pool with no object left");
                assert!(
                    views.iter().all(|v| !v.sub.is_empty()),
                    "pool {slot}: a retired pool keeps an empty object"
                );
            } else {
                assert!(
                    count >= pool.options.min_objects,
                    "pool {slot}: fewer objects than its minimum"
                );
                let empty = views.iter().filter(|v| v.sub.is_empty()).count() as u32;
                assert!(
                    empty <= 1 || count <= pool.options.min_objects,
                    "pool {slot}: {empty} empty objects above its minimum"
                );
            }
            for view in &views {
                assert_eq!(view.size, pool.object_size, "pool {slot}: object size");
            }
        }
        for (slot, entry) in self.slots.iter().enumerate() {
            assert_eq!(
                entry.is_none(),
                self.free.contains(&(slot as u32)),
                "pool slot {slot}: free list disagrees"
            );
        }
    }
}

impl<M> UserPool<M> {
    /// The most objects the pool may have: its maximum, within
    /// [`MAX_POOL_OBJECTS`].
    fn max_objects(&self) -> u32 {
        self.options
            .max_objects
            .unwrap_or(MAX_POOL_OBJECTS)
            .min(MAX_POOL_OBJECTS)
    }

    fn stats(&self) -> PoolStats {
        let views = self.objects.views(0);
        let reserved: u64 = views.iter().map(|v| v.size).sum();
        let free = reserved - self.block_bytes;
        let largest_free = views
            .iter()
            .map(|v| v.sub.largest_free())
            .max()
            .unwrap_or(0);
        PoolStats {
            name: self.options.name.map(ToString::to_string),
            memory_type: self.ty,
            heap: self.heap,
            algorithm: self.options.algorithm,
            object_size: self.object_size,
            min_objects: self.options.min_objects,
            max_objects: self.options.max_objects,
            memory_objects: views.len() as u32,
            reserved,
            used: self.block_bytes,
            blocks: self.blocks,
            free,
            largest_free,
            fragmentation: fragmentation(largest_free, free),
            destroyed: self.retired,
        }
    }
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// [`create_pool`](Self::create_pool) on a device taken already.
    pub(super) fn create_pool_on(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        options: PoolOptions,
    ) -> Result<PoolId, PoolError> {
        if options.object_size == 0 {
            return Err(PoolError::ZeroObjectSize);
        }
        if let Some(max) = options.max_objects {
            if max == 0 || max < options.min_objects {
                let min = options.min_objects;
                return Err(PoolError::InvalidObjectCounts { min, max });
            }
        }
        let ty = match options.memory_type {
            Some(ty) if (ty as usize) < self.types.len() => ty,
            Some(memory_type) => return Err(PoolError::InvalidMemoryType { memory_type }),
            None => u32::from(
                self.usage
                    .first_allowed(options.usage, options.memory_types)
                    .ok_or(PoolError::NoCompatibleMemoryType)?,
            ),
        };
        let state = &self.types[ty as usize];
        let max = state.max_object;
        let object_size = match crate::align::align_up(options.object_size, state.atom_mask) {
            Some(size) if size <= max => size,
            _ => {
                let size = options.object_size;
                return Err(PoolError::ObjectTooLarge { size, max });
            }
        };
        let support = device.get().allocation_support();
        if !support.export.contains(options.export) {
            return Err(PoolError::ExportNotSupported {
                requested: options.export,
                supported: support.export,
            });
        }
        let mut info = AllocateInfo::new(AllocationFlags::empty()).export(options.export);
        let mut priority_dropped = false;
        if let Some(priority) = options.priority {
            if support.priority {
                info = info.priority(priority);
            } else {
                priority_dropped = true;
            }
        }
        if self.pools.free.is_empty() && self.pools.slots.len() as u32 >= MAX_POOLS {
            return Err(PoolError::TooManyPools);
        }
        if options.min_objects > MAX_POOL_OBJECTS {
            let (min, max) = (options.min_objects, MAX_POOL_OBJECTS);
            return Err(PoolError::InvalidObjectCounts { min, max });
        }
        let pool = UserPool {
            serial: self.pools.next_serial,
            options,
            ty,
            heap: state.info.heap,
            object_size,
            info: (!info.is_plain()).then_some(info),
            objects: Objects::new(options.algorithm, object_size),
            blocks: 0,
            block_bytes: 0,
            priority_dropped,
            retired: false,
        };
        self.pools.next_serial = self.pools.next_serial.wrapping_add(1);
        let index = match self.pools.free.pop() {
            Some(index) => {
                self.pools.slots[index as usize] = Some(pool);
                index
            }
            None => {
                self.pools.slots.push(Some(pool));
                self.pools.slots.len() as u32 - 1
            }
        };
        for _ in 0..options.min_objects {
            if let Err(err) = self.new_pool_object(device, index) {
                // Nothing of the pool is kept: its objects are all empty.
                let pool = self.pools.slots[index as usize]
                    .as_mut()
                    .expect("just made");
                pool.retired = true;
                self.free_retired_objects(device, index);
                return Err(PoolError::Allocation(err));
            }
        }
        if priority_dropped {
            self.hints_dropped += u64::from(options.min_objects);
        }
        let serial = self.pools.slots[index as usize]
            .as_ref()
            .map_or(0, |p| p.serial);
        Ok(PoolId {
            allocator: self.id,
            index,
            serial,
        })
    }

    /// [`destroy_pool`](Self::destroy_pool) on a device taken already.
    pub(super) fn destroy_pool_on(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        id: PoolId,
    ) -> Result<PoolDestroyed, PoolError> {
        let pool = self
            .pools
            .get_mut(self.id, id)
            .ok_or(PoolError::UnknownPool)?;
        pool.retired = true;
        let (live_blocks, live_bytes) = (pool.blocks, pool.block_bytes);
        if live_blocks > 0 {
            report(format_args!(
                "pool {:?} destroyed with {live_blocks} live blocks ({live_bytes} bytes): \
                 their memory objects are freed as they are returned",
                pool.options.name.unwrap_or("(unnamed)")
            ));
        }
        let objects_freed = self.free_retired_objects(device, id.index);
        let objects_kept = self.pools.slots[id.index as usize]
            .as_ref()
            .map_or(0, |pool| pool.objects.count());
        Ok(PoolDestroyed {
            objects_freed,
            objects_kept,
            live_blocks,
            live_bytes,
        })
    }

    /// Frees every empty object of the retired pool in `index`, and the
    /// pool's slot once it holds none. Returns the objects freed.
    fn free_retired_objects(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        index: u32,
    ) -> u32 {
        let Some(pool) = self.pools.slots[index as usize].as_mut() else {
            return 0;
        };
        debug_assert!(pool.retired);
        let mut freed = 0;
        for slot in pool.objects.empty_slots() {
            freed +=
                u32::from(
                    pool.objects
                        .free_chunk(&mut self.accounts, device, pool.heap, slot),
                );
        }
        if pool.objects.count() == 0 {
            self.pools.slots[index as usize] = None;
            self.pools.free.push(index);
        }
        freed
    }

    /// Makes one more object for the pool in `index` (within its maximum,
    /// checked by the caller), empty.
    fn new_pool_object(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        index: u32,
    ) -> Result<u32, TryAllocError> {
        let pool = self.pools.slots[index as usize]
            .as_ref()
            .expect("a live pool");
        let (ty, heap, size, info) = (pool.ty, pool.heap, pool.object_size, pool.info);
        let mut released = false;
        let memory = loop {
            let err = match self
                .accounts
                .allocate_with(device, ty, heap, size, info.as_ref())
            {
                Ok(memory) => break memory,
                Err(err) => err,
            };
            let scope = match err {
                TryAllocError::OutOfDeviceMemory => Some(heap),
                TryAllocError::TooManyObjects => None,
                err => return Err(err),
            };
            // Under pressure: empty objects of the default pools (and other
            // pools' spares) go back, then once more.
            if released || !self.release_empty(device, scope) {
                return Err(err);
            }
            released = true;
        };
        let host_visible = self.types[ty as usize]
            .info
            .props()
            .contains(MemoryPropertyFlags::HOST_VISIBLE);
        let (memory, base) = if host_visible {
            let (memory, base) = self.accounts.map_whole(device, heap, size, memory)?;
            (memory, Some(base))
        } else {
            (memory, None)
        };
        let pool = self.pools.slots[index as usize]
            .as_mut()
            .expect("a live pool");
        Ok(pool.objects.insert(memory, base, size))
    }

    /// What a block of `request` is in the pool `id`: the pool's memory
    /// type, and the block's size and alignment mask as the pool's algorithm
    /// and memory type round them. The checks both
    /// [`alloc_pooled`](Self::alloc_pooled) and the forecast make.
    fn pooled_shape(
        &self,
        request: &Request,
        options: &AllocOptions,
        id: PoolId,
    ) -> Result<(u32, u64, u64), TryAllocError> {
        self.check_request(request)?;
        let pool = self
            .pools
            .get(self.id, id)
            .ok_or(TryAllocError::UnknownPool)?;
        let ty = pool.ty;
        if request.memory_types & (1 << ty) == 0 {
            return Err(TryAllocError::PoolTypeNotAllowed { memory_type: ty });
        }
        if options.own_object() {
            return Err(TryAllocError::DedicatedInPool);
        }
        let general = pool.options.algorithm == PoolAlgorithm::General;
        // Class 0's rounding: whole granularity pages, since a pool's objects
        // take linear and optimal resources alike.
        self.types[ty as usize].rounding[0]
            .pooled(request.size, request.align_mask, general)
            .filter(|&(size, _)| size <= pool.object_size)
            .map(|(size, align_mask)| (ty, size, align_mask))
            .ok_or(TryAllocError::TooLarge {
                size: request.size,
                max: pool.object_size,
            })
    }

    /// A block of `request` in the pool `id` (every request with a pool
    /// comes here).
    #[inline(never)]
    pub(super) fn alloc_pooled(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        request: Request,
        options: &AllocOptions,
        id: PoolId,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let (ty, size, align_mask) = self.pooled_shape(&request, options, id)?;
        let index = id.index;
        let pool = self.pools.slots[index as usize].as_mut().expect("checked");
        let (placement, object) = match pool.objects.alloc(size, align_mask) {
            Some(found) => found,
            None => {
                let max_objects = pool.max_objects();
                if pool.objects.count() >= max_objects {
                    return Err(TryAllocError::PoolFull { max_objects });
                }
                let priority_dropped = pool.priority_dropped;
                let mut made = self.new_pool_object(device, index);
                if options.budget == BudgetPolicy::MayExceed
                    && made == Err(TryAllocError::OutOfDeviceMemory)
                {
                    // Past the budget, up to the heap's size (the pool's
                    // objects keep their size).
                    self.accounts.may_exceed = true;
                    made = self.new_pool_object(device, index);
                    self.accounts.may_exceed = false;
                }
                made?;
                self.hints_dropped += u64::from(priority_dropped);
                let pool = self.pools.slots[index as usize].as_mut().expect("live");
                pool.objects
                    .alloc(size, align_mask)
                    .expect("a new object of the pool's size holds the block")
            }
        };
        // Hints for a block of its own, which a pool block never has.
        self.hints_dropped += u64::from(options.dedicated == Some(Dedicated::Preferred))
            + u64::from(options.dedicated_resource.is_some())
            + u64::from(options.priority.is_some());
        Ok(self.make_pool_block(index, ty, size, placement, object))
    }

    /// Counts a block of `size` bytes placed at `placement` in the pool in
    /// slot `index` (of memory type `ty`), and makes it.
    fn make_pool_block(
        &mut self,
        index: u32,
        ty: u32,
        size: u64,
        placement: Placement,
        object: ObjectRef<M>,
    ) -> MemoryBlock<M> {
        let pool = self.pools.slots[index as usize].as_mut().expect("live");
        pool.blocks += 1;
        pool.block_bytes += size;
        self.live_blocks += 1;
        let state = &mut self.types[ty as usize];
        state.add_block(size);
        let placed = Placed {
            ty,
            class: 0,
            size,
            strategy: Strategy::Pool,
            // The block's flavor has one field for the pool's slot and the
            // object's.
            placement: Placement {
                chunk: PoolChunk::encode(index, placement.chunk),
                ..placement
            },
            object,
            props: state.info.props(),
            atom_mask: state.atom_mask,
        };
        self.make_block(placed)
    }

    /// [`make_pool_block`](Self::make_pool_block) for a range the general
    /// pool in slot `index` placed already (a block moved by
    /// defragmentation).
    pub(super) fn count_pool_block(
        &mut self,
        index: u32,
        ty: u32,
        size: u64,
        placement: Placement,
    ) -> MemoryBlock<M> {
        let pool = self.pools.general_mut(index).expect("a general pool");
        let object = pool.get_mut(placement.chunk).object_ref();
        self.make_pool_block(index, ty, size, placement, object)
    }

    /// What [`alloc_pooled`](Self::alloc_pooled) would do now (for
    /// `forecast`): the pool's memory type, and the object it would make.
    pub(super) fn forecast_pooled(
        &self,
        request: &Request,
        options: &AllocOptions,
        id: PoolId,
    ) -> Result<Forecast, TryAllocError> {
        let (ty, size, align_mask) = self.pooled_shape(request, options, id)?;
        let pool = self.pools.get(self.id, id).expect("checked");
        let new_object = if pool.objects.can_place(size, align_mask) {
            None
        } else {
            let max_objects = pool.max_objects();
            if pool.objects.count() >= max_objects {
                return Err(TryAllocError::PoolFull { max_objects });
            }
            if self.accounts.remaining == 0 {
                return Err(TryAllocError::TooManyObjects);
            }
            let heap = &self.accounts.heaps[pool.heap as usize];
            let may_exceed = options.budget == BudgetPolicy::MayExceed;
            // Within the budget, or past it up to the heap's size.
            let fits = heap.fits(pool.object_size, may_exceed);
            if !fits {
                return Err(TryAllocError::OutOfDeviceMemory);
            }
            Some(pool.object_size)
        };
        Ok(Forecast {
            memory_type: ty,
            new_object,
            dedicated: false,
        })
    }

    /// Takes back a block of `size` bytes of a user pool (its memory type
    /// counted it out already) at `placement`, whose `chunk` is a
    /// [`PoolChunk`], and frees its object if the pool no longer keeps it.
    #[inline(never)]
    pub(super) fn release_pooled(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        size: u64,
        placement: Placement,
    ) {
        let (index, chunk) = PoolChunk::decode(placement.chunk);
        let placement = Placement { chunk, ..placement };
        let pool = self.pools.slots[index as usize]
            .as_mut()
            .expect("a pool block names a pool that is gone");
        pool.blocks -= 1;
        pool.block_bytes -= size;
        if !pool.objects.free(placement, size) {
            return;
        }
        if pool.retired {
            self.free_retired_objects(device, index);
            return;
        }
        // Emptied: keep it if the pool is at its minimum or has no other
        // empty object.
        let count = pool.objects.count();
        let others_empty = pool.objects.empty_slots().len() > 1;
        if count > pool.options.min_objects && others_empty {
            let heap = pool.heap;
            pool.objects
                .free_chunk(&mut self.accounts, device, heap, placement.chunk);
        }
    }

    /// Frees the empty objects of every pool above its minimum (of `heap`,
    /// or of every heap for `None`): under memory pressure and on cleanup.
    /// Returns whether it freed one.
    pub(super) fn release_pool_spares(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        heap: Option<u32>,
    ) -> bool {
        let mut freed = false;
        for pool in self.pools.slots.iter_mut().flatten() {
            if heap.is_some_and(|h| h != pool.heap) {
                continue;
            }
            let mut count = pool.objects.count();
            for slot in pool.objects.empty_slots() {
                if count <= pool.options.min_objects {
                    break;
                }
                if pool
                    .objects
                    .free_chunk(&mut self.accounts, device, pool.heap, slot)
                {
                    count -= 1;
                    freed = true;
                }
            }
        }
        freed
    }

    /// The statistics of pool `id`, or `None` for a destroyed pool or one of
    /// another allocator.
    pub fn pool_stats(&self, id: PoolId) -> Option<PoolStats> {
        self.pools.get(self.id, id).map(UserPool::stats)
    }
}
