//! Random programs of alloc / free / write / read / map / unmap / device write /
//! cleanup, run on every layout of `tests/devices` under both `Config` presets,
//! checked after every step by the shadow model that the fuzz driver uses too
//! (`gpu_alloc_tests::shadow`, whose module docs list every rule); the same
//! programs with injected `allocate_memory` and `map_memory` failures ("fault
//! runs"); and with heaps of a few MiB, a limit of a few memory objects and
//! budget readings ("tight runs"). `run.rs` turns a program into calls of the
//! model; `ops.rs` generates programs.
//!
//! After every step (also one that found no block to act on):
//! - the allocator's own `check_invariants`, and its heap usage and remaining
//!   object count against what is alive on the simulated device;
//! - the simulated device panics on any broken `MemoryDevice` rule;
//! - empty memory objects stay within the documented retention bound, and no
//!   heap grows past its budget.
//!
//! Fault runs: the device counts the failures it injects, and a request, map,
//! read or write may fail only when the device injected a failure during that
//! very call (or, for `OutOfDeviceMemory`, when the request may not fit in any
//! eligible heap beside the live blocks). Without an injected failure during the
//! call, a request is served from the best type, as in a clean run. Each fault
//! cell checks that its programs met injected failures of `allocate_memory` and
//! `map_memory`, both drawn by the rates and forced (the first of each call in
//! every program is), and that some reached the caller as errors. (With the
//! default 12 cases a cell misses none of these for any seed tried; with 4
//! cases, as under valgrind, the fixed seeds still meet them all.)
//!
//! For every new block: its memory type is in the request's mask and eligible for
//! the usage (host access => `HOST_VISIBLE`, the core's documented eligibility
//! rules), its properties are the type's, it is aligned to `align_mask`, lies
//! inside a live memory object of that type, overlaps no live block nor shares a
//! `bufferImageGranularity` page with one, is atom-aligned in non-coherent memory,
//! and a `Dedicated::Required` block is dedicated and shares its object with
//! nobody. Data written to a block reads back unchanged: the model keeps every
//! byte written to a block (a sparse record of written ranges) and checks a
//! written range on every read, and all of them before every free and at the
//! end. After freeing everything and `cleanup`, the device holds no memory object.
//!
//! The number of cases per matrix cell is `PROPTEST_CASES` (default 40 for the
//! clean runs, 12 for the fault runs); each test prints how many operations it ran
//! (`cargo test -- --nocapture`). `GPU_ALLOC_TEST_SEED` changes the seeds, which are
//! otherwise fixed so that runs are reproducible.

mod ops;
mod run;

use {
    crate::{
        ops::{program_strategy, Mode},
        run::run_program,
    },
    gpu_alloc_tests::{
        harness::{Harness, Preset},
        shadow::{Counts, Injected},
        sim::Layout,
    },
    proptest::test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner},
    std::sync::atomic::{AtomicU64, Ordering},
};

/// Cases per matrix cell without `PROPTEST_CASES`, clean runs.
const DEFAULT_CASES: u32 = 40;
/// Cases per matrix cell without `PROPTEST_CASES`, fault runs.
const DEFAULT_FAULT_CASES: u32 = 12;
/// Exotic property bits a program may allow (AMD device-coherent and uncached).
pub(crate) const AMD_BITS: u32 = 0xC0;

/// Operations run by every test of this binary, for the summary lines.
static TOTAL_OPS: AtomicU64 = AtomicU64::new(0);

fn cases(mode: Mode) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if mode != Mode::Clean {
            DEFAULT_FAULT_CASES
        } else {
            DEFAULT_CASES
        })
}

/// A fixed seed per test (FNV-1a of its name), changed by `GPU_ALLOC_TEST_SEED`.
fn seed(name: &str) -> [u8; 32] {
    let extra: u64 = std::env::var("GPU_ALLOC_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ extra;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&hash.rotate_left(i as u32 * 16).to_le_bytes());
    }
    seed
}

