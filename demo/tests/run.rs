//! Runs the demo binary on the simulated device and checks its exit status and
//! report files.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A fresh directory under the target's temporary directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs the demo for 20 frames on the simulated device with `args`, writing
/// its report to `dir`: it passes every check, prints the last progress
/// line, and its `stats.json` records no failure and some verified readbacks.
/// Returns its output and `stats.json`.
fn sim_report(dir: &Path, args: &[&str]) -> (String, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-demo"))
        .args(["--backend", "sim", "--frames", "20"])
        .args(args)
        .arg("--report")
        .arg(dir)
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    assert!(
        stdout.contains("frame   20/20"),
        "no progress line: {stdout}"
    );
    let json = std::fs::read_to_string(dir.join("stats.json")).expect("stats.json");
    let stats: serde_json::Value = serde_json::from_str(&json).expect("stats.json parses");
    assert_eq!(
        stats["checks"]["failures"].as_array().map(Vec::len),
        Some(0)
    );
    assert!(stats["checks"]["readbacks_verified"].as_u64() > Some(0));
    (stdout, stats)
}

#[test]
fn sim_run_passes_and_writes_report() {
    let dir = temp_dir("demo-report");
    let (stdout, stats) = sim_report(&dir, &[]);
    assert!(
        stdout.lines().any(|l| l.starts_with("heap ")),
        "no table: {stdout}"
    );
    assert_eq!(stats["backend"], "sim");
    assert_eq!(stats["frames"], 20);
    // The statistics deserialise into the allocator's own type.
    let allocator: gpu_alloc::AllocatorStats =
        serde_json::from_value(stats["stats"].clone()).expect("AllocatorStats");
    assert_eq!(
        allocator.heaps.len(),
        3,
        "the RTX 3060 Ti layout has 3 heaps"
    );
    assert!(allocator.memory_objects > 0 && allocator.blocks > 0);

    let map: gpu_alloc::MemoryMap =
        serde_json::from_value(stats["memory_map"].clone()).expect("MemoryMap");
    assert_eq!(
        map.objects.len() + map.dedicated.len(),
        allocator.memory_objects as usize
    );
    // The picture is the map's.
    let title = "gpu-alloc memory map: NVIDIA GeForce RTX 3060 Ti (nvidia-rtx3060ti-linux, simulated), after 20 frames of the demo";
    let svg = std::fs::read_to_string(dir.join("memory-map.svg")).expect("memory-map.svg");
    assert_eq!(svg, map.to_svg_with_title(title));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches(r#"<g class="row""#).count(),
        allocator.memory_objects as usize,
        "one row per memory object"
    );
    // The pools: in the picture by name, in the report, destroyed clean.
    for name in ["level geometry", "streamed textures", "frame uploads"] {
        assert!(svg.contains(&format!("&quot;{name}&quot; · ")), "{name}");
        assert!(
            stdout.lines().any(|l| l.starts_with(name)),
            "{name}: {stdout}"
        );
    }
    assert!(
        stdout.contains("pools destroyed after the run: 3, 0 live blocks"),
        "{stdout}"
    );
    let pools = &stats["pools"];
    assert_eq!(pools["peak_memory_objects"]["frame_uploads"], 1, "{pools}");
    assert_eq!(pools["destroyed"].as_array().map(Vec::len), Some(3));
}

