//! User pools (issue 17) on the simulated device, on every layout: a pool's
//! limits hold at their edges (`max_objects` is `PoolFull`, never a spill into
//! the default pools; `min_objects` are made up front and kept), its blocks lie
//! in its own memory objects of its type and size, a ring pool wraps around
//! without a new object, destroying a pool with live blocks reports them and
//! frees nothing they use, pools share the object limit and heap budgets with
//! the default pools exactly, and pool objects carry the pool's priority and
//! export types. Then random programs over pools and default pools, with the
//! allocator's invariants and a model checked after every step.

use {
    gpu_alloc::{
        AllocOptions, Config, Dedicated, ExternalMemoryHandleTypes, HeapBudget, MemoryBlock,
        MemoryPriority, ObjectKind, PoolAlgorithm, PoolError, PoolId, PoolOptions, Request,
        SharedGpuAllocator, TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{seeded_runner, Harness},
        sim::{Layout, SimDevice, SimMemory},
    },
    gpu_alloc_types::{AllocationSupport, MemoryPropertyFlags},
    proptest::prelude::*,
};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Every memory type of the layout.
fn all_types(layout: &Layout) -> u32 {
    u32::MAX >> (32 - layout.memory_types.len() as u32)
}

fn request(size: u64, align_mask: u64, usage: UsageFlags, memory_types: u32) -> Request {
    Request {
        size,
        align_mask,
        usage,
        memory_types,
    }
}

fn create(h: &mut Harness, options: PoolOptions) -> Result<PoolId, PoolError> {
    // SAFETY: the harness's device made the allocator's properties.
    let result = unsafe { h.allocator.create_pool(&h.device, options) };
    h.check_accounting();
    result
}

fn destroy(h: &mut Harness, pool: PoolId) -> gpu_alloc::PoolDestroyed {
    // SAFETY: as in `create`.
    let result = unsafe { h.allocator.destroy_pool(&h.device, pool) };
    h.check_accounting();
    result.expect("a live pool")
}

fn in_pool(
    h: &mut Harness,
    pool: PoolId,
    size: u64,
    memory_types: u32,
) -> Result<MemoryBlock<SimMemory>, TryAllocError> {
    let request = request(size, 255, UsageFlags::empty(), memory_types);
    let result = h.try_alloc_with_options(request, AllocOptions::new().pool(pool));
    h.check_accounting();
    result
}

/// A harness for `layout` whose device allows `count` memory objects.
fn with_object_limit(mut layout: Layout, count: u32) -> Harness {
    layout.max_memory_allocation_count = count;
    Harness::new(layout, Config::i_am_prototyping())
}

/// The memory objects the device holds.
fn objects(h: &Harness) -> usize {
    h.device.live_count()
}

/// A device-local-ish usage and a host-visible one: pools of both kinds of
/// memory type (mapped and not).
const POOL_USAGES: [UsageFlags; 2] = [UsageFlags::FAST_DEVICE_ACCESS, UsageFlags::UPLOAD];

#[test]
fn a_pool_stops_at_its_maximum_with_a_clear_error_on_every_layout() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = Harness::new(layout, Config::i_am_prototyping());
        for usage in POOL_USAGES {
            let options = PoolOptions::new(MIB)
                .usage(usage)
                .max_objects(2)
                .name("limited");
            let pool = create(&mut h, options).unwrap_or_else(|e| panic!("{name}: {e}"));
            let stats = h.allocator.pool_stats(pool).expect("live");
            assert_eq!((stats.memory_objects, stats.blocks), (0, 0), "{name}");
            let ty = stats.memory_type;
            let mut blocks = Vec::new();
            for i in 0..8 {
                let block = in_pool(&mut h, pool, 256 * KIB, types)
                    .unwrap_or_else(|e| panic!("{name}, {usage:?}, block {i}: {e}"));
                assert_eq!(block.memory_type(), ty, "{name}: the pool's type");
                let object = h.device.object(block.memory().id()).expect("live");
                assert_eq!(object.size, MIB, "{name}: in an object of the pool's size");
                blocks.push(block);
            }
            let before = objects(&h);
            let default_objects = h.allocator.memory_objects();
            assert_eq!(
                in_pool(&mut h, pool, 256 * KIB, types).err(),
                Some(TryAllocError::PoolFull { max_objects: 2 }),
                "{name}, {usage:?}: the ninth block"
            );
            assert_eq!(objects(&h), before, "{name}: a full pool makes no object");
            assert_eq!(
                h.allocator.memory_objects(),
                default_objects,
                "{name}: and spills into nothing"
            );
            let stats = h.allocator.pool_stats(pool).expect("live");
            assert_eq!((stats.memory_objects, stats.blocks), (2, 8), "{name}");
            assert_eq!((stats.used, stats.free), (2 * MIB, 0), "{name}");
            // A block larger than the pool's objects, and one whose resource
            // does not allow the pool's type.
            assert_eq!(
                in_pool(&mut h, pool, MIB + 1, types).err(),
                Some(TryAllocError::TooLarge {
                    size: MIB + 1,
                    max: MIB
                }),
                "{name}"
            );
            assert_eq!(
                in_pool(&mut h, pool, 16, types & !(1 << ty)).err(),
                Some(TryAllocError::PoolTypeNotAllowed { memory_type: ty }),
                "{name}"
            );
            let required = AllocOptions::new()
                .pool(pool)
                .dedicated(Dedicated::Required);
            assert_eq!(
                h.try_alloc_with_options(request(16, 0, usage, types), required)
                    .err(),
                Some(TryAllocError::DedicatedInPool),
                "{name}"
            );
            // Freeing one block makes room for one more, in the same objects.
            h.dealloc(blocks.swap_remove(3));
            blocks.push(in_pool(&mut h, pool, 256 * KIB, types).expect("room again"));
            assert_eq!(objects(&h), before, "{name}");
            for block in blocks {
                h.dealloc(block);
            }
            // One empty object is kept for reuse, the other goes.
            let stats = h.allocator.pool_stats(pool).expect("live");
            assert_eq!((stats.memory_objects, stats.blocks), (1, 0), "{name}");
            let destroyed = destroy(&mut h, pool);
            assert_eq!(
                (destroyed.live_blocks, destroyed.objects_freed),
                (0, 1),
                "{name}"
            );
            assert_eq!(
                in_pool(&mut h, pool, 16, types).err(),
                Some(TryAllocError::UnknownPool),
                "{name}: a destroyed pool takes nothing"
            );
            assert!(h.allocator.pool_stats(pool).is_none(), "{name}");
        }
        h.cleanup();
        assert_eq!(objects(&h), 0, "{name}: nothing left on the device");
    }
}

