//! Fault fixture `noisy` (see ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "fault_noisy";
const FAULT: &str = "noisy";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
