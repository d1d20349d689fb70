//! Core types of [`gpu-alloc`](https://crates.io/crates/gpu-alloc): the
//! [`MemoryDevice`] trait that backends implement, [`DeviceProperties`], memory types,
//! heaps and their flags, and the errors a device reports.
//!
//! This crate is small, stable and `no_std` (it needs `alloc`), so that a backend can
//! depend on it alone and be versioned on its own.
//!
//! ```
//! use gpu_alloc_types::{MemoryPropertyFlags, MemoryTypeInfo};
//!
//! // VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT | VK_MEMORY_PROPERTY_RDMA_CAPABLE_BIT_NV
//! let info = MemoryTypeInfo { heap: 0, raw_flags: 0x101 };
//! assert_eq!(info.props(), MemoryPropertyFlags::DEVICE_LOCAL);
//! assert_eq!(info.unknown_bits(), 0x100);
//! ```
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;

mod allocate;
mod backend;
mod device;
mod types;

pub use self::{allocate::*, backend::*, device::*, types::*};
