//! What the checks cover: `pick`'s pages and `Plan`'s packing and comparison.

use super::*;

/// Ranges are sorted, disjoint and not touching, inside `0..count`.
fn assert_well_formed(ranges: &[Range<u64>], count: u64) {
    for pair in ranges.windows(2) {
        assert!(pair[0].end < pair[1].start, "{ranges:?}");
    }
    assert!(ranges.iter().all(|r| r.start < r.end && r.end <= count));
}

#[test]
fn small_spans_are_whole_and_large_ones_keep_their_ends() {
    let mut rng = Rng::odd_state(1);
    let whole = |ranges: Vec<Range<u64>>, count| ranges.len() == 1 && ranges[0] == (0..count);
    assert!(whole(pick(WHOLE / 4, 4, &mut rng), WHOLE / 4));
    assert!(whole(pick(64, 1024, &mut rng), 64), "64 rows of 1 KiB");
    for (count, unit) in [
        (WHOLE / 4 + 1, 4),
        ((8 << 20) / 4, 4),
        (2048, 8192),
        (512, 2048),
    ] {
        let per_page = PAGE.div_ceil(unit);
        for seed in 0..50 {
            let ranges = pick(count, unit, &mut Rng::odd_state(seed));
            assert_well_formed(&ranges, count);
            assert_eq!(ranges[0].start, 0, "the first page");
            assert_eq!(ranges.last().unwrap().end, count, "the last page");
            let units: u64 = ranges.iter().map(|r| r.end - r.start).sum();
            assert!(units >= 2 * per_page && units <= (2 + RANDOM_PAGES) * per_page);
        }
    }
    // The random pages move with the seed.
    let a = pick((8 << 20) / 4, 4, &mut Rng::odd_state(1));
    let b = pick((8 << 20) / 4, 4, &mut Rng::odd_state(2));
    assert_ne!(a, b);
}

#[test]
fn plans_cover_every_mip_and_pack_tightly() {
    let image = texture(4096, 2048);
    let Shape::Image { mips, .. } = image else {
        unreachable!()
    };
    let buffer = Shape::Buffer {
        size: (8 << 20) + 16,
        purpose: BufferPurpose::Mesh,
    };
    for shape in [image, buffer] {
        let plan = Plan::new(shape, 7);
        let mut packed = 0;
        for run in &plan.runs {
            assert_eq!(run.packed, packed, "runs follow one another");
            packed += run.len;
        }
        assert_eq!(plan.bytes, packed);
        let last = plan.runs.last().unwrap();
        match (&plan.copies, shape) {
            (Copies::Buffer(copies), Shape::Buffer { size, .. }) => {
                assert_eq!(copies[0].dst, 0);
                let end = copies.last().map(|c| c.dst + c.len);
                assert_eq!(end, Some(size), "the buffer's last byte");
                assert_eq!(last.position + last.len, size);
            }
            (Copies::Image(copies), Shape::Image { width, height, .. }) => {
                for mip in 0..mips {
                    let (w, h) = mip_extent(width, height, mip);
                    let rows: Vec<_> = copies.iter().filter(|c| c.mip == mip).collect();
                    assert!(rows.iter().all(|c| c.x == 0 && c.width == w));
                    assert_eq!(rows.first().map(|c| c.y), Some(0), "mip {mip}'s first row");
                    let end = rows.last().map(|c| c.y + c.height);
                    assert_eq!(end, Some(h), "mip {mip}'s last row");
                }
                let texels: u64 = (0..mips)
                    .map(|mip| {
                        let (w, h) = mip_extent(width, height, mip);
                        u64::from(w) * u64::from(h)
                    })
                    .sum();
                assert_eq!(last.position + last.len, texels * TEXEL);
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn a_changed_word_or_another_seed_is_a_mismatch() {
    // The changed byte lies in the last word but one: texel (1, 0) of the 2x1
    // mip level before the last, or the buffer's last word but one.
    for (shape, changed) in [
        (texture(1024, 512), "mip 9, texel (1, 0)"),
        (
            Shape::Buffer {
                size: 1 << 20,
                purpose: BufferPurpose::Mesh,
            },
            "byte 1048568",
        ),
    ] {
        let plan = Plan::new(shape, 3 << 32 | 9);
        let mut bytes = plan.packed(3 << 32 | 9);
        assert!(plan.mismatch(3 << 32 | 9, &bytes).is_none());
        // Another asset's upload with the same low half.
        assert!(plan.mismatch(4 << 32 | 9, &bytes).is_some());
        // One byte of the last piece.
        let at = bytes.len() - 5;
        bytes[at] ^= 1;
        let (place, read, wrote) = plan.mismatch(3 << 32 | 9, &bytes).expect("a mismatch");
        assert_ne!(read, wrote);
        assert_eq!(place, changed);
    }
}
