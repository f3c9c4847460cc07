//! The built-in load generator: a closed loop at a concurrency with warm-up requests, or an
//! open-loop replay of a trace on its timestamps. Times come from tokio's monotonic clock.
//!
//! Its records follow AIPerf: TTFT is the first chunk with content, latency the last one, the
//! benchmark lasts from the first measured send to the last measured response, and warm-up
//! requests (the first `warmup` sent by the same loop) are left out.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use profcmp_plugin_api::{Probe, TraceRequest};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::request::{send, HttpClient, Outcome, RequestSpec};
use super::target::Target;
use super::EndpointError;
use crate::aiperf::RequestRecord;

/// AIPerf's default request timeout, s.
pub const DEFAULT_TIMEOUT_S: f64 = 600.0;

/// How the load generator sends.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadSettings {
    /// Longest a request may take, connection to last byte.
    pub timeout: Duration,
    /// Seed of the prompts.
    pub seed: u64,
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_S),
            seed: 0,
        }
    }
}

/// What a load produced.
#[derive(Clone, Debug)]
pub struct LoadOutcome {
    /// Measured requests in send order (closed loop) or trace order (open loop); `start_ms`
    /// from the first measured send.
    pub records: Vec<RequestRecord>,
    /// First measured send to last measured response, s.
    pub duration_s: f64,
    /// Open loop: the latest any request was sent after its timestamp, ms (0 for a closed loop).
    pub max_send_lag_ms: f64,
}

/// Runs a probe against `target`.
pub async fn run(
    client: &HttpClient,
    target: &Target,
    probe: &Probe,
    settings: &LoadSettings,
) -> Result<LoadOutcome, EndpointError> {
    match probe {
        Probe::Concurrency {
            concurrency,
            requests,
            isl,
            osl,
            warmup,
        } => {
            if *concurrency == 0 || *requests == 0 || *isl == 0 || *osl == 0 {
                return Err(EndpointError::Config(format!(
                    "a closed loop needs concurrency, requests, isl and osl >= 1 (got {concurrency}, {requests}, {isl}, {osl})"
                )));
            }
            let shape = |_: u32| (*isl, *osl);
            closed_loop(
                client,
                target,
                settings,
                *concurrency,
                *requests + *warmup,
                *warmup,
                shape,
            )
            .await
        }
        Probe::Trace { requests } => open_loop(client, target, settings, requests).await,
    }
}

async fn closed_loop(
    client: &HttpClient,
    target: &Target,
    settings: &LoadSettings,
    concurrency: u32,
    total: u32,
    warmup: u32,
    shape: impl Fn(u32) -> (u32, u32),
) -> Result<LoadOutcome, EndpointError> {
    let specs: Arc<Vec<RequestSpec>> = Arc::new(
        (0..total)
            .map(|i| {
                let (isl, osl) = shape(i);
                RequestSpec {
                    isl,
                    osl,
                    seed: prompt_seed(settings.seed, i),
                }
            })
            .collect(),
    );
    let next = Arc::new(AtomicU32::new(0));
    let origin = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(total) {
        let (client, target, specs, next) = (client.clone(), target.clone(), specs.clone(), next.clone());
        let timeout = settings.timeout;
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(spec) = specs.get(i as usize) else { break };
                done.push((i, send(&client, &target, spec, timeout, origin).await));
            }
            done
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; total as usize];
    while let Some(done) = workers.join_next().await {
        for (i, outcome) in done.map_err(|e| EndpointError::Config(format!("a load worker failed: {e}")))? {
            outcomes[i as usize] = Some(outcome);
        }
    }
    let measured: Vec<Outcome> = outcomes.into_iter().skip(warmup as usize).flatten().collect();
    Ok(finish(measured, origin, 0.0))
}

async fn open_loop(
    client: &HttpClient,
    target: &Target,
    settings: &LoadSettings,
    requests: &[TraceRequest],
) -> Result<LoadOutcome, EndpointError> {
    if requests.is_empty() {
        return Err(EndpointError::Config("the trace has no requests".into()));
    }
    for (i, r) in requests.iter().enumerate() {
        if !(r.timestamp_ms.is_finite() && r.timestamp_ms >= 0.0) || r.input_length == 0 || r.output_length == 0 {
            return Err(EndpointError::Config(format!(
                "trace request {i}: timestamp {} ms, input {} and output {} tokens; timestamps must be >= 0 and lengths >= 1",
                r.timestamp_ms, r.input_length, r.output_length
            )));
        }
    }
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| requests[a].timestamp_ms.total_cmp(&requests[b].timestamp_ms));
    let first_ms = requests[order[0]].timestamp_ms;
    let origin = Instant::now();
    let mut in_flight = JoinSet::new();
    let mut max_lag = Duration::ZERO;
    for i in order {
        let r = requests[i];
        let at = origin + Duration::from_secs_f64((r.timestamp_ms - first_ms) / 1e3);
        tokio::time::sleep_until(at).await;
        max_lag = max_lag.max(Instant::now().saturating_duration_since(at));
        let spec = RequestSpec {
            isl: r.input_length,
            osl: r.output_length,
            seed: prompt_seed(settings.seed, i as u32),
        };
        let (client, target, timeout) = (client.clone(), target.clone(), settings.timeout);
        in_flight.spawn(async move { (i, send(&client, &target, &spec, timeout, origin).await) });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; requests.len()];
    while let Some(done) = in_flight.join_next().await {
        let (i, outcome) = done.map_err(|e| EndpointError::Config(format!("a request task failed: {e}")))?;
        outcomes[i] = Some(outcome);
    }
    Ok(finish(
        outcomes.into_iter().flatten().collect(),
        origin,
        max_lag.as_secs_f64() * 1e3,
    ))
}

/// Records with `start_ms` from the first send, and the benchmark duration.
fn finish(outcomes: Vec<Outcome>, origin: Instant, max_send_lag_ms: f64) -> LoadOutcome {
    let t0_ms = outcomes.iter().map(|o| o.record.start_ms).fold(f64::INFINITY, f64::min);
    let t0_ms = if t0_ms.is_finite() { t0_ms } else { 0.0 };
    let end_ms = outcomes
        .iter()
        .map(|o| o.end.duration_since(origin).as_secs_f64() * 1e3)
        .fold(t0_ms, f64::max);
    let records = outcomes
        .into_iter()
        .map(|o| RequestRecord {
            start_ms: o.record.start_ms - t0_ms,
            ..o.record
        })
        .collect();
    LoadOutcome {
        records,
        duration_s: (end_ms - t0_ms) / 1e3,
        max_send_lag_ms,
    }
}

fn prompt_seed(seed: u64, index: u32) -> u64 {
    seed.rotate_left(32) ^ u64::from(index)
}
