//! The stable boundary between the profcmp host and profiling-method plugins.
//!
//! This crate is the boundary only: the frozen `#[repr(C)]` types ([`abi`]), the JSON payloads
//! ([`types`]), the safe SDK ([`Method`], [`HostContext`], [`sdk::HostServer`]), the export macro,
//! [`PluginError`] and the host's [`limits`]. The helpers methods share (Dynamo's selection rule,
//! sweeps, planner grids, a cost-counting session, the Bayesian search, a `FakeHost` for tests)
//! are in the crate `profcmp-method-kit` (`plugin-api/kit`), which plugins link statically and
//! which can change without touching this crate.
//!
//! A plugin author implements [`Method`] as plain Rust and exports it with one line:
//!
//! ```ignore
//! profcmp_plugin_api::export_method!(MyMethod);
//! ```
//!
//! Inside `profile`, the method calls back into the host through [`HostContext`]: `estimate`
//! (free), `deploy` / `measure` / `teardown` (GPU time metered by the host), `log`, `progress`
//! and `cancelled`. Panics are caught on both sides of the boundary and become [`PluginError`]s.
//!
//! # Compatibility rule
//!
//! The `#[repr(C)]` surface ([`abi::MethodMod`], [`abi::HostCall`], [`abi::MANIFEST_SYMBOL`]) is
//! frozen: abi_stable refuses any layout change at load time. Everything else travels as JSON
//! of the serde types in [`types`], so:
//! - adding an optional field (`#[serde(default)]`), a host call, or a value of `Role`,
//!   `ServingBackend` or `LogLevel` (read as `Unknown` by an older peer) is compatible: a patch
//!   release of this crate. The payload structs are `#[non_exhaustive]` and built with
//!   constructors, so a new field breaks no plugin's build either;
//! - a new kind of `EstimateQuery`, `DeployRequest` or `Probe` is compatible on the wire: an
//!   older host fails that one call with "upgrade profcmp";
//! - removing or renaming a field, or changing its meaning, is incompatible: bump the minor
//!   version (0.x) and [`PAYLOAD_SCHEMA_VERSION`]. The host refuses a plugin of another minor
//!   with "rebuild it against plugin-api X", and a plugin whose manifest names a newer payload
//!   schema than its own with "upgrade profcmp".
//!
//! The version of this crate is the boundary's: its minor changes only when a built plugin can
//! no longer load. 0.1.1 moved the helpers to `profcmp-method-kit` and made the payloads
//! non-exhaustive, a one-time change to plugin sources (use the constructors and the kit);
//! plugins built against 0.1.0 load unchanged (`tests/compat`, checked by the e2e tests).

#![warn(missing_docs)]

pub mod abi;
mod error;
pub mod limits;
pub mod sdk;
pub mod types;

pub use abi_stable;
pub use error::PluginError;
pub use sdk::{HostContext, Method};
pub use types::*;

