use super::*;

const STRATEGIES: [VirtualStrategy; 3] = [
    VirtualStrategy::General,
    VirtualStrategy::Linear,
    VirtualStrategy::Ring,
];

#[test]
fn requests_are_checked_before_placement() {
    assert_eq!(
        VirtualAllocator::new(0, VirtualStrategy::General).unwrap_err(),
        ZeroCapacityError
    );
    for strategy in STRATEGIES {
        let mut heap = VirtualAllocator::new(64, strategy).unwrap();
        assert_eq!(heap.alloc(0, 1), Err(VirtualAllocError::ZeroSize));
        for align in [0, 3, 12, u64::MAX] {
            assert_eq!(
                heap.alloc(1, align),
                Err(VirtualAllocError::InvalidAlignment { align })
            );
            assert!(!heap.can_alloc(1, align));
        }
        assert_eq!(
            heap.alloc(65, 1),
            Err(VirtualAllocError::OutOfSpace { size: 65, align: 1 })
        );
        // The largest alignment there is: only offset 0 has it.
        let block = heap.alloc(64, 1 << 63).unwrap();
        assert_eq!(block.range(), 0..64);
        assert!(!heap.can_alloc(1, 1));
        heap.free(block).unwrap();
        heap.check_invariants();
        assert!(heap.is_empty());
    }
}

#[test]
fn foreign_and_stale_blocks_come_back() {
    for strategy in STRATEGIES {
        let mut one = VirtualAllocator::new(1000, strategy).unwrap();
        let mut two = VirtualAllocator::new(1000, strategy).unwrap();
        let a = one.alloc(100, 1).unwrap();
        let b = two.alloc(100, 1).unwrap();
        one.free(a).unwrap();
        let err = one.free(b).unwrap_err();
        assert_eq!(err.block.offset(), 0);
        // Nothing changed in `one`; `two` still holds the block.
        one.check_invariants();
        assert!(one.is_empty());
        assert_eq!(two.live_blocks(), 1);
        two.free(err.into_block()).unwrap();
        assert!(two.is_empty());

        // A reset makes every block made before it foreign.
        let old = one.alloc(300, 1).unwrap();
        one.reset();
        assert!(one.is_empty());
        let new = one.alloc(1000, 1).unwrap();
        assert_eq!(new.offset(), 0);
        assert!(one.free(old).is_err());
        assert_eq!(one.used(), 1000);
        one.free(new).unwrap();
        one.check_invariants();
    }
}

#[test]
fn stats_and_ranges_describe_the_blocks() {
    let mut heap = VirtualAllocator::new(1000, VirtualStrategy::General).unwrap();
    let a = heap.alloc(100, 1).unwrap();
    let b = heap.alloc(200, 1).unwrap();
    let c = heap.alloc(300, 1).unwrap();
    heap.free(b).unwrap();
    let stats = heap.stats();
    assert_eq!(
        (stats.size, stats.used, stats.free, stats.blocks),
        (1000, 400, 600, 2)
    );
    assert_eq!((stats.largest_free, stats.free_ranges), (400, 2));
    assert_eq!(stats.strategy, VirtualStrategy::General);
    let mut ranges = Vec::new();
    heap.for_each_range(|range| ranges.push((range.offset, range.size, range.used)));
    assert_eq!(
        ranges,
        [
            (0, 100, true),
            (100, 200, false),
            (300, 300, true),
            (600, 400, false)
        ]
    );
    heap.free(a).unwrap();
    heap.free(c).unwrap();
    assert_eq!(heap.stats().free_ranges, 1);

    // The ring's stats follow its wrap: 600..1000 waits for the tail.
    let mut ring = VirtualAllocator::new(1000, VirtualStrategy::Ring).unwrap();
    let a = ring.alloc(500, 1).unwrap();
    let b = ring.alloc(100, 1).unwrap();
    ring.free(a).unwrap();
    let c = ring.alloc(450, 1).unwrap();
    assert_eq!(c.offset(), 0);
    let stats = ring.stats();
    assert_eq!((stats.used, stats.blocks), (550, 2));
    assert_eq!((stats.largest_free, stats.free_ranges), (50, 2));
    ring.free(b).unwrap();
    ring.free(c).unwrap();
    assert_eq!(ring.stats().largest_free, 1000);
}

#[test]
fn strategies_display_their_names() {
    let names: Vec<String> = STRATEGIES.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["general", "linear", "ring"]);
}
