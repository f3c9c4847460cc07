//! The comparison's data (what the compare stage computes and every report renders) and
//! `write_reports`, which writes comparison_results.json, summary.txt and the plots.
//!
//! Every measured or predicted number is an `Option`: a missing value is `null` in JSON and
//! "-" in text, never 0. Values measured over several seeds are a [`Sample`] (mean and a 95%
//! t-interval); with one seed the interval is absent.

pub mod json;
pub mod plot;
pub mod summary;

use std::io;
use std::path::{Path, PathBuf};

use profcmp_plugin_api::Sla;
use serde::{Deserialize, Serialize};

use crate::predict::LevelPrediction;

/// Version of comparison_results.json; bump when a field changes meaning or is removed.
pub const SCHEMA_VERSION: u32 = 1;

/// The whole comparison of one results directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The results directory compared.
    pub results_dir: String,
    /// Default SLA and request shape (a method's profile.json request overrides ISL/OSL for its predictions).
    pub sla: Sla,
    /// One entry per method directory, sorted by name.
    pub methods: Vec<MethodComparison>,
    /// The oracle's candidates (`results/oracle/*/optimization/`), when present.
    pub oracle: Option<Oracle>,
    /// Pairwise "distinguishable / not distinguishable" verdicts (only where both have intervals).
    pub verdicts: Vec<Verdict>,
    /// Which method to use for which need, derived from the numbers.
    pub recommendations: Recommendations,
    /// Every file that was missing where expected, unreadable or corrupt, naming the file.
    pub warnings: Vec<String>,
    /// The settings the stages ran with (`results/run.json`), when recorded.
    #[serde(default)]
    pub run: Option<RunSettings>,
}

/// What ran, from `results/run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The profcmp version that ran the stages.
    pub profcmp_version: String,
    /// `sim`, `k8s` or `endpoint`.
    pub cluster: String,
    /// Every setting of the run (SLA, workload, GPU budget, reality, planner interval, seeds).
    pub spec: crate::spec::RunSpec,
}

impl RunSettings {
    /// The settings of a run record.
    pub fn of(record: &crate::layout::RunRecord) -> RunSettings {
        RunSettings {
            profcmp_version: record.profcmp_version.clone(),
            cluster: record.cluster.clone(),
            spec: record.spec.clone(),
        }
    }
}

/// How far a method got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodStatus {
    /// Profile data read (from profile.json or config_with_planner.yaml).
    Ok,
    /// The profile stage recorded an error.
    Failed,
    /// No readable profile data: measurements are still reported, predictions are not.
    NoProfile,
}

/// One method's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodComparison {
    /// Method id (its directory name).
    pub method: String,
    /// How far it got.
    pub status: MethodStatus,
    /// The profile stage's error, when it failed.
    pub error: Option<String>,
    /// Where the profile data came from: `profile.json` or `config_with_planner.yaml`.
    pub profile_source: Option<String>,
    /// Recommended prefill TP.
    pub prefill_tp: Option<u32>,
    /// Recommended decode TP.
    pub decode_tp: Option<u32>,
    /// What profiling cost.
    pub cost: Cost,
    /// Predictive accuracy per validate level, in level order.
    pub levels: Vec<LevelComparison>,
    /// Mean |signed error| % over the p50 TTFT and ITL errors of every measured level.
    pub mean_abs_error_pct: Option<f64>,
    /// Planner-in-the-loop results.
    pub optimization: Optimization,
    /// What was not measured, and other remarks.
    pub notes: Vec<String>,
}

