//! When each request's tokens are due: a thread that replays the history of arrivals on the
//! simulated cluster whenever requests arrive, and publishes every open request's timing.
//!
//! Times are virtual ms since the server started (real time x speedup). Limits:
//! - tokens are spaced evenly between the first and the last token the replay predicts (the
//!   replay reports TTFT and end-to-end latency, not each token), so a request's mean ITL is
//!   the simulator's and its token-to-token spread is not;
//! - the history restarts whenever the server is idle (exact: nothing carries over); while it
//!   never idles, it is cut to the requests still running once it passes [`MAX_HISTORY`], which
//!   forgets how finished requests delayed them (approximate, and only under long, heavy load);
//! - a client that disconnects still occupies the simulated cluster until its request would end.

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use profcmp_plugin_api::{Deployment, TraceRequest};

use crate::sim::SimCluster;

/// Most requests a replay holds while the server never idles.
pub const MAX_HISTORY: usize = 512;

/// A request's token times, or why the simulated cluster could not serve it.
#[derive(Clone, Debug, PartialEq)]
pub enum Timing {
    /// First and last token, virtual ms since the server started.
    Tokens {
        /// First token.
        first_ms: f64,
        /// Last token.
        last_ms: f64,
    },
    /// The request failed in the simulation.
    Failed(String),
}

impl Timing {
    /// When token `k` (0-based) of `n` is due, virtual ms.
    pub fn token_ms(first_ms: f64, last_ms: f64, k: u32, n: u32) -> f64 {
        if n <= 1 {
            first_ms
        } else {
            first_ms + (last_ms - first_ms) * f64::from(k) / f64::from(n - 1)
        }
    }
}

/// One request as it arrived.
#[derive(Clone, Copy, Debug)]
pub struct Arrival {
    /// Server-assigned id.
    pub id: u64,
    /// Arrival, virtual ms since the server started.
    pub at_ms: f64,
    /// Prompt tokens.
    pub isl: u32,
    /// Output tokens.
    pub osl: u32,
}

/// The timings of open requests, shared between the scheduler thread and the streams. A
/// request is opened before its arrival is sent and closed by its stream; the scheduler only
/// updates open requests, so a closed one never comes back.
#[derive(Default)]
pub struct Book {
    timings: Mutex<HashMap<u64, Option<Timing>>>,
}

impl Book {
    /// Opens request `id` (no timing yet).
    pub fn open(&self, id: u64) {
        self.lock().insert(id, None);
    }

    /// The current timing of request `id`, once the scheduler has placed it.
    pub fn timing(&self, id: u64) -> Option<Timing> {
        self.lock().get(&id).cloned().flatten()
    }

    /// Forgets a finished (or abandoned) request.
    pub fn close(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Option<Timing>>> {
        self.timings.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The scheduler loop: runs until every arrival sender is dropped. `changed` is bumped after
/// each replay so streams re-read their timing.
pub fn run(
    mut cluster: SimCluster,
    deployment: Deployment,
    arrivals: mpsc::Receiver<Arrival>,
    book: Arc<Book>,
    changed: tokio::sync::watch::Sender<u64>,
) {
    let mut history: Vec<(Arrival, f64)> = Vec::new();
    while let Ok(first) = arrivals.recv() {
        let mut batch = vec![first];
        batch.extend(arrivals.try_iter());
        let now_ms = batch.iter().map(|a| a.at_ms).fold(f64::INFINITY, f64::min);
        if history.iter().all(|(_, end_ms)| *end_ms <= now_ms) {
            history.clear();
        } else if history.len() > MAX_HISTORY {
            let oldest_open = history
                .iter()
                .filter(|(_, end_ms)| *end_ms > now_ms)
                .map(|(a, _)| a.at_ms)
                .fold(f64::INFINITY, f64::min);
            history.retain(|(_, end_ms)| *end_ms > oldest_open);
        }
        history.extend(batch.iter().map(|a| (*a, f64::INFINITY)));
        // Concurrent handlers may send their arrivals out of order: the replay wants time order.
        history.sort_by(|a, b| a.0.at_ms.total_cmp(&b.0.at_ms));
        let base_ms = history[0].0.at_ms;
        let trace: Vec<TraceRequest> = history
            .iter()
            .map(|(a, _)| TraceRequest::new(a.at_ms - base_ms, a.isl, a.osl))
            .collect();
        let replayed = cluster.replay_history(&deployment, &trace);
        let mut timings = book.lock();
        for (i, (arrival, end_ms)) in history.iter_mut().enumerate() {
            let timing = match &replayed {
                Err(e) => Timing::Failed(format!("the simulated cluster failed: {e}")),
                Ok(records) => match &records[i] {
                    record if record.error.is_some() => Timing::Failed(format!(
                        "the simulated cluster did not serve it: {}",
                        record.error.as_deref().unwrap_or("")
                    )),
                    record => Timing::Tokens {
                        first_ms: arrival.at_ms + record.ttft_ms.unwrap_or(0.0),
                        last_ms: arrival.at_ms + record.latency_ms.unwrap_or(0.0),
                    },
                },
            };
            *end_ms = match timing {
                Timing::Tokens { last_ms, .. } => last_ms,
                Timing::Failed(_) => arrival.at_ms,
            };
            if let Some(open) = timings.get_mut(&arrival.id) {
                *open = Some(timing);
            }
        }
        drop(timings);
        changed.send_modify(|generation| *generation += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_spread_evenly_from_first_to_last() {
        assert_eq!(Timing::token_ms(100.0, 100.0, 0, 1), 100.0);
        assert_eq!(Timing::token_ms(100.0, 190.0, 0, 4), 100.0);
        assert_eq!(Timing::token_ms(100.0, 190.0, 3, 4), 190.0);
        assert_eq!(Timing::token_ms(100.0, 190.0, 1, 4), 130.0);
    }
}
