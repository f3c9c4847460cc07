//! The real `aiperf profile` as the load generator: the command Dynamo's profiler runs, and its
//! artifacts read back as profcmp records and summary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use profcmp_plugin_api::Probe;

use super::target::Target;
use super::EndpointError;
use crate::aiperf::{AiperfError, RequestRecord, Slo, Summary, RECORDS_JSONL};
use crate::workload::write_mooncake;

/// Where aiperf is and how to call it.
#[derive(Clone, Debug, PartialEq)]
pub struct AiperfSettings {
    /// The `aiperf` executable (a name looked up on PATH, or a path).
    pub program: PathBuf,
    /// `--tokenizer`: a local tokenizer directory (tokenizer.json + tokenizer_config.json) or a
    /// Hugging Face id; None = aiperf's default (the model name, which needs the hub).
    pub tokenizer: Option<String>,
    /// Seed of aiperf's synthetic prompts (`--random-seed`).
    pub seed: u64,
    /// Longest one request may take, s (`--request-timeout-seconds`).
    pub timeout_s: f64,
    /// More arguments, appended last.
    pub extra_args: Vec<String>,
}

impl Default for AiperfSettings {
    fn default() -> Self {
        AiperfSettings {
            program: PathBuf::from("aiperf"),
            tokenizer: None,
            seed: 100,
            timeout_s: super::loadgen::DEFAULT_TIMEOUT_S,
            extra_args: Vec::new(),
        }
    }
}

/// File name of aiperf's console output inside its artifact directory.
pub const LOG_FILE: &str = "aiperf.log";
/// File name of the trace handed to aiperf for an open-loop probe.
pub const TRACE_FILE: &str = "input-mooncake.jsonl";

/// The `aiperf profile` arguments for a probe, after Dynamo's profiler (synthetic prompts of
/// exactly ISL tokens, `max_tokens` = `min_tokens` = OSL with `ignore_eos`, streaming chat), with
/// the UI, server metrics and GPU telemetry off. A trace is replayed on its timestamps from
/// `trace_file` (mooncake format).
pub fn arguments(
    target: &Target,
    probe: &Probe,
    slo: Option<Slo>,
    settings: &AiperfSettings,
    artifact_dir: &Path,
    trace_file: &Path,
) -> Vec<String> {
    let mut args: Vec<String> = vec!["profile".into()];
    let mut push = |flag: &str, value: String| {
        args.push(flag.into());
        args.push(value);
    };
    push("--model", target.model.clone());
    if let Some(tokenizer) = &settings.tokenizer {
        push("--tokenizer", tokenizer.clone());
    }
    push("--url", target.base_url.clone());
    push("--endpoint-type", target.api.as_str().into());
    push("--endpoint", target.api.path().into());
    push("--random-seed", settings.seed.to_string());
    push("--request-timeout-seconds", settings.timeout_s.to_string());
    push("--artifact-dir", artifact_dir.display().to_string());
    push("--ui", "none".into());
    push("--extra-inputs", "ignore_eos:true".into());
    push("--extra-inputs", r#"{"nvext":{"ignore_eos":true}}"#.into());
    push("--header", "Accept:text/event-stream".into());
    match probe {
        Probe::Concurrency {
            concurrency,
            requests,
            isl,
            osl,
            warmup,
        } => {
            push("--synthetic-input-tokens-mean", isl.to_string());
            push("--synthetic-input-tokens-stddev", "0".into());
            push("--output-tokens-mean", osl.to_string());
            push("--output-tokens-stddev", "0".into());
            push("--extra-inputs", format!("max_tokens:{osl}"));
            push("--extra-inputs", format!("min_tokens:{osl}"));
            push("--concurrency", concurrency.to_string());
            push("--request-count", requests.to_string());
            push("--num-dataset-entries", requests.to_string());
            if *warmup > 0 {
                push("--warmup-request-count", warmup.to_string());
            }
        }
        Probe::Trace { .. } => {
            push("--input-file", trace_file.display().to_string());
            push("--custom-dataset-type", "mooncake_trace".into());
        }
    }
    if let Some(slo) = slo {
        push(
            "--goodput",
            format!("time_to_first_token:{} inter_token_latency:{}", slo.ttft_ms, slo.itl_ms),
        );
    }
    args.push("--streaming".into());
    args.push("--no-server-metrics".into());
    args.push("--no-gpu-telemetry".into());
    if matches!(probe, Probe::Trace { .. }) {
        args.push("--fixed-schedule".into());
        args.push("--fixed-schedule-auto-offset".into());
    }
    args.extend(settings.extra_args.iter().cloned());
    args
}

/// Runs `aiperf profile` into `artifact_dir` and reads its records and summary. aiperf's
/// console output goes to `aiperf.log` there.
pub fn run(
    target: &Target,
    probe: &Probe,
    slo: Option<Slo>,
    settings: &AiperfSettings,
    artifact_dir: &Path,
) -> Result<(Vec<RequestRecord>, Summary), EndpointError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EndpointError::Io { path, source }
    };
    std::fs::create_dir_all(artifact_dir).map_err(io(artifact_dir))?;
    let trace_file = artifact_dir.join(TRACE_FILE);
    if let Probe::Trace { requests } = probe {
        write_mooncake(&trace_file, requests, 512).map_err(|e| EndpointError::Config(e.to_string()))?;
    }
    let log_path = artifact_dir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
    let log_err = log.try_clone().map_err(io(&log_path))?;
    // aiperf loads a local tokenizer offline only from a Hugging Face cache: lay one out.
    let local_tokenizer = (settings.tokenizer.as_deref())
        .map(Path::new)
        .filter(|path| path.is_dir())
        .map(|path| hf_cache(path, &artifact_dir.join("hf-cache")))
        .transpose()?;
    let settings = &AiperfSettings {
        tokenizer: match local_tokenizer {
            Some(_) => Some(LOCAL_TOKENIZER_ID.to_string()),
            None => settings.tokenizer.clone(),
        },
        ..settings.clone()
    };
    let mut command = Command::new(&settings.program);
    command
        .args(arguments(target, probe, slo, settings, artifact_dir, &trace_file))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    if let Some(cache) = &local_tokenizer {
        command.env("HF_HUB_CACHE", cache).env("HF_HUB_OFFLINE", "1");
    }
    let status = command.status().map_err(|e| EndpointError::AiperfMissing {
        program: settings.program.display().to_string(),
        reason: e.to_string(),
    })?;
    let failed = |reason: String| EndpointError::AiperfFailed {
        dir: artifact_dir.to_path_buf(),
        reason,
    };
    if !status.success() {
        let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!("{status}; the end of its output:\n{}", tail.join("\n"))));
    }
    let summary = Summary::read_dir(artifact_dir).map_err(|e| failed(e.to_string()))?;
    let records = read_records(&artifact_dir.join(RECORDS_JSONL)).map_err(|e| failed(e.to_string()))?;
    Ok((records, summary))
}

