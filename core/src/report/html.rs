//! `report.html`: the comparison as one self-contained page (inline CSS and SVG, no script, no
//! network): what ran and its provenance, which method for which need, then cost, predictive
//! accuracy per level, optimization with the oracle's candidates and every run's replica
//! timeline, and every warning.
//!
//! Numbers come from the [`Comparison`] (what comparison_results.json holds), formatted as
//! summary.txt formats them. The page reads only what the comparison does not hold from the
//! results directory: `run.json` (the run's settings), each method's `methods.lock`, the
//! replicas of each optimization.json and the traces (`sinusoidal.jsonl`,
//! `sinusoidal-seed-<k>.jsonl`). What is missing reads "not recorded" or "not measured".
//! Markup is built with maud, which escapes every interpolated value (method names, notes,
//! errors and paths come from plugins and files).

use std::io;
use std::path::{Path, PathBuf};

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::plot::{self, ReplicaTimeline, TraceRate};
use super::summary::{num, paired_cells, sample};
use super::{Comparison, LevelComparison, MethodComparison, MethodStatus, Optimization, Sample, VsBest};
use crate::layout::{read_json, OptimizationRecord, ResultsDir};

/// File name of the page.
pub const FILE_NAME: &str = "report.html";

/// What the page shows beside the comparison, read from the results directory.
#[derive(Clone, Debug, Default)]
pub struct PageData {
    /// The run's settings (`Comparison::run`, else `results/run.json`), when recorded.
    pub run: Option<serde_json::Value>,
    /// Each method's `methods.lock` entries (None: not recorded), in `Comparison::methods` order.
    pub locks: Vec<Option<Vec<LockEntry>>>,
    /// The trace's rate per seed index (0: `sinusoidal.jsonl`, k: `sinusoidal-seed-<k>.jsonl`).
    pub traces: Vec<(u32, TraceRate)>,
    /// Every method's planner runs (per seed), then every oracle candidate's.
    pub timelines: Vec<(u32, ReplicaTimeline)>,
    /// Problems reading these files, each naming the file.
    pub warnings: Vec<String>,
}

/// One plugin of a `methods.lock`.
#[derive(Clone, Debug, PartialEq)]
pub struct LockEntry {
    /// Method id.
    pub name: String,
    /// Method version.
    pub version: String,
    /// The plugin-api version it was built against.
    pub api_version: String,
    /// SHA-256 of the `.so`.
    pub sha256: String,
    /// Path of the `.so`.
    pub path: String,
}

impl PageData {
    /// Reads what the page needs from `results` for the methods and candidates of `c`.
    pub fn read(results: &ResultsDir, c: &Comparison) -> PageData {
        let mut data = PageData::default();
        // The run's settings as the comparison holds them (the host reads run.json into it),
        // else as run.json has them (a comparison made without the host).
        let run_json = results.root.join("run.json");
        if let Some(run) = &c.run {
            data.run = serde_json::to_value(run).ok();
        } else if run_json.exists() {
            match read_json(&run_json) {
                Ok(run) => data.run = Some(run),
                Err(e) if !c.warnings.iter().any(|w| w.contains("run.json")) => data.warnings.push(e.to_string()),
                Err(_) => {}
            }
        }
        for m in &c.methods {
            let path = results.methods_lock(&m.method);
            let lock = path
                .exists()
                .then(|| read_lock(&path).map_err(|e| data.warnings.push(e)).ok())
                .flatten();
            data.locks.push(lock);
        }
        let mut seeds: Vec<u32> = c
            .methods
            .iter()
            .map(|m| &m.optimization)
            .chain(
                c.oracle
                    .iter()
                    .flat_map(|o| o.candidates.iter().map(|k| &k.optimization)),
            )
            .flat_map(|o| o.per_seed.iter().map(|s| s.seed))
            .collect();
        seeds.sort();
        seeds.dedup();
        for seed in seeds {
            let path = match seed {
                0 => results.trace(),
                k => results.root.join(format!("sinusoidal-seed-{k}.jsonl")),
            };
            if !path.exists() {
                continue;
            }
            match crate::workload::read_mooncake(&path) {
                Ok(trace) => {
                    let times: Vec<f64> = trace.iter().map(|r| r.timestamp_ms).collect();
                    data.traces.push((seed, TraceRate::of(&times)));
                }
                Err(e) => data.warnings.push(e.to_string()),
            }
        }
        for (i, m) in c.methods.iter().enumerate() {
            let dir = results.optimization(&m.method);
            data.read_timelines(&dir, &m.method, Some(i), &m.optimization);
        }
        for k in c.oracle.iter().flat_map(|o| &o.candidates) {
            let dir = results.root.join("oracle").join(&k.name).join("optimization");
            data.read_timelines(&dir, &format!("oracle {}", k.name), None, &k.optimization);
        }
        let prefix = format!("{}/", results.root.display());
        data.warnings = data.warnings.iter().map(|w| w.replace(&prefix, "")).collect();
        data
    }

