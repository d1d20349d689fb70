#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod budget;
mod device;
pub mod flags;
mod properties;

pub use self::{
    budget::AshBudgetDevice,
    device::{map_error_from_vk, out_of_memory_from_vk, AshMemoryDevice},
    properties::{
        device_properties, device_properties_enabled, extended_properties, memory_budget,
        query_properties, AshProperties, Properties2,
    },
};
