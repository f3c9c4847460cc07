//! An AIPerf summary (`profile_export_aiperf.json`), as compare and the aiperf runner read it.
#![no_main]
libfuzzer_sys::fuzz_target!(|text: &str| {
    if let Ok(summary) = profcmp_core::aiperf::Summary::from_json(text) {
        let _ = summary.measurement();
    }
});
