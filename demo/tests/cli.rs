//! The demo's command line: `--help` prints the usage and succeeds; a bad
//! command line gets one `error:` line on stderr and exit code 2, before any
//! device is opened.

use std::process::{Command, Output};

fn demo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpu-alloc-demo"))
        .args(args)
        .output()
        .expect("run the demo")
}

#[test]
fn help_prints_usage() {
    for flag in ["--help", "-h"] {
        let out = demo(&[flag]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{flag}: {stdout}");
        assert!(
            stdout.starts_with("usage: gpu-alloc-demo "),
            "{flag}: {stdout}"
        );
        for option in [
            "--backend",
            "--layout",
            "--frames",
            "--report",
            "--validate",
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
    ] {
        let out = demo(args);
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
