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

/// The optimize stage's trace for `spec` and `seed`: the `--trace` file if one was given (its
/// sha256 must still match), else the sinusoidal trace it describes (class 1 = the SLA's
/// ISL/OSL).
pub fn trace_for(
    spec: &crate::spec::TraceSpec,
    sla: &profcmp_plugin_api::Sla,
    seed: u64,
) -> Result<Vec<profcmp_plugin_api::TraceRequest>, WorkloadError> {
    if let Some(file) = &spec.file {
        let bytes = std::fs::read(&file.path).map_err(|source| WorkloadError::Io {
            path: file.path.clone(),
            source,
        })?;
        let digest = crate::fsio::sha256_hex(&bytes);
        if digest != file.sha256 {
            return Err(WorkloadError::Changed {
                path: file.path.clone(),
            });
        }
        let text = String::from_utf8_lossy(&bytes);
        return parse_mooncake(&text, &file.path.display().to_string());
    }
    let class1 = (sla.isl, sla.osl);
    let sin = SinusoidSpec {
        duration_s: spec.duration_s.round().max(1.0) as u32,
        rate_min: spec.min_rate,
        rate_max: spec.max_rate,
        rate_period_s: spec.period_s,
        pair1: class1,
        pair2: spec.second_class.unwrap_or(class1),
        ratio_min: if spec.second_class.is_some() { spec.ratio_min } else { 1.0 },
        ratio_max: if spec.second_class.is_some() { spec.ratio_max } else { 1.0 },
        ratio_period_s: spec.ratio_period_s,
        seed,
    };
    sinusoidal(&sin)
}

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
    /// A trace file changed since the run started.
    #[error("{}: the trace file changed since this run recorded its sha256; rerun with --trace to use the new contents", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
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
