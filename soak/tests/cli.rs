//! The command lines of `gpu-alloc-soak` and `gpu-alloc-threads`: `--help` prints
//! the usage and succeeds; a bad command line gets one `error:` line on stderr
//! and exit code 2, before any device is opened; each option of the threads
//! measurement keeps its meaning.

use std::process::{Command, Output};

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .output()
        .expect("run the binary")
}

const SOAK: &str = env!("CARGO_BIN_EXE_gpu-alloc-soak");
const THREADS: &str = env!("CARGO_BIN_EXE_gpu-alloc-threads");

/// `--help` and `-h` print a usage naming every option, on stdout, and exit 0.
fn help_prints_usage(bin: &str, name: &str, options: &[&str]) {
    for flag in ["--help", "-h"] {
        let out = run(bin, &[flag]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name} {flag}: {stdout}");
        assert!(
            stdout.starts_with(&format!("usage: {name} ")),
            "{name} {flag}: {stdout}"
        );
        for option in options {
            assert!(
                stdout.contains(option),
                "{name} {flag}: the usage lacks {option}"
            );
        }
        assert!(out.stderr.is_empty(), "{name} {flag} wrote to stderr");
    }
}

/// Each of `bad` exits 2 with one `error:` line and nothing on stdout.
fn bad_command_lines_exit_2(bin: &str, name: &str, bad: &[&[&str]]) {
    for args in bad {
        let out = run(bin, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name} {args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name} {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{name} {args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{name} {args:?} ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

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
