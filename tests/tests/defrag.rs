//! Defragmentation (issue 18) on the simulated device: random programs that
//! interleave churn with passes (random limits, random skips, resources
//! destroyed during a pass), on every layout. Every block's bytes are written
//! through the device when it is made, copied by the test as a GPU would for
//! each move, and read back after every pass and before every free; the
//! allocator's invariants and accounting are checked after every step, and
//! every move keeps the rules of a fresh block (memory type, alignment,
//! atoms, granularity pages, no overlap). Then full defragmentation of a
//! churned heap, which must give the holes back.

use {
    gpu_alloc::{
        Config, DefragOptions, DefragPass, MemoryBlock, MemoryPropertyFlags, PoolOptions, Request,
        SharedGpuAllocator, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{seeded_runner, Harness},
        sim::{Layout, SimDevice, SimMemory},
    },
    proptest::prelude::*,
};

const KIB: u64 = 1024;

/// A live block of a program: its tag, the alignment its request asked, and
/// the seed of the bytes written to it.
struct Live {
    block: MemoryBlock<SimMemory>,
    tag: u64,
    align_mask: u64,
    movable: bool,
}

/// The bytes a block of `tag` holds: a pattern of the tag over its first
/// `len` bytes (the rest stays unwritten, as a resource may leave it).
fn pattern(tag: u64, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (tag.wrapping_mul(31).wrapping_add(i * 7) >> 1) as u8)
        .collect()
}

/// How much of a block the test writes and checks (all of a small one).
fn checked_len(block: &MemoryBlock<SimMemory>) -> u64 {
    block.size().min(4 * KIB)
}

fn write(h: &Harness, live: &Live) {
    let len = checked_len(&live.block);
    h.device.device_write(
        live.block.memory(),
        live.block.offset(),
        &pattern(live.tag, len),
    );
}

fn check(h: &Harness, live: &Live, at: &str) {
    let len = checked_len(&live.block);
    let read = h
        .device
        .device_read(live.block.memory(), live.block.offset(), len);
    assert!(
        read == pattern(live.tag, len),
        "{at}: block {} lost its bytes",
        live.tag
    );
}

/// Whether two blocks overlap in one memory object.
fn overlap(a: &MemoryBlock<SimMemory>, b: &MemoryBlock<SimMemory>) -> bool {
    a.memory().id() == b.memory().id()
        && a.offset() < b.offset() + b.size()
        && b.offset() < a.offset() + a.size()
}

/// Answers every move of `pass` as a caller would: a resource destroyed
/// (its block freed) with probability `destroy`, busy with `skip`, else
/// copied on the device and rebound. Checks every new block against the rules
/// of a fresh one. Returns the moves done, skipped and destroyed.
fn answer(
    h: &mut Harness,
    live: &mut Vec<Live>,
    pass: &mut DefragPass<SimMemory>,
    mut draw: impl FnMut() -> f64,
    (destroy, skip): (f64, f64),
    at: &str,
) -> (u64, u64, u64) {
    let layout = h.device.layout().clone();
    let (mut done, mut skipped, mut destroyed) = (0, 0, 0);
    for mv in pass.moves_mut() {
        let index = live
            .iter()
            .position(|l| l.tag == mv.tag())
            .unwrap_or_else(|| panic!("{at}: a move of unknown tag {}", mv.tag()));
        assert!(live[index].movable, "{at}: an immovable block moves");
        assert!(mv.is_source(&live[index].block), "{at}: the move's source");
        let new = mv.destination().expect("not answered yet");
        let old = &live[index].block;
        assert_eq!(new.memory_type(), old.memory_type(), "{at}: same type");
        assert_eq!(new.size(), old.size(), "{at}: same size");
        assert_eq!(new.offset() & live[index].align_mask, 0, "{at}: aligned");
        let page = layout.buffer_image_granularity.max(1);
        if page > 1 {
            // Unknown-kind blocks sit on granularity pages of their own.
            assert_eq!(new.offset() % page, 0, "{at}: own pages");
        }
        let props = new.props();
        if props.contains(MemoryPropertyFlags::HOST_VISIBLE)
            && !props.contains(MemoryPropertyFlags::HOST_COHERENT)
        {
            assert_eq!(
                new.offset() % layout.non_coherent_atom_size.max(1),
                0,
                "{at}: atoms"
            );
        }
        for other in live.iter() {
            assert!(!overlap(new, &other.block), "{at}: overlaps a live block");
        }
        // (A move may stay in its object, compacted or out of a slab: the
        // overlap check above holds the old block too.)
        let roll = draw();
        if roll < destroy {
            let gone = live.swap_remove(index);
            check(h, &gone, at);
            h.dealloc(gone.block);
            mv.destroyed();
            destroyed += 1;
        } else if roll < destroy + skip {
            mv.skip();
            skipped += 1;
        } else {
            // The GPU's copy: the whole block, as a copy command would.
            let bytes = h.device.device_read(old.memory(), old.offset(), old.size());
            h.device.device_write(new.memory(), new.offset(), &bytes);
            let mut moved = live.swap_remove(index);
            moved.block = mv
                .done(moved.block)
                .unwrap_or_else(|_| panic!("{at}: done refused"));
            live.push(moved);
            done += 1;
        }
    }
    (done, skipped, destroyed)
}

