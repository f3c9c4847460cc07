//! A scripted in-process host for method unit tests.
//!
//! [`FakeHost`] answers estimates from an analytic model of a dense ~32B model on H200-class GPUs
//! ([`FakeModel`]) and measures "reality" as the estimate times a measured-to-estimated ratio per
//! phase and TP, with optional deterministic noise. It counts estimate calls, deployments,
//! teardowns and measurements, tracks live deployments (a teardown of an unknown id is an
//! error), and can fail the n-th measurement or report cancellation after n deployments.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::{
    concurrency_sweep, max_concurrency, select_decode, select_prefill, DecodeRow, PrefillRow, DECODE_SWEEP_POINTS,
};
use profcmp_plugin_api::{
    CostReport, DeployRequest, Deployment, Estimate, EstimateQuery, HostContext, LogLevel, Measurement, Method,
    PluginError, Probe, ProfileRequest, ProfileResult, SearchSpace, ServingBackend, Sla, Stat,
};

/// Analytic latencies and KV capacity (defaults resemble Qwen3-32B bf16 on H200).
#[derive(Clone, Debug, PartialEq)]
pub struct FakeModel {
    /// Prefill ms per input token at TP1.
    pub prefill_ms_per_token: f64,
    /// TTFT falls as `tp^-exponent`.
    pub prefill_tp_exponent: f64,
    /// Attention cost, ms per token squared (divided by TP).
    pub prefill_ms_per_token2: f64,
    /// Weight-read time of one decode step at TP1, ms.
    pub decode_weights_ms: f64,
    /// KV-read time per (sequence x context token), ms.
    pub decode_ms_per_kv_token: f64,
    /// Compute per sequence in the batch, ms.
    pub decode_ms_per_seq: f64,
    /// Fixed overhead of each pass, ms.
    pub overhead_ms: f64,
    /// All-reduce cost per TP doubling, ms (decode: grows with the batch).
    pub comm_ms_per_doubling: f64,
    /// HBM per GPU usable for weights and KV, GB.
    pub mem_per_gpu_gb: f64,
    /// Model weights, GB.
    pub weights_gb: f64,
    /// KV bytes per token (all layers and heads).
    pub kv_bytes_per_token: f64,
}

impl Default for FakeModel {
    fn default() -> Self {
        FakeModel {
            prefill_ms_per_token: 0.085,
            prefill_tp_exponent: 0.8,
            prefill_ms_per_token2: 1e-6,
            decode_weights_ms: 13.5,
            decode_ms_per_kv_token: 5.5e-5,
            decode_ms_per_seq: 0.065,
            overhead_ms: 4.0,
            comm_ms_per_doubling: 1.0,
            mem_per_gpu_gb: 110.0,
            weights_gb: 64.0,
            kv_bytes_per_token: 262_144.0,
        }
    }
}

impl FakeModel {
    /// One prefill pass of `batch` requests of `isl` tokens, ms.
    pub fn prefill_ms(&self, tp: u32, batch: u32, isl: u32) -> f64 {
        let (t, b, n) = (f64::from(tp), f64::from(batch), f64::from(isl));
        b * n * (self.prefill_ms_per_token / t.powf(self.prefill_tp_exponent) + self.prefill_ms_per_token2 * n / t)
            + self.overhead_ms / 2.0
            + 1.5 * self.comm_ms_per_doubling * t.log2()
    }

    /// One decode step of `batch` sequences at `context` tokens, ms.
    pub fn decode_ms(&self, tp: u32, batch: u32, context: u32) -> f64 {
        let (t, b, c) = (f64::from(tp), f64::from(batch), f64::from(context));
        (self.decode_weights_ms + b * c * self.decode_ms_per_kv_token + b * self.decode_ms_per_seq) / t
            + self.overhead_ms
            + self.comm_ms_per_doubling * t.log2() * (1.0 + b / 128.0)
    }

    /// KV capacity of one worker, tokens (0 when the weights do not fit).
    pub fn kv_tokens(&self, tp: u32) -> u64 {
        let free = f64::from(tp) * self.mem_per_gpu_gb - self.weights_gb;
        (free.max(0.0) * 1e9 / self.kv_bytes_per_token) as u64
    }
}

