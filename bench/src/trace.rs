//! The traces: fixed sequences of allocations and frees, generated once from a
//! seed and replayed unchanged against every allocator.

use gpu_alloc_tests::kit::Rng;

/// What a request's memory is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Usage {
    /// Device-local (render targets, vertex data).
    Device,
    /// Host-visible, written by the host (uploads).
    Upload,
    /// Host-visible, read by the host (readback).
    Download,
    /// `UPLOAD | TRANSIENT`: staging freed at the end of the frame.
    Staging,
}

/// One allocation request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Req {
    pub(crate) size: u64,
    /// A power of two.
    pub(crate) align: u64,
    pub(crate) usage: Usage,
}

/// One step of a trace. `Alloc` and `Free` name a slot; a slot holds at most one
/// live block.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Op {
    Alloc(u32, Req),
    Free(u32),
    /// Warm-up is over: device allocations from here on are counted separately.
    WarmupEnd,
    /// The steady-state part whose per-op time is the scaling measurement starts.
    ChurnStart,
    /// It ends.
    ChurnEnd,
}

/// Which target a trace is judged by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// Steady-state churn: the memory-overhead and no-device-allocation targets.
    Churn,
    /// Other traces: time only.
    Other,
    /// VMA's algorithm case on one 10,240,000-byte block.
    OneBlock,
}

/// A generated trace.
#[derive(Debug)]
pub(crate) struct Trace {
    pub(crate) name: String,
    pub(crate) family: Family,
    pub(crate) ops: Vec<Op>,
    pub(crate) slots: usize,
}

/// The size of the runs: the full benchmark or `--quick`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    pub(crate) quick: bool,
    /// Tiny counts for the smoke test.
    pub(crate) tiny: bool,
}

impl Scale {
    fn pick(&self, full: usize, quick: usize, tiny: usize) -> usize {
        if self.tiny {
            tiny
        } else if self.quick {
            quick
        } else {
            full
        }
    }

    /// The live counts of the scaling measurement.
    pub(crate) fn live_counts(&self) -> Vec<u64> {
        if self.tiny {
            vec![100, 1000]
        } else if self.quick {
            vec![1_000, 10_000, 100_000]
        } else {
            vec![1_000, 10_000, 100_000, 1_000_000]
        }
    }
}

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

fn mixed_usage(rng: &mut Rng) -> Usage {
    match rng.below(10) {
        0 | 1 => Usage::Upload,
        2 | 3 => Usage::Download,
        _ => Usage::Device,
    }
}

/// Steady-state churn: fill `live` slots, churn `2 * live` warm-up steps, then
/// `steps` measured steps (free a random slot, allocate into it), then free all.
fn churn(name: &str, seed: u64, live: usize, steps: usize, lo: u64, hi: u64) -> Trace {
    let mut rng = Rng::new(seed);
    let mut req = |rng: &mut Rng| Req {
        size: rng.log_uniform(lo, hi),
        align: rng.pow2(4, 16),
        usage: mixed_usage(rng),
    };
    let mut ops = Vec::with_capacity(2 * live + 4 * live + 2 * steps + 3);
    for s in 0..live {
        ops.push(Op::Alloc(s as u32, req(&mut rng)));
    }
    let step = |ops: &mut Vec<Op>, rng: &mut Rng, req: &mut dyn FnMut(&mut Rng) -> Req| {
        let s = rng.below(live as u64) as u32;
        ops.push(Op::Free(s));
        ops.push(Op::Alloc(s, req(rng)));
    };
    for _ in 0..2 * live {
        step(&mut ops, &mut rng, &mut req);
    }
    ops.push(Op::WarmupEnd);
    ops.push(Op::ChurnStart);
    for _ in 0..steps {
        step(&mut ops, &mut rng, &mut req);
    }
    ops.push(Op::ChurnEnd);
    for s in 0..live {
        ops.push(Op::Free(s as u32));
    }
    Trace {
        name: name.into(),
        family: Family::Churn,
        ops,
        slots: live,
    }
}

/// Per-frame staging: each frame allocates `per_frame` `UPLOAD | TRANSIENT` blocks
/// and frees them all at its end. The first tenth of the frames are warm-up.
fn staging(seed: u64, frames: usize, per_frame: usize) -> Trace {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::with_capacity(2 * frames * per_frame + 1);
    for f in 0..frames {
        if f == frames / 10 {
            ops.push(Op::WarmupEnd);
        }
        for s in 0..per_frame {
            let req = Req {
                size: rng.log_uniform(256, MIB),
                align: rng.pow2(4, 8),
                usage: Usage::Staging,
            };
            ops.push(Op::Alloc(s as u32, req));
        }
        for s in 0..per_frame {
            ops.push(Op::Free(s as u32));
        }
    }
    Trace {
        name: "frame staging".into(),
        family: Family::Other,
        ops,
        slots: per_frame,
    }
}

/// A random permutation of `0..n`.
fn shuffled(rng: &mut Rng, n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    v
}

