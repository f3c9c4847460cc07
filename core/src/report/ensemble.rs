//! Reality ensembles: every method's errors and regrets as distributions over realities
//! (`--realities K` runs every stage once per drawn reality, under `results/reality-<k>/`).
//!
//! Written into `results/comparison/`: `ensemble_results.json` ([`Ensemble`]), `summary.txt`
//! and `ensemble_errors.{png,svg}`; each reality's own comparison stays in
//! `results/reality-<k>/comparison/`.
//!
//! A distribution ([`Spread`]) over the realities where the value exists: the median of the
//! signed values, the 90th percentile of their absolute values (`stats::quantile`, linear
//! between order statistics) and the worst (the signed value of largest magnitude). Signed
//! errors are bad in both directions, hence this spread rather than `stats::Spread`.

use std::io;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use super::Comparison;
use crate::layout::LEVELS;
use crate::stats;

/// Version of ensemble_results.json.
pub const ENSEMBLE_SCHEMA_VERSION: u32 = 1;
/// File name of the ensemble's JSON report.
pub const FILE_NAME: &str = "ensemble_results.json";
/// Stem of the ensemble's plot.
pub const PLOT: &str = "ensemble_errors";

/// The comparison of one results directory run over several realities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    /// [`ENSEMBLE_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The results directory.
    pub results_dir: String,
    /// The realities' directories (`reality-<k>`), in order.
    pub realities: Vec<String>,
    /// One entry per method seen in any reality, sorted by name.
    pub methods: Vec<MethodEnsemble>,
}

/// One method over the realities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodEnsemble {
    /// Method id.
    pub method: String,
    /// Chosen `PxD` TPs per reality (null where it failed or was absent).
    pub configs: Vec<Option<String>>,
    /// Capacity B of its graph per reality.
    pub capacity_b: Vec<Option<u32>>,
    /// p50 TTFT and ITL signed errors per level, over realities.
    pub levels: Vec<LevelSpread>,
    /// Regret % on goodput, over realities.
    pub regret_pct: Option<Spread>,
}

/// One level's errors over realities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelSpread {
    /// Level name.
    pub level: String,
    /// Signed p50 TTFT error %.
    pub ttft_p50: Option<Spread>,
    /// Signed p50 ITL error %.
    pub itl_p50: Option<Spread>,
}

/// A value's distribution over realities.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Realities with a value.
    pub n: u32,
    /// Median of the signed values.
    pub median: f64,
    /// 90th percentile of the absolute values.
    pub p90_abs: f64,
    /// The value of largest magnitude, signed.
    pub worst: f64,
}

impl Spread {
    /// The spread of `values` (None when none is finite).
    pub fn of(values: &[f64]) -> Option<Spread> {
        let signed: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let abs: Vec<f64> = signed.iter().map(|v| v.abs()).collect();
        let worst = signed.iter().copied().max_by(|a, b| a.abs().total_cmp(&b.abs()))?;
        Some(Spread {
            n: signed.len() as u32,
            median: stats::quantile(&signed, 0.5)?,
            p90_abs: stats::quantile(&abs, 0.9)?,
            worst,
        })
    }
}

