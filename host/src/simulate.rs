//! `profcmp simulate` and `profcmp trace sin`: the simulated cluster and workloads on their own.

use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use profcmp_core::aiperf::Slo;
use profcmp_core::backend::Backend;
use profcmp_core::sim::SimCluster;
use profcmp_core::workload::{read_mooncake, sinusoidal, to_mooncake, SinusoidSpec, BLOCK_SIZE};
use profcmp_plugin_api::{DeployRequest, Probe};

use crate::cli::{SimulateArgs, SinArgs};

/// Parses `N:M` into two numbers, naming the flag on error.
fn pair(flag: &str, text: &str) -> anyhow::Result<(u32, u32)> {
    let parse = |s: &str| s.trim().parse::<u32>().ok();
    match text.split_once(':').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(a), Some(b))) => Ok((a, b)),
        _ => bail!("{flag} `{text}`: expected two whole numbers like 1:2"),
    }
}

/// Deploys the graph, runs the load, writes the artifacts, prints the headline numbers.
pub fn simulate(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let (prefill_workers, prefill_tp) = pair("--prefill", &args.prefill)?;
    let (decode_workers, decode_tp) = pair("--decode", &args.decode)?;
    let backend = args.target.framework()?;
    let reality = profcmp_core::sim::Reality::resolve(&args.reality)?;
    let mut cluster = SimCluster::aic(
        &args.target.model,
        &args.target.system,
        backend,
        reality,
        args.seed,
        args.target.aic_systems_root.clone(),
    )?;
    let probe = match &args.trace {
        Some(path) => Probe::Trace {
            requests: read_mooncake(path)?,
        },
        None => Probe::Concurrency {
            concurrency: args.concurrency,
            requests: args.requests,
            isl: args.isl,
            osl: args.osl,
            warmup: 0,
        },
    };
    let graph = DeployRequest::Graph {
        prefill_workers,
        prefill_tp,
        decode_workers,
        decode_tp,
    };
    let deployment = cluster.deploy(&graph)?;
    let slo = Slo {
        ttft_ms: args.ttft,
        itl_ms: args.itl,
    };
    let run = cluster.measure(&deployment, &probe, Some(slo))?;
    cluster.teardown(&deployment)?;
    run.summary
        .write_dir(&args.artifact_dir, &run.records)
        .with_context(|| format!("cannot write artifacts into {}", args.artifact_dir.display()))?;
    let s = &run.summary;
    let get = |name: &str| s.p50(name).map_or("-".to_string(), |v| format!("{v:.1}"));
    println!(
        "{} requests: TTFT p50 {} ms, ITL p50 {} ms, {:.3} req/s, goodput {:.3} req/s; KV capacity {} tokens/worker, \
         max batch {}; {:.1} s simulated in {:.2} s",
        run.records.len(),
        get("time_to_first_token"),
        get("inter_token_latency"),
        s.value("request_throughput").unwrap_or(0.0),
        s.value("goodput").unwrap_or(0.0),
        deployment.kv_capacity_tokens,
        deployment.max_batch,
        cluster.now_s(),
        cluster.cpu_seconds()
    );
    eprintln!("wrote artifacts in {}", args.artifact_dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes a sinusoidal trace as mooncake JSONL.
pub fn trace_sin(args: &SinArgs) -> anyhow::Result<ExitCode> {
    let pair1 = pair("--pair1", &args.pair1)?;
    let pair2 = match &args.pair2 {
        Some(text) => pair("--pair2", text)?,
        None => pair1,
    };
    let spec = SinusoidSpec {
        duration_s: args.duration,
        rate_min: args.min_rate,
        rate_max: args.max_rate,
        rate_period_s: args.period,
        pair1,
        pair2,
        ratio_min: args.ratio_min,
        ratio_max: args.ratio_max,
        ratio_period_s: args.ratio_period.unwrap_or(args.period),
        seed: args.seed,
    };
    let trace = sinusoidal(&spec)?;
    let text = to_mooncake(&trace, BLOCK_SIZE);
    if args.output.as_os_str() == "-" {
        print!("{text}");
    } else {
        profcmp_core::fsio::write_atomic(&args.output, text.as_bytes())
            .map_err(|e| anyhow!("cannot write {}: {e}", args.output.display()))?;
        eprintln!("wrote {} requests to {}", trace.len(), args.output.display());
    }
    Ok(ExitCode::SUCCESS)
}
