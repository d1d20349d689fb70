//! Shared checks of every strategy against a shadow model.

use {
    super::SubAllocator,
    proptest::{prelude::*, test_runner::TestCaseError},
    std::collections::BTreeMap,
};

/// A random program: `(allocate?, size, log2 alignment, which live range to free)`.
pub(crate) type Ops = Vec<(bool, u64, u32, u16)>;

pub(crate) trait OpsStrategy {
    fn strategy() -> BoxedStrategy<Ops>;
}

impl OpsStrategy for Ops {
    fn strategy() -> BoxedStrategy<Ops> {
        proptest::collection::vec((any::<bool>(), 1u64..300, 0u32..8, any::<u16>()), 1..300).boxed()
    }
}

/// Runs `ops` on `sub` (over `capacity` bytes) and a shadow map of live ranges,
/// checking after every step: ranges are aligned, inside the capacity and never
/// overlap; used bytes match; the invariants hold. A failed allocation is allowed
/// only if no gap between live ranges holds `size` bytes at the alignment plus
/// `slack(size, align_mask)` bytes (0 for an exact strategy).
pub(crate) fn matches_shadow(
    mut sub: impl SubAllocator,
    capacity: u64,
    ops: &Ops,
    slack: impl Fn(u64, u64) -> u64,
) -> Result<(), TestCaseError> {
    // offset -> (size, handle)
    let mut live: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
    for &(is_alloc, size, align_log, pick) in ops {
        if is_alloc || live.is_empty() {
            let align_mask = (1u64 << align_log) - 1;
            match sub.alloc(size, align_mask) {
                Some((offset, handle)) => {
                    prop_assert_eq!(offset & align_mask, 0);
                    prop_assert!(offset + size <= capacity);
                    if let Some((&o, &(s, _))) = live.range(..=offset).next_back() {
                        prop_assert!(o + s <= offset, "overlaps the block before");
                    }
                    if let Some((&o, _)) = live.range(offset..).next() {
                        prop_assert!(offset + size <= o, "overlaps the block after");
                    }
                    live.insert(offset, (size, handle));
                }
                None => {
                    let need = size + slack(size, align_mask);
                    let mut start = 0;
                    let ends = live
                        .iter()
                        .map(|(&o, &(s, _))| (o, o + s))
                        .chain([(capacity, capacity)]);
                    for (o, end) in ends {
                        let aligned = (start + align_mask) & !align_mask;
                        prop_assert!(aligned + need > o, "a fit at {} was missed", aligned);
                        start = end;
                    }
                }
            }
        } else {
            let index = usize::from(pick) % live.len();
            let (&offset, &(size, handle)) = live.iter().nth(index).unwrap();
            live.remove(&offset);
            sub.free(offset, size, handle);
        }
        sub.check_invariants();
        prop_assert_eq!(sub.used(), live.values().map(|&(s, _)| s).sum::<u64>());
        prop_assert_eq!(sub.is_empty(), live.is_empty());
    }
    // Free the rest: the allocator must be whole again.
    for (offset, (size, handle)) in live {
        sub.free(offset, size, handle);
    }
    sub.check_invariants();
    prop_assert!(sub.is_empty());
    prop_assert_eq!(sub.largest_free(), capacity);
    Ok(())
}
