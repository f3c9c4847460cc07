//! The comparison's plots, each as PNG and SVG: cost per method, signed error by load level,
//! regret per method, and GPU-hours against regret with the Pareto front; and, for the page,
//! each planner run's replica timeline over the trace's rate.
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

/// One plot (a stem of [`PLOTS`]) as SVG text, for the page.
pub fn svg(stem: &str, comparison: &Comparison) -> io::Result<String> {
    register_fonts();
    render_svg(stem, plot_size(stem), comparison)
}

pub(crate) const FONT: &str = "sans-serif";
/// Okabe and Ito's colour-blind-safe palette ("Color Universal Design", 2008), ordered so that
/// the first colours have the most contrast on white (its yellow comes late, its black last).
/// A method's colour is `COLORS[i % 8]` for its index `i` in `Comparison::methods` (sorted by
/// name), the same in every plot and on the page ([`method_color`]).
pub const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(240, 228, 66),  // yellow
    RGBColor(0, 0, 0),       // black
];

/// Grey for what belongs to no method (the oracle, the trace's rate, the Pareto front).
const NEUTRAL: RGBColor = RGBColor(110, 110, 110);

/// The colour of the method at `index` in `Comparison::methods`, as CSS `#rrggbb`.
pub fn method_color(index: usize) -> String {
    let RGBColor(r, g, b) = COLORS[index % COLORS.len()];
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// The colour of a method by name (its index in `c.methods`; unknown names get the last colour).
fn color_of(c: &Comparison, name: &str) -> RGBColor {
    let index = c
        .methods
        .iter()
        .position(|m| m.method == name)
        .unwrap_or(COLORS.len() - 1);
    COLORS[index % COLORS.len()]
}

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
    // Each method keeps its colour: goodput regret filled, cost-aware regret hollow.
    draw_legend(
        &legend_area,
        &[
            ("goodput regret (filled)".into(), NEUTRAL, true),
            ("cost-aware regret, goodput per GPU (hollow)".into(), NEUTRAL, false),
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
        &[
            BarSeries {
                colors: (0..c.methods.len()).map(|i| COLORS[i % COLORS.len()]).collect(),
                filled: true,
                values: &goodput,
            },
            BarSeries {
                colors: (0..c.methods.len()).map(|i| COLORS[i % COLORS.len()]).collect(),
                filled: false,
                values: &cost,
            },
        ],
    )
}

/// One series of grouped bars: a colour per group (or one for all), filled or hollow.
struct BarSeries<'a> {
    colors: Vec<RGBColor>,
    filled: bool,
    values: &'a [Option<Sample>],
}

impl BarSeries<'_> {
    fn style(&self, group: usize) -> ShapeStyle {
        let color = self
            .colors
            .get(group)
            .or(self.colors.last())
            .copied()
            .unwrap_or(NEUTRAL);
        if self.filled {
            color.filled()
        } else {
            color.stroke_width(3)
        }
    }
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
    let bars = |values: fn(&Series) -> &[Option<Sample>]| -> Vec<BarSeries> {
        series
            .iter()
            .map(|s| BarSeries {
                colors: vec![s.color],
                filled: true,
                values: values(s),
            })
            .collect()
    };
    let (ttft, itl) = (bars(|s| &s.ttft), bars(|s| &s.itl));
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

/// A legend: a colour square (hollow when the method has no data) and a name each, in as many
/// centred rows as the width needs.
fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, items: &[(String, RGBColor, bool)]) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    let widths: Vec<i32> = items
        .iter()
        .map(|(name, _, _)| text_width(name, 16) as i32 + 40)
        .collect();
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, width) in widths.iter().enumerate() {
        let row = rows.last_mut().expect("one row");
        if !row.is_empty() && used + width > w as i32 - 20 {
            rows.push(vec![i]);
            used = *width;
        } else {
            row.push(i);
            used += width;
        }
    }
    let row_h = 20;
    let top = (h as i32 - row_h * rows.len() as i32) / 2 + row_h / 2;
    for (r, row) in rows.iter().enumerate() {
        let total: i32 = row.iter().map(|&i| widths[i]).sum();
        let mut x = ((w as i32 - total) / 2).max(10);
        let y = top + r as i32 * row_h;
        for &i in row {
            let (name, color, filled) = &items[i];
            let style = if *filled { color.filled() } else { color.stroke_width(2) };
            area.draw(&Rectangle::new([(x, y - 7), (x + 14, y + 7)], style))
                .map_err(|e| e.to_string())?;
            let label = text(16).pos(Pos::new(HPos::Left, VPos::Center));
            area.draw(&Text::new(name.clone(), (x + 20, y), label))
                .map_err(|e| e.to_string())?;
            x += widths[i];
        }
    }
    Ok(())
}

