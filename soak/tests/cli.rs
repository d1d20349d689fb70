//! The command lines of `gpu-alloc-soak` and `gpu-alloc-threads`: `--help` prints
//! the usage and succeeds; a bad command line gets one `error:` line on stderr
//! and exit code 2, before any device is opened; each option of the threads
//! measurement keeps its meaning.

use {
    gpu_alloc_tests::kit::cli::check::{bad_command_lines_exit_2, help_prints_usage},
    std::process::{Command, Output},
};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("run the binary")
}

const SOAK: &str = env!("CARGO_BIN_EXE_gpu-alloc-soak");
const THREADS: &str = env!("CARGO_BIN_EXE_gpu-alloc-threads");

#[test]
fn soak_help() {
    help_prints_usage(
        SOAK,
        "gpu-alloc-soak",
        &[
            "--ops",
            "--batch",
            "--report",
            "--seed",
            "--max-rss-growth-kib",
            "--provoke-validation",
        ],
    );
}

#[test]
fn soak_bad_command_lines() {
    bad_command_lines_exit_2(
        SOAK,
        "gpu-alloc-soak",
        &[
            &["--frobnicate"],
            &["--ops"],
            &["--ops", "--seed", "2"],
            &["--ops", "many"],
            &["--batch=-1"],
            &["--provoke-validation=yes"],
            &["1000"],
        ],
    );
}

#[test]
fn threads_help() {
    help_prints_usage(
        THREADS,
        "gpu-alloc-threads",
        &["--secs", "--threads", "--hold"],
    );
}

#[test]
fn threads_bad_command_lines() {
    bad_command_lines_exit_2(
        THREADS,
        "gpu-alloc-threads",
        &[
            &["--frobnicate"],
            &["--secs"],
            &["--secs", "--hold", "2"],
            &["--secs", "soon"],
            &["--secs=-1"],
            &["--threads", "1,x"],
            &["--threads", "1,0"],
            &["--threads", ""],
            &["--hold", "1.5"],
        ],
    );
}

/// The options run what they say: `--secs 0 --threads 1,3 --hold 2` is two rows
/// (1 and 3 threads), no time per row and 2 blocks per thread.
#[test]
fn threads_options_take_effect() {
    let out = run(THREADS, &["--secs", "0", "--threads", "1,3", "--hold=2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(" 0 s per run, 2 blocks held per thread"),
        "{stdout}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(rows, ["1", "3"], "{stdout}");
}