#[derive(Default)]
struct FakeState {
    estimates: u64,
    deploys: u32,
    teardowns: u32,
    measures: u32,
    next_id: u32,
    live: BTreeMap<String, Deployment>,
    logs: Vec<(LogLevel, String)>,
    progress: u32,
}

/// The scripted host.
pub struct FakeHost {
    /// The analytic model behind estimates and measurements.
    pub model: FakeModel,
    /// TPs the model supports (others: estimate and deploy errors).
    pub valid_tps: Vec<u32>,
    /// Measured / estimated TTFT per TP (default for missing TPs: `default_prefill_ratio`).
    pub prefill_ratio: BTreeMap<u32, f64>,
    /// Measured / estimated TTFT for TPs not in `prefill_ratio`.
    pub default_prefill_ratio: f64,
    /// Measured / estimated ITL per TP.
    pub decode_ratio: BTreeMap<u32, f64>,
    /// Measured / estimated ITL for TPs not in `decode_ratio`.
    pub default_decode_ratio: f64,
    /// Reported / estimated KV capacity.
    pub kv_ratio: f64,
    /// Most sequences a deployment batches; more requests queue.
    pub max_batch: u32,
    /// Measured output throughput / ideal `batch / itl`.
    pub throughput_efficiency: f64,
    /// Relative amplitude of deterministic measurement noise (0 = none).
    pub noise: f64,
    /// The n-th measurement (1-based) fails.
    pub fail_measure_at: Option<u32>,
    /// `cancelled()` turns true once this many deployments were made.
    pub cancel_after_deploys: Option<u32>,
    state: RefCell<FakeState>,
}

impl Default for FakeHost {
    fn default() -> Self {
        FakeHost {
            model: FakeModel::default(),
            valid_tps: vec![1, 2, 4, 8],
            prefill_ratio: BTreeMap::new(),
            default_prefill_ratio: 1.2,
            decode_ratio: BTreeMap::new(),
            default_decode_ratio: 1.1,
            kv_ratio: 1.0,
            max_batch: 256,
            throughput_efficiency: 0.95,
            noise: 0.0,
            fail_measure_at: None,
            cancel_after_deploys: None,
            state: RefCell::default(),
        }
    }
}

impl FakeHost {
    /// The default fake host.
    pub fn new() -> Self {
        FakeHost::default()
    }

    /// Sets the measured / estimated TTFT ratio of one TP.
    pub fn with_prefill_ratio(mut self, tp: u32, ratio: f64) -> Self {
        self.prefill_ratio.insert(tp, ratio);
        self
    }

    /// Sets the measured / estimated ITL ratio of one TP.
    pub fn with_decode_ratio(mut self, tp: u32, ratio: f64) -> Self {
        self.decode_ratio.insert(tp, ratio);
        self
    }

    /// Makes the n-th measurement (1-based) fail.
    pub fn failing_measure(mut self, n: u32) -> Self {
        self.fail_measure_at = Some(n);
        self
    }

    /// Reports cancellation once `n` deployments were made.
    pub fn cancelling_after(mut self, n: u32) -> Self {
        self.cancel_after_deploys = Some(n);
        self
    }

    /// Estimate calls so far.
    pub fn estimate_calls(&self) -> u64 {
        self.state.borrow().estimates
    }

    /// Deployments so far.
    pub fn deploy_count(&self) -> u32 {
        self.state.borrow().deploys
    }

    /// Teardowns so far.
    pub fn teardown_count(&self) -> u32 {
        self.state.borrow().teardowns
    }

    /// Measurements so far (including failed ones).
    pub fn measure_count(&self) -> u32 {
        self.state.borrow().measures
    }

    /// Deployments alive now.
    pub fn live_count(&self) -> usize {
        self.state.borrow().live.len()
    }

