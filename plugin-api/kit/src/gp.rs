//! A small Gaussian process (RBF + linear + bias kernel, Cholesky) and expected improvement.
//!
//! Our own ~150 lines rather than a GP crate: the data sets are tiny (under 100 points), the
//! hyperparameters are fixed priors chosen by the method (too few points to fit them), and the
//! API crate, which every plugin and the host build, stays free of a linear-algebra dependency.

use profcmp_plugin_api::PluginError;

/// Covariance of a GP over feature vectors:
/// `bias_var + sum_j linear_var[j] x_j x'_j + rbf_var exp(-sum_j (x_j - x'_j)^2 / (2 length_scale[j]^2))`,
/// plus `noise_var` on the diagonal of the training points.
///
/// The bias and linear terms are a Bayesian linear trend (prior variance of intercept and slopes);
/// the RBF term is a smooth residual around it.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// Prior variance of the intercept.
    pub bias_var: f64,
    /// Prior variance of the slope along each feature.
    pub linear_var: Vec<f64>,
    /// Variance of the RBF residual.
    pub rbf_var: f64,
    /// RBF length scale along each feature.
    pub length_scale: Vec<f64>,
    /// Observation noise variance.
    pub noise_var: f64,
}

impl Kernel {
    /// Covariance of two points.
    pub fn k(&self, a: &[f64], b: &[f64]) -> f64 {
        let mut linear = 0.0;
        let mut dist2 = 0.0;
        for j in 0..a.len().min(b.len()) {
            linear += self.linear_var.get(j).copied().unwrap_or(0.0) * a[j] * b[j];
            let l = self.length_scale.get(j).copied().unwrap_or(1.0);
            dist2 += ((a[j] - b[j]) / l).powi(2);
        }
        self.bias_var + linear + self.rbf_var * (-0.5 * dist2).exp()
    }
}

/// A GP conditioned on training points (zero prior mean: subtract your prior mean from `ys`).
#[derive(Clone, Debug)]
pub struct Gp {
    kernel: Kernel,
    xs: Vec<Vec<f64>>,
    /// Lower Cholesky factor of the training covariance, row-major n x n.
    chol: Vec<f64>,
    /// `K^-1 y`.
    alpha: Vec<f64>,
}

impl Gp {
    /// Conditions the GP on `xs` -> `ys`; retries with more jitter if the covariance is not
    /// numerically positive definite.
    pub fn fit(kernel: &Kernel, xs: &[Vec<f64>], ys: &[f64]) -> Result<Gp, PluginError> {
        let n = xs.len();
        if ys.len() != n || ys.iter().any(|y| !y.is_finite()) {
            return Err(PluginError::new("gp", "gp training data must be finite and paired"));
        }
        let mut jitter = kernel.noise_var.max(1e-10);
        for _ in 0..6 {
            let mut cov = vec![0.0; n * n];
            for i in 0..n {
                for j in 0..n {
                    cov[i * n + j] = kernel.k(&xs[i], &xs[j]) + if i == j { jitter } else { 0.0 };
                }
            }
            if let Some(chol) = cholesky(&cov, n) {
                let z = solve_lower(&chol, n, ys);
                let alpha = solve_upper_t(&chol, n, &z);
                return Ok(Gp {
                    kernel: kernel.clone(),
                    xs: xs.to_vec(),
                    chol,
                    alpha,
                });
            }
            jitter *= 10.0;
        }
        Err(PluginError::new("gp", "gp covariance is not positive definite"))
    }

    /// Posterior mean and variance (of the latent function, without noise) at `x`.
    pub fn predict(&self, x: &[f64]) -> (f64, f64) {
        let n = self.xs.len();
        let prior = self.kernel.k(x, x);
        if n == 0 {
            return (0.0, prior);
        }
        let ks: Vec<f64> = self.xs.iter().map(|xi| self.kernel.k(x, xi)).collect();
        let mean = ks.iter().zip(&self.alpha).map(|(k, a)| k * a).sum();
        let v = solve_lower(&self.chol, n, &ks);
        let var = prior - v.iter().map(|v| v * v).sum::<f64>();
        (mean, var.max(0.0))
    }
}

/// Lower Cholesky factor of a symmetric n x n matrix (row-major), or None if not positive definite.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - s;
                if d <= 0.0 || !d.is_finite() {
                    return None;
                }
                l[i * n + j] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - s) / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// Solves `L z = b` for lower-triangular `L`.
fn solve_lower(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; n];
    for i in 0..n {
        let s: f64 = (0..i).map(|k| l[i * n + k] * z[k]).sum();
        z[i] = (b[i] - s) / l[i * n + i];
    }
    z
}

