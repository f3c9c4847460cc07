//! The methods bench's scenarios, and how one becomes a run's settings: its load from the
//! estimator's capacity, a trace short enough to simulate, the planner's timing compressed with
//! the trace, and a reality drawn per seed.

use std::path::Path;

use anyhow::{bail, Context};
use profcmp_core::estimator::{EstimatorSet, ModelInfo};
use profcmp_core::spec::RunSpec;
use profcmp_plugin_api::Sla;

/// One (model, system, request shape, SLA) the methods bench runs.
pub struct Scenario {
    pub model: &'static str,
    pub system: &'static str,
    pub isl: u32,
    pub osl: u32,
    pub ttft_ms: f64,
    pub itl_ms: f64,
}

const fn sc(model: &'static str, system: &'static str, isl: u32, osl: u32, ttft_ms: f64, itl_ms: f64) -> Scenario {
    Scenario {
        model,
        system,
        isl,
        osl,
        ttft_ms,
        itl_ms,
    }
}

const Q32: &str = "Qwen/Qwen3-32B";
const Q8: &str = "Qwen/Qwen3-8B";
const Q06: &str = "Qwen/Qwen3-0.6B";
const L8: &str = "meta-llama/Meta-Llama-3.1-8B";
const L70: &str = "meta-llama/Meta-Llama-3.1-70B";

pub const SCENARIOS: [Scenario; 20] = [
    sc(Q32, "h200_sxm", 2048, 256, 500.0, 50.0),
    sc(Q32, "h100_sxm", 2048, 256, 500.0, 50.0),
    sc(Q32, "b200_sxm", 2048, 256, 500.0, 50.0),
    sc(Q32, "h200_sxm", 4096, 512, 1000.0, 40.0),
    sc(Q32, "h100_sxm", 1024, 1024, 300.0, 30.0),
    sc(Q8, "h200_sxm", 2048, 256, 500.0, 50.0),
    sc(Q8, "h100_sxm", 4096, 256, 300.0, 20.0),
    sc(Q8, "b200_sxm", 1024, 1024, 200.0, 15.0),
    sc(Q8, "h200_sxm", 8192, 512, 1000.0, 30.0),
    sc(Q06, "h200_sxm", 2048, 256, 200.0, 10.0),
    sc(Q06, "h100_sxm", 1024, 1024, 100.0, 10.0),
    sc(Q06, "b200_sxm", 4096, 256, 300.0, 20.0),
    sc(L8, "h200_sxm", 2048, 256, 500.0, 50.0),
    sc(L8, "h100_sxm", 4096, 512, 800.0, 30.0),
    sc(L8, "b200_sxm", 1024, 1024, 300.0, 20.0),
    sc(L70, "h200_sxm", 2048, 256, 1000.0, 60.0),
    sc(L70, "h100_sxm", 2048, 256, 1500.0, 80.0),
    sc(L70, "b200_sxm", 4096, 512, 1000.0, 50.0),
    sc(Q32, "b200_sxm", 8192, 256, 1500.0, 60.0),
    sc(L70, "h200_sxm", 1024, 1024, 800.0, 50.0),
];

/// Seed of a scenario's first run; seed k runs with `FIRST_SEED + k`.
pub const FIRST_SEED: u64 = 42;
/// The trace's min rate is its max rate divided by this (the defaults' 1-9 req/s ratio).
pub const MIN_RATE_DIVISOR: f64 = 9.0;
/// The shortest trace a scenario gets, s.
pub const MIN_TRACE_S: f64 = 60.0;
/// The planner's adjustment interval is the trace's length divided by this (the defaults' 180 s
/// interval on an 1800 s trace).
pub const INTERVAL_DIVISOR: f64 = 10.0;
/// A planner-added worker starts in the trace's length divided by this (the defaults' 120 s
/// worker startup on an 1800 s trace).
pub const WORKER_STARTUP_DIVISOR: f64 = 15.0;

/// How heavy and how long the methods bench makes each scenario's trace.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Longest trace (one sinusoid period), s.
    pub trace_duration_s: f64,
    /// Peak rate as a fraction of the estimated capacity of the best graph.
    pub fraction: f64,
    /// Highest peak rate, req/s.
    pub max_rate: f64,
    /// Output tokens the trace asks for at most (the trace is shortened to fit).
    pub max_tokens: f64,
}

/// The run settings of scenario `s` with candidate TPs `tps` under `load` (seed and reality are
/// set per run).
pub fn scenario_spec(s: &Scenario, tps: &[u32], load: Load) -> anyhow::Result<RunSpec> {
    let mut spec = RunSpec::defaults();
    spec.model = s.model.into();
    spec.system = s.system.into();
    spec.sla = Sla::new(s.isl, s.osl, s.ttft_ms, s.itl_ms);
    spec.search.prefill_tp = tps.to_vec();
    spec.search.decode_tp = tps.to_vec();
    let capacity = capacity_rps(&spec)?;
    spec.trace.max_rate = (capacity * load.fraction).clamp(0.1, load.max_rate);
    spec.trace.min_rate = spec.trace.max_rate / MIN_RATE_DIVISOR;
    let mean_rate = (spec.trace.max_rate + spec.trace.min_rate) / 2.0;
    let duration =
        (load.max_tokens / (mean_rate * f64::from(s.osl))).clamp(MIN_TRACE_S, load.trace_duration_s.max(MIN_TRACE_S));
    spec.trace.duration_s = duration.round();
    // One slow single-class wave: the scenario where the planner's lag matters.
    spec.trace.period_s = spec.trace.duration_s;
    spec.trace.second_class = None;
    // The defaults' planner timing compressed with the trace, so the planner acts within it.
    spec.planner.adjustment_interval_s = Some(spec.trace.duration_s / INTERVAL_DIVISOR);
    Ok(spec)
}