    /// Log lines so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.state.borrow().logs.clone()
    }

    /// Progress reports so far.
    pub fn progress_count(&self) -> u32 {
        self.state.borrow().progress
    }

    fn check_tp(&self, tp: u32) -> Result<(), PluginError> {
        if self.valid_tps.contains(&tp) {
            Ok(())
        } else {
            Err(PluginError::new(
                "invalid_tp",
                format!("tp {tp} does not divide the model's KV heads"),
            ))
        }
    }

    fn jitter(&self, key: [u32; 4]) -> f64 {
        if self.noise == 0.0 {
            return 1.0;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for k in key {
            h = (h ^ u64::from(k)).wrapping_mul(0x0100_0000_01b3);
        }
        1.0 + self.noise * ((h % 2001) as f64 / 1000.0 - 1.0)
    }

    /// Measured TTFT (ms) of single requests of `isl` tokens on TP `tp`.
    pub fn true_ttft(&self, tp: u32, isl: u32) -> f64 {
        let ratio = self
            .prefill_ratio
            .get(&tp)
            .copied()
            .unwrap_or(self.default_prefill_ratio);
        self.model.prefill_ms(tp, 1, isl) * ratio * self.jitter([0, tp, 1, isl])
    }

    /// Measured ITL (ms) at `concurrency` requests of `isl`/`osl` tokens on TP `tp`.
    pub fn true_itl(&self, tp: u32, concurrency: u32, isl: u32, osl: u32) -> f64 {
        let ratio = self.decode_ratio.get(&tp).copied().unwrap_or(self.default_decode_ratio);
        let batch = concurrency.min(self.max_batch).max(1);
        self.model.decode_ms(tp, batch, isl + osl / 2) * ratio * self.jitter([1, tp, batch, isl + osl])
    }

    /// Measured output tokens/s per GPU at `concurrency` on TP `tp`.
    pub fn true_decode_thpt_per_gpu(&self, tp: u32, concurrency: u32, isl: u32, osl: u32) -> f64 {
        let batch = concurrency.min(self.max_batch).max(1);
        f64::from(batch) * 1000.0 / self.true_itl(tp, concurrency, isl, osl) * self.throughput_efficiency
            / f64::from(tp)
    }

    /// The measured rows Online-ALL would see on this host at `sla`: one prefill row per TP and
    /// the decode concurrency sweep per TP (TPs the model does not support are skipped).
    pub fn true_rows(&self, sla: &Sla, tps: &[u32]) -> (Vec<PrefillRow>, Vec<DecodeRow>) {
        let tps: Vec<u32> = tps.iter().copied().filter(|t| self.valid_tps.contains(t)).collect();
        let prefill = tps
            .iter()
            .map(|&tp| PrefillRow::new(tp, sla.isl, self.true_ttft(tp, sla.isl)))
            .collect();
        let mut decode = Vec::new();
        for &tp in &tps {
            let kv = (self.model.kv_tokens(tp) as f64 * self.kv_ratio) as u64;
            for c in concurrency_sweep(max_concurrency(kv, sla.isl, sla.osl), DECODE_SWEEP_POINTS) {
                decode.push(DecodeRow {
                    tp,
                    concurrency: c,
                    itl_ms: self.true_itl(tp, c, sla.isl, sla.osl),
                    thpt_per_gpu: self.true_decode_thpt_per_gpu(tp, c, sla.isl, sla.osl),
                });
            }
        }
        (prefill, decode)
    }

    /// The (prefill row, decode row) Online-ALL picks on this host: Dynamo's rule over
    /// [`FakeHost::true_rows`].
    pub fn online_choice(&self, sla: &Sla, tps: &[u32]) -> Option<(PrefillRow, DecodeRow)> {
        let (prefill, decode) = self.true_rows(sla, tps);
        Some((
            select_prefill(&prefill, sla.ttft_ms)?,
            select_decode(&decode, sla.itl_ms)?,
        ))
    }
}

/// A request shaped like the reference comparison: Qwen3-32B on h200_sxm with TRT-LLM,
/// ISL 2048 / OSL 256, TTFT <= 500 ms, ITL <= 50 ms, TP 1/2/4/8 in both phases, 8 GPUs, seed 1.
pub fn reference_request(options: serde_json::Value) -> ProfileRequest {
    ProfileRequest::new(
        "Qwen/Qwen3-32B",
        "h200_sxm",
        ServingBackend::Trtllm,
        Sla::new(2048, 256, 500.0, 50.0),
        SearchSpace::new(vec![1, 2, 4, 8], vec![1, 2, 4, 8], 8),
    )
    .with_seed(1)
    .with_options(options)
}

