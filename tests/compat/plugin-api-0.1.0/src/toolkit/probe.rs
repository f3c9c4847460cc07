//! Rows and profile data through the host: measured on deployments, or estimated.
//!
//! Measuring: prefill TTFT is the p50 of single requests (`Probe::Concurrency` at concurrency 1,
//! OSL 5, one warm-up request) on a `PrefillOnly` deployment; decode ITL is the mean ITL and
//! throughput per GPU `output_token_throughput / tp` at each concurrency on a `DecodeOnly`
//! deployment, whose reported `kv_capacity_tokens` bounds the sweep. Estimating: `Prefill{tp,
//! batch 1, isl}` is a TTFT, `Decode{tp, batch, context}` one step (= ITL), and decode throughput
//! per GPU is `batch * 1000 / step_ms / tp`. Every host answer is checked; none is unwrapped.

use super::grid::{self, DecodePoint};
use super::{
    check_cancelled, concurrency_sweep, max_concurrency, Candidate, DecodeRow, PrefillRow, DECODE_SWEEP_POINTS,
};
use crate::{
    DecodeProfile, Deployment, EstimateQuery, HostContext, LogLevel, Measurement, PluginError, PrefillProfile, Probe,
    Sla,
};

/// Measured requests per prefill TTFT probe.
pub const PREFILL_REQUESTS: u32 = 5;
/// Output tokens of a prefill probe request.
pub const PREFILL_OSL: u32 = 5;
/// Unmeasured requests sent before each probe.
pub const WARMUP_REQUESTS: u32 = 1;
/// At least this many measured requests per decode probe (whole waves of `concurrency`).
pub const DECODE_MIN_REQUESTS: u32 = 5;

/// Context at which decode is estimated for the SLA shape: `isl + osl / 2`.
pub fn sla_context(sla: &Sla) -> u32 {
    sla.isl + sla.osl / 2
}

/// Measured requests for a decode probe at `concurrency`: whole waves, at least
/// [`DECODE_MIN_REQUESTS`].
pub fn decode_requests(concurrency: u32) -> u32 {
    let c = concurrency.max(1);
    c * DECODE_MIN_REQUESTS.div_ceil(c)
}

fn positive(value: f64, what: &str) -> Result<f64, PluginError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(PluginError::new(
            "measurement",
            format!("{what} is {value}, not a positive number"),
        ))
    }
}

fn completed(host: &dyn HostContext, m: &Measurement, what: &str) -> Result<(), PluginError> {
    if m.request_count == 0 {
        return Err(PluginError::new(
            "measurement",
            format!("no request completed during {what}"),
        ));
    }
    if m.error_count > 0 {
        host.log(LogLevel::Warn, &format!("{what}: {} request(s) failed", m.error_count));
    }
    Ok(())
}

/// GPUs of a single-engine deployment (= its TP).
pub fn gpus_of(deployment: &Deployment) -> u32 {
    deployment.request.gpus().max(1)
}

/// p50 TTFT (ms) of single requests of `isl` tokens on a prefill deployment.
pub fn measure_ttft(host: &dyn HostContext, deployment: &Deployment, isl: u32) -> Result<f64, PluginError> {
    let probe = Probe::Concurrency {
        concurrency: 1,
        requests: PREFILL_REQUESTS,
        isl,
        osl: PREFILL_OSL,
        warmup: WARMUP_REQUESTS,
    };
    let what = format!("prefill probe at isl {isl} on {}", deployment.id);
    let m = host.measure(deployment, &probe)?;
    completed(host, &m, &what)?;
    positive(m.ttft_ms.p50, &format!("p50 TTFT of the {what}"))
}

