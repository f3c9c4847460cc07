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
    Comparison, ConcurrencySource, Cost, LevelComparison, LevelErrors, LevelSeed, MethodComparison, MethodStatus,
    Optimization, OptimizationSeed, Oracle, OracleCandidate, Paired, Recommendations, ReportedCost, Sample,
    TraceSummary, Verdict, VsBest, SCHEMA_VERSION,
};
use crate::stage::validate::{CapacityRecord, CAPACITY_JSON};

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
            sla: Sla::new(2048, 256, 500.0, 50.0),
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
    let best = oracle.as_ref().map(best_of).unwrap_or_default();
    for (value, what) in [(best.goodput.mean, "goodput"), (best.per_gpu.mean, "goodput per GPU")] {
        if value.is_some_and(|b| b <= 0.0) {
            warnings.push(format!(
                "{}: the best oracle {what} is 0; its regret is undefined",
                results.root.join("oracle").display()
            ));
        }
    }
    let mut methods: Vec<MethodComparison> = inputs.into_iter().map(|m| build_method(m, &common, &best)).collect();
    differences_to_best(&mut methods);
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
        trace: trace_summary(results),
    }
}

/// The optimize stage's trace, if the results hold one.
fn trace_summary(results: &ResultsDir) -> Option<TraceSummary> {
    let path = results.trace();
    let bytes = std::fs::read(&path).ok()?;
    let trace = crate::workload::parse_mooncake(&String::from_utf8_lossy(&bytes), &path.display().to_string()).ok()?;
    Some(TraceSummary {
        file: path.file_name()?.to_string_lossy().into_owned(),
        sha256: crate::fsio::sha256_hex(&bytes),
        stats: crate::workload::TraceStats::of(&trace)?,
    })
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
    capacity: Option<CapacityRecord>,
    notes: Vec<String>,
}

/// Each regret's reference: the oracle's best candidate on goodput and on goodput per GPU.
#[derive(Clone, Default)]
struct Best {
    goodput: Reference,
    per_gpu: Reference,
}

/// One best candidate's values: its mean and each seed's value.
#[derive(Clone, Default)]
struct Reference {
    mean: Option<f64>,
    per_seed: Vec<(u32, f64)>,
}

impl Reference {
    /// The value to compare a run of `seed` with: the best candidate on the same seed (the same
    /// trace), else its mean over seeds.
    fn at(&self, seed: u32) -> Option<f64> {
        self.per_seed
            .iter()
            .find(|(s, _)| *s == seed)
            .map(|(_, v)| *v)
            .or(self.mean)
    }
}

/// The references of an oracle whose bests are already chosen.
fn best_of(oracle: &Oracle) -> Best {
    let reference = |name: &Option<String>, f: fn(&OptimizationSeed) -> Option<f64>| {
        let Some(c) = oracle.candidates.iter().find(|c| Some(&c.name) == name.as_ref()) else {
            return Reference::default();
        };
        let per_seed: Vec<(u32, f64)> = c
            .optimization
            .per_seed
            .iter()
            .filter_map(|s| Some((s.seed, f(s)?)))
            .collect();
        let values: Vec<f64> = per_seed.iter().map(|p| p.1).collect();
        Reference {
            mean: crate::stats::mean(&values),
            per_seed,
        }
    };
    Best {
        goodput: reference(&oracle.best, |s| Some(s.goodput)),
        per_gpu: reference(&oracle.best_per_gpu, |s| s.goodput_per_gpu),
    }
}

/// One level's measurements, one run per seed.
#[derive(Default)]
struct LevelInput {
    concurrency: Option<(u32, ConcurrencySource)>,
    runs: Vec<LevelSeed>,
}

