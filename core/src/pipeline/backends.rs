//! The backend choice, made once per run: [`ClusterChoice::open`] is the only place that matches
//! on which backend runs; the stages see a [`Backends`] trait object.

use std::path::Path;
use std::sync::Arc;

use profcmp_plugin_api::{ServingBackend, TraceRequest};

use super::PipelineError;
use crate::backend::Backend;
use crate::endpoint::{EndpointBackend, EndpointConfig};
use crate::estimator::EstimatorSet;
use crate::k8s::run::{K8sRun, K8sRunSettings};
use crate::layout::{OptimizationRecord, ResultsDir};
use crate::sim::{Reality, SimCluster};
use crate::spec::RunSpec;
use crate::stage::optimize::PlannedJob;
use crate::stage::Observer;

/// Where a run's graphs are deployed and measured, as recorded in run.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterKind {
    /// The embedded simulated cluster.
    Sim,
    /// A Kubernetes cluster with NVIDIA Dynamo's operator.
    K8s,
    /// An already running OpenAI-compatible server.
    Endpoint,
}

impl ClusterKind {
    /// The name run.json records (`sim`, `k8s`, `endpoint`).
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterKind::Sim => "sim",
            ClusterKind::K8s => "k8s",
            ClusterKind::Endpoint => "endpoint",
        }
    }
}

/// The backend a run uses, with what it needs beyond the spec.
pub enum ClusterChoice {
    /// The simulated cluster behaving as `reality`.
    Sim {
        /// The reality profile (`spec.reality` resolved).
        reality: Reality,
    },
    /// An already running server; its timing is the server's own.
    Endpoint(EndpointConfig),
    /// Kubernetes.
    K8s {
        /// `spec.reality` resolved: it keys the cache like on the simulated cluster.
        reality: Reality,
        /// Cluster, templates, timeouts.
        settings: K8sRunSettings,
    },
}

impl ClusterChoice {
    /// Which backend this is.
    pub fn kind(&self) -> ClusterKind {
        match self {
            ClusterChoice::Sim { .. } => ClusterKind::Sim,
            ClusterChoice::Endpoint(_) => ClusterKind::Endpoint,
            ClusterChoice::K8s { .. } => ClusterKind::K8s,
        }
    }

    /// What the cache keys record of the reality: its values, or for an endpoint the
    /// description in `spec.reality`.
    pub(super) fn reality_text(&self, spec: &RunSpec) -> String {
        match self {
            ClusterChoice::Sim { reality } | ClusterChoice::K8s { reality, .. } => format!("{reality:?}"),
            ClusterChoice::Endpoint(_) => spec.reality.clone(),
        }
    }

    /// Opens the backend (a Kubernetes run checks the cluster first).
    pub(super) fn open(
        self,
        spec: &RunSpec,
        estimators: Arc<EstimatorSet>,
        observer: &dyn Observer,
    ) -> Result<Box<dyn Backends>, PipelineError> {
        Ok(match self {
            ClusterChoice::Sim { reality } => Box::new(SimBackends {
                estimators,
                serving: spec.backend,
                reality,
            }),
            ClusterChoice::Endpoint(config) => Box::new(EndpointBackends(config)),
            ClusterChoice::K8s { settings, .. } => Box::new(
                K8sRun::start(&settings, spec, estimators, observer).map_err(|e| PipelineError::Backend(e.into()))?,
            ),
        })
    }
}

/// Makes the backends of one run: one per method, oracle or job, so each has its own clock (and,
/// on a cluster, its own labels).
pub trait Backends: Sync {
    /// A backend for `subject` (a method id or `oracle`), seeded with `seed`.
    fn for_subject(&self, subject: &str, seed: u64) -> Result<Box<dyn Backend>, String>;

    /// A backend for a method's recommended graph; a cluster with a real planner deploys the
    /// method's `config_with_planner.yaml` as is.
    fn for_graph(&self, subject: &str, seed: u64, _config_with_planner: &Path) -> Result<Box<dyn Backend>, String> {
        self.for_subject(subject, seed)
    }

    /// One capacity B for every graph, when measuring each graph's own would cost too much
    /// (Kubernetes); None: measure each.
    fn shared_capacity(&self, _spec: &RunSpec, _decode_tps: &[u32]) -> Option<Result<u32, String>> {
        None
    }

    /// How many planner jobs may run at once.
    fn parallel_jobs(&self) -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// Runs the optimize stage's planner jobs, in the jobs' order.
    fn run_jobs(
        &self,
        spec: &RunSpec,
        _results: &ResultsDir,
        jobs: &[PlannedJob],
        trace: &[TraceRequest],
        seed: u64,
        observer: &dyn Observer,
    ) -> Vec<Result<OptimizationRecord, String>> {
        let factory = |seed| self.for_subject("optimize", seed);
        crate::stage::optimize::run_jobs(spec, jobs, trace, seed, self.parallel_jobs(), &factory, observer)
    }
}

/// A fresh simulated cluster per call (own virtual clock), seeded.
pub struct SimBackends {
    estimators: Arc<EstimatorSet>,
    serving: ServingBackend,
    reality: Reality,
}

impl Backends for SimBackends {
    fn for_subject(&self, _subject: &str, seed: u64) -> Result<Box<dyn Backend>, String> {
        let cluster = SimCluster::with_estimators(self.estimators.clone(), self.serving, self.reality.clone(), seed);
        Ok(Box::new(cluster))
    }
}

/// The one server every backend measures.
pub struct EndpointBackends(EndpointConfig);

impl Backends for EndpointBackends {
    fn for_subject(&self, _subject: &str, _seed: u64) -> Result<Box<dyn Backend>, String> {
        let endpoint = EndpointBackend::new(self.0.clone()).map_err(|e| e.to_string())?;
        Ok(Box::new(endpoint))
    }

    /// One server cannot take two loads at once without each skewing the other.
    fn parallel_jobs(&self) -> usize {
        1
    }
}
