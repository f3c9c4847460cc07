//! Tests of report.html: it parses as HTML5 without errors, holds every method and warning,
//! escapes what plugins wrote, and shows the provenance and timelines of a results directory.

use std::path::{Path, PathBuf};

use scraper::{Html, Selector};
use serde_json::json;

use super::*;
use crate::layout::{write_json, OptimizationRecord, ResultsDir};
use crate::stage::compare::{compare, CompareOptions};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profcmp-html-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture() -> ResultsDir {
    ResultsDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/dynamo-2026-01"))
}

/// Parses the page; html5ever's parse errors (bad nesting, stray end tags, ...) fail the test.
fn parse(page: &str) -> Html {
    let doc = Html::parse_document(page);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    doc
}

fn select<'a>(doc: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

fn texts(doc: &Html, css: &str) -> Vec<String> {
    select(doc, css).iter().map(|e| e.text().collect::<String>()).collect()
}

fn page_of(results: &ResultsDir, c: &Comparison) -> String {
    render(c, &PageData::read(results, c)).unwrap()
}

#[test]
fn the_real_run_parses_holds_every_method_and_warning_and_marks_what_was_not_measured() {
    let c = compare(&fixture(), &CompareOptions::default());
    assert!(!c.warnings.is_empty());
    let page = page_of(&fixture(), &c);
    let doc = parse(&page);

    let methods_table = texts(&doc, "#what-ran table:nth-of-type(2) tr td:first-child");
    for m in &c.methods {
        assert!(
            methods_table.contains(&m.method),
            "{} missing from {methods_table:?}",
            m.method
        );
    }
    assert_eq!(texts(&doc, "#warnings li"), c.warnings, "every warning, in order");
    // NVIDIA's run has no run.json, methods.lock, metered cost, optimization or oracle.
    let what_ran = texts(&doc, "#what-ran").concat();
    assert!(what_ran.contains("not recorded (no results/run.json)"), "{what_ran}");
    assert!(what_ran.contains("not recorded (no methods.lock)"), "{what_ran}");
    assert!(texts(&doc, "#cost")
        .concat()
        .contains("not recorded (no readable profile.json)"));
    let optimization = texts(&doc, "#optimization").concat();
    assert!(
        optimization.contains("not measured: no results/oracle/"),
        "{optimization}"
    );
    assert!(optimization.contains("not measured: no method has an optimization.json"));
    // The verdicts come first, and name the one method that was measured for accuracy.
    let order: Vec<String> = select(&doc, "section")
        .iter()
        .map(|s| s.attr("id").unwrap_or("").to_string())
        .collect();
    assert_eq!(&order[..3], ["what-ran", "needs", "cost"]);
    let needs = texts(&doc, "#needs tr").join("\n");
    assert!(
        needs.contains("Most accurate predictions") && needs.contains("online_all"),
        "{needs}"
    );
    // Numbers as the comparison holds them (formatted as summary.txt formats them).
    let idle = c.methods[1].levels[0].error_pct.ttft_p50.unwrap().mean;
    assert!(texts(&doc, "#accuracy td").contains(&format!("{idle:.1}")));

    // Self-contained: the plots are inline SVG; nothing is fetched and nothing runs.
    assert_eq!(select(&doc, "figure > svg").len(), plot::PLOTS.len());
    assert!(select(&doc, "script, link, img, iframe, object").is_empty());
    assert!(!page.contains("src=") && !page.contains("<?xml"));
}

#[test]
fn text_from_plugins_and_files_is_escaped() {
    let clean = compare(&fixture(), &CompareOptions::default());
    let attack = "<script>alert('x')</script><b onclick=\"x\">";
    let mut c = clean.clone();
    c.methods[0].notes.push(format!("note {attack}"));
    c.methods[1].error = Some(format!("error {attack}"));
    c.warnings.push(format!("warning {attack}"));
    let page = page_of(&fixture(), &c);
    let doc = parse(&page);
    assert!(select(&doc, "script").is_empty(), "a plugin's text became markup");
    assert!(select(&doc, "[onclick]").is_empty());
    let all: String = doc.root_element().text().collect();
    for what in ["note", "error", "warning"] {
        assert!(all.contains(&format!("{what} {attack}")), "{what} is not shown as text");
    }
    // Each injected text is the text of the item or span that shows it, nothing more.
    let holders: Vec<String> = select(&doc, "*")
        .iter()
        .filter(|e| {
            e.children()
                .any(|n| n.value().as_text().is_some_and(|t| t.contains("alert(")))
        })
        .map(|e| e.value().name().to_string())
        .collect();
    assert_eq!(
        holders,
        ["span", "li", "li"],
        "the methods table's error, the note, the warning"
    );
    let clean_doc = parse(&page_of(&fixture(), &clean));
    assert!(select(&clean_doc, "*")
        .iter()
        .all(|e| !e.text().any(|t| t.contains("alert("))));
}

