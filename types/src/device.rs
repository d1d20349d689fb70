//! The device interface and its properties.

use {
    crate::allocate::{AllocateInfo, AllocationSupport},
    crate::types::{
        HeapBudget, MemoryHeap, MemoryHeapFlags, MemoryHeapInfo, MemoryType, MemoryTypeInfo,
    },
    alloc::{borrow::Cow, vec::Vec},
    core::ptr::NonNull,
};

/// Memory exhausted error.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum OutOfMemory {
    /// Device memory exhausted. Free device memory (of the same heap) and retry,
    /// or pick another memory type.
    #[error("device memory exhausted")]
    OutOfDeviceMemory,

    /// Host memory exhausted. Free host memory and retry.
    #[error("host memory exhausted")]
    OutOfHostMemory,
}

/// Memory mapping error.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DeviceMapError {
    /// Device memory exhausted. Free device memory and retry.
    #[error("device memory exhausted while mapping")]
    OutOfDeviceMemory,

    /// Host memory exhausted. Free host memory and retry.
    #[error("host memory exhausted while mapping")]
    OutOfHostMemory,

    /// Mapping failed for an implementation-specific reason (for Vulkan,
    /// `VK_ERROR_MEMORY_MAP_FAILED`: usually no large enough range of host address
    /// space). Map a smaller range, or unmap other memory first.
    #[error("memory mapping failed")]
    MapFailed,
}

/// A range of a mapped memory object, for flushing and invalidating.
#[derive(Debug)]
pub struct MappedMemoryRange<'a, M> {
    /// Memory object whose mapping the range belongs to.
    pub memory: &'a M,

    /// Offset in bytes from the start of the memory object.
    pub offset: u64,

    /// Size of the range in bytes.
    pub size: u64,
}

/// Properties of a device that matter to the allocator.
#[derive(Debug)]
pub struct DeviceProperties<'a> {
    /// Memory types, in the device's index order. At most 32.
    pub memory_types: Cow<'a, [MemoryType]>,

    /// Memory heaps, in the device's index order. At most 16 for Vulkan.
    pub memory_heaps: Cow<'a, [MemoryHeap]>,

    /// Maximum number of memory objects that may exist at once
    /// (`maxMemoryAllocationCount`).
    pub max_memory_allocation_count: u32,

    /// Maximum size of one memory object (`maxMemoryAllocationSize`).
    pub max_memory_allocation_size: u64,

    /// Alignment of flush and invalidate ranges of non-coherent memory
    /// (`nonCoherentAtomSize`). A power of two.
    pub non_coherent_atom_size: u64,

    /// Whether the application enabled the buffer device address feature on the
    /// device, so memory may be allocated with [`AllocationFlags::DEVICE_ADDRESS`].
    pub buffer_device_address: bool,
}

/// Device properties beyond those of [`DeviceProperties`]: property bits that
/// [`MemoryPropertyFlags`](crate::MemoryPropertyFlags) cannot hold, heap flags and
/// `bufferImageGranularity`.
///
/// Backends fill it from the API. Build one with [`ExtendedProperties::new`] and set
/// the fields, or derive a conservative one from plain properties with
/// [`ExtendedProperties::from_properties`].
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExtendedProperties<'a> {
    /// Every memory type with all its property bits, in the same order as
    /// [`DeviceProperties::memory_types`].
    pub memory_types: Cow<'a, [MemoryTypeInfo]>,

    /// Every memory heap with its flags, in the same order as
    /// [`DeviceProperties::memory_heaps`].
    pub memory_heaps: Cow<'a, [MemoryHeapInfo]>,

    /// `bufferImageGranularity`: linear and optimal-tiling resources must not share
    /// a page of this size in one memory object. A power of two; 1 means no
    /// restriction.
    pub buffer_image_granularity: u64,
}

impl<'a> ExtendedProperties<'a> {
    /// Creates extended properties from their parts.
    pub fn new(
        memory_types: Cow<'a, [MemoryTypeInfo]>,
        memory_heaps: Cow<'a, [MemoryHeapInfo]>,
        buffer_image_granularity: u64,
    ) -> Self {
        ExtendedProperties {
            memory_types,
            memory_heaps,
            buffer_image_granularity,
        }
    }

