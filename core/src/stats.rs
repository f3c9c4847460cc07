//! Small statistics for comparisons over repeated runs (seeds, or reality ensembles): quantiles
//! and median/p90/worst summaries, intervals that stay in a quantity's range (Student t for
//! signed values, a seeded bootstrap for non-negative ones, Wilson for proportions) and a paired
//! test for two methods measured on the same seeds.
//!
//! Distribution quantiles come from `statrs` (a maintained crate) rather than hand-written tables.
//! Choices made here (the project's, not a real system's), documented in docs/comparison-schema.md:
//! - the paired test is Student's paired t-test on per-seed differences, two-sided. Wilcoxon's
//!   signed-rank test is not used because with the few seeds a run has (K <= 5) its exact p-value
//!   cannot go below 2 / 2^K = 0.0625, so it could never call two methods distinguishable;
//! - quantiles interpolate linearly between order statistics (Hyndman and Fan's type 7, numpy's
//!   default);
//! - the bootstrap is the percentile bootstrap of the mean with [`BOOTSTRAP_RESAMPLES`] resamples
//!   from a fixed ChaCha seed, so the same values always give the same interval.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Confidence level of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// Significance level of the paired test (1 - [`CONFIDENCE`]).
pub const ALPHA: f64 = 1.0 - CONFIDENCE;
/// Resamples of the bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 4000;
/// Seed of the bootstrap's random number generator (fixed: results are deterministic).
pub const BOOTSTRAP_SEED: u64 = 0x5eed_b007;

/// The finite values of `values`.
fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// Mean of the finite values (None when there are none); summed in sorted order so that the
/// result does not depend on the values' order to the last bit.
pub fn mean(values: &[f64]) -> Option<f64> {
    let mut v = finite(values);
    v.sort_by(f64::total_cmp);
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Sample standard deviation (n - 1) of the finite values (None with fewer than two).
pub fn std_dev(values: &[f64]) -> Option<f64> {
    let v = finite(values);
    if v.len() < 2 {
        return None;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    Some((v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64).sqrt())
}

/// The `q` quantile (0..=1) of the finite values, interpolating linearly between order
/// statistics (type 7). None when there are no values or `q` is outside [0, 1].
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v = finite(values);
    if v.is_empty() || !(0.0..=1.0).contains(&q) {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let h = q * (v.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(v[lo] + (h - lo as f64) * (v[hi] - v[lo]))
}

/// The median of the finite values (the type-7 quantile at 0.5: the mean of the two middle
/// values when their count is even). None when there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

/// The nearest-rank `percent` percentile (0..=100) of the finite values: the smallest value with
/// at least `percent`% of the values at or below it, always one of the values (what benchmark
/// tables print for p90/p95). None when there are no values.
pub fn nearest_rank(values: &[f64], percent: f64) -> Option<f64> {
    let mut v = finite(values);
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((percent / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// The largest finite value (None when there are none).
pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().filter(|v| v.is_finite()).reduce(f64::max)
}

/// The most frequent value; of equally frequent ones, the first. None when `values` is empty.
pub fn mode<T: PartialEq>(values: &[T]) -> Option<&T> {
    let mut best: Option<(&T, usize)> = None;
    for v in values {
        let n = values.iter().filter(|w| *w == v).count();
        if best.is_none_or(|(_, m)| n > m) {
            best = Some((v, n));
        }
    }
    best.map(|(v, _)| v)
}

/// Which direction of a quantity is bad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Worse {
    /// Higher is worse (regret, |error|, cost).
    Higher,
    /// Lower is worse (goodput, SLA hit rate).
    Lower,
}

/// A distribution summarised for a verdict: its median, its 90th percentile towards the bad side
/// and its worst value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Values summarised.
    pub n: usize,
    /// Median.
    pub median: f64,
    /// 90th percentile towards the bad side (the 0.9 quantile when higher is worse, the 0.1
    /// quantile when lower is worse): 9 in 10 values are at least this good.
    pub p90: f64,
    /// The worst value (maximum when higher is worse, minimum when lower is worse).
    pub worst: f64,
}

impl Spread {
    /// The spread of the finite values (None when there are none).
    pub fn of(values: &[f64], worse: Worse) -> Option<Spread> {
        let v = finite(values);
        let median = quantile(&v, 0.5)?;
        let (p90, worst) = match worse {
            Worse::Higher => (quantile(&v, 0.9)?, v.iter().copied().fold(f64::MIN, f64::max)),
            Worse::Lower => (quantile(&v, 0.1)?, v.iter().copied().fold(f64::MAX, f64::min)),
        };
        Some(Spread {
            n: v.len(),
            median,
            p90,
            worst,
        })
    }
}

/// The `p` quantile of Student's t with `df` degrees of freedom (NaN when df is 0).
pub fn t_quantile(p: f64, df: usize) -> f64 {
    match StudentsT::new(0.0, 1.0, df as f64) {
        Ok(t) if df > 0 => t.inverse_cdf(p),
        _ => f64::NAN,
    }
}

/// The `p` quantile of the standard normal distribution.
pub fn z_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.inverse_cdf(p))
}

/// The 95% Student-t interval of the mean (None with fewer than two finite values). For signed
/// quantities (errors, regret, differences); it can cross zero.
pub fn t_interval(values: &[f64]) -> Option<[f64; 2]> {
    let v = finite(values);
    let (m, s) = (mean(&v)?, std_dev(&v)?);
    let half = t_quantile(1.0 - ALPHA / 2.0, v.len() - 1) * s / (v.len() as f64).sqrt();
    Some([m - half, m + half])
}

/// The 95% Wilson score interval of a proportion: `successes` of `trials` (None when there are
/// no trials or the counts are inconsistent). Always within [0, 1].
pub fn wilson(successes: f64, trials: f64) -> Option<[f64; 2]> {
    // Written so that NaN counts are refused too.
    if trials.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) || !(0.0..=trials).contains(&successes) {
        return None;
    }
    let z = z_quantile(1.0 - ALPHA / 2.0);
    let p = successes / trials;
    let z2n = z * z / trials;
    let center = (p + z2n / 2.0) / (1.0 + z2n);
    let half = z / (1.0 + z2n) * (p * (1.0 - p) / trials + z2n / (4.0 * trials)).sqrt();
    // Clamped: rounding must not push a bound past 0, 1 or the observed proportion.
    Some([(center - half).clamp(0.0, p), (center + half).clamp(p, 1.0)])
}