/// Runs a fresh method on a host and returns its result and its cost account.
pub fn run_method<M: Method>(
    host: &dyn HostContext,
    request: &ProfileRequest,
) -> (Result<ProfileResult, PluginError>, CostReport) {
    let mut method = M::default();
    let result = method.profile(request, host);
    (result, method.cost())
}

/// A reality the methods do not know, with the SLA it is profiled under.
pub struct Landscape {
    /// What is special about it.
    pub name: &'static str,
    /// The fake cluster.
    pub host: FakeHost,
    /// SLA TTFT, ms.
    pub ttft_ms: f64,
    /// SLA ITL, ms.
    pub itl_ms: f64,
}

/// Landscapes where the estimator and reality disagree in various ways, for search methods.
pub fn landscapes() -> Vec<Landscape> {
    let landscape = |name, host, ttft_ms, itl_ms| Landscape {
        name,
        host,
        ttft_ms,
        itl_ms,
    };
    let mut wide = FakeHost::new();
    wide.max_batch = 512;
    let mut noisy = FakeHost::new();
    noisy.noise = 0.03;
    let mut narrow = FakeHost::new();
    narrow.max_batch = 64;
    let mut small_kv = FakeHost::new().with_decode_ratio(1, 0.8);
    small_kv.kv_ratio = 0.6;
    let mut tiny_kv = FakeHost::new();
    tiny_kv.kv_ratio = 0.05;
    let like_2026 = FakeHost::new().with_decode_ratio(1, 0.85).with_decode_ratio(2, 1.25);
    vec![
        landscape("KV 20x smaller than estimated", tiny_kv, 500.0, 50.0),
        landscape(
            "2026-01-like: decode TP1 beats the estimator's TP2",
            like_2026,
            500.0,
            50.0,
        ),
        landscape("max batch 64", narrow, 500.0, 50.0),
        landscape("small KV, fast decode TP1", small_kv, 500.0, 50.0),
        landscape("default", FakeHost::new(), 500.0, 50.0),
        landscape(
            "slow decode TP2",
            FakeHost::new().with_decode_ratio(2, 1.6),
            500.0,
            50.0,
        ),
        landscape("tight TTFT", FakeHost::new(), 150.0, 50.0),
        landscape("tight ITL", FakeHost::new(), 500.0, 25.0),
        landscape(
            "slow prefill TP1",
            FakeHost::new().with_prefill_ratio(1, 2.5),
            400.0,
            50.0,
        ),
        landscape("max batch 512", wide, 500.0, 50.0),
        landscape("noisy", noisy, 500.0, 50.0),
    ]
}

/// Runs `M` on every landscape and checks it against Online-ALL's choice there: at most
/// `max_deployments`, nothing left deployed, objective regret under 5%, and the same TPs except
/// in the landscapes named in `may_differ`. Prints one line per landscape.
pub fn check_against_online<M: Method>(max_deployments: u32, may_differ: &[&str]) {
    use crate::bo::joint_objective;
    for Landscape {
        name,
        host,
        ttft_ms,
        itl_ms,
    } in landscapes()
    {
        let mut request = reference_request(serde_json::Value::Null);
        request.sla.ttft_ms = ttft_ms;
        request.sla.itl_ms = itl_ms;
        let (online_p, online_d) = host
            .online_choice(&request.sla, &[1, 2, 4, 8])
            .expect("online has a choice");
        let (result, cost) = run_method::<M>(&host, &request);
        let result = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            cost.deployments <= max_deployments,
            "{name}: {} deployments",
            cost.deployments
        );
        assert_eq!(host.live_count(), 0, "{name}");
        let best = joint_objective(&request.sla, online_p.thpt_per_gpu, online_d.thpt_per_gpu);
        let got = joint_objective(
            &request.sla,
            result.predicted.prefill_thpt_per_gpu,
            result.predicted.decode_thpt_per_gpu,
        );
        println!(
            "{name}: online P{} D{} / {} P{} D{} in {} deployments, objective regret {:.2}%",
            online_p.tp,
            online_d.tp,
            M::NAME,
            result.prefill.tp,
            result.decode.tp,
            cost.deployments,
            100.0 * (best - got) / best
        );
        assert!(got >= 0.95 * best, "{name}: regret over 5%");
        if !may_differ.contains(&name) {
            assert_eq!(
                (result.prefill.tp, result.decode.tp),
                (online_p.tp, online_d.tp),
                "{name}"
            );
        }
    }
}

