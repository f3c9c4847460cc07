//! Test fixture: a plugin that records plugin-api 0.0.1, as one built against an old API would.
const METHOD_NAME: &str = "old_api";
const PANIC: bool = false;
include!("../../fixture_common.rs");
profcmp_plugin_api::export_method!(@api "0.0.1", Fixture);
