//! How tests that need a Vulkan driver decide to run, skip or fail.

/// The environment variable that turns a missing Vulkan driver into a failure.
pub const REQUIRE_VULKAN_VAR: &str = "GPU_ALLOC_REQUIRE_VULKAN";

/// Whether `GPU_ALLOC_REQUIRE_VULKAN=1` is set (as CI sets it).
pub fn vulkan_required() -> bool {
    std::env::var(REQUIRE_VULKAN_VAR).is_ok_and(|v| v == "1")
}

/// Call when a test finds no usable Vulkan driver. Prints `skipped: no Vulkan
/// driver (...)` and returns, so the test can return early; panics instead when
/// [`vulkan_required`] is true.
pub fn no_vulkan(test: &str, why: &dyn std::fmt::Display) {
    if vulkan_required() {
        panic!("{test}: no Vulkan driver ({why}) and {REQUIRE_VULKAN_VAR}=1 is set");
    }
    println!("{test}: skipped: no Vulkan driver ({why})");
    eprintln!("{test}: skipped: no Vulkan driver ({why})");
}
