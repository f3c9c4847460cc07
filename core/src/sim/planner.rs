//! The SLA planner in the loop: aisimulate's scaling policy, deciding replicas as Dynamo's
//! SLA planner does, from the method's own profile data.
//!
//! Every `adjustment_interval_s` the planner observes the last interval's request count and mean
//! ISL/OSL (of the requests completed in it), predicts the next interval (constant or moving
//! average), and sets
//! - prefill replicas = ceil(predicted prefill tokens/s / (profile prefill thpt/GPU at the ISL
//!   x prefill GPUs));
//! - decode replicas = ceil(predicted output tokens/s / (profile best decode thpt/GPU whose ITL
//!   meets the target at context ISL + OSL/2 x decode GPUs));
//!
//! each at least its minimum, then scaled down together into the GPU budget as Dynamo does.
//! Dynamo's correction factors (observed/predicted latency) are not applied: the planner believes
//! the profile, so a wrong profile costs goodput.

use std::cell::RefCell;
use std::rc::Rc;

use aisimulate_core::replay::{ReplayScalingDecision, ReplayScalingPolicy, ReplayScalingSnapshot};

use crate::backend::{LoadPredictor, PlannerSpec};

use super::profile::{DecodeSurface, PrefillCurve};

/// Intervals a moving average spans (Dynamo's `--load-prediction-window-size` default).
pub const MOVING_AVERAGE_WINDOW: usize = 50;

/// Replica decisions over time: (time s, prefill workers, decode workers).
pub type ReplicaLog = Rc<RefCell<Vec<(f64, u32, u32)>>>;

/// One interval's observed load.
#[derive(Clone, Copy, Debug)]
struct Observation {
    rate: f64,
    isl: f64,
    osl: f64,
}

/// The SLA planner as an aisimulate scaling policy.
pub struct SlaPlanner {
    spec: PlannerSpec,
    prefill: PrefillCurve,
    decode: DecodeSurface,
    history: Vec<Observation>,
    last_isl: f64,
    last_osl: f64,
    log: ReplicaLog,
}

impl SlaPlanner {
    /// Checks the spec and its profile data; decisions are appended to `log`.
    pub fn new(spec: &PlannerSpec, log: ReplicaLog) -> Result<SlaPlanner, String> {
        if !(spec.adjustment_interval_s > 0.0 && spec.adjustment_interval_s.is_finite()) {
            return Err(format!(
                "planner adjustment_interval_s is {}; it must be > 0",
                spec.adjustment_interval_s
            ));
        }
        if spec.prefill_tp == 0 || spec.decode_tp == 0 {
            return Err("planner prefill_tp and decode_tp must be >= 1".into());
        }
        let floor = spec.min_prefill.max(1) * spec.prefill_tp + spec.min_decode.max(1) * spec.decode_tp;
        if floor > spec.gpu_budget {
            return Err(format!(
                "planner gpu_budget {} is below the minimum replicas' {floor} GPUs (min_prefill {} x tp {} + min_decode {} x tp {})",
                spec.gpu_budget, spec.min_prefill, spec.prefill_tp, spec.min_decode, spec.decode_tp
            ));
        }
        Ok(SlaPlanner {
            prefill: PrefillCurve::new(&spec.profile.prefill)?,
            decode: DecodeSurface::new(&spec.profile.decode)?,
            spec: spec.clone(),
            history: Vec::new(),
            last_isl: f64::from(spec.sla.isl),
            last_osl: f64::from(spec.sla.osl),
            log,
        })
    }

    /// Replicas for a predicted load, within minimums and the budget.
    pub fn replicas(&self, rate: f64, isl: f64, osl: f64) -> (u32, u32) {
        let spec = &self.spec;
        let (min_p, min_d) = (spec.min_prefill.max(1), spec.min_decode.max(1));
        let prefill_tokens_s = rate * isl;
        let p_thpt = self.prefill.thpt_per_gpu(isl) * f64::from(spec.prefill_tp);
        let d_thpt = self.decode.best_thpt_per_gpu(spec.sla.itl_ms, isl + osl / 2.0) * f64::from(spec.decode_tp);
        let mut n_p = ((prefill_tokens_s / p_thpt).ceil() as u32).max(min_p);
        let mut n_d = ((rate * osl / d_thpt).ceil() as u32).max(min_d);
        let gpus = n_p * spec.prefill_tp + n_d * spec.decode_tp;
        if gpus > spec.gpu_budget {
            let scale = f64::from(spec.gpu_budget) / f64::from(gpus);
            n_p = ((f64::from(n_p) * scale).round() as u32).max(min_p);
            let left = spec.gpu_budget.saturating_sub(n_p * spec.prefill_tp);
            n_d = (left / spec.decode_tp).max(min_d);
        }
        (n_p, n_d)
    }

