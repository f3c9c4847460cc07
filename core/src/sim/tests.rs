//! Tests of the simulated cluster: behaviour on stand-in timings, determinism, calibration.

use super::timing::tests::LinearStepTimes;
use super::*;

struct Fake;

impl StepTimesSource for Fake {
    fn step_times(&self, tp: u32) -> Result<Arc<dyn StepTimes>, String> {
        if tp > 8 || !tp.is_power_of_two() {
            return Err(format!("tp {tp} must divide the 8 kv heads"));
        }
        Ok(Arc::new(LinearStepTimes {
            kv_capacity_tokens: 200_000 * u64::from(tp),
            max_batch: 256,
        }))
    }
}

fn fake_cluster() -> SimCluster {
    SimCluster::new(
        Box::new(Fake),
        262_144,
        ServingBackend::Trtllm,
        Reality::named("nominal").unwrap(),
        1,
    )
}

#[test]
fn explore() {
    let mut sim = fake_cluster();
    let d = sim
        .deploy(&DeployRequest::Graph {
            prefill_workers: 1,
            prefill_tp: 1,
            decode_workers: 1,
            decode_tp: 1,
        })
        .unwrap();
    let probe = Probe::Concurrency {
        concurrency: 4,
        requests: 20,
        isl: 2048,
        osl: 256,
        warmup: 0,
    };
    let run = sim.measure(&d, &probe, None).unwrap();
    for r in run.records.iter().take(8) {
        println!("{r:?} itl {:?}", r.itl_ms());
    }
    println!("{}", run.summary.to_json());
}
