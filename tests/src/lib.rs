//! Simulated devices for gpu-alloc tests (in progress).
