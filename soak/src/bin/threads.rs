//! Throughput and device memory of one allocator shared by 1, 2, 4, 8 and 16
//! threads, on a null device (no backing memory), as alloc + free operations
//! per second: the measurement behind issue 15's `SharedGpuAllocator` targets.
//!
//! ```text
//! gpu-alloc-threads [--secs S] [--threads 1,2,4,8,16] [--hold H]
//!                   [--types same|different|both] [--json PATH]
//! ```
//!
//! Rows, side by side in one run:
//!
//! - `single`: one thread and a plain `GpuAllocator` through `&mut`, no lock
//!   (the 1-thread baseline; once per placement, not per thread count);
//! - `mutex`: one `GpuAllocator` behind a `Mutex` that every operation takes;
//! - `shared`: one `SharedGpuAllocator`, called through `&self` with no lock of
//!   the caller's;
//! - `same-live`: one `SharedGpuAllocator` and one thread that does the work of
//!   as many threads as the largest `--threads` count, one after the other (so
//!   it holds the same live set as the largest `shared` run), for the peak
//!   device memory comparison.
//!
//! Each thread works one *lane* (`same-live` works them all, 64 allocations
//! per lane in turn): the lane repeats "allocate a block (16 B to 128 KiB,
//! log-uniform, 256-byte alignment)"; once it holds `H` blocks (default 32) it
//! frees a random one per allocation. Each allocation and each free is one
//! operation. Lane `l` draws its sizes from its own generator (seed `l`), so
//! every row of a placement asks for the same sequence of blocks. Every run
//! lasts `S` seconds (default 2; at least one round of 64 allocations per
//! lane), timed from the moment all its threads have started to the moment the
//! last one stops; then every block is freed, `cleanup` called, and the run
//! fails if the allocator or the device still holds a memory object.
//!
//! Placements (`--types`, default both):
//!
//! - `same`: every lane allocates device-local memory (memory type 0);
//! - `different`: lane `l` allocates from memory type `l mod 4` only
//!   (`Request::memory_types = 1 << ty`): device-local, host-visible coherent,
//!   host-visible cached, device-local host-visible.
//!
//! For each row it prints operations per second, nanoseconds per operation per
//! thread, the peak of the bytes (and memory objects) the null device had
//! handed out at once, the bytes of the blocks the lanes hold at the end, the
//! peak over that live set, and `AllocatorStats::cached` at the end (room kept
//! in the thread arenas' leases; 0 for a `GpuAllocator`). At the end, one
//! `target ...: PASS/FAIL (value)` line per target of issue 15 and placement,
//! the largest thread count `N` taking the place of 16 (`SKIP` when a row it
//! needs was not run): `shared` N / `shared` 1 ops/s at least 8,
//! `shared` N / `mutex` N ops/s at least 10, `shared` 1 / `single` ns per
//! operation at most 1.25, `shared` N / `same-live` peak device bytes at most
//! 1.10. The targets do not change the exit code. `--json PATH` writes every row
//! and target (rewritten after every row).

use {
    gpu_alloc::{
        AllocatorStats, Config, GpuAllocator, MemoryBlock, Request, SharedGpuAllocator, UsageFlags,
    },
    gpu_alloc_tests::kit::{
        cli::{args_or_exit, invalid_value, lexopt, number, parse_number, seconds, value, Command},
        Bytes, Rng,
    },
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, DeviceProperties, MappedMemoryRange, MemoryDevice,
        MemoryHeap, MemoryPropertyFlags, MemoryType, OutOfMemory,
    },
    std::{
        borrow::Cow,
        fmt::Write as _,
        path::PathBuf,
        ptr::NonNull,
        sync::{
            atomic::{AtomicBool, AtomicU64, Ordering},
            Barrier, Mutex,
        },
        time::{Duration, Instant},
    },
};

/// A memory object of the null device: its size, so that the device can count
/// the bytes it hands out.
#[derive(Debug)]
struct NullMemory {
    size: u64,
}

/// A device that hands out memory objects with nothing behind them and counts
/// the objects and bytes out at once, and their peaks.
#[derive(Debug, Default)]
struct NullDevice {
    objects: AtomicU64,
    bytes: AtomicU64,
    peak_objects: AtomicU64,
    peak_bytes: AtomicU64,
}

