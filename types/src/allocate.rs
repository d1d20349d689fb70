//! What one memory object's allocation tells the device beyond its size, type
//! and flags, and what a device can take of it.
//!
//! The allocator asks a device what it supports
//! ([`MemoryDevice::allocation_support`](crate::MemoryDevice::allocation_support))
//! and sends only that in an [`AllocateInfo`]
//! ([`MemoryDevice::allocate_memory_with`](crate::MemoryDevice::allocate_memory_with)):
//! a backend never sees a request it would have to drop or refuse.

use {
    crate::{
        device::{AllocationFlags, DeviceMapError, MappedMemoryRange, MemoryDevice, OutOfMemory},
        types::HeapBudget,
    },
    core::ptr::NonNull,
};

/// The resource a dedicated memory object is made for
/// (`VkMemoryDedicatedAllocateInfo`): the raw handle of a buffer or an image of
/// the device (for Vulkan, the `VkBuffer` or `VkImage` as a `u64`).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DedicatedResource {
    /// A buffer (`VkBuffer`).
    Buffer(u64),
    /// An image (`VkImage`).
    Image(u64),
}

bitflags::bitflags! {
    /// Handle types a memory object can be exported as
    /// (`VkExternalMemoryHandleTypeFlags`; the bit values are Vulkan's, and bits
    /// without a name here are kept).
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    #[derive(Clone, Copy, Debug, Default, Eq, Hash, Ord, PartialEq, PartialOrd)]
    pub struct ExternalMemoryHandleTypes: u32 {
        /// A POSIX file descriptor (`VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_FD_BIT`).
        const OPAQUE_FD = 0x1;
        /// A Windows NT handle (`VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_BIT`).
        const OPAQUE_WIN32 = 0x2;
        /// A Windows global share handle
        /// (`VK_EXTERNAL_MEMORY_HANDLE_TYPE_OPAQUE_WIN32_KMT_BIT`).
        const OPAQUE_WIN32_KMT = 0x4;
        /// A Linux dma-buf file descriptor
        /// (`VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT`).
        const DMA_BUF = 0x200;
        const _ = !0;
    }
}

/// How strongly a memory object should stay in device memory when the device
/// is oversubscribed (`VK_EXT_memory_priority`): from 0.0 (first to go) to 1.0
/// (last); a memory object allocated without one has 0.5.
///
/// Compared and hashed by value, so it can sit in `Eq + Hash` option structs.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "f32", into = "f32"))]
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct MemoryPriority(f32);

/// A value outside `0.0..=1.0` (or NaN) for a [`MemoryPriority`].
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("a memory priority is from 0.0 to 1.0, not {0}")]
pub struct InvalidPriority(pub f32);

impl TryFrom<f32> for MemoryPriority {
    type Error = InvalidPriority;

    fn try_from(value: f32) -> Result<Self, InvalidPriority> {
        MemoryPriority::new(value).ok_or(InvalidPriority(value))
    }
}

impl From<MemoryPriority> for f32 {
    fn from(priority: MemoryPriority) -> f32 {
        priority.0
    }
}

impl MemoryPriority {
    /// The lowest priority: the first memory to leave device memory.
    pub const LOWEST: Self = MemoryPriority(0.0);
    /// The priority of memory allocated without one.
    pub const DEFAULT: Self = MemoryPriority(0.5);
    /// The highest priority: render targets and other memory used every frame.
    pub const HIGHEST: Self = MemoryPriority(1.0);

    /// A priority of `value`, or `None` unless `0.0 <= value <= 1.0`.
    pub fn new(value: f32) -> Option<Self> {
        (0.0..=1.0)
            .contains(&value)
            // -0.0 is 0.0: one value, one hash.
            .then_some(MemoryPriority(value + 0.0))
    }

    /// The value, from 0.0 to 1.0.
    pub fn get(self) -> f32 {
        self.0
    }
}

impl Eq for MemoryPriority {}

