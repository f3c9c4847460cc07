//! The results directory layout (NVIDIA's comparison layout) and the records profcmp keeps in it.
//!
//! ```text
//! results/<method>/config_with_planner.yaml   ConfigMap planner-profile-data + DynamoGraphDeployment
//! results/<method>/profile.json               ProfileRecord (profcmp's own; absent in other tools' runs)
//! results/<method>/profile.log                the method's forwarded log
//! results/<method>/methods.lock               the resolved method set that produced the results
//! results/<method>/validation/<level>/        AIPerf artifacts + validation.json (ValidationRecord)
//! results/<method>/optimization/              AIPerf artifacts + optimization.json (OptimizationRecord)
//! results/oracle/<ptp>x<dtp>/optimization/    the oracle's candidates, same files
//! results/sinusoidal.jsonl                    the optimize stage's trace (mooncake)
//! results/run.json                            RunRecord: the run's settings and its warnings
//! results/comparison/                         comparison_results.json, summary.txt, *.png, *.svg
//! ```

use std::path::{Path, PathBuf};

use profcmp_plugin_api::{CostReport, Manifest, ProfileRequest, ProfileResult};
use serde::{Deserialize, Serialize};

/// Load levels of the validate stage, in order.
pub const LEVELS: [&str; 4] = ["idle", "medium", "saturation", "overload"];

/// Paths inside one results directory.
#[derive(Clone, Debug)]
pub struct ResultsDir {
    /// The root (`results/`).
    pub root: PathBuf,
}

impl ResultsDir {
    /// A results directory rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ResultsDir { root: root.into() }
    }
    /// `results/<method>/`.
    pub fn method(&self, method: &str) -> PathBuf {
        self.root.join(method)
    }
    /// `results/<method>/profile.json`.
    pub fn profile_json(&self, method: &str) -> PathBuf {
        self.method(method).join("profile.json")
    }
    /// `results/<method>/config_with_planner.yaml`.
    pub fn config_with_planner(&self, method: &str) -> PathBuf {
        self.method(method).join("config_with_planner.yaml")
    }
    /// `results/<method>/profile_sla.log` (the seed's and Dynamo's name; `profile.log` before).
    pub fn profile_log(&self, method: &str) -> PathBuf {
        self.method(method).join("profile_sla.log")
    }
    /// `results/<method>/methods.lock`.
    pub fn methods_lock(&self, method: &str) -> PathBuf {
        self.method(method).join("methods.lock")
    }
    /// `results/<method>/validation/<level>/`.
    pub fn validation(&self, method: &str, level: &str) -> PathBuf {
        self.method(method).join("validation").join(level)
    }
    /// `results/<method>/optimization/`.
    pub fn optimization(&self, method: &str) -> PathBuf {
        self.method(method).join("optimization")
    }
    /// `results/oracle/<ptp>x<dtp>/optimization/`.
    pub fn oracle(&self, prefill_tp: u32, decode_tp: u32) -> PathBuf {
        self.root
            .join("oracle")
            .join(format!("{prefill_tp}x{decode_tp}"))
            .join("optimization")
    }
    /// `results/sinusoidal.jsonl`.
    pub fn trace(&self) -> PathBuf {
        self.root.join("sinusoidal.jsonl")
    }
    /// `results/run.json`: the settings of the last run into this directory (`RunRecord`).
    pub fn run_json(&self) -> PathBuf {
        self.root.join("run.json")
    }
    /// `results/comparison/`.
    pub fn comparison(&self) -> PathBuf {
        self.root.join("comparison")
    }
    /// Method directories present (every subdirectory but `comparison` and `oracle`), sorted.
    pub fn methods(&self) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type()?.is_dir() && name != "comparison" && name != "oracle" && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}

