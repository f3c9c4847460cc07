//! `summary.txt`: the comparison for a person: cost, predictive accuracy per level, optimization,
//! which method to use for which need, verdicts, notes and warnings.
//!
//! Missing values print as `-`; a value over several seeds prints as `mean [low, high]`.

use super::{Comparison, LevelComparison, MethodComparison, MethodStatus, Paired, Sample, VsBest};

/// File name of the text report.
pub const FILE_NAME: &str = "summary.txt";

/// Renders the whole text report.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(&format!("profcmp comparison of {}\n", c.results_dir));
    out.push_str(&format!(
        "SLA: ISL {} / OSL {} tokens, TTFT <= {} ms, ITL <= {} ms\n",
        c.sla.isl, c.sla.osl, c.sla.ttft_ms, c.sla.itl_ms
    ));
    if let Some(run) = &c.run {
        out.push_str(&run_line(run));
    }
    if let Some(t) = &c.trace {
        let classes: Vec<String> = t
            .stats
            .classes
            .iter()
            .map(|(i, o, share)| format!("{i}/{o} {:.0}%", share * 100.0))
            .collect();
        out.push_str(&format!(
            "Trace: {} (sha256 {}), {} requests over {:.0} s, mean {:.1} req/s, busiest second {:.0}, ISL/OSL {}\n",
            t.file,
            &t.sha256[..12.min(t.sha256.len())],
            t.stats.requests,
            t.stats.span_s,
            t.stats.mean_rate,
            t.stats.peak_rate_1s,
            classes.join(", ")
        ));
    }
    section(&mut out, "Methods", &methods_table(c));
    section(
        &mut out,
        "Cost (host-metered; the method's own report beside it)",
        &cost_table(c),
    );
    out.push_str("\n== Predictive accuracy ==\n");
    out.push_str("signed error % = (predicted - measured) / measured x 100; negative = the method was optimistic\n");
    out.push_str(&format!("\n-- TTFT --\n{}", accuracy_table(c, true)));
    out.push_str(&format!("\n-- ITL --\n{}", accuracy_table(c, false)));
    section(&mut out, "Optimization (planner in the loop)", &optimization_table(c));
    section(&mut out, "Which method to use for which need", &needs(c));
    if !c.verdicts.is_empty() {
        let rows = c
            .verdicts
            .iter()
            .map(|v| {
                let mut row = vec![v.metric.clone(), v.a.clone(), v.b.clone()];
                row.extend(paired_cells(&v.difference));
                row
            })
            .collect();
        section(
            &mut out,
            "Verdicts (paired t-test on per-seed differences a - b, p < 0.05)",
            &table(&["metric", "a", "b", "seeds", "a - b [95% CI]", "p", "verdict"], rows),
        );
    }
    let notes: Vec<String> = c
        .methods
        .iter()
        .flat_map(|m| m.notes.iter().map(move |n| format!("- {}: {n}\n", m.method)))
        .collect();
    if !notes.is_empty() {
        section(&mut out, "Notes", &notes.concat());
    }
    if !c.warnings.is_empty() {
        let lines: Vec<String> = c.warnings.iter().map(|w| format!("- {w}\n")).collect();
        section(&mut out, &format!("Warnings ({})", c.warnings.len()), &lines.concat());
    }
    out
}

/// The run's settings in two lines (from results/run.json).
fn run_line(run: &super::RunSettings) -> String {
    let s = &run.spec;
    let t = &s.trace;
    format!(
        "Run: {} on {} ({}), cluster {}, reality {}, GPU budget {}, TPs prefill {:?} decode {:?}, profcmp {}\n\
         Workload: {} requests per level; trace {} s of {}-{} req/s (period {} s); planner as Dynamo {}; seeds {} from {}\n",
        s.model,
        s.system,
        s.backend.as_str(),
        run.cluster,
        s.reality,
        s.search.gpu_budget,
        s.search.prefill_tp,
        s.search.decode_tp,
        run.profcmp_version,
        s.requests_per_level,
        t.duration_s,
        t.min_rate,
        t.max_rate,
        t.period_s,
        s.dynamo_version.as_str(),
        s.repeat,
        s.seed
    )
}

fn section(out: &mut String, title: &str, body: &str) {
    out.push_str(&format!("\n== {title} ==\n{body}"));
}

/// Left-aligned columns separated by two spaces.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out.push_str(&line(row));
    }
    out
}

fn num(value: Option<f64>, decimals: usize) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or("-".into(), |v| format!("{v:.decimals$}"))
}

