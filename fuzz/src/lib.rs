//! Fuzz drivers. [`virtual_ops`] is the `VirtualAllocator` target's; the rest
//! of this file is the `alloc_ops` target's.
//!
//! Fuzz driver: decodes an operation program from arbitrary bytes and runs it
//! against `GpuAllocator` on a simulated device through the shadow model that
//! the property tests use too (`gpu_alloc_tests::shadow`), which checks every
//! step.
//!
//! Input format (every read past the end yields zero bytes, so any input is a
//! valid program):
//!
//! - byte 0: layout index (modulo `Layout::all().len()`);
//! - byte 1: flags: bit 0 `i_am_potato` (else `i_am_prototyping`), bit 1
//!   `buffer_device_address`, bit 2 allow the AMD exotic property bits, bit 3
//!   tight heaps and object limit, bit 4 fault operations enabled;
//! - bytes 2..4 (tight only): object limit `1 + b % 16`, heap MiB `1 + b % 64`;
//! - then operations, one opcode byte each followed by its operands (`step`).
//!
//! What is checked is the shadow model's list (its module docs): after every
//! step `check_invariants`, heap usage and remaining object count against the
//! device, no `MemoryDevice` rule broken, the retention bound and the budgets;
//! every new block against its request, its memory object and every live block
//! (type, properties, alignment, atoms, overlap, `bufferImageGranularity` pages,
//! `Dedicated::Required`, the documented best type when nothing limits the
//! choice); every error exactly (the documented one for a request no type can
//! serve, else one with a cause: a failure injected during the call, tight
//! heaps, a budget, a heap that may be full beside live blocks); written data on
//! every read, free and at the end; everything freed and no memory object left
//! at the end.

#![forbid(unsafe_code)]

pub mod virtual_ops;

use {
    gpu_alloc::{Dedicated, HeapBudget, Request, ResourceKind, UsageFlags},
    gpu_alloc_tests::{
        harness::Preset,
        shadow::{BudgetPath, Entry, Model, Setup},
        sim::{Faults, Layout},
    },
    std::sync::OnceLock,
};

/// Exotic property bits a program may allow (AMD device-coherent and uncached).
const AMD_BITS: u32 = 0xC0;
/// At most this many live blocks (bounds the cost of one input).
const MAX_LIVE: usize = 64;
/// Blocks in larger memory objects are never mapped, written or read (the
/// simulated device backs a whole object with host memory on first map).
const MAX_TOUCHED_OBJECT: u64 = 64 << 20;
/// At most this many operations per input.
const MAX_OPS: u64 = 400;

fn layouts() -> &'static [Layout] {
    static LAYOUTS: OnceLock<Vec<Layout>> = OnceLock::new();
    LAYOUTS.get_or_init(Layout::all)
}

/// Reads the input front to back; zero once exhausted.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
}

fn kind(b: u8) -> ResourceKind {
    match b % 3 {
        0 => ResourceKind::Unknown,
        1 => ResourceKind::Linear,
        _ => ResourceKind::Optimal,
    }
}

/// The live block `b` picks, if any.
fn pick(model: &Model, b: u8) -> Option<usize> {
    (model.live() > 0).then(|| usize::from(b) % model.live())
}

/// The live block `b` picks, if its memory object is small enough to map.
fn pick_touchable(model: &Model, b: u8) -> Option<usize> {
    pick(model, b).filter(|&i| model.object_size(i) <= MAX_TOUCHED_OBJECT)
}

/// An offset in block `i` from an operand.
fn offset(model: &Model, i: usize, at: u16) -> u64 {
    u64::from(at) % model.block_size(i)
}

fn decode_request(layout: &Layout, input: &mut Input<'_>) -> Request {
    let size = match input.u8() % 16 {
        0..=6 => 1 + u64::from(input.u16()) % 4096,
        7..=9 => 1 + u64::from(input.u32()) % (1 << 20),
        10 => 1 + u64::from(input.u32()) % (64 << 20),
        11 => 0,
        12 => u64::MAX - u64::from(input.u8()),
        13 => {
            let heap = usize::from(input.u8()) % layout.memory_heaps.len();
            layout.memory_heaps[heap].size - 1 + u64::from(input.u8() % 3)
        }
        14 => layout.max_memory_allocation_size - 1 + u64::from(input.u8() % 3),
        _ => input.u64(),
    };
    let align_mask = match input.u8() % 16 {
        0..=11 => (1u64 << (input.u8() % 17)) - 1,
        12 => (1u64 << (input.u8() % 64)) - 1,
        13 => u64::MAX,
        14 => input.u64(),
        _ => 3u64 << (input.u8() % 60),
    };
    let usage = UsageFlags::from_bits_retain(input.u8());
    let types = layout.memory_types.len() as u32;
    let all = if types == 32 {
        u32::MAX
    } else {
        (1u32 << types) - 1
    };
    let memory_types = match input.u8() % 8 {
        0..=3 => u32::MAX,
        4 => all,
        5 => 1 << (u32::from(input.u8()) % types),
        6 => input.u32(),
        _ => 0,
    };
    Request {
        size,
        align_mask,
        usage,
        memory_types,
    }
}

/// An allocation through `alloc`, `try_alloc` or `try_alloc_with_options`.
fn alloc(model: &mut Model, input: &mut Input<'_>) {
    let request = decode_request(model.layout(), input);
    let options = input.u8();
    let dedicated = match options % 4 {
        0 | 1 => None,
        2 => Some(Dedicated::Preferred),
        _ => Some(Dedicated::Required),
    };
    let entry = match (options >> 4) % 4 {
        0 => Entry::Legacy,
        1 => Entry::Try,
        _ => Entry::Options(kind(options >> 2)),
    };
    if model.live() < MAX_LIVE {
        model.alloc(request, dedicated, entry);
    }
}

