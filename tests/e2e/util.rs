//! Test helpers: the built binary, the fixture plugins, a temp dir per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}

/// The `profcmp` binary built by `cargo build --workspace`.
pub fn profcmp_bin() -> PathBuf {
    let bin = target_dir().join("debug/profcmp");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --workspace` before the tests",
        bin.display()
    );
    bin
}

/// Builds the fixture plugins (a separate workspace, built against plugin-api like an outside
/// plugin) once per test run and returns their directory.
pub fn fixture_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = target_dir().join("fixture-plugins");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--quiet", "--manifest-path"])
            .arg(workspace().join("tests/fixture-plugins/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the fixture plugins failed");
        target.join("debug")
    })
}

/// The path of one fixture plugin's `.so`.
pub fn fixture(name: &str) -> PathBuf {
    fixture_plugins().join(format!("lib{name}.so"))
}

/// A fresh temp directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("profcmp-e2e-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Copies fixture plugins into a fresh plugin dir.
pub fn plugin_dir(test: &str, names: &[&str]) -> PathBuf {
    let dir = temp_dir(test).join("plugins");
    std::fs::create_dir_all(&dir).unwrap();
    for name in names {
        std::fs::copy(fixture(name), dir.join(format!("lib{name}.so"))).unwrap();
    }
    dir
}

/// Runs `profcmp` with args, isolated from the user's install dir and plugin path.
pub fn profcmp(args: &[&str], home: &Path) -> Output {
    Command::new(profcmp_bin())
        .args(args)
        .env("PROFCMP_HOME", home)
        .env_remove("PROFCMP_PLUGIN_PATH")
        .output()
        .expect("profcmp runs")
}

/// stdout and stderr of a run, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "--- status: {}\n--- stdout:\n{}--- stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
