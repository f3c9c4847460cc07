//! Invariants of ARCHITECTURE.md that a test can check on the source itself.

use std::path::Path;

/// Library code of `dir` (test files and `#[cfg(test)]` tails left out), by file.
fn library_sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            library_sources(&path, out);
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name == "tests.rs" || name.ends_with("_tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        // A file's tests come last, after `#[cfg(test)]` followed by `mod`.
        let end = text.find("#[cfg(test)]\nmod ").unwrap_or(text.len());
        out.push((path.display().to_string(), text[..end].to_string()));
    }
}

/// Lines of library code under `dir` that use a print macro, as `file:line: text`.
fn print_lines(dir: &Path) -> Vec<String> {
    let mut sources = Vec::new();
    library_sources(dir, &mut sources);
    let macros = ["println!", "eprintln!", "print!", "eprint!", "dbg!"];
    let mut found = Vec::new();
    for (file, text) in &sources {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if macros.iter().any(|m| code.contains(m)) {
                found.push(format!("{file}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn core_never_prints() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(src.join("pipeline/mod.rs").exists(), "core's sources not found");
    let found = print_lines(&src);
    assert!(
        found.is_empty(),
        "core reports through the Observer or tracing, never the terminal:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_a_print() {
    // The scan above would catch a print macro in library code: a metamorphic check on a copy.
    let dir = std::env::temp_dir().join(format!("profcmp-no-print-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.rs"),
        "fn f() { eprintln!(\"x\"); }\n#[cfg(test)]\nmod t {}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("b.rs"),
        "fn f() {}\n#[cfg(test)]\nmod tests { fn g() { println!(\"y\"); } }\n",
    )
    .unwrap();
    let found = print_lines(&dir);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("a.rs:1:"), "{found:?}");
    // A print in a test module is allowed; one in a comment is not code.
    std::fs::write(dir.join("a.rs"), "fn f() {} // eprintln!(\"x\")\n").unwrap();
    assert!(print_lines(&dir).is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}
