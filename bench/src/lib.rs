//! The trace benchmark of issue 5: the same allocation traces, in one process,
//! against this project's `gpu-alloc`, the published `gpu-alloc` 0.6.2,
//! `gpu-allocator` 0.28, VMA (through `vk-mem` 0.5, with the `vma` feature) and
//! `offset-allocator`. Run it with the `traces` binary; `BENCHMARKS.md` has the
//! commands and the results.
//!
//! Rows named `sim` run on a null device in this process (it counts device
//! allocations and bytes and stores nothing); rows named `vk` run on the first
//! Vulkan device (lavapipe here), whose `vkAllocateMemory`/`vkFreeMemory` are
//! counted through a wrapped dispatch table.
//!
//! The real-requirements traces (issue 14) replay level loads and streaming
//! drawn from what real drivers ask for typical renderer resources: the
//! [`fixture`]s of `bench/fixtures/requirements/`, written by the
//! `requirements` probe. They run on the simulated rows only.

pub mod fixture;
mod report;
mod sim;
mod trace;
mod vulkan;

use {
    gpu_alloc_tests::kit::cli::{self, lexopt, number, seconds, value, Command},
    std::time::{Duration, Instant},
    trace::{Op, Req, Scale, Trace},
};

/// What a device saw: memory objects allocated so far and bytes held.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DeviceCounters {
    /// Memory objects allocated since the allocator was made.
    pub(crate) allocations: u64,
    /// Memory objects freed since the allocator was made.
    pub(crate) frees: u64,
    /// Bytes of memory objects alive now.
    pub(crate) live_bytes: u64,
    /// Most bytes of memory objects alive at once.
    pub(crate) peak_bytes: u64,
}

/// One allocator under test, behind the same small interface.
pub(crate) trait BenchAlloc {
    /// A live allocation.
    type Block;
    /// Allocates, or returns `None` (the run is then stopped and reported).
    fn alloc(&mut self, req: &Req) -> Option<Self::Block>;
    /// Frees a block this allocator returned.
    fn free(&mut self, block: Self::Block);
    /// The device's counters.
    fn device(&self) -> DeviceCounters;
    /// Called once every block is freed (our `cleanup`).
    fn finish(&mut self) {}
}

/// Operations timed together: one `Instant` pair per batch keeps the clock's own
/// cost (~20 ns) out of per-op times of a few tens of ns.
const BATCH: usize = 32;

/// The measurements of one allocator on one trace.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) row: String,
    pub(crate) trace: String,
    /// Allocations and frees done.
    pub(crate) ops: u64,
    pub(crate) total_ns: f64,
    /// ns per op, one entry per batch.
    pub(crate) samples: Vec<f32>,
    /// The same for the batches between `ChurnStart` and `ChurnEnd`.
    pub(crate) churn_samples: Vec<f32>,
    pub(crate) device_allocs: u64,
    /// Device allocations from the end of warm-up to the end of the churn part.
    pub(crate) device_allocs_after_warmup: Option<u64>,
    /// Device frees over the same span.
    pub(crate) device_frees_after_warmup: Option<u64>,
    pub(crate) peak_device_bytes: u64,
    pub(crate) peak_live_bytes: u64,
    /// Device bytes still held after every block was freed and `finish` ran.
    pub(crate) retained_bytes: u64,
    /// Why the run stopped early, if it did.
    pub(crate) note: Option<String>,
}

/// With `--rows TEXT`: only the rows (allocators) whose name contains it run.
static ROWS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// With `--skip TEXT`: the traces whose name contains it do not run.
static SKIP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Whether the trace named `name` runs: it contains `only` and not `--skip`'s text.
fn selected(name: &str, only: &str) -> bool {
    name.contains(only) && !SKIP.get().is_some_and(|skip| name.contains(skip.as_str()))
}

/// The note of a row left out by `--rows`; such results are dropped.
const SKIPPED: &str = "skipped (--rows)";

