//! Simulated devices and shared test support for gpu-alloc.
//!
//! [`sim`] holds [`SimDevice`](sim::SimDevice), a [`MemoryDevice`] that simulates
//! any layout of `tests/devices/*.json` and checks every rule the allocator must
//! keep; the integration tests in `tests/tests/` drive the allocator against it.
//!
//! [`MemoryDevice`]: gpu_alloc_types::MemoryDevice

pub mod sim;
pub mod vulkan_gate;