    /// Derives extended properties from plain ones: no unknown property bits, a
    /// heap counts as device-local when a device-local memory type draws from it,
    /// and `buffer_image_granularity` is the given value.
    pub fn from_properties(props: &DeviceProperties<'_>, buffer_image_granularity: u64) -> Self {
        let memory_types: Vec<MemoryTypeInfo> = props
            .memory_types
            .iter()
            .map(|t| MemoryTypeInfo {
                heap: t.heap,
                raw_flags: u32::from(t.props.bits()),
            })
            .collect();
        let memory_heaps = props
            .memory_heaps
            .iter()
            .enumerate()
            .map(|(index, h)| {
                let device_local = props.memory_types.iter().any(|t| {
                    t.heap as usize == index
                        && t.props.contains(crate::MemoryPropertyFlags::DEVICE_LOCAL)
                });
                MemoryHeapInfo {
                    size: h.size,
                    flags: if device_local {
                        MemoryHeapFlags::DEVICE_LOCAL
                    } else {
                        MemoryHeapFlags::empty()
                    },
                }
            })
            .collect();
        ExtendedProperties {
            memory_types: Cow::Owned(memory_types),
            memory_heaps: Cow::Owned(memory_heaps),
            buffer_image_granularity,
        }
    }

    /// Converts into owned properties with a `'static` lifetime.
    pub fn into_owned(self) -> ExtendedProperties<'static> {
        ExtendedProperties {
            memory_types: Cow::Owned(self.memory_types.into_owned()),
            memory_heaps: Cow::Owned(self.memory_heaps.into_owned()),
            buffer_image_granularity: self.buffer_image_granularity,
        }
    }
}

bitflags::bitflags! {
    /// Flags for [`MemoryDevice::allocate_memory`].
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
    pub struct AllocationFlags : u8 {
        /// The memory object may be bound to buffers whose device address is
        /// queried (`VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT`).
        const DEVICE_ADDRESS = 0x1;
    }
}

/// The operations the allocator needs from a device.
///
/// # Contract for implementers
///
/// The allocator relies on every implementation to:
/// - return memory objects that stay valid until passed to
///   [`deallocate_memory`](MemoryDevice::deallocate_memory), and never hand out the
///   same object twice while it lives;
/// - report failure through the `Result`s, never by panicking, for every error the
///   underlying API can return (map unexpected API errors to the closest variant;
///   `VK_ERROR_TOO_MANY_OBJECTS` is [`OutOfMemory::OutOfDeviceMemory`]);
/// - keep a mapping valid, at the same address, until
///   [`unmap_memory`](MemoryDevice::unmap_memory);
/// - make no other use of memory objects the allocator owns.
///
/// In return the allocator keeps every rule listed under each method's `# Safety`,
/// and the device limits of [`DeviceProperties`] it was created with.
pub trait MemoryDevice<M> {
    /// Allocates a new memory object from the device.
    ///
    /// Device allocations are slow and their number is limited, which is why the
    /// allocator sub-allocates.
    ///
    /// # Safety
    ///
    /// - `memory_type` is a valid memory type index of this device.
    /// - `size` is non-zero and at most `max_memory_allocation_size`.
    /// - `flags` are supported and enabled on the device.
    /// - Fewer than `max_memory_allocation_count` objects are alive on the device.
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<M, OutOfMemory>;

    /// Frees a memory object.
    ///
    /// # Safety
    ///
    /// - `memory` was allocated from this device and is not freed yet.
    /// - Every clone of the `memory` handle is dropped, and no resource bound to it
    ///   is in use by the device.
    /// - If `memory` is mapped, the mapping is no longer used (freeing unmaps it).
    unsafe fn deallocate_memory(&self, memory: M);

