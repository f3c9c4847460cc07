//! What each bench runs and measures; the numbers go to `report` to be written up. One function
//! per bench (`plugins`, `methods`, `run`): a new bench adds its own here, a variant in
//! `BenchCommand` and a renderer in `report`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use profcmp_core::layout::{read_json, ResultsDir, RunRecord};
use profcmp_core::report::Comparison;
use profcmp_core::spec::RunSpec;
use profcmp_core::stage::compare::{compare, CompareOptions};
use serde::{Deserialize, Serialize};

use super::proc::{cpu_s, machine_info, measured, ms, thread_cpu_ms, workspace_root};
use super::scenarios::{self, Load, SCENARIOS};
use super::TempDir;
use crate::methods::MethodArgs;
use crate::output::Console;
use crate::run::{run_with, Stages};
use crate::{load, methods};

// ---------------------------------------------------------------- plugins

/// Wall and thread-CPU times of repeated operations, ms.
#[derive(Default)]
pub struct Timings {
    pub wall: Vec<f64>,
    pub cpu: Vec<f64>,
}

impl Timings {
    fn time(&mut self, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
        let (t, cpu) = (Instant::now(), thread_cpu_ms());
        f()?;
        self.cpu.push(thread_cpu_ms() - cpu);
        self.wall.push(ms(t));
        Ok(())
    }
}

/// One plugin's sizes and load times.
pub struct PluginTimes {
    pub name: String,
    pub size: u64,
    /// Size after `strip`, when `strip` is available.
    pub stripped: Option<u64>,
    /// Manifest reads of fresh copies.
    pub fresh: Timings,
    /// Manifest reads of a file already read.
    pub again: Timings,
    /// Full loads of fresh copies.
    pub loads: Timings,
    /// One load of a file already loaded.
    pub reload: Timings,
}

/// The plugins bench: settings, the machine, and one row per plugin (the minimal one first).
pub struct PluginsBench {
    pub machine: String,
    pub iterations: usize,
    pub copies: usize,
    pub plugins: Vec<PluginTimes>,
}

pub fn plugins(
    iterations: usize,
    copies: usize,
    minimal: Option<PathBuf>,
    methods: &MethodArgs,
) -> anyhow::Result<PluginsBench> {
    let machine = machine_info();
    let minimal = match minimal {
        Some(path) => path,
        None => build_minimal()?,
    };
    let resolved = methods::resolve(methods)?;
    let mut plugins = vec![("minimal (fixture)".to_string(), minimal)];
    plugins.extend(resolved.iter().map(|r| (r.name.clone(), r.path.clone())));
    let scratch = TempDir::new("plugins")?;
    let mut rows = Vec::new();
    for (i, (name, path)) in plugins.iter().enumerate() {
        let size = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let stripped = stripped_size(path, &scratch.0.join(format!("stripped-{i}.so")));
        let manifest = load::read_manifest(path).map_err(anyhow::Error::msg)?;
        let (mut fresh, mut again, mut loads) = (Timings::default(), Timings::default(), Timings::default());
        let mut last = None;
        for k in 0..copies {
            let copy = scratch.0.join(format!("lib{i}-m{k}.so"));
            std::fs::copy(path, &copy)?;
            fresh.time(|| load::read_manifest(&copy).map(drop).map_err(anyhow::Error::msg))?;
            let copy = scratch.0.join(format!("lib{i}-l{k}.so"));
            std::fs::copy(path, &copy)?;
            let resolved = load::Resolved {
                name: manifest.name.clone(),
                version: manifest.version.clone(),
                path: copy,
                sha256: String::new(),
                api_version: manifest.api_version.clone(),
                options: serde_json::Value::Null,
            };
            loads.time(|| load::load(&resolved).map(drop).map_err(anyhow::Error::msg))?;
            last = Some(resolved);
        }
        for _ in 0..iterations {
            again.time(|| load::read_manifest(path).map(drop).map_err(anyhow::Error::msg))?;
        }
        let mut reload = Timings::default();
        reload.time(|| {
            load::load(&last.expect("one copy at least"))
                .map(drop)
                .map_err(anyhow::Error::msg)
        })?;
        rows.push(PluginTimes {
            name: name.clone(),
            size,
            stripped,
            fresh,
            again,
            loads,
            reload,
        });
    }
    Ok(PluginsBench {
        machine,
        iterations,
        copies,
        plugins: rows,
    })
}

