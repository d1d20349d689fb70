//! The optional features do what the crate docs say:
//!
//! - `log`: leak reports are `log` errors, device allocations and frees are
//!   `log` debug records; with `tracing` on as well, `tracing` takes them and
//!   `log` gets none;
//! - `check-invariants`: `GpuAllocator::check_invariants` exists in release
//!   builds (CI runs this file with `--release --features check-invariants`).

use {
    gpu_alloc::{
        Config, DeviceMapError, DeviceProperties, GpuAllocator, MappedMemoryRange, MemoryDevice,
        MemoryHeap, MemoryPropertyFlags, MemoryType, OutOfMemory, Request, UsageFlags,
    },
    gpu_alloc_types::AllocationFlags,
    std::{borrow::Cow, cell::Cell, ptr::NonNull},
};

/// A device with one device-local memory type (never mapped): memory objects
/// are numbers, and the device counts the live ones.
#[derive(Default)]
struct Device {
    next: Cell<u64>,
    live: Cell<u32>,
}

impl MemoryDevice<u64> for Device {
    unsafe fn allocate_memory(
        &self,
        _size: u64,
        _memory_type: u32,
        _flags: AllocationFlags,
    ) -> Result<u64, OutOfMemory> {
        self.next.set(self.next.get() + 1);
        self.live.set(self.live.get() + 1);
        Ok(self.next.get())
    }

    unsafe fn deallocate_memory(&self, _memory: u64) {
        self.live.set(self.live.get() - 1);
    }

    unsafe fn map_memory(
        &self,
        _memory: &mut u64,
        _offset: u64,
        _size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        unreachable!("the only memory type is not host-visible")
    }

    unsafe fn unmap_memory(&self, _memory: &mut u64) {
        unreachable!("the only memory type is not host-visible")
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, u64>],
    ) -> Result<(), OutOfMemory> {
        unreachable!("the only memory type is not host-visible")
    }

    unsafe fn flush_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, u64>],
    ) -> Result<(), OutOfMemory> {
        unreachable!("the only memory type is not host-visible")
    }
}

fn allocator() -> GpuAllocator<u64> {
    let props = DeviceProperties {
        memory_types: Cow::Owned(vec![MemoryType {
            props: MemoryPropertyFlags::DEVICE_LOCAL,
            heap: 0,
        }]),
        memory_heaps: Cow::Owned(vec![MemoryHeap { size: 1 << 30 }]),
        max_memory_allocation_count: 64,
        max_memory_allocation_size: 1 << 30,
        non_coherent_atom_size: 64,
        buffer_device_address: false,
    };
    GpuAllocator::new(Config::i_am_prototyping(), props)
}

const REQUEST: Request = Request {
    size: 4096,
    align_mask: 255,
    usage: UsageFlags::FAST_DEVICE_ACCESS,
    memory_types: !0,
};

#[cfg(any(debug_assertions, feature = "check-invariants"))]
#[test]
fn check_invariants_in_this_build() {
    let device = Device::default();
    let mut allocator = allocator();
    allocator.check_invariants();
    let blocks: Vec<_> = (0..3)
        .map(|_| {
            // SAFETY: `device` is the device the properties describe, here and below.
            let block = unsafe { allocator.alloc(&device, REQUEST) }.expect("allocation");
            allocator.check_invariants();
            block
        })
        .collect();
    assert_eq!(allocator.stats().blocks, 3);
    for block in blocks {
        // SAFETY: the block is the allocator's and nothing uses it.
        unsafe { allocator.dealloc(&device, block) };
        allocator.check_invariants();
    }
    // SAFETY: every block is freed.
    unsafe { allocator.cleanup(&device) };
    allocator.check_invariants();
    assert_eq!(device.live.get(), 0, "cleanup freed every memory object");
}

#[cfg(feature = "log")]
mod log_routing {
    use {
        super::{allocator, Device, REQUEST},
        gpu_alloc::reported_problems,
        std::{
            sync::{Mutex, Once},
            thread::ThreadId,
        },
    };

    /// Every record logged by a module of `gpu_alloc`: the logging thread, level
    /// and message. (The binary's other tests run on threads of their own and
    /// allocate too; each test reads only its own thread's records.)
    static RECORDS: Mutex<Vec<(ThreadId, log::Level, String)>> = Mutex::new(Vec::new());

    struct Capture;

    impl log::Log for Capture {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.target().starts_with("gpu_alloc")
        }

        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                let message = record.args().to_string();
                let thread = std::thread::current().id();
                RECORDS
                    .lock()
                    .unwrap()
                    .push((thread, record.level(), message));
            }
        }

        fn flush(&self) {}
    }

    /// Allocates and frees one block, then leaks one and drops the allocator:
    /// returns what `gpu_alloc` logged meanwhile.
    fn run() -> Vec<(log::Level, String)> {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            log::set_logger(&Capture).expect("no other logger in this test binary");
            log::set_max_level(log::LevelFilter::Debug);
        });
        let this = std::thread::current().id();
        let device = Device::default();
        let mut allocator = allocator();
        // SAFETY: `device` is the device the properties describe, here and below.
        let block = unsafe { allocator.alloc(&device, REQUEST) }.expect("allocation");
        // SAFETY: the block is the allocator's and nothing uses it.
        unsafe { allocator.dealloc(&device, block) };
        // SAFETY: every block is freed.
        unsafe { allocator.cleanup(&device) };
        assert_eq!(device.live.get(), 0, "cleanup freed the memory object");

        let reported = reported_problems();
        // SAFETY: as above.
        let leaked = unsafe { allocator.alloc(&device, REQUEST) }.expect("allocation");
        drop(leaked);
        assert!(
            reported_problems() > reported,
            "the dropped block is reported"
        );
        drop(allocator);
        let records = RECORDS.lock().unwrap();
        records
            .iter()
            .filter(|(thread, ..)| *thread == this)
            .map(|(_, level, message)| (*level, message.clone()))
            .collect()
    }

    #[cfg(not(feature = "tracing"))]
    #[test]
    fn diagnostics_go_through_log() {
        let records = run();
        let count = |level: log::Level, prefix: &str, contains: &str| {
            records
                .iter()
                .filter(|(l, message)| {
                    *l == level && message.starts_with(prefix) && message.contains(contains)
                })
                .count()
        };
        use log::Level::{Debug, Error};
        // One object made per allocation; the first one freed by cleanup.
        let allocated = "allocated device memory: memory_type=0 size=";
        assert_eq!(count(Debug, allocated, ""), 2, "{records:#?}");
        let freed = "freed device memory: heap=0 size=";
        assert_eq!(count(Debug, freed, ""), 1, "{records:#?}");
        let leak = "dropped without GpuAllocator::dealloc";
        assert_eq!(
            count(Error, "gpu-alloc: MemoryBlock", leak),
            1,
            "{records:#?}"
        );
    }

    #[cfg(feature = "tracing")]
    #[test]
    fn tracing_takes_precedence_over_log() {
        let records = run();
        assert_eq!(
            records,
            Vec::new(),
            "with `tracing` on, nothing goes through `log`"
        );
    }
}
