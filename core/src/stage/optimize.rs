//! The optimize stage: each chosen config under one sinusoidal trace with the planner driven by
//! its method's own profile data, and the oracle: every candidate with cluster-measured profiles.

use profcmp_plugin_api::{DeployRequest, PlannerProfile, TraceRequest};
use serde::Serialize;

use crate::aiperf::Slo;
use crate::backend::{Backend, LoadPredictor, PlannerSpec};
use crate::layout::{read_json, write_json, ColdStart, OptimizationRecord, PlannerRan};
use crate::spec::{input_hash, RunSpec};
use crate::stage::Observer;

/// One planner-in-the-loop run to do: a graph, the profile data its planner believes, and where
/// its results go.
#[derive(Clone, Debug)]
pub struct PlannedJob {
    /// Method id, or `oracle <p>x<d>`.
    pub subject: String,
    /// Prefill TP.
    pub prefill_tp: u32,
    /// Decode TP.
    pub decode_tp: u32,
    /// The profile data the planner reads.
    pub profile: PlannerProfile,
    /// The planner arguments in the method's `config_with_planner.yaml` (none for the oracle).
    pub args: MethodPlannerArgs,
    /// Output directory (`.../optimization/`).
    pub dir: std::path::PathBuf,
}

/// Planner arguments a method's `config_with_planner.yaml` sets (None = not set).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MethodPlannerArgs {
    /// `--adjustment-interval`, s.
    pub adjustment_interval_s: Option<f64>,
    /// `--load-predictor`.
    pub predictor: Option<String>,
    /// `--load-prediction-window-size`.
    pub window_size: Option<usize>,
    /// `--max-gpu-budget`.
    pub gpu_budget: Option<u32>,
    /// `--min-endpoint`.
    pub min_endpoint: Option<u32>,
}

impl From<&crate::dynamo::PlannerData> for MethodPlannerArgs {
    fn from(data: &crate::dynamo::PlannerData) -> Self {
        MethodPlannerArgs {
            adjustment_interval_s: data.adjustment_interval_s,
            predictor: data.load_predictor.clone(),
            window_size: data.window_size,
            gpu_budget: data.max_gpu_budget,
            min_endpoint: data.min_endpoint,
        }
    }
}

/// Dynamo's planner defaults (`planner/defaults.py`): 180 s, ARIMA over 50 intervals, 1 worker
/// per role at least.
pub const DEFAULT_ADJUSTMENT_INTERVAL_S: f64 = 180.0;
/// See `DEFAULT_ADJUSTMENT_INTERVAL_S`.
pub const DEFAULT_PREDICTOR: LoadPredictor = LoadPredictor::Arima;
/// See `DEFAULT_ADJUSTMENT_INTERVAL_S`.
pub const DEFAULT_WINDOW_SIZE: usize = 50;

/// Oracle candidates: every (prefill TP, decode TP) whose smallest graph fits the GPU budget.
pub fn oracle_candidates(spec: &RunSpec) -> Vec<(u32, u32)> {
    let mut candidates = Vec::new();
    for &p in &spec.search.prefill_tp {
        for &d in &spec.search.decode_tp {
            if p + d <= spec.search.gpu_budget {
                candidates.push((p, d));
            }
        }
    }
    candidates
}

#[derive(Serialize)]
struct JobInputs<'a> {
    spec: serde_json::Value,
    prefill_tp: u32,
    decode_tp: u32,
    profile: &'a PlannerProfile,
    args: &'a MethodPlannerArgs,
    seed: u64,
    trace: &'a str,
}

/// What a job's result depends on: the run's settings, the graph, the profile and planner
/// arguments, the trace and the seed (not who asked for it or where it goes).
fn job_key(spec: &RunSpec, job: &PlannedJob, trace_digest: &str, seed: u64) -> String {
    input_hash(&JobInputs {
        spec: spec.optimize_key(),
        prefill_tp: job.prefill_tp,
        decode_tp: job.decode_tp,
        profile: &job.profile,
        args: &job.args,
        seed,
        trace: trace_digest,
    })
}

