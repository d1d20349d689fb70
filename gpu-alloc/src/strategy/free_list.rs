//! General-purpose best-fit sub-allocation over a sorted list of free ranges.
//!
//! Allocation takes the smallest free range that fits the size and alignment
//! (O(log n) plus the ranges skipped for alignment); freeing merges the range with
//! its free neighbours (O(log n)), so the free list never holds two adjacent ranges.

use {
    super::{align_up, SubAllocator},
    alloc::collections::{BTreeMap, BTreeSet},
};

#[derive(Debug)]
pub(crate) struct FreeList {
    /// Size of the memory object.
    capacity: u64,
    /// Free ranges keyed by offset, valued by size. Ranges are non-empty, lie inside
    /// `0..capacity`, do not overlap and are never adjacent (adjacent ranges merge).
    by_offset: BTreeMap<u64, u64>,
    /// The same ranges as `(size, offset)`: `(s, o)` is here iff `by_offset[o] == s`.
    by_size: BTreeSet<(u64, u64)>,
    /// Bytes in live ranges: `capacity - sum of free sizes`.
    used: u64,
    /// Live ranges.
    live: u64,
}

impl FreeList {
    fn insert_free(&mut self, offset: u64, size: u64) {
        self.by_offset.insert(offset, size);
        self.by_size.insert((size, offset));
    }

    fn remove_free(&mut self, offset: u64, size: u64) {
        self.by_offset.remove(&offset);
        self.by_size.remove(&(size, offset));
    }
}

impl SubAllocator for FreeList {
    fn new(capacity: u64) -> Self {
        let mut list = FreeList {
            capacity,
            by_offset: BTreeMap::new(),
            by_size: BTreeSet::new(),
            used: 0,
            live: 0,
        };
        if capacity > 0 {
            list.insert_free(0, capacity);
        }
        list
    }

    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)> {
        debug_assert!(size > 0);
        let (free_size, free_offset, aligned) =
            self.by_size
                .range((size, 0)..)
                .find_map(|&(free_size, free_offset)| {
                    let aligned = align_up(free_offset, align_mask)?;
                    let end = aligned.checked_add(size)?;
                    (end <= free_offset + free_size).then_some((free_size, free_offset, aligned))
                })?;
        self.remove_free(free_offset, free_size);
        if aligned > free_offset {
            self.insert_free(free_offset, aligned - free_offset);
        }
        let end = aligned + size;
        let free_end = free_offset + free_size;
        if free_end > end {
            self.insert_free(end, free_end - end);
        }
        self.used += size;
        self.live += 1;
        Some((aligned, 0))
    }

    fn free(&mut self, offset: u64, size: u64, _handle: u32) {
        debug_assert!(offset + size <= self.capacity);
        let mut start = offset;
        let mut end = offset + size;
        if let Some((&prev_offset, &prev_size)) = self.by_offset.range(..offset).next_back() {
            debug_assert!(prev_offset + prev_size <= offset, "double free");
            if prev_offset + prev_size == offset {
                self.remove_free(prev_offset, prev_size);
                start = prev_offset;
            }
        }
        if let Some((&next_offset, &next_size)) = self.by_offset.range(offset..).next() {
            debug_assert!(next_offset >= end, "double free");
            if next_offset == end {
                self.remove_free(next_offset, next_size);
                end = next_offset + next_size;
            }
        }
        self.insert_free(start, end - start);
        self.used -= size;
        self.live -= 1;
    }

    fn is_empty(&self) -> bool {
        self.used == 0
    }

    fn live_ranges(&self) -> u64 {
        self.live
    }

    fn used(&self) -> u64 {
        self.used
    }

    fn largest_free(&self) -> u64 {
        self.by_size.last().map_or(0, |&(size, _)| size)
    }

    fn for_each_range(&self, f: &mut dyn FnMut(u64, u64, bool)) {
        let mut cursor = 0;
        for (&offset, &size) in &self.by_offset {
            if offset > cursor {
                f(cursor, offset - cursor, true);
            }
            f(offset, size, false);
            cursor = offset + size;
        }
        if cursor < self.capacity {
            f(cursor, self.capacity - cursor, true);
        }
    }

    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    fn check_invariants(&self) {
        assert_eq!(
            self.by_offset.len(),
            self.by_size.len(),
            "index sizes differ"
        );
        let mut free_total = 0u64;
        let mut prev_end: Option<u64> = None;
        for (&offset, &size) in &self.by_offset {
            assert!(size > 0, "empty free range at {offset}");
            assert!(
                offset + size <= self.capacity,
                "free range {offset}+{size} outside capacity {}",
                self.capacity
            );
            if let Some(prev_end) = prev_end {
                assert!(
                    prev_end < offset,
                    "free ranges overlap or touch at {offset}"
                );
            }
            assert!(
                self.by_size.contains(&(size, offset)),
                "range {offset}+{size} missing from the size index"
            );
            prev_end = Some(offset + size);
            free_total += size;
        }
        assert_eq!(
            free_total + self.used,
            self.capacity,
            "free + used != capacity"
        );
    }
}

#[cfg(test)]
mod tests;