/// Replays `trace` on `a`. The churn part stops early (and says so) past `limit`.
pub(crate) fn run<A: BenchAlloc>(
    row: &str,
    a: &mut A,
    trace: &Trace,
    limit: Duration,
) -> RunResult {
    if ROWS.get().is_some_and(|rows| !row.contains(rows.as_str())) {
        return RunResult {
            row: row.into(),
            trace: trace.name.clone(),
            ops: 0,
            total_ns: 0.0,
            samples: Vec::new(),
            churn_samples: Vec::new(),
            device_allocs: 0,
            device_allocs_after_warmup: None,
            device_frees_after_warmup: None,
            peak_device_bytes: 0,
            peak_live_bytes: 0,
            retained_bytes: 0,
            note: Some(SKIPPED.into()),
        };
    }
    let mut slots: Vec<Option<(A::Block, u64)>> = (0..trace.slots).map(|_| None).collect();
    let start_allocs = a.device().allocations;
    let (mut live, mut peak_live, mut ops) = (0u64, 0u64, 0u64);
    let (mut samples, mut churn_samples) = (Vec::new(), Vec::new());
    let (mut in_churn, mut skipping) = (false, false);
    // Device (allocations, frees) at warm-up's end, then their growth until the
    // churn part ends (or the trace ends, for traces without one).
    let mut warm: Option<DeviceCounters> = None;
    let mut steady: Option<(u64, u64)> = None;
    let mut note = None;
    let started = Instant::now();
    let mut total = Duration::ZERO;
    let mut n = 0usize;
    let mut t0 = Instant::now();
    let mut close = |n: &mut usize, t0: &Instant, in_churn: bool, total: &mut Duration| {
        if *n > 0 {
            let dt = t0.elapsed();
            *total += dt;
            let per_op = dt.as_nanos() as f32 / *n as f32;
            samples.push(per_op);
            if in_churn {
                churn_samples.push(per_op);
            }
            *n = 0;
        }
    };
    for op in &trace.ops {
        match *op {
            Op::Alloc(s, ref req) => {
                if skipping {
                    continue;
                }
                let Some(block) = a.alloc(req) else {
                    close(&mut n, &t0, in_churn, &mut total);
                    note = Some(format!(
                        "allocation of {} bytes failed; run stopped",
                        req.size
                    ));
                    break;
                };
                slots[s as usize] = Some((block, req.size));
                live += req.size;
                peak_live = peak_live.max(live);
                n += 1;
                ops += 1;
            }
            Op::Free(s) => {
                if skipping {
                    continue;
                }
                if let Some((block, size)) = slots[s as usize].take() {
                    a.free(block);
                    live -= size;
                    n += 1;
                    ops += 1;
                }
            }
            Op::WarmupEnd => {
                close(&mut n, &t0, in_churn, &mut total);
                warm = Some(a.device());
                t0 = Instant::now();
            }
            Op::ChurnStart => {
                close(&mut n, &t0, in_churn, &mut total);
                in_churn = true;
                t0 = Instant::now();
            }
            Op::ChurnEnd => {
                close(&mut n, &t0, in_churn, &mut total);
                in_churn = false;
                skipping = false;
                if let (Some(w), None) = (warm, steady) {
                    let d = a.device();
                    steady = Some((d.allocations - w.allocations, d.frees - w.frees));
                }
                t0 = Instant::now();
            }
        }
        if n == BATCH {
            close(&mut n, &t0, in_churn, &mut total);
            if in_churn && !skipping && started.elapsed() > limit {
                skipping = true;
                note = Some(format!("churn stopped after {:.0} s", limit.as_secs_f64()));
            }
            t0 = Instant::now();
        }
    }
    close(&mut n, &t0, in_churn, &mut total);
    // Free what a failed run left, untimed.
    for (block, _) in slots.iter_mut().filter_map(Option::take) {
        a.free(block);
    }
    let end = a.device();
    if let (Some(w), None) = (warm, steady) {
        steady = Some((end.allocations - w.allocations, end.frees - w.frees));
    }
    a.finish();
    RunResult {
        row: row.into(),
        trace: trace.name.clone(),
        ops,
        total_ns: total.as_nanos() as f64,
        samples,
        churn_samples,
        device_allocs: end.allocations - start_allocs,
        device_allocs_after_warmup: steady.map(|s| s.0),
        device_frees_after_warmup: steady.map(|s| s.1),
        peak_device_bytes: end.peak_bytes,
        peak_live_bytes: peak_live,
        retained_bytes: a.device().live_bytes,
        note,
    }
}

