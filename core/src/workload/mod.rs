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
        ratio_min: if spec.second_class.is_some() {
            spec.ratio_min
        } else {
            1.0
        },
        ratio_max: if spec.second_class.is_some() {
            spec.ratio_max
        } else {
            1.0
        },
        ratio_period_s: spec.ratio_period_s,
        seed,
    };
    sinusoidal(&sin)
}

/// What a trace holds: the summary the comparison reports about the load it replayed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TraceStats {
    /// Requests.
    pub requests: usize,
    /// Seconds from the first to the last arrival.
    pub span_s: f64,
    /// Requests per second over the span.
    pub mean_rate: f64,
    /// The busiest second's arrivals.
    pub peak_rate_1s: f64,
    /// Mean ISL and OSL, tokens.
    pub mean_isl: f64,
    /// See `mean_isl`.
    pub mean_osl: f64,
    /// The most common (ISL, OSL) pairs and their shares, at most 5, most common first.
    pub classes: Vec<(u32, u32, f64)>,
}

impl TraceStats {
    /// The statistics of `trace` (None if it is empty).
    pub fn of(trace: &[profcmp_plugin_api::TraceRequest]) -> Option<TraceStats> {
        let (first, last) = (trace.first()?, trace.last()?);
        let n = trace.len() as f64;
        let span_s = ((last.timestamp_ms - first.timestamp_ms) / 1e3).max(1.0);
        let mut per_second: std::collections::HashMap<i64, usize> = Default::default();
        let mut classes: std::collections::HashMap<(u32, u32), usize> = Default::default();
        for r in trace {
            *per_second.entry((r.timestamp_ms / 1e3).floor() as i64).or_default() += 1;
            *classes.entry((r.input_length, r.output_length)).or_default() += 1;
        }
        let mut classes: Vec<(u32, u32, f64)> = classes.into_iter().map(|((i, o), c)| (i, o, c as f64 / n)).collect();
        classes.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
        classes.truncate(5);
        let mean =
            |f: fn(&profcmp_plugin_api::TraceRequest) -> u32| trace.iter().map(|r| f64::from(f(r))).sum::<f64>() / n;
        Some(TraceStats {
            requests: trace.len(),
            span_s,
            mean_rate: n / span_s,
            peak_rate_1s: per_second.values().copied().max().unwrap_or(0) as f64,
            mean_isl: mean(|r| r.input_length),
            mean_osl: mean(|r| r.output_length),
            classes,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_stats_count_rates_and_classes() {
        let spec = SinusoidSpec {
            pair2: (5000, 100),
            ratio_min: 0.25,
            ratio_max: 0.25,
            ..SinusoidSpec::single(300, 20.0, 20.0, 10.0, 2048, 256, 1)
        };
        let trace = sinusoidal(&spec).unwrap();
        let stats = TraceStats::of(&trace).unwrap();
        assert_eq!(stats.requests, trace.len());
        assert!(
            (stats.mean_rate - 20.0).abs() < 1.0 && stats.peak_rate_1s > 20.0,
            "{stats:?}"
        );
        assert_eq!((stats.classes[0].0, stats.classes[1].0), (5000, 2048), "{stats:?}");
        assert!((stats.classes[1].2 - 0.25).abs() < 0.03, "{stats:?}");
        let expected_isl = 0.25 * 2048.0 + 0.75 * 5000.0;
        assert!((stats.mean_isl - expected_isl).abs() < 100.0, "{stats:?}");
        assert!(TraceStats::of(&[]).is_none());
    }
}
