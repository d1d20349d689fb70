use {super::*, proptest::prelude::*};

/// Allocates and checks the offset `alloc` returns and that `can_alloc` agreed.
fn alloc_at(ring: &mut Ring, size: u64, align_mask: u64, expected: Option<u64>) -> u32 {
    assert_eq!(ring.can_alloc(size, align_mask), expected.is_some());
    let got = ring.alloc(size, align_mask);
    ring.check_invariants();
    assert_eq!(
        got.map(|(offset, _)| offset),
        expected,
        "alloc({size}, {align_mask})"
    );
    got.map_or(u32::MAX, |(_, handle)| handle)
}

fn ranges(ring: &Ring) -> Vec<(u64, u64, bool)> {
    let mut ranges = Vec::new();
    ring.for_each_range(&mut |offset, size, used| ranges.push((offset, size, used)));
    ranges
}

#[test]
fn in_order_frees_move_the_tail_and_empty_resets() {
    let mut ring = Ring::new(100);
    let a = alloc_at(&mut ring, 30, 0, Some(0));
    let b = alloc_at(&mut ring, 30, 0, Some(30));
    assert_eq!(ranges(&ring), [(0, 60, true), (60, 40, false)]);
    ring.free(0, 30, a);
    ring.check_invariants();
    assert_eq!(
        ranges(&ring),
        [(0, 30, false), (30, 30, true), (60, 40, false)]
    );
    assert_eq!(ring.largest_free(), 40);
    ring.free(30, 30, b);
    ring.check_invariants();
    assert!(ring.is_empty());
    assert_eq!((ring.head, ring.tail), (0, 0));
    assert_eq!(ranges(&ring), [(0, 100, false)]);
    // The next range starts at 0 again, not at the old head.
    alloc_at(&mut ring, 100, 0, Some(0));
}

#[test]
fn wraps_to_zero_before_the_tail() {
    let mut ring = Ring::new(100);
    let a = alloc_at(&mut ring, 40, 0, Some(0));
    let b = alloc_at(&mut ring, 40, 0, Some(40));
    ring.free(0, 40, a);
    // 30 bytes do not fit in 80..100: they wrap to 0, before the tail at 40.
    let c = alloc_at(&mut ring, 30, 0, Some(0));
    assert!(ring.wrapped());
    assert_eq!(
        ranges(&ring),
        [
            (0, 30, true),
            (30, 10, false),
            (40, 40, true),
            (80, 20, false)
        ]
    );
    // Wrapped, only 30..40 is allocatable: 80..100 waits for the tail to wrap.
    assert_eq!(ring.largest_free(), 10);
    alloc_at(&mut ring, 11, 0, None);
    let d = alloc_at(&mut ring, 10, 0, Some(30));
    // Full: head meets tail.
    alloc_at(&mut ring, 1, 0, None);
    ring.free(40, 40, b);
    ring.check_invariants();
    assert!(!ring.wrapped());
    assert_eq!(ring.tail, 0);
    assert_eq!(ring.largest_free(), 60);
    alloc_at(&mut ring, 60, 0, Some(40));
    ring.free(0, 30, c);
    ring.free(30, 10, d);
    ring.check_invariants();
    assert_eq!(ring.live_ranges(), 1);
}

#[test]
fn out_of_order_frees_come_back_with_the_oldest() {
    let mut ring = Ring::new(100);
    let handles: Vec<u32> = (0..4)
        .map(|i| alloc_at(&mut ring, 25, 0, Some(i * 25)))
        .collect();
    // Free the second and third: nothing comes back yet.
    ring.free(25, 25, handles[1]);
    ring.free(50, 25, handles[2]);
    ring.check_invariants();
    assert_eq!((ring.used(), ring.live_ranges()), (50, 2));
    assert_eq!(ring.largest_free(), 0);
    assert_eq!(ranges(&ring), [(0, 100, true)]);
    // Freeing the oldest reclaims the marked ones behind it: the tail jumps to 75.
    ring.free(0, 25, handles[0]);
    ring.check_invariants();
    assert_eq!(ring.tail, 75);
    assert_eq!(ring.largest_free(), 75);
    alloc_at(&mut ring, 75, 0, Some(0));
}

#[test]
fn all_at_once_in_any_order() {
    // A frame fence frees a whole frame's ranges, in whatever order they are listed.
    let orders: [[usize; 5]; 4] = [
        [0, 1, 2, 3, 4],
        [4, 3, 2, 1, 0],
        [2, 0, 4, 1, 3],
        [1, 3, 0, 4, 2],
    ];
    for order in orders {
        let mut ring = Ring::new(1000);
        // The frame straddles the end of the capacity: the ring is at 900..960.
        let first = alloc_at(&mut ring, 900, 0, Some(0));
        let second = alloc_at(&mut ring, 60, 0, Some(900));
        ring.free(0, 900, first);
        let mut blocks = Vec::new();
        for size in [40u64, 30, 20, 10, 60] {
            let (offset, handle) = ring.alloc(size, 0).expect("room");
            blocks.push((offset, size, handle));
        }
        let offsets: Vec<u64> = blocks.iter().map(|b| b.0).collect();
        assert_eq!(offsets, [960, 0, 30, 50, 60], "the second range wraps");
        ring.free(900, 60, second);
        ring.check_invariants();
        for &i in &order {
            let (offset, size, handle) = blocks[i];
            ring.free(offset, size, handle);
            ring.check_invariants();
        }
        assert!(ring.is_empty());
        assert_eq!((ring.head, ring.tail, ring.entries.len()), (0, 0, 0));
        assert_eq!(ring.largest_free(), 1000);
    }
}

