//! The run-style commands (run, profile, validate, optimize): settings from the flags, the
//! backend chosen once, the methods loaded in child processes; `profcmp_core::pipeline` runs
//! the stages.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use profcmp_core::k8s::run::K8sRunSettings;
use profcmp_core::pipeline::{ClusterChoice, ClusterKind, LoadedMethod, MethodSet, RunInputs};
pub use profcmp_core::pipeline::{Outcome, Stages};
use profcmp_core::sim::Reality;
use profcmp_core::spec::{DynamoVersion, PlannerOverrides, RunSpec, TraceFile, TraceSpec};
use profcmp_plugin_api::{SearchSpace, ServingBackend, Sla};

use crate::args::{BackendArg, ClusterArg, Preset, RunArgs};
use crate::methods::MethodArgs;
use crate::output::Console;
use crate::{lock, methods};

/// Runs the chosen stages, then (for `run`) compares.
pub fn run(args: &RunArgs, stages: Stages, console: &Console) -> anyhow::Result<Outcome> {
    let cluster = cluster_kind(args)?;
    if args.realities > 0 {
        return run_ensemble(args, stages, cluster, console);
    }
    let mut spec = run_spec(args)?;
    let endpoint = crate::endpoint::config(
        &args.endpoint,
        cluster == ClusterKind::Endpoint,
        &args.target.model,
        args.seed,
        args.max_batch,
        &args.results,
    )?;
    let choice = match (cluster, endpoint) {
        (_, Some(config)) => {
            spec.reality = crate::endpoint::describe(&config);
            ClusterChoice::Endpoint(config)
        }
        (ClusterKind::K8s, None) => ClusterChoice::K8s {
            reality: Reality::resolve(&spec.reality)?,
            settings: K8sRunSettings {
                context: args.k8s.cluster.context.clone(),
                namespace: args.k8s.cluster.namespace.clone(),
                templates: args.k8s.k8s_templates.clone(),
                ready_timeout: Duration::from_secs(args.k8s.ready_timeout),
                cancelled: console.cancel_flag(),
            },
        },
        (_, None) => ClusterChoice::Sim {
            reality: Reality::resolve(&spec.reality)?,
        },
    };
    let loader = |spec: &RunSpec| load_methods(&args.methods, spec, console).map_err(Into::into);
    let inputs = RunInputs {
        spec,
        results: args.results.clone(),
        cluster: choice,
        aic_systems_root: args.target.aic_systems_root.clone(),
        methods: &loader,
    };
    let outcome = profcmp_core::pipeline::run(inputs, stages, console);
    console.finish();
    let outcome = outcome?;
    if stages == Stages::All {
        crate::compare::compare(&args.results)?;
    }
    Ok(outcome)
}

/// `--cluster`, with `--backend endpoint` saying `--cluster endpoint`.
fn cluster_kind(args: &RunArgs) -> anyhow::Result<ClusterKind> {
    match (args.target.backend, args.cluster) {
        (BackendArg::Endpoint, ClusterArg::K8s) => {
            bail!("--backend endpoint and --cluster k8s exclude each other: choose one")
        }
        (BackendArg::Endpoint, _) => Ok(ClusterKind::Endpoint),
        (_, cluster) => Ok(cluster.into()),
    }
}

/// Runs the chosen stages once per reality drawn from the ranges, into `<results>/reality-<k>/`.
fn run_ensemble(args: &RunArgs, stages: Stages, cluster: ClusterKind, console: &Console) -> anyhow::Result<Outcome> {
    if cluster != ClusterKind::Sim {
        bail!(
            "--realities draws simulated clusters; it needs --cluster sim (got --cluster {})",
            cluster.as_str()
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
    let loader = |spec: &RunSpec| load_methods(&args.methods, spec, console).map_err(Into::into);
    let root = args.target.aic_systems_root.clone();
    let outcome = profcmp_core::pipeline::run_realities(&spec, &drawn, &args.results, root, &loader, stages, console);
    console.finish();
    let outcome = outcome?;
    if stages == Stages::All {
        crate::compare::compare(&args.results)?;
    }
    Ok(outcome)
}

/// Runs the chosen stages of `spec` into `results` (without the compare stage) on the simulated
/// cluster at `spec.reality`, or on the endpoint when given: for the benchmarks (the CLI goes
/// through [`run`]). `_k8s` is always None: Kubernetes runs need the CLI's cluster flags.
#[allow(clippy::too_many_arguments)]
pub fn run_with(
    spec: RunSpec,
    results: &Path,
    methods: &MethodArgs,
    aic_systems_root: Option<std::path::PathBuf>,
    _k8s: Option<()>,
    endpoint: Option<profcmp_core::endpoint::EndpointConfig>,
    stages: Stages,
    console: &Console,
) -> anyhow::Result<Outcome> {
    let cluster = match endpoint {
        Some(config) => ClusterChoice::Endpoint(config),
        None => ClusterChoice::Sim {
            reality: Reality::resolve(&spec.reality)?,
        },
    };
    let loader = |spec: &RunSpec| load_methods(methods, spec, console).map_err(Into::into);
    let inputs = RunInputs {
        spec,
        results: results.to_path_buf(),
        cluster,
        aic_systems_root,
        methods: &loader,
    };
    Ok(profcmp_core::pipeline::run(inputs, stages, console)?)
}

/// Resolves the methods and starts each in its own process; one that cannot start is reported
/// and counted as failed, the others run.
fn load_methods(args: &MethodArgs, spec: &RunSpec, console: &Console) -> anyhow::Result<MethodSet> {
    let (resolved, left_out) = methods::resolve_reporting(args, true)?;
    let mut outcome = Outcome {
        failed: 0,
        warnings: left_out,
    };
    let timeout = Duration::try_from_secs_f64(spec.limits.timeout_s).unwrap_or(Duration::MAX);
    let mut loaded = Vec::new();
    for r in &resolved {
        match crate::isolate::IsolatedPlugin::new(r, timeout) {
            Ok(plugin) => loaded.push(LoadedMethod {
                runner: Box::new(plugin),
                options: r.options.clone(),
                code_hash: r.sha256.clone(),
            }),
            Err(e) => {
                console.line(&format!("error: {e}"));
                outcome.failed += 1;
                outcome.warnings.push(format!("{} not run: {e}", r.name));
            }
        }
    }
    Ok(MethodSet {
        methods: loaded,
        lock_text: lock::render(&resolved),
        outcome,
    })
}

fn run_spec(args: &RunArgs) -> anyhow::Result<RunSpec> {
    // An already running server has no framework the estimator knows: the methods' estimates
    // assume TRT-LLM timing, as `--backend endpoint`'s help says.
    let backend = match args.target.backend {
        BackendArg::Endpoint => ServingBackend::Trtllm,
        _ => args.target.framework()?,
    };
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
    let mut dynamo_version: DynamoVersion = args.dynamo_version.into();
    if args.preset == Some(Preset::Nvidia2026_01) {
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
            predictor: args.load_predictor.map(Into::into),
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
