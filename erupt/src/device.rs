//! [`MemoryDevice`] over erupt's `DeviceLoader`.

use {
    crate::{
        convert::{allocation_flags_to_erupt, map_error, out_of_memory},
        properties::read_heap_budgets,
    },
    erupt::{utils::VulkanResult, vk, DeviceLoader, ExtendableFrom, InstanceLoader},
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice, OutOfMemory,
    },
    std::ptr::NonNull,
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
    call(&ranges).result().map_err(out_of_memory)
}

impl MemoryDevice<vk::DeviceMemory> for EruptMemoryDevice {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        let mut flags_info =
            vk::MemoryAllocateFlagsInfoBuilder::new().flags(allocation_flags_to_erupt(flags));
        let mut info = vk::MemoryAllocateInfoBuilder::new()
            .allocation_size(size)
            .memory_type_index(memory_type);
        if !flags.is_empty() {
            info = info.extend_from(&mut flags_info);
        }
        // SAFETY: the caller guarantees a valid memory type, a size within the
        // device's limits, flags that are enabled on the device (so the
        // `VkMemoryAllocateFlagsInfo` in the chain is valid) and room under
        // `maxMemoryAllocationCount`; `flags_info` outlives the call.
        unsafe { self.device.allocate_memory(&info, None) }
            .result()
            .map_err(out_of_memory)
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
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
        let ptr = unsafe {
            self.device
                .map_memory(*memory, offset, size, vk::MemoryMapFlags::empty())
        }
        .result()
        .map_err(map_error)?;
        // A driver returning success with a null pointer has not mapped anything
        // usable.
        NonNull::new(ptr.cast::<u8>()).ok_or(DeviceMapError::MapFailed)
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        // SAFETY: the caller guarantees `memory` is a mapped object of this device
        // whose mapping is no longer used.
        unsafe { self.device.unmap_memory(*memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
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
        with_mapped_ranges(ranges, |ranges| {
            // SAFETY: as for `invalidate_memory_ranges`.
            unsafe { self.device.flush_mapped_memory_ranges(ranges) }
        })
    }
}

/// An [`EruptMemoryDevice`] that also reads heap budgets from
/// `VK_EXT_memory_budget`, through the instance it was created from.
///
/// Every memory operation is [`EruptMemoryDevice`]'s;
/// [`memory_budget`](MemoryDevice::memory_budget) calls [`read_heap_budgets`].
#[derive(Clone, Copy, Debug)]
pub struct EruptBudgetDevice<'a> {
    device: &'a EruptMemoryDevice,
    // Invariant: `physical_device` belongs to `instance`, supports
    // `VK_EXT_memory_budget`, and `instance` can call
    // `vkGetPhysicalDeviceMemoryProperties2` (checked in `new`).
    instance: &'a InstanceLoader,
    physical_device: vk::PhysicalDevice,
}

impl<'a> EruptBudgetDevice<'a> {
    /// Pairs a device with the instance and physical device it was created from.
    /// Returns `None` when the physical device does not support
    /// `VK_EXT_memory_budget`, the instance cannot query it (neither Vulkan 1.1
    /// nor `VK_KHR_get_physical_device_properties2`), or enumerating the
    /// extensions failed.
    ///
    /// # Safety
    ///
    /// - `device` was created from `physical_device`, which was enumerated from
    ///   `instance`; neither is destroyed while the result lives.
    pub unsafe fn new(
        device: &'a DeviceLoader,
        instance: &'a InstanceLoader,
        physical_device: vk::PhysicalDevice,
    ) -> Option<Self> {
        // SAFETY: `physical_device` belongs to the live `instance` (contract).
        let props = unsafe {
            crate::extended_device_properties(
                instance,
                physical_device,
                crate::EnabledFeatures::new(),
            )
        }
        .ok()?;
        props.memory_budget.then_some(EruptBudgetDevice {
            device: EruptMemoryDevice::wrap(device),
            instance,
            physical_device,
        })
    }

    /// The plain memory device.
    pub fn device(&self) -> &'a EruptMemoryDevice {
        self.device
    }
}

impl MemoryDevice<vk::DeviceMemory> for EruptBudgetDevice<'_> {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        // SAFETY: forwarded from the caller.
        unsafe { self.device.allocate_memory(size, memory_type, flags) }
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
        // SAFETY: forwarded from the caller.
        unsafe { self.device.deallocate_memory(memory) }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut vk::DeviceMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.device.map_memory(memory, offset, size) }
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        // SAFETY: forwarded from the caller.
        unsafe { self.device.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: forwarded from the caller.
        unsafe { self.device.invalidate_memory_ranges(ranges) }
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: forwarded from the caller.
        unsafe { self.device.flush_memory_ranges(ranges) }
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        // SAFETY: the struct's invariant: the physical device belongs to the
        // live instance and supports `VK_EXT_memory_budget`.
        unsafe { read_heap_budgets(self.instance, self.physical_device, budgets) }
    }
}
