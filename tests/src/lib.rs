//! Simulated devices and shared test support for gpu-alloc.

pub mod vulkan_gate;