impl MemoryDevice<NullMemory> for NullDevice {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        _memory_type: u32,
        _flags: AllocationFlags,
    ) -> Result<NullMemory, OutOfMemory> {
        // Each read-modify-write sees the value before it in the one order of
        // all changes, so every count the device passes through is seen once.
        let objects = self.objects.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_objects.fetch_max(objects, Ordering::Relaxed);
        let bytes = self.bytes.fetch_add(size, Ordering::Relaxed) + size;
        self.peak_bytes.fetch_max(bytes, Ordering::Relaxed);
        Ok(NullMemory { size })
    }

    unsafe fn deallocate_memory(&self, memory: NullMemory) {
        self.objects.fetch_sub(1, Ordering::Relaxed);
        self.bytes.fetch_sub(memory.size, Ordering::Relaxed);
    }

    unsafe fn map_memory(
        &self,
        _memory: &mut NullMemory,
        _offset: u64,
        _size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // The allocator maps each shared host-visible object once, when it
        // creates it, and only keeps the pointer: it computes a pointer into
        // the mapping only in `MemoryBlock::map`, and reads or writes through
        // one only in the block's `read_bytes`/`write_bytes`, none of which this
        // program calls. So no pointer derived from this one is ever formed or
        // dereferenced.
        Ok(NonNull::dangling())
    }

    unsafe fn unmap_memory(&self, _memory: &mut NullMemory) {}

    unsafe fn invalidate_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, NullMemory>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }

    unsafe fn flush_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, NullMemory>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }
}

/// A discrete GPU: a 64 GiB device-local heap (type 0), a 64 GiB host heap
/// (type 1 coherent, type 2 coherent and cached) and a 256 MiB device-local,
/// host-visible window (type 3).
fn properties() -> DeviceProperties<'static> {
    use MemoryPropertyFlags as P;
    let ty = |heap, props| MemoryType { heap, props };
    DeviceProperties {
        memory_types: Cow::Owned(vec![
            ty(0, P::DEVICE_LOCAL),
            ty(1, P::HOST_VISIBLE | P::HOST_COHERENT),
            ty(1, P::HOST_VISIBLE | P::HOST_COHERENT | P::HOST_CACHED),
            ty(2, P::DEVICE_LOCAL | P::HOST_VISIBLE | P::HOST_COHERENT),
        ]),
        memory_heaps: Cow::Owned(vec![
            MemoryHeap { size: 64 << 30 },
            MemoryHeap { size: 64 << 30 },
            MemoryHeap { size: 256 << 20 },
        ]),
        max_memory_allocation_count: 4096,
        max_memory_allocation_size: 4 << 30,
        non_coherent_atom_size: 64,
        buffer_device_address: false,
    }
}

/// Memory types of [`properties`]: the `K` of `--types different`.
const TYPES: usize = 4;

/// Where the lanes' blocks go.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Placement {
    /// Every lane: device-local memory, any type (the allocator picks type 0).
    Same,
    /// Lane `l`: memory type `l mod TYPES` and no other.
    Different,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Same => "same",
            Placement::Different => "different",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Placement::Same => "every thread allocates device-local memory (memory type 0)",
            Placement::Different => {
                "thread t allocates from memory type t mod 4 only (0 device-local, \
                 1 host-visible coherent, 2 host-visible cached, 3 device-local host-visible)"
            }
        }
    }

    /// The usage and memory type mask of lane `lane`'s requests.
    fn request_of(self, lane: usize) -> (UsageFlags, u32) {
        match self {
            Placement::Same => (UsageFlags::FAST_DEVICE_ACCESS, !0),
            Placement::Different => {
                let ty = lane % TYPES;
                let props = properties().memory_types[ty].props;
                let usage = if props.contains(MemoryPropertyFlags::DEVICE_LOCAL) {
                    if props.contains(MemoryPropertyFlags::HOST_VISIBLE) {
                        UsageFlags::FAST_DEVICE_ACCESS | UsageFlags::UPLOAD
                    } else {
                        UsageFlags::FAST_DEVICE_ACCESS
                    }
                } else if props.contains(MemoryPropertyFlags::HOST_CACHED) {
                    UsageFlags::DOWNLOAD
                } else {
                    UsageFlags::UPLOAD
                };
                (usage, 1 << ty)
            }
        }
    }
}

/// `gpu-alloc-threads --help`.
const USAGE: &str = "\
usage: gpu-alloc-threads [--secs S] [--threads 1,2,4,8,16] [--hold H]
                         [--types same|different|both] [--json PATH]
