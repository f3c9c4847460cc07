//! Dynamo's SLA planner in the loop, as aisimulate's scaling policy, fed by the method's own
//! profile data. It behaves as the Dynamo version in its spec (docs/planner.md has the sources
//! and every departure):
//!
//! - **0.7** (`planner/utils/planner_core.py`): the first decision one interval after the graph
//!   is ready, then every interval. Demand = requests *completed* in the last interval
//!   (`dynamo_frontend_requests_total` is bumped at completion). A window with no completion has
//!   no averages: the predictors get 0 and the replicas are held. Correction factors: prefill
//!   `min(1, TTFT observed / TTFT profiled)` (a slow TTFT never adds prefill), decode ITL target
//!   divided by `ITL observed / ITL profiled`. Prefill replicas = ceil(req x ISL / interval x
//!   p_corr / thpt_per_gpu(ISL) / prefill GPUs), decode = ceil(req x OSL / interval /
//!   best_thpt_per_gpu(ITL target, ISL + OSL/2) / decode GPUs), each at least `min_endpoint`;
//!   over the budget both are scaled with Python's half-to-even `round`, which can exceed it.
//!   A decision made while workers are still starting (the graph is not Ready) is dropped.
//! - **1.6** (`planner/core/throughput_scaling.py`, `core/budget.py`, SLA mode): demand =
//!   requests *started* in the interval; an idle interval counts as 0; ISL/OSL carried over
//!   idle windows; no correction factors; replicas = max(ceil(demand req/s / engine req/s),
//!   min) with prefill engine req/s = thpt_per_gpu(ISL) x GPUs / ISL and decode engine req/s =
//!   best_thpt_per_gpu(ITL, ISL + OSL/2) x GPUs / OSL; each role moves at most 8 replicas per
//!   tick; the budget is never exceeded, and fitting it never reverses a role's direction.
//!
//! Both count a draining worker as gone and a starting one as there (aisimulate drains
//! in-flight requests before a worker leaves, as Dynamo's graceful shutdown does).

use std::cell::RefCell;
use std::rc::Rc;

use aisimulate_core::replay::{ReplayScalingDecision, ReplayScalingPolicy, ReplayScalingSnapshot};

use crate::backend::PlannerSpec;
use crate::spec::DynamoVersion;

use super::predictors::Predictor;
use super::profile::{DecodeSurface, PrefillCurve};

/// Most replicas a role may gain or lose per tick in Dynamo 1.6 (`throughput_scaling.py`).
pub const MAX_CHANGE_PER_TICK_1_6: u32 = 8;

/// Replica decisions over time: (time s, prefill workers, decode workers).
pub type ReplicaLog = Rc<RefCell<Vec<(f64, u32, u32)>>>;

/// The SLA planner as an aisimulate scaling policy.
pub struct SlaPlanner {
    spec: PlannerSpec,
    prefill: PrefillCurve,
    decode: DecodeSurface,
    num_req: Predictor,
    isl: Predictor,
    osl: Predictor,
    /// 1.6 carries the last known ISL/OSL over idle windows.
    last_shape: (f64, f64),
    log: ReplicaLog,
}

