//! The compare stage: reads every method directory of a results dir and computes cost,
//! predictive accuracy per load level and optimization accuracy (regret against the oracle).
//!
//! It never fails as a whole: each missing-where-expected, unreadable or corrupt file becomes
//! one warning naming the file, and everything else is still compared. Inputs per method:
//! - `profile.json` (config, predictions, ledger, the method's own cost); without it the config
//!   and profile data come from `config_with_planner.yaml` and the cost is "not recorded";
//! - `validation/<level>/[seed-<k>/]`: AIPerf summary and `validation.json` (optional); a level's
//!   concurrency comes from validation.json, else AIPerf's `input_config.loadgen.concurrency`,
//!   else another method's measurement of that level, else the options' defaults (1/4/7/8);
//! - `optimization/[seed-<k>/]`: `optimization.json` and/or the AIPerf summary;
//! - `results/oracle/*/optimization/[seed-<k>/]`: the oracle's candidates, for regret.

use std::path::{Path, PathBuf};

use profcmp_plugin_api::{LoadPrediction, PlannerProfile, Sla};

use crate::aiperf::{Summary, SUMMARY_JSON};
use crate::dynamo::read_profile_data;
use crate::layout::{read_json, OptimizationRecord, ProfileRecord, ResultsDir, ValidationRecord, LEVELS};
use crate::predict::predict_at;
use crate::report::{
    Comparison, ConcurrencySource, Cost, LevelComparison, LevelErrors, MethodComparison, MethodStatus, Optimization,
    Oracle, OracleCandidate, Recommendations, ReportedCost, Sample, Verdict, SCHEMA_VERSION,
};

/// What to compare and the defaults for what the results do not say.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareOptions {
    /// SLA and request shape (a method's profile.json request overrides ISL/OSL for its predictions).
    pub sla: Sla,
    /// Concurrency of each level when nothing in the results says it.
    pub default_concurrency: [u32; 4],
    /// Only these methods (all method directories when `None`).
    pub methods: Option<Vec<String>>,
}

impl Default for CompareOptions {
    /// The reference comparison: ISL 2048, OSL 256, TTFT 500 ms, ITL 50 ms, levels 1/4/7/8.
    fn default() -> Self {
        CompareOptions {
            sla: Sla {
                isl: 2048,
                osl: 256,
                ttft_ms: 500.0,
                itl_ms: 50.0,
            },
            default_concurrency: [1, 4, 7, 8],
            methods: None,
        }
    }
}

/// Compares every method of `results`; problems become warnings, never an error.
pub fn compare(results: &ResultsDir, options: &CompareOptions) -> Comparison {
    let mut warnings = Vec::new();
    let names = results.methods().unwrap_or_else(|e| {
        warnings.push(format!(
            "{}: cannot list method directories: {e}",
            results.root.display()
        ));
        Vec::new()
    });
    let mut inputs = Vec::new();
    for name in names {
        if options.methods.as_ref().is_some_and(|only| !only.contains(&name)) {
            continue;
        }
        if !is_method_dir(&results.method(&name)) {
            warnings.push(format!(
                "{}: no profile.json, config_with_planner.yaml, validation/ or optimization/; not a method, skipped",
                results.method(&name).display()
            ));
            continue;
        }
        inputs.push(read_method(results, &name, options, &mut warnings));
    }
    let common = common_concurrency(&inputs, options, &mut warnings);
    let oracle = read_oracle(results, &mut warnings);
    let best = oracle.as_ref().and_then(|o| o.best_goodput);
    if best.is_some_and(|b| b <= 0.0) {
        warnings.push(format!(
            "{}: the best oracle goodput is 0; regret is undefined",
            results.root.join("oracle").display()
        ));
    }
    let methods: Vec<MethodComparison> = inputs.into_iter().map(|m| build_method(m, &common, best)).collect();
    // Files are named relative to the results directory, which the report names once.
    let prefix = format!("{}/", results.root.display());
    let warnings = warnings.into_iter().map(|w| w.replace(&prefix, "")).collect();
    Comparison {
        schema_version: SCHEMA_VERSION,
        results_dir: results.root.display().to_string(),
        sla: options.sla,
        verdicts: verdicts(&methods),
        recommendations: recommend(&methods),
        methods,
        oracle,
        warnings,
        run: None,
    }
}

