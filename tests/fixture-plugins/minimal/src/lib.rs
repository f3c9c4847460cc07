//! The smallest useful method: the smallest decode TP and the fastest estimated prefill TP within the GPU budget.
use profcmp_plugin_api::*;
#[derive(Default)]
pub struct Minimal;
impl Method for Minimal {
    const NAME: &'static str = "minimal";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "smallest decode TP, fastest estimated prefill TP within the GPU budget";
    const ROLE: Role = Role::Experimental;

    fn profile(&mut self, req: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let (isl, ctx) = (req.sla.isl, req.sla.isl + req.sla.osl / 2);
        let dtp = *req.search.decode_tp.iter().min().ok_or_else(|| PluginError::new("no_candidate", "no decode TP"))?;
        let ttft = |tp| host.estimate(&EstimateQuery::Prefill { tp, batch: 1, isl }).ok()?.latency_ms;
        let (ptp, ttft) = (req.search.prefill_tp.iter())
            .filter(|&&tp| tp.saturating_add(dtp) <= req.search.gpu_budget)
            .filter_map(|&tp| Some((tp, ttft(tp)?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .ok_or_else(|| PluginError::new("no_candidate", "no prefill TP fits the GPU budget"))?;
        let step = host.estimate(&EstimateQuery::Decode { tp: dtp, batch: 1, context: ctx })?;
        let (itl, kv) = (step.latency_ms.unwrap_or(f64::NAN), step.kv_capacity_tokens);
        let (p_thpt, d_thpt) = (f64::from(isl) * 1000.0 / ttft / f64::from(ptp), 1000.0 / itl / f64::from(dtp));
        // Dynamo's planner data: one prefill point at the SLA's ISL, one decode point at its context.
        let prefill = PrefillProfile::new(vec![isl.into()], vec![ttft], vec![p_thpt]);
        let decode = DecodeProfile::new(vec![f64::from(ctx) / kv as f64], vec![ctx.into()], vec![itl], vec![d_thpt], kv);
        let (p, d) = (WorkerConfig::new(ptp, ptp), WorkerConfig::new(dtp, dtp));
        let predicted = Prediction::new(ttft, itl, p_thpt, d_thpt);
        Ok(ProfileResult::new(p, d, predicted, PlannerProfile::new(prefill, decode)))
    }

    fn cost(&self) -> CostReport { CostReport::default() }
}

export_method!(Minimal);
