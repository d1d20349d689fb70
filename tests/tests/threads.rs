//! One allocator shared behind a lock by 8 threads on the simulated device. Each
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
    let mut by_object: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut count = 0;
    for (t, live) in &survivors {
        for (block, serial, len) in live {
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
                pattern(*t, *serial, *len),
                "thread {t} block {serial} corrupted"
            );
            count += 1;
        }
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