/// Seeds, mean difference [interval], p-value and verdict of a paired comparison.
fn paired_cells(p: &Paired) -> Vec<String> {
    let decimals = if p.mean_difference.abs() >= 10.0 { 1 } else { 3 };
    let diff = match p.ci95 {
        Some([lo, hi]) => format!("{:+.decimals$} [{lo:+.decimals$}, {hi:+.decimals$}]", p.mean_difference),
        None => format!("{:+.decimals$}", p.mean_difference),
    };
    let p_value = p.p_value.map_or(
        "-".into(),
        |v| {
            if v < 0.001 {
                "<0.001".into()
            } else {
                format!("{v:.3}")
            }
        },
    );
    vec![
        p.seeds.to_string(),
        diff,
        p_value,
        p.verdict.clone().unwrap_or_else(|| "- (one seed)".into()),
    ]
}

fn sample(value: Option<Sample>, decimals: usize) -> String {
    match value {
        None => "-".into(),
        Some(Sample {
            mean,
            ci95: Some([lo, hi]),
            ..
        }) => format!("{mean:.decimals$} [{lo:.decimals$}, {hi:.decimals$}]"),
        Some(s) => format!("{:.decimals$}", s.mean),
    }
}

fn status(m: &MethodComparison) -> &'static str {
    match m.status {
        MethodStatus::Ok => "ok",
        MethodStatus::Failed => "FAILED",
        MethodStatus::NoProfile => "no profile data",
    }
}

fn config(m: &MethodComparison) -> String {
    match (m.prefill_tp, m.decode_tp) {
        (Some(p), Some(d)) => format!("prefill TP{p} + decode TP{d}"),
        _ => "-".into(),
    }
}

fn methods_table(c: &Comparison) -> String {
    let rows = c
        .methods
        .iter()
        .map(|m| {
            let mut detail = match (&m.error, &m.profile_source) {
                (Some(e), _) => format!("error: {e}"),
                (None, Some(s)) => format!("profile data from {s}"),
                (None, None) => "-".into(),
            };
            if let (Some(b), Some(source)) = (m.capacity_b, &m.capacity_source) {
                detail.push_str(&format!("; capacity B = {b} ({source})"));
            }
            vec![m.method.clone(), status(m).into(), config(m), detail]
        })
        .collect();
    table(&["method", "status", "recommended config", "detail"], rows)
}

fn cost_table(c: &Comparison) -> String {
    let rows = c
        .methods
        .iter()
        .map(|m| {
            let k = &m.cost;
            if !k.recorded {
                return vec![m.method.clone(), "not recorded".into()];
            }
            let own = match (&k.reported, k.mismatch) {
                (None, _) => "none".to_string(),
                (Some(_), Some(true)) => format!("MISMATCH: {}", k.mismatches.join("; ")),
                (Some(_), _) => "agrees".to_string(),
            };
            vec![
                m.method.clone(),
                num(k.duration_s, 1),
                num(k.cpu_s, 1),
                num(k.gpu_hours, 3),
                k.deployments.map_or("-".into(), |d| d.to_string()),
                k.estimate_calls.map_or("-".into(), |d| d.to_string()),
                own,
            ]
        })
        .collect();
    table(
        &[
            "method",
            "duration s",
            "CPU s",
            "GPU-hours",
            "deployments",
            "estimate calls",
            "method's own report",
        ],
        rows,
    )
}

fn accuracy_table(c: &Comparison, ttft: bool) -> String {
    let mut rows = Vec::new();
    let mut empty = String::new();
    for m in &c.methods {
        if m.levels.iter().all(|l| l.seeds == 0 && l.predicted.is_none()) {
            empty.push_str(&format!("{}: no predictions, not measured\n", m.method));
            continue;
        }
        for l in &m.levels {
            rows.push(accuracy_row(m, l, ttft));
        }
    }
    let headers = [
        "method",
        "level",
        "concurrency",
        "predicted ms",
        "p50 ms",
        "error % (p50)",
        "p99 ms",
        "error % (p99)",
    ];
    table(&headers, rows) + &empty
}

fn accuracy_row(m: &MethodComparison, l: &LevelComparison, ttft: bool) -> Vec<String> {
    let (pred, p50, p99, e50, e99) = if ttft {
        let p = l.predicted.and_then(|p| p.ttft_ms);
        (
            p,
            l.ttft_p50_ms,
            l.ttft_p99_ms,
            l.error_pct.ttft_p50,
            l.error_pct.ttft_p99,
        )
    } else {
        let p = l.predicted.and_then(|p| p.itl_ms);
        (p, l.itl_p50_ms, l.itl_p99_ms, l.error_pct.itl_p50, l.error_pct.itl_p99)
    };
    let measured = |s: Option<Sample>| {
        if l.seeds == 0 {
            "not measured".into()
        } else {
            sample(s, 1)
        }
    };
    vec![
        m.method.clone(),
        l.level.clone(),
        l.concurrency.to_string(),
        num(pred, 1),
        measured(p50),
        sample(e50, 1),
        measured(p99),
        sample(e99, 1),
    ]
}

