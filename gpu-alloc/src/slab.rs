//! Slabs: constant-time placement of small general blocks in equal slots.
//!
//! A general request of at most [`SLAB_MAX`] bytes is rounded up to a size class
//! (eight classes per power of two, multiples of 16 bytes, and of the request's
//! alignment). Each class owns slabs: ranges that the general strategy (TLSF)
//! placed in a memory object, cut into up to 64 equal slots. A bitmask per slab
//! says which slots are free, and the slabs of a class that have a free slot form
//! a doubly linked list, so placing or freeing a block is a few bit operations:
//! no search, split or merge.
//!
//! Alignment: a slot size is a multiple of the alignment of every request of its
//! class, and a slab starts at a multiple of the largest power of two dividing the
//! slot size, so every slot is aligned. Requests that would lose more than a
//! quarter of their size to rounding stay with the general strategy.
//!
//! A slab whose last block is freed stays in its class, empty, for the next
//! blocks of the class (so blocks coming and going never make and unmake slabs).
//! The allocator gives empty slabs back to the general strategy when nothing
//! else is left in their memory object (so they never keep one alive), before
//! its pool makes a new memory object, and on `cleanup` and memory pressure.
//! [`Slabs::empty_in`] says how many bytes of empty slabs each object holds.

#![deny(unsafe_code)]

use {
    crate::{align::align_up, pool::Placement},
    alloc::vec::Vec,
};

/// Largest request (after rounding to atoms and granules) placed in a slab.
pub(crate) const SLAB_MAX: u64 = 16 * 1024;
/// Size classes: slot sizes 16..=112 (indices 0..=6), then eight per power of two
/// from 128 up to `SLAB_MAX` (a power of two, the last index).
const CLASS_COUNT: usize = ((SLAB_MAX.trailing_zeros() - 7) * 8 + 8 + 1) as usize;
/// Preferred slab size; slabs have between `MIN_SLOTS` and 64 slots.
const SLAB_BYTES: u64 = 256 * 1024;
/// Fewest slots worth a slab; with less room the general strategy places the block.
const MIN_SLOTS: u64 = 8;
/// Block handles are `slab << SLOT_BITS | slot`.
const SLOT_BITS: u32 = 6;
/// Most slabs: the slab index must fit beside the slot index in a `u32` handle.
const MAX_SLABS: usize = 1 << (32 - SLOT_BITS);
/// No slab.
const NIL: u32 = u32::MAX;

/// The class index and slot size of the smallest class whose slot holds
/// `aligned` bytes (`1..=SLAB_MAX`): slot sizes are multiples of 16 up to 128,
/// then eight steps per power of two. The slot is a multiple of every power of
/// two dividing `aligned` that is at most the class step (so of the request's
/// alignment, which divides `aligned`).
const fn class_for(aligned: u64) -> (usize, u64) {
    let step_mask = if aligned <= 128 {
        15
    } else {
        (1u64 << (63 - aligned.leading_zeros() - 3)) - 1
    };
    let slot = (aligned + step_mask) & !step_mask;
    let index = if slot < 128 {
        (slot / 16 - 1) as usize
    } else {
        let log = 63 - slot.leading_zeros();
        ((log - 7) * 8 + (slot >> (log - 3)) as u32) as usize
    };
    (index, slot)
}

/// `CLASS_BY_GRANULE[g]` is the class index of `class_for(16 * (g + 1))`: slots
/// are multiples of 16, so every size in `16 * g + 1 ..= 16 * (g + 1)` has it.
static CLASS_BY_GRANULE: [u8; (SLAB_MAX / 16) as usize] = {
    let mut table = [0u8; (SLAB_MAX / 16) as usize];
    let mut g = 0;
    while g < table.len() {
        table[g] = class_for(16 * (g as u64 + 1)).0 as u8;
        g += 1;
    }
    table
};

/// Slot size of each class index (0 for the index no class has).
static SLOT_OF_CLASS: [u32; CLASS_COUNT] = {
    let mut slots = [0u32; CLASS_COUNT];
    let mut g = 0;
    while g < CLASS_BY_GRANULE.len() {
        let (index, slot) = class_for(16 * (g as u64 + 1));
        slots[index] = slot as u32;
        g += 1;
    }
    slots
};