#[test]
fn invalid_pool_options_are_refused_with_nothing_made() {
    let layout = Layout::named("nvidia-h200");
    let types = layout.memory_types.len() as u32;
    let max = layout.max_memory_allocation_size;
    let mut h = Harness::new(layout, Config::i_am_prototyping());
    let cases = [
        (PoolOptions::new(0), PoolError::ZeroObjectSize),
        (
            PoolOptions::new(MIB).min_objects(3).max_objects(2),
            PoolError::InvalidObjectCounts { min: 3, max: 2 },
        ),
        (
            PoolOptions::new(MIB).max_objects(0),
            PoolError::InvalidObjectCounts { min: 0, max: 0 },
        ),
        (
            PoolOptions::new(MIB).memory_type(types),
            PoolError::InvalidMemoryType { memory_type: types },
        ),
        (
            PoolOptions::new(MIB).memory_types(0),
            PoolError::NoCompatibleMemoryType,
        ),
        (
            PoolOptions::new(u64::MAX).memory_type(0),
            PoolError::ObjectTooLarge {
                size: u64::MAX,
                max: h.allocator.stats().heaps[0].size.min(max),
            },
        ),
        (
            PoolOptions::new(MIB).export(ExternalMemoryHandleTypes::OPAQUE_FD),
            PoolError::ExportNotSupported {
                requested: ExternalMemoryHandleTypes::OPAQUE_FD,
                supported: ExternalMemoryHandleTypes::empty(),
            },
        ),
    ];
    for (options, error) in cases {
        let result = create(&mut h, options);
        // The type-0 heap of the H200 layout is its device-local one, whose
        // objects are limited by the heap or `max_memory_allocation_size`.
        assert_eq!(result.err(), Some(error), "{options:?}");
        assert_eq!(objects(&h), 0);
    }
    assert!(h.allocator.stats().pools.is_empty());
}

#[test]
fn minimum_objects_are_made_up_front_and_kept_and_failing_to_make_them_keeps_none() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = Harness::new(layout, Config::i_am_prototyping());
        let options = PoolOptions::new(512 * KIB).min_objects(2).max_objects(3);
        let pool = create(&mut h, options).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(objects(&h), 2, "{name}: made up front");
        let a = in_pool(&mut h, pool, 512 * KIB, types).expect("room");
        let b = in_pool(&mut h, pool, 512 * KIB, types).expect("room");
        assert_eq!(objects(&h), 2, "{name}: placed in them");
        h.dealloc(a);
        h.dealloc(b);
        h.cleanup();
        assert_eq!(objects(&h), 2, "{name}: kept empty, through cleanup too");
        destroy(&mut h, pool);
        assert_eq!(objects(&h), 0, "{name}");
        // One object may be made: making two fails, and the one made goes
        // back.
        let mut h = with_object_limit(h.device.layout().clone(), 1);
        let options = PoolOptions::new(512 * KIB).min_objects(2);
        assert_eq!(
            create(&mut h, options).err(),
            Some(PoolError::Allocation(TryAllocError::TooManyObjects)),
            "{name}"
        );
        assert_eq!(objects(&h), 0, "{name}: nothing kept");
        assert_eq!(h.allocator.remaining_allocations(), 1, "{name}");
        assert!(h.allocator.stats().pools.is_empty(), "{name}");
    }
}

