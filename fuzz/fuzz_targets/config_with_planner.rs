//! A `config_with_planner.yaml` (compare reads other tools' results in this layout).
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = profcmp_core::dynamo::read_profile_data(text);
});
