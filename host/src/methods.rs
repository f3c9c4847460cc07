//! The method set: `--method` flags or a methods.toml, resolved against the installed plugins.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use clap::Args;
use semver::VersionReq;

use crate::load::{self, MethodPin, Resolved};
use crate::lock;

/// Which methods to run.
#[derive(Args, Debug, Clone, Default)]
pub struct MethodArgs {
    #[command(flatten)]
    pub path: PluginPathArgs,
    /// A method to run, `name` or `name@version-requirement` (repeatable; default: every
    /// installed method at its highest version).
    #[arg(long = "method", value_name = "NAME[@REQ]")]
    pub methods: Vec<String>,
    /// A methods.toml: `[methods]` table of `name = "req"` or `name = { version = "req",
    /// options = {...} }`.
    #[arg(long = "methods-file", value_name = "FILE")]
    pub methods_file: Option<PathBuf>,
    /// Refuse to run unless the resolved set equals this methods.lock.
    #[arg(long, value_name = "LOCK")]
    pub locked: Option<PathBuf>,
}

/// Where to look for plugins.
#[derive(Args, Debug, Clone, Default)]
pub struct PluginPathArgs {
    /// A directory to search for plugins (repeatable; searched before PROFCMP_PLUGIN_PATH, the
    /// directory of this executable and the install directory).
    #[arg(long = "plugin-dir", value_name = "DIR")]
    pub plugin_dirs: Vec<PathBuf>,
}

/// Parses a methods.toml.
pub fn read_methods_file(path: &Path) -> anyhow::Result<Vec<MethodPin>> {
    let text = std::fs::read_to_string(path).map_err(|e| anyhow!("{}: cannot read: {e}", path.display()))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| anyhow!("{}: not valid TOML: {e}", path.display()))?;
    let Some(methods) = table.get("methods").and_then(|m| m.as_table()) else {
        bail!(
            "{}: expected a [methods] table, e.g. `[methods]\\naic_all = \"^0.1\"`",
            path.display()
        );
    };
    let mut pins = Vec::new();
    for (name, entry) in methods {
        let (req, options) = match entry {
            toml::Value::String(req) => (req.clone(), serde_json::Value::Null),
            toml::Value::Table(t) => {
                let req = t.get("version").and_then(|v| v.as_str()).unwrap_or("*").to_string();
                let options = t
                    .get("options")
                    .map(|o| serde_json::to_value(o).expect("toml converts to json"));
                if let Some(unknown) = t.keys().find(|k| *k != "version" && *k != "options") {
                    bail!(
                        "{}: methods.{name}: unknown key `{unknown}` (valid: version, options)",
                        path.display()
                    );
                }
                (req, options.unwrap_or_default())
            }
            _ => bail!(
                "{}: methods.{name}: expected a version string or a table",
                path.display()
            ),
        };
        let req = VersionReq::parse(&req)
            .map_err(|e| anyhow!("{}: methods.{name}: bad version `{req}`: {e}", path.display()))?;
        pins.push(MethodPin {
            name: name.clone(),
            req,
            options,
        });
    }
    Ok(pins)
}

/// Resolves the method set the user asked for, checking it against `--locked`; any method that
/// cannot run is an error.
pub fn resolve(args: &MethodArgs) -> anyhow::Result<Vec<Resolved>> {
    resolve_reporting(args, false).map(|(resolved, _)| resolved)
}

/// [`resolve`] for a run: a plugin that is present but cannot run (a bad name, another
/// plugin-api) is left out with one line saying why, whether named or (with no method named) just
/// installed, so the others still run and nothing is dropped in silence. With `tolerant` false,
/// a named one is an error. A name that is not installed at all is always an error (a typo).
pub fn resolve_reporting(args: &MethodArgs, tolerant: bool) -> anyhow::Result<(Vec<Resolved>, Vec<String>)> {
    let mut pins = match &args.methods_file {
        Some(path) => read_methods_file(path)?,
        None => Vec::new(),
    };
    for text in &args.methods {
        let pin = MethodPin::parse(text).map_err(anyhow::Error::msg)?;
        pins.retain(|p| p.name != pin.name);
        pins.push(pin);
    }
    let dirs = load::search_path(&args.path.plugin_dirs);
    let candidates = load::discover(&dirs);
    let unusable = |name: &str| {
        (candidates.iter()).any(|c| c.manifest.as_ref().is_ok_and(|m| m.name == name) && c.status().is_err())
    };
    let mut resolved = Vec::new();
    let mut left_out = Vec::new();
    let mut errors = Vec::new();
    if pins.is_empty() {
        resolved = load::resolve(&candidates, &pins).map_err(|errors| anyhow!("{}", errors.join("\n")))?;
        // Methods no version of which can run (another version that runs is not a loss).
        left_out = (candidates.iter())
            .filter(|c| (c.manifest.as_ref()).is_ok_and(|m| !resolved.iter().any(|r| r.name == m.name)))
            .filter_map(|c| c.status().err())
            .collect();
    } else {
        for pin in &pins {
            match load::resolve(&candidates, std::slice::from_ref(pin)) {
                Ok(one) => resolved.extend(one),
                Err(e) if tolerant && unusable(&pin.name) => left_out.extend(e),
                Err(e) => errors.extend(e),
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let left_out: Vec<String> = left_out.into_iter().map(|e| format!("left out: {e}")).collect();
    if resolved.is_empty() && !left_out.is_empty() {
        bail!("no method can run:\n  {}", left_out.join("\n  "));
    }
    if resolved.is_empty() {
        bail!(
            "no plugins found in {}: run `cargo build --workspace` (cargo test does not build cdylibs) or pass --plugin-dir",
            dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(lock_path) = &args.locked {
        let locked = lock::read(lock_path)?;
        let differences = lock::diff(&locked, &resolved);
        if !differences.is_empty() {
            bail!(
                "the installed method set differs from {}:\n  {}",
                lock_path.display(),
                differences.join("\n  ")
            );
        }
    }
    Ok((resolved, left_out))
}
