//! Benchmark of the built-in load generator against `profcmp serve` (in a child process, so the
//! load generator's CPU time is its own): the latency it adds per request, its CPU time per
//! request, and the highest open-loop request rate it sustains.
//!
//! `cargo run --release -p profcmp-core --example bench_loadgen`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use profcmp_core::aiperf::{percentile, Summary};
use profcmp_core::backend::Backend;
use profcmp_core::endpoint::{run_load, Api, LoadSettings, ServedGraph, Target};
use profcmp_core::serve::{spawn, ServeConfig};
use profcmp_core::sim::{Reality, SimCluster};
use profcmp_plugin_api::{Probe, ServingBackend, TraceRequest};

const SYSTEM: &str = "h200_sxm";

/// The nominal reality without jitter, so the server and the simulator agree exactly.
fn reality() -> Reality {
    Reality {
        jitter_sigma: 0.0,
        ..Reality::named("nominal").expect("nominal exists")
    }
}

fn cluster(model: &str) -> SimCluster {
    SimCluster::aic(model, SYSTEM, ServingBackend::Trtllm, reality(), 1, None).expect("the cluster builds")
}

/// Child mode: `bench_loadgen serve MODEL SPEEDUP` serves until killed.
fn serve(model: String, speedup: f64) {
    let config = ServeConfig {
        graph: ServedGraph::new((1, 1), (1, 1)),
        model: "m".into(),
        speedup,
        addr: "127.0.0.1:0".parse().unwrap(),
        max_context_tokens: 40_960,
    };
    let server = spawn(move || Ok(cluster(&model)), config).expect("the server starts");
    println!("{}", server.url());
    server.wait();
}

/// A `profcmp serve`-equivalent child process; killed on drop.
struct Child(std::process::Child, String);

impl Child {
    fn start(model: &str, speedup: f64) -> Child {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["serve", model, &speedup.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        Child(child, url.trim().to_string())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds (user + system) of this process so far, from /proc (10 ms ticks).
fn cpu_s() -> f64 {
    process_cpu_s("self")
}

/// CPU seconds of process `pid` (`self` for this one).
fn process_cpu_s(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(args[2].clone(), args[3].parse().unwrap());
    }
    let settings = LoadSettings {
        timeout: std::time::Duration::from_secs(30),
        seed: 0,
    };

    // 1. Latency added per request: real time, concurrency 1, vs the simulator's own numbers.
    let model = "Qwen/Qwen3-32B";
    let server = Child::start(model, 1.0);
    let target = Target::new(&server.1, "m", Api::Chat).unwrap();
    let probe = Probe::Concurrency {
        concurrency: 1,
        requests: 30,
        isl: 512,
        osl: 16,
        warmup: 2,
    };
    let measured = run_load(&target, &probe, &settings).unwrap();
    let measured = Summary::from_records(&measured.records, None, measured.duration_s);
    let mut sim = cluster(model);
    let deployment = sim.deploy(&ServedGraph::new((1, 1), (1, 1)).request()).unwrap();
    let simulated = sim.measure(&deployment, &probe, None).unwrap().summary;
    println!("latency added per request ({model} 1P1D TP1, real time, concurrency 1, ISL 512, OSL 16, 30 requests):");
    for metric in ["time_to_first_token", "inter_token_latency", "request_latency"] {
        let (got, want) = (measured.p50(metric).unwrap(), simulated.p50(metric).unwrap());
        println!(
            "  {metric:<20} p50 measured {got:8.3} ms, simulator {want:8.3} ms, added {:+.3} ms",
            got - want
        );
    }
    drop(server);

    // 2. CPU per request: closed loop against a server 1000x faster than real time.
    let model = "Qwen/Qwen3-0.6B";
    let server = Child::start(model, 1000.0);
    let target = Target::new(&server.1, "m", Api::Chat).unwrap();
    let (requests, osl) = (4000u32, 16u32);
    let probe = Probe::Concurrency {
        concurrency: 16,
        requests,
        isl: 128,
        osl,
        warmup: 100,
    };
    let (cpu0, wall0) = (cpu_s(), Instant::now());
    let outcome = run_load(&target, &probe, &settings).unwrap();
    let (cpu, wall) = (cpu_s() - cpu0, wall0.elapsed().as_secs_f64());
    let errors = outcome.records.iter().filter(|r| r.error.is_some()).count();
    println!(
        "CPU per request (closed loop, concurrency 16, {requests} requests of {osl} streamed tokens, server at 1000x): \
         {:.0} us per request ({:.1} us per token), {:.0} req/s in {wall:.1} s wall, load generator CPU {:.0}%, {errors} errors",
        cpu / f64::from(requests + 100) * 1e6,
        cpu / f64::from((requests + 100) * osl) * 1e6,
        f64::from(requests) / outcome.duration_s,
        cpu / wall * 100.0,
    );

    // 3. Highest open-loop rate sustained: constant-rate traces of 5 s.
    println!(
        "open loop, constant rate for 5 s, ISL 128, OSL 8 (server at 1000x; send lag from the first request's send; \
         sustained = no errors, >= 95% of the offered rate completed, send lag p99 < 10 ms):"
    );
    for rate in [100.0, 400.0, 1600.0, 3200.0, 6400.0, 8000.0, 9600.0, 11200.0, 12800.0] {
        let n = (rate * 5.0) as usize;
        let requests: Vec<TraceRequest> = (0..n)
            .map(|i| TraceRequest::new(i as f64 * 1e3 / rate, 128, 8))
            .collect();
        let server_pid = server.0.id().to_string();
        let (cpu0, server0, wall0) = (cpu_s(), process_cpu_s(&server_pid), Instant::now());
        let outcome = run_load(
            &target,
            &Probe::Trace {
                requests: requests.clone(),
            },
            &settings,
        )
        .unwrap();
        let (cpu, wall) = (cpu_s() - cpu0, wall0.elapsed().as_secs_f64());
        let server_cpu = process_cpu_s(&server_pid) - server0;
        let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
        for reason in outcome.records.iter().filter_map(|r| r.error.as_deref()) {
            *reasons.entry(reason.chars().take(160).collect()).or_default() += 1;
        }
        let mut lags: Vec<f64> = (outcome.records.iter().zip(&requests))
            .map(|(r, t)| r.start_ms - t.timestamp_ms)
            .collect();
        lags.sort_by(f64::total_cmp);
        let errors = outcome.records.iter().filter(|r| r.error.is_some()).count();
        let completed = outcome.records.len() - errors;
        let achieved = completed as f64 / outcome.duration_s;
        let mut latencies: Vec<f64> = outcome.records.iter().filter_map(|r| r.latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        let p50_latency = if latencies.is_empty() {
            f64::NAN
        } else {
            percentile(&latencies, 50.0)
        };
        let sustained = errors == 0 && achieved >= 0.95 * rate && percentile(&lags, 99.0) < 10.0;
        println!(
            "  {rate:6.0} req/s offered: {achieved:7.1} req/s completed, {errors} errors, send lag p50 {:.2} p99 {:.2} max {:.2} ms, \
             latency p50 {p50_latency:.1} ms, CPU load generator {:.0}% server {:.0}% -> {}{}",
            percentile(&lags, 50.0),
            percentile(&lags, 99.0),
            outcome.max_send_lag_ms,
            cpu / wall * 100.0,
            server_cpu / wall * 100.0,
            if sustained { "sustained" } else { "NOT sustained" },
            if reasons.is_empty() { String::new() } else { format!(" {reasons:?}") }
        );
        if !sustained {
            break;
        }
    }
}
