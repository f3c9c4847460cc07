//! [`K8sBackend`]: the [`Backend`] trait on a real cluster, driving async kube calls with a tokio
//! runtime it owns. Whatever it created and did not tear down is deleted when it is dropped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use profcmp_plugin_api::{DeployRequest, Deployment, Probe, ServingBackend, TraceRequest};
use serde_json::Value;
use tokio::runtime::Runtime;

use super::cluster::{Cluster, Kind};
use super::graph;
use super::measure::{forward_frontend, Loadgen};
use super::{K8sError, ManifestError};
use crate::aiperf::{Slo, Summary};
use crate::backend::{Backend, BackendError, PlannerSpec, Run};

/// KV capacity (tokens) and max batch of one worker of a TP; the cluster cannot tell them
/// before it runs, so the host answers from the estimator.
pub type WorkerLimits = Arc<dyn Fn(u32) -> Result<(u64, u32), crate::estimator::EstimatorError> + Send + Sync>;

/// What a Kubernetes backend deploys and how long it waits.
#[derive(Clone, Debug)]
pub struct K8sSettings {
    /// The run id (label `profcmp.dev/run-id`, part of every object name).
    pub run_id: String,
    /// The method or stage subject the objects are for (label `profcmp.dev/method`).
    pub method: String,
    /// Deployment names are `<prefix>-<n>`; unique per backend in the process by default
    /// (`pc-<run id>-<k>`).
    pub name_prefix: String,
    /// Hugging Face model id.
    pub model: String,
    /// Serving framework (picks the base graph).
    pub backend: ServingBackend,
    /// Whose profiler's sweep graphs to deploy (Dynamo 0.7 or 1.6, the newest conventions).
    pub dynamo_version: graph::DynamoVersion,
    /// SLA input length (the newest profiler's prefill engines take this many tokens a batch).
    pub isl: u32,
    /// Directory of replacement base graphs (`<backend>.yaml`), else the shipped ones.
    pub templates: Option<PathBuf>,
    /// A `config_with_planner.yaml` to deploy as is for graph requests (validate, optimize).
    pub planned: Option<String>,
    /// How long a graph may take to become Ready.
    pub ready_timeout: Duration,
    /// How long a deletion may take.
    pub delete_timeout: Duration,
    /// Time between two polls.
    pub poll: Duration,
}

impl K8sSettings {
    /// Defaults: the newest Dynamo's conventions, ISL 2048, 30 min to become Ready (model
    /// download and engine build), 10 min to delete, a poll every 5 s.
    pub fn new(run_id: &str, method: &str, model: &str, backend: ServingBackend) -> K8sSettings {
        K8sSettings {
            run_id: run_id.to_string(),
            method: method.to_string(),
            name_prefix: format!(
                "pc-{}-{}",
                super::names::dns_label(run_id, 24),
                NEXT_BACKEND.fetch_add(1, Ordering::SeqCst)
            ),
            model: model.to_string(),
            backend,
            dynamo_version: graph::DynamoVersion::V1_6,
            isl: 2048,
            templates: None,
            planned: None,
            ready_timeout: Duration::from_secs(1800),
            delete_timeout: Duration::from_secs(600),
            poll: Duration::from_secs(5),
        }
    }
}

/// A deployment the backend created: its objects, in creation order.
struct Live {
    objects: Vec<(Kind, String)>,
    graph: Value,
    planned: bool,
}

/// The Kubernetes backend.
pub struct K8sBackend {
    runtime: Runtime,
    cluster: Cluster,
    settings: K8sSettings,
    limits: WorkerLimits,
    loadgen: Arc<dyn Loadgen>,
    cancelled: Arc<AtomicBool>,
    live: BTreeMap<String, Live>,
    deployed: u32,
}

/// Numbers the backends of a process, so their deployment names differ.
static NEXT_BACKEND: AtomicU64 = AtomicU64::new(1);

impl K8sBackend {
    /// Connects (kubeconfig, `context`, `namespace`) and checks the cluster before anything is
    /// created: reachable, namespace present, Dynamo's CRDs installed.
    pub fn connect(
        settings: K8sSettings,
        context: Option<&str>,
        namespace: Option<&str>,
        limits: WorkerLimits,
        loadgen: Arc<dyn Loadgen>,
        cancelled: Arc<AtomicBool>,
    ) -> Result<K8sBackend, K8sError> {
        let runtime = runtime()?;
        let mut cluster = runtime.block_on(Cluster::connect(context, namespace))?;
        cluster.poll = settings.poll;
        runtime.block_on(cluster.preflight(&[Kind::Graph]))?;
        Ok(K8sBackend::new(runtime, cluster, settings, limits, loadgen, cancelled))
    }

