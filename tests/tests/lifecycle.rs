//! Lifecycle promises of the core, each on the simulated devices: memory is
//! reused, nothing leaks when mapping a new object fails, the object-count limit
//! holds on every path, leaks are reported, `cleanup` empties the device, budgets
//! are read from the device, and non-coherent memory is flushed and invalidated
//! where it must be.

use {
    gpu_alloc::{
        reported_problems, Dedicated, MemoryPropertyFlags, Request, TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{Harness, Preset},
        sim::Layout,
    },
};

fn request(size: u64, usage: UsageFlags) -> Request {
    Request {
        size,
        align_mask: 63,
        usage,
        memory_types: !0,
    }
}

/// Whether the layout has a host-visible memory type.
fn has_host_visible(layout: &Layout) -> bool {
    layout.memory_types.iter().any(|t| t.flags & 0x2 != 0)
}

#[test]
fn a_steady_stream_reuses_memory() {
    for layout in Layout::all() {
        for preset in Preset::ALL {
            let mut harness = Harness::new(layout.clone(), preset.config());
            let usages = [
                UsageFlags::empty(),
                UsageFlags::UPLOAD,
                UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
                UsageFlags::DOWNLOAD,
            ];
            for round in 0..200u64 {
                let blocks: Vec<_> = usages
                    .iter()
                    .map(|&usage| {
                        harness
                            .try_alloc(request(512 + round * 8, usage), None)
                            .unwrap_or_else(|e| panic!("{} {usage:?}: {e:?}", layout.name))
                    })
                    .collect();
                for block in blocks {
                    harness.dealloc(block);
                }
            }
            let calls = harness.device.stats().allocate_calls;
            assert!(
                calls <= usages.len() as u64,
                "{} {preset:?}: 800 small allocations made {calls} device allocations",
                layout.name
            );
            harness.cleanup();
            harness.device.assert_clean();
        }
    }
}

#[test]
fn a_failed_map_of_a_new_object_frees_it() {
    for layout in Layout::all().into_iter().filter(has_host_visible) {
        for preset in Preset::ALL {
            for usage in [
                UsageFlags::UPLOAD,
                UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
            ] {
                let mut harness = Harness::new(layout.clone(), preset.config());
                harness.device.fail_next_maps(1);
                let result = harness.try_alloc(request(256, usage), None);
                let stats = harness.device.stats();
                assert_eq!(
                    stats.injected_map_failures, 1,
                    "{}: a new object is mapped",
                    layout.name
                );
                match result {
                    Err(error) => {
                        assert_eq!(error, TryAllocError::MapFailed, "{}", layout.name);
                        assert_eq!(harness.device.live_count(), 0, "{}: leaked", layout.name);
                    }
                    // Falling back to another type is fine, if the failed object is
                    // gone.
                    Ok(block) => {
                        assert_eq!(harness.device.live_count(), 1, "{}: leaked", layout.name);
                        harness.dealloc(block);
                    }
                }
                harness.check_accounting();
                harness.cleanup();
                harness.device.assert_clean();
            }
        }
    }
}

#[test]
fn a_failed_map_of_a_dedicated_block_can_be_retried() {
    let mut harness = Harness::named("nvidia-h200", Preset::Potato);
    let mut block = harness
        .try_alloc(request(1000, UsageFlags::UPLOAD), Some(Dedicated::Required))
        .expect("dedicated");
    harness.device.fail_next_maps(1);
    assert_eq!(
        harness.write(&mut block, 0, &[1, 2, 3]),
        Err(gpu_alloc::MapError::MapFailed)
    );
    assert!(!block.is_mapped());
    harness.write(&mut block, 0, &[1, 2, 3]).expect("retry");
    let mut back = [0u8; 3];
    harness.read(&mut block, 0, &mut back).expect("read");
    assert_eq!(back, [1, 2, 3]);
    harness.dealloc(block);
    harness.device.assert_clean();
}

