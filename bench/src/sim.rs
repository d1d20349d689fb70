//! The simulated rows: a null device shared by this project's allocator and
//! gpu-alloc 0.6.2, and offset-allocator on the one-block trace.

use {
    crate::{
        run,
        trace::{Family, Req, Trace, Usage, ONE_BLOCK},
        BenchAlloc, DeviceCounters, RunResult,
    },
    std::{borrow::Cow, cell::Cell, ptr::NonNull, time::Duration},
};

/// A memory object of the null device: an id and its size (freeing needs it).
#[derive(Debug)]
pub(crate) struct NullMemory {
    #[allow(dead_code)] // Only read through `Debug`.
    id: u64,
    size: u64,
}

/// Largest memory object of the simulated devices, so the largest mapping.
const MAX_OBJECT: u64 = 4 * GIB;

/// The host range every mapping of the null device points at: one reservation of
/// `MAX_OBJECT` bytes, made once and never touched. The allocators map
/// host-visible objects but no trace reads or writes mapped bytes, so mappings
/// may alias and no page is ever faulted in; a fresh zeroed buffer per mapping
/// made the sim rows' timings mostly `memset`.
struct HostWindow(NonNull<u8>);

// SAFETY: the pointer is only handed out, never dereferenced by this crate; the
// reservation lives for the whole process.
unsafe impl Send for HostWindow {}
// SAFETY: as above: shared references only copy the pointer.
unsafe impl Sync for HostWindow {}

fn host_window() -> Option<NonNull<u8>> {
    static WINDOW: std::sync::OnceLock<Option<HostWindow>> = std::sync::OnceLock::new();
    WINDOW
        .get_or_init(|| {
            let len = usize::try_from(MAX_OBJECT).ok()?;
            let reservation: &'static mut Vec<u8> = Box::leak(Box::new(Vec::with_capacity(len)));
            NonNull::new(reservation.as_mut_ptr()).map(HostWindow)
        })
        .as_ref()
        .map(|w| w.0)
}

/// A device that hands out ids instead of memory and counts what it is asked
/// for. It checks nothing: the allocators' own checks are what is measured.
#[derive(Debug, Default)]
pub(crate) struct NullDevice {
    allocations: Cell<u64>,
    frees: Cell<u64>,
    live_bytes: Cell<u64>,
    peak_bytes: Cell<u64>,
}

impl NullDevice {
    fn allocate(&self, size: u64) -> NullMemory {
        let id = self.allocations.get() + 1;
        self.allocations.set(id);
        let live = self.live_bytes.get() + size;
        self.live_bytes.set(live);
        self.peak_bytes.set(self.peak_bytes.get().max(live));
        NullMemory { id, size }
    }

    fn deallocate(&self, memory: NullMemory) {
        self.frees.set(self.frees.get() + 1);
        self.live_bytes.set(self.live_bytes.get() - memory.size);
    }

    pub(crate) fn counters(&self) -> DeviceCounters {
        DeviceCounters {
            allocations: self.allocations.get(),
            frees: self.frees.get(),
            live_bytes: self.live_bytes.get(),
            peak_bytes: self.peak_bytes.get(),
        }
    }
}

