//! Soak run of gpu-alloc on a real Vulkan driver (lavapipe in CI) through
//! `gpu-alloc-ash`, with the Khronos validation layer on.
//!
//! ```text
//! gpu-alloc-soak [--ops N] [--batch B] [--report R] [--seed S] [--max-rss-growth-kib K]
//!                [--provoke-validation]
//! ```
//!
//! Runs at least `N` operations (default 10^6): batches of `B` items, each
//! allocated three times (an upload buffer, a device-local buffer, a download
//! buffer), written through a mapping, copied upload -> device-local ->
//! download on the GPU in one submission per batch, read back and compared,
//! and freed; beside them a pool of long-lived blocks is replaced a few at a
//! time, so that the allocator works on fragmented memory. Every alloc, write,
//! copy, read and free counts as one operation. Every `R` operations (default
//! 10^5) it prints the resident memory (`VmRSS`) and the live device memory
//! objects, then frees every block, calls `cleanup` and prints both again
//! ("drained"). On lavapipe device memory is host memory, so only the drained
//! figure says whether the process itself grows.
//!
//! It fails (exit code 1) on any validation warning or error, any device memory
//! object alive after draining or at the end, corrupted data, or drained
//! resident memory growing by more than `K` KiB (default 8192) after the
//! warm-up (the first fifth of the run). `--provoke-validation` breaks one
//! valid-usage rule first, to show that messages are caught (the run then
//! fails); `GPU_ALLOC_SOAK_ALL_MESSAGES=1` prints every message, info included.
//! Without a Vulkan driver it prints `skipped: no Vulkan driver` and exits 0,
//! unless `GPU_ALLOC_REQUIRE_VULKAN=1`. Without the validation layer (or
//! `VK_EXT_debug_utils` to hear it) it prints `skipped: no validation layer` and
//! runs its other checks, unless `GPU_ALLOC_REQUIRE_VULKAN=1` (then it fails,
//! as `gpu_alloc_tests::vulkan_gate::no_validation_layer` says); with
//! `--provoke-validation` it then always fails, since it cannot show that
//! messages are caught.

mod vulkan;

use {
    ash::vk,
    gpu_alloc::{
        AllocOptions, Config, GpuAllocator, MemoryBlock, Request, ResourceKind, UsageFlags,
    },
    gpu_alloc_ash::AshMemoryDevice,
    gpu_alloc_tests::{
        kit::{
            cli::{args_or_exit, lexopt, number, Command},
            mib, Rng,
        },
        vulkan_gate::{no_validation_layer, no_vulkan},
    },
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, MappedMemoryRange, MemoryDevice, OutOfMemory,
    },
    std::{
        cell::{Cell, RefCell},
        collections::HashMap,
        process::ExitCode,
        ptr::NonNull,
        time::Instant,
    },
    vulkan::Gpu,
};

/// Forwards to the ash backend and counts live device memory objects.
struct Counting<'a> {
    inner: &'a AshMemoryDevice,
    live: Cell<u64>,
    /// Bytes of live memory objects, and each object's size.
    bytes: Cell<u64>,
    sizes: RefCell<HashMap<vk::DeviceMemory, u64>>,
    peak: Cell<u64>,
    allocations: Cell<u64>,
}

impl MemoryDevice<vk::DeviceMemory> for Counting<'_> {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        // SAFETY: forwarded from the caller.
        let memory = unsafe { self.inner.allocate_memory(size, memory_type, flags) }?;
        self.live.set(self.live.get() + 1);
        self.bytes.set(self.bytes.get() + size);
        self.sizes.borrow_mut().insert(memory, size);
        self.peak.set(self.peak.get().max(self.live.get()));
        self.allocations.set(self.allocations.get() + 1);
        Ok(memory)
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
        let size = self.sizes.borrow_mut().remove(&memory).unwrap_or(0);
        self.bytes.set(self.bytes.get() - size);
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.deallocate_memory(memory) };
        self.live.set(self.live.get() - 1);
    }

    unsafe fn map_memory(
        &self,
        memory: &mut vk::DeviceMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.map_memory(memory, offset, size) }
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.invalidate_memory_ranges(ranges) }
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.flush_memory_ranges(ranges) }
    }
}

