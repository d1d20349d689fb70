//! The simulated rows: a null device shared by this project's allocator and
//! gpu-alloc 0.6.2, and offset-allocator and our virtual allocator on the
//! one-block trace.

use {
    crate::{
        run,
        trace::{Bound, Family, Hint, Req, Trace, Usage, ONE_BLOCK},
        BenchAlloc, DeviceCounters, RunResult,
    },
    std::{borrow::Cow, cell::Cell, ptr::NonNull, time::Duration},
};

/// How a simulated row makes its requests: a const parameter of the rows and
/// of their memory type ([`NullMemory`]), so that each mode compiles its own
/// copy of both allocators and the synthetic traces' code is what it was
/// before the real-requirements traces came (their instruction counts are
/// compared across sessions; with one copy shared by three callers, LLVM
/// inlined 0.6.2 differently: +48 instructions per alloc+free on frame
/// staging).
type Mode = u8;
/// The synthetic traces: every memory type (the constant `!0`), plain `alloc`.
const SYNTHETIC: Mode = 0;
/// A real-requirements trace without hints: the request's memory types, plain
/// `alloc`.
const REAL: Mode = 1;
/// A real-requirements trace with hints: the request's memory types, resource
/// kind (ours only) and dedicated hint.
const REAL_HINTS: Mode = 2;

/// A memory object of the null device: an id and its size (freeing needs it).
/// `MODE` only keeps the allocators of each [`Mode`] apart.
#[derive(Debug)]
pub(crate) struct NullMemory<const MODE: Mode> {
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
    fn allocate<const MODE: Mode>(&self, size: u64) -> NullMemory<MODE> {
        let id = self.allocations.get() + 1;
        self.allocations.set(id);
        let live = self.live_bytes.get() + size;
        self.live_bytes.set(live);
        self.peak_bytes.set(self.peak_bytes.get().max(live));
        NullMemory { id, size }
    }

