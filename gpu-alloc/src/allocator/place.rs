//! Where a shared block goes on the full path: a slot of a slab (`slabs.rs`),
//! else a range of an existing memory object of its pool, else a new memory
//! object, sized by the pool's growth policy.

#![deny(unsafe_code)]

use {
    super::{
        choose::Placed,
        device::Device,
        memory_type::{largest_shared_object, PoolStrategy},
        shape::{Placing, Shape},
        GpuAllocator,
    },
    crate::{
        align::{align_down, align_up},
        block::MemoryBlock,
        error::TryAllocError,
        pool::{Chunk, Placement},
        shared::SharedMemory,
        strategy::{Linear, Strategy, Tlsf},
    },
    core::fmt::Debug,
    gpu_alloc_types::{MemoryDevice, MemoryPropertyFlags},
};

/// A new shared memory object made for a slab has room for at least this many
/// slabs like it (within the strategy's and the heap's caps): an object made
/// for one slab would be freed and made again as slabs of other sizes come and
/// go. One made for a block has room for the block only (rounded up to a
/// power of two), unless the pool's next object is larger.
pub(super) const SLABS_PER_NEW_OBJECT: u64 = 4;

/// A shared block to place in a pool: its memory type and pool class, its
/// size and alignment as `shape.rs` rounded them, and whether it is a slab.
#[derive(Clone, Copy, Debug)]
pub(super) struct Target {
    pub(super) ty: u32,
    pub(super) class: u8,
    pub(super) size: u64,
    pub(super) align_mask: u64,
    pub(super) slab: bool,
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Places a block of `shape` in memory type `ty` and pool class `class`,
    /// making a slab or a memory object if needed, and counts it.
    #[inline(always)]
    pub(super) fn alloc_shared(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        class: u8,
        shape: Shape,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let target = Target {
            ty,
            class,
            size: shape.size,
            align_mask: shape.align_mask,
            slab: false,
        };
        let (strategy, placement) = match shape.placing {
            Placing::Slab {
                class: slab_class,
                slot,
            } => {
                match self.place_in_slab(device, target, slab_class, slot)? {
                    Some(placement) => (Strategy::Slab, placement),
                    // No slab suits: the general strategy takes the block alone.
                    None => (Strategy::General, self.place::<Tlsf>(device, target)?),
                }
            }
            Placing::General => (Strategy::General, self.place::<Tlsf>(device, target)?),
            Placing::Transient => (Strategy::Transient, self.place::<Linear>(device, target)?),
        };
        let placed = match strategy {
            Strategy::Transient => self.count_block::<Linear>(target, strategy, placement),
            Strategy::General | Strategy::Slab => {
                self.count_block::<Tlsf>(target, strategy, placement)
            }
            Strategy::Leased | Strategy::Pool => {
                unreachable!("only thread arenas and user pools place these")
            }
        };
        Ok(self.make_block(placed))
    }

    /// Counts a block placed in a pool of strategy `S` (slab blocks count in
    /// their general pool).
    #[inline(always)]
    pub(super) fn count_block<S: PoolStrategy>(
        &mut self,
        target: Target,
        strategy: Strategy,
        placement: Placement,
    ) -> Placed<M> {
        self.live_blocks += 1;
        let state = &mut self.types[target.ty as usize];
        state.add_block(target.size);
        let (props, atom_mask) = (state.info.props(), state.atom_mask);
        let pool = state.pool::<S>(target.class);
        pool.add_block(target.size);
        Placed {
            ty: target.ty,
            class: target.class,
            size: target.size,
            strategy,
            placement,
            object: pool.get_mut(placement.chunk).object_ref(),
            props,
            atom_mask,
        }
    }

