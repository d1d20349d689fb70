//! An allocator bound to a simulated device, with safe wrappers for the tests,
//! and a model of which memory types may serve a request.
//!
//! Every `unsafe` call of the allocator needs "the same device for every call of
//! this allocator and its blocks"; [`Harness`] owns both, so that holds by
//! construction and the tests need no `unsafe` of their own.

use {
    crate::sim::{Layout, SimDevice, SimMemory},
    gpu_alloc::{
        AllocOptions, AllocationError, Config, Dedicated, GpuAllocator, MapError, MemoryBlock,
        MemoryTypeInfo, Request, TryAllocError, UsageFlags,
    },
    std::ptr::NonNull,
};

/// A fixed list of usages: every host access, device access and transient
/// combination a request makes (the memory-type table pins each layout's
/// answer for every one of them).
pub const USAGES: [UsageFlags; 9] = [
    UsageFlags::empty(),
    UsageFlags::FAST_DEVICE_ACCESS,
    UsageFlags::HOST_ACCESS,
    UsageFlags::UPLOAD,
    UsageFlags::DOWNLOAD,
    UsageFlags::UPLOAD.union(UsageFlags::FAST_DEVICE_ACCESS),
    UsageFlags::DOWNLOAD.union(UsageFlags::FAST_DEVICE_ACCESS),
    UsageFlags::TRANSIENT.union(UsageFlags::UPLOAD),
    UsageFlags::HOST_ACCESS.union(UsageFlags::DOWNLOAD),
];

/// The `Config` presets the tests run under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// [`Config::i_am_potato`].
    Potato,
    /// [`Config::i_am_prototyping`].
    Prototyping,
}

impl Preset {
    /// Both presets.
    pub const ALL: [Preset; 2] = [Preset::Potato, Preset::Prototyping];

    /// The configuration.
    pub fn config(self) -> Config {
        match self {
            Preset::Potato => Config::i_am_potato(),
            Preset::Prototyping => Config::i_am_prototyping(),
        }
    }
}

/// A simulated device and an allocator made for it.
#[derive(Debug)]
pub struct Harness {
    /// The device. Inspect it freely; configure faults on it.
    pub device: SimDevice,
    /// The allocator, created with the device's extended properties.
    pub allocator: GpuAllocator<SimMemory>,
}

impl Harness {
    /// A harness for `layout` with the given configuration.
    pub fn new(layout: Layout, config: Config) -> Self {
        let device = SimDevice::new(layout);
        Harness::with_device(device, config)
    }

    /// A harness for an existing device.
    pub fn with_device(device: SimDevice, config: Config) -> Self {
        let allocator = GpuAllocator::with_extended_properties(
            config,
            device.properties(),
            device.extended_properties(),
        );
        Harness { device, allocator }
    }

    /// A harness for the fixture `name` with a preset.
    pub fn named(name: &str, preset: Preset) -> Self {
        Harness::new(Layout::named(name), preset.config())
    }

    /// [`GpuAllocator::try_alloc`], or [`GpuAllocator::try_alloc_with_dedicated`]
    /// when `dedicated` is given.
    pub fn try_alloc(
        &mut self,
        request: Request,
        dedicated: Option<Dedicated>,
    ) -> Result<MemoryBlock<SimMemory>, TryAllocError> {
        let result = match dedicated {
            // SAFETY: `self.device` made this allocator's properties and is passed to
            // every call of the allocator and its blocks.
            None => unsafe { self.allocator.try_alloc(&self.device, request) },
            // SAFETY: as above.
            Some(dedicated) => unsafe {
                self.allocator
                    .try_alloc_with_dedicated(&self.device, request, dedicated)
            },
        };
        self.allocator.check_invariants();
        result
    }

