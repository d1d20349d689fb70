//! A program written against the documented API of gpu-alloc-ash 0.7.0
//! (`published_api/program.rs`: the crate docs' example on ash 0.38, plus the
//! flag conversions and `AsRef<AshMemoryDevice>`) builds against this crate
//! unchanged and runs on the first Vulkan device (lavapipe in CI).
//!
//! The same file builds and runs against the published gpu-alloc-ash 0.7.0 with
//! gpu-alloc 0.6.0 (a scratch project with both as registry dependencies); here
//! it gets this crate and this workspace's gpu-alloc. Its one warning is the
//! deprecation of `device_properties`, which says what changed.
//!
//! Without a Vulkan driver the test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

#[allow(deprecated)] // `device_properties`: it builds, with the warning that explains the change.
#[path = "published_api/program.rs"]
mod program;

use {ash::vk, gpu_alloc_tests::vulkan_gate::no_vulkan};

#[test]
fn a_gpu_alloc_ash_0_7_program_runs() {
    const TEST: &str = "a_gpu_alloc_ash_0_7_program_runs";
    match program::main() {
        Ok(()) => {}
        Err(err) => {
            let no_driver = err.is::<ash::LoadingError>()
                || err.to_string() == "no physical device"
                || err.downcast_ref::<vk::Result>().is_some_and(|r| {
                    [
                        vk::Result::ERROR_INCOMPATIBLE_DRIVER,
                        vk::Result::ERROR_INITIALIZATION_FAILED,
                    ]
                    .contains(r)
                });
            if no_driver {
                no_vulkan(TEST, &err);
            } else {
                panic!("{TEST}: {err}");
            }
        }
    }
}
