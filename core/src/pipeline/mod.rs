//! One comparison run, for any backend: resolve what the spec names, open the backend chosen
//! once ([`ClusterChoice`] -> [`Backends`]), then run the profile, validate and optimize stages,
//! recording the settings and each stage's warnings in `results/run.json`. The host hands in the
//! spec, the backend choice and a loader for the methods; it only parses and prints.
//!
//! ```text
//! host --RunSpec, ClusterChoice, MethodLoader--> pipeline::run
//!        prepare: estimators, `auto` GPU budget, fingerprint; ClusterChoice::open -> dyn Backends
//!        profile:  stage::profile per method, on Backends::for_subject(method)
//!        validate: capacity (Backends::shared_capacity or a sweep), levels on Backends::for_graph
//!        optimize: trace, oracle profiles, Backends::run_jobs
//! ```

mod backends;
mod error;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use profcmp_plugin_api::{PlannerProfile, ProfileResult, TraceRequest};

use crate::estimator::{EstimatorSet, ModelInfo};
use crate::layout::{read_json, write_json, OptimizationRecord, ProfileRecord, ResultsDir, RunRecord};
use crate::sim::Reality;
use crate::spec::RunSpec;
use crate::stage::optimize::{oracle_candidates, MethodPlannerArgs, PlannedJob};
use crate::stage::profile::{answer_estimate, profile_stage, MethodEntry, MethodRunner};
use crate::stage::{validate, Observer};
use crate::workload::{read_mooncake, write_mooncake};

pub use backends::{Backends, ClusterChoice, ClusterKind, EndpointBackends, SimBackends};
pub use error::{BoxError, PipelineError};

/// Which stages to run (compare is the host's: it reads any results directory).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stages {
    /// Profile, validate and optimize.
    All,
    /// The profile stage only.
    Profile,
    /// The validate stage only.
    Validate,
    /// The optimize stage only.
    Optimize,
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
    /// Adds another outcome's failures and warnings to this one.
    pub fn add(&mut self, other: Outcome) {
        self.failed += other.failed;
        self.warnings.extend(other.warnings);
    }
}

/// One method ready to run: its runner (e.g. an isolated plugin process), its options and the
/// hash of its code (so a rebuilt method reruns).
pub struct LoadedMethod {
    /// Runs the method.
    pub runner: Box<dyn MethodRunner>,
    /// The method's options from methods.toml.
    pub options: serde_json::Value,
    /// The plugin's sha256.
    pub code_hash: String,
}

/// The methods of a run, as the host resolved and loaded them.
pub struct MethodSet {
    /// The methods that loaded.
    pub methods: Vec<LoadedMethod>,
    /// methods.lock, written beside each method's results.
    pub lock_text: String,
    /// Methods left out or not loadable: counted and warned about like failed runs.
    pub outcome: Outcome,
}

/// Resolves and loads the methods; called only when the profile stage runs, after the backend
/// is open (so a cluster error comes before any plugin is started).
pub type MethodLoader<'a> = dyn Fn(&RunSpec) -> Result<MethodSet, BoxError> + 'a;

/// What one run needs besides the stages to run and the observer.
pub struct RunInputs<'a> {
    /// The settings (a `gpu_budget` of 0 is `auto`, resolved here).
    pub spec: RunSpec,
    /// The results directory.
    pub results: PathBuf,
    /// Where graphs are deployed and measured.
    pub cluster: ClusterChoice,
    /// A full AI Configurator systems directory instead of the shipped subset.
    pub aic_systems_root: Option<PathBuf>,
    /// The methods to profile.
    pub methods: &'a MethodLoader<'a>,
}

/// Everything a stage needs, resolved once.
struct Run {
    spec: RunSpec,
    results: ResultsDir,
    estimators: Arc<EstimatorSet>,
    backends: Box<dyn Backends>,
}

