//! What callers build to ask for memory: a [`Request`], and the [`AllocOptions`]
//! that say more about it ([`Dedicated`] hints, the [`ResourceKind`]).

#![deny(unsafe_code)]

#[cfg(doc)]
use crate::{Config, DeviceProperties, GpuAllocator};
use {
    crate::usage::UsageFlags,
    gpu_alloc_types::{FromMemoryRequirements, MemoryRequirements},
};

/// A memory request.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Request {
    /// Size in bytes. Non-zero.
    pub size: u64,

    /// Alignment minus one: the block's offset is a multiple of `align_mask + 1`.
    /// Must be `2^n - 1`.
    pub align_mask: u64,

    /// What the memory is for; picks the memory type.
    pub usage: UsageFlags,

    /// Bit `i` set allows memory type `i` (for Vulkan, `memoryTypeBits` from the
    /// resource's memory requirements).
    pub memory_types: u32,
}

/// What backends build from their API's memory requirements
/// (`gpu_alloc_ash::request_from_requirements(&requirements, usage)`): the size,
/// alignment and allowed memory types of the requirements, and `usage`.
impl FromMemoryRequirements<UsageFlags> for Request {
    fn from_memory_requirements(requirements: MemoryRequirements, usage: UsageFlags) -> Self {
        Request {
            size: requirements.size,
            align_mask: requirements.align_mask,
            usage,
            memory_types: requirements.memory_types,
        }
    }
}

/// Hints for the allocator to decide on the allocation strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dedicated {
    /// The block must have a memory object of its own (for example, the resource
    /// requires a dedicated allocation). Memory objects are slow to create and
    /// limited in number: use with care.
    Required,

    /// A memory object of its own is preferred (the driver said it may be faster).
    /// The allocator gives one when the request is at least
    /// `Config::preferred_dedicated_threshold` bytes.
    Preferred,
}

/// What a block will be bound to, so that linear and optimal-tiling resources never
/// share a `bufferImageGranularity` page of one memory object.
///
/// Requests made without a kind ([`GpuAllocator::alloc`] and the other methods
/// of gpu-alloc 0.6) are [`ResourceKind::Unknown`]. The cost is zero when the
/// granularity is 1, which is what [`GpuAllocator::new`] assumes, since
/// [`DeviceProperties`] cannot carry it; pass the real value through
/// [`GpuAllocator::with_extended_properties`] (the backends report it).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// Not said. With a granularity above 1, the block gets granularity pages of
    /// its own (its offset and size are rounded to the granularity), so it is safe
    /// next to anything.
    #[default]
    Unknown,
    /// A buffer, or an image with linear tiling.
    Linear,
    /// An image with optimal tiling.
    Optimal,
}

/// Options for [`GpuAllocator::try_alloc_with_options`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocOptions {
    /// Hint about dedicated memory objects.
    pub dedicated: Option<Dedicated>,
    /// What the block will be bound to.
    pub resource: ResourceKind,
}

impl AllocOptions {
    /// No dedicated hint, unknown resource kind.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the dedicated hint.
    pub fn dedicated(mut self, dedicated: Dedicated) -> Self {
        self.dedicated = Some(dedicated);
        self
    }

    /// Sets the resource kind.
    pub fn resource(mut self, resource: ResourceKind) -> Self {
        self.resource = resource;
        self
    }
}
