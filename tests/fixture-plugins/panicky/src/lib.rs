//! Test fixture: a method that panics inside `profile`.
const METHOD_NAME: &str = "panicky";
const PANIC: bool = true;
include!("../../fixture_common.rs");
profcmp_plugin_api::export_method!(Fixture);
