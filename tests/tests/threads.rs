//! One allocator shared by 8 threads on the simulated device: a `GpuAllocator`
//! behind a lock, and a `SharedGpuAllocator` with none. Each
//! thread allocates, writes a pattern of its own, reads it back and frees, keeping
//! some blocks alive; at the end every live block is checked against the shadow
//! rules (no overlap, inside its object, data intact) before everything is freed.

use {
    gpu_alloc::{Config, GpuAllocator, MemoryBlock, Request, UsageFlags},
    gpu_alloc_tests::{
        kit::Rng,
        sim::{Layout, SimDevice, SimMemory},
    },
    std::{
        collections::BTreeMap,
        sync::{Arc, Mutex},
        thread,
    },
};

/// A live block with the serial number and length of the pattern it holds.
type Live = (MemoryBlock<SimMemory>, u64, usize);

const THREADS: u64 = 8;
const OPS_PER_THREAD: u64 = 2_000;

fn pattern(thread: u64, serial: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (thread as u8).wrapping_mul(31) ^ (serial as u8) ^ (i as u8))
        .collect()
}

/// Checks the shadow rules over the blocks left, as `(thread, block)`: each
/// inside a live memory object, none overlapping another, each holding its
/// thread's pattern as the device reads it. Returns how many there are.
fn check_survivors<'a>(device: &SimDevice, left: impl Iterator<Item = (u64, &'a Live)>) -> u64 {
    let mut by_object: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut count = 0;
    for (t, (block, serial, len)) in left {
        let object = device
            .object(block.memory().id())
            .expect("the block's object is live");
        assert!(
            block.offset() + block.size() <= object.size,
            "block outside its object"
        );
        by_object
            .entry(block.memory().id())
            .or_default()
            .push((block.offset(), block.size()));
        let data = device.device_read(block.memory(), block.offset(), *len as u64);
        assert_eq!(
            data,
            pattern(t, *serial, *len),
            "thread {t} block {serial} corrupted"
        );
        count += 1;
    }
    for ranges in by_object.values_mut() {
        ranges.sort_unstable();
        for pair in ranges.windows(2) {
            assert!(
                pair[0].0 + pair[0].1 <= pair[1].0,
                "blocks overlap: {pair:?}"
            );
        }
    }
    count
}

#[test]
fn eight_threads_share_one_allocator() {
    let device = Arc::new(SimDevice::new(Layout::named("amd-rx6600-radv")));
    let allocator = Arc::new(Mutex::new(
        GpuAllocator::<SimMemory>::with_extended_properties(
            Config::i_am_potato(),
            device.properties(),
            device.extended_properties(),
        ),
    ));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let device = Arc::clone(&device);
            let allocator = Arc::clone(&allocator);
            thread::spawn(move || {
                // Seeded per thread, so each thread's program is reproducible.
                let mut rng = Rng::new(t);
                let mut live: Vec<Live> = Vec::new();
                for serial in 0..OPS_PER_THREAD {
                    if rng.below(3) != 0 || live.is_empty() {
                        let len = 1 + rng.below(48_000) as usize;
                        let usage = match rng.below(4) {
                            0 => UsageFlags::UPLOAD,
                            1 => UsageFlags::DOWNLOAD,
                            2 => UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
                            _ => UsageFlags::HOST_ACCESS | UsageFlags::FAST_DEVICE_ACCESS,
                        };
                        let request = Request {
                            size: len as u64,
                            align_mask: (1 << rng.below(9)) - 1,
                            usage,
                            memory_types: !0,
                        };
                        // SAFETY: every call uses the one device the allocator was made for.
                        let mut block =
                            unsafe { allocator.lock().unwrap().alloc(&*device, request) }
                                .expect("the heaps have room");
                        // SAFETY: the block is this thread's alone; the device does not touch it.
                        unsafe { block.write_bytes(&*device, 0, &pattern(t, serial, len)) }
                            .unwrap();
                        live.push((block, serial, len));
                    } else {
                        let index = rng.below(live.len() as u64) as usize;
                        let (mut block, serial, len) = live.swap_remove(index);
                        let mut data = vec![0; len];
                        // SAFETY: as above.
                        unsafe { block.read_bytes(&*device, 0, &mut data) }.unwrap();
                        assert_eq!(
                            data,
                            pattern(t, serial, len),
                            "thread {t} block {serial} corrupted"
                        );
                        // SAFETY: as above; the block is not used afterwards.
                        unsafe { allocator.lock().unwrap().dealloc(&*device, block) };
                    }
                }
                (t, live)
            })
        })
        .collect();
    let survivors: Vec<(u64, Vec<Live>)> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let mut allocator = Arc::try_unwrap(allocator).unwrap().into_inner().unwrap();
    allocator.check_invariants();
    // Shadow rules over every live block of every thread.
    let count = check_survivors(
        &device,
        survivors
            .iter()
            .flat_map(|(t, live)| live.iter().map(move |l| (*t, l))),
    );
    assert_eq!(allocator.live_blocks(), count);
    for (_, live) in survivors {
        for (block, _, _) in live {
            // SAFETY: the allocator's device; the block is not used afterwards.
            unsafe { allocator.dealloc(&*device, block) };
        }
    }
    // SAFETY: the allocator's device.
    unsafe { allocator.cleanup(&*device) };
    assert_eq!(allocator.memory_objects(), 0);
    device.assert_clean();
}