/// The 95% interval of a proportion measured on several seeds, each `(successes, trials)`, for
/// the mean of the seeds' rates p. Requests within one trace are not independent (a backlog fails
/// many in a row), so a Wilson interval on the pooled requests would be far too narrow; here the
/// Wilson interval is taken at an effective sample size from the seed-to-seed variance s^2 of
/// the rates, n_eff = min(requests, p (1 - p) K / s^2) x (z / t_{K-1})^2 (the design-effect and
/// degrees-of-freedom adjustment of Korn and Graubard, Survey Methodology 24(2), 1998, applied to
/// Wilson's interval instead of Clopper-Pearson's). Within [0, 1]; None with no seeds or trials.
pub fn clustered_wilson(counts: &[(f64, f64)]) -> Option<[f64; 2]> {
    let rates: Vec<f64> = counts
        .iter()
        .map(|(good, total)| if *total > 0.0 { good / total } else { f64::NAN })
        .collect();
    if counts.is_empty() || rates.iter().any(|r| !(0.0..=1.0).contains(r)) {
        return None;
    }
    let k = counts.len();
    let trials: f64 = counts.iter().map(|c| c.1).sum();
    let p = mean(&rates)?;
    let var = std_dev(&rates).map_or(0.0, |s| s * s);
    let from_variance = if var > 0.0 {
        p * (1.0 - p) * k as f64 / var
    } else {
        f64::INFINITY
    };
    let df_factor = if k >= 2 {
        (z_quantile(1.0 - ALPHA / 2.0) / t_quantile(1.0 - ALPHA / 2.0, k - 1)).powi(2)
    } else {
        1.0
    };
    let n_eff = from_variance.min(trials) * df_factor;
    wilson(p * n_eff, n_eff)
}