/// Builds tests/fixture-plugins in release and returns its libminimal.so.
fn build_minimal() -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let target = root.join("target/fixture-plugins");
    eprintln!("building tests/fixture-plugins in release (cargo) ...");
    let status = std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--manifest-path"])
        .arg(root.join("tests/fixture-plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .context("cannot run cargo; pass --minimal PATH to a built libminimal.so")?;
    if !status.success() {
        bail!("building tests/fixture-plugins failed; pass --minimal PATH to a built libminimal.so");
    }
    Ok(target
        .join("release")
        .join(format!("libminimal.{}", std::env::consts::DLL_EXTENSION)))
}

/// Size after `strip` (what an installed plugin could weigh), when `strip` is available.
fn stripped_size(path: &Path, scratch: &Path) -> Option<u64> {
    let ok = std::process::Command::new("strip")
        .arg("-o")
        .arg(scratch)
        .arg(path)
        .status()
        .ok()?
        .success();
    ok.then(|| std::fs::metadata(scratch).ok().map(|m| m.len()))?
}

// ---------------------------------------------------------------- methods

/// One method in one (scenario, seed) run.
#[derive(Serialize, Deserialize, Clone)]
pub struct MethodRun {
    pub method: String,
    pub error: Option<String>,
    pub prefill_tp: Option<u32>,
    pub decode_tp: Option<u32>,
    pub deployments: Option<u32>,
    pub gpu_hours: Option<f64>,
    pub duration_s: Option<f64>,
    pub goodput: Option<f64>,
    pub regret_pct: Option<f64>,
    /// Regret on goodput per average GPU (absent in benches recorded before it existed).
    #[serde(default)]
    pub cost_regret_pct: Option<f64>,
}

/// One (scenario, seed) run.
#[derive(Serialize, Deserialize)]
pub struct ScenarioRun {
    pub scenario: usize,
    pub model: String,
    pub system: String,
    pub isl: u32,
    pub osl: u32,
    pub ttft_ms: f64,
    pub itl_ms: f64,
    pub seed: u64,
    pub min_rate: f64,
    pub max_rate: f64,
    pub trace_s: f64,
    pub requests: usize,
    pub oracle_best: Option<String>,
    pub oracle_goodput: Option<f64>,
    pub oracle_sla_hit_rate: Option<f64>,
    pub wall_s: f64,
    pub methods: Vec<MethodRun>,
}

/// The methods bench's settings and every run: its JSON file and the input of its report.
#[derive(Serialize, Deserialize)]
pub struct MethodsBench {
    pub machine: String,
    pub seeds: u32,
    pub trace_duration_s: f64,
    pub load_fraction: f64,
    pub max_rate: f64,
    pub max_tokens: f64,
    pub target: String,
    pub total_wall_s: f64,
    pub total_cpu_s: f64,
    pub parallel_runs: usize,
    pub candidate_tps: Vec<u32>,
    pub runs: Vec<ScenarioRun>,
}

/// The target: cost-aware regret under this, %...
pub const TARGET_REGRET_PCT: f64 = 5.0;
/// ... with at most this many deployments.
pub const TARGET_DEPLOYMENTS: u32 = 4;

/// Every (scenario, seed) of the first `only` scenarios (all by default), `jobs` at a time.
pub fn methods(
    seeds: u32,
    load: Load,
    tps: &[u32],
    jobs: usize,
    only: Option<usize>,
    methods: &MethodArgs,
) -> anyhow::Result<MethodsBench> {
    if !(load.trace_duration_s > 0.0 && load.fraction > 0.0 && load.max_rate > 0.0 && load.max_tokens > 0.0) {
        bail!("--trace-duration, --load, --max-rate and --max-tokens must be positive");
    }
    let machine = machine_info();
    let console = Console::new(false, false);
    let scratch = TempDir::new("methods")?;
    let scenarios = &SCENARIOS[..only.unwrap_or(SCENARIOS.len()).min(SCENARIOS.len())];
    let mut todo = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let mut spec = scenarios::scenario_spec(s, tps, load)?;
        let worker_s = scenarios::worker_startup_s(&spec);
        eprintln!(
            "bench methods: scenario {}: {} {} {}/{} {}/{} ms: {:.1}-{:.1} req/s over {:.0} s",
            i + 1,
            s.model,
            s.system,
            s.isl,
            s.osl,
            s.ttft_ms,
            s.itl_ms,
            spec.trace.min_rate,
            spec.trace.max_rate,
            spec.trace.duration_s
        );
        for k in 0..seeds {
            spec.seed = scenarios::FIRST_SEED + u64::from(k);
            let reality = scratch.0.join(format!("reality-{i}-{k}.toml"));
            scenarios::write_reality(&reality, worker_s, spec.seed)?;
            spec.reality = reality.display().to_string();
            todo.push((i, spec.clone()));
        }
    }
    let started = Instant::now();
    let cpu_started = cpu_s();
    let outcomes = in_parallel(&todo, jobs, |n, (i, spec)| {
        let dir = scratch.0.join(format!("run-{n}"));
        let outcome = one_run(*i, spec, &dir, methods, &console);
        let _ = std::fs::remove_dir_all(&dir);
        match &outcome {
            Ok(run) => eprintln!(
                "bench methods: {}/{}: scenario {} seed {}, max rate {:.2} req/s: {:.1} s (total {:.0} s)",
                n + 1,
                todo.len(),
                i + 1,
                spec.seed,
                spec.trace.max_rate,
                run.wall_s,
                started.elapsed().as_secs_f64()
            ),
            Err(e) => eprintln!("bench methods: scenario {} seed {}: FAILED: {e:#}", i + 1, spec.seed),
        }
        outcome
    });
    let mut runs = outcomes.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    runs.sort_by_key(|r| (r.scenario, r.seed));
    console.finish();
    Ok(MethodsBench {
        machine,
        seeds,
        trace_duration_s: load.trace_duration_s,
        load_fraction: load.fraction,
        max_rate: load.max_rate,
        max_tokens: load.max_tokens,
        target: format!("regret < {TARGET_REGRET_PCT}% with <= {TARGET_DEPLOYMENTS} deployments"),
        total_wall_s: started.elapsed().as_secs_f64(),
        total_cpu_s: cpu_s() - cpu_started,
        parallel_runs: jobs,
        candidate_tps: tps.to_vec(),
        runs,
    })
}