    /// A backend over an existing cluster handle (made inside `runtime`).
    pub fn new(
        runtime: Runtime,
        mut cluster: Cluster,
        settings: K8sSettings,
        limits: WorkerLimits,
        loadgen: Arc<dyn Loadgen>,
        cancelled: Arc<AtomicBool>,
    ) -> K8sBackend {
        cluster.poll = settings.poll;
        K8sBackend {
            runtime,
            cluster,
            settings,
            limits,
            loadgen,
            cancelled,
            live: BTreeMap::new(),
            deployed: 0,
        }
    }

    /// The objects of a request: the planned file for a graph when one is set, else the base
    /// graph.
    fn objects(&self, name: &str, request: &DeployRequest) -> Result<(Vec<Value>, bool), ManifestError> {
        let labels = graph::labels(&self.settings.run_id, &self.settings.method);
        if let (Some(yaml), DeployRequest::Graph { .. }) = (&self.settings.planned, request) {
            let (config_map, graph) = graph::planned_objects(yaml, name, request, &labels)?;
            return Ok((vec![config_map, graph], true));
        }
        let settings = &self.settings;
        let template = graph::template(settings.backend, settings.dynamo_version, settings.templates.as_deref())?;
        let spec = graph::SweepSpec {
            name,
            model: &settings.model,
            backend: settings.backend,
            dynamo_version: settings.dynamo_version,
            isl: settings.isl,
            labels: &labels,
        };
        Ok((vec![graph::graph_from_template(&template, &spec, request)?], false))
    }

    /// Deletes a deployment's objects (newest first) and waits until they are gone.
    fn remove(&mut self, id: &str) -> Result<(), K8sError> {
        let Some(live) = self.live.remove(id) else {
            return Ok(());
        };
        let cluster = &self.cluster;
        let timeout = self.settings.delete_timeout;
        self.runtime.block_on(async {
            for (kind, name) in live.objects.iter().rev() {
                cluster.delete(*kind, name).await?;
            }
            for (kind, name) in live.objects.iter().rev() {
                cluster.wait_gone(*kind, name, timeout).await?;
            }
            Ok(())
        })
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Runs a probe through a port-forward to a live graph's frontend; returns the records and
    /// the benchmark's duration.
    fn run_load(&self, id: &str, probe: &Probe) -> Result<(Vec<crate::aiperf::RequestRecord>, f64), BackendError> {
        let live = self
            .live
            .get(id)
            .ok_or_else(|| BackendError::UnknownDeployment(id.to_string()))?;
        let forward = self
            .runtime
            .block_on(forward_frontend(&self.cluster, &live.graph))
            .map_err(|e| BackendError::Measure(e.to_string()))?;
        self.loadgen
            .run(&forward.base_url(), &self.settings.model, probe)
            .map_err(|e| BackendError::Measure(e.to_string()))
    }
}

impl Backend for K8sBackend {
    fn name(&self) -> &'static str {
        "k8s"
    }