#[test]
fn the_object_limit_holds_on_every_path() {
    for preset in Preset::ALL {
        let mut layout = Layout::named("nvidia-rtx2060super-windows");
        layout.max_memory_allocation_count = 3;
        let mut harness = Harness::new(layout, preset.config());
        let small = request(256, UsageFlags::empty());
        // A shared object, emptied and kept for reuse.
        let block = harness.try_alloc(small, None).expect("general");
        harness.dealloc(block);
        // Dedicated objects up to the limit: the empty shared object must make way.
        let mut dedicated = Vec::new();
        for i in 0..3 {
            let block = harness
                .try_alloc(small, Some(Dedicated::Required))
                .unwrap_or_else(|e| panic!("{preset:?}: dedicated {i}: {e:?}"));
            dedicated.push(block);
        }
        assert_eq!(harness.device.live_count(), 3);
        for (usage, dedicated_hint) in [
            (UsageFlags::empty(), Some(Dedicated::Required)),
            (UsageFlags::empty(), None),
            (UsageFlags::UPLOAD, None),
            (UsageFlags::UPLOAD | UsageFlags::TRANSIENT, None),
        ] {
            assert_eq!(
                harness.try_alloc(request(256, usage), dedicated_hint).err(),
                Some(TryAllocError::TooManyObjects),
                "{preset:?} {usage:?} {dedicated_hint:?}"
            );
        }
        assert_eq!(harness.allocator.remaining_allocations(), 0);
        let freed = dedicated.pop().expect("three blocks");
        harness.dealloc(freed);
        let general = harness.try_alloc(small, None).expect("room again");
        harness.check_accounting();
        harness.dealloc(general);
        for block in dedicated {
            harness.dealloc(block);
        }
        harness.cleanup();
        harness.device.assert_clean();
        assert_eq!(harness.device.stats().peak_live_objects, 3);
    }
}

#[test]
fn leaks_are_reported() {
    let before = reported_problems();
    {
        let mut harness = Harness::named("nvidia-h200", Preset::Potato);
        let block = harness
            .try_alloc(request(256, UsageFlags::UPLOAD), None)
            .expect("block");
        drop(block);
        assert!(reported_problems() > before, "a dropped block is reported");
        let after_block = reported_problems();
        let kept = harness
            .try_alloc(request(256, UsageFlags::UPLOAD), None)
            .expect("block");
        let memory = format!("{:?}", kept.memory());
        drop(harness.allocator);
        assert!(
            reported_problems() > after_block,
            "an allocator dropped with live blocks is reported"
        );
        // The shared memory object the block points at outlives the allocator
        // (it is leaked, not freed): the block can still be looked at.
        assert_eq!(format!("{:?}", kept.memory()), memory);
        assert!(kept.size() >= 256);
    }
}

#[test]
fn cleanup_frees_every_empty_object() {
    let usages = [
        UsageFlags::empty(),
        UsageFlags::UPLOAD,
        UsageFlags::DOWNLOAD,
        UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        UsageFlags::TRANSIENT,
    ];
    for layout in Layout::all() {
        for preset in Preset::ALL {
            let mut harness = Harness::new(layout.clone(), preset.config());
            let mut blocks = Vec::new();
            for (i, size) in [100u64, 5000, 40_000, 300_000, 3 << 20].iter().enumerate() {
                for &usage in &usages {
                    let dedicated = (i % 2 == 1).then_some(Dedicated::Preferred);
                    match harness.try_alloc(request(*size, usage), dedicated) {
                        Ok(block) => blocks.push(block),
                        Err(TryAllocError::NoCompatibleMemoryTypes) => {
                            assert!(!has_host_visible(&layout));
                        }
                        Err(e) => panic!("{} {usage:?} {size}: {e:?}", layout.name),
                    }
                }
            }
            // Free every other block, clean up: every object left holds a block.
            let mut kept = Vec::new();
            for (i, block) in blocks.into_iter().enumerate() {
                if i % 2 == 0 {
                    harness.dealloc(block);
                } else {
                    kept.push(block);
                }
            }
            harness.cleanup();
            let holding: Vec<u64> = kept.iter().map(|b| b.memory().id()).collect();
            for object in harness.device.live_objects() {
                assert!(
                    holding.contains(&object.id),
                    "{}: {object:?} empty",
                    layout.name
                );
            }
            for block in kept {
                harness.dealloc(block);
            }
            harness.cleanup();
            harness.check_accounting();
            harness.device.assert_clean();
        }
    }
}

