//! Incremental defragmentation: the caller says which blocks may move
//! ([`GpuAllocator::set_movable`]), a pass plans moves that empty whole memory
//! objects of general pools into the other objects of the same pool, the
//! caller copies and rebinds, and the end of the pass frees the old blocks and
//! the emptied objects.
//!
//! Planning, per general pool (the default pool of one memory type and pool
//! class, or a user pool of the general algorithm):
//! - an object is a *candidate* when every block in it is movable (an empty
//!   object the retention policy keeps is one too: it is freed);
//! - candidates are taken least used first; each one's blocks, largest first,
//!   are placed in the pool's other objects, fullest first, by the general
//!   strategy (so every rule of a fresh block holds: the same memory type,
//!   size, alignment with atoms and granularity pages, and no new memory
//!   object, so no budget is passed); an object that receives blocks is no
//!   longer a candidate;
//! - a candidate whose blocks do not all fit is left (its placements are
//!   undone) and the next is tried; of one that fits, the pass moves what its
//!   limits on moves and bytes allow (largest blocks first), and a candidate
//!   cut short ends the pool's planning: the next pass goes on with it, the
//!   least used object still;
//! - every pool's candidates are planned first (round one); then, if the
//!   options allow, the pools where no candidate fits (the free space is in
//!   holes the candidates' blocks do not fit) compact with what is left of
//!   the limits (round two), each step only when the one before moves
//!   nothing: the slabs of each class are consolidated (default pools),
//!   blocks move into fuller objects or lower in their own, and slabs at most
//!   half used give their blocks up (default pools).
//!
//! Why passes over a pool that nothing else touches end (every move done):
//! no step makes a slab or moves a block from a general range into a slab,
//! so the slabs only get fewer and their blocks no more; consolidation makes
//! the slabs of a class more uneven without changing an object's used bytes;
//! a general block moved into a fuller object makes the objects' used bytes
//! more uneven (their sum of squares grows; ties go by slot), and one moved
//! lower in its own object lowers its offset. Each of these only goes one
//! way, in that order of precedence.
//!
//! The new blocks are made at once, in the objects that stay; the old ones
//! are freed only when the pass ends, for the moves the caller says are done.

#![deny(unsafe_code)]

use {
    super::{
        device::Device, place::Target, pools::PoolChunk, release::free_chunk, shape::CLASSES,
        GpuAllocator,
    },
    crate::{
        align::is_align_mask,
        block::{Flavor, MemoryBlock, NameKey},
        defrag::{
            DefragError, DefragMove, DefragOptions, DefragPass, DefragReport, MoveOutcome,
            SourceObject,
        },
        pool::{Placement, Pool},
        pools::PoolAlgorithm,
        slab::{slab_align_mask, LiveSlab, Slabs},
        strategy::{Strategy, SubAllocator, Tlsf},
    },
    alloc::{collections::BTreeMap, vec, vec::Vec},
    core::fmt::Debug,
    gpu_alloc_types::MemoryDevice,
};

/// A movable live block: the caller's tag and the alignment its resource
/// needs.
#[derive(Clone, Copy, Debug)]
struct Movable {
    tag: u64,
    align_mask: u64,
    size: u64,
}

/// The movable live blocks of one allocator, by memory object key and
/// offset (a block's `NameKey::Shared`), so that one object's blocks are one
/// range of the table.
#[derive(Debug, Default)]
pub(crate) struct Movables {
    table: BTreeMap<(usize, u64), Movable>,
}

impl Movables {
    /// Forgets a block that is being returned (on the cold path of blocks
    /// with a name or a tag).
    pub(crate) fn forget(&mut self, key: NameKey) {
        if let NameKey::Shared(object, offset) = key {
            self.table.remove(&(object, offset));
        }
    }

