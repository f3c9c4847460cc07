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
        Ok(ProfileResult {
            prefill: WorkerConfig { tp, gpus: tp },
            decode: WorkerConfig { tp, gpus: tp },
            predicted: Prediction { ttft_ms: ttft, itl_ms: 20.0, prefill_thpt_per_gpu: thpt, decode_thpt_per_gpu: 50.0 },
            profile_data: PlannerProfile {
                prefill: PrefillProfile { prefill_isl: vec![f64::from(req.sla.isl)], prefill_ttft: vec![ttft], prefill_thpt_per_gpu: vec![thpt] },
                decode: DecodeProfile { x_kv_usage: vec![0.1], y_context_length: vec![2048.0], z_itl: vec![20.0], z_thpt_per_gpu: vec![50.0], max_kv_tokens: kv },
            },
            load_predictions: vec![],
            notes: vec![format!("fixture {}", env!("CARGO_PKG_VERSION"))],
        })
    }

    fn cost(&self) -> CostReport {
        CostReport { deployments: self.deployments, ..CostReport::default() }
    }
}
