//! One aisimulate replay of a simulated deployment: the spec, the composition, and the report
//! turned into AIPerf request records.
//!
//! Modelling choices (see also the reality profiles):
//! - a graph is aisimulate's disaggregated topology; the prefill workers' timing adds the busy
//!   time of sending each prompt's KV (`Reality::kv_bandwidth_gb_s`), and aisimulate's own
//!   handoff is the fixed `Reality::kv_latency_ms` (it has no bytes/bandwidth, so it never
//!   double-counts the transfer);
//! - a prefill-only engine is one aggregated worker serving each prompt with one output token:
//!   TTFT = queue + prefill pass;
//! - a decode-only engine is one aggregated worker whose prefill costs nothing (the prompt's KV
//!   is assumed present, as if handed over by a prefill worker) but still occupies KV blocks, so
//!   ITL, batching and KV capacity are those of decode alone;
//! - the frontend overhead is added to every record after the replay (it is a few ms; it does
//!   not delay a closed loop's next request).

use std::sync::Arc;

use aisimulate_core::engine::{Backend as EngineBackend, EngineConfig};
use aisimulate_core::replay::loadgen::{MooncakeRow, Trace, WorkloadDriver};
use aisimulate_core::replay::{
    AggregatedRoundRobinPlacement, NoEngineEvents, NoReplayMetadata, PerRequestRecord, PoolRoundRobinPlacement,
    ReplayCaptureOptions, ReplayComposition, ReplayDeterminism, ReplayEngineConfig, ReplayEngineFactory, ReplayReport,
    ReplayRequest, ReplayRoleConfig, ReplayRuntimeInput, ReplayScalingPolicy, ReplaySpec, ReplayTerminalStatus,
    ReplayTopology, Replayer, WorkerPoolSpec, WorkerTopology,
};
use profcmp_plugin_api::TraceRequest;

use crate::aiperf::RequestRecord;

use super::timing::PassTiming;

/// Prompt tokens per block id of the trace given to aisimulate's driver.
const TRACE_BLOCK_SIZE: usize = 512;

/// Tokens one forward pass may hold (TensorRT-LLM's default `max_num_tokens`).
pub const MAX_BATCHED_TOKENS: usize = 8192;

/// What runs: an aggregated single worker or a disaggregated graph, with its role timings.
pub enum Shape {
    /// One aggregated worker (prefill-only or decode-only engine).
    Single {
        /// Tensor-parallel size.
        tp: u32,
        /// Its timing.
        timing: Arc<PassTiming>,
        /// KV tokens and batch limit.
        limits: Limits,
    },
    /// A disaggregated graph.
    Graph {
        /// Prefill workers at the start.
        prefill_workers: usize,
        /// Decode workers at the start.
        decode_workers: usize,
        /// Prefill TP.
        prefill_tp: u32,
        /// Decode TP.
        decode_tp: u32,
        /// Prefill role timing (includes the KV send).
        prefill: Arc<PassTiming>,
        /// Decode role timing.
        decode: Arc<PassTiming>,
        /// Prefill worker limits.
        prefill_limits: Limits,
        /// Decode worker limits.
        decode_limits: Limits,
        /// Fixed handoff delay, ms.
        handoff_ms: f64,
        /// Startup of a worker the planner adds, ms.
        worker_startup_ms: f64,
    },
}

/// A worker's KV capacity and batch limit.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// KV-cache tokens.
    pub kv_tokens: u64,
    /// Most sequences batched.
    pub max_batch: u32,
}

/// The load: closed loop (`max_in_flight`) or open loop (`None`), and its requests.
pub struct Load<'a> {
    /// The requests, in order; timestamps are ignored by a closed loop.
    pub requests: &'a [TraceRequest],
    /// Closed-loop concurrency.
    pub max_in_flight: Option<usize>,
    /// Keep one record per request (off only to measure aisimulate's own cost).
    pub records: bool,
}

/// The outcome of one replay.
pub struct Replayed {
    /// One record per request, in request order (unfinished requests carry an error).
    pub records: Vec<RequestRecord>,
    /// Simulated time from the first arrival to the last completion, s.
    pub duration_s: f64,
    /// GPU-seconds held by all workers over the run.
    pub gpu_seconds: f64,
    /// Requests that completed.
    pub completed: u64,
    /// Output tokens generated, by aisimulate's count.
    pub output_tokens: u64,
}

