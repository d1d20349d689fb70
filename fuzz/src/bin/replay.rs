//! Runs fuzz inputs without libFuzzer: `replay [TARGET] FILE_OR_DIR...` runs
//! every file (a directory: every file in it) through the driver of `TARGET`,
//! `alloc_ops` ([`gpu_alloc_fuzz::run`], the default when the first argument is
//! a path) or `virtual_ops` ([`gpu_alloc_fuzz::virtual_ops::run_virtual`]), and
//! prints the operations run. A failing input panics with the broken rule.

use std::path::{Path, PathBuf};

fn main() {
    let mut args: Vec<_> = std::env::args_os().skip(1).collect();
    let run: fn(&[u8]) -> u64 = match args.first().and_then(|a| a.to_str()) {
        Some("virtual_ops") => gpu_alloc_fuzz::virtual_ops::run_virtual,
        Some("alloc_ops") => gpu_alloc_fuzz::run,
        _ => {
            args.insert(0, "alloc_ops".into());
            gpu_alloc_fuzz::run
        }
    };
    let mut files: Vec<PathBuf> = Vec::new();
    for arg in &args[1..] {
        let path = Path::new(arg);
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .map(|entry| entry.expect("directory entry").path())
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(path.to_path_buf());
        }
    }
    // An empty corpus (or a mistyped path) would check nothing.
    assert!(!files.is_empty(), "no input to replay");
    let mut ops = 0u64;
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        ops += run(&data);
    }
    println!(
        "{}: {} inputs, {ops} operations, no rule broken",
        args[0].to_string_lossy(),
        files.len()
    );
}
