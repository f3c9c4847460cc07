//! The comparison's data (what the compare stage computes and every report renders) and
//! `write_reports`, which writes comparison_results.json, summary.txt and the plots.
//!
//! Every measured or predicted number is an `Option`: a missing value is `null` in JSON and
//! "-" in text, never 0. Values measured over several seeds are a [`Sample`] (mean and a 95%
//! interval made for the quantity, see [`IntervalMethod`]); with one seed the interval is absent.
//! The per-seed values are kept beside the samples so that methods run on the same seeds can be
//! compared paired ([`Paired`]).

pub mod ensemble;
pub mod json;
pub mod plot;
pub mod summary;

use std::io;
use std::path::{Path, PathBuf};

use profcmp_plugin_api::Sla;
use serde::{Deserialize, Serialize};

use crate::predict::LevelPrediction;

/// Version of comparison_results.json; bump when a field changes meaning or is removed.
pub const SCHEMA_VERSION: u32 = 2;

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
    /// Pairwise "distinguishable / not distinguishable" verdicts from a paired test over the
    /// seeds both methods were measured on (only pairs with two or more such seeds).
    pub verdicts: Vec<Verdict>,
    /// Which method to use for which need, derived from the numbers.
    pub recommendations: Recommendations,
    /// Every file that was missing where expected, unreadable or corrupt, naming the file.
    pub warnings: Vec<String>,
    /// The settings the stages ran with (`results/run.json`), when recorded.
    #[serde(default)]
    pub run: Option<RunSettings>,
    /// The optimize stage's trace (`sinusoidal.jsonl`): its sha256 and statistics.
    #[serde(default)]
    pub trace: Option<TraceSummary>,
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

/// The trace a comparison's optimize stage replayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// File name in the results directory.
    pub file: String,
    /// sha256 of its bytes.
    pub sha256: String,
    /// What it holds.
    pub stats: crate::workload::TraceStats,
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
    /// Capacity B of the validated graph (its saturation concurrency) and how it was found
    /// (`measured` or `max_batch`), from `validation/capacity.json`.
    #[serde(default)]
    pub capacity_b: Option<u32>,
    /// `measured` (closed-loop sweep) or `max_batch` (`--max-batch`).
    #[serde(default)]
    pub capacity_source: Option<String>,
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
    /// Each seed's measurements, in seed order.
    #[serde(default)]
    pub per_seed: Vec<LevelSeed>,
}

/// One seed's measurements at a validate level (AIPerf summary).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LevelSeed {
    /// Seed index: 0 = the level directory's own files, k = its `seed-<k>/` (the run's seed + k).
    pub seed: u32,
    /// TTFT p50, ms.
    pub ttft_p50_ms: Option<f64>,
    /// TTFT p99, ms.
    pub ttft_p99_ms: Option<f64>,
    /// ITL p50, ms.
    pub itl_p50_ms: Option<f64>,
    /// ITL p99, ms.
    pub itl_p99_ms: Option<f64>,
    /// Goodput, requests/s.
    pub goodput: Option<f64>,
    /// Requests measured.
    pub requests: Option<f64>,
    /// Requests that met the SLA.
    pub good_requests: Option<f64>,
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
    /// Goodput regret: (oracle best goodput - goodput) / oracle best goodput x 100, per seed.
    pub regret_pct: Option<Sample>,
    /// Cost-aware regret: (oracle best goodput per GPU - goodput per GPU) / oracle best goodput
    /// per GPU x 100, per seed, against the candidate best on that measure.
    #[serde(default)]
    pub cost_regret_pct: Option<Sample>,
    /// Per-seed goodput difference to the method with the highest mean goodput (null for that
    /// method itself, and for oracle candidates).
    #[serde(default)]
    pub goodput_vs_best: Option<VsBest>,
    /// Per-seed goodput-per-GPU difference to the method with the highest mean goodput per GPU.
    #[serde(default)]
    pub goodput_per_gpu_vs_best: Option<VsBest>,
    /// Each seed's results, in seed order.
    #[serde(default)]
    pub per_seed: Vec<OptimizationSeed>,
    /// The planner that ran (Dynamo version and arguments), from the first seed's record.
    #[serde(default)]
    pub planner: Option<crate::layout::PlannerRan>,
    /// Cold start (1 prefill + 1 decode over the trace's first intervals): fraction of its
    /// requests meeting the SLA. Goodput above is measured from the warm start.
    #[serde(default)]
    pub cold_start_sla_hit_rate: Option<Sample>,
    /// Cold start: seconds until the planner first reached the warm start's replicas, over the
    /// seeds where it did.
    #[serde(default)]
    pub cold_start_settle_s: Option<Sample>,
    /// Cold start: seeds where the planner did not reach the warm start within the window.
    #[serde(default)]
    pub cold_start_unsettled: u32,
}