/// One interval's traffic as the planner's metrics report it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Requests counted (0.7: completed; 1.6: started).
    pub num_req: f64,
    /// Mean ISL and OSL of the requests completed in the window (NaN if none).
    pub isl: f64,
    /// See `isl`.
    pub osl: f64,
    /// Mean TTFT and ITL of the completed requests, ms (NaN if none).
    pub ttft_ms: f64,
    /// See `ttft_ms`.
    pub itl_ms: f64,
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
        let min = spec.min_endpoint.max(1);
        let floor = min * spec.prefill_tp + min * spec.decode_tp;
        if floor > spec.gpu_budget {
            return Err(format!(
                "planner gpu_budget {} is below the minimum replicas' {floor} GPUs (min_endpoint {min} x (prefill tp {} + decode tp {}))",
                spec.gpu_budget, spec.prefill_tp, spec.decode_tp
            ));
        }
        let predictor = || Predictor::new(spec.predictor, spec.version, spec.window_size);
        Ok(SlaPlanner {
            prefill: PrefillCurve::new(&spec.profile.prefill)?,
            decode: DecodeSurface::new(&spec.profile.decode)?,
            num_req: predictor()?,
            isl: predictor()?,
            osl: predictor()?,
            last_shape: (f64::from(spec.sla.isl), f64::from(spec.sla.osl)),
            spec: spec.clone(),
            log,
        })
    }

    /// The replicas this planner settles on under a steady load of `rate` req/s of (isl, osl):
    /// its formula with the prediction equal to the load and no correction, within the budget.
    pub fn settled_replicas(&self, rate: f64, isl: f64, osl: f64) -> (u32, u32) {
        let num_req = rate * self.spec.adjustment_interval_s;
        let raw = self.raw_replicas(num_req, isl, osl, 1.0, self.spec.sla.itl_ms);
        let s = &self.spec;
        let min = s.min_endpoint.max(1);
        match s.version {
            DynamoVersion::V0_7 => budget_0_7(raw, s.prefill_tp, s.decode_tp, s.gpu_budget, min),
            DynamoVersion::V1_6 => budget_1_6(raw, s.prefill_tp, s.decode_tp, s.gpu_budget, (min, min)),
        }
    }

    /// Replicas before the budget: the version's formula for `num_req` requests over the next
    /// interval, with 0.7's prefill correction and ITL target (1.0 and the SLA's ITL in 1.6).
    fn raw_replicas(&self, num_req: f64, isl: f64, osl: f64, p_corr: f64, itl_target: f64) -> (u32, u32) {
        let s = &self.spec;
        let num_req = num_req * s.headroom;
        let interval = s.adjustment_interval_s;
        let (pg, dg) = (f64::from(s.prefill_tp), f64::from(s.decode_tp));
        let min = s.min_endpoint.max(1);
        let p_thpt = self.prefill.thpt_per_gpu(isl);
        let d_thpt = self.decode.best_thpt_per_gpu(itl_target, isl + osl / 2.0);
        let (p, d) = match s.version {
            DynamoVersion::V0_7 => (
                num_req * isl / interval * p_corr.min(1.0) / p_thpt / pg,
                num_req * osl / interval / d_thpt / dg,
            ),
            DynamoVersion::V1_6 => {
                let demand_rps = num_req / interval;
                (demand_rps / (p_thpt * pg / isl), demand_rps / (d_thpt * dg / osl))
            }
        };
        (ceil_count(p).max(min), ceil_count(d).max(min))
    }

    /// One tick: feed the window to the predictors, then decide. `current` is the non-draining
    /// (active + starting) workers per role, `starting` whether any is still starting and
    /// `active_decode` the ready decode workers. None = hold (no decision).
    pub fn decide(
        &mut self,
        window: Window,
        current: (u32, u32),
        starting: bool,
        active_decode: u32,
    ) -> Option<(u32, u32)> {
        let s = self.spec.clone();
        let min = s.min_endpoint.max(1);
        match s.version {
            DynamoVersion::V0_7 => {
                let valid = window.num_req > 0.0 && window.isl.is_finite() && window.ttft_ms.is_finite();
                self.num_req.add(window.num_req);
                self.isl.add(if valid { window.isl } else { f64::NAN });
                self.osl.add(if valid { window.osl } else { f64::NAN });
                // No averages: `is_valid()` fails and the adjustment is skipped. With no ready
                // decode worker the correction cannot be computed and the tick aborts.
                if !valid || active_decode == 0 {
                    return None;
                }
                let (isl, osl) = (self.isl.predict(), self.osl.predict());
                let p_corr = window.ttft_ms / self.prefill.ttft_ms(window.isl);
                let duration_s = (window.ttft_ms + window.itl_ms * (window.osl - 1.0).max(0.0)) / 1e3;
                let concurrency = window.num_req / f64::from(active_decode) * duration_s / s.adjustment_interval_s;
                let d_corr = window.itl_ms / self.decode.itl_ms(concurrency, window.isl + window.osl / 2.0);
                let itl_target = if d_corr > 0.0 && d_corr.is_finite() {
                    s.sla.itl_ms / d_corr
                } else {
                    s.sla.itl_ms
                };
                let raw = self.raw_replicas(self.num_req.predict(), isl, osl, p_corr, itl_target);
                let target = budget_0_7(raw, s.prefill_tp, s.decode_tp, s.gpu_budget, min);
                // The connector drops a decision while the graph is not Ready (a scale is in
                // progress): the workers still starting.
                (!starting).then_some(target)
            }
            DynamoVersion::V1_6 => {
                if window.isl.is_finite() && window.osl.is_finite() {
                    self.last_shape = (window.isl, window.osl);
                }
                self.num_req.add(window.num_req);
                self.isl.add(self.last_shape.0);
                self.osl.add(self.last_shape.1);
                let raw = self.raw_replicas(
                    self.num_req.predict(),
                    self.isl.predict(),
                    self.osl.predict(),
                    1.0,
                    s.sla.itl_ms,
                );
                let capped = (cap_change(current.0, raw.0), cap_change(current.1, raw.1));
                Some(fit_budget_1_6(
                    capped,
                    current,
                    s.prefill_tp,
                    s.decode_tp,
                    s.gpu_budget,
                    (min, min),
                ))
            }
        }
    }
}

impl ReplayScalingPolicy for SlaPlanner {
    fn initial_tick_ms(&mut self) -> anyhow::Result<f64> {
        // The graph is Ready at t = 0 of the replay; the first decision is one interval later.
        Ok(self.spec.adjustment_interval_s * 1e3)
    }

