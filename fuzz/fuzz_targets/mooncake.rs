//! A mooncake trace (`--trace`, the optimize stage's trace file).
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = profcmp_core::workload::parse_mooncake(text, "fuzz");
});