/// One seed's planner-in-the-loop result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OptimizationSeed {
    /// Seed index: 0 = the directory's own files, k = its `seed-<k>/` (the run's seed + k).
    pub seed: u32,
    /// Goodput, requests/s.
    pub goodput: f64,
    /// Goodput per time-averaged GPU (optimization.json only).
    pub goodput_per_gpu: Option<f64>,
    /// Time-averaged GPUs held (optimization.json only).
    pub avg_gpus: Option<f64>,
    /// Fraction of requests meeting the SLA.
    pub sla_hit_rate: Option<f64>,
    /// Requests measured (AIPerf summary).
    pub requests: Option<f64>,
    /// Requests that met the SLA (AIPerf summary).
    pub good_requests: Option<f64>,
    /// Goodput regret of this seed, %.
    pub regret_pct: Option<f64>,
    /// Cost-aware regret of this seed, %.
    pub cost_regret_pct: Option<f64>,
    /// Workers (prefill, decode) the measured run started with (the warm start).
    #[serde(default)]
    pub initial_replicas: Option<(u32, u32)>,
    /// Cold start: fraction of its requests meeting the SLA.
    #[serde(default)]
    pub cold_start_sla_hit_rate: Option<f64>,
    /// Cold start: requests that missed the SLA.
    #[serde(default)]
    pub cold_start_sla_misses: Option<u64>,
    /// Cold start: seconds until the planner reached the warm start (null: not within the window).
    #[serde(default)]
    pub cold_start_settle_s: Option<f64>,
}

/// A method's per-seed difference to the best method on one measure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VsBest {
    /// The best method (highest mean on the measure).
    pub best: String,
    /// This method minus the best, paired by seed.
    pub difference: Paired,
}

/// A paired comparison of a - b over the seeds both were measured on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The test: `paired_t` (Student's t on the per-seed differences, two-sided).
    pub test: String,
    /// Seeds both were measured on.
    pub seeds: u32,
    /// Mean of the per-seed differences a - b.
    pub mean_difference: f64,
    /// 95% t-interval of the mean difference (null with fewer than two seeds).
    pub ci95: Option<[f64; 2]>,
    /// Two-sided p-value of "no difference" (null with fewer than two seeds).
    pub p_value: Option<f64>,
    /// `distinguishable` when p < 0.05, else `not distinguishable` (null with fewer than two seeds).
    pub verdict: Option<String>,
}

impl Paired {
    /// The paired comparison of the seeds `a` and `b` share (None when they share none).
    pub fn of(a: &[(u32, f64)], b: &[(u32, f64)]) -> Option<Paired> {
        let (xs, ys): (Vec<f64>, Vec<f64>) = a
            .iter()
            .filter_map(|(seed, x)| Some((*x, b.iter().find(|(s, _)| s == seed)?.1)))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .unzip();
        let mean_difference = crate::stats::mean(&xs)? - crate::stats::mean(&ys)?;
        let test = crate::stats::paired_t(&xs, &ys);
        Some(Paired {
            test: crate::stats::PAIRED_TEST.into(),
            seeds: xs.len() as u32,
            mean_difference,
            ci95: test.map(|t| t.ci95),
            p_value: test.map(|t| t.p_value),
            verdict: test.map(|t| verdict_word(t.distinguishable()).into()),
        })
    }
}

fn verdict_word(distinguishable: bool) -> &'static str {
    if distinguishable {
        "distinguishable"
    } else {
        "not distinguishable"
    }
}