    /// Movable blocks of the object `key`: `(offset, movable)`.
    fn in_object(&self, key: usize) -> impl Iterator<Item = (u64, Movable)> + '_ {
        self.table
            .range((key, 0)..=(key, u64::MAX))
            .map(|(&(_, offset), &movable)| (offset, movable))
    }

    /// Number of movable live blocks.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// A move planned in one pool: the block at `offset` of `size` bytes in the
/// source object, and where its new block goes.
struct Planned {
    source_key: usize,
    /// The source object's slot in its pool.
    source_slot: u32,
    offset: u64,
    size: u64,
    movable: Movable,
    placement: Placement,
    /// Whether `placement` is a slot of a slab (else a range of its own).
    slab: bool,
}

/// What is left of a pass's limits.
struct Budget {
    moves: u64,
    bytes: u64,
}

/// Gives the ranges of planned moves that will not be made back to `pool`.
fn undo<M, S: SubAllocator>(pool: &mut Pool<M, S>, planned: impl IntoIterator<Item = Planned>) {
    for p in planned {
        let Placement {
            chunk,
            offset,
            handle,
        } = p.placement;
        pool.free(chunk, offset, p.size, handle);
    }
}

/// A general pool a pass plans: the default pool of a memory type and pool
/// class, or a user pool's slot and memory type.
#[derive(Clone, Copy)]
enum GeneralPool {
    Default(u32, u8),
    User(u32, u32),
}

/// Which round of a pass plans a pool (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Whole objects emptied into the others.
    Empty,
    /// Compaction, for the pools the first round planned nothing in.
    Compact,
}

/// The first round in one general pool: `blocks[slot]` is the number of live
/// blocks in the object at `slot` (slab slots counted one by one),
/// `align_bits` what the pool adds to every alignment. The new blocks'
/// ranges are taken in `pool`; returns the moves and the objects they empty,
/// as `(slot, key)`.
fn empty_objects<M, S: SubAllocator>(
    pool: &mut Pool<M, S>,
    blocks: &[u64],
    movables: &Movables,
    align_bits: u64,
    budget: &mut Budget,
) -> (Vec<Planned>, Vec<(u32, usize)>) {
    let mut candidates = Vec::new();
    for (slot, chunk) in pool.chunks.iter().enumerate() {
        let Some(chunk) = chunk else { continue };
        let key = chunk.memory.key();
        let movable: Vec<(u64, Movable)> = movables.in_object(key).collect();
        if movable.len() as u64 == blocks[slot] {
            candidates.push((chunk.sub.used(), slot as u32, key, movable));
        }
    }
    candidates.sort_by_key(|c| (c.0, c.1));
    let mut planned = Vec::new();
    let mut sources: Vec<(u32, usize)> = Vec::new();
    let mut received = vec![false; pool.chunks.len()];
    for (_, slot, key, movable) in candidates {
        if received[slot as usize] {
            continue;
        }
        if budget.moves == 0 {
            break;
        }
        // Destinations: the objects that stay, fullest first.
        let mut targets: Vec<(u64, u32)> = pool
            .chunks
            .iter()
            .enumerate()
            .filter_map(|(s, c)| Some((s as u32, c.as_ref()?)))
            .filter(|&(s, _)| s != slot && !sources.iter().any(|&(src, _)| src == s))
            .map(|(s, c)| (c.sub.used(), s))
            .collect();
        targets.sort_by(|a, b| b.cmp(a));
        let mut order: Vec<usize> = (0..movable.len()).collect();
        order.sort_by_key(|&i| core::cmp::Reverse(movable[i].1.size));
        let mut placed: Vec<Planned> = Vec::new();
        let mut fits = true;
        for i in order {
            let (offset, entry) = movable[i];
            let size = entry.size;
            let align_mask = entry.align_mask | align_bits;
            let found = targets
                .iter()
                .find_map(|&(_, target)| pool.alloc_in_slot(target as usize, size, align_mask));
            match found {
                Some(placement) => placed.push(Planned {
                    source_key: key,
                    source_slot: slot,
                    offset,
                    size,
                    movable: entry,
                    placement,
                    slab: false,
                }),
                None => {
                    fits = false;
                    break;
                }
            }
        }
        if !fits {
            undo(pool, placed);
            continue;
        }
        // Every block has a place: keep what the limits allow (the object
        // empties over several passes), give the rest back.
        let all = placed.len();
        let mut kept = 0;
        let mut bytes = 0;
        while kept < all
            && (kept as u64) < budget.moves
            && bytes + placed[kept].size <= budget.bytes
        {
            bytes += placed[kept].size;
            kept += 1;
        }
        undo(pool, placed.drain(kept..));
        for p in &placed {
            received[p.placement.chunk as usize] = true;
        }
        budget.moves -= kept as u64;
        budget.bytes -= bytes;
        planned.extend(placed);
        if kept < all {
            break;
        }
        sources.push((slot, key));
    }
    (planned, sources)
}