/// The size class of a request of `size` bytes (non-zero) aligned to
/// `align_mask + 1`: its index and slot size, or `None` when the request does not
/// suit a slab (too large, or too much lost to rounding). Two table lookups.
#[inline(always)]
pub(crate) fn class_of(size: u64, align_mask: u64) -> Option<(usize, u64)> {
    if size > SLAB_MAX || align_mask >= SLAB_MAX {
        return None;
    }
    // A multiple of the alignment (a power of two at most the slot's class
    // step, as `aligned` is then a multiple of it): the slot is too.
    let aligned = align_up(size, align_mask)?;
    if aligned > SLAB_MAX {
        return None;
    }
    let index = usize::from(CLASS_BY_GRANULE[((aligned - 1) >> 4) as usize]);
    let slot = u64::from(SLOT_OF_CLASS[index]);
    if slot - size > size / 4 {
        return None;
    }
    Some((index, slot))
}

/// [`class_of`] by the formula, for the test that the tables agree with it.
#[cfg(test)]
fn class_of_by_formula(size: u64, align_mask: u64) -> Option<(usize, u64)> {
    if size > SLAB_MAX || align_mask >= SLAB_MAX {
        return None;
    }
    let aligned = align_up(size, align_mask)?;
    let (index, slot) = class_for(aligned);
    if slot > SLAB_MAX || slot - size > size / 4 {
        return None;
    }
    Some((index, slot))
}

/// Slots of a new slab for `slot`-byte blocks when its class has `existing`
/// slabs and at most `room` bytes may go to one slab, or `None` when fewer than
/// `MIN_SLOTS` fit. A class's first slab has `MIN_SLOTS` slots and each further
/// one twice as many (up to 64 and `SLAB_BYTES`), so a class with few blocks
/// does not hold a large, mostly free slab.
pub(crate) fn slots_for(slot: u64, existing: u32, room: u64) -> Option<u32> {
    let growing = MIN_SLOTS << existing.min(3);
    let slots = (SLAB_BYTES.min(room) / slot).min(64).min(growing);
    (slots >= MIN_SLOTS).then_some(slots as u32)
}

/// Alignment mask of a slab of `slot`-byte slots: the largest power of two
/// dividing `slot`, minus one.
pub(crate) fn slab_align_mask(slot: u64) -> u64 {
    (slot & slot.wrapping_neg()) - 1
}

/// Where the general strategy placed a slab, as its pool needs it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SlabRange {
    /// Slot of the memory object in its pool.
    pub(crate) chunk: u32,
    pub(crate) offset: u64,
    /// Bytes of the slab: slot size times slots.
    pub(crate) size: u64,
    /// The general strategy's handle of the range.
    pub(crate) handle: u32,
}

/// A live slab as defragmentation sees it ([`Slabs::live_slabs`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LiveSlab {
    /// Its index, for [`Slabs::alloc_in`].
    pub(crate) index: u32,
    pub(crate) class: u8,
    /// Slot of its memory object in the pool, and its offset there.
    pub(crate) chunk: u32,
    pub(crate) offset: u64,
    /// Slot size in bytes.
    pub(crate) slot: u64,
    /// Bit `i` is set iff slot `i` holds a block.
    pub(crate) used: u64,
    /// Free slots.
    pub(crate) free: u32,
}

impl LiveSlab {
    /// Offsets in its memory object of the blocks it holds, lowest first.
    pub(crate) fn block_offsets(&self) -> impl Iterator<Item = u64> {
        let (offset, slot) = (self.offset, self.slot);
        let mut used = self.used;
        core::iter::from_fn(move || {
            let bit = used.trailing_zeros();
            used &= used.checked_sub(1)?;
            Some(offset + u64::from(bit) * slot)
        })
    }
}

/// What freeing a block in a slab did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SlabFree {
    /// The slab still holds blocks.
    Done,
    /// The slab emptied; it stays, for reuse, in the memory object at this slot
    /// of the pool (whose other ranges the caller checks: see
    /// [`Slabs::empty_in`]).
    Emptied { chunk: u32 },
}

#[derive(Clone, Copy, Debug)]
struct Slab<P> {
    range: SlabRange,
    /// What the allocator needs of the slab's memory object for every block
    /// placed in it (its handle and mapping), so that placing a block touches no
    /// other structure.
    payload: P,
    /// Slot size in bytes.
    slot: u64,
    /// Bit `i` is set iff slot `i` is free; only bits below the slot count.
    free: u64,
    /// Bits of every slot.
    all: u64,
    class: u8,
    /// Neighbours in the list of slabs of the class with a free slot (`NIL` at the
    /// ends; both `NIL` when the slab is full or dead).
    prev: u32,
    next: u32,
    /// Whether the arena entry holds a slab (else it is in `spare`).
    live: bool,
}

