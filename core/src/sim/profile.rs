//! The planner's reading of a method's profile data, as Dynamo's planner interpolates it:
//! prefill throughput per GPU at an ISL, and the best decode throughput per GPU whose ITL meets
//! a target at a context length.

use profcmp_plugin_api::{DecodeProfile, PrefillProfile};

/// Prefill throughput per GPU and TTFT over ISL, as Dynamo's planner reads them: scipy's
/// `interp1d(kind="cubic")` (a not-a-knot cubic spline) with the ISL clamped to the profiled
/// range (`planner/utils/perf_interpolation.py`). Fewer than 4 points, where scipy would refuse
/// a cubic, are read piecewise linearly.
#[derive(Clone, Debug)]
pub struct PrefillCurve {
    thpt: Spline,
    ttft: Spline,
}

impl PrefillCurve {
    /// Checks the profile and sorts it by ISL.
    pub fn new(profile: &PrefillProfile) -> Result<PrefillCurve, String> {
        let n = profile.prefill_isl.len();
        if n == 0 {
            return Err("prefill profile: prefill_isl is empty (it needs at least one point)".into());
        }
        for (name, len) in [
            ("prefill_thpt_per_gpu", profile.prefill_thpt_per_gpu.len()),
            ("prefill_ttft", profile.prefill_ttft.len()),
        ] {
            if len != n {
                return Err(format!(
                    "prefill profile: prefill_isl has {n} points but {name} has {len}; they must match"
                ));
            }
        }
        let mut points: Vec<(f64, f64, f64)> = (0..n)
            .map(|i| {
                (
                    profile.prefill_isl[i],
                    profile.prefill_thpt_per_gpu[i],
                    profile.prefill_ttft[i],
                )
            })
            .collect();
        if let Some((isl, thpt, ttft)) = points.iter().find(|(isl, thpt, ttft)| {
            let positive = |v: f64| v > 0.0 && v.is_finite();
            !(isl.is_finite() && positive(*thpt) && positive(*ttft))
        }) {
            return Err(format!(
                "prefill profile: point (isl {isl}, thpt_per_gpu {thpt}, ttft {ttft}) is invalid; throughput and TTFT must be > 0"
            ));
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.dedup_by(|a, b| a.0 == b.0);
        Ok(PrefillCurve {
            thpt: Spline::new(points.iter().map(|p| (p.0, p.1)).collect()),
            ttft: Spline::new(points.iter().map(|p| (p.0, p.2)).collect()),
        })
    }

    /// Prefill tokens/s per GPU at `isl`.
    pub fn thpt_per_gpu(&self, isl: f64) -> f64 {
        self.thpt.at(isl)
    }

    /// TTFT of one request at `isl`, ms.
    pub fn ttft_ms(&self, isl: f64) -> f64 {
        self.ttft.at(isl)
    }
}

/// A not-a-knot cubic spline over points sorted by x, evaluated with x clamped to the range
/// (piecewise linear below 4 points).
#[derive(Clone, Debug)]
struct Spline {
    points: Vec<(f64, f64)>,
    /// Second derivatives at the points; empty = linear.
    second: Vec<f64>,
}

impl Spline {
    fn new(points: Vec<(f64, f64)>) -> Spline {
        let second = if points.len() >= 4 {
            not_a_knot_second_derivatives(&points).unwrap_or_default()
        } else {
            Vec::new()
        };
        Spline { points, second }
    }

    fn at(&self, x: f64) -> f64 {
        let (first, last) = (self.points[0].0, self.points[self.points.len() - 1].0);
        let x = x.clamp(first, last);
        if self.second.is_empty() {
            return interpolate(&self.points, x);
        }
        let i = self
            .points
            .partition_point(|p| p.0 <= x)
            .clamp(1, self.points.len() - 1)
            - 1;
        let ((x0, y0), (x1, y1)) = (self.points[i], self.points[i + 1]);
        let (m0, m1) = (self.second[i], self.second[i + 1]);
        let h = x1 - x0;
        let (a, b) = (x1 - x, x - x0);
        m0 * a.powi(3) / (6.0 * h)
            + m1 * b.powi(3) / (6.0 * h)
            + (y0 / h - m0 * h / 6.0) * a
            + (y1 / h - m1 * h / 6.0) * b
    }
}

/// Second derivatives of the not-a-knot cubic spline (scipy's default for `interp1d` cubic):
/// continuity of the second derivative inside, a continuous third derivative at the second and
/// the second-to-last point. A dense solve: profiles have tens of points.
fn not_a_knot_second_derivatives(points: &[(f64, f64)]) -> Option<Vec<f64>> {
    let n = points.len();
    let h: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    let mut a = vec![vec![0.0; n + 1]; n];
    a[0][0] = h[1];
    a[0][1] = -(h[0] + h[1]);
    a[0][2] = h[0];
    for i in 1..n - 1 {
        a[i][i - 1] = h[i - 1];
        a[i][i] = 2.0 * (h[i - 1] + h[i]);
        a[i][i + 1] = h[i];
        a[i][n] = 6.0 * ((points[i + 1].1 - points[i].1) / h[i] - (points[i].1 - points[i - 1].1) / h[i - 1]);
    }
    a[n - 1][n - 3] = h[n - 2];
    a[n - 1][n - 2] = -(h[n - 3] + h[n - 2]);
    a[n - 1][n - 1] = h[n - 3];
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..n {
            if row != col && a[row][col] != 0.0 {
                let factor = a[row][col] / a[col][col];
                let pivot_row = a[col].clone();
                for (x, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                    *x -= factor * p;
                }
            }
        }
    }
    Some((0..n).map(|i| a[i][n] / a[i][i]).collect())
}

