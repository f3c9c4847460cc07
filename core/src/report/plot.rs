//! The comparison's plots, each as PNG and SVG: cost per method, signed error by load level,
//! regret per method, and GPU-hours against regret with the Pareto front.
//!
//! Drawn with plotters on its bitmap and SVG backends; text uses the DejaVu Sans fonts of the
//! `dejavu` crate registered with plotters' `register_font` (no system fonts needed). A plot
//! whose data is missing is still written, with a "not measured" message in place of the data.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Once;

use image::ImageEncoder;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Comparison, LevelErrors, MethodComparison, MethodStatus, Sample};
use crate::layout::LEVELS;
use crate::stage::compare::pareto_regret_of;

/// The plots written, by file stem.
pub const PLOTS: [&str; 4] = ["cost", "error_by_level", "regret", "cost_vs_regret"];

/// Writes every plot as `<stem>.png` and `<stem>.svg` into `dir`, atomically; returns the paths.
pub fn write_plots(comparison: &Comparison, dir: &Path) -> io::Result<Vec<PathBuf>> {
    register_fonts();
    let mut written = Vec::new();
    for stem in PLOTS {
        let size = plot_size(stem);
        let png = dir.join(format!("{stem}.png"));
        crate::fsio::write_atomic(&png, &render_png(stem, size, comparison)?)?;
        written.push(png);
        let svg = dir.join(format!("{stem}.svg"));
        crate::fsio::write_atomic(&svg, render_svg(stem, size, comparison)?.as_bytes())?;
        written.push(svg);
    }
    Ok(written)
}

pub(crate) const FONT: &str = "sans-serif";
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

type DrawResult = Result<(), String>;

pub(crate) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The embedded DejaVu fonts are valid TrueType; a failure would only leave text unrendered.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

fn plot_size(stem: &str) -> (u32, u32) {
    match stem {
        "cost" => (1000, 900),
        "error_by_level" => (1100, 900),
        _ => (1000, 600),
    }
}

fn render_png(stem: &str, (w, h): (u32, u32), c: &Comparison) -> io::Result<Vec<u8>> {
    let mut pixels = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (w, h)).into_drawing_area();
        draw(stem, &root, c)
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(|e| plot_error(stem, "png", e))?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&pixels, w, h, image::ColorType::Rgb8)
        .map_err(|e| plot_error(stem, "png", e.to_string()))?;
    Ok(png)
}

fn render_svg(stem: &str, size: (u32, u32), c: &Comparison) -> io::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        draw(stem, &root, c)
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(|e| plot_error(stem, "svg", e))?;
    }
    Ok(svg)
}

fn plot_error(stem: &str, ext: &str, e: String) -> io::Error {
    io::Error::other(format!("{stem}.{ext}: {e}"))
}

fn draw<DB: DrawingBackend>(stem: &str, root: &DrawingArea<DB, Shift>, c: &Comparison) -> DrawResult {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    match stem {
        "cost" => draw_cost(root, c),
        "error_by_level" => draw_errors(root, c),
        "regret" => draw_regret(root, c),
        _ => draw_cost_vs_regret(root, c),
    }
}

fn text(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

fn title(size: u32) -> TextStyle<'static> {
    (FONT, size, FontStyle::Bold).into_font().color(&BLACK)
}

/// The longest method name, in pixels at 15 px text (for the label area).
fn name_width(c: &Comparison) -> u32 {
    let longest = c.methods.iter().map(|m| m.method.chars().count()).max().unwrap_or(4) as u32;
    (longest * 9 + 20).clamp(80, 320)
}

fn message<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, msg: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let style = text(18).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(msg.to_string(), (w as i32 / 2, h as i32 / 2), style))
        .map_err(|e| e.to_string())
}

