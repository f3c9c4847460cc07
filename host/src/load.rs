//! Finds plugins on the search path, reads their manifests cheaply, resolves a pinned method set
//! and loads the chosen ones.

use std::ffi::CStr;
use std::os::raw::c_char;
use std::path::{Path, PathBuf};

use abi_stable::library::{lib_header_from_path, LibraryError};
use abi_stable::std_types::{RErr, ROk, RStr};
use profcmp_core::stage::profile::MethodRunner;
use profcmp_plugin_api::abi::{MethodModRef, MANIFEST_SYMBOL};
use profcmp_plugin_api::sdk::HostServer;
use profcmp_plugin_api::{
    api_compatible, CostReport, HostContext, Manifest, PluginError, ProfileRequest, ProfileResult, API_VERSION,
    PAYLOAD_SCHEMA_VERSION,
};
use semver::{Version, VersionReq};
use sha2::{Digest, Sha256};

/// A shared library found on the search path, with what its manifest says (or why it has none).
#[derive(Clone, Debug)]
pub struct Candidate {
    /// Path of the `.so`.
    pub path: PathBuf,
    /// The manifest, or why it could not be read.
    pub manifest: Result<Manifest, String>,
}

impl Candidate {
    /// Loadable by this host: a readable manifest with a compatible plugin-api and a semver version.
    pub fn status(&self) -> Result<&Manifest, String> {
        let manifest = self.manifest.as_ref().map_err(Clone::clone)?;
        check_name(&manifest.name).map_err(|e| format!("{}: {e}", self.path.display()))?;
        // First: a plugin newer than this host is told to upgrade profcmp, not to rebuild.
        if manifest.schema_version > PAYLOAD_SCHEMA_VERSION {
            return Err(newer_schema(manifest, &self.path));
        }
        if !api_compatible(API_VERSION, &manifest.api_version) {
            return Err(incompatible_api(manifest, &self.path));
        }
        Version::parse(&manifest.version).map_err(|e| {
            format!(
                "{}: version `{}` is not semver: {e}",
                self.path.display(),
                manifest.version
            )
        })?;
        Ok(manifest)
    }
}

/// A plugin may speak an older payload schema (its fields are a subset) but not a newer one.
fn newer_schema(manifest: &Manifest, path: &Path) -> String {
    format!(
        "{} {} ({}) speaks payload schema {}, this profcmp reads up to {}: upgrade profcmp, or rebuild the plugin against plugin-api {}",
        manifest.name,
        manifest.version,
        path.display(),
        manifest.schema_version,
        PAYLOAD_SCHEMA_VERSION,
        API_VERSION
    )
}

fn incompatible_api(manifest: &Manifest, path: &Path) -> String {
    let host = Version::parse(API_VERSION).expect("own version is semver");
    format!(
        "{} {} ({}) was built against plugin-api {}, this host has {}: rebuild it against plugin-api {}.{}",
        manifest.name,
        manifest.version,
        path.display(),
        manifest.api_version,
        API_VERSION,
        host.major,
        host.minor
    )
}

/// The plugin directories to search, in order: `--plugin-dir`s, `PROFCMP_PLUGIN_PATH`, the
/// directory of this executable (the workspace build output), the install directory.
pub fn search_path(plugin_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = plugin_dirs.to_vec();
    if let Some(value) = std::env::var_os("PROFCMP_PLUGIN_PATH") {
        dirs.extend(std::env::split_paths(&value));
    }
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir);
    }
    dirs.push(install_dir());
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// Where `profcmp plugins install` copies plugins: `$PROFCMP_HOME/plugins`, else
/// `$XDG_DATA_HOME/profcmp/plugins`, else `~/.local/share/profcmp/plugins`.
pub fn install_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("PROFCMP_HOME") {
        return PathBuf::from(home).join("plugins");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share"));
    data.join("profcmp/plugins")
}

/// Every shared library in the search path, with its manifest read through the plain C symbol.
pub fn discover(dirs: &[PathBuf]) -> Vec<Candidate> {
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == std::env::consts::DLL_EXTENSION))
            .collect();
        paths.sort();
        found.extend(paths.into_iter().map(|path| Candidate {
            manifest: read_manifest(&path),
            path,
        }));
    }
    found
}

/// The hidden subcommand that reads one manifest in a child process.
pub const MANIFEST_COMMAND: &str = "__plugin-manifest";

/// How long a plugin's manifest may take to read (its initialisers run in the child).
const MANIFEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads a plugin's manifest in a child `profcmp __plugin-manifest` process, so no plugin code
/// (initialisers included) runs in this one: a plugin that crashes, hangs or prints while being
/// opened fails alone, with one line.
pub fn read_manifest(path: &Path) -> Result<Manifest, String> {
    use std::io::Read;
    std::fs::metadata(path).map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the profcmp executable: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .arg(MANIFEST_COMMAND)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: cannot start a process to read the manifest: {e}", path.display()))?;
    // Read on a thread so a child that hangs cannot block this one.
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = (&mut stdout).take(1 << 20).read_to_end(&mut out);
        out
    });
    let deadline = std::time::Instant::now() + MANIFEST_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{}: reading its manifest took over {} s (the library's initialisers hang?)",
                    path.display(),
                    MANIFEST_TIMEOUT.as_secs()
                ));
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    let text = String::from_utf8_lossy(&out);
    // The child prints one line: `ok <manifest JSON>` or `err <message>`.
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("ok ") || l.starts_with("err "));
    match last {
        Some(line) if line.starts_with("ok ") => {
            serde_json::from_str(&line[3..]).map_err(|e| format!("{}: unreadable manifest ({e})", path.display()))
        }
        Some(line) => Err(line[4..].to_string()),
        None => Err(format!(
            "{}: the library crashed while its manifest was read ({status})",
            path.display()
        )),
    }
}