/// The oracle: the best candidate config measured under the same trace and planner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Oracle {
    /// Every candidate (`results/oracle/<ptp>x<dtp>/`).
    pub candidates: Vec<OracleCandidate>,
    /// Name of the best candidate on goodput (highest mean goodput).
    pub best: Option<String>,
    /// Its mean goodput, requests/s.
    pub best_goodput: Option<f64>,
    /// Name of the best candidate on goodput per GPU (the cost-aware regret's reference).
    #[serde(default)]
    pub best_per_gpu: Option<String>,
    /// Its mean goodput per time-averaged GPU, requests/s/GPU.
    #[serde(default)]
    pub best_goodput_per_gpu: Option<f64>,
}

/// One oracle candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OracleCandidate {
    /// Directory name, `<ptp>x<dtp>`.
    pub name: String,
    /// Its planner-in-the-loop results.
    pub optimization: Optimization,
}

/// Whether two methods differ on one metric, from a paired test over their common seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Metric, e.g. `goodput` or `ttft_p50_error_pct@idle`.
    pub metric: String,
    /// First method.
    pub a: String,
    /// Second method.
    pub b: String,
    /// `distinguishable` (paired test p < 0.05) or `not distinguishable`.
    pub verdict: String,
    /// a - b, paired by seed.
    pub difference: Paired,
}

/// Which method to use for which need.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recommendations {
    /// Fewest GPU-hours (then shortest duration) among methods that did not fail.
    pub cheapest: Option<String>,
    /// Lowest mean |signed error| of the p50 predictions.
    pub most_accurate: Option<String>,
    /// Lowest mean goodput regret (highest goodput without an oracle).
    pub best_goodput: Option<String>,
    /// Lowest mean cost-aware regret (highest goodput per GPU without an oracle): the best
    /// configuration for what it costs to serve.
    #[serde(default)]
    pub best_configuration: Option<String>,
    /// Which regret the Pareto front and trade-off use: `cost_aware` when any method has a
    /// cost-aware regret, else `goodput`.
    #[serde(default)]
    pub pareto_regret: Option<String>,
    /// Methods not dominated in (GPU-hours, regret), cheapest first.
    pub pareto_front: Vec<String>,
    /// The front's point closest to the origin, each axis divided by its largest value.
    pub best_tradeoff: Option<String>,
}

/// How a sample's 95% interval was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// Student's t interval of the mean (paired differences; [`Sample::of`]).
    StudentT,
    /// Percentile bootstrap of the mean over seeds (seeded): bounded quantities (goodput, GPUs,
    /// latency, regret, signed error) and proportions whose request counts are unknown; stays in
    /// the values' range.
    Bootstrap,
    /// Wilson score interval of the pooled proportion with an effective sample size from the
    /// seed-to-seed variance: proportions with request counts (SLA hit rate); within [0, 1].
    Wilson,
}

/// A value over seeds: the mean and, with two or more seeds, its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Mean over seeds (the value, with one seed).
    pub mean: f64,
    /// Seeds.
    pub n: u32,
    /// 95% confidence interval of the mean, when n >= 2.
    pub ci95: Option<[f64; 2]>,
    /// How the interval was made (null without one).
    #[serde(default)]
    pub ci95_method: Option<IntervalMethod>,
}

impl Sample {
    fn with(values: &[f64], interval: impl Fn(&[f64]) -> Option<[f64; 2]>, method: IntervalMethod) -> Option<Sample> {
        let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let mean = crate::stats::mean(&values)?;
        let ci95 = interval(&values);
        Some(Sample {
            mean,
            n: values.len() as u32,
            ci95,
            ci95_method: ci95.map(|_| method),
        })
    }

    /// A quantity with no natural bound (None when empty; non-finite values are dropped):
    /// Student-t interval.
    pub fn of(values: &[f64]) -> Option<Sample> {
        Sample::with(values, crate::stats::t_interval, IntervalMethod::StudentT)
    }

    /// A bounded quantity (goodput and GPUs >= 0, regret <= 100 %, signed error >= -100 %):
    /// bootstrap interval, never outside the values' range.
    pub fn in_range(values: &[f64]) -> Option<Sample> {
        Sample::with(values, crate::stats::bootstrap_interval, IntervalMethod::Bootstrap)
    }

    /// A proportion per seed. With every seed's `(successes, trials)` known, a Wilson interval
    /// (see [`crate::stats::clustered_wilson`]); else a bootstrap over the seeds' rates. The mean
    /// is the mean of the seeds' rates either way.
    pub fn proportion(rates: &[f64], counts: &[(f64, f64)]) -> Option<Sample> {
        let mut sample = Sample::in_range(rates)?;
        if sample.n >= 2 && counts.len() == sample.n as usize {
            if let Some(ci) = crate::stats::clustered_wilson(counts) {
                sample.ci95 = Some(ci);
                sample.ci95_method = Some(IntervalMethod::Wilson);
            }
        }
        Some(sample)
    }