/// (predicted - measured) / measured x 100.
pub fn signed_error(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured * 100.0
}

/// Everything read for one method before the metrics are computed.
struct MethodInput {
    name: String,
    status: MethodStatus,
    error: Option<String>,
    profile_source: Option<String>,
    profile: Option<PlannerProfile>,
    explicit: Vec<LoadPrediction>,
    prefill_tp: Option<u32>,
    decode_tp: Option<u32>,
    isl: u32,
    osl: u32,
    cost: Cost,
    levels: Vec<LevelInput>,
    optimization: Optimization,
    goodputs: Vec<f64>,
    notes: Vec<String>,
}

/// One level's measurements, one run per seed.
#[derive(Default)]
struct LevelInput {
    concurrency: Option<(u32, ConcurrencySource)>,
    runs: Vec<LevelRun>,
}

/// One seed's measured values at a level.
#[derive(Default)]
struct LevelRun {
    ttft_p50: Option<f64>,
    ttft_p99: Option<f64>,
    itl_p50: Option<f64>,
    itl_p99: Option<f64>,
    goodput: Option<f64>,
    hit_rate: Option<f64>,
}

fn is_method_dir(dir: &Path) -> bool {
    [
        "profile.json",
        "config_with_planner.yaml",
        "validation",
        "optimization",
        "profile.log",
    ]
    .iter()
    .any(|f| dir.join(f).exists())
}

fn read_method(results: &ResultsDir, name: &str, options: &CompareOptions, warnings: &mut Vec<String>) -> MethodInput {
    let mut m = MethodInput {
        name: name.to_string(),
        status: MethodStatus::NoProfile,
        error: None,
        profile_source: None,
        profile: None,
        explicit: Vec::new(),
        prefill_tp: None,
        decode_tp: None,
        isl: options.sla.isl,
        osl: options.sla.osl,
        cost: Cost::default(),
        levels: Vec::new(),
        optimization: Optimization::default(),
        goodputs: Vec::new(),
        notes: Vec::new(),
    };
    let profile_json = results.profile_json(name);
    let record = if profile_json.exists() {
        read_json::<ProfileRecord>(&profile_json)
            .map_err(|e| warnings.push(e))
            .ok()
    } else {
        None
    };
    match &record {
        Some(record) => {
            m.cost = cost(record);
            m.isl = record.request.sla.isl;
            m.osl = record.request.sla.osl;
            if let Some(error) = &record.error {
                m.status = MethodStatus::Failed;
                m.error = Some(error.clone());
            } else if let Some(result) = &record.result {
                m.status = MethodStatus::Ok;
                m.profile_source = Some("profile.json".into());
                m.profile = Some(result.profile_data.clone());
                m.explicit = result.load_predictions.clone();
                m.prefill_tp = Some(result.prefill.tp);
                m.decode_tp = Some(result.decode.tp);
            } else {
                m.status = MethodStatus::Failed;
                m.error = Some("profile.json records neither a result nor an error".into());
            }
        }
        None => m.notes.push("cost not recorded (no readable profile.json)".into()),
    }
    if m.profile.is_none() && m.status != MethodStatus::Failed {
        read_yaml(results, &mut m, warnings);
    }
    read_validation(results, &mut m, warnings);
    let optimization = results.optimization(name);
    if optimization.is_dir() {
        let (opt, goodputs) = read_optimization(&optimization, warnings);
        m.optimization = opt;
        m.goodputs = goodputs;
    } else {
        m.notes.push("optimization/: not measured".into());
    }
    m
}

fn read_yaml(results: &ResultsDir, m: &mut MethodInput, warnings: &mut Vec<String>) {
    let path = results.config_with_planner(&m.name);
    if !path.exists() {
        m.notes.push(
            "no profile data (no profile.json result, no config_with_planner.yaml): predictions not available".into(),
        );
        return;
    }
    let data = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}: {e}", path.display()))
        .and_then(|text| read_profile_data(&text).map_err(|e| format!("{}: {e}", path.display())));
    match data {
        Ok(data) => {
            warnings.extend(data.notes.iter().map(|n| format!("{}: {n}", path.display())));
            m.status = MethodStatus::Ok;
            m.profile_source = Some("config_with_planner.yaml".into());
            m.profile = Some(data.profile);
            m.prefill_tp = Some(data.prefill_tp);
            m.decode_tp = Some(data.decode_tp);
        }
        Err(e) => warnings.push(e),
    }
}

