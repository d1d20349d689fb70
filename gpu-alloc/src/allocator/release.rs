//! Blocks coming back, and the retention policy: which emptied memory objects
//! go back to the device at once, which stay for reuse (the pool decides, see
//! `Pool::free`), and which go under memory pressure and on cleanup.

#![deny(unsafe_code)]

use {
    super::{
        device::{self, Accounts, Device},
        slabs::release_lone_slabs,
        GpuAllocator,
    },
    crate::{
        block::{Flavor, MemoryBlock},
        pool::{Placement, Pool},
        slab::{SlabFree, Slabs},
        strategy::{Strategy, SubAllocator, Tlsf},
    },
    core::fmt::Debug,
    gpu_alloc_types::MemoryDevice,
};

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Takes back a block of this allocator, unmapped already.
    #[inline(always)]
    pub(super) fn release(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        block: MemoryBlock<M>,
    ) {
        let ty = block.memory_type;
        let (offset, size) = (block.offset, block.size);
        self.live_blocks -= 1;
        match block.into_flavor() {
            Flavor::Dedicated {
                memory,
                accounted,
                imported,
                ..
            } => {
                if accounted {
                    self.release_dedicated(device, ty, size, memory, imported);
                } else {
                    self.unaccounted_blocks -= 1;
                    device::free_unaccounted(device, memory);
                }
            }
            Flavor::Shared {
                strategy,
                class,
                chunk,
                handle,
                ..
            } => {
                let placement = Placement {
                    chunk,
                    offset,
                    handle,
                };
                self.release_shared(device, ty, size, strategy, class, placement);
            }
        }
    }

    /// Takes back a block of `size` bytes placed by `strategy` in pool class
    /// `class` of memory type `ty`, and frees its memory object if the
    /// retention policy says so.
    #[inline(always)]
    fn release_shared(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        size: u64,
        strategy: Strategy,
        class: u8,
        placement: Placement,
    ) {
        let Placement {
            chunk,
            offset,
            handle,
        } = placement;
        let state = &mut self.types[ty as usize];
        state.remove_block(size);
        let (heap, type_blocks) = (state.info.heap, state.blocks);
        let class = usize::from(class);
        match strategy {
            // Leased blocks carry their `SharedGpuAllocator`'s id, never this
            // allocator's, so `try_dealloc` gives them back before this point
            // (checked in debug builds); an arm of their own with a panic cost
            // 2-3 instructions per free on the churn traces.
            Strategy::General | Strategy::Leased => {
                debug_assert_ne!(strategy, Strategy::Leased, "a leased block came back");
                let pool = &mut state.general[class];
                let slabs = &mut state.slabs[class];
                let accounts = &mut self.accounts;
                let epoch_over = pool.remove_block(size, type_blocks);
                if pool.free(chunk, offset, size, handle) {
                    free_chunk(accounts, device, pool, heap, chunk);
                } else if slabs.empty_in(chunk) != 0 {
                    release_lone_slabs(accounts, device, pool, slabs, heap, chunk);
                }
                if epoch_over {
                    sweep_general(accounts, device, pool, slabs, heap);
                }
            }
            Strategy::Transient => {
                let pool = &mut state.transient[class];
                let accounts = &mut self.accounts;
                let epoch_over = pool.remove_block(size, type_blocks);
                if pool.free(chunk, offset, size, handle) {
                    free_chunk(accounts, device, pool, heap, chunk);
                }
                if epoch_over {
                    free_empty_chunks(accounts, device, pool, heap, Pool::needs);
                }
            }
            Strategy::Slab => {
                let slabs = &mut state.slabs[class];
                let pool = &mut state.general[class];
                let accounts = &mut self.accounts;
                let epoch_over = pool.remove_block(size, type_blocks);
                if let SlabFree::Emptied { chunk } = slabs.free(handle, size) {
                    release_lone_slabs(accounts, device, pool, slabs, heap, chunk);
                }
                if epoch_over {
                    sweep_general(accounts, device, pool, slabs, heap);
                }
            }
            // A user pool's block: `chunk` holds the pool's slot and the
            // object's (see `pools::PoolChunk`).
            Strategy::Pool => self.release_pooled(device, size, placement),
        }
    }

    /// Frees empty shared memory objects of `heap` (every heap for `None`),
    /// after giving every empty slab back to its pool. Returns whether any
    /// object was freed.
    pub(super) fn release_empty(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        heap: Option<u32>,
    ) -> bool {
        let mut freed = false;
        for state in &mut self.types {
            if heap.is_some_and(|h| h != state.info.heap) {
                continue;
            }
            let heap = state.info.heap;
            // Empty slabs first: they hold ranges of the general pools' objects.
            for (slabs, pool) in state.slabs.iter_mut().zip(&mut state.general) {
                for range in slabs.take_empty() {
                    pool.free(range.chunk, range.offset, range.size, range.handle);
                }
            }
            for pool in &mut state.general {
                freed |= free_empty_chunks(&mut self.accounts, device, pool, heap, |_, _| false);
            }
            for pool in &mut state.transient {
                freed |= free_empty_chunks(&mut self.accounts, device, pool, heap, |_, _| false);
            }
        }
        freed | self.release_pool_spares(device, heap)
    }
}

/// After a retention epoch of the general `pool` ended: gives back the empty
/// slabs of every memory object that they alone hold and the pool no longer
/// needs, then frees every empty memory object it no longer needs.
#[cold]
#[inline(never)]
fn sweep_general<M, P: Copy>(
    accounts: &mut Accounts,
    device: Device<'_, M, impl MemoryDevice<M>>,
    pool: &mut Pool<M, Tlsf>,
    slabs: &mut Slabs<P>,
    heap: u32,
) {
    for slot in 0..pool.chunks.len() as u32 {
        if pool.chunks[slot as usize].is_some() && slabs.empty_in(slot) != 0 {
            release_lone_slabs(accounts, device, pool, slabs, heap, slot);
        }
    }
    free_empty_chunks(accounts, device, pool, heap, Pool::needs);
}

/// Frees every empty chunk of `pool` but those `keep` says the pool keeps
/// (none on cleanup and memory pressure; those it [`needs`](Pool::needs)
/// after a retention epoch ended, as the floor may have fallen). Returns
/// whether it freed one.
#[cold]
#[inline(never)]
fn free_empty_chunks<M, S: SubAllocator>(
    accounts: &mut Accounts,
    device: Device<'_, M, impl MemoryDevice<M>>,
    pool: &mut Pool<M, S>,
    heap: u32,
    keep: fn(&Pool<M, S>, u32) -> bool,
) -> bool {
    let mut freed = false;
    for slot in pool.empty_slots() {
        if !keep(pool, slot) {
            freed |= free_chunk(accounts, device, pool, heap, slot);
        }
    }
    freed
}

/// Frees the chunk at `slot` of `pool` if no block uses it. Returns whether it did.
pub(super) fn free_chunk<M, S: SubAllocator>(
    accounts: &mut Accounts,
    device: Device<'_, M, impl MemoryDevice<M>>,
    pool: &mut Pool<M, S>,
    heap: u32,
    slot: u32,
) -> bool {
    match pool.take_if_unused(slot) {
        Some((memory, base, size)) => {
            // The pool found no block in the chunk, and it is mapped iff `base`
            // is set.
            accounts.free(device, heap, size, memory, base.is_some());
            true
        }
        None => false,
    }
}
