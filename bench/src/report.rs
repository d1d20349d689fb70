//! The table, the targets, the scaling plot and the JSON dump.

use {
    crate::{
        sim::{OFFSET, OLD_SIM, OURS_SIM},
        trace::Scale,
        vulkan::{GPU_ALLOCATOR, OURS_VK},
        RunResult,
    },
    gpu_alloc_tests::kit::mib,
    std::fmt::Write as _,
};

/// Command-line options.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) no_vulkan: bool,
    pub(crate) only: Option<String>,
    pub(crate) skip: Option<String>,
    pub(crate) rows: Option<String>,
    pub(crate) limit: Option<f64>,
    pub(crate) runs: usize,
    /// `--requirements FILE`, in order (none: every fixture of the folder).
    pub(crate) requirements: Vec<String>,
    pub(crate) svg: Option<String>,
    pub(crate) json: Option<String>,
}

/// The VMA row's name, also when the feature is off (then it has no results).
const VMA: &str = "VMA (vk-mem 0.5) vk";

fn percentile(samples: &[f32], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut v = samples.to_vec();
    v.sort_by(f32::total_cmp);
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    f64::from(v[i])
}

impl RunResult {
    /// ns per alloc+free, median over batches (twice the per-op time).
    pub(crate) fn median(&self) -> f64 {
        2.0 * percentile(&self.samples, 0.5)
    }
    fn p99(&self) -> f64 {
        2.0 * percentile(&self.samples, 0.99)
    }
    fn mean(&self) -> f64 {
        2.0 * self.total_ns / self.ops.max(1) as f64
    }
    /// ns per op in the churn part, median over batches.
    fn churn_per_op(&self) -> f64 {
        percentile(&self.churn_samples, 0.5)
    }
    fn ratio(&self) -> f64 {
        self.peak_device_bytes as f64 / self.peak_live_bytes.max(1) as f64
    }
}

/// One line as soon as a run ends, so that a long run shows progress and a
/// run cut short still has every number of the table.
pub(crate) fn progress(r: &RunResult) {
    let warm = steady(r);
    eprintln!(
        "  {:<22} {:<24} median {:>8.0} ns  p99 {:>9.0} ns  mean {:>8.0} ns  churn {:>7.1} ns/op  \
         device allocs {:>5}{warm}  peak {:.1}/{:.1} MiB = {:.2}{}",
        r.trace,
        r.row,
        r.median(),
        r.p99(),
        r.mean(),
        r.churn_per_op(),
        r.device_allocs,
        mib(r.peak_device_bytes),
        mib(r.peak_live_bytes),
        r.ratio(),
        r.note
            .as_ref()
            .map(|n| format!("  ({n})"))
            .unwrap_or_default()
    );
}

/// " (allocations/frees after warm-up)" where the trace has a warm-up.
fn steady(r: &RunResult) -> String {
    match (r.device_allocs_after_warmup, r.device_frees_after_warmup) {
        (Some(a), Some(f)) => format!(" ({a}/{f})"),
        _ => String::new(),
    }
}

/// The results as a Markdown table.
pub(crate) fn table(results: &[RunResult]) -> String {
    let mut s = String::new();
    s.push_str(
        "| trace | allocator | ns/(alloc+free) median | p99 | mean | device allocs (allocs/frees after warm-up) \
         | peak device MiB | peak live MiB | device/live | note |\n\
         |---|---|--:|--:|--:|--:|--:|--:|--:|---|\n",
    );
    for r in results {
        let warm = steady(r);
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {:.0} | {}{} | {:.1} | {:.1} | {:.2} | {} |",
            r.trace,
            r.row,
            r.median(),
            r.p99(),
            r.mean(),
            r.device_allocs,
            warm,
            mib(r.peak_device_bytes),
            mib(r.peak_live_bytes),
            r.ratio(),
            r.note.as_deref().unwrap_or(""),
        );
    }
    s
}

fn find<'a>(results: &'a [RunResult], trace: &str, row: &str) -> Option<&'a RunResult> {
    results.iter().find(|r| r.trace == trace && r.row == row)
}