/// Runs the replay.
pub fn run(
    backend: EngineBackend,
    shape: &Shape,
    load: &Load,
    scaling: Option<Box<dyn ReplayScalingPolicy>>,
) -> Result<Replayed, String> {
    let (topology, engine, factory) = match shape {
        Shape::Single { tp, timing, limits } => {
            let engine = ReplayEngineConfig {
                tensor_parallel_size: *tp,
                rank: rank_config(backend, *limits),
                ..Default::default()
            };
            let timing: Arc<dyn aisimulate_core::TimingModel> = timing.clone();
            (
                ReplayTopology::aggregated(1),
                engine,
                ReplayEngineFactory::with_timing_model(timing),
            )
        }
        Shape::Graph {
            prefill_workers,
            decode_workers,
            prefill_tp,
            decode_tp,
            prefill,
            decode,
            prefill_limits,
            decode_limits,
            handoff_ms,
            worker_startup_ms,
        } => {
            let role = |tp: u32, limits: Limits| ReplayRoleConfig {
                tensor_parallel_size: tp,
                rank: rank_config(backend, limits),
                ..Default::default()
            };
            let engine = ReplayEngineConfig {
                rank: rank_config(backend, *decode_limits),
                prefill: Some(role(*prefill_tp, *prefill_limits)),
                decode: Some(role(*decode_tp, *decode_limits)),
                ..Default::default()
            };
            let pool = |workers: usize| WorkerPoolSpec {
                initial_workers: workers,
                startup_delay_ms: *worker_startup_ms,
            };
            let topology = ReplayTopology::Disaggregated {
                prefill: pool(*prefill_workers),
                decode: pool(*decode_workers),
                handoff_latency_ms: *handoff_ms,
            };
            let prefill: Arc<dyn aisimulate_core::TimingModel> = prefill.clone();
            let decode: Arc<dyn aisimulate_core::TimingModel> = decode.clone();
            (
                topology,
                engine,
                ReplayEngineFactory::with_optional_role_timing_models(Some(prefill), Some(decode)),
            )
        }
    };
    let open_loop = load.max_in_flight.is_none();
    let spec = ReplaySpec {
        version: aisimulate_core::replay::CURRENT_REPLAY_SPEC_VERSION,
        topology,
        engine: serde_json::to_value(engine).map_err(|e| e.to_string())?,
        adapters: Default::default(),
        max_sim_time_ms: None,
        max_in_flight: load.max_in_flight,
        record_per_request: load.records,
        sla: Default::default(),
        requests: if open_loop {
            Vec::new()
        } else {
            closed_loop_requests(load.requests)
        },
    };
    let capture = ReplayCaptureOptions {
        determinism: ReplayDeterminism::CanonicalV1,
        ..Default::default()
    };
    let mut replayer = Replayer::with_composition(spec, factory, SimComposition { scaling })
        .map_err(|e| e.to_string())?
        .with_capture_options(capture);
    if open_loop {
        replayer = replayer.with_runtime_input(ReplayRuntimeInput::Workload(trace_driver(
            load.requests,
            rank_config(
                backend,
                Limits {
                    kv_tokens: 1,
                    max_batch: 1,
                },
            )
            .block_size,
        )?));
    }
    let report = replayer.run().map_err(|e| e.to_string())?;
    let n_records = if load.records { load.requests.len() } else { 0 };
    Ok(convert(&report, n_records))
}

/// Round-robin placement (as aisimulate's engine composition) plus an optional planner.
struct SimComposition {
    scaling: Option<Box<dyn ReplayScalingPolicy>>,
}

impl ReplayComposition for SimComposition {
    type Metadata = NoReplayMetadata;
    type Observation = NoEngineEvents;
    type AggregatedPlacement = AggregatedRoundRobinPlacement<()>;
    type DisaggregatedPlacement = PoolRoundRobinPlacement<()>;

    fn create_aggregated_placement(
        &mut self,
        dp_size: u32,
        topology: Vec<WorkerTopology>,
    ) -> anyhow::Result<Self::AggregatedPlacement> {
        Ok(AggregatedRoundRobinPlacement::new(dp_size, topology))
    }

    fn create_disaggregated_placements(
        &mut self,
        _prefill_dp_size: u32,
        prefill_topology: Vec<WorkerTopology>,
        _decode_dp_size: u32,
        decode_topology: Vec<WorkerTopology>,
    ) -> anyhow::Result<(Self::DisaggregatedPlacement, Self::DisaggregatedPlacement)> {
        Ok((
            PoolRoundRobinPlacement::new(prefill_topology),
            PoolRoundRobinPlacement::new(decode_topology),
        ))
    }

    fn take_scaling_policy(&mut self) -> anyhow::Result<Option<Box<dyn ReplayScalingPolicy>>> {
        Ok(self.scaling.take())
    }
}

