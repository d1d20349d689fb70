#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod device;
mod properties;
mod requirements;

#[allow(deprecated)] // `device_properties` is deprecated, and stays where 0.9 had it.
pub use self::properties::device_properties;
pub use {
    self::{
        convert::{
            allocation_flags_from_erupt, allocation_flags_to_erupt, dedicated_buffer,
            dedicated_image, heap_flags_from_erupt, heap_flags_to_erupt, map_error_from_erupt,
            memory_heap_info_from_erupt, memory_properties_from_erupt, memory_properties_to_erupt,
            memory_requirements_from_erupt, memory_type_info_from_erupt, out_of_memory_from_erupt,
            request_from_requirements,
        },
        device::{EruptBudgetDevice, EruptMemoryDevice},
        properties::{
            device_properties_enabled, extended_device_properties, EruptDeviceProperties,
        },
        requirements::{buffer_memory_requirements2, image_memory_requirements2},
    },
    gpu_alloc_types::{DedicatedNeed, EnabledFeatures, MemoryRequirements, ResourceRequirements},
};