#[test]
fn a_ring_pool_wraps_around_in_one_object_frame_after_frame() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = Harness::new(layout, Config::i_am_prototyping());
        let options = PoolOptions::new(MIB)
            .usage(UsageFlags::UPLOAD)
            .algorithm(PoolAlgorithm::Ring)
            .max_objects(1)
            .name("frame uploads");
        let pool = create(&mut h, options).unwrap_or_else(|e| panic!("{name}: {e}"));
        let allocations = h.device.stats().allocations;
        // Two frames in flight, five uploads each of 60 KiB (rounded to
        // atoms and pages on some layouts); the fence of the oldest frame
        // frees its blocks, in order on even frames, all at once in reverse
        // on odd ones.
        let mut in_flight: std::collections::VecDeque<Vec<MemoryBlock<SimMemory>>> =
            Default::default();
        let mut served = 0u64;
        for frame in 0..200u64 {
            if in_flight.len() == 2 {
                let mut done = in_flight.pop_front().expect("two frames");
                if frame % 2 == 1 {
                    done.reverse();
                }
                for mut block in done {
                    let mut byte = [0u8];
                    h.read(&mut block, 0, &mut byte).expect("host-visible");
                    assert_eq!(byte[0], block.offset() as u8 ^ 0x5a, "{name}: data kept");
                    h.dealloc(block);
                }
            }
            let mut uploads = Vec::new();
            for i in 0..5 {
                let size = 60 * KIB + i;
                let mut block = in_pool(&mut h, pool, size, types)
                    .unwrap_or_else(|e| panic!("{name}, frame {frame}: {e}"));
                let stamp = block.offset() as u8 ^ 0x5a;
                h.write(&mut block, 0, &[stamp]).expect("host-visible");
                uploads.push(block);
                served += 1;
            }
            in_flight.push_back(uploads);
        }
        assert_eq!(served, 1000);
        assert_eq!(
            h.device.stats().allocations - allocations,
            1,
            "{name}: one object for every frame"
        );
        let stats = h.allocator.pool_stats(pool).expect("live");
        assert_eq!(stats.memory_objects, 1, "{name}");
        for frame in in_flight {
            for block in frame {
                h.dealloc(block);
            }
        }
        assert_eq!(destroy(&mut h, pool).live_blocks, 0, "{name}");
        h.cleanup();
        assert_eq!(objects(&h), 0, "{name}");
    }
}

#[test]
fn a_linear_pool_reuses_its_object_once_every_block_is_freed() {
    let layout = Layout::named("amd-rx6600-radv");
    let types = all_types(&layout);
    let mut h = Harness::new(layout, Config::i_am_prototyping());
    let options = PoolOptions::new(MIB)
        .algorithm(PoolAlgorithm::Linear)
        .max_objects(1);
    let pool = create(&mut h, options).expect("valid");
    for round in 0..3 {
        let blocks: Vec<_> = (0..4)
            .map(|_| in_pool(&mut h, pool, 256 * KIB, types).expect("room"))
            .collect();
        let offsets: Vec<u64> = blocks.iter().map(MemoryBlock::offset).collect();
        assert_eq!(
            offsets,
            [0, 256 * KIB, 512 * KIB, 768 * KIB],
            "round {round}"
        );
        assert_eq!(
            in_pool(&mut h, pool, 16, types).err(),
            Some(TryAllocError::PoolFull { max_objects: 1 })
        );
        for block in blocks {
            h.dealloc(block);
        }
    }
    destroy(&mut h, pool);
}

#[test]
fn destroying_a_pool_with_live_blocks_reports_them_and_frees_nothing_they_use() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = Harness::new(layout, Config::i_am_prototyping());
        let options = PoolOptions::new(MIB)
            .usage(UsageFlags::UPLOAD)
            .name("leaky");
        let pool = create(&mut h, options).expect("valid");
        // Two objects: the first full, the second with one live block.
        let full: Vec<_> = (0..4)
            .map(|_| in_pool(&mut h, pool, 256 * KIB, types).expect("room"))
            .collect();
        let mut kept = in_pool(&mut h, pool, 256 * KIB, types).expect("room");
        h.write(&mut kept, 0, b"still here").expect("host-visible");
        for block in full {
            h.dealloc(block);
        }
        // The emptied first object stays as the pool's one spare.
        assert_eq!(objects(&h), 2, "{name}");
        let destroyed = destroy(&mut h, pool);
        assert_eq!(
            (
                destroyed.live_blocks,
                destroyed.live_bytes,
                destroyed.objects_freed,
                destroyed.objects_kept
            ),
            (1, 256 * KIB, 1, 1),
            "{name}"
        );
        assert_eq!(objects(&h), 1, "{name}: the live block's object stays");
        let stats = h.allocator.stats();
        assert_eq!(stats.pools.len(), 1, "{name}");
        assert!(stats.pools[0].destroyed, "{name}");
        assert_eq!(
            in_pool(&mut h, pool, 16, types).err(),
            Some(TryAllocError::UnknownPool),
            "{name}"
        );
        let mut text = [0u8; 10];
        h.read(&mut kept, 0, &mut text).expect("host-visible");
        assert_eq!(&text, b"still here", "{name}: its memory untouched");
        h.dealloc(kept);
        assert_eq!(objects(&h), 0, "{name}: freed with its last block");
        assert!(h.allocator.stats().pools.is_empty(), "{name}");
        h.check_accounting();
    }
}