/// The planner a job runs: each argument from the command line if given there, else from the
/// method's `config_with_planner.yaml`, else Dynamo's default; the budget never above the run's.
/// Returns the spec and what ran, with where each setting came from.
pub fn planner_spec(spec: &RunSpec, job: &PlannedJob) -> Result<(PlannerSpec, PlannerRan), String> {
    let mut sources = std::collections::BTreeMap::new();
    let mut pick = |name: &str, flag: Option<String>, method: Option<String>, default: String| {
        let (value, source) = match (flag, method) {
            (Some(v), _) => (v, "flag"),
            (None, Some(v)) => (v, "method"),
            (None, None) => (default, "default"),
        };
        sources.insert(name.to_string(), source.to_string());
        value
    };
    let o = &spec.planner;
    let interval: f64 = pick(
        "adjustment_interval_s",
        o.adjustment_interval_s.map(|v| v.to_string()),
        job.args.adjustment_interval_s.map(|v| v.to_string()),
        DEFAULT_ADJUSTMENT_INTERVAL_S.to_string(),
    )
    .parse()
    .map_err(|e| format!("{}: planner adjustment interval: {e}", job.subject))?;
    let predictor_name = pick(
        "predictor",
        o.predictor.map(|p| p.as_str().to_string()),
        job.args.predictor.clone(),
        DEFAULT_PREDICTOR.as_str().to_string(),
    );
    let predictor: LoadPredictor = predictor_name
        .parse()
        .map_err(|e| format!("{}: planner --load-predictor: {e}", job.subject))?;
    let window_size = pick(
        "window_size",
        None,
        job.args.window_size.map(|v| v.to_string()),
        DEFAULT_WINDOW_SIZE.to_string(),
    )
    .parse()
    .map_err(|e| format!("{}: planner window size: {e}", job.subject))?;
    let min_endpoint = pick(
        "min_endpoint",
        None,
        job.args.min_endpoint.map(|v| v.to_string()),
        "1".into(),
    )
    .parse()
    .map_err(|e| format!("{}: planner min endpoint: {e}", job.subject))?;
    let gpu_budget = match job.args.gpu_budget {
        Some(b) if b <= spec.search.gpu_budget => {
            sources.insert("gpu_budget".into(), "method".into());
            b
        }
        _ => {
            sources.insert("gpu_budget".into(), "run".into());
            spec.search.gpu_budget
        }
    };
    if !(interval > 0.0 && interval.is_finite()) {
        return Err(format!(
            "{}: planner adjustment interval {interval} s must be > 0",
            job.subject
        ));
    }
    let planner = PlannerSpec {
        version: spec.dynamo_version,
        profile: job.profile.clone(),
        prefill_tp: job.prefill_tp,
        decode_tp: job.decode_tp,
        sla: spec.sla,
        gpu_budget,
        adjustment_interval_s: interval,
        predictor,
        window_size,
        min_endpoint,
        headroom: o.headroom.unwrap_or(1.0),
    };
    let ran = PlannerRan {
        dynamo_version: spec.dynamo_version.as_str().into(),
        adjustment_interval_s: interval,
        predictor: predictor_name,
        window_size,
        gpu_budget,
        min_endpoint,
        headroom: o.headroom.unwrap_or(1.0),
        sources,
    };
    Ok((planner, ran))
}

/// Intervals of the trace replayed from a cold start to measure its cost.
pub const COLD_START_INTERVALS: f64 = 3.0;

/// The trace's opening load: requests arriving in the first interval as req/s, and their mean
/// ISL and OSL (the SLA's shape if none arrive).
pub fn opening_load(trace: &[TraceRequest], interval_s: f64, sla: &profcmp_plugin_api::Sla) -> (f64, f64, f64) {
    let first: Vec<&TraceRequest> = trace.iter().filter(|r| r.timestamp_ms < interval_s * 1e3).collect();
    if first.is_empty() {
        return (0.0, f64::from(sla.isl), f64::from(sla.osl));
    }
    let n = first.len() as f64;
    let mean = |f: fn(&TraceRequest) -> u32| first.iter().map(|r| f64::from(f(r))).sum::<f64>() / n;
    (n / interval_s, mean(|r| r.input_length), mean(|r| r.output_length))
}

