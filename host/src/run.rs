//! The comparison stages as the CLI runs them: resolve the spec and methods, build the backend,
//! run the stages, report.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use profcmp_core::backend::Backend;
use profcmp_core::estimator::{EstimatorSet, ModelInfo};
use profcmp_core::layout::{read_json, write_json, ProfileRecord, ResultsDir, RunRecord};
use profcmp_core::sim::{Reality, SimCluster};
use profcmp_core::spec::{DynamoVersion, PlannerOverrides, RunSpec, TraceFile, TraceSpec};
use profcmp_core::stage::optimize::{oracle_candidates, run_jobs, PlannedJob};
use profcmp_core::stage::profile::{answer_estimate, profile_stage, MethodEntry};
use profcmp_core::stage::{validate, Observer};
use profcmp_core::workload::{read_mooncake, write_mooncake};
use profcmp_plugin_api::{ProfileResult, SearchSpace, ServingBackend, Sla};

use crate::cli::{MethodArgs, RunArgs};
use crate::output::Console;
use crate::{lock, methods};

/// Which stages to run.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stages {
    All,
    Profile,
    Validate,
    Optimize,
}

/// Everything a stage needs, resolved once.
struct Context_ {
    spec: RunSpec,
    results: ResultsDir,
    estimators: Arc<EstimatorSet>,
    reality: Reality,
    /// Set for `--cluster k8s`: stage backends are Kubernetes deployments.
    k8s: Option<crate::k8s::K8sRun>,
    /// Set with `--cluster endpoint` (or `--backend endpoint`): every backend is that server.
    endpoint: Option<profcmp_core::endpoint::EndpointConfig>,
}

/// How a run ended: methods that failed, and warnings (also kept in `results/run.json` and so in
/// the comparison report).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Method runs that failed.
    pub failed: usize,
    /// Things dropped or not written.
    pub warnings: Vec<String>,
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        self.failed += other.failed;
        self.warnings.extend(other.warnings);
    }
}

/// Runs the chosen stages.
pub fn run(args: &RunArgs, stages: Stages) -> anyhow::Result<Outcome> {
    if args.realities > 0 {
        return run_ensemble(args, stages);
    }
    let mut spec = run_spec(args)?;
    let endpoint = crate::endpoint::config(args)?;
    if let Some(config) = &endpoint {
        spec.reality = crate::endpoint::describe(config);
    }
    let console = Console::new(!args.no_progress, args.verbose);
    let outcome = run_with(
        spec,
        &args.results,
        &args.methods,
        args.target.aic_systems_root.clone(),
        (args.cluster == "k8s").then_some(&args.k8s),
        endpoint,
        stages,
        &console,
    )?;
    console.finish();
    if stages == Stages::All {
        crate::commands::compare(&args.results)?;
    }
    Ok(outcome)
}

