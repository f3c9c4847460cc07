//! Errors of the endpoint backend, the load generator and the aiperf runner, each saying what to do.

use std::path::PathBuf;

/// Why an endpoint run could not start or finish. Failures of single requests are not errors:
/// they are records with an `error` reason, and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// A setting is invalid.
    #[error("{0}")]
    Config(String),
    /// The server does not answer.
    #[error("cannot connect to {url}: {reason}; is the server running?")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// The client's message.
        reason: String,
    },
    /// The server answered, but not as an OpenAI-compatible server would.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL asked.
        url: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The server does not serve the model asked for.
    #[error("{url} serves {served}, not `{model}`: pass the served name with --served-model")]
    ModelNotServed {
        /// The server.
        url: String,
        /// The model asked for.
        model: String,
        /// What `/v1/models` lists.
        served: String,
    },
    /// The aiperf executable cannot be run.
    #[error("cannot run `{program}`: {reason}; install it with `pip install aiperf==0.13.0` (see scripts/aiperf-check.sh), pass --aiperf PATH, or use --loadgen builtin")]
    AiperfMissing {
        /// The program tried.
        program: String,
        /// Why it did not start.
        reason: String,
    },
    /// aiperf ran and failed, or left no artifacts profcmp can read.
    #[error("aiperf failed: {reason} (artifacts and log in {})", dir.display())]
    AiperfFailed {
        /// Its artifact directory.
        dir: PathBuf,
        /// Exit status and the end of its output, or the unreadable file.
        reason: String,
    },
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
