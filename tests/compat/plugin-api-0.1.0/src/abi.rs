//! The frozen `#[repr(C)]` boundary: one root module and one host callback trait.
//!
//! Everything that evolves travels as JSON strings through these few types, so they never change.
//! New root-module fields may only be appended after the last prefix field; do not reorder or
//! remove any field.

#![allow(non_local_definitions)]

use abi_stable::{
    declare_root_module_statics,
    library::RootModule,
    package_version_strings, sabi_trait,
    sabi_types::VersionStrings,
    std_types::{RResult, RStr, RString},
    StableAbi,
};

/// The name of the plain C symbol holding the manifest JSON, read before the full load.
pub const MANIFEST_SYMBOL: &[u8] = b"profcmp_plugin_manifest_v1\0";

/// The callbacks a plugin may make into the host: one JSON-in, JSON-out entry point.
///
/// `method` is one of `estimate`, `deploy`, `measure`, `teardown`, `log`, `progress`,
/// `cancelled`; `payload` and the answer are JSON; an error is a JSON `PluginError`.
#[sabi_trait]
pub trait HostCall {
    /// Performs one host call.
    fn call(&self, method: RStr<'_>, payload: RStr<'_>) -> RResult<RString, RString>;
}

/// A borrowed host callback object, as handed to `profile`.
pub type HostRef<'a> = HostCall_TO<'a, abi_stable::sabi_types::RRef<'a, ()>>;

/// The root module every method plugin exports.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = MethodModRef)))]
#[sabi(missing_field(panic))]
pub struct MethodMod {
    /// The manifest as JSON (`Manifest`).
    pub manifest: extern "C" fn() -> RString,
    /// Runs the method: request JSON (`ProfileRequest`) in, `ProfileResult` JSON or
    /// `PluginError` JSON out.
    pub profile: extern "C" fn(request: RStr<'_>, host: HostRef<'_>) -> RResult<RString, RString>,
    /// The method's own cost account of its last `profile` call, as `CostReport` JSON.
    #[sabi(last_prefix_field)]
    pub report_cost: extern "C" fn() -> RString,
}

impl RootModule for MethodModRef {
    declare_root_module_statics! {MethodModRef}
    const BASE_NAME: &'static str = "profcmp_method";
    const NAME: &'static str = "profcmp_method";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}