/// (mean ITL ms, output tokens/s per GPU) at `concurrency` on a decode deployment.
pub fn measure_decode(
    host: &dyn HostContext,
    deployment: &Deployment,
    isl: u32,
    osl: u32,
    concurrency: u32,
) -> Result<(f64, f64), PluginError> {
    let probe = Probe::Concurrency {
        concurrency,
        requests: decode_requests(concurrency),
        isl,
        osl,
        warmup: WARMUP_REQUESTS,
    };
    let what = format!(
        "decode probe at concurrency {concurrency}, isl {isl}, osl {osl} on {}",
        deployment.id
    );
    let m = host.measure(deployment, &probe)?;
    completed(host, &m, &what)?;
    let itl = positive(m.itl_ms.avg, &format!("mean ITL of the {what}"))?;
    let thpt = positive(m.output_token_throughput, &format!("output throughput of the {what}"))?;
    Ok((itl, thpt / f64::from(gpus_of(deployment))))
}

/// The prefill row of a deployment at the SLA ISL.
pub fn measured_prefill_row(
    host: &dyn HostContext,
    deployment: &Deployment,
    sla: &Sla,
) -> Result<PrefillRow, PluginError> {
    let tp = gpus_of(deployment);
    Ok(PrefillRow::new(tp, sla.isl, measure_ttft(host, deployment, sla.isl)?))
}

/// The decode rows of a deployment at the SLA ISL/OSL, over Dynamo's concurrency sweep up to
/// the deployment's KV capacity. Empty if one request does not fit.
pub fn measured_decode_rows(
    host: &dyn HostContext,
    deployment: &Deployment,
    sla: &Sla,
) -> Result<Vec<DecodeRow>, PluginError> {
    let tp = gpus_of(deployment);
    let sweep = concurrency_sweep(
        max_concurrency(deployment.kv_capacity_tokens, sla.isl, sla.osl),
        DECODE_SWEEP_POINTS,
    );
    if sweep.is_empty() {
        host.log(
            LogLevel::Warn,
            &format!(
                "decode TP{tp}: KV capacity {} holds no request of {} tokens",
                deployment.kv_capacity_tokens,
                sla.isl + sla.osl
            ),
        );
    }
    let mut rows = Vec::new();
    for concurrency in sweep {
        check_cancelled(host)?;
        let (itl_ms, thpt_per_gpu) = measure_decode(host, deployment, sla.isl, sla.osl, concurrency)?;
        rows.push(DecodeRow {
            tp,
            concurrency,
            itl_ms,
            thpt_per_gpu,
        });
    }
    Ok(rows)
}

/// The estimator's latency (ms) for a prefill or decode query.
pub fn estimate_latency(host: &dyn HostContext, query: &EstimateQuery) -> Result<f64, PluginError> {
    let est = host.estimate(query)?;
    match est.latency_ms {
        Some(ms) if ms.is_finite() && ms > 0.0 => Ok(ms),
        other => Err(PluginError::new(
            "host",
            format!("the estimator gave latency {other:?} for {query:?}"),
        )),
    }
}

/// Estimated TTFT (ms) of one request of `isl` tokens.
pub fn estimate_ttft(host: &dyn HostContext, tp: u32, isl: u32) -> Result<f64, PluginError> {
    estimate_latency(host, &EstimateQuery::Prefill { tp, batch: 1, isl })
}

/// Estimated decode step (= ITL, ms) of `batch` sequences at `context`.
pub fn estimate_itl(host: &dyn HostContext, tp: u32, batch: u32, context: u32) -> Result<f64, PluginError> {
    estimate_latency(host, &EstimateQuery::Decode { tp, batch, context })
}

/// Decode throughput per GPU implied by a step time.
pub fn thpt_from_step(batch: u32, step_ms: f64, tp: u32) -> f64 {
    f64::from(batch) * 1000.0 / step_ms / f64::from(tp)
}

/// The estimator's prefill row at the SLA ISL.
pub fn estimated_prefill_row(host: &dyn HostContext, tp: u32, sla: &Sla) -> Result<PrefillRow, PluginError> {
    Ok(PrefillRow::new(tp, sla.isl, estimate_ttft(host, tp, sla.isl)?))
}

