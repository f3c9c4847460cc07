//! The backend trait: deploy a config, load it, tear it down. Stages never know which one runs.

use profcmp_plugin_api::{DeployRequest, Deployment, PlannerProfile, Probe, Sla, TraceRequest};
use serde::{Deserialize, Serialize};

use crate::aiperf::{RequestRecord, Slo, Summary};

/// What a backend returns for one measurement.
#[derive(Clone, Debug)]
pub struct Run {
    /// Per-request records.
    pub records: Vec<RequestRecord>,
    /// AIPerf summary of the records.
    pub summary: Summary,
    /// Time-averaged GPUs held during the run (changes under the planner).
    pub avg_gpus: f64,
    /// Replica counts over time, for planner runs: (time s, prefill workers, decode workers).
    pub replicas: Vec<(f64, u32, u32)>,
}

/// How the planner's load predictor guesses the next interval (Dynamo's `--load-predictor`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadPredictor {
    /// Next interval = last interval.
    Constant,
    /// ARIMA refitted on the recent intervals (see `sim::predictors::Arima` for how close to
    /// pmdarima's `auto_arima` it is).
    Arima,
    /// Linear-trend Kalman filter (Dynamo 1.6 only).
    Kalman,
}

impl LoadPredictor {
    /// The name Dynamo's `--load-predictor` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadPredictor::Constant => "constant",
            LoadPredictor::Arima => "arima",
            LoadPredictor::Kalman => "kalman",
        }
    }
}

impl std::str::FromStr for LoadPredictor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "constant" => Ok(LoadPredictor::Constant),
            "arima" => Ok(LoadPredictor::Arima),
            "kalman" => Ok(LoadPredictor::Kalman),
            "prophet" => {
                Err("load predictor `prophet` is not modelled by profcmp; use constant, arima or kalman".into())
            }
            other => Err(format!(
                "unknown load predictor `{other}`; known: constant, arima, kalman"
            )),
        }
    }
}

/// The SLA planner's settings for a planner-in-the-loop run: Dynamo's planner arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannerSpec {
    /// Which Dynamo's planner to behave as.
    pub version: crate::spec::DynamoVersion,
    /// The profile data the planner believes (a method's own).
    pub profile: PlannerProfile,
    /// Prefill worker TP (`--prefill-engine-num-gpu`).
    pub prefill_tp: u32,
    /// Decode worker TP (`--decode-engine-num-gpu`).
    pub decode_tp: u32,
    /// Targets the planner scales for (`--ttft`, `--itl`).
    pub sla: Sla,
    /// Most GPUs all workers may hold (`--max-gpu-budget`).
    pub gpu_budget: u32,
    /// Seconds between scaling decisions (`--adjustment-interval`, Dynamo's default 180).
    pub adjustment_interval_s: f64,
    /// Load predictor (`--load-predictor`).
    pub predictor: LoadPredictor,
    /// Intervals the predictor keeps (`--load-prediction-window-size`, default 50).
    pub window_size: usize,
    /// Fewest workers of each role (`--min-endpoint`).
    pub min_endpoint: u32,
    /// Demand multiplier before sizing: 1 is Dynamo (which provisions throughput for the predicted
    /// demand, no more); above 1 is profcmp's `--planner-headroom`, not Dynamo's.
    #[serde(default = "crate::layout::one")]
    pub headroom: f64,
}

/// Errors of a backend, each saying what to do.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The config cannot be deployed (bad TP, does not fit, over budget).
    #[error("cannot deploy {what}: {reason}")]
    Deploy {
        /// The deployment asked for.
        what: String,
        /// Why not.
        reason: String,
    },
    /// The deployment id is not live.
    #[error("no live deployment `{0}` (it was never deployed or is already torn down)")]
    UnknownDeployment(String),
    /// The load could not be run.
    #[error("measurement failed: {0}")]
    Measure(String),
    /// Anything else from the backend (cluster unreachable, ...).
    #[error("{0}")]
    Other(String),
}

/// A place configs can be deployed and measured: the simulated cluster, Kubernetes, an endpoint.
pub trait Backend {
    /// Short name for logs and reports (`sim`, `k8s`, `endpoint`).
    fn name(&self) -> &'static str;
    /// The backend's clock in seconds: virtual on the simulated cluster, real elsewhere.
    fn now_s(&self) -> f64;
    /// Deploys a config; returns once it is ready (its startup time has passed on the clock).
    fn deploy(&mut self, request: &DeployRequest) -> Result<Deployment, BackendError>;
    /// Runs a load against a live deployment; the clock advances by the benchmark's duration.
    fn measure(&mut self, deployment: &Deployment, probe: &Probe, slo: Option<Slo>) -> Result<Run, BackendError>;
    /// Replays a trace against a graph with the SLA planner scaling its workers.
    fn measure_planned(
        &mut self,
        deployment: &Deployment,
        trace: &[TraceRequest],
        planner: &PlannerSpec,
        slo: Option<Slo>,
    ) -> Result<Run, BackendError>;
    /// Tears a deployment down.
    fn teardown(&mut self, deployment: &Deployment) -> Result<(), BackendError>;
}
