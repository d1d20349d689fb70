//! Memory types, heaps and their property flags.

bitflags::bitflags! {
    /// Properties of a memory type.
    ///
    /// The bit values are those of `VkMemoryPropertyFlagBits`, so a Vulkan backend
    /// converts with [`MemoryPropertyFlags::from_bits_retain`] on the low byte.
    /// Bits above the low byte (for example `VK_MEMORY_PROPERTY_RDMA_CAPABLE_BIT_NV`,
    /// `0x100`) do not fit here: they travel in [`MemoryTypeInfo::raw_flags`].
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    #[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
    pub struct MemoryPropertyFlags: u8 {
        /// Memory is the most efficient for device access.
        const DEVICE_LOCAL = 0x01;

        /// Memory can be mapped for host access.
        const HOST_VISIBLE = 0x02;

        /// Host writes become visible to the device, and device writes to the host,
        /// without explicit flush and invalidate calls.
        const HOST_COHERENT = 0x04;

        /// Memory is cached on the host: host reads are fast. Non-cached memory
        /// is usually write-combined: fast to write sequentially, slow to read.
        const HOST_CACHED = 0x08;

        /// Memory may be committed lazily by the device. Only suitable for
        /// transient attachments; never host-visible.
        const LAZILY_ALLOCATED = 0x10;

        /// Protected memory: only protected queue operations may access it.
        const PROTECTED = 0x20;

        /// Device accesses are automatically made available and visible
        /// (`VK_AMD_device_coherent_memory`). Slower; the allocator never picks it
        /// unless asked to.
        const DEVICE_COHERENT_AMD = 0x40;

        /// Memory is not cached on the device (`VK_AMD_device_coherent_memory`).
        /// Slower; the allocator never picks it unless asked to.
        const DEVICE_UNCACHED_AMD = 0x80;
    }
}

/// Memory type of a device.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug)]
pub struct MemoryType {
    /// Index of the heap this memory type draws from.
    pub heap: u32,

    /// Property flags of the memory type.
    pub props: MemoryPropertyFlags,
}

/// Memory heap of a device.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug)]
pub struct MemoryHeap {
    /// Size of the heap in bytes.
    pub size: u64,
}

bitflags::bitflags! {
    /// Properties of a memory heap. Bit values are those of `VkMemoryHeapFlagBits`.
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
    pub struct MemoryHeapFlags: u32 {
        /// The heap is local to the device.
        const DEVICE_LOCAL = 0x1;
        /// In a device group, the heap is replicated to each physical device.
        const MULTI_INSTANCE = 0x2;
    }
}

/// Everything known about one memory type, including property bits that
/// [`MemoryPropertyFlags`] cannot hold.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryTypeInfo {
    /// Index of the heap this memory type draws from.
    pub heap: u32,
    /// All property bits as the API reports them (`VkMemoryPropertyFlags`).
    pub raw_flags: u32,
}

impl MemoryTypeInfo {
    /// Property bits this crate knows by name. Any other bit set in
    /// [`raw_flags`](Self::raw_flags) marks the type as one the allocator does not
    /// understand, so it is never chosen unless explicitly allowed.
    pub const KNOWN_BITS: u32 = 0xFF;

    /// The low byte of [`raw_flags`](Self::raw_flags) as [`MemoryPropertyFlags`].
    pub const fn props(&self) -> MemoryPropertyFlags {
        MemoryPropertyFlags::from_bits_retain((self.raw_flags & Self::KNOWN_BITS) as u8)
    }

    /// Property bits that [`MemoryPropertyFlags`] cannot represent.
    pub const fn unknown_bits(&self) -> u32 {
        self.raw_flags & !Self::KNOWN_BITS
    }

    /// The [`MemoryType`] that [`DeviceProperties`](crate::DeviceProperties) carries.
    pub const fn memory_type(&self) -> MemoryType {
        MemoryType {
            heap: self.heap,
            props: self.props(),
        }
    }
}

/// Everything known about one memory heap.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryHeapInfo {
    /// Size of the heap in bytes.
    pub size: u64,
    /// Heap flags as the API reports them.
    pub flags: MemoryHeapFlags,
}

impl MemoryHeapInfo {
    /// The [`MemoryHeap`] that [`DeviceProperties`](crate::DeviceProperties) carries.
    pub const fn memory_heap(&self) -> MemoryHeap {
        MemoryHeap { size: self.size }
    }
}

/// Current memory budget of one heap, as `VK_EXT_memory_budget` reports it.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HeapBudget {
    /// How many bytes this process can allocate from the heap without
    /// degrading performance or failing (`heapBudget`).
    pub budget: u64,
    /// How many bytes of the heap this process uses now, across every
    /// allocator of the process (`heapUsage`).
    pub usage: u64,
}
