//! The validate stage: deploy each method's recommended graph and measure it at four load levels.

use profcmp_plugin_api::{DeployRequest, Probe, ProfileResult};
use serde::Serialize;

use crate::aiperf::Slo;
use crate::backend::Backend;
use crate::layout::{read_json, write_json, ResultsDir, ValidationRecord};
use crate::spec::{input_hash, RunSpec};
use crate::stage::Observer;

/// The graph a method recommends, as validated: one prefill and one decode worker of its TPs.
pub fn recommended_graph(result: &ProfileResult) -> DeployRequest {
    DeployRequest::Graph {
        prefill_workers: 1,
        prefill_tp: result.prefill.tp,
        decode_workers: 1,
        decode_tp: result.decode.tp,
    }
}

/// Capacity B (max concurrent requests) shared by every method: `--max-batch` when given, else
/// the smallest capacity among the methods' recommended graphs, read from their deployments
/// (KV capacity / (ISL + OSL), capped by the engine's max batch).
pub fn shared_capacity(
    spec: &RunSpec,
    methods: &[(String, ProfileResult)],
    backend: &mut dyn Backend,
) -> Result<u32, String> {
    if let Some(b) = spec.max_batch {
        return Ok(b);
    }
    let tokens_per_request = u64::from(spec.sla.isl + spec.sla.osl);
    let mut capacity = u32::MAX;
    for (_, result) in methods {
        let deployment = backend.deploy(&recommended_graph(result)).map_err(|e| e.to_string())?;
        let fits = (deployment.kv_capacity_tokens / tokens_per_request).min(u64::from(deployment.max_batch));
        backend.teardown(&deployment).map_err(|e| e.to_string())?;
        capacity = capacity.min(fits.max(1) as u32);
    }
    Ok(if capacity == u32::MAX { 1 } else { capacity })
}

/// Requests measured at a level: `--requests`, but at least twice the concurrency so the
/// benchmark reaches its steady state instead of being all ramp-up.
pub fn level_requests(spec: &RunSpec, concurrency: u32) -> u32 {
    spec.requests_per_level.max(2 * concurrency)
}

#[derive(Serialize)]
struct LevelInputs<'a> {
    result: &'a ProfileResult,
    spec: serde_json::Value,
    concurrency: u32,
    seed: u64,
}

/// Measures one method's graph at each level; levels whose inputs are unchanged are skipped.
/// `seed_dir` is `Some(k)` for repeat k > 0 (written under `seed-<k>/`).
pub fn validate_method(
    spec: &RunSpec,
    results: &ResultsDir,
    method: &str,
    result: &ProfileResult,
    levels: &[(&'static str, u32)],
    repeat: u32,
    backend: &mut dyn Backend,
    observer: &dyn Observer,
) -> Result<(), String> {
    let seed = spec.seed + u64::from(repeat);
    let slo = Slo {
        ttft_ms: spec.sla.ttft_ms,
        itl_ms: spec.sla.itl_ms,
    };
    let mut todo = Vec::new();
    for &(level, concurrency) in levels {
        let mut dir = results.validation(method, level);
        if repeat > 0 {
            dir = dir.join(format!("seed-{repeat}"));
        }
        let hash = input_hash(&LevelInputs {
            result,
            spec: spec.validate_key(),
            concurrency,
            seed,
        });
        let done = read_json::<ValidationRecord>(&dir.join("validation.json")).is_ok_and(|r| r.input_hash == hash)
            && dir.join(crate::aiperf::SUMMARY_JSON).exists();
        if !done {
            todo.push((level, concurrency, dir, hash));
        }
    }
    if todo.is_empty() {
        observer.stage_progress("validate", method, "unchanged, skipped");
        return Ok(());
    }
    let deployment = backend.deploy(&recommended_graph(result)).map_err(|e| e.to_string())?;
    let outcome = (|| {
        for (level, concurrency, dir, hash) in &todo {
            if observer.cancelled() {
                return Err("cancelled".to_string());
            }
            observer.stage_progress("validate", method, &format!("{level}: concurrency {concurrency}"));
            let requests = level_requests(spec, *concurrency);
            let probe = Probe::Concurrency {
                concurrency: *concurrency,
                requests,
                isl: spec.sla.isl,
                osl: spec.sla.osl,
                warmup: *concurrency,
            };
            let run = backend
                .measure(&deployment, &probe, Some(slo))
                .map_err(|e| e.to_string())?;
            run.summary
                .write_dir(dir, &run.records)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            let record = ValidationRecord {
                level: level.to_string(),
                concurrency: *concurrency,
                requests,
                seed,
                input_hash: hash.clone(),
            };
            write_json(&dir.join("validation.json"), &record).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        Ok(())
    })();
    let torn_down = backend.teardown(&deployment).map_err(|e| e.to_string());
    outcome.and(torn_down)
}