#[test]
fn budgets_are_read_from_the_device() {
    let mut harness = Harness::named("nvidia-h200", Preset::Potato);
    assert!(harness.update_budget(), "the H200 fixture has budgets");
    let layout = harness.device.layout().clone();
    let heap0 = layout.memory_heaps[0];
    let heap1 = layout.memory_heaps[1];
    assert_eq!(
        harness.allocator.heap_budget(0),
        heap0.budget.min(heap0.size)
    );
    // Others hold heap 1's reported usage.
    assert_eq!(harness.allocator.heap_budget(1), heap1.budget - heap1.usage);
    let block = harness
        .try_alloc(request(256, UsageFlags::UPLOAD), None)
        .expect("block");
    assert!(harness.update_budget());
    // Its own usage is not counted as others'.
    assert_eq!(harness.allocator.heap_budget(1), heap1.budget - heap1.usage);
    harness.dealloc(block);
    harness.cleanup();
    harness.device.assert_clean();

    let mut harness = Harness::named("amd-rx470-radv", Preset::Potato);
    assert!(!harness.update_budget(), "no budgets in this fixture");
}

/// Apple M1 type 2 is host-visible, cached and not coherent (atoms of 16 bytes).
/// Blocks there are flushed on write and invalidated on read, within the block.
#[test]
fn non_coherent_blocks_are_flushed_and_invalidated() {
    for preset in Preset::ALL {
        for dedicated in [None, Some(Dedicated::Required)] {
            let mut harness = Harness::named("apple-m1-moltenvk", preset);
            let req = Request {
                size: 37,
                align_mask: 0,
                usage: UsageFlags::DOWNLOAD | UsageFlags::UPLOAD,
                memory_types: 1 << 2,
            };
            let mut a = harness.try_alloc(req, dedicated).expect("a");
            let mut b = harness.try_alloc(req, dedicated).expect("b");
            assert!(!a.props().contains(MemoryPropertyFlags::HOST_COHERENT));
            for block in [&a, &b] {
                assert_eq!(block.offset() % 16, 0);
                let end = block.offset() + block.size();
                assert!(block.size() % 16 == 0 || end == block.memory().size());
            }
            let data_a: Vec<u8> = (0..37).collect();
            let data_b: Vec<u8> = (100..137).collect();
            harness.write(&mut a, 0, &data_a).expect("write a");
            harness.write(&mut b, 0, &data_b).expect("write b");
            // The device sees both: the writes were flushed.
            let seen = harness.device.device_read(a.memory(), a.offset(), 37);
            assert_eq!(seen, data_a, "{preset:?} {dedicated:?}: a not flushed");
            let seen = harness.device.device_read(b.memory(), b.offset(), 37);
            assert_eq!(seen, data_b, "{preset:?} {dedicated:?}: b not flushed");
            // The device writes a; the host sees it only through an invalidate.
            harness
                .device
                .device_write(a.memory(), a.offset() + 5, &[0xEE; 7]);
            let mut back = vec![0u8; 37];
            harness.read(&mut a, 0, &mut back).expect("read a");
            let mut expected = data_a.clone();
            expected[5..12].fill(0xEE);
            assert_eq!(
                back, expected,
                "{preset:?} {dedicated:?}: a not invalidated"
            );
            harness.read(&mut b, 0, &mut back).expect("read b");
            assert_eq!(back, data_b, "{preset:?} {dedicated:?}: b clobbered");
            harness.dealloc(a);
            harness.dealloc(b);
            harness.cleanup();
            harness.device.assert_clean();
            assert!(harness.device.stats().flush_calls >= 2);
            assert!(harness.device.stats().invalidate_calls >= 2);
        }
    }
}