impl core::hash::Hash for MemoryPriority {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

impl Default for MemoryPriority {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What a device can send with an allocation, as its backend knows from the
/// extensions and features the application enabled.
///
/// The default supports nothing, which is what a device that does not say
/// reports: the allocator then drops hints (and counts them) and refuses
/// requirements with a clear error.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocationSupport {
    /// The dedicated resource can be sent (`VkMemoryDedicatedAllocateInfo`:
    /// Vulkan 1.1, or `VK_KHR_dedicated_allocation`).
    pub dedicated: bool,
    /// A priority can be sent (`VK_EXT_memory_priority` with its
    /// `memoryPriority` feature enabled).
    pub priority: bool,
    /// Device-local memory is pageable (`VK_EXT_pageable_device_local_memory`
    /// with its feature enabled): the driver pages memory objects by their
    /// priority. Informational: priorities are sent when `priority` is set.
    pub pageable: bool,
    /// Handle types memory objects can be exported as
    /// (`VkExportMemoryAllocateInfo`: Vulkan 1.1 or `VK_KHR_external_memory`,
    /// with the extension of each handle type).
    pub export: ExternalMemoryHandleTypes,
}

impl AllocationSupport {
    /// Supports nothing beyond size, type and flags.
    pub const NONE: Self = AllocationSupport {
        dedicated: false,
        priority: false,
        pageable: false,
        export: ExternalMemoryHandleTypes::empty(),
    };

    /// Supports nothing; set the fields (the struct is `#[non_exhaustive]`).
    pub fn new() -> Self {
        Self::NONE
    }

    /// Sets [`dedicated`](Self::dedicated).
    pub fn dedicated(mut self, dedicated: bool) -> Self {
        self.dedicated = dedicated;
        self
    }

    /// Sets [`priority`](Self::priority).
    pub fn priority(mut self, priority: bool) -> Self {
        self.priority = priority;
        self
    }

    /// Sets [`pageable`](Self::pageable).
    pub fn pageable(mut self, pageable: bool) -> Self {
        self.pageable = pageable;
        self
    }

    /// Sets [`export`](Self::export).
    pub fn export(mut self, export: ExternalMemoryHandleTypes) -> Self {
        self.export = export;
        self
    }
}

/// Everything one memory object's allocation tells the device, beyond its size
/// and memory type.
///
/// The allocator fills only what the device's [`AllocationSupport`] allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocateInfo {
    /// Allocation flags (`VkMemoryAllocateFlagsInfo`).
    pub flags: AllocationFlags,
    /// The resource the memory object is dedicated to.
    pub dedicated: Option<DedicatedResource>,
    /// The memory object's priority.
    pub priority: Option<MemoryPriority>,
    /// Handle types to make the memory object exportable as (empty: none).
    pub export: ExternalMemoryHandleTypes,
}

impl AllocateInfo {
    /// An allocation with `flags` and nothing else.
    pub fn new(flags: AllocationFlags) -> Self {
        AllocateInfo {
            flags,
            ..Self::default()
        }
    }

    /// Sets the dedicated resource.
    pub fn dedicated(mut self, resource: DedicatedResource) -> Self {
        self.dedicated = Some(resource);
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: MemoryPriority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Sets the export handle types.
    pub fn export(mut self, export: ExternalMemoryHandleTypes) -> Self {
        self.export = export;
        self
    }

    /// Whether the info asks for nothing but flags (what
    /// [`MemoryDevice::allocate_memory`](crate::MemoryDevice::allocate_memory)
    /// sends).
    pub fn is_plain(&self) -> bool {
        self.dedicated.is_none() && self.priority.is_none() && self.export.is_empty()
    }

    /// Whether `support` covers everything the info asks for.
    pub fn is_supported_by(&self, support: &AllocationSupport) -> bool {
        (self.dedicated.is_none() || support.dedicated)
            && (self.priority.is_none() || support.priority)
            && support.export.contains(self.export)
    }
}

/// A device with the [`AllocationSupport`] its application enabled: every
/// call is `device`'s, and [`allocation_support`](MemoryDevice::allocation_support)
/// reports `support`.
///
/// A backend cannot see which extensions and features a device was created
/// with; the application that created it can, and says so here.
///
/// ```
/// # use gpu_alloc_types::{AllocationSupport, ExternalMemoryHandleTypes, MemoryDevice, WithSupport};
/// # fn demo<M>(device: &impl MemoryDevice<M>) {
/// // Vulkan 1.1 (dedicated allocations), VK_EXT_memory_priority and
/// // VK_KHR_external_memory_fd enabled.
/// let support = AllocationSupport::new()
///     .dedicated(true)
///     .priority(true)
///     .export(ExternalMemoryHandleTypes::OPAQUE_FD);
/// // SAFETY: the device was created with what `support` says.
/// let device = unsafe { WithSupport::new(device, support) };
/// assert_eq!(MemoryDevice::<M>::allocation_support(&device), support);
/// # }
/// ```
#[derive(Debug)]
pub struct WithSupport<'a, D: ?Sized> {
    device: &'a D,
    support: AllocationSupport,
}

