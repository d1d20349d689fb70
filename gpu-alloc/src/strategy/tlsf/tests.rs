use {
    super::*,
    crate::strategy::tests::{matches_shadow, Ops, OpsStrategy},
    proptest::prelude::*,
};

#[test]
fn classes_are_monotonic_and_cover_every_size() {
    let mut last = (0, 0);
    for size in (1..5000u64).chain([1 << 20, (1 << 20) + 1, u64::MAX / 2, u64::MAX]) {
        let class = class_of(size);
        assert!(class >= last, "class of {size} went down");
        assert!(class.0 < FL_COUNT && class.1 < SL_COUNT);
        last = class;
        if let Some(at_least) = class_at_least(size) {
            assert!(at_least >= class);
        }
    }
}

#[test]
fn whole_object_with_any_alignment() {
    let mut tlsf = Tlsf::new(1 << 20);
    let (offset, handle) = tlsf.alloc(1 << 20, (1 << 16) - 1).expect("fits at 0");
    assert_eq!(offset, 0);
    assert!(tlsf.alloc(1, 0).is_none());
    tlsf.free(offset, 1 << 20, handle);
    tlsf.check_invariants();
    assert!(tlsf.is_empty());
}

#[test]
fn alignment_padding_returns_to_free_lists() {
    let mut tlsf = Tlsf::new(4096);
    let (a, ha) = tlsf.alloc(16, 0).unwrap();
    let (b, hb) = tlsf.alloc(16, 1023).unwrap();
    assert_eq!((a, b), (0, 1024));
    tlsf.check_invariants();
    // The 1008 bytes of padding between them are usable.
    let (c, hc) = tlsf.alloc(1000, 0).unwrap();
    assert!(c >= 16 && c + 1000 <= 1024, "padding not reused: {c}");
    for (o, s, h) in [(a, 16, ha), (b, 16, hb), (c, 1000, hc)] {
        tlsf.free(o, s, h);
        tlsf.check_invariants();
    }
    assert_eq!(tlsf.largest_free(), 4096);
}

#[test]
fn map_walks_every_block() {
    let mut tlsf = Tlsf::new(1000);
    let (a, _) = tlsf.alloc(100, 0).unwrap();
    let (b, hb) = tlsf.alloc(100, 0).unwrap();
    let (_c, _) = tlsf.alloc(100, 0).unwrap();
    tlsf.free(b, 100, hb);
    let mut ranges = Vec::new();
    tlsf.for_each_range(&mut |o, s, used| ranges.push((o, s, used)));
    assert_eq!(
        ranges,
        [
            (a, 100, true),
            (100, 100, false),
            (200, 100, true),
            (300, 700, false)
        ]
    );
}

#[test]
fn alloc_lowest_takes_the_first_range_that_holds_the_block() {
    let mut tlsf = Tlsf::new(4096);
    let blocks: Vec<(u64, u32)> = (0..8).map(|_| tlsf.alloc(512, 0).unwrap()).collect();
    // Holes at 512 (512 bytes) and at 2048 (1 KiB).
    for i in [1, 4, 5] {
        tlsf.free(blocks[i].0, 512, blocks[i].1);
    }
    // A 256-byte block goes to the lowest hole, not the best fit.
    let (low, hl) = tlsf.alloc_lowest(256, 255, u64::MAX).unwrap();
    assert_eq!(low, 512);
    tlsf.check_invariants();
    // 768 bytes: only the second hole holds them; not below 2048.
    assert!(tlsf.alloc_lowest(768, 0, 2048).is_none());
    let (high, hh) = tlsf.alloc_lowest(768, 0, 2049).unwrap();
    assert_eq!(high, 2048);
    // Aligned to 1 KiB: the rest of the first hole (768..1024) is too small.
    assert!(tlsf.alloc_lowest(256, 1023, u64::MAX).is_none());
    assert_eq!(tlsf.used(), 5 * 512 + 256 + 768);
    for (o, s, h) in [(low, 256, hl), (high, 768, hh)] {
        tlsf.free(o, s, h);
        tlsf.check_invariants();
    }
    assert_eq!(tlsf.largest_free(), 1024);
}

proptest! {
    /// TLSF is a good fit: it may miss a gap only when the gap is within one size
    /// class of the request plus its alignment, or is alignment padding of up
    /// to `KEEP_PADDING` bytes kept inside a live block's node (free to the
    /// shadow, not to TLSF).
    #[test]
    fn tlsf_matches_shadow(ops in Ops::strategy()) {
        matches_shadow(Tlsf::new(8192), 8192, &ops, |size, align_mask| {
            let padded = size + align_mask;
            align_mask + padded / (SL_COUNT as u64) + SL_COUNT as u64 + KEEP_PADDING
        })?;
    }
}
