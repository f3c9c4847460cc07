//! Measuring an OpenAI-compatible server: the endpoint backend, the built-in load generator and
//! the real aiperf as an alternative.
//!
//! ```text
//! EndpointBackend::deploy   GET /v1/models (answers? serves the model?), GET /profcmp/deployment
//!                           (or --endpoint-graph): the one graph the server runs
//! EndpointBackend::measure  loadgen::run (closed loop with warm-up, or open-loop trace replay)
//!                           | aiperf_cli::run (`aiperf profile`, artifacts read back)
//!                           -> RequestRecord -> aiperf::Summary (AIPerf's metric definitions)
//! ```
//!
//! A request that fails (HTTP error, malformed SSE, a stream cut short, a timeout) is a record
//! with an `error` reason; the run goes on and the summary counts it in `error_request_count`.

mod aiperf_cli;
mod backend;
mod error;
mod graph;
mod loadgen;
mod prompt;
mod request;
mod sse;
mod target;
#[cfg(test)]
mod tests;

pub use aiperf_cli::{read_records, AiperfSettings};
pub use backend::{EndpointBackend, EndpointConfig, Loadgen};
pub use error::EndpointError;
pub use graph::{parse_pool, ServedGraph, DEPLOYMENT_PATH};
pub use loadgen::{LoadOutcome, LoadSettings, DEFAULT_TIMEOUT_S};
pub use prompt::{count_tokens, output_word, prompt};
pub use request::{http_client, HttpClient};
pub use target::{Api, Target};

/// Runs one probe with the built-in load generator on a runtime of its own (for the CLI and
/// benchmarks; the backend keeps one runtime for all its measurements).
pub fn run_load(
    target: &Target,
    probe: &profcmp_plugin_api::Probe,
    settings: &LoadSettings,
) -> Result<LoadOutcome, EndpointError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| EndpointError::Config(format!("cannot start the load generator's runtime: {e}")))?;
    runtime.block_on(async { loadgen::run(&http_client(), target, probe, settings).await })
}

/// Runs one probe with `aiperf profile` into `artifact_dir`.
pub fn run_aiperf(
    target: &Target,
    probe: &profcmp_plugin_api::Probe,
    slo: Option<crate::aiperf::Slo>,
    settings: &AiperfSettings,
    artifact_dir: &std::path::Path,
) -> Result<(Vec<crate::aiperf::RequestRecord>, crate::aiperf::Summary), EndpointError> {
    aiperf_cli::run(target, probe, slo, settings, artifact_dir)
}
