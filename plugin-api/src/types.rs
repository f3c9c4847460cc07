//! The JSON payloads that cross the plugin boundary; they evolve by adding optional fields.
//!
//! Every struct is `#[non_exhaustive]`: outside this crate it is built with its constructor
//! (`new`, then `with_*` for optional parts) or from `Default`, never as a literal, so adding an
//! optional field breaks no plugin's build. The enums a peer reads from the other side (`Role`,
//! `ServingBackend`, `LogLevel`) read a value they do not know as `Unknown` instead of failing
//! the whole message. The enums a plugin sends (`EstimateQuery`, `DeployRequest`, `Probe`) stay
//! exhaustive (the host matches on them): a kind added later reaches an older host as one failed
//! call whose error says to upgrade profcmp, and the other calls go on.

use serde::{Deserialize, Serialize};

/// Version of the JSON payload schema carried inside the frozen ABI.
/// Bump it (and the crate's minor version) when a field changes meaning or is removed. A plugin
/// sends it in its [`Manifest`]; the host refuses a plugin whose schema is newer than its own.
pub const PAYLOAD_SCHEMA_VERSION: u32 = 1;

/// Plugins built before the manifest carried a schema version speak schema 1.
fn schema_v1() -> u32 {
    1
}

/// Whether a method is a reference point or a method under study.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A reference method (AIC-ALL, Online-ALL).
    Baseline,
    /// A method under study.
    Experimental,
    /// A role this version does not know (from a newer plugin); reported as experimental.
    #[serde(other)]
    Unknown,
}

/// What a plugin says about itself; readable before the full ABI load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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
    /// The payload schema the plugin speaks (`PAYLOAD_SCHEMA_VERSION` it was built with; absent,
    /// hence 1, in plugins built against plugin-api 0.1.0).
    #[serde(default = "schema_v1")]
    pub schema_version: u32,
}

impl Manifest {
    /// A manifest stamped with this crate's [`API_VERSION`](crate::API_VERSION) and
    /// [`PAYLOAD_SCHEMA_VERSION`].
    pub fn new(
        name: impl Into<String>,
        version: impl Into<String>,
        description: impl Into<String>,
        role: Role,
    ) -> Self {
        Manifest {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            role,
            api_version: crate::API_VERSION.to_string(),
            schema_version: PAYLOAD_SCHEMA_VERSION,
        }
    }

    /// The same manifest claiming another plugin-api version.
    pub fn with_api_version(mut self, api_version: impl Into<String>) -> Self {
        self.api_version = api_version.into();
        self
    }
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
    /// A framework this version does not know (from a newer host); a method that depends on
    /// the framework should refuse it with an error.
    #[serde(other)]
    Unknown,
}

impl ServingBackend {
    /// The lowercase name used in files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ServingBackend::Trtllm => "trtllm",
            ServingBackend::Vllm => "vllm",
            ServingBackend::Sglang => "sglang",
            ServingBackend::Unknown => "unknown",
        }
    }
}

/// The latency target and the request shape it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl Sla {
    /// The SLA of requests of `isl` input and `osl` output tokens.
    pub fn new(isl: u32, osl: u32, ttft_ms: f64, itl_ms: f64) -> Self {
        Sla {
            isl,
            osl,
            ttft_ms,
            itl_ms,
        }
    }
}

/// The configs a method may choose among.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchSpace {
    /// Candidate tensor-parallel sizes for prefill workers.
    pub prefill_tp: Vec<u32>,
    /// Candidate tensor-parallel sizes for decode workers.
    pub decode_tp: Vec<u32>,
    /// Most GPUs the deployed graph may use.
    pub gpu_budget: u32,
}

impl SearchSpace {
    /// Candidate TPs per phase and the GPU budget of the graph.
    pub fn new(prefill_tp: Vec<u32>, decode_tp: Vec<u32>, gpu_budget: u32) -> Self {
        SearchSpace {
            prefill_tp,
            decode_tp,
            gpu_budget,
        }
    }
}

