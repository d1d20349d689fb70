//! `gpu-alloc-demo`: a renderer-like workload on a real Vulkan device (or the
//! simulated one), with every byte that goes through the GPU checked, then a
//! per-heap table and, with `--report DIR`, `memory-map.svg` and `stats.json`.
//!
//! ```text
//! gpu-alloc-demo [--backend ash|erupt|gfx|sim] [--layout FILE.json] [--frames N] [--report DIR] [--validate]
//! ```
//!
//! Exit status: 0 when every check passed, 1 when one failed, 2 for bad
//! arguments or a backend that cannot start.

mod erupt;
mod gfx;
mod gpu;
mod report;
mod sim;
mod vulkan;
mod workload;

use {
    gpu_alloc::{ExtendedProperties, MemoryHeapFlags},
    gpu_alloc_tests::sim::Layout,
    std::{
        path::{Path, PathBuf},
        process::ExitCode,
    },
    workload::Outcome,
};

/// The layout the simulated device uses unless `--layout` says otherwise.
const DEFAULT_LAYOUT: &str = "nvidia-rtx3060ti-linux.json";
/// Frames run unless `--frames` says otherwise.
const DEFAULT_FRAMES: u32 = 300;

const USAGE: &str = "\
usage: gpu-alloc-demo [--backend ash|erupt|gfx|sim] [--layout FILE.json] [--frames N] [--report DIR] [--validate]

  --backend   ash (default: the first Vulkan device; without a Vulkan driver the
              demo says so and runs on the simulated device), erupt or gfx (the
              same workload on the first Vulkan device through those crates),
              or sim
  --layout    device layout for the simulated device (implies --backend sim;
              default: tests/devices/nvidia-rtx3060ti-linux.json)
  --frames    frames of streaming after the level load (default 300)
  --report    directory to write memory-map.svg and stats.json into
  --validate  (ash) turn on the Khronos validation layer; any warning or error
              it reports fails the run (gfx: set VK_INSTANCE_LAYERS instead)";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Ash,
    Erupt,
    Gfx,
    Sim,
}