fn is_method_dir(dir: &Path) -> bool {
    [
        "profile.json",
        "config_with_planner.yaml",
        "validation",
        "optimization",
        "profile_sla.log",
        // The name before profcmp took the seed's (and Dynamo's) file name.
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
        capacity: None,
        notes: Vec::new(),
    };
    let profile_json = results.profile_json(name);
    let record = if profile_json.exists() {
        read_json::<ProfileRecord>(&profile_json)
            .map_err(|e| warnings.push(e.to_string()))
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
    let capacity_path = results.method(name).join("validation").join(CAPACITY_JSON);
    if capacity_path.exists() {
        m.capacity = read_json::<CapacityRecord>(&capacity_path)
            .map_err(|e| warnings.push(e.to_string()))
            .ok();
    }
    let optimization = results.optimization(name);
    if optimization.is_dir() {
        m.optimization = read_optimization(&optimization, warnings);
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
        if differ(ledger.duration_s, r.duration_s, 1.0)
            && (!metered_only || differ(ledger.measured_s, r.duration_s, 1.0))
        {
            mismatches.push(format!(
                "duration: metered {:.1} s ({:.1} s measuring), reported {:.1} s",
                ledger.duration_s, ledger.measured_s, r.duration_s
            ));
        }
        if differ(ledger.gpu_hours, r.gpu_hours, 0.001)
            && (!metered_only || differ(ledger.measured_gpu_hours, r.gpu_hours, 0.001))
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
        for (seed, seed_dir) in seed_dirs(&dir).iter().filter(|d| d.1.is_dir()) {
            let (run, concurrency) = read_level_run(*seed, seed_dir, warnings);
            input.concurrency = input.concurrency.or(concurrency);
            input.runs.extend(run);
        }
        m.levels.push(input);
    }
}

/// The runs of a measurement directory with their seed index: `dir` itself (seed 0, as the
/// validate and optimize stages write it) when it holds results or has no `seed-<k>/`
/// subdirectories, then the `seed-<k>/` subdirectories (seed k) in seed order. Methods are
/// paired by this index: the run stage gives every method seed `--seed + k` in `seed-<k>/`.
fn seed_dirs(dir: &Path) -> Vec<(u32, PathBuf)> {
    let seeds = crate::layout::numbered_subdirs(dir, "seed-");
    let own = [SUMMARY_JSON, "validation.json", "optimization.json"]
        .iter()
        .any(|f| dir.join(f).exists());
    let mut runs = Vec::new();
    if own || seeds.is_empty() {
        runs.push((0, dir.to_path_buf()));
    }
    runs.extend(seeds);
    runs
}

fn read_summary(dir: &Path, warnings: &mut Vec<String>) -> Option<Summary> {
    if !dir.join(SUMMARY_JSON).exists() {
        warnings.push(format!("{}: missing", dir.join(SUMMARY_JSON).display()));
        return None;
    }
    Summary::read_dir(dir).map_err(|e| warnings.push(e.to_string())).ok()
}

/// (good requests, requests) of a summary, when both are recorded and there were requests.
fn counts(summary: &Summary) -> Option<(f64, f64)> {
    let requests = summary.value("request_count").filter(|n| *n > 0.0)?;
    Some((summary.value("good_request_count")?, requests))
}

fn hit_rate(run: &LevelSeed) -> Option<f64> {
    Some(run.good_requests? / run.requests.filter(|n| *n > 0.0)?)
}

fn read_level_run(
    seed: u32,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> (Option<LevelSeed>, Option<(u32, ConcurrencySource)>) {
    let record_path = dir.join("validation.json");
    let record = if record_path.exists() {
        read_json::<ValidationRecord>(&record_path)
            .map_err(|e| warnings.push(e.to_string()))
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
        let counts = counts(&s);
        LevelSeed {
            seed,
            ttft_p50_ms: s.p50("time_to_first_token"),
            ttft_p99_ms: p99("time_to_first_token"),
            itl_p50_ms: s.p50("inter_token_latency"),
            itl_p99_ms: p99("inter_token_latency"),
            goodput: s.value("goodput"),
            requests: counts.map(|c| c.1),
            good_requests: counts.map(|c| c.0),
        }
    });
    (run, concurrency)
}

/// Reads an optimization directory, one [`OptimizationSeed`] per seed; the samples are filled by
/// [`summarise`] (regret needs the oracle's best first).
fn read_optimization(dir: &Path, warnings: &mut Vec<String>) -> Optimization {
    let mut opt = Optimization::default();
    for (seed, seed_dir) in seed_dirs(dir) {
        let record_path = seed_dir.join("optimization.json");
        let record = if record_path.exists() {
            read_json::<OptimizationRecord>(&record_path)
                .map_err(|e| warnings.push(e.to_string()))
                .ok()
        } else {
            None
        };
        // The optimize stage writes the AIPerf summary beside optimization.json: it has the
        // request counts (for the SLA hit rate's interval). Its absence is only worth a warning
        // when there is no record either.
        let summary = if seed_dir.join(SUMMARY_JSON).exists() || !record_path.exists() {
            read_summary(&seed_dir, warnings)
        } else {
            None
        };
        let counts = summary.as_ref().and_then(counts);
        let goodput = record
            .as_ref()
            .map(|r| r.goodput)
            .or_else(|| summary.as_ref()?.value("goodput"));
        let Some(goodput) = goodput else { continue };
        if let Some(r) = &record {
            opt.prefill_tp = opt.prefill_tp.or(Some(r.prefill_tp));
            opt.decode_tp = opt.decode_tp.or(Some(r.decode_tp));
            opt.planner = opt.planner.take().or(r.planner.clone());
        }
        let cold = record.as_ref().and_then(|r| r.cold_start.as_ref());
        opt.per_seed.push(OptimizationSeed {
            seed,
            goodput,
            goodput_per_gpu: record.as_ref().map(|r| r.goodput_per_gpu),
            avg_gpus: record.as_ref().map(|r| r.avg_gpus),
            sla_hit_rate: record
                .as_ref()
                .map(|r| r.sla_hit_rate)
                .or(counts.map(|(good, all)| good / all)),
            requests: counts.map(|c| c.1),
            good_requests: counts.map(|c| c.0),
            regret_pct: None,
            cost_regret_pct: None,
            initial_replicas: record.as_ref().and_then(|r| r.initial_replicas),
            cold_start_sla_hit_rate: cold.map(|c| c.sla_hit_rate),
            cold_start_sla_misses: cold.map(|c| c.sla_misses),
            cold_start_settle_s: cold.and_then(|c| c.settle_s),
        });
    }
    summarise(&mut opt, &Best::default());
    opt
}

/// Fills the per-seed regrets against `best` and every sample of `opt` from its seeds.
fn summarise(opt: &mut Optimization, best: &Best) {
    let regret = |value: Option<f64>, best: Option<f64>| {
        let best = best.filter(|b| *b > 0.0)?;
        Some((best - value?) / best * 100.0)
    };
    for s in &mut opt.per_seed {
        s.regret_pct = regret(Some(s.goodput), best.goodput.at(s.seed));
        s.cost_regret_pct = regret(s.goodput_per_gpu, best.per_gpu.at(s.seed));
    }
    let seeds = &opt.per_seed;
    let all = |f: fn(&OptimizationSeed) -> Option<f64>| seeds.iter().filter_map(f).collect::<Vec<f64>>();
    opt.seeds = seeds.len() as u32;
    opt.goodput = Sample::in_range(&all(|s| Some(s.goodput)));
    opt.goodput_per_gpu = Sample::in_range(&all(|s| s.goodput_per_gpu));
    opt.avg_gpus = Sample::in_range(&all(|s| s.avg_gpus));
    let counts: Vec<(f64, f64)> = seeds
        .iter()
        .filter(|s| s.sla_hit_rate.is_some())
        .filter_map(|s| Some((s.good_requests?, s.requests?)))
        .collect();
    opt.sla_hit_rate = Sample::proportion(&all(|s| s.sla_hit_rate), &counts);
    opt.cold_start_sla_hit_rate = Sample::proportion(&all(|s| s.cold_start_sla_hit_rate), &[]);
    opt.cold_start_settle_s = Sample::in_range(&all(|s| s.cold_start_settle_s));
    opt.cold_start_unsettled = seeds
        .iter()
        .filter(|s| s.cold_start_sla_hit_rate.is_some() && s.cold_start_settle_s.is_none())
        .count() as u32;
    opt.regret_pct = Sample::in_range(&all(|s| s.regret_pct));
    opt.cost_regret_pct = Sample::in_range(&all(|s| s.cost_regret_pct));
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
    for name in names {
        let dir = root.join(&name).join("optimization");
        if !dir.is_dir() {
            warnings.push(format!("{}: missing", dir.display()));
            continue;
        }
        let mut optimization = read_optimization(&dir, warnings);
        if let Some((p, d)) = name.split_once('x') {
            optimization.prefill_tp = optimization.prefill_tp.or(p.parse().ok());
            optimization.decode_tp = optimization.decode_tp.or(d.parse().ok());
        }
        candidates.push(OracleCandidate { name, optimization });
    }
    let best = best_by(&candidates, |o| o.goodput, |o| o.goodput_per_gpu);
    let best_per_gpu = best_by(&candidates, |o| o.goodput_per_gpu, |o| o.goodput);
    let mut oracle = Oracle {
        best_goodput: best.as_ref().map(|b| b.1),
        best: best.map(|b| b.0),
        best_goodput_per_gpu: best_per_gpu.as_ref().map(|b| b.1),
        best_per_gpu: best_per_gpu.map(|b| b.0),
        candidates,
    };
    let reference = best_of(&oracle);
    for candidate in &mut oracle.candidates {
        summarise(&mut candidate.optimization, &reference);
    }
    Some(oracle)
}

/// The candidate with the highest mean on `measure` (ties: the higher mean on `tie`), with that
/// mean.
fn best_by(
    candidates: &[OracleCandidate],
    measure: fn(&Optimization) -> Option<Sample>,
    tie: fn(&Optimization) -> Option<Sample>,
) -> Option<(String, f64)> {
    let mean_of = |o: &Optimization, f: fn(&Optimization) -> Option<Sample>| f(o).map_or(f64::NEG_INFINITY, |s| s.mean);
    candidates
        .iter()
        .filter(|c| measure(&c.optimization).is_some())
        .max_by(|a, b| {
            let (a, b) = (&a.optimization, &b.optimization);
            mean_of(a, measure)
                .total_cmp(&mean_of(b, measure))
                .then(mean_of(a, tie).total_cmp(&mean_of(b, tie)))
                // On a full tie, the first candidate (max_by keeps the last of equals).
                .then(std::cmp::Ordering::Greater)
        })
        .map(|c| (c.name.clone(), mean_of(&c.optimization, measure)))
}

/// The concurrency of each level shared by the methods: the first one measured, else the default.
fn common_concurrency(
    inputs: &[MethodInput],
    options: &CompareOptions,
    warnings: &mut Vec<String>,
) -> [(u32, ConcurrencySource); 4] {
    let mut common = [(0, ConcurrencySource::Default); 4];
    for (i, level) in LEVELS.iter().enumerate() {
        let mut first: Option<(u32, &str, bool)> = None;
        for m in inputs {
            let Some((c, _)) = m.levels.get(i).and_then(|l| l.concurrency) else {
                continue;
            };
            match first {
                None => first = Some((c, &m.name, m.capacity.is_some())),
                // Levels made from each graph's own measured capacity B differ by design.
                Some((_, _, true)) if m.capacity.is_some() => {}
                Some((c0, m0, _)) if c0 != c => warnings.push(format!(
                    "{level}: {m0} was measured at concurrency {c0} and {} at {c}; the levels are not comparable",
                    m.name
                )),
                Some(_) => {}
            }
        }
        common[i] = match first {
            Some((c, ..)) => (c, ConcurrencySource::OtherMethod),
            None => (options.default_concurrency[i], ConcurrencySource::Default),
        };
    }
    common
}

fn build_method(m: MethodInput, common: &[(u32, ConcurrencySource); 4], best: &Best) -> MethodComparison {
    let mut levels = Vec::new();
    for (i, level) in LEVELS.iter().enumerate() {
        let input = m.levels.get(i);
        let (concurrency, concurrency_source) = input.and_then(|l| l.concurrency).unwrap_or(common[i]);
        let runs: &[LevelSeed] = input.map(|l| l.runs.as_slice()).unwrap_or_default();
        let predicted = m
            .profile
            .as_ref()
            .map(|p| predict_at(p, &m.explicit, concurrency, m.isl, m.osl, m.prefill_tp));
        let measured =
            |f: fn(&LevelSeed) -> Option<f64>| Sample::in_range(&runs.iter().filter_map(f).collect::<Vec<_>>());
        let error = |pred: Option<f64>, f: fn(&LevelSeed) -> Option<f64>| {
            let errors: Vec<f64> = runs.iter().filter_map(|r| seed_error(pred, f(r))).collect();
            Sample::in_range(&errors)
        };
        let counts: Vec<(f64, f64)> = runs
            .iter()
            .filter_map(|r| Some((r.good_requests?, r.requests.filter(|n| *n > 0.0)?)))
            .collect();
        let (pt, pi) = (predicted.and_then(|p| p.ttft_ms), predicted.and_then(|p| p.itl_ms));
        levels.push(LevelComparison {
            level: level.to_string(),
            concurrency,
            concurrency_source,
            seeds: runs.len() as u32,
            predicted,
            ttft_p50_ms: measured(|r| r.ttft_p50_ms),
            ttft_p99_ms: measured(|r| r.ttft_p99_ms),
            itl_p50_ms: measured(|r| r.itl_p50_ms),
            itl_p99_ms: measured(|r| r.itl_p99_ms),
            goodput: measured(|r| r.goodput),
            sla_hit_rate: Sample::proportion(&runs.iter().filter_map(hit_rate).collect::<Vec<_>>(), &counts),
            error_pct: LevelErrors {
                ttft_p50: error(pt, |r| r.ttft_p50_ms),
                ttft_p99: error(pt, |r| r.ttft_p99_ms),
                itl_p50: error(pi, |r| r.itl_p50_ms),
                itl_p99: error(pi, |r| r.itl_p99_ms),
            },
            per_seed: runs.to_vec(),
        });
    }
    let abs_errors: Vec<f64> = levels
        .iter()
        .flat_map(|l| [l.error_pct.ttft_p50, l.error_pct.itl_p50])
        .flatten()
        .map(|s| s.mean.abs())
        .collect();
    let mut optimization = m.optimization;
    summarise(&mut optimization, best);
    MethodComparison {
        method: m.name,
        status: m.status,
        error: m.error,
        profile_source: m.profile_source,
        prefill_tp: m.prefill_tp,
        decode_tp: m.decode_tp,
        cost: m.cost,
        capacity_b: m.capacity.as_ref().map(|c| c.capacity_b),
        capacity_source: m.capacity.map(|c| c.source),
        levels,
        mean_abs_error_pct: crate::stats::mean(&abs_errors),
        optimization,
        notes: m.notes,
    }
}

/// Signed error % of a prediction against one seed's measurement (None when either is missing
/// or the measurement is not positive).
fn seed_error(predicted: Option<f64>, measured: Option<f64>) -> Option<f64> {
    Some(signed_error(predicted?, measured.filter(|v| *v > 0.0)?))
}

/// (seed, value) pairs of a method's optimization seeds.
fn optimization_by_seed(m: &MethodComparison, f: fn(&OptimizationSeed) -> Option<f64>) -> Vec<(u32, f64)> {
    m.optimization
        .per_seed
        .iter()
        .filter_map(|s| Some((s.seed, f(s)?)))
        .collect()
}

/// Sets each method's paired difference to the method with the highest mean goodput and to the
/// one with the highest mean goodput per GPU (failed methods are neither best nor compared).
fn differences_to_best(methods: &mut [MethodComparison]) {
    type Field = fn(&OptimizationSeed) -> Option<f64>;
    type Measure = fn(&Optimization) -> Option<Sample>;
    let measures: [(Measure, Measure, Field); 2] = [
        (|o| o.goodput, |o| o.goodput_per_gpu, |s| Some(s.goodput)),
        (|o| o.goodput_per_gpu, |o| o.goodput, |s| s.goodput_per_gpu),
    ];
    for (which, (measure, tie, field)) in measures.into_iter().enumerate() {
        // The same rule as the oracle's best: highest mean, ties to the other measure.
        let as_candidates: Vec<OracleCandidate> = methods
            .iter()
            .filter(|m| m.status != MethodStatus::Failed)
            .map(|m| OracleCandidate {
                name: m.method.clone(),
                optimization: m.optimization.clone(),
            })
            .collect();
        let Some((best_name, _)) = best_by(&as_candidates, measure, tie) else {
            continue;
        };
        let Some(best) = methods.iter().position(|m| m.method == best_name) else {
            continue;
        };
        let (best_name, best_seeds) = (
            methods[best].method.clone(),
            optimization_by_seed(&methods[best], field),
        );
        for (i, m) in methods.iter_mut().enumerate() {
            if i == best || m.status == MethodStatus::Failed {
                continue;
            }
            let difference = Paired::of(&optimization_by_seed(m, field), &best_seeds);
            let vs = difference.map(|difference| VsBest {
                best: best_name.clone(),
                difference,
            });
            if which == 0 {
                m.optimization.goodput_vs_best = vs;
            } else {
                m.optimization.goodput_per_gpu_vs_best = vs;
            }
        }
    }
}

/// Pairwise paired tests (see [`Paired`]) of goodput, goodput per GPU and the p50 errors per
/// level, for every pair of methods with two or more seeds in common.
fn verdicts(methods: &[MethodComparison]) -> Vec<Verdict> {
    // Per metric, per method: (seed, value) pairs.
    type BySeed = Vec<Vec<(u32, f64)>>;
    let mut metrics: Vec<(String, BySeed)> = vec![
        (
            "goodput".into(),
            methods
                .iter()
                .map(|m| optimization_by_seed(m, |s| Some(s.goodput)))
                .collect(),
        ),
        (
            "goodput_per_gpu".into(),
            methods
                .iter()
                .map(|m| optimization_by_seed(m, |s| s.goodput_per_gpu))
                .collect(),
        ),
    ];
    for (i, level) in LEVELS.iter().enumerate() {
        let at = |measured: fn(&LevelSeed) -> Option<f64>, ttft: bool| {
            methods
                .iter()
                .map(|m| {
                    let Some(l) = m.levels.get(i) else { return Vec::new() };
                    let pred = l.predicted.and_then(|p| if ttft { p.ttft_ms } else { p.itl_ms });
                    l.per_seed
                        .iter()
                        .filter_map(|r| Some((r.seed, seed_error(pred, measured(r))?)))
                        .collect()
                })
                .collect()
        };
        metrics.push((format!("ttft_p50_error_pct@{level}"), at(|r| r.ttft_p50_ms, true)));
        metrics.push((format!("itl_p50_error_pct@{level}"), at(|r| r.itl_p50_ms, false)));
    }
    let mut out = Vec::new();
    for (metric, values) in metrics {
        for a in 0..methods.len() {
            for b in a + 1..methods.len() {
                let Some(difference) = Paired::of(&values[a], &values[b]) else {
                    continue;
                };
                let Some(verdict) = difference.verdict.clone() else {
                    continue;
                };
                out.push(Verdict {
                    metric: metric.clone(),
                    a: methods[a].method.clone(),
                    b: methods[b].method.clone(),
                    verdict,
                    difference,
                });
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
    // Ties go to the better value on the other measure.
    let mean_or = |s: Option<Sample>, missing: f64| s.map_or(missing, |s| s.mean);
    let best_goodput = if any_regret {
        min_by(&|m| {
            let o = &m.optimization;
            Some((o.regret_pct?.mean, mean_or(o.cost_regret_pct, f64::INFINITY)))
        })
    } else {
        min_by(&|m| {
            let o = &m.optimization;
            Some((-o.goodput?.mean, -mean_or(o.goodput_per_gpu, f64::NEG_INFINITY)))
        })
    };
    let any_cost_regret = usable.iter().any(|m| m.optimization.cost_regret_pct.is_some());
    let best_configuration = if any_cost_regret {
        min_by(&|m| {
            let o = &m.optimization;
            Some((o.cost_regret_pct?.mean, mean_or(o.regret_pct, f64::INFINITY)))
        })
    } else {
        min_by(&|m| {
            let o = &m.optimization;
            Some((-o.goodput_per_gpu?.mean, -mean_or(o.goodput, f64::NEG_INFINITY)))
        })
    };
    let pareto_regret = if any_cost_regret { "cost_aware" } else { "goodput" };
    let points: Vec<(&str, f64, f64)> = usable
        .iter()
        .filter_map(|m| {
            Some((
                m.method.as_str(),
                m.cost.gpu_hours?,
                pareto_regret_of(m, pareto_regret)?,
            ))
        })
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
        best_configuration,
        pareto_regret: (!points.is_empty()).then(|| pareto_regret.to_string()),
        pareto_front: front.iter().map(|p| p.0.to_string()).collect(),
        best_tradeoff,
    }
}

/// A method's mean regret on the measure `Recommendations::pareto_regret` names (`cost_aware` or
/// `goodput`): the Pareto front never mixes the two.
pub fn pareto_regret_of(m: &MethodComparison, measure: &str) -> Option<f64> {
    let sample = if measure == "cost_aware" {
        m.optimization.cost_regret_pct
    } else {
        m.optimization.regret_pct
    };
    sample.map(|s| s.mean)
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
