#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod device;
mod properties;

pub use self::{
    convert::{
        heap_flags_from_gfx, heap_flags_to_gfx, memory_heap_info, memory_properties_from_gfx,
        memory_properties_to_gfx, memory_type_info,
    },
    device::GfxMemoryDevice,
    properties::{gfx_device_properties, gfx_extended_device_properties, GfxDeviceProperties},
};
