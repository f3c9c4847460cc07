//! The validate stage: deploy each method's recommended graph and measure it at four load levels.

use profcmp_plugin_api::{DeployRequest, Probe, ProfileResult};
use serde::{Deserialize, Serialize};

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

/// File of a method's capacity record: `results/<method>/validation/capacity.json`.
pub const CAPACITY_JSON: &str = "capacity.json";

/// Throughput growth per doubling of the concurrency below which the sweep stops: past this
/// the graph is saturated.
pub const SWEEP_GROWTH: f64 = 1.10;

/// One point of the capacity sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Requests in flight.
    pub concurrency: u32,
    /// Throughput by Little's law, concurrency / mean request latency, requests/s.
    pub throughput_rps: f64,
    /// Mean request latency, ms.
    pub mean_latency_ms: f64,
}

/// How a graph's capacity B was found (`capacity.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapacityRecord {
    /// Prefill TP of the graph (one prefill worker).
    pub prefill_tp: u32,
    /// Decode TP of the graph (one decode worker).
    pub decode_tp: u32,
    /// Capacity B the levels are made from.
    pub capacity_b: u32,
    /// `measured` (the sweep) or `max_batch` (`--max-batch`, no sweep).
    pub source: String,
    /// Most requests the decode worker holds: KV capacity / (ISL + OSL), capped by its max batch.
    pub limit: u32,
    /// The sweep, by concurrency (empty with `--max-batch`).
    pub sweep: Vec<SweepPoint>,
    /// Seed of the sweep.
    pub seed: u64,
    /// Hash of the inputs.
    pub input_hash: String,
}

/// Capacity B of a graph = its saturation concurrency (docs/comparison-schema.md "Load
/// levels"): a closed-loop sweep at concurrency 1, 2, 4, ... (capped by what the decode worker
/// holds) measures throughput X(c) = c / mean latency until doubling c adds less than 10%;
/// B = ceil(X_max x R_1), where the two asymptotes of a closed system meet (R_1 the latency of
/// a lone request, X_max the highest throughput measured): below B requests rarely wait, past
/// it every added request only waits. `--max-batch` skips the sweep.
pub fn measure_capacity(
    spec: &RunSpec,
    graph: &DeployRequest,
    backend: &mut dyn Backend,
) -> Result<CapacityRecord, String> {
    let (prefill_tp, decode_tp) = graph_tps(graph);
    let hash = capacity_hash(spec, graph);
    if let Some(b) = spec.max_batch {
        return Ok(CapacityRecord {
            prefill_tp,
            decode_tp,
            capacity_b: b.max(1),
            source: "max_batch".into(),
            limit: b.max(1),
            sweep: Vec::new(),
            seed: spec.seed,
            input_hash: hash,
        });
    }
    let deployment = backend.deploy(graph).map_err(|e| e.to_string())?;
    let tokens_per_request = u64::from(spec.sla.isl + spec.sla.osl);
    let limit = (deployment.kv_capacity_tokens / tokens_per_request)
        .min(u64::from(deployment.max_batch))
        .clamp(1, u64::from(u32::MAX)) as u32;
    let sweep = (|| {
        let mut sweep: Vec<SweepPoint> = Vec::new();
        let mut concurrency = 1;
        loop {
            let probe = Probe::Concurrency {
                concurrency,
                requests: sweep_requests(concurrency),
                isl: spec.sla.isl,
                osl: spec.sla.osl,
                warmup: concurrency,
            };
            let run = backend.measure(&deployment, &probe, None).map_err(|e| e.to_string())?;
            let latencies: Vec<f64> = run.records.iter().filter_map(|r| r.latency_ms).collect();
            if latencies.is_empty() {
                return Err(format!(
                    "capacity sweep: no request completed at concurrency {concurrency}"
                ));
            }
            let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
            let point = SweepPoint {
                concurrency,
                throughput_rps: f64::from(concurrency) * 1e3 / mean,
                mean_latency_ms: mean,
            };
            let flat = sweep
                .last()
                .is_some_and(|last| point.throughput_rps < SWEEP_GROWTH * last.throughput_rps);
            sweep.push(point);
            if flat || concurrency >= limit {
                return Ok(sweep);
            }
            concurrency = (2 * concurrency).min(limit);
        }
    })();
    let torn_down = backend.teardown(&deployment).map_err(|e| e.to_string());
    let sweep = sweep?;
    torn_down?;
    Ok(CapacityRecord {
        prefill_tp,
        decode_tp,
        capacity_b: capacity_from_sweep(&sweep, limit),
        source: "measured".into(),
        limit,
        sweep,
        seed: spec.seed,
        input_hash: hash,
    })
}

/// B = ceil(X_max x R_1), within [1, limit].
pub fn capacity_from_sweep(sweep: &[SweepPoint], limit: u32) -> u32 {
    let Some(lone) = sweep.iter().find(|p| p.concurrency == 1) else {
        return 1;
    };
    let best = sweep.iter().map(|p| p.throughput_rps).fold(0.0, f64::max);
    let b = (best * lone.mean_latency_ms / 1e3 - 1e-9).ceil();
    (b.max(1.0) as u32).min(limit.max(1))
}

/// Measured requests per sweep point: a few waves of the concurrency, at least 8.
fn sweep_requests(concurrency: u32) -> u32 {
    (2 * concurrency).max(8)
}

