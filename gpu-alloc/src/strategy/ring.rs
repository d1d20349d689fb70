//! Ring sub-allocation for per-frame upload data: ranges placed in allocation
//! order, freed in order (or all at once at a frame fence).
//!
//! Allocation places a range at the head (O(1)). When it does not fit between
//! the head and the end of the capacity, it wraps to offset 0 if it fits before
//! the oldest live range (the tail), so the space the oldest ranges gave back is
//! reused inside the same memory object. Freeing the oldest range advances the
//! tail (O(1)); a range freed out of order is only marked, and its space comes
//! back when every older range is freed (the marked entries are popped from the
//! front then, amortized O(1)). With nothing live, head and tail return to 0.
//!
//! The live ranges form one stretch going round the capacity: from the tail up
//! to the head, or, once wrapped, from the tail up to where the last range
//! before the wrap ended (`wrap_end`) and then from 0 up to the head. Space
//! between `wrap_end` and the end of the capacity is free but not allocatable
//! until the tail wraps too: taking it would put a newer range after older
//! ones at higher offsets and break the order.
//!
//! Entries live in a `VecDeque` in allocation order; the handle of a range is
//! its sequence number (wrapping `u32`), so its entry is found by subtracting
//! the front's sequence number: no search.

use {super::SubAllocator, crate::align::align_up, alloc::collections::VecDeque};

/// One range, live or freed out of order and not yet reclaimed.
#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: u64,
    /// `offset + size` of the range as allocated.
    end: u64,
    /// Freed, but an older range is still live, so its space is not back yet.
    freed: bool,
}

#[derive(Debug)]
pub(crate) struct Ring {
    /// Size of the memory object.
    capacity: u64,
    /// Ranges in allocation order. The front entry is never `freed` (freed
    /// entries at the front are popped at once). Entries follow each other in
    /// offset order, `entries[i].end <= entries[i + 1].offset`, except at most
    /// once, at the wrap, where `entries[i + 1].offset == 0`.
    entries: VecDeque<Entry>,
    /// Sequence number (the handle) of `entries[0]`; entry `i` has sequence
    /// number `front_seq + i` (wrapping).
    front_seq: u32,
    /// Offset of the oldest live range (`entries[0].offset`); 0 when empty.
    tail: u64,
    /// End of the newest range (`entries.back().end`); 0 when empty. Ranges are
    /// wrapped iff `head <= tail` and some entry is there.
    head: u64,
    /// When wrapped: the end of the newest range at or after `tail` (where the
    /// stretch from the tail stops); `tail < wrap_end <= capacity`. Meaningless
    /// (and kept 0) when not wrapped.
    wrap_end: u64,
    /// Number of live ranges (entries not `freed`).
    live: u64,
    /// Bytes in live ranges.
    used: u64,
}

impl Ring {
    /// Whether the newest ranges have wrapped to offset 0 while older ones are
    /// still at higher offsets.
    #[inline(always)]
    fn wrapped(&self) -> bool {
        !self.entries.is_empty() && self.head <= self.tail
    }

    /// Where [`alloc`](SubAllocator::alloc) would place `size` bytes at
    /// `align_mask`, and whether that placement wraps; `None` if nowhere. The
    /// one decision that `alloc` and `can_alloc` both take.
    #[inline(always)]
    fn place(&self, size: u64, align_mask: u64) -> Option<(u64, bool)> {
        // A handle must name one entry only: never more than `u32::MAX` of them.
        if self.entries.len() >= u32::MAX as usize {
            return None;
        }
        let fits_before =
            |offset: u64, limit: u64| offset.checked_add(size).is_some_and(|end| end <= limit);
        if self.entries.is_empty() {
            // Offset 0 is aligned to anything.
            return fits_before(0, self.capacity).then_some((0, false));
        }
        let at_head = align_up(self.head, align_mask);
        if self.wrapped() {
            // Only the free stretch between the head and the tail is left.
            return at_head
                .filter(|&offset| fits_before(offset, self.tail))
                .map(|offset| (offset, false));
        }
        match at_head.filter(|&offset| fits_before(offset, self.capacity)) {
            Some(offset) => Some((offset, false)),
            // Wrap: offset 0, before the oldest live range.
            None => fits_before(0, self.tail).then_some((0, true)),
        }
    }

    /// Pops the freed entries at the front and moves the tail to the oldest
    /// live range, or resets the ring when nothing is live.
    #[inline(always)]
    fn reclaim_front(&mut self) {
        while self.entries.front().is_some_and(|entry| entry.freed) {
            self.entries.pop_front();
            self.front_seq = self.front_seq.wrapping_add(1);
        }
        match self.entries.front() {
            Some(front) => {
                // The tail passing the wrap unwraps the ring.
                if front.offset < self.tail {
                    self.wrap_end = 0;
                }
                self.tail = front.offset;
            }
            None => {
                self.head = 0;
                self.tail = 0;
                self.wrap_end = 0;
            }
        }
    }
}

impl SubAllocator for Ring {
    /// Ring blocks live for a frame or a few: as with transient pools, a ring
    /// pool's use swings from nothing to its peak and back every frame, so it
    /// remembers its peak as long as a linear pool does.
    fn min_epoch() -> u64 {
        2_048
    }