/// Runs one job unless its inputs are unchanged; writes the AIPerf artifacts and
/// `optimization.json`. Returns the record.
///
/// Goodput is measured from a warm start: the graph starts at the replicas its planner settles
/// on for the trace's opening load (computed from the method's own profile), as real benchmarks
/// measure a deployment that has settled. A second replay from 1 prefill + 1 decode worker over
/// the first `COLD_START_INTERVALS` intervals records what a cold start costs (SLA misses, time
/// to reach the warm start's replicas), reported apart.
pub fn run_job(
    spec: &RunSpec,
    job: &PlannedJob,
    trace: &[TraceRequest],
    seed: u64,
    backend: &mut dyn Backend,
    observer: &dyn Observer,
) -> Result<OptimizationRecord, String> {
    let hash = job_key(spec, job, &input_hash(&trace), seed);
    if let Some(record) = unchanged(job, &hash, observer) {
        return Ok(record);
    }
    run_keyed_job(spec, job, trace, seed, hash, backend, observer)
}

/// Runs a job whose input key is already computed (hashing the trace is not free) and found
/// changed.
fn run_keyed_job(
    spec: &RunSpec,
    job: &PlannedJob,
    trace: &[TraceRequest],
    seed: u64,
    hash: String,
    backend: &mut dyn Backend,
    observer: &dyn Observer,
) -> Result<OptimizationRecord, String> {
    let record_path = job.dir.join("optimization.json");
    let (planner, ran) = planner_spec(spec, job)?;
    let (rate, isl, osl) = opening_load(trace, planner.adjustment_interval_s, &spec.sla);
    let warm = crate::sim::SlaPlanner::new(&planner, Default::default())?.settled_replicas(rate, isl, osl);
    let warm = (warm.0.max(1), warm.1.max(1));
    observer.stage_progress(
        "optimize",
        &job.subject,
        &format!(
            "{} requests under the Dynamo {} planner from {}P+{}D",
            trace.len(),
            ran.dynamo_version,
            warm.0,
            warm.1
        ),
    );
    let slo = Slo {
        ttft_ms: spec.sla.ttft_ms,
        itl_ms: spec.sla.itl_ms,
    };
    let run = planned_run(backend, job, warm, trace, &planner, slo)?;
    run.summary
        .write_dir(&job.dir, &run.records)
        .map_err(|e| format!("{}: {e}", job.dir.display()))?;
    let cold_window_s = (COLD_START_INTERVALS * planner.adjustment_interval_s).min(trace_span_s(trace));
    let opening: Vec<TraceRequest> = trace
        .iter()
        .filter(|r| r.timestamp_ms < cold_window_s * 1e3)
        .cloned()
        .collect();
    let cold_start = if opening.is_empty() {
        None
    } else {
        observer.stage_progress("optimize", &job.subject, "cold start");
        let cold = planned_run(backend, job, (1, 1), &opening, &planner, slo)?;
        let good = cold.summary.value("good_request_count").unwrap_or(0.0);
        let total = cold.records.len() as f64;
        Some(ColdStart {
            window_s: cold_window_s,
            sla_hit_rate: if total > 0.0 { good / total } else { 0.0 },
            sla_misses: (total - good).max(0.0) as u64,
            settle_s: cold
                .replicas
                .iter()
                .find(|(t, p, d)| *t > 0.0 && (*p, *d) == warm)
                .map(|(t, _, _)| *t),
            replicas: cold.replicas,
        })
    };
    let goodput = run.summary.value("goodput").unwrap_or(0.0);
    let requests = run.records.len().max(1) as f64;
    let good = run.summary.value("good_request_count").unwrap_or(0.0);
    let record = OptimizationRecord {
        prefill_tp: job.prefill_tp,
        decode_tp: job.decode_tp,
        avg_gpus: run.avg_gpus,
        goodput,
        goodput_per_gpu: if run.avg_gpus > 0.0 {
            goodput / run.avg_gpus
        } else {
            0.0
        },
        sla_hit_rate: good / requests,
        replicas: run.replicas,
        seed,
        input_hash: hash,
        planner: Some(ran),
        initial_replicas: Some(warm),
        cold_start,
    };
    write_json(&record_path, &record).map_err(|e| format!("{}: {e}", record_path.display()))?;
    Ok(record)
}

/// The job's record from an earlier run with the same inputs, if its results are all there.
fn unchanged(job: &PlannedJob, hash: &str, observer: &dyn Observer) -> Option<OptimizationRecord> {
    let record = read_json::<OptimizationRecord>(&job.dir.join("optimization.json")).ok()?;
    if record.input_hash != hash || !job.dir.join(crate::aiperf::SUMMARY_JSON).exists() {
        return None;
    }
    observer.stage_progress("optimize", &job.subject, "unchanged, skipped");
    Some(record)
}