/// The two trait versions have the same shape; one macro implements both so the
/// device is the same code for both allocators.
macro_rules! null_device_impl {
    ($types:ident) => {
        impl $types::MemoryDevice<NullMemory> for NullDevice {
            unsafe fn allocate_memory(
                &self,
                size: u64,
                _memory_type: u32,
                _flags: $types::AllocationFlags,
            ) -> Result<NullMemory, $types::OutOfMemory> {
                Ok(self.allocate(size))
            }

            unsafe fn deallocate_memory(&self, memory: NullMemory) {
                self.deallocate(memory)
            }

            unsafe fn map_memory(
                &self,
                _memory: &mut NullMemory,
                _offset: u64,
                size: u64,
            ) -> Result<NonNull<u8>, $types::DeviceMapError> {
                if size > MAX_OBJECT {
                    return Err($types::DeviceMapError::MapFailed);
                }
                host_window().ok_or($types::DeviceMapError::OutOfHostMemory)
            }

            unsafe fn unmap_memory(&self, _memory: &mut NullMemory) {}

            unsafe fn invalidate_memory_ranges(
                &self,
                _ranges: &[$types::MappedMemoryRange<'_, NullMemory>],
            ) -> Result<(), $types::OutOfMemory> {
                Ok(())
            }

            unsafe fn flush_memory_ranges(
                &self,
                _ranges: &[$types::MappedMemoryRange<'_, NullMemory>],
            ) -> Result<(), $types::OutOfMemory> {
                Ok(())
            }
        }
    };
}

null_device_impl!(gpu_alloc_types);
null_device_impl!(gpu_alloc_types_031);

const GIB: u64 = 1 << 30;

/// The simulated device's layout, as (type properties, heap) pairs and heap sizes:
/// a discrete GPU with device-local, host-visible, host-cached and a 256 MiB
/// device-local host-visible window. For the one-block trace: one device-local
/// type on a 1 GiB heap.
macro_rules! sim_props {
    ($types:ident, $one_block:expr) => {{
        use $types::{DeviceProperties, MemoryHeap, MemoryPropertyFlags as F, MemoryType};
        let (types, heaps): (Vec<(F, u32)>, Vec<u64>) = if $one_block {
            (vec![(F::DEVICE_LOCAL, 0)], vec![GIB])
        } else {
            (
                vec![
                    (F::DEVICE_LOCAL, 0),
                    (F::HOST_VISIBLE | F::HOST_COHERENT, 1),
                    (F::HOST_VISIBLE | F::HOST_COHERENT | F::HOST_CACHED, 1),
                    (F::DEVICE_LOCAL | F::HOST_VISIBLE | F::HOST_COHERENT, 2),
                ],
                vec![24 * GIB, 64 * GIB, GIB / 4],
            )
        };
        DeviceProperties {
            memory_types: Cow::Owned(
                types
                    .into_iter()
                    .map(|(props, heap)| MemoryType { props, heap })
                    .collect(),
            ),
            memory_heaps: Cow::Owned(heaps.into_iter().map(|size| MemoryHeap { size }).collect()),
            max_memory_allocation_count: 4096,
            max_memory_allocation_size: MAX_OBJECT,
            non_coherent_atom_size: 64,
            buffer_device_address: false,
        }
    }};
}

/// Our usage flags for a trace request.
pub(crate) fn usage_ours(usage: Usage) -> gpu_alloc::UsageFlags {
    use gpu_alloc::UsageFlags as U;
    match usage {
        Usage::Device => U::FAST_DEVICE_ACCESS,
        Usage::Upload => U::UPLOAD,
        Usage::Download => U::DOWNLOAD,
        Usage::Staging => U::UPLOAD | U::TRANSIENT,
    }
}

fn usage_062(usage: Usage) -> gpu_alloc_062::UsageFlags {
    use gpu_alloc_062::UsageFlags as U;
    match usage {
        Usage::Device => U::FAST_DEVICE_ACCESS,
        Usage::Upload => U::UPLOAD,
        Usage::Download => U::DOWNLOAD,
        Usage::Staging => U::UPLOAD | U::TRANSIENT,
    }
}

/// Our configuration: `i_am_prototyping`, or for the one-block trace one
/// memory object of exactly 10,240,000 bytes.
pub(crate) fn config_ours(family: Family) -> gpu_alloc::Config {
    let mut c = gpu_alloc::Config::i_am_prototyping();
    if family == Family::OneBlock {
        c.minimal_buddy_size = ONE_BLOCK;
        c.initial_buddy_dedicated_size = ONE_BLOCK;
        c.final_free_list_chunk = ONE_BLOCK;
    }
    c
}

/// This project's allocator on the null device.
struct OursSim {
    device: NullDevice,
    alloc: gpu_alloc::GpuAllocator<NullMemory>,
}

impl BenchAlloc for OursSim {
    type Block = gpu_alloc::MemoryBlock<NullMemory>;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        let request = gpu_alloc::Request {
            size: req.size,
            align_mask: req.align - 1,
            usage: usage_ours(req.usage),
            memory_types: !0,
        };
        // SAFETY: `device` is the device whose properties made the allocator.
        unsafe { self.alloc.alloc(&self.device, request) }.ok()
    }

    #[inline(never)]
    fn free(&mut self, block: Self::Block) {
        // SAFETY: the block came from this allocator and device; nothing uses it.
        unsafe { self.alloc.dealloc(&self.device, block) }
    }

    fn device(&self) -> DeviceCounters {
        self.device.counters()
    }

    fn finish(&mut self) {
        // SAFETY: the same device as every allocation.
        unsafe { self.alloc.cleanup(&self.device) }
    }
}

/// gpu-alloc 0.6.2 on the null device.
struct Old062 {
    device: NullDevice,
    alloc: gpu_alloc_062::GpuAllocator<NullMemory>,
}

impl BenchAlloc for Old062 {
    type Block = gpu_alloc_062::MemoryBlock<NullMemory>;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        let request = gpu_alloc_062::Request {
            size: req.size,
            align_mask: req.align - 1,
            usage: usage_062(req.usage),
            memory_types: !0,
        };
        // SAFETY: `device` is the device whose properties made the allocator.
        unsafe { self.alloc.alloc(&self.device, request) }.ok()
    }

    #[inline(never)]
    fn free(&mut self, block: Self::Block) {
        // SAFETY: the block came from this allocator and device; nothing uses it.
        unsafe { self.alloc.dealloc(&self.device, block) }
    }

    fn device(&self) -> DeviceCounters {
        self.device.counters()
    }

    fn finish(&mut self) {
        // SAFETY: the same device as every allocation.
        unsafe { self.alloc.cleanup(&self.device) }
    }
}