fn draw_cost<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> DrawResult {
    let (head, body) = root.split_vertically(50);
    head.titled("Profiling cost per method (host-metered)", title(26))
        .map_err(|e| e.to_string())?;
    let panels = body.split_evenly((3, 1));
    let names: Vec<String> = c.methods.iter().map(|m| m.method.clone()).collect();
    let duration: Vec<Option<f64>> = c.methods.iter().map(|m| m.cost.duration_s).collect();
    let gpu_hours: Vec<Option<f64>> = c.methods.iter().map(|m| m.cost.gpu_hours).collect();
    let deployments: Vec<Option<f64>> = c.methods.iter().map(|m| m.cost.deployments.map(f64::from)).collect();
    let width = name_width(c);
    hbars(
        &panels[0],
        "Duration",
        "duration (s)",
        &names,
        &duration,
        "not recorded",
        1,
        width,
    )?;
    hbars(
        &panels[1],
        "GPU-hours",
        "GPU-hours (GPU x h)",
        &names,
        &gpu_hours,
        "not recorded",
        3,
        width,
    )?;
    hbars(
        &panels[2],
        "Deployments",
        "deployments (count)",
        &names,
        &deployments,
        "not recorded",
        0,
        width,
    )
}

/// Goodput regret and cost-aware regret side by side per method, with their 95% intervals.
fn draw_regret<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> DrawResult {
    let (head, body) = root.split_vertically(90);
    let (title_area, legend_area) = head.split_vertically(50);
    let caption = match c.oracle.as_ref() {
        Some(o) => format!(
            "Regret vs the oracle (best goodput: {}; best goodput/GPU: {}); lower is better",
            o.best.as_deref().unwrap_or("-"),
            o.best_per_gpu.as_deref().unwrap_or("-")
        ),
        None => "Regret vs the oracle; lower is better".to_string(),
    };
    title_area.titled(&caption, title(20)).map_err(|e| e.to_string())?;
    let (goodput_color, cost_color) = (COLORS[0], COLORS[1]);
    draw_legend(
        &legend_area,
        &[
            ("goodput regret".into(), goodput_color, true),
            ("cost-aware regret (goodput per GPU)".into(), cost_color, true),
        ],
    )?;
    let names: Vec<String> = c
        .methods
        .iter()
        .map(|m| {
            let o = &m.optimization;
            if o.regret_pct.is_none() && o.cost_regret_pct.is_none() {
                format!("{} (not measured)", m.method)
            } else {
                m.method.clone()
            }
        })
        .collect();
    let goodput: Vec<Option<Sample>> = c.methods.iter().map(|m| m.optimization.regret_pct).collect();
    let cost: Vec<Option<Sample>> = c.methods.iter().map(|m| m.optimization.cost_regret_pct).collect();
    if goodput.iter().chain(&cost).all(Option::is_none) {
        let missing = if c.oracle.is_none() {
            "not measured (no oracle)"
        } else {
            "not measured"
        };
        return message(&body, missing);
    }
    level_bars(
        &body,
        &names,
        "",
        "regret (% of the oracle's best on the measure)",
        &[(goodput_color, &goodput), (cost_color, &cost)],
    )
}