/// Deploys the job's graph at `replicas`, replays `trace` under the planner, tears it down.
fn planned_run(
    backend: &mut dyn Backend,
    job: &PlannedJob,
    (prefill_workers, decode_workers): (u32, u32),
    trace: &[TraceRequest],
    planner: &PlannerSpec,
    slo: Slo,
) -> Result<crate::backend::Run, String> {
    let graph = DeployRequest::Graph {
        prefill_workers,
        prefill_tp: job.prefill_tp,
        decode_workers,
        decode_tp: job.decode_tp,
    };
    let deployment = backend.deploy(&graph).map_err(|e| e.to_string())?;
    let run = backend.measure_planned(&deployment, trace, planner, Some(slo));
    let torn_down = backend.teardown(&deployment);
    let run = run.map_err(|e| e.to_string())?;
    torn_down.map_err(|e| e.to_string())?;
    Ok(run)
}

/// Seconds from the first to the last arrival of a trace.
fn trace_span_s(trace: &[TraceRequest]) -> f64 {
    match (trace.first(), trace.last()) {
        (Some(a), Some(b)) => (b.timestamp_ms - a.timestamp_ms) / 1e3 + 1.0,
        _ => 0.0,
    }
}

/// Runs jobs on up to `threads` threads, each with its own backend from `make_backend`. Jobs
/// with identical inputs (two methods, or a method and an oracle candidate, that chose the same
/// graph with the same profile) replay once; the others get a copy of its results.
pub fn run_jobs(
    spec: &RunSpec,
    jobs: &[PlannedJob],
    trace: &[TraceRequest],
    seed: u64,
    threads: usize,
    make_backend: &crate::stage::BackendFactory<'_>,
    observer: &dyn Observer,
) -> Vec<Result<OptimizationRecord, String>> {
    let digest = input_hash(&trace);
    let keys: Vec<String> = jobs.iter().map(|j| job_key(spec, j, &digest, seed)).collect();
    let leader: Vec<usize> = keys
        .iter()
        .map(|k| keys.iter().position(|o| o == k).unwrap_or(0))
        .collect();
    let unique: Vec<usize> = (0..jobs.len()).filter(|&i| leader[i] == i).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<OptimizationRecord, String>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, unique.len().max(1)) {
            scope.spawn(|| loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&i) = unique.get(n) else { break };
                let job = &jobs[i];
                let outcome = if observer.cancelled() {
                    Err("cancelled".to_string())
                } else if let Some(record) = unchanged(job, &keys[i], observer) {
                    // Before making a backend: a rerun with nothing changed deploys nothing.
                    Ok(record)
                } else {
                    make_backend(seed).and_then(|mut backend| {
                        run_keyed_job(spec, job, trace, seed, keys[i].clone(), backend.as_mut(), observer)
                    })
                };
                *results[i].lock().unwrap() = Some(outcome);
            });
        }
    });
    let mut results: Vec<Result<OptimizationRecord, String>> = results
        .into_iter()
        .map(|r| r.into_inner().unwrap().unwrap_or_else(|| Err("not run".into())))
        .collect();
    for i in 0..jobs.len() {
        if leader[i] != i {
            let (from, to) = (&jobs[leader[i]], &jobs[i]);
            observer.stage_progress(
                "optimize",
                &to.subject,
                &format!("same inputs as {}, results copied", from.subject),
            );
            results[i] = results[leader[i]]
                .clone()
                .and_then(|record| copy_results(&from.dir, &to.dir).map(|()| record));
        }
    }
    results
}

/// Copies a job's result files (not its per-seed subdirectories) to another job's directory.
fn copy_results(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            let bytes = std::fs::read(entry.path()).map_err(|e| format!("{}: {e}", entry.path().display()))?;
            crate::fsio::write_atomic(&to.join(entry.file_name()), &bytes)
                .map_err(|e| format!("{}: {e}", to.display()))?;
        }
    }
    Ok(())
}

