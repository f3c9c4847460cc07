//! The optimize stage: each chosen config under one sinusoidal trace with the planner driven by
//! its method's own profile data, and the oracle: every candidate with cluster-measured profiles.

use profcmp_plugin_api::{DeployRequest, PlannerProfile, TraceRequest};
use serde::Serialize;

use crate::aiperf::Slo;
use crate::backend::{Backend, LoadPredictor, PlannerSpec};
use crate::layout::{read_json, write_json, OptimizationRecord};
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
    /// Output directory (`.../optimization/`).
    pub dir: std::path::PathBuf,
}

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
    seed: u64,
}

/// The planner settings of a job.
pub fn planner_spec(spec: &RunSpec, job: &PlannedJob) -> PlannerSpec {
    PlannerSpec {
        profile: job.profile.clone(),
        prefill_tp: job.prefill_tp,
        decode_tp: job.decode_tp,
        sla: spec.sla,
        gpu_budget: spec.search.gpu_budget,
        adjustment_interval_s: spec.adjustment_interval_s,
        predictor: LoadPredictor::MovingAverage,
        min_prefill: 1,
        min_decode: 1,
    }
}

/// Runs one job unless its inputs are unchanged; writes the AIPerf artifacts and
/// `optimization.json`. Returns the record.
pub fn run_job(
    spec: &RunSpec,
    job: &PlannedJob,
    trace: &[TraceRequest],
    seed: u64,
    backend: &mut dyn Backend,
    observer: &dyn Observer,
) -> Result<OptimizationRecord, String> {
    let hash = input_hash(&JobInputs {
        spec: spec.optimize_key(),
        prefill_tp: job.prefill_tp,
        decode_tp: job.decode_tp,
        profile: &job.profile,
        seed,
    });
    let record_path = job.dir.join("optimization.json");
    if let Ok(record) = read_json::<OptimizationRecord>(&record_path) {
        if record.input_hash == hash && job.dir.join(crate::aiperf::SUMMARY_JSON).exists() {
            observer.stage_progress("optimize", &job.subject, "unchanged, skipped");
            return Ok(record);
        }
    }
    observer.stage_progress(
        "optimize",
        &job.subject,
        &format!("{} requests under the planner", trace.len()),
    );
    let graph = DeployRequest::Graph {
        prefill_workers: 1,
        prefill_tp: job.prefill_tp,
        decode_workers: 1,
        decode_tp: job.decode_tp,
    };
    let slo = Slo {
        ttft_ms: spec.sla.ttft_ms,
        itl_ms: spec.sla.itl_ms,
    };
    let deployment = backend.deploy(&graph).map_err(|e| e.to_string())?;
    let run = backend.measure_planned(&deployment, trace, &planner_spec(spec, job), Some(slo));
    let torn_down = backend.teardown(&deployment);
    let run = run.map_err(|e| e.to_string())?;
    torn_down.map_err(|e| e.to_string())?;
    run.summary
        .write_dir(&job.dir, &run.records)
        .map_err(|e| format!("{}: {e}", job.dir.display()))?;
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
    };
    write_json(&record_path, &record).map_err(|e| format!("{}: {e}", record_path.display()))?;
    Ok(record)
}

/// Runs jobs on up to `threads` threads, each with its own backend from `make_backend`.
pub fn run_jobs(
    spec: &RunSpec,
    jobs: &[PlannedJob],
    trace: &[TraceRequest],
    seed: u64,
    threads: usize,
    make_backend: &crate::stage::BackendFactory<'_>,
    observer: &dyn Observer,
) -> Vec<Result<OptimizationRecord, String>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<OptimizationRecord, String>>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, jobs.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(job) = jobs.get(i) else { break };
                let outcome = if observer.cancelled() {
                    Err("cancelled".to_string())
                } else {
                    make_backend(seed)
                        .and_then(|mut backend| run_job(spec, job, trace, seed, backend.as_mut(), observer))
                };
                *results[i].lock().unwrap() = Some(outcome);
            });
        }
    });
    results
        .into_iter()
        .map(|r| r.into_inner().unwrap().unwrap_or_else(|| Err("not run".into())))
        .collect()
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
    use profcmp_plugin_api::toolkit::{grid, probe};
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