/// Horizontal bars, one per method (first method on top), with the value at the bar's end.
#[allow(clippy::too_many_arguments)]
fn hbars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    x_desc: &str,
    names: &[String],
    values: &[Option<f64>],
    missing: &str,
    decimals: usize,
    label_width: u32,
) -> DrawResult {
    let n = names.len().max(1);
    let finite: Vec<f64> = values.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(0.0, f64::min);
    let hi = finite.iter().copied().fold(0.0, f64::max);
    let span = if hi - lo > 0.0 { hi - lo } else { 1.0 };
    let x_range = if finite.is_empty() {
        0.0..1.0
    } else {
        (lo - if lo < 0.0 { 0.15 * span } else { 0.0 })..(hi + 0.3 * span)
    };
    let row = |i: usize| (n - 1 - i) as f64;
    let ticks = |v: &f64| {
        if decimals == 0 {
            format!("{v:.0}")
        } else {
            tick(*v, span)
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, title(20))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(45)
        .y_label_area_size(label_width)
        .build_cartesian_2d(x_range.clone(), -0.5..(n as f64 - 0.5))
        .map_err(|e| e.to_string())?;
    let label = |y: &f64| {
        let i = n as f64 - 1.0 - y.round();
        if (y - y.round()).abs() < 1e-6 && i >= 0.0 {
            names.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(n)
        .y_label_formatter(&label)
        .x_label_formatter(&ticks)
        .x_desc(x_desc)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, value) in values.iter().enumerate() {
        let y = row(i);
        let color = COLORS[i % COLORS.len()];
        match value.filter(|v| v.is_finite()) {
            Some(v) => {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(0.0, y - 0.3), (v, y + 0.3)],
                        color.filled(),
                    )))
                    .map_err(|e| e.to_string())?;
                let at = if v >= 0.0 { v } else { 0.0 };
                let style = text(15).pos(Pos::new(HPos::Left, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(format!(" {v:.decimals$}"), (at, y), style)))
                    .map_err(|e| e.to_string())?;
            }
            None => {
                let style = text(15)
                    .color(&RGBColor(110, 110, 110))
                    .pos(Pos::new(HPos::Left, VPos::Center));
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!(" {missing}"),
                        (x_range.start.max(0.0), y),
                        style,
                    )))
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if names.is_empty() {
        message(area, "no methods")?;
    }
    Ok(())
}

fn draw_errors<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> DrawResult {
    let (head, body) = root.split_vertically(90);
    let (title_area, legend_area) = head.split_vertically(50);
    title_area
        .titled(
            "Signed prediction error by load level: (predicted - measured) / measured; negative = optimistic",
            title(20),
        )
        .map_err(|e| e.to_string())?;
    let errors = |m: &MethodComparison, f: fn(&LevelErrors) -> Option<Sample>| -> Vec<Option<Sample>> {
        (0..LEVELS.len())
            .map(|i| m.levels.get(i).and_then(|l| f(&l.error_pct)))
            .collect()
    };
    // Only methods with at least one error get a bar slot; the others are named in the legend.
    let mut series = Vec::new();
    let mut legend = Vec::new();
    for (j, m) in c.methods.iter().enumerate() {
        let (ttft, itl) = (errors(m, |e| e.ttft_p50), errors(m, |e| e.itl_p50));
        let measured = ttft.iter().chain(&itl).any(Option::is_some);
        let color = COLORS[j % COLORS.len()];
        legend.push((
            if measured {
                m.method.clone()
            } else {
                format!("{} (not measured)", m.method)
            },
            color,
            measured,
        ));
        if measured {
            series.push(Series { color, ttft, itl });
        }
    }
    draw_legend(&legend_area, &legend)?;
    let (top, bottom) = body.split_vertically(body.dim_in_pixel().1 / 2);
    let levels: Vec<String> = LEVELS
        .iter()
        .enumerate()
        .map(|(i, level)| {
            let conc = c.methods.iter().find_map(|m| m.levels.get(i).map(|l| l.concurrency));
            conc.map_or(level.to_string(), |k| format!("{level} (concurrency {k})"))
        })
        .collect();
    let ttft: Vec<(RGBColor, &[Option<Sample>])> = series.iter().map(|s| (s.color, s.ttft.as_slice())).collect();
    let itl: Vec<(RGBColor, &[Option<Sample>])> = series.iter().map(|s| (s.color, s.itl.as_slice())).collect();
    let y_desc = "signed error (%)";
    level_bars(&top, &levels, "TTFT (predicted vs measured p50)", y_desc, &ttft)?;
    level_bars(&bottom, &levels, "ITL (predicted vs measured p50)", y_desc, &itl)
}

/// One method's bars in the error plot.
struct Series {
    color: RGBColor,
    ttft: Vec<Option<Sample>>,
    itl: Vec<Option<Sample>>,
}

