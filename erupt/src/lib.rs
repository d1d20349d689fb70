#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod convert;
mod device;
mod properties;

pub use self::{
    convert::{
        allocation_flags_from_erupt, allocation_flags_to_erupt, heap_flags_from_erupt,
        heap_flags_to_erupt, memory_heap_info, memory_properties_from_erupt,
        memory_properties_to_erupt, memory_type_info,
    },
    device::{EruptBudgetDevice, EruptMemoryDevice},
    properties::{
        device_properties, extended_device_properties, read_heap_budgets, EnabledFeatures,
        EruptDeviceProperties,
    },
};
