//! Workloads: the sinusoidal trace generator (Dynamo's `sin_synth`) and the mooncake trace format.
//!
//! ```no_run
//! use profcmp_core::workload::{sinusoidal, write_mooncake, SinusoidSpec, BLOCK_SIZE};
//! let trace = sinusoidal(&SinusoidSpec::single(1800, 5.0, 45.0, 1800.0, 2048, 256, 42)).unwrap();
//! write_mooncake(std::path::Path::new("results/sinusoidal.jsonl"), &trace, BLOCK_SIZE).unwrap();
//! ```

mod mooncake;
mod sinusoid;

use std::path::PathBuf;

pub use mooncake::{parse_mooncake, read_mooncake, to_mooncake, write_mooncake, BLOCK_SIZE};
pub use sinusoid::{sinusoidal, SinusoidSpec};

/// Why a workload cannot be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A generator parameter is out of range.
    #[error("sinusoidal trace: `{field}` must be {valid}")]
    Spec {
        /// The parameter.
        field: String,
        /// What is valid.
        valid: String,
    },
    /// A trace line is malformed.
    #[error("{origin} line {line}: `{field}` {reason}")]
    Malformed {
        /// File path (or name).
        origin: String,
        /// 1-based line number.
        line: usize,
        /// The field at fault (`(line)` for the whole line).
        field: String,
        /// What is wrong and what is valid.
        reason: String,
    },
    /// The trace has no request.
    #[error("{origin}: the trace has no requests")]
    Empty {
        /// File path (or name).
        origin: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}
