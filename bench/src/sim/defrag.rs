//! Defragmentation on the churn traces (issue 18): each trace replayed on the
//! null device with every block movable, without passes and with a pass every
//! N operations, each pass's moves all done (the null device has no bytes to
//! copy). What a row says: the peak device bytes over the peak live bytes,
//! the device bytes over the live bytes at the end of the churn (before the
//! trace frees the rest),
//! the bytes moved per byte freed, and the CPU time of planning (the
//! `begin_defrag_pass` calls, timed one by one); then, at the end of the
//! churn, a full defragmentation (passes until one moves nothing) and the
//! device bytes over the live bytes after it. Rows with passes run with
//! compaction (`DefragOptions::compact`, the default) and without.

use {
    super::{
        config_ours, usage_ours, NullDevice, NullMemory, GIB, MAX_OBJECT, SIM_HEAPS, SIM_TYPES,
        SYNTHETIC,
    },
    crate::trace::{traces, Op, Scale, Trace},
    gpu_alloc::{DefragOptions, GpuAllocator, MemoryBlock, Request},
    std::{
        borrow::Cow,
        time::{Duration, Instant},
    },
};

/// Moves per pass: a frame's worth of copies for an engine.
const MOVES_PER_PASS: u32 = 256;

/// One trace replayed with passes every `every` operations (`None`: none).
struct Row {
    trace: String,
    every: Option<usize>,
    compact: bool,
    passes: u64,
    peak_ratio: f64,
    final_ratio: f64,
    bytes_moved: u64,
    bytes_freed: u64,
    objects_freed: u64,
    planning: Vec<Duration>,
    /// Device bytes over live bytes after a full defragmentation at the end
    /// of the churn, and its passes.
    full_ratio: f64,
    full_passes: u64,
    /// The same beside the free room of each pool's emptiest object.
    packed_ratio: f64,
}

/// The free bytes of each pool's emptiest memory object, added up: what a
/// pool holds beyond its blocks even when they are packed (objects come
/// whole), for the "beside the last objects" column.
fn last_rooms(alloc: &GpuAllocator<NullMemory<SYNTHETIC>>) -> u64 {
    let mut rooms: std::collections::BTreeMap<_, u64> = std::collections::BTreeMap::new();
    for object in &alloc.memory_map().objects {
        let free = object
            .ranges
            .iter()
            .filter(|r| !r.used)
            .map(|r| r.size)
            .sum::<u64>();
        let pool = (
            object.memory_type,
            format!("{:?}/{:?}", object.kind, object.resource),
            object.pool.clone(),
        );
        let room = rooms.entry(pool).or_default();
        *room = (*room).max(free);
    }
    rooms.values().sum()
}

type Slots = Vec<Option<(MemoryBlock<NullMemory<SYNTHETIC>>, u64)>>;

/// Runs one pass with every move done; returns its report.
fn pass(
    alloc: &mut GpuAllocator<NullMemory<SYNTHETIC>>,
    device: &NullDevice,
    slots: &mut Slots,
    options: &DefragOptions,
    planning: &mut Vec<Duration>,
) -> gpu_alloc::DefragReport {
    let start = Instant::now();
    let mut pass = alloc.begin_defrag_pass(options);
    planning.push(start.elapsed());
    for mv in pass.moves_mut() {
        let slot = mv.tag() as usize;
        let (old, size) = slots[slot].take().expect("a live movable block");
        let new = mv.done(old).expect("the move's own block");
        slots[slot] = Some((new, size));
    }
    // SAFETY: the allocator's device; the null device copies nothing.
    unsafe { alloc.end_defrag_pass(device, pass) }.expect("this allocator's")
}