/// `work(index, item)` for every item on up to `jobs` threads; the results in the items' order.
fn in_parallel<T: Sync, R: Send>(items: &[T], jobs: usize, work: impl Fn(usize, &T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Vec<std::sync::Mutex<Option<R>>> = items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(n) else { break };
                let result = work(n, item);
                *done[n].lock().unwrap() = Some(result);
            });
        }
    });
    done.into_iter()
        .map(|slot| slot.into_inner().unwrap().expect("every item ran"))
        .collect()
}

/// Profile, optimize and compare one (scenario, seed) into `dir`.
fn one_run(
    i: usize,
    spec: &RunSpec,
    dir: &Path,
    methods: &MethodArgs,
    console: &Console,
) -> anyhow::Result<ScenarioRun> {
    let t = Instant::now();
    run_with(spec.clone(), dir, methods, None, None, None, Stages::Profile, console)?;
    run_with(spec.clone(), dir, methods, None, None, None, Stages::Optimize, console)?;
    let options = CompareOptions {
        sla: spec.sla,
        ..Default::default()
    };
    let results = ResultsDir::new(dir);
    let comparison = compare(&results, &options);
    let requests = trace_requests(&results);
    Ok(scenario_run(i, spec, &comparison, requests, ms(t) / 1000.0))
}

