//! Runs fuzz inputs without libFuzzer: `replay FILE_OR_DIR...` runs every file
//! (a directory: every file in it) through [`gpu_alloc_fuzz::run`] and prints the
//! operations run. A failing input panics with the broken rule.

use std::path::{Path, PathBuf};

fn main() {
    let mut files: Vec<PathBuf> = Vec::new();
    for arg in std::env::args_os().skip(1) {
        let path = Path::new(&arg);
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
        ops += gpu_alloc_fuzz::run(&data);
    }
    println!("{} inputs, {ops} operations, no rule broken", files.len());
}