    /// Real time: seconds since the Unix epoch.
    fn now_s(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    fn deploy(&mut self, request: &DeployRequest) -> Result<Deployment, BackendError> {
        let what = format!("{request:?}");
        let fail = |reason: String| BackendError::Deploy {
            what: what.clone(),
            reason,
        };
        if self.cancelled() {
            return Err(fail("the run was cancelled".into()));
        }
        let tp = match *request {
            DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => tp,
            DeployRequest::Graph { decode_tp, .. } => decode_tp,
        };
        let (kv_capacity_tokens, max_batch) = (self.limits)(tp).map_err(|e| fail(e.to_string()))?;
        self.deployed += 1;
        let name = format!("{}-{}", self.settings.name_prefix, self.deployed);
        let (objects, planned) = self.objects(&name, request).map_err(|e| fail(e.to_string()))?;
        let graph = objects.last().cloned().unwrap_or(Value::Null);
        // Recorded before the first call, so anything applied is torn down whatever happens next.
        self.live.insert(
            name.clone(),
            Live {
                objects: objects
                    .iter()
                    .filter_map(|o| Some((Kind::of(o)?, o["metadata"]["name"].as_str()?.to_string())))
                    .collect(),
                graph,
                planned,
            },
        );
        let cluster = &self.cluster;
        let flag = self.cancelled.clone();
        let cancelled = move || flag.load(Ordering::SeqCst);
        let timeout = self.settings.ready_timeout;
        let outcome = self.runtime.block_on(async {
            for object in &objects {
                cluster.apply(object).await?;
            }
            cluster.wait_ready(&name, timeout, &cancelled).await
        });
        if let Err(e) = outcome {
            let torn_down = match self.remove(&name) {
                Ok(()) => "; torn down".to_string(),
                Err(t) => format!("; tearing it down failed too: {t}"),
            };
            return Err(fail(format!("{e}{torn_down}")));
        }
        Ok(Deployment::new(name, *request, kv_capacity_tokens, max_batch))
    }

    fn measure(&mut self, deployment: &Deployment, probe: &Probe, slo: Option<Slo>) -> Result<Run, BackendError> {
        let (records, duration_s) = self.run_load(&deployment.id, probe)?;
        let summary = Summary::from_records(&records, slo, duration_s);
        Ok(Run {
            records,
            summary,
            avg_gpus: f64::from(deployment.request.gpus()),
            replicas: Vec::new(),
        })
    }

    /// Replays the trace against a graph deployed from a `config_with_planner.yaml`: the real
    /// planner scales it; replica counts are read from the graph while the trace runs.
    fn measure_planned(
        &mut self,
        deployment: &Deployment,
        trace: &[TraceRequest],
        planner: &PlannerSpec,
        slo: Option<Slo>,
    ) -> Result<Run, BackendError> {
        let live =
            (self.live.get(&deployment.id)).ok_or_else(|| BackendError::UnknownDeployment(deployment.id.clone()))?;
        if !live.planned {
            return Err(BackendError::Measure(format!(
                "{} has no planner: on Kubernetes a planner run deploys the method's config_with_planner.yaml",
                deployment.id
            )));
        }
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sampler = {
            let (cluster, name, samples) = (self.cluster.clone(), deployment.id.clone(), samples.clone());
            let started = Instant::now();
            self.runtime.spawn(async move {
                loop {
                    if let Ok(Some(graph)) = cluster.get(Kind::Graph, &name).await {
                        let p = graph::replicas(&graph, "prefill").unwrap_or(0);
                        let d = graph::replicas(&graph, "decode").unwrap_or(0);
                        samples.lock().unwrap().push((started.elapsed().as_secs_f64(), p, d));
                    }
                    tokio::time::sleep(cluster.poll).await;
                }
            })
        };
        let probe = Probe::Trace {
            requests: trace.to_vec(),
        };
        let outcome = self.run_load(&deployment.id, &probe);
        sampler.abort();
        let (records, duration_s) = outcome?;
        let replicas: Vec<(f64, u32, u32)> = samples.lock().unwrap().clone();
        let avg_gpus = average_gpus(&replicas, planner.prefill_tp, planner.decode_tp, duration_s)
            .unwrap_or(f64::from(deployment.request.gpus()));
        Ok(Run {
            summary: Summary::from_records(&records, slo, duration_s),
            records,
            avg_gpus,
            replicas,
        })
    }

    fn teardown(&mut self, deployment: &Deployment) -> Result<(), BackendError> {
        if !self.live.contains_key(&deployment.id) {
            return Err(BackendError::UnknownDeployment(deployment.id.clone()));
        }
        self.remove(&deployment.id)
            .map_err(|e| BackendError::Other(format!("tearing down {}: {e}", deployment.id)))
    }
}

impl Drop for K8sBackend {
    /// Tears down what is still live (a failed stage, a crashed plugin, Ctrl-C). Errors cannot
    /// be returned here; the host sweeps the run's labels at the end and reports leftovers.
    fn drop(&mut self) {
        let ids: Vec<String> = self.live.keys().cloned().collect();
        for id in ids {
            let _ = self.remove(&id);
        }
    }
}

/// A multi-threaded runtime, so port-forward tasks run while a load generator blocks.
pub fn runtime() -> Result<Runtime, K8sError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| K8sError::Api(format!("cannot start the tokio runtime: {e}")))
}

/// Time-weighted GPUs over `[0, end_s]` from replica samples (each holds until the next).
fn average_gpus(samples: &[(f64, u32, u32)], prefill_tp: u32, decode_tp: u32, end_s: f64) -> Option<f64> {
    if samples.is_empty() || end_s <= 0.0 {
        return None;
    }
    let mut total = 0.0;
    for (i, &(t, p, d)) in samples.iter().enumerate() {
        let until = samples.get(i + 1).map_or(end_s, |s| s.0).min(end_s);
        let from = if i == 0 { 0.0 } else { t };
        total += (until - from).max(0.0) * f64::from(p * prefill_tp + d * decode_tp);
    }
    Some(total / end_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_gpus_over_time() {
        // 1P+1D (TP 1, 2) for 10 s, then 2P+1D until 30 s.
        let avg = average_gpus(&[(0.5, 1, 1), (10.0, 2, 1)], 1, 2, 30.0).unwrap();
        assert!((avg - (10.0 * 3.0 + 20.0 * 4.0) / 30.0).abs() < 1e-9);
        assert_eq!(average_gpus(&[], 1, 1, 10.0), None);
    }
}