fn scenario_run(i: usize, spec: &RunSpec, comparison: &Comparison, requests: usize, wall_s: f64) -> ScenarioRun {
    let methods = comparison
        .methods
        .iter()
        .map(|m| MethodRun {
            method: m.method.clone(),
            error: m.error.clone(),
            prefill_tp: m.prefill_tp,
            decode_tp: m.decode_tp,
            deployments: m.cost.deployments,
            gpu_hours: m.cost.gpu_hours,
            duration_s: m.cost.duration_s,
            goodput: m.optimization.goodput.map(|s| s.mean),
            regret_pct: m.optimization.regret_pct.map(|s| s.mean),
            cost_regret_pct: m.optimization.cost_regret_pct.map(|s| s.mean),
        })
        .collect();
    ScenarioRun {
        scenario: i + 1,
        model: spec.model.clone(),
        system: spec.system.clone(),
        isl: spec.sla.isl,
        osl: spec.sla.osl,
        ttft_ms: spec.sla.ttft_ms,
        itl_ms: spec.sla.itl_ms,
        seed: spec.seed,
        min_rate: spec.trace.min_rate,
        max_rate: spec.trace.max_rate,
        trace_s: spec.trace.duration_s,
        requests,
        oracle_best: comparison.oracle.as_ref().and_then(|o| o.best.clone()),
        oracle_goodput: comparison.oracle.as_ref().and_then(|o| o.best_goodput),
        oracle_sla_hit_rate: comparison.oracle.as_ref().and_then(|o| {
            let best = o.best.as_ref()?;
            let c = o.candidates.iter().find(|c| &c.name == best)?;
            c.optimization.sla_hit_rate.map(|s| s.mean)
        }),
        wall_s,
        methods,
    }
}

// ---------------------------------------------------------------- run

/// One stage of a timed run: name, wall s, CPU s, peak memory kB.
pub type StageTime = (&'static str, f64, f64, u64);

/// One timed full run.
pub struct TimedRun {
    pub label: String,
    pub trace_s: f64,
    /// The TPs tried for prefill and decode alike.
    pub tps: Vec<u32>,
    /// Oracle candidates the optimize stage ran (TP pairs within the GPU budget).
    pub candidates: usize,
    pub stages: Vec<StageTime>,
    pub failed: usize,
    pub requests: usize,
}

impl TimedRun {
    pub fn wall(&self) -> f64 {
        self.stages.iter().map(|s| s.1).sum()
    }
    pub fn cpu(&self) -> f64 {
        self.stages.iter().map(|s| s.2).sum()
    }
    pub fn peak_kb(&self) -> u64 {
        self.stages.iter().map(|s| s.3).max().unwrap_or(0)
    }
    /// The optimize stage's wall time, s.
    pub fn optimize_s(&self) -> Option<f64> {
        self.stages.iter().find(|s| s.0 == "optimize").map(|s| s.1)
    }
    fn relabel(&self, label: &str) -> TimedRun {
        TimedRun {
            label: label.to_string(),
            trace_s: self.trace_s,
            tps: self.tps.clone(),
            candidates: self.candidates,
            stages: self.stages.clone(),
            failed: self.failed,
            requests: self.requests,
        }
    }
}

/// What a scaling run varies.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    TraceLength,
    Candidates,
}

/// The run bench: the defaults' run, and the scaling runs (empty with `--no-scaling`).
pub struct RunBench {
    pub machine: String,
    pub defaults: RunSpec,
    /// Methods that ran.
    pub methods: usize,
    /// Threads the optimize stage's jobs ran on.
    pub threads: usize,
    pub main: TimedRun,
    /// The same run again in the same results directory, nothing changed.
    pub rerun: TimedRun,
    /// One planner job of the main run against aisimulate alone on its trace.
    pub replay: ReplayCosts,
    pub scaling: Vec<(Scaling, TimedRun)>,
}

/// Wall s, CPU s and peak memory kB of one measured piece.
pub type Cost = (f64, f64, u64);

/// What one planner job of the optimize stage costs, next to the floor under it.
pub struct ReplayCosts {
    /// The oracle candidate replayed (prefill TP, decode TP) and its warm start (P, D workers).
    pub graph: (u32, u32),
    pub warm: (u32, u32),
    pub requests: u64,
    pub output_tokens: u64,
    /// aisimulate alone: the warm start's graph, fixed, no planner, no per-request records.
    pub floor: Cost,
    /// The same replay with the planner and per-request records (the job's warm run).
    pub planned: Cost,
    /// The whole job as the optimize stage runs it: warm run, cold start, artifacts written.
    pub job: Cost,
}