/// Runs the random programs of one matrix cell.
fn run_cell(layout_name: &str, preset: Preset, mode: Mode) {
    let layout = Layout::named(layout_name);
    let name = format!("{layout_name}/{preset:?}/{mode:?}");
    let config = RunnerConfig {
        cases: cases(mode),
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed(&name));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let counts = std::cell::RefCell::new(Counts::default());
    // Programs that met no injected `allocate_memory` / `map_memory` failure.
    let unhit = std::cell::RefCell::new((0u32, 0u32));
    let result = runner.run(&program_strategy(mode), |program| {
        let c = run_program(&layout, preset, mode, &program);
        let mut counts = counts.borrow_mut();
        counts.ops += c.ops;
        counts.served += c.served;
        counts.refused += c.refused;
        counts.refused_by_faults += c.refused_by_faults;
        counts.peak_objects = counts.peak_objects.max(c.peak_objects);
        counts.injected.allocs += c.injected.allocs;
        counts.injected.maps += c.injected.maps;
        counts.by_rate.allocs += c.by_rate.allocs;
        counts.by_rate.maps += c.by_rate.maps;
        let mut unhit = unhit.borrow_mut();
        unhit.0 += u32::from(c.injected.allocs == 0);
        unhit.1 += u32::from(c.injected.maps == 0);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    let counts = counts.into_inner();
    let total = TOTAL_OPS.fetch_add(counts.ops, Ordering::Relaxed) + counts.ops;
    println!(
        "{name}: {} random operations ({} allocations served, {} refused, at most {} memory \
         objects; this binary so far: {total})",
        counts.ops, counts.served, counts.refused, counts.peak_objects
    );
    assert!(counts.served > 0, "{name}: no allocation succeeded");
    if mode == Mode::Faults {
        let (injected, by_rate) = (counts.injected, counts.by_rate);
        let (no_alloc, no_map) = unhit.into_inner();
        println!(
            "{name}: injected failures: {} allocate_memory ({} by the rate), {} map_memory \
             ({} by the rate); {} requests refused for them; programs without an injected \
             allocate / map failure: {no_alloc} / {no_map} of {}",
            injected.allocs,
            by_rate.allocs,
            injected.maps,
            by_rate.maps,
            counts.refused_by_faults,
            cases(mode)
        );
        // Each way of injecting a failure worked, and failures reached the caller:
        // a fault run that injected nothing would check nothing a clean run does not.
        assert!(
            by_rate.allocs > 0,
            "{name}: no injected allocate_memory failure drawn by the fault rate"
        );
        assert!(
            by_rate.maps > 0,
            "{name}: no injected map_memory failure drawn by the fault rate"
        );
        assert!(
            injected.allocs > by_rate.allocs,
            "{name}: no forced (fail-next) allocate_memory failure"
        );
        assert!(
            injected.maps > by_rate.maps,
            "{name}: no forced (fail-next) map_memory failure"
        );
        assert!(
            counts.refused_by_faults > 0,
            "{name}: no request refused because of an injected failure"
        );
    } else {
        assert_eq!(
            counts.injected,
            Injected::default(),
            "{name}: failures injected outside a fault run"
        );
    }
}

macro_rules! matrix {
    ($($module:ident => $layout:literal),* $(,)?) => {
        /// Every layout of the matrix, to check it against `tests/devices`.
        const MATRIX: &[&str] = &[$($layout),*];
        $(
            mod $module {
                use super::*;
                #[test]
                fn potato() {
                    run_cell($layout, Preset::Potato, Mode::Clean);
                }
                #[test]
                fn prototyping() {
                    run_cell($layout, Preset::Prototyping, Mode::Clean);
                }
                #[test]
                fn potato_faults() {
                    run_cell($layout, Preset::Potato, Mode::Faults);
                }
                #[test]
                fn prototyping_faults() {
                    run_cell($layout, Preset::Prototyping, Mode::Faults);
                }
                #[test]
                fn potato_tight() {
                    run_cell($layout, Preset::Potato, Mode::Tight);
                }
                #[test]
                fn prototyping_tight() {
                    run_cell($layout, Preset::Prototyping, Mode::Tight);
                }
            }
        )*
    };
}

matrix! {
    amd_renoir_apu_radv => "amd-renoir-apu-radv",
    amd_rx470_radv => "amd-rx470-radv",
    amd_rx6600_radv => "amd-rx6600-radv",
    amd_rx6600_windows => "amd-rx6600-windows",
    apple_m1_moltenvk => "apple-m1-moltenvk",
    apple_m3max_moltenvk => "apple-m3max-moltenvk",
    intel_adl_gt2_anv => "intel-adl-gt2-anv",
    intel_arc_b60_anv => "intel-arc-b60-anv",
    intel_tgl_gt2_anv => "intel-tgl-gt2-anv",
    lavapipe_llvm15 => "lavapipe-llvm15",
    llvmpipe_mesa23 => "llvmpipe-mesa23",
    nvidia_h200 => "nvidia-h200",
    nvidia_rtx2060super_windows => "nvidia-rtx2060super-windows",
    nvidia_rtx3060ti_linux => "nvidia-rtx3060ti-linux",
}

#[test]
fn matrix_covers_every_layout() {
    let names: Vec<String> = Layout::all().into_iter().map(|l| l.name).collect();
    assert_eq!(
        MATRIX, names,
        "add new layouts of tests/devices to the matrix"
    );
}

/// `check_invariants` counts every live block by kind: an import of a memory
/// type the device does not have is reported and left out of the accounting,
/// yet is a live block until freed, next to blocks of the allocator's own.
#[test]
fn unaccounted_import_is_a_live_block() {
    use gpu_alloc::{AllocationFlags, MemoryDevice, MemoryPropertyFlags, Request, UsageFlags};
    let mut harness = Harness::named("nvidia-h200", Preset::Potato);
    let types = harness.device.layout().memory_types.len() as u32;
    // Type 2: HOST_VISIBLE | HOST_COHERENT system memory.
    // SAFETY: a valid type and size of this device, far from every limit.
    let memory = unsafe {
        harness
            .device
            .allocate_memory(4096, 2, AllocationFlags::empty())
    }
    .expect("device allocation");
    let props = MemoryPropertyFlags::HOST_VISIBLE | MemoryPropertyFlags::HOST_COHERENT;
    // SAFETY: the memory comes from the harness's device with these properties,
    // the block spans the whole object and only the block owns it; the memory
    // type index is one past the last, which the allocator reports and leaves
    // unaccounted (it touches the memory only to free it).
    let imported = unsafe {
        harness
            .allocator
            .import_memory(memory, types, props, 0, 4096)
    };
    assert_eq!(harness.allocator.live_blocks(), 1);
    assert_eq!(harness.allocator.memory_objects(), 0, "accounted");
    harness.allocator.check_invariants();
    let request = Request {
        size: 256,
        align_mask: 0,
        usage: UsageFlags::UPLOAD,
        memory_types: u32::MAX,
    };
    let own = harness.try_alloc(request, None).expect("a small request");
    assert_eq!(harness.allocator.live_blocks(), 2);
    harness.dealloc(imported);
    assert_eq!(harness.allocator.live_blocks(), 1);
    harness.dealloc(own);
    harness.cleanup();
    assert_eq!(harness.allocator.live_blocks(), 0);
    harness.check_accounting();
    harness.device.assert_clean();
}
