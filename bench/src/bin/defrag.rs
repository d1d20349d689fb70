//! `defrag`: defragmentation passes on the churn traces (issue 18; see
//! BENCHMARKS.md). `--quick` for the short traces.

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    std::process::exit(gpu_alloc_bench::defrag_main(quick));
}
