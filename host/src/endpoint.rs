//! The endpoint options of the run-style commands (`--backend endpoint --url ... --loadgen ...`)
//! and `profcmp loadgen`, which measures one load against a server and writes AIPerf artifacts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use profcmp_core::aiperf::{Slo, Summary};
use profcmp_core::endpoint::{
    run_aiperf, run_load, AiperfSettings, Api, EndpointConfig, LoadSettings, Loadgen, ServedGraph, Target,
    DEFAULT_TIMEOUT_S,
};
use profcmp_core::workload::read_mooncake;
use profcmp_plugin_api::Probe;

/// Which load generator measures an endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LoadgenKind {
    /// profcmp's own (tokio, streaming, AIPerf's metric definitions).
    #[default]
    Builtin,
    /// The `aiperf profile` CLI (pip install aiperf==0.13.0), with Dynamo's profiler's flags.
    Aiperf,
}

/// The OpenAI API the load uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ApiKind {
    /// /v1/chat/completions.
    #[default]
    Chat,
    /// /v1/completions.
    Completions,
}

impl From<ApiKind> for Api {
    fn from(kind: ApiKind) -> Api {
        match kind {
            ApiKind::Chat => Api::Chat,
            ApiKind::Completions => Api::Completions,
        }
    }
}

/// How to reach a server and load it (shared by `--backend endpoint` and `profcmp loadgen`).
#[derive(Args, Debug, Clone, Default)]
pub struct LoadArgs {
    /// Base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000 (with --backend
    /// endpoint).
    #[arg(long)]
    pub url: Option<String>,
    /// Model name to send in requests (default: --model).
    #[arg(long, value_name = "NAME")]
    pub served_model: Option<String>,
    /// OpenAI API to load.
    #[arg(long, value_enum, default_value_t)]
    pub api: ApiKind,
    /// Load generator.
    #[arg(long, value_enum, default_value_t)]
    pub loadgen: LoadgenKind,
    /// The aiperf executable (with --loadgen aiperf).
    #[arg(long, value_name = "PATH", default_value = "aiperf")]
    pub aiperf: PathBuf,
    /// Tokenizer for aiperf: a local directory with tokenizer.json and tokenizer_config.json, or
    /// a Hugging Face id (default: the model name, which needs the hub).
    #[arg(long, value_name = "DIR|ID")]
    pub tokenizer: Option<String>,
    /// Longest one request may take, s.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_TIMEOUT_S)]
    pub request_timeout: f64,
}

/// Endpoint options of the run-style commands.
#[derive(Args, Debug, Clone, Default)]
pub struct EndpointArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The graph the endpoint serves, P:TP,D:TP (prefill workers:TP, decode workers:TP), when
    /// the server does not say (`profcmp serve` does).
    #[arg(long, value_name = "P:TP,D:TP")]
    pub endpoint_graph: Option<String>,
}

impl LoadArgs {
    fn target(&self, model: &str) -> anyhow::Result<Target> {
        let url = self
            .url
            .as_deref()
            .context("--url is required with an endpoint: the server's base URL, e.g. http://127.0.0.1:8000")?;
        let model = self.served_model.as_deref().unwrap_or(model);
        Ok(Target::new(url, model, self.api.into())?)
    }

    fn settings(&self, seed: u64) -> anyhow::Result<LoadSettings> {
        if !(self.request_timeout.is_finite() && self.request_timeout > 0.0) {
            bail!(
                "--request-timeout must be a positive number of seconds, got {}",
                self.request_timeout
            );
        }
        Ok(LoadSettings {
            timeout: Duration::from_secs_f64(self.request_timeout),
            seed,
        })
    }

    fn aiperf_settings(&self, seed: u64) -> AiperfSettings {
        AiperfSettings {
            program: self.aiperf.clone(),
            tokenizer: self.tokenizer.clone(),
            seed,
            timeout_s: self.request_timeout,
            extra_args: Vec::new(),
        }
    }
}

/// The endpoint backend's settings when `wanted` (`--cluster endpoint` or `--backend
/// endpoint`), else None.
pub fn config(
    args: &EndpointArgs,
    wanted: bool,
    model: &str,
    seed: u64,
    max_batch: Option<u32>,
    results: &Path,
) -> anyhow::Result<Option<EndpointConfig>> {
    if !wanted {
        if args.load.url.is_some() {
            bail!("--url needs --cluster endpoint (or --backend endpoint)");
        }
        return Ok(None);
    }
    let load = &args.load;
    let graph = args.endpoint_graph.as_deref().map(ServedGraph::parse).transpose()?;
    Ok(Some(EndpointConfig {
        target: load.target(model)?,
        loadgen: match load.loadgen {
            LoadgenKind::Builtin => Loadgen::Builtin,
            LoadgenKind::Aiperf => Loadgen::Aiperf(load.aiperf_settings(seed)),
        },
        load: load.settings(seed)?,
        graph,
        max_batch,
        aiperf_dir: results.join(".aiperf"),
    }))
}

