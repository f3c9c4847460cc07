//! Predicted TTFT and ITL at a load level, from a method's own profile data (domain.md §6).
//!
//! - TTFT: the prefill profile's TTFT, linearly interpolated at the ISL. Outside the measured
//!   ISL range it is extrapolated linearly from the two end points (TTFT grows about linearly
//!   with ISL), floored at 0. The prefill profile has no load axis, so TTFT is the same at
//!   every level unless the method gives explicit per-load predictions.
//! - ITL: at kv_usage = concurrency x context / max_kv_tokens with context = ISL + OSL/2. The
//!   decode grid is a set of rows of equal `y_context_length`; within a row ITL is linear in
//!   kv usage and held at the row's end values outside its kv range (no extrapolation: beyond
//!   the measured load the profile says nothing). Between the two rows that bracket the context
//!   the two row values are interpolated linearly in context; outside the context range the
//!   nearest row is used alone.
//! - Explicit `LoadPrediction`s win: exact concurrency, else linear between the two explicit
//!   points that bracket it; outside their range the profile data is used.

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

/// Predictions at `concurrency` for requests of `isl`/`osl` tokens.
pub fn predict_at(
    profile: &PlannerProfile,
    explicit: &[LoadPrediction],
    concurrency: u32,
    isl: u32,
    osl: u32,
) -> LevelPrediction {
    if let Some((ttft_ms, itl_ms)) = explicit_at(explicit, concurrency) {
        return LevelPrediction {
            concurrency,
            ttft_ms: Some(ttft_ms),
            itl_ms: Some(itl_ms),
            kv_usage: None,
            source: PredictionSource::Explicit,
        };
    }
    let context = f64::from(isl) + f64::from(osl) / 2.0;
    let kv_usage = kv_usage(&profile.decode, concurrency, context);
    LevelPrediction {
        concurrency,
        ttft_ms: predict_ttft(&profile.prefill, f64::from(isl)),
        itl_ms: kv_usage.and_then(|kv| predict_itl(&profile.decode, kv, context)),
        kv_usage,
        source: PredictionSource::ProfileData,
    }
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

/// KV usage of `concurrency` requests of `context` tokens on one decode worker.
pub fn kv_usage(decode: &DecodeProfile, concurrency: u32, context: f64) -> Option<f64> {
    (decode.max_kv_tokens > 0).then(|| f64::from(concurrency) * context / decode.max_kv_tokens as f64)
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
        PrefillProfile {
            prefill_isl: vec![100.0, 2621.0, 5142.0],
            prefill_ttft: vec![46.30453, 286.161764, 572.150154],
            prefill_thpt_per_gpu: vec![0.0; 3],
        }
    }

    fn decode() -> DecodeProfile {
        DecodeProfile {
            x_kv_usage: vec![0.1, 0.5, 0.1, 0.5],
            y_context_length: vec![1000.0, 1000.0, 3000.0, 3000.0],
            z_itl: vec![10.0, 20.0, 30.0, 40.0],
            z_thpt_per_gpu: vec![0.0; 4],
            max_kv_tokens: 10_000,
        }
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
        let p = predict_at(
            &PlannerProfile {
                prefill: prefill(),
                decode: d,
            },
            &[],
            2,
            1872,
            256,
        );
        assert_eq!(p.kv_usage, Some(0.4));
        assert_eq!(p.itl_ms, Some(17.5 + 0.5 * (37.5 - 17.5)));
        assert_eq!(p.source, PredictionSource::ProfileData);
    }

    #[test]
    fn explicit_predictions_win_and_interpolate() {
        let explicit = [
            LoadPrediction {
                concurrency: 1,
                ttft_ms: 100.0,
                itl_ms: 10.0,
            },
            LoadPrediction {
                concurrency: 5,
                ttft_ms: 500.0,
                itl_ms: 30.0,
            },
        ];
        let profile = PlannerProfile {
            prefill: prefill(),
            decode: decode(),
        };
        let p = predict_at(&profile, &explicit, 4, 2048, 256);
        assert_eq!(
            (p.ttft_ms, p.itl_ms, p.source),
            (Some(400.0), Some(25.0), PredictionSource::Explicit)
        );
        let p = predict_at(&profile, &explicit, 9, 2048, 256);
        assert_eq!(p.source, PredictionSource::ProfileData);
    }
}
