//! Predicted TTFT and ITL at a load level, from a method's own profile data (domain.md §6,
//! docs/comparison-schema.md "Predictions").
//!
//! One closed-loop model, applied to every method alike, of the validated graph (one prefill
//! and one decode worker) under `c` requests in flight, each of `isl` input and `osl` output
//! tokens:
//! - prefill: the profile's isolated TTFT `T_p` at the ISL (linear interpolation, linear
//!   extrapolation from the end points, floored at 0); the worker's service time per prompt
//!   `S_p = isl / (prefill_thpt_per_gpu(isl) x prefill TP)` (the profile's throughput; `T_p` when
//!   the throughput or the TP is unknown), one prompt at a time;
//! - decode: ITL at batch `n` is read in the decode profile at kv_usage = n x ctx / max_kv_tokens
//!   and ctx = ISL + OSL/2 (the grid rule below); a request spends `osl` steps in decode, the
//!   first of which makes its first token (as in a disaggregated graph, where tokens come out of
//!   the decode worker);
//! - the loop: throughput `X = min(c / (T_p + osl x ITL(n)), 1 / S_p)`, the decode batch by
//!   Little's law `n = X x osl x ITL(n)` (solved as a fixed point), and the time a request waits
//!   for the prefill worker `W = c / X - T_p - osl x ITL(n)`. Service times are taken as deterministic, so nothing waits below saturation and
//!   the wait grows linearly with `c` past it (asymptotic bounds of a closed system; NVIDIA's
//!   real run follows them: 1.55 s idle TTFT, 2.52 s at c=7, 3.58 s at c=8 where the bound gives
//!   2.49 s and 3.61 s). The decode batch is not capped: a profile's `max_kv_tokens` scales its
//!   kv-usage axis but is not always the engine's capacity (NVIDIA's real Online-ALL profile says
//!   8224 tokens, 3 requests, on a graph that ran 8 at once without waiting).
//! - predicted TTFT = W + T_p + ITL(n); predicted ITL = ITL(n). Without decode data, TTFT = T_p.
//!
//! Decode grid rule: the grid is a set of rows of equal `y_context_length`; within a row ITL is
//! linear in kv usage and held at the row's end values outside its kv range (no extrapolation:
//! beyond the measured load the profile says nothing). Between the two rows that bracket the
//! context the two row values are interpolated linearly in context; outside the context range
//! the nearest row is used alone.
//!
//! Explicit `LoadPrediction`s win: exact concurrency, else linear between the two explicit
//! points that bracket it; outside their range the model above is used.
//!
//! Nothing in a profile sees the KV handoff between the workers or the frontend (except what a
//! measured prefill probe includes): their time is part of every method's error.

use profcmp_plugin_api::{DecodeProfile, LoadPrediction, PlannerProfile, PrefillProfile};
use serde::{Deserialize, Serialize};

use crate::layout::LEVELS;

/// Where a prediction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictionSource {
    /// The method's explicit per-load predictions.
    Explicit,
    /// Interpolated in the method's planner profile data.
    ProfileData,
}

/// Predicted latencies at one concurrency.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelPrediction {
    /// Concurrent requests.
    pub concurrency: u32,
    /// Predicted TTFT, ms (absent when the data cannot give one).
    pub ttft_ms: Option<f64>,
    /// Predicted ITL, ms (absent when the data cannot give one).
    pub itl_ms: Option<f64>,
    /// KV usage the ITL was read at (profile data only).
    pub kv_usage: Option<f64>,
    /// Decode batch by Little's law (profile data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode_batch: Option<f64>,
    /// Time a request waits for the prefill worker, ms (profile data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_ms: Option<f64>,
    /// Predicted throughput, requests/s (profile data only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput_rps: Option<f64>,
    /// Where the numbers came from.
    pub source: PredictionSource,
}

