//! What callers build to ask for memory: a [`Request`], and the [`AllocOptions`]
//! that say more about it ([`Dedicated`] hints, the [`ResourceKind`]).

#![deny(unsafe_code)]

#[cfg(doc)]
use crate::{Config, DeviceProperties, GpuAllocator};
use {
    crate::{pools::PoolId, usage::UsageFlags},
    gpu_alloc_types::{
        DedicatedResource, ExternalMemoryHandleTypes, FromMemoryRequirements, MemoryPriority,
        MemoryRequirements,
    },
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
///
/// Beyond the dedicated hint and the resource kind, what the device is told
/// when the block gets a memory object of its own (a dedicated block):
/// the resource it is for, a priority, export handle types. The allocator
/// sends only what the device supports
/// ([`MemoryDevice::allocation_support`](gpu_alloc_types::MemoryDevice::allocation_support)):
/// what a request *requires* and the device cannot do is an error
/// ([`TryAllocError::DedicatedNotSupported`](crate::TryAllocError::DedicatedNotSupported),
/// [`TryAllocError::ExportNotSupported`](crate::TryAllocError::ExportNotSupported)),
/// and hints it cannot honour are dropped and counted in
/// [`AllocatorStats::hints_dropped`](crate::AllocatorStats::hints_dropped).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocOptions {
    /// Hint about dedicated memory objects.
    pub dedicated: Option<Dedicated>,
    /// What the block will be bound to.
    pub resource: ResourceKind,
    /// The buffer or image the block is for, sent with a dedicated memory
    /// object (`VkMemoryDedicatedAllocateInfo`); the block is then exactly
    /// `Request::size` bytes, as Vulkan requires. With
    /// [`Dedicated::Required`] a device that cannot send it is an error; with
    /// [`Dedicated::Preferred`] (or no hint, for a block that is dedicated for
    /// its size) the resource is dropped and counted.
    pub dedicated_resource: Option<DedicatedResource>,
    /// Priority of the block's memory object (`VK_EXT_memory_priority`).
    /// Only a dedicated block has an object of its own: for a block in a shared
    /// object, or on a device without priorities, it is dropped and counted.
    pub priority: Option<MemoryPriority>,
    /// Handle types the block's memory object can be exported as. A block
    /// with export types always gets a memory object of its own; a device that
    /// cannot export them is an error.
    pub export: ExternalMemoryHandleTypes,
    /// Whether a new memory object for the block may take the heap past its
    /// budget (never past its size).
    pub budget: BudgetPolicy,
    /// The block's name, for leak reports, `stats` and the memory map
    /// ([`GpuAllocator::set_block_name`] names it with any string later).
    pub name: Option<&'static str>,
    /// The pool the block is placed in ([`GpuAllocator::create_pool`]):
    /// one of its memory objects, which the request's `memory_types` must
    /// allow, whatever its usage says. `None`: the allocator's own pools.
    pub pool: Option<PoolId>,
}

/// What a request may do with a heap's budget
/// ([`GpuAllocator::set_heap_budgets`], [`GpuAllocator::update_budget`]) when
/// it needs a new memory object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetPolicy {
    /// Stay within the budget, or fall back to the next memory type and fail
    /// with `OutOfDeviceMemory` when none has room (the default).
    #[default]
    WithinBudget,
    /// Go past the budget if need be, up to the heap's size: for memory the
    /// frame cannot do without (the driver may then page other memory out).
    MayExceed,
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

    /// Sets the buffer or image a dedicated block is for.
    pub fn dedicated_resource(mut self, resource: DedicatedResource) -> Self {
        self.dedicated_resource = Some(resource);
        self
    }

    /// Sets the priority of the block's memory object.
    pub fn priority(mut self, priority: MemoryPriority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets the export handle types (the block gets a memory object of its own).
    pub fn export(mut self, export: ExternalMemoryHandleTypes) -> Self {
        self.export = export;
        self
    }

    /// Sets the budget policy.
    pub fn budget(mut self, budget: BudgetPolicy) -> Self {
        self.budget = budget;
        self
    }

    /// Names the block.
    pub fn name(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// Places the block in a pool.
    pub fn pool(mut self, pool: PoolId) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Whether the block must have a memory object of its own.
    pub(crate) fn own_object(&self) -> bool {
        self.dedicated == Some(Dedicated::Required) || !self.export.is_empty()
    }

    /// Whether the options say more than the resource kind and the budget
    /// policy (then the short path, which only places shared blocks in memory
    /// the allocator holds and names nothing, does not take the request).
    #[inline(always)]
    pub(crate) fn beyond_kind(&self) -> bool {
        self.dedicated.is_some()
            || self.dedicated_resource.is_some()
            || self.priority.is_some()
            || !self.export.is_empty()
            || self.name.is_some()
            || self.pool.is_some()
    }
}