/// The ensemble of `per_reality` comparisons (directory name, comparison).
pub fn ensemble(results_dir: &str, per_reality: &[(String, Comparison)]) -> Ensemble {
    let mut names: Vec<String> = per_reality
        .iter()
        .flat_map(|(_, c)| c.methods.iter().map(|m| m.method.clone()))
        .collect();
    names.sort();
    names.dedup();
    let methods = names
        .into_iter()
        .map(|name| {
            let found: Vec<Option<&super::MethodComparison>> = per_reality
                .iter()
                .map(|(_, c)| c.methods.iter().find(|m| m.method == name))
                .collect();
            let over = |f: &dyn Fn(&super::MethodComparison) -> Option<f64>| {
                Spread::of(&found.iter().flatten().filter_map(|m| f(m)).collect::<Vec<_>>())
            };
            let levels = (0..LEVELS.len())
                .map(|i| LevelSpread {
                    level: LEVELS[i].to_string(),
                    ttft_p50: over(&|m| Some(m.levels.get(i)?.error_pct.ttft_p50?.mean)),
                    itl_p50: over(&|m| Some(m.levels.get(i)?.error_pct.itl_p50?.mean)),
                })
                .collect();
            MethodEnsemble {
                configs: found
                    .iter()
                    .map(|m| Some(format!("{}x{}", (*m)?.prefill_tp?, (*m)?.decode_tp?)))
                    .collect(),
                capacity_b: found.iter().map(|m| m.and_then(|m| m.capacity_b)).collect(),
                levels,
                regret_pct: over(&|m| Some(m.optimization.regret_pct?.mean)),
                method: name,
            }
        })
        .collect();
    Ensemble {
        schema_version: ENSEMBLE_SCHEMA_VERSION,
        results_dir: results_dir.to_string(),
        realities: per_reality.iter().map(|(dir, _)| dir.clone()).collect(),
        methods,
    }
}

/// The ensemble as text.
pub fn render(e: &Ensemble) -> String {
    let mut out = format!(
        "profcmp reality ensemble of {} ({} realities: {})\n\
         Each reality's own comparison: <reality-k>/comparison/summary.txt\n\
         median = of the signed errors; p90 |e| and worst = over the realities' absolute errors\n",
        e.results_dir,
        e.realities.len(),
        e.realities.join(", ")
    );
    let cell = |s: &Option<Spread>| match s {
        Some(s) => format!("{:>+8.1} {:>8.1} {:>+8.1} {:>3}", s.median, s.p90_abs, s.worst, s.n),
        None => format!("{:>8} {:>8} {:>8} {:>3}", "-", "-", "-", 0),
    };
    let width = e.methods.iter().map(|m| m.method.len()).max().unwrap_or(6).max(6);
    for (title, pick) in [
        (
            "TTFT p50 error %",
            (|l: &LevelSpread| l.ttft_p50) as fn(&LevelSpread) -> Option<Spread>,
        ),
        ("ITL p50 error %", |l: &LevelSpread| l.itl_p50),
    ] {
        out.push_str(&format!("\n-- {title} over realities --\n"));
        out.push_str(&format!(
            "{:<width$}  {:<10}  {:>8} {:>8} {:>8} {:>3}\n",
            "method", "level", "median", "p90 |e|", "worst", "n"
        ));
        for m in &e.methods {
            for l in &m.levels {
                out.push_str(&format!("{:<width$}  {:<10}  {}\n", m.method, l.level, cell(&pick(l))));
            }
        }
    }
    out.push_str("\n-- regret % (goodput) over realities --\n");
    for m in &e.methods {
        out.push_str(&format!("{:<width$}  {}\n", m.method, cell(&m.regret_pct)));
    }
    out.push_str("\n-- chosen config (PxD) and capacity B per reality --\n");
    for m in &e.methods {
        let per: Vec<String> = m
            .configs
            .iter()
            .zip(&m.capacity_b)
            .map(|(c, b)| {
                let b = b.map_or("-".to_string(), |b| b.to_string());
                format!("{} B={b}", c.as_deref().unwrap_or("-"))
            })
            .collect();
        out.push_str(&format!("{:<width$}  {}\n", m.method, per.join(", ")));
    }
    out
}

