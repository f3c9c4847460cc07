//! Dynamo's own profiler as a method: applies a DynamoGraphDeploymentRequest, streams its
//! profiling job's log, waits for its status, reads `dgdr-output-<name>`, and records the result
//! in the results layout like a plugin's (`profile.json`, `config_with_planner.yaml`).

use std::time::{Duration, Instant};

use profcmp_plugin_api::{
    Manifest, Prediction, ProfileRequest, ProfileResult, Role, SearchSpace, ServingBackend, Sla, WorkerConfig,
};
use serde_json::Value;

use super::cluster::{Cluster, Kind};
use super::graph;
use super::{K8sError, ManifestError};
use crate::layout::{Ledger, ProfileRecord, ResultsDir};

/// Key of the generated config in the output ConfigMap.
pub const OUTPUT_KEY: &str = "config_with_planner.yaml";
/// File the profiling job's log is streamed to, in the method's results directory.
pub const LOG_FILE: &str = "profile_sla.log";

/// How to run one request.
#[derive(Clone, Debug)]
pub struct DgdrSettings {
    /// Method id the results are recorded under.
    pub method: String,
    /// Run id (label).
    pub run_id: String,
    /// How long profiling may take.
    pub timeout: Duration,
    /// How long deleting the request may take.
    pub delete_timeout: Duration,
}

/// What a finished request gave.
#[derive(Clone, Debug)]
pub struct DgdrOutcome {
    /// The record written to `profile.json`.
    pub record: ProfileRecord,
    /// Lines of the profiling job's log.
    pub log_lines: u64,
    /// The request's final state.
    pub state: String,
}

/// Reads a DGDR file: one DynamoGraphDeploymentRequest with a name.
pub fn read_request(yaml: &str) -> Result<Value, ManifestError> {
    read_request_text(yaml).map_err(ManifestError::Request)
}

fn read_request_text(yaml: &str) -> Result<Value, String> {
    let request: Value = serde_saphyr::from_str(yaml).map_err(|e| format!("not valid YAML: {e}"))?;
    if request["kind"] != "DynamoGraphDeploymentRequest" {
        return Err(format!(
            "kind is {}, expected DynamoGraphDeploymentRequest",
            request["kind"].as_str().unwrap_or("missing")
        ));
    }
    if !request["metadata"]["name"].is_string() {
        return Err("metadata.name is missing".into());
    }
    super::names::check_object(&request).map_err(|e| e.to_string())?;
    Ok(request)
}

/// The request as profcmp applies it: the run's labels merged in, without `namespace` and
/// `status`, otherwise as written.
pub fn object_to_apply(request: &Value, run_id: &str, method: &str) -> Value {
    let mut object = request.clone();
    let name = request
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    graph::set_metadata(&mut object, name, &graph::labels(run_id, method));
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    object
}