#[test]
fn pools_share_the_object_limit_and_heap_budgets_with_the_default_pools() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        // Object limit: two for the pool, one for a default block.
        let mut h = with_object_limit(layout.clone(), 3);
        let pool = create(&mut h, PoolOptions::new(MIB).min_objects(2)).expect("room");
        let default = h
            .try_alloc(request(4 * KIB, 255, UsageFlags::empty(), types), None)
            .expect("the third object");
        let full: Vec<_> = (0..8)
            .map(|_| in_pool(&mut h, pool, 256 * KIB, types).expect("room"))
            .collect();
        assert_eq!(
            in_pool(&mut h, pool, 256 * KIB, types).err(),
            Some(TryAllocError::TooManyObjects),
            "{name}: the pool may make no third object"
        );
        h.dealloc(default);
        // The default pools' empty object goes back under pressure, and the
        // pool makes its third.
        let third = in_pool(&mut h, pool, 256 * KIB, types).expect("after release");
        assert_eq!(h.allocator.remaining_allocations(), 0, "{name}");
        h.dealloc(third);
        for block in full {
            h.dealloc(block);
        }
        destroy(&mut h, pool);
        h.cleanup();
        assert_eq!(objects(&h), 0, "{name}");
        // Heap budget: the pool's type's heap has room for two objects of
        // the pool beside what the default pools hold.
        let mut h = Harness::new(layout, Config::i_am_prototyping());
        let pool = create(&mut h, PoolOptions::new(MIB)).expect("room");
        let heap = h.allocator.pool_stats(pool).expect("live").heap;
        let mut budgets = vec![HeapBudget::default(); h.device.layout().memory_heaps.len()];
        for (i, budget) in budgets.iter_mut().enumerate() {
            let size = h.device.layout().memory_heaps[i].size;
            *budget = HeapBudget {
                budget: if i as u32 == heap { 2 * MIB } else { size },
                usage: 0,
            };
        }
        h.allocator.set_heap_budgets(&budgets);
        let blocks: Vec<_> = (0..8)
            .map(|_| in_pool(&mut h, pool, 256 * KIB, types).expect("within the budget"))
            .collect();
        assert_eq!(
            in_pool(&mut h, pool, 256 * KIB, types).err(),
            Some(TryAllocError::OutOfDeviceMemory),
            "{name}: a third object would pass the budget"
        );
        assert_eq!(h.allocator.heap_usage(heap), 2 * MIB, "{name}");
        // Past the budget when the request says it may, one object of the
        // pool's size; the forecast agrees.
        let past = AllocOptions::new()
            .pool(pool)
            .budget(gpu_alloc::BudgetPolicy::MayExceed);
        let request = request(256 * KIB, 255, UsageFlags::empty(), types);
        let forecast = h
            .allocator
            .forecast(&request, past)
            .expect("past the budget");
        assert_eq!(forecast.new_object, Some(MIB), "{name}");
        let beyond = h
            .try_alloc_with_options(request, past)
            .expect("past the budget");
        assert_eq!(h.allocator.heap_usage(heap), 3 * MIB, "{name}");
        h.dealloc(beyond);
        for block in blocks {
            h.dealloc(block);
        }
        destroy(&mut h, pool);
        h.cleanup();
        assert_eq!(objects(&h), 0, "{name}");
    }
}

#[test]
fn pool_objects_carry_the_pools_priority_and_export_types() {
    let support = AllocationSupport::new()
        .dedicated(true)
        .priority(true)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD);
    for (supported, layout) in [true, false].into_iter().zip(Layout::all()) {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let device = SimDevice::new(layout);
        let device = if supported {
            device.with_allocation_support(support)
        } else {
            device
        };
        let mut h = Harness::with_device(device, Config::i_am_prototyping());
        let priority = MemoryPriority::new(0.75).expect("in range");
        let mut options = PoolOptions::new(MIB).priority(priority).min_objects(1);
        if supported {
            options = options.export(ExternalMemoryHandleTypes::OPAQUE_FD);
        }
        let pool = create(&mut h, options).expect("valid");
        let a = in_pool(&mut h, pool, 768 * KIB, types).expect("room");
        let b = in_pool(&mut h, pool, 768 * KIB, types).expect("a second object");
        for block in [&a, &b] {
            let info = h.device.object(block.memory().id()).expect("live").info;
            if supported {
                assert_eq!(info.priority, Some(priority), "{name}");
                assert_eq!(info.export, ExternalMemoryHandleTypes::OPAQUE_FD, "{name}");
            } else {
                assert_eq!(info.priority, None, "{name}");
            }
        }
        let dropped = h.allocator.stats().hints_dropped;
        assert_eq!(dropped, if supported { 0 } else { 2 }, "{name}: per object");
        h.dealloc(a);
        h.dealloc(b);
        destroy(&mut h, pool);
    }
}