/// Everything a method gets to decide and predict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl ProfileRequest {
    /// A request of this crate's [`PAYLOAD_SCHEMA_VERSION`] with seed 0 and no options.
    pub fn new(
        model: impl Into<String>,
        system: impl Into<String>,
        backend: ServingBackend,
        sla: Sla,
        search: SearchSpace,
    ) -> Self {
        ProfileRequest {
            schema_version: PAYLOAD_SCHEMA_VERSION,
            model: model.into(),
            system: system.into(),
            backend,
            sla,
            search,
            seed: 0,
            options: serde_json::Value::Null,
        }
    }

    /// The same request with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same request with these method options (a JSON object).
    pub fn with_options(mut self, options: serde_json::Value) -> Self {
        self.options = options;
        self
    }
}

/// One worker role's choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// Tensor-parallel size.
    pub tp: u32,
    /// GPUs per worker (equal to `tp` for dense models).
    pub gpus: u32,
}

impl WorkerConfig {
    /// A worker of tensor-parallel size `tp` on `gpus` GPUs.
    pub fn new(tp: u32, gpus: u32) -> Self {
        WorkerConfig { tp, gpus }
    }
}

/// The method's headline predictions for its chosen config at the SLA shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl Prediction {
    /// TTFT and ITL (ms) and throughput per GPU of each phase.
    pub fn new(ttft_ms: f64, itl_ms: f64, prefill_thpt_per_gpu: f64, decode_thpt_per_gpu: f64) -> Self {
        Prediction {
            ttft_ms,
            itl_ms,
            prefill_thpt_per_gpu,
            decode_thpt_per_gpu,
        }
    }
}

/// Dynamo's `prefill_raw_data.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrefillProfile {
    /// Input lengths, increasing.
    pub prefill_isl: Vec<f64>,
    /// TTFT at each ISL, ms.
    pub prefill_ttft: Vec<f64>,
    /// Prefill tokens/s per GPU at each ISL.
    pub prefill_thpt_per_gpu: Vec<f64>,
}

impl PrefillProfile {
    /// TTFT and throughput per GPU at each ISL.
    pub fn new(prefill_isl: Vec<f64>, prefill_ttft: Vec<f64>, prefill_thpt_per_gpu: Vec<f64>) -> Self {
        PrefillProfile {
            prefill_isl,
            prefill_ttft,
            prefill_thpt_per_gpu,
        }
    }
}

/// Dynamo's `decode_raw_data.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl DecodeProfile {
    /// ITL and throughput per GPU at each (KV usage, context length) point, and the KV capacity.
    pub fn new(
        x_kv_usage: Vec<f64>,
        y_context_length: Vec<f64>,
        z_itl: Vec<f64>,
        z_thpt_per_gpu: Vec<f64>,
        max_kv_tokens: u64,
    ) -> Self {
        DecodeProfile {
            x_kv_usage,
            y_context_length,
            z_itl,
            z_thpt_per_gpu,
            max_kv_tokens,
        }
    }
}

/// The planner's interpolation data, in Dynamo's shape.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PlannerProfile {
    /// Prefill TTFT and throughput over ISL.
    pub prefill: PrefillProfile,
    /// Decode ITL and throughput over KV usage and context.
    pub decode: DecodeProfile,
}

impl PlannerProfile {
    /// Both phases' data.
    pub fn new(prefill: PrefillProfile, decode: DecodeProfile) -> Self {
        PlannerProfile { prefill, decode }
    }
}

/// An explicit prediction at one load level (concurrency).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoadPrediction {
    /// Concurrent requests.
    pub concurrency: u32,
    /// Predicted TTFT, ms.
    pub ttft_ms: f64,
    /// Predicted ITL, ms.
    pub itl_ms: f64,
}

impl LoadPrediction {
    /// TTFT and ITL (ms) predicted at `concurrency`.
    pub fn new(concurrency: u32, ttft_ms: f64, itl_ms: f64) -> Self {
        LoadPrediction {
            concurrency,
            ttft_ms,
            itl_ms,
        }
    }
}