/// Runs the chosen stages of one run (without compare) and records the settings and each
/// stage's warnings in `results/run.json`.
pub fn run(inputs: RunInputs<'_>, stages: Stages, observer: &dyn Observer) -> Result<Outcome, PipelineError> {
    let RunInputs {
        spec,
        results,
        cluster,
        aic_systems_root,
        methods,
    } = inputs;
    let model = ModelInfo::resolve(&spec.model).map_err(PipelineError::setup)?;
    let perf_db =
        crate::estimator::perf_db_digest(&spec.system, aic_systems_root.as_deref()).map_err(PipelineError::setup)?;
    let estimators = Arc::new(
        EstimatorSet::new(model, &spec.system, spec.backend.as_str(), aic_systems_root)
            .map_err(PipelineError::setup)?,
    );
    let mut spec = spec;
    if spec.search.gpu_budget == 0 {
        let trace = crate::workload::trace_for(&spec.trace, &spec.sla, spec.seed).map_err(PipelineError::setup)?;
        let sized =
            crate::stage::optimize::servable_budget(&trace, &estimators, &spec.sla).map_err(PipelineError::Stage)?;
        observer.note(&format!(
            "GPU budget: auto = {} (the trace's busiest 2 s: {:.1} req/s need {:.1} prefill + {:.1} decode GPUs at TP1 by the estimator; whole 8-GPU nodes)",
            sized.gpus, sized.peak_rate, sized.prefill_gpus, sized.decode_gpus
        ));
        spec.search.gpu_budget = sized.gpus;
    }
    // What the cache keys need beyond the flags: the contents behind the names.
    spec.fingerprint = crate::spec::Fingerprint::new(&cluster.reality_text(&spec), perf_db);
    let kind = cluster.kind();
    let backends = cluster.open(&spec, estimators.clone(), observer)?;
    let run = Run {
        spec,
        results: ResultsDir::new(&results),
        estimators,
        backends,
    };
    let mut record = start_record(&run, kind)?;
    let mut outcome = Outcome::default();
    let mut stage = |name: &str, result: Result<Outcome, PipelineError>| -> Result<(), PipelineError> {
        let stage_outcome = result?;
        let _span = tracing::info_span!("stage", name).entered();
        for warning in &stage_outcome.warnings {
            observer.warn(warning);
        }
        record.warnings.insert(name.to_string(), stage_outcome.warnings.clone());
        write_record(&run.results, &record)?;
        outcome.add(stage_outcome);
        if observer.cancelled() {
            return Err(PipelineError::Cancelled);
        }
        Ok(())
    };
    let span = |name: &str| tracing::info_span!("stage", name);
    if matches!(stages, Stages::All | Stages::Profile) {
        let result = span("profile").in_scope(|| profile(&run, methods, observer));
        stage("profile", result)?;
    }
    if matches!(stages, Stages::All | Stages::Validate) {
        let result = span("validate").in_scope(|| validate(&run, observer));
        stage("validate", result)?;
    }
    if matches!(stages, Stages::All | Stages::Optimize) {
        let result = span("optimize").in_scope(|| optimize(&run, observer));
        stage("optimize", result)?;
    }
    Ok(outcome)
}

/// Runs the chosen stages once per reality into `<results>/reality-<k>/` on the simulated
/// cluster; each reality is written there as a TOML file whose name carries its hash, so a
/// changed draw never reuses results.
pub fn run_realities(
    spec: &RunSpec,
    realities: &[Reality],
    results: &Path,
    aic_systems_root: Option<PathBuf>,
    methods: &MethodLoader<'_>,
    stages: Stages,
    observer: &dyn Observer,
) -> Result<Outcome, PipelineError> {
    let mut outcome = Outcome::default();
    for (k, reality) in realities.iter().enumerate() {
        let dir = results.join(format!("reality-{}", k + 1));
        std::fs::create_dir_all(&dir).map_err(|source| PipelineError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let text = reality.to_toml();
        let path = dir.join(format!("reality-{}.toml", crate::spec::input_hash(&text)));
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            crate::fsio::write_atomic(&path, text.as_bytes()).map_err(|source| PipelineError::Write {
                path: path.clone(),
                source,
            })?;
        }
        observer.note(&format!(
            "reality {}/{}: {} (prefill x{:.2}, decode x{:.2}, KV {:.0} GB/s per link) -> {}",
            k + 1,
            realities.len(),
            reality.name,
            reality.prefill_factor,
            reality.decode_factor,
            reality.kv_bandwidth_gb_s,
            dir.display()
        ));
        let mut spec = spec.clone();
        spec.reality = path.display().to_string();
        // Read back from the file, as a rerun naming this file would.
        let reality = Reality::resolve(&spec.reality).map_err(PipelineError::setup)?;
        let inputs = RunInputs {
            spec,
            results: dir,
            cluster: ClusterChoice::Sim { reality },
            aic_systems_root: aic_systems_root.clone(),
            methods,
        };
        outcome.add(run(inputs, stages, observer)?);
    }
    Ok(outcome)
}

