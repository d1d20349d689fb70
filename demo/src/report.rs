//! The per-heap table and the report files.

use {
    crate::workload::{
        pools::{Role, GEOMETRY, TEXTURES, UPLOADS},
        Outcome,
    },
    gpu_alloc::{AllocatorStats, PoolAlgorithm},
    gpu_alloc_tests::kit::Bytes,
    std::{
        fs,
        path::{Path, PathBuf},
    },
};

/// The per-heap table: objects, reserved, used, free, budget, fragmentation.
pub fn heap_table(stats: &AllocatorStats, heap_kinds: &[String]) -> String {
    let mut out = String::new();
    let header = format!(
        "{:<4} {:<12} {:>9} {:>7} {:>7} {:>10} {:>10} {:>10} {:>21} {:>6}",
        "heap",
        "kind",
        "size",
        "objects",
        "blocks",
        "reserved",
        "used",
        "free",
        "budget (in use)",
        "frag"
    );
    out.push_str(&header);
    out.push('\n');
    out.push_str(&"-".repeat(header.len()));
    out.push('\n');
    for heap in &stats.heaps {
        let budget = match heap.budget {
            Some(b) => format!("{} ({})", Bytes(b.budget), Bytes(b.usage)),
            None => "-".to_owned(),
        };
        let kind = heap_kinds
            .get(heap.heap as usize)
            .map_or("", String::as_str);
        out.push_str(&format!(
            "{:<4} {:<12} {:>9} {:>7} {:>7} {:>10} {:>10} {:>10} {:>21} {:>6.2}\n",
            heap.heap,
            kind,
            Bytes(heap.size).to_string(),
            heap.memory_objects,
            heap.blocks,
            Bytes(heap.reserved).to_string(),
            Bytes(heap.used).to_string(),
            Bytes(heap.free).to_string(),
            budget,
            heap.fragmentation,
        ));
    }
    out.push_str(&format!(
        "all  {:<12} {:>9} {:>7} {:>7} {:>10} {:>10} {:>10}\n",
        "",
        "",
        stats.memory_objects,
        stats.blocks,
        Bytes(stats.reserved).to_string(),
        Bytes(stats.used).to_string(),
        Bytes(stats.heaps.iter().map(|h| h.free).sum()).to_string(),
    ));
    out
}

/// The largest named blocks (five at most), one line each, or nothing.
pub fn named_blocks(stats: &AllocatorStats) -> String {
    let mut named: Vec<_> = stats.named_blocks.iter().collect();
    named.sort_by_key(|block| core::cmp::Reverse(block.size));
    let mut out = String::new();
    for block in named.iter().take(5) {
        if out.is_empty() {
            out.push_str("\nlargest named blocks:\n");
        }
        out.push_str(&format!(
            "  {:<28} {:>10}  heap {}, memory type {}{}\n",
            block.name,
            Bytes(block.size).to_string(),
            block.heap,
            block.memory_type,
            if block.dedicated { ", dedicated" } else { "" }
        ));
    }
    out
}

/// The pool a [`PoolStats`](gpu_alloc::PoolStats) name belongs to.
fn role_of(name: &str) -> Option<Role> {
    match name {
        GEOMETRY => Some(Role::Geometry),
        TEXTURES => Some(Role::Textures),
        _ if name.starts_with(UPLOADS) => Some(Role::Uploads),
        _ => None,
    }
}

/// The user pools at the end of the last frame, one line each: objects (now,
/// most allowed, most held over the run), bytes, blocks and what the pool
/// did (evictions, the ring's one object); then what destroying them found.
pub fn pool_table(outcome: &Outcome) -> String {
    let c = &outcome.counters;
    let header = format!(
        "{:<20} {:<9} {:>7} {:>6} {:>10} {:>10} {:>6}",
        "pool", "algorithm", "objects", "peak", "reserved", "used", "blocks"
    );
    let mut out = format!("{header}\n{}\n", "-".repeat(header.len()));
    let mut first_ring = true;
    for pool in &outcome.stats.pools {
        let name = pool.name.as_deref().unwrap_or("(unnamed)");
        let algorithm = match pool.algorithm {
            PoolAlgorithm::General => "general",
            PoolAlgorithm::Linear => "linear",
            PoolAlgorithm::Ring => "ring",
            _ => "other",
        };
        let max = pool.max_objects.map_or("-".to_owned(), |m| m.to_string());
        let role = role_of(name);
        let peak = role.map_or("-".to_owned(), |r| c.pool_peaks[r as usize].to_string());
        let note = match role {
            Some(Role::Textures) => format!(
                "  {} textures evicted for room (least recently used), {} loads deferred",
                c.texture_evictions, c.loads_deferred
            ),
            Some(Role::Uploads) if outcome.threads > 1 => {
                if first_ring {
                    format!(
                        "  memory objects over the run: {} (the most of any thread's ring; {} \
                         of staging went through the rings)",
                        c.pool_peaks[Role::Uploads as usize],
                        Bytes(c.staged_bytes),
                    )
                } else {
                    String::new()
                }
            }
            Some(Role::Uploads) => format!(
                "  memory objects over the run: {}, through which {} of staging went",
                c.pool_peaks[Role::Uploads as usize],
                Bytes(c.staged_bytes),
            ),
            _ => String::new(),
        };
        first_ring &= role != Some(Role::Uploads);
        out.push_str(&format!(
            "{name:<20} {algorithm:<9} {:>7} {peak:>6} {:>10} {:>10} {:>6}{note}
",
            format!("{}/{max}", pool.memory_objects),
            Bytes(pool.reserved).to_string(),
            Bytes(pool.used).to_string(),
            pool.blocks,
        ));
    }
    let live: u64 = outcome
        .pools_destroyed
        .iter()
        .map(|(_, d)| d.live_blocks)
        .sum();
    let freed: u32 = outcome
        .pools_destroyed
        .iter()
        .map(|(_, d)| d.objects_freed)
        .sum();
    out.push_str(&format!(
        "pools destroyed after the run: {}, {live} live blocks, {freed} memory objects freed\n",
        outcome.pools_destroyed.len()
    ));
    out
}

