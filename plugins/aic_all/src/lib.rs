//! AIC-ALL: Dynamo's profiler in AI Configurator mode; the estimator answers for every
//! candidate TP and no deployment is made.
//!
//! Candidates are the powers of two the estimator accepts. Prefill: the estimated TTFT of one
//! request at the SLA ISL per TP. Decode: the estimated step (= ITL) at each of Dynamo's
//! concurrencies up to the estimated KV capacity. Dynamo's selection rule picks both TPs; the
//! planner data is the estimator's on the chosen TPs (17 prefill ISLs, the decode grid).

use profcmp_method_kit::probe::{self, Correction};
use profcmp_method_kit::session::{run_session, Session};
use profcmp_method_kit::{self as toolkit, grid};
use profcmp_plugin_api::{
    CostReport, HostContext, Method, PlannerProfile, PluginError, ProfileRequest, ProfileResult, Role,
};
use serde::{Deserialize, Serialize};

/// Options (a JSON object; unknown keys are an error).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Top of the interpolation sweeps, tokens; null means 8 x (ISL + OSL). Always capped by the
    /// worker's KV capacity.
    pub max_context: Option<u32>,
}

/// The AIC-ALL method.
#[derive(Default)]
pub struct AicAll {
    cost: CostReport,
}

impl Method for AicAll {
    const NAME: &'static str = "aic_all";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Dynamo's AIC mode: estimator for every candidate TP, Dynamo's selection rule, no deployment";
    const ROLE: Role = Role::Baseline;

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
    let sla = request.sla;
    let prefill_c = toolkit::candidate_tps(s, &request.search.prefill_tp)?;
    let decode_c = toolkit::candidate_tps(s, &request.search.decode_tp)?;
    s.info(&format!(
        "estimating prefill TPs {:?} and decode TPs {:?}",
        prefill_c.iter().map(|c| c.tp).collect::<Vec<_>>(),
        decode_c.iter().map(|c| c.tp).collect::<Vec<_>>()
    ));
    let (prefill_rows, decode_rows) = probe::estimated_rows(s, &sla, &prefill_c, &decode_c)?;
    let p = toolkit::select_prefill(&prefill_rows, sla.ttft_ms)
        .ok_or_else(|| PluginError::new("no_choice", "no prefill candidate"))?;
    let d = toolkit::select_decode(&decode_rows, sla.itl_ms)
        .ok_or_else(|| PluginError::new("no_choice", "no decode candidate holds one request of ISL + OSL tokens"))?;
    let kv =
        |tp: u32, cands: &[toolkit::Candidate]| cands.iter().find(|c| c.tp == tp).map_or(0, |c| c.kv_capacity_tokens);
    let (kv_p, kv_d) = (kv(p.tp, &prefill_c), kv(d.tp, &decode_c));
    s.info(&format!(
        "chose prefill TP{} and decode TP{}; estimating the planner data",
        p.tp, d.tp
    ));
    let (prefill, decode) = probe::estimated_profile(
        s,
        p.tp,
        grid::max_context(opts.max_context, &sla, kv_p),
        d.tp,
        grid::max_context(opts.max_context, &sla, kv_d),
        kv_d,
        &Correction::IDENTITY,
    )?;
    let mut notes = toolkit::explain_choice(&sla, &prefill_rows, &decode_rows, &p, &d, "estimated");
    notes.push("no deployment: every number comes from the estimator".into());
    toolkit::make_result(&p, &d, PlannerProfile::new(prefill, decode), notes)
}

profcmp_plugin_api::export_method!(AicAll);

#[cfg(test)]
mod tests {
    use super::*;
    use profcmp_method_kit::testing::{reference_request, run_method, FakeHost};
    use serde_json::json;

    #[test]
    fn no_deployment_and_the_estimators_choice() {
        let host = FakeHost::new();
        let (result, cost) = run_method::<AicAll>(&host, &reference_request(json!(null)));
        let result = result.unwrap();
        assert_eq!(host.deploy_count(), 0);
        assert_eq!(host.measure_count(), 0);
        assert_eq!(cost.deployments, 0);
        assert_eq!(cost.gpu_hours, 0.0);
        assert_eq!(cost.estimate_calls, host.estimate_calls());
        // The fake estimator: prefill TP1 meets 500 ms with the most tokens/s/GPU; decode TP2
        // reaches batch 256 under 50 ms with the most tokens/s/GPU.
        assert_eq!((result.prefill.tp, result.decode.tp), (1, 2));
        assert_eq!(result.profile_data.prefill.prefill_isl.len(), 17);
        assert!(toolkit::validate_profile(&result.profile_data).is_ok());
        assert_eq!(result.notes.len(), 3);
    }

    #[test]
    fn deterministic() {
        let a = run_method::<AicAll>(&FakeHost::new(), &reference_request(json!({})))
            .0
            .unwrap();
        let b = run_method::<AicAll>(&FakeHost::new(), &reference_request(json!({})))
            .0
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_option_is_rejected() {
        let (result, _) = run_method::<AicAll>(&FakeHost::new(), &reference_request(json!({"top_k": 2})));
        let err = result.unwrap_err();
        assert_eq!(err.code, "invalid_options");
        assert!(err.help.unwrap().contains("max_context"));
    }

    #[test]
    fn unsupported_tps_are_skipped_and_max_context_is_honoured() {
        let mut host = FakeHost::new();
        host.valid_tps = vec![1, 2, 4];
        let result = run_method::<AicAll>(&host, &reference_request(json!({"max_context": 40960})))
            .0
            .unwrap();
        assert!(result.notes[0].contains("[1, 2, 4]"), "{}", result.notes[0]);
        let isls = &result.profile_data.prefill.prefill_isl;
        assert_eq!(
            *isls.last().unwrap(),
            100.0 + 16.0 * ((40960.0f64 - 100.0) / 16.0).floor()
        );
    }
}
