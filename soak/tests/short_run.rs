//! A short soak run (2 * 10^4 operations, about a second on lavapipe): the binary
//! must pass its own checks. Without a Vulkan driver the binary prints
//! `skipped: no Vulkan driver` and succeeds, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

use std::process::Command;

#[test]
fn short_soak_passes() {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-soak"))
        .args(["--ops", "20000", "--report", "5000"])
        .output()
        .expect("run gpu-alloc-soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(
        out.status.success(),
        "gpu-alloc-soak failed: {}",
        out.status
    );
    assert!(
        stdout.contains("PASS") || stdout.contains("skipped: no Vulkan driver"),
        "neither PASS nor skipped"
    );
}

#[test]
fn validation_messages_fail_the_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-soak"))
        .args(["--ops", "1000", "--provoke-validation"])
        .output()
        .expect("run gpu-alloc-soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if stdout.contains("skipped: no Vulkan driver") || stdout.contains("validation layer ABSENT") {
        return;
    }
    assert!(
        !out.status.success(),
        "a validation error did not fail the run"
    );
    assert!(stdout.contains("FAIL"));
}
