//! Linear (bump) sub-allocation for short-lived `TRANSIENT` requests.
//!
//! Allocation bumps a head offset (O(1)); freeing only counts down, except that
//! freeing the most recent range moves the head back, and once every range is free
//! the head returns to zero. Holding transient blocks for long wastes memory: the
//! space of ranges freed out of order is reused only when the object empties.

use {super::SubAllocator, crate::align::align_up};

#[derive(Debug)]
pub(crate) struct Linear {
    /// Size of the memory object.
    capacity: u64,
    /// Every live range lies in `0..head`; `head <= capacity`; `head == 0` when
    /// `live == 0`.
    head: u64,
    /// Number of live ranges.
    live: u64,
    /// Bytes in live ranges; `used <= head`.
    used: u64,
}

impl SubAllocator for Linear {
    /// Transient blocks live for a frame or so, and a transient pool's use
    /// swings from nothing to its peak and back every frame: it remembers
    /// its peak over thousands of blocks (the frame-staging trace in
    /// `BENCHMARKS.md` made and freed memory objects every few frames with
    /// the general pools' 128).
    fn min_epoch() -> u64 {
        2_048
    }

    /// A transient pool's newest object is the one with room: older ones
    /// empty as their frames end.
    fn best_fit_objects() -> bool {
        false
    }

    fn new(capacity: u64) -> Self {
        Linear {
            capacity,
            head: 0,
            live: 0,
            used: 0,
        }
    }

    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)> {
        debug_assert!(size > 0);
        let offset = align_up(self.head, align_mask)?;
        let end = offset.checked_add(size)?;
        if end > self.capacity {
            return None;
        }
        self.head = end;
        self.live += 1;
        self.used += size;
        Some((offset, 0))
    }

    fn can_alloc(&self, size: u64, align_mask: u64) -> bool {
        align_up(self.head, align_mask)
            .and_then(|offset| offset.checked_add(size))
            .is_some_and(|end| end <= self.capacity)
    }

    fn free(&mut self, offset: u64, size: u64, _handle: u32) {
        debug_assert!(self.live > 0 && offset + size <= self.head);
        self.live -= 1;
        self.used -= size;
        if self.live == 0 {
            self.head = 0;
        } else if offset + size == self.head {
            self.head = offset;
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

    fn largest_free(&self) -> u64 {
        self.capacity - self.head
    }

    fn for_each_range(&self, f: &mut dyn FnMut(u64, u64, bool)) {
        if self.head > 0 {
            f(0, self.head, true);
        }
        if self.head < self.capacity {
            f(self.head, self.capacity - self.head, false);
        }
    }

    fn check_invariants(&self) {
        assert!(self.head <= self.capacity, "head past capacity");
        assert!(self.used <= self.head, "more bytes used than bumped");
        assert_eq!(
            self.live == 0,
            self.used == 0,
            "live count and used bytes disagree"
        );
        if self.live == 0 {
            assert_eq!(self.head, 0, "empty linear allocator with head != 0");
        }
    }
}