pub(crate) fn cost(record: &ProfileRecord) -> Cost {
    let ledger = &record.ledger;
    let reported = record.method_cost.as_ref().map(|c| ReportedCost {
        duration_s: c.duration_s,
        gpu_hours: c.gpu_hours,
        deployments: c.deployments,
        estimate_calls: c.estimate_calls,
    });
    let mut mismatches = Vec::new();
    if let Some(r) = &reported {
        let differ = |a: f64, b: f64, floor: f64| (a - b).abs() > floor.max(0.05 * a.abs().max(b.abs()));
        // Like with like: a method may account for everything (as the host meters) or for
        // measurement time only (as the SDK's session does, the host keeps that account too);
        // only a report matching neither is a discrepancy.
        let metered_only = ledger.measured_s > 0.0 || ledger.measured_gpu_hours > 0.0;
        if differ(ledger.duration_s, r.duration_s, 1.0) && !(metered_only && !differ(ledger.measured_s, r.duration_s, 1.0)) {
            mismatches.push(format!(
                "duration: metered {:.1} s ({:.1} s measuring), reported {:.1} s",
                ledger.duration_s, ledger.measured_s, r.duration_s
            ));
        }
        if differ(ledger.gpu_hours, r.gpu_hours, 0.001)
            && !(metered_only && !differ(ledger.measured_gpu_hours, r.gpu_hours, 0.001))
        {
            mismatches.push(format!(
                "GPU-hours: metered {:.3} ({:.3} measuring), reported {:.3}",
                ledger.gpu_hours, ledger.measured_gpu_hours, r.gpu_hours
            ));
        }
        if ledger.deployments != r.deployments {
            mismatches.push(format!(
                "deployments: metered {}, reported {}",
                ledger.deployments, r.deployments
            ));
        }
        if ledger.estimate_calls != r.estimate_calls {
            mismatches.push(format!(
                "estimate calls: metered {}, reported {}",
                ledger.estimate_calls, r.estimate_calls
            ));
        }
    }
    Cost {
        recorded: true,
        duration_s: Some(ledger.duration_s),
        cpu_s: Some(ledger.cpu_s),
        gpu_hours: Some(ledger.gpu_hours),
        deployments: Some(ledger.deployments),
        estimate_calls: Some(ledger.estimate_calls),
        mismatch: reported.as_ref().map(|_| !mismatches.is_empty()),
        reported,
        mismatches,
    }
}

fn read_validation(results: &ResultsDir, m: &mut MethodInput, warnings: &mut Vec<String>) {
    let root = results.method(&m.name).join("validation");
    if !root.is_dir() {
        m.notes.push("validation/: not measured".into());
        m.levels = LEVELS.iter().map(|_| LevelInput::default()).collect();
        return;
    }
    for level in LEVELS {
        let dir = results.validation(&m.name, level);
        let mut input = LevelInput::default();
        if !dir.is_dir() {
            m.notes.push(format!("validation/{level}/: not measured"));
        }
        for seed_dir in seed_dirs(&dir).iter().filter(|d| d.is_dir()) {
            let (run, concurrency) = read_level_run(seed_dir, warnings);
            input.concurrency = input.concurrency.or(concurrency);
            input.runs.extend(run);
        }
        m.levels.push(input);
    }
}

/// The runs of a measurement directory: `dir` itself (the first seed, as the validate and
/// optimize stages write it) when it holds results or has no `seed-<k>/` subdirectories, then
/// the `seed-<k>/` subdirectories in seed order.
fn seed_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut seeds: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let k = entry
                .file_name()
                .to_string_lossy()
                .strip_prefix("seed-")?
                .parse()
                .ok()?;
            entry.path().is_dir().then(|| (k, entry.path()))
        })
        .collect();
    seeds.sort();
    let own = [SUMMARY_JSON, "validation.json", "optimization.json"]
        .iter()
        .any(|f| dir.join(f).exists());
    let mut runs = Vec::new();
    if own || seeds.is_empty() {
        runs.push(dir.to_path_buf());
    }
    runs.extend(seeds.into_iter().map(|(_, p)| p));
    runs
}