/// Runs the chosen stages once per reality drawn from the ranges, into `<results>/reality-<k>/`.
fn run_ensemble(args: &RunArgs, stages: Stages) -> anyhow::Result<Outcome> {
    if args.cluster != "sim" || args.target.backend == "endpoint" {
        bail!(
            "--realities draws simulated clusters; it needs --cluster sim (got --cluster {})",
            args.cluster
        );
    }
    if args.reality != profcmp_core::sim::DEFAULT_REALITY {
        bail!(
            "--realities draws its realities from --reality-ranges; --reality {} would be ignored: give one or the other",
            args.reality
        );
    }
    let ranges = match &args.reality_ranges {
        Some(path) => profcmp_core::sim::RealityRanges::from_file(path)?,
        None => profcmp_core::sim::RealityRanges::embedded(),
    };
    let spec = run_spec(args)?;
    let drawn = ranges.draw(args.realities, spec.seed)?;
    let console = Console::new(!args.no_progress, args.verbose);
    let mut outcome = Outcome::default();
    for (k, reality) in drawn.iter().enumerate() {
        let dir = args.results.join(format!("reality-{}", k + 1));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // The file name carries a hash of the profile, so a changed draw never reuses results.
        let text = reality.to_toml();
        let path = dir.join(format!("reality-{}.toml", profcmp_core::spec::input_hash(&text)));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            profcmp_core::fsio::write_atomic(&path, text.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        console.line(&format!(
            "reality {}/{}: {} (prefill x{:.2}, decode x{:.2}, KV {:.0} GB/s per link) -> {}",
            k + 1,
            drawn.len(),
            reality.name,
            reality.prefill_factor,
            reality.decode_factor,
            reality.kv_bandwidth_gb_s,
            dir.display()
        ));
        let mut spec = spec.clone();
        spec.reality = path.display().to_string();
        let aic_root = args.target.aic_systems_root.clone();
        outcome.add(run_with(
            spec,
            &dir,
            &args.methods,
            aic_root,
            None,
            None,
            stages,
            &console,
        )?);
    }
    console.finish();
    if stages == Stages::All {
        crate::commands::compare(&args.results)?;
    }
    Ok(outcome)
}

/// Runs the chosen stages of `spec` into `results` (without the compare stage), on Kubernetes when
/// `k8s` is given. Records the settings and each stage's warnings in `results/run.json`.
pub fn run_with(
    spec: RunSpec,
    results: &Path,
    methods: &MethodArgs,
    aic_systems_root: Option<std::path::PathBuf>,
    k8s: Option<&crate::k8s::K8sArgs>,
    endpoint: Option<profcmp_core::endpoint::EndpointConfig>,
    stages: Stages,
    console: &Console,
) -> anyhow::Result<Outcome> {
    let model = ModelInfo::resolve(&spec.model)?;
    let perf_db = profcmp_core::estimator::perf_db_digest(&spec.system, aic_systems_root.as_deref())?;
    let estimators = Arc::new(EstimatorSet::new(
        model,
        &spec.system,
        spec.backend.as_str(),
        aic_systems_root,
    )?);
    let mut spec = spec;
    if spec.search.gpu_budget == 0 {
        let trace = profcmp_core::workload::trace_for(&spec.trace, &spec.sla, spec.seed)?;
        let sized = profcmp_core::stage::optimize::servable_budget(&trace, &estimators, &spec.sla)
            .map_err(anyhow::Error::msg)?;
        console.line(&format!(
            "GPU budget: auto = {} (the trace's busiest 2 s: {:.1} req/s need {:.1} prefill + {:.1} decode GPUs at TP1 by the estimator; whole 8-GPU nodes)",
            sized.gpus, sized.peak_rate, sized.prefill_gpus, sized.decode_gpus
        ));
        spec.search.gpu_budget = sized.gpus;
    }
    // An endpoint's timing is the server's own; the simulated cluster is not used.
    let reality = match endpoint {
        Some(_) => Reality::named("nominal")?,
        None => reality(&spec.reality)?,
    };
    // What the cache keys need beyond the flags: the contents behind the names.
    let reality_text = match endpoint {
        Some(_) => spec.reality.clone(),
        None => format!("{reality:?}"),
    };
    spec.fingerprint = profcmp_core::spec::Fingerprint::new(&reality_text, perf_db);
    let cluster = match (&k8s, &endpoint) {
        (Some(_), _) => "k8s",
        (None, Some(_)) => "endpoint",
        (None, None) => "sim",
    };
    let k8s = k8s
        .map(|args| crate::k8s::K8sRun::start(args, &spec, estimators.clone(), console.cancel_flag()))
        .transpose()?;
    let ctx = Context_ {
        spec,
        results: ResultsDir::new(results),
        estimators,
        reality,
        k8s,
        endpoint,
    };
    let mut record = start_record(&ctx, cluster)?;
    let mut outcome = Outcome::default();
    let cancelled = |console: &Console| -> anyhow::Result<()> {
        if console.cancelled() {
            console.finish();
            bail!("cancelled: what was written is kept; rerun the same command to continue where it stopped");
        }
        Ok(())
    };
    let mut stage = |name: &str, result: anyhow::Result<Outcome>| -> anyhow::Result<()> {
        let stage_outcome = result?;
        for warning in &stage_outcome.warnings {
            console.line(&format!("warning: {warning}"));
        }
        record.warnings.insert(name.to_string(), stage_outcome.warnings.clone());
        write_json(&ctx.results.run_json(), &record)
            .with_context(|| format!("cannot write {}", ctx.results.run_json().display()))?;
        outcome.add(stage_outcome);
        Ok(())
    };
    if matches!(stages, Stages::All | Stages::Profile) {
        stage("profile", profile(&ctx, methods, console))?;
        cancelled(console)?;
    }
    if matches!(stages, Stages::All | Stages::Validate) {
        stage("validate", validate(&ctx, console))?;
        cancelled(console)?;
    }
    if matches!(stages, Stages::All | Stages::Optimize) {
        stage("optimize", optimize(&ctx, console))?;
        cancelled(console)?;
    }
    Ok(outcome)
}

/// The run record with this run's settings; a stage that does not run now keeps the warnings it
/// raised before (they still describe its results on disk), a stage that runs replaces its own.
fn start_record(ctx: &Context_, cluster: &str) -> anyhow::Result<RunRecord> {
    std::fs::create_dir_all(&ctx.results.root)
        .with_context(|| format!("cannot create {}", ctx.results.root.display()))?;
    let mut record = RunRecord {
        schema_version: 1,
        profcmp_version: env!("CARGO_PKG_VERSION").to_string(),
        cluster: cluster.to_string(),
        spec: ctx.spec.clone(),
        warnings: Default::default(),
    };
    if let Ok(old) = read_json::<RunRecord>(&ctx.results.run_json()) {
        record.warnings = old.warnings;
    }
    write_json(&ctx.results.run_json(), &record)
        .with_context(|| format!("cannot write {}", ctx.results.run_json().display()))?;
    Ok(record)
}

/// The serving framework named on the command line.
pub fn serving_backend(name: &str) -> anyhow::Result<ServingBackend> {
    Ok(match name {
        "trtllm" => ServingBackend::Trtllm,
        "vllm" => ServingBackend::Vllm,
        "sglang" => ServingBackend::Sglang,
        // An already running server: the estimator (for the methods) assumes TRT-LLM timing.
        "endpoint" => ServingBackend::Trtllm,
        other => {
            bail!("unknown backend `{other}`; valid: trtllm, vllm, sglang (simulated cluster) or endpoint (--url)")
        }
    })
}

fn run_spec(args: &RunArgs) -> anyhow::Result<RunSpec> {
    let backend = serving_backend(&args.target.backend)?;
    for (name, value) in [
        ("--ttft", args.ttft),
        ("--itl", args.itl),
        ("--method-timeout", args.method_timeout),
        ("--method-budget", args.method_budget),
        ("--trace-duration", args.trace_duration),
        ("--period", args.period),
    ] {
        if !(value.is_finite() && value > 0.0) {
            bail!("{name} must be a positive number, got {value}");
        }
    }
    if !(args.min_rate >= 0.0 && args.max_rate >= args.min_rate && args.max_rate.is_finite()) {
        bail!(
            "--min-rate and --max-rate must satisfy 0 <= min <= max, got {} and {}",
            args.min_rate,
            args.max_rate
        );
    }
    if args.repeat == 0 || args.requests == 0 {
        bail!("--repeat and --requests must be at least 1");
    }
    if let Some(f) = args.planner_headroom {
        if !(f.is_finite() && f >= 1.0) {
            bail!("--planner-headroom must be a number >= 1, got {f}");
        }
    }
    if let Some(interval) = args.adjustment_interval {
        if !(interval.is_finite() && interval > 0.0) {
            bail!("--adjustment-interval must be a positive number of seconds, got {interval}");
        }
    }
    // 0 = `auto`, resolved in `run_with` once the estimator and the trace are at hand.
    let mut gpu_budget = match args.gpu_budget.as_str() {
        "auto" => 0,
        n => n
            .parse::<u32>()
            .ok()
            .filter(|b| *b >= 1)
            .ok_or_else(|| anyhow::anyhow!("--gpu-budget must be `auto` or a whole number >= 1, got `{n}`"))?,
    };
    let mut dynamo_version: DynamoVersion = args.dynamo_version.parse().map_err(anyhow::Error::msg)?;
    if args.preset.as_deref() == Some("nvidia-2026-01") {
        (dynamo_version, gpu_budget) = (DynamoVersion::V0_7, 8);
    }
    Ok(RunSpec {
        model: args.target.model.clone(),
        system: args.target.system.clone(),
        backend,
        sla: Sla::new(args.isl, args.osl, args.ttft, args.itl),
        search: SearchSpace::new(args.prefill_tp.clone(), args.decode_tp.clone(), gpu_budget),
        seed: args.seed,
        reality: args.reality.clone(),
        requests_per_level: args.requests,
        max_batch: args.max_batch,
        trace: trace_spec(args)?,
        dynamo_version,
        planner: PlannerOverrides {
            adjustment_interval_s: args.adjustment_interval,
            predictor: args
                .load_predictor
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e: String| anyhow::anyhow!("--load-predictor: {e}"))?,
            headroom: args.planner_headroom,
        },
        repeat: args.repeat,
        fingerprint: Default::default(),
        limits: profcmp_core::spec::MethodLimits {
            timeout_s: args.method_timeout,
            budget_s: args.method_budget,
        },
    })
}

