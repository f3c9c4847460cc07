//! `profcmp serve`: an OpenAI-compatible streaming endpoint on 127.0.0.1 timed by the simulated
//! cluster.

use std::net::{Ipv4Addr, SocketAddr};

use clap::Args;
use profcmp_core::endpoint::{parse_pool, ServedGraph};
use profcmp_core::serve::{spawn, ServeConfig};
use profcmp_core::sim::SimCluster;

use crate::args::TargetArgs;

/// Settings of `profcmp serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Prefill pool, WORKERS:TP.
    #[arg(long, value_name = "P:TP")]
    pub prefill: String,
    /// Decode pool, WORKERS:TP.
    #[arg(long, value_name = "D:TP")]
    pub decode: String,
    /// Reality profile of the simulated cluster: `typical` (the default: the middle of
    /// published deviations from the estimator), `nominal` (the estimator itself, for checks),
    /// `dynamo-2026-01` or a TOML file.
    #[arg(long, default_value = profcmp_core::sim::DEFAULT_REALITY)]
    pub reality: String,
    /// Run X times faster than real time (virtual seconds per real second).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub speedup: f64,
    /// Port on 127.0.0.1 (0: any free port; the address is printed).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Model name clients send (default: --model).
    #[arg(long, value_name = "NAME")]
    pub served_model: Option<String>,
    /// Seed of the simulated cluster's jitter.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Context window, tokens: longer prompt + max_tokens is refused with 400 (vLLM's flag;
    /// default: the model config's max_position_embeddings).
    #[arg(long, value_name = "TOKENS")]
    pub max_model_len: Option<u32>,
}

/// Serves until the process is stopped.
pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let backend = args.target.framework()?;
    let graph = ServedGraph::new(parse_pool(&args.prefill)?, parse_pool(&args.decode)?);
    let reality = profcmp_core::sim::Reality::resolve(&args.reality)?;
    let reality_name = reality.name.clone();
    let (model, system, root, seed) = (
        args.target.model.clone(),
        args.target.system.clone(),
        args.target.aic_systems_root.clone(),
        args.seed,
    );
    let max_context_tokens = match args.max_model_len {
        Some(tokens) => tokens,
        None => profcmp_core::estimator::ModelInfo::resolve(&args.target.model)?
            .max_context_tokens
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "the config of {} has no max_position_embeddings: pass --max-model-len",
                    args.target.model
                )
            })?,
    };
    let config = ServeConfig {
        max_context_tokens,
        graph,
        model: args.served_model.clone().unwrap_or_else(|| args.target.model.clone()),
        speedup: args.speedup,
        addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
    };
    let served_model = config.model.clone();
    let make_cluster = move || SimCluster::aic(&model, &system, backend, reality, seed, root);
    let server = spawn(make_cluster, config)?;
    let capacity = |x: Option<u64>| x.map_or("?".to_string(), |v| v.to_string());
    println!(
        "profcmp serve: {} serves `{served_model}` as {} (KV {} tokens, max batch {} per decode worker), reality {reality_name}, speedup {}x",
        server.url(),
        server.graph,
        capacity(server.graph.kv_capacity_tokens),
        capacity(server.graph.max_batch.map(u64::from)),
        args.speedup
    );
    use std::io::Write;
    std::io::stdout().flush()?;
    server.wait();
    Ok(())
}
