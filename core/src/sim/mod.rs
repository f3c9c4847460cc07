//! The simulated cluster: a [`Backend`] whose deployments are aisimulate-core replays timed by the
//! AIC estimator and a [`Reality`] profile, on a virtual clock.
//!
//! ```text
//! deploy(PrefillOnly | DecodeOnly | Graph)  -> estimator per TP (KV capacity, max batch, errors)
//!                                              clock += reality.deployment_startup_s
//! measure(Concurrency | Trace)              -> aisimulate replay -> RequestRecord -> Summary
//!                                              clock += benchmark duration
//! measure_planned(trace, PlannerSpec)       -> the same with the SLA planner scaling the graph
//! ```
//!
//! Same inputs and seed give byte-identical records. [`SimCluster::cpu_seconds`] is the wall
//! time actually spent simulating.

mod aic;
mod live;
mod planner;
mod predictors;
mod profile;
mod reality;
mod replay;
#[cfg(test)]
mod tests;
mod timing;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use aisimulate_core::engine::Backend as EngineBackend;
use profcmp_plugin_api::{DeployRequest, Deployment, Probe, ServingBackend, TraceRequest};

use crate::aiperf::{RequestRecord, Slo, Summary};
use crate::backend::{Backend, BackendError, PlannerSpec, Run};
use crate::estimator::{EstimatorSet, ModelInfo};

pub use planner::{ReplicaLog, SlaPlanner, Window};
pub use profile::{DecodeSurface, PrefillCurve};
pub use reality::{Reality, RealityError, RealityRanges, DEFAULT_REALITY, REALITY_NAMES};
pub use replay::MAX_BATCHED_TOKENS;
pub use timing::{PassCosts, PassTiming, StepTable, StepTimes, WorkerTables};

use replay::{Limits, Load, Shape};

/// Prompts a prefill worker (graph or prefill-only) runs per forward pass. One, as the prompts
/// of Dynamo's prefill profiling and as a worker that sends each prompt's KV before the next:
/// no prompt waits for a batch-mate's prefill or transfer. Prefill at serving ISLs is
/// compute-bound, so batching would add little throughput.
pub const PREFILL_PROMPTS_PER_PASS: u32 = 1;

/// Where the simulated cluster gets one worker's step times at a TP (the estimator).
pub trait StepTimesSource: Send + Sync {
    /// Step times of a worker at `tp`, or why that TP cannot be deployed.
    fn step_times(&self, tp: u32) -> Result<Arc<dyn StepTimes>, String>;
}

/// What a [`SimCluster::replay_floor`] replay did.
#[derive(Clone, Debug)]
pub struct ReplayFloor {
    /// Requests completed.
    pub completed: u64,
    /// Output tokens generated.
    pub output_tokens: u64,
    /// Simulated seconds from the first arrival to the last completion.
    pub duration_s: f64,
}

/// The simulated cluster.
pub struct SimCluster {
    source: Box<dyn StepTimesSource>,
    kv_bytes_per_token: f64,
    engine_backend: EngineBackend,
    reality: Reality,
    seed: u64,
    clock_s: f64,
    cpu_s: f64,
    tables: BTreeMap<u32, Arc<WorkerTables>>,
    live: BTreeMap<String, DeployRequest>,
    n_deployments: u64,
    n_runs: u64,
}

impl SimCluster {
    /// A cluster timing its workers with `source`, for a model of `kv_bytes_per_token` served by
    /// `backend`, departing from the estimator as `reality` says; `seed` drives the jitter.
    pub fn new(
        source: Box<dyn StepTimesSource>,
        kv_bytes_per_token: u64,
        backend: ServingBackend,
        reality: Reality,
        seed: u64,
    ) -> SimCluster {
        let engine_backend = match backend {
            // Unknown is only read from a newer host's request, never built by this host.
            ServingBackend::Trtllm | ServingBackend::Unknown => EngineBackend::Trtllm,
            ServingBackend::Vllm => EngineBackend::Vllm,
            ServingBackend::Sglang => EngineBackend::Sglang,
        };
        SimCluster {
            source,
            kv_bytes_per_token: kv_bytes_per_token as f64,
            engine_backend,
            reality,
            seed,
            clock_s: 0.0,
            cpu_s: 0.0,
            tables: BTreeMap::new(),
            live: BTreeMap::new(),
            n_deployments: 0,
            n_runs: 0,
        }
    }