    fn on_tick(&mut self, snapshot: ReplayScalingSnapshot) -> anyhow::Result<ReplayScalingDecision> {
        let traffic = &snapshot.traffic;
        let completed = traffic.shape_count > 0;
        let nan_unless = |ok: bool, v: f64| if ok { v } else { f64::NAN };
        let num_req = match self.spec.version {
            DynamoVersion::V0_7 => traffic.ttft_count as f64,
            DynamoVersion::V1_6 => traffic.num_req as f64,
        };
        let window = Window {
            num_req,
            isl: nan_unless(completed, traffic.avg_isl),
            osl: nan_unless(completed, traffic.avg_osl),
            ttft_ms: nan_unless(traffic.ttft_count > 0, traffic.avg_ttft_ms),
            itl_ms: nan_unless(traffic.itl_count > 0, traffic.avg_itl_ms),
        };
        let count = |ids: &[usize]| ids.len() as u32;
        let current = (
            count(&snapshot.active_prefill_ids) + count(&snapshot.starting_prefill_ids),
            count(&snapshot.active_decode_ids) + count(&snapshot.starting_decode_ids),
        );
        let starting = !snapshot.starting_prefill_ids.is_empty() || !snapshot.starting_decode_ids.is_empty();
        let decision = self.decide(window, current, starting, count(&snapshot.active_decode_ids));
        if let Some((p, d)) = decision {
            self.log.borrow_mut().push((snapshot.now_ms / 1e3, p, d));
        }
        Ok(ReplayScalingDecision {
            target_prefill: decision.map(|(p, _)| p as usize),
            target_decode: decision.map(|(_, d)| d as usize),
            next_tick_ms: Some(snapshot.now_ms + self.spec.adjustment_interval_s * 1e3),
        })
    }
}

/// `ceil` of a replica count; non-finite (a zero throughput) counts as very many.
fn ceil_count(x: f64) -> u32 {
    if x.is_nan() {
        return 0;
    }
    x.ceil().clamp(0.0, f64::from(u32::MAX / 2)) as u32
}

/// Python's `round`: half to even.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// Dynamo 0.7's budget rule: over the budget, scale prefill by budget/total (rounded half to
/// even), then give decode what is left (rounded), each at least `min`. It can exceed the budget.
pub fn budget_0_7((p, d): (u32, u32), pg: u32, dg: u32, budget: u32, min: u32) -> (u32, u32) {
    let total = p * pg + d * dg;
    if total <= budget {
        return (p, d);
    }
    let scale = f64::from(budget) / f64::from(total);
    let p = (round_half_even(f64::from(p) * scale) as u32).max(min);
    let left = f64::from(budget) - f64::from(p * pg);
    let d = (round_half_even(left / f64::from(dg)).max(0.0) as u32).max(min);
    (p, d)
}

/// Dynamo 1.6's `clamp_pair`: never over `budget`; (0, 0) when the minimums do not fit.
pub fn budget_1_6((p, d): (u32, u32), pg: u32, dg: u32, budget: u32, (pmin, dmin): (u32, u32)) -> (u32, u32) {
    if pmin * pg + dmin * dg > budget {
        return (0, 0);
    }
    let total = p * pg + d * dg;
    if total <= budget {
        return (p, d);
    }
    let scale = f64::from(budget) / f64::from(total);
    let p = pmin.max(((budget - dmin * dg) / pg).min((f64::from(p) * scale).floor() as u32));
    let d = dmin.max((budget - p * pg) / dg);
    (p, d)
}

/// Dynamo 1.6 fits a proposal that is over the budget from the current counts without reversing
/// a role's direction: a role that shrinks or holds takes its proposal, a role that grows gets at
/// most what is left (both growing: `clamp_pair` on the pair); a role is never moved against its
/// proposal, and if the result still does not fit both hold (two scale-ups at the ceiling are
/// held; an opposing rebalance moves both roles or neither).
pub fn fit_budget_1_6(
    proposal: (u32, u32),
    current: (u32, u32),
    pg: u32,
    dg: u32,
    budget: u32,
    mins: (u32, u32),
) -> (u32, u32) {
    if mins.0 * pg + mins.1 * dg > budget {
        return (0, 0);
    }
    if proposal.0 * pg + proposal.1 * dg <= budget {
        return proposal;
    }
    let fitted = match (proposal.0 > current.0, proposal.1 > current.1) {
        (true, false) => (proposal.0.min(budget.saturating_sub(proposal.1 * dg) / pg), proposal.1),
        (false, true) => (proposal.0, proposal.1.min(budget.saturating_sub(proposal.0 * pg) / dg)),
        _ => budget_1_6(proposal, pg, dg, budget, mins),
    };
    let keep_direction = |want: u32, now: u32, got: u32| {
        if (want > now && got < now) || (want < now && got > now) {
            now
        } else {
            got
        }
    };
    let p = keep_direction(proposal.0, current.0, fitted.0);
    let d = keep_direction(proposal.1, current.1, fitted.1);
    if p * pg + d * dg > budget {
        current
    } else {
        (p, d)
    }
}

/// 1.6's per-tick limit on a role's change.
fn cap_change(current: u32, raw: u32) -> u32 {
    raw.clamp(
        current.saturating_sub(MAX_CHANGE_PER_TICK_1_6),
        current + MAX_CHANGE_PER_TICK_1_6,
    )
}

#[cfg(test)]
mod tests;
