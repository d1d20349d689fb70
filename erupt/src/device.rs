//! [`MemoryDevice`] over erupt's `DeviceLoader`, and the device that also reads
//! `VK_EXT_memory_budget`.

use {
    crate::{
        convert::{
            allocation_flags_to_erupt, dedicated_to_erupt, handle_types_to_erupt,
            map_error_from_erupt, out_of_memory_from_erupt,
        },
        properties::{
            can_query_memory_properties2, extension_name_is, read_heap_budgets, EXT_MEMORY_BUDGET,
        },
    },
    erupt::{utils::VulkanResult, vk, DeviceLoader, ExtendableFrom, InstanceLoader},
    gpu_alloc_types::{
        AllocateInfo, AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice,
        OutOfMemory,
    },
    std::{fmt, ptr::NonNull},
};

/// An erupt [`DeviceLoader`] seen as a [`MemoryDevice`] whose memory objects are
/// `vk::DeviceMemory` handles.
///
/// Borrow one from a loader with [`EruptMemoryDevice::wrap`]; it costs nothing.
/// Driver errors never panic: they come back as [`OutOfMemory`] or
/// [`DeviceMapError`], `VK_ERROR_TOO_MANY_OBJECTS` as
/// [`OutOfMemory::OutOfDeviceMemory`].
///
/// It cannot report heap budgets, which Vulkan reads through the instance; see
/// [`EruptBudgetDevice`] for that.
///
/// [`allocate_memory_with`](MemoryDevice::allocate_memory_with) chains to
/// `VkMemoryAllocateInfo` everything its [`AllocateInfo`] asks for:
/// `VkMemoryAllocateFlagsInfo`, `VkMemoryDedicatedAllocateInfo`,
/// `VkMemoryPriorityAllocateInfoEXT` and `VkExportMemoryAllocateInfo`. A
/// `DeviceLoader` does not say which extensions and features its device was
/// created with, so [`allocation_support`](MemoryDevice::allocation_support)
/// stays the default (nothing) and the allocator sends none of them, until the
/// application declares what it enabled with [`gpu_alloc_types::WithSupport`]:
///
/// ```no_run
/// # use erupt::{vk, DeviceLoader};
/// # use gpu_alloc_erupt::EruptMemoryDevice;
/// # use gpu_alloc_types::{AllocationSupport, ExternalMemoryHandleTypes, MemoryDevice, WithSupport};
/// # fn demo(device: &DeviceLoader) {
/// // A Vulkan 1.1 device created with VK_KHR_external_memory_fd.
/// let support = AllocationSupport::new()
///     .dedicated(true)
///     .export(ExternalMemoryHandleTypes::OPAQUE_FD);
/// // SAFETY: `support` says what the device was created with, and
/// // `EruptMemoryDevice::allocate_memory_with` sends all of it.
/// let memory_device = unsafe { WithSupport::new(EruptMemoryDevice::wrap(device), support) };
/// assert_eq!(MemoryDevice::<vk::DeviceMemory>::allocation_support(&memory_device), support);
/// # }
/// ```
///
/// With the `tracing` feature, every call logs an event: allocations, frees,
/// maps and unmaps at debug level, flushes and invalidations at trace level.
#[derive(Debug)]
#[repr(transparent)]
pub struct EruptMemoryDevice {
    device: DeviceLoader,
}