    /// A cluster timed by the AIC estimator for `model` (a known id or a config.json path) on
    /// `system` with `backend`; `systems_root` overrides the shipped perf database.
    pub fn aic(
        model: &str,
        system: &str,
        backend: ServingBackend,
        reality: Reality,
        seed: u64,
        systems_root: Option<std::path::PathBuf>,
    ) -> Result<SimCluster, BackendError> {
        let model = ModelInfo::resolve(model).map_err(|e| BackendError::Other(e.to_string()))?;
        let kv_bytes_per_token = model.kv_bytes_per_token();
        let set = EstimatorSet::new(model, system, backend.as_str(), systems_root)
            .map_err(|e| BackendError::Other(e.to_string()))?;
        Ok(SimCluster::new(
            Box::new(set),
            kv_bytes_per_token,
            backend,
            reality,
            seed,
        ))
    }

    /// A cluster timed by a shared estimator set (its model, system and backend).
    pub fn with_estimators(
        estimators: Arc<EstimatorSet>,
        backend: ServingBackend,
        reality: Reality,
        seed: u64,
    ) -> SimCluster {
        let kv_bytes_per_token = estimators.model().kv_bytes_per_token();
        SimCluster::new(Box::new(estimators), kv_bytes_per_token, backend, reality, seed)
    }

    /// The reality profile in force.
    pub fn reality(&self) -> &Reality {
        &self.reality
    }

    /// Wall-clock seconds actually spent in this cluster's calls (estimator tables and replays).
    pub fn cpu_seconds(&self) -> f64 {
        self.cpu_s
    }

    /// aisimulate's own cost on a trace: `deployment` (a graph) replays `trace` open-loop with no
    /// planner and no per-request records. This is the floor a planner replay cannot go below.
    pub fn replay_floor(
        &mut self,
        deployment: &Deployment,
        trace: &[TraceRequest],
    ) -> Result<ReplayFloor, BackendError> {
        let request = self.live_request(deployment)?;
        check_trace(trace)?;
        let shape = self.shape(&request)?;
        let load = Load {
            requests: trace,
            max_in_flight: None,
            records: false,
        };
        let replayed = replay::run(self.engine_backend, &shape, &load, None).map_err(BackendError::Measure)?;
        Ok(ReplayFloor {
            completed: replayed.completed,
            output_tokens: replayed.output_tokens,
            duration_s: replayed.duration_s,
        })
    }

    /// The tables of a worker at `tp`, built on first use.
    fn tables(&mut self, tp: u32, what: &str) -> Result<Arc<WorkerTables>, BackendError> {
        if let Some(tables) = self.tables.get(&tp) {
            return Ok(Arc::clone(tables));
        }
        let deploy_error = |reason: String| BackendError::Deploy {
            what: what.to_string(),
            reason,
        };
        if tp == 0 {
            return Err(deploy_error("tp must be >= 1".into()));
        }
        let times = self.source.step_times(tp).map_err(deploy_error)?;
        let tables = Arc::new(WorkerTables::build(times.as_ref()).map_err(deploy_error)?);
        self.tables.insert(tp, Arc::clone(&tables));
        Ok(tables)
    }

