//! The planner's interpolation grids (Dynamo's shapes) and their assembly into profile data.
//!
//! Prefill: 17 ISLs from 100 in equal steps up to a maximum context (Dynamo's granularity 16).
//! Decode: 6 ISLs from 100 at OSL 500, each with Dynamo's concurrency sweep up to the KV
//! capacity; a point's context is `isl + osl / 2` and its KV usage
//! `concurrency x context / max_kv_tokens`, clamped to [0, 1].

use super::{concurrency_sweep, max_concurrency, DecodeRow, PrefillRow, DECODE_SWEEP_POINTS};
use profcmp_plugin_api::{DecodeProfile, PluginError, PrefillProfile, Sla};

/// Steps of the prefill ISL sweep (17 points).
pub const PREFILL_GRANULARITY: u32 = 16;
/// Steps of the decode ISL sweep.
pub const DECODE_GRANULARITY: u32 = 6;
/// OSL of the decode interpolation runs (Dynamo: long enough for a stable ITL, short enough to
/// keep its variance low).
pub const DECODE_SWEEP_OSL: u32 = 500;
/// Smallest ISL of both sweeps.
pub const MIN_ISL: u32 = 100;

/// Default top of the sweeps: `8 x (ISL + OSL)` of the SLA. Dynamo sweeps up to the model's
/// maximum context, which the request does not carry; methods take it as the `max_context`
/// option (e.g. 40960 for Qwen3-32B reproduces Dynamo's grid).
pub fn default_max_context(sla: &Sla) -> u32 {
    sla.isl.saturating_add(sla.osl).saturating_mul(8)
}

/// The sweep top a method uses: its option or the default, never below the SLA's ISL + OSL,
/// never above one worker's KV capacity (one request must fit).
pub fn max_context(option: Option<u32>, sla: &Sla, kv_capacity_tokens: u64) -> u32 {
    let wanted = option
        .unwrap_or_else(|| default_max_context(sla))
        .max(sla.isl.saturating_add(sla.osl));
    u64::from(wanted).min(kv_capacity_tokens).max(1) as u32
}

/// Dynamo's prefill ISLs: `100 + k * step` for `k = 0..=16`, `step = (max - 100) / 16`, at most `max`.
pub fn prefill_isls(max_isl: u32) -> Vec<u32> {
    if max_isl <= MIN_ISL {
        return vec![max_isl.max(1)];
    }
    let step = ((max_isl - MIN_ISL) / PREFILL_GRANULARITY).max(1);
    (0..=PREFILL_GRANULARITY)
        .map(|k| MIN_ISL + k * step)
        .filter(|&isl| isl <= max_isl)
        .collect()
}

/// One decode interpolation run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodePoint {
    /// Input tokens.
    pub isl: u32,
    /// Output tokens.
    pub osl: u32,
    /// Requests in flight.
    pub concurrency: u32,
}

impl DecodePoint {
    /// Mean context during decode: `isl + osl / 2`.
    pub fn context(&self) -> f64 {
        f64::from(self.isl) + f64::from(self.osl) / 2.0
    }

    /// The context as whole tokens, for estimator queries.
    pub fn context_tokens(&self) -> u32 {
        self.isl + self.osl / 2
    }
}

/// Dynamo's decode grid: ISLs `range(100, max - 500, (max - 500) / 6)` at OSL 500, each with the
/// concurrency sweep up to `max_kv_tokens // (isl + 500)`; ISLs where no request fits are left out.
pub fn decode_grid(max_context: u32, max_kv_tokens: u64) -> Vec<DecodePoint> {
    let osl = DECODE_SWEEP_OSL;
    let top = max_context.saturating_sub(osl);
    let isls: Vec<u32> = if top <= MIN_ISL {
        vec![MIN_ISL]
    } else {
        let step = (top / DECODE_GRANULARITY).max(1) as usize;
        (MIN_ISL..top).step_by(step).collect()
    };
    let mut out = Vec::new();
    for isl in isls {
        for concurrency in concurrency_sweep(max_concurrency(max_kv_tokens, isl, osl), DECODE_SWEEP_POINTS) {
            out.push(DecodePoint { isl, osl, concurrency });
        }
    }
    out
}

/// `concurrency x context / max_kv_tokens`, clamped to [0, 1].
pub fn kv_usage(concurrency: u32, context: f64, max_kv_tokens: u64) -> f64 {
    if max_kv_tokens == 0 {
        return 1.0;
    }
    (f64::from(concurrency) * context / max_kv_tokens as f64).clamp(0.0, 1.0)
}

/// Prefill profile data at `isls` on TP `tp`: `ttft_at(isl)` gives a TTFT in ms, or None to
/// leave the point out (as Dynamo does with a failed run).
pub fn prefill_profile(
    tp: u32,
    isls: &[u32],
    mut ttft_at: impl FnMut(u32) -> Result<Option<f64>, PluginError>,
) -> Result<PrefillProfile, PluginError> {
    let mut out = PrefillProfile::default();
    for &isl in isls {
        if let Some(ttft) = ttft_at(isl)? {
            let row = PrefillRow::new(tp, isl, ttft);
            out.prefill_isl.push(f64::from(isl));
            out.prefill_ttft.push(row.ttft_ms);
            out.prefill_thpt_per_gpu.push(row.thpt_per_gpu);
        }
    }
    Ok(out)
}

