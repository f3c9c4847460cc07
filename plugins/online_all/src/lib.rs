//! Online-ALL: Dynamo's profiler in online mode; every candidate TP is deployed and measured.
//!
//! One prefill-only engine per prefill TP (p50 TTFT of single requests at the SLA ISL after a
//! warm-up request), one decode-only engine per decode TP (mean ITL and output tokens/s per GPU
//! at up to 6 concurrencies from 1 to the engine's reported KV capacity // (ISL + OSL)), Dynamo's
//! selection rule, then, as Dynamo does, one fresh deployment per phase on the chosen TPs for the
//! interpolation sweeps: 4 + 4 + 2 = 10 deployments for TP 1/2/4/8. Each engine is torn down as
//! soon as it is measured; the session tears down whatever is left on error or cancellation.

use profcmp_method_kit::probe::{self, OnFailure};
use profcmp_method_kit::session::{run_session, Session};
use profcmp_method_kit::{self as toolkit, grid};
use profcmp_plugin_api::{
    CostReport, DeployRequest, HostContext, Method, PlannerProfile, PluginError, ProfileRequest, ProfileResult, Role,
};
use serde::{Deserialize, Serialize};

/// Options (a JSON object; unknown keys are an error).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// Top of the interpolation sweeps, tokens; null means 8 x (ISL + OSL). Always capped by the
    /// deployed worker's KV capacity.
    pub max_context: Option<u32>,
}

/// The Online-ALL method.
#[derive(Default)]
pub struct OnlineAll {
    cost: CostReport,
}

impl Method for OnlineAll {
    const NAME: &'static str = "online_all";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "Dynamo's online mode: deploys and measures every candidate TP per phase, then the chosen ones again for the planner data";
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
    let total = (prefill_c.len() + decode_c.len() + 2) as u64;
    let mut done = 0;

    let mut prefill_rows = Vec::new();
    for c in &prefill_c {
        s.check_cancelled()?;
        s.progress(done, total, &format!("prefill sweep: deploying TP{}", c.tp));
        let dep = s.deploy(&DeployRequest::PrefillOnly { tp: c.tp })?;
        let row = probe::measured_prefill_row(s, &dep, &sla)?;
        s.teardown(&dep)?;
        s.info(&format!(
            "prefill TP{}: TTFT {:.1} ms, {:.0} tok/s/GPU",
            c.tp, row.ttft_ms, row.thpt_per_gpu
        ));
        prefill_rows.push(row);
        done += 1;
    }

    let mut decode_rows = Vec::new();
    for c in &decode_c {
        s.check_cancelled()?;
        s.progress(done, total, &format!("decode sweep: deploying TP{}", c.tp));
        let dep = s.deploy(&DeployRequest::DecodeOnly { tp: c.tp })?;
        let rows = probe::measured_decode_rows(s, &dep, &sla)?;
        s.teardown(&dep)?;
        s.info(&format!("decode TP{}: {} concurrencies measured", c.tp, rows.len()));
        decode_rows.extend(rows);
        done += 1;
    }

    let p = toolkit::select_prefill(&prefill_rows, sla.ttft_ms)
        .ok_or_else(|| PluginError::new("no_choice", "no prefill candidate"))?;
    let d = toolkit::select_decode(&decode_rows, sla.itl_ms)
        .ok_or_else(|| PluginError::new("no_choice", "no decode engine held one request of ISL + OSL tokens"))?;
    s.info(&format!(
        "chose prefill TP{} and decode TP{}; interpolation sweeps",
        p.tp, d.tp
    ));

    s.check_cancelled()?;
    s.progress(done, total, &format!("prefill interpolation: deploying TP{}", p.tp));
    let dep = s.deploy(&DeployRequest::PrefillOnly { tp: p.tp })?;
    let max_ctx = grid::max_context(opts.max_context, &sla, dep.kv_capacity_tokens);
    let prefill = probe::measured_prefill_profile(s, &dep, max_ctx, &OnFailure::Skip)?;
    s.teardown(&dep)?;
    done += 1;

    s.check_cancelled()?;
    s.progress(done, total, &format!("decode interpolation: deploying TP{}", d.tp));
    let dep = s.deploy(&DeployRequest::DecodeOnly { tp: d.tp })?;
    let max_ctx = grid::max_context(opts.max_context, &sla, dep.kv_capacity_tokens);
    let decode = probe::measured_decode_profile(s, &dep, max_ctx, &OnFailure::Skip)?;
    s.teardown(&dep)?;
    s.progress(total, total, "done");

