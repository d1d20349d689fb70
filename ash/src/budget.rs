//! A memory device that also reads `VK_EXT_memory_budget`.

use {
    crate::{
        properties::{budget_supported, read_budget},
        AshMemoryDevice, Properties2,
    },
    ash::vk,
    core::{fmt, ptr::NonNull},
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice, OutOfMemory,
    },
    std::vec::Vec,
};

/// An [`AshMemoryDevice`] that also knows its instance and physical device, so
/// that [`MemoryDevice::memory_budget`] reports the current budget and usage of
/// each heap from `VK_EXT_memory_budget`.
///
/// Allocation, mapping, flushing and invalidating behave exactly as with
/// [`AshMemoryDevice`]; memory objects from either can be freed by the other.
pub struct AshBudgetDevice<'a> {
    device: &'a AshMemoryDevice,
    instance: &'a ash::Instance,
    /// Usable with `physical_device` (never `Core` for a 1.0 physical device or
    /// instance).
    properties2: Properties2<'a>,
    physical_device: vk::PhysicalDevice,
    /// The physical device supports `VK_EXT_memory_budget` and `properties2` is
    /// not `Unavailable`.
    budget_supported: bool,
}

impl<'a> AshBudgetDevice<'a> {
    /// Wraps `device`, created from `physical_device` of `instance`.
    ///
    /// Lists the device's extensions once, to learn whether budgets can be read;
    /// returns an error only when that fails.
    ///
    /// # Safety
    ///
    /// - `instance` stays a live instance, `physical_device` one of its physical
    ///   devices, and `device` a live device created from `physical_device`, for
    ///   as long as the result is used.
    /// - `properties2` fits the instance, as for
    ///   [`query_properties`](crate::query_properties).
    pub unsafe fn new(
        instance: &'a ash::Instance,
        properties2: Properties2<'a>,
        physical_device: vk::PhysicalDevice,
        device: &'a ash::Device,
    ) -> Result<Self, vk::Result> {
        // SAFETY: the caller guarantees the instance, physical device and
        // `properties2` are valid together.
        let (properties2, budget_supported) =
            unsafe { budget_supported(instance, properties2, physical_device) }?;
        Ok(AshBudgetDevice {
            device: AshMemoryDevice::wrap(device),
            instance,
            properties2,
            physical_device,
            budget_supported,
        })
    }

    /// The memory device without budgets.
    pub fn memory_device(&self) -> &'a AshMemoryDevice {
        self.device
    }

    /// Whether [`memory_budget`](MemoryDevice::memory_budget) reports budgets.
    pub fn budget_supported(&self) -> bool {
        self.budget_supported
    }

    /// The current budget and usage of every heap, in heap order, or `None`
    /// when budgets cannot be read.
    pub fn heap_budgets(&self) -> Option<Vec<HeapBudget>> {
        let mut budgets = [HeapBudget::default(); vk::MAX_MEMORY_HEAPS];
        let n = self.read(&mut budgets)?;
        Some(budgets[..n].to_vec())
    }

    /// Reads budgets into `out`; returns how many heaps were filled.
    fn read(&self, out: &mut [HeapBudget]) -> Option<usize> {
        if !self.budget_supported {
            return None;
        }
        // SAFETY: `new`'s contract keeps the instance and physical device live
        // and `properties2` valid for them, and `budget_supported` says the
        // device supports VK_EXT_memory_budget.
        Some(unsafe { read_budget(self.instance, self.properties2, self.physical_device, out) })
    }
}

impl fmt::Debug for AshBudgetDevice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AshBudgetDevice")
            .field("device", &self.device)
            .field("physical_device", &self.physical_device)
            .field("properties2", &self.properties2)
            .field("budget_supported", &self.budget_supported)
            .finish()
    }
}

impl MemoryDevice<vk::DeviceMemory> for AshBudgetDevice<'_> {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        // SAFETY: the caller keeps the same contract for both devices.
        unsafe { self.device.allocate_memory(size, memory_type, flags) }
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
        // SAFETY: the caller keeps the same contract for both devices.
        unsafe { self.device.deallocate_memory(memory) }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut vk::DeviceMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // SAFETY: the caller keeps the same contract for both devices.
        unsafe { self.device.map_memory(memory, offset, size) }
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        // SAFETY: the caller keeps the same contract for both devices.
        unsafe { self.device.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: the caller keeps the same contract for both devices.
        unsafe { self.device.invalidate_memory_ranges(ranges) }
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        // SAFETY: the caller keeps the same contract for both devices.
        unsafe { self.device.flush_memory_ranges(ranges) }
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        self.read(budgets).is_some()
    }
}
