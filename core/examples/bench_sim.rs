//! Benchmark of the simulated cluster: a closed-loop probe and an 1800 s planner-in-the-loop trace.
//!
//! `cargo run --release -p profcmp-core --example bench_sim`

use std::time::Instant;

use profcmp_core::aiperf::Slo;
use profcmp_core::backend::{Backend, LoadPredictor, PlannerSpec};
use profcmp_core::estimator::{Estimator, ModelInfo};
use profcmp_core::sim::{Reality, SimCluster};
use profcmp_core::workload::{sinusoidal, SinusoidSpec};
use profcmp_plugin_api::{DecodeProfile, DeployRequest, PlannerProfile, PrefillProfile, Probe, ServingBackend, Sla};

const MODEL: &str = "Qwen/Qwen3-32B";
const SYSTEM: &str = "h200_sxm";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reality = Reality::named("nominal")?;
    let mut sim = SimCluster::aic(MODEL, SYSTEM, ServingBackend::Trtllm, reality, 1, None)?;
    let graph = DeployRequest::Graph {
        prefill_workers: 1,
        prefill_tp: 1,
        decode_workers: 1,
        decode_tp: 2,
    };
    let started = Instant::now();
    let deployment = sim.deploy(&graph)?;
    println!("deploy 1P TP1 + 1D TP2 (estimator tables): {:.0} ms wall", ms(started));

    let probe = Probe::Concurrency {
        concurrency: 4,
        requests: 100,
        isl: 2048,
        osl: 256,
        warmup: 0,
    };
    let started = Instant::now();
    let run = sim.measure(&deployment, &probe, None)?;
    println!(
        "concurrency 4 x 100 requests, 1P TP1 + 1D TP2: {:.1} ms wall (target < 50 ms); \
         TTFT p50 {:.1} ms, ITL p50 {:.2} ms, {:.2} req/s",
        ms(started),
        run.summary.p50("time_to_first_token").unwrap_or(f64::NAN),
        run.summary.p50("inter_token_latency").unwrap_or(f64::NAN),
        run.summary.value("request_throughput").unwrap_or(f64::NAN),
    );

    let started = Instant::now();
    let spec = SinusoidSpec::single(1800, 5.0, 45.0, 1800.0, 2048, 256, 42);
    let trace = sinusoidal(&spec)?;
    println!(
        "sinusoidal trace 1800 s, 5-45 req/s: {} requests generated in {:.1} ms",
        trace.len(),
        ms(started)
    );
    let sla = Sla::new(2048, 256, 500.0, 50.0);
    let planner = PlannerSpec {
        profile: aic_profile(1, 2, &sla)?,
        prefill_tp: 1,
        decode_tp: 2,
        sla,
        gpu_budget: 8,
        adjustment_interval_s: 180.0,
        predictor: LoadPredictor::Constant,
        window_size: 50,
        min_endpoint: 1,
        headroom: 1.0,
        version: profcmp_core::spec::DynamoVersion::V1_6,
    };
    let slo = Slo {
        ttft_ms: 500.0,
        itl_ms: 50.0,
    };
    let started = Instant::now();
    let run = sim.measure_planned(&deployment, &trace, &planner, Some(slo))?;
    println!(
        "planner run, budget 8 GPUs: {:.2} s wall (target < 4 s); goodput {:.2} req/s, \
         {:.2} GPUs on average, replicas (t s, P, D) {:?}",
        started.elapsed().as_secs_f64(),
        run.summary.value("goodput").unwrap_or(f64::NAN),
        run.avg_gpus,
        run.replicas
    );
    println!(
        "peak memory (VmHWM): {} (target < 400 MB)",
        peak_memory().unwrap_or_else(|| "unknown".into())
    );
    println!(
        "virtual clock {:.0} s; simulator CPU {:.2} s",
        sim.now_s(),
        sim.cpu_seconds()
    );
    Ok(())
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1e3
}

/// An AIC-ALL-like planner profile straight from the estimator (prefill TP `ptp`, decode `dtp`).
fn aic_profile(ptp: u32, dtp: u32, sla: &Sla) -> Result<PlannerProfile, Box<dyn std::error::Error>> {
    let model = ModelInfo::known(MODEL)?;
    let prefill = Estimator::load(&model, SYSTEM, "trtllm", ptp, None)?;
    let mut profile = PrefillProfile::default();
    for isl in [128u32, 512, 1024, 2048, 4096, 8192, 16384] {
        let ttft = prefill.prefill_ms(1, isl)?;
        profile.prefill_isl.push(f64::from(isl));
        profile.prefill_ttft.push(ttft);
        profile
            .prefill_thpt_per_gpu
            .push(f64::from(isl) / (ttft / 1e3) / f64::from(ptp));
    }
    let decode = Estimator::load(&model, SYSTEM, "trtllm", dtp, None)?;
    let max_kv = decode.kv_capacity_tokens();
    let mut decode_profile = DecodeProfile::new(vec![], vec![], vec![], vec![], max_kv);
    for context in [sla.isl + sla.osl / 2, 4 * sla.isl] {
        let max_concurrency = (max_kv / u64::from(context)).min(u64::from(decode.max_batch()));
        for step in 1..=6u64 {
            let concurrency = (max_concurrency * step / 6).max(1) as u32;
            let itl = decode.decode_step_ms(concurrency, context)?;
            decode_profile
                .x_kv_usage
                .push(f64::from(concurrency) * f64::from(context) / max_kv as f64);
            decode_profile.y_context_length.push(f64::from(context));
            decode_profile.z_itl.push(itl);
            decode_profile
                .z_thpt_per_gpu
                .push(f64::from(concurrency) / (itl / 1e3) / f64::from(dtp));
        }
    }
    Ok(PlannerProfile::new(profile, decode_profile))
}

fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.0} MB", kb / 1024.0))
}
