//! A `--cluster k8s` run: one labelled backend per stage subject (method, oracle, job), the
//! stage logic that differs on a real cluster (one capacity for every graph, planner jobs one
//! after another deploying their `config_with_planner.yaml`), and the sweep that removes
//! whatever carries the run's label when the run ends.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use profcmp_plugin_api::TraceRequest;

use super::backend::{runtime, WorkerLimits};
use super::measure::Builtin;
use super::{new_run_id, Cluster, K8sBackend, K8sError, K8sSettings};
use crate::backend::Backend;
use crate::endpoint::LoadSettings;
use crate::estimator::EstimatorSet;
use crate::layout::{OptimizationRecord, ResultsDir};
use crate::pipeline::Backends;
use crate::spec::RunSpec;
use crate::stage::optimize::{run_job, PlannedJob};
use crate::stage::Observer;

/// Where the cluster is and how long deployments may take.
#[derive(Clone, Debug, Default)]
pub struct K8sRunSettings {
    /// kubeconfig context (default: the current one).
    pub context: Option<String>,
    /// Namespace (default: the context's, else `default`).
    pub namespace: Option<String>,
    /// Base graphs replacing the shipped ones.
    pub templates: Option<PathBuf>,
    /// How long a deployment may take to become Ready.
    pub ready_timeout: Duration,
    /// Set by the first Ctrl-C: backends stop waiting and tear down.
    pub cancelled: Arc<AtomicBool>,
}

/// A run to sweep: kubeconfig context, namespace, run id.
type ActiveRun = (Option<String>, Option<String>, String);

/// The run being swept if the process is killed (see [`sweep_active`]).
static ACTIVE: Mutex<Option<ActiveRun>> = Mutex::new(None);

/// Makes one labelled backend per subject and removes whatever is left with the run's label
/// when dropped.
pub struct K8sRun {
    run_id: String,
    settings: K8sRunSettings,
    spec: RunSpec,
    limits: WorkerLimits,
    _sweep: Option<Sweep>,
}

impl K8sRun {
    /// Checks the cluster once (for a clear error before any stage) and reports the run id.
    pub fn start(
        settings: &K8sRunSettings,
        spec: &RunSpec,
        estimators: Arc<EstimatorSet>,
        observer: &dyn Observer,
    ) -> Result<K8sRun, K8sError> {
        let limits: WorkerLimits = Arc::new(move |tp| {
            let estimator = estimators.get(tp)?;
            Ok((estimator.kv_capacity_tokens(), estimator.max_batch()))
        });
        let mut run = K8sRun {
            run_id: new_run_id(),
            settings: settings.clone(),
            spec: spec.clone(),
            limits,
            _sweep: None,
        };
        // Checks the cluster before anything can be created (and before a sweep could warn).
        drop(run.connect("preflight", None)?);
        run._sweep = Some(Sweep::new(settings, &run.run_id));
        observer.note(&format!(
            "k8s: run {} (if killed: `profcmp k8s cleanup --run {}`)",
            run.run_id, run.run_id
        ));
        Ok(run)
    }

    fn connect(&self, subject: &str, planned: Option<String>) -> Result<K8sBackend, K8sError> {
        let mut settings = K8sSettings::new(&self.run_id, subject, &self.spec.model, self.spec.backend);
        settings.dynamo_version = self.spec.dynamo_version;
        settings.isl = self.spec.sla.isl;
        settings.templates = self.settings.templates.clone();
        settings.ready_timeout = self.settings.ready_timeout;
        settings.planned = planned;
        K8sBackend::connect(
            settings,
            self.settings.context.as_deref(),
            self.settings.namespace.as_deref(),
            self.limits.clone(),
            Arc::new(Builtin(LoadSettings {
                seed: self.spec.seed,
                ..LoadSettings::default()
            })),
            self.settings.cancelled.clone(),
        )
    }

    /// A backend for one subject, deploying `planned` for graphs.
    fn backend(&self, subject: &str, planned: Option<String>) -> Result<Box<dyn Backend>, String> {
        Ok(Box::new(self.connect(subject, planned).map_err(|e| e.to_string())?))
    }

    /// The `config_with_planner.yaml` a job deploys: a method's own, or for an oracle candidate
    /// one written from its measured profile (kept beside its results).
    fn planned_yaml(&self, results: &ResultsDir, job: &PlannedJob) -> Result<String, String> {
        if !job.subject.starts_with("oracle ") {
            let path = results.config_with_planner(&job.subject);
            return std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()));
        }
        let mut graph = crate::dynamo::GraphSpec::new(
            &self.spec.model,
            self.spec.backend,
            self.spec.sla.ttft_ms,
            self.spec.sla.itl_ms,
            job.prefill_tp,
            job.decode_tp,
        );
        graph.max_gpu_budget = self.spec.search.gpu_budget;
        let yaml = crate::dynamo::write_config_with_planner(&graph, &job.profile).map_err(|e| e.to_string())?;
        let path = job.dir.parent().unwrap_or(&job.dir).join("config_with_planner.yaml");
        crate::fsio::write_atomic(&path, yaml.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(yaml)
    }
}

