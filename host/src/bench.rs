//! `profcmp bench`: plugin size and load time, every method over many scenarios, and the timed
//! default run. Each bench prints a markdown report and can write it to a file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use profcmp_core::estimator::{EstimatorSet, ModelInfo};
use profcmp_core::layout::ResultsDir;
use profcmp_core::report::Comparison;
use profcmp_core::spec::RunSpec;
use profcmp_core::stage::compare::{compare, CompareOptions};
use profcmp_plugin_api::Sla;
use serde::{Deserialize, Serialize};

use crate::cli::MethodArgs;
use crate::output::Console;
use crate::run::{run_with, Stages};
use crate::{load, methods};

/// `profcmp bench ...`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Release size of a minimal plugin and of the method plugins; time to read a manifest and to
    /// load a plugin (median and p95). Builds tests/fixture-plugins in release first.
    Plugins {
        /// Timed manifest reads per plugin.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Distinct copies of each plugin fully loaded (abi_stable never unloads a library).
        #[arg(long, default_value_t = 50)]
        copies: usize,
        /// Measure this minimal plugin instead of building tests/fixture-plugins.
        #[arg(long, value_name = "SO")]
        minimal: Option<PathBuf>,
        #[command(flatten)]
        methods: MethodArgs,
        /// Also write the markdown report here.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Every installed method over 20 scenarios x seeds (profile, optimize, compare): deployments,
    /// GPU-hours, regret.
    Methods {
        /// Seeds per scenario.
        #[arg(long, default_value_t = 5)]
        seeds: u32,
        /// Length of the optimize stage's trace (one sinusoid period), s.
        #[arg(long, default_value_t = 300.0)]
        trace_duration: f64,
        /// Peak rate of the trace as a fraction of the estimated capacity of the best graph.
        #[arg(long, default_value_t = 0.8)]
        load: f64,
        /// Highest peak rate, req/s (bounds the simulation's cost on small models).
        #[arg(long, default_value_t = 60.0)]
        max_rate: f64,
        /// Shorten the trace (to 60 s at least) so it asks for about this many output tokens.
        #[arg(long, default_value_t = 600_000.0)]
        max_tokens: f64,
        /// Candidate TPs, prefill and decode alike (TP 8 never fits a graph in 8 GPUs).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
        tp: Vec<u32>,
        /// (scenario, seed) runs at once.
        #[arg(long, default_value_t = 2)]
        jobs: usize,
        /// Only the first N scenarios (quick checks).
        #[arg(long)]
        scenarios: Option<usize>,
        #[command(flatten)]
        methods: MethodArgs,
        /// Also write the markdown report here.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write every run's numbers as JSON here.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
        /// Run nothing: render the report of a JSON file an earlier run wrote.
        #[arg(long, value_name = "FILE", conflicts_with = "json")]
        from_json: Option<PathBuf>,
    },
    /// `profcmp run` on the defaults, timed per stage with peak memory; then how the time grows
    /// with the trace length and the number of candidates.
    Run {
        /// Trace lengths of the scaling runs, s.
        #[arg(long, value_delimiter = ',', default_value = "300,900,1800,3600")]
        trace_durations: Vec<f64>,
        /// Candidate TP sets of the scaling runs (`1-2` is {1,2}).
        #[arg(long, value_delimiter = ',', default_value = "1-2,1-2-4,1-2-4-8")]
        tp_sets: Vec<String>,
        /// Only the default run.
        #[arg(long)]
        no_scaling: bool,
        #[command(flatten)]
        methods: MethodArgs,
        /// Also write the markdown report here.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Runs one bench; prints its report and writes it to `--output`.
pub fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let (report, output) = match args.command {
        BenchCommand::Plugins {
            iterations,
            copies,
            minimal,
            methods,
            output,
        } => (
            bench_plugins(iterations.max(1), copies.max(1), minimal, &methods)?,
            output,
        ),
        BenchCommand::Methods {
            from_json: Some(path),
            output,
            ..
        } => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let doc: MethodsBench =
                serde_json::from_str(&text).with_context(|| format!("{}: not a methods bench JSON", path.display()))?;
            (methods_report(&doc), output)
        }
        BenchCommand::Methods {
            seeds,
            trace_duration,
            load,
            max_rate,
            max_tokens,
            tp,
            jobs,
            scenarios,
            methods,
            output,
            json,
            from_json: None,
        } => (
            bench_methods(
                seeds.max(1),
                trace_duration,
                (load, max_rate, max_tokens),
                &tp,
                jobs,
                scenarios,
                &methods,
                json.as_deref(),
            )?,
            output,
        ),
        BenchCommand::Run {
            trace_durations,
            tp_sets,
            no_scaling,
            methods,
            output,
        } => (bench_run(&trace_durations, &tp_sets, no_scaling, &methods)?, output),
    };
    print!("{report}");
    if let Some(path) = output {
        std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- plugins

fn bench_plugins(
    iterations: usize,
    copies: usize,
    minimal: Option<PathBuf>,
    methods: &MethodArgs,
) -> anyhow::Result<String> {
    let minimal = match minimal {
        Some(path) => path,
        None => build_minimal()?,
    };
    let resolved = methods::resolve(methods)?;
    let mut plugins = vec![("minimal (fixture)".to_string(), minimal)];
    plugins.extend(resolved.iter().map(|r| (r.name.clone(), r.path.clone())));
    let scratch = TempDir::new("plugins")?;
    let mut out = header("Plugins");
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
    let mut misses = Vec::new();
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
        out += &format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            size_text(size),
            stripped.map_or("n/a".to_string(), size_text),
            fresh.first(),
            fresh.at(50.0),
            fresh.at(95.0),
            again.at(50.0),
            loads.first(),
            loads.at(50.0),
            loads.at(95.0),
            reload.first(),
        );
        if i == 0 {
            if size >= 1 << 20 {
                misses.push(format!("the minimal plugin is {} (target < 1 MB)", size_text(size)));
            }
            for (what, t) in [("manifest read", &fresh), ("full load", &loads)] {
                let (wall, cpu) = (
                    quantile(&t.wall, 95.0).unwrap_or(0.0),
                    quantile(&t.cpu, 95.0).unwrap_or(0.0),
                );
                if wall >= 5.0 {
                    let why = if cpu < 5.0 {
                        "; the difference is time spent waiting for a core"
                    } else {
                        ""
                    };
                    misses.push(format!(
                        "minimal plugin {what} p95 is {wall:.2} ms wall (target < 5 ms; {cpu:.2} ms CPU{why})"
                    ));
                }
            }
        }
    }
    out += "\nTargets (minimal plugin): size < 1 MB, manifest read and full load < 5 ms each (p95 of fresh files). ";
    if misses.is_empty() {
        out += "All met.\n";
    } else {
        out += &format!("**Missed**: {}.\n", misses.join("; "));
    }
    Ok(out)
}