fn run_one(trace: &Trace, every: Option<usize>, compact: bool) -> Row {
    let device = NullDevice::default();
    let props = sim_props!(gpu_alloc_types, false);
    let ext = gpu_alloc_types::ExtendedProperties::from_properties(&props, 1);
    let mut alloc: GpuAllocator<NullMemory<SYNTHETIC>> =
        GpuAllocator::with_extended_properties(config_ours(trace.family), props, ext);
    let mut slots: Slots = (0..trace.slots).map(|_| None).collect();
    let (mut live, mut peak_live) = (0u64, 0u64);
    let (mut final_device, mut final_live) = (None, 0u64);
    let mut row = Row {
        trace: trace.name.clone(),
        every,
        compact,
        passes: 0,
        peak_ratio: 0.0,
        final_ratio: 0.0,
        bytes_moved: 0,
        bytes_freed: 0,
        objects_freed: 0,
        planning: Vec::new(),
        full_ratio: f64::NAN,
        full_passes: 0,
        packed_ratio: f64::NAN,
    };
    let options = DefragOptions::new()
        .max_moves(MOVES_PER_PASS)
        .compact(compact);
    for (step, op) in trace.ops.iter().enumerate() {
        match *op {
            Op::Alloc(slot, req) => {
                let request = Request {
                    size: req.size,
                    align_mask: req.align - 1,
                    usage: usage_ours(req.usage),
                    memory_types: req.memory_types,
                };
                // SAFETY: `device` made the allocator's properties.
                let Ok(mut block) = (unsafe { alloc.try_alloc(&device, request) }) else {
                    continue;
                };
                // Dedicated blocks stay where they are.
                let _ = alloc.set_movable(&mut block, u64::from(slot), req.align - 1);
                live += req.size;
                peak_live = peak_live.max(live);
                slots[slot as usize] = Some((block, req.size));
            }
            Op::Free(slot) => {
                if let Some((block, size)) = slots[slot as usize].take() {
                    // SAFETY: the allocator's device; nothing uses the block.
                    unsafe { alloc.dealloc(&device, block) };
                    live -= size;
                }
            }
            Op::ChurnEnd => {
                // The end of the churn, before the trace frees what is left:
                // what a long-running program holds.
                final_device = Some(device.counters().live_bytes);
                final_live = live;
                // Then a full defragmentation, with compaction: what the
                // churn's live blocks need when they are packed.
                let full = DefragOptions::new().max_moves(MOVES_PER_PASS);
                let mut unused = Vec::new();
                loop {
                    let report = pass(&mut alloc, &device, &mut slots, &full, &mut unused);
                    if report.moved == 0 && report.objects_freed == 0 {
                        break;
                    }
                    row.full_passes += 1;
                }
                row.full_ratio = device.counters().live_bytes as f64 / live as f64;
                row.packed_ratio =
                    (device.counters().live_bytes - last_rooms(&alloc)) as f64 / live as f64;
            }
            Op::WarmupEnd | Op::ChurnStart => {}
        }
        if every.is_some_and(|n| (step + 1) % n == 0) {
            let report = pass(&mut alloc, &device, &mut slots, &options, &mut row.planning);
            row.passes += 1;
            row.bytes_moved += report.bytes_moved;
            row.bytes_freed += report.bytes_freed;
            row.objects_freed += report.objects_freed;
        }
    }
    let counters = device.counters();
    row.peak_ratio = counters.peak_bytes as f64 / peak_live.max(1) as f64;
    let final_device = final_device.unwrap_or(counters.live_bytes);
    if final_live == 0 {
        final_live = live;
    }
    // A trace that ends empty has no final ratio (NaN, printed as "-").
    row.final_ratio = final_device as f64 / final_live as f64;
    for (block, _) in slots.into_iter().flatten() {
        // SAFETY: as above.
        unsafe { alloc.dealloc(&device, block) };
    }
    // SAFETY: as above.
    unsafe { alloc.cleanup(&device) };
    row
}

/// Runs the churn traces (full size, or `--quick`) without passes and with a
/// pass every 10,000 and 1,000 operations, and prints the table of
/// `BENCHMARKS.md`.
pub(crate) fn main(quick: bool) -> i32 {
    let scale = Scale { quick, tiny: false };
    let churn: Vec<Trace> = traces(scale)
        .into_iter()
        .filter(|t| t.name.starts_with("churn") || t.name.starts_with("level"))
        .collect();
    println!(
        "| trace | pass every | compact | passes | peak device/live | final device/live | \
         MiB moved | MiB freed | moved per byte freed | objects freed | planning ms (all) | \
         µs per pass (median) | after full defrag | beside each pool's last object | \
         its passes |"
    );
    println!("|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for trace in &churn {
        let runs = [
            (None, true),
            (Some(10_000), true),
            (Some(10_000), false),
            (Some(1_000), true),
            (Some(1_000), false),
        ];
        for (every, compact) in runs {
            let row = run_one(trace, every, compact);
            let mut planning = row.planning.clone();
            planning.sort();
            let median = planning
                .get(planning.len() / 2)
                .copied()
                .unwrap_or_default();
            let total: Duration = planning.iter().sum();
            let mib = |bytes: u64| bytes as f64 / (1u64 << 20) as f64;
            let per_freed = if row.bytes_freed == 0 {
                "-".to_string()
            } else {
                format!("{:.2}", row.bytes_moved as f64 / row.bytes_freed as f64)
            };
            let ratio = |r: f64| {
                if r.is_finite() {
                    format!("{r:.2}")
                } else {
                    "-".to_string()
                }
            };
            println!(
                "| {} | {} | {} | {} | {:.2} | {} | {:.1} | {:.1} | {} | {} | {:.1} | {:.0} | {} | {} | {} |",
                row.trace,
                row.every.map_or("never".to_string(), |n| n.to_string()),
                if row.every.is_none() {
                    "-"
                } else if row.compact {
                    "on"
                } else {
                    "off"
                },
                row.passes,
                row.peak_ratio,
                ratio(row.final_ratio),
                mib(row.bytes_moved),
                mib(row.bytes_freed),
                per_freed,
                row.objects_freed,
                total.as_secs_f64() * 1e3,
                median.as_secs_f64() * 1e6,
                ratio(row.full_ratio),
                ratio(row.packed_ratio),
                row.full_passes,
            );
        }
    }
    0
}
