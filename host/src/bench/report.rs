//! The benches' markdown reports (the sections of docs/benchmarks.md), written from what ran:
//! every count, setting and target in the prose comes from the bench's data or the constants the
//! runner used, never from a sentence typed in advance.

use profcmp_core::spec::RunSpec;
use profcmp_core::stage::optimize::DEFAULT_ADJUSTMENT_INTERVAL_S;
use profcmp_core::stats::{max, median, mode, nearest_rank};

use super::runner::{
    tp_list, MethodRun, MethodsBench, PluginsBench, ReplayCosts, RunBench, Scaling, ScenarioRun, Timings,
    TARGET_DEPLOYMENTS, TARGET_REGRET_PCT,
};
use super::scenarios::{INTERVAL_DIVISOR, MIN_RATE_DIVISOR, MIN_TRACE_S, WORKER_STARTUP_DIVISOR};

/// Plugins bench targets (minimal plugin): size, bytes ...
const TARGET_PLUGIN_BYTES: u64 = 1 << 20;
/// ... and p95 of a fresh manifest read and of a full load, ms.
const TARGET_LOAD_MS: f64 = 5.0;
/// Run bench targets (issue 12): wall time, s ...
const TARGET_RUN_S: f64 = 20.0;
/// ... and peak memory, kB.
const TARGET_RUN_PEAK_KB: u64 = 500 * 1024;
/// A rerun with nothing changed: wall time, s.
const TARGET_RERUN_S: f64 = 1.0;
/// One planner replay of the default trace: wall time, s ...
const TARGET_REPLAY_S: f64 = 2.0;
/// ... and peak memory, kB.
const TARGET_REPLAY_PEAK_KB: u64 = 250 * 1024;
/// The method the methods bench compares every other method's choice with.
const REFERENCE_METHOD: &str = "online_all";
/// Failures listed in the methods report (the rest are in the JSON).
const FAILURES_LISTED: usize = 40;

/// The report's title and the machine it ran on.
fn header(title: &str, machine: &str) -> String {
    format!("## {title}\n\n{machine}\n\n")
}

// ---------------------------------------------------------------- plugins

fn first(t: &Timings) -> String {
    format!("{:.3} ({:.3})", t.wall[0], t.cpu[0])
}

fn at(t: &Timings, p: f64) -> String {
    format!(
        "{:.3} ({:.3})",
        nearest_rank(&t.wall, p).unwrap_or(0.0),
        nearest_rank(&t.cpu, p).unwrap_or(0.0)
    )
}

pub fn plugins(bench: &PluginsBench) -> String {
    let (copies, iterations) = (bench.copies, bench.iterations);
    let mut out = header("Plugins", &bench.machine);
    out += &format!(
        "Times are wall-clock ms, with the thread's CPU time in parentheses (the machine is shared, so a wall \
         p95 includes time the thread waited for a core). Each plugin is copied to fresh paths first, so every \
         timed first read or load opens a file this process has not opened yet.\n\n\
         - manifest, fresh file: `load::read_manifest` (a child `profcmp __plugin-manifest`: spawn, dlopen, the C manifest symbol) on {copies} \
         fresh copies; the first of them is also shown alone;\n\
         - manifest, again: {iterations} more reads of one file already read;\n\
         - full load: `load::load` (dlopen, abi_stable layout checks, root module) on {copies} other fresh \
         copies (abi_stable never unloads a library, so each load needs its own file);\n\
         - load again: `load::load` of a file already loaded (abi_stable's cached module).\n\n"
    );
    out += "| plugin | size | stripped | manifest first | manifest fresh median | manifest fresh p95 | manifest again median | full load first | full load median | full load p95 | load again |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for p in &bench.plugins {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            p.name,
            size_text(p.size),
            p.stripped.map_or("n/a".to_string(), size_text),
            first(&p.fresh),
            at(&p.fresh, 50.0),
            at(&p.fresh, 95.0),
            at(&p.again, 50.0),
            first(&p.loads),
            at(&p.loads, 50.0),
            at(&p.loads, 95.0),
            first(&p.reload),
        );
    }
    let mut misses = Vec::new();
    if let Some(minimal) = bench.plugins.first() {
        if minimal.size >= TARGET_PLUGIN_BYTES {
            misses.push(format!(
                "the minimal plugin is {} (target < {})",
                size_text(minimal.size),
                target_size(TARGET_PLUGIN_BYTES)
            ));
        }
        for (what, t) in [("manifest read", &minimal.fresh), ("full load", &minimal.loads)] {
            let (wall, cpu) = (
                nearest_rank(&t.wall, 95.0).unwrap_or(0.0),
                nearest_rank(&t.cpu, 95.0).unwrap_or(0.0),
            );
            if wall >= TARGET_LOAD_MS {
                let why = if cpu < TARGET_LOAD_MS {
                    "; the difference is time spent waiting for a core"
                } else {
                    ""
                };
                misses.push(format!(
                    "minimal plugin {what} p95 is {wall:.2} ms wall (target < {TARGET_LOAD_MS} ms; {cpu:.2} ms CPU{why})"
                ));
            }
        }
    }
    out += &format!(
        "\nTargets (minimal plugin): size < {}, manifest read and full load < {TARGET_LOAD_MS} ms each (p95 of fresh files). ",
        target_size(TARGET_PLUGIN_BYTES)
    );
    out += &verdict(&misses, "All met.");
    out += "\n";
    out
}

