//! The memory objects of a pool, bucketed by the size class of their largest
//! free range, so that the best-fitting object is found with two bit scans
//! instead of a look at every object.
//!
//! A pool keeps, per object, the summary of its sub-allocator
//! ([`SubAllocator::free_summary`](crate::strategy::SubAllocator::free_summary):
//! the size class of the largest free range plus one, or 0 when nothing is
//! free). This index holds every object with a non-zero summary in the bucket
//! of that summary: a doubly linked list through per-slot links, and two
//! bitmaps over the buckets, as the TLSF strategy keeps its free ranges.

#![deny(unsafe_code)]

use alloc::vec::Vec;

/// No slot.
const NIL: u32 = u32::MAX;

/// Buckets per first-level bitmap bit.
const ROW: usize = 32;

#[derive(Debug, Default)]
pub(crate) struct ByLargest {
    /// Bit `r` is set iff `rows[r] != 0`.
    top: u64,
    /// Bit `b` of `rows[r]` is set iff bucket `r * ROW + b` holds an object.
    rows: Vec<u32>,
    /// First slot of each bucket, indexed by summary; grown as summaries come.
    heads: Vec<u32>,
    /// Per slot: the previous and next slot in its bucket's list.
    links: Vec<(u32, u32)>,
}

impl ByLargest {
    /// Moves `slot` from the bucket of summary `old` to that of `new` (0: in
    /// no bucket).
    #[inline(always)]
    pub(crate) fn update(&mut self, slot: u32, old: u32, new: u32) {
        if old == new {
            return;
        }
        if old != 0 {
            self.unlink(slot, old);
        }
        if new != 0 {
            self.link(slot, new);
        }
    }

    /// The slot whose summary is the smallest at or above `min` (`min >= 1`),
    /// the lowest slot of equals, if any.
    #[inline(always)]
    pub(crate) fn at_least(&self, min: u32) -> Option<u32> {
        // The lowest slot of the bucket: blocks then gather in the oldest
        // objects and the newer ones can empty out. (Buckets hold a few
        // objects: their largest free ranges differ by less than 1/32.)
        let mut slot = self.heads[self.bucket_at_least(min)?];
        let mut lowest = slot;
        while slot != NIL {
            lowest = lowest.min(slot);
            slot = self.links[slot as usize].1;
        }
        Some(lowest)
    }

    /// [`at_least`](Self::at_least), with the lowest slot among the first
    /// `walk` of the bucket: for sets whose buckets may hold many slots
    /// (leases of one size), so that the search stays O(1).
    #[cfg(feature = "std")]
    #[inline(always)]
    pub(crate) fn at_least_within(&self, min: u32, walk: usize) -> Option<u32> {
        let mut slot = self.heads[self.bucket_at_least(min)?];
        let mut lowest = slot;
        for _ in 0..walk {
            if slot == NIL {
                break;
            }
            lowest = lowest.min(slot);
            slot = self.links[slot as usize].1;
        }
        Some(lowest)
    }

    /// The non-empty bucket of the smallest summary at or above `min`.
    #[inline(always)]
    fn bucket_at_least(&self, min: u32) -> Option<usize> {
        let (row, bit) = (min as usize / ROW, min as usize % ROW);
        let here = self.rows.get(row).map_or(0, |r| r & (!0u32 << bit));
        if here != 0 {
            return Some(row * ROW + here.trailing_zeros() as usize);
        }
        let above = self.top & (!0u64).checked_shl(row as u32 + 1).unwrap_or(0);
        if above == 0 {
            return None;
        }
        let row = above.trailing_zeros() as usize;
        Some(row * ROW + self.rows[row].trailing_zeros() as usize)
    }

    #[inline(always)]
    fn link(&mut self, slot: u32, summary: u32) {
        let bucket = summary as usize;
        if bucket >= self.heads.len() {
            self.grow(bucket);
        }
        if slot as usize >= self.links.len() {
            self.links.resize(slot as usize + 1, (NIL, NIL));
        }
        let head = self.heads[bucket];
        self.links[slot as usize] = (NIL, head);
        if head != NIL {
            self.links[head as usize].0 = slot;
        }
        self.heads[bucket] = slot;
        let row = bucket / ROW;
        self.rows[row] |= 1 << (bucket % ROW);
        self.top |= 1 << row;
    }

    #[inline(always)]
    fn unlink(&mut self, slot: u32, summary: u32) {
        let bucket = summary as usize;
        let (prev, next) = self.links[slot as usize];
        if prev != NIL {
            self.links[prev as usize].1 = next;
        } else {
            self.heads[bucket] = next;
            if next == NIL {
                let row = bucket / ROW;
                self.rows[row] &= !(1 << (bucket % ROW));
                if self.rows[row] == 0 {
                    self.top &= !(1 << row);
                }
            }
        }
        if next != NIL {
            self.links[next as usize].0 = prev;
        }
    }

    /// Makes room for buckets up to `bucket` (whole rows).
    #[cold]
    fn grow(&mut self, bucket: usize) {
        let rows = bucket / ROW + 1;
        debug_assert!(rows <= 64, "summaries are below 64 * ROW");
        self.rows.resize(rows, 0);
        self.heads.resize(rows * ROW, NIL);
    }

    /// Panics unless the buckets hold exactly the slots of `summaries` with a
    /// non-zero summary, each in its own bucket.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(crate) fn check(&self, summaries: &[u32]) {
        let mut seen = 0usize;
        for (bucket, &head) in self.heads.iter().enumerate() {
            let (row, bit) = (bucket / ROW, bucket % ROW);
            assert_eq!(
                self.rows[row] >> bit & 1 == 1,
                head != NIL,
                "bucket bitmap disagrees with bucket {bucket}"
            );
            let mut prev = NIL;
            let mut slot = head;
            while slot != NIL {
                assert_eq!(
                    summaries.get(slot as usize).copied(),
                    Some(bucket as u32),
                    "slot {slot} in the bucket of another summary"
                );
                assert_eq!(self.links[slot as usize].0, prev, "broken bucket link");
                seen += 1;
                prev = slot;
                slot = self.links[slot as usize].1;
            }
        }
        for (row, &bits) in self.rows.iter().enumerate() {
            assert_eq!(self.top >> row & 1 == 1, bits != 0, "top bitmap");
        }
        let listed = summaries.iter().filter(|&&s| s != 0).count();
        assert_eq!(seen, listed, "a memory object with room is in no bucket");
    }
}

#[cfg(test)]
mod tests {
    use super::ByLargest;

    /// The index against a plain search, on a deterministic random walk.
    #[test]
    fn finds_the_smallest_summary_at_least() {
        let mut index = ByLargest::default();
        let mut summaries = alloc::vec![0u32; 40];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let slot = (seed % 40) as usize;
            let new = if seed >> 40 & 3 == 0 {
                0
            } else {
                (seed >> 8) as u32 % 1_900
            };
            index.update(slot as u32, summaries[slot], new);
            summaries[slot] = new;
            index.check(&summaries);
            let min = 1 + (seed >> 20) as u32 % 1_900;
            let expected = summaries.iter().copied().filter(|&s| s >= min).min();
            let found = index.at_least(min).map(|slot| summaries[slot as usize]);
            assert_eq!(found, expected, "smallest summary at least {min}");
        }
    }
}