impl EruptMemoryDevice {
    /// Views a device loader as a memory device.
    pub fn wrap(device: &DeviceLoader) -> &Self {
        let ptr: *const DeviceLoader = device;
        // SAFETY: `EruptMemoryDevice` is `repr(transparent)` over `DeviceLoader`,
        // so both have the same layout, and the returned reference borrows
        // `device` for its whole lifetime.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The wrapped device loader.
    pub fn loader(&self) -> &DeviceLoader {
        &self.device
    }
}

/// Flushes or invalidates `ranges` with `call` (`vkFlushMappedMemoryRanges` or
/// `vkInvalidateMappedMemoryRanges`), passing up to eight ranges without a heap
/// allocation. No range, no call.
fn with_mapped_ranges(
    ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    call: impl FnOnce(&[vk::MappedMemoryRangeBuilder<'_>]) -> VulkanResult<()>,
) -> Result<(), OutOfMemory> {
    if ranges.is_empty() {
        return Ok(());
    }
    let ranges: erupt::SmallVec<_> = ranges
        .iter()
        .map(|range| {
            vk::MappedMemoryRangeBuilder::new()
                .memory(*range.memory)
                .offset(range.offset)
                .size(range.size)
        })
        .collect();
    call(&ranges).result().map_err(out_of_memory_from_erupt)
}

/// Calls `f` with the `VkMemoryAllocateInfo` of `size` bytes of `memory_type`
/// and everything `info` asks for, chained with `extend_from`: one structure
/// per request (`VkMemoryAllocateFlagsInfo` for non-empty flags,
/// `VkMemoryDedicatedAllocateInfo`, `VkMemoryPriorityAllocateInfoEXT`,
/// `VkExportMemoryAllocateInfo` for non-empty handle types) and nothing else.
fn with_allocate_info<R>(
    size: u64,
    memory_type: u32,
    info: &AllocateInfo,
    f: impl FnOnce(&vk::MemoryAllocateInfo) -> R,
) -> R {
    let mut flags_info =
        vk::MemoryAllocateFlagsInfoBuilder::new().flags(allocation_flags_to_erupt(info.flags));
    let (buffer, image) = info.dedicated.map(dedicated_to_erupt).unwrap_or_default();
    let mut dedicated_info = vk::MemoryDedicatedAllocateInfoBuilder::new()
        .buffer(buffer)
        .image(image);
    let mut priority_info = vk::MemoryPriorityAllocateInfoEXTBuilder::new()
        .priority(info.priority.unwrap_or_default().get());
    let mut export_info =
        vk::ExportMemoryAllocateInfoBuilder::new().handle_types(handle_types_to_erupt(info.export));
    let mut allocate_info = vk::MemoryAllocateInfoBuilder::new()
        .allocation_size(size)
        .memory_type_index(memory_type);
    if !info.flags.is_empty() {
        allocate_info = allocate_info.extend_from(&mut flags_info);
    }
    if info.dedicated.is_some() {
        allocate_info = allocate_info.extend_from(&mut dedicated_info);
    }
    if info.priority.is_some() {
        allocate_info = allocate_info.extend_from(&mut priority_info);
    }
    if !info.export.is_empty() {
        allocate_info = allocate_info.extend_from(&mut export_info);
    }
    f(&allocate_info)
}

impl MemoryDevice<vk::DeviceMemory> for EruptMemoryDevice {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        // SAFETY: `allocate_memory_with` with an info of `flags` alone has
        // exactly the contract of `allocate_memory` with `flags`, which the
        // caller keeps.
        unsafe { self.allocate_memory_with(size, memory_type, &AllocateInfo::new(flags)) }
    }

    unsafe fn allocate_memory_with(
        &self,
        size: u64,
        memory_type: u32,
        info: &AllocateInfo,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        let result = with_allocate_info(size, memory_type, info, |allocate_info| {
            // SAFETY: the caller keeps `allocate_memory_with`'s contract: a
            // valid memory type, a size within the device's limits, room under
            // `maxMemoryAllocationCount`, and nothing in `info` (all that
            // `allocate_info` chains) that the device was not created to take
            // (the flags are enabled; the resource, the priority and the handle
            // types are covered by `allocation_support`, which says what the
            // application enabled), the dedicated resource a live, unbound
            // buffer or image of this device of `size` bytes. Every structure
            // of the chain outlives the call.
            unsafe { self.device.allocate_memory(allocate_info, None) }.result()
        });
        #[cfg(feature = "tracing")]
        tracing::debug!(
            size,
            memory_type,
            flags = ?info.flags,
            dedicated = ?info.dedicated,
            priority = ?info.priority.map(|p| p.get()),
            export = ?info.export,
            ?result,
            "allocate_memory"
        );
        result.map_err(out_of_memory_from_erupt)
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, "deallocate_memory");
        // SAFETY: the caller guarantees `memory` is a live object of this device
        // that nothing uses any more.
        unsafe { self.device.free_memory(memory, None) }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut vk::DeviceMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // SAFETY: the caller guarantees `memory` is a live, unmapped, host-visible
        // object of this device and that the non-empty range lies inside it.
        let result = unsafe {
            self.device
                .map_memory(*memory, offset, size, vk::MemoryMapFlags::empty())
        }
        .result();
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, offset, size, ?result, "map_memory");
        let ptr = result.map_err(map_error_from_erupt)?;
        // A driver returning success with a null pointer has not mapped anything
        // usable.
        NonNull::new(ptr.cast::<u8>()).ok_or(DeviceMapError::MapFailed)
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, "unmap_memory");
        // SAFETY: the caller guarantees `memory` is a mapped object of this device
        // whose mapping is no longer used.
        unsafe { self.device.unmap_memory(*memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        #[cfg(feature = "tracing")]
        tracing::trace!(ranges = ranges.len(), "invalidate_memory_ranges");
        with_mapped_ranges(ranges, |ranges| {
            // SAFETY: the caller guarantees every range lies in a mapped object
            // of this device and is aligned to `nonCoherentAtomSize` where
            // required.
            unsafe { self.device.invalidate_mapped_memory_ranges(ranges) }
        })
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        #[cfg(feature = "tracing")]
        tracing::trace!(ranges = ranges.len(), "flush_memory_ranges");
        with_mapped_ranges(ranges, |ranges| {
            // SAFETY: as for `invalidate_memory_ranges`.
            unsafe { self.device.flush_mapped_memory_ranges(ranges) }
        })
    }
}

/// An [`EruptMemoryDevice`] that also knows its instance and physical device, so
/// that [`MemoryDevice::memory_budget`] reports the current budget and usage of
/// each heap from `VK_EXT_memory_budget`.
///
/// Allocation, mapping, flushing and invalidating are [`EruptMemoryDevice`]'s
/// (through [`gpu_alloc_types::forward_memory_device!`]); memory objects from
/// either can be freed by the other.
#[derive(Clone, Copy)]
pub struct EruptBudgetDevice<'a> {
    device: &'a EruptMemoryDevice,
    instance: &'a InstanceLoader,
    physical_device: vk::PhysicalDevice,
    /// `physical_device` supports `VK_EXT_memory_budget` and `instance` can call
    /// `vkGetPhysicalDeviceMemoryProperties2` (checked in `new`).
    budget_supported: bool,
}

