//! `profcmp serve`: an OpenAI-compatible streaming endpoint on loopback whose timing comes from
//! the simulated cluster, in real time or `speedup` times faster, so the endpoint backend, the
//! load generator and aiperf can be exercised on one machine.
//!
//! ```text
//! POST /v1/chat/completions, /v1/completions   prompt tokens = whitespace-separated words,
//!      output tokens = max_completion_tokens | max_tokens (exactly; EOS is ignored)
//!   400 (as vLLM): max_tokens not an integer >= 1, prompt + max_tokens over the context
//!      window, a body over 8 MiB, not JSON, an empty prompt; 404: another model
//!   -> schedule: replay every arrival so far on the SimCluster graph (open loop, on arrival
//!      times) -> first and last token time of each open request
//!   -> http: stream one word per token as it falls due; usage; data: [DONE]
//! GET /v1/models, /profcmp/deployment (the graph, KV capacity, max batch), /health
//! ```
//!
//! See `schedule` for the limits of this timing (even token spacing, history cut under long
//! heavy load).

mod http;
mod schedule;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{mpsc, Arc};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::{oneshot, watch};

pub use http::MAX_BODY_BYTES;
pub use schedule::{Timing, MAX_HISTORY};

use crate::backend::{Backend, BackendError};
use crate::endpoint::ServedGraph;
use crate::sim::SimCluster;

/// What to serve, where.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeConfig {
    /// The graph (worker counts and TPs; capacity is filled in from the cluster).
    pub graph: ServedGraph,
    /// The model name clients must send.
    pub model: String,
    /// Virtual seconds per real second (1 = real time).
    pub speedup: f64,
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// The model's context window, tokens: a request whose prompt plus `max_tokens` exceeds it
    /// is refused with 400, as vLLM does (`--max-model-len`).
    pub max_context_tokens: u32,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The simulated cluster could not be built or cannot deploy the graph.
    #[error("the simulated cluster cannot serve {graph}: {reason}")]
    Cluster {
        /// The graph asked for.
        graph: ServedGraph,
        /// Why.
        reason: String,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source} (is another server on that port? try --port 0)")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A running server; dropping it stops it.
pub struct ServerHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it serves, with the cluster's KV capacity and max batch.
    pub graph: ServedGraph,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Blocks until the server stops (it stops only when dropped from another thread or the
    /// process ends).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts a server whose timing comes from the cluster `make_cluster` builds (on the
/// scheduler's own thread); returns once it listens.
pub fn spawn<F>(make_cluster: F, config: ServeConfig) -> Result<ServerHandle, ServeError>
where
    F: FnOnce() -> Result<SimCluster, BackendError> + Send + 'static,
{
    if !(config.speedup.is_finite() && config.speedup > 0.0) {
        return Err(ServeError::Config(format!(
            "--speedup must be > 0, got {}",
            config.speedup
        )));
    }
    let graph = config.graph;
    let (arrivals_tx, arrivals_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let book = Arc::new(schedule::Book::default());
    let (changed_tx, changed_rx) = watch::channel(0u64);
    let scheduler_book = Arc::clone(&book);
    std::thread::Builder::new()
        .name("profcmp-serve-schedule".into())
        .spawn(move || {
            let deployed = make_cluster().and_then(|mut cluster| {
                let deployment = cluster.deploy(&graph.request())?;
                Ok((cluster, deployment))
            });
            match deployed {
                Ok((cluster, deployment)) => {
                    let _ = ready_tx.send(Ok(deployment.clone()));
                    schedule::run(cluster, deployment, arrivals_rx, scheduler_book, changed_tx);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            }
        })
        .map_err(|e| ServeError::Config(format!("cannot start the scheduler thread: {e}")))?;
    let cluster_error = |reason: String| ServeError::Cluster { graph, reason };
    let deployment = ready_rx
        .recv()
        .map_err(|_| cluster_error("the scheduler thread ended".into()))?
        .map_err(cluster_error)?;
    let graph = ServedGraph {
        kv_capacity_tokens: Some(deployment.kv_capacity_tokens),
        max_batch: Some(deployment.max_batch),
        ..graph
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Config(format!("cannot start the server's runtime: {e}")))?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(config.addr))
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.addr,
        source,
    })?;
    let state = Arc::new(http::State {
        model: config.model,
        max_context_tokens: config.max_context_tokens,
        graph,
        origin: runtime.block_on(async { tokio::time::Instant::now() }),
        speedup: config.speedup,
        book,
        changed: changed_rx,
        arrivals: arrivals_tx,
        next_id: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("profcmp-serve-http".into())
        .spawn(move || runtime.block_on(accept(listener, state, stop_rx)))
        .map_err(|e| ServeError::Config(format!("cannot start the server thread: {e}")))?;
    Ok(ServerHandle {
        addr,
        graph,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

async fn accept(listener: tokio::net::TcpListener, state: Arc<http::State>, mut stop: oneshot::Receiver<()>) {
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(_) => {
                    // Out of file descriptors, most likely: let open requests finish, do not spin.
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| http::handle(Arc::clone(&state), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
