//! Bayesian optimisation over (prefill TP, decode TP, decode concurrency), shared by the
//! `bayesian` and `stack_rank_bayesian` methods.
//!
//! Model: two Gaussian processes on log latency, one for prefill TTFT at the SLA ISL over
//! `log2 tp`, one for decode ITL at the SLA shape over `(log2 tp, log2 batch)`, each around a
//! prior mean ([`Prior`]: a physical scaling law, or the estimator). Throughput follows from
//! latency (`isl / ttft / tp`; `eta * batch / itl / tp` with `eta` the measured ratio of
//! throughput to that ideal), and the batch is `min(concurrency, max_batch)` once a decode
//! deployment has reported its `max_batch`.
//!
//! Objective: the selection rule's, throughput per GPU subject to the SLA, made one number for
//! the pair: requests/s per GPU of a balanced disaggregated config,
//! `J = 1 / (isl / P + osl / D)` with `P` the prefill and `D` the decode tokens/s per GPU, each
//! counting only when its latency meets the SLA. `J` grows with `P` and with `D`, so its best
//! (P, D) pair is the selection rule's choice in each phase.
//!
//! Budget: one deployment per TP per phase. A decode deployment is measured at every
//! concurrency of Dynamo's sweep; the concurrency dimension of the search is covered by those
//! measurements and by the GP's predictions at the concurrencies of undeployed TPs.
//!
//! Loop: deploy the first prefill and decode candidates (the initial design given by the
//! method; skipped when the search already measured them), then repeatedly fit both GPs,
//! compute for every undeployed (phase, TP) the expected improvement of `J` over the incumbent
//! pair (other phase held at its incumbent; for a decode TP the best over its concurrencies),
//! and deploy the best, until the budget is spent, every candidate is measured, or the best
//! expected improvement is below `ei_threshold x J`.
//!
//! Because `J` weighs each phase by its share of GPU time per request, a decode gain counts
//! less than the same relative prefill gain when prefill dominates (ISL 2048 / OSL 256: about
//! 0.7 prefill). A TP whose behaviour departs from the prior by more than the kernel allows,
//! where the prior says it is unpromising, is not explored: the tests show one such case
//! (1% objective regret).
//! The seed orders candidates with equal expected improvement; everything else is deterministic.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::gp::{expected_improvement, Gp, Kernel};
use super::probe::{estimate_itl, estimate_ttft, sla_context};
use super::search::Search;
use super::{cmp_f64, concurrency_sweep, max_concurrency, Candidate, DECODE_SWEEP_POINTS};
use crate::{HostContext, PluginError, Sla};

/// Prior mean of log latency.
pub trait Prior {
    /// ln TTFT (ms) of one request at the SLA ISL on `tp` (up to a constant).
    fn prefill(&self, tp: u32) -> Result<f64, PluginError>;
    /// ln ITL (ms) of `batch` sequences at the SLA context on `tp` (up to a constant).
    fn decode(&self, tp: u32, batch: u32) -> Result<f64, PluginError>;
}

/// A scaling law with an unknown level: `TTFT ~ tp^-a`, `ITL ~ tp^-b * batch^c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PhysicsPrior {
    /// `a`: how TTFT falls with TP (1 = perfect scaling).
    pub prefill_tp_exponent: f64,
    /// `b`: how ITL falls with TP.
    pub decode_tp_exponent: f64,
    /// `c`: how ITL grows with the batch.
    pub decode_batch_exponent: f64,
}

impl Default for PhysicsPrior {
    /// Typical of dense models under TP on one node: `a = 0.7`, `b = 0.6`, `c = 0.15`.
    fn default() -> Self {
        PhysicsPrior {
            prefill_tp_exponent: 0.7,
            decode_tp_exponent: 0.6,
            decode_batch_exponent: 0.15,
        }
    }
}