/// The same program through one `SharedGpuAllocator` with no lock of the
/// caller's; every fourth free hands the block to the next thread, which
/// frees it (a block freed by a thread other than the one that made it).
#[test]
fn eight_threads_share_one_shared_allocator() {
    use {gpu_alloc::SharedGpuAllocator, std::sync::mpsc};

    let device = Arc::new(SimDevice::new(Layout::named("amd-rx6600-radv")));
    let allocator = Arc::new(SharedGpuAllocator::<SimMemory>::with_extended_properties(
        Config::i_am_prototyping(),
        device.properties(),
        device.extended_properties(),
    ));
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Live>()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, inbox)| {
            let t = t as u64;
            let device = Arc::clone(&device);
            let allocator = Arc::clone(&allocator);
            let next = senders[((t + 1) % THREADS) as usize].clone();
            thread::spawn(move || {
                let mut rng = Rng::new(100 + t);
                let mut live: Vec<Live> = Vec::new();
                let check_and_free = |(mut block, serial, len): Live, owner: u64| {
                    let mut data = vec![0; len];
                    // SAFETY: the block is this thread's alone; the device does not touch it.
                    unsafe { block.read_bytes(&*device, 0, &mut data) }.unwrap();
                    assert_eq!(
                        data,
                        pattern(owner, serial, len),
                        "block {serial} corrupted"
                    );
                    // SAFETY: the allocator's device; the block is not used afterwards.
                    unsafe { allocator.dealloc(&*device, block) };
                };
                for serial in 0..OPS_PER_THREAD {
                    while let Ok(handed) = inbox.try_recv() {
                        let owner = (t + THREADS - 1) % THREADS;
                        check_and_free(handed, owner);
                    }
                    if rng.below(3) != 0 || live.is_empty() {
                        let len = 1 + rng.below(48_000) as usize;
                        let usage = match rng.below(4) {
                            0 => UsageFlags::UPLOAD,
                            1 => UsageFlags::DOWNLOAD,
                            2 => UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
                            _ => UsageFlags::HOST_ACCESS | UsageFlags::FAST_DEVICE_ACCESS,
                        };
                        let request = Request {
                            size: len as u64,
                            align_mask: (1 << rng.below(9)) - 1,
                            usage,
                            memory_types: !0,
                        };
                        // SAFETY: every call uses the one device the allocator was made for.
                        let mut block = unsafe { allocator.alloc(&*device, request) }
                            .expect("the heaps have room");
                        // SAFETY: the block is this thread's alone; the device does not touch it.
                        unsafe { block.write_bytes(&*device, 0, &pattern(t, serial, len)) }
                            .unwrap();
                        live.push((block, serial, len));
                    } else {
                        let index = rng.below(live.len() as u64) as usize;
                        let entry = live.swap_remove(index);
                        if serial % 4 == 0 {
                            let _ = next.send(entry);
                        } else {
                            check_and_free(entry, t);
                        }
                    }
                }
                drop(next);
                // Blocks handed over after this thread's last look stay in its
                // inbox: the test frees them below.
                (t, live, inbox)
            })
        })
        .collect();
    drop(senders);
    let done: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    allocator.check_invariants();
    let mut left: Vec<(u64, Live)> = Vec::new();
    for (t, live, inbox) in done {
        left.extend(live.into_iter().map(|l| (t, l)));
        let owner = (t + THREADS - 1) % THREADS;
        left.extend(inbox.try_iter().map(|l| (owner, l)));
    }
    check_survivors(&device, left.iter().map(|(t, l)| (*t, l)));
    let stats = allocator.stats();
    assert_eq!(allocator.live_blocks(), left.len() as u64);
    assert_eq!(stats.blocks, left.len() as u64);
    assert!(stats.cached <= stats.reserved - stats.used, "{stats:?}");
    // The threads placed their blocks in leases of their arenas.
    assert!(stats.cached > 0, "{stats:?}");
    for (_, (block, _, _)) in left {
        // SAFETY: the allocator's device; the block is not used afterwards.
        unsafe { allocator.dealloc(&*device, block) };
    }
    allocator.check_invariants();
    // SAFETY: the allocator's device.
    unsafe { allocator.cleanup(&*device) };
    let stats = allocator.stats();
    assert_eq!(
        (stats.blocks, stats.used, stats.cached),
        (0, 0, 0),
        "{stats:?}"
    );
    assert_eq!(allocator.memory_objects(), 0);
    drop(allocator);
    device.assert_clean();
}