#[test]
fn the_forecast_and_the_memory_map_know_the_pools() {
    let layout = Layout::named("intel-arc-b60-anv");
    let types = all_types(&layout);
    let mut h = Harness::new(layout, Config::i_am_prototyping());
    let pool = create(
        &mut h,
        PoolOptions::new(MIB).max_objects(1).name("level geometry"),
    )
    .expect("valid");
    let unnamed = create(&mut h, PoolOptions::new(MIB).min_objects(1)).expect("valid");
    let request = request(512 * KIB, 255, UsageFlags::empty(), types);
    let options = AllocOptions::new().pool(pool);
    let forecast = h.allocator.forecast(&request, options).expect("room");
    assert_eq!(forecast.new_object, Some(MIB));
    let a = h.try_alloc_with_options(request, options).expect("room");
    let forecast = h.allocator.forecast(&request, options).expect("room");
    assert_eq!((forecast.new_object, forecast.dedicated), (None, false));
    assert_eq!(forecast.memory_type, a.memory_type());
    let b = h.try_alloc_with_options(request, options).expect("room");
    assert_eq!(
        h.allocator.forecast(&request, options).err(),
        Some(TryAllocError::PoolFull { max_objects: 1 })
    );
    let map = h.allocator.memory_map();
    let mut names: Vec<_> = map
        .objects
        .iter()
        .filter(|o| o.kind == ObjectKind::Pool)
        .map(|o| o.pool.clone().expect("a pool object names its pool"))
        .collect();
    names.sort();
    assert_eq!(names, ["level geometry", "pool 1"]);
    let stats = h.allocator.stats();
    assert_eq!(stats.pools.len(), 2);
    assert_eq!(stats.pools[0].name.as_deref(), Some("level geometry"));
    assert_eq!(stats.pools[0].blocks, 2);
    assert_eq!(stats.memory_objects, 2);
    h.dealloc(a);
    h.dealloc(b);
    destroy(&mut h, pool);
    destroy(&mut h, unnamed);
}

#[test]
fn a_shared_allocators_pools_serve_many_threads() {
    let layout = Layout::named("nvidia-h200");
    let types = all_types(&layout);
    let device = SimDevice::new(layout);
    let shared = SharedGpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.properties(),
        device.extended_properties(),
    );
    // SAFETY: `device` made the allocator's properties.
    let pool = unsafe { shared.create_pool(&device, PoolOptions::new(4 * MIB).max_objects(2)) }
        .expect("valid");
    std::thread::scope(|scope| {
        for thread in 0..4u64 {
            let (shared, device) = (&shared, &device);
            scope.spawn(move || {
                for round in 0..50u64 {
                    let size = 4 * KIB * (1 + (thread + round) % 16);
                    let request = request(size, 255, UsageFlags::empty(), types);
                    let options = AllocOptions::new().pool(pool);
                    // SAFETY: the allocator's device.
                    let block = unsafe { shared.try_alloc_with_options(device, request, options) }
                        .expect("room");
                    assert!(block.size() >= size);
                    // SAFETY: as above; nothing uses the block.
                    unsafe { shared.dealloc(device, block) };
                }
            });
        }
    });
    shared.check_invariants();
    let stats = shared.pool_stats(pool).expect("live");
    assert_eq!(stats.blocks, 0);
    assert!(stats.memory_objects >= 1);
    // SAFETY: as above.
    let destroyed = unsafe { shared.destroy_pool(&device, pool) }.expect("live");
    assert_eq!(destroyed.live_blocks, 0);
    // SAFETY: as above.
    unsafe { shared.cleanup(&device) };
    assert_eq!(device.live_count(), 0);
}

// ---------------------------------------------------------------------------
// Random programs.