fn graph_tps(graph: &DeployRequest) -> (u32, u32) {
    match *graph {
        DeployRequest::Graph {
            prefill_tp, decode_tp, ..
        } => (prefill_tp, decode_tp),
        DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => (tp, tp),
    }
}

/// Capacity B of `method`'s recommended graph: read from its `capacity.json` when the inputs are
/// unchanged, else measured (or `--max-batch`) and written there.
pub fn method_capacity(
    spec: &RunSpec,
    results: &ResultsDir,
    method: &str,
    result: &ProfileResult,
    backend: &mut dyn Backend,
) -> Result<CapacityRecord, String> {
    let path = results.method(method).join("validation").join(CAPACITY_JSON);
    let graph = recommended_graph(result);
    let hash = capacity_hash(spec, &graph);
    if let Some(record) = read_json::<CapacityRecord>(&path).ok().filter(|r| r.input_hash == hash) {
        return Ok(record);
    }
    let record = measure_capacity(spec, &graph, backend)?;
    write_json(&path, &record).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(record)
}

/// What a graph's capacity depends on.
fn capacity_hash(spec: &RunSpec, graph: &DeployRequest) -> String {
    // The reality by its values (the fingerprint), so editing its file remeasures.
    let target = (&spec.model, &spec.system, &spec.backend, &spec.sla, &spec.fingerprint);
    input_hash(&(graph, target, spec.seed, spec.max_batch))
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
#[allow(clippy::too_many_arguments)]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Reality, SimCluster};

    fn point(concurrency: u32, throughput_rps: f64) -> SweepPoint {
        SweepPoint {
            concurrency,
            throughput_rps,
            mean_latency_ms: f64::from(concurrency) * 1e3 / throughput_rps,
        }
    }

    #[test]
    fn capacity_is_where_the_throughput_asymptotes_meet() {
        // A lone request takes 5 s; throughput tops out at 1.02 req/s: B = ceil(5.1) = 6.
        let sweep = [
            point(1, 0.2),
            point(2, 0.4),
            point(4, 0.8),
            point(8, 1.0),
            point(16, 1.02),
        ];
        assert_eq!(capacity_from_sweep(&sweep, 1000), 6);
        assert_eq!(
            capacity_from_sweep(&sweep, 4),
            4,
            "never above what the decode worker holds"
        );
        // A faster lone request (2.5 s) at the same ceiling halves B.
        let faster = sweep.map(|p| SweepPoint {
            mean_latency_ms: p.mean_latency_ms / 2.0,
            ..p
        });
        assert_eq!(capacity_from_sweep(&faster, 1000), 3);
    }

    fn qwen(seed: u64) -> SimCluster {
        SimCluster::aic(
            "Qwen/Qwen3-32B",
            "h200_sxm",
            profcmp_plugin_api::ServingBackend::Trtllm,
            Reality::named("typical").unwrap(),
            seed,
            None,
        )
        .unwrap()
    }

    fn graph(prefill_tp: u32, decode_tp: u32) -> DeployRequest {
        DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp,
            decode_workers: 1,
            decode_tp,
        }
    }

    #[test]
    fn each_graph_gets_its_own_measured_capacity() {
        let spec = RunSpec::defaults();
        let mut sim = qwen(1);
        let narrow = measure_capacity(&spec, &graph(1, 2), &mut sim).unwrap();
        let wide = measure_capacity(&spec, &graph(4, 2), &mut sim).unwrap();
        assert_eq!(narrow.source, "measured");
        // Four times the prefill GPUs: the single prefill worker stops being the bottleneck
        // much later.
        assert!(wide.capacity_b > 2 * narrow.capacity_b, "{narrow:?}\n{wide:?}");
        // The sweep stopped where doubling the concurrency added under 10%, or at the limit.
        let last = &narrow.sweep[narrow.sweep.len() - 1];
        let before = &narrow.sweep[narrow.sweep.len() - 2];
        assert!(last.throughput_rps < SWEEP_GROWTH * before.throughput_rps || last.concurrency == narrow.limit);
        // Past B the graph is saturated: twice B adds little throughput over B.
        let mut at = |c: u32| {
            let d = sim.deploy(&graph(1, 2)).unwrap();
            let probe = Probe::Concurrency {
                concurrency: c,
                requests: 3 * c,
                isl: 2048,
                osl: 256,
                warmup: c,
            };
            let run = sim.measure(&d, &probe, None).unwrap();
            let lat: Vec<f64> = run.records.iter().filter_map(|r| r.latency_ms).collect();
            f64::from(c) * 1e3 * lat.len() as f64 / lat.iter().sum::<f64>()
        };
        let b = narrow.capacity_b;
        let (half, full, double) = (at(b.div_ceil(2)), at(b), at(2 * b));
        assert!(double < 1.15 * full, "{double} vs {full} req/s");
        assert!(
            half < 0.8 * full,
            "half of B is well below saturation: {half} vs {full}"
        );
    }

    #[test]
    fn max_batch_overrides_the_sweep_for_every_graph() {
        let spec = RunSpec {
            max_batch: Some(8),
            ..RunSpec::defaults()
        };
        let mut sim = qwen(1);
        for g in [graph(1, 1), graph(4, 2)] {
            let record = measure_capacity(&spec, &g, &mut sim).unwrap();
            assert_eq!((record.capacity_b, record.source.as_str()), (8, "max_batch"));
            assert!(record.sweep.is_empty());
        }
        assert_eq!(sim.now_s(), 0.0, "nothing deployed");
    }
}