/// Command-line settings.
#[derive(Debug, PartialEq)]
struct Args {
    ops: u64,
    batch: usize,
    report: u64,
    seed: u64,
    max_rss_growth_kib: u64,
    /// Break one valid-usage rule at the start, to show that messages are caught.
    provoke: bool,
}

/// `gpu-alloc-soak --help`.
const USAGE: &str = "\
usage: gpu-alloc-soak [--ops N] [--batch B] [--report R] [--seed S] [--max-rss-growth-kib K] [--provoke-validation]
Soak run of gpu-alloc on the first Vulkan device with the validation layer on
(see TESTING.md). At least N operations (default 1000000) in batches of B items
(default 64); resident memory and live memory objects printed, then drained,
every R operations (default 100000); S seeds the sizes and choices (default 1).
Fails (exit code 1) on a validation message, a memory object left, corrupted
data or drained resident memory growing by more than K KiB after the warm-up
(default 8192). --provoke-validation breaks one valid-usage rule first, to show
that messages are caught. -h, --help prints this.";

impl Args {
    /// Reads the command line (numbers may have `_` between digits).
    fn parse(mut parser: lexopt::Parser) -> Result<Command<Args>, lexopt::Error> {
        use lexopt::Arg::{Long, Short};
        let mut args = Args {
            ops: 1_000_000,
            batch: 64,
            report: 100_000,
            seed: 1,
            max_rss_growth_kib: 8192,
            provoke: false,
        };
        while let Some(arg) = parser.next()? {
            match arg {
                Long("ops") => args.ops = number(&mut parser, "--ops")?,
                Long("batch") => args.batch = number::<usize>(&mut parser, "--batch")?.max(1),
                Long("report") => args.report = number::<u64>(&mut parser, "--report")?.max(1),
                Long("seed") => args.seed = number(&mut parser, "--seed")?,
                Long("max-rss-growth-kib") => {
                    args.max_rss_growth_kib = number(&mut parser, "--max-rss-growth-kib")?
                }
                Long("provoke-validation") => args.provoke = true,
                Short('h') | Long("help") => return Ok(Command::Help),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(Command::Run(args))
    }
}

/// Resident memory of this process in KiB (`VmRSS` of `/proc/self/status`).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// A buffer size: mostly 16 B .. 128 KiB (log-uniform), 1 in 64 up to 8 MiB.
fn buffer_size(rng: &mut Rng) -> u64 {
    let max_log = if rng.below_mod(64) == 0 { 22 } else { 16 };
    let log = 4 + rng.below_mod(max_log - 3);
    (1 << log) + rng.below_mod(1 << log)
}

/// A buffer bound to a block of the allocator.
struct Bound {
    buffer: vk::Buffer,
    block: MemoryBlock<vk::DeviceMemory>,
    size: u64,
}

/// Allocator, device and the counters of a run.
struct Soak<'a> {
    gpu: &'a Gpu,
    device: Counting<'a>,
    allocator: GpuAllocator<vk::DeviceMemory>,
    ops: u64,
}

impl Soak<'_> {
    /// Creates a buffer of `size` bytes, allocates memory for it and binds it.
    fn create(&mut self, size: u64, usage: UsageFlags) -> Bound {
        let d = &self.gpu.device;
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST);
        // SAFETY: a valid create info for a live device.
        let buffer = unsafe { d.create_buffer(&info, None) }.expect("create buffer");
        // SAFETY: `buffer` is a live buffer of `d`.
        let reqs = unsafe { d.get_buffer_memory_requirements(buffer) };
        let request = Request {
            size: reqs.size,
            align_mask: reqs.alignment - 1,
            usage,
            memory_types: reqs.memory_type_bits,
        };
        let options = AllocOptions::new().resource(ResourceKind::Linear);
        // SAFETY: `self.device` wraps the device the allocator was made for, and
        // is passed to every call of the allocator and its blocks.
        let block = unsafe {
            self.allocator
                .try_alloc_with_options(&self.device, request, options)
        }
        .unwrap_or_else(|e| panic!("allocation of {request:?} failed: {e}"));
        // SAFETY: the block lies inside its memory object, is aligned to the
        // buffer's requirements and of a type its memory type bits allow.
        unsafe { d.bind_buffer_memory(buffer, *block.memory(), block.offset()) }
            .expect("bind buffer memory");
        self.ops += 1;
        Bound {
            buffer,
            block,
            size,
        }
    }

    /// Destroys the buffer and frees its block.
    fn free(&mut self, bound: Bound) {
        // SAFETY: the GPU finished every submission that used the buffer (each
        // batch waits for its fence), and no mapping pointer is kept.
        unsafe {
            self.gpu.device.destroy_buffer(bound.buffer, None);
            self.allocator.dealloc(&self.device, bound.block);
        }
        self.ops += 1;
    }
}