/// What the endpoint is, as recorded in the run's spec (so results of another endpoint, load
/// generator or the simulated cluster are never taken for these).
pub fn describe(config: &EndpointConfig) -> String {
    let loadgen = match config.loadgen {
        Loadgen::Builtin => "builtin",
        Loadgen::Aiperf(_) => "aiperf",
    };
    format!(
        "endpoint {} model {} api {} loadgen {loadgen}",
        config.target.base_url, config.target.model, config.target.api
    )
}

/// `profcmp loadgen`: one load against a server.
#[derive(Args, Debug, Clone)]
pub struct LoadgenArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Model name to send (also aiperf's default tokenizer).
    #[arg(long, default_value = "Qwen/Qwen3-32B")]
    pub model: String,
    /// Closed loop: requests in flight.
    #[arg(long, default_value_t = 1)]
    pub concurrency: u32,
    /// Closed loop: measured requests.
    #[arg(long, default_value_t = 100)]
    pub requests: u32,
    /// Closed loop: unmeasured requests sent first.
    #[arg(long, default_value_t = 0)]
    pub warmup: u32,
    /// Closed loop: prompt tokens.
    #[arg(long, default_value_t = 2048)]
    pub isl: u32,
    /// Closed loop: output tokens.
    #[arg(long, default_value_t = 256)]
    pub osl: u32,
    /// Open loop instead: replay this mooncake trace (JSONL) on its timestamps.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Goodput: TTFT target, ms (with --itl).
    #[arg(long, requires = "itl")]
    pub ttft: Option<f64>,
    /// Goodput: ITL target, ms (with --ttft).
    #[arg(long, requires = "ttft")]
    pub itl: Option<f64>,
    /// Seed of the prompts.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory for the AIPerf artifacts (profile_export_aiperf.json/.csv, profile_export.jsonl).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Runs `profcmp loadgen`: measures, writes the artifacts, prints the summary.
pub fn loadgen(args: &LoadgenArgs) -> anyhow::Result<()> {
    if args.load.url.is_none() {
        bail!("--url is required: the server's base URL, e.g. http://127.0.0.1:8000");
    }
    let target = args.load.target(&args.model)?;
    let probe = match &args.trace {
        Some(path) => Probe::Trace {
            requests: read_mooncake(path)?,
        },
        None => Probe::Concurrency {
            concurrency: args.concurrency,
            requests: args.requests,
            isl: args.isl,
            osl: args.osl,
            warmup: args.warmup,
        },
    };
    let slo = args.ttft.zip(args.itl).map(|(ttft_ms, itl_ms)| Slo { ttft_ms, itl_ms });
    let summary = match args.load.loadgen {
        LoadgenKind::Builtin => {
            let outcome = run_load(&target, &probe, &args.load.settings(args.seed)?)?;
            let mut summary = Summary::from_records(&outcome.records, slo, outcome.duration_s);
            summary.input_config = serde_json::json!({
                "loadgen": "profcmp", "url": target.base_url, "model": target.model,
                "endpoint_type": target.api.as_str(), "probe": probe,
            });
            summary
                .write_dir(&args.out, &outcome.records)
                .with_context(|| format!("cannot write the artifacts into {}", args.out.display()))?;
            summary
        }
        LoadgenKind::Aiperf => {
            let settings = args.load.aiperf_settings(args.seed);
            run_aiperf(&target, &probe, slo, &settings, &args.out)?.1
        }
    };
    print!("{}", render(&summary));
    eprintln!("wrote the AIPerf artifacts in {}", args.out.display());
    Ok(())
}

/// The summary in a few lines.
fn render(summary: &Summary) -> String {
    let value = |name: &str| summary.value(name).unwrap_or(f64::NAN);
    let mut out = format!(
        "requests {:.0} ({:.0} errors) in {:.2} s: {:.2} req/s, {:.1} output tokens/s\n",
        value("request_count"),
        summary.value("error_request_count").unwrap_or(0.0), // aiperf leaves it out when 0
        value("benchmark_duration"),
        value("request_throughput"),
        value("output_token_throughput"),
    );
    for (label, name) in [
        ("TTFT ms", "time_to_first_token"),
        ("ITL ms", "inter_token_latency"),
        ("latency ms", "request_latency"),
    ] {
        if let Some(m) = summary.metric(name) {
            let f = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.2}"));
            out.push_str(&format!(
                "{label:<11} p50 {}  p90 {}  p99 {}  avg {}\n",
                f(m.p50),
                f(m.p90),
                f(m.p99),
                f(m.avg)
            ));
        }
    }
    if let Some(goodput) = summary.value("goodput") {
        out.push_str(&format!(
            "goodput    {goodput:.2} req/s ({:.0} good requests)\n",
            value("good_request_count")
        ));
    }
    out
}