/// The host's metered account of one profiling run (what the comparison uses).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ledger {
    /// Duration on the backend's clock (virtual on the simulated cluster), s.
    pub duration_s: f64,
    /// CPU (wall) time actually spent by profcmp, s.
    pub cpu_s: f64,
    /// Sum over deployments of (creation to teardown) x GPUs, hours.
    pub gpu_hours: f64,
    /// Deployments created.
    pub deployments: u32,
    /// Estimator calls.
    pub estimate_calls: u64,
    /// Deployments the method left up (torn down by the host).
    #[serde(default)]
    pub leaked_deployments: u32,
    /// Deployments whose teardown the backend never confirmed: charged to the end of the run.
    #[serde(default)]
    pub teardown_failures: u32,
    /// Measurement time the method was answered with, s (what the SDK's session reports as its
    /// duration).
    #[serde(default)]
    pub measured_s: f64,
    /// Measurement time x GPUs of every deployment live during it, hours (what the SDK's session
    /// reports as its GPU-hours).
    #[serde(default)]
    pub measured_gpu_hours: f64,
}

/// `profile.json`: what the profile stage recorded for one method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileRecord {
    /// Format version of this record.
    pub schema_version: u32,
    /// The plugin's manifest.
    pub manifest: Manifest,
    /// The request the method got.
    pub request: ProfileRequest,
    /// Hash of the inputs, to skip unchanged work on a rerun.
    pub input_hash: String,
    /// The result, when the method succeeded.
    pub result: Option<ProfileResult>,
    /// The error, when it failed.
    pub error: Option<String>,
    /// The host's metered cost.
    pub ledger: Ledger,
    /// The method's own cost report.
    pub method_cost: Option<CostReport>,
}

/// `run.json`: the settings the stages last ran with (so a report states what ran) and every
/// warning they raised (a dropped method, a partial oracle, a failed write), per stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Format version of this record.
    pub schema_version: u32,
    /// The profcmp version that ran.
    pub profcmp_version: String,
    /// Where it ran: `sim`, `k8s` or `endpoint`.
    pub cluster: String,
    /// The settings: SLA, workload, GPU budget, reality, planner interval, seeds.
    pub spec: crate::spec::RunSpec,
    /// Warnings by stage (`profile`, `validate`, `optimize`); a stage's rerun replaces its own.
    #[serde(default)]
    pub warnings: std::collections::BTreeMap<String, Vec<String>>,
}

/// `validation.json`: one load level of the validate stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationRecord {
    /// Level name (`idle`, ...).
    pub level: String,
    /// Concurrency the level ran at.
    pub concurrency: u32,
    /// Measured requests.
    pub requests: u32,
    /// Seed of the measurement.
    pub seed: u64,
    /// Hash of the inputs.
    pub input_hash: String,
}

/// `optimization.json`: one planner-in-the-loop run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizationRecord {
    /// Prefill TP of the graph.
    pub prefill_tp: u32,
    /// Decode TP of the graph.
    pub decode_tp: u32,
    /// Time-averaged GPUs held.
    pub avg_gpus: f64,
    /// Goodput, requests/s.
    pub goodput: f64,
    /// Goodput per time-averaged GPU.
    pub goodput_per_gpu: f64,
    /// Fraction of requests meeting the SLA.
    pub sla_hit_rate: f64,
    /// Replica counts over time: (time s, prefill, decode).
    pub replicas: Vec<(f64, u32, u32)>,
    /// Seed of the trace.
    pub seed: u64,
    /// Hash of the inputs.
    pub input_hash: String,
    /// The planner that ran (version and arguments; the profile is the method's).
    #[serde(default)]
    pub planner: Option<PlannerRan>,
    /// Workers the measured run started with: what its planner settles on for the trace's
    /// opening load (the warm start).
    #[serde(default)]
    pub initial_replicas: Option<(u32, u32)>,
    /// The same graph from a cold start (1 prefill + 1 decode) over the trace's first
    /// intervals: what reaching the warm start costs.
    #[serde(default)]
    pub cold_start: Option<ColdStart>,
}

