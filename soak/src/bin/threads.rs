//! Throughput of one `GpuAllocator` shared behind a `Mutex` by 1, 2, 4, 8 and 16
//! threads, on a null device (no backing memory), as alloc + free operations per
//! second. The baseline for a later lock-free design.
//!
//! ```text
//! gpu-alloc-threads [--secs S] [--threads 1,2,4,8,16] [--hold H]
//! ```
//!
//! Each thread repeats: lock, allocate a block (16 B to 64 KiB, log-uniform,
//! device-local), unlock; once it holds `H` blocks (default 32) it frees a random
//! one per allocation (lock, free, unlock). Each allocation and each free is one
//! operation. Every thread count runs for `S` seconds (default 2).

use {
    gpu_alloc::{Config, GpuAllocator, MemoryBlock, Request, UsageFlags},
    gpu_alloc_tests::kit::{
        cli::{args_or_exit, invalid_value, lexopt, number, parse_number, seconds, value, Command},
        Rng,
    },
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, DeviceProperties, MappedMemoryRange, MemoryDevice,
        MemoryHeap, MemoryPropertyFlags, MemoryType, OutOfMemory,
    },
    std::{
        borrow::Cow,
        ptr::NonNull,
        sync::{
            atomic::{AtomicBool, AtomicU64, Ordering},
            Arc, Mutex,
        },
        time::{Duration, Instant},
    },
};

/// A device that hands out numbered memory objects and backs none of them.
#[derive(Debug, Default)]
struct NullDevice {
    next: AtomicU64,
    live: AtomicU64,
}

impl MemoryDevice<u64> for NullDevice {
    unsafe fn allocate_memory(
        &self,
        _size: u64,
        _memory_type: u32,
        _flags: AllocationFlags,
    ) -> Result<u64, OutOfMemory> {
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(self.next.fetch_add(1, Ordering::Relaxed))
    }

    unsafe fn deallocate_memory(&self, _memory: u64) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    unsafe fn map_memory(
        &self,
        _memory: &mut u64,
        _offset: u64,
        _size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // Only device-local, never host-visible, memory is requested.
        Err(DeviceMapError::MapFailed)
    }

    unsafe fn unmap_memory(&self, _memory: &mut u64) {}

    unsafe fn invalidate_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, u64>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }

    unsafe fn flush_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, u64>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }
}

/// A discrete GPU: 64 GiB device-local heap, 64 GiB host heap.
fn properties() -> DeviceProperties<'static> {
    DeviceProperties {
        memory_types: Cow::Owned(vec![
            MemoryType {
                heap: 0,
                props: MemoryPropertyFlags::DEVICE_LOCAL,
            },
            MemoryType {
                heap: 1,
                props: MemoryPropertyFlags::HOST_VISIBLE | MemoryPropertyFlags::HOST_COHERENT,
            },
        ]),
        memory_heaps: Cow::Owned(vec![
            MemoryHeap { size: 64 << 30 },
            MemoryHeap { size: 64 << 30 },
        ]),
        max_memory_allocation_count: 4096,
        max_memory_allocation_size: 4 << 30,
        non_coherent_atom_size: 64,
        buffer_device_address: false,
    }
}

/// `gpu-alloc-threads --help`.
const USAGE: &str = "\
usage: gpu-alloc-threads [--secs S] [--threads 1,2,4,8,16] [--hold H]
Alloc + free operations per second of one GpuAllocator behind a Mutex, on a
null device, for each thread count of --threads (default 1,2,4,8,16), S
seconds each (default 2); each thread holds H blocks (default 32) and frees a
random one per allocation. -h, --help prints this.";

/// Command-line settings.
#[derive(Debug, PartialEq)]
struct Args {
    /// Seconds per thread count.
    secs: f64,
    /// The thread counts, in order.
    threads: Vec<usize>,
    /// Blocks each thread holds (at least 1).
    hold: usize,
}

impl Args {
    fn parse(mut parser: lexopt::Parser) -> Result<Command<Args>, lexopt::Error> {
        use lexopt::Arg::{Long, Short};
        let mut args = Args {
            secs: 2.0,
            threads: vec![1, 2, 4, 8, 16],
            hold: 32,
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
                Short('h') | Long("help") => return Ok(Command::Help),
                _ => return Err(arg.unexpected()),
            }
        }
        Ok(Command::Run(args))
    }
}

/// Runs `threads` threads for `secs`; returns the operations done.
fn run(threads: usize, secs: f64, hold: usize) -> (u64, Duration) {
    let device = Arc::new(NullDevice::default());
    let allocator = Arc::new(Mutex::new(GpuAllocator::<u64>::new(
        Config::i_am_prototyping(),
        properties(),
    )));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (device, allocator, stop) = (device.clone(), allocator.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new(t as u64);
                let mut held: Vec<MemoryBlock<u64>> = Vec::with_capacity(hold);
                let mut ops = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let log = 4 + rng.below(13);
                        let size = (1 << log) + rng.below(1 << log);
                        let request = Request {
                            size,
                            align_mask: 255,
                            usage: UsageFlags::FAST_DEVICE_ACCESS,
                            memory_types: !0,
                        };
                        let block = {
                            let mut a = allocator.lock().unwrap();
                            // SAFETY: `device` is the one device of this allocator.
                            unsafe { a.try_alloc(&*device, request) }.expect("alloc")
                        };
                        ops += 1;
                        held.push(block);
                        if held.len() > hold {
                            let i = rng.below(held.len() as u64) as usize;
                            let block = held.swap_remove(i);
                            let mut a = allocator.lock().unwrap();
                            // SAFETY: as above; the null device has no memory to use.
                            unsafe { a.dealloc(&*device, block) };
                            ops += 1;
                        }
                    }
                }
                let mut a = allocator.lock().unwrap();
                for block in held {
                    // SAFETY: as above.
                    unsafe { a.dealloc(&*device, block) };
                }
                ops
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let ops: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    let mut a = allocator.lock().unwrap();
    // SAFETY: the allocator's device; every block was freed.
    unsafe { a.cleanup(&*device) };
    assert_eq!(a.live_blocks(), 0);
    assert_eq!(
        device.live.load(Ordering::Relaxed),
        0,
        "memory objects leaked"
    );
    (ops, elapsed)
}

fn main() {
    let Args {
        secs,
        threads,
        hold,
    } = args_or_exit(USAGE, Args::parse);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "gpu-alloc-threads: one GpuAllocator behind a Mutex, null device, {cores} cores, \
         {secs} s per run, {hold} blocks held per thread"
    );
    println!("{:>8} {:>14} {:>16}", "threads", "ops/s", "ops/s/thread");
    for t in threads {
        let (ops, elapsed) = run(t, secs, hold);
        let rate = ops as f64 / elapsed.as_secs_f64();
        println!("{t:>8} {rate:>14.0} {:>16.0}", rate / t as f64);
    }
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
        let args = |secs, threads: &[usize], hold| {
            Ok(Command::Run(Args {
                secs,
                threads: threads.to_vec(),
                hold,
            }))
        };
        assert_eq!(parse(&[]), args(2.0, &[1, 2, 4, 8, 16], 32));
        assert_eq!(
            parse(&["--secs", "3", "--threads=1,8", "--hold", "64"]),
            args(3.0, &[1, 8], 64)
        );
        assert_eq!(parse(&["--hold", "0"]), args(2.0, &[1, 2, 4, 8, 16], 1));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }
}