#[test]
fn imported_memory_is_accounted_and_freed() {
    use gpu_alloc::{AllocationFlags, MemoryDevice};
    for preset in Preset::ALL {
        let mut harness = Harness::named("nvidia-h200", preset);
        // Type 2: HOST_VISIBLE | HOST_COHERENT system memory.
        // SAFETY: a valid type and size of this device, far from every limit.
        let memory = unsafe {
            harness
                .device
                .allocate_memory(4096, 2, AllocationFlags::empty())
        }
        .expect("device allocation");
        let props = MemoryPropertyFlags::HOST_VISIBLE | MemoryPropertyFlags::HOST_COHERENT;
        let remaining = harness.allocator.remaining_allocations();
        // SAFETY: the memory comes from the harness's device, type 2 has `props`,
        // the block spans the whole object, and only the block owns it.
        let mut block = unsafe { harness.allocator.import_memory(memory, 2, props, 0, 4096) };
        assert_eq!(harness.allocator.remaining_allocations(), remaining - 1);
        harness.check_accounting();
        harness.write(&mut block, 4000, &[7; 96]).expect("write");
        let mut back = [0u8; 96];
        harness.read(&mut block, 4000, &mut back).expect("read");
        assert_eq!(back, [7; 96]);
        let calls = harness.device.stats().deallocate_calls;
        harness.dealloc(block);
        assert_eq!(harness.device.stats().deallocate_calls, calls + 1);
        harness.check_accounting();
        harness.device.assert_clean();
    }
}

/// `Config`'s fields are public, so any values may come in: zeros, ones, odd
/// sizes, `u64::MAX`. Allocation must still work (or fail with an error), never
/// panic or break a device rule.
#[test]
fn odd_configs_still_allocate() {
    use gpu_alloc::Config;
    let values = [0u64, 1, 3, 4095, 1 << 20, 1 << 40, u64::MAX];
    let mut configs = Vec::new();
    for (i, &a) in values.iter().enumerate() {
        for &b in &values {
            let c = values[(i + 3) % values.len()];
            configs.push(Config {
                dedicated_threshold: a,
                preferred_dedicated_threshold: b,
                transient_dedicated_threshold: c,
                starting_free_list_chunk: b,
                final_free_list_chunk: a,
                minimal_buddy_size: c,
                initial_buddy_dedicated_size: b,
            });
        }
    }
    let usages = [
        UsageFlags::empty(),
        UsageFlags::UPLOAD,
        UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        UsageFlags::DOWNLOAD | UsageFlags::FAST_DEVICE_ACCESS,
    ];
    for name in [
        "nvidia-rtx2060super-windows",
        "apple-m1-moltenvk",
        "lavapipe-llvm15",
    ] {
        for config in &configs {
            let mut harness = Harness::new(Layout::named(name), *config);
            let mut blocks = Vec::new();
            for (i, size) in [1u64, 100, 4096, 70_000, 1 << 20].into_iter().enumerate() {
                for (j, &usage) in usages.iter().enumerate() {
                    let dedicated = match (i + j) % 3 {
                        0 => None,
                        1 => Some(Dedicated::Preferred),
                        _ => Some(Dedicated::Required),
                    };
                    let mut block = harness
                        .try_alloc(request(size, usage), dedicated)
                        .unwrap_or_else(|e| panic!("{name} {config:?} {size} {usage:?}: {e:?}"));
                    assert!(block.size() >= size);
                    if !usage.is_empty() {
                        let data = [i as u8 ^ j as u8; 64];
                        let len = data.len().min(size as usize);
                        harness.write(&mut block, 0, &data[..len]).expect("write");
                    }
                    blocks.push(block);
                }
            }
            for mut block in blocks {
                if block.props().contains(MemoryPropertyFlags::HOST_VISIBLE) {
                    let mut back = [0u8; 1];
                    harness.read(&mut block, 0, &mut back).expect("read");
                }
                harness.dealloc(block);
            }
            harness.cleanup();
            harness.check_accounting();
            harness.device.assert_clean();
        }
    }
}