    fn read_timelines(&mut self, dir: &Path, subject: &str, method_index: Option<usize>, o: &Optimization) {
        for s in &o.per_seed {
            let seed_dir = match s.seed {
                0 => dir.to_path_buf(),
                k => dir.join(format!("seed-{k}")),
            };
            let path = seed_dir.join("optimization.json");
            if !path.exists() {
                continue;
            }
            let record = match read_json::<OptimizationRecord>(&path) {
                Ok(r) => r,
                Err(e) => {
                    self.warnings.push(e.to_string());
                    continue;
                }
            };
            let warm = record
                .initial_replicas
                .map_or(String::new(), |(p, d)| format!("; warm start {p} prefill + {d} decode"));
            let title = format!(
                "{subject}, seed {}: prefill TP{} x decode TP{}{warm}",
                s.seed, record.prefill_tp, record.decode_tp
            );
            self.timelines.push((
                s.seed,
                ReplicaTimeline {
                    title,
                    method_index,
                    replicas: record.replicas,
                },
            ));
        }
    }
}

/// Reads `methods.lock` (TOML, `[[method]]` tables as the host writes them).
fn read_lock(path: &Path) -> Result<Vec<LockEntry>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let value: toml::Value = text
        .parse()
        .map_err(|e| format!("{}: not a methods.lock: {e}", path.display()))?;
    let field = |t: &toml::Value, key: &str| t.get(key).and_then(|v| v.as_str()).unwrap_or("-").to_string();
    Ok(value
        .get("method")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
        .map(|t| LockEntry {
            name: field(t, "name"),
            version: field(t, "version"),
            api_version: field(t, "api_version"),
            sha256: field(t, "sha256"),
            path: field(t, "path"),
        })
        .collect())
}

/// Writes `report.html` into `dir` (atomically), reading the page's extra data from the
/// comparison's results directory; returns its path.
pub fn write(c: &Comparison, dir: &Path) -> io::Result<PathBuf> {
    let data = PageData::read(&ResultsDir::new(&c.results_dir), c);
    let path = dir.join(FILE_NAME);
    crate::fsio::write_atomic(&path, render(c, &data)?.as_bytes())?;
    Ok(path)
}