    fn predict(&self) -> Observation {
        let observed: Vec<&Observation> = self.history.iter().skip_while(|o| o.rate == 0.0).collect();
        let Some(last) = observed.last() else {
            return Observation {
                rate: 0.0,
                isl: self.last_isl,
                osl: self.last_osl,
            };
        };
        match self.spec.predictor {
            LoadPredictor::Constant => **last,
            LoadPredictor::MovingAverage => {
                let window = &observed[observed.len().saturating_sub(MOVING_AVERAGE_WINDOW)..];
                let n = window.len() as f64;
                Observation {
                    rate: window.iter().map(|o| o.rate).sum::<f64>() / n,
                    isl: window.iter().map(|o| o.isl).sum::<f64>() / n,
                    osl: window.iter().map(|o| o.osl).sum::<f64>() / n,
                }
            }
        }
    }
}

impl ReplayScalingPolicy for SlaPlanner {
    fn initial_tick_ms(&mut self) -> anyhow::Result<f64> {
        Ok(self.spec.adjustment_interval_s * 1e3)
    }

    fn on_tick(&mut self, snapshot: ReplayScalingSnapshot) -> anyhow::Result<ReplayScalingDecision> {
        let traffic = &snapshot.traffic;
        if traffic.shape_count > 0 {
            self.last_isl = traffic.avg_isl;
            self.last_osl = traffic.avg_osl;
        }
        let rate = if traffic.duration_s > 0.0 {
            traffic.num_req as f64 / traffic.duration_s
        } else {
            0.0
        };
        self.history.push(Observation {
            rate,
            isl: self.last_isl,
            osl: self.last_osl,
        });
        let next = self.predict();
        let (n_p, n_d) = self.replicas(next.rate, next.isl, next.osl);
        self.log.borrow_mut().push((snapshot.now_ms / 1e3, n_p, n_d));
        Ok(ReplayScalingDecision {
            target_prefill: Some(n_p as usize),
            target_decode: Some(n_d as usize),
            next_tick_ms: Some(snapshot.now_ms + self.spec.adjustment_interval_s * 1e3),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use profcmp_plugin_api::{DecodeProfile, PlannerProfile, PrefillProfile, Sla};

    pub(crate) fn spec(budget: u32, predictor: LoadPredictor) -> PlannerSpec {
        PlannerSpec {
            profile: PlannerProfile {
                prefill: PrefillProfile {
                    prefill_isl: vec![1000.0, 3000.0],
                    prefill_ttft: vec![100.0, 300.0],
                    prefill_thpt_per_gpu: vec![10000.0, 10000.0],
                },
                decode: DecodeProfile {
                    x_kv_usage: vec![0.1, 0.9],
                    y_context_length: vec![2176.0, 2176.0],
                    z_itl: vec![20.0, 40.0],
                    z_thpt_per_gpu: vec![100.0, 1000.0],
                    max_kv_tokens: 100_000,
                },
            },
            prefill_tp: 1,
            decode_tp: 2,
            sla: Sla {
                isl: 2048,
                osl: 256,
                ttft_ms: 500.0,
                itl_ms: 50.0,
            },
            gpu_budget: budget,
            adjustment_interval_s: 60.0,
            predictor,
            min_prefill: 1,
            min_decode: 1,
        }
    }

    #[test]
    fn replicas_follow_the_profile_and_fit_the_budget() {
        let planner = SlaPlanner::new(&spec(100, LoadPredictor::Constant), ReplicaLog::default()).unwrap();
        // 10 req/s x 2048 = 20480 prefill tok/s over 10000 per GPU -> 3; 2560 out tok/s over
        // 1000 x 2 per worker -> 2.
        assert_eq!(planner.replicas(10.0, 2048.0, 256.0), (3, 2));
        assert_eq!(planner.replicas(0.0, 2048.0, 256.0), (1, 1));
        let tight = SlaPlanner::new(&spec(8, LoadPredictor::Constant), ReplicaLog::default()).unwrap();
        let (p, d) = tight.replicas(100.0, 2048.0, 256.0);
        assert!(p + 2 * d <= 8 && p >= 1 && d >= 1, "{p} {d}");
    }

    #[test]
    fn rejects_a_budget_below_the_minimums() {
        let error = SlaPlanner::new(&spec(2, LoadPredictor::Constant), ReplicaLog::default())
            .err()
            .unwrap();
        assert!(error.contains("below the minimum"), "{error}");
    }

    #[test]
    fn predictors_use_the_last_interval_or_the_average() {
        let mut planner = SlaPlanner::new(&spec(100, LoadPredictor::MovingAverage), ReplicaLog::default()).unwrap();
        for rate in [0.0, 2.0, 4.0] {
            planner.history.push(Observation {
                rate,
                isl: 2048.0,
                osl: 256.0,
            });
        }
        assert_eq!(planner.predict().rate, 3.0);
        planner.spec.predictor = LoadPredictor::Constant;
        assert_eq!(planner.predict().rate, 4.0);
    }
}