/// Solves `L^T x = z` for lower-triangular `L`.
fn solve_upper_t(l: &[f64], n: usize, z: &[f64]) -> Vec<f64> {
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| l[k * n + i] * x[k]).sum();
        x[i] = (z[i] - s) / l[i * n + i];
    }
    x
}

/// Standard normal density.
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// Standard normal distribution function (erfc approximation, error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    let x = -z / std::f64::consts::SQRT_2;
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = -a * a - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    0.5 * if x >= 0.0 { erfc } else { 2.0 - erfc }
}

/// Closed-form expected improvement of a normal `N(mean, sd^2)` over `best` (maximisation).
pub fn expected_improvement_normal(mean: f64, sd: f64, best: f64) -> f64 {
    if sd <= 0.0 {
        return (mean - best).max(0.0);
    }
    let z = (mean - best) / sd;
    (mean - best) * normal_cdf(z) + sd * normal_pdf(z)
}

/// Expected value of `max(0, improvement(y))` for `y ~ N(mean, sd^2)`, by Simpson's rule (1200 intervals) over
/// +-6 standard deviations. Use it when the objective is a nonlinear function of the modelled
/// quantity, or is zero where a constraint fails (e.g. `y` is log latency, the improvement is in
/// throughput and counts only when the latency meets the SLA).
pub fn expected_improvement(mean: f64, sd: f64, improvement: impl Fn(f64) -> f64) -> f64 {
    let gain = |y: f64| {
        let g = improvement(y);
        if g.is_finite() {
            g.max(0.0)
        } else {
            0.0
        }
    };
    if sd <= 0.0 || !sd.is_finite() {
        return gain(mean);
    }
    const INTERVALS: usize = 1200;
    const HALF_WIDTH: f64 = 6.0;
    let h = 2.0 * HALF_WIDTH / INTERVALS as f64;
    let mut sum = 0.0;
    for i in 0..=INTERVALS {
        let z = -HALF_WIDTH + i as f64 * h;
        let w = if i == 0 || i == INTERVALS {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        sum += w * normal_pdf(z) * gain(mean + sd * z);
    }
    sum * h / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Kernel {
        Kernel {
            bias_var: 1.0,
            linear_var: vec![0.1],
            rbf_var: 0.5,
            length_scale: vec![1.0],
            noise_var: 1e-8,
        }
    }

    #[test]
    fn interpolates_training_points_and_shrinks_variance() {
        let xs = vec![vec![0.0], vec![1.0], vec![3.0]];
        let ys = [1.0, 2.0, 0.5];
        let gp = Gp::fit(&kernel(), &xs, &ys).unwrap();
        for (x, y) in xs.iter().zip(ys) {
            let (m, v) = gp.predict(x);
            assert!((m - y).abs() < 1e-4, "{m} vs {y}");
            assert!(v < 1e-4);
        }
        let (_, v_near) = gp.predict(&[2.0]);
        let (_, v_far) = gp.predict(&[8.0]);
        assert!(v_near < v_far);
    }

    #[test]
    fn empty_gp_returns_the_prior() {
        let gp = Gp::fit(&kernel(), &[], &[]).unwrap();
        let (m, v) = gp.predict(&[2.0]);
        assert_eq!(m, 0.0);
        assert!((v - (1.0 + 0.4 + 0.5)).abs() < 1e-12);
    }

    #[test]
    fn linear_trend_extrapolates() {
        let k = Kernel {
            bias_var: 100.0,
            linear_var: vec![100.0],
            rbf_var: 1e-4,
            length_scale: vec![1.0],
            noise_var: 1e-8,
        };
        let gp = Gp::fit(&k, &[vec![0.0], vec![1.0]], &[1.0, 3.0]).unwrap();
        let (m, _) = gp.predict(&[3.0]);
        assert!((m - 7.0).abs() < 0.05, "{m}");
    }

    #[test]
    fn cholesky_rejects_indefinite() {
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        assert!((l[0] - 2.0).abs() < 1e-12 && (l[2] - 1.0).abs() < 1e-12);
        assert!((l[3] - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn normal_functions() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn quadrature_matches_closed_form() {
        for (mean, sd, best) in [(0.0, 1.0, 0.0), (1.0, 0.5, 1.5), (2.0, 0.1, 1.0), (-1.0, 2.0, 0.5)] {
            let exact = expected_improvement_normal(mean, sd, best);
            let quad = expected_improvement(mean, sd, |y| y - best);
            assert!((exact - quad).abs() < 1e-4, "{mean} {sd} {best}: {exact} vs {quad}");
        }
        assert_eq!(expected_improvement(1.0, 0.0, |y| y - 0.5), 0.5);
        // A constraint that never holds gives no improvement.
        assert_eq!(expected_improvement(1.0, 1.0, |_| f64::NEG_INFINITY), 0.0);
    }
}
