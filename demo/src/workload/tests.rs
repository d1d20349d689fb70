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
    let outcome = run_threaded(&mut device.worker(), workers, props, ext, frames, false);
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

/// `Plan::max_bytes` bounds every plan of a shape, whatever its seed, and is
/// reached by the whole pieces of small shapes (the ring pools are sized
/// from it).
#[test]
fn max_bytes_bounds_every_plan() {
    let mut shapes = level_shapes(Share::ALL);
    shapes.extend([
        texture(1024, 512),
        texture(64, 32),
        Shape::Buffer {
            size: WHOLE + 4,
            purpose: BufferPurpose::Mesh,
        },
    ]);
    for shape in shapes {
        let max = Plan::max_bytes(shape);
        for seed in 0..20 {
            let bytes = Plan::new(shape, seed).bytes;
            assert!(bytes <= max, "{shape:?} seed {seed}: {bytes} > {max}");
        }
    }
    let small = Shape::Buffer {
        size: WHOLE,
        purpose: BufferPurpose::Mesh,
    };
    assert_eq!(Plan::max_bytes(small), Plan::new(small, 1).bytes);
    assert_eq!(
        Plan::max_bytes(texture(64, 64)),
        Plan::new(texture(64, 64), 1).bytes
    );
}

/// The pools' sizes hold what they must and the textures' pool holds less
/// than the streamer keeps, on any number of threads.
#[test]
fn pool_sizes_follow_the_workload() {
    for threads in [1, 2, 3, 4, 8, 64] {
        let sizing = pools::Sizing::new(threads);
        let (geometry, textures, uploads) = (sizing.geometry, sizing.textures, sizing.uploads);
        let meshes: Vec<u64> = (0..threads)
            .flat_map(|index| {
                level_shapes(Share {
                    index,
                    count: threads,
                })
            })
            .filter(|s| matches!(s, Shape::Buffer { .. }))
            .map(pools::resource_bytes)
            .collect();
        let most = u64::from(geometry.max_objects.expect("a limit"));
        assert!(meshes.iter().all(|&m| 4 * m <= geometry.object_size));
        assert!(most * geometry.object_size / 2 >= meshes.iter().sum::<u64>());
        assert_eq!(geometry.algorithm, gpu_alloc::PoolAlgorithm::General);

        let room = u64::from(textures.max_objects.expect("a limit")) * textures.object_size;
        assert!(
            room < sizing.texture_working_set,
            "{threads} threads: {room}"
        );
        let largest = pools::resource_bytes(texture(1024, 1024));
        assert!(textures.object_size >= (LOADS_MAX + 1) * largest);

        assert_eq!(uploads.algorithm, gpu_alloc::PoolAlgorithm::Ring);
        assert_eq!((uploads.min_objects, uploads.max_objects), (1, Some(2)));
        let staging = Plan::max_bytes(texture(4096, 4096));
        assert!(uploads.object_size >= (FRAMES_IN_FLIGHT as u64 + 1) * staging);
    }
}