/// `met` when nothing was missed, else the misses in bold.
fn verdict(misses: &[String], met: &str) -> String {
    if misses.is_empty() {
        met.to_string()
    } else {
        format!("**Missed**: {}.", misses.join("; "))
    }
}

// ---------------------------------------------------------------- methods

/// The target: cost-aware regret (goodput regret in benches recorded before it) under
/// the target with at most the target's deployments.
fn met_target(m: &MethodRun) -> bool {
    m.cost_regret_pct
        .or(m.regret_pct)
        .is_some_and(|r| r < TARGET_REGRET_PCT)
        && m.deployments.is_some_and(|d| d <= TARGET_DEPLOYMENTS)
}

/// What the candidate TPs leave out of the defaults', and why.
fn left_out_tps(candidates: &[u32], defaults: &RunSpec) -> String {
    let budget = defaults.search.gpu_budget;
    let smallest = defaults.search.decode_tp.iter().copied().min().unwrap_or(1);
    let notes: Vec<String> = defaults
        .search
        .prefill_tp
        .iter()
        .filter(|tp| !candidates.contains(tp))
        .map(|&tp| {
            if tp + smallest > budget {
                format!("the defaults' TP {tp} never fits a graph in {budget} GPUs; it only added measurements")
            } else {
                format!("the defaults' TP {tp} left out")
            }
        })
        .collect();
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}