/// Decode ITL and throughput per GPU over (KV usage, context length).
#[derive(Clone, Debug)]
pub struct DecodeSurface {
    /// One curve per distinct context length, by increasing context.
    curves: Vec<ContextCurve>,
    /// KV capacity the usages are fractions of, tokens.
    max_kv_tokens: f64,
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
        Ok(DecodeSurface {
            curves,
            max_kv_tokens: profile.max_kv_tokens as f64,
        })
    }

    /// Dynamo's `find_best_throughput_per_gpu`: scanning KV usage from high to low, the
    /// throughput per GPU at the first point whose ITL meets `itl_ms`; if none does, the
    /// throughput at the lowest KV usage. Between the two profiled context lengths around
    /// `context`, values are linear in context, over the KV range both of them cover (the
    /// nearer one alone when they do not overlap). Dynamo fills a 100 x 100 grid with scipy's
    /// cubic `griddata` instead; the linear reading is profcmp's (docs/planner.md, departures).
    pub fn best_thpt_per_gpu(&self, itl_ms: f64, context: f64) -> f64 {
        let view = self.at_context(context);
        let (from, to) = view.range;
        for step in (0..=KV_STEPS).rev() {
            let kv = from + (to - from) * step as f64 / KV_STEPS as f64;
            if view.blend(|c| &c.itl, kv) <= itl_ms {
                return view.blend(|c| &c.thpt, kv);
            }
        }
        view.blend(|c| &c.thpt, from)
    }

    /// ITL at `concurrency` requests of `context` tokens per decode worker, ms: the KV usage is
    /// concurrency x context / max_kv_tokens, as Dynamo 0.7's `interpolate_itl` reads it
    /// (clamped to the profiled usages).
    pub fn itl_ms(&self, concurrency: f64, context: f64) -> f64 {
        let view = self.at_context(context);
        let kv = if self.max_kv_tokens > 0.0 {
            concurrency * context / self.max_kv_tokens
        } else {
            view.range.0
        };
        view.blend(|c| &c.itl, kv.clamp(view.range.0, view.range.1))
    }

    /// The two profiled contexts around `context` and the blend between them: linear in
    /// context over the KV range both cover (the nearer one alone when they do not overlap).
    fn at_context(&self, context: f64) -> ContextView<'_> {
        let upper = self
            .curves
            .partition_point(|c| c.context < context)
            .min(self.curves.len() - 1);
        let (lo, hi) = (&self.curves[upper.saturating_sub(1)], &self.curves[upper]);
        let weight = if hi.context > lo.context {
            ((context - lo.context) / (hi.context - lo.context)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (lo_range, hi_range) = (lo.kv_range(), hi.kv_range());
        let (from, to) = (lo_range.0.max(hi_range.0), lo_range.1.min(hi_range.1));
        if from > to {
            let nearer = if weight >= 0.5 { hi } else { lo };
            return ContextView {
                first: nearer,
                second: nearer,
                weight: 0.0,
                range: nearer.kv_range(),
            };
        }
        ContextView {
            first: lo,
            second: hi,
            weight,
            range: (from, to),
        }
    }
}

/// A decode profile read at one context length.
struct ContextView<'a> {
    first: &'a ContextCurve,
    second: &'a ContextCurve,
    weight: f64,
    /// KV usages both curves cover.
    range: (f64, f64),
}

impl ContextView<'_> {
    fn blend(&self, pick: fn(&ContextCurve) -> &[(f64, f64)], kv: f64) -> f64 {
        let a = interpolate(pick(self.first), kv);
        a + (interpolate(pick(self.second), kv) - a) * self.weight
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
        DecodeProfile::new(kv.to_vec(), ctx.to_vec(), itl.to_vec(), thpt.to_vec(), 10_000)
    }

    #[test]
    fn prefill_curve_interpolates_and_clamps() {
        let profile = PrefillProfile::new(vec![2000.0, 1000.0], vec![200.0, 100.0], vec![9000.0, 10000.0]);
        // Two points: linear (scipy needs four for a cubic).
        let curve = PrefillCurve::new(&profile).unwrap();
        assert_eq!(curve.thpt_per_gpu(1500.0), 9500.0);
        assert_eq!(curve.thpt_per_gpu(10.0), 10000.0);
        assert_eq!(curve.thpt_per_gpu(1e6), 9000.0);
        let bad = PrefillProfile::new(profile.prefill_isl, profile.prefill_ttft, vec![1.0]);
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
        let mismatched = DecodeProfile::new(
            profile.x_kv_usage,
            profile.y_context_length,
            vec![1.0],
            profile.z_thpt_per_gpu,
            profile.max_kv_tokens,
        );
        assert!(DecodeSurface::new(&mismatched).unwrap_err().contains("z_itl has 1"));
    }
}