fn traces_in_order(results: &[RunResult]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for r in results {
        if !names.contains(&r.trace) {
            names.push(r.trace.clone());
        }
    }
    names
}

/// One target: its lines of detail and whether every check passed. `None`
/// when nothing could be compared.
struct Target {
    name: String,
    checks: Vec<(bool, String)>,
}

impl Target {
    fn new(name: &str) -> Self {
        Target {
            name: name.into(),
            checks: Vec::new(),
        }
    }
    fn verdict(&self) -> &'static str {
        if self.checks.is_empty() {
            "SKIP"
        } else if self.checks.iter().all(|c| c.0) {
            "PASS"
        } else {
            "FAIL"
        }
    }
}

/// Evaluates the targets of issue 5 from the results.
fn targets(results: &[RunResult]) -> Vec<Target> {
    let names = traces_in_order(results);
    let churn = ["churn small", "churn mixed"];
    let ours_rows = [OURS_SIM, OURS_VK];

    let mut t1 = Target::new("per-op time <= 1/3 of gpu-alloc 0.6.2 (same null device, median)");
    let mut t2 = Target::new("per-op time below every peer's (median; sim vs offset-allocator, vk vs gpu-allocator and VMA)");
    for name in &names {
        if let (Some(o), Some(p)) = (find(results, name, OURS_SIM), find(results, name, OLD_SIM)) {
            let ok = o.median() <= p.median() / 3.0;
            t1.checks.push((
                ok,
                format!(
                    "{name}: {:.0} ns vs {:.0} ns ({:.2}x of 0.6.2)",
                    o.median(),
                    p.median(),
                    o.median() / p.median()
                ),
            ));
        }
        for (ours, peer) in [(OURS_SIM, OFFSET), (OURS_VK, GPU_ALLOCATOR), (OURS_VK, VMA)] {
            if let (Some(o), Some(p)) = (find(results, name, ours), find(results, name, peer)) {
                let ok = o.median() < p.median();
                t2.checks.push((
                    ok,
                    format!(
                        "{name}: {ours} {:.0} ns vs {peer} {:.0} ns",
                        o.median(),
                        p.median()
                    ),
                ));
            }
        }
    }

    let mut t3 = Target::new("peak device bytes / peak live bytes <= 1.15 on churn traces (ours)");
    let mut t4 = Target::new("zero device allocations in steady-state churn after warm-up (ours)");
    for name in churn {
        for row in ours_rows {
            if let Some(r) = find(results, name, row) {
                t3.checks.push((
                    r.ratio() <= 1.15,
                    format!("{name}, {row}: {:.3}", r.ratio()),
                ));
                let after = r.device_allocs_after_warmup.unwrap_or(u64::MAX);
                t4.checks.push((
                    after == 0,
                    format!(
                        "{name}, {row}: {after} after warm-up ({} in all)",
                        r.device_allocs
                    ),
                ));
            }
        }
    }

    let mut t5 =
        Target::new("per-op time at the largest live count within 1.5x of that at 10^3 (ours)");
    let scaling = scaling_points(results);
    for row in ours_rows {
        if let Some((_, pts)) = scaling.iter().find(|(r, _)| r == row) {
            if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
                if first.0 == 1_000 && last.0 > first.0 {
                    t5.checks.push((
                        last.1 <= 1.5 * first.1,
                        format!(
                            "{row}: {:.1} ns/op at {} live vs {:.1} ns/op at 10^3 ({:.2}x)",
                            last.1,
                            last.0,
                            first.1,
                            last.1 / first.1
                        ),
                    ));
                }
            }
        }
    }
    vec![t1, t2, t3, t4, t5]
}

/// Per row: (live count, churn ns per op) of the scaling traces.
fn scaling_points(results: &[RunResult]) -> Vec<(String, Vec<(u64, f64)>)> {
    let mut rows: Vec<(String, Vec<(u64, f64)>)> = Vec::new();
    for r in results {
        let Some(live) = r
            .trace
            .strip_suffix(" live small")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let point = (live, r.churn_per_op());
        match rows.iter_mut().find(|(row, _)| *row == r.row) {
            Some((_, pts)) => pts.push(point),
            None => rows.push((r.row.clone(), vec![point])),
        }
    }
    rows
}