/// The oracle's planner profiles, measured on the cluster itself per TP.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct OracleProfiles {
    /// Input hash (spec), to skip remeasuring on a rerun.
    pub input_hash: String,
    /// Measured prefill profile per TP.
    pub prefill: std::collections::BTreeMap<u32, profcmp_plugin_api::PrefillProfile>,
    /// Measured decode profile per TP.
    pub decode: std::collections::BTreeMap<u32, profcmp_plugin_api::DecodeProfile>,
}

/// Measures Dynamo-style interpolation data for every candidate TP on the cluster (prefill ISL
/// sweep, decode grid), with the same toolkit sweeps the online methods use. Cached in
/// `oracle/profiles.json`; TPs that cannot be deployed are left out.
pub fn measured_profiles(
    spec: &RunSpec,
    results: &crate::layout::ResultsDir,
    make_backend: &crate::stage::BackendFactory<'_>,
    estimates: crate::stage::profile::EstimateFn<'_>,
    observer: &dyn Observer,
) -> Result<OracleProfiles, String> {
    use profcmp_method_kit::{grid, probe};
    use profcmp_plugin_api::HostContext;

    let path = results.root.join("oracle").join("profiles.json");
    let hash = input_hash(&(spec.oracle_key(), "oracle-profiles-1"));
    if let Ok(cached) = read_json::<OracleProfiles>(&path) {
        if cached.input_hash == hash {
            return Ok(cached);
        }
    }
    let mut profiles = OracleProfiles {
        input_hash: hash,
        ..Default::default()
    };
    let mut backend = make_backend(spec.seed)?;
    let host = crate::stage::profile::MeteredHost::new("oracle", backend.as_mut(), estimates, observer);
    let tps: std::collections::BTreeSet<u32> = spec
        .search
        .prefill_tp
        .iter()
        .chain(&spec.search.decode_tp)
        .copied()
        .collect();
    for tp in tps {
        if observer.cancelled() {
            return Err("cancelled".into());
        }
        if spec.search.prefill_tp.contains(&tp) {
            observer.stage_progress("optimize", "oracle", &format!("measuring prefill TP{tp}"));
            if let Ok(deployment) = host.deploy(&DeployRequest::PrefillOnly { tp }) {
                let max_context = grid::max_context(None, &spec.sla, deployment.kv_capacity_tokens);
                let measured =
                    probe::measured_prefill_profile(&host, &deployment, max_context, &probe::OnFailure::Skip);
                host.teardown(&deployment).map_err(|e| e.to_string())?;
                profiles.prefill.insert(tp, measured.map_err(|e| e.to_string())?);
            }
        }
        if spec.search.decode_tp.contains(&tp) {
            observer.stage_progress("optimize", "oracle", &format!("measuring decode TP{tp}"));
            if let Ok(deployment) = host.deploy(&DeployRequest::DecodeOnly { tp }) {
                let max_context = grid::max_context(None, &spec.sla, deployment.kv_capacity_tokens);
                let measured = probe::measured_decode_profile(&host, &deployment, max_context, &probe::OnFailure::Skip);
                host.teardown(&deployment).map_err(|e| e.to_string())?;
                profiles.decode.insert(tp, measured.map_err(|e| e.to_string())?);
            }
        }
    }
    host.finish();
    write_json(&path, &profiles).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(profiles)
}

/// The GPUs a trace's busiest window needs, by the estimator at TP1.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServableBudget {
    /// The budget: prefill + decode GPUs, rounded up to whole 8-GPU nodes.
    pub gpus: u32,
    /// Prefill GPUs the busiest window needs.
    pub prefill_gpus: f64,
    /// Decode GPUs the busiest window needs.
    pub decode_gpus: f64,
    /// The busiest window's arrival rate, req/s.
    pub peak_rate: f64,
}

/// Seconds of the windows a trace's peak is measured over: short enough to see the crest of the
/// default trace's 10 s wave, long enough to average a few dozen arrivals.
pub const PEAK_WINDOW_S: f64 = 2.0;

