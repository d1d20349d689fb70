//! libFuzzer entry point: every input is an operation program for
//! [`gpu_alloc_fuzz::run`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gpu_alloc_fuzz::run(data);
});
