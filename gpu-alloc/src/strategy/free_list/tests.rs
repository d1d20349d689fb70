use {
    super::*,
    crate::strategy::tests::{matches_shadow, Ops, OpsStrategy},
    proptest::prelude::*,
};

#[test]
fn fills_and_merges() {
    let mut list = FreeList::new(1024);
    let a = list.alloc(100, 0).unwrap().0;
    let b = list.alloc(100, 255).unwrap().0;
    assert_eq!(a, 0);
    assert_eq!(b, 256);
    list.check_invariants();
    list.free(a, 100, 0);
    list.free(b, 100, 0);
    list.check_invariants();
    assert!(list.is_empty());
    assert_eq!(list.largest_free(), 1024);
    assert_eq!(list.alloc(1024, 1023), Some((0, 0)));
    assert_eq!(list.alloc(1, 0), None);
}

#[test]
fn best_fit_takes_the_smallest_hole() {
    let mut list = FreeList::new(1000);
    let offsets: Vec<u64> = (0..10).map(|_| list.alloc(100, 0).unwrap().0).collect();
    list.free(offsets[1], 100, 0); // hole of 100 at 100
    list.free(offsets[4], 100, 0);
    list.free(offsets[5], 100, 0); // hole of 200 at 400
    assert_eq!(list.alloc(100, 0), Some((100, 0)));
    assert_eq!(list.alloc(150, 0), Some((400, 0)));
    list.check_invariants();
}

proptest! {
    /// Best fit never misses a fitting gap.
    #[test]
    fn best_fit_matches_shadow(ops in Ops::strategy()) {
        matches_shadow(FreeList::new(8192), 8192, &ops, |_size, _align_mask| 0)?;
    }
}