/// The planner arguments a planner-in-the-loop run used.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannerRan {
    /// Dynamo version the planner behaved as (`0.7`, `1.6`).
    pub dynamo_version: String,
    /// Seconds between decisions.
    pub adjustment_interval_s: f64,
    /// Load predictor.
    pub predictor: String,
    /// Predictor window, intervals.
    pub window_size: usize,
    /// GPU budget.
    pub gpu_budget: u32,
    /// Fewest workers per role.
    pub min_endpoint: u32,
    /// Demand multiplier (1 = Dynamo; above 1 = `--planner-headroom`, not Dynamo's).
    #[serde(default = "one")]
    pub headroom: f64,
    /// Where each setting came from: `method`, `flag` or `default` (Dynamo's).
    pub sources: std::collections::BTreeMap<String, String>,
}

/// The cold-start run of a planner job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// Trace seconds replayed from the cold start.
    pub window_s: f64,
    /// Fraction of its requests meeting the SLA.
    pub sla_hit_rate: f64,
    /// Requests that missed the SLA.
    pub sla_misses: u64,
    /// Time of the planner's first decision reaching the warm start's replicas, s (None: not
    /// within the window).
    pub settle_s: Option<f64>,
    /// Replica decisions: (time s, prefill, decode).
    pub replicas: Vec<(f64, u32, u32)>,
}

/// Why a record of a results directory cannot be read. The texts are `{file}: {cause}` as the
/// comparison's warnings have always printed them (reports quote them verbatim); the variant tells
/// a missing or unreadable file (run the stage that writes it) from a damaged one (delete it and
/// run that stage again).
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The file cannot be read (absent, or no permission).
    #[error("{}: {message}", path.display())]
    Read {
        /// The record.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The file is not the record expected (damaged, or written by another version).
    #[error("{}: {message}", path.display())]
    Parse {
        /// The record.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
}

/// The subdirectories of `dir` named `<prefix><k>` (`seed-2`, `reality-1`), in k order.
pub fn numbered_subdirs(dir: &Path, prefix: &str) -> Vec<(u32, PathBuf)> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let k = entry.file_name().to_string_lossy().strip_prefix(prefix)?.parse().ok()?;
            entry.path().is_dir().then(|| (k, entry.path()))
        })
        .collect();
    dirs.sort();
    dirs
}

/// Reads a JSON record, saying which file failed and why.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, ResultsError> {
    let text = std::fs::read_to_string(path).map_err(|e| ResultsError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| ResultsError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Writes a JSON record atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("record serializes");
    crate::fsio::write_atomic(path, text.as_bytes())
}

/// Serde's default for a factor absent from older records: 1.
pub(crate) fn one() -> f64 {
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_record_is_a_read_error_and_a_damaged_one_a_parse_error() {
        let dir = std::env::temp_dir().join(format!("profcmp-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.json");
        let err = read_json::<serde_json::Value>(&path).unwrap_err();
        assert!(matches!(err, ResultsError::Read { .. }), "{err}");
        assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
        // The same file, now there but cut short: a parse error at the same path.
        std::fs::write(&path, "{\"a\": ").unwrap();
        let err = read_json::<serde_json::Value>(&path).unwrap_err();
        assert!(matches!(err, ResultsError::Parse { .. }), "{err}");
        write_json(&path, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(read_json::<serde_json::Value>(&path).unwrap()["a"], 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    proptest::proptest! {
        /// A record read back holds the very floats written: cache keys hash what was measured
        /// in memory on the first run and what is read from disk on a rerun, so a float that
        /// came back one ULP off would make every rerun redo its work (serde_json parses
        /// exactly only with its `float_roundtrip` feature).
        #[test]
        fn floats_survive_a_write_and_a_read(bits in proptest::prelude::any::<u64>()) {
            let value = f64::from_bits(bits);
            proptest::prop_assume!(value.is_finite());
            let text = serde_json::to_string(&value).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            proptest::prop_assert_eq!(back.to_bits(), value.to_bits(), "{}", text);
        }
    }
}
