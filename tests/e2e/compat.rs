//! Compatibility: a plugin built against the previous released plugin-api (the frozen 0.1.0 copy
//! in tests/compat) loads and runs in this host, and the README's plugin builds as written.
//! Both are built like an outside author's plugin: their own workspace and Cargo.lock (the
//! workspace's, so no new versions are fetched), offline, into target/compat-plugins.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::util::{profcmp, temp_dir, text, workspace};

fn compat_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
        .join("compat-plugins")
}

fn cargo_build(manifest: &Path) {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--offline", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(compat_target())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building {} failed", manifest.display());
}

/// The fenced block of `lang` that follows `heading` in README.md.
fn readme_block(readme: &str, heading: &str, lang: &str) -> String {
    let section = &readme[readme.find(heading).expect("README section")..];
    let start = section.find(&format!("```{lang}\n")).expect("README code block") + lang.len() + 4;
    let len = section[start..].find("```\n").expect("closed code block");
    section[start..start + len].to_string()
}

/// Writes the README's Cargo.toml and src/lib.rs into a fresh crate whose dependency path points
/// at this checkout, as the README says to, and returns its manifest.
fn readme_crate() -> PathBuf {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let toml = readme_block(&readme, "## Writing a method plugin", "toml");
    let source = readme_block(&readme, "## Writing a method plugin", "rust");
    assert!(
        source.lines().count() <= 40,
        "the README's plugin stays within 40 lines"
    );
    let dependency = "path = \"../profcmp/plugin-api\"";
    assert!(
        toml.contains(dependency),
        "README's dependency line changed: update this test\n{toml}"
    );
    let checkout = workspace().join("plugin-api");
    // Its own workspace: target/ lies inside profcmp's, which it is not a member of.
    let toml = toml.replace(dependency, &format!("path = {:?}", checkout.display().to_string()))
        + "\n[workspace]\n\n[profile.dev]\ndebug = false\n";
    let dir = compat_target().join("readme-plugin");
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), toml).unwrap();
    std::fs::write(dir.join("src/lib.rs"), source).unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    dir.join("Cargo.toml")
}

/// Builds both plugins once per test run and returns their directory.
fn compat_plugins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        cargo_build(&workspace().join("tests/compat/minimal_v0_1_0/Cargo.toml"));
        cargo_build(&readme_crate());
        compat_target().join("debug")
    })
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_plugin_built_against_plugin_api_0_1_0_profiles_like_the_readme_plugin_built_today() {
    let built = compat_plugins();
    let home = temp_dir("compat");
    let plugins = home.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    for name in ["minimal_v0_1_0", "minimal"] {
        let so = format!("lib{name}.so");
        std::fs::copy(built.join(&so), plugins.join(&so)).unwrap();
    }
    let old = plugins.join("libminimal_v0_1_0.so");
    let check = profcmp(&["plugins", "check", old.to_str().unwrap()], &home);
    assert!(check.status.success(), "{}", text(&check));

    let results = home.join("results");
    let (plugins, results_arg) = (plugins.to_str().unwrap(), results.to_str().unwrap());
    let args = [
        "profile",
        "--plugin-dir",
        plugins,
        "--results",
        results_arg,
        "--no-progress",
    ];
    let methods = ["--method", "minimal_v0_1_0", "--method", "minimal"];
    let out = profcmp(&[&args[..], &methods].concat(), &home);
    assert!(out.status.success(), "{}", text(&out));

    let old = read_json(&results.join("minimal_v0_1_0/profile.json"));
    let new = read_json(&results.join("minimal/profile.json"));
    assert_eq!(old["manifest"]["api_version"], "0.1.0", "{old:#}");
    assert_ne!(new["manifest"]["api_version"], "0.1.0", "{new:#}");
    // Same method, two plugin-api versions: the host must read the same answer from both.
    assert!(old["result"].is_object(), "{old:#}");
    assert_eq!(old["result"], new["result"]);
    let _ = std::fs::remove_dir_all(&home);
}