/// The 95% percentile-bootstrap interval of the mean, deterministic (fixed seed), None with fewer
/// than two finite values. It stays within the values' range, so a non-negative quantity never
/// gets a negative bound; with three or fewer values it is their [min, max]. The values are
/// sorted first, so the interval depends on the values and not on their order.
pub fn bootstrap_interval(values: &[f64]) -> Option<[f64; 2]> {
    let mut v = finite(values);
    v.sort_by(f64::total_cmp);
    if v.len() < 2 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(BOOTSTRAP_SEED);
    let means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..v.len()).map(|_| v[rng.random_range(0..v.len())]).sum::<f64>() / v.len() as f64)
        .collect();
    // Clamped to the values' range: a mean of equal values can round one ulp past them.
    let (min, max) = (v[0], v[v.len() - 1]);
    Some([
        quantile(&means, ALPHA / 2.0)?.clamp(min, max),
        quantile(&means, 1.0 - ALPHA / 2.0)?.clamp(min, max),
    ])
}

/// Name of the paired test, as reports print it.
pub const PAIRED_TEST: &str = "paired_t";

/// Result of a paired t-test of `a - b` over the seeds both were measured on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairedTest {
    /// Pairs.
    pub n: usize,
    /// Mean of the per-pair differences a - b.
    pub mean_difference: f64,
    /// 95% t-interval of the mean difference.
    pub ci95: [f64; 2],
    /// Two-sided p-value of "the mean difference is 0".
    pub p_value: f64,
}

impl PairedTest {
    /// Whether the difference is significant at [`ALPHA`].
    pub fn distinguishable(&self) -> bool {
        self.p_value < ALPHA
    }
}