/// The second round in one general pool, for a pool whose free space is
/// spread in holes that no candidate's blocks fit: with the objects ranked
/// fullest first, every move takes a block to a place earlier in that order,
/// into a fuller object (any range that holds it) or, failing that, lower in
/// its own (the lowest range that holds it). The least used objects are
/// taken first, their blocks from the highest offset down, so blocks gather
/// in the fuller objects and at low offsets, and free space at the top of
/// objects and in whole objects (the module docs say why passes end). An
/// object all of whose blocks leave, and that receives none, is freed.
/// Blocks in slabs move too (their slots stay free until the slab empties or
/// the slab steps take it): leaving them to the slab steps held more memory
/// after a full defragmentation (churn small 1.14 against 1.06 device bytes
/// per live byte, `BENCHMARKS.md`) and moved more per byte freed.
fn compact_pool<M, S: SubAllocator>(
    pool: &mut Pool<M, S>,
    blocks: &[u64],
    movables: &Movables,
    align_bits: u64,
    budget: &mut Budget,
) -> (Vec<Planned>, Vec<(u32, usize)>) {
    let order = fullest_first(pool);
    let mut planned = Vec::new();
    let mut sources = Vec::new();
    let mut received = vec![false; pool.chunks.len()];
    'objects: for rank in (0..order.len()).rev() {
        let (_, slot, key) = order[rank];
        let movable: Vec<(u64, Movable)> = movables.in_object(key).collect();
        let mut left = 0;
        for &(offset, entry) in movable.iter().rev() {
            if budget.moves == 0 {
                break 'objects;
            }
            if entry.size > budget.bytes {
                continue;
            }
            let align_mask = entry.align_mask | align_bits;
            let found = order[..rank]
                .iter()
                .find_map(|&(_, target, _)| {
                    pool.alloc_in_slot(target as usize, entry.size, align_mask)
                        .or_else(|| {
                            pool.alloc_lowest_in_slot(
                                target as usize,
                                entry.size,
                                align_mask,
                                u64::MAX,
                            )
                        })
                })
                .or_else(|| {
                    pool.alloc_lowest_in_slot(slot as usize, entry.size, align_mask, offset)
                });
            let Some(placement) = found else { continue };
            received[placement.chunk as usize] = true;
            budget.moves -= 1;
            budget.bytes -= entry.size;
            left += 1;
            planned.push(Planned {
                source_key: key,
                source_slot: slot,
                offset,
                size: entry.size,
                movable: entry,
                placement,
                slab: false,
            });
        }
        if left == blocks[slot as usize] && !received[slot as usize] {
            sources.push((slot, key));
        }
    }
    (planned, sources)
}

