//! `gpu-alloc-demo`: a renderer-like workload on a real Vulkan device (or the
//! simulated one), with every byte that goes through the GPU checked, then a
//! per-heap table and, with `--report DIR`, `memory-map.svg` and `stats.json`.
//!
//! ```text
//! gpu-alloc-demo [--backend ash|erupt|gfx|sim] [--layout FILE.json] [--frames N] [--threads N] [--report DIR] [--validate] [--defrag]
//! ```
//!
//! With `--threads N` above 1, N threads run the workload at once through one
//! `SharedGpuAllocator` (`workload/threads.rs`). With `--defrag`, the assets
//! are movable and defragmentation passes move them (`workload/defrag.rs`).
//!
//! Exit status: 0 when every check passed, 1 when one failed, 2 for bad
//! arguments or a backend that cannot start.

mod args;
mod ash;
mod erupt;
mod gfx;
mod gpu;
mod report;
mod sim;
mod workload;

use {
    args::Backend,
    gpu::Gpu,
    gpu_alloc::{DeviceProperties, ExtendedProperties, MemoryHeapFlags},
    gpu_alloc_tests::{kit::Bytes, sim::Layout},
    std::{path::Path, process::ExitCode},
    workload::Outcome,
};

/// The layout the simulated device uses unless `--layout` says otherwise.
const DEFAULT_LAYOUT: &str = "nvidia-rtx3060ti-linux.json";
/// What a run produced, with what the report needs to name the device.
struct Run {
    backend: &'static str,
    device: String,
    heap_kinds: Vec<String>,
    /// What the device takes with an allocation beyond size and type, in words.
    support: String,
    outcome: Outcome,
}

/// `support` in words.
fn describe_support(support: gpu_alloc::AllocationSupport) -> String {
    let mut parts = Vec::new();
    if support.dedicated {
        parts.push("dedicated resources sent");
    }
    if support.priority {
        parts.push("priorities");
    }
    if support.pageable {
        parts.push("pageable device-local memory");
    }
    if parts.is_empty() {
        "the device takes nothing beyond size and type".to_owned()
    } else {
        parts.join(", ")
    }
}

/// "device-local" or "host" for each heap.
fn heap_kinds(ext: &ExtendedProperties<'_>) -> Vec<String> {
    ext.memory_heaps
        .iter()
        .map(|h| {
            if h.flags.contains(MemoryHeapFlags::DEVICE_LOCAL) {
                "device-local".to_owned()
            } else {
                "host".to_owned()
            }
        })
        .collect()
}

/// What the workload runs: frames, threads, defragmentation.
#[derive(Clone, Copy)]
struct Options {
    frames: u32,
    threads: u32,
    defrag: bool,
}

/// Runs the workload on one thread, or on `threads` threads with a `Gpu` each
/// from `make` (and one more for this thread).
fn run_workload<G>(
    options: Options,
    mut make: impl FnMut() -> Result<G, String>,
    props: DeviceProperties<'_>,
    ext: ExtendedProperties<'_>,
) -> Result<Outcome, String>
where
    G: Gpu + Send,
    G::Handle: Send,
    G::Memory: Send + Sync,
{
    let Options {
        frames,
        threads,
        defrag,
    } = options;
    let mut gpu = make()?;
    if threads <= 1 {
        return Ok(workload::run(&mut gpu, props, ext, frames, defrag));
    }
    let workers = (0..threads).map(|_| make()).collect::<Result<_, _>>()?;
    Ok(workload::run_threaded(
        &mut gpu, workers, props, ext, frames, defrag,
    ))
}

fn run_sim(layout_path: Option<&Path>, options: Options) -> Result<Run, String> {
    let layout = match layout_path {
        Some(path) => Layout::load(path),
        // Built in, so that the binary runs anywhere.
        None => Layout::parse(
            DEFAULT_LAYOUT.trim_end_matches(".json"),
            include_str!("../../tests/devices/nvidia-rtx3060ti-linux.json"),
        ),
    }
    .map_err(|e| e.to_string())?;
    let device = format!("{} ({}, simulated)", layout.device, layout.name);
    println!("device: {device}");
    let gpu = sim::SimGpu::new(layout);
    let props = gpu.device().properties();
    let ext = gpu.device().extended_properties();
    let heap_kinds = heap_kinds(&ext);
    let outcome = run_workload(options, || Ok(gpu.worker()), props, ext)?;
    Ok(Run {
        backend: "sim",
        device,
        heap_kinds,
        support: describe_support(gpu_alloc::AllocationSupport::NONE),
        outcome,
    })
}

fn run_ash(vulkan: &ash::Ash, options: Options) -> Result<Run, String> {
    let device = format!("{} (Vulkan through ash)", vulkan.name);
    println!("device: {device}");
    let props = vulkan.properties.device_properties();
    let ext = vulkan.properties.extended.clone();
    let heap_kinds = heap_kinds(&ext);
    let outcome = run_workload(options, || vulkan.gpu(), props, ext)?;
    Ok(Run {
        backend: "ash",
        device,
        heap_kinds,
        support: describe_support(vulkan.support),
        outcome,
    })
}

