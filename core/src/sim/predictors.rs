//! The SLA planner's load predictors, as Dynamo's planner runs them (notes in
//! docs/planner.md; sources: Dynamo v0.7.0 `planner/utils/load_predictor.py`, v1.6.1
//! `planner/core/load/predictors.py`).
//!
//! One predictor per series (request count, ISL, OSL). Common to both versions: a NaN
//! observation counts as 0, and zeros are skipped while the buffer is empty (an idle start does
//! not pull the forecast down). Below 5 points ARIMA and Kalman return the last value.

use crate::backend::LoadPredictor;
use crate::spec::DynamoVersion;

/// Fewest points before ARIMA or Kalman forecast (both versions).
const MIN_POINTS: usize = 5;

/// A load predictor over one series.
#[derive(Clone, Debug)]
pub struct Predictor {
    kind: LoadPredictor,
    version: DynamoVersion,
    window: usize,
    values: Vec<f64>,
}

impl Predictor {
    /// A predictor of `kind` as `version` runs it, keeping `window` points where that version
    /// windows (0.7's ARIMA keeps the last `window`; 1.6's ARIMA and Kalman keep all history).
    pub fn new(kind: LoadPredictor, version: DynamoVersion, window: usize) -> Result<Predictor, String> {
        if kind == LoadPredictor::Kalman && version == DynamoVersion::V0_7 {
            return Err(
                "load predictor `kalman` does not exist in Dynamo 0.7 (it has constant, arima, prophet)".into(),
            );
        }
        Ok(Predictor {
            kind,
            version,
            window: window.max(1),
            values: Vec::new(),
        })
    }

    /// Adds one interval's observation.
    pub fn add(&mut self, value: f64) {
        let value = if value.is_nan() { 0.0 } else { value };
        if self.values.is_empty() && value == 0.0 {
            return;
        }
        self.values.push(value);
        let windowed = self.kind == LoadPredictor::Arima && self.version == DynamoVersion::V0_7;
        if windowed && self.values.len() > self.window {
            self.values.remove(0);
        }
    }

    /// The forecast of the next interval (0 before any observation).
    pub fn predict(&self) -> f64 {
        let Some(&last) = self.values.last() else {
            return 0.0;
        };
        match self.kind {
            LoadPredictor::Constant => last,
            _ if self.values.len() < MIN_POINTS => last,
            LoadPredictor::Arima => {
                let forecast = arima_forecast(&self.values);
                // 0.7 returns the raw forecast (it can go negative); 1.6 clamps at 0.
                match self.version {
                    DynamoVersion::V0_7 => forecast,
                    DynamoVersion::V1_6 => forecast.max(0.0),
                }
            }
            LoadPredictor::Kalman => kalman_forecast(&self.values).max(0.0),
        }
    }
}

/// One-step ARIMA forecast, after pmdarima's `auto_arima` with its defaults.
///
/// What matches: the order of differencing `d` comes from the KPSS level-stationarity test at
/// 5% (pmdarima's default test, its short lag rule `trunc(3 sqrt(n) / 13)`), up to d = 2; a
/// constant series forecasts itself; the intercept is kept when d < 2; candidates are ranked by
/// AIC. What departs (profcmp's choice, documented in docs/planner.md): the candidates are
/// AR(0..=2) fitted by conditional least squares on a common sample, with no MA terms and no
/// exact likelihood, where pmdarima searches ARMA(p, q) stepwise by maximum likelihood. On the
/// series a planner sees (noise around a level, or a trend) both forecast the level or the
/// trend; on short oscillating series the two can differ by a few percent.
pub fn arima_forecast(values: &[f64]) -> f64 {
    let last = values[values.len() - 1];
    if values.iter().all(|v| *v == values[0]) {
        return values[0];
    }
    let mut series = values.to_vec();
    let mut d = 0;
    while d < 2 && series.len() > MIN_POINTS && !kpss_stationary(&series) {
        series = series.windows(2).map(|w| w[1] - w[0]).collect();
        d += 1;
    }
    let with_intercept = d < 2;
    let next = best_ar_forecast(&series, with_intercept).unwrap_or(if d == 0 { last } else { 0.0 });
    match d {
        0 => next,
        1 => last + next,
        _ => {
            let prev = values[values.len() - 2];
            last + (last - prev) + next
        }
    }
}

