//! Device property queries.

use {
    crate::convert::{memory_heap_info_from_gfx, memory_type_info_from_gfx},
    gpu_alloc_types::{DeviceProperties, ExtendedProperties},
    hal::adapter::{Adapter, PhysicalDevice as _},
    std::borrow::Cow,
};

/// Everything gfx-hal tells about an adapter's memory.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GfxDeviceProperties {
    /// Memory types, heaps and `bufferImageGranularity`.
    ///
    /// gfx-hal keeps only the properties it knows (device-local, host-visible,
    /// coherent, cached, lazily allocated), and its Vulkan backend leaves out every
    /// memory type with other bits (protected, AMD device-coherent, RDMA, ...)
    /// and renumbers the rest: memory type indices here and in
    /// `Requirements::type_mask` are gfx-hal's, which is what
    /// [`GfxMemoryDevice`](crate::GfxMemoryDevice) takes. So no type the allocator
    /// would have to refuse ever reaches it. Heaps keep only `DEVICE_LOCAL`.
    pub extended: ExtendedProperties<'static>,

    /// `maxMemoryAllocationCount`, saturated to `u32`.
    pub max_memory_allocation_count: u32,

    /// gfx-hal 0.9 does not report `maxMemoryAllocationSize`. This is the size of
    /// the largest heap, a bound no allocation can exceed anyway; a device whose
    /// real limit is lower fails larger allocations with an out-of-memory error.
    /// Lower it if you know the device's limit (for example from Vulkan).
    pub max_memory_allocation_size: u64,

    /// `nonCoherentAtomSize` (at least 1).
    pub non_coherent_atom_size: u64,
}

impl GfxDeviceProperties {
    /// The [`DeviceProperties`] for `GpuAllocator::new` and
    /// `GpuAllocator::with_extended_properties`.
    ///
    /// `buffer_device_address` is always `false`: gfx-hal 0.9 cannot allocate
    /// memory with `VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT`, so the allocator must
    /// never ask for it.
    pub fn device_properties(&self) -> DeviceProperties<'static> {
        self.extended.device_properties(
            self.max_memory_allocation_count,
            self.max_memory_allocation_size,
            self.non_coherent_atom_size,
            false,
        )
    }
}

/// The [`DeviceProperties`] of an adapter, for `GpuAllocator::new`:
/// [`extended_device_properties`] then [`GfxDeviceProperties::device_properties`].
///
/// gfx-hal has no optional feature that the allocator would use, so there is
/// nothing to say about enabled features (see [`GfxDeviceProperties`]).
pub fn device_properties<B: hal::Backend>(adapter: &Adapter<B>) -> DeviceProperties<'static> {
    extended_device_properties(adapter).device_properties()
}

/// [`device_properties`], under its gpu-alloc-gfx 0.3 name.
pub fn gfx_device_properties<B: hal::Backend>(adapter: &Adapter<B>) -> DeviceProperties<'static> {
    device_properties(adapter)
}

/// [`extended_device_properties`], under the name of this crate's first
/// versions, kept for their callers.
#[doc(hidden)]
pub fn gfx_extended_device_properties<B: hal::Backend>(
    adapter: &Adapter<B>,
) -> GfxDeviceProperties {
    extended_device_properties(adapter)
}

/// Everything gfx-hal tells about an adapter's memory, including
/// `bufferImageGranularity` and heap flags, for
/// `GpuAllocator::with_extended_properties`.
pub fn extended_device_properties<B: hal::Backend>(adapter: &Adapter<B>) -> GfxDeviceProperties {
    let memory = adapter.physical_device.memory_properties();
    let limits = adapter.physical_device.properties().limits;
    let memory_types: Vec<_> = memory
        .memory_types
        .iter()
        .map(memory_type_info_from_gfx)
        .collect();
    let memory_heaps: Vec<_> = memory
        .memory_heaps
        .iter()
        .map(memory_heap_info_from_gfx)
        .collect();
    let largest_heap = memory_heaps.iter().map(|h| h.size).max().unwrap_or(0);
    GfxDeviceProperties {
        extended: ExtendedProperties::new(
            Cow::Owned(memory_types),
            Cow::Owned(memory_heaps),
            limits.buffer_image_granularity,
        ),
        max_memory_allocation_count: u32::try_from(limits.max_memory_allocation_count)
            .unwrap_or(u32::MAX),
        max_memory_allocation_size: largest_heap,
        non_coherent_atom_size: (limits.non_coherent_atom_size as u64).max(1),
    }
}