    /// The replay shape of a live deployment, with this run's jitter streams.
    fn shape(&mut self, request: &DeployRequest) -> Result<Shape, BackendError> {
        let what = describe(request);
        let run_seed = mix(self.seed, self.n_runs);
        self.n_runs += 1;
        let limits = |t: &WorkerTables| Limits {
            kv_tokens: t.kv_capacity_tokens,
            max_batch: t.max_batch,
        };
        Ok(match *request {
            DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => {
                let tables = self.tables(tp, &what)?;
                let reality = &self.reality;
                let prefill_factor = if matches!(request, DeployRequest::PrefillOnly { .. }) {
                    reality.prefill_factor_at(tp)
                } else {
                    0.0
                };
                let costs = PassCosts {
                    prefill_factor,
                    decode_factor: reality.decode_factor_at(tp),
                    send_ms_per_token: 0.0,
                    jitter_sigma: reality.jitter_sigma,
                    seed: mix(run_seed, 0),
                };
                let mut limits = limits(&tables);
                if prefill_factor > 0.0 {
                    limits.max_batch = PREFILL_PROMPTS_PER_PASS;
                }
                Shape::Single {
                    tp,
                    limits,
                    timing: Arc::new(PassTiming::new(tables, costs)),
                }
            }
            DeployRequest::Graph {
                prefill_workers,
                prefill_tp,
                decode_workers,
                decode_tp,
            } => {
                let prefill_tables = self.tables(prefill_tp, &what)?;
                let decode_tables = self.tables(decode_tp, &what)?;
                let reality = &self.reality;
                let send = reality.kv_send_ms(1.0, self.kv_bytes_per_token, prefill_tp, decode_tp);
                let prefill_costs = PassCosts {
                    prefill_factor: reality.prefill_factor_at(prefill_tp),
                    decode_factor: reality.decode_factor_at(prefill_tp),
                    send_ms_per_token: send,
                    jitter_sigma: reality.jitter_sigma,
                    seed: mix(run_seed, 1),
                };
                let decode_costs = PassCosts {
                    prefill_factor: reality.prefill_factor_at(decode_tp),
                    decode_factor: reality.decode_factor_at(decode_tp),
                    send_ms_per_token: 0.0,
                    seed: mix(run_seed, 2),
                    ..prefill_costs.clone()
                };
                Shape::Graph {
                    prefill_workers: prefill_workers as usize,
                    decode_workers: decode_workers as usize,
                    prefill_tp,
                    decode_tp,
                    prefill_limits: Limits {
                        max_batch: PREFILL_PROMPTS_PER_PASS,
                        ..limits(&prefill_tables)
                    },
                    decode_limits: limits(&decode_tables),
                    prefill: Arc::new(PassTiming::new(prefill_tables, prefill_costs)),
                    decode: Arc::new(PassTiming::new(decode_tables, decode_costs)),
                    handoff_ms: reality.kv_latency_ms,
                    worker_startup_ms: reality.worker_startup_s * 1e3,
                }
            }
        })
    }

    fn live_request(&self, deployment: &Deployment) -> Result<DeployRequest, BackendError> {
        self.live
            .get(&deployment.id)
            .copied()
            .ok_or_else(|| BackendError::UnknownDeployment(deployment.id.clone()))
    }

    /// Replays `load` on `shape`; returns the measured records (after `skip` warm-ups, frontend
    /// overhead added, start times from the first measured send) and the run's GPU-seconds.
    fn replay(
        &mut self,
        shape: &Shape,
        load: &Load,
        skip: usize,
        scaling: Option<Box<dyn aisimulate_core::replay::ReplayScalingPolicy>>,
    ) -> Result<(Vec<RequestRecord>, f64, f64), BackendError> {
        let replayed = replay::run(self.engine_backend, shape, load, scaling).map_err(BackendError::Measure)?;
        let reality = &self.reality;
        self.clock_s += replayed.duration_s + reality.frontend_overhead_ms / 1e3;
        let mut records: Vec<RequestRecord> = replayed.records.into_iter().skip(skip).collect();
        let t0 = records
            .iter()
            .filter(|r| r.error.is_none())
            .map(|r| r.start_ms)
            .fold(f64::INFINITY, f64::min);
        let t0 = if t0.is_finite() { t0 } else { 0.0 };
        for record in &mut records {
            let overhead = reality.frontend_ms(record.input_tokens);
            record.start_ms -= t0;
            record.ttft_ms = record.ttft_ms.map(|t| t + overhead);
            record.latency_ms = record.latency_ms.map(|t| t + overhead);
        }
        let end_ms = records
            .iter()
            .filter_map(|r| Some(r.start_ms + r.latency_ms?))
            .fold(0.0, f64::max);
        Ok((records, end_ms / 1e3, replayed.gpu_seconds))
    }
}