/// KPSS test of level stationarity at 5% (critical value 0.463, Kwiatkowski et al. 1992).
fn kpss_stationary(series: &[f64]) -> bool {
    let n = series.len();
    let mean = series.iter().sum::<f64>() / n as f64;
    let residuals: Vec<f64> = series.iter().map(|v| v - mean).collect();
    let mut partial = 0.0;
    let mut sum_sq_partial = 0.0;
    for e in &residuals {
        partial += e;
        sum_sq_partial += partial * partial;
    }
    let lags = (3.0 * (n as f64).sqrt() / 13.0).trunc() as usize;
    let autocov = |lag: usize| residuals[lag..].iter().zip(&residuals).map(|(a, b)| a * b).sum::<f64>() / n as f64;
    let mut long_run = autocov(0);
    for lag in 1..=lags.min(n - 1) {
        long_run += 2.0 * (1.0 - lag as f64 / (lags as f64 + 1.0)) * autocov(lag);
    }
    if long_run <= 0.0 {
        return true;
    }
    let statistic = sum_sq_partial / (n as f64 * n as f64 * long_run);
    statistic <= 0.463
}

/// The forecast of the AR(p), p in 0..=2, with the lowest AIC; None if too few points.
fn best_ar_forecast(series: &[f64], with_intercept: bool) -> Option<f64> {
    const MAX_P: usize = 2;
    let n = series.len();
    if n <= MAX_P + 2 {
        return None;
    }
    let mut best: Option<(f64, f64)> = None;
    for p in 0..=MAX_P {
        let k = p + usize::from(with_intercept);
        let rows = n - MAX_P;
        if k == 0 {
            // Zero-mean white noise: forecast 0.
            let sse: f64 = series[MAX_P..].iter().map(|v| v * v).sum();
            let aic = rows as f64 * (sse / rows as f64).max(1e-12).ln();
            if best.is_none_or(|(a, _)| aic < a) {
                best = Some((aic, 0.0));
            }
            continue;
        }
        let regressors = |t: usize| -> Vec<f64> {
            let mut x: Vec<f64> = (1..=p).map(|i| series[t - i]).collect();
            if with_intercept {
                x.push(1.0);
            }
            x
        };
        let x: Vec<Vec<f64>> = (MAX_P..n).map(regressors).collect();
        let y = &series[MAX_P..];
        let Some(beta) = least_squares(&x, y) else { continue };
        let sse: f64 = x
            .iter()
            .zip(y)
            .map(|(row, v)| v - row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>())
            .map(|e| e * e)
            .sum();
        let aic = rows as f64 * (sse / rows as f64).max(1e-12).ln() + 2.0 * k as f64;
        let next_row = regressors(n);
        let forecast = next_row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>();
        if best.is_none_or(|(a, _)| aic < a) {
            best = Some((aic, forecast));
        }
    }
    best.map(|(_, forecast)| forecast)
}

/// Ordinary least squares by the normal equations (k <= 3, so Gaussian elimination suffices).
fn least_squares(x: &[Vec<f64>], y: &[f64]) -> Option<Vec<f64>> {
    let k = x[0].len();
    let mut a = vec![vec![0.0; k + 1]; k];
    for (row, v) in x.iter().zip(y) {
        for i in 0..k {
            for j in 0..k {
                a[i][j] += row[i] * row[j];
            }
            a[i][k] += row[i] * v;
        }
    }
    for col in 0..k {
        let pivot = (col..k).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..k {
            if row != col {
                let factor = a[row][col] / a[col][col];
                let pivot_row = a[col].clone();
                for (x, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                    *x -= factor * p;
                }
            }
        }
    }
    Some((0..k).map(|i| a[i][k] / a[i][i]).collect())
}