/// The byte at `pos` of item `item`.
fn pattern(item: u64, pos: u64) -> u8 {
    (item as u8) ^ (pos as u8).wrapping_mul(31) ^ (pos >> 8) as u8 ^ (pos >> 16) as u8
}

fn main() -> ExitCode {
    let args = args_or_exit(USAGE, Args::parse);
    let mut gpu = match Gpu::new() {
        Ok(gpu) => gpu,
        Err(why) => {
            no_vulkan("gpu-alloc-soak", &why);
            return ExitCode::SUCCESS;
        }
    };
    println!(
        "gpu-alloc-soak: {} ({}), validation layer {}; {} operations, batches of {}, seed {}",
        gpu.device_name,
        if gpu.props.memory_budget_supported {
            "memory budget"
        } else {
            "no memory budget"
        },
        if gpu.validation { "on" } else { "ABSENT" },
        args.ops,
        args.batch,
        args.seed
    );
    if !gpu.validation {
        let why = "VK_LAYER_KHRONOS_validation or VK_EXT_debug_utils is not available";
        if args.provoke {
            println!(
                "--provoke-validation: no validation layer ({why}), so the run cannot show \
                 that validation messages are caught\nFAIL"
            );
            return ExitCode::FAILURE;
        }
        no_validation_layer("gpu-alloc-soak", &why);
    }
    if args.provoke {
        // A buffer of size 0 breaks VUID-VkBufferCreateInfo-size-00912.
        let info = vk::BufferCreateInfo::default()
            .size(0)
            .usage(vk::BufferUsageFlags::TRANSFER_SRC);
        // SAFETY: deliberately invalid create info (the point of the flag); the
        // buffer, if made, is destroyed at once.
        unsafe {
            if let Ok(buffer) = gpu.device.create_buffer(&info, None) {
                gpu.device.destroy_buffer(buffer, None);
            }
        }
    }
    let start = Instant::now();
    let mut soak = Soak {
        gpu: &gpu,
        device: Counting {
            inner: AshMemoryDevice::wrap(&gpu.device),
            live: Cell::new(0),
            bytes: Cell::new(0),
            sizes: RefCell::new(HashMap::new()),
            peak: Cell::new(0),
            allocations: Cell::new(0),
        },
        allocator: GpuAllocator::with_extended_properties(
            Config::i_am_prototyping(),
            gpu.props.device_properties(),
            gpu.props.extended.clone(),
        ),
        ops: 0,
    };
    let mut rng = Rng::odd_state(args.seed);
    let mut held: Vec<Bound> = Vec::new();
    const HELD: usize = 256;
    let held_usages = [
        UsageFlags::FAST_DEVICE_ACCESS,
        UsageFlags::UPLOAD,
        UsageFlags::DOWNLOAD,
        UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
    ];
    let warmup = args.ops / 5;
    let mut rss_after_warmup = None;
    let mut rss_max_after_warmup = 0u64;
    let mut next_report = args.report;
    let mut item = 0u64;
    let mut corrupt = 0u64;
    let mut copied_bytes = 0u64;
    let mut drained_leaks = 0u64;
    let rss_start = rss_kib();
    // Columns: resident memory while blocks are held, bytes and number of live
    // device memory objects then; resident memory and objects after freeing
    // everything and `cleanup` (the figure that must stay flat).
    println!(
        "{:>10} {:>8} {:>10} {:>11} {:>11} {:>13} {:>15}",
        "ops", "secs", "rss_kib", "device_kib", "vk_objects", "drained_rss", "drained_objects"
    );
    println!(
        "{:>10} {:>8.1} {:>10} {:>11} {:>11} {:>13} {:>15}",
        0, 0.0, rss_start, 0, 0, rss_start, 0
    );
    while soak.ops < args.ops {
        // Long-lived blocks: replace a few.
        for _ in 0..4 {
            if held.len() >= HELD {
                let victim = held.swap_remove(rng.below_mod(held.len() as u64) as usize);
                soak.free(victim);
            }
            let usage = held_usages[rng.below_mod(4) as usize];
            let size = buffer_size(&mut rng);
            let bound = soak.create(size, usage);
            held.push(bound);
        }
        // One batch: upload -> device-local -> download.
        let mut batch = Vec::with_capacity(args.batch);
        for _ in 0..args.batch {
            item += 1;
            let size = buffer_size(&mut rng);
            let mut src = soak.create(size, UsageFlags::UPLOAD | UsageFlags::TRANSIENT);
            let mid = soak.create(size, UsageFlags::FAST_DEVICE_ACCESS);
            let dst = soak.create(size, UsageFlags::DOWNLOAD | UsageFlags::TRANSIENT);
            let data: Vec<u8> = (0..size).map(|p| pattern(item, p)).collect();
            // SAFETY: the allocator's device; the GPU does not use the buffer yet.
            unsafe { src.block.write_bytes(&soak.device, 0, &data) }.expect("write");
            soak.ops += 1;
            batch.push((item, src, mid, dst));
        }
        let d = &gpu.device;
        gpu.submit(|cmd| {
            // SAFETY: `cmd` is recording; every buffer is live and bound, and the
            // regions lie inside them.
            unsafe {
                for (_, src, mid, _) in &batch {
                    let region = vk::BufferCopy::default().size(src.size);
                    d.cmd_copy_buffer(cmd, src.buffer, mid.buffer, &[region]);
                }
                let barrier = vk::MemoryBarrier::default()
                    .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
                    .dst_access_mask(vk::AccessFlags::TRANSFER_READ);
                d.cmd_pipeline_barrier(
                    cmd,
                    vk::PipelineStageFlags::TRANSFER,
                    vk::PipelineStageFlags::TRANSFER,
                    vk::DependencyFlags::empty(),
                    &[barrier],
                    &[],
                    &[],
                );
                for (_, _, mid, dst) in &batch {
                    let region = vk::BufferCopy::default().size(mid.size);
                    d.cmd_copy_buffer(cmd, mid.buffer, dst.buffer, &[region]);
                }
                let barrier = vk::MemoryBarrier::default()
                    .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
                    .dst_access_mask(vk::AccessFlags::HOST_READ);
                d.cmd_pipeline_barrier(
                    cmd,
                    vk::PipelineStageFlags::TRANSFER,
                    vk::PipelineStageFlags::HOST,
                    vk::DependencyFlags::empty(),
                    &[barrier],
                    &[],
                    &[],
                );
            }
        });
        soak.ops += 2 * batch.len() as u64;
        for (item, src, mid, mut dst) in batch {
            let mut data = vec![0u8; dst.size as usize];
            // SAFETY: the allocator's device; the GPU finished writing (fence).
            unsafe { dst.block.read_bytes(&soak.device, 0, &mut data) }.expect("read");
            soak.ops += 1;
            copied_bytes += 2 * dst.size;
            if let Some(pos) = data
                .iter()
                .enumerate()
                .position(|(p, &b)| b != pattern(item, p as u64))
            {
                corrupt += 1;
                eprintln!("item {item}: byte {pos} of {} read back wrong", dst.size);
            }
            soak.free(src);
            soak.free(mid);
            soak.free(dst);
        }
        if soak.ops >= next_report {
            next_report += args.report;
            let rss_busy = rss_kib();
            let device_kib = soak.device.bytes.get() >> 10;
            let objects = soak.device.live.get();
            // Drain: free the long-lived blocks too and clean up, so that no device
            // memory (host memory on lavapipe) is held while resident memory is read.
            for bound in std::mem::take(&mut held) {
                soak.free(bound);
            }
            // SAFETY: the allocator's device.
            unsafe { soak.allocator.cleanup(&soak.device) };
            let drained_objects = soak.device.live.get();
            if drained_objects != 0 {
                drained_leaks += 1;
            }
            let rss = rss_kib();
            if soak.ops >= warmup {
                if rss_after_warmup.is_none() {
                    rss_after_warmup = Some(rss);
                }
                rss_max_after_warmup = rss_max_after_warmup.max(rss);
            }
            println!(
                "{:>10} {:>8.1} {:>10} {:>11} {:>11} {:>13} {:>15}",
                soak.ops,
                start.elapsed().as_secs_f64(),
                rss_busy,
                device_kib,
                objects,
                rss,
                drained_objects,
            );
        }
    }
    for bound in std::mem::take(&mut held) {
        soak.free(bound);
    }
    // SAFETY: the allocator's device; every block was freed.
    unsafe { soak.allocator.cleanup(&soak.device) };
    let secs = start.elapsed().as_secs_f64();
    let leaked = soak.device.live.get();
    let (ops, allocations, peak) = (
        soak.ops,
        soak.device.allocations.get(),
        soak.device.peak.get(),
    );
    let live_blocks = soak.allocator.live_blocks();
    drop(soak);
    let rss_end = rss_kib();
    gpu.destroy();
    let (failing, all) = gpu.message_counts();
    for text in gpu.failing_messages().iter().take(20) {
        eprintln!("validation: {text}");
    }
    if std::env::var_os("GPU_ALLOC_SOAK_ALL_MESSAGES").is_some() {
        for (failing, text) in gpu.all_messages() {
            let class = if failing { "warning/error" } else { "info" };
            println!("message ({class}): {text}");
        }
    }
    // The end is drained too: it counts as the last report.
    let rss_base = rss_after_warmup.unwrap_or(rss_end);
    let rss_max_after_warmup = rss_max_after_warmup.max(rss_end);
    let growth = rss_max_after_warmup.saturating_sub(rss_base);
    println!(
        "done: {ops} operations in {secs:.1} s ({:.0} ops/s), {item} items copied ({:.1} MiB \
         through the GPU), {allocations} vkAllocateMemory calls, at most {peak} memory objects \
         alive",
        ops as f64 / secs,
        mib(copied_bytes)
    );
    println!(
        "validation messages: {failing} warnings/errors ({all} in all, info included); \
         memory objects alive at the end: {leaked}; live blocks: {live_blocks}; corrupted \
         items: {corrupt}"
    );
    println!(
        "VmRSS drained (no block held, after cleanup): {rss_base} KiB at the first report after \
         warm-up ({warmup} ops), at most {rss_max_after_warmup} KiB after it: growth {growth} KiB \
         (limit {} KiB); {rss_start} KiB before the first allocation, {rss_end} KiB at the end; \
         reports with device memory left after draining: {drained_leaks}",
        args.max_rss_growth_kib
    );
    let ok = failing == 0
        && leaked == 0
        && live_blocks == 0
        && drained_leaks == 0
        && corrupt == 0
        && growth <= args.max_rss_growth_kib;
    if growth > args.max_rss_growth_kib && std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        println!(
            "note: lavapipe's device memory comes from malloc, and glibc keeps freed blocks \
             under its (growing) mmap threshold in the heap; MALLOC_MMAP_THRESHOLD_=131072 makes \
             it return them, so that the drained RSS is the process's own (TESTING.md)"
        );
    }
    if ok {
        println!("PASS");
        ExitCode::SUCCESS
    } else {
        println!("FAIL");
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command<Args>, String> {
        Args::parse(lexopt::Parser::from_args(args)).map_err(|e| e.to_string())
    }

    /// The defaults, and every option with its meaning (counts of at least 1 for
    /// `--batch` and `--report`, `_` between digits).
    #[test]
    fn options() {
        let args = |ops, batch, report, seed, max_rss_growth_kib, provoke| {
            Ok(Command::Run(Args {
                ops,
                batch,
                report,
                seed,
                max_rss_growth_kib,
                provoke,
            }))
        };
        assert_eq!(parse(&[]), args(1_000_000, 64, 100_000, 1, 8192, false));
        assert_eq!(
            parse(&[
                "--ops",
                "5_000_000",
                "--batch=16",
                "--report",
                "500000",
                "--seed",
                "2",
                "--max-rss-growth-kib",
                "100",
                "--provoke-validation",
            ]),
            args(5_000_000, 16, 500_000, 2, 100, true)
        );
        assert_eq!(
            parse(&["--batch", "0", "--report", "0"]),
            args(1_000_000, 1, 1, 1, 8192, false)
        );
        assert_eq!(parse(&["--ops", "1", "-h"]), Ok(Command::Help));
    }
}