/// Worker startup of a scenario's reality, s (see [`WORKER_STARTUP_DIVISOR`]).
pub fn worker_startup_s(spec: &RunSpec) -> f64 {
    spec.trace.duration_s / WORKER_STARTUP_DIVISOR
}

/// One reality drawn from the embedded plausible ranges with `seed` (so each seed of a scenario
/// runs on another cluster, as a reality ensemble does), its worker startup set to `worker_s`
/// (compressed with the trace).
pub fn write_reality(path: &Path, worker_s: f64, seed: u64) -> anyhow::Result<()> {
    let mut reality = profcmp_core::sim::RealityRanges::embedded()
        .draw(1, seed)?
        .pop()
        .context("one reality drawn")?;
    reality.name = format!("{}, fast worker startup (bench)", reality.name);
    reality.worker_startup_s = worker_s;
    std::fs::write(path, reality.to_toml()).with_context(|| format!("cannot write {}", path.display()))
}

/// A rough peak rate (req/s) a planner-scaled graph sustains under the SLA within the GPU budget,
/// from the estimator: prefill at batch 1, decode at the largest batch meeting the ITL, the
/// budget split into workers as well as it can be.
pub fn capacity_rps(spec: &RunSpec) -> anyhow::Result<f64> {
    let set = EstimatorSet::new(
        ModelInfo::resolve(&spec.model)?,
        &spec.system,
        spec.backend.as_str(),
        None,
    )?;
    let (isl, osl, context) = (spec.sla.isl, spec.sla.osl, spec.sla.isl + spec.sla.osl / 2);
    let prefill = |tp: u32| -> Option<f64> {
        let ms = set.get(tp).ok()?.prefill_ms(1, isl).ok()?;
        (ms <= spec.sla.ttft_ms).then(|| 1000.0 / ms)
    };
    let decode = |tp: u32| -> Option<f64> {
        let e = set.get(tp).ok()?;
        let most = (e.kv_capacity_tokens() / u64::from(context)).min(u64::from(e.max_batch())) as u32;
        let step = |b: u32| e.decode_step_ms(b, context).ok().filter(|&ms| ms <= spec.sla.itl_ms);
        step(1)?;
        let (mut lo, mut hi) = (1, most.max(1));
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if step(mid).is_some() {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Some(f64::from(lo) * 1000.0 / (step(lo)? * f64::from(osl)))
    };
    // What a planner-scaled graph can reach within the budget: the best split of the budget
    // into prefill and decode workers of any candidate TP pair (not one static 1P+1D graph).
    let budget = spec.search.gpu_budget;
    let mut best: f64 = 0.0;
    for &p in &spec.search.prefill_tp {
        for &d in &spec.search.decode_tp {
            let (Some(pr), Some(dr)) = (prefill(p), decode(d)) else {
                continue;
            };
            for n_p in 1..=budget / p {
                let n_d = budget.saturating_sub(n_p * p) / d;
                if n_d >= 1 {
                    best = best.max((f64::from(n_p) * pr).min(f64::from(n_d) * dr));
                }
            }
        }
    }
    if best <= 0.0 {
        bail!(
            "{} on {}: no graph meets TTFT {} / ITL {} ms by the estimator",
            spec.model,
            spec.system,
            spec.sla.ttft_ms,
            spec.sla.itl_ms
        );
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_has_a_feasible_load() {
        let rate = capacity_rps(&RunSpec::defaults()).unwrap();
        assert!(rate > 1.0 && rate < 100.0, "{rate}");
    }

    #[test]
    fn a_tighter_itl_lowers_capacity_and_fewer_tokens_shorten_the_trace() {
        let s = &SCENARIOS[0];
        let load = Load {
            trace_duration_s: 300.0,
            fraction: 0.8,
            max_rate: 60.0,
            max_tokens: 600_000.0,
        };
        let spec = scenario_spec(s, &[1, 2, 4], load).unwrap();
        let tighter = Scenario {
            itl_ms: s.itl_ms / 2.0,
            ..sc(s.model, s.system, s.isl, s.osl, s.ttft_ms, s.itl_ms)
        };
        let tight = scenario_spec(&tighter, &[1, 2, 4], load).unwrap();
        assert!(
            tight.trace.max_rate < spec.trace.max_rate,
            "{} vs {}",
            tight.trace.max_rate,
            spec.trace.max_rate
        );
        // One output token: the trace is as short as it may be, and the planner's interval with it.
        let short = scenario_spec(
            s,
            &[1, 2, 4],
            Load {
                max_tokens: 1.0,
                ..load
            },
        )
        .unwrap();
        assert_eq!(short.trace.duration_s, MIN_TRACE_S);
        assert_eq!(
            short.planner.adjustment_interval_s,
            Some(MIN_TRACE_S / INTERVAL_DIVISOR)
        );
        assert!(spec.trace.duration_s <= 300.0 && spec.trace.duration_s >= short.trace.duration_s);
        assert!((spec.trace.min_rate * MIN_RATE_DIVISOR - spec.trace.max_rate).abs() < 1e-9);
    }
}