impl<D: ?Sized> Clone for WithSupport<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D: ?Sized> Copy for WithSupport<'_, D> {}

impl<'a, D: ?Sized> WithSupport<'a, D> {
    /// Reports `support` for `device`.
    ///
    /// # Safety
    ///
    /// The device was created with every extension and feature `support`
    /// names, and its [`allocate_memory_with`](MemoryDevice::allocate_memory_with)
    /// sends everything `support` covers (the ash and erupt backends do).
    pub unsafe fn new(device: &'a D, support: AllocationSupport) -> Self {
        WithSupport { device, support }
    }

    /// The device.
    pub fn device(&self) -> &'a D {
        self.device
    }

    /// What it reports.
    pub fn support(&self) -> AllocationSupport {
        self.support
    }

    /// The device's budgets.
    fn budget<M>(&self, budgets: &mut [HeapBudget]) -> bool
    where
        D: MemoryDevice<M>,
    {
        self.device.memory_budget(budgets)
    }
}

impl<M, D: MemoryDevice<M> + ?Sized> MemoryDevice<M> for WithSupport<'_, D> {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<M, OutOfMemory> {
        // SAFETY: the caller keeps the contract, which is the device's.
        unsafe { self.device.allocate_memory(size, memory_type, flags) }
    }

    unsafe fn deallocate_memory(&self, memory: M) {
        // SAFETY: as above.
        unsafe { self.device.deallocate_memory(memory) }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut M,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // SAFETY: as above.
        unsafe { self.device.map_memory(memory, offset, size) }
    }

    unsafe fn unmap_memory(&self, memory: &mut M) {
        // SAFETY: as above.
        unsafe { self.device.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, M>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: as above.
        unsafe { self.device.invalidate_memory_ranges(ranges) }
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, M>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: as above.
        unsafe { self.device.flush_memory_ranges(ranges) }
    }

    fn allocation_support(&self) -> AllocationSupport {
        self.support
    }

    unsafe fn allocate_memory_with(
        &self,
        size: u64,
        memory_type: u32,
        info: &AllocateInfo,
    ) -> Result<M, OutOfMemory> {
        // SAFETY: the caller asks only for what `support` covers, which the
        // device sends (`new`'s contract); the rest is the device's contract.
        unsafe { self.device.allocate_memory_with(size, memory_type, info) }
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        self.budget(budgets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_priority_is_from_zero_to_one() {
        assert_eq!(MemoryPriority::try_from(0.25).map(f32::from), Ok(0.25));
        assert_eq!(MemoryPriority::try_from(7.5), Err(InvalidPriority(7.5)));
        assert!(MemoryPriority::try_from(f32::NAN).is_err());
        assert!(MemoryPriority::new(-0.1).is_none());
        // -0.0 and 0.0 are one value, so one hash.
        let (minus, plus) = (MemoryPriority::new(-0.0).unwrap(), MemoryPriority::LOWEST);
        assert_eq!(minus, plus);
        assert_eq!(minus.get().to_bits(), plus.get().to_bits());
    }

    /// Read through serde, a priority is checked as `new` checks it.
    #[cfg(feature = "serde")]
    #[test]
    fn a_priority_read_through_serde_is_checked() {
        let read: MemoryPriority = serde_json::from_str("0.75").unwrap();
        assert_eq!(read.get(), 0.75);
        assert!(serde_json::from_str::<MemoryPriority>("7.5").is_err());
        assert_eq!(
            serde_json::to_string(&MemoryPriority::HIGHEST).unwrap(),
            "1.0"
        );
    }
}