/// What the trace's busiest `PEAK_WINDOW_S` window needs at the estimator's TP1 throughput:
/// prefill tokens/s over TP1's prefill tokens/s at the window's mean ISL, plus output tokens/s
/// over TP1's best decode tokens/s whose step meets the ITL target at context ISL + OSL/2
/// (within its KV capacity). This is profcmp's sizing of the default `--gpu-budget`, so the
/// planner is not capped below what the trace's peaks ask for; it is not Dynamo's.
pub fn servable_budget(
    trace: &[TraceRequest],
    estimators: &crate::estimator::EstimatorSet,
    sla: &profcmp_plugin_api::Sla,
) -> Result<ServableBudget, String> {
    let estimator = estimators.get(1).map_err(|e| e.to_string())?;
    let mut windows: std::collections::BTreeMap<u64, (f64, f64, f64)> = Default::default();
    for r in trace {
        let w = windows
            .entry((r.timestamp_ms / (PEAK_WINDOW_S * 1e3)) as u64)
            .or_default();
        w.0 += 1.0;
        w.1 += f64::from(r.input_length);
        w.2 += f64::from(r.output_length);
    }
    let mut best = ServableBudget {
        gpus: 0,
        prefill_gpus: 0.0,
        decode_gpus: 0.0,
        peak_rate: 0.0,
    };
    for (n, isl_sum, osl_sum) in windows.into_values() {
        let (isl, osl) = (isl_sum / n, osl_sum / n);
        let prefill_ms = estimator.prefill_ms(1, isl.round() as u32).map_err(|e| e.to_string())?;
        let prefill_tokens_s = isl / (prefill_ms / 1e3);
        let context = (isl + osl / 2.0).round() as u32;
        let max_batch = estimator
            .max_batch()
            .min((estimator.kv_capacity_tokens() / u64::from(context.max(1))).max(1) as u32);
        let mut decode_tokens_s: f64 = 0.0;
        for batch in 1..=max_batch {
            let step_ms = estimator.decode_step_ms(batch, context).map_err(|e| e.to_string())?;
            if step_ms > sla.itl_ms && batch > 1 {
                break;
            }
            decode_tokens_s = decode_tokens_s.max(f64::from(batch) / (step_ms / 1e3));
        }
        let rate = n / PEAK_WINDOW_S;
        let (p, d) = (rate * isl / prefill_tokens_s, rate * osl / decode_tokens_s);
        if p + d > best.prefill_gpus + best.decode_gpus {
            best = ServableBudget {
                gpus: 0,
                prefill_gpus: p,
                decode_gpus: d,
                peak_rate: rate,
            };
        }
    }
    best.gpus = (((best.prefill_gpus + best.decode_gpus) / 8.0).ceil() as u32).max(1) * 8;
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{sinusoidal, SinusoidSpec};

    #[test]
    fn the_auto_budget_grows_with_the_traces_peak_in_whole_nodes() {
        let model = crate::estimator::ModelInfo::resolve("Qwen/Qwen3-32B").unwrap();
        let estimators = crate::estimator::EstimatorSet::new(model, "h200_sxm", "trtllm", None).unwrap();
        let sla = RunSpec::defaults().sla;
        let at = |rate: f64| {
            let trace = sinusoidal(&SinusoidSpec::single(120, rate, rate, 10.0, 2048, 256, 3)).unwrap();
            servable_budget(&trace, &estimators, &sla).unwrap()
        };
        let (low, high) = (at(10.0), at(40.0));
        // The busiest 2 s of a steady Poisson load lie above its mean; the GPUs per req/s of one
        // request shape do not change.
        assert!(low.peak_rate >= 10.0 && high.peak_rate >= 40.0, "{low:?} {high:?}");
        let per_rate = |b: &ServableBudget| (b.prefill_gpus / b.peak_rate, b.decode_gpus / b.peak_rate);
        let (l, h) = (per_rate(&low), per_rate(&high));
        assert!(
            (l.0 / h.0 - 1.0).abs() < 1e-9 && (l.1 / h.1 - 1.0).abs() < 1e-9,
            "{low:?} {high:?}"
        );
        assert!(
            high.gpus > low.gpus && high.gpus % 8 == 0 && low.gpus % 8 == 0,
            "{low:?} {high:?}"
        );
        // The peak, not the mean: a wave of 5-45 req/s asks about what a steady 45 does.
        let wave = sinusoidal(&SinusoidSpec::single(600, 5.0, 45.0, 10.0, 2048, 256, 3)).unwrap();
        let peak = servable_budget(&wave, &estimators, &sla).unwrap();
        assert!(peak.peak_rate > 38.0, "{peak:?}");
    }
}