/// The objects of `pool` as `(used bytes, slot, key)`, fullest first (the
/// lower slot first among equals): the order compaction moves blocks along.
fn fullest_first<M, S: SubAllocator>(pool: &Pool<M, S>) -> Vec<(u64, u32, usize)> {
    let mut order: Vec<(u64, u32, usize)> = pool
        .chunks
        .iter()
        .enumerate()
        .filter_map(|(slot, c)| {
            let c = c.as_ref()?;
            Some((c.sub.used(), slot as u32, c.memory.key()))
        })
        .collect();
    order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    order
}

/// Each object's place in `order` ([`fullest_first`]), by its slot.
fn ranks(order: &[(u64, u32, usize)], slots: usize) -> Vec<usize> {
    let mut rank = vec![0; slots];
    for (i, &(_, slot, _)) in order.iter().enumerate() {
        rank[slot as usize] = i;
    }
    rank
}

/// The last step of a pass in a default general pool, when nothing else
/// moves: a slab at most half used whose blocks all fit in ranges of their
/// own (in any object, fullest first) gives them up, so that its whole range
/// goes back (consolidation leaves one such slab per class; across the
/// classes their free slots can hold more than the blocks' 5%), and the
/// compaction of later passes fills it. No block moves into a slab here, so
/// every slab dissolved is one fewer for good (the module docs say why passes
/// end).
fn dissolve_sparse_slabs<M, P: Copy>(
    slabs: &Slabs<P>,
    pool: &mut Pool<M, Tlsf>,
    movables: &Movables,
    align_bits: u64,
    budget: &mut Budget,
) -> Vec<Planned> {
    let order = fullest_first(pool);
    let rank = ranks(&order, pool.chunks.len());
    let mut sparse: Vec<LiveSlab> = slabs
        .live_slabs()
        .filter(|s| s.used != 0 && s.used.count_ones() <= s.free)
        .collect();
    // The least used objects' slabs first.
    sparse.sort_by_key(|s| (core::cmp::Reverse(rank[s.chunk as usize]), s.index));
    let mut planned = Vec::new();
    'slabs: for slab in sparse {
        let (_, _, key) = order[rank[slab.chunk as usize]];
        let count = u64::from(slab.used.count_ones());
        let bytes = count * slab.slot;
        if budget.moves < count || budget.bytes < bytes {
            break;
        }
        let mut placed: Vec<Planned> = Vec::new();
        for offset in slab.block_offsets() {
            let found = movables.table.get(&(key, offset)).and_then(|&movable| {
                let align_mask = movable.align_mask | align_bits;
                order
                    .iter()
                    .find_map(|&(_, target, _)| {
                        pool.alloc_in_slot(target as usize, movable.size, align_mask)
                    })
                    .map(|placement| (movable, placement))
            });
            let Some((movable, placement)) = found else {
                undo(pool, placed);
                continue 'slabs;
            };
            placed.push(Planned {
                source_key: key,
                source_slot: slab.chunk,
                offset,
                size: movable.size,
                movable,
                placement,
                slab: false,
            });
        }
        budget.moves -= count;
        budget.bytes -= placed.iter().map(|p| p.size).sum::<u64>();
        planned.extend(placed);
    }
    planned
}

