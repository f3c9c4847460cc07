// Shared body of the fault fixtures (docs/reliability.md): each crate sets METHOD_NAME and FAULT
// and misbehaves that one way; the others answer like a small valid method.
use profcmp_plugin_api::*;

#[derive(Default)]
pub struct Fault;

/// A valid answer: the smallest TPs, timed by the estimator.
fn answer(req: &ProfileRequest, host: &dyn HostContext, notes: Vec<String>) -> Result<ProfileResult, PluginError> {
    let (ptp, dtp) = (req.search.prefill_tp[0], req.search.decode_tp[0]);
    let (isl, ctx) = (req.sla.isl, req.sla.isl + req.sla.osl / 2);
    let ttft = host.estimate(&EstimateQuery::Prefill { tp: ptp, batch: 1, isl })?.latency_ms.unwrap_or(f64::NAN);
    let step = host.estimate(&EstimateQuery::Decode { tp: dtp, batch: 1, context: ctx })?;
    let (itl, kv) = (step.latency_ms.unwrap_or(f64::NAN), step.kv_capacity_tokens);
    let (p_thpt, d_thpt) = (f64::from(isl) * 1000.0 / ttft / f64::from(ptp), 1000.0 / itl / f64::from(dtp));
    let prefill = PrefillProfile::new(vec![isl.into()], vec![ttft], vec![p_thpt]);
    let decode = DecodeProfile::new(vec![f64::from(ctx) / kv as f64], vec![ctx.into()], vec![itl], vec![d_thpt], kv);
    let predicted = Prediction::new(ttft, itl, p_thpt, d_thpt);
    let (p, d) = (WorkerConfig::new(ptp, ptp), WorkerConfig::new(dtp, dtp));
    Ok(ProfileResult::new(p, d, predicted, PlannerProfile::new(prefill, decode)).with_notes(notes))
}

impl Method for Fault {
    const NAME: &'static str = METHOD_NAME;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "fault fixture";
    const ROLE: Role = Role::Experimental;

    fn profile(&mut self, req: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let tp = req.search.prefill_tp[0];
        match FAULT {
            // Spins without calling the host: only the wall-clock timeout ends it.
            "hang" => loop {
                std::thread::sleep(std::time::Duration::from_millis(100));
            },
            // 10 MB on stdout and 10 MB on stderr, then a valid answer.
            "noisy" => {
                let line = "n".repeat(1023);
                for _ in 0..10 * 1024 {
                    println!("{line}");
                    eprintln!("{line}");
                }
                answer(req, host, vec![])
            }
            // A 50 MB result.
            "huge_result" => answer(req, host, vec!["r".repeat(50 << 20)]),
            // A probe of 10^9 requests on a live deployment.
            "big_probe" => {
                let deployment = host.deploy(&DeployRequest::PrefillOnly { tp })?;
                let probe = Probe::Concurrency { concurrency: 1, requests: 1_000_000_000, isl: 128, osl: 1, warmup: 0 };
                host.measure(&deployment, &probe)?;
                answer(req, host, vec![])
            }
            // The process exits while the host is answering a measure call.
            "exit" => {
                let deployment = host.deploy(&DeployRequest::PrefillOnly { tp })?;
                std::thread::spawn(|| {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    std::process::exit(7);
                });
                let probe = Probe::Concurrency { concurrency: 64, requests: 20_000, isl: 2048, osl: 1, warmup: 0 };
                host.measure(&deployment, &probe)?;
                answer(req, host, vec![])
            }
            // Deploys twice and never tears down, then answers.
            "leak" => {
                host.deploy(&DeployRequest::PrefillOnly { tp })?;
                host.deploy(&DeployRequest::DecodeOnly { tp: req.search.decode_tp[0] })?;
                answer(req, host, vec![])
            }
            // A null pointer write.
            "segfault" => {
                host.log(LogLevel::Info, "about to segfault");
                unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
                answer(req, host, vec![])
            }
            // Waits, polling `cancelled()`, until the user asks to stop (the first Ctrl-C).
            "cancel_aware" => loop {
                if host.cancelled() {
                    return Err(PluginError::new("cancelled", "saw the cancellation and stopped"));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            },
            _ => answer(req, host, vec![]),
        }
    }

    fn cost(&self) -> CostReport {
        CostReport::default()
    }
}
