//! A reality profile (`--reality FILE.toml`).
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = profcmp_core::sim::Reality::parse(text, "fuzz");
});