/// Wall and thread-CPU times of repeated operations, ms.
#[derive(Default)]
struct Timings {
    wall: Vec<f64>,
    cpu: Vec<f64>,
}

impl Timings {
    fn time(&mut self, f: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
        let (t, cpu) = (Instant::now(), thread_cpu_ms());
        f()?;
        self.cpu.push(thread_cpu_ms() - cpu);
        self.wall.push(ms(t));
        Ok(())
    }

    fn first(&self) -> String {
        format!("{:.3} ({:.3})", self.wall[0], self.cpu[0])
    }

    fn at(&self, p: f64) -> String {
        format!("{:.3} ({:.3})", percentile(&self.wall, p), percentile(&self.cpu, p))
    }
}

/// CPU time of the calling thread, ms.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // Safety: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
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

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
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

/// One (model, system, request shape, SLA) the methods bench runs.
struct Scenario {
    model: &'static str,
    system: &'static str,
    isl: u32,
    osl: u32,
    ttft_ms: f64,
    itl_ms: f64,
}

const fn sc(model: &'static str, system: &'static str, isl: u32, osl: u32, ttft_ms: f64, itl_ms: f64) -> Scenario {
    Scenario {
        model,
        system,
        isl,
        osl,
        ttft_ms,
        itl_ms,
    }
}

