//! The command lines of the `traces` and `requirements` binaries: `--help`
//! prints the usage and succeeds; a bad command line gets one `error:` line on
//! stderr and exit code 2, before any trace runs or any driver is asked. And the
//! `requirements` probe on this machine's driver writes a fixture that reads
//! back.

use gpu_alloc_tests::kit::cli::check::{bad_command_lines_exit_2, help_prints_usage};

const BIN: &str = env!("CARGO_BIN_EXE_traces");
const PROBE: &str = env!("CARGO_BIN_EXE_requirements");

#[test]
fn help_prints_usage_and_succeeds() {
    help_prints_usage(
        BIN,
        "traces",
        &[
            "--quick",
            "--no-vulkan",
            "--only",
            "--skip",
            "--rows",
            "--limit",
            "--runs",
            "--requirements",
            "--svg",
            "--json",
        ],
    );
}

#[test]
fn bad_command_line_exits_2() {
    bad_command_lines_exit_2(
        BIN,
        "traces",
        &[
            &["--frobnicate"][..],
            &["--json"],
            &["--svg", "--json", "/nonexistent/x.json"],
            &["--runs", "many"],
            &["--limit", "soon"],
            &["--requirements"],
        ],
    );
}

/// A fixture that cannot be read stops the run with exit code 1 and says which
/// file, before any trace runs.
#[test]
fn bad_requirements_file_exits_1() {
    let out = std::process::Command::new(BIN)
        .args(["--no-vulkan", "--requirements", "/nonexistent/x.json"])
        .output()
        .expect("run traces");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: requirements fixture: /nonexistent/x.json"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn probe_help_prints_usage_and_succeeds() {
    help_prints_usage(PROBE, "requirements", &["--device", "--list", "--out"]);
}

#[test]
fn probe_bad_command_line_exits_2() {
    bad_command_lines_exit_2(
        PROBE,
        "requirements",
        &[
            &["--frobnicate"][..],
            &["--out"],
            &["--device", "first"],
            &["lavapipe.json"],
        ],
    );
}

/// The probe on this machine's first device writes a fixture that parses and
/// passes the fixture checks, with every resource of its list read or said to
/// be unsupported. Without a driver it says `skipped: no Vulkan driver`, which
/// fails under `GPU_ALLOC_REQUIRE_VULKAN=1`.
#[test]
fn probe_writes_a_fixture() {
    let dir = std::env::temp_dir().join(format!("gpu-alloc-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("probe.json");
    let out = std::process::Command::new(PROBE)
        .arg("--out")
        .arg(&path)
        .output()
        .expect("run requirements");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    if stdout.contains("skipped: no Vulkan driver") {
        // The gate fails the probe itself (exit code 101) when Vulkan is required.
        assert!(!gpu_alloc_tests::vulkan_gate::vulkan_required(), "{stdout}");
        return;
    }
    let written = gpu_alloc_bench::fixture::load(&path).expect("the probe's fixture loads");
    let _ = std::fs::remove_dir_all(&dir);
    let f = &written.fixture;
    assert!(stderr.contains("resources read"), "{stderr}");
    assert!(f
        .resources
        .iter()
        .any(|r| r.name == "staging buffer 256 MiB"));
    // The stored fixtures list the same resources (read or skipped); the one
    // of this very driver, if stored, holds exactly what the probe read now.
    let names = |f: &gpu_alloc_bench::fixture::Fixture| {
        let mut n: Vec<String> = f.resources.iter().map(|r| r.name.clone()).collect();
        n.extend(f.skipped.iter().map(|s| s.name.clone()));
        n.sort();
        n
    };
    let stored = gpu_alloc_bench::fixture::load_all(&[]).expect("the stored fixtures load");
    for s in &stored {
        assert_eq!(names(&s.fixture), names(f), "{}.json: another list", s.name);
        if (&s.fixture.device.name, &s.fixture.device.driver_info)
            == (&f.device.name, &f.device.driver_info)
        {
            assert_eq!(s.fixture.resources, f.resources, "{}.json is stale", s.name);
        }
    }
}
