//! Shared memory objects of one memory type and one strategy.

#![deny(unsafe_code)]

pub(crate) mod by_largest;

use {
    self::by_largest::ByLargest,
    crate::{
        align::pow2_floor,
        shared::{MappedPtr, ObjectRef, SharedMemory},
        strategy::{size_class, size_class_at_least, SubAllocator},
    },
    alloc::vec::Vec,
};

/// A new memory object is an eighth (`1 / GROWTH_SHARE`) of the pool's size (see
/// [`Pool::grown`]).
const GROWTH_SHARE: u64 = 8;

/// The retention policy looks back over the last one to two epochs of a pool:
/// an epoch is at least [`SubAllocator::min_epoch`] blocks freed, and at least
/// the memory type's live blocks at its start over this (see
/// [`Pool::retained_floor`]).
const EPOCH_SHARE: u64 = 8;

/// One shared memory object and the sub-allocator that places blocks in it.
#[derive(Debug)]
pub(crate) struct Chunk<M, S> {
    /// The memory object. Every live block placed in it points at it.
    pub(crate) memory: SharedMemory<M>,
    /// Mapping of the whole object, made once at creation for host-visible types.
    pub(crate) base: Option<MappedPtr>,
    /// Size of the memory object in bytes; the sub-allocator's capacity.
    pub(crate) size: u64,
    /// Every block handed out in the object and not returned (abandoned ones
    /// too) keeps a used range here: its own, or its slab's.
    pub(crate) sub: S,
}

/// Where a block was placed in a pool: the slot of its memory object, its
/// offset there and the sub-allocator's (or slab's) handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) chunk: u32,
    pub(crate) offset: u64,
    pub(crate) handle: u32,
}

impl<M, S> Chunk<M, S> {
    /// What a block placed in this memory object keeps of it.
    #[inline(always)]
    pub(crate) fn object_ref(&self) -> ObjectRef<M> {
        ObjectRef {
            memory: self.memory.share(),
            base: self.base,
        }
    }
}

/// The shared memory objects of one memory type for one strategy.
#[derive(Debug)]
pub(crate) struct Pool<M, S: SubAllocator> {
    /// Blocks name their chunk by index here. `chunks[i]` is `None` iff `i` is in
    /// `free_slots`.
    pub(crate) chunks: Vec<Option<Chunk<M, S>>>,
    /// `summaries[i]` is `chunks[i]`'s `free_summary()`, or 0 for an empty slot:
    /// a compact array, so that finding a memory object with room skips the full
    /// ones without touching them.
    summaries: Vec<u32>,
    /// The slots of `summaries` bucketed by summary: finds the best-fitting
    /// chunk without looking at every one.
    by_largest: ByLargest,
    /// Indices of `None` entries of `chunks`, reused before `chunks` grows.
    free_slots: Vec<u32>,
    /// The slot that last placed a block through [`alloc`](Self::alloc), or the
    /// newest chunk, if it still holds a chunk (else anything, checked on use):
    /// where [`alloc_recent`](Self::alloc_recent) looks.
    recent: u32,
    /// Size of the first memory object.
    start: u64,
    /// Size of the next memory object to create; between `start` and the
    /// strategy's final size (see [`Pool::grown`]).
    pub(crate) next_size: u64,
    /// Bytes of the used ranges of the pool's chunks (slabs count whole).
    used: u64,
    /// Bytes of the live blocks placed in the pool (in slabs or not, as
    /// requested); `block_bytes <= used`.
    block_bytes: u64,
    /// Sum of the sizes of the pool's chunks.
    reserved: u64,
    /// Blocks still to be freed before the current retention epoch ends (see
    /// [`retained_floor`](Self::retained_floor)).
    epoch_left: u64,
    /// Most bytes `block_bytes` reached in the current epoch (since the pool
    /// was created, last cleaned up or the epoch began); `block_bytes <= recent_high`.
    recent_high: u64,
    /// The same for the epoch before.
    previous_high: u64,
}