/// Writes `memory-map.svg` and `stats.json` into `dir` (created if needed)
/// and, with `--defrag`, `memory-map-before-defrag.svg` (at the end of the
/// last frame) and `memory-map-after-defrag.svg` (after the last pass, the
/// same map as `memory-map.svg`). Returns the files written.
pub fn write_files(
    dir: &Path,
    backend: &str,
    device: &str,
    outcome: &Outcome,
) -> Result<Vec<PathBuf>, String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let frames = outcome.counters.frames;
    let title = format!("gpu-alloc memory map: {device}, after {frames} frames of the demo");
    let mut svgs = vec![("memory-map.svg", title, &outcome.map)];
    if let Some(summary) = &outcome.defrag {
        svgs.push((
            "memory-map-before-defrag.svg",
            format!("gpu-alloc memory map: {device}, after {frames} frames, before the last defragmentation passes"),
            &summary.end_map,
        ));
        svgs.push((
            "memory-map-after-defrag.svg",
            format!("gpu-alloc memory map: {device}, after {frames} frames and the last defragmentation passes"),
            &outcome.map,
        ));
    }
    let mut written = Vec::new();
    for (name, title, map) in svgs {
        let svg = dir.join(name);
        fs::write(&svg, map.to_svg_with_title(&title))
            .map_err(|e| format!("writing {}: {e}", svg.display()))?;
        written.push(svg);
    }
    let c = &outcome.counters;
    let json = serde_json::json!({
        "backend": backend,
        "device": device,
        "frames": c.frames,
        "threads": outcome.threads,
        "seconds": outcome.seconds,
        "checks": {
            "uploads": c.uploads,
            "readbacks_verified": c.readbacks,
            "bytes_verified": c.bytes_verified,
            "failures": outcome.failures,
        },
        "workload": {
            "level_assets": c.level_assets,
            "streamed_in": c.streamed_in,
            "streamed_out": c.streamed_out,
            "freed_by_other_thread": c.freed_by_other_thread,
            "dedicated_for_resource": c.dedicated_for_resource,
            "dedicated_with_priority": c.dedicated_with_priority,
            "peak_reserved": c.peak_reserved,
            "peak_memory_objects": c.peak_objects,
        },
        "pools": {
            "texture_evictions": c.texture_evictions,
            "loads_deferred": c.loads_deferred,
            "staged_bytes": c.staged_bytes,
            "peak_memory_objects": {
                "level_geometry": c.pool_peaks[Role::Geometry as usize],
                "streamed_textures": c.pool_peaks[Role::Textures as usize],
                "frame_uploads": c.pool_peaks[Role::Uploads as usize],
            },
            "destroyed": outcome.pools_destroyed.iter().map(|(name, d)| serde_json::json!({
                "name": name,
                "objects_freed": d.objects_freed,
                "objects_kept": d.objects_kept,
                "live_blocks": d.live_blocks,
            })).collect::<Vec<_>>(),
        },
        "defrag": outcome.defrag.as_ref().map(|summary| serde_json::json!({
            "answers": {
                "movable": c.answers.movable,
                "immovable": c.answers.immovable,
                "done": c.answers.done,
                "skipped": c.answers.skipped,
                "destroyed": c.answers.destroyed,
            },
            "first_pass_after_frame": summary.first.0,
            "before_first_pass": summary.first.1,
            "end_of_last_frame": summary.end,
        })),
        "stats": outcome.stats,
        // What memory-map.svg is drawn from: every memory object and its ranges.
        "memory_map": outcome.map,
    });
    let path = dir.join("stats.json");
    let text = serde_json::to_string_pretty(&json).map_err(|e| format!("stats.json: {e}"))?;
    fs::write(&path, text + "\n").map_err(|e| format!("writing {}: {e}", path.display()))?;
    written.push(path);
    Ok(written)
}
