//! The command line: every subcommand and flag, with help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::args::{RunArgs, TargetArgs};
use crate::methods::{MethodArgs, PluginPathArgs};

/// Compare profiling methods for LLM serving: cost, predictive accuracy, optimization accuracy.
#[derive(Parser, Debug)]
#[command(name = "profcmp", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More detail on stderr: -v every method log line and stage step, -vv debug events of
    /// profcmp and its libraries (kube, hyper, aisimulate), -vvv trace. RUST_LOG, when set,
    /// chooses instead (e.g. RUST_LOG=kube=debug,profcmp=info).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors on stderr.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Diagnostics and progress on stderr as JSON, one object per line (`time`, `level`,
    /// `target`, `message`, and `method`, `stage`, `subject`, `done`, `total` when they apply),
    /// for machines.
    #[arg(long, global = true)]
    pub json_events: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List, check and install method plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Run every stage: profile, validate, optimize, compare.
    Run(RunArgs),
    /// Profile stage: run each method through the metered host; write its config and profile.
    Profile(RunArgs),
    /// Validate stage: measure each method's recommended graph at idle/medium/saturation/overload.
    Validate(RunArgs),
    /// Optimize stage: each chosen config under a sinusoidal trace with the planner; the oracle.
    Optimize(RunArgs),
    /// Compare stage: comparison_results.json, summary.txt and plots from a results directory
    /// (also one produced elsewhere in the same layout, e.g. NVIDIA's 2026-01 run).
    Compare {
        /// The results directory.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Kubernetes: clean up a killed run; run Dynamo's profiler (a DGDR) as a method.
    K8s {
        #[command(subcommand)]
        command: crate::k8s::K8sCommand,
    },
    /// Internal: runs one plugin in a child process for the host (see isolate.rs).
    #[command(name = "__plugin-worker", hide = true)]
    PluginWorker {
        /// The plugin `.so`.
        path: PathBuf,
    },
    /// Internal: prints one plugin's manifest, read in this (child) process (see load.rs).
    #[command(name = "__plugin-manifest", hide = true)]
    PluginManifest {
        /// The plugin `.so`.
        path: PathBuf,
    },
    /// Deploy one graph on the simulated cluster, load it, write AIPerf-format artifacts.
    Simulate(SimulateArgs),
    /// Generate workload traces.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
    /// Benchmarks: plugin size and load time, methods over many scenarios, the timed default run.
    Bench(crate::bench::BenchArgs),
    /// An OpenAI-compatible streaming endpoint on 127.0.0.1 timed by the simulated cluster.
    Serve(crate::serve::ServeArgs),
    /// Measure one load against an OpenAI-compatible server; write AIPerf's artifacts.
    Loadgen(crate::endpoint::LoadgenArgs),
    /// AI Configurator estimate: one prefill pass or one decode step, in ms.
    #[command(group(clap::ArgGroup::new("phase").required(true).args(["prefill", "decode"])))]
    Estimate {
        #[command(flatten)]
        target: TargetArgs,
        /// Tensor-parallel size.
        #[arg(long)]
        tp: u32,
        /// One prefill pass of one request of ISL tokens (AIC's predict_prefill_latency(1, L, 0)).
        #[arg(long)]
        prefill: bool,
        /// One decode step of BATCH sequences at context ISL (AIC's predict_decode_latency(B, L, 2)).
        #[arg(long, requires = "batch")]
        decode: bool,
        /// Sequences in the decode batch.
        #[arg(long)]
        batch: Option<u32>,
        /// Input (prefill) or context (decode) length, tokens.
        #[arg(long)]
        isl: u32,
        /// Print JSON: {"latency_ms": x, ...}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// List every plugin on the search path: name, version, role, api version, path, status.
    List {
        #[command(flatten)]
        path: PluginPathArgs,
    },
    /// Check that a file is a loadable profcmp plugin (manifest and ABI).
    Check {
        /// The plugin `.so`.
        path: PathBuf,
    },
    /// Check a plugin, then copy it into the install directory under a versioned name.
    Install {
        /// The plugin `.so`.
        path: PathBuf,
    },
    /// Resolve a method set and print it as a methods.lock (which code a run would use).
    Resolve {
        #[command(flatten)]
        methods: MethodArgs,
    },
}

/// `profcmp simulate`: one graph, one load.
#[derive(Args, Debug, Clone)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Prefill workers and their TP, `P:TP` (e.g. 1:1).
    #[arg(long, value_name = "P:TP")]
    pub prefill: String,
    /// Decode workers and their TP, `D:TP` (e.g. 1:2).
    #[arg(long, value_name = "D:TP")]
    pub decode: String,
    /// Requests in flight (closed loop); ignored with --trace.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,
    /// Measured requests (closed loop).
    #[arg(long, default_value_t = 100)]
    pub requests: u32,
    /// Input sequence length, tokens.
    #[arg(long, default_value_t = 2048)]
    pub isl: u32,
    /// Output sequence length, tokens.
    #[arg(long, default_value_t = 256)]
    pub osl: u32,
    /// Replay this mooncake trace open-loop instead of a closed loop.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Reality profile: `typical` (the default: the middle of
    /// published deviations from the estimator), `nominal` (the estimator itself, for checks),
    /// `dynamo-2026-01` or a TOML file.
    #[arg(long, default_value = profcmp_core::sim::DEFAULT_REALITY)]
    pub reality: String,
    /// Seed of the jitter.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// SLA for goodput: TTFT target, ms.
    #[arg(long, default_value_t = 500.0)]
    pub ttft: f64,
    /// SLA for goodput: ITL target, ms.
    #[arg(long, default_value_t = 50.0)]
    pub itl: f64,
    /// Where to write profile_export_aiperf.{json,csv} and profile_export.jsonl.
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum TraceCommand {
    /// A sinusoidal-rate trace like Dynamo's sin_synth, as mooncake JSONL.
    Sin(SinArgs),
}

/// `profcmp trace sin`.
#[derive(Args, Debug, Clone)]
pub struct SinArgs {
    /// Length, s.
    #[arg(long, default_value_t = 1800)]
    pub duration: u32,
    /// Lowest request rate, req/s.
    #[arg(long, default_value_t = 5.0)]
    pub min_rate: f64,
    /// Highest request rate, req/s.
    #[arg(long, default_value_t = 45.0)]
    pub max_rate: f64,
    /// Period of the rate, s.
    #[arg(long, default_value_t = 600.0)]
    pub period: f64,
    /// First ISL/OSL pair, `ISL:OSL`.
    #[arg(long, default_value = "2048:256")]
    pub pair1: String,
    /// Second ISL/OSL pair, `ISL:OSL` (default: the first).
    #[arg(long)]
    pub pair2: Option<String>,
    /// Lowest share of the first pair, in [0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub ratio_min: f64,
    /// Highest share of the first pair, in [0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub ratio_max: f64,
    /// Period of the share, s (default: the rate's period).
    #[arg(long)]
    pub ratio_period: Option<f64>,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output file (mooncake JSONL); `-` for stdout.
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
}
