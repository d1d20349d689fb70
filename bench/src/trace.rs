//! The traces: fixed sequences of allocations and frees, generated once from a
//! seed and replayed unchanged against every allocator.

use {
    crate::fixture::{self, Fixture},
    gpu_alloc_tests::kit::Rng,
};

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

/// What a block is bound to (gpu-alloc's `ResourceKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// Not said.
    Unknown,
    /// A buffer or a linear image.
    Linear,
    /// An optimal-tiling image.
    Optimal,
}

/// The dedicated-memory hint of a request (gpu-alloc's `Dedicated`, or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hint {
    None,
    Preferred,
    Required,
}

/// One allocation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Req {
    pub(crate) size: u64,
    /// A power of two.
    pub(crate) align: u64,
    pub(crate) usage: Usage,
    /// The memory types allowed, as bits of the simulated device's types (the
    /// Vulkan rows use the device's buffer `memoryTypeBits` instead). `!0` but on
    /// the real-requirements traces.
    pub(crate) memory_types: u32,
    /// What the block is bound to: `Unknown` but on the real-requirements
    /// traces. The rows give it (and `dedicated`) to the allocator only where
    /// [`Real::hints`] is set.
    pub(crate) bound: Bound,
    /// The dedicated hint.
    pub(crate) dedicated: Hint,
}

impl Req {
    /// A request of the synthetic traces: any memory type, no kind, no hint.
    fn new(size: u64, align: u64, usage: Usage) -> Self {
        Req {
            size,
            align,
            usage,
            memory_types: !0,
            bound: Bound::Unknown,
            dedicated: Hint::None,
        }
    }
}

/// One step of a trace. `Alloc` and `Free` name a slot; a slot holds at most one
/// live block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
    /// For the real-requirements traces: how the simulated rows replay them.
    pub(crate) real: Option<Real>,
}

/// How the simulated rows replay a real-requirements trace (which the Vulkan
/// rows skip: its memory type bits are the simulated device's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Real {
    /// Whether the requests' resource kinds and dedicated hints are given (ours:
    /// `try_alloc_with_options`; 0.6.2: `alloc_with_dedicated` for hinted ones),
    /// or every request goes through plain `alloc`.
    pub(crate) hints: bool,
    /// The driver's `bufferImageGranularity`, which our allocator is made with.
    pub(crate) granularity: u64,
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
    let mut req = |rng: &mut Rng| {
        let size = rng.log_uniform(lo, hi);
        let align = rng.pow2(4, 16);
        Req::new(size, align, mixed_usage(rng))
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
        real: None,
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
            let size = rng.log_uniform(256, MIB);
            let req = Req::new(size, rng.pow2(4, 8), Usage::Staging);
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
        real: None,
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
    let req = |rng: &mut Rng| {
        let (size, align) = (rng.log_uniform(256, MIB), rng.pow2(4, 16));
        let usage = if rng.below(5) == 0 {
            Usage::Upload
        } else {
            Usage::Device
        };
        Req::new(size, align, usage)
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
        real: None,
    }
}