/// A fresh simulated cluster per call (own virtual clock), seeded; or the endpoint.
fn backend_factory(ctx: &Context_) -> impl Fn(u64) -> Result<Box<dyn Backend>, String> + Sync + '_ {
    move |seed| {
        if let Some(config) = &ctx.endpoint {
            let endpoint = profcmp_core::endpoint::EndpointBackend::new(config.clone()).map_err(|e| e.to_string())?;
            return Ok(Box::new(endpoint) as Box<dyn Backend>);
        }
        let cluster = SimCluster::with_estimators(ctx.estimators.clone(), ctx.spec.backend, ctx.reality.clone(), seed);
        Ok(Box::new(cluster) as Box<dyn Backend>)
    }
}

/// A reality profile by name (`nominal`, `dynamo-2026-01`) or from a TOML file.
pub fn reality(name_or_path: &str) -> anyhow::Result<Reality> {
    Ok(Reality::resolve(name_or_path)?)
}

fn profile(ctx: &Context_, methods: &MethodArgs, console: &Console) -> anyhow::Result<Outcome> {
    let (resolved, left_out) = methods::resolve_reporting(methods, true)?;
    let mut outcome = Outcome {
        failed: 0,
        warnings: left_out,
    };
    let lock_text = lock::render(&resolved);
    let mut loaded = Vec::new();
    let timeout = std::time::Duration::try_from_secs_f64(ctx.spec.limits.timeout_s).unwrap_or(std::time::Duration::MAX);
    for r in &resolved {
        match crate::isolate::IsolatedPlugin::new(r, timeout) {
            Ok(plugin) => loaded.push((plugin, r)),
            Err(e) => {
                console.line(&format!("error: {e}"));
                outcome.failed += 1;
                outcome.warnings.push(format!("{} not run: {e}", r.name));
            }
        }
    }
    let entries: Vec<MethodEntry> = loaded
        .iter()
        .map(|(plugin, r)| MethodEntry {
            runner: plugin,
            options: r.options.clone(),
            code_hash: r.sha256.clone(),
        })
        .collect();
    let estimates = |q: &_| answer_estimate(&ctx.estimators, q);
    let factory = backend_factory(ctx);
    let (records, write_warnings): (Vec<ProfileRecord>, Vec<String>) = match &ctx.k8s {
        // One backend per method, so its objects carry the method's label.
        Some(k8s) => {
            let (mut records, mut warnings) = (Vec::new(), Vec::new());
            for entry in &entries {
                let factory = k8s.factory(&entry.runner.manifest().name);
                let one = std::slice::from_ref(entry);
                let (r, w) = profile_stage(&ctx.spec, &ctx.results, one, &lock_text, &factory, &estimates, console);
                records.extend(r);
                warnings.extend(w);
            }
            (records, warnings)
        }
        None => profile_stage(
            &ctx.spec,
            &ctx.results,
            &entries,
            &lock_text,
            &factory,
            &estimates,
            console,
        ),
    };
    outcome.warnings.extend(write_warnings);
    for record in &records {
        let l = &record.ledger;
        match &record.error {
            None => console.line(&format!(
                "profile {}: {} deployments, {:.2} GPU-h, {:.0} s ({:.1} s CPU)",
                record.manifest.name, l.deployments, l.gpu_hours, l.duration_s, l.cpu_s
            )),
            Some(e) => {
                outcome.failed += 1;
                console.line(&format!("profile {}: FAILED: {e}", record.manifest.name));
            }
        }
        if l.teardown_failures > 0 {
            outcome.warnings.push(format!(
                "{}: {} deployment(s) whose teardown was never confirmed (leaked; charged to the end of its run)",
                record.manifest.name, l.teardown_failures
            ));
        }
    }
    Ok(outcome)
}

