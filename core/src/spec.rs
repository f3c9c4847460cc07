//! What a run compares: the resolved, validated settings every stage reads.

use profcmp_plugin_api::{ProfileRequest, SearchSpace, ServingBackend, Sla, PAYLOAD_SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The sinusoidal load of the optimize stage (Dynamo's sin_synth).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSpec {
    /// Trace length, s.
    pub duration_s: f64,
    /// Lowest request rate, req/s.
    pub min_rate: f64,
    /// Highest request rate, req/s.
    pub max_rate: f64,
    /// Period of the rate sinusoid, s.
    pub period_s: f64,
}

/// Every setting of a comparison, resolved from defaults, config and flags.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Hugging Face model id.
    pub model: String,
    /// GPU system.
    pub system: String,
    /// Serving framework.
    pub backend: ServingBackend,
    /// Latency target and request shape.
    pub sla: Sla,
    /// Candidate TPs and GPU budget.
    pub search: SearchSpace,
    /// Base seed; repeat k uses `seed + k`.
    pub seed: u64,
    /// Reality profile of the simulated cluster (name or file).
    pub reality: String,
    /// Requests measured per validation level.
    pub requests_per_level: u32,
    /// Capacity B for the load levels; None = the smallest among the methods' deployments.
    pub max_batch: Option<u32>,
    /// The optimize stage's trace.
    pub trace: TraceSpec,
    /// Planner adjustment interval, s.
    pub adjustment_interval_s: f64,
    /// Seeds of the measured stages.
    pub repeat: u32,
    /// Limits of one method's profile run.
    #[serde(default)]
    pub limits: MethodLimits,
}

/// How long one method may run in the profile stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodLimits {
    /// Wall-clock seconds before the method's process is killed (`--method-timeout`): a method
    /// that spins without calling the host never advances the backend's clock.
    pub timeout_s: f64,
    /// Backend-clock seconds (virtual on the simulated cluster) after which the method's deploy
    /// and measure calls are refused and it is reported as timed out (`--method-budget`).
    pub budget_s: f64,
}

impl Default for MethodLimits {
    /// One hour of wall clock, one week of backend time: far above the shipped methods (seconds of
    /// CPU, at most a few virtual hours) and Dynamo's profiler (hours on real GPUs).
    fn default() -> Self {
        MethodLimits {
            timeout_s: 3600.0,
            budget_s: 7.0 * 24.0 * 3600.0,
        }
    }
}

impl RunSpec {
    /// The defaults of `profcmp run`: Qwen3-32B on H200 with TRT-LLM, TTFT 500 / ITL 50 ms at
    /// ISL 2048 / OSL 256, TP 1/2/4/8, 8 GPUs, 1800 s of 5-45 req/s.
    pub fn defaults() -> RunSpec {
        RunSpec {
            model: "Qwen/Qwen3-32B".into(),
            system: "h200_sxm".into(),
            backend: ServingBackend::Trtllm,
            sla: Sla {
                isl: 2048,
                osl: 256,
                ttft_ms: 500.0,
                itl_ms: 50.0,
            },
            search: SearchSpace {
                prefill_tp: vec![1, 2, 4, 8],
                decode_tp: vec![1, 2, 4, 8],
                gpu_budget: 8,
            },
            seed: 42,
            reality: "nominal".into(),
            requests_per_level: 100,
            max_batch: None,
            trace: TraceSpec {
                duration_s: 1800.0,
                min_rate: 5.0,
                max_rate: 45.0,
                period_s: 600.0,
            },
            adjustment_interval_s: 180.0,
            repeat: 1,
            limits: MethodLimits::default(),
        }
    }

    /// The request a method gets.
    pub fn profile_request(&self, options: serde_json::Value) -> ProfileRequest {
        ProfileRequest {
            schema_version: PAYLOAD_SCHEMA_VERSION,
            model: self.model.clone(),
            system: self.system.clone(),
            backend: self.backend,
            sla: self.sla,
            search: self.search.clone(),
            seed: self.seed,
            options,
        }
    }
}

/// A short stable hash of any serializable inputs, to skip unchanged work on a rerun.
pub fn input_hash(inputs: &impl Serialize) -> String {
    let json = serde_json::to_vec(inputs).expect("inputs serialize");
    Sha256::digest(&json)
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}