pub fn methods(doc: &MethodsBench) -> String {
    let defaults = RunSpec::defaults();
    let runs = &doc.runs;
    let seeds = doc.seeds as usize;
    let mut scenarios: Vec<usize> = runs.iter().map(|r| r.scenario).collect();
    scenarios.dedup();
    let mut names: Vec<String> = runs
        .iter()
        .flat_map(|r| r.methods.iter().map(|m| m.method.clone()))
        .collect();
    names.sort();
    names.dedup();
    // Every (run, method) of one method, with the run's oracle best config.
    let of = |name: &str| -> Vec<(&ScenarioRun, &MethodRun)> {
        runs.iter()
            .flat_map(|r| r.methods.iter().filter(|m| m.method == name).map(move |m| (r, m)))
            .collect()
    };
    let mut out = header("Methods", &doc.machine);
    let default_trace_s = defaults.trace.duration_s;
    out += &format!(
        "{} scenarios x {seeds} seeds = {} runs of profile -> optimize -> compare (no validate stage), {} at \
         a time. Each run: a sinusoidal trace of one period, max rate = {} x the estimator's capacity of the \
         best planner-scaled graph within {} GPUs under the SLA (the budget split into prefill and decode \
         workers as well as it can be), at most {} req/s, min rate = max rate / {MIN_RATE_DIVISOR}; the trace lasts {:.0} s, or less ({MIN_TRACE_S} s at \
         least) so it asks for about {:.0} output tokens, since the simulation's cost grows with the tokens it \
         generates. The SLA planner keeps the defaults' timing relative to the trace ({DEFAULT_ADJUSTMENT_INTERVAL_S} s interval and {:.0} s \
         worker startup on an {default_trace_s:.0} s trace): interval = trace / {INTERVAL_DIVISOR}, worker startup = trace / {WORKER_STARTUP_DIVISOR}, so it scales within the trace as in a full run. \
         Each seed runs on its own reality drawn from the embedded plausible ranges (`--realities`' ranges) with \
         that seed, only `worker_s` changed. \
         Candidate TPs {} for prefill and decode{}.\n\nTotal: {:.1} min wall, {:.1} min CPU.\n\n",
        scenarios.len(),
        runs.len(),
        doc.parallel_runs,
        doc.load_fraction,
        defaults.search.gpu_budget,
        doc.max_rate,
        doc.trace_duration_s,
        doc.max_tokens,
        default_trace_s / WORKER_STARTUP_DIVISOR,
        tp_list(&doc.candidate_tps),
        left_out_tps(&doc.candidate_tps, &defaults),
        doc.total_wall_s / 60.0,
        doc.total_cpu_s / 60.0
    );
    out += &format!(
        "Deployments, GPU-hours and profiling duration are the host's metering of the profile stage; \
         regret = (oracle goodput - method goodput) / oracle goodput x 100 on the same trace; \
         cost-aware regret is the same on goodput per average GPU, against the oracle's best on that measure; \
         \"picked oracle's best\" counts runs whose chosen prefill x decode TP is the oracle's best candidate; \
         \"same as {REFERENCE_METHOD}\" counts runs whose choice equals {REFERENCE_METHOD}'s on the same seed. \
         Target: cost-aware regret < {TARGET_REGRET_PCT}% with <= {TARGET_DEPLOYMENTS} deployments.\n\n"
    );
    out += &format!("| method | runs ok | deployments median / max | GPU-h median / max | duration median | regret median / p90 | cost-aware regret median / p90 | picked oracle's best | same as {REFERENCE_METHOD} | runs met target | scenarios met (all seeds) |\n");
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for name in &names {
        let ms = of(name);
        let ok = ms.iter().filter(|(_, m)| m.regret_pct.is_some()).count();
        let deps: Vec<f64> = ms.iter().filter_map(|(_, m)| m.deployments.map(f64::from)).collect();
        let gpuh: Vec<f64> = ms.iter().filter_map(|(_, m)| m.gpu_hours).collect();
        let dur: Vec<f64> = ms.iter().filter_map(|(_, m)| m.duration_s).collect();
        let regret: Vec<f64> = ms.iter().filter_map(|(_, m)| m.regret_pct).collect();
        let cost_regret: Vec<f64> = ms.iter().filter_map(|(_, m)| m.cost_regret_pct).collect();
        let same_as_reference = ms
            .iter()
            .filter(|(r, m)| {
                r.methods
                    .iter()
                    .find(|o| o.method == REFERENCE_METHOD)
                    .is_some_and(|o| o.prefill_tp.is_some() && config(o) == config(m))
            })
            .count();
        let picked = ms
            .iter()
            .filter(|(r, m)| r.oracle_best.as_deref().is_some_and(|b| b.ends_with(&config(m))))
            .count();
        let met = ms.iter().filter(|(_, m)| met_target(m)).count();
        let scen_met = scenarios
            .iter()
            .filter(|&&i| {
                let these: Vec<_> = ms.iter().filter(|(r, _)| r.scenario == i).collect();
                these.len() == seeds && these.iter().all(|(_, m)| met_target(m))
            })
            .count();
        out += &format!(
            "| {name} | {ok}/{} | {} / {} | {} / {} | {} min | {} / {} | {} / {} | {picked}/{} | {same_as_reference}/{} | {met}/{} | {scen_met}/{} |\n",
            ms.len(),
            num(median(&deps), 0),
            num(max(&deps), 0),
            num(median(&gpuh), 2),
            num(max(&gpuh), 2),
            num(median(&dur).map(|s| s / 60.0), 0),
            pct(median(&regret)),
            pct(nearest_rank(&regret, 90.0)),
            pct(median(&cost_regret)),
            pct(nearest_rank(&cost_regret, 90.0)),
            ms.len(),
            ms.len(),
            ms.len(),
            scenarios.len()
        );
    }
    // Methods that chose the same graph in one run differ only by the profile their planner
    // read: identical goodput there means the stage did not see the profile.
    let (mut groups, mut identical) = (0, 0);
    for r in runs {
        let mut by_graph: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
        for m in r.methods.iter().filter(|m| m.prefill_tp.is_some()) {
            if let Some(g) = m.goodput {
                by_graph.entry(config(m)).or_default().push(g);
            }
        }
        for goodputs in by_graph.values().filter(|g| g.len() > 1) {
            groups += 1;
            identical += usize::from(goodputs.iter().all(|g| *g == goodputs[0]));
        }
    }
    out += &format!(
        "\n(run, graph) groups in which two or more methods chose the same graph: {groups}; \
         of them, with bit-identical goodput (the planner's decisions did not depend on which profile it read): {identical}.\n"
    );
    out += "\nPer scenario: rates in req/s; the oracle's best candidate (prefill TP x decode TP, the most frequent \
            over seeds) and its SLA hit rate; per method the median over seeds of its regret, the config it chose \
            most often and its median deployments.\n\n";
    out += "| # | model | system | ISL/OSL | TTFT/ITL ms | max rate | trace | oracle | oracle SLA hit |";
    for name in &names {
        out += &format!(" {name} |");
    }
    out += "\n|---:|---|---|---|---|---:|---:|---|---:|";
    out += &"---|".repeat(names.len());
    out += "\n";
    for &i in &scenarios {
        let these: Vec<&ScenarioRun> = runs.iter().filter(|r| r.scenario == i).collect();
        let Some(s) = these.first() else { continue };
        let oracles: Vec<String> = these.iter().filter_map(|r| r.oracle_best.clone()).collect();
        let oracle = mode(&oracles).map_or("none".to_string(), |o| o.replace("oracle ", ""));
        let hit: Vec<f64> = these
            .iter()
            .filter_map(|r| r.oracle_sla_hit_rate.map(|h| h * 100.0))
            .collect();
        out += &format!(
            "| {i} | {} | {} | {}/{} | {:.0}/{:.0} | {:.1} | {:.0} s | {oracle} | {} |",
            s.model.rsplit('/').next().unwrap_or(&s.model),
            s.system,
            s.isl,
            s.osl,
            s.ttft_ms,
            s.itl_ms,
            s.max_rate,
            s.trace_s,
            pct(median(&hit))
        );
        for name in names.iter() {
            let ms: Vec<&MethodRun> = these
                .iter()
                .flat_map(|r| r.methods.iter().filter(|m| &m.method == name))
                .collect();
            let regret: Vec<f64> = ms.iter().filter_map(|m| m.regret_pct).collect();
            let deps: Vec<f64> = ms.iter().filter_map(|m| m.deployments.map(f64::from)).collect();
            let configs: Vec<String> = ms.iter().map(|m| config(m)).collect();
            let failed = ms.iter().filter(|m| m.regret_pct.is_none()).count();
            let mut cell = format!(
                "{} {} ({}d)",
                pct(median(&regret)),
                mode(&configs).map_or("-", |c| c.as_str()),
                num(median(&deps), 0)
            );
            if failed > 0 {
                cell += &format!(" {failed} failed");
            }
            out += &format!(" {cell} |");
        }
        out += "\n";
    }
    let errors: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.methods.iter().filter_map(move |m| {
                let why = m
                    .error
                    .clone()
                    .or_else(|| m.regret_pct.is_none().then(|| "no regret".to_string()))?;
                Some(format!(
                    "scenario {} seed {} {}: {}",
                    r.scenario,
                    r.seed,
                    m.method,
                    one_line(&why)
                ))
            })
        })
        .collect();
    if !errors.is_empty() {
        out += &format!("\nFailures ({}):\n\n", errors.len());
        for e in errors.iter().take(FAILURES_LISTED) {
            out += &format!("- {e}\n");
        }
        if errors.len() > FAILURES_LISTED {
            out += &format!("- ... and {} more (see the JSON)\n", errors.len() - FAILURES_LISTED);
        }
    }
    out
}