/// The child's side of [`read_manifest`]: prints `ok <JSON>` or `err <message>`.
pub fn manifest_worker(path: &Path) -> std::process::ExitCode {
    use std::io::Write;
    let line = match read_manifest_in_process(path) {
        Ok(manifest) => format!("ok {}", serde_json::to_string(&manifest).expect("manifest serializes")),
        Err(e) => format!("err {}", e.replace('\n', " ")),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
    std::process::ExitCode::SUCCESS
}

/// Reads a plugin's manifest in this process, without the full abi_stable load: opening the
/// library runs its initialisers. Only the manifest child and `plugins check` (on purpose) call it.
pub fn read_manifest_in_process(path: &Path) -> Result<Manifest, String> {
    std::fs::metadata(path).map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
    // Safety: loading a library runs its initialisers; callers accept running the plugin's code.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("{}: not a loadable shared library: {e}", path.display()))?;
    let json = unsafe {
        let symbol = library
            .get::<extern "C" fn() -> *const c_char>(MANIFEST_SYMBOL)
            .map_err(|_| {
                format!(
                    "{}: not a profcmp plugin (no profcmp_plugin_manifest_v1 symbol)",
                    path.display()
                )
            })?;
        let ptr = symbol();
        if ptr.is_null() {
            return Err(format!("{}: the plugin returned no manifest", path.display()));
        }
        CStr::from_ptr(ptr).to_string_lossy().into_owned()
    };
    serde_json::from_str(&json).map_err(|e| format!("{}: unreadable manifest ({e})", path.display()))
}

/// Names that would collide with the results layout's own directories.
pub const RESERVED_NAMES: [&str; 2] = ["comparison", "oracle"];

/// A method name becomes a directory name: `[a-z0-9_]+`, not a reserved name.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!(
            "method name `{}` is invalid: use lowercase letters, digits and `_` only (it names the results directory)",
            name.escape_debug()
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "method name `{name}` is reserved (results/{name}/ is profcmp's own): rename the method"
        ));
    }
    Ok(())
}

/// A method the user asked for: a name and a version requirement, with options.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodPin {
    /// Method id.
    pub name: String,
    /// Acceptable versions.
    pub req: VersionReq,
    /// Method options (JSON object).
    pub options: serde_json::Value,
}

impl MethodPin {
    /// Parses `name@req` (or a bare `name`: any version).
    pub fn parse(text: &str) -> Result<MethodPin, String> {
        let (name, req) = text.split_once('@').unwrap_or((text, "*"));
        let req = VersionReq::parse(req).map_err(|e| format!("`{text}`: bad version requirement: {e}"))?;
        Ok(MethodPin {
            name: name.to_string(),
            req,
            options: serde_json::Value::Null,
        })
    }
}

/// A resolved method: the chosen plugin file and what identifies its code.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Resolved {
    /// Method id.
    pub name: String,
    /// Method version.
    pub version: String,
    /// Path of the chosen `.so`.
    pub path: PathBuf,
    /// SHA-256 of the `.so`.
    pub sha256: String,
    /// The plugin-api version it was built against.
    pub api_version: String,
    /// Options for the method.
    #[serde(skip)]
    pub options: serde_json::Value,
}