#[test]
fn alignment_at_the_wrap() {
    let mut ring = Ring::new(256);
    let a = alloc_at(&mut ring, 100, 0, Some(0));
    let b = alloc_at(&mut ring, 90, 0, Some(100));
    ring.free(0, 100, a);
    // At alignment 64 the head (190) rounds to 192 and 192 + 64 fits exactly.
    let c = alloc_at(&mut ring, 64, 63, Some(192));
    // Now 256 bytes at the end are gone; 64 more wrap to 0, which is aligned
    // to anything, and must end before the tail at 100.
    let d = alloc_at(&mut ring, 64, 255, Some(0));
    // The head (64) rounds to 128, past the tail: no room at alignment 128...
    alloc_at(&mut ring, 1, 127, None);
    // ...but 64..100 is there at alignment 4.
    alloc_at(&mut ring, 36, 3, Some(64));
    for (offset, size, handle) in [(100, 90, b), (192, 64, c), (0, 64, d)] {
        ring.free(offset, size, handle);
        ring.check_invariants();
    }
    assert_eq!(ring.tail, 64);
}

#[test]
fn capacity_edges() {
    let mut ring = Ring::new(1);
    let a = alloc_at(&mut ring, 1, 0, Some(0));
    alloc_at(&mut ring, 1, 0, None);
    ring.free(0, 1, a);
    alloc_at(&mut ring, 2, 0, None);
    alloc_at(&mut ring, 1, u64::MAX >> 1, Some(0));

    // Offsets near u64::MAX: the aligned head overflows, and a wrap still works.
    let mut ring = Ring::new(u64::MAX);
    let a = alloc_at(&mut ring, u64::MAX - 10, 0, Some(0));
    alloc_at(&mut ring, 5, 0, Some(u64::MAX - 10));
    alloc_at(&mut ring, 1, (1 << 40) - 1, None);
    ring.free(0, u64::MAX - 10, a);
    alloc_at(&mut ring, 1, (1 << 40) - 1, Some(0));
    alloc_at(&mut ring, u64::MAX, 0, None);
}

/// The ring as a list of ranges in allocation order, deciding placement from
/// the list alone (no head or tail kept).
#[derive(Default)]
struct Model {
    /// `(offset, end, freed)` of the ranges not reclaimed, oldest first.
    ranges: Vec<(u64, u64, bool)>,
}

impl Model {
    fn place(&self, capacity: u64, size: u64, align_mask: u64) -> Option<u64> {
        let fits = |offset: Option<u64>, limit: u64| {
            offset.filter(|&o| o.checked_add(size).is_some_and(|end| end <= limit))
        };
        let (Some(first), Some(last)) = (self.ranges.first(), self.ranges.last()) else {
            return fits(Some(0), capacity);
        };
        let head = align_up(last.1, align_mask);
        // Wrapped iff some range sits below the one allocated before it.
        if self.ranges.windows(2).any(|pair| pair[1].0 < pair[0].0) {
            return fits(head, first.0);
        }
        fits(head, capacity).or_else(|| fits(Some(0), first.0))
    }

    fn free(&mut self, index: usize) {
        self.ranges[index].2 = true;
        while self.ranges.first().is_some_and(|range| range.2) {
            self.ranges.remove(0);
        }
    }
}

proptest! {
    /// Random programs, mostly freeing the oldest range: every placement is
    /// the model's, every live range aligned, inside and apart from the others.
    #[test]
    fn ring_matches_model(
        capacity in prop_oneof![1u64..64, 64u64..4096, Just(1u64 << 62)],
        ops in proptest::collection::vec((0u8..10, 1u64..600, 0u32..9, any::<u16>()), 1..300),
    ) {
        let mut ring = Ring::new(capacity);
        let mut model = Model::default();
        // (offset, size, handle) of the live ranges, oldest first
        let mut live: Vec<(u64, u64, u32)> = Vec::new();
        for (op, size, align_log, pick) in ops {
            let size = if capacity > 1 << 40 { size << 50 } else { size };
            if op < 5 || live.is_empty() {
                let align_mask = (1u64 << align_log) - 1;
                let expected = model.place(capacity, size, align_mask);
                prop_assert_eq!(ring.can_alloc(size, align_mask), expected.is_some());
                let got = ring.alloc(size, align_mask);
                prop_assert_eq!(got.map(|(o, _)| o), expected);
                if let Some((offset, handle)) = got {
                    prop_assert_eq!(offset & align_mask, 0);
                    for &(o, s, _) in &live {
                        prop_assert!(offset + size <= o || o + s <= offset, "overlap");
                    }
                    model.ranges.push((offset, offset + size, false));
                    live.push((offset, size, handle));
                }
            } else {
                // Mostly the oldest live range, sometimes any.
                let i = if op < 8 { 0 } else { usize::from(pick) % live.len() };
                let (offset, size, handle) = live.remove(i);
                let index = model.ranges.iter().position(|r| r.0 == offset && !r.2).unwrap();
                model.free(index);
                ring.free(offset, size, handle);
            }
            ring.check_invariants();
            prop_assert_eq!(ring.used(), live.iter().map(|l| l.1).sum::<u64>());
            prop_assert_eq!(ring.live_ranges(), live.len() as u64);
            // The largest free range is exact: it fits, one byte more does not.
            let largest = ring.largest_free();
            prop_assert_eq!(model.place(capacity, largest.max(1), 0).is_some(), largest > 0);
            prop_assert!(model.place(capacity, largest + 1, 0).is_none());
            let mut next = 0;
            ring.for_each_range(&mut |offset, size, _| {
                assert_eq!(offset, next, "ranges do not tile the capacity");
                next += size;
            });
            prop_assert_eq!(next, capacity);
        }
    }
}