/// A method's chosen graph as `PxD`, or `-`.
fn config(m: &MethodRun) -> String {
    match (m.prefill_tp, m.decode_tp) {
        (Some(p), Some(d)) => format!("{p}x{d}"),
        _ => "-".to_string(),
    }
}

// ---------------------------------------------------------------- run

pub fn run(bench: &RunBench) -> String {
    let (defaults, main) = (&bench.defaults, &bench.main);
    let mut out = header("Run", &bench.machine);
    out += &format!(
        "`profcmp run` with every installed method on the defaults ({} on {}, TTFT {} / ITL {} ms, ISL {} / OSL {}, \
         TP {:?}, GPU budget `auto` = {}, {} s trace of {}-{} req/s). Each stage is timed on its own (the profile, validate and optimize \
         stages each also build the estimator set; compare writes the reports and plots). Peak memory is VmHWM \
         from /proc/self/status, reset to the current resident size before each stage (so a stage's peak \
         includes what earlier stages left allocated). CPU is user+system time of the process.\n\n",
        defaults.model,
        defaults.system,
        defaults.sla.ttft_ms,
        defaults.sla.itl_ms,
        defaults.sla.isl,
        defaults.sla.osl,
        defaults.search.prefill_tp,
        defaults.search.gpu_budget,
        defaults.trace.duration_s,
        defaults.trace.min_rate,
        defaults.trace.max_rate,
    );
    out += "| stage | wall | CPU | peak memory |\n|---|---:|---:|---:|\n";
    for (stage, wall, cpu, peak) in &main.stages {
        out += &format!("| {stage} | {wall:.2} s | {cpu:.2} s | {} MB |\n", peak / 1024);
    }
    let (wall, peak) = (main.wall(), main.peak_kb());
    out += &format!(
        "| **total** | **{wall:.1} s** | {:.1} s | **{} MB** |\n\n",
        main.cpu(),
        peak / 1024
    );
    let mut misses = Vec::new();
    if wall >= TARGET_RUN_S {
        misses.push(format!("wall time {wall:.1} s (target < {TARGET_RUN_S} s)"));
    }
    if peak >= TARGET_RUN_PEAK_KB {
        misses.push(format!(
            "peak memory {} MB (target < {})",
            peak / 1024,
            target_size(TARGET_RUN_PEAK_KB * 1024)
        ));
    }
    if main.failed > 0 {
        misses.push(format!("{} method run(s) failed", main.failed));
    }
    out += &format!(
        "Targets: < {TARGET_RUN_S} s wall, < {} peak memory. ",
        target_size(TARGET_RUN_PEAK_KB * 1024)
    );
    out += &verdict(&misses, "Both met.");
    if let Some(slowest) = main
        .stages
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|_| !misses.is_empty())
    {
        out += &format!(
            " The {} stage dominates ({:.0}% of the wall time).",
            slowest.0,
            slowest.1 / wall * 100.0
        );
    }
    out += "\n";
    let rerun = &bench.rerun;
    out += &format!(
        "\nThe same run again in the same results directory, nothing changed: {:.2} s wall, {:.2} s CPU \
         (every stage finds its inputs unchanged; compare rewrites the reports). Target: < {TARGET_RERUN_S} s. {}\n",
        rerun.wall(),
        rerun.cpu(),
        if rerun.wall() < TARGET_RERUN_S {
            "Met.".to_string()
        } else {
            format!("**Missed**: {:.2} s.", rerun.wall())
        }
    );
    out += &replay_costs(&bench.replay, bench.methods + main.candidates, bench.threads);
    if bench.scaling.is_empty() {
        return out;
    }
    out += &format!(
        "\nScaling: the same run with a longer trace, and with fewer candidate TPs (prefill and decode alike; \
         the oracle runs every pair within {} GPUs).\n\n",
        defaults.search.gpu_budget
    );
    out += "| run | trace requests | profile | validate | optimize | compare | total | CPU | peak memory |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (_, r) in &bench.scaling {
        out += &format!("| {} | {} |", r.label, r.requests);
        for (_, wall, _, _) in &r.stages {
            out += &format!(" {wall:.2} s |");
        }
        out += &format!(" {:.1} s | {:.1} s | {} MB |\n", r.wall(), r.cpu(), r.peak_kb() / 1024);
    }
    // optimize wall = a + b x trace length, least squares over the trace runs.
    let points: Vec<(f64, f64)> = bench
        .scaling
        .iter()
        .filter(|(kind, _)| *kind == Scaling::TraceLength)
        .filter_map(|(_, r)| Some((r.trace_s, r.optimize_s()?)))
        .collect();
    if let Some((a, b)) = least_squares(&points) {
        let grows = b * defaults.trace.duration_s;
        out += &format!(
            "\nOptimize stage wall time ~ {a:.1} s + {:.1} s per 100 s of trace (least squares over the trace runs). \
             At the default {:.0} s, {grows:.0} s of it grow with the trace: the planner-in-the-loop simulations \
             ({} methods + the oracle's {} candidates, each replaying the whole trace, on {} threads); the part that \
             does not grow (the oracle's measured profiles: a prefill ISL sweep and a decode grid per candidate \
             TP) is small.",
            b * 100.0,
            defaults.trace.duration_s,
            bench.methods,
            main.candidates,
            bench.threads,
        );
        out += &candidates_note(bench);
        out += "\n";
    }
    out
}

