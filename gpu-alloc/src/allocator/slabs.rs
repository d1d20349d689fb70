//! The slab path: small general blocks in slots of slabs, each slab one range
//! of a general pool's memory object (the slab structure itself is
//! `crate::slab`). Here: a slot for a block on the full path, new slabs, and
//! when empty slabs go back to their pool.
//!
//! (The short path, in `choose.rs`, takes a free slot of an open slab and
//! nothing else.)

#![deny(unsafe_code)]

use {
    super::{
        device::{Accounts, Device},
        memory_type::PoolStrategy,
        place::Target,
        release::free_chunk,
        GpuAllocator,
    },
    crate::{
        align::align_down,
        error::TryAllocError,
        pool::{Placement, Pool},
        slab::{self, SlabRange, Slabs},
        strategy::{SubAllocator, Tlsf},
    },
    core::fmt::Debug,
    gpu_alloc_types::MemoryDevice,
};

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Places `target` in a slot of slab class `slab_class` (`slot` bytes per
    /// slot), in an open slab or a new one. Returns `Ok(None)` when a slab does
    /// not suit: the block then goes to the general strategy by itself.
    pub(super) fn place_in_slab(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        target: Target,
        slab_class: usize,
        slot: u64,
    ) -> Result<Option<Placement>, TryAllocError> {
        let slabs = &mut self.types[target.ty as usize].slabs[usize::from(target.class)];
        if let Some((placement, _)) = slabs.alloc(slab_class, target.size) {
            return Ok(Some(placement));
        }
        self.place_in_new_slab(device, target, slab_class, slot)
    }

    /// Makes a slab of `slot`-byte slots for `slab_class` in the general pool
    /// and places `target` in it. Returns `Ok(None)` when a slab does not suit
    /// (the pool's objects are too small for one, the slab table is full, or the
    /// heap has no room for a whole slab).
    #[cold]
    #[inline(never)]
    fn place_in_new_slab(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        target: Target,
        slab_class: usize,
        slot: u64,
    ) -> Result<Option<Placement>, TryAllocError> {
        let (ty, class) = (target.ty, target.class);
        let state = &self.types[ty as usize];
        // A slab takes at most an eighth of the largest object the pool makes.
        let room =
            Tlsf::largest(&self.sizes).min(align_down(state.max_object, state.atom_mask)) / 8;
        let existing = state.slabs[usize::from(class)].count(slab_class);
        let Some(slots) = slab::slots_for(slot, existing, room) else {
            return Ok(None);
        };
        let bytes = slot * u64::from(slots);
        let slab_target = Target {
            ty,
            class,
            size: bytes,
            align_mask: slab::slab_align_mask(slot),
            slab: true,
        };
        let range = match self.place::<Tlsf>(device, slab_target) {
            Ok(placement) => SlabRange {
                chunk: placement.chunk,
                offset: placement.offset,
                size: bytes,
                handle: placement.handle,
            },
            Err(TryAllocError::OutOfDeviceMemory | TryAllocError::TooManyObjects) => {
                return Ok(None)
            }
            Err(err) => return Err(err),
        };
        let state = &mut self.types[ty as usize];
        let pool = &mut state.general[usize::from(class)];
        let object = pool.get_mut(range.chunk).object_ref();
        let slabs = &mut state.slabs[usize::from(class)];
        if !slabs.add(slab_class, slot, slots, range, object) {
            // The range came from a memory object that holds it, so the object
            // is not empty and stays.
            pool.free(range.chunk, range.offset, bytes, range.handle);
            return Ok(None);
        }
        Ok(slabs
            .alloc(slab_class, target.size)
            .map(|(placement, _)| placement))
    }

    /// Gives the empty slabs of the general pool of `ty` and `class` back to
    /// it, before the pool grows. (An object this empties stays: the caller
    /// tries it next.) Returns whether there were any.
    pub(super) fn give_empty_slabs_back(&mut self, ty: u32, class: u8) -> bool {
        let state = &mut self.types[ty as usize];
        let slabs = &mut state.slabs[usize::from(class)];
        if !slabs.has_empty() {
            return false;
        }
        let pool = &mut state.general[usize::from(class)];
        for range in slabs.take_empty() {
            pool.free(range.chunk, range.offset, range.size, range.handle);
        }
        true
    }
}

/// Gives the empty slabs of the memory object at `slot` back to its general
/// strategy if they are all it holds, unless its pool needs the object (the
/// rest of the pool holds less than the retention floor, so the object would be
/// kept even if empty), then frees it under the retention policy: empty slabs
/// never keep a memory object alive by themselves. (An object the pool needs
/// keeps its empty slabs, so a pool emptied and filled again, as on the
/// benchmark's VMA trace, does not make its slabs again. What the pool needs
/// changes only when it grows, which gives every empty slab back first, when
/// a retention epoch ends, after which `release.rs` sweeps the pool, and on
/// cleanup.)
pub(super) fn release_lone_slabs<M, P: Copy>(
    accounts: &mut Accounts,
    device: Device<'_, M, impl MemoryDevice<M>>,
    pool: &mut Pool<M, Tlsf>,
    slabs: &mut Slabs<P>,
    heap: u32,
    slot: u32,
) {
    if pool.get_mut(slot).sub.used() != slabs.empty_in(slot) || pool.needs(slot) {
        return;
    }
    let mut emptied = false;
    for range in slabs.take_empty_in(slot) {
        emptied = pool.free(range.chunk, range.offset, range.size, range.handle);
    }
    if emptied {
        free_chunk(accounts, device, pool, heap, slot);
    }
}