    /// Places `target` in a memory object of its pool of strategy `S`, making
    /// one if none has room.
    #[inline(always)]
    pub(super) fn place<S: PoolStrategy>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        target: Target,
    ) -> Result<Placement, TryAllocError> {
        let state = &mut self.types[target.ty as usize];
        let pool = state.pool::<S>(target.class);
        if let Some(placement) = pool.alloc(target.size, target.align_mask) {
            return Ok(placement);
        }
        if S::HOLDS_SLABS && self.give_empty_slabs_back(target.ty, target.class) {
            let pool = self.types[target.ty as usize].pool::<S>(target.class);
            if let Some(placement) = pool.alloc(target.size, target.align_mask) {
                return Ok(placement);
            }
        }
        self.place_in_new_object::<S>(device, target)
    }

    /// As [`place`](Self::place) when no memory object of the pool has room:
    /// makes a new one.
    #[cold]
    #[inline(never)]
    fn place_in_new_object<S: PoolStrategy>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        target: Target,
    ) -> Result<Placement, TryAllocError> {
        let Target {
            ty,
            class,
            size,
            align_mask,
            slab,
        } = target;
        let cap = S::largest(&self.sizes);
        let state = &mut self.types[ty as usize];
        let heap = state.info.heap;
        let atom_mask = state.atom_mask;
        let heap_size = self.accounts.heaps[heap as usize].size;
        let next_size = state.pool::<S>(class).next_size;
        let copies = if slab { SLABS_PER_NEW_OBJECT } else { 1 };
        let mut chunk_size = new_object_size(
            size,
            copies,
            next_size,
            cap,
            heap_size,
            state.max_object,
            atom_mask,
        );
        if self.accounts.may_exceed {
            // Past the budget (`BudgetPolicy::MayExceed`): no more than the
            // block needs.
            chunk_size = align_up(size, atom_mask).unwrap_or(size).max(size);
        }
        let memory = loop {
            match self.accounts.allocate(device, ty, heap, chunk_size) {
                Ok(memory) => break memory,
                // Under pressure, try smaller objects down to the request's size.
                Err(TryAllocError::OutOfDeviceMemory) if chunk_size / 2 >= size => {
                    chunk_size = align_up(chunk_size / 2, atom_mask).unwrap_or(chunk_size);
                }
                Err(err) => return Err(err),
            }
        };
        let state = &mut self.types[ty as usize];
        let (memory, base) = if state
            .info
            .props()
            .contains(MemoryPropertyFlags::HOST_VISIBLE)
        {
            let (memory, base) = self.accounts.map_whole(device, heap, chunk_size, memory)?;
            (memory, Some(base))
        } else {
            (memory, None)
        };
        let mut sub = S::new(chunk_size);
        let (offset, handle) = sub
            .alloc(size, align_mask)
            .expect("a new memory object holds the request");
        let pool = state.pool::<S>(class);
        let chunk = pool.insert(Chunk {
            memory: SharedMemory::new(memory),
            base,
            size: chunk_size,
            sub,
        });
        pool.note_alloc(size);
        pool.next_size = pool.grown(cap);
        Ok(Placement {
            chunk,
            offset,
            handle,
        })
    }
}

/// The size of a new memory object for a block of `size` bytes (atom-aligned,
/// at most `cap` and the largest atom-aligned object): the pool's `next_size`,
/// or room for `copies` blocks like this one (each rounded up to a power of
/// two) if that is larger, capped by the strategy's `cap`, an eighth of the
/// heap and the object limit, but never below the request. (Room for four
/// blocks of every size made objects that mid-size blocks left mostly empty:
/// `BENCHMARKS.md` has the measurement.)
pub(super) fn new_object_size(
    size: u64,
    copies: u64,
    next_size: u64,
    cap: u64,
    heap_size: u64,
    max_object: u64,
    atom_mask: u64,
) -> u64 {
    debug_assert!(size <= cap && size <= align_down(max_object, atom_mask));
    let limit = largest_shared_object(cap, heap_size, max_object);
    let for_size = size.checked_next_power_of_two().unwrap_or(size);
    let wanted = next_size.max(for_size.saturating_mul(copies));
    let chunk_size = wanted.min(limit).max(size);
    // `size` is atom-aligned and at most `max_object`, so this stays >= `size`.
    align_up(chunk_size, atom_mask)
        .unwrap_or(chunk_size)
        .min(align_down(max_object, atom_mask))
}