/// One planner job against aisimulate alone on the same trace.
fn replay_costs(r: &ReplayCosts, jobs: usize, threads: usize) -> String {
    let mut out = format!(
        "\nOne planner job of this run, timed apart: the oracle's best-goodput candidate (prefill TP{} + decode \
         TP{}, warm start {}P+{}D) on the run's trace ({} requests, {} output tokens), each piece on a fresh \
         simulated cluster. The floor is aisimulate-core alone: the warm start's graph held fixed, no planner, no \
         per-request records (`SimCluster::replay_floor`).\n\n",
        r.graph.0, r.graph.1, r.warm.0, r.warm.1, r.requests, r.output_tokens
    );
    out += "| piece | wall | CPU | peak memory | CPU per 1k requests | CPU per 1M output tokens |\n";
    out += "|---|---:|---:|---:|---:|---:|\n";
    for (name, (wall, cpu, peak)) in [
        ("floor: aisimulate alone", r.floor),
        ("planner replay (warm run, records)", r.planned),
        ("whole job (warm + cold start + artifacts)", r.job),
    ] {
        out += &format!(
            "| {name} | {wall:.2} s | {cpu:.2} s | {} MB | {:.0} ms | {:.0} ms |\n",
            peak / 1024,
            cpu * 1e3 / (r.requests.max(1) as f64 / 1e3),
            cpu * 1e3 / (r.output_tokens.max(1) as f64 / 1e6),
        );
    }
    let (wall, _, peak) = r.planned;
    let mut misses = Vec::new();
    if wall >= TARGET_REPLAY_S {
        misses.push(format!("{wall:.2} s (target < {TARGET_REPLAY_S} s)"));
    }
    if peak >= TARGET_REPLAY_PEAK_KB {
        misses.push(format!(
            "{} MB (target < {})",
            peak / 1024,
            target_size(TARGET_REPLAY_PEAK_KB * 1024)
        ));
    }
    out += &format!(
        "\nThe planner replay runs at {:.2}x the floor's CPU and {:.2}x its peak memory. Targets for the planner \
         replay: < {TARGET_REPLAY_S} s, < {}. ",
        r.planned.1 / r.floor.1.max(1e-9),
        r.planned.2 as f64 / r.floor.2.max(1) as f64,
        target_size(TARGET_REPLAY_PEAK_KB * 1024)
    );
    out += &verdict(&misses, "Both met.");
    // What the run's jobs would cost if each were this one at the floor, warm run only.
    let floor_cpu = r.floor.1 * jobs as f64;
    out += &format!(
        " The run has {jobs} planner jobs (methods and oracle candidates); at this job's floor each, warm \
         runs only, they would need about {floor_cpu:.0} s CPU, {:.0} s on {threads} threads: the simulation \
         the optimize stage must do, before any planner, record or cold start.\n",
        floor_cpu / threads.max(1) as f64,
    );
    out
}

