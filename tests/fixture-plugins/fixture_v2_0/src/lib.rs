//! Test fixture: method `fixture` at this crate's version.
const METHOD_NAME: &str = "fixture";
const PANIC: bool = false;
include!("../../fixture_common.rs");
profcmp_plugin_api::export_method!(Fixture);