/// Dynamo 1.6's Kalman predictor: a local linear trend (state: level, slope) with process noise
/// Q = diag(1, 0.1), observation noise R = 10 and initial covariance 1000 I, started at the
/// first point with zero slope; the forecast is the next level.
pub fn kalman_forecast(values: &[f64]) -> f64 {
    let (q_level, q_slope, r) = (1.0, 0.1, 10.0);
    let (mut level, mut slope) = (values[0], 0.0);
    // Covariance [[p00, p01], [p01, p11]].
    let (mut p00, mut p01, mut p11) = (1000.0, 0.0, 1000.0);
    for &y in &values[1..] {
        // Predict: x = F x, P = F P F' + Q with F = [[1, 1], [0, 1]].
        level += slope;
        let (n00, n01, n11) = (p00 + 2.0 * p01 + p11 + q_level, p01 + p11, p11 + q_slope);
        (p00, p01, p11) = (n00, n01, n11);
        // Update with H = [1, 0].
        let s = p00 + r;
        let (k0, k1) = (p00 / s, p01 / s);
        let innovation = y - level;
        level += k0 * innovation;
        slope += k1 * innovation;
        (p00, p01, p11) = ((1.0 - k0) * p00, (1.0 - k0) * p01, p11 - k1 * p01);
    }
    level + slope
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(kind: LoadPredictor, version: DynamoVersion, values: &[f64]) -> Predictor {
        let mut p = Predictor::new(kind, version, 50).unwrap();
        for v in values {
            p.add(*v);
        }
        p
    }

    #[test]
    fn leading_zeros_are_skipped_and_nan_counts_as_zero() {
        let p = fed(
            LoadPredictor::Constant,
            DynamoVersion::V0_7,
            &[0.0, f64::NAN, 0.0, 7.0, f64::NAN],
        );
        assert_eq!(p.values, vec![7.0, 0.0]);
        assert_eq!(p.predict(), 0.0);
        assert_eq!(fed(LoadPredictor::Constant, DynamoVersion::V1_6, &[]).predict(), 0.0);
    }

    #[test]
    fn arima_and_kalman_use_the_last_value_below_five_points() {
        for kind in [LoadPredictor::Arima, LoadPredictor::Kalman] {
            let p = fed(kind, DynamoVersion::V1_6, &[10.0, 50.0, 20.0, 90.0]);
            assert_eq!(p.predict(), 90.0, "{kind:?}");
        }
    }

    #[test]
    fn arima_forecasts_a_level_a_trend_and_a_constant() {
        // A constant series: itself.
        assert_eq!(arima_forecast(&[4.0; 8]), 4.0);
        // Uncorrelated noise around a level: the level, not the last value.
        let mut state = 12345u64;
        let noisy: Vec<f64> = (0..40)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                100.0 + ((state >> 33) as f64 / f64::from(1u32 << 31) - 0.5) * 20.0
            })
            .collect();
        let mean = noisy.iter().sum::<f64>() / 40.0;
        let f = arima_forecast(&noisy);
        assert!(
            (f - mean).abs() < 3.0 && (f - noisy[39]).abs() > 0.5,
            "{f} vs mean {mean}, last {}",
            noisy[39]
        );
        // A straight trend is differenced once and continued.
        let trend: Vec<f64> = (0..20).map(|t| 10.0 + 5.0 * f64::from(t)).collect();
        assert!(
            (arima_forecast(&trend) - 110.0).abs() < 1e-6,
            "{}",
            arima_forecast(&trend)
        );
    }

    #[test]
    fn arima_clamps_at_zero_in_1_6_but_not_in_0_7() {
        let falling: Vec<f64> = (0..12).map(|t| 55.0 - 5.0 * f64::from(t)).collect();
        assert!(fed(LoadPredictor::Arima, DynamoVersion::V0_7, &falling).predict() < 0.0);
        assert_eq!(fed(LoadPredictor::Arima, DynamoVersion::V1_6, &falling).predict(), 0.0);
    }

    #[test]
    fn arima_0_7_keeps_only_its_window() {
        let mut p = Predictor::new(LoadPredictor::Arima, DynamoVersion::V0_7, 5).unwrap();
        for v in [1000.0, 1000.0, 1.0, 2.0, 3.0, 4.0, 5.0] {
            p.add(v);
        }
        assert_eq!(p.values, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn kalman_follows_a_trend_by_hand() {
        // A clean line: the filter converges on level and slope and extrapolates one step.
        let line: Vec<f64> = (0..30).map(|t| 20.0 + 2.0 * f64::from(t)).collect();
        let f = kalman_forecast(&line);
        assert!((f - 80.0).abs() < 0.5, "{f}");
        // Two points by hand: after y0 = 0 the state is (0, 0), P = 1000 I. Predict: level 0,
        // P00 = 1000 + 1000 + 1 = 2001, P01 = 1000, P11 = 1000.1. Update with y1 = 10:
        // K = (2001/2011, 1000/2011): level = 9.9503, slope = 4.9727; forecast 14.923.
        let two = kalman_forecast(&[0.0, 10.0]);
        assert!(
            (two - (10.0 * 2001.0 / 2011.0 + 10.0 * 1000.0 / 2011.0)).abs() < 1e-9,
            "{two}"
        );
        assert!(Predictor::new(LoadPredictor::Kalman, DynamoVersion::V0_7, 50).is_err());
    }
}