/// Cost of profiling: the host's metered ledger, with the method's own report beside it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// False when there is no profile.json (cost "not recorded").
    pub recorded: bool,
    /// Profiling duration on the backend's clock, s.
    pub duration_s: Option<f64>,
    /// CPU (wall) time profcmp spent, s.
    pub cpu_s: Option<f64>,
    /// GPU-hours of all deployments.
    pub gpu_hours: Option<f64>,
    /// Deployments created.
    pub deployments: Option<u32>,
    /// Estimator calls.
    pub estimate_calls: Option<u64>,
    /// The method's own account, when it gave one.
    pub reported: Option<ReportedCost>,
    /// Whether the method's account disagrees with the ledger (absent when either is missing).
    pub mismatch: Option<bool>,
    /// One line per disagreeing field.
    pub mismatches: Vec<String>,
}

/// The method's own cost report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportedCost {
    /// Duration, s.
    pub duration_s: f64,
    /// GPU-hours.
    pub gpu_hours: f64,
    /// Deployments.
    pub deployments: u32,
    /// Estimator calls.
    pub estimate_calls: u64,
}

/// Where a level's concurrency came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConcurrencySource {
    /// This method's validation.json.
    ValidationJson,
    /// This method's AIPerf `input_config.loadgen.concurrency`.
    AiperfInputConfig,
    /// Another method's measurement of the same level (all are measured at the same loads).
    OtherMethod,
    /// The compare options' defaults.
    Default,
}

/// One validate level of one method.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelComparison {
    /// Level name.
    pub level: String,
    /// Concurrency of the level.
    pub concurrency: u32,
    /// Where the concurrency came from.
    pub concurrency_source: ConcurrencySource,
    /// Seeds measured (0 = not measured).
    pub seeds: u32,
    /// The method's prediction at this concurrency.
    pub predicted: Option<LevelPrediction>,
    /// Measured TTFT p50, ms.
    pub ttft_p50_ms: Option<Sample>,
    /// Measured TTFT p99, ms.
    pub ttft_p99_ms: Option<Sample>,
    /// Measured ITL p50, ms.
    pub itl_p50_ms: Option<Sample>,
    /// Measured ITL p99, ms.
    pub itl_p99_ms: Option<Sample>,
    /// Measured goodput, requests/s.
    pub goodput: Option<Sample>,
    /// Good requests / requests.
    pub sla_hit_rate: Option<Sample>,
    /// Signed errors of the prediction against each measured value, %.
    pub error_pct: LevelErrors,
}

/// Signed error % = (predicted - measured) / measured x 100 (negative = optimistic).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelErrors {
    /// Predicted TTFT against measured TTFT p50.
    pub ttft_p50: Option<Sample>,
    /// Predicted TTFT against measured TTFT p99.
    pub ttft_p99: Option<Sample>,
    /// Predicted ITL against measured ITL p50.
    pub itl_p50: Option<Sample>,
    /// Predicted ITL against measured ITL p99.
    pub itl_p99: Option<Sample>,
}

/// Planner-in-the-loop results of one method (or oracle candidate).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Optimization {
    /// Seeds measured (0 = "not measured").
    pub seeds: u32,
    /// Prefill TP of the graph run.
    pub prefill_tp: Option<u32>,
    /// Decode TP of the graph run.
    pub decode_tp: Option<u32>,
    /// Goodput, requests/s.
    pub goodput: Option<Sample>,
    /// Goodput per time-averaged GPU, requests/s/GPU.
    pub goodput_per_gpu: Option<Sample>,
    /// Time-averaged GPUs held.
    pub avg_gpus: Option<Sample>,
    /// Fraction of requests meeting the SLA.
    pub sla_hit_rate: Option<Sample>,
    /// (oracle best goodput - goodput) / oracle best goodput x 100.
    pub regret_pct: Option<Sample>,
}

/// The oracle: the best candidate config measured under the same trace and planner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Oracle {
    /// Every candidate (`results/oracle/<ptp>x<dtp>/`).
    pub candidates: Vec<OracleCandidate>,
    /// Name of the best candidate (highest mean goodput).
    pub best: Option<String>,
    /// Its mean goodput, requests/s.
    pub best_goodput: Option<f64>,
}

