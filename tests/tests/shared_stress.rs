//! `SharedGpuAllocator` under load on the simulated device: 8 threads run
//! random programs (seeded per thread, so each program is reproducible) and
//! meet at quiescent points where every rule of a block is checked.
//!
//! - Stress runs, one per layout (Apple M1: a non-coherent type; an NVIDIA
//!   card with a 1024-byte `bufferImageGranularity` and an object limit of
//!   4096; a discrete AMD card, also with memory objects of 1 to 8 MiB and a
//!   dedicated threshold of 512 KiB; an Intel iGPU with one heap): requests of
//!   1 B to 4 MiB (log-uniform, so most go to the thread arenas and some to the
//!   central allocator), alignments of 1 B to 64 KiB, device-local, upload,
//!   download, transient and host-access usages, every entry point (`alloc`,
//!   `alloc_with_dedicated`, `try_alloc`, `try_alloc_with_dedicated`,
//!   `try_alloc_with_options` with each `ResourceKind`), sometimes a mask
//!   without the best type; four runs inject `allocate_memory` and
//!   `map_memory` failures. Every block gets a pattern (through `write_bytes`
//!   where host-visible, else as the device) that is read back before it is
//!   freed; about a quarter of the frees are done by another thread, which the
//!   block reaches through a channel. Now and then a thread calls `cleanup`, or
//!   reads `stats`, `live_blocks` and `memory_map`, while the others work.
//! - At each quiescent point every thread parks; each reads back every block
//!   it holds as the device sees it, and one thread checks
//!   `check_invariants`, every live block (from a registry of their memory
//!   object, offset, size and memory type) inside a live object of its type,
//!   none overlapping, non-coherent atoms, `bufferImageGranularity` pages
//!   between resource kinds, `Dedicated::Required` blocks alone; the
//!   allocator's object count, remaining objects and heap usage against the
//!   device's; `stats().blocks == live_blocks()` == the registry's count,
//!   `stats().used` its bytes, `stats().cached <= reserved - used` and within
//!   the free bytes beside the central allocator's free ranges. In fault runs
//!   it then forces failures (every `allocate_memory`, every `map_memory`) and
//!   checks that they give clean errors.
//! - Every call of the allocator goes through a recorder of the device that
//!   counts, per thread, the failures injected during that thread's calls (an
//!   allocation, map, read or write may fail only when one was; a request
//!   served without one comes from the best memory type by the documented
//!   ranking) and the most bytes each heap held at any moment.
//! - Limits under contention: a limit of 6 memory objects, and heap budgets,
//!   with 8 threads allocating until refused: never more objects or bytes on
//!   the device than allowed, and only `TooManyObjects` / `OutOfDeviceMemory`.
//! - Pressure: an idle thread's empty lease is given back when another thread
//!   needs its memory object or heap room.
//! - Leases: one thread's leases make no memory object that goes back at once
//!   (a lease above the dedicated threshold would), and one empty lease stays;
//!   72 threads share the 64 arenas; blocks offered to another allocator come
//!   back; a leased block that outlives its allocator keeps its memory object.
//! - Room kept by threads: a thread whose use falls gives its empty leases back
//!   as it frees; a heap filled and thinned out by one thread serves another
//!   thread's request from the first thread's leases.
//! - At the end of every test: every block freed, `cleanup`, no memory object
//!   in the allocator or on the device, no `MemoryDevice` rule broken.
//!
//! `GPU_ALLOC_STRESS_STEPS` sets the steps per thread of a stress run (default
//! 400, a quiescent point every 40); `GPU_ALLOC_TEST_SEED` picks other programs
//! (the interleaving of the threads, and which calls the device fails, differ
//! run to run). `cargo test -p gpu-alloc-tests --test shared_stress --
//! --nocapture` prints what each test did.

use {
    gpu_alloc::{
        AllocOptions, AllocationError, AllocationFlags, Config, Dedicated, DeviceMapError,
        HeapBudget, MapError, MappedMemoryRange, MemoryBlock, MemoryDevice, MemoryPropertyFlags,
        OutOfMemory, Request, ResourceKind, SharedGpuAllocator, TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{best_type, eligible_types},
        kit::Rng,
        sim::{Faults, Layout, SimDevice, SimMemory},
    },
    std::{
        cell::Cell,
        collections::BTreeMap,
        ptr::NonNull,
        sync::{
            mpsc::{self, Receiver, Sender},
            Condvar, Mutex, MutexGuard, PoisonError,
        },
        thread,
    },
};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const THREADS: usize = 8;
/// Steps per thread of a stress run without `GPU_ALLOC_STRESS_STEPS`.
const DEFAULT_STEPS: u64 = 400;
/// Steps between two quiescent points.
const CHECK_EVERY: u64 = 40;
/// Bytes of one written and checked span of a block: blocks up to three spans
/// are written whole, larger ones at the start, the end and one place between.
const SPAN: u64 = 4 * KIB;
/// The largest lease of a thread arena (`concurrent/arena.rs`).
const LEASE_MAX: u64 = 16 * MIB;
/// Thread arenas of a `SharedGpuAllocator` (`concurrent/mod.rs`).
const ARENAS: usize = 64;
/// Pool classes of a memory type (unknown, linear, optimal resources).
const CLASSES: u64 = 3;

/// Locks `mutex`, whether or not a failed thread poisoned it (the failure is
/// reported by that thread).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn steps() -> u64 {
    std::env::var("GPU_ALLOC_STRESS_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_STEPS)
}

/// The seed of thread `thread` of test `name`: FNV-1a of the name, changed by
/// `GPU_ALLOC_TEST_SEED`.
fn seed(name: &str, thread: usize) -> u64 {
    let extra: u64 = std::env::var("GPU_ALLOC_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ extra;
    for byte in name.bytes().chain([thread as u8]) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

// ---- the device, watched ------------------------------------------------------

std::thread_local! {
    /// `allocate_memory` and `map_memory` failures the device injected during
    /// this thread's calls.
    static INJECTED: Cell<u64> = const { Cell::new(0) };
}

/// Failures injected during the calling thread's device calls so far.
fn injected_here() -> u64 {
    INJECTED.with(Cell::get)
}

/// The simulated device behind a recorder that every call of the allocator and
/// its blocks goes through. Allocations, frees and maps run one at a time
/// under `peaks`' lock, so the recorder sees exactly which call the device
/// failed on purpose (counted for the calling thread, see [`injected_here`])
/// and each heap's usage right after each allocation (its most at any moment).
struct Watched {
    sim: SimDevice,
    /// The most bytes each heap held.
    peaks: Mutex<Vec<u64>>,
}

impl Watched {
    fn new(sim: SimDevice) -> Self {
        let heaps = sim.layout().memory_heaps.len();
        Watched {
            sim,
            peaks: Mutex::new(vec![0; heaps]),
        }
    }

    fn peaks(&self) -> Vec<u64> {
        lock(&self.peaks).clone()
    }

    /// Runs one device call; counts an injected failure during it for this thread.
    fn watch<T>(&self, call: impl FnOnce() -> T) -> T {
        let mut peaks = lock(&self.peaks);
        let before = self.sim.stats();
        let result = call();
        let after = self.sim.stats();
        let injected = (after.injected_alloc_failures - before.injected_alloc_failures)
            + (after.injected_map_failures - before.injected_map_failures);
        INJECTED.with(|count| count.set(count.get() + injected));
        for (peak, usage) in peaks.iter_mut().zip(self.sim.heap_usages()) {
            *peak = (*peak).max(usage);
        }
        result
    }
}

impl MemoryDevice<SimMemory> for Watched {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<SimMemory, OutOfMemory> {
        self.watch(|| {
            // SAFETY: the caller keeps this method's rules, which are the
            // simulated device's (it is the device the allocator was made for).
            unsafe { self.sim.allocate_memory(size, memory_type, flags) }
        })
    }

    unsafe fn deallocate_memory(&self, memory: SimMemory) {
        self.watch(|| {
            // SAFETY: as in `allocate_memory`.
            unsafe { self.sim.deallocate_memory(memory) }
        });
    }

    unsafe fn map_memory(
        &self,
        memory: &mut SimMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        self.watch(|| {
            // SAFETY: as in `allocate_memory`.
            unsafe { self.sim.map_memory(memory, offset, size) }
        })
    }

    unsafe fn unmap_memory(&self, memory: &mut SimMemory) {
        // SAFETY: as in `allocate_memory`.
        unsafe { self.sim.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, SimMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: as in `allocate_memory`.
        unsafe { self.sim.invalidate_memory_ranges(ranges) }
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, SimMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: as in `allocate_memory`.
        unsafe { self.sim.flush_memory_ranges(ranges) }
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        self.sim.memory_budget(budgets)
    }
}

// ---- quiescent points ---------------------------------------------------------

/// Where the worker threads park together. Unlike `std::sync::Barrier`, a
/// thread that fails breaks it, and the others then fail at their next wait
/// instead of waiting for ever.
struct Rendezvous {
    parties: usize,
    round: Mutex<Round>,
    turn: Condvar,
}

#[derive(Default)]
struct Round {
    waiting: usize,
    generation: u64,
    broken: bool,
}

impl Rendezvous {
    fn new(parties: usize) -> Self {
        Rendezvous {
            parties,
            round: Mutex::new(Round::default()),
            turn: Condvar::new(),
        }
    }

    /// Waits until every party is here; `true` for one of them (the last).
    fn wait(&self) -> bool {
        let mut round = lock(&self.round);
        assert!(!round.broken, "another thread failed");
        round.waiting += 1;
        if round.waiting == self.parties {
            round.waiting = 0;
            round.generation += 1;
            self.turn.notify_all();
            return true;
        }
        let generation = round.generation;
        while round.generation == generation && !round.broken {
            round = self
                .turn
                .wait(round)
                .unwrap_or_else(PoisonError::into_inner);
        }
        assert!(!round.broken, "another thread failed");
        false
    }
}

/// Breaks its rendezvous if its thread panics.
struct BreakOnPanic<'a>(&'a Rendezvous);

impl Drop for BreakOnPanic<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            lock(&self.0.round).broken = true;
            self.0.turn.notify_all();
        }
    }
}

