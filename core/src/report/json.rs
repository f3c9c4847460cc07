//! `comparison_results.json`: the [`Comparison`] as pretty JSON.
//!
//! Schema (version [`SCHEMA_VERSION`](super::SCHEMA_VERSION); see also docs/comparison-schema.md).
//! Every number that may be missing is `null` when missing, never 0. A *sample* is
//! `{"mean": f64, "n": seeds, "ci95": [low, high] | null, "ci95_method": "student_t" | "bootstrap" |
//! "wilson" | null}` (interval with two or more seeds). A *paired* is `{test ("paired_t"), seeds,
//! mean_difference, ci95, p_value, verdict}` (ci95, p_value, verdict null with fewer than 2 seeds).
//!
//! ```text
//! schema_version   u32
//! results_dir      string
//! sla              {isl, osl, ttft_ms, itl_ms}
//! methods[]        method, status ("ok" | "failed" | "no_profile"), error, profile_source
//!                  ("profile.json" | "config_with_planner.yaml" | null), prefill_tp, decode_tp,
//!   cost           recorded, duration_s, cpu_s, gpu_hours, deployments, estimate_calls,
//!                  reported {duration_s, gpu_hours, deployments, estimate_calls} | null,
//!                  mismatch (bool | null), mismatches [string]
//!   levels[]       level, concurrency, concurrency_source ("validation_json" |
//!                  "aiperf_input_config" | "other_method" | "default"), seeds,
//!                  predicted {concurrency, ttft_ms, itl_ms, kv_usage, source ("explicit" |
//!                  "profile_data")} | null,
//!                  ttft_p50_ms, ttft_p99_ms, itl_p50_ms, itl_p99_ms, goodput, sla_hit_rate: sample,
//!                  error_pct {ttft_p50, ttft_p99, itl_p50, itl_p99}: sample (signed %),
//!                  per_seed [{seed, ttft_p50_ms, ttft_p99_ms, itl_p50_ms, itl_p99_ms, goodput,
//!                  requests, good_requests}]
//!   mean_abs_error_pct  f64 | null
//!   optimization   seeds, prefill_tp, decode_tp, goodput, goodput_per_gpu, avg_gpus,
//!                  sla_hit_rate, regret_pct, cost_regret_pct: sample,
//!                  goodput_vs_best, goodput_per_gpu_vs_best: {best, difference: paired} | null,
//!                  per_seed [{seed, goodput, goodput_per_gpu, avg_gpus, sla_hit_rate, requests,
//!                  good_requests, regret_pct, cost_regret_pct, initial_replicas,
//!                  cold_start_sla_hit_rate, cold_start_sla_misses, cold_start_settle_s}],
//!                  planner {dynamo_version, adjustment_interval_s, predictor, window_size,
//!                  gpu_budget, min_endpoint, sources} | null, cold_start_sla_hit_rate,
//!                  cold_start_settle_s: sample, cold_start_unsettled u32
//!   notes          [string]
//! oracle           {candidates [{name, optimization}], best, best_goodput, best_per_gpu,
//!                  best_goodput_per_gpu} | null
//! verdicts[]       {metric, a, b, verdict ("distinguishable" | "not distinguishable"),
//!                  difference: paired}
//! recommendations  {cheapest, most_accurate, best_goodput, best_configuration, pareto_regret
//!                  ("cost_aware" | "goodput" | null), pareto_front [string], best_tradeoff}
//! warnings         [string], each naming a file and what is wrong with it, then the stages'
//!                  own warnings from run.json, prefixed with the stage
//! run              {profcmp_version, cluster, spec} (results/run.json) | null
//! ```

use super::Comparison;

/// File name of the JSON report.
pub const FILE_NAME: &str = "comparison_results.json";

/// The comparison as pretty JSON (non-finite numbers become `null`).
pub fn to_json(comparison: &Comparison) -> String {
    let mut text = serde_json::to_string_pretty(comparison).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Recommendations, SCHEMA_VERSION};
    use profcmp_plugin_api::Sla;

    #[test]
    fn round_trips_and_carries_the_schema_version() {
        let c = Comparison {
            schema_version: SCHEMA_VERSION,
            results_dir: "results".into(),
            sla: Sla::new(2048, 256, 500.0, 50.0),
            methods: Vec::new(),
            oracle: None,
            verdicts: Vec::new(),
            recommendations: Recommendations::default(),
            warnings: vec!["x: missing".into()],
            run: None,
            trace: None,
        };
        let text = to_json(&c);
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["schema_version"], SCHEMA_VERSION);
        assert!(value["oracle"].is_null());
        assert_eq!(serde_json::from_str::<Comparison>(&text).unwrap(), c);
    }
}
