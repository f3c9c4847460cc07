//! Open-loop replays of one live graph that repeat the same jitter on every call, for `profcmp serve`.
//!
//! A live server learns its requests one at a time. It replays the whole history of arrivals
//! each time a request arrives: the replay is causal (a request arriving at `t` changes nothing
//! before `t`) and every call draws the same jitter streams, so the longer history repeats the
//! shorter one's past and only the future moves.

use profcmp_plugin_api::{Deployment, TraceRequest};

use crate::aiperf::RequestRecord;
use crate::backend::BackendError;

use super::replay::{self, Load};
use super::{check_trace, SimCluster};

/// Run index of the jitter streams every history replay uses (apart from measured runs).
const HISTORY_RUN: u64 = u64::MAX - 1;

impl SimCluster {
    /// Replays `requests` on their timestamps against the live `deployment` without advancing
    /// the clock. Records come in request order with `start_ms` = arrival; TTFT and latency
    /// include the frontend overhead, as [`crate::backend::Backend::measure`] reports them.
    pub fn replay_history(
        &mut self,
        deployment: &Deployment,
        requests: &[TraceRequest],
    ) -> Result<Vec<RequestRecord>, BackendError> {
        let request = self.live_request(deployment)?;
        check_trace(requests)?;
        let n_runs = self.n_runs;
        self.n_runs = HISTORY_RUN;
        let shape = self.shape(&request);
        self.n_runs = n_runs;
        let load = Load {
            requests,
            max_in_flight: None,
            records: true,
        };
        let replayed = replay::run(self.engine_backend, &shape?, &load, None).map_err(BackendError::Measure)?;
        let mut records = replayed.records;
        for record in &mut records {
            let overhead = self.reality.frontend_ms(record.input_tokens);
            record.ttft_ms = record.ttft_ms.map(|t| t + overhead);
            record.latency_ms = record.latency_ms.map(|t| t + overhead);
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use profcmp_plugin_api::{DeployRequest, ServingBackend};

    use super::super::timing::tests::LinearStepTimes;
    use super::super::{Reality, StepTimes, StepTimesSource};
    use super::*;
    use crate::backend::Backend;

    struct Linear;

    impl StepTimesSource for Linear {
        fn step_times(&self, _tp: u32) -> Result<Arc<dyn StepTimes>, String> {
            Ok(Arc::new(LinearStepTimes {
                kv_capacity_tokens: 200_000,
                max_batch: 64,
            }))
        }
    }

    #[test]
    fn a_later_arrival_leaves_the_past_unchanged() {
        // Jitter on (nominal): the replays must still agree on everything before the arrival.
        let reality = Reality::named("nominal").unwrap();
        let mut cluster = SimCluster::new(Box::new(Linear), 262_144, ServingBackend::Trtllm, reality, 3);
        let graph = DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: 1,
            decode_workers: 1,
            decode_tp: 1,
        };
        let deployment = cluster.deploy(&graph).unwrap();
        let request = |t: f64| TraceRequest::new(t, 1024, 64);
        let alone = cluster.replay_history(&deployment, &[request(0.0)]).unwrap();
        let first = alone[0].ttft_ms.unwrap();
        // A second request arriving after the first token: the first token's time is kept.
        let both = cluster
            .replay_history(&deployment, &[request(0.0), request(first + 50.0)])
            .unwrap();
        assert_eq!(both[0].ttft_ms, alone[0].ttft_ms);
        assert!(both[0].latency_ms.unwrap() >= alone[0].latency_ms.unwrap() - 1e-9);
        assert!((both[1].start_ms - (first + 50.0)).abs() < 1e-6, "{both:?}");
        // Replaying the same history twice gives the same records (same jitter streams).
        assert_eq!(cluster.replay_history(&deployment, &[request(0.0)]).unwrap(), alone);
        assert_eq!(cluster.now_s(), Reality::named("nominal").unwrap().deployment_startup_s);
    }
}