// ---- blocks and their data ----------------------------------------------------

/// `len` bytes of block pattern `key` from byte `offset` of the block on.
fn pattern(key: u64, offset: u64, len: u64) -> Vec<u8> {
    let (first, end) = (offset / 8, (offset + len).div_ceil(8));
    let mut bytes = Vec::with_capacity(((end - first) * 8) as usize);
    for word in first..end {
        let x =
            (key ^ word.wrapping_mul(0x9E37_79B9_7F4A_7C15)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        bytes.extend_from_slice(&(x ^ (x >> 31)).to_le_bytes());
    }
    let skip = (offset % 8) as usize;
    bytes.drain(..skip);
    bytes.truncate(len as usize);
    bytes
}

/// The `(offset, len)` spans of a block of `len` requested bytes that hold its
/// pattern.
fn spans(len: u64, key: u64) -> Vec<(u64, u64)> {
    if len <= 3 * SPAN {
        return vec![(0, len)];
    }
    vec![(0, SPAN), (key % (len - SPAN), SPAN), (len - SPAN, SPAN)]
}

fn host_visible(block: &MemoryBlock<SimMemory>) -> bool {
    block.props().contains(MemoryPropertyFlags::HOST_VISIBLE)
}

/// A live block and what it holds.
#[derive(Debug)]
struct Held {
    block: MemoryBlock<SimMemory>,
    /// Its key in the registry.
    serial: u64,
    /// Its pattern.
    key: u64,
    /// Bytes requested (the pattern covers these).
    len: u64,
    /// The thread that allocated it.
    owner: usize,
}

/// A live block as the quiescent check sees it.
#[derive(Clone, Copy, Debug)]
struct Placed {
    memory: u64,
    offset: u64,
    size: u64,
    memory_type: u32,
    kind: ResourceKind,
    required: bool,
}

/// How a request reaches the allocator.
#[derive(Clone, Copy, Debug)]
enum Entry {
    Alloc,
    AllocDedicated(Dedicated),
    Try,
    TryDedicated(Dedicated),
    Options(ResourceKind, Option<Dedicated>),
}

impl Entry {
    fn kind(self) -> ResourceKind {
        match self {
            Entry::Options(kind, _) => kind,
            _ => ResourceKind::Unknown,
        }
    }

    fn required(self) -> bool {
        matches!(
            self,
            Entry::AllocDedicated(Dedicated::Required)
                | Entry::TryDedicated(Dedicated::Required)
                | Entry::Options(_, Some(Dedicated::Required))
        )
    }
}

/// Why a request was refused, from either error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Try(TryAllocError),
    Legacy(AllocationError),
}

impl Refusal {
    /// Out of device memory or memory objects: what a limit or a budget gives.
    fn is_pressure(self) -> bool {
        matches!(
            self,
            Refusal::Try(TryAllocError::OutOfDeviceMemory | TryAllocError::TooManyObjects)
                | Refusal::Legacy(
                    AllocationError::OutOfDeviceMemory | AllocationError::TooManyObjects
                )
        )
    }

    /// What an injected `allocate_memory` or `map_memory` failure gives.
    fn is_injectable(self) -> bool {
        matches!(
            self,
            Refusal::Try(TryAllocError::OutOfDeviceMemory | TryAllocError::MapFailed)
                | Refusal::Legacy(
                    AllocationError::OutOfDeviceMemory | AllocationError::OutOfHostMemory
                )
        )
    }
}

/// Which refusals a test accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Accept {
    /// Only with a failure injected during that very call; a request served
    /// without one comes from the best memory type.
    Injected,
    /// `TooManyObjects` and `OutOfDeviceMemory` (limits and budgets).
    Pressure,
}

/// A usage, drawn.
fn draw_usage(rng: &mut Rng) -> UsageFlags {
    match rng.below(7) {
        0 | 1 => UsageFlags::FAST_DEVICE_ACCESS,
        2 => UsageFlags::UPLOAD,
        3 => UsageFlags::DOWNLOAD,
        4 => UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        5 => UsageFlags::FAST_DEVICE_ACCESS | UsageFlags::TRANSIENT,
        _ => UsageFlags::HOST_ACCESS | UsageFlags::FAST_DEVICE_ACCESS,
    }
}

/// A request and its entry point, drawn: 1 B to 4 MiB log-uniform, aligned to
/// 1 B to 64 KiB; one in eight has a mask without the best type (when another
/// type is eligible).
fn draw_request(rng: &mut Rng, layout: &Layout) -> (Request, Entry) {
    let usage = draw_usage(rng);
    let mut request = Request {
        size: rng.log_uniform(1, 4 * MIB),
        align_mask: rng.pow2(0, 16) - 1,
        usage,
        memory_types: !0,
    };
    if rng.below(8) == 0 {
        let best = best_type(layout, &request, 0).expect("every usage has a type");
        if eligible_types(layout, &request, 0).len() > 1 {
            request.memory_types = !(1 << best);
        }
    }
    let kind = match rng.below(3) {
        0 => ResourceKind::Unknown,
        1 => ResourceKind::Linear,
        _ => ResourceKind::Optimal,
    };
    let entry = match rng.below(40) {
        0..=13 => Entry::Options(kind, None),
        14..=22 => Entry::Try,
        23..=33 => Entry::Alloc,
        34 | 35 => Entry::AllocDedicated(Dedicated::Preferred),
        36 => Entry::AllocDedicated(Dedicated::Required),
        37 => Entry::TryDedicated(Dedicated::Preferred),
        38 => Entry::TryDedicated(Dedicated::Required),
        _ => Entry::Options(kind, Some(Dedicated::Required)),
    };
    (request, entry)
}