/// A chunk whose blocks outlive the pool (its allocator was dropped with blocks
/// still out, a reported bug of the caller's) hands its memory object over to
/// them: the last of them frees its host memory (the device memory leaks).
/// Every used range is one block here; the allocator first hands over the
/// chunks that hold slabs ([`Pool::orphan_all`]), whose ranges hold many.
impl<M, S: SubAllocator> Drop for Pool<M, S> {
    fn drop(&mut self) {
        self.orphan_all(&[]);
    }
}

impl<M, S: SubAllocator> Pool<M, S> {
    pub(crate) fn new(start_size: u64) -> Self {
        Pool {
            chunks: Vec::new(),
            summaries: Vec::new(),
            by_largest: ByLargest::default(),
            free_slots: Vec::new(),
            recent: u32::MAX,
            start: start_size,
            next_size: start_size,
            used: 0,
            block_bytes: 0,
            reserved: 0,
            epoch_left: S::min_epoch(),
            recent_high: 0,
            previous_high: 0,
        }
    }

    /// Places `size` bytes in an existing chunk: the best fitting one (for a
    /// strategy with [`SubAllocator::best_fit_objects`]; else the newest
    /// that surely holds it).
    ///
    /// The summaries say, without touching a chunk, which chunks surely hold the
    /// request (a free range of a size class at least `size + align_mask`) and
    /// which may (a free range of the class of `size` or above, which may happen
    /// to be aligned). Of the chunks that surely hold it, the one whose largest
    /// free range is the smallest takes it (found in [`ByLargest`]), so that
    /// large ranges stay whole and chunks that are nearly empty can empty out;
    /// only when none surely holds it are the others tried, newest first.
    /// (Filling the newest chunk that surely holds it left mid-size blocks
    /// spread over many partly used chunks; trying every chunk that may hold
    /// it first fails often: `BENCHMARKS.md` has both measured.)
    #[inline(always)]
    pub(crate) fn alloc(&mut self, size: u64, align_mask: u64) -> Option<Placement> {
        let sure_fit = size
            .checked_add(align_mask)
            .and_then(size_class_at_least)
            .map_or(u32::MAX, |class| class + 1);
        if !S::best_fit_objects() {
            if let Some(found) = self.alloc_in(size, align_mask, sure_fit, u32::MAX) {
                return Some(found);
            }
        } else if let Some(slot) = self.best_sure_fit(sure_fit) {
            return self.alloc_in_slot(slot, size, align_mask);
        }
        let may_fit = size_class(size) + 1;
        self.alloc_in(size, align_mask, may_fit, sure_fit)
    }

    /// The slot of the chunk with the smallest summary of at least `sure_fit`
    /// (one of equals), if any. Empty slots have summary 0 and never qualify
    /// (`sure_fit >= 1`).
    #[inline(always)]
    fn best_sure_fit(&self, sure_fit: u32) -> Option<usize> {
        self.by_largest.at_least(sure_fit).map(|slot| slot as usize)
    }

    /// Records the summary of the chunk at `slot` (0 for an empty slot).
    #[inline(always)]
    fn set_summary(&mut self, slot: usize, summary: u32) {
        let old = core::mem::replace(&mut self.summaries[slot], summary);
        if S::best_fit_objects() {
            self.by_largest.update(slot as u32, old, summary);
        }
    }

    /// Places `size` bytes in the chunk at `slot`, if it holds them (an empty
    /// slot holds nothing).
    #[inline(always)]
    pub(crate) fn alloc_in_slot(
        &mut self,
        slot: usize,
        size: u64,
        align_mask: u64,
    ) -> Option<Placement> {
        let chunk = self.chunks[slot].as_mut()?;
        let found = chunk.sub.alloc(size, align_mask)?;
        let summary = chunk.sub.free_summary();
        self.recent = slot as u32;
        Some(self.placed(slot, size, summary, found))
    }

