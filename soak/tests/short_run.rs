//! A short soak run (2 * 10^4 operations, about a second on lavapipe): the binary
//! must pass its own checks. Without a Vulkan driver the binary prints
//! `skipped: no Vulkan driver` and succeeds, and without the validation layer it
//! prints `skipped: no validation layer` and runs its other checks, unless
//! `GPU_ALLOC_REQUIRE_VULKAN=1` (then both fail).

use {
    gpu_alloc_tests::vulkan_gate::{no_validation_layer, no_vulkan},
    std::process::{Command, Output},
};

/// glibc's mmap threshold for the child: fixed, so that lavapipe's freed device
/// memory goes back to the system instead of staying in the heap, and the
/// drained resident memory the run checks is the process's own (`TESTING.md`).
/// Without it the short run's growth is 6 to 7 MiB of an 8 MiB limit.
const MMAP_THRESHOLD: &str = "131072";

/// Runs the soak binary with `args`, with the settings that make its resident
/// memory reproducible, and echoes its output.
fn soak(args: &[&str]) -> (Output, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gpu-alloc-soak"))
        .args(args)
        .env("MALLOC_MMAP_THRESHOLD_", MMAP_THRESHOLD)
        .output()
        .expect("run gpu-alloc-soak");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    print!("{stdout}");
    eprint!("{stderr}");
    (out, stdout, stderr)
}

#[test]
fn short_soak_passes() {
    let (out, stdout, _) = soak(&["--ops", "20000", "--report", "5000"]);
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
    let (out, stdout, stderr) = soak(&["--ops", "1000", "--provoke-validation"]);
    if stdout.contains("skipped: no Vulkan driver") {
        no_vulkan(
            "validation_messages_fail_the_run",
            &"gpu-alloc-soak skipped",
        );
        return;
    }
    assert!(
        !out.status.success(),
        "a validation error did not fail the run"
    );
    assert!(stdout.contains("FAIL"));
    if stdout.contains("validation layer ABSENT") {
        // The binary failed because it could not provoke anything.
        no_validation_layer(
            "validation_messages_fail_the_run",
            &"gpu-alloc-soak said ABSENT",
        );
        return;
    }
    // It failed for the message provoked, not for something else.
    let count = stdout
        .lines()
        .find_map(|l| l.strip_prefix("validation messages: "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .expect("a `validation messages: N warnings/errors` line");
    assert!(count >= 1, "no validation message was recorded");
    assert!(
        stderr.contains("VUID-VkBufferCreateInfo-size-00912"),
        "the provoked message (VUID-VkBufferCreateInfo-size-00912) was not recorded"
    );
}