/// The whole page.
pub fn render(c: &Comparison, data: &PageData) -> io::Result<String> {
    let mut plots = std::collections::BTreeMap::new();
    for stem in plot::PLOTS {
        plots.insert(stem, PreEscaped(strip_xml_declaration(plot::svg(stem, c)?)));
    }
    let mut timelines = Vec::new();
    for (seed, run) in &data.timelines {
        let trace = data.traces.iter().find(|t| t.0 == *seed).map(|t| &t.1);
        timelines.push((run, PreEscaped(strip_xml_declaration(plot::timeline_svg(run, trace)?))));
    }
    let (method_runs, oracle_runs): (Vec<_>, Vec<_>) = timelines.iter().partition(|t| t.0.method_index.is_some());
    let warnings: Vec<&String> = c.warnings.iter().chain(&data.warnings).collect();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "profcmp comparison: " (c.results_dir) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "profcmp comparison" }
                    p.meta {
                        "Results " code { (c.results_dir) } "; page rendered by profcmp "
                        (env!("CARGO_PKG_VERSION")) " from comparison_results.json (schema "
                        (c.schema_version) ", docs/comparison-schema.md). "
                        @if warnings.is_empty() { "No warnings." }
                        @else { a href="#warnings" { (warnings.len()) " warning(s)" } " below." }
                    }
                }
                nav {
                    a href="#what-ran" { "What ran" } " · " a href="#needs" { "Which method for which need" }
                    " · " a href="#cost" { "Cost" } " · " a href="#accuracy" { "Predictive accuracy" }
                    " · " a href="#optimization" { "Optimization" } " · " a href="#warnings" { "Warnings" }
                }
                (what_ran(c, data))
                (needs(c))
                section #cost {
                    h2 { "Cost of profiling" }
                    p { "Metered by the host on the backend's clock; the method's own report beside it." }
                    (cost_table(c))
                    figure { (plots["cost"]) }
                    figure { (plots["cost_vs_regret"]) }
                }
                section #accuracy {
                    h2 { "Predictive accuracy per load level" }
                    p { "Signed error % = (predicted − measured) / measured × 100; negative = the method was optimistic." }
                    h3 { "TTFT" } (accuracy_table(c, true))
                    h3 { "ITL" } (accuracy_table(c, false))
                    figure { (plots["error_by_level"]) }
                }
                section #optimization {
                    h2 { "Optimization (SLA planner in the loop)" }
                    p {
                        "Goodput regret % = (oracle best goodput − goodput) / oracle best goodput × 100; "
                        "cost-aware regret % = the same on goodput per time-averaged GPU, against the oracle's best on that measure. "
                        "[low, high] = 95% interval over seeds."
                    }
                    (optimization_table(c))
                    (vs_best_table(c))
                    (planner_table(c))
                    figure { (plots["regret"]) }
                    (oracle_section(c))
                    h3 { "Replica timelines" }
                    p {
                        "Each planner run's prefill and decode workers over time, with the trace's arrival rate behind them: "
                        "where the rate outruns the workers, requests queue and miss the SLA."
                    }
                    @if method_runs.is_empty() { p.na { "not measured: no method has an optimization.json with replicas" } }
                    @for (_, svg) in &method_runs { figure.timeline { (svg) } }
                    @if !oracle_runs.is_empty() {
                        details {
                            summary { "The oracle's candidates (" (oracle_runs.len()) " runs)" }
                            @for (_, svg) in &oracle_runs { figure.timeline { (svg) } }
                        }
                    }
                }
                section #notes {
                    h2 { "Notes" }
                    @let notes: Vec<(usize, &MethodComparison, &String)> = c.methods.iter().enumerate()
                        .flat_map(|(i, m)| m.notes.iter().map(move |n| (i, m, n))).collect();
                    @if notes.is_empty() { p { "None." } }
                    ul { @for (i, m, note) in notes { li { (method_name(i, m)) ": " (note) } } }
                }
                section #warnings {
                    h2 { "Warnings (" (warnings.len()) ")" }
                    @if warnings.is_empty() { p { "None." } }
                    ul.warnings { @for w in &warnings { li { (w) } } }
                }
            }
        }
    };
    Ok(page.into_string())
}