/// The version of this crate, recorded in every plugin's manifest.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Whether a plugin built against `plugin_api` can be loaded by a host built against `host_api`
/// (same rule as abi_stable: equal major, and equal minor while major is 0).
pub fn api_compatible(host_api: &str, plugin_api: &str) -> bool {
    fn parts(v: &str) -> Option<(u64, u64)> {
        let mut it = v.split('.');
        Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
    }
    match (parts(host_api), parts(plugin_api)) {
        (Some((0, host_minor)), Some((0, plugin_minor))) => host_minor == plugin_minor,
        (Some((host_major, _)), Some((plugin_major, _))) => host_major == plugin_major,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_macro_uses_abi_stables_loader_symbol() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }

    #[test]
    fn missing_statistics_cross_the_boundary_as_nan() {
        let stat = Stat {
            avg: f64::NAN,
            p50: 1.0,
            ..Stat::default()
        };
        let json = serde_json::to_string(&stat).unwrap();
        assert!(json.contains("\"avg\":null"), "{json}");
        let back: Stat = serde_json::from_str(&json).unwrap();
        assert!(back.avg.is_nan());
        assert_eq!(back.p50, 1.0);
    }

    #[test]
    fn values_from_a_newer_peer_read_as_unknown() {
        let read = |json: &str| serde_json::from_str::<ServingBackend>(json).unwrap();
        assert_eq!(read("\"vllm\""), ServingBackend::Vllm);
        assert_eq!(read("\"tensorrt_next\""), ServingBackend::Unknown);
        assert_eq!(serde_json::from_str::<Role>("\"baseline\"").unwrap(), Role::Baseline);
        assert_eq!(serde_json::from_str::<Role>("\"oracle\"").unwrap(), Role::Unknown);
        assert_eq!(
            serde_json::from_str::<LogLevel>("\"trace\"").unwrap(),
            LogLevel::Unknown
        );
    }

    #[test]
    fn a_manifest_without_a_schema_version_speaks_schema_1() {
        let manifest = Manifest::new("m", "1.0.0", "d", Role::Baseline);
        assert_eq!(manifest.schema_version, PAYLOAD_SCHEMA_VERSION);
        let mut json = serde_json::to_value(&manifest).unwrap();
        json.as_object_mut().unwrap().remove("schema_version");
        let old: Manifest = serde_json::from_value(json).unwrap();
        assert_eq!(old.schema_version, 1);
        assert_eq!(
            Manifest {
                schema_version: manifest.schema_version,
                ..old
            },
            manifest
        );
    }

    #[test]
    fn an_unknown_call_kind_fails_that_call_saying_to_upgrade() {
        struct Host;
        impl HostContext for Host {
            fn estimate(&self, _: &EstimateQuery) -> Result<Estimate, PluginError> {
                Ok(Estimate::new(None, 7))
            }
            fn deploy(&self, request: &DeployRequest) -> Result<Deployment, PluginError> {
                Ok(Deployment::new("d", *request, 7, 1))
            }
            fn measure(&self, _: &Deployment, _: &Probe) -> Result<Measurement, PluginError> {
                Ok(Measurement::default())
            }
            fn teardown(&self, _: &Deployment) -> Result<(), PluginError> {
                Ok(())
            }
            fn log(&self, _: LogLevel, _: &str) {}
            fn progress(&self, _: u64, _: u64, _: &str) {}
            fn cancelled(&self) -> bool {
                false
            }
        }
        let server = sdk::HostServer::new(&Host);
        assert!(server.dispatch("deploy", r#"{"kind":"prefill_only","tp":2}"#).is_ok());
        let error = server
            .dispatch("deploy", r#"{"kind":"pipeline","tp":2,"pp":2}"#)
            .unwrap_err();
        assert_eq!(error.code, "invalid_call");
        assert!(error.help.unwrap_or_default().contains("upgrade profcmp"));
        let typo = server
            .dispatch("deploy", r#"{"kind":"prefill_only","tp":"two"}"#)
            .unwrap_err();
        assert_eq!(typo.help, None, "only an unknown kind says to upgrade");
    }

    #[test]
    fn the_boundary_depends_on_abi_stable_and_serde_only() {
        // ARCHITECTURE.md's invariant: helpers with dependencies of their own go to the kit.
        let manifest = include_str!("../Cargo.toml");
        let deps = manifest.split("[dependencies]").nth(1).expect("a [dependencies] table");
        let names: Vec<&str> = deps
            .lines()
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split(['=', '.']).next().map(str::trim))
            .filter(|n| !n.is_empty() && !n.starts_with('#'))
            .collect();
        assert_eq!(names, ["abi_stable", "serde", "serde_json"]);
    }

    #[test]
    fn api_compatibility_follows_semver_at_zero() {
        assert!(api_compatible("0.1.0", "0.1.7"));
        assert!(!api_compatible("0.2.0", "0.1.0"));
        assert!(api_compatible("1.2.0", "1.0.0"));
        assert!(!api_compatible("1.0.0", "2.0.0"));
        assert!(!api_compatible("0.1.0", "garbage"));
    }
}