    /// Counts the `size` bytes the chunk at `slot` placed at `(offset,
    /// handle)`, which left it with free `summary`, and says where.
    #[inline(always)]
    fn placed(
        &mut self,
        slot: usize,
        size: u64,
        summary: u32,
        (offset, handle): (u64, u32),
    ) -> Placement {
        self.set_summary(slot, summary);
        self.note_alloc(size);
        Placement {
            chunk: slot as u32,
            offset,
            handle,
        }
    }

    /// Places `size` bytes in the chunk at `slot` at the lowest offset that
    /// holds them, only below `below` (defragmentation's compaction).
    pub(crate) fn alloc_lowest_in_slot(
        &mut self,
        slot: usize,
        size: u64,
        align_mask: u64,
        below: u64,
    ) -> Option<Placement> {
        // No free range of the size's class or above: nothing to walk.
        if self.summaries[slot] <= size_class(size) {
            return None;
        }
        let chunk = self.chunks[slot].as_mut()?;
        let found = chunk.sub.alloc_lowest(size, align_mask, below)?;
        let summary = chunk.sub.free_summary();
        Some(self.placed(slot, size, summary, found))
    }

    /// Tries the chunks, newest first, whose summary is at least `min` and below
    /// `below`.
    #[inline(always)]
    fn alloc_in(&mut self, size: u64, align_mask: u64, min: u32, below: u32) -> Option<Placement> {
        for slot in (0..self.summaries.len()).rev() {
            let summary = self.summaries[slot];
            if summary < min || summary >= below {
                continue;
            }
            if let Some(placement) = self.alloc_in_slot(slot, size, align_mask) {
                return Some(placement);
            }
        }
        None
    }

    /// Places `size` bytes in the chunk that placed the last block (see
    /// `recent`), only there: returns where, and what the block keeps of the
    /// chunk's memory object.
    #[inline(always)]
    pub(crate) fn alloc_recent(
        &mut self,
        size: u64,
        align_mask: u64,
    ) -> Option<(Placement, ObjectRef<M>)> {
        let slot = self.recent;
        let chunk = self.chunks.get_mut(slot as usize)?.as_mut()?;
        let (offset, handle) = chunk.sub.alloc(size, align_mask)?;
        let placement = Placement {
            chunk: slot,
            offset,
            handle,
        };
        let found = (placement, chunk.object_ref());
        let summary = chunk.sub.free_summary();
        self.set_summary(slot as usize, summary);
        self.note_alloc(size);
        Some(found)
    }

    /// The size for the pool's next memory object after it grew: an eighth of
    /// what it holds, rounded down to a power of two, between its starting size
    /// and `cap`. The unused part of the newest object then stays a small share
    /// of the pool (doubling would leave up to half of it unused), while the
    /// number of objects grows only logarithmically.
    pub(crate) fn grown(&self, cap: u64) -> u64 {
        let pow2 = match self.reserved / GROWTH_SHARE {
            0 => 0,
            eighth => pow2_floor(eighth),
        };
        pow2.min(cap).max(self.start)
    }

    /// Counts a block of `size` bytes placed in the pool.
    #[inline(always)]
    pub(crate) fn note_alloc(&mut self, size: u64) {
        self.used += size;
    }

    /// Counts a live block of `size` bytes placed in the pool (directly or in a
    /// slab), for the retention policy.
    #[inline(always)]
    pub(crate) fn add_block(&mut self, size: u64) {
        self.block_bytes += size;
        self.recent_high = self.recent_high.max(self.block_bytes);
    }

