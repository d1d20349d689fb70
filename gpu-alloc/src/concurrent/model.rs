//! The concurrent parts of [`SharedGpuAllocator`], model-checked by loom over
//! every interleaving of their locks (`--cfg loom` swaps the arenas' and the
//! central allocator's `Mutex` for loom's): `RUSTFLAGS="--cfg loom" cargo test
//! --release -p gpu-alloc --lib concurrent::model` (TESTING.md, "loom").
//!
//! Each model runs the real allocator on a counting device; threads pick their
//! arenas explicitly (`alloc_in_arena`), so two threads of a model never share
//! one by accident of their thread numbers.

use {
    super::SharedGpuAllocator,
    crate::{AllocOptions, Config, Dedicated, Request, TryAllocError, UsageFlags},
    ::loom::{
        sync::{
            atomic::{AtomicU32, Ordering::SeqCst},
            Arc, Mutex,
        },
        thread,
    },
    alloc::{borrow::Cow, vec, vec::Vec},
    core::ptr::NonNull,
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, DeviceProperties, MappedMemoryRange, MemoryDevice,
        MemoryHeap, MemoryPropertyFlags, MemoryType, OutOfMemory,
    },
};

/// A device that numbers its memory objects and records how many are live at
/// once; it backs none of them.
#[derive(Debug, Default)]
struct Counting {
    next: AtomicU32,
    live: AtomicU32,
    peak: AtomicU32,
}

impl MemoryDevice<u32> for Counting {
    unsafe fn allocate_memory(
        &self,
        _size: u64,
        _memory_type: u32,
        _flags: AllocationFlags,
    ) -> Result<u32, OutOfMemory> {
        let live = self.live.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(live, SeqCst);
        Ok(self.next.fetch_add(1, SeqCst))
    }

    unsafe fn deallocate_memory(&self, _memory: u32) {
        self.live.fetch_sub(1, SeqCst);
    }

    unsafe fn map_memory(
        &self,
        _memory: &mut u32,
        _offset: u64,
        _size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        Err(DeviceMapError::MapFailed)
    }

    unsafe fn unmap_memory(&self, _memory: &mut u32) {}

    unsafe fn invalidate_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, u32>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }

    unsafe fn flush_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, u32>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }
}

/// One device-local type on a 1 GiB heap, at most `objects` memory objects.
fn allocator(objects: u32) -> SharedGpuAllocator<u32> {
    let props = DeviceProperties {
        memory_types: Cow::Owned(vec![MemoryType {
            heap: 0,
            props: MemoryPropertyFlags::DEVICE_LOCAL,
        }]),
        memory_heaps: Cow::Owned(vec![MemoryHeap { size: 1 << 30 }]),
        max_memory_allocation_count: objects,
        max_memory_allocation_size: 1 << 30,
        non_coherent_atom_size: 64,
        buffer_device_address: false,
    };
    SharedGpuAllocator::new(Config::i_am_prototyping(), props)
}

fn request(size: u64) -> Request {
    Request {
        size,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    }
}