    let mut notes = toolkit::explain_choice(&sla, &prefill_rows, &decode_rows, &p, &d, "measured");
    notes.push(format!(
        "{} deployments: {} prefill + {} decode sweeps, 2 for the interpolation sweeps on the chosen TPs",
        s.deployment_count(),
        prefill_c.len(),
        decode_c.len()
    ));
    toolkit::make_result(&p, &d, PlannerProfile::new(prefill, decode), notes)
}

profcmp_plugin_api::export_method!(OnlineAll);

#[cfg(test)]
mod tests {
    use super::*;
    use profcmp_method_kit::testing::{reference_request, run_method, FakeHost};
    use serde_json::json;

    #[test]
    fn ten_deployments_for_four_tps_per_phase() {
        let host = FakeHost::new();
        let (result, cost) = run_method::<OnlineAll>(&host, &reference_request(json!(null)));
        let result = result.unwrap();
        assert_eq!(host.deploy_count(), 10);
        assert_eq!(cost.deployments, 10);
        assert_eq!(host.teardown_count(), 10);
        assert_eq!(host.live_count(), 0);
        assert!(cost.gpu_hours > 0.0 && cost.duration_s > 0.0);
        assert_eq!(cost.estimate_calls, 8, "only the candidate checks");
        assert_eq!((result.prefill.tp, result.decode.tp), (1, 2));
        // Headline numbers are the host's measurements.
        assert!((result.predicted.ttft_ms - host.true_ttft(1, 2048)).abs() < 1e-9);
        assert!(toolkit::validate_profile(&result.profile_data).is_ok());
        assert_eq!(result.profile_data.prefill.prefill_isl.len(), 17);
        assert_eq!(result.profile_data.decode.max_kv_tokens, host.model.kv_tokens(2));
    }

    #[test]
    fn fewer_candidates_fewer_deployments() {
        let mut host = FakeHost::new();
        host.valid_tps = vec![1, 2];
        let (result, cost) = run_method::<OnlineAll>(&host, &reference_request(json!({})));
        result.unwrap();
        assert_eq!(cost.deployments, 2 + 2 + 2);
    }

    #[test]
    fn failed_measurement_tears_everything_down() {
        for n in [1, 3, 7] {
            let host = FakeHost::new().failing_measure(n);
            let (result, cost) = run_method::<OnlineAll>(&host, &reference_request(json!(null)));
            assert_eq!(result.unwrap_err().code, "measure_failed", "measure {n}");
            assert_eq!(host.live_count(), 0);
            assert_eq!(host.teardown_count(), host.deploy_count());
            assert_eq!(cost.deployments, host.deploy_count());
        }
    }

    #[test]
    fn failed_interpolation_point_is_skipped() {
        // Measurements 1-4 prefill, 5-28 decode (6 per TP), 29 the first prefill ISL.
        let host = FakeHost::new().failing_measure(29);
        let result = run_method::<OnlineAll>(&host, &reference_request(json!(null)))
            .0
            .unwrap();
        assert_eq!(result.profile_data.prefill.prefill_isl.len(), 16);
        assert_eq!(host.live_count(), 0);
    }

    #[test]
    fn cancellation_stops_between_deployments() {
        let host = FakeHost::new().cancelling_after(3);
        let (result, cost) = run_method::<OnlineAll>(&host, &reference_request(json!(null)));
        assert_eq!(result.unwrap_err().code, "cancelled");
        assert_eq!(cost.deployments, 3);
        assert_eq!(host.live_count(), 0);
    }

    #[test]
    fn deterministic_and_strict_options() {
        let a = run_method::<OnlineAll>(&FakeHost::new(), &reference_request(json!(null)))
            .0
            .unwrap();
        let b = run_method::<OnlineAll>(&FakeHost::new(), &reference_request(json!(null)))
            .0
            .unwrap();
        assert_eq!(a, b);
        let err = run_method::<OnlineAll>(&FakeHost::new(), &reference_request(json!({"budget": 4})))
            .0
            .unwrap_err();
        assert_eq!(err.code, "invalid_options");
    }

    #[test]
    fn runs_through_the_ffi_shim() {
        use profcmp_plugin_api::sdk::{run_profile, run_report_cost, HostServer};
        let host = FakeHost::new();
        let server = HostServer::new(&host);
        let request = serde_json::to_string(&reference_request(json!(null))).unwrap();
        let answer = run_profile::<OnlineAll>(request.as_str().into(), server.as_host_ref());
        let answer = answer.into_result().map_err(|e| e.to_string()).unwrap();
        let result: ProfileResult = serde_json::from_str(answer.as_str()).unwrap();
        assert_eq!((result.prefill.tp, result.decode.tp), (1, 2));
        let cost: CostReport = serde_json::from_str(run_report_cost().as_str()).unwrap();
        assert_eq!(cost.deployments, 10);
        assert_eq!(host.live_count(), 0);
    }
}
