//! Stack rank: rank the candidate TPs with the estimator, deploy only the top k per phase,
//! measure them, and choose by Dynamo's rule on the measurements.
//!
//! Deployments: `min(top_k, #prefill TPs) + min(top_k, #decode TPs)` (4 by default), no more:
//! the interpolation sweeps reuse the chosen TPs' deployments, which the search keeps alive
//! (every other engine is torn down as soon as it is beaten). Planner data: measured where it
//! was measured (the sweeps on the kept engines and the rows at the SLA shape); elsewhere (a
//! failed point, or everything with `interpolation = "corrected"`) the estimator times the
//! chosen TPs' measured-to-estimated ratios.

use profcmp_method_kit as toolkit;
use profcmp_method_kit::probe::{self, Correction};
use profcmp_method_kit::search::{Fill, Search};
use profcmp_method_kit::session::{run_session, Session};
use profcmp_plugin_api::{CostReport, HostContext, Method, PluginError, ProfileRequest, ProfileResult, Role};
use serde::{Deserialize, Serialize};

/// Where the planner data of the chosen TPs comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// Measured sweeps on the kept deployments (failed points: corrected estimator).
    #[default]
    Measured,
    /// Corrected estimator only: no measurement after the ranking sweep.
    Corrected,
}

/// Options (a JSON object; unknown keys are an error).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// TPs deployed per phase, best-ranked first.
    pub top_k: u32,
    /// `"measured"` or `"corrected"` planner data.
    pub interpolation: Interpolation,
    /// Top of the interpolation sweeps, tokens; null means 8 x (ISL + OSL). Always capped by the
    /// worker's KV capacity.
    pub max_context: Option<u32>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            top_k: 2,
            interpolation: Interpolation::Measured,
            max_context: None,
        }
    }
}

/// The stack-rank method.
#[derive(Default)]
pub struct StackRank {
    cost: CostReport,
}

impl Method for StackRank {
    const NAME: &'static str = "stack_rank";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Ranks TPs with the estimator, deploys and measures the top k per phase, chooses by Dynamo's rule";
    const ROLE: Role = Role::Experimental;

    fn profile(&mut self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let (result, cost) = run_session(host, |s| run(request, s));
        self.cost = cost;
        result
    }

    fn cost(&self) -> CostReport {
        self.cost.clone()
    }
}

fn run(request: &ProfileRequest, s: &Session) -> Result<ProfileResult, PluginError> {
    toolkit::check_request(request)?;
    let opts: Options = toolkit::parse_options(&request.options)?;
    if opts.top_k == 0 {
        return Err(PluginError::new("invalid_options", "top_k must be at least 1"));
    }
    let sla = request.sla;
    let prefill_c = toolkit::candidate_tps(s, &request.search.prefill_tp)?;
    let decode_c = toolkit::candidate_tps(s, &request.search.decode_tp)?;
    let (prefill_est, decode_est) = probe::estimated_rows(s, &sla, &prefill_c, &decode_c)?;
    let prefill_rank = toolkit::rank_prefill(&prefill_est, sla.ttft_ms);
    let decode_rank = toolkit::rank_decode(&decode_est, sla.itl_ms);
    let k = opts.top_k as usize;
    let prefill_top = &prefill_rank[..k.min(prefill_rank.len())];
    let decode_top = &decode_rank[..k.min(decode_rank.len())];
    if decode_top.is_empty() {
        return Err(PluginError::new(
            "no_choice",
            "no decode candidate holds one request of ISL + OSL tokens",
        ));
    }
    s.info(&format!(
        "estimator ranking: prefill {prefill_rank:?}, decode {decode_rank:?}; deploying the top {k}"
    ));

    let mut search = Search::new(s, sla);
    let total = (prefill_top.len() + decode_top.len()) as u64;
    for &tp in prefill_top {
        s.progress(u64::from(search.deployments()), total, &format!("prefill TP{tp}"));
        search.try_prefill(tp)?;
    }
    for &tp in decode_top {
        s.progress(u64::from(search.deployments()), total, &format!("decode TP{tp}"));
        search.try_decode(tp)?;
    }
    s.progress(total, total, "ranked candidates measured");
    let (p, d) = match (search.prefill_incumbent(), search.decode_incumbent()) {
        (Some(p), Some(d)) => (p, d),
        _ => {
            return Err(PluginError::new(
                "no_choice",
                "no deployed decode engine held one request of ISL + OSL tokens",
            ))
        }
    };
    let correction = Correction::fit(s, &sla, &p, &search.decode_rows_of(d.tp))?;
    let fill = match opts.interpolation {
        Interpolation::Measured => Fill::MeasuredOrEstimated(&correction),
        Interpolation::Corrected => Fill::Estimated(&correction),
    };
    let profile_data = search.profile_data(opts.max_context, fill)?;

    let mut notes = toolkit::explain_choice(&sla, &search.prefill_rows, &search.decode_rows, &p, &d, "measured");
    notes.push(format!(
        "estimator ranking: prefill {prefill_rank:?}, decode {decode_rank:?}; deployed the top {k} per phase ({} deployments)",
        search.deployments()
    ));
    notes.push(format!(
        "measured / estimated on the chosen TPs: TTFT x{:.3}, ITL x{:.3}, decode throughput x{:.3}",
        correction.prefill_ttft, correction.decode_itl, correction.decode_thpt
    ));
    notes.push(match opts.interpolation {
        Interpolation::Measured => "planner data measured on the kept deployments of the chosen TPs (no redeploy); failed points from the corrected estimator".into(),
        Interpolation::Corrected => "planner data from the estimator times the measured ratios, plus the rows measured at the SLA shape".into(),
    });
    toolkit::make_result(&p, &d, profile_data, notes)
}