    /// Whether both have intervals and the intervals overlap.
    pub fn overlaps(&self, other: &Sample) -> Option<bool> {
        let (a, b) = (self.ci95?, other.ci95?);
        Some(a[0] <= b[1] && b[0] <= a[1])
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
    fn samples_have_intervals_only_with_two_or_more_seeds() {
        let one = Sample::of(&[5.0]).unwrap();
        assert_eq!((one.mean, one.n, one.ci95, one.ci95_method), (5.0, 1, None, None));
        let three = Sample::of(&[1.0, 2.0, 3.0]).unwrap();
        let half = 4.302653 * (1.0f64 / 3.0).sqrt();
        let ci = three.ci95.unwrap();
        assert!((ci[0] - (2.0 - half)).abs() < 1e-5 && (ci[1] - (2.0 + half)).abs() < 1e-5);
        assert_eq!(three.ci95_method, Some(IntervalMethod::StudentT));
        assert_eq!(Sample::of(&[]), None);
        assert_eq!(one.overlaps(&three), None);
        let far = Sample::of(&[100.0, 101.0, 102.0]).unwrap();
        assert_eq!(three.overlaps(&far), Some(false));
        assert_eq!(three.overlaps(&three), Some(true));
    }

    #[test]
    fn rates_keep_their_range() {
        // Issue 15's K = 3 run: t-intervals gave goodput [-0.058, 0.200] and SLA hit [-1.2, 4.0] %.
        let goodput = Sample::in_range(&[0.0, 0.0, 0.2]).unwrap();
        assert_eq!(goodput.ci95, Some([0.0, 0.2]));
        assert_eq!(goodput.ci95_method, Some(IntervalMethod::Bootstrap));
        let rates = [0.0, 0.0, 0.04];
        let hit = Sample::proportion(&rates, &[]).unwrap();
        assert!(hit.ci95.unwrap()[0] >= 0.0);
        let counts = [(0.0, 1000.0), (0.0, 1000.0), (40.0, 1000.0)];
        let hit = Sample::proportion(&rates, &counts).unwrap();
        let [lo, hi] = hit.ci95.unwrap();
        assert_eq!(hit.ci95_method, Some(IntervalMethod::Wilson));
        assert!(0.0 <= lo && lo <= hit.mean && hit.mean <= hi && hi <= 1.0, "{hit:?}");
        // A single seed has no interval, counts or not.
        assert_eq!(Sample::proportion(&[0.5], &[(5.0, 10.0)]).unwrap().ci95, None);
    }

    #[test]
    fn schema_1_samples_still_read() {
        let s: Sample = serde_json::from_str(r#"{"mean": 1.5, "n": 2, "ci95": [1.0, 2.0]}"#).unwrap();
        assert_eq!((s.ci95, s.ci95_method), (Some([1.0, 2.0]), None));
        let o: Optimization = serde_json::from_str(
            r#"{"seeds": 0, "prefill_tp": null, "decode_tp": null, "goodput": null, "goodput_per_gpu": null,
                "avg_gpus": null, "sla_hit_rate": null, "regret_pct": null}"#,
        )
        .unwrap();
        assert!(o.per_seed.is_empty() && o.cost_regret_pct.is_none());
    }

    #[test]
    fn pairs_by_seed_not_by_position() {
        let a = [(0, 10.0), (1, 12.0), (2, 11.0)];
        let b = [(2, 10.5), (0, 9.5), (1, 11.5), (7, 100.0)];
        let p = Paired::of(&a, &b).unwrap();
        assert_eq!(
            (p.seeds, p.p_value, p.verdict.as_deref()),
            (3, Some(0.0), Some("distinguishable"))
        );
        assert!((p.mean_difference - 0.5).abs() < 1e-12);
        let lone = Paired::of(&a[..1], &b).unwrap();
        assert_eq!((lone.seeds, lone.ci95, lone.verdict), (1, None, None));
        assert_eq!(Paired::of(&a, &[(9, 1.0)]), None);
    }
}