/// Ends a pass and checks its report against the answers.
fn end(h: &mut Harness, pass: DefragPass<SimMemory>, answers: (u64, u64, u64), at: &str) {
    let objects = h.allocator.memory_objects();
    let live = h.device.live_count();
    // SAFETY: the harness's device; the "copies" are complete.
    let report = unsafe { h.allocator.end_defrag_pass(&h.device, pass) }
        .unwrap_or_else(|_| panic!("{at}: a pass of this allocator"));
    assert_eq!(
        report.objects_freed,
        u64::from(objects - h.allocator.memory_objects()),
        "{at}: objects freed"
    );
    assert_eq!(
        report.objects_freed,
        (live - h.device.live_count()) as u64,
        "{at}: objects freed on the device"
    );
    assert_eq!(
        (report.moved, report.skipped, report.destroyed),
        answers,
        "{at}: the report"
    );
    h.check_accounting();
}

/// One step of a random program.
#[derive(Clone, Debug)]
enum Op {
    /// A block: size, alignment as a power of two, host-visible or not,
    /// movable or not.
    Alloc {
        size: u64,
        align_log: u32,
        host: bool,
        movable: bool,
    },
    /// Frees a random live block.
    Free {
        pick: prop::sample::Index,
    },
    /// Frees about `share` of the live blocks at random (a level unloads).
    FreeMany {
        share: f64,
    },
    /// A pass with limits, and the shares of destroyed and busy resources.
    Pass {
        max_moves: u32,
        max_bytes: u64,
        destroy: f64,
        skip: f64,
    },
    Cleanup,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (prop_oneof![3 => 1u64..4 * KIB, 3 => 4 * KIB..64 * KIB, 1 => 64 * KIB..600 * KIB],
               0u32..12, prop::bool::weighted(0.3), prop::bool::weighted(0.95))
            .prop_map(|(size, align_log, host, movable)| Op::Alloc { size, align_log, host, movable }),
        8 => any::<prop::sample::Index>().prop_map(|pick| Op::Free { pick }),
        1 => (0.3f64..0.9).prop_map(|share| Op::FreeMany { share }),
        2 => (prop_oneof![Just(u32::MAX), 1u32..20], prop_oneof![Just(u64::MAX), 64 * KIB..8192 * KIB],
              prop_oneof![Just(0.0), 0.0..0.3], prop_oneof![Just(0.0), 0.0..0.3])
            .prop_map(|(max_moves, max_bytes, destroy, skip)| Op::Pass { max_moves, max_bytes, destroy, skip }),
        1 => Just(Op::Cleanup),
    ]
}