/// Decode profile data over `points`: `at(point)` gives (ITL ms, output tokens/s per GPU), or
/// None to leave the point out.
pub fn decode_profile(
    max_kv_tokens: u64,
    points: &[DecodePoint],
    mut at: impl FnMut(&DecodePoint) -> Result<Option<(f64, f64)>, PluginError>,
) -> Result<DecodeProfile, PluginError> {
    let mut out = DecodeProfile::new(Vec::new(), Vec::new(), Vec::new(), Vec::new(), max_kv_tokens);
    for point in points {
        if let Some((itl, thpt)) = at(point)? {
            out.x_kv_usage
                .push(kv_usage(point.concurrency, point.context(), max_kv_tokens));
            out.y_context_length.push(point.context());
            out.z_itl.push(itl);
            out.z_thpt_per_gpu.push(thpt);
        }
    }
    Ok(out)
}

/// Adds a measured point at `isl` to prefill data, keeping ISLs strictly increasing (replaces a
/// point at the same ISL).
pub fn merge_prefill_row(profile: &mut PrefillProfile, isl: u32, row: &PrefillRow) {
    let x = f64::from(isl);
    match profile.prefill_isl.iter().position(|&i| i >= x) {
        Some(i) if profile.prefill_isl[i] == x => {
            profile.prefill_ttft[i] = row.ttft_ms;
            profile.prefill_thpt_per_gpu[i] = row.thpt_per_gpu;
        }
        Some(i) => {
            profile.prefill_isl.insert(i, x);
            profile.prefill_ttft.insert(i, row.ttft_ms);
            profile.prefill_thpt_per_gpu.insert(i, row.thpt_per_gpu);
        }
        None => {
            profile.prefill_isl.push(x);
            profile.prefill_ttft.push(row.ttft_ms);
            profile.prefill_thpt_per_gpu.push(row.thpt_per_gpu);
        }
    }
}

/// Adds decode rows measured at the SLA shape (context `isl + osl / 2`) to decode data.
pub fn merge_decode_rows(profile: &mut DecodeProfile, sla: &Sla, rows: &[DecodeRow]) {
    let context = f64::from(sla.isl) + f64::from(sla.osl) / 2.0;
    for row in rows {
        profile
            .x_kv_usage
            .push(kv_usage(row.concurrency, context, profile.max_kv_tokens));
        profile.y_context_length.push(context);
        profile.z_itl.push(row.itl_ms);
        profile.z_thpt_per_gpu.push(row.thpt_per_gpu);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefill_isls_match_dynamo() {
        // Dynamo's grid in the 2026-01 AIC fixture: 100, 2621, ..., 40436.
        let isls = prefill_isls(40448);
        assert_eq!(isls.len(), 17);
        assert_eq!((isls[0], isls[1], isls[16]), (100, 2621, 40436));
        assert!(isls.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(prefill_isls(50), vec![50]);
        assert!(prefill_isls(110).iter().all(|&i| i <= 110));
    }

    #[test]
    fn decode_grid_matches_dynamo() {
        // The 2026-01 AIC fixture: contexts 350, 7093, ..., 34065 at 502272 KV tokens.
        let grid = decode_grid(40960, 502_272);
        let mut contexts: Vec<f64> = grid.iter().map(|p| p.context()).collect();
        contexts.dedup();
        assert_eq!(contexts, vec![350.0, 7093.0, 13836.0, 20579.0, 27322.0, 34065.0]);
        let first: Vec<u32> = grid.iter().filter(|p| p.isl == 100).map(|p| p.concurrency).collect();
        assert_eq!(first, vec![1, 168, 335, 502, 669, 837]);
        let usage = kv_usage(168, 350.0, 502_272);
        assert!((usage - 0.117_068_042_813_455_66).abs() < 1e-12);
        assert_eq!(kv_usage(10, 1e9, 100), 1.0);
    }

    #[test]
    fn max_context_respects_sla_and_capacity() {
        let sla = Sla::new(2048, 256, 500.0, 50.0);
        assert_eq!(max_context(None, &sla, 1_000_000), 18432);
        assert_eq!(max_context(Some(1000), &sla, 1_000_000), 2304);
        assert_eq!(max_context(None, &sla, 5000), 5000);
    }

    #[test]
    fn merging_keeps_isl_order() {
        let mut p = prefill_profile(1, &[100, 1000, 3000], |isl| Ok(Some(f64::from(isl) / 10.0))).unwrap();
        merge_prefill_row(&mut p, 2048, &PrefillRow::new(1, 2048, 300.0));
        merge_prefill_row(&mut p, 1000, &PrefillRow::new(1, 1000, 111.0));
        merge_prefill_row(&mut p, 5000, &PrefillRow::new(1, 5000, 600.0));
        assert_eq!(p.prefill_isl, vec![100.0, 1000.0, 2048.0, 3000.0, 5000.0]);
        assert_eq!(p.prefill_ttft[1], 111.0);
        assert_eq!(p.prefill_ttft[2], 300.0);
    }

    #[test]
    fn assembly_skips_missing_points() {
        let grid = decode_grid(3000, 100_000);
        let d = decode_profile(100_000, &grid, |pt| {
            Ok((pt.concurrency % 2 == 1).then_some((10.0, 100.0)))
        })
        .unwrap();
        assert!(!d.z_itl.is_empty() && d.z_itl.len() < grid.len());
        assert!(d.x_kv_usage.iter().all(|x| (0.0..=1.0).contains(x)));
    }
}