impl<'a> EruptBudgetDevice<'a> {
    /// Wraps `device`, created from `physical_device` of `instance`.
    ///
    /// Lists the device's extensions once, to learn whether budgets can be read
    /// ([`budget_supported`](Self::budget_supported): the physical device
    /// supports `VK_EXT_memory_budget` and the instance has Vulkan 1.1 or
    /// `VK_KHR_get_physical_device_properties2`); returns an error only when that
    /// fails.
    ///
    /// # Safety
    ///
    /// - `instance` stays a live instance, `physical_device` one of its physical
    ///   devices, and `device` a live device created from `physical_device`, for
    ///   as long as the result is used.
    pub unsafe fn new(
        instance: &'a InstanceLoader,
        physical_device: vk::PhysicalDevice,
        device: &'a DeviceLoader,
    ) -> Result<Self, vk::Result> {
        let budget_supported = can_query_memory_properties2(instance) && {
            // SAFETY: `physical_device` belongs to the live `instance` (contract).
            let extensions = unsafe {
                instance.enumerate_device_extension_properties(physical_device, None, None)
            }
            .result()?;
            extensions
                .iter()
                .any(|e| extension_name_is(e, EXT_MEMORY_BUDGET))
        };
        Ok(EruptBudgetDevice {
            device: EruptMemoryDevice::wrap(device),
            instance,
            physical_device,
            budget_supported,
        })
    }

    /// The memory device without budgets.
    pub fn memory_device(&self) -> &'a EruptMemoryDevice {
        self.device
    }

    /// Whether [`memory_budget`](MemoryDevice::memory_budget) reports budgets.
    pub fn budget_supported(&self) -> bool {
        self.budget_supported
    }

    /// The current budget and usage of every heap, in heap order, or `None`
    /// when budgets cannot be read.
    pub fn heap_budgets(&self) -> Option<Vec<HeapBudget>> {
        if !self.budget_supported {
            return None;
        }
        // SAFETY: the instance is live (`new`'s contract).
        let memory = unsafe {
            self.instance
                .get_physical_device_memory_properties(self.physical_device)
        };
        let mut budgets = vec![HeapBudget::default(); memory.memory_heap_count as usize];
        self.read_heap_budgets(&mut budgets).then_some(budgets)
    }

    /// What [`MemoryDevice::memory_budget`] reports.
    fn read_heap_budgets(&self, budgets: &mut [HeapBudget]) -> bool {
        // SAFETY: `new`'s contract keeps the instance and physical device live,
        // and `budget_supported` says the device supports VK_EXT_memory_budget.
        self.budget_supported
            && unsafe { read_heap_budgets(self.instance, self.physical_device, budgets) }
    }
}

impl fmt::Debug for EruptBudgetDevice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EruptBudgetDevice")
            .field("device", &self.device)
            .field("physical_device", &self.physical_device)
            .field("budget_supported", &self.budget_supported)
            .finish()
    }
}

gpu_alloc_types::forward_memory_device! {
    impl['a] MemoryDevice<vk::DeviceMemory> for EruptBudgetDevice<'a> {
        inner: memory_device,
        budget: read_heap_budgets,
    }
}

#[cfg(test)]
mod tests;
