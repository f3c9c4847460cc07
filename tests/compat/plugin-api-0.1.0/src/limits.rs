//! What the host accepts from a method. A call beyond a limit fails that call (and, for the
//! process-level limits, the method) with a message naming the limit; it never takes the host down.
//!
//! The numbers are the host's choice (profcmp's, not Dynamo's): an order of magnitude above what
//! the shipped methods and Dynamo's profiler use (its sweeps measure at most a few hundred
//! requests per point and a few deployments at a time), so only a runaway method meets them.

/// Requests of one closed-loop probe, `requests + warmup`.
pub const MAX_PROBE_REQUESTS: u64 = 100_000;
/// Requests in flight of one closed-loop probe. Dynamo's decode sweep goes up to
/// `max_kv_tokens // (isl + osl)`, about 23 000 at ISL 100 on a TP8 H200 worker of Qwen3-32B.
pub const MAX_PROBE_CONCURRENCY: u32 = 65_536;
/// Requests of one trace probe (Dynamo's 30 min sinusoid at 45 req/s is ~45 000).
pub const MAX_TRACE_REQUESTS: usize = 200_000;
/// Input tokens of one request.
pub const MAX_INPUT_TOKENS: u32 = 1 << 20;
/// Output tokens of one request.
pub const MAX_OUTPUT_TOKENS: u32 = 1 << 17;
/// Deployments one method may hold at once.
pub const MAX_LIVE_DEPLOYMENTS: usize = 16;
/// Workers of one deployed graph, per role.
pub const MAX_WORKERS: u32 = 64;
/// Tensor-parallel size of one worker.
pub const MAX_TP: u32 = 64;
/// Bytes of one message between the method's process and the host (a host call's payload, the
/// result). Bigger messages end the method.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Bytes of log one method may write into its `profile_sla.log` (its log calls plus whatever its
/// process prints on stdout and stderr); the rest is dropped, with one line saying so.
pub const MAX_LOG_BYTES: usize = 4 << 20;
/// Bytes of one log line; longer lines are cut.
pub const MAX_LOG_LINE_BYTES: usize = 8 << 10;