fn run_erupt(vulkan: &erupt::Erupt, options: Options) -> Result<Run, String> {
    let device = format!("{} (Vulkan through erupt)", vulkan.name);
    println!("device: {device}");
    let props = vulkan.properties.device_properties();
    let ext = vulkan.properties.extended.clone();
    let heap_kinds = heap_kinds(&ext);
    let outcome = run_workload(options, || vulkan.gpu(), props, ext)?;
    Ok(Run {
        backend: "erupt",
        device,
        heap_kinds,
        support: describe_support(gpu_alloc::AllocationSupport::NONE),
        outcome,
    })
}

/// On one thread only (`--threads` above 1 is refused with gfx).
fn run_gfx(mut gpu: gfx::GfxGpu, options: Options) -> Result<Run, String> {
    let device = format!("{} (Vulkan through gfx-hal)", gpu.name);
    println!("device: {device}");
    let props = gpu.properties.device_properties();
    let ext = gpu.properties.extended.clone();
    let heap_kinds = heap_kinds(&ext);
    let outcome = workload::run(&mut gpu, props, ext, options.frames, options.defrag);
    Ok(Run {
        backend: "gfx",
        device,
        heap_kinds,
        support: describe_support(gpu_alloc::AllocationSupport::NONE),
        outcome,
    })
}

fn main() -> ExitCode {
    let args = args::from_env();
    let layout = args.layout.as_deref();
    let options = Options {
        frames: args.frames,
        threads: args.threads,
        defrag: args.defrag,
    };
    let run = match args.backend {
        Some(Backend::Sim) => run_sim(layout, options),
        Some(Backend::Gfx) => match gfx::GfxGpu::open() {
            Ok(gpu) => run_gfx(gpu, options),
            Err(err) => Err(err.to_string()),
        },
        Some(Backend::Erupt) => match erupt::Erupt::open() {
            Ok(vulkan) => run_erupt(&vulkan, options),
            Err(err) => Err(err.to_string()),
        },
        Some(Backend::Ash) => match ash::Ash::open(args.validate) {
            Ok(vulkan) => run_ash(&vulkan, options),
            Err(err) => Err(err.to_string()),
        },
        None => match ash::Ash::open(args.validate) {
            Ok(vulkan) => run_ash(&vulkan, options),
            Err(ash::OpenError::NoDriver(why)) => {
                println!(
                    "no Vulkan driver found ({why}): running on the simulated device \
                     (tests/devices/{DEFAULT_LAYOUT})"
                );
                run_sim(layout, options)
            }
            Err(ash::OpenError::Failed(why)) => Err(format!("Vulkan: {why}")),
        },
    };
    let run = match run {
        Ok(run) => run,
        Err(why) => {
            eprintln!("gpu-alloc-demo: {why}");
            return ExitCode::from(2);
        }
    };
    let outcome = &run.outcome;
    let c = &outcome.counters;
    let (threads, freed_elsewhere) = if outcome.threads == 1 {
        ("1 thread".to_owned(), String::new())
    } else {
        (
            format!("{} threads", outcome.threads),
            format!(" ({} freed by another thread)", c.freed_by_other_thread),
        )
    };
    println!(
        "done in {:.2} s on {threads}: {} frames, {} assets loaded with the level, {} streamed \
         in, {} out{freed_elsewhere}; {} uploads, {} readbacks verified ({}); peak {} in {} \
         memory objects",
        outcome.seconds,
        c.frames,
        c.level_assets,
        c.streamed_in,
        c.streamed_out,
        c.uploads,
        c.readbacks,
        Bytes(c.bytes_verified),
        Bytes(c.peak_reserved),
        c.peak_objects,
    );
    if !c.budget_read {
        println!("(the device reports no memory budget)");
    }
    println!(
        "allocation info: {}; {} blocks with a memory object of their own for their \
         resource, {} with a priority; {} budget readings made by the allocator; {} hints \
         not taken",
        run.support,
        c.dedicated_for_resource,
        c.dedicated_with_priority,
        outcome.stats.budget_refreshes,
        outcome.stats.hints_dropped,
    );
    if outcome.defrag.is_some() {
        println!("\nat the end of the last frame, after the last defragmentation pass:\n");
    } else {
        println!("\nat the end of the last frame:\n");
    }
    print!("{}", report::heap_table(&outcome.stats, &run.heap_kinds));
    println!();
    print!("{}", report::pool_table(outcome));
    print!("{}", report::named_blocks(&outcome.stats));
    if let Some(summary) = &outcome.defrag {
        print!(
            "{}",
            workload::defrag::report(summary, &outcome.stats, c, outcome.threads)
        );
    }
    let mut failures = outcome.failures.clone();
    if let Some(dir) = &args.report {
        match report::write_files(dir, run.backend, &run.device, outcome) {
            Ok(written) => {
                let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
                println!("\nwrote {}", names.join(", "));
            }
            Err(why) => failures.push(why),
        }
    }
    if failures.is_empty() {
        println!("all checks passed; every block and memory object was freed");
        ExitCode::SUCCESS
    } else {
        eprintln!("{} check(s) FAILED:", failures.len());
        for failure in failures.iter().take(20) {
            eprintln!("  {failure}");
        }
        ExitCode::FAILURE
    }
}
