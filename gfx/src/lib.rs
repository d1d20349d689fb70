#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod device;
mod properties;

pub use {
    self::{
        convert::{
            allocation_error_from_gfx, heap_flags_from_gfx, heap_flags_to_gfx, map_error_from_gfx,
            memory_heap_info_from_gfx, memory_properties_from_gfx, memory_properties_to_gfx,
            memory_requirements_from_gfx, memory_type_info_from_gfx, out_of_memory_from_gfx,
            request_from_requirements,
        },
        device::GfxMemoryDevice,
        properties::{
            device_properties, extended_device_properties, gfx_device_properties,
            gfx_extended_device_properties, GfxDeviceProperties,
        },
    },
    gpu_alloc_types::MemoryRequirements,
};