/// The scaling plot: churn ns/op against live allocations, log-log.
pub(crate) fn svg(results: &[RunResult]) -> String {
    let rows = scaling_points(results);
    let (w, h, left, right, top, bottom) = (720.0, 420.0, 70.0, 230.0, 30.0, 50.0);
    let pts = rows
        .iter()
        .flat_map(|(_, p)| p.iter())
        .filter(|p| p.1 > 0.0 && p.1.is_finite());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in pts {
        xmin = xmin.min((x as f64).log10());
        xmax = xmax.max((x as f64).log10());
        ymin = ymin.min(y.log10());
        ymax = ymax.max(y.log10());
    }
    if xmin > xmax {
        (xmin, xmax, ymin, ymax) = (3.0, 6.0, 1.0, 3.0);
    }
    let (xmin, xmax) = (xmin.floor(), xmax.ceil().max(xmin.floor() + 1.0));
    let (ymin, ymax) = (ymin.floor(), ymax.ceil().max(ymin.floor() + 1.0));
    let px = |x: f64| left + (x - xmin) / (xmax - xmin) * (w - left - right);
    let py = |y: f64| h - bottom - (y - ymin) / (ymax - ymin) * (h - top - bottom);
    let colors = [
        "#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b",
    ];
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="18" text-anchor="middle">ns per op (median, churn) against live allocations, log-log</text>"#,
        (w - right + left) / 2.0
    );
    for e in xmin as i32..=xmax as i32 {
        let x = px(f64::from(e));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">10^{e}</text>"##,
            h - bottom,
            h - bottom + 16.0
        );
    }
    for e in ymin as i32..=ymax as i32 {
        let y = py(f64::from(e));
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            w - right,
            left - 6.0,
            y + 4.0,
            10f64.powi(e)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">live allocations</text>"#,
        (w - right + left) / 2.0,
        h - 12.0
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.1}" text-anchor="middle" transform="rotate(-90 16 {:.1})">ns per alloc or free</text>"#,
        h / 2.0,
        h / 2.0
    );
    for (i, (row, pts)) in rows.iter().enumerate() {
        let color = colors[i % colors.len()];
        let path: Vec<String> = pts
            .iter()
            .filter(|p| p.1 > 0.0 && p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px((x as f64).log10()), py(y.log10())))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
            path.join(" ")
        );
        for p in &path {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(s, r#"<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>"#);
        }
        let ly = top + 20.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            w - right + 10.0,
            w - right + 30.0,
            w - right + 36.0,
            ly + 4.0,
            row
        );
    }
    s.push_str("</svg>\n");
    s
}

/// One line of the JSON dump; the field names and their order are the file's keys.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    trace: &'a str,
    allocator: &'a str,
    ops: u64,
    median_ns: Option<f64>,
    p99_ns: Option<f64>,
    mean_ns: Option<f64>,
    churn_ns_per_op: Option<f64>,
    device_allocs: u64,
    device_allocs_after_warmup: Option<u64>,
    device_frees_after_warmup: Option<u64>,
    peak_device_bytes: u64,
    peak_live_bytes: u64,
    retained_bytes: u64,
    note: Option<&'a str>,
}

/// A time rounded to one decimal (the precision the table and readers use), or
/// `None` (`null`) when nothing was measured.
fn one_decimal(x: f64) -> Option<f64> {
    x.is_finite().then(|| (x * 10.0).round() / 10.0)
}

impl<'a> From<&'a RunResult> for JsonRow<'a> {
    fn from(r: &'a RunResult) -> Self {
        JsonRow {
            trace: &r.trace,
            allocator: &r.row,
            ops: r.ops,
            median_ns: one_decimal(r.median()),
            p99_ns: one_decimal(r.p99()),
            mean_ns: one_decimal(r.mean()),
            churn_ns_per_op: one_decimal(r.churn_per_op()),
            device_allocs: r.device_allocs,
            device_allocs_after_warmup: r.device_allocs_after_warmup,
            device_frees_after_warmup: r.device_frees_after_warmup,
            peak_device_bytes: r.peak_device_bytes,
            peak_live_bytes: r.peak_live_bytes,
            retained_bytes: r.retained_bytes,
            note: r.note.as_deref(),
        }
    }
}