const Q32: &str = "Qwen/Qwen3-32B";
const Q8: &str = "Qwen/Qwen3-8B";
const Q06: &str = "Qwen/Qwen3-0.6B";
const L8: &str = "meta-llama/Meta-Llama-3.1-8B";
const L70: &str = "meta-llama/Meta-Llama-3.1-70B";

const SCENARIOS: [Scenario; 20] = [
    sc(Q32, "h200_sxm", 2048, 256, 500.0, 50.0),
    sc(Q32, "h100_sxm", 2048, 256, 500.0, 50.0),
    sc(Q32, "b200_sxm", 2048, 256, 500.0, 50.0),
    sc(Q32, "h200_sxm", 4096, 512, 1000.0, 40.0),
    sc(Q32, "h100_sxm", 1024, 1024, 300.0, 30.0),
    sc(Q8, "h200_sxm", 2048, 256, 500.0, 50.0),
    sc(Q8, "h100_sxm", 4096, 256, 300.0, 20.0),
    sc(Q8, "b200_sxm", 1024, 1024, 200.0, 15.0),
    sc(Q8, "h200_sxm", 8192, 512, 1000.0, 30.0),
    sc(Q06, "h200_sxm", 2048, 256, 200.0, 10.0),
    sc(Q06, "h100_sxm", 1024, 1024, 100.0, 10.0),
    sc(Q06, "b200_sxm", 4096, 256, 300.0, 20.0),
    sc(L8, "h200_sxm", 2048, 256, 500.0, 50.0),
    sc(L8, "h100_sxm", 4096, 512, 800.0, 30.0),
    sc(L8, "b200_sxm", 1024, 1024, 300.0, 20.0),
    sc(L70, "h200_sxm", 2048, 256, 1000.0, 60.0),
    sc(L70, "h100_sxm", 2048, 256, 1500.0, 80.0),
    sc(L70, "b200_sxm", 4096, 512, 1000.0, 50.0),
    sc(Q32, "b200_sxm", 8192, 256, 1500.0, 60.0),
    sc(L70, "h200_sxm", 1024, 1024, 800.0, 50.0),
];

/// One method in one (scenario, seed) run.
#[derive(Serialize, Deserialize, Clone)]
struct MethodRun {
    method: String,
    error: Option<String>,
    prefill_tp: Option<u32>,
    decode_tp: Option<u32>,
    deployments: Option<u32>,
    gpu_hours: Option<f64>,
    duration_s: Option<f64>,
    goodput: Option<f64>,
    regret_pct: Option<f64>,
    /// Regret on goodput per average GPU (absent in benches recorded before it existed).
    #[serde(default)]
    cost_regret_pct: Option<f64>,
}

/// One (scenario, seed) run.
#[derive(Serialize, Deserialize)]
struct ScenarioRun {
    scenario: usize,
    model: String,
    system: String,
    isl: u32,
    osl: u32,
    ttft_ms: f64,
    itl_ms: f64,
    seed: u64,
    min_rate: f64,
    max_rate: f64,
    trace_s: f64,
    requests: usize,
    oracle_best: Option<String>,
    oracle_goodput: Option<f64>,
    oracle_sla_hit_rate: Option<f64>,
    wall_s: f64,
    methods: Vec<MethodRun>,
}

/// The methods bench's settings and every run: its JSON file and the input of its report.
#[derive(Serialize, Deserialize)]
struct MethodsBench {
    machine: String,
    seeds: u32,
    trace_duration_s: f64,
    load_fraction: f64,
    max_rate: f64,
    max_tokens: f64,
    target: String,
    total_wall_s: f64,
    total_cpu_s: f64,
    parallel_runs: usize,
    candidate_tps: Vec<u32>,
    runs: Vec<ScenarioRun>,
}

