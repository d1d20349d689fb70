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

/// The environment variable that lets a run go on without the Khronos
/// validation layer even under `GPU_ALLOC_REQUIRE_VULKAN=1` (for machines with a
/// driver but no layer, such as the GPU machine).
pub const ALLOW_NO_VALIDATION_VAR: &str = "GPU_ALLOC_ALLOW_NO_VALIDATION";

/// Whether a missing validation layer is a failure: [`vulkan_required`], unless
/// `GPU_ALLOC_ALLOW_NO_VALIDATION=1` is set.
pub fn validation_required() -> bool {
    vulkan_required() && !std::env::var(ALLOW_NO_VALIDATION_VAR).is_ok_and(|v| v == "1")
}

/// Call when a run that meant to check with the Khronos validation layer finds
/// it missing. Prints `skipped: no validation layer (...)` and returns, so the
/// caller can skip the validated part; panics instead when
/// [`validation_required`] is true.
pub fn no_validation_layer(test: &str, why: &dyn std::fmt::Display) {
    if validation_required() {
        panic!(
            "{test}: no validation layer ({why}) and {REQUIRE_VULKAN_VAR}=1 is set \
             ({ALLOW_NO_VALIDATION_VAR}=1 allows it)"
        );
    }
    println!("{test}: skipped: no validation layer ({why})");
    eprintln!("{test}: skipped: no validation layer ({why})");
}