/// `1,2,4` for TPs.
pub fn tp_list(tps: &[u32]) -> String {
    tps.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

pub fn run(
    trace_durations: &[f64],
    tp_sets: &[String],
    no_scaling: bool,
    methods: &MethodArgs,
) -> anyhow::Result<RunBench> {
    let machine = machine_info();
    let method_count = methods::resolve(methods)?.len();
    let console = Console::new(false, false);
    let scratch = TempDir::new("run")?;
    let mut defaults = RunSpec::defaults();
    // The CLI's default `--gpu-budget auto` (0 here), resolved by the run; the report reads the
    // resolved settings back from its run.json.
    defaults.search.gpu_budget = 0;
    let main = timed_run(
        "defaults",
        defaults.clone(),
        &scratch.0.join("defaults"),
        methods,
        &console,
    )?;
    let main_dir = ResultsDir::new(scratch.0.join("defaults"));
    let resolved = read_json::<RunRecord>(&main_dir.run_json())?.spec;
    let rerun = timed_run("rerun", defaults.clone(), &main_dir.root, methods, &console)?;
    let replay = replay_costs(&resolved, &main_dir, &scratch.0.join("replay"))?;
    let defaults = resolved;
    let mut scaling = Vec::new();
    let default_tps = tp_list(&defaults.search.prefill_tp);
    for &duration in trace_durations.iter().filter(|_| !no_scaling) {
        let label = format!("trace {duration:.0} s, TP {default_tps}");
        if (duration - defaults.trace.duration_s).abs() < 1e-9 {
            scaling.push((Scaling::TraceLength, main.relabel(&label)));
            continue;
        }
        let mut spec = defaults.clone();
        spec.trace.duration_s = duration;
        let dir = scratch.0.join(format!("trace-{duration}"));
        scaling.push((Scaling::TraceLength, timed_run(&label, spec, &dir, methods, &console)?));
    }
    for set in tp_sets.iter().filter(|_| !no_scaling) {
        let tps: Vec<u32> = set
            .split('-')
            .map(|t| t.parse().with_context(|| format!("--tp-sets: bad TP set `{set}`")))
            .collect::<anyhow::Result<_>>()?;
        let label = format!("trace {:.0} s, TP {}", defaults.trace.duration_s, tp_list(&tps));
        if tps == defaults.search.prefill_tp {
            scaling.push((Scaling::Candidates, main.relabel(&label)));
            continue;
        }
        let mut spec = defaults.clone();
        spec.search.prefill_tp = tps.clone();
        spec.search.decode_tp = tps;
        let dir = scratch.0.join(format!("tp-{set}"));
        scaling.push((Scaling::Candidates, timed_run(&label, spec, &dir, methods, &console)?));
    }
    console.finish();
    Ok(RunBench {
        machine,
        defaults,
        methods: method_count,
        threads: super::proc::cores(),
        main,
        rerun,
        replay,
        scaling,
    })
}

/// Times the oracle's best-goodput candidate of a finished run three ways (see `ReplayCosts`),
/// each on a fresh simulated cluster like the optimize stage's, into `scratch`.
fn replay_costs(spec: &RunSpec, results: &ResultsDir, scratch: &Path) -> anyhow::Result<ReplayCosts> {
    use profcmp_core::backend::Backend;
    use profcmp_core::layout::OptimizationRecord;
    use profcmp_core::sim::{Reality, SimCluster};
    use profcmp_core::stage::optimize::{self, OracleProfiles, PlannedJob};
    use profcmp_plugin_api::{DeployRequest, PlannerProfile};

    let mut best: Option<OptimizationRecord> = None;
    for (p, d) in optimize::oracle_candidates(spec) {
        if let Ok(record) = read_json::<OptimizationRecord>(&results.oracle(p, d).join("optimization.json")) {
            if best.as_ref().is_none_or(|b| record.goodput > b.goodput) {
                best = Some(record);
            }
        }
    }
    let best = best.context("the run left no oracle candidate to replay")?;
    let profiles: OracleProfiles = read_json(&results.root.join("oracle").join("profiles.json"))?;
    let (p, d) = (best.prefill_tp, best.decode_tp);
    let profile = PlannerProfile::new(
        profiles.prefill.get(&p).context("no measured prefill profile")?.clone(),
        profiles.decode.get(&d).context("no measured decode profile")?.clone(),
    );
    let warm = best.initial_replicas.context("the record has no warm start")?;
    let trace = profcmp_core::workload::read_mooncake(&results.trace())?;
    let job = PlannedJob {
        subject: format!("oracle {p}x{d}"),
        prefill_tp: p,
        decode_tp: d,
        profile,
        args: Default::default(),
        dir: scratch.to_path_buf(),
    };
    // One estimator set and reality for the three clusters (the perf database is read once).
    let model = profcmp_core::estimator::ModelInfo::resolve(&spec.model)?;
    let estimators = std::sync::Arc::new(profcmp_core::estimator::EstimatorSet::new(
        model,
        &spec.system,
        spec.backend.as_str(),
        None,
    )?);
    let reality = Reality::resolve(&spec.reality)?;
    let cluster = || SimCluster::with_estimators(estimators.clone(), spec.backend, reality.clone(), spec.seed);
    let graph = DeployRequest::Graph {
        prefill_workers: warm.0,
        prefill_tp: p,
        decode_workers: warm.1,
        decode_tp: d,
    };
    // Each piece gets a cluster whose tables are already built (deploying builds them).
    let mut sim = cluster();
    let deployment = sim.deploy(&graph)?;
    let (wall, cpu, peak, floor) = measured(|| sim.replay_floor(&deployment, &trace));
    let floor_run = floor?;
    let floor = (wall, cpu, peak);
    let (planner, _) = optimize::planner_spec(spec, &job).map_err(anyhow::Error::msg)?;
    let slo = profcmp_core::aiperf::Slo {
        ttft_ms: spec.sla.ttft_ms,
        itl_ms: spec.sla.itl_ms,
    };
    let mut sim = cluster();
    let deployment = sim.deploy(&graph)?;
    let (wall, cpu, peak, planned) = measured(|| sim.measure_planned(&deployment, &trace, &planner, Some(slo)));
    planned?;
    let planned = (wall, cpu, peak);
    std::fs::create_dir_all(scratch)?;
    let mut sim = cluster();
    let deployment = sim.deploy(&graph)?;
    sim.teardown(&deployment)?;
    let observer = profcmp_core::stage::Quiet;
    let (wall, cpu, peak, ran) = measured(|| optimize::run_job(spec, &job, &trace, spec.seed, &mut sim, &observer));
    ran.map_err(anyhow::Error::msg)?;
    Ok(ReplayCosts {
        graph: (p, d),
        warm,
        requests: floor_run.completed,
        output_tokens: floor_run.output_tokens,
        floor,
        planned,
        job: (wall, cpu, peak),
    })
}

/// Runs every stage of `spec` into `dir`, each timed with its CPU time and peak memory.
fn timed_run(
    label: &str,
    spec: RunSpec,
    dir: &Path,
    methods: &MethodArgs,
    console: &Console,
) -> anyhow::Result<TimedRun> {
    eprintln!("bench run: {label}");
    let mut stages = Vec::new();
    let mut failed = 0;
    for (name, stage) in [
        ("profile", Stages::Profile),
        ("validate", Stages::Validate),
        ("optimize", Stages::Optimize),
    ] {
        let (wall, cpu, peak, result) =
            measured(|| run_with(spec.clone(), dir, methods, None, None, None, stage, console));
        failed += result?.failed;
        stages.push((name, wall, cpu, peak));
    }
    let (wall, cpu, peak, result) = measured(|| {
        let results = ResultsDir::new(dir);
        let options = CompareOptions {
            sla: spec.sla,
            ..Default::default()
        };
        let comparison = compare(&results, &options);
        profcmp_core::report::write_reports(&comparison, &results.comparison())
    });
    result.with_context(|| format!("cannot write reports into {}", dir.display()))?;
    stages.push(("compare", wall, cpu, peak));
    let results = ResultsDir::new(dir);
    let requests = trace_requests(&results);
    // As it ran (an `auto` GPU budget resolved).
    let spec = read_json::<RunRecord>(&results.run_json()).map_or(spec, |run| run.spec);
    Ok(TimedRun {
        label: label.to_string(),
        trace_s: spec.trace.duration_s,
        tps: spec.search.prefill_tp.clone(),
        candidates: profcmp_core::stage::optimize::oracle_candidates(&spec).len(),
        stages,
        failed,
        requests,
    })
}

/// Requests in the optimize stage's trace file.
fn trace_requests(results: &ResultsDir) -> usize {
    std::fs::read_to_string(results.trace()).map_or(0, |t| t.lines().count())
}