/// One step of a random program.
#[derive(Clone, Debug)]
enum Op {
    /// A pool: algorithm, usage, object size in KiB, minimum, maximum.
    Create {
        algorithm: u8,
        host: bool,
        object_kib: u64,
        min: u32,
        max: Option<u32>,
    },
    /// A block of pool `pool` (an index into the pools made so far, live
    /// or destroyed): size in bytes, alignment as a power of two, and
    /// whether the request's mask leaves the pool's type out.
    InPool {
        pool: prop::sample::Index,
        size: u64,
        align_log: u32,
        exclude_type: bool,
        /// Pick among the live pools only (if any).
        live_only: bool,
    },
    /// A block of the default pools.
    Default {
        size: u64,
        host: bool,
    },
    /// Frees a live block: a random one, or a ring pool's oldest.
    Free {
        pick: prop::sample::Index,
        oldest: bool,
    },
    Destroy {
        pool: prop::sample::Index,
    },
    Cleanup,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u8..3, any::<bool>(), prop::sample::select(vec![64u64, 256, 1024]), 0u32..3,
              prop::option::of(1u32..4))
            .prop_map(|(algorithm, host, object_kib, min, max)| Op::Create {
                algorithm, host, object_kib, min, max
            }),
        8 => (any::<prop::sample::Index>(),
              prop_oneof![4 => 1u64..4096, 4 => 4096u64..300_000, 1 => 900_000u64..1_100_000],
              0u32..14, prop::bool::weighted(0.05), prop::bool::weighted(0.9))
            .prop_map(|(pool, size, align_log, exclude_type, live_only)| Op::InPool {
                pool, size, align_log, exclude_type, live_only
            }),
        2 => (1u64..2_000_000, any::<bool>()).prop_map(|(size, host)| Op::Default { size, host }),
        7 => (any::<prop::sample::Index>(), prop::bool::weighted(0.6))
            .prop_map(|(pick, oldest)| Op::Free { pick, oldest }),
        1 => any::<prop::sample::Index>().prop_map(|pool| Op::Destroy { pool }),
        1 => Just(Op::Cleanup),
    ]
}

/// What the model knows of a pool.
struct ModelPool {
    id: PoolId,
    ty: u32,
    object_size: u64,
    min: u32,
    max: Option<u32>,
    ring: bool,
    live: bool,
}

/// A live block of the program, with the byte written at its start where
/// its memory is host-visible.
struct Live {
    block: MemoryBlock<SimMemory>,
    pool: Option<usize>,
    serial: u64,
    stamp: Option<u8>,
}

/// What the programs of one test met: blocks served, and requests refused by
/// error (`Debug` of its variant).
#[derive(Default)]
struct Met {
    served: u64,
    refused: std::collections::BTreeMap<String, u64>,
}

