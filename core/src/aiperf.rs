//! AIPerf artifacts: per-request records, the summary with AIPerf's metric definitions, and its
//! file layout (`profile_export_aiperf.json`, `.csv`, `profile_export.jsonl`).
//!
//! The reader accepts aiperf 0.13 and the older layout of the 2026-01 fixtures: unknown fields
//! and nulls are ignored, and a metric is any object with a `unit`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use profcmp_plugin_api::{Measurement, Stat};
use serde::{Deserialize, Serialize};

use crate::fsio::write_atomic;

/// File name of the summary JSON.
pub const SUMMARY_JSON: &str = "profile_export_aiperf.json";
/// File name of the summary CSV.
pub const SUMMARY_CSV: &str = "profile_export_aiperf.csv";
/// File name of the per-request records.
pub const RECORDS_JSONL: &str = "profile_export.jsonl";

/// Why an AIPerf artifact cannot be read: a file that is missing or not what AIPerf (or profcmp)
/// writes. Always bad input, never a cluster failure.
#[derive(Debug, thiserror::Error)]
pub enum AiperfError {
    /// The file cannot be read.
    #[error("{}: {message}; point at the directory AIPerf wrote (its --artifact-dir)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The summary is not JSON, or not a JSON object.
    #[error("{message}; expected AIPerf's {SUMMARY_JSON}")]
    Summary {
        /// What is wrong with it.
        message: String,
    },
    /// A file's content is not an AIPerf artifact: `{path}` or `{path} line N`, and why.
    #[error("{place}: {message}")]
    Content {
        /// The file (and line).
        place: String,
        /// What is wrong there.
        message: String,
    },
}

/// One request as the load generator saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Send time since the start of the benchmark, ms.
    pub start_ms: f64,
    /// Time to first token, ms (absent for a failed request).
    pub ttft_ms: Option<f64>,
    /// End-to-end latency, ms (absent for a failed request).
    pub latency_ms: Option<f64>,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// Generated tokens.
    pub output_tokens: u32,
    /// Why the request failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl RequestRecord {
    /// AIPerf's per-request ITL: (latency - TTFT) / (OSL - 1); absent for one-token outputs.
    pub fn itl_ms(&self) -> Option<f64> {
        let (ttft, latency) = (self.ttft_ms?, self.latency_ms?);
        (self.output_tokens > 1).then(|| (latency - ttft) / f64::from(self.output_tokens - 1))
    }

    /// AIPerf's goodput rule: good iff every threshold holds for this request.
    pub fn is_good(&self, slo: &Slo) -> bool {
        self.error.is_none()
            && self.ttft_ms.is_some_and(|t| t <= slo.ttft_ms)
            && self.itl_ms().is_none_or(|i| i <= slo.itl_ms)
    }
}

/// Goodput thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// TTFT target, ms.
    pub ttft_ms: f64,
    /// ITL target, ms.
    pub itl_ms: f64,
}

/// One metric of the summary. Scalars carry only `avg`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricStats {
    /// Unit, as AIPerf writes it.
    pub unit: String,
    /// Mean (or the value, for scalars).
    #[serde(default)]
    pub avg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p5: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p25: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p50: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p75: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p90: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub p99: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[allow(missing_docs)]
    pub std: Option<f64>,
}

impl MetricStats {
    fn scalar(unit: &str, value: f64) -> Self {
        MetricStats {
            unit: unit.to_string(),
            avg: Some(value),
            ..Default::default()
        }
    }

