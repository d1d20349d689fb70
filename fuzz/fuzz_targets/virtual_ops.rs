//! libFuzzer entry point: every input is a `VirtualAllocator` program for
//! [`gpu_alloc_fuzz::virtual_ops::run_virtual`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gpu_alloc_fuzz::virtual_ops::run_virtual(data);
});
