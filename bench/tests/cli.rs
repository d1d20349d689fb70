//! The `traces` binary's command line: `--help` prints the usage and succeeds; a
//! bad command line gets one `error:` line on stderr and exit code 2, before any
//! trace runs.

use std::process::{Command, Output};

fn traces(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_traces"))
        .args(args)
        .output()
        .expect("run traces")
}

#[test]
fn help_prints_usage() {
    for flag in ["--help", "-h"] {
        let out = traces(&[flag]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}: {stdout}");
        assert!(stdout.starts_with("usage: traces "), "{flag}: {stdout}");
        for option in [
            "--quick",
            "--no-vulkan",
            "--only",
            "--skip",
            "--rows",
            "--limit",
            "--runs",
            "--svg",
            "--json",
        ] {
            assert!(stdout.contains(option), "{flag}: the usage lacks {option}");
        }
        assert!(out.stderr.is_empty(), "{flag} wrote to stderr");
    }
}

#[test]
fn bad_command_line_exits_2() {
    for args in [
        &["--frobnicate"][..],
        &["--json"],
        &["--svg", "--json", "/nonexistent/x.json"],
        &["--runs", "many"],
        &["--limit", "soon"],
    ] {
        let out = traces(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{args:?} ran: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