    fn deallocate<const MODE: Mode>(&self, memory: NullMemory<MODE>) {
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
        impl<const MODE: Mode> $types::MemoryDevice<NullMemory<MODE>> for NullDevice {
            unsafe fn allocate_memory(
                &self,
                size: u64,
                _memory_type: u32,
                _flags: $types::AllocationFlags,
            ) -> Result<NullMemory<MODE>, $types::OutOfMemory> {
                Ok(self.allocate(size))
            }

            unsafe fn deallocate_memory(&self, memory: NullMemory<MODE>) {
                self.deallocate(memory)
            }

            unsafe fn map_memory(
                &self,
                _memory: &mut NullMemory<MODE>,
                _offset: u64,
                size: u64,
            ) -> Result<NonNull<u8>, $types::DeviceMapError> {
                if size > MAX_OBJECT {
                    return Err($types::DeviceMapError::MapFailed);
                }
                host_window().ok_or($types::DeviceMapError::OutOfHostMemory)
            }

            unsafe fn unmap_memory(&self, _memory: &mut NullMemory<MODE>) {}

            unsafe fn invalidate_memory_ranges(
                &self,
                _ranges: &[$types::MappedMemoryRange<'_, NullMemory<MODE>>],
            ) -> Result<(), $types::OutOfMemory> {
                Ok(())
            }

            unsafe fn flush_memory_ranges(
                &self,
                _ranges: &[$types::MappedMemoryRange<'_, NullMemory<MODE>>],
            ) -> Result<(), $types::OutOfMemory> {
                Ok(())
            }
        }
    };
}

null_device_impl!(gpu_alloc_types);
null_device_impl!(gpu_alloc_types_031);

const GIB: u64 = 1 << 30;

/// Vulkan's memory property bits, as the simulated layout uses them.
const DEVICE_LOCAL: u8 = 0x1;
const HOST_VISIBLE: u8 = 0x2;
const HOST_COHERENT: u8 = 0x4;
const HOST_CACHED: u8 = 0x8;

/// The memory types of the simulated discrete GPU, as (property bits, heap):
/// device-local, host-visible, host-cached and a 256 MiB device-local
/// host-visible window.
const SIM_TYPES: [(u8, u32); 4] = [
    (DEVICE_LOCAL, 0),
    (HOST_VISIBLE | HOST_COHERENT, 1),
    (HOST_VISIBLE | HOST_COHERENT | HOST_CACHED, 1),
    (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT, 2),
];

/// The heaps of the simulated discrete GPU.
const SIM_HEAPS: [u64; 3] = [24 * GIB, 64 * GIB, GIB / 4];

/// The simulated memory types that a real driver's `memoryTypeBits` stands for
/// (the real-requirements traces replay a driver's requirements on the
/// simulated discrete GPU): simulated type `j` is allowed when one of the
/// driver's allowed types has every property bit of `j` and no bit beyond
/// device-local, host-visible, host-coherent and host-cached (lazily allocated,
/// protected and vendor types stand for none). `driver_types` are the driver's
/// `propertyFlags` in order. Lavapipe's one all-bits type stands for all four;
/// a driver whose images allow only its device-local types gives images the
/// device-local type only.
pub(crate) fn sim_memory_types(driver_types: &[u32], memory_type_bits: u32) -> u32 {
    const PLAIN: u32 = (DEVICE_LOCAL | HOST_VISIBLE | HOST_COHERENT | HOST_CACHED) as u32;
    let allowed = driver_types
        .iter()
        .enumerate()
        .filter(|&(i, &flags)| i < 32 && memory_type_bits & (1 << i) != 0 && flags & !PLAIN == 0);
    let mut sim = 0;
    for (_, &flags) in allowed {
        for (j, &(props, _)) in SIM_TYPES.iter().enumerate() {
            if flags & u32::from(props) == u32::from(props) {
                sim |= 1 << j;
            }
        }
    }
    sim
}

/// The simulated memory types a request of this kind can use at all: the
/// host-visible ones for a `host` request, else every one.
pub(crate) fn sim_host_visible(host: bool) -> u32 {
    SIM_TYPES
        .iter()
        .enumerate()
        .filter(|(_, &(props, _))| !host || props & HOST_VISIBLE != 0)
        .fold(0, |bits, (j, _)| bits | 1 << j)
}

/// The simulated device's layout: [`SIM_TYPES`] on [`SIM_HEAPS`], or for the
/// one-block trace one device-local type on a 1 GiB heap.
macro_rules! sim_props {
    ($types:ident, $one_block:expr) => {{
        use $types::{DeviceProperties, MemoryHeap, MemoryPropertyFlags as F, MemoryType};
        let (types, heaps): (Vec<(F, u32)>, Vec<u64>) = if $one_block {
            (vec![(F::DEVICE_LOCAL, 0)], vec![GIB])
        } else {
            (
                SIM_TYPES
                    .iter()
                    .map(|&(bits, heap)| (F::from_bits_truncate(bits), heap))
                    .collect(),
                SIM_HEAPS.to_vec(),
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

/// The mode of the rows for `trace`.
fn mode(trace: &Trace) -> Mode {
    match trace.real {
        None => SYNTHETIC,
        Some(r) if r.hints => REAL_HINTS,
        Some(_) => REAL,
    }
}

/// The memory types of `req` in `MODE`.
#[inline(always)]
fn memory_types<const MODE: Mode>(req: &Req) -> u32 {
    if MODE == SYNTHETIC {
        !0
    } else {
        req.memory_types
    }
}

/// This project's allocator on the null device. In [`REAL_HINTS`] mode every
/// request goes through `try_alloc_with_options` with its resource kind and
/// dedicated hint; otherwise through plain `alloc`.
struct OursSim<const MODE: Mode> {
    device: NullDevice,
    alloc: gpu_alloc::GpuAllocator<NullMemory<MODE>>,
}

impl<const MODE: Mode> BenchAlloc for OursSim<MODE> {
    type Block = gpu_alloc::MemoryBlock<NullMemory<MODE>>;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        let request = gpu_alloc::Request {
            size: req.size,
            align_mask: req.align - 1,
            usage: usage_ours(req.usage),
            memory_types: memory_types::<MODE>(req),
        };
        if MODE == REAL_HINTS {
            use gpu_alloc::{AllocOptions, Dedicated, ResourceKind};
            let mut options = AllocOptions::new().resource(match req.bound {
                Bound::Unknown => ResourceKind::Unknown,
                Bound::Linear => ResourceKind::Linear,
                Bound::Optimal => ResourceKind::Optimal,
            });
            match req.dedicated {
                Hint::None => {}
                Hint::Preferred => options = options.dedicated(Dedicated::Preferred),
                Hint::Required => options = options.dedicated(Dedicated::Required),
            }
            // SAFETY: `device` is the device whose properties made the allocator.
            return unsafe {
                self.alloc
                    .try_alloc_with_options(&self.device, request, options)
            }
            .ok();
        }
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

/// This project's allocator with a ring pool for the frame-staging trace:
/// every request goes to one pool of the ring algorithm (objects of
/// [`RING_OBJECT`] bytes, as many as it needs) through
/// `try_alloc_with_options`, as an engine puts its per-frame uploads in one.
struct OursRing<const MODE: Mode> {
    device: NullDevice,
    alloc: gpu_alloc::GpuAllocator<NullMemory<MODE>>,
    pool: gpu_alloc::PoolId,
}

/// Size of the ring pool's memory objects: about two frames of the staging
/// trace (64 blocks of 256 B to 1 MiB, log-uniform: 8 MiB on average).
const RING_OBJECT: u64 = 16 << 20;

impl<const MODE: Mode> OursRing<MODE> {
    fn new(mut alloc: gpu_alloc::GpuAllocator<NullMemory<MODE>>) -> Self {
        let device = NullDevice::default();
        let options = gpu_alloc::PoolOptions::new(RING_OBJECT)
            .usage(gpu_alloc::UsageFlags::UPLOAD)
            .algorithm(gpu_alloc::PoolAlgorithm::Ring)
            .name("frame uploads");
        // SAFETY: `device` is the device whose properties made the allocator.
        let pool = unsafe { alloc.create_pool(&device, options) }.expect("a valid pool");
        OursRing {
            device,
            alloc,
            pool,
        }
    }
}

impl<const MODE: Mode> BenchAlloc for OursRing<MODE> {
    type Block = gpu_alloc::MemoryBlock<NullMemory<MODE>>;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        let request = gpu_alloc::Request {
            size: req.size,
            align_mask: req.align - 1,
            usage: usage_ours(req.usage),
            memory_types: memory_types::<MODE>(req),
        };
        let options = gpu_alloc::AllocOptions::new().pool(self.pool);
        // SAFETY: `device` is the device whose properties made the allocator.
        unsafe {
            self.alloc
                .try_alloc_with_options(&self.device, request, options)
        }
        .ok()
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
        unsafe {
            self.alloc
                .destroy_pool(&self.device, self.pool)
                .expect("the row's pool");
            self.alloc.cleanup(&self.device);
        }
    }
}

/// gpu-alloc 0.6.2 on the null device. In [`REAL_HINTS`] mode a request with a
/// dedicated hint goes through `alloc_with_dedicated` (0.6.2 has no resource
/// kind); every other request through plain `alloc`.
struct Old062<const MODE: Mode> {
    device: NullDevice,
    alloc: gpu_alloc_062::GpuAllocator<NullMemory<MODE>>,
}

impl<const MODE: Mode> BenchAlloc for Old062<MODE> {
    type Block = gpu_alloc_062::MemoryBlock<NullMemory<MODE>>;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        let request = gpu_alloc_062::Request {
            size: req.size,
            align_mask: req.align - 1,
            usage: usage_062(req.usage),
            memory_types: memory_types::<MODE>(req),
        };
        if MODE == REAL_HINTS {
            use gpu_alloc_062::Dedicated;
            let dedicated = match req.dedicated {
                Hint::None => None,
                Hint::Preferred => Some(Dedicated::Preferred),
                Hint::Required => Some(Dedicated::Required),
            };
            if let Some(dedicated) = dedicated {
                // SAFETY: `device` is the device whose properties made the allocator.
                return unsafe {
                    self.alloc
                        .alloc_with_dedicated(&self.device, request, dedicated)
                }
                .ok();
            }
        }
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

/// Our [`gpu_alloc::VirtualAllocator`] (general strategy: the TLSF of the
/// general pools, with no device) over the same range as [`Offset`].
struct Virtual(gpu_alloc::VirtualAllocator);

impl BenchAlloc for Virtual {
    type Block = gpu_alloc::VirtualBlock;

    #[inline(never)]
    fn alloc(&mut self, req: &Req) -> Option<Self::Block> {
        self.0.alloc(req.size, req.align).ok()
    }

    #[inline(never)]
    fn free(&mut self, block: Self::Block) {
        self.0.free(block).expect("a block of this allocator");
    }

    fn device(&self) -> DeviceCounters {
        // As for `Offset`: the range is made up front.
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
pub(crate) const OURS_RING: &str = "gpu-alloc (ours) ring pool sim";
pub(crate) const VIRTUAL: &str = "virtual allocator";
pub(crate) const HARNESS: &str = "harness only (floor)";

/// Runs `trace` on the row `$row` (`OursSim` or `Old062`) in the trace's
/// [`mode`], on a fresh null device.
macro_rules! run_in_mode {
    ($row:ident, $name:expr, $alloc:expr, $trace:expr, $limit:expr) => {{
        let device = NullDevice::default();
        // `$alloc` in each arm: its memory type is the mode's.
        match mode($trace) {
            SYNTHETIC => {
                let mut row = $row::<SYNTHETIC> {
                    device,
                    alloc: $alloc,
                };
                run($name, &mut row, $trace, $limit)
            }
            REAL => {
                let mut row = $row::<REAL> {
                    device,
                    alloc: $alloc,
                };
                run($name, &mut row, $trace, $limit)
            }
            _ => {
                let mut row = $row::<REAL_HINTS> {
                    device,
                    alloc: $alloc,
                };
                run($name, &mut row, $trace, $limit)
            }
        }
    }};
}

/// Runs `trace` on every simulated row.
pub(crate) fn run_rows(trace: &Trace, limit: Duration) -> Vec<RunResult> {
    let one_block = trace.family == Family::OneBlock;
    let mut out = Vec::new();
    let props = sim_props!(gpu_alloc_types, one_block);
    // The driver's granularity for a real-requirements trace (0.6.2 ignores it).
    let granularity = trace.real.map_or(1, |r| r.granularity);
    let ext = gpu_alloc_types::ExtendedProperties::from_properties(&props, granularity);
    let config = config_ours(trace.family);
    out.push(run_in_mode!(
        OursSim,
        OURS_SIM,
        gpu_alloc::GpuAllocator::with_extended_properties(config, props, ext),
        trace,
        limit
    ));

    let mut config = gpu_alloc_062::Config::i_am_prototyping();
    if one_block {
        // 0.6.2's buddy objects are powers of two: 16 MiB is the smallest that
        // holds 10,240,000 bytes.
        config.initial_buddy_dedicated_size = ONE_BLOCK.next_power_of_two();
    }
    let props = sim_props!(gpu_alloc_types_031, one_block);
    out.push(run_in_mode!(
        Old062,
        OLD_SIM,
        gpu_alloc_062::GpuAllocator::new(config, props),
        trace,
        limit
    ));

    if trace.name == "frame staging" {
        // The staging trace is synthetic (any memory type).
        let props = sim_props!(gpu_alloc_types, false);
        let ext = gpu_alloc_types::ExtendedProperties::from_properties(&props, 1);
        let alloc = gpu_alloc::GpuAllocator::with_extended_properties(
            config_ours(trace.family),
            props,
            ext,
        );
        let mut row = OursRing::<SYNTHETIC>::new(alloc);
        out.push(run(OURS_RING, &mut row, trace, limit));
    }
    if trace.name.ends_with(" live small") {
        out.push(run(HARNESS, &mut Harness, trace, limit));
    }
    if one_block {
        let mut offset = Offset(offset_allocator::Allocator::new(ONE_BLOCK as u32));
        out.push(run(OFFSET, &mut offset, trace, limit));
        let heap = gpu_alloc::VirtualAllocator::new(ONE_BLOCK, gpu_alloc::VirtualStrategy::General)
            .expect("a range of ONE_BLOCK bytes");
        out.push(run(VIRTUAL, &mut Virtual(heap), trace, limit));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout the macro builds is [`SIM_TYPES`] on [`SIM_HEAPS`], for both
    /// type crates.
    #[test]
    fn layout() {
        let ours = sim_props!(gpu_alloc_types, false);
        let old = sim_props!(gpu_alloc_types_031, false);
        let bits: Vec<(u8, u32)> = SIM_TYPES.to_vec();
        let of_ours: Vec<(u8, u32)> = ours
            .memory_types
            .iter()
            .map(|t| (t.props.bits(), t.heap))
            .collect();
        let of_old: Vec<(u8, u32)> = old
            .memory_types
            .iter()
            .map(|t| (t.props.bits(), t.heap))
            .collect();
        assert_eq!((of_ours, of_old), (bits.clone(), bits));
        let heaps: Vec<u64> = ours.memory_heaps.iter().map(|h| h.size).collect();
        assert_eq!(heaps, SIM_HEAPS);
    }

    /// How drivers' `memoryTypeBits` map onto the simulated types.
    #[test]
    fn driver_types_to_sim() {
        const DL: u32 = DEVICE_LOCAL as u32;
        const HV: u32 = HOST_VISIBLE as u32;
        const HC: u32 = HOST_COHERENT as u32;
        const CACHED: u32 = HOST_CACHED as u32;
        // Lavapipe: one type with every bit stands for all four.
        assert_eq!(sim_memory_types(&[DL | HV | HC | CACHED], 1), 0b1111);
        // A discrete GPU: a type without bits, device-local, host-visible,
        // host-cached and a device-local host-visible window.
        let discrete = [0, DL, HV | HC, HV | HC | CACHED, DL | HV | HC];
        assert_eq!(sim_memory_types(&discrete, 0b11111), 0b1111);
        // Images allowed in the first two types only: device-local only.
        assert_eq!(sim_memory_types(&discrete, 0b00011), 0b0001);
        // Host-visible coherent only: the host-visible type and no other.
        assert_eq!(sim_memory_types(&discrete, 0b00100), 0b0010);
        // The window alone stands for device-local, host-visible and itself.
        assert_eq!(sim_memory_types(&discrete, 0b10000), 0b1011);
        // Lazily allocated or protected types stand for nothing; nor does a bit
        // past the listed types.
        assert_eq!(sim_memory_types(&[DL | 0x10, DL | 0x20], 0b11), 0);
        assert_eq!(sim_memory_types(&[DL], 0b10), 0);
        assert_eq!(sim_host_visible(true), 0b1110);
        assert_eq!(sim_host_visible(false), 0b1111);
    }
}

pub(crate) mod defrag;