/// The `traces` binary's `--help`.
const USAGE: &str = "\
usage: traces [--quick] [--no-vulkan] [--only TRACE] [--skip TRACE] [--rows ROW] [--limit SECS] [--runs N] [--requirements FILE]... [--svg FILE] [--json FILE]
Runs every trace against every allocator and prints a table and
one PASS/FAIL line per target (see BENCHMARKS.md). The real-requirements
traces come from every JSON file of bench/fixtures/requirements/, or
from the files named by --requirements (repeatable). --only runs the
traces whose name contains TRACE, --skip leaves out those whose name
contains TRACE, --rows runs the allocators whose row name contains
ROW; --limit caps each row's churn part
(default 30 s, 10 s with --quick). The JSON file is rewritten after
every run, so a run cut short keeps what it measured. --runs N repeats
everything N times and reports, per trace and allocator, the run
with the middle median. -h, --help prints this.";

/// Reads the `traces` binary's arguments.
fn parse_args(mut parser: lexopt::Parser) -> Result<Command<report::Options>, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    let mut opts = report::Options::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("quick") => opts.quick = true,
            Long("no-vulkan") => opts.no_vulkan = true,
            Long("svg") => opts.svg = Some(value(&mut parser)?),
            Long("json") => opts.json = Some(value(&mut parser)?),
            Long("only") => opts.only = Some(value(&mut parser)?),
            Long("skip") => opts.skip = Some(value(&mut parser)?),
            Long("rows") => opts.rows = Some(value(&mut parser)?),
            Long("runs") => opts.runs = number(&mut parser, "--runs")?,
            Long("limit") => opts.limit = Some(seconds(&mut parser, "--limit")?),
            Long("requirements") => opts.requirements.push(value(&mut parser)?),
            Short('h') | Long("help") => return Ok(Command::Help),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Command::Run(opts))
}

/// The defragmentation benchmark (`defrag` binary): passes on the churn
/// traces, `--quick` for the short ones.
pub fn defrag_main(quick: bool) -> i32 {
    sim::defrag::main(quick)
}

/// Runs the benchmark with the command-line arguments of the `traces` binary
/// (without the program name) and returns the process exit code: 0, 1 when a
/// requirements fixture cannot be read or a file could not be written, 2 for a
/// bad command line (one `error:` line on stderr).
pub fn main_with_args<I>(args: I) -> i32
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    let opts = match cli::read(lexopt::Parser::from_args(args), USAGE, parse_args) {
        Ok(opts) => opts,
        Err(code) => return code.into(),
    };
    if let Some(skip) = &opts.skip {
        let _ = SKIP.set(skip.clone());
    }
    if let Some(rows) = &opts.rows {
        let _ = ROWS.set(rows.clone());
    }
    let scale = Scale {
        quick: opts.quick,
        tiny: false,
    };
    // Every fixture must give its traces (memory types the simulated device
    // can stand in for): a bad one stops the run before anything is measured.
    let tiny = Scale {
        quick: true,
        tiny: true,
    };
    let fixtures = fixture::load_all(&opts.requirements).and_then(|all| {
        all.iter()
            .try_for_each(|f| trace::real(f, tiny).map(drop))?;
        Ok(all)
    });
    let fixtures = match fixtures {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: requirements fixture: {e}");
            return 1;
        }
    };
    let only = opts.only.clone().unwrap_or_default();
    let limit = Duration::from_secs_f64(opts.limit.unwrap_or(if opts.quick { 10.0 } else { 30.0 }));
    let mut so_far = Vec::new();
    let mut runs = Vec::new();
    for run in 0..opts.runs.max(1) {
        if opts.runs > 1 {
            eprintln!("run {} of {}", run + 1, opts.runs);
        }
        let sources = Sources {
            vulkan: !opts.no_vulkan,
            fixtures: &fixtures,
        };
        runs.push(run_all(scale, sources, &only, limit, &mut |r| {
            report::progress(r);
            so_far.push(r.clone());
            if let Some(path) = &opts.json {
                let _ = std::fs::write(path, report::json(&so_far));
            }
        }));
    }
    let results = middle_runs(runs);
    if let Some(path) = &opts.json {
        let _ = std::fs::write(path, report::json(&results));
    }
    report::report(&opts, scale, &results)
}

/// For each (trace, allocator), the result of the run whose median is the middle
/// one of all runs (the lower middle for an even count), in the first run's order.
fn middle_runs(runs: Vec<Vec<RunResult>>) -> Vec<RunResult> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|r| {
            let mut same: Vec<&RunResult> = runs
                .iter()
                .filter_map(|run| run.iter().find(|x| x.trace == r.trace && x.row == r.row))
                .collect();
            same.sort_by(|a, b| a.median().total_cmp(&b.median()));
            same[(same.len() - 1) / 2].clone()
        })
        .collect()
}