/// A workload on the simulated device with its pools, for the eviction tests.
fn sim_workload<R>(test: impl FnOnce(&mut Workload<'_, crate::sim::SimGpu>) -> R) -> R {
    let layout = gpu_alloc_tests::sim::Layout::parse(
        "nvidia-rtx3060ti-linux",
        include_str!("../../../tests/devices/nvidia-rtx3060ti-linux.json"),
    )
    .expect("the layout");
    let mut gpu = crate::sim::SimGpu::new(layout);
    let (props, ext) = (
        gpu.device().properties(),
        gpu.device().extended_properties(),
    );
    let mut allocator =
        GpuAllocator::with_extended_properties(Config::i_am_prototyping(), props, ext);
    let pools = pools::create(&mut gpu, &mut allocator, 1).expect("the pools")[0];
    let mut workload = Workload::new(&mut gpu, allocator, Share::ALL, pools);
    let result = test(&mut workload);
    let outcome = workload.finish(Instant::now());
    assert_eq!(outcome.failures, Vec::<String>::new());
    assert!(outcome
        .pools_destroyed
        .iter()
        .all(|(_, d)| d.live_blocks == 0));
    result
}

/// Ends the frame being recorded (its readbacks of `check` compared).
fn next_frame(workload: &mut Workload<'_, crate::sim::SimGpu>, check: &[u64]) {
    workload.record_checks(check);
    workload.submit();
    workload.end_frame();
}

/// The ids of the streamed textures alive, in id order.
fn textures(workload: &Workload<'_, crate::sim::SimGpu>) -> Vec<u64> {
    let mut ids: Vec<u64> = workload
        .assets
        .iter()
        .filter(|a| a.in_texture_pool)
        .map(|a| a.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// A full textures pool gives up its least recently used texture (uploaded
/// or read back longest ago), not the oldest one, and never one that the
/// submission being recorded uses.
#[test]
fn a_full_texture_pool_evicts_the_least_recently_used() {
    sim_workload(|workload| {
        let big = texture(1024, 1024);
        // One texture a frame until the pool turns one away.
        let mut ids = Vec::new();
        while workload.counters.texture_evictions == 0 {
            let id = workload
                .add_asset(big, true)
                .expect("room, after evictions");
            ids.push(id);
            next_frame(workload, &[id]);
            assert!(ids.len() < 64, "the pool never filled");
        }
        // The first went.
        assert_eq!(textures(workload), ids[1..].to_vec());
        // Read back the oldest one left: now the second oldest goes.
        next_frame(workload, &[ids[1]]);
        let id = workload.add_asset(big, true).expect("room");
        next_frame(workload, &[id]);
        assert_eq!(workload.counters.texture_evictions, 2);
        let mut expected = ids[1..].to_vec();
        expected.remove(1);
        expected.push(id);
        assert_eq!(textures(workload), expected);
        assert_eq!(workload.counters.loads_deferred, 0);
    });
}

/// Textures that the submission being recorded uses stay: with every texture
/// of the pool loaded in this submission, a load that finds it full waits.
#[test]
fn a_load_waits_rather_than_evict_a_texture_in_use() {
    sim_workload(|workload| {
        let big = texture(1024, 1024);
        let mut added = Vec::new();
        while workload.counters.loads_deferred == 0 {
            added.extend(workload.add_asset(big, true));
            assert!(added.len() < 64, "the pool never filled");
        }
        assert_eq!(workload.counters.texture_evictions, 0);
        assert_eq!(textures(workload), added);
        next_frame(workload, &added);
        // Once the submission is done, they can go.
        let id = workload.add_asset(big, true).expect("room");
        assert_eq!(workload.counters.texture_evictions, 1);
        next_frame(workload, &[id]);
    });
}

/// A run on the simulated device: the pools are made, the textures' pool
/// evicts, the ring keeps its one memory object, and the pools go at the end
/// with no block left; the memory map names the pools.
#[test]
fn a_run_uses_its_pools() {
    let layout = gpu_alloc_tests::sim::Layout::parse(
        "nvidia-rtx3060ti-linux",
        include_str!("../../../tests/devices/nvidia-rtx3060ti-linux.json"),
    )
    .expect("the layout");
    let mut gpu = crate::sim::SimGpu::new(layout);
    let (props, ext) = (
        gpu.device().properties(),
        gpu.device().extended_properties(),
    );
    let outcome = run(&mut gpu, props, ext, 120, false);
    assert_eq!(outcome.failures, Vec::<String>::new());
    let c = &outcome.counters;
    assert!(c.texture_evictions > 0, "{c:?}");
    assert_eq!(c.pool_peaks[pools::Role::Uploads as usize], 1);
    let names: Vec<_> = outcome.stats.pools.iter().map(|p| p.name.clone()).collect();
    let expected = [pools::GEOMETRY, pools::TEXTURES, pools::UPLOADS];
    assert_eq!(names, expected.map(|n| Some(n.to_owned())));
    let geometry = &outcome.stats.pools[0];
    assert_eq!(geometry.blocks, 96, "every level mesh in the geometry pool");
    let destroyed: Vec<&str> = outcome
        .pools_destroyed
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(destroyed, expected);
    for name in expected {
        assert!(
            outcome
                .map
                .objects
                .iter()
                .any(|o| o.pool.as_deref() == Some(name)),
            "no object of {name} in the map"
        );
    }
    assert_eq!(gpu.device().live_count(), 0);
}

/// `--defrag` on the simulated device, on one thread and on three: passes
/// move blocks and free memory objects, every readback (the moved assets'
/// included) compares equal, the answers match the allocator's count, and
/// the last passes leave no more reserved than the end of the last frame.
#[test]
fn defrag_moves_assets_and_keeps_their_data() {
    let layout = gpu_alloc_tests::sim::Layout::parse(
        "nvidia-rtx3060ti-linux",
        include_str!("../../../tests/devices/nvidia-rtx3060ti-linux.json"),
    )
    .expect("the layout");
    let gpu = crate::sim::SimGpu::new(layout);
    for threads in [1, 3] {
        let (props, ext) = (
            gpu.device().properties(),
            gpu.device().extended_properties(),
        );
        let outcome = if threads == 1 {
            run(&mut gpu.worker(), props, ext, 60, true)
        } else {
            let workers = (0..threads).map(|_| gpu.worker()).collect();
            run_threaded(&mut gpu.worker(), workers, props, ext, 60, true)
        };
        assert_eq!(outcome.failures, Vec::<String>::new(), "{threads} threads");
        let summary = outcome.defrag.as_ref().expect("a summary");
        let d = &outcome.stats.defrag;
        let a = &outcome.counters.answers;
        assert!(
            d.passes > 0 && d.total.moved > 0,
            "{threads} threads: {d:?}"
        );
        assert!(d.total.objects_freed > 0, "{threads} threads: {d:?}");
        assert_eq!(
            (a.done, a.skipped, a.destroyed),
            (d.total.moved, d.total.skipped, d.total.destroyed)
        );
        assert!(a.movable > 0);
        assert!(outcome.stats.reserved <= summary.end.reserved);
        assert_eq!(outcome.stats.used, summary.end.used, "moves keep the bytes");
        assert_eq!(gpu.device().live_count(), 0);
    }
}
