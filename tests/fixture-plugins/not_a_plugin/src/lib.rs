//! Test fixture: a shared library that is not a profcmp plugin.
#[no_mangle]
pub extern "C" fn not_a_plugin_answer() -> i32 {
    42
}