/// The four validate levels for capacity `capacity_b` (max concurrent requests of a deployment):
/// idle 1, medium ceil(0.5 B), saturation ceil(0.9 B), overload max(ceil(1.1 B), saturation + 1).
pub fn load_levels(capacity_b: u32) -> [(&'static str, u32); 4] {
    let b = capacity_b.max(1);
    let medium = b.div_ceil(2);
    let saturation = (9 * b).div_ceil(10);
    let overload = (11 * b).div_ceil(10).max(saturation + 1);
    [
        (LEVELS[0], 1),
        (LEVELS[1], medium),
        (LEVELS[2], saturation),
        (LEVELS[3], overload),
    ]
}

/// Predictions at `concurrency` for requests of `isl`/`osl` tokens on one prefill worker at
/// `prefill_tp` (None: unknown, the service time is the TTFT) and one decode worker.
pub fn predict_at(
    profile: &PlannerProfile,
    explicit: &[LoadPrediction],
    concurrency: u32,
    isl: u32,
    osl: u32,
    prefill_tp: Option<u32>,
) -> LevelPrediction {
    if let Some((ttft_ms, itl_ms)) = explicit_at(explicit, concurrency) {
        return LevelPrediction {
            concurrency,
            ttft_ms: Some(ttft_ms),
            itl_ms: Some(itl_ms),
            kv_usage: None,
            decode_batch: None,
            queue_ms: None,
            throughput_rps: None,
            source: PredictionSource::Explicit,
        };
    }
    let mut prediction = LevelPrediction {
        concurrency,
        ttft_ms: None,
        itl_ms: None,
        kv_usage: None,
        decode_batch: None,
        queue_ms: None,
        throughput_rps: None,
        source: PredictionSource::ProfileData,
    };
    let context = f64::from(isl) + f64::from(osl) / 2.0;
    let prefill_ms = predict_ttft(&profile.prefill, f64::from(isl));
    prediction.ttft_ms = prefill_ms;
    let decode = &profile.decode;
    let itl_at = |batch: f64| predict_itl(decode, kv_usage(decode, batch, context)?, context);
    let (Some(prefill_ms), Some(_)) = (prefill_ms, itl_at(1.0)) else {
        return prediction;
    };
    let service_ms = prefill_tp
        .and_then(|tp| {
            let per_gpu = interpolate(
                &profile.prefill.prefill_isl,
                &profile.prefill.prefill_thpt_per_gpu,
                f64::from(isl),
            )?;
            (per_gpu > 0.0).then(|| f64::from(isl) * 1e3 / (per_gpu * f64::from(tp)))
        })
        .unwrap_or(prefill_ms)
        .max(1e-9);
    let (c, steps) = (f64::from(concurrency.max(1)), f64::from(osl.max(1)));
    let mut batch = c;
    let (mut itl, mut throughput) = (0.0, 0.0);
    for _ in 0..200 {
        itl = itl_at(batch).unwrap_or(f64::NAN).max(1e-9);
        let decode_ms = steps * itl;
        throughput = (c / (prefill_ms + decode_ms)).min(1.0 / service_ms);
        let next = throughput * decode_ms;
        if (next - batch).abs() < 1e-9 {
            break;
        }
        batch = 0.5 * (batch + next);
    }
    let queue = (c / throughput - prefill_ms - steps * itl).max(0.0);
    prediction.ttft_ms = Some(queue + prefill_ms + itl);
    prediction.itl_ms = Some(itl);
    prediction.kv_usage = kv_usage(decode, batch, context);
    prediction.decode_batch = Some(batch);
    prediction.queue_ms = Some(queue);
    prediction.throughput_rps = Some(throughput * 1e3);
    prediction
}

/// Linear interpolation of `ys` over `xs` at `x`, held at the end values; None without points.
fn interpolate(xs: &[f64], ys: &[f64], x: f64) -> Option<f64> {
    let points: Vec<(f64, f64)> = (xs.iter().copied().zip(ys.iter().copied()))
        .filter(|(a, b)| a.is_finite() && b.is_finite())
        .collect();
    (!points.is_empty()).then(|| held_interpolation(&points, x))
}

/// Prefill TTFT at `isl`, ms: linear interpolation, linear extrapolation at the ends, floored at 0.
pub fn predict_ttft(prefill: &PrefillProfile, isl: f64) -> Option<f64> {
    let mut points: Vec<(f64, f64)> = prefill
        .prefill_isl
        .iter()
        .copied()
        .zip(prefill.prefill_ttft.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points.dedup_by(|a, b| a.0 == b.0);
    let value = match points.len() {
        0 => return None,
        1 => points[0].1,
        n => {
            let i = points.partition_point(|p| p.0 <= isl).clamp(1, n - 1);
            line(points[i - 1], points[i], isl)
        }
    };
    Some(value.max(0.0))
}

/// KV usage of `batch` sequences of `context` tokens on one decode worker.
pub fn kv_usage(decode: &DecodeProfile, batch: f64, context: f64) -> Option<f64> {
    (decode.max_kv_tokens > 0).then(|| batch * context / decode.max_kv_tokens as f64)
}

/// Decode ITL at `kv_usage` and `context`, ms (see the module doc for the grid rule).
pub fn predict_itl(decode: &DecodeProfile, kv_usage: f64, context: f64) -> Option<f64> {
    let mut rows: Vec<(f64, Vec<(f64, f64)>)> = Vec::new();
    let points = decode
        .x_kv_usage
        .iter()
        .zip(&decode.y_context_length)
        .zip(&decode.z_itl);
    for ((&x, &y), &z) in points.filter(|((x, y), z)| x.is_finite() && y.is_finite() && z.is_finite()) {
        match rows.iter_mut().find(|r| r.0 == y) {
            Some(row) => row.1.push((x, z)),
            None => rows.push((y, vec![(x, z)])),
        }
    }
    if rows.is_empty() {
        return None;
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let at = |row: &Vec<(f64, f64)>| held_interpolation(row, kv_usage);
    let above = rows.partition_point(|r| r.0 < context);
    if above == 0 {
        return Some(at(&rows[0].1));
    }
    if above == rows.len() {
        return Some(at(&rows[rows.len() - 1].1));
    }
    let (lo, hi) = (&rows[above - 1], &rows[above]);
    Some(line((lo.0, at(&lo.1)), (hi.0, at(&hi.1)), context))
}

/// Explicit prediction at `concurrency`: exact, else linear between the bracketing points.
fn explicit_at(explicit: &[LoadPrediction], concurrency: u32) -> Option<(f64, f64)> {
    if let Some(p) = explicit.iter().find(|p| p.concurrency == concurrency) {
        return Some((p.ttft_ms, p.itl_ms));
    }
    let below = explicit
        .iter()
        .filter(|p| p.concurrency < concurrency)
        .max_by_key(|p| p.concurrency)?;
    let above = explicit
        .iter()
        .filter(|p| p.concurrency > concurrency)
        .min_by_key(|p| p.concurrency)?;
    let (x0, x1, x) = (
        f64::from(below.concurrency),
        f64::from(above.concurrency),
        f64::from(concurrency),
    );
    Some((
        line((x0, below.ttft_ms), (x1, above.ttft_ms), x),
        line((x0, below.itl_ms), (x1, above.itl_ms), x),
    ))
}

/// Linear interpolation over `(x, y)` points, held at the end values outside their range.
fn held_interpolation(points: &[(f64, f64)], x: f64) -> f64 {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    if x <= first.0 {
        return first.1;
    }
    if x >= last.0 {
        return last.1;
    }
    let i = sorted.partition_point(|p| p.0 <= x);
    line(sorted[i - 1], sorted[i], x)
}

/// The line through `a` and `b` at `x` (a's value when both have the same x).
fn line(a: (f64, f64), b: (f64, f64), x: f64) -> f64 {
    if b.0 == a.0 {
        return a.1;
    }
    a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefill() -> PrefillProfile {
        PrefillProfile::new(
            vec![100.0, 2621.0, 5142.0],
            vec![46.30453, 286.161764, 572.150154],
            vec![0.0; 3],
        )
    }

    fn decode() -> DecodeProfile {
        DecodeProfile::new(
            vec![0.1, 0.5, 0.1, 0.5],
            vec![1000.0, 1000.0, 3000.0, 3000.0],
            vec![10.0, 20.0, 30.0, 40.0],
            vec![0.0; 4],
            10_000,
        )
    }

    #[test]
    fn load_levels_follow_the_definition() {
        assert_eq!(load_levels(8).map(|l| l.1), [1, 4, 8, 9]);
        assert_eq!(load_levels(10).map(|l| l.1), [1, 5, 9, 11]);
        assert_eq!(load_levels(1).map(|l| l.1), [1, 1, 1, 2]);
        assert_eq!(load_levels(100).map(|l| l.1), [1, 50, 90, 110]);
        assert_eq!(load_levels(8)[3].0, "overload");
    }

    #[test]
    fn ttft_interpolates_and_extrapolates_linearly() {
        let at_2048 = predict_ttft(&prefill(), 2048.0).unwrap();
        assert!((at_2048 - 231.6).abs() < 0.1, "{at_2048}");
        let beyond = predict_ttft(&prefill(), 7663.0).unwrap();
        assert!((beyond - (572.150154 + (572.150154 - 286.161764))).abs() < 1e-6);
        let below = predict_ttft(&prefill(), 0.0).unwrap();
        assert!((below - (46.30453 - 100.0 * (286.161764 - 46.30453) / 2521.0)).abs() < 1e-9);
        assert_eq!(predict_ttft(&prefill(), -1e6), Some(0.0));
        assert_eq!(predict_ttft(&PrefillProfile::default(), 10.0), None);
    }

    #[test]
    fn itl_is_linear_in_kv_within_rows_and_in_context_between_rows() {
        let d = decode();
        assert_eq!(predict_itl(&d, 0.3, 1000.0), Some(15.0));
        assert_eq!(predict_itl(&d, 0.3, 2000.0), Some(25.0));
        assert_eq!(predict_itl(&d, 0.9, 500.0), Some(20.0)); // held at the row end, nearest row
        assert_eq!(predict_itl(&d, 0.0, 9000.0), Some(30.0));
    }

    /// A profile with a flat prefill (TTFT `ttft` ms, throughput per GPU `isl / ttft`) and ITL
    /// `itl0 + slope x kv usage` at every context.
    fn flat(ttft: f64, itl0: f64, slope: f64, max_kv_tokens: u64) -> PlannerProfile {
        let per_gpu = 2048.0 * 1e3 / ttft;
        PlannerProfile::new(
            PrefillProfile::new(vec![1024.0, 4096.0], vec![ttft, ttft], vec![per_gpu, per_gpu]),
            DecodeProfile::new(
                vec![0.0, 1.0],
                vec![2176.0, 2176.0],
                vec![itl0, itl0 + slope],
                vec![0.0; 2],
                max_kv_tokens,
            ),
        )
    }

    #[test]
    fn closed_loop_waits_only_past_saturation_and_then_linearly() {
        // Flat ITL 20 ms: a request spends 200 + 256 x 20 = 5320 ms in the loop, 200 ms of it
        // on the prefill worker, so it saturates at N* = 26.6 requests in flight.
        let profile = flat(200.0, 20.0, 0.0, 10_000_000);
        let at = |c| predict_at(&profile, &[], c, 2048, 256, Some(1));
        let idle = at(1);
        assert!((idle.ttft_ms.unwrap() - 220.0).abs() < 1e-6, "{idle:?}");
        assert_eq!(idle.queue_ms, Some(0.0));
        assert!((at(26).ttft_ms.unwrap() - 220.0).abs() < 1e-6, "no wait below N*");
        for c in [40, 80] {
            let p = at(c);
            let expected_wait = f64::from(c) * 200.0 - 5320.0;
            assert!((p.queue_ms.unwrap() - expected_wait).abs() < 1e-3, "{p:?}");
            assert!((p.throughput_rps.unwrap() - 5.0).abs() < 1e-9);
            // Little's law: the decode batch is throughput x time in decode.
            assert!((p.decode_batch.unwrap() - 5.0 * 5.12).abs() < 1e-6);
        }
        // Twice the prefill TP at the same throughput per GPU: saturation throughput doubles.
        let wide = predict_at(&profile, &[], 80, 2048, 256, Some(2));
        assert!((wide.throughput_rps.unwrap() - 10.0).abs() < 1e-9, "{wide:?}");
        // Without the TP the service time is the TTFT.
        assert_eq!(
            predict_at(&profile, &[], 80, 2048, 256, None).throughput_rps,
            at(80).throughput_rps
        );
    }

    #[test]
    fn itl_is_read_at_the_littles_law_batch() {
        // ITL 10 ms + 10 ms per unit of kv usage; 21_760 KV tokens = 10 sequences of 2176.
        let profile = flat(100.0, 10.0, 10.0, 21_760);
        let p = predict_at(&profile, &[], 8, 2048, 256, Some(1));
        let (batch, itl) = (p.decode_batch.unwrap(), p.itl_ms.unwrap());
        assert!((itl - (10.0 + batch / 10.0 * 10.0)).abs() < 1e-6, "{p:?}");
        let cycle = 100.0 + 256.0 * itl;
        assert!((batch - 8.0 * 256.0 * itl / cycle).abs() < 1e-6, "{p:?}");
        assert!(batch < 8.0 && p.queue_ms == Some(0.0));
        // A batch past the profile's kv range reads the row's end value.
        let p = predict_at(&profile, &[], 400, 2048, 256, Some(1));
        assert!(
            p.decode_batch.unwrap() > 10.0 && (p.itl_ms.unwrap() - 20.0).abs() < 1e-9,
            "{p:?}"
        );
    }

    #[test]
    fn explicit_predictions_win_and_interpolate() {
        let explicit = [LoadPrediction::new(1, 100.0, 10.0), LoadPrediction::new(5, 500.0, 30.0)];
        let profile = PlannerProfile::new(prefill(), decode());
        let p = predict_at(&profile, &explicit, 4, 2048, 256, None);
        assert_eq!(
            (p.ttft_ms, p.itl_ms, p.source),
            (Some(400.0), Some(25.0), PredictionSource::Explicit)
        );
        let p = predict_at(&profile, &explicit, 9, 2048, 256, None);
        assert_eq!(p.source, PredictionSource::ProfileData);
    }
}