fn optimization_record(dir: &Path, replicas: Vec<(f64, u32, u32)>, goodput: f64) {
    std::fs::create_dir_all(dir).unwrap();
    let r = OptimizationRecord {
        prefill_tp: 2,
        decode_tp: 1,
        avg_gpus: 3.0,
        goodput,
        goodput_per_gpu: goodput / 3.0,
        sla_hit_rate: 0.9,
        replicas,
        seed: 7,
        input_hash: "h".into(),
        planner: None,
        initial_replicas: Some((1, 1)),
        cold_start: None,
    };
    write_json(&dir.join("optimization.json"), &r).unwrap();
}

fn trace(path: &Path, seconds: u32, per_second: u32) {
    let requests: Vec<profcmp_plugin_api::TraceRequest> = (0..seconds * per_second)
        .map(|i| profcmp_plugin_api::TraceRequest::new(f64::from(i) * 1000.0 / f64::from(per_second), 100, 10))
        .collect();
    crate::workload::write_mooncake(path, &requests, 512).unwrap();
}

/// One method ("m<x>&y", a name that needs escaping) with a lock, two planner seeds and their
/// traces, an oracle candidate and a run.json.
fn results_with_provenance(root: &Path) -> ResultsDir {
    let results = ResultsDir::new(root);
    let method = "m<x>&y";
    optimization_record(
        &results.optimization(method),
        vec![(0.0, 1, 1), (60.0, 2, 1), (120.0, 1, 2)],
        5.0,
    );
    optimization_record(&results.optimization(method).join("seed-1"), vec![(0.0, 1, 1)], 4.0);
    optimization_record(
        &root.join("oracle/2x1/optimization"),
        vec![(0.0, 1, 1), (60.0, 3, 1)],
        6.0,
    );
    std::fs::write(
        results.methods_lock(method),
        "# profcmp methods.lock\n[[method]]\nname = \"m<x>&y\"\nversion = \"1.2.3\"\n\
         path = \"/plugins/<b>lib</b>.so\"\nsha256 = \"abc123def456\"\napi_version = \"0.1.0\"\n",
    )
    .unwrap();
    trace(&results.trace(), 180, 2);
    trace(&root.join("sinusoidal-seed-1.jsonl"), 180, 3);
    let run = json!({
        "schema_version": 1, "profcmp_version": "9.9.9", "cluster": "sim",
        "spec": {"model": "Qwen/Qwen3-32B", "system": "h200_sxm", "backend": "trtllm",
                 "sla": {"isl": 2048, "osl": 256, "ttft_ms": 500.0, "itl_ms": 50.0},
                 "search": {"prefill_tp": [1, 2], "decode_tp": [1, 2], "gpu_budget": 4},
                 "seed": 7, "reality": "dynamo-2026-01", "repeat": 2, "dynamo_version": "0.7",
                 "trace": {"duration_s": 180.0, "min_rate": 1.0, "max_rate": 3.0, "period_s": 60.0, "file": null}},
        "warnings": {}
    });
    write_json(&root.join("run.json"), &run).unwrap();
    results
}

