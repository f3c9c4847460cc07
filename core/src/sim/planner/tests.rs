//! The planner against Dynamo's own test vectors (docs/planner.md) and hand-computed cases.

use super::*;
use crate::backend::LoadPredictor;
use profcmp_plugin_api::{DecodeProfile, PlannerProfile, PrefillProfile, Sla};

/// A profile with flat prefill and decode throughput per GPU (ITL 20 ms everywhere).
fn flat_profile(prefill_thpt: f64, decode_thpt: f64) -> PlannerProfile {
    PlannerProfile::new(
        PrefillProfile::new(vec![100.0, 8000.0], vec![10.0, 800.0], vec![prefill_thpt, prefill_thpt]),
        DecodeProfile::new(
            vec![0.1, 0.9],
            vec![3000.0, 3000.0],
            vec![20.0, 20.0],
            vec![decode_thpt, decode_thpt],
            100_000,
        ),
    )
}

fn spec(
    version: DynamoVersion,
    profile: PlannerProfile,
    (pg, dg): (u32, u32),
    budget: u32,
    interval: f64,
) -> PlannerSpec {
    PlannerSpec {
        version,
        profile,
        prefill_tp: pg,
        decode_tp: dg,
        sla: Sla::new(2048, 256, 500.0, 50.0),
        gpu_budget: budget,
        adjustment_interval_s: interval,
        predictor: LoadPredictor::Constant,
        window_size: 50,
        min_endpoint: 1,
        headroom: 1.0,
    }
}

fn planner(spec: &PlannerSpec) -> SlaPlanner {
    SlaPlanner::new(spec, ReplicaLog::default()).unwrap()
}

