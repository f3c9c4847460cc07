// Shared body of the fixture plugins: deploys one prefill engine (so GPU time is metered),
// measures it, tears it down, and answers like `minimal`. Included by each fixture crate.
use profcmp_plugin_api::*;

#[derive(Default)]
pub struct Fixture {
    deployments: u32,
}

impl Method for Fixture {
    const NAME: &'static str = METHOD_NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "test fixture";
    const ROLE: Role = Role::Experimental;

    fn profile(&mut self, req: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        if PANIC {
            panic!("fixture panics on purpose");
        }
        let tp = req.search.prefill_tp[0];
        let deployment = host.deploy(&DeployRequest::PrefillOnly { tp })?;
        self.deployments += 1;
        let probe = Probe::Concurrency { concurrency: 1, requests: 3, isl: req.sla.isl, osl: 2, warmup: 0 };
        let measured = host.measure(&deployment, &probe);
        host.teardown(&deployment)?;
        let ttft = measured?.ttft_ms.p50;
        let kv = host.estimate(&EstimateQuery::KvCapacity { tp })?.kv_capacity_tokens;
        let thpt = f64::from(req.sla.isl) * 1000.0 / ttft / f64::from(tp);
        let prefill = PrefillProfile::new(vec![f64::from(req.sla.isl)], vec![ttft], vec![thpt]);
        let decode = DecodeProfile::new(vec![0.1], vec![2048.0], vec![20.0], vec![50.0], kv);
        let worker = WorkerConfig::new(tp, tp);
        let predicted = Prediction::new(ttft, 20.0, thpt, 50.0);
        Ok(ProfileResult::new(worker, worker, predicted, PlannerProfile::new(prefill, decode))
            .with_notes(vec![format!("fixture {}", env!("CARGO_PKG_VERSION"))]))
    }

    fn cost(&self) -> CostReport {
        CostReport::new(0.0, 0.0, self.deployments, 0)
    }
}