/// One oracle candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OracleCandidate {
    /// Directory name, `<ptp>x<dtp>`.
    pub name: String,
    /// Its planner-in-the-loop results.
    pub optimization: Optimization,
}

/// Whether two methods' 95% intervals of one metric overlap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Metric, e.g. `goodput` or `ttft_p50_error_pct@idle`.
    pub metric: String,
    /// First method.
    pub a: String,
    /// Second method.
    pub b: String,
    /// `distinguishable` or `not distinguishable`.
    pub verdict: String,
}

/// Which method to use for which need.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// Fewest GPU-hours (then shortest duration) among methods that did not fail.
    pub cheapest: Option<String>,
    /// Lowest mean |signed error| of the p50 predictions.
    pub most_accurate: Option<String>,
    /// Lowest regret (highest goodput without an oracle).
    pub best_goodput: Option<String>,
    /// Methods not dominated in (GPU-hours, regret), cheapest first.
    pub pareto_front: Vec<String>,
    /// The front's point closest to the origin, each axis divided by its largest value.
    pub best_tradeoff: Option<String>,
}

/// A value over seeds: the mean and, with two or more seeds, its 95% t-interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Mean over seeds (the value, with one seed).
    pub mean: f64,
    /// Seeds.
    pub n: u32,
    /// 95% confidence interval of the mean (t-distribution), when n >= 2.
    pub ci95: Option<[f64; 2]>,
}

impl Sample {
    /// The sample of `values` (None when empty; non-finite values are dropped).
    pub fn of(values: &[f64]) -> Option<Sample> {
        let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let ci95 = (values.len() >= 2).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            let half = t_975(values.len() - 1) * (var / n).sqrt();
            [mean - half, mean + half]
        });
        Some(Sample {
            mean,
            n: values.len() as u32,
            ci95,
        })
    }

    /// Whether both have intervals and the intervals overlap.
    pub fn overlaps(&self, other: &Sample) -> Option<bool> {
        let (a, b) = (self.ci95?, other.ci95?);
        Some(a[0] <= b[1] && b[0] <= a[1])
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            // Cornish-Fisher expansion around the normal quantile.
            let (z, d) = (1.959964_f64, df as f64);
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Writes comparison_results.json, summary.txt and the plots (PNG and SVG) into `dir`, each
/// atomically; returns the paths written.
pub fn write_reports(comparison: &Comparison, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let json_path = dir.join(json::FILE_NAME);
    crate::fsio::write_atomic(&json_path, json::to_json(comparison).as_bytes())?;
    written.push(json_path);
    let summary_path = dir.join(summary::FILE_NAME);
    crate::fsio::write_atomic(&summary_path, summary::render(comparison).as_bytes())?;
    written.push(summary_path);
    written.extend(plot::write_plots(comparison, dir)?);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_t_intervals_only_with_two_or_more_seeds() {
        let one = Sample::of(&[5.0]).unwrap();
        assert_eq!((one.mean, one.n, one.ci95), (5.0, 1, None));
        let three = Sample::of(&[1.0, 2.0, 3.0]).unwrap();
        let half = 4.303 * (1.0f64 / 3.0).sqrt();
        let ci = three.ci95.unwrap();
        assert!((ci[0] - (2.0 - half)).abs() < 1e-12 && (ci[1] - (2.0 + half)).abs() < 1e-12);
        assert_eq!(Sample::of(&[]), None);
        assert_eq!(one.overlaps(&three), None);
        let far = Sample::of(&[100.0, 101.0, 102.0]).unwrap();
        assert_eq!(three.overlaps(&far), Some(false));
        assert_eq!(three.overlaps(&three), Some(true));
    }

    #[test]
    fn t_quantiles_are_continuous_past_the_table() {
        assert!((t_975(31) - 2.040).abs() < 0.002);
        assert!((t_975(1000) - 1.962).abs() < 0.001);
    }
}