/// What a thread did.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    served: u64,
    refused: u64,
    /// Refusals that were `TooManyObjects`.
    too_many_objects: u64,
    /// Served blocks over 1 MiB (the central allocator's) and dedicated ones.
    large: u64,
    dedicated: u64,
    frees: u64,
    /// Frees of a block another thread allocated.
    cross_frees: u64,
    /// Most blocks live at once.
    peak_live: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.served += other.served;
        self.refused += other.refused;
        self.too_many_objects += other.too_many_objects;
        self.large += other.large;
        self.dedicated += other.dedicated;
        self.frees += other.frees;
        self.cross_frees += other.cross_frees;
        self.peak_live = self.peak_live.max(other.peak_live);
    }
}

/// One test's allocator, device and shared state.
struct Run<'a> {
    name: &'a str,
    device: &'a Watched,
    allocator: &'a SharedGpuAllocator<SimMemory>,
    accept: Accept,
    /// Budgets set on the allocator, per heap (their sizes without).
    budgets: Vec<u64>,
    /// Every live block, by serial.
    registry: Mutex<BTreeMap<u64, Placed>>,
    /// Worker threads.
    threads: usize,
    rendezvous: Rendezvous,
    /// The failure rates of `allocate_memory` and `map_memory` when the run
    /// injects failures; the quiescent point then forces failures too.
    fault_rates: Option<(f64, f64)>,
}

impl<'a> Run<'a> {
    fn new(
        name: &'a str,
        device: &'a Watched,
        allocator: &'a SharedGpuAllocator<SimMemory>,
        accept: Accept,
    ) -> Self {
        Run {
            name,
            device,
            allocator,
            accept,
            budgets: device
                .sim
                .layout()
                .memory_heaps
                .iter()
                .map(|h| h.size)
                .collect(),
            registry: Mutex::new(BTreeMap::new()),
            threads: THREADS,
            rendezvous: Rendezvous::new(THREADS),
            fault_rates: None,
        }
    }

