//! The mooncake trace format (JSONL, one request a line), as aiperf's `mooncake_trace` dataset
//! and Dynamo's tools read it: `{"timestamp": ms, "input_length": n, "output_length": m,
//! "hash_ids": [...]}`, where hash_ids are the prompt's block ids (prefix sharing).

use std::path::Path;

use profcmp_plugin_api::TraceRequest;

use super::WorkloadError;
use crate::fsio::write_atomic;

/// Prompt tokens per hash id (Dynamo's and aiperf's default block size).
pub const BLOCK_SIZE: u32 = 512;

/// The trace as mooncake JSONL; each request gets fresh block ids (no prefix sharing).
pub fn to_mooncake(requests: &[TraceRequest], block_size: u32) -> String {
    let mut out = String::new();
    let mut next_id: u64 = 0;
    for request in requests {
        let blocks = u64::from(request.input_length.div_ceil(block_size.max(1)));
        let hash_ids: Vec<u64> = (next_id..next_id + blocks).collect();
        next_id += blocks;
        let line = serde_json::json!({
            "timestamp": request.timestamp_ms,
            "input_length": request.input_length,
            "output_length": request.output_length,
            "hash_ids": hash_ids,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Writes the trace as mooncake JSONL (atomically).
pub fn write_mooncake(path: &Path, requests: &[TraceRequest], block_size: u32) -> Result<(), WorkloadError> {
    write_atomic(path, to_mooncake(requests, block_size).as_bytes()).map_err(|source| WorkloadError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a mooncake JSONL file; errors name the path and line.
pub fn read_mooncake(path: &Path) -> Result<Vec<TraceRequest>, WorkloadError> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_mooncake(&text, &path.display().to_string())
}

/// Parses mooncake JSONL text; blank lines are skipped, unknown fields ignored.
pub fn parse_mooncake(text: &str, origin: &str) -> Result<Vec<TraceRequest>, WorkloadError> {
    let mut requests = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |field: &str, reason: String| WorkloadError::Malformed {
            origin: origin.to_string(),
            line: index + 1,
            field: field.to_string(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad("(line)", format!("not JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| bad("(line)", "not a JSON object".into()))?;
        let timestamp = match object.get("timestamp") {
            Some(v) => v
                .as_f64()
                .filter(|t| *t >= 0.0 && t.is_finite())
                .ok_or_else(|| bad("timestamp", format!("{v} is not a number of ms >= 0")))?,
            None => return Err(bad("timestamp", "missing (a number of ms >= 0)".into())),
        };
        let length = |field: &str| -> Result<u32, WorkloadError> {
            let v = object
                .get(field)
                .ok_or_else(|| bad(field, "missing (an integer >= 1)".into()))?;
            v.as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| bad(field, format!("{v} is not an integer >= 1")))
        };
        let input_length = length("input_length")?;
        let output_length = length("output_length")?;
        if let Some(ids) = object.get("hash_ids") {
            let ok = ids.as_array().is_some_and(|a| a.iter().all(|id| id.as_u64().is_some()));
            if !ok {
                return Err(bad("hash_ids", "not an array of non-negative integers".into()));
            }
        }
        requests.push(TraceRequest::new(timestamp, input_length, output_length));
    }
    if requests.is_empty() {
        return Err(WorkloadError::Empty {
            origin: origin.to_string(),
        });
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(t: f64, isl: u32, osl: u32) -> TraceRequest {
        TraceRequest::new(t, isl, osl)
    }

    #[test]
    fn round_trips_and_numbers_blocks() {
        let requests = vec![request(0.0, 1000, 10), request(12.0, 512, 5)];
        let text = to_mooncake(&requests, BLOCK_SIZE);
        assert!(text.lines().next().unwrap().contains("\"hash_ids\":[0,1]"), "{text}");
        assert!(text.lines().nth(1).unwrap().contains("\"hash_ids\":[2]"), "{text}");
        assert_eq!(parse_mooncake(&text, "t").unwrap(), requests);
    }

    #[test]
    fn reads_aiperf_s_own_fixture() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/aiperf-0.13/mooncake-trace/input-mooncake-small.jsonl"
        );
        let requests = read_mooncake(Path::new(path)).unwrap();
        assert!(!requests.is_empty());
    }

    #[test]
    fn malformed_entries_name_line_and_field() {
        let check = |text: &str, expected: &str| {
            let error = parse_mooncake(text, "trace.jsonl").unwrap_err().to_string();
            assert!(error.contains(expected), "expected `{expected}` in `{error}`");
        };
        let good = r#"{"timestamp": 0, "input_length": 10, "output_length": 2}"#;
        check(
            &format!("{good}\n\n{{\"timestamp\": 5}}"),
            "trace.jsonl line 3: `input_length` missing",
        );
        check(
            &format!("{good}\n{{\"timestamp\": -1, \"input_length\": 1, \"output_length\": 1}}"),
            "line 2: `timestamp`",
        );
        check(
            r#"{"timestamp": 1, "input_length": 0, "output_length": 1}"#,
            "line 1: `input_length` 0 is not",
        );
        check(
            r#"{"timestamp": 1, "input_length": 2, "output_length": "x"}"#,
            "`output_length`",
        );
        check(
            r#"{"timestamp": 1, "input_length": 2, "output_length": 1, "hash_ids": [1, -2]}"#,
            "`hash_ids`",
        );
        check("[1]", "line 1: `(line)` not a JSON object");
        check("{oops", "not JSON");
        check("\n\n", "no requests");
    }
}