/// Paired t-test of `a[i] - b[i]` (pairs with a non-finite side are dropped); None with fewer
/// than two pairs. When every difference is the same, the test is exact: p = 1 when they are all
/// 0 (identical results), p = 0 otherwise (a constant, non-zero difference).
pub fn paired_t(a: &[f64], b: &[f64]) -> Option<PairedTest> {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).filter(|d| d.is_finite()).collect();
    let n = d.len();
    let (m, s) = (mean(&d)?, std_dev(&d)?);
    let ci95 = t_interval(&d)?;
    // Differences equal to rounding: treat as constant.
    let p_value = if s <= 1e-12 * m.abs().max(1e-300) || s == 0.0 {
        if m == 0.0 {
            1.0
        } else {
            0.0
        }
    } else {
        let t = m / (s / (n as f64).sqrt());
        let dist = StudentsT::new(0.0, 1.0, (n - 1) as f64).ok()?;
        (2.0 * (1.0 - dist.cdf(t.abs()))).clamp(0.0, 1.0)
    };
    Some(PairedTest {
        n,
        mean_difference: m,
        ci95,
        p_value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn nearest_rank_is_one_of_the_values_and_median_interpolates() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(median(&v), Some(3.0));
        assert_eq!(nearest_rank(&v, 95.0), Some(5.0));
        assert_eq!(nearest_rank(&v, 40.0), Some(2.0));
        // Adding a value above every other moves the median up by half a step; the nearest
        // rank at 40% moves to the next value (the rank grows from 2 to 3).
        let w = [5.0, 1.0, 3.0, 2.0, 4.0, 6.0];
        assert_eq!(median(&w), Some(3.5));
        assert_eq!(nearest_rank(&w, 40.0), Some(3.0));
        assert_eq!(median(&[]), None);
        assert_eq!(nearest_rank(&[f64::NAN], 50.0), None);
        assert_eq!(max(&[1.0, f64::INFINITY, 7.0]), Some(7.0));
        assert_eq!(mode(&["a", "b", "b", "a", "b"]), Some(&"b"));
        assert_eq!(mode(&["a", "b"]), Some(&"a"));
        assert_eq!(mode::<&str>(&[]), None);
    }

    #[test]
    fn quantiles_interpolate_like_numpy() {
        let v = [3.0, 1.0, 2.0, 4.0, f64::NAN];
        assert_eq!(quantile(&v, 0.5), Some(2.5));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(4.0));
        // numpy.quantile([1, 2, 3, 4], 0.9) = 3.7
        assert!(close(quantile(&v, 0.9).unwrap(), 3.7, 1e-12));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(quantile(&v, 1.5), None);
    }

    #[test]
    fn spreads_look_towards_the_bad_side() {
        let regret: Vec<f64> = (0..=10).map(f64::from).collect();
        let s = Spread::of(&regret, Worse::Higher).unwrap();
        assert_eq!((s.n, s.median, s.p90, s.worst), (11, 5.0, 9.0, 10.0));
        let s = Spread::of(&regret, Worse::Lower).unwrap();
        assert_eq!((s.median, s.p90, s.worst), (5.0, 1.0, 0.0));
        assert_eq!(Spread::of(&[], Worse::Lower), None);
    }

    #[test]
    fn t_quantiles_match_published_tables() {
        // Two-sided 95% critical values of Student's t.
        for (df, t) in [
            (1, 12.706),
            (2, 4.303),
            (4, 2.776),
            (10, 2.228),
            (30, 2.042),
            (1000, 1.962),
        ] {
            assert!(
                close(t_quantile(0.975, df), t, 1e-3),
                "df {df}: {}",
                t_quantile(0.975, df)
            );
        }
        assert!(t_quantile(0.975, 0).is_nan());
        assert!(close(z_quantile(0.975), 1.959964, 1e-6));
    }

    #[test]
    fn t_intervals_need_two_values() {
        assert_eq!(t_interval(&[5.0]), None);
        let ci = t_interval(&[1.0, 2.0, 3.0]).unwrap();
        let half = 4.302653 * (1.0f64 / 3.0).sqrt();
        assert!(
            close(ci[0], 2.0 - half, 1e-5) && close(ci[1], 2.0 + half, 1e-5),
            "{ci:?}"
        );
    }

    #[test]
    fn wilson_matches_known_values_and_stays_in_range() {
        // Published 95% Wilson score intervals (no continuity correction).
        for (x, n, lo, hi) in [
            (0.0, 10.0, 0.0, 0.2775),
            (1.0, 10.0, 0.0179, 0.4042),
            (5.0, 10.0, 0.2366, 0.7634),
            (10.0, 10.0, 0.7225, 1.0),
            (81.0, 263.0, 0.2553, 0.3662),
        ] {
            let [a, b] = wilson(x, n).unwrap();
            assert!(close(a, lo, 1e-4) && close(b, hi, 1e-4), "{x}/{n}: [{a}, {b}]");
        }
        for n in 1..60 {
            for x in 0..=n {
                let [a, b] = wilson(x as f64, n as f64).unwrap();
                let p = x as f64 / n as f64;
                assert!((0.0..=1.0).contains(&a) && (0.0..=1.0).contains(&b) && a <= p && p <= b);
            }
        }
        assert_eq!(wilson(1.0, 0.0), None);
        assert_eq!(wilson(11.0, 10.0), None);
    }

    #[test]
    fn clustered_wilson_widens_with_seed_to_seed_spread() {
        // Same pooled rate (2%), 3 seeds of 1000 requests: steady seeds give a narrower interval
        // than seeds that disagree, and both stay in [0, 1] and contain the mean rate.
        let steady = clustered_wilson(&[(20.0, 1000.0), (19.0, 1000.0), (21.0, 1000.0)]).unwrap();
        let spread = clustered_wilson(&[(0.0, 1000.0), (0.0, 1000.0), (60.0, 1000.0)]).unwrap();
        assert!(
            spread[1] - spread[0] > 3.0 * (steady[1] - steady[0]),
            "{steady:?} {spread:?}"
        );
        for [lo, hi] in [steady, spread] {
            assert!((0.0..0.02).contains(&lo) && 0.02 < hi && hi <= 1.0);
        }
        // Seeds that all fail: [0, small], not [0, 0]; with two seeds the degrees-of-freedom
        // factor (1.96 / 12.71)^2 makes it wider than Wilson on the 2000 pooled requests.
        let none = clustered_wilson(&[(0.0, 1000.0), (0.0, 1000.0)]).unwrap();
        assert!(
            none[0] == 0.0 && wilson(0.0, 2000.0).unwrap()[1] < none[1] && none[1] < 0.1,
            "{none:?}"
        );
        // One seed is the plain Wilson interval.
        assert_eq!(clustered_wilson(&[(1.0, 10.0)]), wilson(1.0, 10.0));
        assert_eq!(clustered_wilson(&[(1.0, 0.0)]), None);
        assert_eq!(clustered_wilson(&[]), None);
    }

    #[test]
    fn bootstrap_is_deterministic_and_stays_within_the_values() {
        // The case from issue 15: a t-interval of these goodputs goes below 0.
        let goodput = [0.0, 0.0, 0.2];
        assert!(t_interval(&goodput).unwrap()[0] < 0.0);
        assert_eq!(bootstrap_interval(&goodput), Some([0.0, 0.2]));
        let v = [4.0, 5.0, 6.0, 5.5, 4.5, 5.2, 4.8, 6.1];
        let a = bootstrap_interval(&v).unwrap();
        assert_eq!(bootstrap_interval(&v), Some(a));
        let m = mean(&v).unwrap();
        assert!(4.0 < a[0] && a[0] < m && m < a[1] && a[1] < 6.1, "{a:?}");
        // Roughly the t-interval for a well-behaved sample.
        let t = t_interval(&v).unwrap();
        assert!(close(a[0], t[0], 0.3) && close(a[1], t[1], 0.3), "{a:?} vs {t:?}");
        assert_eq!(bootstrap_interval(&[1.0]), None);
    }

    #[test]
    fn pairing_finds_a_consistent_difference_that_overlapping_intervals_hide() {
        // Seeds vary a lot; b is a little better than a on every one of them.
        let a = [10.0, 14.0, 8.0, 12.0, 11.0];
        let b: Vec<f64> = a
            .iter()
            .zip([0.30, 0.35, 0.28, 0.33, 0.31])
            .map(|(x, d)| x + d)
            .collect();
        let (ia, ib) = (t_interval(&a).unwrap(), t_interval(&b).unwrap());
        assert!(ia[0] <= ib[1] && ib[0] <= ia[1], "the unpaired intervals overlap");
        let test = paired_t(&b, &a).unwrap();
        assert!(test.distinguishable() && test.p_value < 1e-4, "{test:?}");
        assert!(close(test.mean_difference, 0.314, 1e-9));
        assert!(test.ci95[0] > 0.0 && test.ci95[1] < 0.4);
        // Metamorphic: shuffle which seed gets which difference's sign and the test must lose it.
        let noisy: Vec<f64> = a
            .iter()
            .zip([0.3, -0.35, 0.28, -0.33, 0.31])
            .map(|(x, d)| x + d)
            .collect();
        let test = paired_t(&noisy, &a).unwrap();
        assert!(!test.distinguishable(), "{test:?}");
        assert!(test.ci95[0] < 0.0 && 0.0 < test.ci95[1]);
    }

    #[test]
    fn identical_and_constant_differences_are_exact() {
        let a = [1.0, 2.0, 3.0];
        let same = paired_t(&a, &a).unwrap();
        assert_eq!((same.p_value, same.mean_difference, same.ci95), (1.0, 0.0, [0.0, 0.0]));
        assert!(!same.distinguishable());
        let shifted: Vec<f64> = a.iter().map(|x| x + 0.5).collect();
        let t = paired_t(&shifted, &a).unwrap();
        assert_eq!(t.p_value, 0.0);
        assert!(t.distinguishable());
        assert_eq!(paired_t(&[1.0], &[2.0]), None);
        // A non-finite side drops the pair.
        assert_eq!(paired_t(&[1.0, f64::NAN, 2.0], &[0.0, 0.0, 1.0]).unwrap().n, 2);
    }

    #[test]
    fn paired_p_values_match_a_hand_computation() {
        // d = [1, 2, 3]: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641, df 2: p = 0.07418.
        let t = paired_t(&[1.0, 2.0, 3.0], &[0.0, 0.0, 0.0]).unwrap();
        assert!(close(t.p_value, 0.07418, 1e-4), "{t:?}");
        assert!(!t.distinguishable());
    }
}