impl Prior for PhysicsPrior {
    fn prefill(&self, tp: u32) -> Result<f64, PluginError> {
        Ok(-self.prefill_tp_exponent * f64::from(tp).ln())
    }
    fn decode(&self, tp: u32, batch: u32) -> Result<f64, PluginError> {
        Ok(-self.decode_tp_exponent * f64::from(tp).ln() + self.decode_batch_exponent * f64::from(batch.max(1)).ln())
    }
}

/// The estimator as prior mean (the GP then models `ln measured - ln estimated`). Answers are
/// cached, so each point costs one estimate call.
pub struct EstimatorPrior<'a> {
    host: &'a dyn HostContext,
    sla: Sla,
    prefill: RefCell<BTreeMap<u32, f64>>,
    decode: RefCell<BTreeMap<(u32, u32), f64>>,
}

impl<'a> EstimatorPrior<'a> {
    /// Estimates through `host` at the `sla` shape.
    pub fn new(host: &'a dyn HostContext, sla: Sla) -> Self {
        EstimatorPrior {
            host,
            sla,
            prefill: RefCell::default(),
            decode: RefCell::default(),
        }
    }
}

impl Prior for EstimatorPrior<'_> {
    fn prefill(&self, tp: u32) -> Result<f64, PluginError> {
        if let Some(v) = self.prefill.borrow().get(&tp) {
            return Ok(*v);
        }
        let v = estimate_ttft(self.host, tp, self.sla.isl)?.ln();
        self.prefill.borrow_mut().insert(tp, v);
        Ok(v)
    }
    fn decode(&self, tp: u32, batch: u32) -> Result<f64, PluginError> {
        if let Some(v) = self.decode.borrow().get(&(tp, batch)) {
            return Ok(*v);
        }
        let v = estimate_itl(self.host, tp, batch.max(1), sla_context(&self.sla))?.ln();
        self.decode.borrow_mut().insert((tp, batch), v);
        Ok(v)
    }
}

/// Search settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Most deployments (prefill + decode), at least 2.
    pub max_deployments: u32,
    /// Stop when the best expected improvement is below this fraction of the objective.
    pub ei_threshold: f64,
    /// Orders candidates with equal expected improvement.
    pub seed: u64,
    /// GP over `[log2 tp]` for ln TTFT minus the prior.
    pub prefill_kernel: Kernel,
    /// GP over `[log2 tp, log2 batch]` for ln ITL minus the prior.
    pub decode_kernel: Kernel,
}

impl Settings {
    /// Kernels for a [`PhysicsPrior`]: free level; the prefill TP exponent uncertain by about
    /// +-0.15 (prefill throughput per GPU rarely grows with TP), the decode ones by +-0.3 (TP:
    /// larger TPs hold more KV per GPU, so decode throughput per GPU can go either way) and
    /// +-0.15 (batch); small smooth residual; 2% measurement noise.
    pub fn for_physics_prior(max_deployments: u32, ei_threshold: f64, seed: u64) -> Self {
        let ln2 = std::f64::consts::LN_2;
        Settings {
            max_deployments,
            ei_threshold,
            seed,
            prefill_kernel: Kernel {
                bias_var: 25.0,
                linear_var: vec![(0.15 * ln2).powi(2)],
                rbf_var: 0.05f64.powi(2),
                length_scale: vec![1.0],
                noise_var: 0.02f64.powi(2),
            },
            decode_kernel: Kernel {
                bias_var: 25.0,
                linear_var: vec![(0.3 * ln2).powi(2), (0.15 * ln2).powi(2)],
                rbf_var: 0.15f64.powi(2),
                length_scale: vec![1.0, 2.0],
                noise_var: 0.02f64.powi(2),
            },
        }
    }