/// Two threads allocate in arenas of their own while each frees a block the
/// other made (the other arena's lock): every block is placed once, freed
/// once, and nothing is left after `cleanup`.
#[test]
fn frees_from_another_thread_race_allocations() {
    ::loom::model(|| {
        let device = Arc::new(Counting::default());
        let shared = Arc::new(allocator(8));
        // A block of each arena, made before the threads start.
        let made: Vec<_> = (0..2)
            .map(|arena| shared.alloc_in_arena(arena, &*device, &request(4096), Default::default()))
            .map(|block| Mutex::new(Some(block.expect("arenas serve 4 KiB"))))
            .collect();
        let made = Arc::new(made);
        let threads: Vec<_> = (0..2)
            .map(|arena| {
                let (device, shared, made) = (device.clone(), shared.clone(), made.clone());
                thread::spawn(move || {
                    let own = shared
                        .alloc_in_arena(arena, &*device, &request(8192), Default::default())
                        .expect("arenas serve 8 KiB");
                    let other = made[1 - arena].lock().unwrap().take().unwrap();
                    // SAFETY: the allocator's device; the blocks are not in use.
                    unsafe {
                        shared.dealloc(&*device, other);
                        shared.dealloc(&*device, own);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        shared.check_invariants();
        assert_eq!(shared.live_blocks(), 0);
        // SAFETY: the allocator's device.
        unsafe { shared.cleanup(&*device) };
        assert_eq!((shared.memory_objects(), device.live.load(SeqCst)), (0, 0));
    });
}

/// At the object limit, two threads race for the last memory object (one
/// dedicated block each): exactly one gets it, the other a `TooManyObjects`
/// error, and the device never holds more objects than allowed.
#[test]
fn the_last_memory_object_goes_to_one_thread() {
    ::loom::model(|| {
        let device = Arc::new(Counting::default());
        let shared = Arc::new(allocator(1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (device, shared) = (device.clone(), shared.clone());
                thread::spawn(move || {
                    let options = AllocOptions::new().dedicated(Dedicated::Required);
                    // SAFETY: the allocator's device.
                    let block = unsafe {
                        shared.try_alloc_with_options(&*device, request(1 << 20), options)
                    };
                    match block {
                        Ok(block) => {
                            // SAFETY: as above; the block is not in use.
                            unsafe { shared.dealloc(&*device, block) };
                            true
                        }
                        Err(TryAllocError::TooManyObjects) => false,
                        Err(other) => panic!("{other:?}"),
                    }
                })
            })
            .collect();
        let served = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|&served| served)
            .count();
        // Both may succeed one after the other; never two objects at once.
        assert!(served >= 1);
        assert_eq!(device.peak.load(SeqCst), 1, "more objects than allowed");
        shared.check_invariants();
        // SAFETY: the allocator's device.
        unsafe { shared.cleanup(&*device) };
        assert_eq!(device.live.load(SeqCst), 0);
    });
}

/// The only memory object allowed holds an arena's empty lease; another
/// thread needs an object of its own while the arena's thread allocates
/// again. Either the arena's thread got its lease back first (then the other
/// thread finds no object: `TooManyObjects`) or the pressure flush gave the
/// empty lease back and the other thread's block was served; never more
/// objects than allowed, and no lease lost.
#[test]
fn pressure_takes_empty_leases_back_while_their_thread_allocates() {
    ::loom::model(|| {
        let device = Arc::new(Counting::default());
        let shared = Arc::new(allocator(1));
        let block = shared
            .alloc_in_arena(0, &*device, &request(4096), Default::default())
            .expect("a lease in the one object");
        // SAFETY: the allocator's device; the block is not in use.
        unsafe { shared.dealloc(&*device, block) };
        assert!(shared.stats().cached > 0, "the arena keeps its empty lease");
        let arena_thread = {
            let (device, shared) = (device.clone(), shared.clone());
            thread::spawn(move || {
                (shared.alloc_in_arena(0, &*device, &request(4096), Default::default())).ok()
            })
        };
        let options = AllocOptions::new().dedicated(Dedicated::Required);
        // SAFETY: the allocator's device.
        let dedicated =
            unsafe { shared.try_alloc_with_options(&*device, request(1 << 20), options) };
        let leased = arena_thread.join().unwrap();
        match (&dedicated, &leased) {
            (Ok(_), _) | (Err(TryAllocError::TooManyObjects), Some(_)) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
        assert_eq!(device.peak.load(SeqCst), 1, "more objects than allowed");
        shared.check_invariants();
        for block in dedicated.into_iter().chain(leased) {
            // SAFETY: the allocator's device; the block is not in use.
            unsafe { shared.dealloc(&*device, block) };
        }
        // SAFETY: the allocator's device.
        unsafe { shared.cleanup(&*device) };
        assert_eq!((shared.stats().cached, device.live.load(SeqCst)), (0, 0));
    });
}

/// A thread frees its arena's last block (the lease empties and is kept)
/// while another runs `cleanup` (which takes every empty lease back): the
/// lease is given back exactly once, whichever comes first.
#[test]
fn cleanup_races_the_free_that_empties_a_lease() {
    ::loom::model(|| {
        let device = Arc::new(Counting::default());
        let shared = Arc::new(allocator(4));
        let block = shared
            .alloc_in_arena(0, &*device, &request(4096), Default::default())
            .expect("a lease");
        let freeing = {
            let (device, shared) = (device.clone(), shared.clone());
            thread::spawn(move || {
                // SAFETY: the allocator's device; the block is not in use.
                unsafe { shared.dealloc(&*device, block) };
            })
        };
        // SAFETY: the allocator's device.
        unsafe { shared.cleanup(&*device) };
        freeing.join().unwrap();
        shared.check_invariants();
        assert_eq!(shared.live_blocks(), 0);
        // SAFETY: the allocator's device.
        unsafe { shared.cleanup(&*device) };
        assert_eq!((shared.memory_objects(), device.live.load(SeqCst)), (0, 0));
    });
}
