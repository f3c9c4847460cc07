//! AIPerf per-request records (`profile_export.jsonl`).
#![no_main]
libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let path = std::env::temp_dir().join(format!("profcmp-fuzz-records-{}.jsonl", std::process::id()));
    if std::fs::write(&path, bytes).is_ok() {
        let _ = profcmp_core::endpoint::read_records(&path);
    }
});
