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

/// `--threads`: the streamed assets are shared out, thread 0 makes the choices
/// of a run on one thread, and the others make others.
#[test]
fn shares_split_the_streamed_assets() {
    assert_eq!(Share::ALL.seed(), SEED);
    for count in 1..=64 {
        let share = Share { index: 0, count };
        assert_eq!(share.seed(), SEED, "thread 0 of {count}");
        assert!(share.streamed_min() < share.streamed_max());
        assert!(share.streamed_min() * count <= STREAMED_MIN);
        assert!(share.streamed_max() * count >= STREAMED_MAX);
    }
    let seeds: std::collections::BTreeSet<u64> = (0..64)
        .map(|index| Share { index, count: 64 }.seed())
        .collect();
    assert_eq!(seeds.len(), 64);
}

/// A thread that panics breaks the rendezvous: the others stop waiting.
#[test]
fn a_panic_breaks_the_rendezvous() {
    use threads::{BreakOnPanic, Rendezvous};
    let rendezvous = Rendezvous::new(3);
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            // One round with everybody, then the panicking thread is missing.
            assert!(rendezvous.wait());
            rendezvous.wait()
        });
        let panicking = scope.spawn(|| {
            let _break = BreakOnPanic(&rendezvous);
            assert!(rendezvous.wait());
            panic!("a thread's bug");
        });
        assert!(rendezvous.wait());
        assert!(panicking.join().is_err());
        assert!(!rendezvous.wait(), "broken");
        assert!(!waiter.join().unwrap(), "broken");
    });
}

/// `--threads 3` on the simulated device: every check passes, the level is
/// split among the threads, and evicted assets are freed by another thread.
#[test]
fn threads_share_the_workload_on_the_simulated_device() {
    let layout = gpu_alloc_tests::sim::Layout::parse(
        "nvidia-rtx3060ti-linux",
        include_str!("../../../tests/devices/nvidia-rtx3060ti-linux.json"),
    )
    .expect("the layout");
    let device = crate::sim::SimGpu::new(layout);
    let (props, ext) = (
        device.device().properties(),
        device.device().extended_properties(),
    );
    let frames = 30;
    let workers = (0..3).map(|_| device.worker()).collect();
    let outcome = run_threaded(&mut device.worker(), workers, props, ext, frames);
    assert_eq!(outcome.failures, Vec::<String>::new());
    assert_eq!(outcome.threads, 3);
    let c = &outcome.counters;
    assert_eq!((c.frames, c.level_assets), (frames, 168));
    assert!(c.readbacks >= c.uploads && c.uploads > 168, "{c:?}");
    assert!(c.streamed_out > 0, "{c:?}");
    assert_eq!(c.freed_by_other_thread, c.streamed_out, "{c:?}");
    assert!(c.peak_reserved >= outcome.stats.reserved && outcome.stats.blocks > 0);
    assert_eq!(device.device().live_count(), 0);
}