Alloc + free operations per second, and peak device bytes, of one allocator
shared by threads on a null device, for each thread count of --threads
(default 1,2,4,8,16), S seconds per run (default 2); each thread holds H blocks
(default 32) and frees a random one per allocation. Rows: single (1 thread, a
GpuAllocator through &mut, no lock), mutex (a GpuAllocator behind a Mutex),
shared (a SharedGpuAllocator), same-live (a SharedGpuAllocator, 1 thread doing
the work of the largest thread count's threads). --types: same (every thread
allocates device-local memory), different (thread t allocates from memory type
t mod 4), both (default). Ends with one 'target ...: PASS/FAIL (value)' line
per target and placement. --json PATH writes every row and target. -h, --help
prints this.";

/// Command-line settings.
#[derive(Debug, PartialEq)]
struct Args {
    /// Seconds per run.
    secs: f64,
    /// The thread counts, in order.
    threads: Vec<usize>,
    /// Blocks each thread holds (at least 1).
    hold: usize,
    /// The placements, in order.
    types: Vec<Placement>,
    /// Where to write the rows as JSON.
    json: Option<PathBuf>,
}

impl Args {
    fn parse(mut parser: lexopt::Parser) -> Result<Command<Args>, lexopt::Error> {
        use lexopt::Arg::{Long, Short};
        let mut args = Args {
            secs: 2.0,
            threads: vec![1, 2, 4, 8, 16],
            hold: 32,
            types: vec![Placement::Same, Placement::Different],
            json: None,
        };
        while let Some(arg) = parser.next()? {
            match arg {
                Long("secs") => args.secs = seconds(&mut parser, "--secs")?,
                Long("threads") => {
                    let text = value(&mut parser)?;
                    args.threads = text
                        .split(',')
                        .map(|t| parse_number(t, "--threads"))
                        .collect::<Result<_, _>>()?;
                    if args.threads.contains(&0) {
                        return Err(invalid_value(
                            "--threads",
                            &text,
                            "a thread count is at least 1",
                        ));
                    }
                }
                Long("hold") => args.hold = number::<usize>(&mut parser, "--hold")?.max(1),
                Long("types") => {
                    let text = value(&mut parser)?;
                    args.types = match text.as_str() {
                        "same" => vec![Placement::Same],
                        "different" => vec![Placement::Different],
                        "both" => vec![Placement::Same, Placement::Different],
                        _ => {
                            return Err(invalid_value("--types", &text, "same, different or both"))
                        }
                    };
                }
                Long("json") => args.json = Some(value(&mut parser)?.into()),
                Short('h') | Long("help") => return Ok(Command::Help),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(Command::Run(args))
    }
}

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// One thread, a `GpuAllocator` through `&mut`.
    Single,
    /// A `GpuAllocator` behind a `Mutex`.
    Mutex,
    /// A `SharedGpuAllocator`, one lane per thread.
    Shared,
    /// A `SharedGpuAllocator`, one thread working every lane.
    SameLive,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Mutex => "mutex",
            Kind::Shared => "shared",
            Kind::SameLive => "same-live",
        }
    }
}

/// One lane's work: its generator, the memory it asks for, the blocks it holds.
struct Lane {
    rng: Rng,
    usage: UsageFlags,
    memory_types: u32,
    held: Vec<MemoryBlock<NullMemory>>,
}

impl Lane {
    fn new(placement: Placement, lane: usize, hold: usize) -> Self {
        let (usage, memory_types) = placement.request_of(lane);
        Lane {
            rng: Rng::new(lane as u64),
            usage,
            memory_types,
            held: Vec::with_capacity(hold + 1),
        }
    }
}

/// An allocator as one thread of a row reaches it.
trait Target {
    fn alloc(&mut self, device: &NullDevice, request: Request) -> MemoryBlock<NullMemory>;
    fn free(&mut self, device: &NullDevice, block: MemoryBlock<NullMemory>);
    fn stats(&self) -> AllocatorStats;
    fn memory_objects(&self) -> u32;
    /// Calls `cleanup`; returns the live blocks left.
    fn cleanup(&mut self, device: &NullDevice) -> u64;
}

impl Target for &mut GpuAllocator<NullMemory> {
    #[inline]
    fn alloc(&mut self, device: &NullDevice, request: Request) -> MemoryBlock<NullMemory> {
        // SAFETY: `device` is the one device of this allocator.
        unsafe { self.try_alloc(device, request) }.expect("alloc")
    }

    #[inline]
    fn free(&mut self, device: &NullDevice, block: MemoryBlock<NullMemory>) {
        // SAFETY: as above; the null device has no memory to use.
        unsafe { self.dealloc(device, block) }
    }

    fn stats(&self) -> AllocatorStats {
        GpuAllocator::stats(self)
    }

    fn memory_objects(&self) -> u32 {
        GpuAllocator::memory_objects(self)
    }