    /// A ring pool's newest object is the one with room: older ones empty as
    /// their frames end, and the largest free range changes with every block.
    fn best_fit_objects() -> bool {
        false
    }

    fn new(capacity: u64) -> Self {
        Ring {
            capacity,
            entries: VecDeque::new(),
            front_seq: 0,
            tail: 0,
            head: 0,
            wrap_end: 0,
            live: 0,
            used: 0,
        }
    }

    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)> {
        debug_assert!(size > 0);
        let (offset, wraps) = self.place(size, align_mask)?;
        if wraps {
            self.wrap_end = self.head;
        }
        let handle = self.front_seq.wrapping_add(self.entries.len() as u32);
        self.entries.push_back(Entry {
            offset,
            end: offset + size,
            freed: false,
        });
        self.head = offset + size;
        self.live += 1;
        self.used += size;
        Some((offset, handle))
    }

    fn can_alloc(&self, size: u64, align_mask: u64) -> bool {
        self.place(size, align_mask).is_some()
    }

    fn free(&mut self, offset: u64, size: u64, handle: u32) {
        let index = handle.wrapping_sub(self.front_seq) as usize;
        let entry = &mut self.entries[index];
        debug_assert!(
            !entry.freed && entry.offset == offset && entry.end == offset + size,
            "a ring range freed twice or with another's handle"
        );
        entry.freed = true;
        self.live -= 1;
        self.used -= size;
        if index == 0 {
            self.reclaim_front();
        }
    }

    fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn used(&self) -> u64 {
        self.used
    }

    fn live_ranges(&self) -> u64 {
        self.live
    }

    /// Exact for alignment 1: the longer of the two stretches `place` tries.
    fn largest_free(&self) -> u64 {
        if self.entries.is_empty() {
            self.capacity
        } else if self.wrapped() {
            self.tail - self.head
        } else {
            (self.capacity - self.head).max(self.tail)
        }
    }

    /// Used ranges run from the start of the oldest entry of a stretch to the
    /// end of its newest, so they merge neighbouring live ranges and include
    /// alignment padding and ranges freed out of order but not yet reclaimed;
    /// when wrapped, the free range after `wrap_end` is not allocatable until
    /// the tail wraps (see the module docs).
    fn for_each_range(&self, f: &mut dyn FnMut(u64, u64, bool)) {
        // (start, end, used) pieces in offset order; empty ones are skipped.
        let pieces = if self.entries.is_empty() {
            [
                (0, self.capacity, false),
                (0, 0, false),
                (0, 0, false),
                (0, 0, false),
            ]
        } else if self.wrapped() {
            [
                (0, self.head, true),
                (self.head, self.tail, false),
                (self.tail, self.wrap_end, true),
                (self.wrap_end, self.capacity, false),
            ]
        } else {
            [
                (0, self.tail, false),
                (self.tail, self.head, true),
                (self.head, self.capacity, false),
                (0, 0, false),
            ]
        };
        for (start, end, used) in pieces {
            if end > start {
                f(start, end - start, used);
            }
        }
    }

    fn check_invariants(&self) {
        let Some(front) = self.entries.front() else {
            assert_eq!(
                (self.head, self.tail, self.wrap_end),
                (0, 0, 0),
                "an empty ring with head, tail or wrap end not at 0"
            );
            assert_eq!(
                (self.live, self.used),
                (0, 0),
                "an empty ring with live ranges"
            );
            return;
        };
        assert!(!front.freed, "a freed entry at the front");
        assert_eq!(self.tail, front.offset, "tail is not the oldest range");
        let back = self.entries.back().expect("not empty");
        assert_eq!(
            self.head, back.end,
            "head is not the end of the newest range"
        );
        assert!(self.head <= self.capacity, "head past capacity");
        let mut wraps = 0;
        let mut live = 0;
        let mut used = 0;
        let mut last_end = self.tail;
        for (i, entry) in self.entries.iter().enumerate() {
            assert!(entry.offset < entry.end, "an empty range");
            assert!(entry.end <= self.capacity, "a range past capacity");
            if entry.offset < last_end {
                assert!(i > 0 && entry.offset == 0, "ranges out of offset order");
                assert_eq!(
                    self.wrap_end, last_end,
                    "wrap end is not where ranges wrapped"
                );
                wraps += 1;
            }
            if !entry.freed {
                live += 1;
                used += entry.end - entry.offset;
            }
            last_end = entry.end;
        }
        assert!(wraps <= 1, "ranges wrap more than once");
        assert_eq!(
            wraps == 1,
            self.wrapped(),
            "wrapped, but head is after tail"
        );
        if wraps == 1 {
            assert!(
                self.head <= self.tail,
                "the newest ranges run into the oldest"
            );
        } else {
            assert_eq!(self.wrap_end, 0, "a wrap end while not wrapped");
        }
        assert_eq!(live, self.live, "live count differs");
        assert_eq!(used, self.used, "used bytes differ");
    }
}

#[cfg(test)]
mod tests;