    /// With `threads` worker threads instead of [`THREADS`].
    fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self.rendezvous = Rendezvous::new(threads);
        self
    }

    fn layout(&self) -> &Layout {
        self.device.sim.layout()
    }

    /// Runs a map, read or write, again after each failure injected during it.
    fn retry_map(&self, mut access: impl FnMut() -> Result<(), MapError>) {
        for _ in 0..100 {
            let before = injected_here();
            match access() {
                Ok(()) => return,
                Err(MapError::MapFailed) if injected_here() > before => {}
                Err(error) => panic!("{}: a map failed without cause: {error:?}", self.name),
            }
        }
        panic!("{}: 100 injected map failures in a row", self.name);
    }

    /// Allocates through `entry`; checks a served block and writes its pattern,
    /// or checks that the refusal is one this test accepts.
    fn allocate(
        &self,
        request: Request,
        entry: Entry,
        serial: u64,
        key: u64,
        owner: usize,
    ) -> Result<Held, Refusal> {
        let (allocator, device) = (self.allocator, self.device);
        let before = injected_here();
        let result = match entry {
            Entry::Alloc => {
                // SAFETY: `device` wraps the simulated device the allocator was
                // made for, and is passed to every call of it and its blocks.
                unsafe { allocator.alloc(device, request) }.map_err(Refusal::Legacy)
            }
            Entry::AllocDedicated(dedicated) => {
                // SAFETY: as above.
                unsafe { allocator.alloc_with_dedicated(device, request, dedicated) }
                    .map_err(Refusal::Legacy)
            }
            // SAFETY: as above.
            Entry::Try => unsafe { allocator.try_alloc(device, request) }.map_err(Refusal::Try),
            Entry::TryDedicated(dedicated) => {
                // SAFETY: as above.
                unsafe { allocator.try_alloc_with_dedicated(device, request, dedicated) }
                    .map_err(Refusal::Try)
            }
            Entry::Options(kind, dedicated) => {
                let mut options = AllocOptions::new().resource(kind);
                if let Some(dedicated) = dedicated {
                    options = options.dedicated(dedicated);
                }
                // SAFETY: as above.
                unsafe { allocator.try_alloc_with_options(device, request, options) }
                    .map_err(Refusal::Try)
            }
        };
        let injected = injected_here() > before;
        let block = match result {
            Ok(block) => block,
            Err(refusal) => {
                match self.accept {
                    Accept::Injected => assert!(
                        injected && refusal.is_injectable(),
                        "{}: {request:?} through {entry:?} refused with {refusal:?} without an \
                         injected failure",
                        self.name
                    ),
                    Accept::Pressure => assert!(
                        refusal.is_pressure(),
                        "{}: {request:?} through {entry:?} refused with {refusal:?}",
                        self.name
                    ),
                }
                return Err(refusal);
            }
        };
        let best = (self.accept == Accept::Injected && !injected)
            .then(|| best_type(self.layout(), &request, 0))
            .flatten();
        self.check_new(&block, &request, entry, best);
        let mut held = Held {
            block,
            serial,
            key,
            len: request.size,
            owner,
        };
        self.fill(&mut held);
        let placed = Placed {
            memory: held.block.memory().id(),
            offset: held.block.offset(),
            size: held.block.size(),
            memory_type: held.block.memory_type(),
            kind: entry.kind(),
            required: entry.required(),
        };
        lock(&self.registry).insert(serial, placed);
        Ok(held)
    }

    /// The rules of a new block: an eligible type (the best one when given),
    /// its type's properties, large enough, aligned, inside a live memory object
    /// of its type, whole atoms in non-coherent memory, dedicated when required.
    fn check_new(
        &self,
        block: &MemoryBlock<SimMemory>,
        request: &Request,
        entry: Entry,
        best: Option<u32>,
    ) {
        let (name, layout) = (self.name, self.layout());
        let ty = block.memory_type();
        let eligible = eligible_types(layout, request, 0);
        assert!(
            eligible.contains(&ty),
            "{name}: {request:?} served from type {ty}, eligible: {eligible:?}"
        );
        if let Some(best) = best {
            assert_eq!(
                ty, best,
                "{name}: {request:?} through {entry:?} served from type {ty}, the best is {best}"
            );
        }
        assert_eq!(
            u32::from(block.props().bits()),
            layout.type_flags(ty) & 0xFF,
            "{name}: the block's properties are not its type's"
        );
        assert!(
            block.size() >= request.size,
            "{name}: {block:?} for {request:?}"
        );
        assert_eq!(
            block.offset() & request.align_mask,
            0,
            "{name}: {block:?} for {request:?}"
        );
        if entry.required() {
            assert!(
                block.is_dedicated(),
                "{name}: Dedicated::Required block not dedicated"
            );
        }
        let object = self
            .device
            .sim
            .object(block.memory().id())
            .unwrap_or_else(|| panic!("{name}: a new block's memory object is not alive"));
        check_extent(name, layout, &object, block.offset(), block.size(), ty);
    }

    /// Writes the block's pattern: through `write_bytes` (a map, a copy and a
    /// flush) where host-visible, else as the device.
    fn fill(&self, held: &mut Held) {
        for (offset, len) in spans(held.len, held.key) {
            let data = pattern(held.key, offset, len);
            if host_visible(&held.block) {
                self.retry_map(|| {
                    // SAFETY: the allocator's device; the block is this thread's
                    // alone and the device does not use it.
                    unsafe { held.block.write_bytes(self.device, offset, &data) }
                });
            } else {
                let at = held.block.offset() + offset;
                self.device.sim.device_write(held.block.memory(), at, &data);
            }
        }
    }

    /// Checks the block's pattern as the device sees it and, with `host`, as
    /// the host reads it (`read_bytes`: a map, an invalidate and a copy).
    fn verify(&self, held: &mut Held, host: bool) {
        for (offset, len) in spans(held.len, held.key) {
            let expected = pattern(held.key, offset, len);
            let at = held.block.offset() + offset;
            let seen = self.device.sim.device_read(held.block.memory(), at, len);
            self.compare(held, offset, &seen, &expected, "the device");
            if host && host_visible(&held.block) {
                let mut back = vec![0; len as usize];
                self.retry_map(|| {
                    // SAFETY: as in `fill`.
                    unsafe { held.block.read_bytes(self.device, offset, &mut back) }
                });
                self.compare(held, offset, &back, &expected, "the host");
            }
        }
    }

    fn compare(&self, held: &Held, offset: u64, seen: &[u8], expected: &[u8], reader: &str) {
        if let Some(at) = seen.iter().zip(expected).position(|(a, b)| a != b) {
            panic!(
                "{}: block {} of thread {} ({} bytes at {} of memory {}, type {}): {reader} \
                 reads {:#04x} at byte {}, {:#04x} was written",
                self.name,
                held.serial,
                held.owner,
                held.block.size(),
                held.block.offset(),
                held.block.memory().id(),
                held.block.memory_type(),
                seen[at],
                offset + at as u64,
                expected[at]
            );
        }
    }

    /// Reads the statistics and the memory map while other threads allocate
    /// and free: nothing panics, and the central allocator's map covers each
    /// memory object with its ranges.
    fn read_while_busy(&self) {
        let stats = self.allocator.stats();
        assert!(
            stats.memory_objects as usize <= self.layout().max_memory_allocation_count as usize
        );
        let _ = self.allocator.live_blocks();
        for object in self.allocator.memory_map().objects {
            let mut end = 0;
            for range in &object.ranges {
                assert_eq!(
                    range.offset, end,
                    "{}: a gap in the map of {object:?}",
                    self.name
                );
                end += range.size;
            }
            assert_eq!(
                end, object.size,
                "{}: the map does not cover {object:?}",
                self.name
            );
        }
    }

    /// Checks a block's pattern and frees it.
    fn free(&self, mut held: Held, tally: &mut Tally, thread: usize) {
        self.verify(&mut held, true);
        lock(&self.registry)
            .remove(&held.serial)
            .expect("a live block is registered");
        tally.frees += 1;
        tally.cross_frees += u64::from(held.owner != thread);
        // SAFETY: the allocator's device; the block is not used afterwards.
        unsafe { self.allocator.dealloc(self.device, held.block) };
    }

    /// A quiescent point, for a thread holding `live` (blocks handed to it
    /// meanwhile join them): every thread parks, checks its blocks' data as the
    /// device sees it, and one checks everything else.
    fn quiescent(&self, inbox: &Receiver<Held>, live: &mut Vec<Held>) {
        // Nothing is sent after this until the last wait.
        self.rendezvous.wait();
        live.extend(inbox.try_iter());
        for held in live.iter_mut() {
            self.verify(held, false);
        }
        if self.rendezvous.wait() {
            self.check_quiescent();
            if let Some((alloc_rate, map_rate)) = self.fault_rates {
                self.device.sim.set_fault_rates(0.0, 0.0);
                self.forced_failures();
                self.device.sim.set_fault_rates(alloc_rate, map_rate);
                self.check_quiescent();
            }
        }
        self.rendezvous.wait();
    }

    /// The checks of a quiescent point (see the module docs).
    fn check_quiescent(&self) {
        let (name, layout, allocator, sim) =
            (self.name, self.layout(), self.allocator, &self.device.sim);
        allocator.check_invariants();
        sim.assert_no_violations();
        let registry = lock(&self.registry);
        let mut by_object: BTreeMap<u64, Vec<Placed>> = BTreeMap::new();
        for placed in registry.values() {
            by_object.entry(placed.memory).or_default().push(*placed);
        }
        let granularity = layout.buffer_image_granularity.max(1);
        for (id, mut blocks) in by_object {
            let object = sim
                .object(id)
                .unwrap_or_else(|| panic!("{name}: memory {id} of a live block is not alive"));
            blocks.sort_by_key(|placed| placed.offset);
            for placed in &blocks {
                assert_eq!(placed.memory_type, object.memory_type, "{name}: {placed:?}");
                check_extent(
                    name,
                    layout,
                    &object,
                    placed.offset,
                    placed.size,
                    placed.memory_type,
                );
            }
            if blocks.iter().any(|placed| placed.required) {
                assert_eq!(
                    blocks.len(),
                    1,
                    "{name}: a Dedicated::Required block shares {blocks:?}"
                );
            }
            for (i, a) in blocks.iter().enumerate() {
                let a_end = a.offset + a.size;
                for b in &blocks[i + 1..] {
                    assert!(a_end <= b.offset, "{name}: blocks overlap: {a:?} {b:?}");
                    if b.offset / granularity > (a_end - 1) / granularity {
                        break;
                    }
                    assert!(
                        a.kind == b.kind && a.kind != ResourceKind::Unknown,
                        "{name}: {a:?} and {b:?} share a {granularity}-byte page"
                    );
                }
            }
        }
        let live = sim.live_count();
        let max = layout.max_memory_allocation_count;
        assert_eq!(
            allocator.memory_objects() as usize,
            live,
            "{name}: memory objects"
        );
        assert_eq!(
            u64::from(allocator.remaining_allocations()),
            u64::from(max) - live as u64,
            "{name}: remaining_allocations vs objects alive on the device"
        );
        assert!(
            sim.stats().peak_live_objects <= u64::from(max),
            "{name}: object limit passed"
        );
        let peaks = self.device.peaks();
        for (heap, (&peak, &budget)) in peaks.iter().zip(&self.budgets).enumerate() {
            assert_eq!(
                allocator.heap_usage(heap as u32),
                sim.heap_usage(heap as u32),
                "{name}: heap {heap}: the allocator's usage vs the device's"
            );
            assert!(
                peak <= budget,
                "{name}: heap {heap} held {peak} bytes, over {budget}"
            );
        }
        let stats = allocator.stats();
        let bytes: u64 = registry.values().map(|placed| placed.size).sum();
        assert_eq!(
            stats.blocks,
            registry.len() as u64,
            "{name}: stats().blocks"
        );
        assert_eq!(
            allocator.live_blocks(),
            registry.len() as u64,
            "{name}: live_blocks()"
        );
        assert_eq!(
            stats.used, bytes,
            "{name}: stats().used vs the live blocks' bytes"
        );
        assert_eq!(
            stats.memory_objects as usize, live,
            "{name}: stats().memory_objects"
        );
        assert!(
            stats.cached <= stats.reserved - stats.used,
            "{name}: cached {} of {} reserved, {} used",
            stats.cached,
            stats.reserved,
            stats.used
        );
        // The memory types' free bytes are the central allocator's (its free
        // ranges, and the free slots of its slabs, which the map shows as used)
        // plus the leases' free room (what is cached), which the map shows as
        // free ranges inside the leases (less alignment padding kept in a
        // block's range, which it shows as used).
        let map = allocator.memory_map();
        let ranges = map.objects.iter().flat_map(|object| &object.ranges);
        let map_free: u64 = ranges.filter(|r| !r.used).map(|r| r.size).sum();
        let free: u64 = stats.memory_types.iter().map(|t| t.free).sum();
        assert!(
            free >= map_free && map_free >= stats.cached.saturating_sub(64 * stats.blocks),
            "{name}: {free} bytes free, the map's free ranges {map_free}, {} cached",
            stats.cached
        );
    }

    /// With every other thread parked and no failure drawn by the rates: every `allocate_memory` fails, and a
    /// request that needs a memory object of its own gets `OutOfDeviceMemory`;
    /// every `map_memory` fails, and writing a new dedicated host-visible block
    /// gets `MapFailed`, then succeeds once maps work again. Nothing is left
    /// behind by either.
    fn forced_failures(&self) {
        let (name, allocator, device, sim) =
            (self.name, self.allocator, self.device, &self.device.sim);
        let objects = sim.live_count();
        let request = Request {
            size: 64 * KIB,
            align_mask: 0,
            usage: UsageFlags::UPLOAD,
            memory_types: !0,
        };
        sim.fail_next_allocs(u32::MAX);
        // SAFETY: the allocator's device.
        let result =
            unsafe { allocator.try_alloc_with_dedicated(device, request, Dedicated::Required) };
        sim.fail_next_allocs(0);
        assert_eq!(
            result.map(|_| ()),
            Err(TryAllocError::OutOfDeviceMemory),
            "{name}"
        );
        assert!(
            sim.live_count() <= objects,
            "{name}: a failed allocation left an object"
        );
        allocator.check_invariants();

        // SAFETY: the allocator's device.
        let block =
            unsafe { allocator.try_alloc_with_dedicated(device, request, Dedicated::Required) };
        let mut block = block.unwrap_or_else(|e| panic!("{name}: {e:?} with no failure injected"));
        sim.fail_next_maps(u32::MAX);
        // SAFETY: the allocator's device; the block is not in use.
        let written = unsafe { block.write_bytes(device, 0, &[1, 2, 3]) };
        sim.fail_next_maps(0);
        assert_eq!(written, Err(MapError::MapFailed), "{name}");
        assert!(
            !block.is_mapped(),
            "{name}: a failed map left the block mapped"
        );
        // SAFETY: as above.
        unsafe { block.write_bytes(device, 0, &[1, 2, 3]) }.expect("maps work again");
        let mut back = [0; 3];
        // SAFETY: as above.
        unsafe { block.read_bytes(device, 0, &mut back) }.expect("maps work again");
        assert_eq!(back, [1, 2, 3], "{name}");
        // SAFETY: the allocator's device; the block is not used afterwards.
        unsafe { allocator.dealloc(device, block) };
    }
}