/// Consolidates the slabs of a default general pool, the step of a pass
/// before [`compact_pool`]: in each slab class, the blocks of the least used
/// slabs move to free slots of the fullest ones (of the same class, so of the
/// same slot size and alignment), so that the emptied slabs go back to their
/// objects as whole ranges. A slab with a block that may not move stays.
fn consolidate_slabs<M, P: Copy>(
    slabs: &mut Slabs<P>,
    pool: &Pool<M, Tlsf>,
    movables: &Movables,
    align_bits: u64,
    budget: &mut Budget,
) -> Vec<Planned> {
    // Fullest slabs first, in the fullest objects among equals: blocks go
    // where compaction would take them.
    let rank = ranks(&fullest_first(pool), pool.chunks.len());
    let mut live: Vec<LiveSlab> = slabs.live_slabs().filter(|s| s.used != 0).collect();
    live.sort_by_key(|s| {
        let used = core::cmp::Reverse(s.used.count_ones());
        (s.class, used, rank[s.chunk as usize], s.index)
    });
    let mut planned = Vec::new();
    for class in live.chunk_by(|a, b| a.class == b.class) {
        let mut free: Vec<u32> = class.iter().map(|s| s.free).collect();
        // Targets from the front (fullest first), sources from the back.
        let mut target = 0;
        'sources: for end in (1..class.len()).rev() {
            let source = class[end];
            let Some(key) = pool.chunks[source.chunk as usize]
                .as_ref()
                .map(|c| c.memory.key())
            else {
                continue;
            };
            let mut blocks = Vec::new();
            for offset in source.block_offsets() {
                match movables.table.get(&(key, offset)) {
                    // Every slot of the class is aligned to its slot size's
                    // lowest power of two: a block that needs more stays.
                    Some(&movable)
                        if (movable.align_mask | align_bits) & !slab_align_mask(source.slot)
                            == 0 =>
                    {
                        blocks.push((offset, movable))
                    }
                    _ => continue 'sources,
                }
            }
            let room: u64 = free[target.min(end)..end]
                .iter()
                .map(|&n| u64::from(n))
                .sum();
            if room < blocks.len() as u64 {
                continue;
            }
            for (offset, movable) in blocks {
                if budget.moves == 0 || movable.size > budget.bytes {
                    return planned;
                }
                while free[target] == 0 {
                    target += 1;
                }
                let placement = slabs
                    .alloc_in(class[target].index, movable.size)
                    .expect("a slab with a free slot");
                free[target] -= 1;
                budget.moves -= 1;
                budget.bytes -= movable.size;
                planned.push(Planned {
                    source_key: key,
                    source_slot: source.chunk,
                    offset,
                    size: movable.size,
                    movable,
                    placement,
                    slab: true,
                });
            }
        }
    }
    planned
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Lets defragmentation move `block` ([`begin_defrag_pass`](Self::begin_defrag_pass)),
    /// under `tag` (the caller's name for its resource, which the moves
    /// carry). `align_mask` is the alignment the resource needs (its
    /// `Request::align_mask`): a new place keeps it. Until the block is freed
    /// or [`set_immovable`](Self::set_immovable) is called, the caller
    /// promises to answer every move of it (copy and rebind, or skip), and
    /// keeps no pointer into its mapping.
    ///
    /// # Errors
    ///
    /// See [`DefragError`]: blocks of another allocator (or of a
    /// `SharedGpuAllocator`'s thread arenas), dedicated and imported blocks,
    /// mapped blocks, blocks of linear and ring objects never move.
    pub fn set_movable(
        &mut self,
        block: &mut MemoryBlock<M>,
        tag: u64,
        align_mask: u64,
    ) -> Result<(), DefragError> {
        if block.allocator != self.id {
            return Err(DefragError::ForeignBlock);
        }
        if !is_align_mask(align_mask) {
            return Err(DefragError::InvalidAlignMask { align_mask });
        }
        if block.mapped {
            return Err(DefragError::Mapped);
        }
        let Flavor::Shared {
            memory,
            strategy,
            chunk,
            ..
        } = &block.flavor
        else {
            return Err(DefragError::Dedicated);
        };
        let general = match strategy {
            Strategy::General | Strategy::Slab => true,
            Strategy::Pool => {
                let (pool, _) = PoolChunk::decode(*chunk);
                self.pools.algorithm(pool) == Some(PoolAlgorithm::General)
            }
            Strategy::Transient | Strategy::Leased => false,
        };
        if !general {
            return Err(DefragError::NotGeneral);
        }
        let key = (memory.key(), block.offset);
        let size = block.size;
        let movable = Movable {
            tag,
            align_mask,
            size,
        };
        self.movables.table.insert(key, movable);
        block.named = true;
        Ok(())
    }

    /// Makes `block` immovable again. Returns whether it was movable.
    pub fn set_immovable(&mut self, block: &MemoryBlock<M>) -> bool {
        if block.allocator != self.id {
            return false;
        }
        let NameKey::Shared(object, offset) = block.name_key() else {
            return false;
        };
        self.movables.table.remove(&(object, offset)).is_some()
    }
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Plans a pass of moves within `options` (see the module docs of
    /// `allocator/defrag.rs`, and the crate docs): the new blocks are made
    /// now, in memory objects the allocator holds (no device call), and
    /// carried by the pass's moves. Answer every move, then end the pass with
    /// [`end_defrag_pass`](Self::end_defrag_pass) once the copies are done.
    /// An empty pass means nothing is left to do within `options`. Run one
    /// pass at a time.
    pub fn begin_defrag_pass(&mut self, options: &DefragOptions) -> DefragPass<M> {
        let mut budget = Budget {
            moves: u64::from(options.max_moves),
            bytes: options.max_bytes,
        };
        let mut pass = DefragPass {
            allocator: self.id,
            moves: Vec::new(),
            sources: Vec::new(),
            slab_objects: Vec::new(),
        };
        // Every pool's whole objects first, then compaction in the pools
        // where none can be emptied, with what is left of the limits.
        let mut general = Vec::new();
        if options.default_pools && options.pool.is_none() {
            for ty in 0..self.types.len() as u32 {
                if options.memory_types & (1 << ty) != 0 {
                    general.extend((0..CLASSES as u8).map(|class| GeneralPool::Default(ty, class)));
                }
            }
        }
        if options.user_pools {
            for index in self.pools.general_slots() {
                let ty = self.pools.memory_type(index);
                let wanted = options
                    .pool
                    .map_or(true, |id| self.pools.slot_of(self.id, id) == Some(index));
                if options.memory_types & (1 << ty) != 0 && wanted {
                    general.push(GeneralPool::User(index, ty));
                }
            }
        }
        let idle: Vec<bool> = general
            .iter()
            .map(|&pool| !self.plan(pool, &mut budget, &mut pass, Round::Empty))
            .collect();
        if options.compact {
            for (&pool, _) in general.iter().zip(idle).filter(|&(_, idle)| idle) {
                self.plan(pool, &mut budget, &mut pass, Round::Compact);
            }
        }
        pass
    }

    /// Plans `pool` into `pass`, in `round`. Returns whether it planned
    /// anything.
    fn plan(
        &mut self,
        pool: GeneralPool,
        budget: &mut Budget,
        pass: &mut DefragPass<M>,
        round: Round,
    ) -> bool {
        match pool {
            GeneralPool::Default(ty, class) => self.plan_default(ty, class, budget, pass, round),
            GeneralPool::User(index, ty) => self.plan_user_pool(index, ty, budget, pass, round),
        }
    }

    /// Plans the default general pool of `ty` and `class` into `pass`, in
    /// `round`. Returns whether it planned anything.
    fn plan_default(
        &mut self,
        ty: u32,
        class: u8,
        budget: &mut Budget,
        pass: &mut DefragPass<M>,
        round: Round,
    ) -> bool {
        let state = &mut self.types[ty as usize];
        let align_bits = state.rounding[usize::from(class)].align_bits();
        let pool = &mut state.general[usize::from(class)];
        let slabs = &mut state.slabs[usize::from(class)];
        // A slab is one used range of its object but holds its used slots.
        let mut blocks: Vec<i64> = pool
            .chunks
            .iter()
            .map(|c| c.as_ref().map_or(0, |c| c.sub.live_ranges() as i64))
            .collect();
        slabs.for_each_slab(|chunk, used| blocks[chunk as usize] += i64::from(used) - 1);
        let blocks: Vec<u64> = blocks.into_iter().map(|n| n.max(0) as u64).collect();
        let movables = &self.movables;
        let (planned, sources) = match round {
            Round::Empty => empty_objects(pool, &blocks, movables, align_bits, budget),
            Round::Compact => {
                let mut planned = consolidate_slabs(slabs, pool, movables, align_bits, budget);
                let mut sources = Vec::new();
                if planned.is_empty() {
                    (planned, sources) = compact_pool(pool, &blocks, movables, align_bits, budget);
                }
                if planned.is_empty() && sources.is_empty() {
                    planned = dissolve_sparse_slabs(slabs, pool, movables, align_bits, budget);
                }
                // The slabs these moves empty go back when the pass ends.
                let touched = planned.iter().map(|p| (ty, class, p.source_slot));
                pass.slab_objects.extend(touched);
                (planned, sources)
            }
        };
        let any = !planned.is_empty() || !sources.is_empty();
        for p in planned {
            let target = Target {
                ty,
                class,
                size: p.size,
                align_mask: p.movable.align_mask | align_bits,
                slab: false,
            };
            let strategy = if p.slab {
                Strategy::Slab
            } else {
                Strategy::General
            };
            let placed = self.count_block::<Tlsf>(target, strategy, p.placement);
            let block = self.make_block(placed);
            pass.moves.push(self.planned_move(ty, p, block));
        }
        pass.sources
            .extend(sources.into_iter().map(|(slot, key)| SourceObject {
                pool: None,
                ty,
                class,
                slot,
                key,
            }));
        any
    }

    /// Plans the user pool in slot `index` (general algorithm, of memory type
    /// `ty`) into `pass`.
    fn plan_user_pool(
        &mut self,
        index: u32,
        ty: u32,
        budget: &mut Budget,
        pass: &mut DefragPass<M>,
        round: Round,
    ) -> bool {
        let align_bits = self.types[ty as usize].rounding[0].align_bits();
        let Some(pool) = self.pools.general_mut(index) else {
            return false;
        };
        let blocks: Vec<u64> = pool
            .chunks
            .iter()
            .map(|c| c.as_ref().map_or(0, |c| c.sub.live_ranges()))
            .collect();
        let movables = &self.movables;
        let (planned, sources) = match round {
            Round::Empty => empty_objects(pool, &blocks, movables, align_bits, budget),
            Round::Compact => compact_pool(pool, &blocks, movables, align_bits, budget),
        };
        let any = !planned.is_empty() || !sources.is_empty();
        for p in planned {
            let block = self.count_pool_block(index, ty, p.size, p.placement);
            pass.moves.push(self.planned_move(ty, p, block));
        }
        pass.sources
            .extend(sources.into_iter().map(|(slot, key)| SourceObject {
                pool: Some(index),
                ty,
                class: 0,
                slot,
                key,
            }));
        any
    }

    /// The move for a planned block and its new `block`, which becomes
    /// movable with the old one's tag.
    fn planned_move(&mut self, ty: u32, p: Planned, mut block: MemoryBlock<M>) -> DefragMove<M> {
        if let NameKey::Shared(object, offset) = block.name_key() {
            self.movables.table.insert((object, offset), p.movable);
            block.named = true;
        }
        DefragMove {
            tag: p.movable.tag,
            memory_type: ty,
            size: p.size,
            source: NameKey::Shared(p.source_key, p.offset),
            source_offset: p.offset,
            destination_key: block.name_key(),
            destination: Some(block),
            old: None,
            outcome: MoveOutcome::Pending,
        }
    }

    /// [`end_defrag_pass`](Self::end_defrag_pass) on a device taken already.
    #[allow(clippy::result_large_err)]
    pub(super) fn end_defrag_pass_on(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        pass: DefragPass<M>,
    ) -> Result<DefragReport, DefragPass<M>> {
        if pass.allocator != self.id {
            return Err(pass);
        }
        // What the pass frees, in every way: its emptied objects, and objects
        // and slabs its old blocks leave empty (compaction's).
        let objects = self.accounts.objects;
        let reserved = self.reserved_bytes();
        let mut report = DefragReport::default();
        for mv in pass.moves {
            let returned = match mv.outcome {
                MoveOutcome::Done => {
                    report.moved += 1;
                    report.bytes_moved += mv.size;
                    self.names.rekey(mv.source, mv.destination_key);
                    mv.old
                }
                MoveOutcome::Destroyed => {
                    report.destroyed += 1;
                    mv.destination
                }
                MoveOutcome::Skip | MoveOutcome::Pending => {
                    report.skipped += 1;
                    mv.destination
                }
            };
            if let Some(block) = returned {
                self.release_moved(device, block);
            }
        }
        // The slabs compaction emptied go back to their objects as free
        // ranges, and an object that leaves empty goes too.
        let mut touched = pass.slab_objects;
        touched.sort_unstable();
        touched.dedup();
        for (ty, class, slot) in touched {
            self.free_default_object(device, ty, class, slot);
        }
        for source in &pass.sources {
            if self.holds_source(source) {
                self.free_source(device, source);
            }
        }
        report.objects_freed = u64::from(objects - self.accounts.objects);
        report.bytes_freed = reserved - self.reserved_bytes();
        self.defrag.passes += 1;
        self.defrag.total.add(&report);
        self.defrag.last = report;
        Ok(report)
    }

    /// Takes back an old or new block of a move: never mapped (`done` refuses
    /// a mapped old block; a new one was never the caller's to map).
    fn release_moved(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        block: MemoryBlock<M>,
    ) {
        debug_assert!(block.allocator == self.id && !block.mapped);
        if block.named {
            let key = block.name_key();
            self.names.forget(key);
            self.movables.forget(key);
        }
        self.release(device, block);
    }

    /// Bytes of every memory object the allocator holds.
    fn reserved_bytes(&self) -> u64 {
        self.accounts.heaps.iter().map(|heap| heap.used).sum()
    }

    /// Whether the allocator still holds a pass's source object.
    fn holds_source(&mut self, source: &SourceObject) -> bool {
        fn holds<M, S: SubAllocator>(pool: &Pool<M, S>, source: &SourceObject) -> bool {
            let chunk = pool
                .chunks
                .get(source.slot as usize)
                .and_then(Option::as_ref);
            chunk.is_some_and(|chunk| chunk.memory.key() == source.key)
        }
        match source.pool {
            None => holds(
                &self.types[source.ty as usize].general[usize::from(source.class)],
                source,
            ),
            Some(index) => self
                .pools
                .general_mut(index)
                .is_some_and(|pool| holds(pool, source)),
        }
    }

    /// Gives the empty slabs of the object at `slot` of the default general
    /// pool of `ty` and `class` back to it, then frees the object if that
    /// left it empty.
    fn free_default_object(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        class: u8,
        slot: u32,
    ) {
        let state = &mut self.types[ty as usize];
        let heap = state.info.heap;
        let class = usize::from(class);
        let (pool, slabs) = (&mut state.general[class], &mut state.slabs[class]);
        for range in slabs.take_empty_in(slot) {
            pool.free(range.chunk, range.offset, range.size, range.handle);
        }
        free_chunk(&mut self.accounts, device, pool, heap, slot);
    }

    /// Frees a pass's source object if it emptied (its empty slabs first).
    fn free_source(&mut self, device: Device<'_, M, impl MemoryDevice<M>>, source: &SourceObject) {
        let heap = self.types[source.ty as usize].info.heap;
        match source.pool {
            None => self.free_default_object(device, source.ty, source.class, source.slot),
            Some(index) => {
                if !self.pools.above_minimum(index) {
                    return;
                }
                if let Some(pool) = self.pools.general_mut(index) {
                    free_chunk(&mut self.accounts, device, pool, heap, source.slot);
                }
            }
        }
    }
}
