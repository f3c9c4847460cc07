//! What a plugin sends the host: a host call (method name, JSON payload) served by
//! `HostServer::dispatch` on the SDK's fake host, and a `ProfileResult` checked by the profile
//! stage. The first input byte picks the call.
#![no_main]
use profcmp_plugin_api::sdk::HostServer;
use profcmp_method_kit::testing::FakeHost;
use profcmp_plugin_api::ProfileResult;

const METHODS: [&str; 8] = ["estimate", "deploy", "measure", "teardown", "log", "progress", "cancelled", "result"];

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, rest)) = bytes.split_first() else { return };
    let payload = String::from_utf8_lossy(rest);
    let method = METHODS[usize::from(pick) % METHODS.len()];
    if method == "result" {
        if let Ok(result) = serde_json::from_str::<ProfileResult>(&payload) {
            let request = profcmp_core::spec::RunSpec::defaults().profile_request(serde_json::Value::Null);
            let _ = profcmp_core::stage::profile::check_result(&request, &result);
        }
        return;
    }
    let host = FakeHost::new();
    if let Err(e) = HostServer::new(&host).dispatch(method, &payload) {
        assert_ne!(e.code, "panic", "{method} {payload}: {e}");
    }
});