    /// [`GpuAllocator::try_alloc_with_options`].
    pub fn try_alloc_with_options(
        &mut self,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<SimMemory>, TryAllocError> {
        // SAFETY: the harness's device, as in `try_alloc`.
        let result = unsafe {
            self.allocator
                .try_alloc_with_options(&self.device, request, options)
        };
        self.allocator.check_invariants();
        result
    }

    /// [`GpuAllocator::alloc`], or [`GpuAllocator::alloc_with_dedicated`] when
    /// `dedicated` is given.
    pub fn alloc(
        &mut self,
        request: Request,
        dedicated: Option<Dedicated>,
    ) -> Result<MemoryBlock<SimMemory>, AllocationError> {
        let result = match dedicated {
            // SAFETY: the harness's device, as in `try_alloc`.
            None => unsafe { self.allocator.alloc(&self.device, request) },
            // SAFETY: as above.
            Some(dedicated) => unsafe {
                self.allocator
                    .alloc_with_dedicated(&self.device, request, dedicated)
            },
        };
        self.allocator.check_invariants();
        result
    }

    /// [`GpuAllocator::dealloc`].
    pub fn dealloc(&mut self, block: MemoryBlock<SimMemory>) {
        // SAFETY: the harness's device; the simulated device never accesses memory
        // on its own, and the block's mapping pointers die with it.
        unsafe { self.allocator.dealloc(&self.device, block) };
        self.allocator.check_invariants();
    }

    /// [`GpuAllocator::try_dealloc`].
    #[allow(clippy::result_large_err)]
    pub fn try_dealloc(
        &mut self,
        block: MemoryBlock<SimMemory>,
    ) -> Result<(), MemoryBlock<SimMemory>> {
        // SAFETY: as in `dealloc`.
        let result = unsafe { self.allocator.try_dealloc(&self.device, block) };
        self.allocator.check_invariants();
        result
    }

    /// [`GpuAllocator::cleanup`].
    pub fn cleanup(&mut self) {
        // SAFETY: the harness's device.
        unsafe { self.allocator.cleanup(&self.device) };
        self.allocator.check_invariants();
    }

    /// [`MemoryBlock::write_bytes`].
    pub fn write(
        &self,
        block: &mut MemoryBlock<SimMemory>,
        offset: u64,
        data: &[u8],
    ) -> Result<(), MapError> {
        // SAFETY: the harness's device, which never accesses the block on its own.
        unsafe { block.write_bytes(&self.device, offset, data) }
    }

    /// [`MemoryBlock::read_bytes`].
    pub fn read(
        &self,
        block: &mut MemoryBlock<SimMemory>,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), MapError> {
        // SAFETY: the harness's device, which never writes the block on its own.
        unsafe { block.read_bytes(&self.device, offset, data) }
    }

    /// [`MemoryBlock::map`]. The caller keeps the pointer inside the `size`
    /// bytes mapped, and stops using it when the block is unmapped or freed.
    pub fn map(
        &self,
        block: &mut MemoryBlock<SimMemory>,
        offset: u64,
        size: usize,
    ) -> Result<NonNull<u8>, MapError> {
        // SAFETY: the harness's device; pointer use is the caller's, as documented.
        unsafe { block.map(&self.device, offset, size) }
    }

    /// [`MemoryBlock::unmap`].
    pub fn unmap(&self, block: &mut MemoryBlock<SimMemory>) -> bool {
        // SAFETY: the harness's device; the caller drops its pointers.
        unsafe { block.unmap(&self.device) }
    }

    /// [`MemoryBlock::flush_range`].
    pub fn flush(
        &self,
        block: &mut MemoryBlock<SimMemory>,
        offset: u64,
        size: u64,
    ) -> Result<(), MapError> {
        // SAFETY: the harness's device.
        unsafe { block.flush_range(&self.device, offset, size) }
    }

    /// [`MemoryBlock::invalidate_range`].
    pub fn invalidate(
        &self,
        block: &mut MemoryBlock<SimMemory>,
        offset: u64,
        size: u64,
    ) -> Result<(), MapError> {
        // SAFETY: the harness's device.
        unsafe { block.invalidate_range(&self.device, offset, size) }
    }

    /// [`GpuAllocator::update_budget`].
    pub fn update_budget(&mut self) -> bool {
        self.allocator.update_budget(&self.device)
    }

    /// Checks that the allocator's accounting matches the device: bytes per heap
    /// and remaining object count; and the allocator's own invariants.
    pub fn check_accounting(&self) {
        self.allocator.check_invariants();
        let layout = self.device.layout();
        for heap in 0..layout.memory_heaps.len() as u32 {
            assert_eq!(
                self.allocator.heap_usage(heap),
                self.device.heap_usage(heap),
                "heap {heap}: allocator's heap_usage vs bytes alive on the device"
            );
        }
        let live = self.device.live_count() as u64;
        assert_eq!(
            u64::from(self.allocator.remaining_allocations()),
            u64::from(layout.max_memory_allocation_count) - live,
            "remaining_allocations vs objects alive on the device"
        );
    }
}

/// Whether a usage wants host access (`HOST_ACCESS`, `UPLOAD` or `DOWNLOAD`).
pub fn wants_host(usage: UsageFlags) -> bool {
    usage.intersects(UsageFlags::HOST_ACCESS | UsageFlags::UPLOAD | UsageFlags::DOWNLOAD)
}

/// Property bits never chosen unless allowed (AMD device-coherent and uncached,
/// everything above the low byte), written down from the core's docs.
pub const EXOTIC_BITS: u32 = !0x3F;

/// Whether memory type `info` may serve `usage`, by the eligibility rules of the
/// core's docs (the request mask aside), with `allowed` exotic bits permitted.
pub fn eligible(usage: UsageFlags, info: &MemoryTypeInfo, allowed: u32) -> bool {
    const HOST_VISIBLE: u32 = 0x2;
    const LAZILY_ALLOCATED: u32 = 0x10;
    const PROTECTED: u32 = 0x20;
    let flags = info.raw_flags;
    if flags & EXOTIC_BITS & !allowed != 0 {
        return false;
    }
    if wants_host(usage) && flags & HOST_VISIBLE == 0 {
        return false;
    }
    if usage.contains(UsageFlags::PROTECTED) != (flags & PROTECTED != 0) {
        return false;
    }
    if flags & LAZILY_ALLOCATED != 0
        && (!usage.contains(UsageFlags::TRANSIENT_ATTACHMENT) || wants_host(usage))
    {
        return false;
    }
    true
}

/// The memory types of `layout` that may serve `request`.
pub fn eligible_types(layout: &Layout, request: &Request, allowed: u32) -> Vec<u32> {
    layout
        .memory_type_infos()
        .iter()
        .enumerate()
        .filter(|(index, info)| {
            request.memory_types & (1u32 << index) != 0 && eligible(request.usage, info, allowed)
        })
        .map(|(index, _)| index as u32)
        .collect()
}

/// Ranking key of memory type `index` for `usage`, smaller is better: the rules
/// of the core's docs ("How eligible types are ranked"), in order.
pub fn rank(usage: UsageFlags, index: u32, info: &MemoryTypeInfo) -> impl Ord {
    const DEVICE_LOCAL: u32 = 0x1;
    const HOST_VISIBLE: u32 = 0x2;
    const HOST_COHERENT: u32 = 0x4;
    const HOST_CACHED: u32 = 0x8;
    const LAZILY_ALLOCATED: u32 = 0x10;
    let has = |bit: u32| info.raw_flags & bit != 0;
    let host = wants_host(usage);
    let fast = usage.contains(UsageFlags::FAST_DEVICE_ACCESS) || !host;
    let download = usage.contains(UsageFlags::DOWNLOAD);
    (
        // 1. Transient attachments: lazily allocated first.
        usage.contains(UsageFlags::TRANSIENT_ATTACHMENT) && !has(LAZILY_ALLOCATED),
        // 2. Downloads: cached first.
        download && !has(HOST_CACHED),
        // 3. Device-local first when fast device access is wanted, else (with
        //    host access) not device-local first.
        if fast {
            !has(DEVICE_LOCAL)
        } else {
            host && has(DEVICE_LOCAL)
        },
        // 4. Host access: coherent first.
        host && !has(HOST_COHERENT),
        // 5. No host access: not host-visible first.
        !host && has(HOST_VISIBLE),
        // 6. Host access without download: uncached first.
        host && !download && has(HOST_CACHED),
        // 7. Fewer property bits; 8. lower index.
        info.raw_flags.count_ones(),
        index,
    )
}

/// The memory type the core's documented rules choose for `request` on `layout`
/// when no heap is full, if any type is eligible.
pub fn best_type(layout: &Layout, request: &Request, allowed: u32) -> Option<u32> {
    let infos = layout.memory_type_infos();
    eligible_types(layout, request, allowed)
        .into_iter()
        .min_by_key(|&index| rank(request.usage, index, &infos[index as usize]))
}

/// A proptest runner for the random programs of `label` (a test and its
/// matrix cell): a fixed seed per label (FNV-1a of it), changed by
/// `GPU_ALLOC_TEST_SEED`, and `PROPTEST_CASES` cases or `default_cases`, so
/// that runs are reproducible and failures are not persisted to files.
pub fn seeded_runner(label: &str, default_cases: u32) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    let extra: u64 = std::env::var("GPU_ALLOC_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ extra;
    for byte in label.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&hash.rotate_left(i as u32 * 16).to_le_bytes());
    }
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &seed))
}
