//! What the allocator can tell about itself: statistics, the memory map, and
//! the invariant checks that tests run after every step.

#![deny(unsafe_code)]

use {
    super::{
        memory_type::{ChunkView, TypeState},
        GpuAllocator,
    },
    crate::stats::{
        fragmentation, AllocatorStats, HeapStats, MapRange, MemoryMap, MemoryObjectMap,
        MemoryTypeStats, ObjectKind,
    },
    alloc::{string::ToString, vec::Vec},
    core::fmt::Debug,
};
#[cfg(any(test, debug_assertions, feature = "check-invariants"))]
use {
    crate::{pool::Pool, slab::Slabs, strategy::SubAllocator},
    gpu_alloc_types::MemoryPropertyFlags,
};

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Statistics per heap and memory type. Cheap: counters plus one pass over the
    /// memory objects, never over the blocks.
    pub fn stats(&self) -> AllocatorStats {
        let mut heaps: Vec<HeapStats> = self
            .accounts
            .heaps
            .iter()
            .enumerate()
            .map(|(index, heap)| HeapStats {
                heap: index as u32,
                size: heap.size,
                limit: heap.limit(),
                budget: heap.reading,
                memory_objects: 0,
                reserved: heap.used,
                used: 0,
                blocks: 0,
                free: 0,
                largest_free: 0,
                fragmentation: 0.0,
            })
            .collect();
        let memory_types: Vec<MemoryTypeStats> = self
            .types
            .iter()
            .enumerate()
            .map(|(index, state)| {
                let stats = type_stats(index as u32, state, &self.type_chunks(index));
                if let Some(heap) = heaps.get_mut(state.info.heap as usize) {
                    heap.memory_objects += stats.memory_objects;
                    heap.used += stats.used;
                    heap.blocks += stats.blocks;
                    heap.free += stats.free;
                    heap.largest_free = heap.largest_free.max(stats.largest_free);
                }
                stats
            })
            .collect();
        for heap in &mut heaps {
            heap.fragmentation = fragmentation(heap.largest_free, heap.free);
        }
        AllocatorStats {
            memory_objects: self.accounts.objects,
            reserved: heaps.iter().map(|h| h.reserved).sum(),
            used: heaps.iter().map(|h| h.used).sum(),
            blocks: self.live_blocks,
            remaining_allocations: self.accounts.remaining,
            cached: 0,
            hints_dropped: self.hints_dropped,
            budget_refreshes: self.accounts.refreshes,
            named_blocks: self.names.largest(|ty| self.types[ty as usize].info.heap),
            pools: self.pools.stats(),
            defrag: self.defrag,
            movable_blocks: self.movables.len() as u64,
            heaps,
            memory_types,
        }
    }

    /// Every memory object with its used and free ranges, plus the statistics:
    /// what a memory map picture is drawn from. Walks every free range.
    pub fn memory_map(&self) -> MemoryMap {
        self.memory_map_keyed(|_| ())
    }

    /// [`memory_map`](Self::memory_map), calling `key` with the
    /// [`SharedMemory::key`](crate::shared::SharedMemory::key) of each shared
    /// object in the order of `MemoryMap::objects`.
    pub(crate) fn memory_map_keyed(&self, mut key: impl FnMut(usize)) -> MemoryMap {
        let mut objects = Vec::new();
        let mut dedicated = Vec::new();
        for (index, state) in self.types.iter().enumerate() {
            let (ty, heap) = (index as u32, state.info.heap);
            for chunk in self.type_chunks(index) {
                key(chunk.key);
                let mut ranges = Vec::new();
                chunk.sub.for_each_range(&mut |offset, size, used| {
                    ranges.push(MapRange { offset, size, used })
                });
                objects.push(MemoryObjectMap {
                    memory_type: ty,
                    heap,
                    kind: chunk.kind,
                    resource: chunk.resource,
                    size: chunk.size,
                    ranges,
                    named: self.names.ranges_in(chunk.key),
                    pool: chunk.pool.map(|slot| match self.pools.name(slot) {
                        Some(name) => name.to_string(),
                        None => alloc::format!("pool {slot}"),
                    }),
                });
            }
            for (&(size, imported), &count) in &state.dedicated {
                let kind = if imported {
                    ObjectKind::Imported
                } else {
                    ObjectKind::Dedicated
                };
                dedicated.extend((0..count).map(|_| (ty, heap, size, kind)));
            }
        }
        MemoryMap {
            stats: self.stats(),
            objects,
            dedicated,
        }
    }

    /// Walks every internal structure and panics if an invariant does not hold.
    /// For tests; available in debug builds and with the `check-invariants` feature.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub fn check_invariants(&self) {
        let mut chunk_bytes = alloc::vec![0u64; self.accounts.heaps.len()];
        let mut chunks = 0u32;
        self.pools.check_invariants(self.types.len());
        assert!(
            self.movables.len() as u64 <= self.live_blocks,
            "more movable blocks than live ones"
        );
        for (ty, state) in self.types.iter().enumerate() {
            state.general.iter().for_each(Pool::check_invariants);
            state.transient.iter().for_each(Pool::check_invariants);
            for (slabs, pool) in state.slabs.iter().zip(&state.general) {
                slabs.check_invariants();
                for (slot, chunk) in pool.chunks.iter().enumerate() {
                    let empty = slabs.empty_in(slot as u32);
                    if let Some(chunk) = chunk {
                        assert!(
                            empty == 0 || chunk.sub.used() > empty || pool.needs(slot as u32),
                            "memory object {slot} held by empty slabs alone, and its \
                             pool does not need it"
                        );
                    } else {
                        assert_eq!(empty, 0, "empty slabs in a freed memory object");
                    }
                }
                for range in slabs.ranges() {
                    let chunk = pool.chunks[range.chunk as usize]
                        .as_ref()
                        .expect("a slab in a freed memory object");
                    assert!(
                        range.offset + range.size <= chunk.size,
                        "a slab past the end of its memory object"
                    );
                    // Inside one used range: then it overlaps no block of the
                    // general strategy, and `Slabs::check_invariants` checks that
                    // it overlaps no other slab.
                    let mut used = false;
                    chunk.sub.for_each_range(&mut |offset, size, in_use| {
                        used |= in_use
                            && offset <= range.offset
                            && range.offset + range.size <= offset + size;
                    });
                    assert!(
                        used,
                        "a slab not inside one used range of its memory object"
                    );
                }
            }
            if self.buffer_image_granularity == 1 {
                fn unused<M, S: SubAllocator>(pools: &[Pool<M, S>]) -> bool {
                    pools[1..].iter().all(|p| p.iter().next().is_none())
                }
                assert!(unused(&state.general), "kind pools used with granularity 1");
                assert!(
                    unused(&state.transient),
                    "kind pools used with granularity 1"
                );
            }
            for chunk in self.type_chunks(ty) {
                let (size, mapped) = (chunk.size, chunk.mapped);
                chunk_bytes[state.info.heap as usize] += size;
                chunks += 1;
                assert!(
                    size <= state.max_object,
                    "memory object over the size limit"
                );
                assert_eq!(size & state.atom_mask, 0, "memory object not atom-aligned");
                assert_eq!(
                    mapped,
                    state
                        .info
                        .props()
                        .contains(MemoryPropertyFlags::HOST_VISIBLE),
                    "host-visible memory objects are mapped, others not"
                );
            }
        }
        let mut dedicated_bytes = alloc::vec![0u64; self.accounts.heaps.len()];
        let mut dedicated_objects = 0u32;
        let mut blocks = 0u64;
        for (ty, state) in self.types.iter().enumerate() {
            for (&(size, _), &count) in &state.dedicated {
                dedicated_bytes[state.info.heap as usize] += size * u64::from(count);
                dedicated_objects += count;
            }
            // Slabs are used ranges of the general pools; their blocks are smaller.
            let slab_slack: u64 = state
                .slabs
                .iter()
                .map(|s| s.bytes() - s.block_bytes())
                .sum();
            let chunks = self.type_chunks(ty);
            let shared_used: u64 = chunks.iter().map(|c| c.sub.used()).sum::<u64>() - slab_slack;
            let dedicated_used: u64 = state
                .dedicated
                .iter()
                .map(|(&(size, _), &count)| size * u64::from(count))
                .sum();
            assert_eq!(
                state.block_bytes,
                shared_used + dedicated_used,
                "block bytes differ from the used bytes of the memory objects"
            );
            let dedicated_blocks: u64 = state.dedicated.values().map(|&n| u64::from(n)).sum();
            // Every used range of a memory object is a block, except slabs, which
            // hold their used slots.
            let shared_blocks: u64 = chunks.iter().map(|c| c.sub.live_ranges()).sum::<u64>()
                + state.slabs.iter().map(Slabs::used_slots).sum::<u64>()
                - state
                    .slabs
                    .iter()
                    .map(|s| s.ranges().count() as u64)
                    .sum::<u64>();
            assert_eq!(
                state.blocks,
                dedicated_blocks + shared_blocks,
                "blocks per type differ from the blocks of its memory objects"
            );
            blocks += state.blocks;
        }
        // Every live block is counted by its memory type (shared, slab, dedicated
        // and accounted imported blocks), or is an import of a memory type that
        // does not exist.
        assert_eq!(
            blocks + self.unaccounted_blocks,
            self.live_blocks,
            "live blocks differ from the blocks per memory type ({blocks}) plus the \
             unaccounted imports ({})",
            self.unaccounted_blocks
        );
        assert_eq!(
            dedicated_objects, self.accounts.dedicated_objects,
            "dedicated objects per type differ from the total"
        );
        for (index, heap) in self.accounts.heaps.iter().enumerate() {
            assert_eq!(
                heap.dedicated, dedicated_bytes[index],
                "heap {index}: dedicated bytes per type differ from the heap's"
            );
            assert_eq!(
                heap.used,
                heap.dedicated + chunk_bytes[index],
                "heap {index}: usage differs from the sum of its memory objects"
            );
        }
        assert_eq!(
            self.accounts.objects,
            chunks + self.accounts.dedicated_objects,
            "object count differs from the memory objects held"
        );
    }
}