/// What [`run_all`] runs on besides the simulated device.
#[derive(Clone, Copy)]
pub(crate) struct Sources<'a> {
    /// Whether to open Vulkan for the Vulkan rows.
    pub(crate) vulkan: bool,
    /// The drivers' requirements the real-requirements traces are drawn from.
    pub(crate) fixtures: &'a [fixture::Named],
}

/// Every trace against every row, the real-requirements traces first (on the
/// simulated rows only); `on_result` sees each result as it comes.
pub(crate) fn run_all(
    scale: Scale,
    sources: Sources<'_>,
    only: &str,
    limit: Duration,
    on_result: &mut dyn FnMut(&RunResult),
) -> Vec<RunResult> {
    let mut vk = if sources.vulkan {
        vulkan::Context::new()
    } else {
        Err("--no-vulkan given".into())
    };
    if let Err(why) = &vk {
        println!("Vulkan rows skipped: {why}");
    } else if let Ok(ctx) = &vk {
        println!("Vulkan rows on: {}", ctx.device_name());
    }
    let mut results = Vec::new();
    let mut one = |trace: &Trace, results: &mut Vec<RunResult>| {
        if !selected(&trace.name, only) {
            return;
        }
        let kept = |r: &RunResult| r.note.as_deref() != Some(SKIPPED);
        for r in sim::run_rows(trace, limit).into_iter().filter(kept) {
            on_result(&r);
            results.push(r);
        }
        if let (Ok(ctx), None) = (&mut vk, trace.real) {
            for r in ctx.run_rows(trace, limit).into_iter().filter(kept) {
                on_result(&r);
                results.push(r);
            }
        }
    };
    for named in sources.fixtures {
        match trace::real(named, scale) {
            Ok(traces) => {
                for trace in &traces {
                    one(trace, &mut results);
                }
            }
            Err(e) => println!("real-requirements traces skipped: {e}"),
        }
    }
    for trace in trace::traces(scale) {
        one(&trace, &mut results);
    }
    for live in scale.live_counts() {
        if !selected(&format!("{live} live small"), only) {
            continue;
        }
        let trace = trace::live_small(100 + live, live as usize, trace::live_steps(scale));
        one(&trace, &mut results);
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command<report::Options>, String> {
        parse_args(lexopt::Parser::from_args(args)).map_err(|e| e.to_string())
    }

    fn options(args: &[&str]) -> report::Options {
        match parse(args) {
            Ok(Command::Run(opts)) => opts,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    /// No arguments: every trace and row, full counts, one run, default limit.
    #[test]
    fn options_default() {
        let o = options(&[]);
        assert!(!o.quick && !o.no_vulkan);
        assert_eq!(
            (o.only, o.skip, o.rows, o.limit, o.runs, o.svg, o.json),
            (None, None, None, None, 0, None, None)
        );
        assert!(o.requirements.is_empty());
    }

    /// Every option keeps its name and meaning; values may follow `=`, and
    /// numbers may have `_` between digits.
    #[test]
    fn options_every_flag() {
        let o = options(&[
            "--quick",
            "--no-vulkan",
            "--only",
            "churn",
            "--skip=live",
            "--rows",
            "ours",
            "--limit",
            "2.5",
            "--runs",
            "1_0",
            "--svg",
            "a.svg",
            "--json=b.json",
            "--requirements",
            "x.json",
            "--requirements=y.json",
        ]);
        assert_eq!(o.requirements, ["x.json", "y.json"]);
        assert!(o.quick && o.no_vulkan);
        assert_eq!(o.only.as_deref(), Some("churn"));
        assert_eq!(o.skip.as_deref(), Some("live"));
        assert_eq!(o.rows.as_deref(), Some("ours"));
        assert_eq!(o.limit, Some(2.5));
        assert_eq!(o.runs, 10);
        assert_eq!(o.svg.as_deref(), Some("a.svg"));
        assert_eq!(o.json.as_deref(), Some("b.json"));
    }

    #[test]
    fn options_help() {
        for args in [&["-h"][..], &["--help"], &["--quick", "--help", "--bogus"]] {
            assert!(matches!(parse(args), Ok(Command::Help)), "{args:?}");
        }
    }

    /// A missing value (also when the next argument is an option: the old
    /// parser wrote the plot to a file named `--json`), a bad value, an unknown
    /// option and a stray argument are errors that name what is wrong.
    #[test]
    fn options_errors() {
        for (args, message) in [
            (
                &["--svg", "--json", "x"][..],
                "missing argument for option '--svg'",
            ),
            (&["--json"], "missing argument for option '--json'"),
            (&["--only"], "missing argument for option '--only'"),
            (&["--runs", "x"], r#"invalid value "x" for option '--runs'"#),
            (&["--runs", "-1"], "missing argument for option '--runs'"),
            (
                &["--limit=-1"],
                r#"invalid value "-1" for option '--limit'"#,
            ),
            (
                &["--limit", "inf"],
                r#"invalid value "inf" for option '--limit'"#,
            ),
            (
                &["--limit", "1e30"],
                r#"invalid value "1e30" for option '--limit'"#,
            ),
            (&["--frobnicate"], "invalid option '--frobnicate'"),
            (&["churn"], r#"unexpected argument "churn""#),
            (&["--quick=yes"], "unexpected argument for option '--quick'"),
        ] {
            match parse(args) {
                Err(e) => assert!(e.contains(message), "{args:?}: {e:?}"),
                Ok(c) => panic!("{args:?} accepted: {c:?}"),
            }
        }
    }

    /// Every trace, tiny, on the simulated rows and on the Vulkan rows: every row
    /// finishes, and ours returns every device allocation. The real-requirements
    /// traces of every fixture run first, on the simulated rows only, with and
    /// without hints. Without a Vulkan driver the Vulkan rows are skipped
    /// (`skipped: no Vulkan driver`), which fails the test under
    /// `GPU_ALLOC_REQUIRE_VULKAN=1`.
    #[test]
    fn smoke() {
        let scale = Scale {
            quick: true,
            tiny: true,
        };
        let vulkan = match vulkan::Context::new() {
            Ok(_) => true,
            Err(why) => {
                gpu_alloc_tests::vulkan_gate::no_vulkan("bench smoke (Vulkan rows)", &why);
                false
            }
        };
        let fixtures = fixture::load_all(&[]).expect("the fixtures load");
        let sources = Sources {
            vulkan,
            fixtures: &fixtures,
        };
        let results = run_all(scale, sources, "", Duration::from_secs(10), &mut |_| {});
        assert!(!results.is_empty());
        // The real-requirements traces come first, both rows, both variants.
        let mut expected = Vec::new();
        for f in &fixtures {
            for trace in [
                format!("real {}, hints", f.name),
                format!("real {}, no hints", f.name),
            ] {
                for row in [sim::OURS_SIM, sim::OLD_SIM] {
                    expected.push((trace.clone(), row));
                }
            }
        }
        let first: Vec<(String, &str)> = results
            .iter()
            .take(expected.len())
            .map(|r| (r.trace.clone(), r.row.as_str()))
            .collect();
        assert_eq!(first, expected);
        assert!(results[expected.len()..]
            .iter()
            .all(|r| !r.trace.starts_with("real ")));
        if vulkan {
            // The driver opened above: every trace but the real-requirements
            // ones has its Vulkan rows.
            let mut traces: Vec<&str> = results
                .iter()
                .map(|r| r.trace.as_str())
                .filter(|t| !t.starts_with("real "))
                .collect();
            traces.sort_unstable();
            traces.dedup();
            for trace in traces {
                for row in [vulkan::OURS_VK, vulkan::GPU_ALLOCATOR] {
                    assert!(
                        results.iter().any(|r| r.trace == trace && r.row == row),
                        "{trace}: no {row} row although a Vulkan driver is there"
                    );
                }
            }
        }
        for r in &results {
            assert!(r.note.is_none(), "{} on {}: {:?}", r.row, r.trace, r.note);
            assert!(r.ops > 0, "{} on {} did nothing", r.row, r.trace);
            if r.row.starts_with("gpu-alloc (ours)") {
                assert_eq!(r.retained_bytes, 0, "{} on {} kept memory", r.row, r.trace);
            }
        }
        let table = report::table(&results);
        assert!(table.contains("churn small"));
        let svg = report::svg(&results);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // A second run in the same process opens Vulkan again (`--runs`): the
        // counting wrappers must call the new device's entry points.
        let again = run_all(
            scale,
            sources,
            "VMA case",
            Duration::from_secs(10),
            &mut |_| {},
        );
        assert!(again.iter().all(|r| r.note.is_none() && r.ops > 0));
        assert_eq!(
            again.iter().any(|r| r.row == vulkan::OURS_VK),
            vulkan,
            "the second run did not open Vulkan again"
        );
    }
}
