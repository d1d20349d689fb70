//! [`MemoryDevice`] for `ash::Device`, and the device that also reads
//! `VK_EXT_memory_budget`.

use {
    crate::{
        convert::{
            allocation_flags_to_ash, dedicated_to_ash, handle_types_to_ash, map_error_from_ash,
            out_of_memory_from_ash,
        },
        properties::{budget_supported, read_budget},
        Properties2,
    },
    ash::vk,
    core::{fmt, ptr::NonNull},
    gpu_alloc_types::{
        AllocateInfo, AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice,
        OutOfMemory,
    },
    std::vec::Vec,
};

/// `ash::Device` as a [`MemoryDevice`] for `vk::DeviceMemory`.
///
/// Borrow one from a device with [`AshMemoryDevice::wrap`]; it costs nothing.
/// Every memory object it allocates comes from `vkAllocateMemory` on that device,
/// with no allocation callbacks.
///
/// It reports no memory budget: use [`AshBudgetDevice`] for that.
///
/// [`allocate_memory_with`](MemoryDevice::allocate_memory_with) sends all an
/// [`AllocateInfo`] holds: the flags (`VkMemoryAllocateFlagsInfo`), the
/// dedicated buffer or image (`VkMemoryDedicatedAllocateInfo`), the priority
/// (`VkMemoryPriorityAllocateInfoEXT`) and the export handle types
/// (`VkExportMemoryAllocateInfo`). Which of them the device may be sent depends
/// on the extensions and features it was created with, which an `ash::Device`
/// cannot tell: its [`allocation_support`](MemoryDevice::allocation_support) is
/// the default, nothing, so the allocator sends none of them. An application
/// that enabled them says so by wrapping the device in
/// [`gpu_alloc_types::WithSupport`]:
///
/// ```no_run
/// # use ash::vk;
/// # use gpu_alloc_ash::AshMemoryDevice;
/// # use gpu_alloc_types::{AllocationSupport, ExternalMemoryHandleTypes, MemoryDevice, WithSupport};
/// # fn demo(device: &ash::Device) {
/// // The device has Vulkan 1.1 and VK_KHR_external_memory_fd enabled.
/// let support = AllocationSupport::new()
///     .dedicated(true)
///     .export(ExternalMemoryHandleTypes::OPAQUE_FD);
/// // SAFETY: the device was created with what `support` says, and
/// // `AshMemoryDevice::allocate_memory_with` sends all of it.
/// let memory_device = unsafe { WithSupport::new(AshMemoryDevice::wrap(device), support) };
/// assert_eq!(MemoryDevice::<vk::DeviceMemory>::allocation_support(&memory_device), support);
/// # }
/// ```
///
/// As in gpu-alloc-ash 0.7, `ash::Device` (and `AshMemoryDevice` itself) is
/// `AsRef<AshMemoryDevice>`, so code generic over `impl AsRef<AshMemoryDevice>`
/// takes either.
///
/// With the `tracing` feature, every call logs an event: allocations, frees,
/// maps and unmaps at debug level, flushes and invalidations at trace level.
#[repr(transparent)]
pub struct AshMemoryDevice {
    device: ash::Device,
}

impl AshMemoryDevice {
    /// Borrows `device` as a memory device.
    pub fn wrap(device: &ash::Device) -> &Self {
        let ptr = (device as *const ash::Device).cast::<Self>();
        // SAFETY: `AshMemoryDevice` is `#[repr(transparent)]` over its only field,
        // an `ash::Device`, so the two types have the same size, alignment and
        // validity; the pointer comes from a live reference, and the result
        // borrows `device` for the same lifetime, so it is neither dangling nor
        // aliased mutably.
        unsafe { &*ptr }
    }

    /// The wrapped device.
    pub fn device(&self) -> &ash::Device {
        &self.device
    }
}

impl AsRef<AshMemoryDevice> for ash::Device {
    fn as_ref(&self) -> &AshMemoryDevice {
        AshMemoryDevice::wrap(self)
    }
}

impl AsRef<AshMemoryDevice> for AshMemoryDevice {
    fn as_ref(&self) -> &AshMemoryDevice {
        self
    }
}

impl fmt::Debug for AshMemoryDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AshMemoryDevice")
            .field("device", &self.device.handle())
            .finish()
    }
}

/// How many ranges one flush or invalidate call passes to Vulkan; longer lists
/// go in several calls, so no call allocates.
const RANGE_BATCH: usize = 16;

