//! The JSON payloads that cross the plugin boundary; they evolve by adding optional fields.

use serde::{Deserialize, Serialize};

/// Version of the JSON payload schema carried inside the frozen ABI.
/// Bump it (and the crate's minor version) when a field changes meaning or is removed.
pub const PAYLOAD_SCHEMA_VERSION: u32 = 1;

/// Whether a method is a reference point or a method under study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A reference method (AIC-ALL, Online-ALL).
    Baseline,
    /// A method under study.
    Experimental,
}

/// What a plugin says about itself; readable before the full ABI load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Method id, as used in the CLI, `methods.toml` and the results layout (e.g. `aic_all`).
    pub name: String,
    /// The method's own semver version.
    pub version: String,
    /// One line saying what the method does.
    pub description: String,
    /// Baseline or experimental.
    pub role: Role,
    /// The plugin-api version the plugin was built against.
    pub api_version: String,
}

/// The serving framework the deployment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServingBackend {
    /// TensorRT-LLM.
    Trtllm,
    /// vLLM.
    Vllm,
    /// SGLang.
    Sglang,
}

impl ServingBackend {
    /// The lowercase name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ServingBackend::Trtllm => "trtllm",
            ServingBackend::Vllm => "vllm",
            ServingBackend::Sglang => "sglang",
        }
    }
}

/// The latency target and the request shape it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sla {
    /// Input sequence length, tokens.
    pub isl: u32,
    /// Output sequence length, tokens.
    pub osl: u32,
    /// Time-to-first-token target, ms.
    pub ttft_ms: f64,
    /// Inter-token latency target, ms.
    pub itl_ms: f64,
}

/// The configs a method may choose among.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Candidate tensor-parallel sizes for prefill workers.
    pub prefill_tp: Vec<u32>,
    /// Candidate tensor-parallel sizes for decode workers.
    pub decode_tp: Vec<u32>,
    /// Most GPUs the deployed graph may use.
    pub gpu_budget: u32,
}

/// Everything a method gets to decide and predict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileRequest {
    /// Payload schema version (`PAYLOAD_SCHEMA_VERSION` of the host).
    pub schema_version: u32,
    /// Hugging Face model id, e.g. `Qwen/Qwen3-32B`.
    pub model: String,
    /// GPU system, e.g. `h200_sxm`.
    pub system: String,
    /// Serving framework.
    pub backend: ServingBackend,
    /// Latency target.
    pub sla: Sla,
    /// Candidate configs.
    pub search: SearchSpace,
    /// Seed for anything random in the method.
    pub seed: u64,
    /// Method-specific options (JSON object; unknown keys are an error).
    #[serde(default)]
    pub options: serde_json::Value,
}

/// One worker role's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Tensor-parallel size.
    pub tp: u32,
    /// GPUs per worker (equal to `tp` for dense models).
    pub gpus: u32,
}

/// The method's headline predictions for its chosen config at the SLA shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Predicted TTFT at the SLA ISL, ms.
    pub ttft_ms: f64,
    /// Predicted ITL at the chosen decode operating point, ms.
    pub itl_ms: f64,
    /// Prefill throughput per GPU, tokens/s.
    pub prefill_thpt_per_gpu: f64,
    /// Decode throughput per GPU, output tokens/s.
    pub decode_thpt_per_gpu: f64,
}

/// Dynamo's `prefill_raw_data.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefillProfile {
    /// Input lengths, increasing.
    pub prefill_isl: Vec<f64>,
    /// TTFT at each ISL, ms.
    pub prefill_ttft: Vec<f64>,
    /// Prefill tokens/s per GPU at each ISL.
    pub prefill_thpt_per_gpu: Vec<f64>,
}

/// Dynamo's `decode_raw_data.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DecodeProfile {
    /// KV-cache usage in [0, 1] of each point.
    pub x_kv_usage: Vec<f64>,
    /// Context length (ISL + OSL/2) of each point.
    pub y_context_length: Vec<f64>,
    /// ITL at each point, ms.
    pub z_itl: Vec<f64>,
    /// Output tokens/s per GPU at each point.
    pub z_thpt_per_gpu: Vec<f64>,
    /// KV capacity of one decode worker, tokens.
    pub max_kv_tokens: u64,
}

/// The planner's interpolation data, in Dynamo's shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannerProfile {
    /// Prefill TTFT and throughput over ISL.
    pub prefill: PrefillProfile,
    /// Decode ITL and throughput over KV usage and context.
    pub decode: DecodeProfile,
}

/// An explicit prediction at one load level (concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadPrediction {
    /// Concurrent requests.
    pub concurrency: u32,
    /// Predicted TTFT, ms.
    pub ttft_ms: f64,
    /// Predicted ITL, ms.
    pub itl_ms: f64,
}