fn write_record(results: &ResultsDir, record: &RunRecord) -> Result<(), PipelineError> {
    write_json(&results.run_json(), record).map_err(|source| PipelineError::Write {
        path: results.run_json(),
        source,
    })
}

/// The run record with this run's settings; a stage that does not run now keeps the warnings it
/// raised before (they still describe its results on disk), a stage that runs replaces its own.
fn start_record(run: &Run, cluster: ClusterKind) -> Result<RunRecord, PipelineError> {
    std::fs::create_dir_all(&run.results.root).map_err(|source| PipelineError::CreateDir {
        path: run.results.root.clone(),
        source,
    })?;
    let mut record = RunRecord {
        schema_version: 1,
        profcmp_version: env!("CARGO_PKG_VERSION").to_string(),
        cluster: cluster.as_str().to_string(),
        spec: run.spec.clone(),
        warnings: Default::default(),
    };
    if let Ok(old) = read_json::<RunRecord>(&run.results.run_json()) {
        record.warnings = old.warnings;
    }
    write_record(&run.results, &record)?;
    Ok(record)
}

fn profile(run: &Run, load: &MethodLoader<'_>, observer: &dyn Observer) -> Result<Outcome, PipelineError> {
    let set = load(&run.spec).map_err(PipelineError::Methods)?;
    let mut outcome = set.outcome;
    let estimates = |q: &_| answer_estimate(&run.estimators, q);
    let mut records = Vec::new();
    // One backend per method, so a cluster can label what each method deploys.
    for method in &set.methods {
        let entry = MethodEntry {
            runner: method.runner.as_ref(),
            options: method.options.clone(),
            code_hash: method.code_hash.clone(),
        };
        let name = entry.runner.manifest().name.clone();
        let _span = tracing::info_span!("method", name).entered();
        let factory = |seed| run.backends.for_subject(&name, seed);
        let (r, w) = profile_stage(
            &run.spec,
            &run.results,
            std::slice::from_ref(&entry),
            &set.lock_text,
            &factory,
            &estimates,
            observer,
        );
        records.extend(r);
        outcome.warnings.extend(w);
    }
    for record in &records {
        let l = &record.ledger;
        match &record.error {
            None => observer.note(&format!(
                "profile {}: {} deployments, {:.2} GPU-h, {:.0} s ({:.1} s CPU)",
                record.manifest.name, l.deployments, l.gpu_hours, l.duration_s, l.cpu_s
            )),
            Some(e) => {
                outcome.failed += 1;
                observer.note(&format!("profile {}: FAILED: {e}", record.manifest.name));
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

/// Each profiled method's id and result.
type Profiled = Vec<(String, ProfileResult)>;

/// Successful profile results in the results directory, by method, and a warning for each
/// method directory whose profile.json cannot be read (that method is left out).
fn profiled(results: &ResultsDir) -> Result<(Profiled, Vec<String>), PipelineError> {
    let methods = results.methods().map_err(|source| PipelineError::NoResults {
        path: results.root.clone(),
        source,
    })?;
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
        return Err(PipelineError::NoProfile {
            path: results.root.clone(),
        });
    }
    Ok((out, warnings))
}

fn validate(run: &Run, observer: &dyn Observer) -> Result<Outcome, PipelineError> {
    let (methods, warnings) = profiled(&run.results)?;
    let mut outcome = Outcome { failed: 0, warnings };
    let decode_tps: Vec<u32> = methods.iter().map(|(_, r)| r.decode.tp).collect();
    let shared = run
        .backends
        .shared_capacity(&run.spec, &decode_tps)
        .transpose()
        .map_err(|e| PipelineError::Backend(e.into()))?;
    let mut measured = Vec::new();
    for (method, result) in &methods {
        let capacity = match shared {
            Some(b) => Ok(b),
            None => run.backends.for_subject(method, run.spec.seed).and_then(|mut backend| {
                validate::method_capacity(&run.spec, &run.results, method, result, backend.as_mut())
                    .map(|record| record.capacity_b)
            }),
        };
        match capacity {
            Ok(b) => {
                let levels = crate::predict::load_levels(b);
                observer.note(&format!(
                    "validate {method}: capacity B = {b}{}; levels {}",
                    if run.spec.max_batch.is_some() {
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
                observer.note(&format!("validate {method}: FAILED: capacity: {e}"));
                outcome
                    .warnings
                    .push(format!("validate {method} failed: capacity: {e}"));
            }
        }
    }
    for repeat in 0..run.spec.repeat {
        for (method, result, levels) in &measured {
            let seed = run.spec.seed + u64::from(repeat);
            let config = run.results.config_with_planner(method);
            let mut backend = run
                .backends
                .for_graph(method, seed, &config)
                .map_err(|e| PipelineError::Backend(e.into()))?;
            let measured = validate::validate_method(
                &run.spec,
                &run.results,
                method,
                result,
                levels,
                repeat,
                backend.as_mut(),
                observer,
            );
            if let Err(e) = measured {
                outcome.failed += 1;
                observer.note(&format!("validate {method}: FAILED: {e}"));
                outcome
                    .warnings
                    .push(format!("validate {method} (seed {repeat}) failed: {e}"));
            }
        }
    }
    Ok(outcome)
}

/// The trace for one seed; the file is kept so the user can replay it elsewhere, rewritten only
/// if it differs.
fn trace_for(spec: &RunSpec, seed: u64, path: &Path) -> Result<Vec<TraceRequest>, PipelineError> {
    let trace = crate::workload::trace_for(&spec.trace, &spec.sla, seed).map_err(PipelineError::setup)?;
    if read_mooncake(path).ok().as_ref() != Some(&trace) {
        write_mooncake(path, &trace, 512).map_err(PipelineError::setup)?;
    }
    Ok(trace)
}

/// The planner arguments in a method's `config_with_planner.yaml` (none if it has none).
fn method_planner_args(results: &ResultsDir, method: &str) -> MethodPlannerArgs {
    std::fs::read_to_string(results.config_with_planner(method))
        .ok()
        .and_then(|yaml| crate::dynamo::read_profile_data(&yaml).ok())
        .map(|data| (&data).into())
        .unwrap_or_default()
}

fn optimize(run: &Run, observer: &dyn Observer) -> Result<Outcome, PipelineError> {
    let (methods, warnings) = profiled(&run.results)?;
    let mut outcome = Outcome { failed: 0, warnings };
    for repeat in 0..run.spec.repeat {
        let seed = run.spec.seed + u64::from(repeat);
        let seed_dir = |dir: PathBuf| {
            if repeat == 0 {
                dir
            } else {
                dir.join(format!("seed-{repeat}"))
            }
        };
        let trace_path = if repeat == 0 {
            run.results.trace()
        } else {
            run.results.root.join(format!("sinusoidal-seed-{repeat}.jsonl"))
        };
        let trace = trace_for(&run.spec, seed, &trace_path)?;
        let mut jobs: Vec<PlannedJob> = methods
            .iter()
            .map(|(method, result)| PlannedJob {
                subject: method.clone(),
                prefill_tp: result.prefill.tp,
                decode_tp: result.decode.tp,
                profile: result.profile_data.clone(),
                args: method_planner_args(&run.results, method),
                dir: seed_dir(run.results.optimization(method)),
            })
            .collect();
        let estimates = |q: &_| answer_estimate(&run.estimators, q);
        let oracle_factory = |seed| run.backends.for_subject("oracle", seed);
        let oracle_profiles =
            crate::stage::optimize::measured_profiles(&run.spec, &run.results, &oracle_factory, &estimates, observer)
                .map_err(PipelineError::Stage)?;
        let mut left_out = Vec::new();
        let methods_jobs = jobs.len();
        for (p, d) in oracle_candidates(&run.spec) {
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
                profile: PlannerProfile::new(prefill.clone(), decode.clone()),
                args: Default::default(),
                dir: seed_dir(run.results.oracle(p, d)),
            });
        }
        // Regret against a partial oracle is said; with no candidate at all (an endpoint serves one
        // graph) there is no regret to mislead, and the comparison says regret is missing.
        if jobs.len() > methods_jobs {
            outcome.warnings.extend(left_out);
        }
        let outcomes: Vec<Result<OptimizationRecord, String>> =
            run.backends
                .run_jobs(&run.spec, &run.results, &jobs, &trace, seed, observer);
        for (job, result) in jobs.iter().zip(outcomes) {
            match result {
                Ok(r) => observer.note(&format!(
                    "optimize {}: goodput {:.2} req/s, {:.3} per GPU, SLA hit {:.0}%",
                    job.subject,
                    r.goodput,
                    r.goodput_per_gpu,
                    r.sla_hit_rate * 100.0
                )),
                Err(e) => {
                    outcome.failed += 1;
                    observer.note(&format!("optimize {}: FAILED: {e}", job.subject));
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