profcmp_plugin_api::export_method!(StackRank);

#[cfg(test)]
mod tests {
    use super::*;
    use profcmp_method_kit::testing::{reference_request, run_method, FakeHost};
    use serde_json::json;

    #[test]
    fn deploys_top_k_per_phase_and_reuses_them() {
        for (k, expected) in [(1, 2), (2, 4), (3, 6), (9, 8)] {
            let host = FakeHost::new();
            let (result, cost) = run_method::<StackRank>(&host, &reference_request(json!({"top_k": k})));
            let result = result.unwrap();
            assert_eq!(cost.deployments, expected, "top_k {k}");
            assert_eq!(host.deploy_count(), expected);
            assert_eq!(host.live_count(), 0);
            assert_eq!((result.prefill.tp, result.decode.tp), (1, 2));
            assert!(toolkit::validate_profile(&result.profile_data).is_ok());
        }
    }

    #[test]
    fn picks_by_measurement_not_by_estimate() {
        // Measured decode TP2 is much slower than estimated: ranked first, beaten when measured.
        let host = FakeHost::new().with_decode_ratio(2, 1.6);
        let request = reference_request(json!(null));
        let (_, online) = host.online_choice(&request.sla, &[1, 2, 4, 8]).unwrap();
        let result = run_method::<StackRank>(&host, &request).0.unwrap();
        assert_eq!(result.decode.tp, online.tp);
        assert_ne!(result.decode.tp, 2);
    }

    #[test]
    fn corrected_interpolation_measures_nothing_more() {
        let host = FakeHost::new();
        let result = run_method::<StackRank>(&host, &reference_request(json!({"interpolation": "corrected"})))
            .0
            .unwrap();
        // 2 prefill probes + 2 x 6 decode probes of the ranking sweep.
        assert_eq!(host.measure_count(), 14);
        let prefill = &result.profile_data.prefill;
        let at_sla = prefill.prefill_isl.iter().position(|&i| i == 2048.0).unwrap();
        assert_eq!(prefill.prefill_ttft[at_sla], result.predicted.ttft_ms);
        // The corrected estimate reproduces the uniform 1.2 ratio of the fake host.
        let i = prefill.prefill_isl.iter().position(|&i| i == 100.0).unwrap();
        assert!((prefill.prefill_ttft[i] / host.model.prefill_ms(1, 1, 100) - 1.2).abs() < 1e-9);
        assert_eq!(host.live_count(), 0);
    }

    #[test]
    fn failure_and_cancellation_tear_down() {
        let host = FakeHost::new().failing_measure(4);
        let (result, cost) = run_method::<StackRank>(&host, &reference_request(json!(null)));
        assert_eq!(result.unwrap_err().code, "measure_failed");
        assert_eq!(host.live_count(), 0);
        assert_eq!(cost.deployments, host.deploy_count());
        let host = FakeHost::new().cancelling_after(2);
        assert_eq!(
            run_method::<StackRank>(&host, &reference_request(json!(null)))
                .0
                .unwrap_err()
                .code,
            "cancelled"
        );
        assert_eq!(host.live_count(), 0);
    }

    #[test]
    fn deterministic_and_strict_options() {
        let a = run_method::<StackRank>(&FakeHost::new(), &reference_request(json!(null)))
            .0
            .unwrap();
        let b = run_method::<StackRank>(&FakeHost::new(), &reference_request(json!(null)))
            .0
            .unwrap();
        assert_eq!(a, b);
        for bad in [
            json!({"topk": 2}),
            json!({"top_k": 0}),
            json!({"interpolation": "guess"}),
        ] {
            let err = run_method::<StackRank>(&FakeHost::new(), &reference_request(bad))
                .0
                .unwrap_err();
            assert_eq!(err.code, "invalid_options");
        }
    }
}