fn read_summary(dir: &Path, warnings: &mut Vec<String>) -> Option<Summary> {
    if !dir.join(SUMMARY_JSON).exists() {
        warnings.push(format!("{}: missing", dir.join(SUMMARY_JSON).display()));
        return None;
    }
    Summary::read_dir(dir).map_err(|e| warnings.push(e)).ok()
}

fn hit_rate(summary: &Summary) -> Option<f64> {
    let requests = summary.value("request_count").filter(|n| *n > 0.0)?;
    Some(summary.value("good_request_count")? / requests)
}

fn read_level_run(dir: &Path, warnings: &mut Vec<String>) -> (Option<LevelRun>, Option<(u32, ConcurrencySource)>) {
    let record_path = dir.join("validation.json");
    let record = if record_path.exists() {
        read_json::<ValidationRecord>(&record_path)
            .map_err(|e| warnings.push(e))
            .ok()
    } else {
        None
    };
    let summary = read_summary(dir, warnings);
    let from_input = summary
        .as_ref()
        .and_then(|s| s.input_config["loadgen"]["concurrency"].as_u64());
    let concurrency = match (&record, from_input) {
        (Some(r), _) => Some((r.concurrency, ConcurrencySource::ValidationJson)),
        (None, Some(c)) => u32::try_from(c).ok().map(|c| (c, ConcurrencySource::AiperfInputConfig)),
        (None, None) => None,
    };
    let run = summary.map(|s| {
        let p99 = |name: &str| s.metric(name).and_then(|m| m.p99);
        LevelRun {
            ttft_p50: s.p50("time_to_first_token"),
            ttft_p99: p99("time_to_first_token"),
            itl_p50: s.p50("inter_token_latency"),
            itl_p99: p99("inter_token_latency"),
            goodput: s.value("goodput"),
            hit_rate: hit_rate(&s),
        }
    });
    (run, concurrency)
}

/// Reads an optimization directory (seeds included); also returns the goodput of each seed.
fn read_optimization(dir: &Path, warnings: &mut Vec<String>) -> (Optimization, Vec<f64>) {
    let mut opt = Optimization::default();
    let (mut goodput, mut per_gpu, mut gpus, mut hit) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for seed_dir in seed_dirs(dir) {
        let record_path = seed_dir.join("optimization.json");
        let has_summary = seed_dir.join(SUMMARY_JSON).exists();
        let record = if record_path.exists() {
            read_json::<OptimizationRecord>(&record_path)
                .map_err(|e| warnings.push(e))
                .ok()
        } else {
            None
        };
        let summary = if has_summary || !record_path.exists() {
            read_summary(&seed_dir, warnings)
        } else {
            None
        };
        let seed_goodput = record
            .as_ref()
            .map(|r| r.goodput)
            .or_else(|| summary.as_ref()?.value("goodput"));
        let Some(g) = seed_goodput else { continue };
        opt.seeds += 1;
        goodput.push(g);
        if let Some(r) = &record {
            per_gpu.push(r.goodput_per_gpu);
            gpus.push(r.avg_gpus);
            hit.push(r.sla_hit_rate);
            opt.prefill_tp = opt.prefill_tp.or(Some(r.prefill_tp));
            opt.decode_tp = opt.decode_tp.or(Some(r.decode_tp));
        } else if let Some(h) = summary.as_ref().and_then(hit_rate) {
            hit.push(h);
        }
    }
    opt.goodput = Sample::of(&goodput);
    opt.goodput_per_gpu = Sample::of(&per_gpu);
    opt.avg_gpus = Sample::of(&gpus);
    opt.sla_hit_rate = Sample::of(&hit);
    (opt, goodput)
}

