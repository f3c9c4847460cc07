//! The planner's reading of a method's profile data, as Dynamo's planner interpolates it:
//! prefill throughput per GPU at an ISL, and the best decode throughput per GPU whose ITL meets
//! a target at a context length.

use profcmp_plugin_api::{DecodeProfile, PrefillProfile};

/// Prefill throughput per GPU over ISL, piecewise linear (clamped at both ends).
#[derive(Clone, Debug)]
pub struct PrefillCurve {
    points: Vec<(f64, f64)>,
}

impl PrefillCurve {
    /// Checks the profile and sorts it by ISL.
    pub fn new(profile: &PrefillProfile) -> Result<PrefillCurve, String> {
        let n = profile.prefill_isl.len();
        if n == 0 {
            return Err("prefill profile: prefill_isl is empty (it needs at least one point)".into());
        }
        if profile.prefill_thpt_per_gpu.len() != n {
            return Err(format!(
                "prefill profile: prefill_isl has {n} points but prefill_thpt_per_gpu has {}; they must match",
                profile.prefill_thpt_per_gpu.len()
            ));
        }
        let mut points: Vec<(f64, f64)> = profile
            .prefill_isl
            .iter()
            .copied()
            .zip(profile.prefill_thpt_per_gpu.iter().copied())
            .collect();
        if let Some((isl, thpt)) = points
            .iter()
            .find(|(isl, thpt)| !isl.is_finite() || thpt.is_nan() || *thpt <= 0.0)
        {
            return Err(format!(
                "prefill profile: point (isl {isl}, thpt_per_gpu {thpt}) is invalid; throughput must be > 0"
            ));
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok(PrefillCurve { points })
    }

    /// Prefill tokens/s per GPU at `isl`.
    pub fn thpt_per_gpu(&self, isl: f64) -> f64 {
        interpolate(&self.points, isl)
    }
}

/// Decode ITL and throughput per GPU over (KV usage, context length).
#[derive(Clone, Debug)]
pub struct DecodeSurface {
    /// One curve per distinct context length, by increasing context.
    curves: Vec<ContextCurve>,
}

/// The profile points of one context length, by increasing KV usage.
#[derive(Clone, Debug)]
struct ContextCurve {
    context: f64,
    /// (KV usage, ITL ms).
    itl: Vec<(f64, f64)>,
    /// (KV usage, output tokens/s per GPU).
    thpt: Vec<(f64, f64)>,
}

impl ContextCurve {
    fn kv_range(&self) -> (f64, f64) {
        (self.itl[0].0, self.itl[self.itl.len() - 1].0)
    }
}

/// KV-usage steps scanned when looking for the best throughput (Dynamo uses a 100-point grid).
const KV_STEPS: usize = 100;

impl DecodeSurface {
    /// Checks the profile and groups it by context length.
    pub fn new(profile: &DecodeProfile) -> Result<DecodeSurface, String> {
        let n = profile.x_kv_usage.len();
        if n == 0 {
            return Err("decode profile: x_kv_usage is empty (it needs at least one point)".into());
        }
        for (name, len) in [
            ("y_context_length", profile.y_context_length.len()),
            ("z_itl", profile.z_itl.len()),
            ("z_thpt_per_gpu", profile.z_thpt_per_gpu.len()),
        ] {
            if len != n {
                return Err(format!(
                    "decode profile: x_kv_usage has {n} points but {name} has {len}; they must match"
                ));
            }
        }
        let mut curves: Vec<ContextCurve> = Vec::new();
        for i in 0..n {
            let (kv, ctx, itl, thpt) = (
                profile.x_kv_usage[i],
                profile.y_context_length[i],
                profile.z_itl[i],
                profile.z_thpt_per_gpu[i],
            );
            if ![kv, ctx, itl, thpt].iter().all(|v| v.is_finite()) || itl <= 0.0 || thpt <= 0.0 {
                return Err(format!(
                    "decode profile: point {i} (kv {kv}, context {ctx}, itl {itl}, thpt {thpt}) is invalid; \
                     itl and throughput must be > 0"
                ));
            }
            let index = match curves.iter().position(|c| c.context == ctx) {
                Some(index) => index,
                None => {
                    let empty = ContextCurve {
                        context: ctx,
                        itl: Vec::new(),
                        thpt: Vec::new(),
                    };
                    curves.push(empty);
                    curves.len() - 1
                }
            };
            curves[index].itl.push((kv, itl));
            curves[index].thpt.push((kv, thpt));
        }
        curves.sort_by(|a, b| a.context.total_cmp(&b.context));
        for curve in &mut curves {
            curve.itl.sort_by(|a, b| a.0.total_cmp(&b.0));
            curve.thpt.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Ok(DecodeSurface { curves })
    }

    /// Dynamo's `find_best_throughput_per_gpu`: scanning KV usage from high to low, the
    /// throughput per GPU at the first point whose ITL meets `itl_ms`; if none does, the
    /// throughput at the lowest KV usage. Between the two profiled context lengths around
    /// `context`, values are linear in context, over the KV range both of them cover (the
    /// nearer one alone when they do not overlap).
    pub fn best_thpt_per_gpu(&self, itl_ms: f64, context: f64) -> f64 {
        let upper = self
            .curves
            .partition_point(|c| c.context < context)
            .min(self.curves.len() - 1);
        let (lo, hi) = (&self.curves[upper.saturating_sub(1)], &self.curves[upper]);
        let mut weight = if hi.context > lo.context {
            ((context - lo.context) / (hi.context - lo.context)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (lo_range, hi_range) = (lo.kv_range(), hi.kv_range());
        let (mut from, mut to) = (lo_range.0.max(hi_range.0), lo_range.1.min(hi_range.1));
        let (mut first, mut second) = (lo, hi);
        if from > to {
            // No common KV range: use the nearer context alone.
            if weight >= 0.5 {
                first = hi;
            }
            second = first;
            weight = 0.0;
            (from, to) = first.kv_range();
        }
        let blend = |pick: fn(&ContextCurve) -> &[(f64, f64)], kv: f64| {
            let a = interpolate(pick(first), kv);
            a + (interpolate(pick(second), kv) - a) * weight
        };
        for step in (0..=KV_STEPS).rev() {
            let kv = from + (to - from) * step as f64 / KV_STEPS as f64;
            if blend(|c| &c.itl, kv) <= itl_ms {
                return blend(|c| &c.thpt, kv);
            }
        }
        blend(|c| &c.thpt, from)
    }
}

/// Piecewise-linear interpolation over points sorted by x, clamped at both ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    let i = points.partition_point(|p| p.0 <= x);
    if i == 0 {
        return points[0].1;
    }
    if i == points.len() {
        return points[points.len() - 1].1;
    }
    let ((x0, y0), (x1, y1)) = (points[i - 1], points[i]);
    if x1 == x0 {
        return y0;
    }
    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(kv: &[f64], ctx: &[f64], itl: &[f64], thpt: &[f64]) -> DecodeProfile {
        DecodeProfile {
            x_kv_usage: kv.to_vec(),
            y_context_length: ctx.to_vec(),
            z_itl: itl.to_vec(),
            z_thpt_per_gpu: thpt.to_vec(),
            max_kv_tokens: 10_000,
        }
    }

    #[test]
    fn prefill_curve_interpolates_and_clamps() {
        let profile = PrefillProfile {
            prefill_isl: vec![2000.0, 1000.0],
            prefill_ttft: vec![200.0, 100.0],
            prefill_thpt_per_gpu: vec![9000.0, 10000.0],
        };
        let curve = PrefillCurve::new(&profile).unwrap();
        assert_eq!(curve.thpt_per_gpu(1500.0), 9500.0);
        assert_eq!(curve.thpt_per_gpu(10.0), 10000.0);
        assert_eq!(curve.thpt_per_gpu(1e6), 9000.0);
        let bad = PrefillProfile {
            prefill_thpt_per_gpu: vec![1.0],
            ..profile
        };
        assert!(PrefillCurve::new(&bad).unwrap_err().contains("must match"));
    }

    #[test]
    fn best_decode_throughput_meets_the_itl_target() {
        let profile = decode(
            &[0.1, 0.5, 0.9, 0.1, 0.5, 0.9],
            &[1000.0, 1000.0, 1000.0, 3000.0, 3000.0, 3000.0],
            &[10.0, 20.0, 30.0, 20.0, 40.0, 60.0],
            &[100.0, 500.0, 900.0, 50.0, 250.0, 450.0],
        );
        let surface = DecodeSurface::new(&profile).unwrap();
        // At context 1000, ITL 20 is met up to kv 0.5.
        assert!((surface.best_thpt_per_gpu(20.0, 1000.0) - 500.0).abs() < 1e-9);
        // Everything meets a loose target: the highest KV usage.
        assert!((surface.best_thpt_per_gpu(100.0, 1000.0) - 900.0).abs() < 1e-9);
        // Nothing meets a tight target: the lowest KV usage.
        assert!((surface.best_thpt_per_gpu(1.0, 1000.0) - 100.0).abs() < 1e-9);
        // Halfway in context the two curves average: ITL 30 is met up to kv 0.5 (thpt 375).
        assert!((surface.best_thpt_per_gpu(30.001, 2000.0) - 375.0).abs() < 1e-6);
        let mismatched = DecodeProfile {
            z_itl: vec![1.0],
            ..profile
        };
        assert!(DecodeSurface::new(&mismatched).unwrap_err().contains("z_itl has 1"));
    }
}