/// The estimator's decode rows at the SLA shape over the concurrency sweep of `kv_tokens`.
pub fn estimated_decode_rows(
    host: &dyn HostContext,
    tp: u32,
    kv_tokens: u64,
    sla: &Sla,
) -> Result<Vec<DecodeRow>, PluginError> {
    let sweep = concurrency_sweep(max_concurrency(kv_tokens, sla.isl, sla.osl), DECODE_SWEEP_POINTS);
    sweep
        .into_iter()
        .map(|concurrency| {
            let itl_ms = estimate_itl(host, tp, concurrency, sla_context(sla))?;
            Ok(DecodeRow {
                tp,
                concurrency,
                itl_ms,
                thpt_per_gpu: thpt_from_step(concurrency, itl_ms, tp),
            })
        })
        .collect()
}

/// The estimator's rows for every candidate: one prefill row per prefill TP, the decode sweep
/// (up to the estimated KV capacity) per decode TP.
pub fn estimated_rows(
    host: &dyn HostContext,
    sla: &Sla,
    prefill: &[Candidate],
    decode: &[Candidate],
) -> Result<(Vec<PrefillRow>, Vec<DecodeRow>), PluginError> {
    let mut prefill_rows = Vec::new();
    for c in prefill {
        prefill_rows.push(estimated_prefill_row(host, c.tp, sla)?);
    }
    let mut decode_rows = Vec::new();
    for c in decode {
        decode_rows.extend(estimated_decode_rows(host, c.tp, c.kv_capacity_tokens, sla)?);
    }
    Ok((prefill_rows, decode_rows))
}

/// Measured-to-estimated ratios of the chosen TPs, to correct the estimator where nothing was
/// measured (geometric means over the measured rows; 1 = trust the estimator).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Correction {
    /// Measured / estimated prefill TTFT.
    pub prefill_ttft: f64,
    /// Measured / estimated ITL.
    pub decode_itl: f64,
    /// Measured / estimated decode throughput per GPU.
    pub decode_thpt: f64,
}

impl Correction {
    /// No correction: the estimator as is.
    pub const IDENTITY: Correction = Correction {
        prefill_ttft: 1.0,
        decode_itl: 1.0,
        decode_thpt: 1.0,
    };

    /// Ratios of measured rows of one prefill TP and one decode TP to the estimator's answers
    /// at the same points.
    pub fn fit(
        host: &dyn HostContext,
        sla: &Sla,
        prefill: &PrefillRow,
        decode: &[DecodeRow],
    ) -> Result<Self, PluginError> {
        let prefill_ttft = prefill.ttft_ms / estimate_ttft(host, prefill.tp, sla.isl)?;
        let (mut log_itl, mut log_thpt) = (0.0, 0.0);
        for row in decode {
            let est = estimate_itl(host, row.tp, row.concurrency, sla_context(sla))?;
            log_itl += (row.itl_ms / est).ln();
            log_thpt += (row.thpt_per_gpu / thpt_from_step(row.concurrency, est, row.tp)).ln();
        }
        let n = decode.len().max(1) as f64;
        Ok(Correction {
            prefill_ttft,
            decode_itl: (log_itl / n).exp(),
            decode_thpt: (log_thpt / n).exp(),
        })
    }

    /// Corrected TTFT (ms) at `isl`.
    pub fn ttft(&self, host: &dyn HostContext, tp: u32, isl: u32) -> Result<f64, PluginError> {
        Ok(estimate_ttft(host, tp, isl)? * self.prefill_ttft)
    }

    /// Corrected (ITL ms, throughput per GPU) at a decode point.
    pub fn decode(&self, host: &dyn HostContext, tp: u32, point: &DecodePoint) -> Result<(f64, f64), PluginError> {
        let step = estimate_itl(host, tp, point.concurrency, point.context_tokens())?;
        Ok((
            step * self.decode_itl,
            thpt_from_step(point.concurrency, step, tp) * self.decode_thpt,
        ))
    }
}