/// The slabs of one general pool (one memory type and resource class), each
/// with a payload `P` handed out with its blocks.
#[derive(Debug)]
pub(crate) struct Slabs<P> {
    /// Arena; an entry is live iff its index is not in `spare`.
    slabs: Vec<Slab<P>>,
    spare: Vec<u32>,
    /// First slab of each class with a free slot, or `NIL`.
    open: [u32; CLASS_COUNT],
    /// Live slabs of each class.
    count: [u32; CLASS_COUNT],
    /// Bytes of the live slabs that hold no block.
    empty_bytes: u64,
    /// `empty_in[chunk]` is the bytes of empty slabs in the memory object at that
    /// slot of the pool (missing entries are 0).
    empty_in: Vec<u64>,
    /// Bytes of live slabs.
    bytes: u64,
    /// Bytes of the blocks in them (their requested sizes).
    block_bytes: u64,
}

impl<P: Copy> Slabs<P> {
    pub(crate) fn new() -> Self {
        Slabs {
            slabs: Vec::new(),
            spare: Vec::new(),
            open: [NIL; CLASS_COUNT],
            count: [0; CLASS_COUNT],
            empty_bytes: 0,
            empty_in: Vec::new(),
            bytes: 0,
            block_bytes: 0,
        }
    }

    /// Live slabs of `class`.
    pub(crate) fn count(&self, class: usize) -> u32 {
        self.count[class]
    }

    /// Whether a slab of `class` has a free slot.
    pub(crate) fn has_open(&self, class: usize) -> bool {
        self.open[class] != NIL
    }

    /// Bytes of live slabs (held as used ranges by the general strategy).
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Bytes of the live blocks in slabs.
    pub(crate) fn block_bytes(&self) -> u64 {
        self.block_bytes
    }

    /// Places a block of `size` bytes in a slab of `class`: returns where (the
    /// memory object's slot in its pool, the offset, the block's handle) and the
    /// slab's payload, or `None` when no slab of the class has a free slot.
    #[inline(always)]
    pub(crate) fn alloc(&mut self, class: usize, size: u64) -> Option<(Placement, P)> {
        let index = self.open[class];
        if index == NIL {
            return None;
        }
        Some(self.take_slot(index, size))
    }

    /// Places a block of `size` bytes in a free slot of the slab at `index`
    /// (one [`live_slabs`](Self::live_slabs) named), if it has one:
    /// defragmentation's consolidation of a class's slabs.
    pub(crate) fn alloc_in(&mut self, index: u32, size: u64) -> Option<Placement> {
        let slab = self.slabs.get(index as usize)?;
        if !slab.live || slab.free == 0 {
            return None;
        }
        Some(self.take_slot(index, size).0)
    }

    /// Takes the lowest free slot of the live slab at `index`, which has one.
    #[inline(always)]
    fn take_slot(&mut self, index: u32, size: u64) -> (Placement, P) {
        let slab = &mut self.slabs[index as usize];
        if slab.free == slab.all {
            // An empty slab takes a block again.
            self.empty_bytes -= slab.range.size;
            self.empty_in[slab.range.chunk as usize] -= slab.range.size;
        }
        let slot = slab.free.trailing_zeros();
        slab.free &= slab.free - 1;
        let found = (
            Placement {
                chunk: slab.range.chunk,
                offset: slab.range.offset + u64::from(slot) * slab.slot,
                handle: index << SLOT_BITS | slot,
            },
            slab.payload,
        );
        if slab.free == 0 {
            self.unlink(index);
        }
        self.block_bytes += size;
        found
    }

