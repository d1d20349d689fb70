//! `traces`: runs the benchmark of issue 5 (see BENCHMARKS.md).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(gpu_alloc_bench::main_with_args(&args));
}