/// Runs one program on `layout`; `tight` gives the allocator few objects
/// and small budgets. Counts what it met in `met`.
fn run_program(layout: &Layout, tight: bool, ops: &[Op], met: &mut Met) {
    let name = &layout.name;
    let types = all_types(layout);
    let mut h = if tight {
        with_object_limit(layout.clone(), 6)
    } else {
        Harness::new(layout.clone(), Config::i_am_prototyping())
    };
    if tight {
        let budgets: Vec<HeapBudget> = layout
            .memory_heaps
            .iter()
            .map(|heap| HeapBudget {
                budget: heap.size.min(8 * MIB),
                usage: 0,
            })
            .collect();
        h.allocator.set_heap_budgets(&budgets);
    }
    let mut pools: Vec<ModelPool> = Vec::new();
    let mut live: Vec<Live> = Vec::new();
    let mut serial = 0u64;
    let mut served = 0u64;
    for (step, op) in ops.iter().enumerate() {
        let at = format!("{name}, step {step} ({op:?})");
        match *op {
            Op::Create {
                algorithm,
                host,
                object_kib,
                min,
                max,
            } => {
                let algorithm = [
                    PoolAlgorithm::General,
                    PoolAlgorithm::Linear,
                    PoolAlgorithm::Ring,
                ][usize::from(algorithm)];
                let usage = if host {
                    UsageFlags::UPLOAD
                } else {
                    UsageFlags::FAST_DEVICE_ACCESS
                };
                let mut options = PoolOptions::new(object_kib * KIB)
                    .usage(usage)
                    .algorithm(algorithm)
                    .min_objects(min);
                if let Some(max) = max {
                    options = options.max_objects(max.max(min));
                }
                let before = objects(&h);
                match create(&mut h, options) {
                    Ok(id) => {
                        let stats = h.allocator.pool_stats(id).expect("live");
                        assert_eq!(stats.memory_objects, min, "{at}");
                        // Under pressure, empty objects of the default pools
                        // may have gone back for the pool's.
                        let made = before + min as usize;
                        assert!(objects(&h) == made || tight && objects(&h) < made, "{at}");
                        pools.push(ModelPool {
                            id,
                            ty: stats.memory_type,
                            object_size: stats.object_size,
                            min,
                            max: options.max_objects,
                            ring: algorithm == PoolAlgorithm::Ring,
                            live: true,
                        });
                    }
                    Err(PoolError::Allocation(
                        TryAllocError::TooManyObjects | TryAllocError::OutOfDeviceMemory,
                    )) if tight => assert!(objects(&h) <= before, "{at}: nothing kept"),
                    Err(err) => panic!("{at}: {err}"),
                }
            }
            Op::InPool {
                pool,
                size,
                align_log,
                exclude_type,
                live_only,
            } => {
                let live_pools: Vec<usize> = (0..pools.len()).filter(|&i| pools[i].live).collect();
                let index = if live_only && !live_pools.is_empty() {
                    live_pools[pool.index(live_pools.len())]
                } else if pools.is_empty() {
                    continue;
                } else {
                    pool.index(pools.len())
                };
                let model = &pools[index];
                let mask = if exclude_type {
                    types & !(1 << model.ty)
                } else {
                    types
                };
                let align_mask = (1u64 << align_log) - 1;
                let request = request(size, align_mask, UsageFlags::empty(), mask);
                let before = (objects(&h), h.allocator.memory_objects());
                let result = h.try_alloc_with_options(request, AllocOptions::new().pool(model.id));
                h.check_accounting();
                match result {
                    Ok(block) => {
                        assert!(model.live && !exclude_type, "{at}: served");
                        assert_eq!(block.memory_type(), model.ty, "{at}: the pool's type");
                        assert_eq!(block.offset() & align_mask, 0, "{at}: aligned");
                        // Pool blocks take any resource: each on granularity
                        // pages of its own, and whole atoms of non-coherent
                        // memory.
                        let page = layout.buffer_image_granularity.max(1);
                        assert_eq!(block.offset() % page, 0, "{at}: own pages");
                        assert_eq!(block.size() % page, 0, "{at}: whole pages");
                        let props = block.props();
                        if props.contains(MemoryPropertyFlags::HOST_VISIBLE)
                            && !props.contains(MemoryPropertyFlags::HOST_COHERENT)
                        {
                            let atom = layout.non_coherent_atom_size.max(1);
                            assert_eq!(block.offset() % atom, 0, "{at}: whole atoms");
                            assert_eq!(block.size() % atom, 0, "{at}: whole atoms");
                        }
                        assert!(block.size() >= size, "{at}");
                        let object = h.device.object(block.memory().id()).expect("live");
                        assert_eq!(object.size, model.object_size, "{at}: a pool object");
                        assert!(block.offset() + block.size() <= object.size, "{at}");
                        for other in &live {
                            if other.block.memory().id() == block.memory().id() {
                                let (a, b) = (&block, &other.block);
                                assert!(
                                    a.offset() + a.size() <= b.offset()
                                        || b.offset() + b.size() <= a.offset(),
                                    "{at}: overlaps a live block"
                                );
                            }
                        }
                        let stats = h.allocator.pool_stats(model.id).expect("live");
                        if let Some(max) = model.max {
                            assert!(stats.memory_objects <= max, "{at}");
                        }
                        let mut block = block;
                        let stamp = (serial as u8) ^ 0xa5;
                        let stamp = h.write(&mut block, 0, &[stamp]).ok().map(|()| stamp);
                        live.push(Live {
                            block,
                            pool: Some(index),
                            serial,
                            stamp,
                        });
                        serial += 1;
                        served += 1;
                    }
                    Err(err) => {
                        let kind = format!("{err:?}");
                        let kind = kind.split([' ', '{']).next().unwrap_or_default();
                        *met.refused.entry(kind.to_string()).or_default() += 1;
                        let expected_kind = match err {
                            TryAllocError::UnknownPool => !model.live,
                            TryAllocError::PoolTypeNotAllowed { memory_type } => {
                                model.live && exclude_type && memory_type == model.ty
                            }
                            TryAllocError::TooLarge { max, .. } => {
                                model.live && max == model.object_size && size > max / 2
                            }
                            TryAllocError::PoolFull { max_objects } => {
                                let stats = h.allocator.pool_stats(model.id).expect("live");
                                model.live
                                    && model.max == Some(max_objects)
                                    && stats.memory_objects == max_objects
                            }
                            TryAllocError::TooManyObjects | TryAllocError::OutOfDeviceMemory => {
                                tight && model.live
                            }
                            _ => false,
                        };
                        assert!(expected_kind, "{at}: unexpected {err:?}");
                        let after = (objects(&h), h.allocator.memory_objects());
                        assert!(
                            after.0 <= before.0 && after.1 <= before.1,
                            "{at}: a refused request made no object"
                        );
                    }
                }
            }
            Op::Default { size, host } => {
                let usage = if host {
                    UsageFlags::UPLOAD
                } else {
                    UsageFlags::FAST_DEVICE_ACCESS
                };
                match h.try_alloc(request(size, 255, usage, types), None) {
                    Ok(block) => {
                        live.push(Live {
                            block,
                            pool: None,
                            serial,
                            stamp: None,
                        });
                        serial += 1;
                        served += 1;
                    }
                    Err(TryAllocError::TooManyObjects | TryAllocError::OutOfDeviceMemory)
                        if tight => {}
                    Err(err) => panic!("{at}: {err}"),
                }
            }
            Op::Free { pick, oldest } => {
                if live.is_empty() {
                    continue;
                }
                let mut at_index = pick.index(live.len());
                if oldest {
                    // The oldest live block of the picked block's pool: ring
                    // pools are mostly freed in order.
                    if let Some(pool) = live[at_index].pool.filter(|&p| pools[p].ring) {
                        at_index = live
                            .iter()
                            .enumerate()
                            .filter(|(_, l)| l.pool == Some(pool))
                            .min_by_key(|(_, l)| l.serial)
                            .map(|(i, _)| i)
                            .expect("the picked block");
                    }
                }
                let mut gone = live.swap_remove(at_index);
                if let Some(stamp) = gone.stamp {
                    let mut byte = [0u8];
                    h.read(&mut gone.block, 0, &mut byte).expect("was written");
                    assert_eq!(byte[0], stamp, "{at}: data kept");
                }
                h.dealloc(gone.block);
            }
            Op::Destroy { pool } => {
                if pools.is_empty() {
                    continue;
                }
                let index = pool.index(pools.len());
                if !pools[index].live {
                    // SAFETY: the harness's device.
                    let result = unsafe { h.allocator.destroy_pool(&h.device, pools[index].id) };
                    assert_eq!(result.err(), Some(PoolError::UnknownPool), "{at}");
                    continue;
                }
                let blocks = live.iter().filter(|l| l.pool == Some(index)).count();
                let destroyed = destroy(&mut h, pools[index].id);
                assert_eq!(destroyed.live_blocks, blocks as u64, "{at}");
                pools[index].live = false;
            }
            Op::Cleanup => h.cleanup(),
        }
        h.check_accounting();
        for model in pools.iter().filter(|p| p.live) {
            let stats = h.allocator.pool_stats(model.id).expect("live");
            let blocks = live
                .iter()
                .filter(|l| l.pool.is_some_and(|p| pools[p].id == model.id))
                .count();
            assert_eq!(stats.blocks, blocks as u64, "{name}, step {step}");
            assert!(stats.memory_objects >= model.min, "{name}, step {step}");
            if let Some(max) = model.max {
                assert!(stats.memory_objects <= max, "{name}, step {step}");
            }
        }
    }
    for mut gone in live {
        if let Some(stamp) = gone.stamp {
            let mut byte = [0u8];
            h.read(&mut gone.block, 0, &mut byte).expect("was written");
            assert_eq!(byte[0], stamp, "{name}: data kept to the end");
        }
        h.dealloc(gone.block);
    }
    for model in pools.iter().filter(|p| p.live) {
        assert_eq!(destroy(&mut h, model.id).live_blocks, 0, "{name}");
    }
    h.cleanup();
    assert_eq!(objects(&h), 0, "{name}: everything freed");
    assert!(h.allocator.stats().pools.is_empty(), "{name}");
    met.served += served;
}