fn rank_config(backend: EngineBackend, limits: Limits) -> EngineConfig {
    let mut rank = EngineConfig::for_backend(backend);
    rank.num_gpu_blocks = (limits.kv_tokens as usize / rank.block_size).max(1);
    rank.max_num_seqs = limits.max_batch as usize;
    rank.max_num_batched_tokens = MAX_BATCHED_TOKENS;
    rank.enable_prefix_caching = false;
    rank.enable_chunked_prefill = true;
    rank
}

/// A closed loop's requests (their timestamps do not matter: the loop paces them).
fn closed_loop_requests(requests: &[TraceRequest]) -> Vec<ReplayRequest> {
    requests
        .iter()
        .enumerate()
        .map(|(index, request)| ReplayRequest {
            id: request_id(index),
            arrival_time_ms: 0.0,
            input_tokens: request.input_length as usize,
            input_token_ids: None,
            output_tokens: request.output_length as usize,
            output_token_ids: None,
            dp_rank: None,
            prefill_dp_rank: None,
            session_id: None,
            turn_index: None,
            metadata: serde_json::Value::Null,
        })
        .collect()
}

/// An open-loop trace as aisimulate's trace driver, which makes each prompt's tokens only when
/// the request arrives (a 45k-request trace would otherwise hold ~370 MB of prompt tokens).
/// Every request is its own session `request_<line>`, with fresh block ids (no prefix sharing).
fn trace_driver(requests: &[TraceRequest], engine_block_size: usize) -> Result<WorkloadDriver, String> {
    let block = TRACE_BLOCK_SIZE as u64;
    let mut next_hash: u64 = 0;
    let rows = requests
        .iter()
        .map(|request| {
            let blocks = u64::from(request.input_length).div_ceil(block);
            let hash_ids = (next_hash..next_hash + blocks).collect();
            next_hash += blocks;
            MooncakeRow {
                input_length: Some(request.input_length as usize),
                output_length: Some(request.output_length as usize),
                hash_ids: Some(hash_ids),
                timestamp: Some(request.timestamp_ms),
                ..Default::default()
            }
        })
        .collect();
    let trace = Trace::from_mooncake_rows(rows, TRACE_BLOCK_SIZE).map_err(|e| format!("{e:#}"))?;
    WorkloadDriver::new_trace_without_replay_hashes(trace, engine_block_size, false).map_err(|e| format!("{e:#}"))
}

/// Authored ids sort like the request order (aisimulate orders its records by id).
fn request_id(index: usize) -> String {
    format!("r{index:09}")
}

fn convert(report: &ReplayReport, n_requests: usize) -> Replayed {
    let mut records: Vec<Option<RequestRecord>> = vec![None; n_requests];
    for record in &report.per_request {
        // Closed loops carry our ids (`r<index>`); trace sessions are `request_<line>`.
        let from_session = record
            .session_id
            .as_deref()
            .and_then(|id| id.strip_prefix("request_"))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|line| line.checked_sub(1));
        let index = from_session.or_else(|| {
            record
                .request_id
                .as_deref()
                .and_then(|id| id.get(1..))
                .and_then(|n| n.parse::<usize>().ok())
        });
        if let Some(slot) = index.and_then(|i| records.get_mut(i)) {
            *slot = Some(request_record(record));
        }
    }
    let records = records
        .into_iter()
        .map(|record| {
            record.unwrap_or_else(|| RequestRecord {
                start_ms: 0.0,
                ttft_ms: None,
                latency_ms: None,
                input_tokens: 0,
                output_tokens: 0,
                error: Some("never admitted by the simulated cluster".into()),
            })
        })
        .collect();
    let throughput = &report.throughput;
    let gpu_seconds = throughput.prefill_worker_seconds * throughput.prefill_gpus_per_worker as f64
        + throughput.decode_worker_seconds * throughput.decode_gpus_per_worker as f64;
    Replayed {
        records,
        duration_s: throughput.duration_ms / 1e3,
        gpu_seconds,
        completed: report.request_counts.completed_requests as u64,
        output_tokens: report.request_counts.total_output_tokens as u64,
    }
}

fn request_record(record: &PerRequestRecord) -> RequestRecord {
    let completed = record.terminal_status == ReplayTerminalStatus::Completed;
    RequestRecord {
        start_ms: record.arrival_time_ms,
        ttft_ms: record.ttft_ms.filter(|_| completed),
        latency_ms: record.e2e_latency_ms.filter(|_| completed),
        input_tokens: record.input_length as u32,
        output_tokens: record.output_length as u32,
        error: (!completed).then(|| format!("{:?}", record.terminal_status).to_lowercase()),
    }
}