    fn cleanup(&mut self, device: &NullDevice) -> u64 {
        // SAFETY: as above.
        unsafe { GpuAllocator::cleanup(self, device) };
        self.live_blocks()
    }
}

impl Target for &Mutex<GpuAllocator<NullMemory>> {
    #[inline]
    fn alloc(&mut self, device: &NullDevice, request: Request) -> MemoryBlock<NullMemory> {
        let mut a = self.lock().unwrap();
        // SAFETY: `device` is the one device of this allocator.
        unsafe { a.try_alloc(device, request) }.expect("alloc")
    }

    #[inline]
    fn free(&mut self, device: &NullDevice, block: MemoryBlock<NullMemory>) {
        let mut a = self.lock().unwrap();
        // SAFETY: as above; the null device has no memory to use.
        unsafe { a.dealloc(device, block) }
    }

    fn stats(&self) -> AllocatorStats {
        self.lock().unwrap().stats()
    }

    fn memory_objects(&self) -> u32 {
        self.lock().unwrap().memory_objects()
    }

    fn cleanup(&mut self, device: &NullDevice) -> u64 {
        let mut a = self.lock().unwrap();
        // SAFETY: as above.
        unsafe { a.cleanup(device) };
        a.live_blocks()
    }
}

impl Target for &SharedGpuAllocator<NullMemory> {
    #[inline]
    fn alloc(&mut self, device: &NullDevice, request: Request) -> MemoryBlock<NullMemory> {
        // SAFETY: `device` is the one device of this allocator.
        unsafe { self.try_alloc(device, request) }.expect("alloc")
    }

    #[inline]
    fn free(&mut self, device: &NullDevice, block: MemoryBlock<NullMemory>) {
        // SAFETY: as above; the null device has no memory to use.
        unsafe { self.dealloc(device, block) }
    }

    fn stats(&self) -> AllocatorStats {
        SharedGpuAllocator::stats(self)
    }

    fn memory_objects(&self) -> u32 {
        SharedGpuAllocator::memory_objects(self)
    }

    fn cleanup(&mut self, device: &NullDevice) -> u64 {
        // SAFETY: as above.
        unsafe { SharedGpuAllocator::cleanup(self, device) };
        self.live_blocks()
    }
}

/// Works `lanes` through `target`, 64 allocations per lane in turn, until
/// `stop` (one round at least); returns the operations done.
fn churn<T: Target>(
    target: &mut T,
    device: &NullDevice,
    lanes: &mut [Lane],
    hold: usize,
    stop: &AtomicBool,
) -> u64 {
    let mut ops = 0u64;
    // One round at least, so that every run has operations to count.
    loop {
        for lane in lanes.iter_mut() {
            for _ in 0..64 {
                let log = 4 + lane.rng.below(13);
                let size = (1 << log) + lane.rng.below(1 << log);
                let request = Request {
                    size,
                    align_mask: 255,
                    usage: lane.usage,
                    memory_types: lane.memory_types,
                };
                lane.held.push(target.alloc(device, request));
                ops += 1;
                if lane.held.len() > hold {
                    let i = lane.rng.below(lane.held.len() as u64) as usize;
                    target.free(device, lane.held.swap_remove(i));
                    ops += 1;
                }
            }
        }
        if stop.load(Ordering::Relaxed) {
            return ops;
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug)]
struct Row {
    placement: Placement,
    kind: Kind,
    threads: usize,
    lanes: usize,
    ops: u64,
    /// From the moment every thread started to the last one's stop.
    elapsed: Duration,
    peak_bytes: u64,
    peak_objects: u64,
    /// Bytes and count of the blocks the lanes held at the end.
    live_bytes: u64,
    live_blocks: u64,
    /// Memory objects and `AllocatorStats::cached` at the end, blocks still out.
    objects_end: u32,
    cached_end: u64,
}

impl Row {
    fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Each thread's time per operation.
    fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 * self.threads as f64 / self.ops as f64
    }
}