/// A block lies inside its memory object, of its type, in whole atoms of
/// non-coherent memory (or up to the object's end).
fn check_extent(
    name: &str,
    layout: &Layout,
    object: &gpu_alloc_tests::sim::LiveObject,
    offset: u64,
    size: u64,
    ty: u32,
) {
    assert_eq!(
        object.memory_type, ty,
        "{name}: a block in a memory object of another type"
    );
    let end = offset.checked_add(size).expect("block end overflows");
    assert!(
        end <= object.size,
        "{name}: block {offset}+{size} outside its memory object of {} bytes",
        object.size
    );
    let flags = layout.type_flags(ty);
    if flags & 0x2 != 0 && flags & 0x4 == 0 {
        let atom = layout.non_coherent_atom_size;
        assert_eq!(offset % atom, 0, "{name}: non-coherent block at {offset}");
        assert!(
            size % atom == 0 || end == object.size,
            "{name}: non-coherent block {offset}+{size} neither whole atoms nor at the end"
        );
    }
}

// ---- the stress runs ----------------------------------------------------------

/// One stress thread: `steps` random steps (allocate, free here or hand to
/// another thread, read back), a quiescent point every [`CHECK_EVERY`], and at
/// the end every block it holds freed.
fn stress_thread(
    run: &Run<'_>,
    thread: usize,
    inbox: Receiver<Held>,
    outboxes: Vec<Sender<Held>>,
    steps: u64,
) -> Tally {
    let _break = BreakOnPanic(&run.rendezvous);
    let mut rng = Rng::new(seed(run.name, thread));
    let mut tally = Tally::default();
    let mut live: Vec<Held> = Vec::new();
    for step in 0..steps {
        for held in inbox.try_iter() {
            run.free(held, &mut tally, thread);
        }
        let roll = rng.below(100);
        if live.len() < 4 || (live.len() < 40 && roll < 55) {
            let (request, entry) = draw_request(&mut rng, run.layout());
            let serial = (thread as u64) << 32 | step;
            if let Ok(held) = run.allocate(request, entry, serial, rng.next_u64(), thread) {
                tally.served += 1;
                tally.large += u64::from(held.block.size() > MIB);
                tally.dedicated += u64::from(held.block.is_dedicated());
                live.push(held);
                tally.peak_live = tally.peak_live.max(live.len() as u64);
            } else {
                tally.refused += 1;
            }
        } else if roll < 60 {
            let index = rng.below(live.len() as u64) as usize;
            run.verify(&mut live[index], true);
        } else if roll == 60 {
            // SAFETY: the allocator's device.
            unsafe { run.allocator.cleanup(run.device) };
        } else if roll < 63 {
            run.read_while_busy();
        } else {
            let held = live.swap_remove(rng.below(live.len() as u64) as usize);
            if rng.below(4) == 0 {
                let to = another(&mut rng, thread, outboxes.len());
                outboxes[to]
                    .send(held)
                    .expect("every thread reads its inbox to the end");
            } else {
                run.free(held, &mut tally, thread);
            }
        }
        if (step + 1) % CHECK_EVERY == 0 {
            run.quiescent(&inbox, &mut live);
        }
    }
    // Nothing is sent after this.
    run.rendezvous.wait();
    live.extend(inbox.try_iter());
    for held in live {
        run.free(held, &mut tally, thread);
    }
    tally
}

/// A thread other than `thread` of `threads`, drawn.
fn another(rng: &mut Rng, thread: usize, threads: usize) -> usize {
    (thread + 1 + rng.below(threads as u64 - 1) as usize) % threads
}