/// What the programs of one test did, for the summary and its assertions.
#[derive(Default)]
struct Met {
    passes: u64,
    moved: u64,
    skipped: u64,
    destroyed: u64,
    objects_freed: u64,
}

/// Small memory objects (256 KiB to 1 MiB), so that short programs spread
/// their blocks over many.
fn small_objects() -> Config {
    let mut config = Config::i_am_prototyping();
    config.initial_buddy_dedicated_size = 256 * KIB;
    config.minimal_buddy_size = 256 * KIB;
    config.final_free_list_chunk = 1024 * KIB;
    config.dedicated_threshold = 512 * KIB;
    config
}

fn run_program(layout: &Layout, ops: &[Op], seed: u64, met: &mut Met) {
    let name = &layout.name;
    let mut h = Harness::new(layout.clone(), small_objects());
    let types = u32::MAX >> (32 - layout.memory_types.len() as u32);
    let mut live: Vec<Live> = Vec::new();
    let mut next_tag = 1u64;
    let mut rng = seed | 1;
    let mut draw = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    for (step, op) in ops.iter().enumerate() {
        let at = format!("{name}, step {step} ({op:?})");
        match *op {
            Op::Alloc {
                size,
                align_log,
                host,
                movable,
            } => {
                let usage = if host {
                    UsageFlags::UPLOAD
                } else {
                    UsageFlags::FAST_DEVICE_ACCESS
                };
                let align_mask = (1u64 << align_log) - 1;
                let request = Request {
                    size,
                    align_mask,
                    usage,
                    memory_types: types,
                };
                let Ok(mut block) = h.try_alloc(request, None) else {
                    continue;
                };
                let tag = next_tag;
                next_tag += 1;
                let movable =
                    movable && h.allocator.set_movable(&mut block, tag, align_mask).is_ok();
                let entry = Live {
                    block,
                    tag,
                    align_mask,
                    movable,
                };
                write(&h, &entry);
                live.push(entry);
            }
            Op::Free { pick } => {
                if live.is_empty() {
                    continue;
                }
                let gone = live.swap_remove(pick.index(live.len()));
                check(&h, &gone, &at);
                h.dealloc(gone.block);
            }
            Op::FreeMany { share } => {
                let mut kept = Vec::new();
                for entry in live.drain(..) {
                    if draw() < share {
                        check(&h, &entry, &at);
                        h.dealloc(entry.block);
                    } else {
                        kept.push(entry);
                    }
                }
                live = kept;
            }
            Op::Pass {
                max_moves,
                max_bytes,
                destroy,
                skip,
            } => {
                let options = DefragOptions::new()
                    .max_moves(max_moves)
                    .max_bytes(max_bytes);
                let objects = h.allocator.memory_objects();
                let mut pass = h.allocator.begin_defrag_pass(&options);
                h.check_accounting();
                assert!(pass.moves().len() as u64 <= u64::from(max_moves), "{at}");
                let bytes: u64 = pass.moves().iter().map(|m| m.size()).sum();
                assert!(bytes <= max_bytes, "{at}: bytes within the limit");
                assert_eq!(
                    h.allocator.memory_objects(),
                    objects,
                    "{at}: no object made"
                );
                let answers = answer(
                    &mut h,
                    &mut live,
                    &mut pass,
                    &mut draw,
                    (destroy, skip),
                    &at,
                );
                let to_free = pass.objects_to_free() as u64;
                end(&mut h, pass, answers, &at);
                let report = h.allocator.stats().defrag.last;
                if answers.1 == 0 && answers.2 == 0 {
                    // Every move done: every object the pass emptied goes
                    // (and any that its old blocks leave empty).
                    assert!(report.objects_freed >= to_free, "{at}: objects freed");
                }
                met.passes += 1;
                met.moved += answers.0;
                met.skipped += answers.1;
                met.destroyed += answers.2;
                met.objects_freed += report.objects_freed;
                for entry in &live {
                    check(&h, entry, &at);
                }
            }
            Op::Cleanup => h.cleanup(),
        }
        h.check_accounting();
    }
    for gone in live {
        check(&h, &gone, name);
        h.dealloc(gone.block);
    }
    assert_eq!(
        h.allocator.stats().movable_blocks,
        0,
        "{name}: tags forgotten"
    );
    h.cleanup();
    assert_eq!(h.device.live_count(), 0, "{name}: everything freed");
}