impl Backends for K8sRun {
    fn for_subject(&self, subject: &str, _seed: u64) -> Result<Box<dyn Backend>, String> {
        self.backend(subject, None)
    }

    /// The method's config_with_planner.yaml as is: the real planner scales it.
    fn for_graph(&self, subject: &str, _seed: u64, config_with_planner: &Path) -> Result<Box<dyn Backend>, String> {
        let yaml = std::fs::read_to_string(config_with_planner)
            .map_err(|e| format!("cannot read {}: {e}", config_with_planner.display()))?;
        self.backend(subject, Some(yaml))
    }

    /// Capacity B without deploying: the smallest (KV capacity / (ISL + OSL), max batch) among
    /// the methods' decode workers, from the estimator (what a deployment would report).
    fn shared_capacity(&self, spec: &RunSpec, decode_tps: &[u32]) -> Option<Result<u32, String>> {
        if let Some(b) = spec.max_batch {
            return Some(Ok(b));
        }
        let per_request = u64::from(spec.sla.isl + spec.sla.osl);
        let mut capacity = u32::MAX;
        for &tp in decode_tps {
            let (kv, max_batch) = match (self.limits)(tp) {
                Ok(limits) => limits,
                Err(e) => return Some(Err(e.to_string())),
            };
            capacity = capacity.min((kv / per_request).min(u64::from(max_batch)).max(1) as u32);
        }
        Some(Ok(if capacity == u32::MAX { 1 } else { capacity }))
    }

    /// One after another, each deploying its `config_with_planner.yaml` as is.
    fn run_jobs(
        &self,
        spec: &RunSpec,
        results: &ResultsDir,
        jobs: &[PlannedJob],
        trace: &[TraceRequest],
        seed: u64,
        observer: &dyn Observer,
    ) -> Vec<Result<OptimizationRecord, String>> {
        jobs.iter()
            .map(|job| {
                if observer.cancelled() {
                    return Err("cancelled".to_string());
                }
                let planned = self.planned_yaml(results, job)?;
                let mut backend = self.backend(&job.subject, Some(planned))?;
                run_job(spec, job, trace, seed, backend.as_mut(), observer)
            })
            .collect()
    }
}

/// Deletes everything labelled with a run id when dropped (the end of a run, an error, a panic),
/// and registers the run for [`sweep_active`] while it lives.
pub struct Sweep {
    context: Option<String>,
    namespace: Option<String>,
    run_id: String,
}

impl Sweep {
    /// Starts guarding `run_id`.
    pub fn new(settings: &K8sRunSettings, run_id: &str) -> Sweep {
        Self::guard(settings.context.clone(), settings.namespace.clone(), run_id)
    }

    /// Starts guarding `run_id` in a cluster given by context and namespace.
    pub fn guard(context: Option<String>, namespace: Option<String>, run_id: &str) -> Sweep {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((context.clone(), namespace.clone(), run_id.to_string()));
        Sweep {
            context,
            namespace,
            run_id: run_id.to_string(),
        }
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let run_id = &self.run_id;
        match sweep(
            self.context.as_deref(),
            self.namespace.as_deref(),
            run_id,
            Some(Duration::from_secs(600)),
        ) {
            Ok(removed) if removed.is_empty() => {}
            Ok(removed) => {
                tracing::info!(target: crate::stage::targets::RUN, "k8s: removed what run {run_id} left: {}", removed.join(", "))
            }
            Err(e) => tracing::warn!(
                target: crate::stage::targets::RUN,
                "k8s: could not check that run {run_id} left nothing ({e}); run `profcmp k8s cleanup --run {run_id}`"
            ),
        }
    }
}

/// Deletes everything labelled with `run_id`, waiting up to `wait` until it is gone.
pub fn sweep(
    context: Option<&str>,
    namespace: Option<&str>,
    run_id: &str,
    wait: Option<Duration>,
) -> Result<Vec<String>, K8sError> {
    let runtime = runtime()?;
    let cluster = runtime.block_on(Cluster::connect(context, namespace))?;
    runtime.block_on(cluster.cleanup(run_id, wait))
}

/// For the second Ctrl-C, before the process exits: starts deleting the active run's objects
/// (without waiting until they are gone). Returns the run id and how many objects are being
/// deleted, or None when no run is active.
pub fn sweep_active() -> Option<(String, Result<usize, K8sError>)> {
    let active = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (context, namespace, run_id) = active?;
    let removed = sweep(context.as_deref(), namespace.as_deref(), &run_id, None).map(|r| r.len());
    Some((run_id, removed))
}