/// How the number of oracle candidates (planner runs) grows with the candidate TP sets run.
fn candidates_note(bench: &RunBench) -> String {
    let runs: Vec<_> = bench
        .scaling
        .iter()
        .filter(|(kind, _)| *kind == Scaling::Candidates)
        .map(|(_, r)| r)
        .collect();
    if runs.len() < 2 {
        return String::new();
    }
    let counts: Vec<String> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let what = if i == 0 { " oracle candidates" } else { "" };
            format!("{}{what} with TP {}", r.candidates, tp_list(&r.tps))
        })
        .collect();
    let mut note = format!(
        " The time follows the number of planner runs: {}",
        counts.join(" against ")
    );
    // A TP whose smallest graph exceeds the budget adds measurements but no candidate.
    let budget = bench.defaults.search.gpu_budget;
    let idle: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            r.tps
                .iter()
                .filter(|&&t| t + r.tps.iter().min().copied().unwrap_or(t) > budget)
        })
        .map(u32::to_string)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !idle.is_empty() {
        note += &format!(
            " (TP {} adds no candidate within {budget} GPUs, only its measurements)",
            idle.join(",")
        );
    }
    note + "."
}

/// Intercept and slope of the least-squares line through `points` (None with fewer than two
/// distinct x).
fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
    Some((my - b * mx, b))
}

