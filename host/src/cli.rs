//! The command line: every subcommand and flag, with help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

// The method-selection flags live with the code that resolves them (and that `bench` uses
// without depending on this module).
pub use crate::methods::{MethodArgs, PluginPathArgs};

/// Compare profiling methods for LLM serving: cost, predictive accuracy, optimization accuracy.
#[derive(Parser, Debug)]
#[command(name = "profcmp", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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

/// The model, GPU system and serving framework.
#[derive(Args, Debug, Clone)]
pub struct TargetArgs {
    /// Hugging Face model id (Qwen/Qwen3-32B, Qwen/Qwen3-8B, Qwen/Qwen3-0.6B,
    /// meta-llama/Meta-Llama-3.1-8B, meta-llama/Meta-Llama-3.1-70B) or a path to a config.json.
    #[arg(long, default_value = "Qwen/Qwen3-32B")]
    pub model: String,
    /// GPU system of the perf database (h200_sxm, h100_sxm, b200_sxm).
    #[arg(long, default_value = "h200_sxm")]
    pub system: String,
    /// Serving framework: trtllm, vllm or sglang (the shipped database has trtllm only); or
    /// `endpoint`, the same as `--cluster endpoint` with trtllm estimates.
    #[arg(long, default_value = "trtllm")]
    pub backend: String,
    /// A full AI Configurator systems directory (e.g. from the aiconfigurator-core 0.12.0 wheel)
    /// instead of the shipped subset.
    #[arg(long, value_name = "DIR")]
    pub aic_systems_root: Option<PathBuf>,
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

/// Settings of a comparison run (defaults: the 2026-01 reference comparison).
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub methods: MethodArgs,
    #[command(flatten)]
    pub endpoint: crate::endpoint::EndpointArgs,
    /// Results directory.
    #[arg(long, default_value = "results")]
    pub results: PathBuf,
    /// SLA: time-to-first-token target, ms.
    #[arg(long, default_value_t = 500.0)]
    pub ttft: f64,
    /// SLA: inter-token latency target, ms.
    #[arg(long, default_value_t = 50.0)]
    pub itl: f64,
    /// Input sequence length, tokens.
    #[arg(long, default_value_t = 2048)]
    pub isl: u32,
    /// Output sequence length, tokens.
    #[arg(long, default_value_t = 256)]
    pub osl: u32,
    /// Candidate prefill TPs.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub prefill_tp: Vec<u32>,
    /// Candidate decode TPs.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub decode_tp: Vec<u32>,
    /// Most GPUs a graph may use, planner included: a number, or `auto` (default) = what the
    /// trace's busiest 2 s need at the estimator's TP1 throughput, rounded up to whole 8-GPU
    /// nodes (printed at the start), so the planner is not capped below the load it must serve.
    #[arg(long, default_value = "auto")]
    pub gpu_budget: String,
    /// Base seed (methods, measurements, trace).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where configs are deployed and measured: `sim` (the embedded simulated cluster), `k8s`
    /// (a Kubernetes cluster with NVIDIA Dynamo's operator; see --namespace, --context) or
    /// `endpoint` (an already running server, --url; `--backend endpoint` says the same).
    #[arg(long, default_value = "sim", value_parser = ["sim", "k8s", "endpoint"])]
    pub cluster: String,
    #[command(flatten)]
    pub k8s: crate::k8s::K8sArgs,
    /// Reality profile of the simulated cluster: `typical` (the default: the middle of
    /// published deviations from the estimator), `nominal` (the estimator itself, for checks),
    /// `dynamo-2026-01` or a TOML file.
    #[arg(long, default_value = profcmp_core::sim::DEFAULT_REALITY)]
    pub reality: String,
    /// Run every stage over K realities drawn from --reality-ranges with the run's seed (results
    /// under `<results>/reality-<k>/`; compare reports each method's errors and regrets as
    /// distributions over them). 0: one run on --reality.
    #[arg(long, default_value_t = 0, value_name = "K")]
    pub realities: u32,
    /// Ranges the --realities draws come from (a reality TOML whose numbers may be
    /// `[low, high]`); default: the shipped core/data/reality/ranges.toml.
    #[arg(long, value_name = "FILE")]
    pub reality_ranges: Option<PathBuf>,
    /// Requests measured at each validation load level.
    #[arg(long, default_value_t = 100)]
    pub requests: u32,
    /// Capacity B (max concurrent requests) for the load levels; default: the smallest among
    /// the methods' recommended deployments.
    #[arg(long)]
    pub max_batch: Option<u32>,
    /// Length of the optimize stage's sinusoidal trace, s.
    #[arg(long, default_value_t = 1800.0)]
    pub trace_duration: f64,
    /// Lowest request rate of the trace, req/s.
    #[arg(long, default_value_t = 5.0)]
    pub min_rate: f64,
    /// Highest request rate of the trace, req/s.
    #[arg(long, default_value_t = 45.0)]
    pub max_rate: f64,
    /// Period of the trace's rate sinusoid, s (sin_synth's default, as in the seed's command;
    /// a slow period, e.g. 600, is where the planner's lag shows).
    #[arg(long, default_value_t = 10.0)]
    pub period: f64,
    /// The trace's second request class, `ISL:OSL`, mixed with the SLA's (sin_synth's default).
    #[arg(long, value_name = "ISL:OSL", default_value = "5000:100")]
    pub second_class: String,
    /// Every request of the trace is the SLA's ISL/OSL (no second class).
    #[arg(long)]
    pub single_class: bool,
    /// Lowest share of the SLA's class in the trace (sin_synth: 0.2).
    #[arg(long, default_value_t = 0.2)]
    pub ratio_min: f64,
    /// Highest share of the SLA's class (sin_synth: 0.8).
    #[arg(long, default_value_t = 0.8)]
    pub ratio_max: f64,
    /// Period of the share, s (sin_synth: 10).
    #[arg(long, default_value_t = 10.0)]
    pub ratio_period: f64,
    /// Replay this mooncake JSONL trace (e.g. a production trace) instead of the generated one;
    /// the report records its name, sha256 and statistics.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Which NVIDIA Dynamo the run models: the SLA planner's loop, demand signal, predictors,
    /// corrections and budget rule (and the Kubernetes profiler conventions). 1.6 (current,
    /// default) or 0.7 (January 2026, as in NVIDIA's reference run).
    #[arg(long, default_value = "1.6", value_parser = ["0.7", "1.6"])]
    pub dynamo_version: String,
    /// Planner adjustment interval, s, for every graph (default: each method's
    /// config_with_planner.yaml, else Dynamo's 180).
    #[arg(long, value_name = "S")]
    pub adjustment_interval: Option<f64>,
    /// Planner load predictor for every graph: constant, arima or kalman (1.6 only) (default:
    /// each method's config_with_planner.yaml, else arima).
    #[arg(long, value_name = "NAME")]
    pub load_predictor: Option<String>,
    /// Multiply the demand the planner sizes for by F (default 1, as Dynamo). NOT Dynamo's
    /// behaviour: Dynamo provisions throughput for the predicted demand and no more, so on a
    /// bursty trace every graph queues at the crests; F > 1 shows what headroom would buy.
    #[arg(long, value_name = "F")]
    pub planner_headroom: Option<f64>,
    /// Reproduce NVIDIA's January 2026 reference run: `nvidia-2026-01` = Dynamo 0.7's planner,
    /// GPU budget 8 (overrides --dynamo-version and --gpu-budget).
    #[arg(long, value_parser = ["nvidia-2026-01"])]
    pub preset: Option<String>,
    /// Run the measured stages with K seeds and report means with 95% intervals.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Wall-clock seconds one method may take in the profile stage; then its process is killed,
    /// what it deployed is torn down and charged, and it is reported as timed out.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600.0)]
    pub method_timeout: f64,
    /// Seconds of the cluster's clock (virtual on the simulated cluster) one method may spend in
    /// the profile stage; then its deploy and measure calls are refused and it is reported as
    /// timed out. Default: one week.
    #[arg(long, value_name = "SECONDS", default_value_t = 604800.0)]
    pub method_budget: f64,
    /// No progress spinner (plain lines; also when stderr is not a terminal).
    #[arg(long)]
    pub no_progress: bool,
    /// Show every method log line and stage step.
    #[arg(long, short)]
    pub verbose: bool,
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