/// Runs `body` on the run's threads, each with its inbox and every thread's
/// outbox; returns their tallies added up.
fn on_threads<F>(run: &Run<'_>, body: F) -> Tally
where
    F: Fn(usize, Receiver<Held>, Vec<Sender<Held>>) -> Tally + Sync,
{
    let (outboxes, inboxes): (Vec<_>, Vec<_>) = (0..run.threads).map(|_| mpsc::channel()).unzip();
    let mut tally = Tally::default();
    thread::scope(|scope| {
        let handles: Vec<_> = inboxes
            .into_iter()
            .enumerate()
            .map(|(thread, inbox)| {
                let (body, outboxes) = (&body, outboxes.clone());
                scope.spawn(move || body(thread, inbox, outboxes))
            })
            .collect();
        let mut failed = false;
        for handle in handles {
            match handle.join() {
                Ok(t) => tally.add(&t),
                Err(_) => failed = true,
            }
        }
        assert!(
            !failed,
            "{}: a thread failed (its message is above)",
            run.name
        );
    });
    tally
}

/// A stress run on `layout_name` with `config` (see the module docs), with
/// injected failures when `faults`.
fn stress(layout_name: &str, config: Config, faults: bool) {
    let name = format!(
        "{layout_name}{}{}",
        if config.dedicated_threshold < MIB {
            ", small objects"
        } else {
            ""
        },
        if faults { ", faults" } else { "" }
    );
    let sim = SimDevice::new(Layout::named(layout_name));
    let fault_rates = faults.then_some((0.05, 0.1));
    if let Some((alloc_rate, map_rate)) = fault_rates {
        sim.set_faults(Faults::with_rates(
            seed(&name, THREADS),
            alloc_rate,
            map_rate,
        ));
    }
    let device = Watched::new(sim);
    let allocator = SharedGpuAllocator::with_extended_properties(
        config,
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let mut run = Run::new(&name, &device, &allocator, Accept::Injected);
    run.fault_rates = fault_rates;
    let steps = steps();
    let started = std::time::Instant::now();
    let tally = on_threads(&run, |thread, inbox, outboxes| {
        stress_thread(&run, thread, inbox, outboxes, steps)
    });
    finish(&run, &tally);
    let stats = device.sim.stats();
    println!(
        "{name}: {steps} steps x {THREADS} threads in {:.2?}: {} blocks served ({} over 1 MiB, \
         {} dedicated), {} refused, {} freed ({} by another thread), at most {} live in a \
         thread; at most {} memory objects, {} allocated in all; injected failures: {} \
         allocate ({} by the rate), {} map ({} by the rate)",
        started.elapsed(),
        tally.served,
        tally.large,
        tally.dedicated,
        tally.refused,
        tally.frees,
        tally.cross_frees,
        tally.peak_live,
        stats.peak_live_objects,
        stats.allocations,
        stats.injected_alloc_failures,
        stats.rate_alloc_failures,
        stats.injected_map_failures,
        stats.rate_map_failures,
    );
    assert_eq!(tally.frees, tally.served, "{name}: every block freed once");
    assert!(
        tally.served >= steps * THREADS as u64 / 4,
        "{name}: {tally:?}"
    );
    assert!(
        tally.cross_frees * 8 >= tally.frees,
        "{name}: too few cross-thread frees: {tally:?}"
    );
    assert!(
        tally.large > 0 && tally.dedicated > 0,
        "{name}: the central path unused: {tally:?}"
    );
    if faults {
        // Failures drawn by the rates mostly end in another memory type or a
        // retry (whether one reaches a caller depends on the interleaving);
        // the quiescent points force some that must.
        assert!(
            stats.rate_alloc_failures + stats.rate_map_failures > 0,
            "{name}: no failure drawn: {stats:?}"
        );
    } else {
        assert_eq!(tally.refused, 0, "{name}");
    }
}

/// The end of every test: every block is freed already; the arenas keep
/// few empty leases, and `cleanup` leaves nothing on the device.
fn finish(run: &Run<'_>, tally: &Tally) {
    let (name, allocator, sim) = (run.name, run.allocator, &run.device.sim);
    assert!(
        lock(&run.registry).is_empty(),
        "{name}: blocks left: {tally:?}"
    );
    run.check_quiescent();
    let stats = allocator.stats();
    assert_eq!((stats.blocks, stats.used), (0, 0), "{name}: {stats:?}");
    let arenas = run.threads.min(ARENAS) as u64;
    let lists = arenas * sim.layout().memory_types.len() as u64 * CLASSES;
    assert!(
        stats.cached <= lists * LEASE_MAX,
        "{name}: {} bytes cached with no block live",
        stats.cached
    );
    // SAFETY: the allocator's device.
    unsafe { allocator.cleanup(run.device) };
    let stats = allocator.stats();
    assert_eq!(
        (stats.blocks, stats.used, stats.cached, stats.reserved),
        (0, 0, 0, 0),
        "{name}: {stats:?}"
    );
    assert_eq!(allocator.memory_objects(), 0, "{name}");
    allocator.check_invariants();
    sim.assert_clean();
}

#[test]
fn stress_apple_m1_non_coherent_with_faults() {
    stress("apple-m1-moltenvk", Config::i_am_prototyping(), true);
}

#[test]
fn stress_nvidia_granularity_with_faults() {
    stress(
        "nvidia-rtx2060super-windows",
        Config::i_am_prototyping(),
        true,
    );
}

#[test]
fn stress_amd_discrete_with_faults() {
    stress("amd-rx6600-radv", Config::i_am_prototyping(), true);
}

#[test]
fn stress_intel_one_heap() {
    stress("intel-tgl-gt2-anv", Config::i_am_prototyping(), false);
}

/// Memory objects of 1 to 8 MiB and a dedicated threshold of 512 KiB: more
/// objects come and go, and most blocks over 512 KiB are dedicated.
fn small_objects() -> Config {
    Config {
        dedicated_threshold: 512 * KIB,
        preferred_dedicated_threshold: 128 * KIB,
        transient_dedicated_threshold: 512 * KIB,
        starting_free_list_chunk: MIB,
        final_free_list_chunk: 8 * MIB,
        ..Config::i_am_prototyping()
    }
}

#[test]
fn stress_amd_small_objects_with_faults() {
    stress("amd-rx6600-radv", small_objects(), true);
}

// ---- limits under contention --------------------------------------------------

/// Refusals a thread of a limit test waits for.
const REFUSALS: u64 = 10;

/// One thread of a limit test: allocates (freeing a block now and then, a
/// quarter of them through another thread) until refused [`REFUSALS`] times; then,
/// with every thread parked at its limit, one checks everything; then each
/// frees what it holds.
fn until_refused(
    run: &Run<'_>,
    thread: usize,
    inbox: Receiver<Held>,
    outboxes: Vec<Sender<Held>>,
) -> Tally {
    let _break = BreakOnPanic(&run.rendezvous);
    let mut rng = Rng::new(seed(run.name, thread));
    let mut tally = Tally::default();
    let mut live: Vec<Held> = Vec::new();
    let mut step = 0;
    while tally.refused < REFUSALS && step < 300 {
        for held in inbox.try_iter() {
            run.free(held, &mut tally, thread);
        }
        let (request, entry) = draw_request(&mut rng, run.layout());
        let serial = (thread as u64) << 32 | step;
        match run.allocate(request, entry, serial, rng.next_u64(), thread) {
            Ok(held) => {
                tally.served += 1;
                tally.dedicated += u64::from(held.block.is_dedicated());
                live.push(held);
                tally.peak_live = tally.peak_live.max(live.len() as u64);
            }
            Err(refusal) => {
                tally.refused += 1;
                tally.too_many_objects += u64::from(matches!(
                    refusal,
                    Refusal::Try(TryAllocError::TooManyObjects)
                        | Refusal::Legacy(AllocationError::TooManyObjects)
                ));
            }
        }
        if !live.is_empty() && rng.below(5) == 0 {
            let held = live.swap_remove(rng.below(live.len() as u64) as usize);
            if rng.below(4) == 0 {
                let to = another(&mut rng, thread, outboxes.len());
                outboxes[to]
                    .send(held)
                    .expect("every thread reads its inbox to the end");
            } else {
                run.free(held, &mut tally, thread);
            }
        }
        step += 1;
    }
    // Nothing is sent after this; every thread is done allocating.
    run.rendezvous.wait();
    live.extend(inbox.try_iter());
    for held in live.iter_mut() {
        run.verify(held, true);
    }
    if run.rendezvous.wait() {
        run.check_quiescent();
    }
    run.rendezvous.wait();
    for held in live {
        run.free(held, &mut tally, thread);
    }
    tally
}

/// A limit of 6 memory objects and 8 threads of mixed requests, dedicated ones
/// among them: the device never holds a 7th object, and every refusal is
/// `TooManyObjects` or `OutOfDeviceMemory`.
#[test]
fn object_limit_holds_under_contention() {
    const LIMIT: u32 = 6;
    let mut layout = Layout::named("amd-rx6600-radv");
    layout.max_memory_allocation_count = LIMIT;
    let device = Watched::new(SimDevice::new(layout));
    let allocator = SharedGpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let run = Run::new("object limit", &device, &allocator, Accept::Pressure);
    let tally = on_threads(&run, |thread, inbox, outboxes| {
        until_refused(&run, thread, inbox, outboxes)
    });
    let stats = device.sim.stats();
    println!(
        "object limit {LIMIT}: {} blocks served ({} dedicated), {} refused ({} with \
         TooManyObjects), at most {} memory objects, {} allocated in all",
        tally.served,
        tally.dedicated,
        tally.refused,
        tally.too_many_objects,
        stats.peak_live_objects,
        stats.allocations
    );
    assert_eq!(
        stats.peak_live_objects,
        u64::from(LIMIT),
        "the limit was reached, never passed"
    );
    assert_eq!(
        tally.refused,
        REFUSALS * THREADS as u64,
        "every thread was refused"
    );
    assert!(tally.too_many_objects > 0, "{tally:?}");
    finish(&run, &tally);
}

/// Heap budgets well below the heaps (the NVIDIA layout: device-local memory
/// falls back to the small device-local host-visible heap, then to system
/// memory): 8 threads allocate until refused, and no heap ever holds more than
/// its budget.
#[test]
fn heap_budgets_hold_under_contention() {
    let budgets = [48 * MIB, 40 * MIB, 24 * MIB];
    let device = Watched::new(SimDevice::new(Layout::named("nvidia-rtx2060super-windows")));
    let allocator = SharedGpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let readings: Vec<HeapBudget> = budgets
        .iter()
        .map(|&budget| HeapBudget { budget, usage: 0 })
        .collect();
    allocator.set_heap_budgets(&readings);
    for (heap, &budget) in budgets.iter().enumerate() {
        assert_eq!(allocator.heap_budget(heap as u32), budget);
    }
    let mut run = Run::new("heap budgets", &device, &allocator, Accept::Pressure);
    run.budgets = budgets.to_vec();
    let tally = on_threads(&run, |thread, inbox, outboxes| {
        until_refused(&run, thread, inbox, outboxes)
    });
    let peaks = device.peaks();
    println!(
        "heap budgets {budgets:?}: {} blocks served ({} dedicated), {} refused, peak heap \
         usage {peaks:?}",
        tally.served, tally.dedicated, tally.refused
    );
    for (heap, (&peak, &budget)) in peaks.iter().zip(&budgets).enumerate() {
        assert!(
            peak <= budget,
            "heap {heap} held {peak} bytes, over its budget {budget}"
        );
    }
    assert!(peaks[0] > budgets[0] / 2, "heap 0 never filled: {peaks:?}");
    assert_eq!(
        tally.refused,
        REFUSALS * THREADS as u64,
        "every thread was refused"
    );
    assert_eq!(tally.too_many_objects, 0, "no object limit here: {tally:?}");
    finish(&run, &tally);
}

// ---- pressure gives cached memory back ----------------------------------------

/// Thread A allocates a small block (placed in a lease of its arena) and frees
/// it: its arena keeps the empty lease, and the lease keeps its memory object.
/// Then thread B asks for `request` through `entry`, which fits only once A's
/// lease is given back: B is served, and A's memory type keeps no free room.
fn idle_lease_given_back(name: &str, layout: Layout, request: Request, entry: Entry) {
    let device = Watched::new(SimDevice::new(layout));
    let allocator = SharedGpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let run = Run::new(name, &device, &allocator, Accept::Injected);
    let mut tally = Tally::default();
    let small = Request {
        size: 4 * KIB,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    };
    let a_type = thread::scope(|scope| {
        let a = scope.spawn(|| {
            let held = run
                .allocate(small, Entry::Try, 1, 11, 0)
                .expect("room for A");
            let memory_type = held.block.memory_type() as usize;
            let mut tally = Tally::default();
            run.free(held, &mut tally, 0);
            memory_type
        });
        a.join().expect("thread A")
    });
    let before = allocator.stats();
    assert!(
        before.cached > 0,
        "{name}: A's arena keeps no lease: {before:?}"
    );
    assert_eq!(allocator.memory_objects(), 1, "{name}");
    let frees_before = device.sim.stats().deallocate_calls;
    let held = thread::scope(|scope| {
        let b = scope.spawn(|| run.allocate(request, entry, 2, 22, 1));
        b.join().expect("thread B")
    })
    .unwrap_or_else(|refusal| panic!("{name}: B refused with {refusal:?}: A's lease kept"));
    let after = allocator.stats();
    println!(
        "{name}: cached {} bytes before B's request, {} after; {} memory objects freed for it",
        before.cached,
        after.cached,
        device.sim.stats().deallocate_calls - frees_before
    );
    // A's lease went back: its memory type keeps no free room (B's own
    // lease, if B's block was leased, is in another type or holds B's block
    // and room of B's).
    assert_eq!(after.memory_types[a_type].free, 0, "{name}: {after:?}");
    assert!(device.sim.stats().deallocate_calls > frees_before, "{name}");
    run.check_quiescent();
    run.free(held, &mut tally, 1);
    finish(&run, &tally);
}

/// A limit of one memory object: B's upload block needs an object of another
/// memory type than A's lease.
#[test]
fn object_limit_takes_back_an_idle_lease() {
    let mut layout = Layout::named("amd-rx6600-radv");
    layout.max_memory_allocation_count = 1;
    let upload = Request {
        size: 4 * KIB,
        align_mask: 255,
        usage: UsageFlags::UPLOAD,
        memory_types: !0,
    };
    idle_lease_given_back("object limit 1", layout, upload, Entry::Try);
}

/// A heap of 256 MiB with A's memory object in it: B's dedicated block of
/// the whole heap fits only once that object is freed.
#[test]
fn full_heap_takes_back_an_idle_lease() {
    let mut layout = Layout::named("intel-tgl-gt2-anv");
    layout.memory_heaps[0].size = 256 * MIB;
    let large = Request {
        size: 256 * MIB,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    };
    let entry = Entry::AllocDedicated(Dedicated::Required);
    idle_lease_given_back("heap of 256 MiB", layout, large, entry);
}

// ---- leases -------------------------------------------------------------------

/// One thread places 400 blocks of 32 KiB (12.5 MiB) in leases and frees
/// them: no memory object is made and freed again on the way, and afterwards
/// the arena keeps one empty lease (its use is 0), of at most `largest_lease`
/// bytes.
fn one_threads_leases(name: &str, config: Config, largest_lease: u64) {
    let device = Watched::new(SimDevice::new(Layout::named("amd-rx6600-radv")));
    let allocator = SharedGpuAllocator::with_extended_properties(
        config,
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let run = Run::new(name, &device, &allocator, Accept::Injected);
    let mut tally = Tally::default();
    let request = Request {
        size: 32 * KIB,
        align_mask: 0,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    };
    let held: Vec<Held> = (0..400)
        .map(|serial| {
            run.allocate(request, Entry::Alloc, serial, serial, 0)
                .expect("room")
        })
        .collect();
    tally.served = held.len() as u64;
    let stats = device.sim.stats();
    let placed = allocator.stats();
    run.check_quiescent();
    for held in held {
        run.free(held, &mut tally, 0);
    }
    let emptied = allocator.stats();
    println!(
        "{name}: 400 blocks of 32 KiB: {} memory objects allocated, {} freed; {} bytes cached \
         with the blocks, {} after",
        stats.allocations, stats.deallocate_calls, placed.cached, emptied.cached
    );
    assert_eq!(
        stats.deallocate_calls, 0,
        "{name}: memory objects made for leases and freed again"
    );
    assert!(
        0 < emptied.cached && emptied.cached <= largest_lease,
        "{name}: {} bytes cached in empty leases, more than one lease",
        emptied.cached
    );
    finish(&run, &tally);
}

#[test]
fn one_thread_keeps_one_empty_lease() {
    let prototyping = Config::i_am_prototyping();
    one_threads_leases("leases", prototyping, LEASE_MAX);
}

/// With a dedicated threshold of 4 MiB, a lease of 4 MiB would be a dedicated
/// memory object, which an arena cannot use: leases stay below the threshold.
#[test]
fn leases_stay_below_the_dedicated_threshold() {
    let config = Config {
        dedicated_threshold: 4 * MIB,
        transient_dedicated_threshold: 4 * MIB,
        ..Config::i_am_prototyping()
    };
    one_threads_leases("dedicated threshold 4 MiB", config, 2 * MIB);
}

/// More threads than arenas (64): at least eight arenas serve two threads
/// each, and blocks go back to an arena that another thread allocates from.
#[test]
fn more_threads_than_arenas() {
    const MANY: usize = ARENAS + 8;
    let name = "72 threads";
    let device = Watched::new(SimDevice::new(Layout::named("intel-tgl-gt2-anv")));
    let allocator = SharedGpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let run = Run::new(name, &device, &allocator, Accept::Injected).with_threads(MANY);
    let tally = on_threads(&run, |thread, inbox, outboxes| {
        stress_thread(&run, thread, inbox, outboxes, CHECK_EVERY)
    });
    println!(
        "{name}: {} blocks served, {} freed ({} by another thread)",
        tally.served, tally.frees, tally.cross_frees
    );
    assert_eq!(tally.frees, tally.served, "{name}: every block freed once");
    assert!(tally.cross_frees > 0, "{name}: {tally:?}");
    finish(&run, &tally);
}

/// Blocks of one `SharedGpuAllocator`, leased or not, offered to another one or
/// to a `GpuAllocator`, come back untouched; their own allocator then frees
/// them.
#[test]
fn foreign_blocks_come_back() {
    let device = Watched::new(SimDevice::new(Layout::named("amd-rx6600-radv")));
    let make = || {
        SharedGpuAllocator::with_extended_properties(
            Config::i_am_prototyping(),
            device.sim.properties(),
            device.sim.extended_properties(),
        )
    };
    let (ours, theirs) = (make(), make());
    let mut plain = gpu_alloc::GpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.sim.properties(),
        device.sim.extended_properties(),
    );
    let run = Run::new("foreign blocks", &device, &ours, Accept::Injected);
    let mut tally = Tally::default();
    for (serial, size) in [(1, 4 * KIB), (2, 2 * MIB)] {
        let request = Request {
            size,
            align_mask: 255,
            usage: UsageFlags::UPLOAD,
            memory_types: !0,
        };
        let mut held = run
            .allocate(request, Entry::Try, serial, serial, 0)
            .expect("room");
        // SAFETY: the allocators share the device; the block is not in use.
        let back = unsafe { theirs.try_dealloc(&device, held.block) };
        held.block = back.expect_err("another SharedGpuAllocator took our block");
        // SAFETY: as above.
        let back = unsafe { plain.try_dealloc(&device, held.block) };
        held.block = back.expect_err("a GpuAllocator took our block");
        run.verify(&mut held, true);
        run.free(held, &mut tally, 0);
        tally.served += 1;
    }
    assert_eq!(theirs.memory_objects(), 0);
    assert_eq!(plain.memory_objects(), 0);
    finish(&run, &tally);
}

/// A block placed in a lease that outlives its allocator (a bug of the
/// caller's, which `GpuAllocator` survives: the last block frees the object)
/// keeps its memory object: `block.memory()` stays valid after the allocator
/// is dropped. (The arena's lease is the only thing that counts on the object
/// for its blocks, so it must not let go of it while they are out.)
#[test]
fn a_leased_block_outliving_its_allocator_keeps_its_memory_object() {
    use {
        gpu_alloc_tests::counted::{properties, Counted, Device, DROPPED},
        std::sync::atomic::Ordering,
    };

    let device = Device;
    let allocator = SharedGpuAllocator::<Counted>::new(Config::i_am_prototyping(), properties());
    let request = Request {
        size: 4 * KIB,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    };
    // SAFETY: the device the allocator was made for.
    let leased = unsafe { allocator.alloc(&device, request) }.expect("block");
    assert!(!leased.is_dedicated());
    assert!(allocator.stats().cached > 0, "the block is in a lease");
    let before = DROPPED.load(Ordering::SeqCst);
    drop(allocator);
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        before,
        "the memory object of a live leased block was dropped with the allocator"
    );
    assert!(format!("{:?}", leased.memory()).contains("Counted"));
    // Reported as leaked; its memory object stays (it cannot tell it when it goes).
    drop(leased);
}

// ---- room kept by threads ----------------------------------------------------

/// The simulated device of `layout`, and a `SharedGpuAllocator` for it
/// (`i_am_prototyping`).
fn prototyping(layout: Layout) -> (SimDevice, SharedGpuAllocator<SimMemory>) {
    let device = SimDevice::new(layout);
    let allocator = SharedGpuAllocator::with_extended_properties(
        Config::i_am_prototyping(),
        device.properties(),
        device.extended_properties(),
    );
    (device, allocator)
}

/// The end of a test whose blocks are all freed: `cleanup` leaves no memory
/// object, and the device has nothing left.
fn cleaned_up(device: SimDevice, allocator: SharedGpuAllocator<SimMemory>) {
    // SAFETY: the allocator's device.
    unsafe { allocator.cleanup(&device) };
    assert_eq!(allocator.memory_objects(), 0);
    drop(allocator);
    device.assert_clean();
}

/// A device-local request of `size` bytes in memory type 0 only.
fn type0(size: u64) -> Request {
    Request {
        size,
        align_mask: 0,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: 1,
    }
}

/// A thread whose use falls to nothing gives its empty leases back as it
/// frees: one empty lease stays, not one per block it once held.
#[test]
fn falling_use_gives_empty_leases_back() {
    let (device, allocator) = prototyping(Layout::named("amd-rx6600-radv"));
    let blocks: Vec<_> = (0..2048)
        // SAFETY: the allocator's device.
        .map(|_| unsafe { allocator.try_alloc(&device, type0(32 * KIB)) }.expect("room"))
        .collect();
    let full = allocator.stats().cached;
    for block in blocks {
        // SAFETY: the allocator's device; the block is not in use.
        unsafe { allocator.dealloc(&device, block) };
    }
    let after = allocator.stats();
    allocator.check_invariants();
    assert_eq!(after.used, 0);
    // Leases of 32 KiB blocks are 256 KiB: one of them stays.
    assert!(
        0 < after.cached && after.cached <= 256 * KIB,
        "{} bytes kept in empty leases (with the blocks: {full})",
        after.cached
    );
    cleaned_up(device, allocator);
}

/// A heap of 64 MiB that one thread filled and then thinned out to an eighth:
/// the free room is inside its leases, which still hold blocks. Another
/// thread's request for that heap is served from that room, as a
/// `GpuAllocator` would serve it, instead of failing for want of a lease.
#[test]
fn pressure_uses_room_in_other_threads_leases() {
    let mut layout = Layout::named("amd-rx6600-radv");
    layout.memory_heaps[0].size = 64 * MIB;
    let (device, allocator) = prototyping(layout);
    let kept = thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut blocks = Vec::new();
                // SAFETY: the allocator's device.
                while let Ok(block) = unsafe { allocator.try_alloc(&device, type0(32 * KIB)) } {
                    blocks.push(block);
                }
                assert!(blocks.len() > 1024, "{} blocks fit in 64 MiB", blocks.len());
                let mut kept = Vec::new();
                for (index, block) in blocks.into_iter().enumerate() {
                    if index % 8 == 0 {
                        kept.push(block);
                    } else {
                        // SAFETY: the allocator's device; the block is not in use.
                        unsafe { allocator.dealloc(&device, block) };
                    }
                }
                kept
            })
            .join()
            .expect("the filling thread")
    });
    assert!(allocator.stats().cached > 32 * MIB);
    // SAFETY: the allocator's device.
    let served = unsafe { allocator.try_alloc(&device, type0(32 * KIB)) }
        .expect("the other thread's free room serves the request");
    allocator.check_invariants();
    for block in kept.into_iter().chain([served]) {
        // SAFETY: the allocator's device; the block is not in use.
        unsafe { allocator.dealloc(&device, block) };
    }
    cleaned_up(device, allocator);
}