/// The Hugging Face id a local tokenizer directory is given to aiperf under.
pub const LOCAL_TOKENIZER_ID: &str = "profcmp/local-tokenizer";

/// Copies the tokenizer files of `dir` into a Hugging Face cache at `cache` as
/// [`LOCAL_TOKENIZER_ID`] (revision `main`); returns the cache directory.
fn hf_cache(dir: &Path, cache: &Path) -> Result<PathBuf, EndpointError> {
    const REVISION: &str = "0000000000000000000000000000000000000000";
    let repo = cache.join(format!("models--{}", LOCAL_TOKENIZER_ID.replace('/', "--")));
    let snapshot = repo.join("snapshots").join(REVISION);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EndpointError::Io { path, source }
    };
    std::fs::create_dir_all(&snapshot).map_err(io(&snapshot))?;
    std::fs::create_dir_all(repo.join("refs")).map_err(io(&repo))?;
    std::fs::write(repo.join("refs").join("main"), REVISION).map_err(io(&repo))?;
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.is_file() {
            let name = path.file_name().expect("a file has a name");
            std::fs::copy(&path, snapshot.join(name)).map_err(io(&path))?;
        }
    }
    Ok(cache.to_path_buf())
}

/// Per-request records from a `profile_export.jsonl` written by aiperf (0.13: `metadata` +
/// `metrics` + `error`; warm-up records are left out) or by profcmp. `start_ms` counts from the
/// first request.
pub fn read_records(path: &Path) -> Result<Vec<RequestRecord>, AiperfError> {
    let text = std::fs::read_to_string(path).map_err(|e| AiperfError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut records = Vec::new();
    let mut starts_ns = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = |message: String| AiperfError::Content {
            place: format!("{} line {}", path.display(), i + 1),
            message,
        };
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| at(e.to_string()))?;
        if value.get("metrics").is_none() {
            records.push(serde_json::from_value(value).map_err(|e| at(e.to_string()))?);
            continue;
        }
        let metadata = &value["metadata"];
        if metadata["benchmark_phase"].as_str().is_some_and(|p| p != "profiling") {
            continue;
        }
        let metric = |name: &str| value["metrics"][name]["value"].as_f64();
        let error = value.get("error").filter(|e| !e.is_null()).map(|e| {
            e.get("message")
                .and_then(|m| m.as_str())
                .map_or_else(|| e.to_string(), str::to_string)
        });
        let ok = error.is_none();
        starts_ns.push(metadata["request_start_ns"].as_f64());
        records.push(RequestRecord {
            start_ms: 0.0,
            ttft_ms: metric("time_to_first_token").filter(|_| ok),
            latency_ms: metric("request_latency").filter(|_| ok),
            input_tokens: metric("input_sequence_length").unwrap_or(0.0) as u32,
            output_tokens: metric("output_sequence_length")
                .or_else(|| metric("output_token_count"))
                .unwrap_or(0.0) as u32,
            error,
        });
    }
    if !starts_ns.is_empty() {
        let t0 = starts_ns.iter().flatten().copied().fold(f64::INFINITY, f64::min);
        for (record, start) in records.iter_mut().zip(&starts_ns) {
            record.start_ms = start.map_or(0.0, |s| (s - t0) / 1e6);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::Api;

    #[test]
    fn reads_real_aiperf_records() {
        let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/aiperf-0.13"));
        let records = read_records(&fixtures.join("synthetic-chat").join(RECORDS_JSONL)).unwrap();
        assert_eq!(records.len(), 20);
        assert!(records.iter().all(|r| r.error.is_none() && r.output_tokens == 16));
        assert!(records.iter().any(|r| r.start_ms == 0.0));
        // Recomputed from the records, AIPerf's ITL matches its own summary.
        let summary = Summary::read_dir(&fixtures.join("synthetic-chat")).unwrap();
        let mine = Summary::from_records(&records, None, 1.0);
        let (theirs, ours) = (
            summary.metric("inter_token_latency").unwrap(),
            mine.metric("inter_token_latency").unwrap(),
        );
        assert!(
            (theirs.avg.unwrap() - ours.avg.unwrap()).abs() < 1e-6,
            "{theirs:?} vs {ours:?}"
        );
        assert!((theirs.p50.unwrap() - ours.p50.unwrap()).abs() < 1e-6);
    }

    #[test]
    fn builds_dynamo_profiler_style_arguments() {
        let target = Target::new("http://127.0.0.1:9", "Qwen/Qwen3-32B", Api::Chat).unwrap();
        let probe = Probe::Concurrency {
            concurrency: 4,
            requests: 100,
            isl: 2048,
            osl: 256,
            warmup: 4,
        };
        let settings = AiperfSettings {
            tokenizer: Some("tok".into()),
            ..Default::default()
        };
        let slo = Slo {
            ttft_ms: 500.0,
            itl_ms: 50.0,
        };
        let args = arguments(
            &target,
            &probe,
            Some(slo),
            &settings,
            Path::new("out"),
            Path::new("t.jsonl"),
        )
        .join(" ");
        for expected in [
            "profile --model Qwen/Qwen3-32B --tokenizer tok --url http://127.0.0.1:9 --endpoint-type chat",
            "--synthetic-input-tokens-mean 2048 --synthetic-input-tokens-stddev 0",
            "--extra-inputs max_tokens:256 --extra-inputs min_tokens:256",
            "--concurrency 4 --request-count 100",
            "--warmup-request-count 4",
            "--goodput time_to_first_token:500 inter_token_latency:50",
            "--streaming",
        ] {
            assert!(args.contains(expected), "missing `{expected}` in {args}");
        }
        let trace = Probe::Trace { requests: vec![] };
        let args = arguments(&target, &trace, None, &settings, Path::new("out"), Path::new("t.jsonl")).join(" ");
        assert!(
            args.contains("--input-file t.jsonl --custom-dataset-type mooncake_trace"),
            "{args}"
        );
        assert!(args.contains("--fixed-schedule"), "{args}");
    }

    #[test]
    fn a_missing_aiperf_says_how_to_get_it() {
        let target = Target::new("http://127.0.0.1:9", "m", Api::Chat).unwrap();
        let settings = AiperfSettings {
            program: "/nonexistent/aiperf".into(),
            ..Default::default()
        };
        let dir = std::env::temp_dir().join(format!("profcmp-aiperf-missing-{}", std::process::id()));
        let probe = Probe::Concurrency {
            concurrency: 1,
            requests: 1,
            isl: 1,
            osl: 1,
            warmup: 0,
        };
        let error = run(&target, &probe, None, &settings, &dir).unwrap_err().to_string();
        assert!(error.contains("pip install aiperf==0.13.0"), "{error}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