const CSS: &str = "
body { font-family: 'DejaVu Sans', Verdana, sans-serif; margin: 0 auto; max-width: 1100px; padding: 0 1.5em 3em; color: #111; line-height: 1.4; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
nav { position: sticky; top: 0; background: #fff; padding: 0.4em 0; border-bottom: 1px solid #ddd; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0 1em; font-size: 0.86em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.meta { color: #444; } .na { color: #777; font-style: italic; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.35em; vertical-align: -0.1em; border: 1px solid #333; }
.failed { color: #b00; font-weight: bold; } .method { white-space: nowrap; }
.needs td:first-child { font-weight: bold; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; display: block; }
code { font-size: 0.9em; word-break: break-all; }
ul.warnings li { color: #8a4b00; }
details { margin: 0.8em 0; } summary { cursor: pointer; font-weight: bold; }
";

/// Plotters writes an XML declaration before `<svg>`; inline SVG must not carry one.
fn strip_xml_declaration(svg: String) -> String {
    match svg.find("<svg") {
        Some(start) => svg[start..].to_string(),
        None => svg,
    }
}

/// A method's colour swatch (as in every plot) and name.
fn method_name(index: usize, m: &MethodComparison) -> Markup {
    html! { span.method { span.swatch style={ "background:" (plot::method_color(index)) } {} (m.method) } }
}

fn method_by_name<'a>(c: &'a Comparison, name: &str) -> Option<(usize, &'a MethodComparison)> {
    c.methods.iter().enumerate().find(|(_, m)| m.method == name)
}

fn na(text: &str) -> Markup {
    html! { span.na { (text) } }
}

/// A sample as summary.txt prints it, or `missing` in grey.
fn sample_cell(value: Option<Sample>, decimals: usize, missing: &str) -> Markup {
    match value {
        Some(_) => html! { td.num { (sample(value, decimals)) } },
        None => html! { td { (na(missing)) } },
    }
}

fn percent(value: Option<Sample>) -> Option<Sample> {
    value.map(|s| Sample {
        mean: s.mean * 100.0,
        ci95: s.ci95.map(|[a, b]| [a * 100.0, b * 100.0]),
        ..s
    })
}

fn config(p: Option<u32>, d: Option<u32>) -> Markup {
    match (p, d) {
        (Some(p), Some(d)) => html! { "prefill TP" (p) " + decode TP" (d) },
        _ => na("-"),
    }
}

/// A value of run.json's spec as text (strings without quotes).
fn spec_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Every leaf of a JSON object as (dotted key, value).
fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_string(), spec_text(other))),
    }
}

fn what_ran(c: &Comparison, data: &PageData) -> Markup {
    let run = data.run.as_ref();
    let spec = run.map(|r| &r["spec"]);
    let setting = |path: &[&str]| -> Option<String> {
        let mut v = spec?;
        for key in path {
            v = v.get(key)?;
        }
        (!v.is_null()).then(|| spec_text(v))
    };
    let not_recorded = || na("not recorded (no results/run.json)");
    let row = |name: &str, value: Option<String>| {
        html! { tr { th { (name) } td { @match value { Some(v) => (v), None => (not_recorded()) } } } }
    };
    let trace = spec
        .map(|s| &s["trace"])
        .map(|t| match t.get("file").filter(|f| !f.is_null()) {
            Some(file) => format!("mooncake trace {}", spec_text(file)),
            None => format!(
                "sinusoidal (Dynamo's sin_synth): {} s, {}-{} req/s, period {} s",
                spec_text(&t["duration_s"]),
                spec_text(&t["min_rate"]),
                spec_text(&t["max_rate"]),
                spec_text(&t["period_s"])
            ),
        });
    let seeds = setting(&["seed"]).map(|seed| {
        let repeat = setting(&["repeat"]).unwrap_or_else(|| "1".into());
        format!("base seed {seed}, {repeat} seed(s) per measurement (seed + k in seed-<k>/)")
    });
    let measured_seeds = c.methods.iter().map(|m| m.optimization.seeds).max().unwrap_or(0);
    let mut planners: Vec<String> = c
        .methods
        .iter()
        .filter_map(|m| m.optimization.planner.as_ref())
        .map(|p| {
            format!(
                "Dynamo {} planner, {} predictor, {} s interval, GPU budget {}",
                p.dynamo_version, p.predictor, p.adjustment_interval_s, p.gpu_budget
            )
        })
        .collect();
    planners.sort();
    planners.dedup();
    let mut every = Vec::new();
    if let Some(r) = run {
        flatten("", r, &mut every);
        every.retain(|(k, _)| !k.starts_with("warnings"));
    }
    html! {
        section #what-ran {
            h2 { "What ran" }
            table {
                (row("run by profcmp", run.and_then(|r| r.get("profcmp_version")).map(spec_text)))
                (row("cluster", run.and_then(|r| r.get("cluster")).map(spec_text)))
                (row("model", setting(&["model"])))
                (row("system / serving framework", setting(&["system"]).map(|s| format!("{s} / {}", setting(&["backend"]).unwrap_or_default()))))
                tr { th { "SLA" } td {
                    "ISL " (c.sla.isl) " / OSL " (c.sla.osl) " tokens, TTFT ≤ " (c.sla.ttft_ms) " ms, ITL ≤ " (c.sla.itl_ms) " ms"
                    @if run.is_none() { " " (na("(the compare stage's defaults: no results/run.json)")) }
                } }
                (row("workload (optimize stage)", trace))
                (row("reality (simulated cluster)", setting(&["reality"])))
                tr { th { "planner" } td {
                    @if planners.is_empty() {
                        @match setting(&["dynamo_version"]) {
                            Some(v) => { "behaves as Dynamo " (v) }
                            None => (na("not recorded (no optimization.json names its planner)")),
                        }
                    }
                    @for p in &planners { (p) br; }
                } }
                (row("seeds", seeds))
                tr { th { "seeds measured" } td { (measured_seeds) " (most seeds of any method's optimization)" } }
                (row("GPU budget", setting(&["search", "gpu_budget"])))
            }
            @if !every.is_empty() {
                details {
                    summary { "Every setting (results/run.json)" }
                    table { @for (k, v) in &every { tr { th { code { (k) } } td { (v) } } } }
                }
            }
            h3 { "Methods" }
            table {
                tr { th { "method" } th { "status" } th { "recommended config" } th { "plugin (methods.lock)" } th { "profile data / error" } }
                @for (i, m) in c.methods.iter().enumerate() {
                    tr {
                        td { (method_name(i, m)) }
                        td { @match m.status {
                            MethodStatus::Ok => "ok",
                            MethodStatus::Failed => span.failed { "FAILED" },
                            MethodStatus::NoProfile => (na("no profile data")),
                        } }
                        td { (config(m.prefill_tp, m.decode_tp)) }
                        td { @match data.locks.get(i).and_then(Option::as_ref).map(|all| own_entries(all, &m.method)) {
                            None => (na("not recorded (no methods.lock)")),
                            Some(entries) => @for e in entries {
                                (e.name) " " (e.version) " (plugin-api " (e.api_version) ")" br;
                                "sha256 " code { (e.sha256) } br;
                                code { (e.path) }
                            },
                        } }
                        td { @match (&m.error, &m.profile_source) {
                            (Some(e), _) => span.failed { "error: " (e) },
                            (None, Some(s)) => { "from " (s) },
                            (None, None) => (na("-")),
                        } }
                    }
                }
            }
        }
    }
}