    /// Full distribution of `values` (numpy's linear-interpolation percentiles, population std).
    pub fn distribution(unit: &str, values: &[f64]) -> Self {
        if values.is_empty() {
            return MetricStats {
                unit: unit.to_string(),
                ..Default::default()
            };
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let avg = sorted.iter().sum::<f64>() / n;
        let std = (sorted.iter().map(|v| (v - avg).powi(2)).sum::<f64>() / n).sqrt();
        let p = |q: f64| Some(percentile(&sorted, q));
        MetricStats {
            unit: unit.to_string(),
            avg: Some(avg),
            p1: p(1.0),
            p5: p(5.0),
            p10: p(10.0),
            p25: p(25.0),
            p50: p(50.0),
            p75: p(75.0),
            p90: p(90.0),
            p95: p(95.0),
            p99: p(99.0),
            min: sorted.first().copied(),
            max: sorted.last().copied(),
            std: Some(std),
        }
    }

    fn stat(&self) -> Stat {
        let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
        Stat::new(
            v(self.avg),
            v(self.p50),
            v(self.p90),
            v(self.p99),
            v(self.min),
            v(self.max),
        )
    }
}

/// Linear-interpolation percentile of sorted values, `q` in [0, 100].
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = q / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// The summary of one benchmark: AIPerf's metrics by their JSON names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Metrics by name (`time_to_first_token`, `inter_token_latency`, `goodput`, ...).
    pub metrics: BTreeMap<String, MetricStats>,
    /// AIPerf's `input_config` (free-form).
    pub input_config: serde_json::Value,
}

/// Metric names, units and CSV labels written by profcmp, in CSV order.
const DISTRIBUTIONS: &[(&str, &str, &str)] = &[
    ("request_latency", "ms", "Request Latency (ms)"),
    ("time_to_first_token", "ms", "Time to First Token (ms)"),
    ("inter_token_latency", "ms", "Inter Token Latency (ms)"),
    ("input_sequence_length", "tokens", "Input Sequence Length (tokens)"),
    ("output_sequence_length", "tokens", "Output Sequence Length (tokens)"),
];
const SCALARS: &[(&str, &str, &str)] = &[
    ("benchmark_duration", "sec", "Benchmark Duration (sec)"),
    ("request_count", "requests", "Request Count"),
    ("error_request_count", "requests", "Error Request Count"),
    ("good_request_count", "requests", "Good Request Count"),
    ("goodput", "requests/sec", "Goodput (requests/sec)"),
    (
        "request_throughput",
        "requests/sec",
        "Request Throughput (requests/sec)",
    ),
    (
        "output_token_throughput",
        "tokens/sec",
        "Output Token Throughput (tokens/sec)",
    ),
    ("total_output_tokens", "tokens", "Total Output Tokens (tokens)"),
];