/// `--threads 4` on the simulated device: one `SharedGpuAllocator`, every
/// check passed, evicted assets freed by another thread, the report written.
#[test]
fn sim_run_on_threads_passes_and_writes_report() {
    let dir = temp_dir("demo-report-threads");
    let (stdout, stats) = sim_report(&dir, &["--threads", "4"]);
    assert!(stdout.contains("by 4 threads"), "{stdout}");
    let done = stdout
        .lines()
        .find(|l| l.starts_with("done in "))
        .expect("the summary line");
    assert!(done.contains(" on 4 threads: "), "{done}");
    assert_eq!(stats["threads"], 4);
    let workload = &stats["workload"];
    assert_eq!(workload["level_assets"], 168);
    assert!(
        workload["freed_by_other_thread"].as_u64() > Some(0),
        "{workload}"
    );
    assert_eq!(workload["freed_by_other_thread"], workload["streamed_out"]);
    let allocator: gpu_alloc::AllocatorStats =
        serde_json::from_value(stats["stats"].clone()).expect("AllocatorStats");
    let map: gpu_alloc::MemoryMap =
        serde_json::from_value(stats["memory_map"].clone()).expect("MemoryMap");
    assert_eq!(
        map.objects.len() + map.dedicated.len(),
        allocator.memory_objects as usize
    );
    let svg = std::fs::read_to_string(dir.join("memory-map.svg")).expect("memory-map.svg");
    assert_eq!(
        svg.matches(r#"<g class="row""#).count(),
        allocator.memory_objects as usize,
        "one row per memory object"
    );
}

#[test]
fn bad_arguments_fail() {
    let status = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-demo"))
        .args(["--frames", "many"])
        .output()
        .expect("run the demo")
        .status;
    assert_eq!(status.code(), Some(2));
    let status = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-demo"))
        .args(["--layout", "/nonexistent.json"])
        .output()
        .expect("run the demo")
        .status;
    assert_eq!(status.code(), Some(2));
}

#[test]
fn every_layout_passes() {
    let dir = PathBuf::from(gpu_alloc_tests::sim::DEVICES_DIR);
    let mut layouts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("devices dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    layouts.sort();
    // On one thread, and on three sharing one `SharedGpuAllocator`.
    for (layout, threads) in layouts.iter().flat_map(|l| [(l, "1"), (l, "3")]) {
        let output = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-demo"))
            .args(["--frames", "5", "--threads", threads, "--layout"])
            .arg(layout)
            .output()
            .expect("run the demo");
        assert!(
            output.status.success(),
            "{} on {threads} threads: {}\n{}",
            layout.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn vulkan_backends_pass() {
    // ash twice: plain, then with the validation layer (whose messages fail
    // the run), on one thread and on four (one `SharedGpuAllocator`, a
    // command pool per thread, the queue locked).
    for (backend, validate, threads) in [
        ("ash", false, "1"),
        ("ash", true, "1"),
        ("ash", true, "4"),
        ("erupt", false, "1"),
        ("erupt", false, "4"),
        ("gfx", false, "1"),
    ] {
        let dir = temp_dir(&format!("demo-report-{backend}-{validate}-{threads}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-demo"));
        command.args(["--backend", backend, "--frames", "20", "--threads", threads]);
        command.arg("--report").arg(&dir);
        if validate {
            command.arg("--validate");
        }
        let output = command.output().expect("run the demo");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if validate && output.status.code() == Some(2) && stderr.contains("is not installed") {
            // Fails here under GPU_ALLOC_REQUIRE_VULKAN=1.
            gpu_alloc_tests::vulkan_gate::no_validation_layer(
                "vulkan_backends_pass (ash --validate)",
                &stderr.trim(),
            );
            continue;
        }
        if output.status.code() == Some(2) && stderr.contains("no Vulkan driver") {
            gpu_alloc_tests::vulkan_gate::no_vulkan(
                &format!("vulkan_backends_pass ({backend})"),
                &stderr.trim(),
            );
            return;
        }
        assert!(
            output.status.success(),
            "{backend} on {threads} threads: demo failed ({}):\n{stdout}\n{stderr}",
            output.status
        );
        let json = std::fs::read_to_string(dir.join("stats.json")).expect("stats.json");
        let stats: serde_json::Value = serde_json::from_str(&json).expect("stats.json parses");
        assert_eq!(stats["backend"], backend);
        assert_eq!(stats["threads"].to_string(), threads);
        assert!(stats["checks"]["readbacks_verified"].as_u64() > Some(0));
    }
}
