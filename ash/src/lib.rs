#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod device;
mod properties;
mod requirements;

#[allow(deprecated)] // `device_properties` is deprecated, and stays where 0.7 had it.
pub use self::properties::device_properties;
pub use {
    self::{
        convert::{
            allocation_flags_from_ash, allocation_flags_to_ash, dedicated_buffer, dedicated_image,
            heap_flags_from_ash, heap_flags_to_ash, map_error_from_ash, memory_heap_info_from_ash,
            memory_properties_from_ash, memory_properties_to_ash, memory_requirements_from_ash,
            memory_type_info_from_ash, out_of_memory_from_ash, request_from_requirements,
        },
        device::{AshBudgetDevice, AshMemoryDevice},
        properties::{
            device_properties_enabled, extended_device_properties, query_properties,
            AshDeviceProperties, AshProperties, Properties2,
        },
        requirements::{buffer_memory_requirements2, image_memory_requirements2},
    },
    gpu_alloc_types::{DedicatedNeed, EnabledFeatures, MemoryRequirements, ResourceRequirements},
};