    /// Kernels for an [`EstimatorPrior`]: the measured/estimated ratio is learned (level free
    /// within a factor of e); its drift with TP is about +-10% per doubling for prefill
    /// (compute-bound, modelled well) and +-20% for decode (batching limits, KV capacity and
    /// communication the estimator may miss); small smooth residual; 2% measurement noise.
    pub fn for_estimator_prior(max_deployments: u32, ei_threshold: f64, seed: u64) -> Self {
        Settings {
            max_deployments,
            ei_threshold,
            seed,
            prefill_kernel: Kernel {
                bias_var: 1.0,
                linear_var: vec![0.1f64.powi(2)],
                rbf_var: 0.05f64.powi(2),
                length_scale: vec![1.0],
                noise_var: 0.02f64.powi(2),
            },
            decode_kernel: Kernel {
                bias_var: 1.0,
                linear_var: vec![0.2f64.powi(2), 0.05f64.powi(2)],
                rbf_var: 0.1f64.powi(2),
                length_scale: vec![1.0, 2.0],
                noise_var: 0.02f64.powi(2),
            },
        }
    }
}

/// The candidates, each list starting with the initial design.
#[derive(Clone, Debug, PartialEq)]
pub struct Space {
    /// Prefill TPs; the first is deployed first.
    pub prefill: Vec<u32>,
    /// Decode TPs with their estimated KV capacity; the first is deployed first.
    pub decode: Vec<Candidate>,
}

/// What the search did, for the result's notes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// One line per decision.
    pub steps: Vec<String>,
    /// Why it stopped.
    pub stop: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Action {
    Prefill(u32),
    Decode(Candidate),
}

impl Action {
    fn label(&self) -> String {
        match self {
            Action::Prefill(tp) => format!("prefill TP{tp}"),
            Action::Decode(c) => format!("decode TP{}", c.tp),
        }
    }
}

/// Requests/s per GPU of a balanced pair with prefill `p` and decode `d` tokens/s per GPU.
pub fn joint_objective(sla: &Sla, p: f64, d: f64) -> f64 {
    if p > 0.0 && d > 0.0 && p.is_finite() && d.is_finite() {
        1.0 / (f64::from(sla.isl) / p + f64::from(sla.osl) / d)
    } else {
        0.0
    }
}