/// `live` small device-local allocations (256 B to 4 KiB), then `steps` churn
/// steps at that live count, then free all in random order.
pub(crate) fn live_small(seed: u64, live: usize, steps: usize) -> Trace {
    let mut rng = Rng::new(seed);
    let req = |rng: &mut Rng| {
        let size = rng.log_uniform(256, 4 * KIB);
        Req::new(size, rng.pow2(4, 8), Usage::Device)
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
        real: None,
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
            let req = Req::new(32 + rng.below(992), 1, Usage::Device);
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
        real: None,
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

/// Resources of a real-requirements level.
pub(crate) fn real_live(scale: Scale) -> usize {
    scale.pick(400, 400, 40)
}

/// Streaming steps after the level load.
pub(crate) fn real_steps(scale: Scale) -> usize {
    scale.pick(200_000, 20_000, 200)
}

/// The seed of every real-requirements trace: fixtures with the same list of
/// resources give the same sequence of resources, whatever the driver.
const REAL_SEED: u64 = 14;

/// The draw weight of a resource by its nominal size (`fixture::Resource::
/// nominal_size`, the same on every driver): each class is 4 times rarer per
/// resource than the one below, so that small resources are common and large
/// ones rare. (upper bound of the class, inclusive; weight)
pub(crate) const REAL_WEIGHTS: [(u64, u64); 5] = [
    (64 * KIB, 256),
    (MIB, 64),
    (16 * MIB, 16),
    (64 * MIB, 4),
    (u64::MAX, 1),
];

/// The weight of a resource of `nominal_size` bytes.
pub(crate) fn real_weight(nominal_size: u64) -> u64 {
    REAL_WEIGHTS
        .iter()
        .find(|&&(upper, _)| nominal_size <= upper)
        .map_or(1, |&(_, w)| w)
}

/// The request of one fixture resource: its size, alignment and usage; its
/// `memoryTypeBits` mapped onto the simulated device's types
/// ([`crate::sim::sim_memory_types`]); its kind and dedicated hint.
fn real_request(fixture: &Fixture, r: &fixture::Resource) -> Result<Req, String> {
    let driver_types: Vec<u32> = fixture.memory_types.iter().map(|t| t.flags).collect();
    let memory_types = crate::sim::sim_memory_types(&driver_types, r.memory_type_bits);
    let usage = match r.usage {
        fixture::Usage::Device => Usage::Device,
        fixture::Usage::Upload => Usage::Upload,
        fixture::Usage::Download => Usage::Download,
    };
    let host = usage != Usage::Device;
    if memory_types & crate::sim::sim_host_visible(host) == 0 {
        return Err(format!(
            "{}: memoryTypeBits {:#x} allows no simulated memory type for {usage:?}",
            r.name, r.memory_type_bits
        ));
    }
    Ok(Req {
        size: r.size,
        align: r.alignment,
        usage,
        memory_types,
        bound: match r.kind {
            fixture::Kind::Buffer | fixture::Kind::ImageLinear => Bound::Linear,
            fixture::Kind::ImageOptimal => Bound::Optimal,
        },
        dedicated: if r.requires_dedicated {
            Hint::Required
        } else if r.prefers_dedicated {
            Hint::Preferred
        } else {
            Hint::None
        },
    })
}

/// The real-requirements traces of one fixture (issue 14): a level load of
/// [`real_live`] resources, then [`real_steps`] streaming steps (free a random
/// live resource, create another in its place), then the level unloads (all
/// freed in random order). Resources are drawn from the fixture with
/// [`REAL_WEIGHTS`]. Two traces with the same requests: `real NAME, hints`
/// gives the kinds and dedicated hints, `real NAME, no hints` does not (and
/// neither name contains the other, so `--only` picks either).
pub(crate) fn real(named: &fixture::Named, scale: Scale) -> Result<[Trace; 2], String> {
    let fixture = &named.fixture;
    let reqs = fixture
        .resources
        .iter()
        .map(|r| real_request(fixture, r))
        .collect::<Result<Vec<Req>, String>>()
        .map_err(|e| format!("{}: {e}", named.name))?;
    // Cumulative weights: resource i is drawn for a value in
    // `cumulative[i - 1]..cumulative[i]`.
    let cumulative: Vec<u64> = fixture
        .resources
        .iter()
        .scan(0, |sum, r| {
            *sum += real_weight(r.nominal_size);
            Some(*sum)
        })
        .collect();
    let total = *cumulative.last().expect("a checked fixture has resources");
    let mut rng = Rng::new(REAL_SEED);
    let draw = |rng: &mut Rng| {
        let x = rng.below(total);
        reqs[cumulative.partition_point(|&c| c <= x)]
    };
    let (live, steps) = (real_live(scale), real_steps(scale));
    let mut ops = Vec::with_capacity(2 * live + 2 * steps + 3);
    for s in 0..live {
        ops.push(Op::Alloc(s as u32, draw(&mut rng)));
    }
    ops.push(Op::WarmupEnd);
    ops.push(Op::ChurnStart);
    for _ in 0..steps {
        let s = rng.below(live as u64) as u32;
        ops.push(Op::Free(s));
        ops.push(Op::Alloc(s, draw(&mut rng)));
    }
    ops.push(Op::ChurnEnd);
    for s in shuffled(&mut rng, live) {
        ops.push(Op::Free(s));
    }
    let trace = |name: String, hints: bool, ops: Vec<Op>| Trace {
        name,
        family: Family::Other,
        ops,
        slots: live,
        real: Some(Real {
            hints,
            granularity: fixture.device.buffer_image_granularity,
        }),
    };
    Ok([
        trace(format!("real {}, hints", named.name), true, ops.clone()),
        trace(format!("real {}, no hints", named.name), false, ops),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lavapipe() -> fixture::Named {
        let path = std::path::Path::new(fixture::DIR).join("lavapipe.json");
        fixture::load(&path).expect("lavapipe.json loads")
    }

    const QUICK: Scale = Scale {
        quick: true,
        tiny: false,
    };

    /// For each request in trace order, the first fixture resource whose request
    /// it is (resources with identical requirements, such as vertex and index
    /// buffers of one size, give identical requests).
    fn drawn<'a>(trace: &Trace, named: &'a fixture::Named) -> Vec<&'a str> {
        let fixture = &named.fixture;
        trace
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::Alloc(_, req) => Some(req),
                _ => None,
            })
            .map(|req| {
                let r = fixture
                    .resources
                    .iter()
                    .find(|r| real_request(fixture, r).as_ref() == Ok(req))
                    .expect("every request is a fixture resource's");
                r.name.as_str()
            })
            .collect()
    }

    /// The same fixture gives the same traces every time (fixed seed), the two
    /// variants have the same operations, and the first draws are the ones
    /// recorded here (a change to the trace is a decision, not an accident).
    #[test]
    fn real_is_deterministic() {
        let named = lavapipe();
        let [hints, plain] = real(&named, QUICK).expect("lavapipe's traces");
        let [again, _] = real(&named, QUICK).expect("lavapipe's traces");
        assert_eq!(hints.ops, again.ops);
        assert_eq!(hints.ops, plain.ops);
        assert_eq!(
            (hints.name.as_str(), plain.name.as_str()),
            ("real lavapipe, hints", "real lavapipe, no hints")
        );
        let real_of = |t: &Trace| t.real.expect("a real-requirements trace");
        assert_eq!(
            real_of(&hints),
            Real {
                hints: true,
                granularity: 64
            }
        );
        assert!(!real_of(&plain).hints);
        let first: Vec<(u64, Usage)> = hints
            .ops
            .iter()
            .take(6)
            .map(|op| match op {
                Op::Alloc(_, req) => (req.size, req.usage),
                other => panic!("{other:?} in the level load"),
            })
            .collect();
        assert_eq!(first, PINNED_FIRST_DRAWS);
    }

    /// The first requests of lavapipe's trace (seed [`REAL_SEED`]): a vertex,
    /// index or storage buffer of 1 MiB, a uniform or staging buffer of 256 B, a
    /// buffer of 4 KiB, a readback buffer of 256 B, ...
    const PINNED_FIRST_DRAWS: [(u64, Usage); 6] = [
        (MIB, Usage::Device),
        (256, Usage::Upload),
        (4 * KIB, Usage::Device),
        (256, Usage::Download),
        (256, Usage::Upload),
        (4 * KIB, Usage::Device),
    ];

    /// The shape: a level load of [`real_live`] resources, the streaming steps
    /// (free a live slot, allocate into it), the unload; every request carries
    /// a fixture resource's size, alignment, memory types (lavapipe's one type
    /// stands for all four simulated ones), kind and dedicated hint.
    #[test]
    fn real_shape() {
        let named = lavapipe();
        let [trace, _] = real(&named, QUICK).expect("lavapipe's traces");
        let (live, steps) = (real_live(QUICK), real_steps(QUICK));
        assert_eq!(trace.slots, live);
        assert_eq!(trace.ops.len(), 2 * live + 2 * steps + 3);
        assert_eq!(trace.ops[live], Op::WarmupEnd);
        assert_eq!(trace.ops[live + 1], Op::ChurnStart);
        assert_eq!(trace.ops[live + 2 + 2 * steps], Op::ChurnEnd);
        let mut slots = vec![false; live];
        for op in &trace.ops {
            match *op {
                Op::Alloc(s, req) => {
                    assert!(
                        !std::mem::replace(&mut slots[s as usize], true),
                        "slot {s} taken"
                    );
                    assert_eq!(req.memory_types, 0b1111);
                    assert!(req.align.is_power_of_two() && req.size > 0);
                    assert_ne!(req.bound, Bound::Unknown);
                }
                Op::Free(s) => assert!(std::mem::take(&mut slots[s as usize]), "slot {s} free"),
                _ => {}
            }
        }
        assert!(slots.iter().all(|&s| !s), "the level does not unload");
        assert_eq!(drawn(&trace, &named).len(), live + steps);
    }

    /// Over the full run's draws, each size class of [`REAL_WEIGHTS`] is drawn
    /// as often as its weights say, within 1% of all draws.
    #[test]
    fn real_follows_weights() {
        let named = lavapipe();
        let full = Scale {
            quick: false,
            tiny: false,
        };
        let [trace, _] = real(&named, full).expect("lavapipe's traces");
        let class = |nominal: u64| REAL_WEIGHTS.iter().position(|&(upper, _)| nominal <= upper);
        let mut expected = [0f64; 5];
        for r in &named.fixture.resources {
            expected[class(r.nominal_size).expect("a class")] += real_weight(r.nominal_size) as f64;
        }
        let total: f64 = expected.iter().sum();
        let names = drawn(&trace, &named);
        let mut seen = [0f64; 5];
        for name in &names {
            let r = named
                .fixture
                .resources
                .iter()
                .find(|r| r.name == *name)
                .expect("drawn");
            seen[class(r.nominal_size).expect("a class")] += 1.0;
        }
        for c in 0..5 {
            let (want, got) = (expected[c] / total, seen[c] / names.len() as f64);
            assert!(
                (want - got).abs() < 0.01,
                "class {c}: {got:.4} drawn, {want:.4} expected"
            );
        }
        // Small ones common, large ones rare.
        assert!(seen[0] > seen[1] && seen[1] > seen[2] && seen[2] > seen[3] && seen[3] > seen[4]);
    }
}