/// Writes `ensemble_results.json`, `summary.txt` and the plot into `dir`, atomically.
pub fn write(e: &Ensemble, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let json = serde_json::to_string_pretty(e).map_err(io::Error::other)? + "\n";
    let path = dir.join(FILE_NAME);
    crate::fsio::write_atomic(&path, json.as_bytes())?;
    written.push(path);
    let path = dir.join(super::summary::FILE_NAME);
    crate::fsio::write_atomic(&path, render(e).as_bytes())?;
    written.push(path);
    super::plot::register_fonts();
    let size = (1100, 180 + 60 * e.methods.len().max(1) as u32 * LEVELS.len() as u32 / 2);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(&root, e).map_err(io::Error::other)?;
        root.present().map_err(|x| io::Error::other(x.to_string()))?;
    }
    let mut pixels = vec![255u8; (size.0 * size.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
        draw(&root, e).map_err(io::Error::other)?;
        root.present().map_err(|x| io::Error::other(x.to_string()))?;
    }
    let mut png = Vec::new();
    use image::ImageEncoder;
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, size.0, size.1, image::ColorType::Rgb8)
        .map_err(io::Error::other)?;
    for (ext, bytes) in [("png", png), ("svg", svg.into_bytes())] {
        let path = dir.join(format!("{PLOT}.{ext}"));
        crate::fsio::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// Two panels (TTFT, ITL): one row per method and level; a bar to the median |error|, a line
/// to the p90 |error| and a dot at the worst.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, e: &Ensemble) -> Result<(), String> {
    root.fill(&WHITE).map_err(|x| x.to_string())?;
    let panels = root.split_evenly((1, 2));
    let rows: Vec<(String, &LevelSpread)> = e
        .methods
        .iter()
        .flat_map(|m| m.levels.iter().map(move |l| (format!("{} {}", m.method, l.level), l)))
        .collect();
    let n = rows.len().max(1);
    for (panel, (caption, pick)) in panels.iter().zip([
        (
            "|TTFT p50 error| %",
            (|l: &LevelSpread| l.ttft_p50) as fn(&LevelSpread) -> Option<Spread>,
        ),
        ("|ITL p50 error| %", |l: &LevelSpread| l.itl_p50),
    ]) {
        let hi = rows
            .iter()
            .filter_map(|(_, l)| pick(l))
            .map(|s| s.worst.abs().max(s.p90_abs))
            .fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("{caption} over {} realities", e.realities.len()),
                (super::plot::FONT, 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(220)
            .build_cartesian_2d(0.0..hi * 1.1, -0.5..(n as f64 - 0.5))
            .map_err(|x| x.to_string())?;
        let label = |y: &f64| {
            let i = n as f64 - 1.0 - y.round();
            if (y - y.round()).abs() < 1e-6 && i >= 0.0 {
                rows.get(i as usize).map(|r| r.0.clone()).unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_desc("median (bar), p90 (line), worst (dot)")
            .label_style((super::plot::FONT, 13))
            .draw()
            .map_err(|x| x.to_string())?;
        for (i, (_, level)) in rows.iter().enumerate() {
            let Some(s) = pick(level) else { continue };
            let y = (n - 1 - i) as f64;
            let color = super::plot::COLORS[(i / LEVELS.len()) % super::plot::COLORS.len()];
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y - 0.3), (s.median.abs(), y + 0.3)],
                    color.filled(),
                )))
                .map_err(|x| x.to_string())?;
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, y), (s.p90_abs, y)],
                    BLACK.stroke_width(2),
                )))
                .map_err(|x| x.to_string())?;
            chart
                .draw_series(std::iter::once(Circle::new((s.worst.abs(), y), 4, BLACK.filled())))
                .map_err(|x| x.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_are_median_p90_of_magnitudes_and_the_signed_worst() {
        let s = Spread::of(&[-10.0, 2.0, 4.0, -6.0, 8.0, f64::NAN]).unwrap();
        assert_eq!((s.n, s.median, s.worst), (5, 2.0, -10.0));
        // |values| sorted 2 4 6 8 10: the 0.9 quantile sits at position 3.6.
        assert!((s.p90_abs - 9.2).abs() < 1e-12, "{s:?}");
        assert_eq!(Spread::of(&[f64::NAN]), None);
        let one = Spread::of(&[-3.0]).unwrap();
        assert_eq!((one.median, one.p90_abs, one.worst), (-3.0, 3.0, -3.0));
    }
}
