//! What a run compares: the resolved, validated settings every stage reads.

use profcmp_plugin_api::{ProfileRequest, SearchSpace, ServingBackend, Sla, PAYLOAD_SCHEMA_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The optimize stage's load: Dynamo's `sin_synth` (class 1 is the SLA's ISL/OSL), or a
/// mooncake trace file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSpec {
    /// Trace length, s.
    pub duration_s: f64,
    /// Lowest request rate, req/s.
    pub min_rate: f64,
    /// Highest request rate, req/s.
    pub max_rate: f64,
    /// Period of the rate sinusoid, s (sin_synth's default: 10).
    pub period_s: f64,
    /// The second request class (ISL, OSL); None = every request is the SLA's class
    /// (sin_synth's default: 5000 / 100).
    pub second_class: Option<(u32, u32)>,
    /// Lowest and highest share of class 1 (sin_synth: 0.2 and 0.8).
    pub ratio_min: f64,
    /// See `ratio_min`.
    pub ratio_max: f64,
    /// Period of the share, s (sin_synth: 10).
    pub ratio_period_s: f64,
    /// A mooncake trace replayed instead of the generated one.
    pub file: Option<TraceFile>,
}

impl TraceSpec {
    /// What the seed's command generates: `sin_synth.py --time-duration 1800
    /// --request-rate-min 5 --request-rate-max 45 --isl1 2048 --osl1 256`, every other argument
    /// at sin_synth's default (rate and ratio periods 10 s, class 2 = 5000 / 100, ratio 0.2-0.8).
    pub fn sin_synth_defaults() -> TraceSpec {
        TraceSpec {
            duration_s: 1800.0,
            min_rate: 5.0,
            max_rate: 45.0,
            period_s: 10.0,
            second_class: Some((5000, 100)),
            ratio_min: 0.2,
            ratio_max: 0.8,
            ratio_period_s: 10.0,
            file: None,
        }
    }
}

/// A trace file given with `--trace`, identified by content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceFile {
    /// Path as given.
    pub path: std::path::PathBuf,
    /// sha256 of the file's bytes (hex).
    pub sha256: String,
}

/// Which NVIDIA Dynamo a run models: the SLA planner's behaviour in the simulated loop and the
/// profiler's deployment conventions on Kubernetes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DynamoVersion {
    /// v0.7.x, as in NVIDIA's January 2026 comparison.
    #[serde(rename = "0.7")]
    V0_7,
    /// v1.6.1, current.
    #[default]
    #[serde(rename = "1.6")]
    V1_6,
}

impl DynamoVersion {
    /// `0.7` or `1.6`.
    pub fn as_str(self) -> &'static str {
        match self {
            DynamoVersion::V0_7 => "0.7",
            DynamoVersion::V1_6 => "1.6",
        }
    }
}

impl std::str::FromStr for DynamoVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "0.7" | "0.7.0" | "0.7.1" => Ok(DynamoVersion::V0_7),
            "1.6" | "1.6.1" => Ok(DynamoVersion::V1_6),
            other => Err(format!("unknown Dynamo version `{other}`; known: 0.7, 1.6")),
        }
    }
}

/// Planner settings given on the command line; each overrides the method's
/// `config_with_planner.yaml` (None = what the method's file says).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlannerOverrides {
    /// Seconds between decisions.
    pub adjustment_interval_s: Option<f64>,
    /// Load predictor.
    pub predictor: Option<crate::backend::LoadPredictor>,
    /// Demand multiplier (not Dynamo's; None = 1, as Dynamo).
    #[serde(default)]
    pub headroom: Option<f64>,
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
    /// Which Dynamo the planner (and the Kubernetes conventions) behave as.
    pub dynamo_version: DynamoVersion,
    /// Planner settings forced over the methods' own.
    pub planner: PlannerOverrides,
    /// Seeds of the measured stages.
    pub repeat: u32,
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
            reality: crate::sim::DEFAULT_REALITY.into(),
            requests_per_level: 100,
            max_batch: None,
            trace: TraceSpec::sin_synth_defaults(),
            dynamo_version: DynamoVersion::default(),
            planner: PlannerOverrides::default(),
            repeat: 1,
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
