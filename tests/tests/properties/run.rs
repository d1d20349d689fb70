//! Runs a generated program on the shared shadow model
//! (`gpu_alloc_tests::shadow`), which checks every step.

use {
    crate::{
        ops::{AllocOp, MaskChoice, Mode, Op, Program},
        AMD_BITS,
    },
    gpu_alloc::{HeapBudget, Request},
    gpu_alloc_tests::{
        harness::Preset,
        shadow::{BudgetPath, Counts, Entry, Model, Setup},
        sim::{Faults, Layout},
    },
    proptest::sample::Index,
};

/// Failure rates of `allocate_memory` and `map_memory` in fault runs. A program
/// makes fewer map calls than allocations (a map per new host-visible memory
/// object, and per access to a dedicated block), hence the higher map rate: most
/// programs then meet a map failure drawn by the rate too.
const ALLOC_FAULT_RATE: f64 = 0.15;
const MAP_FAULT_RATE: f64 = 0.25;

/// Runs one program; returns what it did.
pub(crate) fn run_program(
    layout: &Layout,
    preset: Preset,
    mode: Mode,
    program: &Program,
) -> Counts {
    let mut layout = layout.clone();
    layout.buffer_device_address = program.buffer_device_address;
    if mode == Mode::Tight {
        layout.max_memory_allocation_count = program.tight_count;
        for heap in &mut layout.memory_heaps {
            heap.size = heap.size.min(program.tight_heap_mib << 20);
            heap.budget = heap.budget.min(heap.size);
            heap.usage = 0;
        }
    }
    // Random failures, and a forced one of the first `allocate_memory` and the
    // first `map_memory`, so that every program that reaches the device meets
    // an injected failure of each.
    let faults = (mode == Mode::Faults).then(|| {
        let mut faults = Faults::with_rates(program.seed, ALLOC_FAULT_RATE, MAP_FAULT_RATE);
        faults.fail_next_allocs = 1;
        faults.fail_next_maps = 1;
        faults
    });
    let mut model = Model::new(Setup {
        layout,
        preset,
        allowed: if program.allow_amd { AMD_BITS } else { 0 },
        faults,
        tight: mode == Mode::Tight,
    });
    for op in &program.ops {
        apply(&mut model, op);
        model.end_step();
    }
    model.finish()
}

fn request(layout: &Layout, op: &AllocOp) -> Request {
    let types = layout.memory_types.len();
    let all = if types == 32 {
        u32::MAX
    } else {
        (1u32 << types) - 1
    };
    let memory_types = match op.mask {
        MaskChoice::All => u32::MAX,
        MaskChoice::Single(index) => 1 << index.index(types),
        MaskChoice::Random(bits) => bits & all,
        MaskChoice::Zero => 0,
    };
    Request {
        size: op.size,
        align_mask: (1u64 << op.align_log2) - 1,
        usage: op.usage,
        memory_types,
    }
}

/// The live block `index` picks, if any.
fn pick(model: &Model, index: &Index) -> Option<usize> {
    (model.live() > 0).then(|| index.index(model.live()))
}

/// An offset in block `i` that `at` picks.
fn offset(model: &Model, i: usize, at: &Index) -> u64 {
    at.index(model.block_size(i) as usize) as u64
}

fn apply(model: &mut Model, op: &Op) {
    match op {
        Op::Alloc(op) => {
            let entry = if op.legacy { Entry::Legacy } else { Entry::Try };
            model.alloc(request(model.layout(), op), op.dedicated, entry);
        }
        Op::Cleanup => model.cleanup(),
        Op::FailNext { allocs, maps } => model.fail_next(u32::from(*allocs), u32::from(*maps)),
        Op::Budget {
            heap,
            slack_kib,
            below,
        } => budget(model, heap, *slack_kib, *below),
        Op::Free(block)
        | Op::Map(block)
        | Op::Unmap(block)
        | Op::Write { block, .. }
        | Op::Read { block, .. }
        | Op::DeviceWrite { block, .. } => {
            if let Some(i) = pick(model, block) {
                on_block(model, i, op);
            }
        }
    }
}

/// An operation on live block `i`.
fn on_block(model: &mut Model, i: usize, op: &Op) {
    match op {
        Op::Free(_) => model.free(i),
        Op::Map(_) => model.map(i),
        Op::Unmap(_) => model.unmap(i),
        Op::Write { at, len, byte, .. } => {
            let at = offset(model, i, at);
            model.write(i, at, u64::from(*len), *byte);
        }
        // Any of the written ranges: the model takes `which` modulo their number.
        Op::Read { which, .. } => model.read(i, which.index(usize::MAX)),
        Op::DeviceWrite { at, len, byte, .. } => {
            let at = offset(model, i, at);
            model.device_write(i, at, u64::from(*len), *byte);
        }
        Op::Alloc(_) | Op::Cleanup | Op::FailNext { .. } | Op::Budget { .. } => {
            unreachable!("not an operation on a block: {op:?}")
        }
    }
}

/// The device reports a budget of heap `heap`'s current usage plus (or minus)
/// `slack_kib` KiB, the other heaps' budgets as before (their sizes at first),
/// and the allocator reads it with `update_budget`.
fn budget(model: &mut Model, heap: &Index, slack_kib: u32, below: bool) {
    let heaps = model.layout().memory_heaps.len();
    let heap = heap.index(heaps);
    let used = model.heap_usage(heap as u32);
    let slack = u64::from(slack_kib) << 10;
    let limit = if below {
        used.saturating_sub(slack)
    } else {
        used + slack
    };
    let readings = (0..heaps)
        .map(|h| HeapBudget {
            budget: if h == heap {
                limit
            } else {
                model
                    .budget(h)
                    .unwrap_or(model.layout().memory_heaps[h].size)
            },
            usage: 0,
        })
        .collect();
    model.set_budgets(readings, BudgetPath::Device);
}