fn stat(x: f64) -> Stat {
    Stat::new(x, x, x, x, x, x)
}

impl HostContext for FakeHost {
    fn estimate(&self, query: &EstimateQuery) -> Result<Estimate, PluginError> {
        self.state.borrow_mut().estimates += 1;
        let m = &self.model;
        let (tp, latency) = match *query {
            EstimateQuery::Prefill { tp, batch, isl } => (tp, Some(m.prefill_ms(tp, batch, isl))),
            EstimateQuery::Decode { tp, batch, context } => (tp, Some(m.decode_ms(tp, batch, context))),
            EstimateQuery::KvCapacity { tp } => (tp, None),
        };
        self.check_tp(tp)?;
        Ok(Estimate::new(latency, m.kv_tokens(tp)))
    }

    fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError> {
        let tp = match *request {
            DeployRequest::PrefillOnly { tp } | DeployRequest::DecodeOnly { tp } => tp,
            DeployRequest::Graph { decode_tp, .. } => decode_tp,
        };
        self.check_tp(tp)?;
        let mut st = self.state.borrow_mut();
        st.deploys += 1;
        st.next_id += 1;
        let kv_capacity_tokens = (self.model.kv_tokens(tp) as f64 * self.kv_ratio) as u64;
        let dep = Deployment::new(
            format!("fake-{}", st.next_id),
            *request,
            kv_capacity_tokens,
            self.max_batch,
        );
        st.live.insert(dep.id.clone(), dep.clone());
        Ok(dep)
    }

    fn measure(&self, deployment: &Deployment, probe: &Probe) -> Result<Measurement, PluginError> {
        let n = {
            let mut st = self.state.borrow_mut();
            if !st.live.contains_key(&deployment.id) {
                return Err(PluginError::new(
                    "not_deployed",
                    format!("{} is not deployed", deployment.id),
                ));
            }
            st.measures += 1;
            st.measures
        };
        if self.fail_measure_at == Some(n) {
            return Err(PluginError::new(
                "measure_failed",
                format!("injected failure of measurement {n}"),
            ));
        }
        let Probe::Concurrency {
            concurrency,
            requests,
            isl,
            osl,
            warmup,
        } = *probe
        else {
            return Err(PluginError::new(
                "unsupported",
                "the fake host only runs concurrency probes",
            ));
        };
        if u64::from(isl + osl) > deployment.kv_capacity_tokens {
            return Err(PluginError::new(
                "measure_failed",
                "one request does not fit in the KV cache",
            ));
        }
        let c = concurrency.max(1);
        let batch = c.min(self.max_batch);
        let waves = f64::from((requests + warmup).div_ceil(batch));
        let m = match deployment.request {
            DeployRequest::PrefillOnly { tp } => {
                let ttft = self.true_ttft(tp, isl) * f64::from(batch);
                let duration = waves * ttft / 1000.0;
                let itl = stat(self.model.decode_ms(tp, 1, isl));
                Measurement::new(u64::from(requests), 0, stat(ttft), itl, stat(ttft)).with_throughput(
                    f64::from(requests * osl) / duration,
                    f64::from(requests) / duration,
                    duration,
                )
            }
            DeployRequest::DecodeOnly { tp } | DeployRequest::Graph { decode_tp: tp, .. } => {
                let itl = self.true_itl(tp, c, isl, osl);
                let duration = waves * f64::from(osl) * itl / 1000.0;
                let thpt = self.true_decode_thpt_per_gpu(tp, c, isl, osl) * f64::from(tp);
                let latency = stat(itl * f64::from(osl));
                Measurement::new(u64::from(requests), 0, stat(itl), stat(itl), latency).with_throughput(
                    thpt,
                    thpt / f64::from(osl),
                    duration,
                )
            }
        };
        Ok(m)
    }