/// Runs the search (see the module docs). On return the search holds every measurement and
/// keeps the incumbent deployments alive for the interpolation sweeps.
pub fn run(search: &mut Search, space: &Space, prior: &dyn Prior, settings: &Settings) -> Result<Outcome, PluginError> {
    if space.prefill.is_empty() || space.decode.is_empty() {
        return Err(PluginError::new(
            "no_candidates",
            "the bayesian search needs a prefill and a decode candidate",
        ));
    }
    if settings.max_deployments < 2 {
        return Err(PluginError::new(
            "invalid_options",
            "max_deployments must be at least 2 (one per phase)",
        ));
    }
    let s = search.session();
    let mut out = Outcome::default();
    let prefill_done = |search: &Search, tp: u32| search.prefill_tried.contains(&tp);
    let decode_done = |search: &Search, tp: u32| search.decode_tried.iter().any(|(t, _)| *t == tp);
    if !prefill_done(search, space.prefill[0]) {
        search.try_prefill(space.prefill[0])?;
        out.steps
            .push(format!("initial design: prefill TP{}", space.prefill[0]));
    }
    if !decode_done(search, space.decode[0].tp) {
        search.try_decode(space.decode[0].tp)?;
        out.steps
            .push(format!("initial design: decode TP{}", space.decode[0].tp));
    }

    let mut actions: Vec<Action> = space
        .prefill
        .iter()
        .filter(|tp| !prefill_done(search, **tp))
        .map(|&tp| Action::Prefill(tp))
        .chain(
            space
                .decode
                .iter()
                .filter(|c| !decode_done(search, c.tp))
                .map(|&c| Action::Decode(c)),
        )
        .collect();
    shuffle(&mut actions, settings.seed);

    loop {
        s.progress(
            u64::from(search.deployments()),
            u64::from(settings.max_deployments),
            "bayesian search",
        );
        if actions.is_empty() {
            out.stop = "every candidate measured".into();
            break;
        }
        if search.deployments() >= settings.max_deployments {
            out.stop = format!("deployment budget of {} spent", settings.max_deployments);
            break;
        }
        if search.decode_incumbent().is_none() {
            // No decode row yet (KV too small for one request): no model to speak of, try the
            // next decode candidate in the given order.
            let next = space
                .decode
                .iter()
                .copied()
                .find(|c| actions.contains(&Action::Decode(*c)));
            let Some(c) = next else {
                out.stop = "no decode candidate left".into();
                break;
            };
            actions.retain(|a| *a != Action::Decode(c));
            out.steps
                .push(format!("no usable decode row yet -> deploy decode TP{}", c.tp));
            search.try_decode(c.tp)?;
            continue;
        }
        let model = Model::fit(search, space, prior, settings)?;
        let mut scored = Vec::new();
        for a in &actions {
            scored.push((*a, model.ei(a, prior)? / model.j_now));
        }
        let (best, rel) = scored
            .iter()
            .copied()
            .fold(None, |acc: Option<(Action, f64)>, x| match acc {
                Some(b) if cmp_f64(x.1, b.1).is_le() => Some(b),
                _ => Some(x),
            })
            .ok_or_else(|| PluginError::new("internal", "no action scored"))?;
        let listing = scored
            .iter()
            .map(|(a, r)| format!("{} {:.2}%", a.label(), 100.0 * r))
            .collect::<Vec<_>>()
            .join(", ");
        if rel.is_nan() || rel < settings.ei_threshold {
            out.stop = format!(
                "expected improvement negligible (best {:.2}% < {:.2}%: {listing})",
                100.0 * rel,
                100.0 * settings.ei_threshold
            );
            break;
        }
        out.steps
            .push(format!("expected improvement {listing} -> deploy {}", best.label()));
        s.info(out.steps.last().map(String::as_str).unwrap_or_default());
        actions.retain(|a| *a != best);
        match best {
            Action::Prefill(tp) => {
                search.try_prefill(tp)?;
            }
            Action::Decode(c) => {
                search.try_decode(c.tp)?;
            }
        }
    }
    s.info(&format!("bayesian search stopped: {}", out.stop));
    Ok(out)
}

/// Both GPs and the incumbent pair.
struct Model {
    sla: Sla,
    prefill: Gp,
    decode: Gp,
    eta: f64,
    kv_scale: f64,
    max_batch: u32,
    p_ref: f64,
    d_ref: f64,
    best_p: f64,
    best_d: f64,
    j_now: f64,
}

fn log2(x: u32) -> f64 {
    f64::from(x.max(1)).log2()
}

impl Model {
    fn fit(search: &Search, space: &Space, prior: &dyn Prior, settings: &Settings) -> Result<Model, PluginError> {
        let sla = *search.sla();
        let max_batch = search.max_batch.filter(|b| *b > 0).unwrap_or(u32::MAX);
        let (p, d) = match (search.prefill_incumbent(), search.decode_incumbent()) {
            (Some(p), Some(d)) => (p, d),
            _ => return Err(PluginError::new("internal", "the model needs a row in each phase")),
        };
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        for r in &search.prefill_rows {
            xs.push(vec![log2(r.tp)]);
            ys.push(r.ttft_ms.ln() - prior.prefill(r.tp)?);
        }
        let prefill = Gp::fit(&settings.prefill_kernel, &xs, &ys)?;
        let (mut xs, mut ys, mut log_eta) = (Vec::new(), Vec::new(), 0.0);
        for r in &search.decode_rows {
            let batch = r.concurrency.min(max_batch);
            xs.push(vec![log2(r.tp), log2(batch)]);
            ys.push(r.itl_ms.ln() - prior.decode(r.tp, batch)?);
            log_eta += (r.thpt_per_gpu / super::probe::thpt_from_step(batch, r.itl_ms, r.tp)).ln();
        }
        let eta = (log_eta / search.decode_rows.len().max(1) as f64).exp().clamp(0.2, 2.0);
        let decode = Gp::fit(&settings.decode_kernel, &xs, &ys)?;
        let ratios: Vec<f64> = search
            .decode_tried
            .iter()
            .filter_map(|(tp, kv)| {
                let est = space.decode.iter().find(|c| c.tp == *tp)?.kv_capacity_tokens;
                (est > 0 && *kv > 0).then(|| (*kv as f64 / est as f64).ln())
            })
            .collect();
        let kv_scale = if ratios.is_empty() {
            1.0
        } else {
            (ratios.iter().sum::<f64>() / ratios.len() as f64).exp()
        };
        let j_now = joint_objective(&sla, p.thpt_per_gpu, d.thpt_per_gpu);
        Ok(Model {
            sla,
            prefill,
            decode,
            eta,
            kv_scale,
            max_batch,
            p_ref: p.thpt_per_gpu,
            d_ref: d.thpt_per_gpu,
            best_p: if p.ttft_ms <= sla.ttft_ms { j_now } else { 0.0 },
            best_d: if d.itl_ms <= sla.itl_ms { j_now } else { 0.0 },
            j_now: if j_now > 0.0 { j_now } else { f64::MIN_POSITIVE },
        })
    }