/// The memory map shows the blocks inside the threads' leases, not each lease
/// as one used range: its used bytes are the blocks' (plus at most 64 bytes of
/// alignment padding each), and every object's ranges still cover it.
#[test]
fn memory_map_shows_blocks_inside_leases() {
    let (device, allocator) = prototyping(Layout::named("amd-rx6600-radv"));
    let used_in_map = || {
        let map = allocator.memory_map();
        for object in &map.objects {
            let covered: u64 = object.ranges.iter().map(|r| r.size).sum();
            assert_eq!(covered, object.size, "ranges do not cover the object");
            for pair in object.ranges.windows(2) {
                assert_eq!(pair[0].offset + pair[0].size, pair[1].offset, "a gap");
            }
        }
        let used: u64 = (map.objects.iter())
            .flat_map(|o| o.ranges.iter())
            .filter(|r| r.used)
            .map(|r| r.size)
            .sum();
        (used, map.stats.used)
    };
    let blocks: Vec<_> = thread::scope(|scope| {
        let threads: Vec<_> = (0..2u64)
            .map(|t| {
                let allocator = &allocator;
                let device = &device;
                scope.spawn(move || {
                    (1..=20u64)
                        // SAFETY: the allocator's device.
                        .map(|i| unsafe { allocator.try_alloc(device, type0(i * 1000 + t)) })
                        .collect::<Result<Vec<_>, _>>()
                        .expect("room")
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("a thread"))
            .collect()
    });
    let (map_used, stats_used) = used_in_map();
    assert!(
        stats_used <= map_used && map_used <= stats_used + 64 * blocks.len() as u64,
        "the map shows {map_used} bytes used for {stats_used} in blocks"
    );
    for block in blocks {
        // SAFETY: the allocator's device; the block is not in use.
        unsafe { allocator.dealloc(&device, block) };
    }
    assert_eq!(used_in_map(), (0, 0));
    cleaned_up(device, allocator);
}