/// Runs one thread per entry of `targets`, each working its entry of `lanes`,
/// for `secs`; then frees every block through `targets`, cleans up and checks
/// that nothing is left on `device`.
fn run<T: Target + Send>(
    targets: Vec<T>,
    lanes: Vec<Vec<Lane>>,
    device: &NullDevice,
    secs: f64,
    hold: usize,
) -> (u64, Duration, Vec<Lane>, T) {
    let stop = AtomicBool::new(false);
    let barrier = Barrier::new(targets.len() + 1);
    let (ops, elapsed, lanes, mut targets) = std::thread::scope(|scope| {
        let handles: Vec<_> = targets
            .into_iter()
            .zip(lanes)
            .map(|(mut target, mut lanes)| {
                let (stop, barrier) = (&stop, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let ops = churn(&mut target, device, &mut lanes, hold, stop);
                    (ops, Instant::now(), lanes, target)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(Duration::from_secs_f64(secs));
        stop.store(true, Ordering::Relaxed);
        let (mut ops, mut end, mut all, mut targets) = (0, start, Vec::new(), Vec::new());
        for handle in handles {
            let (o, e, lanes, target) = handle.join().unwrap();
            ops += o;
            end = end.max(e);
            all.extend(lanes);
            targets.push(target);
        }
        (ops, end - start, all, targets)
    });
    (
        ops,
        elapsed,
        lanes,
        targets.pop().expect("one thread at least"),
    )
}

/// One row: `threads` threads working `lanes` lanes (as many per thread).
fn measure(
    placement: Placement,
    kind: Kind,
    threads: usize,
    lanes: usize,
    secs: f64,
    hold: usize,
) -> Row {
    let device = NullDevice::default();
    let per_thread = lanes / threads;
    let lanes: Vec<Vec<Lane>> = (0..threads)
        .map(|t| {
            (t * per_thread..(t + 1) * per_thread)
                .map(|lane| Lane::new(placement, lane, hold))
                .collect()
        })
        .collect();
    let lane_count = per_thread * threads;
    let config = Config::i_am_prototyping;
    let mut row = Row {
        placement,
        kind,
        threads,
        lanes: lane_count,
        ops: 0,
        elapsed: Duration::ZERO,
        peak_bytes: 0,
        peak_objects: 0,
        live_bytes: 0,
        live_blocks: 0,
        objects_end: 0,
        cached_end: 0,
    };
    match kind {
        Kind::Single => {
            let mut allocator = GpuAllocator::new(config(), properties());
            let out = run(vec![&mut allocator], lanes, &device, secs, hold);
            finish(&mut row, &device, out);
        }
        Kind::Mutex => {
            let allocator = Mutex::new(GpuAllocator::new(config(), properties()));
            let out = run(vec![&allocator; threads], lanes, &device, secs, hold);
            finish(&mut row, &device, out);
        }
        Kind::Shared | Kind::SameLive => {
            let allocator = SharedGpuAllocator::new(config(), properties());
            let out = run(vec![&allocator; threads], lanes, &device, secs, hold);
            finish(&mut row, &device, out);
        }
    }
    row.peak_bytes = device.peak_bytes.load(Ordering::Relaxed);
    row.peak_objects = device.peak_objects.load(Ordering::Relaxed);
    row
}

/// Records the end of a run in `row`, then frees every block and checks that
/// the allocator and the device hold nothing after `cleanup`.
fn finish<T: Target>(
    row: &mut Row,
    device: &NullDevice,
    (ops, elapsed, lanes, mut target): (u64, Duration, Vec<Lane>, T),
) {
    row.ops = ops;
    row.elapsed = elapsed;
    let blocks = lanes.into_iter().flat_map(|lane| lane.held);
    let blocks: Vec<_> = blocks.collect();
    row.live_bytes = blocks.iter().map(MemoryBlock::size).sum();
    row.live_blocks = blocks.len() as u64;
    row.objects_end = target.memory_objects();
    row.cached_end = target.stats().cached;
    for block in blocks {
        target.free(device, block);
    }
    assert_eq!(target.cleanup(device), 0, "blocks left");
    assert_eq!(target.memory_objects(), 0, "memory objects left");
    assert_eq!(
        device.objects.load(Ordering::Relaxed),
        0,
        "memory objects leaked"
    );
    assert_eq!(device.bytes.load(Ordering::Relaxed), 0, "bytes leaked");
}

/// The table's header.
fn header() -> String {
    format!(
        "{:<10} {:>7} {:>5} {:>12} {:>12} {:>11} {:>7} {:>11} {:>9} {:>10}",
        "row",
        "threads",
        "lanes",
        "ops/s",
        "ns/op/thread",
        "peak device",
        "objects",
        "live at end",
        "peak/live",
        "cached"
    )
}

/// A number for a column, `-` when there is none (no operation was done).
fn figure(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "-".into()
    }
}

/// One line of the table.
fn line(row: &Row) -> String {
    format!(
        "{:<10} {:>7} {:>5} {:>12} {:>12} {:>11} {:>7} {:>11} {:>9} {:>10}",
        row.kind.name(),
        row.threads,
        row.lanes,
        figure(row.ops_per_s(), 0),
        figure(row.ns_per_op(), 1),
        Bytes(row.peak_bytes).to_string(),
        row.peak_objects,
        Bytes(row.live_bytes).to_string(),
        figure(row.peak_bytes as f64 / row.live_bytes as f64, 2),
        Bytes(row.cached_end).to_string(),
    )
}

/// One target of issue 15, as measured in one placement.
#[derive(Debug)]
struct Target15 {
    placement: Placement,
    what: String,
    /// `>= limit` when true, `<= limit` when false.
    at_least: bool,
    limit: f64,
    /// `None`: a row it needs was not run.
    value: Option<f64>,
    /// What the value was computed from.
    detail: String,
}

impl Target15 {
    fn pass(&self) -> Option<bool> {
        let value = self.value.filter(|v| v.is_finite())?;
        Some(if self.at_least {
            value >= self.limit
        } else {
            value <= self.limit
        })
    }

    fn text(&self) -> String {
        let sign = if self.at_least { ">=" } else { "<=" };
        let verdict = match (self.pass(), self.value) {
            (Some(true), Some(v)) => format!("PASS ({v:.2}x{})", self.detail),
            (Some(false), Some(v)) => format!("FAIL ({v:.2}x{})", self.detail),
            (None, Some(_)) => "SKIP (no operation counted)".into(),
            _ => format!("SKIP ({})", self.detail),
        };
        format!(
            "target {}: {} {sign} {}x: {verdict}",
            self.placement.name(),
            self.what,
            self.limit
        )
    }
}

/// The targets of one placement, from its rows; `n` is the largest thread count.
fn targets(placement: Placement, rows: &[Row], n: usize) -> Vec<Target15> {
    let find = |kind, threads| {
        rows.iter()
            .find(|r| r.placement == placement && r.kind == kind && r.threads == threads)
    };
    let (shared_1, shared_n) = (find(Kind::Shared, 1), find(Kind::Shared, n));
    let (mutex_n, single) = (find(Kind::Mutex, n), find(Kind::Single, 1));
    let same_live = find(Kind::SameLive, 1);
    let missing = |what: &str| format!("no {what} row");
    let ratio = |a: Option<&Row>, b: Option<&Row>, of: fn(&Row) -> f64, what: &str| match (a, b) {
        (Some(a), Some(b)) => (Some(of(a) / of(b)), String::new()),
        _ => (None, missing(what)),
    };
    let mut out = Vec::new();
    let mut push = |what: String, at_least, limit, (value, detail): (Option<f64>, String)| {
        out.push(Target15 {
            placement,
            what,
            at_least,
            limit,
            value,
            detail,
        });
    };
    push(
        format!("shared {n} threads / shared 1 thread, ops/s"),
        true,
        8.0,
        ratio(shared_n, shared_1, Row::ops_per_s, "1-thread shared"),
    );
    push(
        format!("shared {n} threads / mutex {n} threads, ops/s"),
        true,
        10.0,
        ratio(shared_n, mutex_n, Row::ops_per_s, "mutex"),
    );
    push(
        "shared 1 thread / single, ns per op".into(),
        false,
        1.25,
        ratio(shared_1, single, Row::ns_per_op, "1-thread shared"),
    );
    let peak = |row: &Row| row.peak_bytes as f64;
    let (value, mut detail) = ratio(shared_n, same_live, peak, "same-live");
    if let (Some(a), Some(b)) = (shared_n, same_live) {
        detail = format!(
            ": {} / {}, live at end {} / {}",
            Bytes(a.peak_bytes),
            Bytes(b.peak_bytes),
            Bytes(a.live_bytes),
            Bytes(b.live_bytes)
        );
    }
    push(
        format!(
            "peak device bytes, shared {n} threads / shared 1 thread holding the same \
             live set ({n} lanes)"
        ),
        false,
        1.10,
        (value, detail),
    );
    out
}

/// A JSON number, `null` when not finite.
fn json_number(value: f64) -> String {
    if value.is_finite() {
        format!("{value}")
    } else {
        "null".into()
    }
}

/// A JSON string (the texts here hold no control characters but quotes may come).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Every row and target as one JSON object.
fn json(args: &Args, cores: usize, rows: &[Row], targets: &[Target15]) -> String {
    let mut out = String::from("{\n");
    let threads: Vec<String> = args.threads.iter().map(usize::to_string).collect();
    let _ = writeln!(
        out,
        "  \"secs\": {}, \"hold\": {}, \"cores\": {cores}, \"threads\": [{}],",
        json_number(args.secs),
        args.hold,
        threads.join(", ")
    );
    out.push_str("  \"rows\": [");
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n    {{\"placement\": {}, \"row\": {}, \"threads\": {}, \"lanes\": {}, \
             \"ops\": {}, \"seconds\": {}, \"ops_per_s\": {}, \"ns_per_op_per_thread\": {}, \
             \"peak_device_bytes\": {}, \"peak_device_objects\": {}, \"live_bytes_end\": {}, \
             \"live_blocks_end\": {}, \"memory_objects_end\": {}, \"cached_end\": {}}}",
            if i == 0 { "" } else { "," },
            json_string(r.placement.name()),
            json_string(r.kind.name()),
            r.threads,
            r.lanes,
            r.ops,
            json_number(r.elapsed.as_secs_f64()),
            json_number(r.ops_per_s()),
            json_number(r.ns_per_op()),
            r.peak_bytes,
            r.peak_objects,
            r.live_bytes,
            r.live_blocks,
            r.objects_end,
            r.cached_end,
        );
    }
    out.push_str("\n  ],\n  \"targets\": [");
    for (i, t) in targets.iter().enumerate() {
        let _ = write!(
            out,
            "{}\n    {{\"placement\": {}, \"target\": {}, \"at_least\": {}, \"limit\": {}, \
             \"value\": {}, \"pass\": {}}}",
            if i == 0 { "" } else { "," },
            json_string(t.placement.name()),
            json_string(&t.what),
            t.at_least,
            json_number(t.limit),
            t.value.map_or("null".into(), json_number),
            t.pass().map_or("null".into(), |p| p.to_string()),
        );
    }
    out.push_str("\n  ]\n}\n");
    out
}

fn write_json(args: &Args, cores: usize, rows: &[Row], targets: &[Target15]) {
    if let Some(path) = &args.json {
        if let Err(e) = std::fs::write(path, json(args, cores, rows, targets)) {
            eprintln!("error: writing {}: {e}", path.display());
            std::process::exit(1);
        }
    }
}

fn main() {
    let args = args_or_exit(USAGE, Args::parse);
    let Args {
        secs,
        ref threads,
        hold,
        ref types,
        ..
    } = args;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let n = threads.iter().copied().max().unwrap_or(1);
    println!(
        "gpu-alloc-threads: null device, {cores} cores, {secs} s per run, \
         {hold} blocks held per thread"
    );
    println!(
        "single: one GpuAllocator through &mut, 1 thread; mutex: one GpuAllocator \
         behind a Mutex; shared: one SharedGpuAllocator; same-live: one \
         SharedGpuAllocator, 1 thread doing the work of {n} threads ({n} x {hold} blocks)"
    );
    let mut rows = Vec::new();
    for &placement in types {
        println!();
        println!("placement {}: {}", placement.name(), placement.describe());
        println!("{}", header());
        let mut runs = vec![(Kind::Single, 1, 1)];
        for &t in threads {
            runs.push((Kind::Mutex, t, t));
            runs.push((Kind::Shared, t, t));
        }
        runs.push((Kind::SameLive, 1, n));
        for (kind, t, lanes) in runs {
            let row = measure(placement, kind, t, lanes, secs, hold);
            println!("{}", line(&row));
            rows.push(row);
            write_json(&args, cores, &rows, &[]);
        }
    }
    println!();
    let targets: Vec<Target15> = types
        .iter()
        .flat_map(|&placement| targets(placement, &rows, n))
        .collect();
    for target in &targets {
        println!("{}", target.text());
    }
    write_json(&args, cores, &rows, &targets);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command<Args>, String> {
        Args::parse(lexopt::Parser::from_args(args)).map_err(|e| e.to_string())
    }

    /// The defaults, and every option with its meaning (`--hold` at least 1).
    #[test]
    fn options() {
        use Placement::{Different, Same};
        let args = |secs, threads: &[usize], hold, types: &[Placement], json: Option<&str>| {
            Ok(Command::Run(Args {
                secs,
                threads: threads.to_vec(),
                hold,
                types: types.to_vec(),
                json: json.map(PathBuf::from),
            }))
        };
        let all = [1, 2, 4, 8, 16];
        assert_eq!(parse(&[]), args(2.0, &all, 32, &[Same, Different], None));
        assert_eq!(
            parse(&["--secs", "3", "--threads=1,8", "--hold", "64"]),
            args(3.0, &[1, 8], 64, &[Same, Different], None)
        );
        assert_eq!(
            parse(&["--hold", "0"]),
            args(2.0, &all, 1, &[Same, Different], None)
        );
        assert_eq!(
            parse(&["--types", "same", "--json", "/tmp/t.json"]),
            args(2.0, &all, 32, &[Same], Some("/tmp/t.json"))
        );
        assert_eq!(
            parse(&["--types=different"]),
            args(2.0, &all, 32, &[Different], None)
        );
        assert_eq!(
            parse(&["--types", "both"]),
            args(2.0, &all, 32, &[Same, Different], None)
        );
        assert!(parse(&["--types", "all"]).is_err());
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }

    /// Lane `l` of `different` asks for memory type `l mod 4` and a usage that
    /// type serves; `same` for any type, device-local first.
    #[test]
    fn placements() {
        assert_eq!(
            Placement::Same.request_of(5),
            (UsageFlags::FAST_DEVICE_ACCESS, !0)
        );
        let types: Vec<u32> = (0..8)
            .map(|l| Placement::Different.request_of(l).1)
            .collect();
        assert_eq!(types, [1, 2, 4, 8, 1, 2, 4, 8]);
        assert_eq!(properties().memory_types.len(), TYPES);
    }

    /// Every row runs on both placements, lands every block where the placement
    /// says, counts the device's bytes and leaves nothing behind (`finish`
    /// checks that).
    #[test]
    fn every_row_runs() {
        for placement in [Placement::Same, Placement::Different] {
            for (kind, threads, lanes) in [
                (Kind::Single, 1, 1),
                (Kind::Mutex, 2, 2),
                (Kind::Shared, 5, 5),
                (Kind::SameLive, 1, 5),
            ] {
                let row = measure(placement, kind, threads, lanes, 0.02, 4);
                assert!(row.ops > 0, "{row:?}");
                assert_eq!(row.live_blocks, 4 * lanes as u64, "{row:?}");
                assert!(row.peak_bytes >= row.live_bytes, "{row:?}");
                assert!(row.objects_end >= 1, "{row:?}");
            }
        }
    }

    /// A different-types lane's blocks are of its memory type, through both
    /// allocators.
    #[test]
    fn different_types_land_in_their_type() {
        let device = NullDevice::default();
        let shared = SharedGpuAllocator::new(Config::i_am_prototyping(), properties());
        let mut plain = GpuAllocator::new(Config::i_am_prototyping(), properties());
        for lane in 0..TYPES {
            let (usage, memory_types) = Placement::Different.request_of(lane);
            let request = Request {
                size: 1000,
                align_mask: 255,
                usage,
                memory_types,
            };
            let block = Target::alloc(&mut &shared, &device, request);
            assert_eq!(block.memory_type(), lane as u32);
            Target::free(&mut &shared, &device, block);
            let block = Target::alloc(&mut &mut plain, &device, request);
            assert_eq!(block.memory_type(), lane as u32);
            Target::free(&mut &mut plain, &device, block);
        }
        assert_eq!(Target::cleanup(&mut &shared, &device), 0);
        assert_eq!(Target::cleanup(&mut &mut plain, &device), 0);
        assert_eq!(device.objects.load(Ordering::Relaxed), 0);
    }

    /// The targets compare the right rows; a missing row is a SKIP.
    #[test]
    fn target_lines() {
        let row = |kind, threads, ops, peak| Row {
            placement: Placement::Same,
            kind,
            threads,
            lanes: threads,
            ops,
            elapsed: Duration::from_secs(1),
            peak_bytes: peak,
            peak_objects: 1,
            live_bytes: 1,
            live_blocks: 1,
            objects_end: 1,
            cached_end: 0,
        };
        let rows = [
            row(Kind::Single, 1, 100, 10),
            row(Kind::Shared, 1, 90, 10),
            row(Kind::Mutex, 4, 50, 10),
            row(Kind::Shared, 4, 800, 105),
            row(Kind::SameLive, 1, 90, 100),
        ];
        let lines: Vec<String> = targets(Placement::Same, &rows, 4)
            .iter()
            .map(Target15::text)
            .collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].ends_with(": PASS (8.89x)"), "{}", lines[0]);
        assert!(lines[1].ends_with(": PASS (16.00x)"), "{}", lines[1]);
        assert!(lines[2].ends_with(": PASS (1.11x)"), "{}", lines[2]);
        assert!(
            lines[3].contains(": PASS (1.05x: 105 B / 100 B"),
            "{}",
            lines[3]
        );
        let lines: Vec<String> = targets(Placement::Same, &rows[2..], 4)
            .iter()
            .map(Target15::text)
            .collect();
        assert!(
            lines[0].ends_with("SKIP (no 1-thread shared row)"),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("PASS (16.00x)"), "{lines:?}");
        assert!(
            lines[2].ends_with("SKIP (no 1-thread shared row)"),
            "{lines:?}"
        );
    }
}