/// Successful profile results in the results directory, by method, and a warning for each
/// method directory whose profile.json cannot be read (that method is left out).
fn profiled(results: &ResultsDir) -> anyhow::Result<(Vec<(String, ProfileResult)>, Vec<String>)> {
    let methods = results
        .methods()
        .with_context(|| format!("cannot read {}: run `profcmp profile` first", results.root.display()))?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for method in methods {
        let path = results.profile_json(&method);
        if !path.exists() {
            continue;
        }
        match read_json::<ProfileRecord>(&path) {
            Ok(ProfileRecord {
                result: Some(result), ..
            }) => out.push((method, result)),
            // A failed method is reported as failed by the profile stage and the comparison.
            Ok(_) => {}
            Err(e) => warnings.push(format!("{method} left out: unreadable profile.json: {e}")),
        }
    }
    if out.is_empty() {
        bail!(
            "no successful profile in {}: run `profcmp profile` first",
            results.root.display()
        );
    }
    Ok((out, warnings))
}

fn validate(ctx: &Context_, console: &Console) -> anyhow::Result<Outcome> {
    let (methods, warnings) = profiled(&ctx.results)?;
    let mut outcome = Outcome { failed: 0, warnings };
    let factory = backend_factory(ctx);
    // On Kubernetes one B for every graph (estimated from the deployments); on the simulated
    // cluster and an endpoint each graph's own saturation concurrency, measured.
    let shared = match &ctx.k8s {
        Some(k8s) => Some(k8s.capacity(&methods)?),
        None => None,
    };
    let mut measured = Vec::new();
    for (method, result) in &methods {
        let capacity = match shared {
            Some(b) => Ok(b),
            None => factory(ctx.spec.seed).and_then(|mut backend| {
                validate::method_capacity(&ctx.spec, &ctx.results, method, result, backend.as_mut())
                    .map(|record| record.capacity_b)
            }),
        };
        match capacity {
            Ok(b) => {
                let levels = profcmp_core::predict::load_levels(b);
                console.line(&format!(
                    "validate {method}: capacity B = {b}{}; levels {}",
                    if ctx.spec.max_batch.is_some() {
                        " (--max-batch)"
                    } else {
                        ""
                    },
                    levels
                        .iter()
                        .map(|(l, c)| format!("{l} {c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                measured.push((method, result, levels));
            }
            Err(e) => {
                outcome.failed += 1;
                console.line(&format!("validate {method}: FAILED: capacity: {e}"));
                outcome
                    .warnings
                    .push(format!("validate {method} failed: capacity: {e}"));
            }
        }
    }
    for repeat in 0..ctx.spec.repeat {
        for (method, result, levels) in &measured {
            let mut backend = match &ctx.k8s {
                // The method's config_with_planner.yaml as is: the real planner scales it.
                Some(k8s) => {
                    let path = ctx.results.config_with_planner(method);
                    let yaml =
                        std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
                    k8s.backend(method, Some(yaml))
                }
                None => factory(ctx.spec.seed + u64::from(repeat)),
            }
            .map_err(anyhow::Error::msg)?;
            let measured = validate::validate_method(
                &ctx.spec,
                &ctx.results,
                method,
                result,
                levels,
                repeat,
                backend.as_mut(),
                console,
            );
            if let Err(e) = measured {
                outcome.failed += 1;
                console.line(&format!("validate {method}: FAILED: {e}"));
                outcome
                    .warnings
                    .push(format!("validate {method} (seed {repeat}) failed: {e}"));
            }
        }
    }
    Ok(outcome)
}

/// The optimize stage's trace from the flags: a `--trace` file (identified by its sha256) or
/// sin_synth's parameters.
fn trace_spec(args: &RunArgs) -> anyhow::Result<TraceSpec> {
    let second_class = if args.single_class {
        None
    } else {
        let (isl, osl) = args
            .second_class
            .split_once(':')
            .and_then(|(i, o)| Some((i.trim().parse::<u32>().ok()?, o.trim().parse::<u32>().ok()?)))
            .filter(|(i, o)| *i > 0 && *o > 0)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--second-class must be ISL:OSL with both >= 1, e.g. 5000:100; got `{}`",
                    args.second_class
                )
            })?;
        Some((isl, osl))
    };
    if !(0.0..=1.0).contains(&args.ratio_min) || !(args.ratio_min..=1.0).contains(&args.ratio_max) {
        bail!("--ratio-min and --ratio-max must satisfy 0 <= min <= max <= 1");
    }
    if !(args.ratio_period.is_finite() && args.ratio_period > 0.0) {
        bail!("--ratio-period must be a positive number of seconds");
    }
    let file = match &args.trace {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read --trace {}: give a mooncake JSONL file", path.display()))?;
            profcmp_core::workload::parse_mooncake(&String::from_utf8_lossy(&bytes), &path.display().to_string())?;
            Some(TraceFile {
                path: path.clone(),
                sha256: profcmp_core::fsio::sha256_hex(&bytes),
            })
        }
        None => None,
    };
    Ok(TraceSpec {
        duration_s: args.trace_duration,
        min_rate: args.min_rate,
        max_rate: args.max_rate,
        period_s: args.period,
        second_class,
        ratio_min: args.ratio_min,
        ratio_max: args.ratio_max,
        ratio_period_s: args.ratio_period,
        file,
    })
}