/// Flush or invalidate an arbitrary range: in the block, past it,
/// overflowing, empty.
fn flush_or_invalidate(model: &mut Model, input: &mut Input<'_>) {
    let (b, which) = (input.u8(), input.u8());
    let (offset, size) = match which % 4 {
        0 => (u64::from(input.u16()), u64::from(input.u16())),
        1 => (input.u64(), input.u64()),
        2 => (0, u64::MAX),
        _ => (u64::from(input.u16()), 0),
    };
    if let Some(i) = pick_touchable(model, b) {
        model.flush_or_invalidate(i, offset, size, which & 4 != 0);
    }
}

/// Budgets: an arbitrary reading through `set_heap_budgets`, or one through
/// the device and `update_budget`.
fn budgets(model: &mut Model, input: &mut Input<'_>) {
    let how = input.u8();
    let heaps = &model.layout().memory_heaps;
    let readings: Vec<HeapBudget> = heaps
        .iter()
        .map(|heap| {
            let budget = match input.u8() % 4 {
                0 => heap.size,
                1 => u64::from(input.u32()) << (input.u8() % 16),
                2 => input.u64(),
                _ => 0,
            };
            let usage = match input.u8() % 3 {
                0 => 0,
                1 => u64::from(input.u32()),
                _ => input.u64(),
            };
            HeapBudget { budget, usage }
        })
        .collect();
    let path = if how & 1 == 0 {
        BudgetPath::Allocator
    } else {
        BudgetPath::Device
    };
    model.set_budgets(readings, path);
}

/// Faults (fault programs only), foreign blocks.
fn misc(model: &mut Model, input: &mut Input<'_>, faults: bool) {
    match input.u8() % 4 {
        0 if faults => {
            let (a, m) = (input.u8(), input.u8());
            model.fail_next(u32::from(a % 4), u32::from(m % 4));
        }
        1 if faults => {
            let (a, m) = (input.u8(), input.u8());
            model.set_fault_rates(f64::from(a) / 512.0, f64::from(m) / 512.0);
        }
        2 => {
            let request = Request {
                size: 1 + u64::from(input.u16()),
                align_mask: 0,
                usage: UsageFlags::from_bits_retain(input.u8() & 0x1F),
                memory_types: u32::MAX,
            };
            model.offer_foreign(request);
        }
        3 => {
            if let Some(i) = pick(model, input.u8()) {
                model.offer_ours(i);
            }
        }
        _ => {}
    }
}

/// Decodes and runs one operation.
fn step(model: &mut Model, input: &mut Input<'_>, faults: bool) {
    match input.u8() % 16 {
        0..=3 => alloc(model, input),
        4 | 5 => {
            if let Some(i) = pick(model, input.u8()) {
                model.free(i);
            }
        }
        6 | 7 => {
            let (b, at, len, byte) = (input.u8(), input.u16(), input.u16(), input.u8());
            if let Some(i) = pick_touchable(model, b) {
                let at = offset(model, i, at);
                model.write(i, at, u64::from(len % 8192), byte);
            }
        }
        8 => {
            let b = input.u8();
            if let Some(i) = pick_touchable(model, b) {
                model.read(i, usize::from(b >> 4));
            }
        }
        9 => {
            // Map the whole block, or (odd operand) a range past its end.
            let (b, bad) = (input.u8(), input.u64());
            if let Some(i) = pick_touchable(model, b) {
                if b & 1 == 1 {
                    model.map_outside(i, bad % (model.block_size(i) + 2));
                } else {
                    model.map(i);
                }
            }
        }
        10 => {
            if let Some(i) = pick(model, input.u8()) {
                model.unmap(i);
            }
        }
        11 => flush_or_invalidate(model, input),
        12 => {
            // The device writes; the host must see it after an invalidate.
            let (b, at, len, byte) = (input.u8(), input.u16(), input.u16(), input.u8());
            if let Some(i) = pick_touchable(model, b) {
                let at = offset(model, i, at);
                model.device_write(i, at, u64::from(len % 4096), byte);
            }
        }
        13 => model.cleanup(),
        14 => budgets(model, input),
        _ => misc(model, input, faults),
    }
}

/// Runs one program decoded from `data`; returns the operations run.
pub fn run(data: &[u8]) -> u64 {
    let mut input = Input { data, pos: 0 };
    let layouts = layouts();
    let mut layout = layouts[usize::from(input.u8()) % layouts.len()].clone();
    let flags = input.u8();
    let preset = if flags & 1 != 0 {
        Preset::Potato
    } else {
        Preset::Prototyping
    };
    layout.buffer_device_address = flags & 2 != 0;
    let tight = flags & 8 != 0;
    let faults = flags & 16 != 0;
    if tight {
        layout.max_memory_allocation_count = 1 + u32::from(input.u8() % 16);
        let mib = 1 + u64::from(input.u8() % 64);
        for heap in &mut layout.memory_heaps {
            heap.size = heap.size.min(mib << 20);
            heap.budget = heap.budget.min(heap.size);
            heap.usage = 0;
        }
    }
    let mut model = Model::new(Setup {
        layout,
        preset,
        allowed: if flags & 4 != 0 { AMD_BITS } else { 0 },
        faults: faults.then(|| Faults::with_rates(u64::from(flags), 0.0, 0.0)),
        tight,
    });
    while !input.done() && model.ops() < MAX_OPS {
        step(&mut model, &mut input, faults);
        model.end_step();
    }
    model.finish().ops
}
