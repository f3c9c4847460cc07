//! The stable boundary between the profcmp host and profiling-method plugins.
//!
//! A plugin author depends on this crate alone, implements [`Method`] as plain Rust and exports
//! it with one line:
//!
//! ```ignore
//! profcmp_plugin_api::export_method!(MyMethod);
//! ```
//!
//! Inside `profile`, the method calls back into the host through [`HostContext`]: `estimate`
//! (free), `deploy` / `measure` / `teardown` (GPU time metered by the host), `log`, `progress`
//! and `cancelled`. Panics are caught on both sides of the boundary and become [`PluginError`]s.
//!
//! [`toolkit`] holds what every method shares (candidates, Dynamo's selection rule, sweeps,
//! planner grids, the profile validity check, strict options, a cost-counting and
//! tearing-down session, a GP and the Bayesian search); [`testing`] a scripted in-process host
//! (`FakeHost`) for method unit tests.
//!
//! # Compatibility rule
//!
//! The `#[repr(C)]` surface ([`abi::MethodMod`], [`abi::HostCall`], [`abi::MANIFEST_SYMBOL`]) is
//! frozen: abi_stable refuses any layout change at load time. Everything else travels as JSON
//! of the serde types in [`types`], so:
//! - adding an optional field (`#[serde(default)]`) or a new host call is compatible: a patch
//!   release of this crate;
//! - removing or renaming a field, or changing its meaning, is incompatible: bump the minor
//!   version (0.x) and `PAYLOAD_SCHEMA_VERSION`; the host then refuses older plugins with
//!   "rebuild it against plugin-api X".

#![warn(missing_docs)]

pub mod abi;
mod error;
pub mod limits;
pub mod sdk;
pub mod testing;
pub mod toolkit;
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
    fn api_compatibility_follows_semver_at_zero() {
        assert!(api_compatible("0.1.0", "0.1.7"));
        assert!(!api_compatible("0.2.0", "0.1.0"));
        assert!(api_compatible("1.2.0", "1.0.0"));
        assert!(!api_compatible("1.0.0", "2.0.0"));
        assert!(!api_compatible("0.1.0", "garbage"));
    }
}