fn fixture(method: &str) -> PlannerProfile {
    let path = format!(
        "{}/../tests/fixtures/dynamo-2026-01/{method}/config_with_planner.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    crate::dynamo::read_profile_data(&std::fs::read_to_string(path).unwrap())
        .unwrap()
        .profile
}

#[test]
fn dynamo_replica_calculation_vectors() {
    // tests/planner/test_replica_calculation.py: interval 60, ISL 3000, OSL 150, 1-GPU engines,
    // budget 10, prefill 40000 tok/s/GPU.
    for (num_req, decode_thpt, expected) in [(10.0, 10000.0, (1, 1)), (500.0, 1000.0, (1, 2))] {
        let p = planner(&spec(
            DynamoVersion::V0_7,
            flat_profile(40000.0, decode_thpt),
            (1, 1),
            10,
            60.0,
        ));
        assert_eq!(p.settled_replicas(num_req / 60.0, 3000.0, 150.0), expected, "{num_req}");
    }
}

#[test]
fn budget_0_7_rounds_half_to_even_and_can_exceed_the_budget() {
    assert_eq!(budget_0_7((7, 2), 1, 2, 8, 1), (5, 2));
    assert_eq!(budget_0_7((1, 5), 1, 2, 8, 1), (1, 4));
    assert_eq!(budget_0_7((20, 1), 1, 1, 8, 1), (8, 1));
    assert_eq!(budget_0_7((3, 2), 1, 2, 8, 1), (3, 2));
    assert_eq!(
        (round_half_even(2.5), round_half_even(3.5), round_half_even(1.4)),
        (2.0, 4.0, 1.0)
    );
}

#[test]
fn budget_1_6_clamp_pair_vectors() {
    // tests/unit/test_budget.py.
    assert_eq!(budget_1_6((10, 10), 1, 1, 5, (2, 1)), (2, 3));
    assert_eq!(budget_1_6((1, 2), 2, 2, 3, (1, 1)), (0, 0));
    assert_eq!(budget_1_6((3, 4), 1, 1, 8, (1, 1)), (3, 4));
}

#[test]
fn throughput_scaling_1_6_caps_changes_per_tick() {
    // test_throughput_scaling.py: cap 8, max 64, 1-GPU engines.
    let fit = |current: (u32, u32), raw: (u32, u32)| {
        let capped = (cap_change(current.0, raw.0), cap_change(current.1, raw.1));
        fit_budget_1_6(capped, current, 1, 1, 64, (1, 1))
    };
    assert_eq!(fit((24, 36), (40, 36)), (28, 36));
    assert_eq!(fit((20, 20), (1, 20)), (12, 20));
    // engine 1 req/s, demand 2.1 req/s -> 3.
    assert_eq!(ceil_count(2.1 / 1.0), 3);
}

#[test]
fn fitting_the_1_6_budget_never_reverses_a_role() {
    // At the ceiling, two scale-ups are held.
    assert_eq!(fit_budget_1_6((4, 7), (3, 5), 1, 1, 8, (1, 1)), (3, 5));
    // An opposing rebalance moves both roles: the shrinking one first, the other into the rest.
    assert_eq!(fit_budget_1_6((2, 7), (3, 5), 1, 1, 8, (1, 1)), (2, 6));
}

#[test]
fn real_profiles_give_the_replica_tables_of_dynamo_0_7() {
    // docs/planner.md: the 2026-01 profiles through 0.7's code (180 s, budget 8, ISL 2048, OSL
    // 256, no correction).
    let online = planner(&spec(DynamoVersion::V0_7, fixture("online_all"), (1, 1), 8, 180.0));
    for (rate, expected) in [
        (1.0, (1, 1)),
        (5.0, (2, 3)),
        (10.0, (3, 5)),
        (15.0, (3, 5)),
        (45.0, (3, 5)),
    ] {
        assert_eq!(
            online.settled_replicas(rate, 2048.0, 256.0),
            expected,
            "online_all at {rate} req/s"
        );
    }
    // aic_all at 10 req/s. (At 45 req/s Dynamo gives (6,1) from raw (10,2); profcmp's linear
    // decode reading finds 5857 tok/s/GPU at ITL 50 where scipy's cubic griddata finds less, so
    // raw decode is 1 and the result (7,1): docs/planner.md, departures.)
    let aic = planner(&spec(DynamoVersion::V0_7, fixture("aic_all"), (1, 2), 8, 180.0));
    assert_eq!(aic.settled_replicas(10.0, 2048.0, 256.0), (3, 1));
}

#[test]
fn cubic_prefill_reading_matches_scipy_on_the_real_profile() {
    // scipy interp1d(kind="cubic") on online_all's prefill data gives 8529.05 tok/s/GPU at 2048.
    let curve = super::super::profile::PrefillCurve::new(&fixture("online_all").prefill).unwrap();
    assert!(
        (curve.thpt_per_gpu(2048.0) - 8529.05).abs() < 0.05,
        "{}",
        curve.thpt_per_gpu(2048.0)
    );
}

fn window(num_req: f64, ttft_ms: f64) -> Window {
    Window {
        num_req,
        isl: 2048.0,
        osl: 256.0,
        ttft_ms,
        itl_ms: 20.0,
    }
}

#[test]
fn dynamo_0_7_prefill_correction_only_ever_removes_replicas() {
    // 40 req/s x 2048 tokens / 10000 tok/s/GPU = 8.2 -> 9 prefill workers at the profile's TTFT.
    let s = spec(DynamoVersion::V0_7, flat_profile(10000.0, 100000.0), (1, 1), 100, 60.0);
    let profiled_ttft = 10.0 + (2048.0 - 100.0) * 790.0 / 7900.0;
    let decide = |ttft: f64| planner(&s).decide(window(40.0 * 60.0, ttft), (1, 1), false, 1).unwrap();
    assert_eq!(decide(profiled_ttft).0, 9);
    // Slower than profiled: min(1, 2) = 1, no extra replica.
    assert_eq!(decide(2.0 * profiled_ttft).0, 9);
    // Faster than profiled: the demand is scaled by 0.5.
    assert_eq!(decide(0.5 * profiled_ttft).0, 5);
}

#[test]
fn dynamo_0_7_drops_decisions_while_scaling_and_holds_on_idle_windows() {
    let s = spec(DynamoVersion::V0_7, flat_profile(10000.0, 100000.0), (1, 1), 100, 60.0);
    let mut p = planner(&s);
    assert_eq!(p.decide(window(600.0, 200.0), (1, 1), true, 1), None);
    assert!(p.decide(window(600.0, 200.0), (1, 1), false, 1).is_some());
    let idle = Window {
        num_req: 0.0,
        isl: f64::NAN,
        osl: f64::NAN,
        ttft_ms: f64::NAN,
        itl_ms: f64::NAN,
    };
    assert_eq!(p.decide(idle, (3, 1), false, 1), None);
    // 1.6 uses the idle window: the demand is 0 and it scales down to the minimum.
    let mut n = planner(&spec(
        DynamoVersion::V1_6,
        flat_profile(10000.0, 100000.0),
        (1, 1),
        100,
        60.0,
    ));
    assert!(n.decide(window(600.0, 200.0), (1, 1), false, 1).is_some());
    assert_eq!(n.decide(idle, (3, 1), false, 1), Some((1, 1)));
}

#[test]
fn a_profile_that_overstates_throughput_gets_fewer_replicas() {
    for version in [DynamoVersion::V0_7, DynamoVersion::V1_6] {
        let truth = planner(&spec(version, flat_profile(8000.0, 600.0), (1, 1), 64, 180.0));
        let boastful = planner(&spec(version, flat_profile(16000.0, 1200.0), (1, 1), 64, 180.0));
        let (tp, td) = truth.settled_replicas(20.0, 2048.0, 256.0);
        let (bp, bd) = boastful.settled_replicas(20.0, 2048.0, 256.0);
        assert_eq!((tp, td), (6, 9), "{version:?}");
        assert_eq!((bp, bd), (3, 5), "{version:?}");
    }
}

#[test]
fn rejects_a_budget_below_the_minimums_and_kalman_on_0_7() {
    let error = SlaPlanner::new(
        &spec(DynamoVersion::V1_6, flat_profile(1.0, 1.0), (2, 2), 3, 60.0),
        ReplicaLog::default(),
    )
    .err()
    .unwrap();
    assert!(error.contains("below the minimum"), "{error}");
    let mut kalman = spec(DynamoVersion::V0_7, flat_profile(1.0, 1.0), (1, 1), 8, 60.0);
    kalman.predictor = LoadPredictor::Kalman;
    assert!(SlaPlanner::new(&kalman, ReplicaLog::default()).is_err());
}

#[test]
fn headroom_scales_the_demand_it_sizes_for() {
    let mut s = spec(DynamoVersion::V1_6, flat_profile(8000.0, 600.0), (1, 1), 64, 180.0);
    assert_eq!(planner(&s).settled_replicas(20.0, 2048.0, 256.0), (6, 9));
    s.headroom = 2.0;
    // 40 req/s worth: 10.24 -> 11 prefill, 17.07 -> 18 decode.
    assert_eq!(planner(&s).settled_replicas(20.0, 2048.0, 256.0), (11, 18));
}