/// Blocks that outlive their allocator keep their shared memory object (its
/// handle) alive; the last of them to go drops it, whichever order they go in,
/// and a block dropped before the allocator counts too.
#[test]
fn blocks_outliving_the_allocator_hand_over_their_memory_object() {
    use gpu_alloc::{Config, GpuAllocator};
    use gpu_alloc_tests::counted::{properties, Counted, Device, DROPPED};
    use std::sync::atomic::Ordering;

    let device = Device;
    // Sizes for a slab block, a TLSF block and a block that is returned.
    for (first, second, third) in [(256u64, 100_000u64, 512u64), (100_000, 256, 4096)] {
        let mut allocator = GpuAllocator::<Counted>::new(Config::i_am_prototyping(), properties());
        let alloc = |allocator: &mut GpuAllocator<Counted>, size| {
            // SAFETY: the device the allocator was made for.
            unsafe { allocator.alloc(&device, request(size, UsageFlags::FAST_DEVICE_ACCESS)) }
                .expect("block")
        };
        let (a, b, c) = (
            alloc(&mut allocator, first),
            alloc(&mut allocator, second),
            alloc(&mut allocator, third),
        );
        assert_eq!(
            allocator.memory_objects(),
            1,
            "one shared object for all three"
        );
        // SAFETY: as above; the block is not used afterwards.
        unsafe { allocator.dealloc(&device, c) };
        drop(a); // Abandoned while the allocator lives: reported, counted.
        let before = DROPPED.load(Ordering::SeqCst);
        drop(allocator); // `b` is still out: the object stays.
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            before,
            "dropped under a live block"
        );
        assert!(format!("{:?}", b.memory()).contains("Counted"));
        drop(b); // The last block: the object's handle goes with it.
        assert_eq!(
            DROPPED.load(Ordering::SeqCst),
            before + 1,
            "the last block frees it"
        );
    }
}

#[test]
fn an_unloaded_level_gives_its_memory_back() {
    // A level of 2,000 blocks of 1-128 KiB loads and unloads in random order, with no
    // cleanup: the retention floor follows the use down (issue 14), so at most
    // a small share of what the level held stays reserved.
    for layout in Layout::all() {
        for preset in Preset::ALL {
            let mut harness = Harness::new(layout.clone(), preset.config());
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut blocks: Vec<_> = (0..2_000)
                .map(|_| {
                    let size = 1024 << (next() % 8);
                    harness
                        .try_alloc(request(size, UsageFlags::FAST_DEVICE_ACCESS), None)
                        .unwrap_or_else(|e| panic!("{} {preset:?}: {e:?}", layout.name))
                })
                .collect();
            let loaded = harness.allocator.stats().reserved;
            while !blocks.is_empty() {
                let index = (next() % blocks.len() as u64) as usize;
                harness.dealloc(blocks.swap_remove(index));
            }
            let kept = harness.allocator.stats().reserved;
            assert!(
                kept * 4 <= loaded,
                "{} {preset:?}: {kept} bytes still reserved after unloading {loaded}",
                layout.name
            );
            harness.cleanup();
            harness.device.assert_clean();
        }
    }
}

#[test]
fn blocks_over_half_the_largest_shared_object_are_dedicated() {
    // A general request of more than half the largest object its pool makes
    // (`final_free_list_chunk`, at most an eighth of the heap, a power of two)
    // gets a dedicated object; one of at most that is shared (issue 14). Below
    // the dedicated threshold only: on heaps of at most 512 MiB.
    let config = Preset::Prototyping.config();
    let mut checked = 0;
    for layout in Layout::all() {
        let page = layout.buffer_image_granularity.max(4096);
        for (ty, info) in layout.memory_types.iter().enumerate() {
            let heap = layout.memory_heaps[info.heap as usize].size;
            let largest = config
                .final_free_list_chunk
                .min(1 << (63 - (heap / 8).max(1).leading_zeros()))
                .min(heap.min(layout.max_memory_allocation_size));
            let half = largest / 2;
            if half >= config.dedicated_threshold || half <= page {
                continue;
            }
            let mut harness = Harness::new(layout.clone(), config);
            let at = |size| Request {
                size,
                align_mask: 255,
                usage: UsageFlags::empty(),
                memory_types: 1 << ty,
            };
            // Types the allocator does not serve for plain requests
            // (protected, lazily allocated, vendor bits) say so.
            let Ok(shared) = harness.try_alloc(at(half - page), None) else {
                continue;
            };
            let dedicated = harness
                .try_alloc(at(half + 1), None)
                .unwrap_or_else(|e| panic!("{} type {ty}: {e:?}", layout.name));
            assert!(
                !shared.is_dedicated() && dedicated.is_dedicated(),
                "{} type {ty} (heap of {heap} bytes): {} bytes dedicated: {}, {} bytes: {}",
                layout.name,
                half - page,
                shared.is_dedicated(),
                half + 1,
                dedicated.is_dedicated()
            );
            harness.dealloc(shared);
            harness.dealloc(dedicated);
            harness.cleanup();
            harness.device.assert_clean();
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} small heaps checked");
}