/// Profile data from the estimator (times a correction) on a prefill and a decode TP, no
/// deployment: the prefill ISL sweep up to `max_context`, the decode grid up to `max_context`
/// at the given KV capacity.
pub fn estimated_profile(
    host: &dyn HostContext,
    prefill_tp: u32,
    prefill_max_context: u32,
    decode_tp: u32,
    decode_max_context: u32,
    decode_kv_tokens: u64,
    correction: &Correction,
) -> Result<(PrefillProfile, DecodeProfile), PluginError> {
    let isls = grid::prefill_isls(prefill_max_context);
    let prefill = grid::prefill_profile(prefill_tp, &isls, |isl| {
        correction.ttft(host, prefill_tp, isl).map(Some)
    })?;
    let points = grid::decode_grid(decode_max_context, decode_kv_tokens);
    let decode = grid::decode_profile(decode_kv_tokens, &points, |p| {
        correction.decode(host, decode_tp, p).map(Some)
    })?;
    Ok((prefill, decode))
}

/// What to do with an interpolation point whose measurement failed.
pub enum OnFailure<'a> {
    /// Leave it out, as Dynamo does (logged as a warning).
    Skip,
    /// Fill it from the estimator times this correction.
    Estimate(&'a Correction),
}

fn failed_point(host: &dyn HostContext, err: PluginError, what: &str) -> Result<(), PluginError> {
    if err.code == "cancelled" || host.cancelled() {
        return Err(err);
    }
    host.log(
        LogLevel::Warn,
        &format!("{what} failed, point left to the fallback: {err}"),
    );
    Ok(())
}

/// Measured prefill profile data on a prefill deployment: the ISL sweep up to `max_context`.
/// A failed point is skipped or estimated (`on_failure`); cancellation stops the sweep.
pub fn measured_prefill_profile(
    host: &dyn HostContext,
    deployment: &Deployment,
    max_context: u32,
    on_failure: &OnFailure,
) -> Result<PrefillProfile, PluginError> {
    let tp = gpus_of(deployment);
    let isls = grid::prefill_isls(max_context);
    let total = isls.len() as u64;
    let mut done = 0;
    grid::prefill_profile(tp, &isls, |isl| {
        check_cancelled(host)?;
        done += 1;
        host.progress(done, total, &format!("prefill TP{tp} interpolation, isl {isl}"));
        match measure_ttft(host, deployment, isl) {
            Ok(ttft) => Ok(Some(ttft)),
            Err(err) => {
                failed_point(host, err, &format!("prefill TP{tp} at isl {isl}"))?;
                match on_failure {
                    OnFailure::Skip => Ok(None),
                    OnFailure::Estimate(c) => c.ttft(host, tp, isl).map(Some),
                }
            }
        }
    })
}

/// Measured decode profile data on a decode deployment: the decode grid up to `max_context` at
/// the deployment's KV capacity. Failed points as in [`measured_prefill_profile`].
pub fn measured_decode_profile(
    host: &dyn HostContext,
    deployment: &Deployment,
    max_context: u32,
    on_failure: &OnFailure,
) -> Result<DecodeProfile, PluginError> {
    let tp = gpus_of(deployment);
    let kv = deployment.kv_capacity_tokens;
    let points = grid::decode_grid(max_context, kv);
    let total = points.len() as u64;
    let mut done = 0;
    grid::decode_profile(kv, &points, |p| {
        check_cancelled(host)?;
        done += 1;
        host.progress(
            done,
            total,
            &format!("decode TP{tp} interpolation, isl {} x {}", p.isl, p.concurrency),
        );
        match measure_decode(host, deployment, p.isl, p.osl, p.concurrency) {
            Ok(v) => Ok(Some(v)),
            Err(err) => {
                failed_point(
                    host,
                    err,
                    &format!("decode TP{tp} at isl {}, concurrency {}", p.isl, p.concurrency),
                )?;
                match on_failure {
                    OnFailure::Skip => Ok(None),
                    OnFailure::Estimate(c) => c.decode(host, tp, p).map(Some),
                }
            }
        }
    })
}
