//! The README's minimal method as plugin-api 0.1.0 documented it (payloads built as literals,
//! the helpers in `profcmp_plugin_api::toolkit`), under its own name. Built against the frozen
//! 0.1.0 copy, it stands for every plugin built before 0.1.1; tests/e2e/compat.rs runs it.
use profcmp_plugin_api::*;
#[derive(Default)]
pub struct Minimal;
impl Method for Minimal {
    const NAME: &'static str = "minimal_v0_1_0";
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
        let prefill = PrefillProfile { prefill_isl: vec![isl.into()], prefill_ttft: vec![ttft], prefill_thpt_per_gpu: vec![p_thpt] };
        let decode = DecodeProfile { x_kv_usage: vec![f64::from(ctx) / kv as f64], y_context_length: vec![ctx.into()],
            z_itl: vec![itl], z_thpt_per_gpu: vec![d_thpt], max_kv_tokens: kv };
        let result = ProfileResult {
            prefill: WorkerConfig { tp: ptp, gpus: ptp },
            decode: WorkerConfig { tp: dtp, gpus: dtp },
            predicted: Prediction { ttft_ms: ttft, itl_ms: itl, prefill_thpt_per_gpu: p_thpt, decode_thpt_per_gpu: d_thpt },
            profile_data: PlannerProfile { prefill, decode },
            load_predictions: vec![],
            notes: vec![],
        };
        // The 0.1.0 toolkit, linked into the plugin, keeps working whatever the host's kit does.
        profcmp_plugin_api::toolkit::validate_profile(&result.profile_data)?;
        Ok(result)
    }

    fn cost(&self) -> CostReport { CostReport::default() }
}

export_method!(Minimal);