fn read_oracle(results: &ResultsDir, warnings: &mut Vec<String>) -> Option<Oracle> {
    let root = results.root.join("oracle");
    let entries = std::fs::read_dir(&root).ok()?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    let mut candidates = Vec::new();
    let mut goodputs = Vec::new();
    for name in names {
        let dir = root.join(&name).join("optimization");
        if !dir.is_dir() {
            warnings.push(format!("{}: missing", dir.display()));
            continue;
        }
        let (mut optimization, seeds) = read_optimization(&dir, warnings);
        if let Some((p, d)) = name.split_once('x') {
            optimization.prefill_tp = optimization.prefill_tp.or(p.parse().ok());
            optimization.decode_tp = optimization.decode_tp.or(d.parse().ok());
        }
        candidates.push(OracleCandidate { name, optimization });
        goodputs.push(seeds);
    }
    let best = candidates
        .iter()
        .filter_map(|c| Some((c.name.clone(), c.optimization.goodput?.mean)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((_, g)) = best.as_ref().filter(|b| b.1 > 0.0) {
        for (candidate, seeds) in candidates.iter_mut().zip(&goodputs) {
            candidate.optimization.regret_pct = regret(seeds, *g);
        }
    }
    Some(Oracle {
        best_goodput: best.as_ref().map(|b| b.1),
        best: best.map(|b| b.0),
        candidates,
    })
}

/// Regret % of each seed's goodput against the oracle's best goodput `best` (> 0).
fn regret(goodputs: &[f64], best: f64) -> Option<Sample> {
    Sample::of(&goodputs.iter().map(|g| (best - g) / best * 100.0).collect::<Vec<_>>())
}

/// The concurrency of each level shared by the methods: the first one measured, else the default.
fn common_concurrency(
    inputs: &[MethodInput],
    options: &CompareOptions,
    warnings: &mut Vec<String>,
) -> [(u32, ConcurrencySource); 4] {
    let mut common = [(0, ConcurrencySource::Default); 4];
    for (i, level) in LEVELS.iter().enumerate() {
        let mut first: Option<(u32, &str)> = None;
        for m in inputs {
            let Some((c, _)) = m.levels.get(i).and_then(|l| l.concurrency) else {
                continue;
            };
            match first {
                None => first = Some((c, &m.name)),
                Some((c0, m0)) if c0 != c => warnings.push(format!(
                    "{level}: {m0} was measured at concurrency {c0} and {} at {c}; the levels are not comparable",
                    m.name
                )),
                Some(_) => {}
            }
        }
        common[i] = match first {
            Some((c, _)) => (c, ConcurrencySource::OtherMethod),
            None => (options.default_concurrency[i], ConcurrencySource::Default),
        };
    }
    common
}

fn build_method(m: MethodInput, common: &[(u32, ConcurrencySource); 4], best: Option<f64>) -> MethodComparison {
    let mut levels = Vec::new();
    for (i, level) in LEVELS.iter().enumerate() {
        let input = m.levels.get(i);
        let (concurrency, concurrency_source) = input.and_then(|l| l.concurrency).unwrap_or(common[i]);
        let runs: &[LevelRun] = input.map(|l| l.runs.as_slice()).unwrap_or_default();
        let predicted = m
            .profile
            .as_ref()
            .map(|p| predict_at(p, &m.explicit, concurrency, m.isl, m.osl));
        let measured = |f: fn(&LevelRun) -> Option<f64>| Sample::of(&runs.iter().filter_map(f).collect::<Vec<_>>());
        let error = |pred: Option<f64>, f: fn(&LevelRun) -> Option<f64>| {
            let pred = pred?;
            Sample::of(
                &runs
                    .iter()
                    .filter_map(f)
                    .filter(|v| *v > 0.0)
                    .map(|v| signed_error(pred, v))
                    .collect::<Vec<_>>(),
            )
        };
        let (pt, pi) = (predicted.and_then(|p| p.ttft_ms), predicted.and_then(|p| p.itl_ms));
        levels.push(LevelComparison {
            level: level.to_string(),
            concurrency,
            concurrency_source,
            seeds: runs.len() as u32,
            predicted,
            ttft_p50_ms: measured(|r| r.ttft_p50),
            ttft_p99_ms: measured(|r| r.ttft_p99),
            itl_p50_ms: measured(|r| r.itl_p50),
            itl_p99_ms: measured(|r| r.itl_p99),
            goodput: measured(|r| r.goodput),
            sla_hit_rate: measured(|r| r.hit_rate),
            error_pct: LevelErrors {
                ttft_p50: error(pt, |r| r.ttft_p50),
                ttft_p99: error(pt, |r| r.ttft_p99),
                itl_p50: error(pi, |r| r.itl_p50),
                itl_p99: error(pi, |r| r.itl_p99),
            },
        });
    }
    let abs_errors: Vec<f64> = levels
        .iter()
        .flat_map(|l| [l.error_pct.ttft_p50, l.error_pct.itl_p50])
        .flatten()
        .map(|s| s.mean.abs())
        .collect();
    let mut optimization = m.optimization;
    if let Some(best) = best.filter(|b| *b > 0.0) {
        optimization.regret_pct = regret(&m.goodputs, best);
    }
    MethodComparison {
        method: m.name,
        status: m.status,
        error: m.error,
        profile_source: m.profile_source,
        prefill_tp: m.prefill_tp,
        decode_tp: m.decode_tp,
        cost: m.cost,
        levels,
        mean_abs_error_pct: Sample::of(&abs_errors).map(|s| s.mean),
        optimization,
        notes: m.notes,
    }
}

fn verdicts(methods: &[MethodComparison]) -> Vec<Verdict> {
    let mut metrics: Vec<(String, Vec<Option<Sample>>)> = vec![(
        "goodput".into(),
        methods.iter().map(|m| m.optimization.goodput).collect(),
    )];
    for (i, level) in LEVELS.iter().enumerate() {
        let at = |f: fn(&LevelErrors) -> Option<Sample>| {
            methods
                .iter()
                .map(|m| m.levels.get(i).and_then(|l| f(&l.error_pct)))
                .collect()
        };
        metrics.push((format!("ttft_p50_error_pct@{level}"), at(|e| e.ttft_p50)));
        metrics.push((format!("itl_p50_error_pct@{level}"), at(|e| e.itl_p50)));
    }
    let mut out = Vec::new();
    for (metric, samples) in metrics {
        for a in 0..methods.len() {
            for b in a + 1..methods.len() {
                let overlap = samples[a].zip(samples[b]).and_then(|(x, y)| x.overlaps(&y));
                if let Some(overlap) = overlap {
                    out.push(Verdict {
                        metric: metric.clone(),
                        a: methods[a].method.clone(),
                        b: methods[b].method.clone(),
                        verdict: if overlap {
                            "not distinguishable"
                        } else {
                            "distinguishable"
                        }
                        .into(),
                    });
                }
            }
        }
    }
    out
}

fn recommend(methods: &[MethodComparison]) -> Recommendations {
    let usable: Vec<&MethodComparison> = methods.iter().filter(|m| m.status != MethodStatus::Failed).collect();
    let min_by = |key: &dyn Fn(&MethodComparison) -> Option<(f64, f64)>| {
        usable
            .iter()
            .filter_map(|m| Some((m.method.clone(), key(m)?)))
            .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(a.1 .1.total_cmp(&b.1 .1)))
            .map(|(name, _)| name)
    };
    let cheapest = min_by(&|m| Some((m.cost.gpu_hours?, m.cost.duration_s.unwrap_or(f64::INFINITY))));
    let most_accurate = min_by(&|m| Some((m.mean_abs_error_pct?, 0.0)));
    let any_regret = usable.iter().any(|m| m.optimization.regret_pct.is_some());
    let best_goodput = if any_regret {
        min_by(&|m| Some((m.optimization.regret_pct?.mean, 0.0)))
    } else {
        min_by(&|m| Some((-m.optimization.goodput?.mean, 0.0)))
    };
    let points: Vec<(&str, f64, f64)> = usable
        .iter()
        .filter_map(|m| Some((m.method.as_str(), m.cost.gpu_hours?, m.optimization.regret_pct?.mean)))
        .collect();
    let mut front: Vec<(&str, f64, f64)> = points
        .iter()
        .copied()
        .filter(|p| {
            !points
                .iter()
                .any(|q| q.1 <= p.1 && q.2 <= p.2 && (q.1 < p.1 || q.2 < p.2))
        })
        .collect();
    front.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.2.total_cmp(&b.2)));
    let scale = |v: f64, max: f64| if max > 0.0 { v / max } else { 0.0 };
    let max_cost = front.iter().map(|p| p.1.abs()).fold(0.0, f64::max);
    let max_regret = front.iter().map(|p| p.2.abs()).fold(0.0, f64::max);
    let best_tradeoff = front
        .iter()
        .min_by(|a, b| {
            let score = |p: &(&str, f64, f64)| scale(p.1, max_cost) + scale(p.2, max_regret);
            score(a).total_cmp(&score(b))
        })
        .map(|p| p.0.to_string());
    Recommendations {
        cheapest,
        most_accurate,
        best_goodput,
        pareto_front: front.iter().map(|p| p.0.to_string()).collect(),
        best_tradeoff,
    }
}
#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
