//! Simulated devices and shared test support for gpu-alloc.
//!
//! [`sim`] holds [`SimDevice`](sim::SimDevice), a [`MemoryDevice`] that simulates
//! any layout of `tests/devices/*.json` and checks every rule the allocator must
//! keep; [`harness`] binds an allocator to one, and the integration tests in
//! `tests/tests/` drive the allocator through it:
//!
//! - `properties/`: random programs on every layout x `Config` preset, in three
//!   modes (clean, injected faults, tight heaps and object limits), checked after
//!   every step against a shadow model. `PROPTEST_CASES` sets the cases per cell
//!   (default 40 clean, 12 otherwise); `GPU_ALLOC_TEST_SEED` picks other seeds;
//!   `cargo test -p gpu-alloc-tests --test properties -- --nocapture` prints the
//!   number of operations per cell.
//! - `bad_input.rs`: the exact error for every bad request and foreign block.
//! - `memory_types.rs`: the memory type chosen for every layout and usage, pinned
//!   with a reason per row.
//! - `lifecycle.rs`: reuse, failed maps, the object limit, leak reports, cleanup,
//!   budgets, non-coherent flushes, imported memory, odd configurations.
//! - `sim_device.rs`: the simulated device itself catches every broken rule.
//!
//! [`kit`] holds what the tests, the demo, the bench and the soak share: the
//! seeded random number generator, byte counts as text and command-line
//! reading.
//!
//! [`shadow`] is the model of the allocator's contract that `properties/` and
//! the fuzz driver (`fuzz/`) both check every step against; [`virtual_shadow`]
//! is the same for `VirtualAllocator` (`virtual_alloc.rs` and the fuzz target
//! `virtual_ops`).
//!
//! [`MemoryDevice`]: gpu_alloc_types::MemoryDevice

pub mod backend_support;
pub mod counted;
pub mod harness;
pub mod kit;
pub mod shadow;
pub mod sim;
pub mod virtual_shadow;
pub mod vulkan_gate;