/// Calls `f` with the ranges as `VkMappedMemoryRange`s, in batches.
fn for_each_batch(
    ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    mut f: impl FnMut(&[vk::MappedMemoryRange<'_>]) -> Result<(), vk::Result>,
) -> Result<(), OutOfMemory> {
    let mut batch = [vk::MappedMemoryRange::default(); RANGE_BATCH];
    for chunk in ranges.chunks(RANGE_BATCH) {
        for (slot, range) in batch.iter_mut().zip(chunk) {
            *slot = vk::MappedMemoryRange::default()
                .memory(*range.memory)
                .offset(range.offset)
                .size(range.size);
        }
        f(&batch[..chunk.len()]).map_err(out_of_memory_from_ash)?;
    }
    Ok(())
}

/// Calls `f` with the `VkMemoryAllocateInfo` of an allocation of `size` bytes
/// of `memory_type` with `info`: its `pNext` chain holds one structure for each
/// thing `info` asks for, and nothing else (`VkMemoryAllocateFlagsInfo` for
/// non-empty flags, `VkMemoryDedicatedAllocateInfo`,
/// `VkMemoryPriorityAllocateInfoEXT`, `VkExportMemoryAllocateInfo` for non-empty
/// handle types).
fn with_allocate_info<R>(
    size: u64,
    memory_type: u32,
    info: &AllocateInfo,
    f: impl FnOnce(&vk::MemoryAllocateInfo<'_>) -> R,
) -> R {
    let mut flags_info =
        vk::MemoryAllocateFlagsInfo::default().flags(allocation_flags_to_ash(info.flags));
    let mut dedicated_info = vk::MemoryDedicatedAllocateInfo::default();
    let mut priority_info = vk::MemoryPriorityAllocateInfoEXT::default();
    let mut export_info =
        vk::ExportMemoryAllocateInfo::default().handle_types(handle_types_to_ash(info.export));
    let mut allocate_info = vk::MemoryAllocateInfo::default()
        .allocation_size(size)
        .memory_type_index(memory_type);
    if !info.flags.is_empty() {
        allocate_info = allocate_info.push_next(&mut flags_info);
    }
    if let Some(resource) = info.dedicated {
        let (buffer, image) = dedicated_to_ash(resource);
        dedicated_info = dedicated_info.buffer(buffer).image(image);
        allocate_info = allocate_info.push_next(&mut dedicated_info);
    }
    if let Some(priority) = info.priority {
        priority_info = priority_info.priority(priority.get());
        allocate_info = allocate_info.push_next(&mut priority_info);
    }
    if !info.export.is_empty() {
        allocate_info = allocate_info.push_next(&mut export_info);
    }
    f(&allocate_info)
}

impl MemoryDevice<vk::DeviceMemory> for AshMemoryDevice {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        // SAFETY: the caller keeps `allocate_memory`'s contract with `flags`,
        // which is all of `allocate_memory_with`'s for an info that holds
        // nothing but those flags.
        unsafe { self.allocate_memory_with(size, memory_type, &AllocateInfo::new(flags)) }
    }

    unsafe fn allocate_memory_with(
        &self,
        size: u64,
        memory_type: u32,
        info: &AllocateInfo,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        let result = with_allocate_info(size, memory_type, info, |allocate_info| {
            // SAFETY: the caller keeps `allocate_memory_with`'s contract:
            // `memory_type` is a valid index, `size` is non-zero and within
            // `maxMemoryAllocationSize`, the allocation count stays under
            // `maxMemoryAllocationCount`, and `allocate_info` chains only what
            // `info` asks for, which the device was created to take (the flags
            // are enabled; the dedicated resource, priority and handle types are
            // within what `allocation_support` reports, that is what the
            // application declared enabled), with a dedicated resource that is a
            // live, unbound buffer or image of this device of `size` bytes.
            // `allocate_info` and its chain outlive the call.
            unsafe { self.device.allocate_memory(allocate_info, None) }
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
        result.map_err(out_of_memory_from_ash)
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, "deallocate_memory");
        // SAFETY: the caller guarantees `memory` came from this device, is not
        // freed yet, and that nothing bound to it is in use by the device.
        unsafe { self.device.free_memory(memory, None) }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut vk::DeviceMemory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        // SAFETY: the caller guarantees `memory` came from this device from a
        // HOST_VISIBLE type, is not mapped, and that `offset..offset + size` is a
        // non-empty range inside it.
        let result = unsafe {
            self.device
                .map_memory(*memory, offset, size, vk::MemoryMapFlags::empty())
        };
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, offset, size, ?result, "map_memory");
        match result {
            Ok(ptr) => NonNull::new(ptr.cast::<u8>()).ok_or(DeviceMapError::MapFailed),
            Err(err) => Err(map_error_from_ash(err)),
        }
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, "unmap_memory");
        // SAFETY: the caller guarantees `memory` came from this device and is
        // mapped, and that no pointer into the mapping is used afterwards.
        unsafe { self.device.unmap_memory(*memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        #[cfg(feature = "tracing")]
        tracing::trace!(ranges = ranges.len(), "invalidate_memory_ranges");
        for_each_batch(ranges, |batch| {
            // SAFETY: the caller guarantees every range's memory came from this
            // device and is mapped, and that each range lies inside the mapping
            // with offset and size aligned to `nonCoherentAtomSize` (or reaching
            // the end of the object).
            unsafe { self.device.invalidate_mapped_memory_ranges(batch) }
        })
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
        #[cfg(feature = "tracing")]
        tracing::trace!(ranges = ranges.len(), "flush_memory_ranges");
        for_each_batch(ranges, |batch| {
            // SAFETY: as for `invalidate_memory_ranges`: the caller guarantees
            // every range is mapped memory of this device, inside the mapping and
            // aligned to `nonCoherentAtomSize` (or reaching the end of the object).
            unsafe { self.device.flush_mapped_memory_ranges(batch) }
        })
    }
}

/// An [`AshMemoryDevice`] that also knows its instance and physical device, so
/// that [`MemoryDevice::memory_budget`] reports the current budget and usage of
/// each heap from `VK_EXT_memory_budget`.
///
/// Allocation, mapping, flushing and invalidating are [`AshMemoryDevice`]'s
/// (through [`gpu_alloc_types::forward_memory_device!`]); memory objects from
/// either can be freed by the other.
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
    /// Wraps `device`, created from `physical_device` of `instance`. `properties2`
    /// says how the instance reads physical-device properties, as for
    /// [`extended_device_properties`](crate::extended_device_properties): a
    /// [`Properties2`], or the instance's `apiVersion`.
    ///
    /// Lists the device's extensions once, to learn whether budgets can be read
    /// ([`budget_supported`](Self::budget_supported)); returns an error only when
    /// that fails.
    ///
    /// # Safety
    ///
    /// - `instance` stays a live instance, `physical_device` one of its physical
    ///   devices, and `device` a live device created from `physical_device`, for
    ///   as long as the result is used.
    /// - `properties2` fits the instance, as for
    ///   [`extended_device_properties`](crate::extended_device_properties).
    pub unsafe fn new(
        instance: &'a ash::Instance,
        properties2: impl Into<Properties2<'a>>,
        physical_device: vk::PhysicalDevice,
        device: &'a ash::Device,
    ) -> Result<Self, vk::Result> {
        // SAFETY: the caller guarantees the instance, physical device and
        // `properties2` are valid together.
        let (properties2, budget_supported) =
            unsafe { budget_supported(instance, properties2.into(), physical_device) }?;
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

    /// What [`MemoryDevice::memory_budget`] reports.
    fn read_heap_budgets(&self, budgets: &mut [HeapBudget]) -> bool {
        self.read(budgets).is_some()
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

gpu_alloc_types::forward_memory_device! {
    impl['a] MemoryDevice<vk::DeviceMemory> for AshBudgetDevice<'a> {
        inner: memory_device,
        budget: read_heap_budgets,
    }
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        ash::vk::Handle,
        gpu_alloc_types::{DedicatedResource, ExternalMemoryHandleTypes, MemoryPriority},
    };

    /// What `with_allocate_info` passes for `info`: the allocation size and
    /// type, and each chained structure's type with its one value.
    fn chain_of(info: &AllocateInfo) -> (u64, u32, Vec<(vk::StructureType, u64)>) {
        with_allocate_info(4096, 3, info, |allocate_info| {
            let mut chain = Vec::new();
            let mut next = allocate_info.p_next.cast::<vk::BaseInStructure<'_>>();
            while !next.is_null() {
                // SAFETY: every `p_next` of the chain points to a live Vulkan
                // structure built by `with_allocate_info`, which starts with
                // `sType` and `pNext` as `VkBaseInStructure` does, and is read
                // as the type its `sType` names.
                let (s_type, value, after) = unsafe {
                    let base = &*next;
                    let value = match base.s_type {
                        vk::StructureType::MEMORY_ALLOCATE_FLAGS_INFO => u64::from(
                            (*next.cast::<vk::MemoryAllocateFlagsInfo<'_>>())
                                .flags
                                .as_raw(),
                        ),
                        vk::StructureType::MEMORY_DEDICATED_ALLOCATE_INFO => {
                            let dedicated = &*next.cast::<vk::MemoryDedicatedAllocateInfo<'_>>();
                            dedicated.buffer.as_raw() | dedicated.image.as_raw() << 32
                        }
                        vk::StructureType::MEMORY_PRIORITY_ALLOCATE_INFO_EXT => u64::from(
                            (*next.cast::<vk::MemoryPriorityAllocateInfoEXT<'_>>())
                                .priority
                                .to_bits(),
                        ),
                        vk::StructureType::EXPORT_MEMORY_ALLOCATE_INFO => u64::from(
                            (*next.cast::<vk::ExportMemoryAllocateInfo<'_>>())
                                .handle_types
                                .as_raw(),
                        ),
                        other => panic!("unexpected {other:?} in the chain"),
                    };
                    (base.s_type, value, base.p_next)
                };
                chain.push((s_type, value));
                next = after;
            }
            chain.sort_by_key(|(s_type, _)| s_type.as_raw());
            (
                allocate_info.allocation_size,
                allocate_info.memory_type_index,
                chain,
            )
        })
    }

    #[test]
    fn the_chain_holds_what_the_info_asks_for_and_nothing_else() {
        use vk::StructureType as S;
        let plain = AllocateInfo::new(AllocationFlags::empty());
        assert_eq!(chain_of(&plain), (4096, 3, vec![]));

        let flags = AllocateInfo::new(AllocationFlags::DEVICE_ADDRESS);
        let device_address = u64::from(vk::MemoryAllocateFlags::DEVICE_ADDRESS.as_raw());
        assert_eq!(
            chain_of(&flags).2,
            [(S::MEMORY_ALLOCATE_FLAGS_INFO, device_address)]
        );

        let buffer = plain.dedicated(DedicatedResource::Buffer(7));
        assert_eq!(
            chain_of(&buffer).2,
            [(S::MEMORY_DEDICATED_ALLOCATE_INFO, 7)]
        );
        let image = plain.dedicated(DedicatedResource::Image(9));
        assert_eq!(
            chain_of(&image).2,
            [(S::MEMORY_DEDICATED_ALLOCATE_INFO, 9 << 32)]
        );

        let priority = plain.priority(MemoryPriority::HIGHEST);
        assert_eq!(
            chain_of(&priority).2,
            [(
                S::MEMORY_PRIORITY_ALLOCATE_INFO_EXT,
                u64::from(1.0f32.to_bits())
            )]
        );

        let export = plain.export(ExternalMemoryHandleTypes::OPAQUE_FD);
        assert_eq!(chain_of(&export).2, [(S::EXPORT_MEMORY_ALLOCATE_INFO, 1)]);

        let all = flags
            .dedicated(DedicatedResource::Image(9))
            .priority(MemoryPriority::LOWEST)
            .export(ExternalMemoryHandleTypes::OPAQUE_FD | ExternalMemoryHandleTypes::DMA_BUF);
        let mut expected = vec![
            (S::MEMORY_ALLOCATE_FLAGS_INFO, device_address),
            (S::MEMORY_DEDICATED_ALLOCATE_INFO, 9 << 32),
            (S::MEMORY_PRIORITY_ALLOCATE_INFO_EXT, 0),
            (S::EXPORT_MEMORY_ALLOCATE_INFO, 0x201),
        ];
        expected.sort_by_key(|(s_type, _)| s_type.as_raw());
        assert_eq!(chain_of(&all), (4096, 3, expected));
    }

    #[test]
    fn wrap_is_a_free_cast() {
        assert_eq!(
            core::mem::size_of::<AshMemoryDevice>(),
            core::mem::size_of::<ash::Device>()
        );
        assert_eq!(
            core::mem::align_of::<AshMemoryDevice>(),
            core::mem::align_of::<ash::Device>()
        );
    }
}