/// A method's own entries of a methods.lock (the host writes the whole resolved set into every
/// method's directory); all of them when none is named after the method.
fn own_entries<'a>(entries: &'a [LockEntry], method: &str) -> Vec<&'a LockEntry> {
    let own: Vec<&LockEntry> = entries.iter().filter(|e| e.name == method).collect();
    if own.is_empty() {
        entries.iter().collect()
    } else {
        own
    }
}

/// Methods the paired test cannot tell from `best` on a measure.
fn ties(c: &Comparison, best: &str, vs: fn(&MethodComparison) -> Option<&VsBest>) -> Vec<String> {
    c.methods
        .iter()
        .filter(|m| {
            vs(m).is_some_and(|v| v.best == best && v.difference.verdict.as_deref() == Some("not distinguishable"))
        })
        .map(|m| m.method.clone())
        .collect()
}

fn needs(c: &Comparison) -> Markup {
    let r = &c.recommendations;
    let find = |name: &Option<String>| name.as_deref().and_then(|n| method_by_name(c, n));
    let measure = match r.pareto_regret.as_deref() {
        Some("cost_aware") => "cost-aware regret",
        _ => "goodput regret",
    };
    let tie_text = |names: Vec<String>| {
        if names.is_empty() {
            String::new()
        } else {
            format!("; not distinguishable (paired t-test) from {}", names.join(", "))
        }
    };
    // (question, the method that answers it with its index, the value, why)
    type Row<'a> = (String, Option<(usize, &'a MethodComparison)>, String, &'a str);
    let rows: Vec<Row> = vec![
        (
            "Cheapest to run".into(),
            find(&r.cheapest),
            find(&r.cheapest).map_or(String::new(), |(_, m)| {
                format!(
                    "{} GPU-hours, {} s",
                    num(m.cost.gpu_hours, 3),
                    num(m.cost.duration_s, 1)
                )
            }),
            "no metered cost",
        ),
        (
            "Most accurate predictions".into(),
            find(&r.most_accurate),
            find(&r.most_accurate).map_or(String::new(), |(_, m)| {
                format!("mean |error| {} % over p50 TTFT and ITL", num(m.mean_abs_error_pct, 1))
            }),
            "no validation measured",
        ),
        (
            "Best configuration for what it costs to serve".into(),
            find(&r.best_configuration),
            find(&r.best_configuration).map_or(String::new(), |(_, m)| {
                let o = &m.optimization;
                let ties = tie_text(ties(c, &m.method, |m| m.optimization.goodput_per_gpu_vs_best.as_ref()));
                match o.cost_regret_pct {
                    Some(regret) => format!(
                        "cost-aware regret {} %, goodput/GPU {} req/s/GPU{ties}",
                        sample(Some(regret), 1),
                        sample(o.goodput_per_gpu, 3)
                    ),
                    None => format!(
                        "goodput/GPU {} req/s/GPU; no oracle{ties}",
                        sample(o.goodput_per_gpu, 3)
                    ),
                }
            }),
            "no optimization measured with GPUs",
        ),
        (
            "Highest goodput".into(),
            find(&r.best_goodput),
            find(&r.best_goodput).map_or(String::new(), |(_, m)| {
                let o = &m.optimization;
                let ties = tie_text(ties(c, &m.method, |m| m.optimization.goodput_vs_best.as_ref()));
                match o.regret_pct {
                    Some(regret) => format!(
                        "goodput regret {} %, goodput {} req/s{ties}",
                        sample(Some(regret), 1),
                        sample(o.goodput, 3)
                    ),
                    None => format!("goodput {} req/s; no oracle{ties}", sample(o.goodput, 3)),
                }
            }),
            "no optimization measured",
        ),
        (
            format!("Best trade-off of GPU-hours and {measure}"),
            find(&r.best_tradeoff),
            format!("Pareto front, cheapest first: {}", r.pareto_front.join(", ")),
            "needs both metered GPU-hours and regret",
        ),
    ];
    html! {
        section #needs {
            h2 { "Which method for which need" }
            table.needs {
                tr { th { "need" } th { "method" } th { "evidence" } }
                @for (need, method, evidence, missing) in &rows {
                    tr {
                        td { (need) }
                        @match method {
                            Some((i, m)) => { td { (method_name(*i, m)) } td { (evidence) } }
                            None => { td { (na("none")) } td { (na(missing)) } }
                        }
                    }
                }
            }
            @if !c.verdicts.is_empty() {
                details {
                    summary { "Paired tests between methods (" (c.verdicts.len()) "): per-seed differences a − b, two-sided t-test, p < 0.05" }
                    table {
                        tr { th { "metric" } th { "a" } th { "b" } th { "seeds" } th { "a − b [95% CI]" } th { "p" } th { "verdict" } }
                        @for v in &c.verdicts {
                            tr {
                                td { code { (v.metric) } } td { (v.a) } td { (v.b) }
                                @for cell in paired_cells(&v.difference) { td.num { (cell) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn cost_table(c: &Comparison) -> Markup {
    html! {
        table {
            tr { th { "method" } th { "duration s" } th { "CPU s" } th { "GPU-hours" } th { "deployments" } th { "estimate calls" } th { "method's own report" } }
            @for (i, m) in c.methods.iter().enumerate() {
                @let k = &m.cost;
                tr {
                    td { (method_name(i, m)) }
                    @if !k.recorded {
                        td colspan="6" { (na("not recorded (no readable profile.json)")) }
                    } @else {
                        td.num { (num(k.duration_s, 1)) }
                        td.num { (num(k.cpu_s, 1)) }
                        td.num { (num(k.gpu_hours, 3)) }
                        td.num { (k.deployments.map_or("-".into(), |d| d.to_string())) }
                        td.num { (k.estimate_calls.map_or("-".into(), |d| d.to_string())) }
                        td { @match (&k.reported, k.mismatch) {
                            (None, _) => (na("none")),
                            (Some(_), Some(true)) => span.failed { "mismatch: " (k.mismatches.join("; ")) },
                            (Some(_), _) => "agrees",
                        } }
                    }
                }
            }
        }
    }
}

fn accuracy_table(c: &Comparison, ttft: bool) -> Markup {
    let row = |l: &LevelComparison| {
        if ttft {
            (
                l.predicted.and_then(|p| p.ttft_ms),
                l.ttft_p50_ms,
                l.ttft_p99_ms,
                l.error_pct.ttft_p50,
                l.error_pct.ttft_p99,
            )
        } else {
            (
                l.predicted.and_then(|p| p.itl_ms),
                l.itl_p50_ms,
                l.itl_p99_ms,
                l.error_pct.itl_p50,
                l.error_pct.itl_p99,
            )
        }
    };
    html! {
        table {
            tr { th { "method" } th { "level" } th { "concurrency" } th { "predicted ms" } th { "p50 ms" } th { "error % (p50)" } th { "p99 ms" } th { "error % (p99)" } }
            @for (i, m) in c.methods.iter().enumerate() {
                @if m.levels.iter().all(|l| l.seeds == 0 && l.predicted.is_none()) {
                    tr { td { (method_name(i, m)) } td colspan="7" { (na("no predictions, not measured")) } }
                } @else {
                    @for l in &m.levels {
                        @let (pred, p50, p99, e50, e99) = row(l);
                        @let missing = if l.seeds == 0 { "not measured" } else { "-" };
                        tr {
                            td { (method_name(i, m)) }
                            td { (l.level) }
                            td.num { (l.concurrency) }
                            @match pred { Some(_) => td.num { (num(pred, 1)) }, None => td { (na("no prediction")) } }
                            (sample_cell(p50, 1, missing))
                            (sample_cell(e50, 1, missing))
                            (sample_cell(p99, 1, missing))
                            (sample_cell(e99, 1, missing))
                        }
                    }
                }
            }
        }
    }
}

fn optimization_table(c: &Comparison) -> Markup {
    html! {
        table {
            tr { th { "method" } th { "P×D TP" } th { "seeds" } th { "goodput req/s" } th { "goodput/GPU req/s" } th { "avg GPUs" } th { "SLA hit %" } th { "goodput regret %" } th { "cost-aware regret %" } }
            @for (i, m) in c.methods.iter().enumerate() {
                @let o = &m.optimization;
                tr {
                    td { (method_name(i, m)) }
                    @if o.seeds == 0 {
                        td colspan="8" { (na("not measured")) }
                    } @else {
                        td { @match (o.prefill_tp, o.decode_tp) { (Some(p), Some(d)) => { (p) "×" (d) }, _ => (na("-")) } }
                        td.num { (o.seeds) }
                        (sample_cell(o.goodput, 3, "-"))
                        (sample_cell(o.goodput_per_gpu, 3, "-"))
                        (sample_cell(o.avg_gpus, 2, "-"))
                        (sample_cell(percent(o.sla_hit_rate), 1, "-"))
                        (sample_cell(o.regret_pct, 1, "not measured (no oracle)"))
                        (sample_cell(o.cost_regret_pct, 1, "not measured (no oracle)"))
                    }
                }
            }
        }
    }
}

fn vs_best_table(c: &Comparison) -> Markup {
    let rows: Vec<(usize, &MethodComparison, &str, &VsBest)> = c
        .methods
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let o = &m.optimization;
            [
                ("goodput", &o.goodput_vs_best),
                ("goodput/GPU", &o.goodput_per_gpu_vs_best),
            ]
            .into_iter()
            .filter_map(move |(measure, vs)| Some((i, m, measure, vs.as_ref()?)))
        })
        .collect();
    html! {
        @if !rows.is_empty() {
            p { "Per-seed difference to the best method (paired t-test on the differences, two-sided, p < 0.05):" }
            table {
                tr { th { "method" } th { "measure" } th { "best" } th { "seeds" } th { "method − best [95% CI]" } th { "p" } th { "verdict" } }
                @for (i, m, measure, vs) in &rows {
                    tr {
                        td { (method_name(*i, m)) } td { (measure) } td { (vs.best) }
                        @for cell in paired_cells(&vs.difference) { td.num { (cell) } }
                    }
                }
            }
        }
    }
}

fn planner_table(c: &Comparison) -> Markup {
    let shown: Vec<(usize, &MethodComparison)> = c
        .methods
        .iter()
        .enumerate()
        .filter(|(_, m)| m.optimization.planner.is_some() || m.optimization.cold_start_sla_hit_rate.is_some())
        .collect();
    html! {
        @if !shown.is_empty() {
            p {
                "The planner and the cold start (goodput above is measured from the warm start; the cold start runs the same "
                "graph from 1 prefill + 1 decode over the trace's first intervals):"
            }
            table {
                tr { th { "method" } th { "planner" } th { "warm start" } th { "cold-start SLA hit %" } th { "SLA misses" } th { "settled after s" } }
                @for (i, m) in &shown {
                    @let o = &m.optimization;
                    @let misses: Vec<f64> = o.per_seed.iter().filter_map(|s| s.cold_start_sla_misses.map(|n| n as f64)).collect();
                    tr {
                        td { (method_name(*i, m)) }
                        td { @match &o.planner {
                            Some(p) => { "Dynamo " (p.dynamo_version) ", " (p.predictor) ", " (p.adjustment_interval_s) " s, budget " (p.gpu_budget) }
                            None => (na("not recorded")),
                        } }
                        td { @match o.per_seed.first().and_then(|s| s.initial_replicas) {
                            Some((p, d)) => { (p) " prefill + " (d) " decode" }
                            None => (na("not recorded")),
                        } }
                        (sample_cell(percent(o.cold_start_sla_hit_rate), 1, "not measured"))
                        td.num { (num(crate::stats::mean(&misses), 0)) }
                        td.num {
                            (sample(o.cold_start_settle_s, 0))
                            @if o.cold_start_unsettled > 0 { " (" (o.cold_start_unsettled) " seeds not settled)" }
                        }
                    }
                }
            }
        }
    }
}

fn oracle_section(c: &Comparison) -> Markup {
    html! {
        h3 { "The oracle's candidates" }
        @match &c.oracle {
            None => p { (na("not measured: no results/oracle/, so regret is not measured")) },
            Some(o) => {
                p {
                    "Every candidate config under the same trace and planner, with profiles measured on the cluster. "
                    "Best on goodput: " strong { (o.best.as_deref().unwrap_or("-")) } " at " (num(o.best_goodput, 3)) " req/s; "
                    "best on goodput/GPU: " strong { (o.best_per_gpu.as_deref().unwrap_or("-")) } " at " (num(o.best_goodput_per_gpu, 3)) " req/s/GPU."
                }
                @if o.candidates.is_empty() { p { (na("no candidates measured")) } }
                @else {
                    table {
                        tr { th { "candidate (P×D TP)" } th { "seeds" } th { "goodput req/s" } th { "goodput/GPU req/s" } th { "avg GPUs" } th { "SLA hit %" } th { "goodput regret %" } th { "cost-aware regret %" } th { "chosen by" } }
                        @for k in &o.candidates {
                            @let x = &k.optimization;
                            @let chosen: Vec<(usize, &MethodComparison)> = c.methods.iter().enumerate()
                                .filter(|(_, m)| (m.optimization.prefill_tp, m.optimization.decode_tp) == (x.prefill_tp, x.decode_tp) && x.prefill_tp.is_some())
                                .collect();
                            tr {
                                td {
                                    (k.name)
                                    @if o.best.as_deref() == Some(k.name.as_str()) { " " strong { "(best goodput)" } }
                                    @if o.best_per_gpu.as_deref() == Some(k.name.as_str()) { " " strong { "(best goodput/GPU)" } }
                                }
                                td.num { (x.seeds) }
                                (sample_cell(x.goodput, 3, "-"))
                                (sample_cell(x.goodput_per_gpu, 3, "-"))
                                (sample_cell(x.avg_gpus, 2, "-"))
                                (sample_cell(percent(x.sla_hit_rate), 1, "-"))
                                (sample_cell(x.regret_pct, 1, "-"))
                                (sample_cell(x.cost_regret_pct, 1, "-"))
                                td { @for (i, m) in &chosen { (method_name(*i, m)) br; } }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "html_tests.rs"]
mod tests;