impl<M> GpuAllocator<M> {
    /// The shared memory objects of memory type `ty`: its own pools', then
    /// the user pools'.
    fn type_chunks(&self, ty: usize) -> Vec<ChunkView<'_>> {
        let mut chunks: Vec<ChunkView<'_>> = self.types[ty].chunks().collect();
        chunks.extend(self.pools.chunks_of(ty as u32));
        chunks
    }
}

/// Statistics of memory type `index`, whose shared objects are `chunks`.
fn type_stats<M>(index: u32, state: &TypeState<M>, chunks: &[ChunkView<'_>]) -> MemoryTypeStats {
    let dedicated_objects: u32 = state.dedicated.values().sum();
    let dedicated_bytes: u64 = state
        .dedicated
        .iter()
        .map(|(&(size, _), &count)| size * u64::from(count))
        .sum();
    let mut stats = MemoryTypeStats {
        memory_type: index,
        heap: state.info.heap,
        props: state.info.props(),
        memory_objects: dedicated_objects,
        dedicated_objects,
        reserved: dedicated_bytes,
        used: state.block_bytes,
        blocks: state.blocks,
        free: 0,
        largest_free: 0,
        fragmentation: 0.0,
    };
    for chunk in chunks {
        stats.memory_objects += 1;
        stats.reserved += chunk.size;
        stats.free += chunk.size - chunk.sub.used();
        stats.largest_free = stats.largest_free.max(chunk.sub.largest_free());
    }
    // Free slots of slabs, and what rounding to slot sizes leaves.
    stats.free += state
        .slabs
        .iter()
        .map(|s| s.bytes() - s.block_bytes())
        .sum::<u64>();
    stats.fragmentation = fragmentation(stats.largest_free, stats.free);
    stats
}