    /// Maps a range of a memory object into host address space.
    ///
    /// # Safety
    ///
    /// - `memory` was allocated from this device from a `HOST_VISIBLE` memory type.
    /// - `memory` is not mapped already.
    /// - `offset + size` does not overflow and is at most the object's size.
    /// - `size` is non-zero.
    unsafe fn map_memory(
        &self,
        memory: &mut M,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError>;

    /// Unmaps a mapped memory object.
    ///
    /// # Safety
    ///
    /// - `memory` was allocated from this device and is mapped.
    /// - No pointer into the mapping is used afterwards.
    unsafe fn unmap_memory(&self, memory: &mut M);

    /// Makes device writes to the ranges visible to host reads.
    ///
    /// # Safety
    ///
    /// - Every `memory` was allocated from this device and is mapped.
    /// - Each range lies inside the mapped region of its memory object.
    /// - For memory types without `HOST_COHERENT`, each `offset` is a multiple of
    ///   `non_coherent_atom_size`, and each `size` is a multiple of it or reaches
    ///   the end of the memory object.
    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, M>],
    ) -> Result<(), OutOfMemory>;

    /// Makes host writes to the ranges visible to the device.
    ///
    /// # Safety
    ///
    /// - Every `memory` was allocated from this device and is mapped.
    /// - Each range lies inside the mapped region of its memory object.
    /// - For memory types without `HOST_COHERENT`, each `offset` is a multiple of
    ///   `non_coherent_atom_size`, and each `size` is a multiple of it or reaches
    ///   the end of the memory object.
    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, M>],
    ) -> Result<(), OutOfMemory>;

    /// What the device can send with an allocation beyond size, type and flags
    /// (see [`AllocationSupport`]). The default supports nothing.
    fn allocation_support(&self) -> AllocationSupport {
        AllocationSupport::NONE
    }

    /// Allocates a new memory object with everything `info` says: a dedicated
    /// resource, a priority, export handle types (`pNext` chains in Vulkan).
    ///
    /// The default sends `info.flags` through
    /// [`allocate_memory`](MemoryDevice::allocate_memory), which is all a device
    /// that supports nothing more is ever given.
    ///
    /// # Safety
    ///
    /// As for [`allocate_memory`](MemoryDevice::allocate_memory), with
    /// `info.flags` as its flags, and:
    /// - `info` asks only for what [`allocation_support`](MemoryDevice::allocation_support)
    ///   reports ([`AllocateInfo::is_supported_by`]);
    /// - a dedicated resource is a live buffer or image of this device, not bound
    ///   to memory, whose memory requirements allow `memory_type` and whose size
    ///   is `size` (Vulkan's rules for `VkMemoryDedicatedAllocateInfo`);
    /// - an export is allowed for `memory_type` and the resource, if any
    ///   (`vkGetPhysicalDevice*ExternalMemoryProperties` say so).
    unsafe fn allocate_memory_with(
        &self,
        size: u64,
        memory_type: u32,
        info: &AllocateInfo,
    ) -> Result<M, OutOfMemory> {
        // SAFETY: the caller keeps `allocate_memory`'s contract with these flags.
        unsafe { self.allocate_memory(size, memory_type, info.flags) }
    }

    /// Reads the current budget and usage of every heap into `budgets` (one entry
    /// per heap, in heap order) and returns `true`, or returns `false` and leaves
    /// `budgets` untouched when the device cannot tell (the default; for Vulkan,
    /// when `VK_EXT_memory_budget` is absent).
    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        let _ = budgets;
        false
    }
}

impl ExtendedProperties<'_> {
    /// Builds the [`DeviceProperties`] these extended properties describe, with the
    /// given limits. Every backend derives its `DeviceProperties` through here, so
    /// the mapping from raw API values lives in one place.
    pub fn device_properties(
        &self,
        max_memory_allocation_count: u32,
        max_memory_allocation_size: u64,
        non_coherent_atom_size: u64,
        buffer_device_address: bool,
    ) -> DeviceProperties<'static> {
        DeviceProperties {
            memory_types: Cow::Owned(self.memory_types.iter().map(|t| t.memory_type()).collect()),
            memory_heaps: Cow::Owned(self.memory_heaps.iter().map(|h| h.memory_heap()).collect()),
            max_memory_allocation_count,
            max_memory_allocation_size,
            non_coherent_atom_size,
            buffer_device_address,
        }
    }
}