/// Runs a request to its end and writes `profile_sla.log`, `config_with_planner.yaml` and
/// `profile.json` under `results/<method>/`. The request is deleted at the end, also on failure.
pub async fn run(
    cluster: &Cluster,
    request: &Value,
    settings: &DgdrSettings,
    results: &ResultsDir,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<DgdrOutcome, K8sError> {
    cluster.preflight(&[Kind::Request]).await?;
    // Requests are spoken to in the version their file is written in: the newest Dynamo still
    // serves v1alpha1 (deprecated) and its v1beta1 request is a different schema.
    let version = request.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let cluster = &cluster.speaking(version.strip_prefix("nvidia.com/").unwrap_or("v1alpha1"));
    let name = request["metadata"]["name"].as_str().unwrap_or_default().to_string();
    let object = object_to_apply(request, &settings.run_id, &settings.method);
    let dir = results.method(&settings.method);
    std::fs::create_dir_all(&dir).map_err(|e| K8sError::Api(format!("{}: {e}", dir.display())))?;
    let started = Instant::now();
    cluster.apply(&object).await?;
    let outcome = follow(cluster, request, settings, results, cancelled, started).await;
    let removed = cluster.remove(Kind::Request, &name, settings.delete_timeout).await;
    let outcome = outcome?;
    removed?;
    Ok(outcome)
}

async fn follow(
    cluster: &Cluster,
    request: &Value,
    settings: &DgdrSettings,
    results: &ResultsDir,
    cancelled: &(dyn Fn() -> bool + Sync),
    started: Instant,
) -> Result<DgdrOutcome, K8sError> {
    let name = request["metadata"]["name"].as_str().unwrap_or_default();
    let job = format!("profile-{name}");
    let deadline = started + settings.timeout;
    let log_lines = match wait_job_pod(cluster, name, &job, deadline, settings.timeout, cancelled).await? {
        Some(pod) => {
            let path = results.method(&settings.method).join(LOG_FILE);
            let stream = stream_pod_log(cluster, &pod, &path);
            let cancel = async {
                while !cancelled() {
                    tokio::time::sleep(cluster.poll).await;
                }
            };
            tokio::select! {
                lines = tokio::time::timeout_at(deadline.into(), stream) => lines.unwrap_or(Ok(0))?,
                () = cancel => return Err(K8sError::Cancelled),
            }
        }
        None => 0,
    };
    let state = wait_done(cluster, name, deadline, settings.timeout, cancelled).await?;
    let data = cluster.config_map(&format!("dgdr-output-{name}")).await?;
    let yaml = data.get(OUTPUT_KEY).ok_or_else(|| {
        K8sError::Api(format!(
            "configmap dgdr-output-{name} has no {OUTPUT_KEY} (keys: {})",
            data.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let planner = crate::dynamo::read_profile_data(yaml).map_err(|e| K8sError::Api(e.to_string()))?;
    let job_object = cluster.get_any("batch", "v1", "Job", "jobs", &job).await?;
    let duration_s = job_object
        .as_ref()
        .and_then(job_duration_s)
        .unwrap_or_else(|| started.elapsed().as_secs_f64());
    let record = record(
        settings,
        request,
        yaml,
        &planner,
        duration_s,
        started.elapsed().as_secs_f64(),
    );
    let dir = results.method(&settings.method);
    let write = || -> std::io::Result<()> {
        crate::fsio::write_atomic(&dir.join(OUTPUT_KEY), yaml.as_bytes())?;
        crate::layout::write_json(&results.profile_json(&settings.method), &record)
    };
    write().map_err(|e| K8sError::Api(format!("{}: {e}", dir.display())))?;
    Ok(DgdrOutcome {
        record,
        log_lines,
        state,
    })
}

/// The request's state when it is terminal: `Ok(Some(state))` when done, an error when failed.
fn terminal(name: &str, request: &Value) -> Result<Option<String>, K8sError> {
    // v1alpha1 `status.state`; v1beta1 `status.phase`.
    let status = request.get("status");
    let state = (status.and_then(|s| s.get("state").or_else(|| s.get("phase"))))
        .and_then(Value::as_str)
        .unwrap_or_default();
    match state.to_ascii_lowercase().as_str() {
        "ready" | "successful" | "succeeded" | "completed" | "deployed" => Ok(Some(state.to_string())),
        "failed" | "error" => Err(K8sError::Api(format!(
            "dynamographdeploymentrequest {name} failed: {}",
            failure_message(request)
        ))),
        _ => Ok(None),
    }
}

/// Waits until the profiling job's pod has started (None when the request ends without one).
async fn wait_job_pod(
    cluster: &Cluster,
    name: &str,
    job: &str,
    deadline: Instant,
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Option<Value>, K8sError> {
    loop {
        if let Some(request) = cluster.get(Kind::Request, name).await? {
            if terminal(name, &request)?.is_some() {
                return Ok(None);
            }
        }
        let pods = cluster.pods(&format!("job-name={job}")).await?;
        let started = pods
            .into_iter()
            .find(|p| matches!(p["status"]["phase"].as_str(), Some("Running" | "Succeeded" | "Failed")));
        if started.is_some() {
            return Ok(started);
        }
        check_time(cluster, name, deadline, timeout, cancelled).await?;
        tokio::time::sleep(cluster.poll).await;
    }
}

/// Waits for the request's terminal state.
async fn wait_done(
    cluster: &Cluster,
    name: &str,
    deadline: Instant,
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<String, K8sError> {
    loop {
        if let Some(request) = cluster.get(Kind::Request, name).await? {
            if let Some(state) = terminal(name, &request)? {
                return Ok(state);
            }
        }
        check_time(cluster, name, deadline, timeout, cancelled).await?;
        tokio::time::sleep(cluster.poll).await;
    }
}

async fn check_time(
    cluster: &Cluster,
    name: &str,
    deadline: Instant,
    timeout: Duration,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<(), K8sError> {
    if cancelled() {
        return Err(K8sError::Cancelled);
    }
    if Instant::now() >= deadline {
        return Err(K8sError::Timeout {
            what: format!("dynamographdeploymentrequest {name}"),
            seconds: timeout.as_secs(),
            details: cluster.diagnose(&format!("profile-{name}")).await,
        });
    }
    Ok(())
}

/// Follows a pod's log into `path` (the container whose name mentions `profil`, else the first).
async fn stream_pod_log(cluster: &Cluster, pod: &Value, path: &std::path::Path) -> Result<u64, K8sError> {
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .map(|c| c.iter().filter_map(|c| c["name"].as_str()).collect())
        .unwrap_or_default();
    let container = containers
        .iter()
        .find(|c| c.contains("profil"))
        .or(containers.first())
        .copied();
    let mut file = std::fs::File::create(path).map_err(|e| K8sError::Api(format!("{}: {e}", path.display())))?;
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    cluster.stream_logs(name, container, &mut file).await
}

fn failure_message(request: &Value) -> String {
    let conditions = request["status"]["conditions"].as_array();
    let message = conditions
        .into_iter()
        .flatten()
        .filter_map(|c| c["message"].as_str())
        .next_back();
    message.unwrap_or("no message in its status").to_string()
}

/// Seconds from a job's `startTime` to its `completionTime`.
fn job_duration_s(job: &Value) -> Option<f64> {
    let start = unix_seconds(job["status"]["startTime"].as_str()?)?;
    let end = unix_seconds(job["status"]["completionTime"].as_str()?)?;
    Some(end - start)
}

/// Seconds since the epoch of an RFC 3339 UTC time as Kubernetes writes them
/// (`2026-01-15T10:04:05Z`, fractions allowed).
pub fn unix_seconds(time: &str) -> Option<f64> {
    let time = time.strip_suffix('Z')?;
    let (date, clock) = time.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':');
    let (h, min, s) = (
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<i64>().ok()?,
        c.next()?.parse::<f64>().ok()?,
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + s)
}

/// The cost of a request, estimated from its spec and the job's duration: AI Configurator mode
/// deploys nothing; online mode deploys one prefill and one decode engine per candidate GPU
/// count (powers of two in `[min, max]` GPUs per engine) plus two for the interpolation sweep,
/// each assumed to hold the job's time in equal shares. Returns (deployments, GPU-hours, note).
pub fn estimate_cost(request: &Value, duration_s: f64, prefill_tp: u32, decode_tp: u32) -> (u32, f64, String) {
    let config = &request["spec"]["profilingConfig"]["config"];
    if config["sweep"]["use_ai_configurator"].as_bool() == Some(true) {
        return (0, 0.0, "AI Configurator mode: no deployments".into());
    }
    let candidates = candidates(config);
    let deployments = 2 * candidates.len() as u32 + 2;
    let gpu_sum: u32 = 2 * candidates.iter().sum::<u32>() + prefill_tp + decode_tp;
    let gpu_hours = duration_s / f64::from(deployments) * f64::from(gpu_sum) / 3600.0;
    let note = format!(
        "cost estimated: {deployments} deployments (prefill and decode at {candidates:?} GPUs + 2 interpolation), \
         sharing the job's {duration_s:.0} s equally"
    );
    (deployments, gpu_hours, note)
}

fn candidates(config: &Value) -> Vec<u32> {
    let hardware = &config["hardware"];
    let min = hardware["min_num_gpus_per_engine"].as_u64().unwrap_or(1).max(1) as u32;
    let max = hardware["max_num_gpus_per_engine"].as_u64().unwrap_or(8) as u32;
    (0..8).map(|i| 1u32 << i).filter(|&n| n >= min && n <= max).collect()
}

fn record(
    settings: &DgdrSettings,
    request: &Value,
    yaml: &str,
    planner: &crate::dynamo::PlannerData,
    duration_s: f64,
    cpu_s: f64,
) -> ProfileRecord {
    let spec = &request["spec"];
    let config = &spec["profilingConfig"]["config"];
    let sla = Sla::new(
        config["sla"]["isl"].as_u64().unwrap_or(2048) as u32,
        config["sla"]["osl"].as_u64().unwrap_or(256) as u32,
        config["sla"]["ttft"].as_f64().or(planner.ttft_ms).unwrap_or(f64::NAN),
        config["sla"]["itl"].as_f64().or(planner.itl_ms).unwrap_or(f64::NAN),
    );
    let backend = match spec["backend"].as_str().unwrap_or("trtllm") {
        "vllm" => ServingBackend::Vllm,
        "sglang" => ServingBackend::Sglang,
        _ => ServingBackend::Trtllm,
    };
    let tps = candidates(config);
    let profile_request = ProfileRequest::new(
        spec["model"].as_str().unwrap_or_default(),
        config["sweep"]["aic_system"].as_str().unwrap_or("unknown"),
        backend,
        sla,
        SearchSpace::new(tps.clone(), tps, planner.max_gpu_budget.unwrap_or(8)),
    )
    .with_options(config.clone());
    let (deployments, gpu_hours, note) = estimate_cost(request, duration_s, planner.prefill_tp, planner.decode_tp);
    // The headline TTFT is the isolated prefill's, as Dynamo's profiler reports it.
    let at = crate::predict::predict_at(&planner.profile, &[], 1, sla.isl, sla.osl, None);
    let ttft_ms = crate::predict::predict_ttft(&planner.profile.prefill, f64::from(sla.isl)).unwrap_or(f64::NAN);
    let decode = &planner.profile.decode;
    let decode_thpt = decode
        .z_itl
        .iter()
        .zip(&decode.z_thpt_per_gpu)
        .filter(|(itl, _)| **itl <= sla.itl_ms)
        .map(|(_, t)| *t)
        .fold(f64::NAN, f64::max);
    let predicted = Prediction::new(
        ttft_ms,
        at.itl_ms.unwrap_or(f64::NAN),
        f64::from(sla.isl) * 1000.0 / ttft_ms / f64::from(planner.prefill_tp),
        decode_thpt,
    );
    let result = ProfileResult::new(
        WorkerConfig::new(planner.prefill_tp, planner.prefill_tp),
        WorkerConfig::new(planner.decode_tp, planner.decode_tp),
        predicted,
        planner.profile.clone(),
    )
    .with_notes([vec![note], planner.notes.clone()].concat());
    ProfileRecord {
        schema_version: 1,
        manifest: Manifest::new(
            settings.method.clone(),
            "0.0.0-dgdr",
            format!(
                "Dynamo's profiler (DynamoGraphDeploymentRequest {})",
                request["metadata"]["name"].as_str().unwrap_or("?")
            ),
            Role::Baseline,
        ),
        request: profile_request,
        input_hash: crate::spec::input_hash(&yaml),
        result: Some(result),
        error: None,
        ledger: Ledger {
            duration_s,
            cpu_s,
            gpu_hours,
            deployments,
            estimate_calls: 0,
            leaked_deployments: 0,
            ..Ledger::default()
        },
        method_cost: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../tests/fixtures/dynamo-2026-01/configs/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        read_request(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn parses_kubernetes_times() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(unix_seconds("2026-01-15T10:04:05Z"), Some(1_768_471_445.0));
        assert_eq!(unix_seconds("2024-02-29T00:00:00.5Z"), Some(1_709_164_800.5));
        assert_eq!(unix_seconds("2026-01-15 10:04:05"), None);
    }

    #[test]
    fn estimates_the_reference_requests() {
        let (n, gpu_h, note) = estimate_cost(&fixture("aic_profiling_dgdr.yaml"), 30.0, 1, 2);
        assert_eq!((n, gpu_h), (0, 0.0), "{note}");
        // Online: 4 prefill + 4 decode + 2 interpolation (domain.md §2).
        let (n, gpu_h, note) = estimate_cost(&fixture("online_profiling_dgdr.yaml"), 3600.0, 1, 1);
        assert_eq!(n, 10);
        assert!((gpu_h - 32.0 / 10.0).abs() < 1e-9, "{gpu_h}");
        assert!(note.starts_with("cost estimated"), "{note}");
    }

    #[test]
    fn refuses_other_kinds() {
        assert!(read_request("kind: DynamoGraphDeployment\nmetadata: {name: x}\n")
            .unwrap_err()
            .to_string()
            .contains("expected DynamoGraphDeploymentRequest"));
        assert!(read_request("kind: DynamoGraphDeploymentRequest\n")
            .unwrap_err()
            .to_string()
            .contains("metadata.name"));
        // The profiling Job `profile-<name>` must fit 63 characters: refused when the file is read.
        let named = |name: &str| format!("kind: DynamoGraphDeploymentRequest\nmetadata: {{name: {name}}}\n");
        assert!(read_request(&named(&"q".repeat(55))).is_ok());
        let err = read_request(&named(&"q".repeat(56))).unwrap_err();
        assert!(err.to_string().contains("its profiling Job profile-qqq"), "{err}");
        assert!(read_request(&named("Qwen3_AIC"))
            .unwrap_err()
            .to_string()
            .contains("not a DNS-1123 label"));
    }
}
