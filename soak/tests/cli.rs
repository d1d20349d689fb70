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
        &["--secs", "--threads", "--hold", "--types", "--json"],
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
            &["--types", "all"],
            &["--types"],
            &["--json"],
        ],
    );
}

/// The options run what they say: `--secs 0 --threads 1,3 --hold 2 --types
/// same` is the rows single (1 thread), mutex and shared for 1 and 3 threads,
/// and same-live (1 thread, 3 lanes), no time per row, 2 blocks per lane, the
/// same placement only; four target lines; `--json` writes every row.
#[test]
fn threads_options_take_effect() {
    let json = std::env::temp_dir().join(format!("gpu-alloc-threads-{}.json", std::process::id()));
    let json_arg = json.to_str().expect("a UTF-8 temporary path");
    let out = run(
        THREADS,
        &[
            "--secs",
            "0",
            "--threads",
            "1,3",
            "--hold=2",
            "--types",
            "same",
            "--json",
            json_arg,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains(" 0 s per run, 2 blocks held per thread"),
        "{stdout}"
    );
    let rows: Vec<(&str, &str, &str)> = stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let row = words.next()?;
            ["single", "mutex", "shared", "same-live"]
                .contains(&row)
                .then(|| (row, words.next().unwrap_or(""), words.next().unwrap_or("")))
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("single", "1", "1"),
            ("mutex", "1", "1"),
            ("shared", "1", "1"),
            ("mutex", "3", "3"),
            ("shared", "3", "3"),
            ("same-live", "1", "3"),
        ],
        "{stdout}"
    );
    assert!(stdout.contains("placement same: "), "{stdout}");
    assert!(!stdout.contains("placement different"), "{stdout}");
    let targets: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("target same: "))
        .collect();
    assert_eq!(targets.len(), 4, "{stdout}");
    for target in targets {
        assert!(
            target.contains(": PASS (") || target.contains(": FAIL ("),
            "{target}"
        );
    }
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    std::fs::remove_file(&json).ok();
    assert!(
        text.starts_with('{') && text.trim_end().ends_with('}'),
        "{text}"
    );
    assert_eq!(text.matches("\"row\": ").count(), 6, "{text}");
    assert_eq!(text.matches("\"target\": ").count(), 4, "{text}");
}