// ---------------------------------------------------------------- cells

fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or("n/a".to_string(), |v| format!("{v:.decimals$}"))
}

fn pct(value: Option<f64>) -> String {
    value.map_or("n/a".to_string(), |v| format!("{v:.1}%"))
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.0} KB", bytes as f64 / 1024.0)
    }
}

/// A target size in whole units: `1 MB`, `1 GB`.
fn target_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 && b % (1 << 30) == 0 => format!("{} GB", b >> 30),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MB", b >> 20),
        b => size_text(b),
    }
}

/// The first line of `text`, cut to 160 characters.
fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 160 {
        line.chars().take(160).collect::<String>() + "..."
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::super::runner::{StageTime, TimedRun};
    use super::*;

    fn method(name: &str, regret: f64, tp: (u32, u32)) -> MethodRun {
        MethodRun {
            method: name.into(),
            error: None,
            prefill_tp: Some(tp.0),
            decode_tp: Some(tp.1),
            deployments: Some(3),
            gpu_hours: Some(1.0),
            duration_s: Some(600.0),
            goodput: Some(10.0 - regret / 10.0),
            regret_pct: Some(regret),
            cost_regret_pct: Some(regret),
        }
    }

    fn scenario(scenario: usize, seed: u64, methods: Vec<MethodRun>) -> ScenarioRun {
        ScenarioRun {
            scenario,
            model: "Qwen/Qwen3-8B".into(),
            system: "h200_sxm".into(),
            isl: 2048,
            osl: 256,
            ttft_ms: 500.0,
            itl_ms: 50.0,
            seed,
            min_rate: 1.0,
            max_rate: 9.0,
            trace_s: 300.0,
            requests: 100,
            oracle_best: Some("oracle 1x2".into()),
            oracle_goodput: Some(10.0),
            oracle_sla_hit_rate: Some(0.9),
            wall_s: 1.0,
            methods,
        }
    }

    fn doc(runs: Vec<ScenarioRun>, seeds: u32, parallel_runs: usize) -> MethodsBench {
        MethodsBench {
            machine: "test machine".into(),
            seeds,
            trace_duration_s: 300.0,
            load_fraction: 0.8,
            max_rate: 60.0,
            max_tokens: 1e5,
            target: String::new(),
            total_wall_s: 60.0,
            total_cpu_s: 120.0,
            parallel_runs,
            candidate_tps: vec![1, 2, 4],
            runs,
        }
    }

    #[test]
    fn methods_prose_counts_what_ran() {
        let one = vec![scenario(
            1,
            42,
            vec![method("a", 2.0, (1, 2)), method("b", 9.0, (2, 2))],
        )];
        let text = methods(&doc(one, 1, 2));
        assert!(text.contains("1 scenarios x 1 seeds = 1 runs"), "{text}");
        assert!(text.contains(", 2 at a time"), "{text}");
        assert!(text.contains("the defaults' TP 8 never fits"), "{text}");
        // One more scenario with a second seed each, run 3 at a time: every count follows.
        let runs = (1..=2)
            .flat_map(|s| (42..44).map(move |seed| scenario(s, seed, vec![method("a", 2.0, (1, 2))])))
            .collect();
        let text = methods(&doc(runs, 2, 3));
        assert!(text.contains("2 scenarios x 2 seeds = 4 runs"), "{text}");
        assert!(text.contains(", 3 at a time"), "{text}");
        // a met the target (regret 2% < 5%, 3 deployments) in every run and picked the oracle's best.
        assert!(text.contains("| a | 4/4 | 3 / 3 |"), "{text}");
        assert!(text.contains("| 4/4 | 0/4 | 4/4 | 2/2 |"), "{text}");
    }

    #[test]
    fn a_method_over_the_regret_target_misses_it() {
        let text = methods(&doc(
            vec![scenario(1, 42, vec![method("a", TARGET_REGRET_PCT + 1.0, (1, 2))])],
            1,
            1,
        ));
        assert!(text.contains("| 0/1 | 0/1 |\n"), "{text}");
    }

    fn timed(label: &str, trace_s: f64, tps: Vec<u32>, candidates: usize, optimize_s: f64) -> TimedRun {
        let stages: Vec<StageTime> = vec![
            ("profile", 1.0, 1.0, 1024),
            ("validate", 1.0, 1.0, 1024),
            ("optimize", optimize_s, optimize_s, 2048),
            ("compare", 1.0, 1.0, 1024),
        ];
        TimedRun {
            label: label.into(),
            trace_s,
            tps,
            candidates,
            stages,
            failed: 0,
            requests: 10,
        }
    }

    #[test]
    fn run_prose_names_the_methods_threads_and_candidates_that_ran() {
        let defaults = RunSpec::defaults();
        let bench = |methods: usize, threads: usize| RunBench {
            machine: "test machine".into(),
            defaults: defaults.clone(),
            methods,
            threads,
            main: timed("defaults", 1800.0, vec![1, 2, 4, 8], 9, 20.0),
            rerun: timed("rerun", 1800.0, vec![1, 2, 4, 8], 9, 0.0),
            replay: ReplayCosts {
                graph: (4, 4),
                warm: (3, 1),
                requests: 40_000,
                output_tokens: 8_000_000,
                floor: (2.0, 2.0, 100 * 1024),
                planned: (3.0, 3.0, 300 * 1024),
                job: (4.0, 4.0, 350 * 1024),
            },
            scaling: vec![
                (Scaling::TraceLength, timed("t300", 300.0, vec![1, 2, 4, 8], 9, 5.0)),
                (Scaling::TraceLength, timed("t1800", 1800.0, vec![1, 2, 4, 8], 9, 20.0)),
                (Scaling::Candidates, timed("c12", 1800.0, vec![1, 2], 4, 10.0)),
                (Scaling::Candidates, timed("c1248", 1800.0, vec![1, 2, 4, 8], 9, 20.0)),
            ],
        };
        let text = run(&bench(5, 2));
        assert!(
            text.contains("(5 methods + the oracle's 9 candidates, each replaying the whole trace, on 2 threads)"),
            "{text}"
        );
        assert!(
            text.contains("4 oracle candidates with TP 1,2 against 9 with TP 1,2,4,8"),
            "{text}"
        );
        assert!(text.contains("TP 8 adds no candidate within 8 GPUs"), "{text}");
        // 15 s more optimize time over 1500 s more trace: 1 s per 100 s, from 2 s at no trace.
        assert!(text.contains("~ 2.0 s + 1.0 s per 100 s of trace"), "{text}");
        let text = run(&bench(3, 4));
        assert!(
            text.contains("(3 methods + the oracle's 9 candidates, each replaying the whole trace, on 4 threads)"),
            "{text}"
        );
        // The whole run (23 s) misses 20 s; the replay (3 s CPU over 2 s of floor) misses 2 s.
        assert!(text.contains("**Missed**: wall time 23.0 s (target < 20 s)"), "{text}");
        assert!(
            text.contains("at 1.50x the floor's CPU and 3.00x its peak memory"),
            "{text}"
        );
        assert!(
            text.contains("| floor: aisimulate alone | 2.00 s | 2.00 s | 100 MB | 50 ms | 250 ms |"),
            "{text}"
        );
        assert!(
            text.contains("**Missed**: 3.00 s (target < 2 s); 300 MB (target < 250 MB)"),
            "{text}"
        );
        // The rerun's stages took 1 s each but optimize: 3 s in all, over the 1 s target.
        assert!(text.contains("nothing changed: 3.00 s wall"), "{text}");
        assert!(text.contains("Target: < 1 s. **Missed**: 3.00 s."), "{text}");
        // 3 methods + 9 candidates at the 2 s floor on 4 threads.
        assert!(
            text.contains("12 planner jobs (methods and oracle candidates); at this job's floor each, warm runs only, they would need about 24 s CPU, 6 s on 4 threads"),
            "{text}"
        );
    }
}