/// What a method returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileResult {
    /// Recommended prefill worker.
    pub prefill: WorkerConfig,
    /// Recommended decode worker.
    pub decode: WorkerConfig,
    /// Headline predictions.
    pub predicted: Prediction,
    /// Planner interpolation data for the chosen TPs.
    pub profile_data: PlannerProfile,
    /// Explicit predictions per load level, when the method makes them.
    #[serde(default)]
    pub load_predictions: Vec<LoadPrediction>,
    /// Free-form remarks for the report.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The method's own account of what it spent (the host meters independently).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// Wall (or virtual) duration of profiling, seconds.
    pub duration_s: f64,
    /// GPU-hours of all deployments.
    pub gpu_hours: f64,
    /// Number of deployments.
    pub deployments: u32,
    /// Number of estimator calls.
    pub estimate_calls: u64,
    /// Anything else the method wants to report.
    #[serde(default)]
    pub details: serde_json::Value,
}

/// A question for the AI Configurator-style estimator.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EstimateQuery {
    /// One prefill pass of `batch` requests of `isl` tokens.
    Prefill {
        /// Tensor-parallel size.
        tp: u32,
        /// Requests in the batch.
        batch: u32,
        /// Input length, tokens.
        isl: u32,
    },
    /// One decode step of `batch` sequences at context `context`.
    Decode {
        /// Tensor-parallel size.
        tp: u32,
        /// Sequences in the batch.
        batch: u32,
        /// Context length, tokens.
        context: u32,
    },
    /// KV-cache capacity of one worker.
    KvCapacity {
        /// Tensor-parallel size.
        tp: u32,
    },
}

/// The estimator's answer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Latency of the pass or step, ms (absent for `KvCapacity`).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// KV capacity of one worker at this TP, tokens.
    pub kv_capacity_tokens: u64,
}

/// What to deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeployRequest {
    /// A single prefill-only engine (measures TTFT of isolated prefills).
    PrefillOnly {
        /// Tensor-parallel size.
        tp: u32,
    },
    /// A single decode-only engine (measures ITL and throughput).
    DecodeOnly {
        /// Tensor-parallel size.
        tp: u32,
    },
    /// A disaggregated graph: frontend, P prefill and D decode workers.
    Graph {
        /// Prefill worker count.
        prefill_workers: u32,
        /// Prefill tensor-parallel size.
        prefill_tp: u32,
        /// Decode worker count.
        decode_workers: u32,
        /// Decode tensor-parallel size.
        decode_tp: u32,
    },
}

impl DeployRequest {
    /// GPUs the deployment holds while it exists (saturating at `u32::MAX`: a request that
    /// large is refused by the host's limits, see [`crate::limits`]).
    pub fn gpus(&self) -> u32 {
        match *self {
            DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => tp,
            DeployRequest::Graph {
                prefill_workers,
                prefill_tp,
                decode_workers,
                decode_tp,
            } => prefill_workers
                .saturating_mul(prefill_tp)
                .saturating_add(decode_workers.saturating_mul(decode_tp)),
        }
    }
}

/// A live deployment, as its engines' logs describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Host-assigned id.
    pub id: String,
    /// What was deployed.
    pub request: DeployRequest,
    /// KV capacity of one (decode, else prefill) worker, tokens.
    pub kv_capacity_tokens: u64,
    /// Most sequences one worker batches at once.
    pub max_batch: u32,
}

/// One request of a replayed trace.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceRequest {
    /// Arrival time since the start, ms.
    pub timestamp_ms: f64,
    /// Input tokens.
    pub input_length: u32,
    /// Output tokens.
    pub output_length: u32,
}

/// How to load a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Probe {
    /// Closed loop: keep `concurrency` requests in flight until `requests` are done.
    Concurrency {
        /// Requests in flight.
        concurrency: u32,
        /// Measured requests.
        requests: u32,
        /// Input tokens per request.
        isl: u32,
        /// Output tokens per request.
        osl: u32,
        /// Unmeasured requests sent first.
        #[serde(default)]
        warmup: u32,
    },
    /// Open loop: replay these requests on their timestamps.
    Trace {
        /// The requests.
        requests: Vec<TraceRequest>,
    },
}

/// Distribution of one latency metric, ms. A metric that does not apply (ITL of one-token
/// outputs) is NaN, sent as JSON `null`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean.
    #[serde(deserialize_with = "nan_if_null")]
    pub avg: f64,
    /// Median.
    #[serde(deserialize_with = "nan_if_null")]
    pub p50: f64,
    /// 90th percentile.
    #[serde(deserialize_with = "nan_if_null")]
    pub p90: f64,
    /// 99th percentile.
    #[serde(deserialize_with = "nan_if_null")]
    pub p99: f64,
    /// Minimum.
    #[serde(deserialize_with = "nan_if_null")]
    pub min: f64,
    /// Maximum.
    #[serde(deserialize_with = "nan_if_null")]
    pub max: f64,
}

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// AIPerf-like statistics of one measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Completed requests.
    pub request_count: u64,
    /// Failed requests.
    pub error_count: u64,
    /// Time to first token.
    pub ttft_ms: Stat,
    /// Inter-token latency (per-request mean, AIPerf's definition).
    pub itl_ms: Stat,
    /// End-to-end request latency.
    pub request_latency_ms: Stat,
    /// Output tokens/s over the whole benchmark.
    pub output_token_throughput: f64,
    /// Requests/s over the whole benchmark.
    pub request_throughput: f64,
    /// Benchmark duration, s.
    pub duration_s: f64,
}

/// Severity of a forwarded log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something odd.
    Warn,
    /// Something failed.
    Error,
}