/// A legend in one row: a colour square (hollow when the method has no data) and a name each.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(String, RGBColor, bool)]) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let widths: Vec<i32> = items
        .iter()
        .map(|(name, _, _)| name.chars().count() as i32 * 8 + 44)
        .collect();
    let mut x = ((w as i32 - widths.iter().sum::<i32>()) / 2).max(10);
    let y = h as i32 / 2;
    for ((name, color, filled), width) in items.iter().zip(widths) {
        let style = if *filled { color.filled() } else { color.stroke_width(2) };
        area.draw(&Rectangle::new([(x, y - 8), (x + 16, y + 8)], style))
            .map_err(|e| e.to_string())?;
        let label = text(16).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(name.clone(), (x + 22, y), label))
            .map_err(|e| e.to_string())?;
        x += width;
    }
    Ok(())
}

/// Grouped bars: one group per level, one bar per series, with 95% intervals when present.
fn level_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    levels: &[String],
    caption: &str,
    y_desc: &str,
    series: &[(RGBColor, &[Option<Sample>])],
) -> DrawResult {
    let mut all: Vec<f64> = Vec::new();
    for s in series.iter().flat_map(|(_, v)| v.iter()).flatten() {
        all.push(s.mean);
        all.extend(s.ci95.iter().flatten());
    }
    let lo = all.iter().copied().fold(0.0, f64::min);
    let hi = all.iter().copied().fold(0.0, f64::max);
    let span = if hi - lo > 0.0 { hi - lo } else { 10.0 };
    let groups = levels.len();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, title(18))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..(groups as f64 - 0.5), (lo - 0.15 * span)..(hi + 0.15 * span))
        .map_err(|e| e.to_string())?;
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            levels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let ticks = |v: &f64| tick(*v, span);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(groups)
        .x_label_formatter(&label)
        .y_label_formatter(&ticks)
        .y_desc(y_desc)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            [(-0.5, 0.0), (groups as f64 - 0.5, 0.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(|e| e.to_string())?;
    if series.is_empty() {
        return message(area, "not measured: no method has both a prediction and a measurement");
    }
    let width = 0.8 / series.len() as f64;
    for (j, (color, values)) in series.iter().enumerate() {
        let offset = -0.4 + width * j as f64;
        for (i, s) in values.iter().enumerate() {
            let Some(s) = s else { continue };
            let x = i as f64 + offset;
            let bar = Rectangle::new([(x + 0.1 * width, 0.0), (x + 0.9 * width, s.mean)], color.filled());
            chart.draw_series(std::iter::once(bar)).map_err(|e| e.to_string())?;
            let center = x + width / 2.0;
            let mut end = s.mean;
            if let Some([a, b]) = s.ci95 {
                let whisker = [(center, a), (center, b)];
                chart
                    .draw_series(LineSeries::new(whisker, BLACK.stroke_width(2)))
                    .map_err(|e| e.to_string())?;
                end = if s.mean >= 0.0 { b } else { a };
            }
            let vpos = if s.mean >= 0.0 { VPos::Bottom } else { VPos::Top };
            let style = text(14).pos(Pos::new(HPos::Center, vpos));
            let value = Text::new(format!("{:.1}", s.mean), (center, end), style);
            chart.draw_series(std::iter::once(value)).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// A tick label with as many decimals as the axis span needs.
fn tick(v: f64, span: f64) -> String {
    let decimals = if span >= 20.0 {
        0
    } else if span >= 2.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.decimals$}");
    if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
        "0".into()
    } else {
        text
    }
}

fn draw_cost_vs_regret<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &Comparison) -> DrawResult {
    let measure = c.recommendations.pareto_regret.as_deref().unwrap_or("goodput");
    let points: Vec<(String, f64, f64)> = c
        .methods
        .iter()
        .filter(|m| m.status != MethodStatus::Failed)
        .filter_map(|m| Some((m.method.clone(), m.cost.gpu_hours?, pareto_regret_of(m, measure)?)))
        .collect();
    let (caption, y_desc) = if measure == "cost_aware" {
        (
            "Profiling cost against cost-aware regret (lower left is better)",
            "cost-aware regret (% of the oracle's best goodput/GPU)",
        )
    } else {
        (
            "Profiling cost against goodput regret (lower left is better)",
            "goodput regret (% of the oracle's goodput)",
        )
    };
    if points.is_empty() {
        let (head, body) = root.split_vertically(50);
        head.titled(caption, title(24)).map_err(|e| e.to_string())?;
        return message(&body, "not measured: no method has both metered GPU-hours and a regret");
    }
    let max_x = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (lo_y, hi_y) = points
        .iter()
        .fold((0.0f64, 0.0f64), |(a, b), p| (a.min(p.2), b.max(p.2)));
    let x_span = if max_x > 0.0 { max_x } else { 1.0 };
    let y_span = if hi_y - lo_y > 0.0 { hi_y - lo_y } else { 10.0 };
    let mut chart = ChartBuilder::on(root)
        .caption(caption, title(24))
        .margin(20)
        .margin_right(36)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            -0.05 * x_span..1.35 * x_span,
            (lo_y - 0.1 * y_span)..(hi_y + 0.15 * y_span),
        )
        .map_err(|e| e.to_string())?;
    let x_ticks = |v: &f64| tick(*v, x_span);
    let y_ticks = |v: &f64| tick(*v, y_span);
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_label_formatter(&x_ticks)
        .y_label_formatter(&y_ticks)
        .x_desc("profiling cost (GPU-hours)")
        .y_desc(y_desc)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .draw()
        .map_err(|e| e.to_string())?;
    let front: Vec<(f64, f64)> = c
        .recommendations
        .pareto_front
        .iter()
        .filter_map(|name| points.iter().find(|p| &p.0 == name).map(|p| (p.1, p.2)))
        .collect();
    let front_color = RGBColor(214, 39, 40);
    chart
        .draw_series(LineSeries::new(front.clone(), front_color.stroke_width(2)))
        .map_err(|e| e.to_string())?
        .label("Pareto front")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], front_color.stroke_width(2)));
    let legend_marker = |filled: bool| {
        move |(x, y): (i32, i32)| {
            let style = if filled { BLACK.filled() } else { BLACK.stroke_width(2) };
            Circle::new((x + 8, y), 6, style)
        }
    };
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(|e| e.to_string())?
        .label("on the front (filled)")
        .legend(legend_marker(true));
    chart
        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
        .map_err(|e| e.to_string())?
        .label("dominated (hollow)")
        .legend(legend_marker(false));
    for (i, (name, x, y)) in points.iter().enumerate() {
        let color = COLORS[c.methods.iter().position(|m| &m.method == name).unwrap_or(i) % COLORS.len()];
        let style = if front.contains(&(*x, *y)) {
            color.filled()
        } else {
            color.stroke_width(2)
        };
        // Labels sit above and to the right of their marker; when earlier labels are near (a label
        // spans about a third of the width), stack this one below them.
        let crowded = points[..i]
            .iter()
            .filter(|p| (p.1 - x).abs() < 0.4 * x_span && (p.2 - y).abs() < 0.1 * y_span)
            .count() as i32;
        let dy = if crowded == 0 { -24 } else { 12 + 18 * (crowded - 1) };
        let label = Text::new(format!("{name} ({x:.3} GPU-h, {y:.1} %)"), (12, dy), text(15));
        let point = EmptyElement::at((*x, *y)) + Circle::new((0, 0), 8, style) + label;
        chart.draw_series(std::iter::once(point)).map_err(|e| e.to_string())?;
    }
    // The legend goes in whichever right-hand corner has fewer points.
    let upper = points
        .iter()
        .filter(|p| p.1 > 0.5 * x_span && p.2 > lo_y + 0.5 * y_span)
        .count();
    let lower = points
        .iter()
        .filter(|p| p.1 > 0.5 * x_span && p.2 <= lo_y + 0.5 * y_span)
        .count();
    let corner = if upper > lower {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    };
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(text(15))
        .draw()
        .map_err(|e| e.to_string())
}
