//! `traces`: runs the benchmark of issue 5 (see BENCHMARKS.md).

fn main() {
    std::process::exit(gpu_alloc_bench::main_with_args(std::env::args_os().skip(1)));
}