    /// Forgets a block counted by [`add_block`](Self::add_block), one of
    /// `type_blocks` live blocks of the memory type, and counts it towards the
    /// end of the retention epoch. Returns whether the epoch ended: the
    /// retention floor may have fallen, and the allocator then frees what the
    /// pool no longer keeps (`release.rs`), so that every object the pool holds
    /// empty, or holds for empty slabs alone, is one the policy keeps. (Epochs
    /// end only as blocks go, so that the allocator, which frees them, can give
    /// back at once what the lower floor no longer keeps.)
    #[inline(always)]
    pub(crate) fn remove_block(&mut self, size: u64, type_blocks: u64) -> bool {
        self.block_bytes -= size;
        self.epoch_left -= 1;
        if self.epoch_left == 0 {
            self.next_epoch(type_blocks);
            return true;
        }
        false
    }

    /// Ends the current retention epoch: the next one lasts
    /// [`SubAllocator::min_epoch`] blocks freed, or an [`EPOCH_SHARE`]th of
    /// the memory type's live blocks if that is more, so that the policy looks
    /// back over a time in proportion to the use.
    #[cold]
    fn next_epoch(&mut self, type_blocks: u64) {
        self.previous_high = self.recent_high;
        self.recent_high = self.block_bytes;
        self.epoch_left = S::min_epoch().max(type_blocks / EPOCH_SHARE);
    }

    /// Hands every chunk over to the blocks still placed in it (see the `Drop`
    /// impl): a chunk's blocks are its used ranges plus `extra[slot]` (for the
    /// chunks that hold slabs: their used slots minus their slabs).
    pub(crate) fn orphan_all(&mut self, extra: &[i64]) {
        for (slot, entry) in self.chunks.iter_mut().enumerate() {
            if let Some(chunk) = entry.take() {
                let ranges = i64::try_from(chunk.sub.live_ranges()).unwrap_or(i64::MAX);
                let live = ranges.saturating_add(extra.get(slot).copied().unwrap_or(0));
                chunk.memory.orphan(u64::try_from(live).unwrap_or(0));
            }
        }
    }

    /// Bytes the pool keeps in memory objects when one empties: the most its
    /// live blocks took in the current and the previous epoch. Work that comes
    /// and goes within an epoch or two (frames, streaming) finds its memory
    /// objects again; when use falls for good (a level unloads), the floor
    /// follows it down within two epochs and emptied objects go back. (The
    /// high-water mark since creation kept objects that the blocks of later
    /// sizes could not use, and a margin above the floor makes fewer objects
    /// after warm-up but raises the peak: `BENCHMARKS.md` has both measured.)
    #[inline(always)]
    fn retained_floor(&self) -> u64 {
        self.recent_high.max(self.previous_high)
    }

    /// Frees the block at `offset` of `size` bytes in the chunk at `slot`. Returns
    /// whether the chunk is now empty and should go back to the device under the
    /// retention policy: the pool's other chunks still hold its retention floor
    /// ([`retained_floor`](Self::retained_floor)). (Keeping one more empty
    /// chunk for reuse, as this crate did, held memory that the peak of the
    /// real-requirements traces then counted: `BENCHMARKS.md`.)
    #[inline(always)]
    pub(crate) fn free(&mut self, slot: u32, offset: u64, size: u64, handle: u32) -> bool {
        self.used -= size;
        let chunk = self.chunks[slot as usize]
            .as_mut()
            .expect("block names a chunk slot that is empty");
        chunk.sub.free(offset, size, handle);
        let (summary, empty) = (chunk.sub.free_summary(), chunk.sub.is_empty());
        self.set_summary(slot as usize, summary);
        empty && !self.needs(slot)
    }

    /// Whether the rest of the pool, without the chunk at `slot`, holds less than
    /// [`retained_floor`](Self::retained_floor): the retention policy then keeps
    /// the chunk when it empties. It turns false only when the pool grows (a
    /// new chunk, which first takes back every empty slab), when an epoch ends
    /// (after which the allocator sweeps the pool: see
    /// [`remove_block`](Self::remove_block)) and on cleanup.
    pub(crate) fn needs(&self, slot: u32) -> bool {
        let size = self.chunks[slot as usize].as_ref().map_or(0, |c| c.size);
        self.reserved - size < self.retained_floor()
    }