impl Backend for SimCluster {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn now_s(&self) -> f64 {
        self.clock_s
    }

    fn deploy(&mut self, request: &DeployRequest) -> Result<Deployment, BackendError> {
        let started = Instant::now();
        let result = self.deploy_inner(request);
        self.cpu_s += started.elapsed().as_secs_f64();
        result
    }

    fn measure(&mut self, deployment: &Deployment, probe: &Probe, slo: Option<Slo>) -> Result<Run, BackendError> {
        let started = Instant::now();
        let result = self.measure_inner(deployment, probe, slo);
        self.cpu_s += started.elapsed().as_secs_f64();
        result
    }

    fn measure_planned(
        &mut self,
        deployment: &Deployment,
        trace: &[TraceRequest],
        planner: &PlannerSpec,
        slo: Option<Slo>,
    ) -> Result<Run, BackendError> {
        let started = Instant::now();
        let result = self.measure_planned_inner(deployment, trace, planner, slo);
        self.cpu_s += started.elapsed().as_secs_f64();
        result
    }

    fn teardown(&mut self, deployment: &Deployment) -> Result<(), BackendError> {
        self.live
            .remove(&deployment.id)
            .map(|_| ())
            .ok_or_else(|| BackendError::UnknownDeployment(deployment.id.clone()))
    }
}

impl SimCluster {
    fn deploy_inner(&mut self, request: &DeployRequest) -> Result<Deployment, BackendError> {
        let what = describe(request);
        let serving = match *request {
            DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => self.tables(tp, &what)?,
            DeployRequest::Graph {
                prefill_workers,
                prefill_tp,
                decode_workers,
                decode_tp,
            } => {
                if prefill_workers == 0 || decode_workers == 0 {
                    return Err(BackendError::Deploy {
                        what,
                        reason: "a graph needs at least one prefill and one decode worker".into(),
                    });
                }
                self.tables(prefill_tp, &what)?;
                self.tables(decode_tp, &what)?
            }
        };
        self.n_deployments += 1;
        let id = format!("sim-{}", self.n_deployments);
        self.live.insert(id.clone(), *request);
        self.clock_s += self.reality.deployment_startup_s;
        Ok(Deployment::new(
            id,
            *request,
            serving.kv_capacity_tokens,
            serving.max_batch,
        ))
    }

    fn measure_inner(&mut self, deployment: &Deployment, probe: &Probe, slo: Option<Slo>) -> Result<Run, BackendError> {
        let request = self.live_request(deployment)?;
        let prefill_only = matches!(request, DeployRequest::PrefillOnly { .. });
        let (requests, max_in_flight, skip) = match probe {
            Probe::Concurrency {
                concurrency,
                requests,
                isl,
                osl,
                warmup,
            } => {
                if *concurrency == 0 || *requests == 0 || *isl == 0 || *osl == 0 {
                    return Err(BackendError::Measure(format!(
                        "concurrency probe needs concurrency, requests, isl and osl >= 1 (got {concurrency}, {requests}, {isl}, {osl})"
                    )));
                }
                let one = TraceRequest::new(0.0, *isl, *osl);
                // In u64: `requests + warmup` near u32::MAX must not wrap.
                let total = usize::try_from(u64::from(*requests) + u64::from(*warmup)).map_err(|_| {
                    BackendError::Measure(format!("{requests} + {warmup} requests do not fit in memory"))
                })?;
                (vec![one; total], Some(*concurrency as usize), *warmup as usize)
            }
            Probe::Trace { requests } => {
                check_trace(requests)?;
                (requests.clone(), None, 0)
            }
        };
        let requests = if prefill_only {
            requests
                .into_iter()
                .map(|r| TraceRequest::new(r.timestamp_ms, r.input_length, 1))
                .collect()
        } else {
            requests
        };
        let shape = self.shape(&request)?;
        let load = Load {
            requests: &requests,
            max_in_flight,
            records: true,
        };
        let (records, duration_s, _) = self.replay(&shape, &load, skip, None)?;
        let summary = Summary::from_records(&records, slo, duration_s);
        let replicas = match request {
            DeployRequest::Graph {
                prefill_workers,
                decode_workers,
                ..
            } => vec![(0.0, prefill_workers, decode_workers)],
            _ => Vec::new(),
        };
        Ok(Run {
            records,
            summary,
            avg_gpus: f64::from(request.gpus()),
            replicas,
        })
    }