fn run_programs(tight: bool) {
    let mut total = Met::default();
    for layout in Layout::all() {
        let label = format!(
            "pools/{}/{}",
            layout.name,
            if tight { "tight" } else { "clean" }
        );
        let mut runner = seeded_runner(&label, 12);
        let met = std::cell::RefCell::new(Met::default());
        let programs = prop::collection::vec(op_strategy(), 20..120);
        runner
            .run(&programs, |ops| {
                run_program(&layout, tight, &ops, &mut met.borrow_mut());
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let met = met.into_inner();
        println!(
            "{label}: {} blocks served, refused: {:?}",
            met.served, met.refused
        );
        assert!(met.served > 0, "{label}: no block served");
        for (kind, n) in met.refused {
            *total.refused.entry(kind).or_default() += n;
        }
        total.served += met.served;
    }
    // Across the layouts, the programs met every limit at its edge.
    let mut expected = vec!["PoolFull", "UnknownPool", "PoolTypeNotAllowed", "TooLarge"];
    if tight {
        expected.push("OutOfDeviceMemory");
    }
    for kind in expected {
        assert!(
            total.refused.contains_key(kind),
            "no program met {kind}: {:?}",
            total.refused
        );
    }
}

#[test]
fn random_programs_over_pools_and_default_pools_keep_every_rule() {
    run_programs(false);
}

#[test]
fn random_programs_with_few_objects_and_small_budgets_keep_every_rule() {
    run_programs(true);
}

/// Host-visible pool objects are mapped once, as the default pools' are.
#[test]
fn host_visible_pool_objects_are_mapped_once() {
    let layout = Layout::named("nvidia-h200");
    let types = all_types(&layout);
    let mut h = Harness::new(layout, Config::i_am_prototyping());
    let pool = create(&mut h, PoolOptions::new(MIB).usage(UsageFlags::UPLOAD)).expect("valid");
    let block = in_pool(&mut h, pool, 4 * KIB, types).expect("room");
    assert!(block.props().contains(MemoryPropertyFlags::HOST_VISIBLE));
    let object = h.device.object(block.memory().id()).expect("live");
    assert_eq!(object.mapped, Some((0, MIB)));
    h.dealloc(block);
    destroy(&mut h, pool);
    assert_eq!(h.device.stats().unmap_calls, 1);
}
