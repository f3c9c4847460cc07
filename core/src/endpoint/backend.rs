//! The endpoint backend: an already running OpenAI-compatible server that serves one fixed graph.
//! Deploying checks that it answers and serves that graph; measuring is the load generator
//! (built in, or the real aiperf); teardown does nothing; the clock is real time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use profcmp_plugin_api::{DeployRequest, Deployment, Probe, TraceRequest};

use super::aiperf_cli::{self, AiperfSettings};
use super::graph::{ServedGraph, DEPLOYMENT_PATH};
use super::loadgen::{self, LoadSettings};
use super::request::{get, http_client, HttpClient};
use super::target::Target;
use super::EndpointError;
use crate::aiperf::{RequestRecord, Slo, Summary};
use crate::backend::{Backend, BackendError, PlannerSpec, Run};

/// Which load generator measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Loadgen {
    /// profcmp's own (tokio).
    Builtin,
    /// The `aiperf profile` CLI.
    Aiperf(AiperfSettings),
}

/// Everything the endpoint backend needs.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// The server and model.
    pub target: Target,
    /// The load generator.
    pub loadgen: Loadgen,
    /// Timeout and prompt seed of the built-in load generator.
    pub load: LoadSettings,
    /// The graph the server runs, when the server does not say (`profcmp serve` does).
    pub graph: Option<ServedGraph>,
    /// Capacity B of the graph, when the server does not say.
    pub max_batch: Option<u32>,
    /// Where aiperf's artifacts go, one subdirectory `<pid>-<n>-<probe>` per measurement.
    pub aiperf_dir: PathBuf,
}

/// An OpenAI-compatible server as a [`Backend`].
pub struct EndpointBackend {
    config: EndpointConfig,
    runtime: tokio::runtime::Runtime,
    client: HttpClient,
    started: std::time::Instant,
    live: BTreeMap<String, DeployRequest>,
    n_deployments: u64,
}

/// Measurements made by every endpoint backend of this process (names aiperf's directories).
static MEASUREMENTS: AtomicU64 = AtomicU64::new(0);

/// How long a setup call (`/v1/models`, the graph) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

impl EndpointBackend {
    /// A backend for `config`; nothing is contacted until `deploy`.
    pub fn new(config: EndpointConfig) -> Result<EndpointBackend, EndpointError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| EndpointError::Config(format!("cannot start the load generator's runtime: {e}")))?;
        let client = runtime.block_on(async { http_client() });
        Ok(EndpointBackend {
            config,
            runtime,
            client,
            started: std::time::Instant::now(),
            live: BTreeMap::new(),
            n_deployments: 0,
        })
    }

    /// Checks that the server answers and serves the model; returns the graph it says it runs.
    pub fn probe_server(&self) -> Result<Option<ServedGraph>, EndpointError> {
        let target = &self.config.target;
        let url = target.uri("/v1/models").to_string();
        let (status, body) = self
            .runtime
            .block_on(get(&self.client, target, "/v1/models", SETUP_TIMEOUT))
            .map_err(|reason| EndpointError::Unreachable {
                url: url.clone(),
                reason,
            })?;
        if status != 200 {
            return Err(EndpointError::Status {
                url,
                status,
                body: super::sse::excerpt(&String::from_utf8_lossy(&body)),
            });
        }
        let models: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let served: Vec<&str> = models["data"]
            .as_array()
            .map(|list| list.iter().filter_map(|m| m["id"].as_str()).collect())
            .unwrap_or_default();
        if !served.is_empty() && !served.contains(&target.model.as_str()) {
            return Err(EndpointError::ModelNotServed {
                url,
                model: target.model.clone(),
                served: served.join(", "),
            });
        }
        let advertised = self
            .runtime
            .block_on(get(&self.client, target, DEPLOYMENT_PATH, SETUP_TIMEOUT))
            .ok()
            .filter(|(status, _)| *status == 200)
            .and_then(|(_, body)| serde_json::from_slice::<ServedGraph>(&body).ok());
        Ok(advertised)
    }

    fn live_request(&self, deployment: &Deployment) -> Result<DeployRequest, BackendError> {
        self.live
            .get(&deployment.id)
            .copied()
            .ok_or_else(|| BackendError::UnknownDeployment(deployment.id.clone()))
    }

    /// Runs a probe with the configured load generator.
    fn load(&self, probe: &Probe, slo: Option<Slo>) -> Result<(Vec<RequestRecord>, Summary), EndpointError> {
        let target = &self.config.target;
        match &self.config.loadgen {
            Loadgen::Builtin => {
                let outcome = self
                    .runtime
                    .block_on(loadgen::run(&self.client, target, probe, &self.config.load))?;
                let mut summary = Summary::from_records(&outcome.records, slo, outcome.duration_s);
                summary.input_config = serde_json::json!({
                    "loadgen": "profcmp",
                    "url": target.base_url,
                    "model": target.model,
                    "endpoint_type": target.api.as_str(),
                    "probe": probe,
                });
                Ok((outcome.records, summary))
            }
            Loadgen::Aiperf(settings) => {
                let kind = match probe {
                    Probe::Concurrency { concurrency, .. } => format!("concurrency-{concurrency}"),
                    Probe::Trace { .. } => "trace".to_string(),
                };
                let n = MEASUREMENTS.fetch_add(1, Ordering::Relaxed) + 1;
                let dir = (self.config.aiperf_dir).join(format!("{}-{n:03}-{kind}", std::process::id()));
                aiperf_cli::run(target, probe, slo, settings, &dir)
            }
        }
    }

    fn run(&self, request: &DeployRequest, records: Vec<RequestRecord>, summary: Summary) -> Run {
        let replicas = match *request {
            DeployRequest::Graph {
                prefill_workers,
                decode_workers,
                ..
            } => vec![(0.0, prefill_workers, decode_workers)],
            _ => Vec::new(),
        };
        Run {
            records,
            summary,
            avg_gpus: f64::from(request.gpus()),
            replicas,
        }
    }
}