    /// Every live slab, for defragmentation's planning.
    pub(crate) fn live_slabs(&self) -> impl Iterator<Item = LiveSlab> + '_ {
        self.slabs
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(index, s)| LiveSlab {
                index: index as u32,
                class: s.class,
                chunk: s.range.chunk,
                offset: s.range.offset,
                slot: s.slot,
                used: s.all & !s.free,
                free: s.free.count_ones(),
            })
    }

    /// Adds a slab of `slots` slots of `slot` bytes for `class` in `range`, with
    /// `payload` for its blocks, or returns `false` when the arena is full (the
    /// caller then gives the range back).
    pub(crate) fn add(
        &mut self,
        class: usize,
        slot: u64,
        slots: u32,
        range: SlabRange,
        payload: P,
    ) -> bool {
        debug_assert!((1..=64).contains(&slots) && range.size == slot * u64::from(slots));
        let all = u64::MAX >> (64 - slots);
        let slab = Slab {
            range,
            payload,
            slot,
            free: all,
            all,
            class: class as u8,
            prev: NIL,
            next: NIL,
            live: true,
        };
        let index = match self.spare.pop() {
            Some(index) => {
                self.slabs[index as usize] = slab;
                index
            }
            None if self.slabs.len() < MAX_SLABS => {
                self.slabs.push(slab);
                (self.slabs.len() - 1) as u32
            }
            None => return false,
        };
        self.link(index);
        self.count[class] += 1;
        self.bytes += range.size;
        // Empty until its first block.
        self.add_empty(range);
        true
    }

    /// Frees the block of `size` bytes with `handle`. A slab that empties stays
    /// in its class's list for reuse: the allocator gives empty slabs back to the
    /// general strategy when they are all that is left in their memory object,
    /// when the pool needs room, and on cleanup and memory pressure.
    #[inline(always)]
    pub(crate) fn free(&mut self, handle: u32, size: u64) -> SlabFree {
        let index = handle >> SLOT_BITS;
        let bit = 1u64 << (handle & ((1 << SLOT_BITS) - 1));
        self.block_bytes -= size;
        let slab = &mut self.slabs[index as usize];
        debug_assert!(slab.live && slab.free & bit == 0, "slab slot freed twice");
        let was_full = slab.free == 0;
        slab.free |= bit;
        if slab.free == slab.all {
            let range = slab.range;
            self.add_empty(range);
            if was_full {
                self.link(index);
            }
            return SlabFree::Emptied { chunk: range.chunk };
        }
        if was_full {
            self.link(index);
        }
        SlabFree::Done
    }

    /// Counts the slab at `range` as empty.
    fn add_empty(&mut self, range: SlabRange) {
        self.empty_bytes += range.size;
        let chunk = range.chunk as usize;
        if self.empty_in.len() <= chunk {
            self.empty_in.resize(chunk + 1, 0);
        }
        self.empty_in[chunk] += range.size;
    }

    /// Bytes of empty slabs in the memory object at slot `chunk` of the pool.
    #[inline(always)]
    pub(crate) fn empty_in(&self, chunk: u32) -> u64 {
        self.empty_in.get(chunk as usize).copied().unwrap_or(0)
    }

    /// Whether any live slab is empty.
    pub(crate) fn has_empty(&self) -> bool {
        self.empty_bytes > 0
    }

    /// Takes out every empty slab in the memory object at slot `chunk`,
    /// returning their ranges.
    pub(crate) fn take_empty_in(&mut self, chunk: u32) -> Vec<SlabRange> {
        self.take_where(|slab| slab.range.chunk == chunk)
    }

    /// Takes out every empty slab, returning their ranges.
    pub(crate) fn take_empty(&mut self) -> Vec<SlabRange> {
        self.take_where(|_| true)
    }

    fn take_where(&mut self, pick: impl Fn(&Slab<P>) -> bool) -> Vec<SlabRange> {
        let empty: Vec<u32> = (0..self.slabs.len() as u32)
            .filter(|&i| {
                let slab = &self.slabs[i as usize];
                slab.live && slab.free == slab.all && pick(slab)
            })
            .collect();
        empty.into_iter().map(|index| self.remove(index)).collect()
    }

    /// Kills the empty slab at `index` (in its class's open list).
    fn remove(&mut self, index: u32) -> SlabRange {
        self.unlink(index);
        let slab = &mut self.slabs[index as usize];
        debug_assert_eq!(slab.free, slab.all, "only empty slabs are removed");
        self.empty_bytes -= slab.range.size;
        self.empty_in[slab.range.chunk as usize] -= slab.range.size;
        self.count[usize::from(slab.class)] -= 1;
        slab.live = false;
        self.spare.push(index);
        self.bytes -= slab.range.size;
        slab.range
    }

    /// Puts the slab at `index` first in its class's open list.
    fn link(&mut self, index: u32) {
        let class = usize::from(self.slabs[index as usize].class);
        let head = self.open[class];
        let slab = &mut self.slabs[index as usize];
        slab.prev = NIL;
        slab.next = head;
        if head != NIL {
            self.slabs[head as usize].prev = index;
        }
        self.open[class] = index;
    }

    /// Takes the slab at `index` out of its class's open list.
    fn unlink(&mut self, index: u32) {
        let slab = &mut self.slabs[index as usize];
        let (prev, next, class) = (slab.prev, slab.next, usize::from(slab.class));
        slab.prev = NIL;
        slab.next = NIL;
        if prev == NIL {
            self.open[class] = next;
        } else {
            self.slabs[prev as usize].next = next;
        }
        if next != NIL {
            self.slabs[next as usize].prev = prev;
        }
    }

    /// Whether no slab is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.slabs.len() == self.spare.len()
    }

    /// Calls `f(chunk, used slots)` for every live slab.
    pub(crate) fn for_each_slab(&self, mut f: impl FnMut(u32, u32)) {
        for slab in self.slabs.iter().filter(|s| s.live) {
            f(slab.range.chunk, (slab.all & !slab.free).count_ones());
        }
    }

    /// Used slots of every live slab: the blocks placed in slabs.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(crate) fn used_slots(&self) -> u64 {
        let mut used = 0;
        self.for_each_slab(|_, n| used += u64::from(n));
        used
    }

    /// Live slab ranges, for checks.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(crate) fn ranges(&self) -> impl Iterator<Item = SlabRange> + '_ {
        self.slabs.iter().filter(|s| s.live).map(|s| s.range)
    }

    /// Walks every slab and list; panics if an invariant does not hold.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(crate) fn check_invariants(&self) {
        let mut empty_bytes = 0;
        let mut empty_in: Vec<u64> = Vec::new();
        let mut bytes = 0;
        let mut open = 0usize;
        let mut count = [0u32; CLASS_COUNT];
        for (index, slab) in self.slabs.iter().enumerate() {
            assert_eq!(
                !slab.live,
                self.spare.contains(&(index as u32)),
                "slab {index}: spare list disagrees with the arena"
            );
            if !slab.live {
                continue;
            }
            let slots = slab.all.count_ones();
            assert_eq!(
                slab.all,
                u64::MAX >> (64 - slots),
                "slab {index}: slot mask"
            );
            assert_eq!(
                slab.free & !slab.all,
                0,
                "slab {index}: free bit past the slots"
            );
            assert_eq!(
                slab.range.size,
                slab.slot * u64::from(slots),
                "slab {index}: size is not slots times slot size"
            );
            assert_eq!(
                slab.range.offset & slab_align_mask(slab.slot),
                0,
                "slab {index}: misaligned"
            );
            if slab.free == slab.all {
                empty_bytes += slab.range.size;
                let chunk = slab.range.chunk as usize;
                if empty_in.len() <= chunk {
                    empty_in.resize(chunk + 1, 0);
                }
                empty_in[chunk] += slab.range.size;
            }
            bytes += slab.range.size;
            count[usize::from(slab.class)] += 1;
            if slab.free != 0 {
                open += 1;
            }
        }
        assert_eq!(bytes, self.bytes, "slab bytes differ");
        assert_eq!(empty_bytes, self.empty_bytes, "empty slab bytes differ");
        for (chunk, &empty) in self.empty_in.iter().enumerate() {
            assert_eq!(
                empty,
                empty_in.get(chunk).copied().unwrap_or(0),
                "empty slab bytes of memory object {chunk} differ"
            );
        }
        assert_eq!(count, self.count, "slab counts per class differ");
        let mut listed = 0usize;
        for (class, &head) in self.open.iter().enumerate() {
            let mut prev = NIL;
            let mut index = head;
            while index != NIL {
                let slab = &self.slabs[index as usize];
                assert!(slab.live && slab.free != 0, "a full or dead slab is open");
                assert_eq!(
                    usize::from(slab.class),
                    class,
                    "slab in another class's list"
                );
                assert_eq!(slab.prev, prev, "broken open list");
                listed += 1;
                prev = index;
                index = slab.next;
            }
        }
        assert_eq!(listed, open, "a slab with room is missing from its list");
        // No two slabs share a byte: by memory object and offset, each ends before
        // the next starts.
        let mut ranges: Vec<SlabRange> = self.ranges().collect();
        ranges.sort_unstable_by_key(|r| (r.chunk, r.offset));
        for pair in ranges.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert!(
                a.chunk != b.chunk || a.offset + a.size <= b.offset,
                "slabs overlap in memory object {}: {}+{} and {}+{}",
                a.chunk,
                a.offset,
                a.size,
                b.offset,
                b.size
            );
        }
        let used_slot_bytes: u64 = self
            .slabs
            .iter()
            .filter(|s| s.live)
            .map(|s| u64::from((s.all & !s.free).count_ones()) * s.slot)
            .sum();
        assert!(
            self.block_bytes <= used_slot_bytes,
            "block bytes exceed the used slots"
        );
    }
}

#[cfg(test)]
mod tests;