#[derive(Debug)]
struct Args {
    /// `None`: ash, falling back to sim without a driver.
    backend: Option<Backend>,
    layout: Option<PathBuf>,
    frames: u32,
    report: Option<PathBuf>,
    /// Khronos validation layer on (ash), its warnings and errors failing the run.
    validate: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        backend: None,
        layout: None,
        frames: DEFAULT_FRAMES,
        report: None,
        validate: false,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        if name == "--help" || name == "-h" {
            return Err(String::new());
        }
        if name == "--validate" {
            parsed.validate = true;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--backend" => {
                parsed.backend = Some(match value()?.as_str() {
                    "ash" => Backend::Ash,
                    "erupt" => Backend::Erupt,
                    "gfx" => Backend::Gfx,
                    "sim" => Backend::Sim,
                    other => return Err(format!("unknown backend `{other}`")),
                })
            }
            "--layout" => parsed.layout = Some(value()?.into()),
            "--frames" => {
                let text = value()?;
                parsed.frames = text
                    .parse()
                    .map_err(|_| format!("--frames: `{text}` is not a number"))?;
            }
            "--report" => parsed.report = Some(value()?.into()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if parsed.validate && !matches!(parsed.backend, None | Some(Backend::Ash)) {
        return Err("--validate is for the ash backend".into());
    }
    if parsed.layout.is_some() {
        match parsed.backend {
            None => parsed.backend = Some(Backend::Sim),
            Some(Backend::Sim) => {}
            Some(_) => return Err("--layout is for the simulated device (--backend sim)".into()),
        }
    }
    Ok(parsed)
}

/// What a run produced, with what the report needs to name the device.
struct Run {
    backend: &'static str,
    device: String,
    heap_kinds: Vec<String>,
    outcome: Outcome,
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

fn run_sim(layout_path: Option<&Path>, frames: u32) -> Result<Run, String> {
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
    let mut gpu = sim::SimGpu::new(layout);
    let props = gpu.device().properties();
    let ext = gpu.device().extended_properties();
    let heap_kinds = heap_kinds(&ext);
    let outcome = workload::run(&mut gpu, props, ext, frames);
    Ok(Run {
        backend: "sim",
        device,
        heap_kinds,
        outcome,
    })
}

fn run_vulkan(vulkan: &vulkan::Vulkan, frames: u32) -> Result<Run, String> {
    let device = format!("{} (Vulkan through ash)", vulkan.name);
    println!("device: {device}");
    let props = vulkan.properties.device_properties(false);
    let ext = vulkan.properties.extended.clone();
    let heap_kinds = heap_kinds(&ext);
    let mut gpu = vulkan.gpu()?;
    let outcome = workload::run(&mut gpu, props, ext, frames);
    Ok(Run {
        backend: "ash",
        device,
        heap_kinds,
        outcome,
    })
}

fn run_erupt(vulkan: &erupt::Erupt, frames: u32) -> Result<Run, String> {
    let device = format!("{} (Vulkan through erupt)", vulkan.name);
    println!("device: {device}");
    let props = vulkan.properties.device_properties();
    let ext = vulkan.properties.extended.clone();
    let heap_kinds = heap_kinds(&ext);
    let mut gpu = vulkan.gpu()?;
    let outcome = workload::run(&mut gpu, props, ext, frames);
    Ok(Run {
        backend: "erupt",
        device,
        heap_kinds,
        outcome,
    })
}

fn run_gfx(mut gpu: gfx::GfxGpu, frames: u32) -> Result<Run, String> {
    let device = format!("{} (Vulkan through gfx-hal)", gpu.name);
    println!("device: {device}");
    let props = gpu.properties.device_properties();
    let ext = gpu.properties.extended.clone();
    let heap_kinds = heap_kinds(&ext);
    let outcome = workload::run(&mut gpu, props, ext, frames);
    Ok(Run {
        backend: "gfx",
        device,
        heap_kinds,
        outcome,
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(why) => {
            if why.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("gpu-alloc-demo: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let layout = args.layout.as_deref();
    let run = match args.backend {
        Some(Backend::Sim) => run_sim(layout, args.frames),
        Some(Backend::Gfx) => match gfx::GfxGpu::open() {
            Ok(gpu) => run_gfx(gpu, args.frames),
            Err(err) => Err(err.to_string()),
        },
        Some(Backend::Erupt) => match erupt::Erupt::open() {
            Ok(vulkan) => run_erupt(&vulkan, args.frames),
            Err(err) => Err(err.to_string()),
        },
        Some(Backend::Ash) => match vulkan::Vulkan::open(args.validate) {
            Ok(vulkan) => run_vulkan(&vulkan, args.frames),
            Err(err) => Err(err.to_string()),
        },
        None => match vulkan::Vulkan::open(args.validate) {
            Ok(vulkan) => run_vulkan(&vulkan, args.frames),
            Err(vulkan::OpenError::NoDriver(why)) => {
                println!(
                    "no Vulkan driver found ({why}): running on the simulated device \
                     (tests/devices/{DEFAULT_LAYOUT})"
                );
                run_sim(layout, args.frames)
            }
            Err(vulkan::OpenError::Failed(why)) => Err(format!("Vulkan: {why}")),
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
    println!(
        "done in {:.2} s: {} frames, {} assets loaded with the level, {} streamed in, {} out; \
         {} uploads, {} readbacks verified ({}); peak {} in {} memory objects",
        outcome.seconds,
        c.frames,
        c.level_assets,
        c.streamed_in,
        c.streamed_out,
        c.uploads,
        c.readbacks,
        report::Bytes(c.bytes_verified),
        report::Bytes(c.peak_reserved),
        c.peak_objects,
    );
    if !c.budget_read {
        println!("(the device reports no memory budget)");
    }
    println!("\nat the end of the last frame:\n");
    print!("{}", report::heap_table(&outcome.stats, &run.heap_kinds));
    let mut failures = outcome.failures.clone();
    if let Some(dir) = &args.report {
        match report::write_files(dir, run.backend, &run.device, outcome) {
            Ok(()) => println!(
                "\nwrote {} and {}",
                dir.join("memory-map.svg").display(),
                dir.join("stats.json").display()
            ),
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