/// Grouped bars: one group per level, one bar per series, with 95% intervals when present.
fn level_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    levels: &[String],
    caption: &str,
    y_desc: &str,
    series: &[BarSeries],
) -> DrawResult {
    let mut all: Vec<f64> = Vec::new();
    for s in series.iter().flat_map(|s| s.values.iter()).flatten() {
        all.push(s.mean);
        all.extend(s.ci95.iter().flatten());
    }
    let lo = all.iter().copied().fold(0.0, f64::min);
    let hi = all.iter().copied().fold(0.0, f64::max);
    let span = if hi - lo > 0.0 { hi - lo } else { 10.0 };
    let groups = levels.len();
    // Room above and below the bars for value labels that read upwards (about 40 px).
    let room = if series.len() * groups > 12 { 0.3 } else { 0.15 };
    // Group labels are wrapped to their group's width, so that they never run into each other.
    let group_px = (area.dim_in_pixel().0 as f64 - 128.0) / groups.max(1) as f64;
    let wrapped: Vec<Vec<String>> = levels.iter().map(|l| wrap(l, group_px - 8.0, 15)).collect();
    let lines = wrapped.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, title(18))
        .margin(12)
        .margin_right(36)
        .x_label_area_size(14 + 18 * lines as u32)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5..(groups as f64 - 0.5), (lo - room * span)..(hi + room * span))
        .map_err(|e| e.to_string())?;
    let ticks = |v: &f64| tick(*v, span);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .x_labels(0)
        .y_label_formatter(&ticks)
        .y_desc(y_desc)
        .label_style(text(15))
        .axis_desc_style(text(16))
        .draw()
        .map_err(|e| e.to_string())?;
    // Backend pixels to the area's own.
    let (_, y_px) = chart.plotting_area().get_pixel_range();
    let base = area.get_base_pixel();
    for (i, label) in wrapped.iter().enumerate() {
        let (x, _) = chart.backend_coord(&(i as f64, 0.0));
        for (k, line) in label.iter().enumerate() {
            let style = text(15).pos(Pos::new(HPos::Center, VPos::Top));
            let at = (x - base.0, y_px.end - base.1 + 6 + 18 * k as i32);
            area.draw(&Text::new(line.clone(), at, style))
                .map_err(|e| e.to_string())?;
        }
    }
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
    let bar_px = {
        let (a, b) = (chart.backend_coord(&(0.0, 0.0)), chart.backend_coord(&(width, 0.0)));
        f64::from((b.0 - a.0).abs())
    };
    for (j, bars) in series.iter().enumerate() {
        let offset = -0.4 + width * j as f64;
        for (i, s) in bars.values.iter().enumerate() {
            let Some(s) = s else { continue };
            let x = i as f64 + offset;
            let bar = Rectangle::new([(x + 0.1 * width, 0.0), (x + 0.9 * width, s.mean)], bars.style(i));
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
            let value = format!("{:.1}", s.mean);
            let style = if text_width(&value, 14) <= bar_px {
                let vpos = if s.mean >= 0.0 { VPos::Bottom } else { VPos::Top };
                text(14).pos(Pos::new(HPos::Center, vpos))
            } else {
                // Read upwards from the bar's end (downwards below zero).
                let hpos = if s.mean >= 0.0 { HPos::Left } else { HPos::Right };
                text(14)
                    .transform(FontTransform::Rotate270)
                    .pos(Pos::new(hpos, VPos::Center))
            };
            chart
                .draw_series(std::iter::once(Text::new(value, (center, end), style)))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// `text` in lines no wider than `max_px` at `size` px, broken between words; a word longer than
/// a line is cut with an ellipsis.
fn wrap(text: &str, max_px: f64, size: u32) -> Vec<String> {
    let max_chars = ((max_px / (0.6 * f64::from(size))).floor() as usize).max(2);
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let word: String = if word.chars().count() > max_chars {
            word.chars().take(max_chars - 1).chain(std::iter::once('…')).collect()
        } else {
            word.to_string()
        };
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= max_chars => {
                line.push(' ');
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    lines
}

/// A generous estimate of a text's width in pixels at `size` px in DejaVu Sans (its average
/// advance is about 0.55 em; 0.6 em leaves room for wide glyphs).
pub(crate) fn text_width(text: &str, size: u32) -> f64 {
    text.chars().count() as f64 * 0.6 * f64::from(size)
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
    let (head, body) = root.split_vertically(80);
    let (title_area, legend_area) = head.split_vertically(46);
    title_area.titled(caption, title(24)).map_err(|e| e.to_string())?;
    if points.is_empty() {
        return message(&body, "not measured: no method has both metered GPU-hours and a regret");
    }
    draw_legend(
        &legend_area,
        &[
            ("on the Pareto front (filled, joined)".into(), NEUTRAL, true),
            ("dominated (hollow)".into(), NEUTRAL, false),
        ],
    )?;
    let max_x = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let (lo_y, hi_y) = points
        .iter()
        .fold((0.0f64, 0.0f64), |(a, b), p| (a.min(p.2), b.max(p.2)));
    let x_span = if max_x > 0.0 { max_x } else { 1.0 };
    let y_span = if hi_y - lo_y > 0.0 { hi_y - lo_y } else { 10.0 };
    let mut chart = ChartBuilder::on(&body)
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
    chart
        .draw_series(LineSeries::new(front.clone(), NEUTRAL.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    const MARKER: i32 = 8;
    for (name, x, y) in &points {
        let color = color_of(c, name);
        let style = if front.contains(&(*x, *y)) {
            color.filled()
        } else {
            color.stroke_width(3)
        };
        chart
            .draw_series(std::iter::once(Circle::new((*x, *y), MARKER, style)))
            .map_err(|e| e.to_string())?;
    }
    // Labels are placed in pixels, clear of every marker and of each other (leader lines join
    // the ones that had to move away from their point).
    let pixel = |x: f64, y: f64| {
        let (px, py) = chart.backend_coord(&(x, y));
        (f64::from(px), f64::from(py))
    };
    let anchors: Vec<(f64, f64)> = points.iter().map(|p| pixel(p.1, p.2)).collect();
    let labels: Vec<String> = points
        .iter()
        .map(|(name, x, y)| format!("{name} ({x:.3} GPU-h, {y:.1} %)"))
        .collect();
    let sizes: Vec<(f64, f64)> = labels.iter().map(|l| (text_width(l, 15), 18.0)).collect();
    let (xs, ys) = chart.plotting_area().get_pixel_range();
    let bounds = LabelBox {
        x: f64::from(xs.start),
        y: f64::from(ys.start),
        w: f64::from(xs.end - xs.start),
        h: f64::from(ys.end - ys.start),
    };
    let placed = place_labels(&anchors, &sizes, f64::from(MARKER) + 2.0, bounds);
    for (((label, (name, _, _)), at), anchor) in labels.iter().zip(&points).zip(&placed).zip(&anchors) {
        let color = color_of(c, name);
        if at.leader {
            let (lx, ly) = at.rect.nearest(*anchor);
            root.draw(&PathElement::new(
                vec![(anchor.0 as i32, anchor.1 as i32), (lx as i32, ly as i32)],
                color.stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        }
        let style = text(15).pos(Pos::new(HPos::Left, VPos::Center));
        let origin = (at.rect.x as i32 + 2, (at.rect.y + at.rect.h / 2.0) as i32);
        root.draw(&Text::new(label.clone(), origin, style))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A label's box in pixels: left, top, width, height.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct LabelBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl LabelBox {
    fn overlaps(&self, other: &LabelBox) -> bool {
        self.x < other.x + other.w
            && other.x < self.x + self.w
            && self.y < other.y + other.h
            && other.y < self.y + self.h
    }

    fn inside(&self, bounds: &LabelBox) -> bool {
        self.x >= bounds.x
            && self.y >= bounds.y
            && self.x + self.w <= bounds.x + bounds.w
            && self.y + self.h <= bounds.y + bounds.h
    }

    /// The point of the box nearest to `p`.
    fn nearest(&self, p: (f64, f64)) -> (f64, f64) {
        (p.0.clamp(self.x, self.x + self.w), p.1.clamp(self.y, self.y + self.h))
    }
}

/// Where a label went, and whether it needs a leader line back to its point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Placement {
    pub rect: LabelBox,
    pub leader: bool,
}

/// Places one label of `sizes[i]` per point `anchors[i]` (pixels) so that no label overlaps
/// another label or any marker (a square of half-side `marker`) and each stays inside `bounds`
/// when it can: first right, left, above or below its point, then the same directions further
/// out (with a leader line), ring by ring. A label that fits nowhere takes the candidate that
/// overlaps least.
pub(crate) fn place_labels(
    anchors: &[(f64, f64)],
    sizes: &[(f64, f64)],
    marker: f64,
    bounds: LabelBox,
) -> Vec<Placement> {
    let markers: Vec<LabelBox> = anchors
        .iter()
        .map(|&(x, y)| LabelBox {
            x: x - marker,
            y: y - marker,
            w: 2.0 * marker,
            h: 2.0 * marker,
        })
        .collect();
    let mut placed: Vec<Placement> = Vec::new();
    for (&(px, py), &(w, h)) in anchors.iter().zip(sizes) {
        let gap = marker + 3.0;
        let mut candidates = Vec::new();
        for ring in 0..40 {
            let out = gap + f64::from(ring) * (h + 2.0);
            let shifts: Vec<f64> = (0..=ring).flat_map(|k| [f64::from(k), -f64::from(k)]).collect();
            for shift in shifts {
                let dy = shift * (h + 2.0);
                let dx = shift * 0.5 * w;
                candidates.push((
                    LabelBox {
                        x: px + out,
                        y: py - h / 2.0 + dy,
                        w,
                        h,
                    },
                    ring,
                ));
                candidates.push((
                    LabelBox {
                        x: px - out - w,
                        y: py - h / 2.0 + dy,
                        w,
                        h,
                    },
                    ring,
                ));
                candidates.push((
                    LabelBox {
                        x: px - w / 2.0 + dx,
                        y: py - out - h,
                        w,
                        h,
                    },
                    ring,
                ));
                candidates.push((
                    LabelBox {
                        x: px - w / 2.0 + dx,
                        y: py + out,
                        w,
                        h,
                    },
                    ring,
                ));
            }
        }
        let clashes = |r: &LabelBox| {
            placed.iter().filter(|p| p.rect.overlaps(r)).count()
                + markers.iter().filter(|m| m.overlaps(r)).count()
                + usize::from(!r.inside(&bounds))
        };
        let best = candidates
            .iter()
            .find(|(r, _)| clashes(r) == 0)
            .or_else(|| candidates.iter().min_by_key(|(r, _)| clashes(r)))
            .copied()
            .expect("candidates");
        placed.push(Placement {
            rect: best.0,
            leader: best.1 > 0,
        });
    }
    placed
}

/// The trace's arrival rate, binned.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceRate {
    /// Bin width, s.
    pub bin_s: f64,
    /// Requests per second in each bin, from t = 0.
    pub rates: Vec<f64>,
}

impl TraceRate {
    /// The rate of arrivals at `timestamps_ms`, in bins of about 1/900 of the trace (at least 1 s).
    pub fn of(timestamps_ms: &[f64]) -> TraceRate {
        let end_s = timestamps_ms.iter().copied().fold(0.0, f64::max) / 1000.0;
        let bin_s = (end_s / 900.0).ceil().max(1.0);
        let mut counts = vec![0.0; (end_s / bin_s).floor() as usize + 1];
        for t in timestamps_ms {
            counts[((t / 1000.0) / bin_s).floor() as usize] += 1.0;
        }
        TraceRate {
            bin_s,
            rates: counts.into_iter().map(|n| n / bin_s).collect(),
        }
    }

    fn duration_s(&self) -> f64 {
        self.rates.len() as f64 * self.bin_s
    }
}

/// One planner-in-the-loop run's replicas over time.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaTimeline {
    /// Title: what ran (method or oracle candidate, seed, graph).
    pub title: String,
    /// Colour: the method's index in `Comparison::methods`; None for an oracle candidate.
    pub method_index: Option<usize>,
    /// (time s, prefill workers, decode workers) from the run's optimization.json, each holding
    /// until the next.
    pub replicas: Vec<(f64, u32, u32)>,
}

/// A run's replica timeline with the trace's rate behind it, as SVG.
pub fn timeline_svg(run: &ReplicaTimeline, trace: Option<&TraceRate>) -> io::Result<String> {
    register_fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 320)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| draw_timeline(&root, run, trace))
            .and_then(|_| root.present().map_err(|e| e.to_string()))
            .map_err(|e| plot_error("timeline", "svg", e))?;
    }
    Ok(svg)
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    run: &ReplicaTimeline,
    trace: Option<&TraceRate>,
) -> DrawResult {
    let color = run.method_index.map_or(BLACK, |i| COLORS[i % COLORS.len()]);
    let (head, body) = root.split_vertically(56);
    let (title_area, legend_area) = head.split_vertically(30);
    title_area.titled(&run.title, title(17)).map_err(|e| e.to_string())?;
    let mut legend = vec![
        ("prefill workers (solid)".to_string(), color, true),
        ("decode workers (dashed)".to_string(), color, false),
    ];
    match trace {
        Some(_) => legend.push((
            "trace rate, req/s (grey, right axis)".into(),
            RGBColor(190, 190, 190),
            true,
        )),
        None => legend.push(("trace rate: not recorded".into(), RGBColor(190, 190, 190), false)),
    }
    draw_legend(&legend_area, &legend)?;
    if run.replicas.is_empty() {
        return message(&body, "replicas not recorded");
    }
    let last = run.replicas.last().map_or(0.0, |r| r.0);
    let end = trace.map_or(0.0, TraceRate::duration_s).max(last * 1.05).max(1.0);
    let max_workers = run.replicas.iter().map(|r| r.1.max(r.2)).max().unwrap_or(1).max(1);
    let max_rate = trace.map_or(1.0, |t| t.rates.iter().copied().fold(1.0, f64::max));
    let mut chart = ChartBuilder::on(&body)
        .margin(8)
        .margin_right(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..end, 0.0..f64::from(max_workers) + 0.5)
        .map_err(|e| e.to_string())?
        .set_secondary_coord(0.0..end, 0.0..max_rate * 1.1);
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("time (s)")
        .y_desc("workers")
        .y_labels((max_workers as usize + 1).min(12))
        .y_label_formatter(&|v: &f64| format!("{v:.0}"))
        .x_label_formatter(&|v: &f64| format!("{v:.0}"))
        .label_style(text(13))
        .axis_desc_style(text(14))
        .draw()
        .map_err(|e| e.to_string())?;
    if let Some(t) = trace {
        chart
            .configure_secondary_axes()
            .y_desc("req/s")
            .label_style(text(13))
            .axis_desc_style(text(14))
            .draw()
            .map_err(|e| e.to_string())?;
        let rate = t
            .rates
            .iter()
            .enumerate()
            .map(|(i, r)| ((i as f64 + 0.5) * t.bin_s, *r));
        chart
            .draw_secondary_series(LineSeries::new(rate, RGBColor(190, 190, 190).stroke_width(1)))
            .map_err(|e| e.to_string())?;
    }
    let steps = |role: fn(&(f64, u32, u32)) -> u32| -> Vec<(f64, f64)> {
        let mut points = Vec::new();
        for (i, r) in run.replicas.iter().enumerate() {
            let until = run.replicas.get(i + 1).map_or(end, |n| n.0);
            points.push((r.0, f64::from(role(r))));
            points.push((until, f64::from(role(r))));
        }
        points
    };
    chart
        .draw_series(LineSeries::new(steps(|r| r.1), color.stroke_width(3)))
        .map_err(|e| e.to_string())?;
    // Decode sits a hair lower so that equal counts still show both lines.
    let decode: Vec<(f64, f64)> = steps(|r| r.2).into_iter().map(|(t, n)| (t, n - 0.06)).collect();
    chart
        .draw_series(DashedLineSeries::new(decode, 10, 6, color.stroke_width(2)))
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> LabelBox {
        LabelBox {
            x: 0.0,
            y: 0.0,
            w: 900.0,
            h: 500.0,
        }
    }

    fn check(anchors: &[(f64, f64)], sizes: &[(f64, f64)], placed: &[Placement]) {
        let marker = 10.0;
        for (i, a) in placed.iter().enumerate() {
            assert!(a.rect.inside(&bounds()), "{i}: {a:?}");
            for (j, b) in placed.iter().enumerate().filter(|(j, _)| *j != i) {
                assert!(!a.rect.overlaps(&b.rect), "labels {i} and {j} overlap: {a:?} {b:?}");
            }
            for &(x, y) in anchors {
                let m = LabelBox {
                    x: x - marker,
                    y: y - marker,
                    w: 2.0 * marker,
                    h: 2.0 * marker,
                };
                assert!(!a.rect.overlaps(&m), "label {i} covers the marker at ({x}, {y})");
            }
            assert_eq!((a.rect.w, a.rect.h), sizes[i]);
        }
    }

    #[test]
    fn labels_of_coincident_and_close_points_never_overlap() {
        // The defaults' cost-vs-regret plot: two methods at nearly the same cost and regret.
        let anchors = [(400.0, 250.0), (403.0, 252.0)];
        let sizes = [(260.0, 18.0), (300.0, 18.0)];
        let placed = place_labels(&anchors, &sizes, 10.0, bounds());
        check(&anchors, &sizes, &placed);
        // Eight methods on one spot, near the plot's right edge.
        let anchors = [(850.0, 100.0); 8];
        let sizes = [(280.0, 18.0); 8];
        let placed = place_labels(&anchors, &sizes, 10.0, bounds());
        check(&anchors, &sizes, &placed);
        assert!(
            placed.iter().filter(|p| p.leader).count() >= 4,
            "far labels get leader lines"
        );
    }

    #[test]
    fn a_lone_label_sits_beside_its_point() {
        let placed = place_labels(&[(100.0, 100.0)], &[(200.0, 18.0)], 10.0, bounds());
        assert!(!placed[0].leader);
        assert_eq!(
            (placed[0].rect.x, placed[0].rect.y),
            (113.0, 91.0),
            "right of the marker, centred"
        );
        // Move the point to the right edge: the label flips to its left, still without a leader.
        let placed = place_labels(&[(880.0, 100.0)], &[(200.0, 18.0)], 10.0, bounds());
        assert!(
            !placed[0].leader && placed[0].rect.x + 200.0 <= 880.0 - 10.0,
            "{placed:?}"
        );
    }

    #[test]
    fn the_trace_rate_counts_arrivals_per_second() {
        let times: Vec<f64> = (0..300).map(|i| f64::from(i) * 100.0).collect(); // 10 req/s for 30 s
        let rate = TraceRate::of(&times);
        assert_eq!(rate.bin_s, 1.0);
        assert!(rate.rates[..29].iter().all(|r| *r == 10.0), "{:?}", rate.rates);
        // Twice as long a trace at the same rate keeps 1 s bins until 900 s, then widens them.
        let long: Vec<f64> = (0..20_000).map(|i| f64::from(i) * 100.0).collect(); // 2000 s
        let rate = TraceRate::of(&long);
        assert_eq!(rate.bin_s, 3.0);
        assert!((rate.rates[10] - 10.0).abs() < 1e-9);
    }
}

#[cfg(test)]
mod wrap_tests {
    #[test]
    fn wrapped_labels_fit_their_width() {
        let lines = super::wrap("stack_rank_bayesian (not measured)", 200.0, 15);
        assert_eq!(lines, ["stack_rank_bayesian", "(not measured)"]);
        assert!(lines.iter().all(|l| super::text_width(l, 15) <= 200.0));
        assert_eq!(super::wrap("idle (concurrency 1)", 400.0, 15), ["idle (concurrency 1)"]);
        let cut = super::wrap("averyveryverylongmethodname", 90.0, 15);
        assert_eq!(cut, ["averyvery…"]);
    }
}