/// Picks, for each pin, the highest installed version that matches and this host can load.
/// With no pins, every installed method at its highest loadable version. Errors are one line each.
pub fn resolve(candidates: &[Candidate], pins: &[MethodPin]) -> Result<Vec<Resolved>, Vec<String>> {
    let pins: Vec<MethodPin> = if pins.is_empty() {
        let mut names: Vec<String> = candidates
            .iter()
            .filter_map(|c| c.status().ok().map(|m| m.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| MethodPin {
                name,
                req: VersionReq::STAR,
                options: serde_json::Value::Null,
            })
            .collect()
    } else {
        pins.to_vec()
    };
    let mut resolved = Vec::new();
    let mut errors = Vec::new();
    for pin in &pins {
        match resolve_one(candidates, pin) {
            Ok(r) => resolved.push(r),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

fn resolve_one(candidates: &[Candidate], pin: &MethodPin) -> Result<Resolved, String> {
    let named: Vec<(&Candidate, &Manifest)> = candidates
        .iter()
        .filter_map(|c| c.manifest.as_ref().ok().filter(|m| m.name == pin.name).map(|m| (c, m)))
        .collect();
    let matching: Vec<(&Candidate, &Manifest, Version)> = named
        .iter()
        .filter_map(|(c, m)| {
            Version::parse(&m.version)
                .ok()
                .filter(|v| pin.req.matches(v))
                .map(|v| (*c, *m, v))
        })
        .collect();
    let best = matching
        .iter()
        .filter(|(c, _, _)| c.status().is_ok())
        .max_by(|a, b| a.2.cmp(&b.2));
    match best {
        Some((candidate, manifest, _)) => Ok(Resolved {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            path: candidate.path.clone(),
            sha256: sha256_file(&candidate.path)?,
            api_version: manifest.api_version.clone(),
            options: pin.options.clone(),
        }),
        None if !matching.is_empty() => {
            let (candidate, _, _) = matching.iter().max_by(|a, b| a.2.cmp(&b.2)).expect("not empty");
            Err(candidate.status().expect_err("no loadable match"))
        }
        None if named.is_empty() => Err(format!(
            "no installed plugin is named `{}` (installed: {}); build or install it, or check the name",
            pin.name,
            installed_names(candidates)
        )),
        None => Err(format!(
            "no installed version of {} matches {} (found {})",
            pin.name,
            pin.req,
            named
                .iter()
                .map(|(c, m)| format!("{} in {}", m.version, c.path.display()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn installed_names(candidates: &[Candidate]) -> String {
    let mut names: Vec<&str> = candidates
        .iter()
        .filter_map(|c| c.manifest.as_ref().ok().map(|m| m.name.as_str()))
        .collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: cannot read the file: {e}", path.display()))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// A fully loaded plugin, ready to run.
pub struct LoadedPlugin {
    manifest: Manifest,
    module: MethodModRef,
}

/// Loads a resolved plugin through abi_stable (layout and version checks included).
pub fn load(resolved: &Resolved) -> Result<LoadedPlugin, String> {
    let path = &resolved.path;
    let module = lib_header_from_path(path)
        .and_then(|header| header.init_root_module::<MethodModRef>())
        .map_err(|e| library_error(path, &e))?;
    let manifest: Manifest = serde_json::from_str((module.manifest())().as_str())
        .map_err(|e| format!("{}: unreadable manifest from the root module ({e})", path.display()))?;
    Ok(LoadedPlugin { manifest, module })
}

/// One clear line for an abi_stable load error; the full dump goes to the debug log.
fn library_error(path: &Path, error: &LibraryError) -> String {
    if std::env::var_os("PROFCMP_DEBUG").is_some() {
        eprintln!("debug: abi_stable error for {}:\n{error}", path.display());
    }
    let why = match error {
        LibraryError::OpenError { .. } => "cannot open the library".to_string(),
        LibraryError::GetSymbolError { .. } => "not a profcmp plugin (no abi_stable root module)".to_string(),
        LibraryError::IncompatibleVersionNumber { expected_version, actual_version, .. } => format!(
            "built against plugin-api {actual_version}, this host has {expected_version}: rebuild it against this plugin-api"
        ),
        LibraryError::AbiInstability(_) => {
            "its ABI layout differs from this host's plugin-api: rebuild it against this plugin-api (set PROFCMP_DEBUG=1 for the layout dump)".to_string()
        }
        LibraryError::InvalidAbiHeader(_) => "built with an incompatible abi_stable version".to_string(),
        other => other.to_string().lines().next().unwrap_or("load failed").to_string(),
    };
    format!("{}: {why}", path.display())
}

impl MethodRunner for LoadedPlugin {
    fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn profile(&self, request: &ProfileRequest, host: &dyn HostContext) -> Result<ProfileResult, PluginError> {
        let request = serde_json::to_string(request).expect("request serializes");
        let server = HostServer::new(host);
        match (self.module.profile())(RStr::from(request.as_str()), server.as_host_ref()) {
            ROk(json) => serde_json::from_str(json.as_str())
                .map_err(|e| PluginError::new("garbage", format!("the plugin returned an unreadable result: {e}"))),
            RErr(err) => Err(PluginError::from_wire(err.as_str())),
        }
    }

    fn report_cost(&self) -> Option<CostReport> {
        serde_json::from_str((self.module.report_cost())().as_str()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use profcmp_plugin_api::Role;

    fn candidate(schema_version: u32) -> Candidate {
        let mut manifest = Manifest::new("m", "1.0.0", "d", Role::Experimental);
        manifest.schema_version = schema_version;
        Candidate {
            path: PathBuf::from("libm.so"),
            manifest: Ok(manifest),
        }
    }

    #[test]
    fn a_plugin_speaking_a_newer_payload_schema_is_refused_with_what_to_do() {
        assert!(candidate(PAYLOAD_SCHEMA_VERSION).status().is_ok());
        assert!(candidate(1).status().is_ok(), "older schemas are read");
        let error = candidate(PAYLOAD_SCHEMA_VERSION + 1).status().unwrap_err();
        assert!(error.contains("speaks payload schema"), "{error}");
        assert!(error.contains("upgrade profcmp"), "{error}");
        assert_eq!(error.lines().count(), 1);
    }
}
