//! The `traces` binary's command line: `--help` prints the usage and succeeds; a
//! bad command line gets one `error:` line on stderr and exit code 2, before any
//! trace runs.

use gpu_alloc_tests::kit::cli::check::{bad_command_lines_exit_2, help_prints_usage};

const BIN: &str = env!("CARGO_BIN_EXE_traces");

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
        ],
    );
}