    /// Expected improvement of the objective if this action's TP were deployed.
    fn ei(&self, action: &Action, prior: &dyn Prior) -> Result<f64, PluginError> {
        let sla = &self.sla;
        match *action {
            Action::Prefill(tp) => {
                let (m, v) = self.prefill.predict(&[log2(tp)]);
                let mean = m + prior.prefill(tp)?;
                Ok(expected_improvement(mean, v.sqrt(), |y| {
                    let ttft = y.exp();
                    if ttft > sla.ttft_ms {
                        return 0.0;
                    }
                    let thpt = f64::from(sla.isl) * 1000.0 / ttft / f64::from(tp);
                    joint_objective(sla, thpt, self.d_ref) - self.best_p
                }))
            }
            Action::Decode(c) => {
                let kv = (c.kv_capacity_tokens as f64 * self.kv_scale) as u64;
                let mut best: f64 = 0.0;
                for conc in concurrency_sweep(max_concurrency(kv, sla.isl, sla.osl), DECODE_SWEEP_POINTS) {
                    let batch = conc.min(self.max_batch);
                    let (m, v) = self.decode.predict(&[log2(c.tp), log2(batch)]);
                    let mean = m + prior.decode(c.tp, batch)?;
                    let ei = expected_improvement(mean, v.sqrt(), |y| {
                        let itl = y.exp();
                        if itl > sla.itl_ms {
                            return 0.0;
                        }
                        let thpt = self.eta * super::probe::thpt_from_step(batch, itl, c.tp);
                        joint_objective(sla, self.p_ref, thpt) - self.best_d
                    });
                    best = best.max(ei);
                }
                Ok(best)
            }
        }
    }
}

/// Fisher-Yates with splitmix64: a deterministic order for a seed.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_deterministic_per_seed() {
        let mut a: Vec<u32> = (0..8).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn joint_objective_grows_with_both_phases() {
        let sla = Sla {
            isl: 2048,
            osl: 256,
            ttft_ms: 500.0,
            itl_ms: 50.0,
        };
        let j = joint_objective(&sla, 10_000.0, 3000.0);
        assert!(joint_objective(&sla, 11_000.0, 3000.0) > j);
        assert!(joint_objective(&sla, 10_000.0, 3300.0) > j);
        assert_eq!(joint_objective(&sla, 0.0, 3000.0), 0.0);
    }

    #[test]
    fn physics_prior_scales() {
        let p = PhysicsPrior::default();
        let ratio = (p.prefill(1).unwrap() - p.prefill(2).unwrap()).exp();
        assert!((ratio - 2f64.powf(0.7)).abs() < 1e-12);
        assert!(p.decode(1, 64).unwrap() > p.decode(1, 1).unwrap());
    }
}
