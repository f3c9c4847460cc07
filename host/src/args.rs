//! Flag groups several commands share: the target, and the settings of the run-style commands
//! (the method flags live in `methods`). It imports only the flag groups of `endpoint`, `k8s`
//! and `methods` (which import nothing back), so every command module may use it without a cycle.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use profcmp_core::backend::LoadPredictor;
use profcmp_core::pipeline::ClusterKind;
use profcmp_core::spec::DynamoVersion;
use profcmp_plugin_api::ServingBackend;

use crate::methods::MethodArgs;

/// `--backend`: a serving framework, or an already running server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// TensorRT-LLM.
    Trtllm,
    /// vLLM.
    Vllm,
    /// SGLang.
    Sglang,
    /// An already running server (`--url`): the run-style commands' `--cluster endpoint`.
    Endpoint,
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
    /// Serving framework (the shipped database has trtllm only); or `endpoint` (run-style
    /// commands only), the same as `--cluster endpoint` with trtllm estimates.
    #[arg(long, value_enum, default_value = "trtllm")]
    pub backend: BackendArg,
    /// A full AI Configurator systems directory (e.g. from the aiconfigurator-core 0.12.0 wheel)
    /// instead of the shipped subset.
    #[arg(long, value_name = "DIR")]
    pub aic_systems_root: Option<PathBuf>,
}

impl TargetArgs {
    /// The framework a simulated cluster or the estimator models; `endpoint` is refused (it
    /// names no framework), except by the run-style commands, which handle it first.
    pub fn framework(&self) -> anyhow::Result<ServingBackend> {
        Ok(match self.backend {
            BackendArg::Trtllm => ServingBackend::Trtllm,
            BackendArg::Vllm => ServingBackend::Vllm,
            BackendArg::Sglang => ServingBackend::Sglang,
            BackendArg::Endpoint => anyhow::bail!(
                "--backend endpoint measures a running server (profcmp run/profile/validate/optimize with --url); this command needs a framework: trtllm, vllm or sglang"
            ),
        })
    }
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
    #[arg(long, value_enum, default_value = "sim")]
    pub cluster: ClusterArg,
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
    #[arg(long, value_enum, default_value = "1.6")]
    pub dynamo_version: DynamoVersionArg,
    /// Planner adjustment interval, s, for every graph (default: each method's
    /// config_with_planner.yaml, else Dynamo's 180).
    #[arg(long, value_name = "S")]
    pub adjustment_interval: Option<f64>,
    /// Planner load predictor for every graph: constant, arima or kalman (1.6 only) (default:
    /// each method's config_with_planner.yaml, else arima).
    #[arg(long, value_enum, value_name = "NAME")]
    pub load_predictor: Option<PredictorArg>,
    /// Multiply the demand the planner sizes for by F (default 1, as Dynamo). NOT Dynamo's
    /// behaviour: Dynamo provisions throughput for the predicted demand and no more, so on a
    /// bursty trace every graph queues at the crests; F > 1 shows what headroom would buy.
    #[arg(long, value_name = "F")]
    pub planner_headroom: Option<f64>,
    /// Reproduce NVIDIA's January 2026 reference run: `nvidia-2026-01` = Dynamo 0.7's planner,
    /// GPU budget 8 (overrides --dynamo-version and --gpu-budget).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
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
}

/// `--cluster`: where configs are deployed and measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClusterArg {
    /// The embedded simulated cluster.
    Sim,
    /// A Kubernetes cluster with NVIDIA Dynamo's operator.
    K8s,
    /// An already running OpenAI-compatible server (--url).
    Endpoint,
}

impl From<ClusterArg> for ClusterKind {
    fn from(arg: ClusterArg) -> ClusterKind {
        match arg {
            ClusterArg::Sim => ClusterKind::Sim,
            ClusterArg::K8s => ClusterKind::K8s,
            ClusterArg::Endpoint => ClusterKind::Endpoint,
        }
    }
}

/// `--dynamo-version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DynamoVersionArg {
    /// Dynamo 0.7 (January 2026).
    #[value(name = "0.7")]
    V0_7,
    /// Dynamo 1.6 (current).
    #[value(name = "1.6")]
    V1_6,
}

impl From<DynamoVersionArg> for DynamoVersion {
    fn from(arg: DynamoVersionArg) -> DynamoVersion {
        match arg {
            DynamoVersionArg::V0_7 => DynamoVersion::V0_7,
            DynamoVersionArg::V1_6 => DynamoVersion::V1_6,
        }
    }
}

/// `--load-predictor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PredictorArg {
    /// The last interval's load.
    Constant,
    /// ARIMA.
    Arima,
    /// Kalman filter (Dynamo 1.6 only).
    Kalman,
}

impl From<PredictorArg> for LoadPredictor {
    fn from(arg: PredictorArg) -> LoadPredictor {
        match arg {
            PredictorArg::Constant => LoadPredictor::Constant,
            PredictorArg::Arima => LoadPredictor::Arima,
            PredictorArg::Kalman => LoadPredictor::Kalman,
        }
    }
}

/// `--preset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// NVIDIA's January 2026 reference run: Dynamo 0.7's planner, GPU budget 8.
    #[value(name = "nvidia-2026-01")]
    Nvidia2026_01,
}