impl Backend for EndpointBackend {
    fn name(&self) -> &'static str {
        "endpoint"
    }

    fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn deploy(&mut self, request: &DeployRequest) -> Result<Deployment, BackendError> {
        let url = self.config.target.base_url.clone();
        let deploy_error = |reason: String| BackendError::Deploy {
            what: describe(request),
            reason,
        };
        let advertised = self.probe_server().map_err(|e| BackendError::Other(e.to_string()))?;
        let graph = advertised.or(self.config.graph).ok_or_else(|| {
            deploy_error(format!(
                "cannot tell which graph {url} serves: pass --endpoint-graph P:TP,D:TP (prefill workers:TP, decode workers:TP)"
            ))
        })?;
        if !matches!(request, DeployRequest::Graph { .. }) {
            return Err(deploy_error(format!(
                "{url} serves a whole graph ({graph}), not a single prefill or decode engine: profile on the simulated cluster (without --backend endpoint)"
            )));
        }
        if *request != graph.request() {
            return Err(deploy_error(format!(
                "{url} serves {graph}; an endpoint runs one fixed graph (measure the method that chose it with --method, or start a server with this graph)"
            )));
        }
        let max_batch = graph.max_batch.or(self.config.max_batch).ok_or_else(|| {
            deploy_error(format!(
                "{url} does not say how many requests it batches: pass --max-batch B"
            ))
        })?;
        self.n_deployments += 1;
        let id = format!("endpoint-{}", self.n_deployments);
        self.live.insert(id.clone(), *request);
        Ok(Deployment::new(
            id,
            *request,
            graph.kv_capacity_tokens.unwrap_or(0),
            max_batch,
        ))
    }

    fn measure(&mut self, deployment: &Deployment, probe: &Probe, slo: Option<Slo>) -> Result<Run, BackendError> {
        let request = self.live_request(deployment)?;
        let (records, summary) = self
            .load(probe, slo)
            .map_err(|e| BackendError::Measure(e.to_string()))?;
        Ok(self.run(&request, records, summary))
    }

    /// Replays the trace against the fixed graph: an endpoint cannot scale, so the planner is
    /// not applied (the summary's `input_config.planner` says so).
    fn measure_planned(
        &mut self,
        deployment: &Deployment,
        trace: &[TraceRequest],
        _planner: &PlannerSpec,
        slo: Option<Slo>,
    ) -> Result<Run, BackendError> {
        let request = self.live_request(deployment)?;
        let probe = Probe::Trace {
            requests: trace.to_vec(),
        };
        let (records, mut summary) = self
            .load(&probe, slo)
            .map_err(|e| BackendError::Measure(e.to_string()))?;
        if let Some(config) = summary.input_config.as_object_mut() {
            config.insert(
                "planner".into(),
                "not applied: an endpoint cannot scale; the trace ran against the fixed graph".into(),
            );
        }
        Ok(self.run(&request, records, summary))
    }

    fn teardown(&mut self, deployment: &Deployment) -> Result<(), BackendError> {
        self.live
            .remove(&deployment.id)
            .map(|_| ())
            .ok_or_else(|| BackendError::UnknownDeployment(deployment.id.clone()))
    }
}

fn describe(request: &DeployRequest) -> String {
    match *request {
        DeployRequest::PrefillOnly { tp } => format!("prefill-only engine at tp {tp}"),
        DeployRequest::DecodeOnly { tp } => format!("decode-only engine at tp {tp}"),
        DeployRequest::Graph {
            prefill_workers,
            prefill_tp,
            decode_workers,
            decode_tp,
        } => ServedGraph::new((prefill_workers, prefill_tp), (decode_workers, decode_tp)).to_string(),
    }
}