/// Level load: `n` allocations, free half of them at random, load that half
/// again, free everything.
fn level(seed: u64, n: usize) -> Trace {
    let mut rng = Rng::new(seed);
    let req = |rng: &mut Rng| Req {
        size: rng.log_uniform(256, MIB),
        align: rng.pow2(4, 16),
        usage: if rng.below(5) == 0 {
            Usage::Upload
        } else {
            Usage::Device
        },
    };
    let mut ops = Vec::with_capacity(4 * n);
    for s in 0..n {
        ops.push(Op::Alloc(s as u32, req(&mut rng)));
    }
    let half = &shuffled(&mut rng, n)[..n / 2];
    for &s in half {
        ops.push(Op::Free(s));
    }
    for &s in half {
        ops.push(Op::Alloc(s, req(&mut rng)));
    }
    for s in shuffled(&mut rng, n) {
        ops.push(Op::Free(s));
    }
    Trace {
        name: "level load/reload".into(),
        family: Family::Other,
        ops,
        slots: n,
    }
}

/// `live` small device-local allocations (256 B to 4 KiB), then `steps` churn
/// steps at that live count, then free all in random order.
pub(crate) fn live_small(seed: u64, live: usize, steps: usize) -> Trace {
    let mut rng = Rng::new(seed);
    let req = |rng: &mut Rng| Req {
        size: rng.log_uniform(256, 4 * KIB),
        align: rng.pow2(4, 8),
        usage: Usage::Device,
    };
    let mut ops = Vec::with_capacity(2 * live + 2 * steps + 2);
    for s in 0..live {
        ops.push(Op::Alloc(s as u32, req(&mut rng)));
    }
    ops.push(Op::ChurnStart);
    for _ in 0..steps {
        let s = rng.below(live as u64) as u32;
        ops.push(Op::Free(s));
        ops.push(Op::Alloc(s, req(&mut rng)));
    }
    ops.push(Op::ChurnEnd);
    for s in shuffled(&mut rng, live) {
        ops.push(Op::Free(s));
    }
    Trace {
        name: format!("{live} live small"),
        family: Family::Other,
        ops,
        slots: live,
    }
}

/// How VMA's algorithm case frees its allocations.
#[derive(Clone, Copy, Debug)]
pub(crate) enum FreeOrder {
    Forward,
    Backward,
    Random,
}

/// The size of the one block of VMA's algorithm case.
pub(crate) const ONE_BLOCK: u64 = 10_240_000;

/// VMA's published algorithm case: 3,333 allocations of `32 + rand % 992` bytes
/// (alignment 1) in one 10,240,000-byte block, then free them in `order`;
/// repeated `reps` times so that the timings are not a handful of batches.
fn one_block(seed: u64, order: FreeOrder, reps: usize) -> Trace {
    const COUNT: usize = 3_333;
    let mut rng = Rng::new(seed);
    let mut ops = Vec::with_capacity(2 * COUNT * reps);
    for _ in 0..reps {
        for s in 0..COUNT {
            let req = Req {
                size: 32 + rng.below(992),
                align: 1,
                usage: Usage::Device,
            };
            ops.push(Op::Alloc(s as u32, req));
        }
        let order: Vec<u32> = match order {
            FreeOrder::Forward => (0..COUNT as u32).collect(),
            FreeOrder::Backward => (0..COUNT as u32).rev().collect(),
            FreeOrder::Random => shuffled(&mut rng, COUNT),
        };
        ops.extend(order.into_iter().map(Op::Free));
    }
    let name = match order {
        FreeOrder::Forward => "VMA case, free fwd",
        FreeOrder::Backward => "VMA case, free bwd",
        FreeOrder::Random => "VMA case, free rnd",
    };
    Trace {
        name: name.into(),
        family: Family::OneBlock,
        ops,
        slots: COUNT,
    }
}

/// Every trace but the scaling ones (made one at a time by [`live_small`]: they
/// are large).
pub(crate) fn traces(scale: Scale) -> Vec<Trace> {
    let s = |full, quick, tiny| scale.pick(full, quick, tiny);
    vec![
        churn(
            "churn small",
            1,
            s(20_000, 5_000, 200),
            s(200_000, 40_000, 500),
            256,
            256 * KIB,
        ),
        churn(
            "churn mixed",
            2,
            s(400, 200, 20),
            s(20_000, 5_000, 100),
            4 * KIB,
            16 * MIB,
        ),
        staging(3, s(2_000, 400, 20), s(64, 64, 8)),
        level(4, s(10_000, 2_000, 100)),
        one_block(5, FreeOrder::Forward, s(30, 6, 1)),
        one_block(6, FreeOrder::Backward, s(30, 6, 1)),
        one_block(7, FreeOrder::Random, s(30, 6, 1)),
    ]
}

/// Churn steps of each scaling trace.
pub(crate) fn live_steps(scale: Scale) -> usize {
    scale.pick(50_000, 20_000, 200)
}
