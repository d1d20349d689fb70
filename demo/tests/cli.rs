//! The demo's command line: `--help` prints the usage and succeeds; a bad
//! command line gets one `error:` line on stderr and exit code 2, before any
//! device is opened.

use gpu_alloc_tests::kit::cli::check::{bad_command_lines_exit_2, help_prints_usage};

const BIN: &str = env!("CARGO_BIN_EXE_gpu-alloc-demo");

#[test]
fn help_prints_usage_and_succeeds() {
    help_prints_usage(
        BIN,
        "gpu-alloc-demo",
        &[
            "--backend",
            "--layout",
            "--frames",
            "--threads",
            "--report",
            "--validate",
        ],
    );
}

#[test]
fn bad_command_line_exits_2() {
    bad_command_lines_exit_2(
        BIN,
        "gpu-alloc-demo",
        &[
            &["--frobnicate"][..],
            &["stray"],
            &["--frames"],
            &["--frames", "many"],
            &["--frames", "--validate"],
            &["--frames=-1"],
            &["--backend", "vulkan"],
            &["--backend"],
            &["--report"],
            &["--layout", "--frames", "5"],
            &["--validate=yes"],
            &["--backend", "gfx", "--validate"],
            &["--backend", "ash", "--layout", "x.json"],
            &["--threads", "0"],
            &["--threads", "65"],
            &["--threads"],
            &["--backend", "gfx", "--threads", "2"],
        ],
    );
}