#[test]
fn random_programs_of_churn_and_passes_keep_every_block_and_rule() {
    let mut total = Met::default();
    for layout in Layout::all() {
        let label = format!("defrag/{}", layout.name);
        let mut runner = seeded_runner(&label, 10);
        let met = std::cell::RefCell::new(Met::default());
        let programs = (prop::collection::vec(op_strategy(), 30..160), any::<u64>());
        runner
            .run(&programs, |(ops, seed)| {
                run_program(&layout, &ops, seed, &mut met.borrow_mut());
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let met = met.into_inner();
        println!(
            "{label}: {} passes, {} moves done, {} skipped, {} destroyed, {} objects freed",
            met.passes, met.moved, met.skipped, met.destroyed, met.objects_freed
        );
        total.passes += met.passes;
        total.moved += met.moved;
        total.skipped += met.skipped;
        total.destroyed += met.destroyed;
        total.objects_freed += met.objects_freed;
    }
    // The programs met every answer and freed objects.
    assert!(total.moved > 0 && total.skipped > 0 && total.destroyed > 0);
    assert!(total.objects_freed > 0);
}

/// Device bytes over live bytes.
fn density(h: &Harness, live: &[Live]) -> f64 {
    let device: u64 = (0..h.device.layout().memory_heaps.len() as u32)
        .map(|heap| h.allocator.heap_usage(heap))
        .sum();
    let blocks: u64 = live.iter().map(|l| l.block.size()).sum();
    device as f64 / blocks as f64
}

/// Churns a heap (blocks of 4-64 KiB, most of them freed at random), then
/// defragments it fully, pass after pass of at most 64 moves: the memory
/// objects the holes spread over go back.
#[test]
fn a_full_defragmentation_gives_a_churned_heaps_holes_back() {
    const BLOCKS: u64 = 3000;
    let configs = [
        ("8 MiB objects", Config::i_am_prototyping()),
        ("1 MiB objects", small_objects()),
    ];
    for (layout, (objects, config)) in Layout::all()
        .into_iter()
        .flat_map(|layout| configs.map(|c| (layout.clone(), c)))
    {
        let name = format!("{} ({objects})", layout.name);
        let types = u32::MAX >> (32 - layout.memory_types.len() as u32);
        let mut h = Harness::new(layout, config);
        let mut live: Vec<Live> = Vec::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for tag in 1..=BLOCKS {
            let size = 4 * KIB + next() % (60 * KIB);
            let request = Request {
                size,
                align_mask: 255,
                usage: UsageFlags::FAST_DEVICE_ACCESS,
                memory_types: types,
            };
            let mut block = h.try_alloc(request, None).expect("room");
            h.allocator
                .set_movable(&mut block, tag, 255)
                .expect("a general block");
            let entry = Live {
                block,
                tag,
                align_mask: 255,
                movable: true,
            };
            write(&h, &entry);
            live.push(entry);
        }
        // Three quarters go at random: every object keeps a quarter of its
        // blocks, scattered.
        let mut kept = Vec::new();
        for entry in live.drain(..) {
            if next() % 4 == 0 {
                kept.push(entry);
            } else {
                h.dealloc(entry.block);
            }
        }
        live = kept;
        h.cleanup();
        let before = density(&h, &live);
        let objects_before = h.allocator.memory_objects();
        let mut passes = 0;
        loop {
            let mut pass = h
                .allocator
                .begin_defrag_pass(&DefragOptions::new().max_moves(64));
            if pass.is_empty() {
                break;
            }
            let answers = answer(&mut h, &mut live, &mut pass, || 1.0, (0.0, 0.0), &name);
            end(&mut h, pass, answers, &name);
            passes += 1;
            assert!(passes < 200, "{name}: defragmentation does not end");
        }
        for entry in &live {
            check(&h, entry, &name);
        }
        let after = density(&h, &live);
        let stats = h.allocator.stats();
        println!(
            "{name}: {} live blocks, device/live {before:.2} -> {after:.2}, objects \
             {objects_before} -> {}, {passes} passes, {} moved ({} KiB), {} objects freed",
            live.len(),
            h.allocator.memory_objects(),
            stats.defrag.total.moved,
            stats.defrag.total.bytes_moved / KIB,
            stats.defrag.total.objects_freed,
        );
        assert!(after < before, "{name}: defragmentation freed nothing");
        // What the blocks allow: the live bytes and 5%, beside the free room
        // of one memory object (the pool's last, partly used: whole objects
        // are what the device gives).
        let live_bytes: u64 = live.iter().map(|l| l.block.size()).sum();
        let map = h.allocator.memory_map();
        let last_room = map
            .objects
            .iter()
            .map(|o| {
                o.ranges
                    .iter()
                    .filter(|r| !r.used)
                    .map(|r| r.size)
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0);
        let device: u64 = stats.heaps.iter().map(|heap| heap.reserved).sum();
        let packed = (device - last_room) as f64 / live_bytes as f64;
        println!("{name}: beside the last object's room, device/live {packed:.3}");
        assert!(
            packed <= 1.05,
            "{name}: {device} device bytes, {last_room} free in the last object, for \
             {live_bytes} live bytes ({packed:.3})"
        );
        for gone in live.drain(..) {
            h.dealloc(gone.block);
        }
        h.cleanup();
        assert_eq!(h.device.live_count(), 0);
    }
}

/// A request for `size` bytes of device-local memory of any type.
fn device_request(layout: &Layout, size: u64) -> Request {
    Request {
        size,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: u32::MAX >> (32 - layout.memory_types.len() as u32),
    }
}

/// Fills `count` blocks of `size` bytes, all movable, and frees three in
/// four: objects scattered with holes. Returns the kept ones.
fn scattered(
    h: &mut Harness,
    count: u64,
    size: u64,
    options: gpu_alloc::AllocOptions,
) -> Vec<Live> {
    let layout = h.device.layout().clone();
    let mut live = Vec::new();
    for tag in 1..=count {
        let mut block = h
            .try_alloc_with_options(device_request(&layout, size), options)
            .expect("room");
        h.allocator
            .set_movable(&mut block, tag, 255)
            .expect("general");
        let entry = Live {
            block,
            tag,
            align_mask: 255,
            movable: true,
        };
        write(h, &entry);
        live.push(entry);
    }
    // After every block is made, so that the holes stay holes.
    let (kept, gone): (Vec<Live>, Vec<Live>) = live.into_iter().partition(|l| l.tag % 4 == 0);
    for entry in gone {
        h.dealloc(entry.block);
    }
    kept
}

#[test]
fn a_move_is_answered_once_with_its_own_block_and_a_pass_ends_on_its_allocator() {
    let layout = Layout::named("nvidia-h200");
    let mut h = Harness::new(layout.clone(), small_objects());
    let mut other = Harness::new(layout.clone(), small_objects());
    let mut live = scattered(&mut h, 64, 48 * KIB, gpu_alloc::AllocOptions::new());
    // What may not move.
    let mut mapped = h
        .try_alloc(
            Request {
                usage: UsageFlags::UPLOAD,
                ..device_request(&layout, 4 * KIB)
            },
            None,
        )
        .expect("room");
    h.map(&mut mapped, 0, 16).expect("host-visible");
    assert_eq!(
        h.allocator.set_movable(&mut mapped, 999, 0),
        Err(gpu_alloc::DefragError::Mapped)
    );
    let mut foreign = other
        .try_alloc(device_request(&layout, 4 * KIB), None)
        .expect("room");
    assert_eq!(
        h.allocator.set_movable(&mut foreign, 998, 0),
        Err(gpu_alloc::DefragError::ForeignBlock)
    );
    assert_eq!(
        h.allocator.set_movable(&mut live[0].block, 1, 5),
        Err(gpu_alloc::DefragError::InvalidAlignMask { align_mask: 5 })
    );
    let mut pass = h.allocator.begin_defrag_pass(&DefragOptions::new());
    assert!(pass.moves().len() >= 2, "the scattered objects empty");
    // Another block than the move's comes back refused.
    let (first, second) = (pass.moves()[0].tag(), pass.moves()[1].tag());
    let wrong = live.iter().position(|l| l.tag == second).expect("live");
    let wrong = live.swap_remove(wrong);
    let wrong = pass.moves_mut()[0]
        .done(wrong.block)
        .expect_err("not its block");
    live.push(Live {
        block: wrong,
        tag: second,
        align_mask: 255,
        movable: true,
    });
    // Its own block is taken once; a second answer changes nothing.
    let own = live.iter().position(|l| l.tag == first).expect("live");
    let mut own = live.swap_remove(own);
    let new = pass.moves()[0].destination().expect("pending");
    let bytes = h
        .device
        .device_read(own.block.memory(), own.block.offset(), own.block.size());
    h.device.device_write(new.memory(), new.offset(), &bytes);
    own.block = pass.moves_mut()[0].done(own.block).expect("its block");
    live.push(own);
    pass.moves_mut()[0].skip();
    assert_eq!(pass.moves()[0].outcome(), gpu_alloc::MoveOutcome::Done);
    // A pass ends only on its allocator.
    // SAFETY: `other`'s device; nothing is freed.
    let pass = unsafe { other.allocator.end_defrag_pass(&other.device, pass) }
        .expect_err("another allocator's pass");
    let rest = pass.moves().len() as u64 - 1;
    end(&mut h, pass, (1, rest, 0), "end");
    for entry in &live {
        check(&h, entry, "after");
    }
    for entry in live {
        h.dealloc(entry.block);
    }
    h.unmap(&mut mapped);
    h.dealloc(mapped);
    other.dealloc(foreign);
    h.cleanup();
    assert_eq!(h.device.live_count(), 0);
}

#[test]
fn a_user_pool_is_defragmented_by_itself() {
    let layout = Layout::named("amd-rx6600-radv");
    let mut h = Harness::new(layout, small_objects());
    // SAFETY: the harness's device.
    let pool = unsafe {
        h.allocator
            .create_pool(&h.device, PoolOptions::new(512 * KIB).name("streamed"))
    }
    .expect("valid");
    let mut in_pool = scattered(
        &mut h,
        160,
        40 * KIB,
        gpu_alloc::AllocOptions::new().pool(pool),
    );
    let mut default = scattered(&mut h, 160, 40 * KIB, gpu_alloc::AllocOptions::new());
    let pool_objects = h.allocator.pool_stats(pool).expect("live").memory_objects;
    let all_objects = h.allocator.memory_objects();
    let mut pass = h
        .allocator
        .begin_defrag_pass(&DefragOptions::new().only_pool(pool));
    assert!(!pass.is_empty(), "the pool's scattered objects empty");
    let answers = answer(&mut h, &mut in_pool, &mut pass, || 1.0, (0.0, 0.0), "pool");
    end(&mut h, pass, answers, "pool");
    let after = h.allocator.pool_stats(pool).expect("live").memory_objects;
    assert!(
        after < pool_objects,
        "{pool_objects} -> {after} pool objects"
    );
    assert_eq!(
        h.allocator.memory_objects(),
        all_objects - (pool_objects - after),
        "only the pool's objects went"
    );
    for entry in in_pool.iter().chain(&default) {
        check(&h, entry, "pool");
        let object = h.device.object(entry.block.memory().id()).expect("live");
        let in_a_pool = in_pool
            .iter()
            .any(|l| l.tag == entry.tag && std::ptr::eq(l, entry));
        if in_a_pool {
            assert_eq!(object.size, 512 * KIB, "a pool block stays in the pool");
        }
    }
    for entry in in_pool.drain(..).chain(default.drain(..)) {
        h.dealloc(entry.block);
    }
    // SAFETY: the harness's device.
    unsafe { h.allocator.destroy_pool(&h.device, pool) }.expect("live");
    h.cleanup();
    assert_eq!(h.device.live_count(), 0);
}

/// A `SharedGpuAllocator`'s pass while other threads allocate and free, and
/// a source block freed during the pass.
#[test]
fn a_shared_allocators_pass_runs_beside_other_threads() {
    let layout = Layout::named("nvidia-h200");
    let device = SimDevice::new(layout.clone());
    let shared = SharedGpuAllocator::with_extended_properties(
        small_objects(),
        device.properties(),
        device.extended_properties(),
    );
    // The central allocator's blocks move (a thread arena's do not): a
    // pool's are the central allocator's.
    // SAFETY: `device` made the allocator's properties.
    let pool = unsafe { shared.create_pool(&device, PoolOptions::new(4 << 20)) }.expect("valid");
    let options = gpu_alloc::AllocOptions::new().pool(pool);
    let mut live = Vec::new();
    for tag in 1..=96u64 {
        // SAFETY: the allocator's device.
        let mut block = unsafe {
            shared.try_alloc_with_options(&device, device_request(&layout, 160 * KIB), options)
        }
        .expect("room");
        shared
            .set_movable(&mut block, tag, 255)
            .expect("a pool block");
        device.device_write(block.memory(), block.offset(), &pattern(tag, 4 * KIB));
        live.push((tag, block));
    }
    let (kept, gone): (Vec<_>, Vec<_>) = live.into_iter().partition(|(tag, _)| tag % 4 == 0);
    for (_, block) in gone {
        // SAFETY: as above; nothing uses the block.
        unsafe { shared.dealloc(&device, block) };
    }
    let mut live = kept;
    let mut pass = shared.begin_defrag_pass(&DefragOptions::new());
    assert!(pass.moves().len() >= 2);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for thread in 0..3u64 {
            let (shared, device, stop, layout) = (&shared, &device, &stop, &layout);
            scope.spawn(move || {
                let mut round = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) || round < 50 {
                    let size = 4 * KIB * (1 + (thread + round) % 8);
                    // SAFETY: the allocator's device.
                    let block = unsafe { shared.try_alloc(device, device_request(layout, size)) }
                        .expect("room");
                    // SAFETY: as above.
                    unsafe { shared.dealloc(device, block) };
                    round += 1;
                }
            });
        }
        // The first move's resource is destroyed meanwhile; the others are
        // copied and done.
        for (i, mv) in pass.moves_mut().iter_mut().enumerate() {
            let at = live
                .iter()
                .position(|(tag, _)| *tag == mv.tag())
                .expect("live");
            let (tag, old) = live.swap_remove(at);
            if i == 0 {
                // SAFETY: as above.
                unsafe { shared.dealloc(&device, old) };
                mv.destroyed();
                continue;
            }
            let new = mv.destination().expect("pending");
            let bytes = device.device_read(old.memory(), old.offset(), old.size());
            device.device_write(new.memory(), new.offset(), &bytes);
            let new = mv.done(old).expect("its block");
            live.push((tag, new));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    // SAFETY: the allocator's device; the copies are complete.
    let report = unsafe { shared.end_defrag_pass(&device, pass) }.expect("its pass");
    assert_eq!(report.destroyed, 1);
    assert!(report.moved >= 1);
    shared.check_invariants();
    for (tag, block) in live {
        let read = device.device_read(block.memory(), block.offset(), 4 * KIB);
        assert!(read == pattern(tag, 4 * KIB), "block {tag} kept its bytes");
        // SAFETY: as above.
        unsafe { shared.dealloc(&device, block) };
    }
    // SAFETY: as above.
    unsafe { shared.destroy_pool(&device, pool) }.expect("live");
    // SAFETY: as above.
    unsafe { shared.cleanup(&device) };
    assert_eq!(device.live_count(), 0);
}
