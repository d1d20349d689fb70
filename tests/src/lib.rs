//! Simulated devices and shared test support for gpu-alloc.
//!
//! [`sim`] holds [`SimDevice`](sim::SimDevice), a [`MemoryDevice`] that simulates
//! any layout of `tests/devices/*.json` and checks every rule the allocator must
//! keep; [`harness`] binds an allocator to one, and the integration tests in
//! `tests/tests/` drive the allocator through it.
//!
//! [`MemoryDevice`]: gpu_alloc_types::MemoryDevice

pub mod backend_support;
pub mod harness;
pub mod sim;
pub mod vulkan_gate;
