use {super::*, proptest::prelude::*, std::collections::BTreeMap as Shadow};

#[test]
fn fills_and_merges() {
    let mut list = FreeList::new(1024);
    let a = list.alloc(100, 0).unwrap();
    let b = list.alloc(100, 255).unwrap();
    assert_eq!(a, 0);
    assert_eq!(b, 256);
    list.check_invariants();
    list.free(a, 100);
    list.free(b, 100);
    list.check_invariants();
    assert!(list.is_empty());
    assert_eq!(list.largest_free(), 1024);
    assert_eq!(list.alloc(1024, 1023), Some(0));
    assert_eq!(list.alloc(1, 0), None);
}

#[test]
fn best_fit_takes_the_smallest_hole() {
    let mut list = FreeList::new(1000);
    let offsets: Vec<u64> = (0..10).map(|_| list.alloc(100, 0).unwrap()).collect();
    list.free(offsets[1], 100); // hole of 100 at 100
    list.free(offsets[4], 100);
    list.free(offsets[5], 100); // hole of 200 at 400
    assert_eq!(list.alloc(100, 0), Some(100));
    assert_eq!(list.alloc(150, 0), Some(400));
    list.check_invariants();
}

proptest! {
    /// Random alloc/free against a shadow map of live ranges: no overlap, aligned,
    /// inside capacity, and every failure is real (the request cannot fit any gap).
    #[test]
    fn matches_shadow(ops in proptest::collection::vec((any::<bool>(), 1u64..300, 0u32..8, any::<u16>()), 1..300)) {
        let capacity = 8192;
        let mut list = FreeList::new(capacity);
        let mut live: Shadow<u64, u64> = Shadow::new();
        for (is_alloc, size, align_log, pick) in ops {
            if is_alloc || live.is_empty() {
                let align_mask = (1u64 << align_log) - 1;
                match list.alloc(size, align_mask) {
                    Some(offset) => {
                        prop_assert_eq!(offset & align_mask, 0);
                        prop_assert!(offset + size <= capacity);
                        if let Some((&o, &s)) = live.range(..=offset).next_back() {
                            prop_assert!(o + s <= offset, "overlaps the block before");
                        }
                        if let Some((&o, _)) = live.range(offset..).next() {
                            prop_assert!(offset + size <= o, "overlaps the block after");
                        }
                        live.insert(offset, size);
                    }
                    None => {
                        // No gap between live ranges can hold it.
                        let mut start = 0;
                        let ends = live.iter().map(|(&o, &s)| (o, o + s)).chain([(capacity, capacity)]);
                        for (o, end) in ends {
                            let aligned = (start + align_mask) & !align_mask;
                            prop_assert!(aligned + size > o, "fit at {} was missed", aligned);
                            start = end;
                        }
                    }
                }
            } else {
                let index = usize::from(pick) % live.len();
                let (&offset, &size) = live.iter().nth(index).unwrap();
                live.remove(&offset);
                list.free(offset, size);
            }
            list.check_invariants();
            prop_assert_eq!(list.used(), live.values().sum::<u64>());
        }
    }
}
