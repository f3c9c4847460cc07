//! What a run compares: the resolved, validated settings every stage reads.

use profcmp_plugin_api::{ProfileRequest, SearchSpace, ServingBackend, Sla};
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

/// Why a run setting given as text is not one profcmp knows.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A Dynamo version other than the ones whose conventions profcmp follows.
    #[error("unknown Dynamo version `{0}`; known: 0.7, 1.6")]
    UnknownDynamoVersion(String),
}

impl std::str::FromStr for DynamoVersion {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, SpecError> {
        match s {
            "0.7" | "0.7.0" | "0.7.1" => Ok(DynamoVersion::V0_7),
            "1.6" | "1.6.1" => Ok(DynamoVersion::V1_6),
            other => Err(SpecError::UnknownDynamoVersion(other.to_string())),
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
    /// Limits of one method's profile run.
    #[serde(default)]
    pub limits: MethodLimits,
    /// What the results depend on beyond these fields (contents behind names, versions).
    #[serde(default)]
    pub fingerprint: Fingerprint,
}

/// The contents behind a run's names and the code versions, so a cache key changes when they do:
/// editing a reality file or swapping the perf database reruns what they affect.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// SHA-256 of the resolved reality profile's values (not its name or the file's comments).
    pub reality: String,
    /// SHA-256 of the perf-database files in use (`estimator::perf_db_digest`).
    pub perf_db: String,
    /// The simulator's version (aisimulate-core).
    pub simulator: String,
    /// profcmp's version.
    pub profcmp: String,
}

/// aisimulate-core's version; equal to the exact pin in the workspace Cargo.toml (a test checks).
pub const SIMULATOR_VERSION: &str = "0.13.0";

impl Fingerprint {
    /// The fingerprint of a resolved reality (any `Debug` text that lists its values) and perf
    /// database digest, with this build's versions.
    pub fn new(reality: &str, perf_db: String) -> Fingerprint {
        Fingerprint {
            reality: Sha256::digest(reality.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            perf_db,
            simulator: SIMULATOR_VERSION.to_string(),
            profcmp: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
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
            sla: Sla::new(2048, 256, 500.0, 50.0),
            search: SearchSpace::new(vec![1, 2, 4, 8], vec![1, 2, 4, 8], 8),
            seed: 42,
            reality: crate::sim::DEFAULT_REALITY.into(),
            requests_per_level: 100,
            max_batch: None,
            trace: TraceSpec::sin_synth_defaults(),
            dynamo_version: DynamoVersion::default(),
            planner: PlannerOverrides::default(),
            repeat: 1,
            limits: MethodLimits::default(),
            fingerprint: Fingerprint::default(),
        }
    }

    /// The model on its system and framework, the SLA and the fingerprint: what every stage that
    /// deploys reads.
    fn target_key(&self) -> serde_json::Value {
        serde_json::json!({
            "model": self.model,
            "system": self.system,
            "backend": self.backend,
            "sla": self.sla,
            "fingerprint": self.fingerprint,
        })
    }

    /// The fields the profile stage reads beyond the request a method gets.
    pub fn profile_key(&self) -> serde_json::Value {
        serde_json::json!({ "fingerprint": self.fingerprint })
    }

    /// The fields the validate stage reads for one level (its concurrency and seed are keyed
    /// apart): not the trace, the GPU budget or `--repeat`.
    pub fn validate_key(&self) -> serde_json::Value {
        serde_json::json!({ "target": self.target_key(), "requests_per_level": self.requests_per_level })
    }

    /// The fields one optimize job reads (its graph, profile and seed are keyed apart).
    pub fn optimize_key(&self) -> serde_json::Value {
        serde_json::json!({
            "target": self.target_key(),
            "gpu_budget": self.search.gpu_budget,
            "dynamo_version": self.dynamo_version,
            "planner": self.planner,
            "trace": self.trace,
        })
    }

    /// The fields the oracle's measured profiles read.
    pub fn oracle_key(&self) -> serde_json::Value {
        serde_json::json!({
            "target": self.target_key(),
            "prefill_tp": self.search.prefill_tp,
            "decode_tp": self.search.decode_tp,
            "seed": self.seed,
        })
    }

    /// The request a method gets.
    pub fn profile_request(&self, options: serde_json::Value) -> ProfileRequest {
        ProfileRequest::new(
            self.model.clone(),
            self.system.clone(),
            self.backend,
            self.sla,
            self.search.clone(),
        )
        .with_seed(self.seed)
        .with_options(options)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamo_versions_parse_with_their_patch_releases_and_others_are_refused() {
        assert_eq!("0.7.1".parse::<DynamoVersion>().unwrap(), DynamoVersion::V0_7);
        assert_eq!("1.6".parse::<DynamoVersion>().unwrap(), DynamoVersion::V1_6);
        let err = "1.7".parse::<DynamoVersion>().unwrap_err();
        assert!(matches!(&err, SpecError::UnknownDynamoVersion(v) if v == "1.7"));
        assert_eq!(err.to_string(), "unknown Dynamo version `1.7`; known: 0.7, 1.6");
    }

    #[test]
    fn the_simulator_version_is_the_workspace_pin() {
        let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
        let pin = format!("aisimulate-core = \"={SIMULATOR_VERSION}\"");
        assert!(
            manifest.contains(&pin),
            "update SIMULATOR_VERSION to the pin in Cargo.toml"
        );
    }

    #[test]
    fn stage_keys_change_only_with_what_the_stage_reads() {
        let base = RunSpec::defaults();
        let mut repeat = base.clone();
        repeat.repeat = 5;
        repeat.limits.timeout_s = 1.0;
        let mut trace = base.clone();
        trace.trace.max_rate = 10.0;
        let mut requests = base.clone();
        requests.requests_per_level = 7;
        let mut reality = base.clone();
        reality.fingerprint.reality = "other".into();
        let keys = |s: &RunSpec| [s.profile_key(), s.validate_key(), s.optimize_key(), s.oracle_key()];
        assert_eq!(keys(&base), keys(&repeat), "--repeat and the limits change no result");
        let changed =
            |other: &RunSpec| -> Vec<bool> { keys(&base).iter().zip(keys(other)).map(|(a, b)| *a != b).collect() };
        assert_eq!(changed(&trace), [false, false, true, false]);
        assert_eq!(changed(&requests), [false, true, false, false]);
        assert_eq!(changed(&reality), [true, true, true, true]);
    }
}
