//! Fault fixture `segfault` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_segfault";
const FAULT: &str = "segfault";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