impl Summary {
    /// Computes AIPerf's metrics from per-request records over a benchmark of `duration_s`.
    pub fn from_records(records: &[RequestRecord], slo: Option<Slo>, duration_s: f64) -> Summary {
        let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.error.is_none()).collect();
        let column =
            |f: &dyn Fn(&RequestRecord) -> Option<f64>| -> Vec<f64> { ok.iter().filter_map(|r| f(r)).collect() };
        let columns = [
            column(&|r| r.latency_ms),
            column(&|r| r.ttft_ms),
            column(&|r| r.itl_ms()),
            column(&|r| Some(f64::from(r.input_tokens))),
            column(&|r| Some(f64::from(r.output_tokens))),
        ];
        let mut metrics = BTreeMap::new();
        for ((name, unit, _), values) in DISTRIBUTIONS.iter().zip(&columns) {
            metrics.insert(name.to_string(), MetricStats::distribution(unit, values));
        }
        let output_tokens: f64 = ok.iter().map(|r| f64::from(r.output_tokens)).sum();
        let per_s = |x: f64| if duration_s > 0.0 { x / duration_s } else { 0.0 };
        let mut scalar = |name: &str, value: f64| {
            let unit = SCALARS.iter().find(|s| s.0 == name).map_or("", |s| s.1);
            metrics.insert(name.to_string(), MetricStats::scalar(unit, value));
        };
        scalar("benchmark_duration", duration_s);
        scalar("request_count", ok.len() as f64);
        scalar("error_request_count", (records.len() - ok.len()) as f64);
        scalar("request_throughput", per_s(ok.len() as f64));
        scalar("output_token_throughput", per_s(output_tokens));
        scalar("total_output_tokens", output_tokens);
        if let Some(slo) = slo {
            let good = ok.iter().filter(|r| r.is_good(&slo)).count() as f64;
            scalar("good_request_count", good);
            scalar("goodput", per_s(good));
        }
        Summary {
            metrics,
            input_config: serde_json::Value::Null,
        }
    }

    /// A metric by name.
    pub fn metric(&self, name: &str) -> Option<&MetricStats> {
        self.metrics.get(name)
    }

    /// The `avg` of a metric (the value of a scalar).
    pub fn value(&self, name: &str) -> Option<f64> {
        self.metric(name)?.avg
    }

    /// The median of a distribution metric.
    pub fn p50(&self, name: &str) -> Option<f64> {
        self.metric(name)?.p50
    }

    /// The statistics a plugin sees for this benchmark.
    pub fn measurement(&self) -> Measurement {
        let stat = |name| self.metric(name).map(MetricStats::stat).unwrap_or_default();
        Measurement::new(
            self.value("request_count").unwrap_or(0.0) as u64,
            self.value("error_request_count").unwrap_or(0.0) as u64,
            stat("time_to_first_token"),
            stat("inter_token_latency"),
            stat("request_latency"),
        )
        .with_throughput(
            self.value("output_token_throughput").unwrap_or(0.0),
            self.value("request_throughput").unwrap_or(0.0),
            self.value("benchmark_duration").unwrap_or(0.0),
        )
    }

    /// Parses an AIPerf summary JSON (any version profcmp knows).
    pub fn from_json(text: &str) -> Result<Summary, AiperfError> {
        let summary = |message: String| AiperfError::Summary { message };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| summary(e.to_string()))?;
        let object = value
            .as_object()
            .ok_or_else(|| summary("the summary is not a JSON object".into()))?;
        let mut metrics = BTreeMap::new();
        for (name, entry) in object {
            if entry.get("unit").is_some() {
                if let Ok(stats) = serde_json::from_value::<MetricStats>(entry.clone()) {
                    metrics.insert(name.clone(), stats);
                }
            }
        }
        let input_config = object.get("input_config").cloned().unwrap_or_default();
        Ok(Summary { metrics, input_config })
    }

    /// Reads `profile_export_aiperf.json` from an artifact directory.
    pub fn read_dir(dir: &Path) -> Result<Summary, AiperfError> {
        let path = dir.join(SUMMARY_JSON);
        let text = std::fs::read_to_string(&path).map_err(|e| AiperfError::Read {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Summary::from_json(&text).map_err(|e| AiperfError::Content {
            place: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// The summary as AIPerf's JSON.
    pub fn to_json(&self) -> String {
        let mut object = serde_json::Map::new();
        object.insert("schema_version".into(), "profcmp-aiperf-1".into());
        for (name, stats) in &self.metrics {
            object.insert(name.clone(), serde_json::to_value(stats).expect("metric serializes"));
        }
        object.insert("input_config".into(), self.input_config.clone());
        serde_json::to_string_pretty(&object).expect("summary serializes")
    }

    /// The summary as AIPerf's CSV: a distribution table, a blank line, a scalar table.
    pub fn to_csv(&self) -> String {
        let fmt = |x: Option<f64>| x.map(|v| format!("{v:.2}")).unwrap_or_default();
        let mut out = String::from("Metric,avg,min,max,p1,p5,p10,p25,p50,p75,p90,p95,p99,std\n");
        for (name, _, label) in DISTRIBUTIONS {
            if let Some(m) = self.metric(name) {
                let cells = [
                    m.avg, m.min, m.max, m.p1, m.p5, m.p10, m.p25, m.p50, m.p75, m.p90, m.p95, m.p99, m.std,
                ];
                let cells: Vec<String> = cells.into_iter().map(fmt).collect();
                out.push_str(&format!("{label},{}\n", cells.join(",")));
            }
        }
        out.push_str("\nMetric,Value\n");
        for (name, _, label) in SCALARS {
            if let Some(value) = self.value(name) {
                out.push_str(&format!("{label},{value:.2}\n"));
            }
        }
        out
    }

    /// Writes the three artifact files into `dir`, each atomically.
    pub fn write_dir(&self, dir: &Path, records: &[RequestRecord]) -> std::io::Result<()> {
        let mut jsonl = String::new();
        for record in records {
            jsonl.push_str(&serde_json::to_string(record).expect("record serializes"));
            jsonl.push('\n');
        }
        write_atomic(&dir.join(RECORDS_JSONL), jsonl.as_bytes())?;
        write_atomic(&dir.join(SUMMARY_CSV), self.to_csv().as_bytes())?;
        write_atomic(&dir.join(SUMMARY_JSON), self.to_json().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(start: f64, ttft: f64, latency: f64, osl: u32) -> RequestRecord {
        RequestRecord {
            start_ms: start,
            ttft_ms: Some(ttft),
            latency_ms: Some(latency),
            input_tokens: 100,
            output_tokens: osl,
            error: None,
        }
    }

    #[test]
    fn goodput_counts_requests_meeting_every_threshold() {
        let slo = Slo {
            ttft_ms: 500.0,
            itl_ms: 50.0,
        };
        let records = vec![
            record(0.0, 400.0, 400.0 + 10.0 * 40.0, 11), // good: itl 40
            record(0.0, 600.0, 600.0 + 10.0 * 40.0, 11), // ttft too high
            record(0.0, 400.0, 400.0 + 10.0 * 60.0, 11), // itl too high
            RequestRecord {
                error: Some("timeout".into()),
                ..record(0.0, 1.0, 2.0, 11)
            },
        ];
        let summary = Summary::from_records(&records, Some(slo), 2.0);
        assert_eq!(summary.value("good_request_count"), Some(1.0));
        assert_eq!(summary.value("goodput"), Some(0.5));
        assert_eq!(summary.value("request_count"), Some(3.0));
        assert_eq!(summary.value("error_request_count"), Some(1.0));
        assert_eq!(summary.p50("inter_token_latency"), Some(40.0));
    }

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let sorted = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&sorted, 50.0), 2.5);
        assert!((percentile(&sorted, 90.0) - 3.7).abs() < 1e-12);
    }

    #[test]
    fn summary_round_trips_through_json() {
        let records: Vec<_> = (0..10).map(|i| record(i as f64, 100.0 + i as f64, 500.0, 5)).collect();
        let summary = Summary::from_records(
            &records,
            Some(Slo {
                ttft_ms: 105.0,
                itl_ms: 200.0,
            }),
            1.0,
        );
        let back = Summary::from_json(&summary.to_json()).unwrap();
        assert_eq!(back.metrics, summary.metrics);
    }

    #[test]
    fn reads_real_aiperf_outputs_of_both_versions() {
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
        let new = Summary::read_dir(&Path::new(fixtures).join("aiperf-0.13/synthetic-chat")).unwrap();
        assert_eq!(new.value("request_count"), Some(20.0));
        assert!(new.p50("time_to_first_token").unwrap() > 0.0);
        let old = Summary::read_dir(&Path::new(fixtures).join("dynamo-2026-01/online_all/validation/idle")).unwrap();
        assert!((old.p50("time_to_first_token").unwrap() - 1553.6).abs() < 0.1);
        assert_eq!(old.measurement().request_count, 100);
    }

    #[test]
    fn rejects_non_objects_with_a_message() {
        assert!(Summary::from_json("[1,2]")
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        // A missing artifact is a read error naming the file; a file with the wrong content is a
        // content error at that file.
        let dir = std::env::temp_dir().join(format!("profcmp-aiperf-error-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(
            matches!(Summary::read_dir(&dir), Err(AiperfError::Read { path, .. }) if path == dir.join(SUMMARY_JSON))
        );
        std::fs::write(dir.join(SUMMARY_JSON), "[1,2]").unwrap();
        let err = Summary::read_dir(&dir).unwrap_err();
        assert!(
            matches!(&err, AiperfError::Content { place, .. } if place.ends_with(SUMMARY_JSON)),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
        assert!(Summary::from_json("{").is_err());
    }
}