/// What a method returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl ProfileResult {
    /// A result with no per-level predictions and no notes.
    pub fn new(
        prefill: WorkerConfig,
        decode: WorkerConfig,
        predicted: Prediction,
        profile_data: PlannerProfile,
    ) -> Self {
        ProfileResult {
            prefill,
            decode,
            predicted,
            profile_data,
            load_predictions: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// The same result with explicit predictions per load level.
    pub fn with_load_predictions(mut self, load_predictions: Vec<LoadPrediction>) -> Self {
        self.load_predictions = load_predictions;
        self
    }

    /// The same result with these remarks.
    pub fn with_notes(mut self, notes: Vec<String>) -> Self {
        self.notes = notes;
        self
    }
}

/// The method's own account of what it spent (the host meters independently).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl CostReport {
    /// Duration (s), GPU-hours, deployments and estimator calls, with no details.
    pub fn new(duration_s: f64, gpu_hours: f64, deployments: u32, estimate_calls: u64) -> Self {
        CostReport {
            duration_s,
            gpu_hours,
            deployments,
            estimate_calls,
            details: serde_json::Value::Null,
        }
    }

    /// The same report with these details (a JSON value).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
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
#[non_exhaustive]
pub struct Estimate {
    /// Latency of the pass or step, ms (absent for `KvCapacity`).
    #[serde(default)]
    pub latency_ms: Option<f64>,
    /// KV capacity of one worker at this TP, tokens.
    pub kv_capacity_tokens: u64,
}

impl Estimate {
    /// A latency (none for `KvCapacity`) and the KV capacity of one worker.
    pub fn new(latency_ms: Option<f64>, kv_capacity_tokens: u64) -> Self {
        Estimate {
            latency_ms,
            kv_capacity_tokens,
        }
    }
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
#[non_exhaustive]
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

impl Deployment {
    /// A live deployment of `request` under the host's `id`.
    pub fn new(id: impl Into<String>, request: DeployRequest, kv_capacity_tokens: u64, max_batch: u32) -> Self {
        Deployment {
            id: id.into(),
            request,
            kv_capacity_tokens,
            max_batch,
        }
    }
}

/// One request of a replayed trace.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TraceRequest {
    /// Arrival time since the start, ms.
    pub timestamp_ms: f64,
    /// Input tokens.
    pub input_length: u32,
    /// Output tokens.
    pub output_length: u32,
}

impl TraceRequest {
    /// A request arriving at `timestamp_ms` with these input and output lengths.
    pub fn new(timestamp_ms: f64, input_length: u32, output_length: u32) -> Self {
        TraceRequest {
            timestamp_ms,
            input_length,
            output_length,
        }
    }
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
#[non_exhaustive]
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

impl Stat {
    /// Mean, median, p90, p99, minimum and maximum, ms.
    pub fn new(avg: f64, p50: f64, p90: f64, p99: f64, min: f64, max: f64) -> Self {
        Stat {
            avg,
            p50,
            p90,
            p99,
            min,
            max,
        }
    }
}

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// AIPerf-like statistics of one measurement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
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

impl Measurement {
    /// Request counts and latency statistics, with zero throughput and duration.
    pub fn new(request_count: u64, error_count: u64, ttft_ms: Stat, itl_ms: Stat, request_latency_ms: Stat) -> Self {
        Measurement {
            request_count,
            error_count,
            ttft_ms,
            itl_ms,
            request_latency_ms,
            ..Measurement::default()
        }
    }

    /// The same measurement with output tokens/s, requests/s and its duration (s).
    pub fn with_throughput(mut self, output_token_throughput: f64, request_throughput: f64, duration_s: f64) -> Self {
        self.output_token_throughput = output_token_throughput;
        self.request_throughput = request_throughput;
        self.duration_s = duration_s;
        self
    }
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
    /// A level this version does not know (from a newer plugin); logged as info.
    #[serde(other)]
    Unknown,
}