const TARGET_REGRET_PCT: f64 = 5.0;
const TARGET_DEPLOYMENTS: u32 = 4;

#[allow(clippy::too_many_arguments)]
fn bench_methods(
    seeds: u32,
    trace_duration: f64,
    (load, max_rate, max_tokens): (f64, f64, f64),
    tps: &[u32],
    jobs: usize,
    only: Option<usize>,
    methods: &MethodArgs,
    json: Option<&Path>,
) -> anyhow::Result<String> {
    if !(trace_duration > 0.0 && load > 0.0 && max_rate > 0.0 && max_tokens > 0.0) {
        bail!("--trace-duration, --load, --max-rate and --max-tokens must be positive");
    }
    let machine = machine_info();
    let console = Console::new(false, false);
    let scratch = TempDir::new("methods")?;
    let scenarios = &SCENARIOS[..only.unwrap_or(SCENARIOS.len()).min(SCENARIOS.len())];
    let mut todo = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        let mut spec = RunSpec::defaults();
        spec.model = s.model.into();
        spec.system = s.system.into();
        spec.sla = Sla::new(s.isl, s.osl, s.ttft_ms, s.itl_ms);
        spec.search.prefill_tp = tps.to_vec();
        spec.search.decode_tp = tps.to_vec();
        let capacity = capacity_rps(&spec)?;
        spec.trace.max_rate = (capacity * load).clamp(0.1, max_rate);
        spec.trace.min_rate = spec.trace.max_rate / 9.0;
        let mean_rate = (spec.trace.max_rate + spec.trace.min_rate) / 2.0;
        let duration = (max_tokens / (mean_rate * f64::from(s.osl))).clamp(60.0, trace_duration.max(60.0));
        spec.trace.duration_s = duration.round();
        // One slow single-class wave: the scenario where the planner's lag matters.
        spec.trace.period_s = spec.trace.duration_s;
        spec.trace.second_class = None;
        // The defaults' planner timing (180 s interval, 120 s worker startup on a 1800 s trace),
        // compressed with the trace, so the planner acts within it.
        spec.planner.adjustment_interval_s = Some(spec.trace.duration_s / 10.0);
        let worker_s = spec.trace.duration_s / 15.0;
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
            spec.seed = 42 + u64::from(k);
            let reality = scratch.0.join(format!("reality-{i}-{k}.toml"));
            write_reality(&reality, worker_s, spec.seed)?;
            spec.reality = reality.display().to_string();
            todo.push((i, spec.clone()));
        }
    }
    let started = Instant::now();
    let cpu_started = cpu_s();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, todo.len().max(1)) {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((i, spec)) = todo.get(n) else { break };
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
                done.lock().unwrap().push(outcome);
            });
        }
    });
    let mut runs = Vec::new();
    for outcome in done.into_inner().unwrap() {
        runs.push(outcome?);
    }
    runs.sort_by_key(|r| (r.scenario, r.seed));
    console.finish();
    let total = started.elapsed().as_secs_f64();
    let cpu_total = cpu_s() - cpu_started;
    let doc = MethodsBench {
        machine,
        seeds,
        trace_duration_s: trace_duration,
        load_fraction: load,
        max_rate,
        max_tokens,
        target: "regret < 5% with <= 4 deployments".into(),
        total_wall_s: total,
        total_cpu_s: cpu_total,
        parallel_runs: jobs,
        candidate_tps: tps.to_vec(),
        runs,
    };
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&doc).expect("bench results serialize") + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(methods_report(&doc))
}