    /// Forgets the use of past epochs beyond the current use (after a cleanup).
    pub(crate) fn reset_high_water(&mut self) {
        self.recent_high = self.block_bytes;
        self.previous_high = self.block_bytes;
    }

    /// Adds a chunk and returns its slot.
    pub(crate) fn insert(&mut self, chunk: Chunk<M, S>) -> u32 {
        self.reserved += chunk.size;
        let summary = chunk.sub.free_summary();
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.chunks[slot as usize] = Some(chunk);
                self.set_summary(slot as usize, summary);
                slot
            }
            None => {
                self.chunks.push(Some(chunk));
                self.summaries.push(0);
                let slot = self.chunks.len() - 1;
                self.set_summary(slot, summary);
                slot as u32
            }
        };
        self.recent = slot;
        slot
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, slot: u32) -> &mut Chunk<M, S> {
        self.chunks[slot as usize]
            .as_mut()
            .expect("block names a chunk slot that is empty")
    }

    /// Takes out the chunk at `slot` if it has no live block, returning its memory
    /// object, mapping and size.
    pub(crate) fn take_if_unused(&mut self, slot: u32) -> Option<(M, Option<MappedPtr>, u64)> {
        // Every block handed out and not returned, abandoned ones included, keeps
        // its range used in `sub`, so an empty sub-allocator means no block
        // points at the memory.
        let entry = &mut self.chunks[slot as usize];
        let chunk = entry.take_if(|c| c.sub.is_empty())?;
        self.free_slots.push(slot);
        self.set_summary(slot as usize, 0);
        self.reserved -= chunk.size;
        let memory = chunk.memory.into_inner();
        Some((memory, chunk.base, chunk.size))
    }

    /// Slots of every empty chunk.
    pub(crate) fn empty_slots(&self) -> Vec<u32> {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.as_ref().is_some_and(|c| c.sub.is_empty()))
            .map(|(slot, _)| slot as u32)
            .collect()
    }

    /// Whether [`alloc`](Self::alloc) would place `size` bytes aligned to
    /// `align_mask + 1` in a chunk now (it does iff some chunk's
    /// sub-allocator would: it tries every chunk that may hold them).
    pub(crate) fn can_place(&self, size: u64, align_mask: u64) -> bool {
        self.iter()
            .any(|chunk| chunk.sub.can_alloc(size, align_mask))
    }

    /// Live chunks.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Chunk<M, S>> {
        self.chunks.iter().flatten()
    }

    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(crate) fn check_invariants(&self) {
        let reserved: u64 = self.iter().map(|c| c.size).sum();
        let used: u64 = self.iter().map(|c| c.sub.used()).sum();
        assert_eq!(reserved, self.reserved, "pool reserved bytes differ");
        assert_eq!(used, self.used, "pool used bytes differ");
        assert!(
            self.block_bytes <= self.recent_high,
            "use above the epoch's high-water mark"
        );
        assert!(
            self.block_bytes <= self.used,
            "more bytes in blocks than in used ranges"
        );
        assert_eq!(
            self.summaries.len(),
            self.chunks.len(),
            "one summary per chunk slot"
        );
        if S::best_fit_objects() {
            self.by_largest.check(&self.summaries);
        } else {
            self.by_largest.check(&[]);
        }
        for (slot, chunk) in self.chunks.iter().enumerate() {
            assert_eq!(
                self.summaries[slot],
                chunk.as_ref().map_or(0, |c| c.sub.free_summary()),
                "slot {slot}: stale free summary"
            );
            assert_eq!(
                chunk.is_none(),
                self.free_slots.contains(&(slot as u32)),
                "slot {slot}: free-slot list disagrees with the chunk table"
            );
            if let Some(chunk) = chunk {
                assert!(chunk.size > 0, "empty memory object in slot {slot}");
                chunk.sub.check_invariants();
            }
        }
    }
}