/// offset-allocator over one 10,240,000-byte range (it has no alignment; the
/// one-block trace asks for none).
struct Offset(offset_allocator::Allocator);

impl BenchAlloc for Offset {
    type Block = offset_allocator::Allocation;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        self.0.allocate(u32::try_from(req.size).ok()?)
    }

    #[inline(never)]
    fn free(&mut self, block: Self::Block) {
        self.0.free(block)
    }

    fn device(&self) -> DeviceCounters {
        // The range is the one "memory object", made up front.
        DeviceCounters {
            allocations: 0,
            frees: 0,
            live_bytes: ONE_BLOCK,
            peak_bytes: ONE_BLOCK,
        }
    }
}

/// No allocator: what the harness itself costs per op (slot bookkeeping, cache
/// misses on the slot array), as a floor for the scaling plot. The block stands
/// in for a `MemoryBlock`-sized handle.
struct Harness;

impl BenchAlloc for Harness {
    type Block = [u64; 8];

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        Some([req.size; 8])
    }

    #[inline(never)]
    fn free(&mut self, block: Self::Block) {
        std::hint::black_box(block);
    }

    fn device(&self) -> DeviceCounters {
        DeviceCounters::default()
    }
}

/// Row names of the simulated rows.
pub(crate) const OURS_SIM: &str = "gpu-alloc (ours) sim";
pub(crate) const OLD_SIM: &str = "gpu-alloc 0.6.2 sim";
pub(crate) const OFFSET: &str = "offset-allocator";
pub(crate) const HARNESS: &str = "harness only (floor)";

/// Runs `trace` on every simulated row.
pub(crate) fn run_rows(trace: &Trace, limit: Duration) -> Vec<RunResult> {
    let one_block = trace.family == Family::OneBlock;
    let mut out = Vec::new();
    let mut ours = OursSim {
        device: NullDevice::default(),
        alloc: gpu_alloc::GpuAllocator::new(
            config_ours(trace.family),
            sim_props!(gpu_alloc_types, one_block),
        ),
    };
    out.push(run(OURS_SIM, &mut ours, trace, limit));
    drop(ours);

    let mut config = gpu_alloc_062::Config::i_am_prototyping();
    if one_block {
        // 0.6.2's buddy objects are powers of two: 16 MiB is the smallest that
        // holds 10,240,000 bytes.
        config.initial_buddy_dedicated_size = ONE_BLOCK.next_power_of_two();
    }
    let mut old = Old062 {
        device: NullDevice::default(),
        alloc: gpu_alloc_062::GpuAllocator::new(config, sim_props!(gpu_alloc_types_031, one_block)),
    };
    out.push(run(OLD_SIM, &mut old, trace, limit));
    drop(old);

    if trace.name.ends_with(" live small") {
        out.push(run(HARNESS, &mut Harness, trace, limit));
    }
    if one_block {
        let mut offset = Offset(offset_allocator::Allocator::new(ONE_BLOCK as u32));
        out.push(run(OFFSET, &mut offset, trace, limit));
    }
    out
}