/// The default reality profile with a planner-added worker starting in `worker_s` seconds.
/// One reality drawn from the embedded plausible ranges with `seed` (so each seed of a scenario
/// runs on another cluster, as a reality ensemble does), its worker startup compressed with the
/// trace.
fn write_reality(path: &Path, worker_s: f64, seed: u64) -> anyhow::Result<()> {
    let mut reality = profcmp_core::sim::RealityRanges::embedded()
        .draw(1, seed)?
        .pop()
        .context("one reality drawn")?;
    reality.name = format!("{}, fast worker startup (bench)", reality.name);
    reality.worker_startup_s = worker_s;
    std::fs::write(path, reality.to_toml()).with_context(|| format!("cannot write {}", path.display()))
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

/// The target: cost-aware regret (goodput regret in benches recorded before it) under 5%
/// with at most 4 deployments.
fn met_target(m: &MethodRun) -> bool {
    m.cost_regret_pct
        .or(m.regret_pct)
        .is_some_and(|r| r < TARGET_REGRET_PCT)
        && m.deployments.is_some_and(|d| d <= TARGET_DEPLOYMENTS)
}

fn methods_report(doc: &MethodsBench) -> String {
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
    let mut out = format!("## Methods\n\n{}\n\n", doc.machine);
    out += &format!(
        "{} scenarios x {seeds} seeds = {} runs of profile -> optimize -> compare (no validate stage), {} at \
         a time. Each run: a sinusoidal trace of one period, max rate = {} x the estimator's capacity of the \
         best planner-scaled graph within 8 GPUs under the SLA (the budget split into prefill and decode \
         workers as well as it can be), at most {} req/s, min rate = max rate / 9; the trace lasts {:.0} s, or less (60 s at \
         least) so it asks for about {:.0} output tokens, since the simulation's cost grows with the tokens it \
         generates. The SLA planner keeps the defaults' timing relative to the trace (180 s interval and 120 s \
         worker startup on an 1800 s trace): interval = trace / 10, worker startup = trace / 15, so it scales within the trace as in a full run. \
         Each seed runs on its own reality drawn from the embedded plausible ranges (`--realities`' ranges) with \
         that seed, only `worker_s` changed. \
         Candidate TPs {} for prefill and decode (the defaults' TP 8 never fits a graph in 8 GPUs; it only added \
         measurements).\n\nTotal: {:.1} min wall, {:.1} min CPU.\n\n",
        scenarios.len(),
        runs.len(),
        doc.parallel_runs,
        doc.load_fraction,
        doc.max_rate,
        doc.trace_duration_s,
        doc.max_tokens,
        doc.candidate_tps
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        doc.total_wall_s / 60.0,
        doc.total_cpu_s / 60.0
    );
    out += "Deployments, GPU-hours and profiling duration are the host's metering of the profile stage; \
            regret = (oracle goodput - method goodput) / oracle goodput x 100 on the same trace; \
            cost-aware regret is the same on goodput per average GPU, against the oracle's best on that measure; \
            \"picked oracle's best\" counts runs whose chosen prefill x decode TP is the oracle's best candidate; \
            \"same as online_all\" counts runs whose choice equals Online-ALL's on the same seed. \
            Target: cost-aware regret < 5% with <= 4 deployments.\n\n";
    out += "| method | runs ok | deployments median / max | GPU-h median / max | duration median | regret median / p90 | cost-aware regret median / p90 | picked oracle's best | same as online_all | runs met target | scenarios met (all seeds) |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for name in &names {
        let ms = of(name);
        let ok = ms.iter().filter(|(_, m)| m.regret_pct.is_some()).count();
        let deps: Vec<f64> = ms.iter().filter_map(|(_, m)| m.deployments.map(f64::from)).collect();
        let gpuh: Vec<f64> = ms.iter().filter_map(|(_, m)| m.gpu_hours).collect();
        let dur: Vec<f64> = ms.iter().filter_map(|(_, m)| m.duration_s).collect();
        let regret: Vec<f64> = ms.iter().filter_map(|(_, m)| m.regret_pct).collect();
        let cost_regret: Vec<f64> = ms.iter().filter_map(|(_, m)| m.cost_regret_pct).collect();
        let same_as_online = ms
            .iter()
            .filter(|(r, m)| {
                r.methods
                    .iter()
                    .find(|o| o.method == "online_all")
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
            "| {name} | {ok}/{} | {} / {} | {} / {} | {} min | {} / {} | {} / {} | {picked}/{} | {same_as_online}/{} | {met}/{} | {scen_met}/{} |\n",
            ms.len(),
            num(median(&deps), 0),
            num(max(&deps), 0),
            num(median(&gpuh), 2),
            num(max(&gpuh), 2),
            num(median(&dur).map(|s| s / 60.0), 0),
            pct(median(&regret)),
            pct(quantile(&regret, 90.0)),
            pct(median(&cost_regret)),
            pct(quantile(&cost_regret, 90.0)),
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
        for e in errors.iter().take(40) {
            out += &format!("- {e}\n");
        }
        if errors.len() > 40 {
            out += &format!("- ... and {} more (see the JSON)\n", errors.len() - 40);
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

/// A rough peak rate (req/s) a planner-scaled graph sustains under the SLA within the GPU budget,
/// from the estimator: prefill at batch 1, decode at the largest batch meeting the ITL, the
/// budget split into workers as well as it can be.
fn capacity_rps(spec: &RunSpec) -> anyhow::Result<f64> {
    let set = EstimatorSet::new(
        ModelInfo::resolve(&spec.model)?,
        &spec.system,
        spec.backend.as_str(),
        None,
    )?;
    let (isl, osl, context) = (spec.sla.isl, spec.sla.osl, spec.sla.isl + spec.sla.osl / 2);
    let prefill = |tp: u32| -> Option<f64> {
        let ms = set.get(tp).ok()?.prefill_ms(1, isl).ok()?;
        (ms <= spec.sla.ttft_ms).then(|| 1000.0 / ms)
    };
    let decode = |tp: u32| -> Option<f64> {
        let e = set.get(tp).ok()?;
        let most = (e.kv_capacity_tokens() / u64::from(context)).min(u64::from(e.max_batch())) as u32;
        let step = |b: u32| e.decode_step_ms(b, context).ok().filter(|&ms| ms <= spec.sla.itl_ms);
        step(1)?;
        let (mut lo, mut hi) = (1, most.max(1));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if step(mid).is_some() {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(f64::from(lo) * 1000.0 / (step(lo)? * f64::from(osl)))
    };
    // What a planner-scaled graph can reach within the budget: the best split of the budget
    // into prefill and decode workers of any candidate TP pair (not one static 1P+1D graph).
    let budget = spec.search.gpu_budget;
    let mut best: f64 = 0.0;
    for &p in &spec.search.prefill_tp {
        for &d in &spec.search.decode_tp {
            let (Some(pr), Some(dr)) = (prefill(p), decode(d)) else {
                continue;
            };
            for n_p in 1..=budget / p {
                let n_d = budget.saturating_sub(n_p * p) / d;
                if n_d >= 1 {
                    best = best.max((f64::from(n_p) * pr).min(f64::from(n_d) * dr));
                }
            }
        }
    }
    if best <= 0.0 {
        bail!(
            "{} on {}: no graph meets TTFT {} / ITL {} ms by the estimator",
            spec.model,
            spec.system,
            spec.sla.ttft_ms,
            spec.sla.itl_ms
        );
    }
    Ok(best)
}

// ---------------------------------------------------------------- run

/// One timed full run.
struct TimedRun {
    label: String,
    trace_s: f64,
    stages: Vec<(&'static str, f64, f64, u64)>,
    failed: usize,
    requests: usize,
}

fn bench_run(
    trace_durations: &[f64],
    tp_sets: &[String],
    no_scaling: bool,
    methods: &MethodArgs,
) -> anyhow::Result<String> {
    let console = Console::new(false, false);
    let scratch = TempDir::new("run")?;
    let defaults = RunSpec::defaults();
    let mut out = header("Run");
    let main = timed_run(
        "defaults",
        defaults.clone(),
        &scratch.0.join("defaults"),
        methods,
        &console,
    )?;
    out += &format!(
        "`profcmp run` with every installed method on the defaults ({} on {}, TTFT {} / ITL {} ms, ISL {} / OSL {}, \
         TP {:?}, {} s trace of {}-{} req/s). Each stage is timed on its own (the profile, validate and optimize \
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
        main.stages.iter().map(|s| s.2).sum::<f64>(),
        peak / 1024
    );
    let mut misses = Vec::new();
    if wall >= 60.0 {
        misses.push(format!("wall time {wall:.1} s (target < 60 s)"));
    }
    if peak >= 1 << 20 {
        misses.push(format!("peak memory {} MB (target < 1 GB)", peak / 1024));
    }
    if main.failed > 0 {
        misses.push(format!("{} method run(s) failed", main.failed));
    }
    out += "Targets: < 60 s wall, < 1 GB peak memory. ";
    if misses.is_empty() {
        out += "Both met.\n";
    } else {
        let slowest = main.stages.iter().max_by(|a, b| a.1.total_cmp(&b.1)).expect("stages");
        out += &format!(
            "**Missed**: {}. The {} stage dominates ({:.0}% of the wall time).\n",
            misses.join("; "),
            slowest.0,
            slowest.1 / wall * 100.0
        );
    }
    if no_scaling {
        return Ok(out);
    }
    let mut scaling = Vec::new();
    for &duration in trace_durations {
        if (duration - defaults.trace.duration_s).abs() < 1e-9 {
            scaling.push(("trace", main.relabel(&format!("trace {duration:.0} s, TP 1,2,4,8"))));
            continue;
        }
        let mut spec = defaults.clone();
        spec.trace.duration_s = duration;
        let label = format!("trace {duration:.0} s, TP 1,2,4,8");
        let dir = scratch.0.join(format!("trace-{duration}"));
        scaling.push(("trace", timed_run(&label, spec, &dir, methods, &console)?));
    }
    for set in tp_sets {
        let tps: Vec<u32> = set
            .split('-')
            .map(|t| t.parse().with_context(|| format!("--tp-sets: bad TP set `{set}`")))
            .collect::<anyhow::Result<_>>()?;
        let label = format!(
            "trace {:.0} s, TP {}",
            defaults.trace.duration_s,
            tps.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        );
        if tps == defaults.search.prefill_tp {
            scaling.push(("candidates", main.relabel(&label)));
            continue;
        }
        let mut spec = defaults.clone();
        spec.search.prefill_tp = tps.clone();
        spec.search.decode_tp = tps;
        let dir = scratch.0.join(format!("tp-{set}"));
        scaling.push(("candidates", timed_run(&label, spec, &dir, methods, &console)?));
    }
    console.finish();
    out += "\nScaling: the same run with a longer trace, and with fewer candidate TPs (prefill and decode alike; \
            the oracle runs every pair within 8 GPUs).\n\n";
    out += "| run | trace requests | profile | validate | optimize | compare | total | CPU | peak memory |\n";
    out += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (_, r) in &scaling {
        out += &format!("| {} | {} |", r.label, r.requests);
        for (_, wall, _, _) in &r.stages {
            out += &format!(" {wall:.2} s |");
        }
        let cpu: f64 = r.stages.iter().map(|s| s.2).sum();
        out += &format!(" {:.1} s | {cpu:.1} s | {} MB |\n", r.wall(), r.peak_kb() / 1024);
    }
    // optimize wall = a + b x trace length, least squares over the trace runs.
    let points: Vec<(f64, f64)> = scaling
        .iter()
        .filter(|(kind, _)| *kind == "trace")
        .map(|(_, r)| (r.trace_s, r.stages[2].1))
        .collect();
    if points.len() >= 2 {
        let n = points.len() as f64;
        let (mx, my) = (
            points.iter().map(|p| p.0).sum::<f64>() / n,
            points.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let b = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>() / sxx;
        let a = my - b * mx;
        let grows = b * defaults.trace.duration_s;
        out += &format!(
            "\nOptimize stage wall time ~ {a:.1} s + {:.1} s per 100 s of trace (least squares over the trace runs). \
             At the default {:.0} s, {grows:.0} s of it grow with the trace: the planner-in-the-loop simulations \
             (5 methods + the oracle's candidates, each replaying the whole trace, on 2 threads); the part that \
             does not grow (the oracle's measured profiles: a prefill ISL sweep and a decode grid per candidate \
             TP, TP 8 included) is small. The time follows the number of planner runs: 4 oracle candidates with TP \
             1,2 against 9 with TP 1,2,4 (TP 8 adds no candidate within 8 GPUs, only its measurements).\n",
            b * 100.0,
            defaults.trace.duration_s
        );
    }
    Ok(out)
}

impl TimedRun {
    fn wall(&self) -> f64 {
        self.stages.iter().map(|s| s.1).sum()
    }
    fn peak_kb(&self) -> u64 {
        self.stages.iter().map(|s| s.3).max().unwrap_or(0)
    }
    fn relabel(&self, label: &str) -> TimedRun {
        TimedRun {
            label: label.to_string(),
            trace_s: self.trace_s,
            stages: self.stages.clone(),
            failed: self.failed,
            requests: self.requests,
        }
    }
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
    let requests = trace_requests(&ResultsDir::new(dir));
    Ok(TimedRun {
        label: label.to_string(),
        trace_s: spec.trace.duration_s,
        stages,
        failed,
        requests,
    })
}

/// Requests in the optimize stage's trace file.
fn trace_requests(results: &ResultsDir) -> usize {
    std::fs::read_to_string(results.trace()).map_or(0, |t| t.lines().count())
}

/// Runs `f`; returns its wall time (s), process CPU time (s), peak resident memory (kB) and result.
fn measured<T>(f: impl FnOnce() -> T) -> (f64, f64, u64, T) {
    // Writing 5 to clear_refs resets VmHWM to the current resident size (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let cpu = cpu_s();
    let t = Instant::now();
    let value = f();
    (ms(t) / 1000.0, cpu_s() - cpu, peak_kb(), value)
}

/// VmHWM of this process, kB.
fn peak_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of this process, s (from /proc/self/stat, 100 ticks per second).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

// ---------------------------------------------------------------- shared

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(what: &str) -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!("profcmp-bench-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The report's title and the machine it ran on.
fn header(title: &str) -> String {
    format!("## {title}\n\n{}\n\n", machine_info())
}

/// Date, build, CPU, cores, memory, kernel and load average, on one line.
fn machine_info() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |v| v.trim_start_matches([' ', '\t', ':']));
    let mem_gb = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or("?".to_string(), |kb| format!("{:.0}", kb / 1024.0 / 1024.0));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let load = read("/proc/loadavg");
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(workspace_root())
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    format!(
        "Recorded {} with profcmp {} at commit {commit} ({} build) on {cpu}, {cores} cores, {mem_gb} GB RAM, Linux {}; \
         load average at start {load} (the machine is shared).",
        utc_now(),
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        read("/proc/sys/kernel/osrelease").trim()
    )
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs as i64)
}

/// Seconds since 1970-01-01 as `YYYY-MM-DD HH:MM UTC`.
fn utc(secs: i64) -> String {
    profcmp_core::clock::utc_minutes(secs)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// Nearest-rank percentile of `values` (0 when empty).
fn percentile(values: &[f64], p: f64) -> f64 {
    quantile(values, p).unwrap_or(0.0)
}

fn quantile(values: &[f64], p: f64) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    Some(if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    })
}

fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().filter(|v| v.is_finite()).reduce(f64::max)
}

fn mode(sorted: &[String]) -> Option<&String> {
    let mut best: Option<(&String, usize)> = None;
    for v in sorted {
        let n = sorted.iter().filter(|w| *w == v).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((v, n));
        }
    }
    best.map(|(v, _)| v)
}

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
    use super::*;

    #[test]
    fn dates_and_quantiles() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&v), Some(3.0));
        assert_eq!(quantile(&v, 95.0), Some(5.0));
        assert_eq!(quantile(&v, 40.0), Some(2.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn default_scenario_has_a_feasible_load() {
        let rate = capacity_rps(&RunSpec::defaults()).unwrap();
        assert!(rate > 1.0 && rate < 100.0, "{rate}");
    }
}