#[test]
fn provenance_and_every_runs_timeline_come_from_the_results_dir() {
    let root = temp_dir("provenance");
    let results = results_with_provenance(&root);
    let c = compare(&results, &CompareOptions::default());
    assert_eq!(c.methods.len(), 1);
    let doc = parse(&page_of(&results, &c));
    let what_ran = texts(&doc, "#what-ran").concat();
    for expected in [
        "9.9.9",
        "dynamo-2026-01",
        "base seed 7, 2 seed(s)",
        "Dynamo 0.7",
        "1.2.3",
        "abc123def456",
        "/plugins/<b>lib</b>.so",
    ] {
        assert!(what_ran.contains(expected), "{expected} missing from {what_ran}");
    }
    assert!(!what_ran.contains("not recorded (no results/run.json)"));
    assert!(select(&doc, "b, x").is_empty(), "names and paths are text, not markup");
    // One timeline per planner run: the method's two seeds, then the oracle's candidate.
    let timelines = select(&doc, "figure.timeline svg");
    assert_eq!(timelines.len(), 3);
    let titles: Vec<String> = timelines.iter().map(|t| t.text().collect::<String>()).collect();
    assert!(
        titles[0].contains("m<x>&y, seed 0: prefill TP2 x decode TP1; warm start 1 prefill + 1 decode"),
        "{}",
        titles[0]
    );
    assert!(titles[1].contains("seed 1"));
    assert!(titles[2].contains("oracle 2x1, seed 0"));
    assert!(titles.iter().all(|t| t.contains("trace rate, req/s")), "{titles:?}");
    let color = plot::method_color(0).to_uppercase();
    assert!(
        timelines[0].html().to_uppercase().contains(&color),
        "the method's colour"
    );

    // The comparison's own record of the run wins over the file.
    let mut recorded = c.clone();
    recorded.run = Some(crate::report::RunSettings {
        profcmp_version: "7.7.7".into(),
        cluster: "k8s".into(),
        spec: crate::spec::RunSpec::defaults(),
    });
    let what_ran = texts(&parse(&page_of(&results, &recorded)), "#what-ran").concat();
    assert!(what_ran.contains("7.7.7") && what_ran.contains("k8s") && !what_ran.contains("9.9.9"));

    // Change one input at a time: without run.json the settings are "not recorded"; without
    // seed 1's trace, seed 1's timeline says so and seed 0's keeps its rate.
    std::fs::remove_file(root.join("run.json")).unwrap();
    std::fs::remove_file(root.join("sinusoidal-seed-1.jsonl")).unwrap();
    let doc = parse(&page_of(&results, &c));
    let what_ran = texts(&doc, "#what-ran").concat();
    assert!(what_ran.contains("not recorded (no results/run.json)") && !what_ran.contains("9.9.9"));
    let titles: Vec<String> = texts(&doc, "figure.timeline svg");
    assert!(
        titles[0].contains("trace rate, req/s") && titles[1].contains("trace rate: not recorded"),
        "{titles:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn an_unreadable_lock_or_run_json_is_a_warning_on_the_page() {
    let root = temp_dir("unreadable");
    let results = results_with_provenance(&root);
    std::fs::write(root.join("run.json"), "{ not json").unwrap();
    std::fs::write(results.methods_lock("m<x>&y"), "[[method]\n").unwrap();
    let c = compare(&results, &CompareOptions::default());
    let data = PageData::read(&results, &c);
    assert_eq!(data.warnings.len(), 2, "{:?}", data.warnings);
    assert!(
        data.warnings.iter().any(|w| w.starts_with("run.json")),
        "{:?}",
        data.warnings
    );
    let doc = parse(&render(&c, &data).unwrap());
    let shown = texts(&doc, "#warnings li");
    assert!(data.warnings.iter().all(|w| shown.contains(w)), "{shown:?}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_method_has_one_colour_on_the_page_and_in_every_plot() {
    let root = temp_dir("colours");
    let results = results_with_provenance(&root);
    std::fs::create_dir_all(results.optimization("a_first")).unwrap();
    optimization_record(&results.optimization("a_first"), vec![(0.0, 1, 1)], 3.0);
    let c = compare(&results, &CompareOptions::default());
    let doc = parse(&page_of(&results, &c));
    for (i, m) in c.methods.iter().enumerate() {
        let color = plot::method_color(i);
        let swatches: Vec<String> = select(&doc, "#what-ran td .swatch")
            .iter()
            .filter(|s| {
                s.parent()
                    .and_then(scraper::ElementRef::wrap)
                    .is_some_and(|td| td.text().collect::<String>() == m.method)
            })
            .map(|s| s.attr("style").unwrap_or("").to_string())
            .collect();
        assert_eq!(swatches, [format!("background:{color}")], "{}", m.method);
        let regret = plot::svg("regret", &c).unwrap().to_uppercase();
        assert!(
            regret.contains(&color.to_uppercase()),
            "{} not in the regret plot",
            m.method
        );
        let timeline = select(&doc, "figure.timeline svg")
            .into_iter()
            .find(|t| t.text().collect::<String>().contains(&format!("{}, seed 0", m.method)))
            .unwrap();
        assert!(
            timeline.html().to_uppercase().contains(&color.to_uppercase()),
            "{}",
            m.method
        );
    }
    // Two methods, two different colours.
    assert_ne!(plot::method_color(0), plot::method_color(1));
    let _ = std::fs::remove_dir_all(&root);
}