fn optimization_table(c: &Comparison) -> String {
    let mut out = String::new();
    out.push_str(
        "goodput regret % = (oracle best goodput - goodput) / oracle best goodput x 100;\n\
         cost-aware regret % = the same on goodput per time-averaged GPU, against the oracle's best on that measure\n",
    );
    if c.methods.iter().any(|m| m.optimization.seeds >= 2) {
        out.push_str(
            "[low, high] = 95% interval over seeds: bootstrap of the mean (SLA hit %: Wilson); \
             see docs/comparison-schema.md\n",
        );
    }
    let rows = c
        .methods
        .iter()
        .map(|m| {
            let o = &m.optimization;
            if o.seeds == 0 {
                return vec![m.method.clone(), "not measured".into()];
            }
            let cfg = match (o.prefill_tp, o.decode_tp) {
                (Some(p), Some(d)) => format!("{p}x{d}"),
                _ => "-".into(),
            };
            let hit = o.sla_hit_rate.map(|s| Sample {
                mean: s.mean * 100.0,
                ci95: s.ci95.map(|[a, b]| [a * 100.0, b * 100.0]),
                ..s
            });
            vec![
                m.method.clone(),
                cfg,
                o.seeds.to_string(),
                sample(o.goodput, 3),
                sample(o.goodput_per_gpu, 3),
                sample(o.avg_gpus, 2),
                sample(hit, 1),
                sample(o.regret_pct, 1),
                sample(o.cost_regret_pct, 1),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "method",
            "PxD TP",
            "seeds",
            "goodput req/s",
            "goodput/GPU req/s",
            "avg GPUs",
            "SLA hit %",
            "goodput regret %",
            "cost-aware regret %",
        ],
        rows,
    ));
    let mut paired = Vec::new();
    for m in &c.methods {
        let o = &m.optimization;
        for (measure, vs) in [
            ("goodput", &o.goodput_vs_best),
            ("goodput/GPU", &o.goodput_per_gpu_vs_best),
        ] {
            if let Some(vs) = vs {
                let mut row = vec![m.method.clone(), measure.into(), vs.best.clone()];
                row.extend(paired_cells(&vs.difference));
                paired.push(row);
            }
        }
    }
    if !paired.is_empty() {
        out.push_str(
            "\nper-seed difference to the best method (paired t-test on the differences, two-sided, p < 0.05):\n",
        );
        out.push_str(&table(
            &[
                "method",
                "measure",
                "best",
                "seeds",
                "method - best [95% CI]",
                "p",
                "verdict",
            ],
            paired,
        ));
    }
    out.push_str(&cold_start_table(c));
    match &c.oracle {
        Some(o) => {
            let cands: Vec<String> = o
                .candidates
                .iter()
                .map(|k| {
                    format!(
                        "{} {} req/s, {} req/s/GPU",
                        k.name,
                        sample(k.optimization.goodput, 3),
                        sample(k.optimization.goodput_per_gpu, 3)
                    )
                })
                .collect();
            out.push_str(&format!(
                "oracle: best on goodput {} at {} req/s; best on goodput/GPU {} at {} req/s/GPU\n",
                o.best.as_deref().unwrap_or("-"),
                num(o.best_goodput, 3),
                o.best_per_gpu.as_deref().unwrap_or("-"),
                num(o.best_goodput_per_gpu, 3),
            ));
            out.push_str(&format!(
                "oracle candidates: {}\n",
                if cands.is_empty() {
                    "none".into()
                } else {
                    cands.join("; ")
                }
            ));
        }
        None => out.push_str("oracle: none (no results/oracle/): regret not measured\n"),
    }
    out
}