fn trace_for(ctx: &Context_, seed: u64, path: &Path) -> anyhow::Result<Vec<profcmp_plugin_api::TraceRequest>> {
    let trace = profcmp_core::workload::trace_for(&ctx.spec.trace, &ctx.spec.sla, seed)?;
    // Keep the file the user can replay elsewhere; rewrite it only if it differs.
    if read_mooncake(path).ok().as_ref() != Some(&trace) {
        write_mooncake(path, &trace, 512)?;
    }
    Ok(trace)
}

/// The planner arguments in a method's `config_with_planner.yaml` (none if it has none).
fn method_planner_args(results: &ResultsDir, method: &str) -> profcmp_core::stage::optimize::MethodPlannerArgs {
    std::fs::read_to_string(results.config_with_planner(method))
        .ok()
        .and_then(|yaml| profcmp_core::dynamo::read_profile_data(&yaml).ok())
        .map(|data| (&data).into())
        .unwrap_or_default()
}

fn optimize(ctx: &Context_, console: &Console) -> anyhow::Result<Outcome> {
    let (methods, warnings) = profiled(&ctx.results)?;
    let mut outcome = Outcome { failed: 0, warnings };
    let factory = backend_factory(ctx);
    // One server cannot take two loads at once without each skewing the other.
    let threads = match ctx.endpoint {
        Some(_) => 1,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    for repeat in 0..ctx.spec.repeat {
        let seed = ctx.spec.seed + u64::from(repeat);
        let seed_dir = |dir: std::path::PathBuf| {
            if repeat == 0 {
                dir
            } else {
                dir.join(format!("seed-{repeat}"))
            }
        };
        let trace_path = if repeat == 0 {
            ctx.results.trace()
        } else {
            ctx.results.root.join(format!("sinusoidal-seed-{repeat}.jsonl"))
        };
        let trace = trace_for(ctx, seed, &trace_path)?;
        let mut jobs: Vec<PlannedJob> = methods
            .iter()
            .map(|(method, result)| PlannedJob {
                subject: method.clone(),
                prefill_tp: result.prefill.tp,
                decode_tp: result.decode.tp,
                profile: result.profile_data.clone(),
                args: method_planner_args(&ctx.results, method),
                dir: seed_dir(ctx.results.optimization(method)),
            })
            .collect();
        let estimates = |q: &_| answer_estimate(&ctx.estimators, q);
        let oracle_factory: Box<profcmp_core::stage::BackendFactory> = match &ctx.k8s {
            Some(k8s) => Box::new(k8s.factory("oracle")),
            None => Box::new(backend_factory(ctx)),
        };
        let oracle_profiles = profcmp_core::stage::optimize::measured_profiles(
            &ctx.spec,
            &ctx.results,
            &oracle_factory,
            &estimates,
            console,
        )
        .map_err(anyhow::Error::msg)?;
        let mut left_out = Vec::new();
        let methods_jobs = jobs.len();
        for (p, d) in oracle_candidates(&ctx.spec) {
            let (Some(prefill), Some(decode)) = (oracle_profiles.prefill.get(&p), oracle_profiles.decode.get(&d))
            else {
                let missing = match oracle_profiles.prefill.contains_key(&p) {
                    false => format!("prefill TP{p}"),
                    true => format!("decode TP{d}"),
                };
                left_out.push(format!(
                    "oracle candidate {p}x{d} left out (seed {repeat}): {missing} could not be deployed and measured; regret is against a partial oracle"
                ));
                continue;
            };
            jobs.push(PlannedJob {
                subject: format!("oracle {p}x{d}"),
                prefill_tp: p,
                decode_tp: d,
                profile: profcmp_plugin_api::PlannerProfile::new(prefill.clone(), decode.clone()),
                args: Default::default(),
                dir: seed_dir(ctx.results.oracle(p, d)),
            });
        }
        // Regret against a partial oracle is said; with no candidate at all (an endpoint serves one
        // graph) there is no regret to mislead, and the comparison says regret is missing.
        if jobs.len() > methods_jobs {
            outcome.warnings.extend(left_out);
        }
        let outcomes = match &ctx.k8s {
            Some(k8s) => k8s.run_jobs(&ctx.results, &jobs, &trace, seed, console),
            None => run_jobs(&ctx.spec, &jobs, &trace, seed, threads, &factory, console),
        };
        for (job, result) in jobs.iter().zip(outcomes) {
            match result {
                Ok(r) => console.line(&format!(
                    "optimize {}: goodput {:.2} req/s, {:.3} per GPU, SLA hit {:.0}%",
                    job.subject,
                    r.goodput,
                    r.goodput_per_gpu,
                    r.sla_hit_rate * 100.0
                )),
                Err(e) => {
                    outcome.failed += 1;
                    console.line(&format!("optimize {}: FAILED: {e}", job.subject));
                    let partial = match job.subject.starts_with("oracle ") {
                        true => "; regret is against a partial oracle",
                        false => "",
                    };
                    outcome
                        .warnings
                        .push(format!("optimize {} (seed {repeat}) failed: {e}{partial}", job.subject));
                }
            }
        }
    }
    Ok(outcome)
}