    fn teardown(&self, deployment: &Deployment) -> Result<(), PluginError> {
        let mut st = self.state.borrow_mut();
        if st.live.remove(&deployment.id).is_none() {
            return Err(PluginError::new(
                "unknown_deployment",
                format!("{} is not alive", deployment.id),
            ));
        }
        st.teardowns += 1;
        Ok(())
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.state.borrow_mut().logs.push((level, message.to_string()));
    }

    fn progress(&self, _done: u64, _total: u64, _message: &str) {
        self.state.borrow_mut().progress += 1;
    }

    fn cancelled(&self) -> bool {
        self.cancel_after_deploys
            .is_some_and(|n| self.state.borrow().deploys >= n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{run_session, Session};
    use crate::{candidate_tps, probe};

    #[test]
    fn model_resembles_the_reference() {
        let m = FakeModel::default();
        let ttft1 = m.prefill_ms(1, 1, 2048);
        assert!((150.0..250.0).contains(&ttft1), "{ttft1}");
        assert!(m.prefill_ms(8, 1, 2048) < m.prefill_ms(1, 1, 2048) / 3.0);
        let step = m.decode_ms(1, 1, 2300);
        assert!((15.0..22.0).contains(&step), "{step}");
        assert!(m.kv_tokens(2) > 2 * m.kv_tokens(1));
    }

    #[test]
    fn invalid_tp_is_not_a_candidate() {
        let mut host = FakeHost::new();
        host.valid_tps = vec![1, 2];
        let c = candidate_tps(&host, &[1, 2, 3, 4, 8]).unwrap();
        assert_eq!(c.iter().map(|c| c.tp).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(host.estimate_calls(), 4);
        host.valid_tps.clear();
        assert_eq!(candidate_tps(&host, &[1, 2]).unwrap_err().code, "no_candidates");
    }

    #[test]
    fn session_counts_and_tears_down_on_error() {
        let host = FakeHost::new().failing_measure(2);
        let (result, cost) = run_session(&host, |s: &Session| {
            let a = s.deploy(&DeployRequest::PrefillOnly { tp: 1 })?;
            let _b = s.deploy(&DeployRequest::DecodeOnly { tp: 2 })?;
            probe::measure_ttft(s, &a, 2048)?;
            probe::measure_ttft(s, &a, 2048)?; // fails
            Ok(())
        });
        assert_eq!(result.unwrap_err().code, "measure_failed");
        assert_eq!(host.live_count(), 0);
        assert_eq!(host.teardown_count(), 2);
        assert_eq!(cost.deployments, 2);
        // One measurement of 6 prefills at ~210 ms, charged to the 3 GPUs alive.
        let ttft = host.true_ttft(1, 2048);
        assert!((cost.duration_s - 6.0 * ttft / 1000.0).abs() < 1e-9);
        assert!((cost.gpu_hours - 3.0 * cost.duration_s / 3600.0).abs() < 1e-12);
    }

    #[test]
    fn session_drop_tears_down() {
        let host = FakeHost::new();
        {
            let s = Session::new(&host);
            s.deploy(&DeployRequest::DecodeOnly { tp: 4 }).unwrap();
            assert_eq!(host.live_count(), 1);
        }
        assert_eq!(host.live_count(), 0);
    }

    #[test]
    fn unknown_teardown_and_measure_are_errors() {
        let host = FakeHost::new();
        let dep = host.deploy(&DeployRequest::DecodeOnly { tp: 1 }).unwrap();
        host.teardown(&dep).unwrap();
        assert!(host.teardown(&dep).is_err());
        assert!(probe::measure_decode(&host, &dep, 100, 10, 1).is_err());
        assert!(host.deploy(&DeployRequest::DecodeOnly { tp: 3 }).is_err());
    }
}