/// The planner that ran and the cold-start cost per method (empty when no record has them).
fn cold_start_table(c: &Comparison) -> String {
    let rows: Vec<Vec<String>> = c
        .methods
        .iter()
        .filter(|m| m.optimization.planner.is_some() || m.optimization.cold_start_sla_hit_rate.is_some())
        .map(|m| {
            let o = &m.optimization;
            let planner = o.planner.as_ref().map_or("-".into(), |p| {
                let headroom = if p.headroom != 1.0 {
                    format!(", headroom x{} (not Dynamo's)", p.headroom)
                } else {
                    String::new()
                };
                format!(
                    "Dynamo {}, {}, {} s, budget {}{headroom}",
                    p.dynamo_version, p.predictor, p.adjustment_interval_s, p.gpu_budget
                )
            });
            let warm = o
                .per_seed
                .first()
                .and_then(|s| s.initial_replicas)
                .map_or("-".into(), |(p, d)| format!("{p}P + {d}D"));
            let hit = o.cold_start_sla_hit_rate.map(|s| Sample {
                mean: s.mean * 100.0,
                ci95: s.ci95.map(|[a, b]| [a * 100.0, b * 100.0]),
                ..s
            });
            let misses: Vec<f64> = o
                .per_seed
                .iter()
                .filter_map(|s| s.cold_start_sla_misses.map(|n| n as f64))
                .collect();
            let unsettled = if o.cold_start_unsettled > 0 {
                format!(" ({} seeds not settled)", o.cold_start_unsettled)
            } else {
                String::new()
            };
            vec![
                m.method.clone(),
                planner,
                warm,
                sample(hit, 1),
                num(crate::stats::mean(&misses), 0),
                format!("{}{unsettled}", sample(o.cold_start_settle_s, 0)),
            ]
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "\nplanner and cold start (goodput above is measured from the warm start; the cold start runs the same \
         graph from 1 prefill + 1 decode over the trace's first intervals):\n{}",
        table(
            &[
                "method",
                "planner",
                "warm start",
                "cold-start SLA hit %",
                "SLA misses",
                "settled after s",
            ],
            rows
        )
    )
}

fn needs(c: &Comparison) -> String {
    let r = &c.recommendations;
    let find = |name: &Option<String>| name.as_ref().and_then(|n| c.methods.iter().find(|m| &m.method == n));
    let or_none = |s: Option<String>, why: &str| s.unwrap_or_else(|| format!("- ({why})"));
    let cheapest = find(&r.cheapest).map(|m| {
        format!(
            "{} ({} GPU-hours, {} s)",
            m.method,
            num(m.cost.gpu_hours, 3),
            num(m.cost.duration_s, 1)
        )
    });
    let measured = c.methods.iter().filter(|m| m.mean_abs_error_pct.is_some()).count();
    let accurate = find(&r.most_accurate).map(|m| {
        format!(
            "{} (mean |error| {} % over p50 TTFT and ITL{})",
            m.method,
            num(m.mean_abs_error_pct, 1),
            if measured == 1 {
                "; the only method measured"
            } else {
                ""
            }
        )
    });
    // Methods the paired test cannot tell from `best` on a measure.
    let ties = |best: &str, vs: fn(&MethodComparison) -> Option<&VsBest>| {
        let names: Vec<&str> = c
            .methods
            .iter()
            .filter(|m| {
                vs(m).is_some_and(|v| v.best == best && v.difference.verdict.as_deref() == Some("not distinguishable"))
            })
            .map(|m| m.method.as_str())
            .collect();
        if names.is_empty() {
            String::new()
        } else {
            format!("; not distinguishable (paired t-test) from {}", names.join(", "))
        }
    };
    let configuration = find(&r.best_configuration).map(|m| {
        let o = &m.optimization;
        let ties = ties(&m.method, |m| m.optimization.goodput_per_gpu_vs_best.as_ref());
        match o.cost_regret_pct {
            Some(regret) => format!(
                "{} (cost-aware regret {} %, goodput/GPU {} req/s/GPU{ties})",
                m.method,
                sample(Some(regret), 1),
                sample(o.goodput_per_gpu, 3)
            ),
            None => format!(
                "{} (goodput/GPU {} req/s/GPU; no oracle{ties})",
                m.method,
                sample(o.goodput_per_gpu, 3)
            ),
        }
    });
    let goodput = find(&r.best_goodput).map(|m| {
        let o = &m.optimization;
        let ties = ties(&m.method, |m| m.optimization.goodput_vs_best.as_ref());
        match o.regret_pct {
            Some(regret) => format!(
                "{} (goodput regret {} %, goodput {} req/s{ties})",
                m.method,
                sample(Some(regret), 1),
                sample(o.goodput, 3)
            ),
            None => format!("{} (goodput {} req/s; no oracle{ties})", m.method, sample(o.goodput, 3)),
        }
    });
    let measure = match r.pareto_regret.as_deref() {
        Some("cost_aware") => "cost-aware regret",
        _ => "goodput regret",
    };
    let tradeoff = r
        .best_tradeoff
        .as_ref()
        .map(|t| format!("{t} (Pareto front, cheapest first: {})", r.pareto_front.join(", ")));
    format!(
        "- cheapest to run: {}\n- most accurate predictions: {}\n\
         - best configuration (lowest cost-aware regret: goodput per GPU against the oracle's best on that measure): {}\n\
         - highest goodput (lowest goodput regret): {}\n\
         - best trade-off of GPU-hours and {measure}: {}\n",
        or_none(cheapest, "no metered cost"),
        or_none(accurate, "no validation measured"),
        or_none(configuration, "no optimization measured with GPUs"),
        or_none(goodput, "no optimization measured"),
        or_none(tradeoff, "needs both metered GPU-hours and regret"),
    )
}
