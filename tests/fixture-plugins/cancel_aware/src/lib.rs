//! Fault fixture `cancel_aware`: waits until the host says the run is cancelled (see
//! ../../fault_common.rs and docs/reliability.md).
const METHOD_NAME: &str = "cancel_aware";
const FAULT: &str = "cancel_aware";
include!("../../fault_common.rs");
profcmp_plugin_api::export_method!(Fault);
