//! The graph an endpoint serves (prefill and decode workers and their TPs), as `profcmp serve`
//! advertises it at `GET /profcmp/deployment`.

use std::fmt;

use profcmp_plugin_api::DeployRequest;
use serde::{Deserialize, Serialize};

use super::EndpointError;

/// Path where `profcmp serve` describes its graph.
pub const DEPLOYMENT_PATH: &str = "/profcmp/deployment";

/// A fixed disaggregated graph behind an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServedGraph {
    /// Prefill workers.
    pub prefill_workers: u32,
    /// Prefill TP.
    pub prefill_tp: u32,
    /// Decode workers.
    pub decode_workers: u32,
    /// Decode TP.
    pub decode_tp: u32,
    /// KV-cache tokens of one decode worker, when known.
    #[serde(default)]
    pub kv_capacity_tokens: Option<u64>,
    /// Most sequences one decode worker batches, when known.
    #[serde(default)]
    pub max_batch: Option<u32>,
}

impl ServedGraph {
    /// A graph of `prefill` and `decode` pools, each `(workers, tp)`.
    pub fn new(prefill: (u32, u32), decode: (u32, u32)) -> ServedGraph {
        ServedGraph {
            prefill_workers: prefill.0,
            prefill_tp: prefill.1,
            decode_workers: decode.0,
            decode_tp: decode.1,
            kv_capacity_tokens: None,
            max_batch: None,
        }
    }

    /// Parses `P:TP,D:TP` (prefill workers:TP, decode workers:TP).
    pub fn parse(text: &str) -> Result<ServedGraph, EndpointError> {
        let bad = || EndpointError::Config(format!("bad graph `{text}`: write P:TP,D:TP, e.g. 1:1,1:2"));
        let (prefill, decode) = text.split_once(',').ok_or_else(bad)?;
        Ok(ServedGraph::new(
            parse_pool(prefill).map_err(|_| bad())?,
            parse_pool(decode).map_err(|_| bad())?,
        ))
    }

    /// The deploy request this graph answers.
    pub fn request(&self) -> DeployRequest {
        DeployRequest::Graph {
            prefill_workers: self.prefill_workers,
            prefill_tp: self.prefill_tp,
            decode_workers: self.decode_workers,
            decode_tp: self.decode_tp,
        }
    }
}

impl fmt::Display for ServedGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} prefill (tp {}) + {} decode (tp {}) workers",
            self.prefill_workers, self.prefill_tp, self.decode_workers, self.decode_tp
        )
    }
}

/// Parses one pool, `WORKERS:TP` (both >= 1).
pub fn parse_pool(text: &str) -> Result<(u32, u32), EndpointError> {
    let bad = || EndpointError::Config(format!("bad worker pool `{text}`: write WORKERS:TP, e.g. 1:2"));
    let (workers, tp) = text.trim().split_once(':').ok_or_else(bad)?;
    let workers: u32 = workers.trim().parse().map_err(|_| bad())?;
    let tp: u32 = tp.trim().parse().map_err(|_| bad())?;
    if workers == 0 || tp == 0 {
        return Err(bad());
    }
    Ok((workers, tp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pools_and_graphs() {
        assert_eq!(parse_pool("2:4").unwrap(), (2, 4));
        let graph = ServedGraph::parse("1:1, 1:2").unwrap();
        assert_eq!(graph.to_string(), "1 prefill (tp 1) + 1 decode (tp 2) workers");
        for bad in ["1:1", "0:1,1:1", "1:x,1:1", "1,1"] {
            assert!(
                ServedGraph::parse(bad).unwrap_err().to_string().contains("P:TP,D:TP"),
                "{bad}"
            );
        }
    }
}