/// The results as JSON (an array, one object per run and per line, so that
/// runs compare line by line).
pub(crate) fn json(results: &[RunResult]) -> String {
    let rows: Vec<String> = results
        .iter()
        .map(|r| {
            // Strings, integers and finite floats only: nothing here can fail.
            serde_json::to_string(&JsonRow::from(r)).expect("a JSON row serializes")
        })
        .collect();
    format!("[\n{}\n]\n", rows.join(",\n"))
}

/// Prints the table and the targets, writes the files; returns the exit code
/// (0 even when targets fail: the lines say so).
pub(crate) fn report(opts: &Options, scale: Scale, results: &[RunResult]) -> i32 {
    println!();
    println!("{}", table(results));
    println!("Scaling (churn ns per op, median):");
    for (row, pts) in scaling_points(results) {
        let p: Vec<String> = pts.iter().map(|(n, y)| format!("{n}: {y:.1}")).collect();
        println!("  {row:<24} {}", p.join("  "));
    }
    println!();
    for t in targets(results) {
        println!("{}: {}", t.verdict(), t.name);
        for (ok, line) in &t.checks {
            println!("    {} {line}", if *ok { "ok  " } else { "FAIL" });
        }
    }
    if scale.quick {
        println!("(--quick: smaller counts; the largest live count is 10^5)");
    }
    let mut code = 0;
    for (path, text) in [(&opts.svg, svg(results)), (&opts.json, json(results))] {
        if let Some(path) = path {
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("cannot write {path}: {e}");
                code = 1;
            }
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(note: Option<&str>, warm: Option<(u64, u64)>) -> RunResult {
        RunResult {
            row: "gpu-alloc (ours) sim".into(),
            trace: "churn small".into(),
            ops: 7,
            total_ns: 1234.5,
            samples: vec![300.0, 100.0, 200.0],
            churn_samples: Vec::new(),
            device_allocs: 3,
            device_allocs_after_warmup: warm.map(|w| w.0),
            device_frees_after_warmup: warm.map(|w| w.1),
            peak_device_bytes: 1 << 40,
            peak_live_bytes: 12_345,
            retained_bytes: 0,
            note: note.map(Into::into),
        }
    }

    /// The JSON keeps the shape its readers know: one object per line, these
    /// keys in this order, times with one decimal, `null` for what was not
    /// measured.
    #[test]
    fn json_shape() {
        let results = [
            result(None, Some((0, 2))),
            result(Some(r#"a "quoted" \ note"#), None),
        ];
        let expected = concat!(
            "[\n",
            r#"{"trace":"churn small","allocator":"gpu-alloc (ours) sim","ops":7,"median_ns":400.0,"p99_ns":600.0,"mean_ns":352.7,"churn_ns_per_op":null,"device_allocs":3,"device_allocs_after_warmup":0,"device_frees_after_warmup":2,"peak_device_bytes":1099511627776,"peak_live_bytes":12345,"retained_bytes":0,"note":null},"#,
            "\n",
            r#"{"trace":"churn small","allocator":"gpu-alloc (ours) sim","ops":7,"median_ns":400.0,"p99_ns":600.0,"mean_ns":352.7,"churn_ns_per_op":null,"device_allocs":3,"device_allocs_after_warmup":null,"device_frees_after_warmup":null,"peak_device_bytes":1099511627776,"peak_live_bytes":12345,"retained_bytes":0,"note":"a \"quoted\" \\ note"}"#,
            "\n]\n",
        );
        assert_eq!(json(&results), expected);
    }

    /// Control characters in a note still give JSON that reads back to the
    /// same text (the hand-written writer escaped only `\\` and `"`).
    #[test]
    fn json_reads_back() {
        let note = "line 1\nline 2\t\u{1} \"end\" \\";
        let text = json(&[result(Some(note), None), result(None, None)]);
        let value: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(value[0]["note"], note);
        assert_eq!(value[1]["note"], serde_json::Value::Null);
        assert_eq!(value[0]["peak_device_bytes"], 1u64 << 40);
    }
}