    fn measure_planned_inner(
        &mut self,
        deployment: &Deployment,
        trace: &[TraceRequest],
        planner: &PlannerSpec,
        slo: Option<Slo>,
    ) -> Result<Run, BackendError> {
        let request = self.live_request(deployment)?;
        let DeployRequest::Graph {
            prefill_workers,
            prefill_tp,
            decode_workers,
            decode_tp,
        } = request
        else {
            return Err(BackendError::Measure(format!(
                "the planner scales a graph; {} is not one (deploy a DeployRequest::Graph)",
                describe(&request)
            )));
        };
        if (planner.prefill_tp, planner.decode_tp) != (prefill_tp, decode_tp) {
            return Err(BackendError::Measure(format!(
                "planner TPs (prefill {}, decode {}) differ from the deployment's (prefill {prefill_tp}, decode {decode_tp})",
                planner.prefill_tp, planner.decode_tp
            )));
        }
        check_trace(trace)?;
        let log = ReplicaLog::default();
        log.borrow_mut().push((0.0, prefill_workers, decode_workers));
        let policy = SlaPlanner::new(planner, log.clone()).map_err(BackendError::Measure)?;
        let shape = self.shape(&request)?;
        let load = Load {
            requests: trace,
            max_in_flight: None,
            records: true,
        };
        let (records, duration_s, gpu_seconds) = self.replay(&shape, &load, 0, Some(Box::new(policy)))?;
        let summary = Summary::from_records(&records, slo, duration_s);
        let avg_gpus = if duration_s > 0.0 {
            gpu_seconds / duration_s
        } else {
            f64::from(request.gpus())
        };
        let replicas = log.borrow().clone();
        Ok(Run {
            records,
            summary,
            avg_gpus,
            replicas,
        })
    }
}

fn check_trace(requests: &[TraceRequest]) -> Result<(), BackendError> {
    if requests.is_empty() {
        return Err(BackendError::Measure("the trace has no requests".into()));
    }
    for (i, r) in requests.iter().enumerate() {
        if !(r.timestamp_ms >= 0.0 && r.timestamp_ms.is_finite()) || r.input_length == 0 || r.output_length == 0 {
            return Err(BackendError::Measure(format!(
                "trace request {i}: timestamp {} ms, input {} and output {} tokens; timestamps must be >= 0 and lengths >= 1",
                r.timestamp_ms, r.input_length, r.output_length
            )));
        }
    }
    Ok(())
}

/// A deployment in words, for errors.
fn describe(request: &DeployRequest) -> String {
    match *request {
        DeployRequest::PrefillOnly { tp } => format!("prefill-only engine at tp {tp}"),
        DeployRequest::DecodeOnly { tp } => format!("decode-only engine at tp {tp}"),
        DeployRequest::Graph {
            prefill_workers,
            prefill_tp,
            decode_workers,
            decode_tp,
        } => {
            format!("graph of {prefill_workers} prefill (tp {prefill_tp}) + {decode_workers} decode (tp {decode_tp}) workers")
        }
    }
}

/// SplitMix64 of `a` and `b`: independent seeds for runs and roles.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
