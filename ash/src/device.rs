//! [`MemoryDevice`] for `ash::Device`, and how Vulkan results become errors.

use {
    crate::flags::allocation_flags_to_ash,
    ash::vk,
    core::{fmt, ptr::NonNull},
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, MappedMemoryRange, MemoryDevice, OutOfMemory,
    },
};

/// How a `VkResult` error becomes an error of `gpu-alloc-types`. The one place the
/// crate decides it; no driver result ever panics.
///
/// | `VkResult`                          | allocate, flush, invalidate | map                  |
/// |-------------------------------------|-----------------------------|----------------------|
/// | `ERROR_OUT_OF_HOST_MEMORY`          | `OutOfHostMemory`           | `OutOfHostMemory`    |
/// | `ERROR_OUT_OF_DEVICE_MEMORY`        | `OutOfDeviceMemory`         | `OutOfDeviceMemory`  |
/// | `ERROR_TOO_MANY_OBJECTS`            | `OutOfDeviceMemory`         | `OutOfDeviceMemory`  |
/// | `ERROR_MEMORY_MAP_FAILED`           | `OutOfDeviceMemory`         | `MapFailed`          |
/// | anything else (`ERROR_DEVICE_LOST`, `ERROR_INVALID_EXTERNAL_HANDLE`, `ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS`, `ERROR_UNKNOWN`, ...) | `OutOfDeviceMemory` | `MapFailed` |
///
/// The catch-all rows pick the error after which the allocator gives up on the
/// memory type or the mapping without retrying the same call: a lost device
/// fails every later call anyway, and the other results cannot come from the
/// calls this crate makes (no imported handles, no capture-replay addresses).
/// A successful `vkMapMemory` that returns a null pointer is `MapFailed` too.
pub fn out_of_memory_from_vk(result: vk::Result) -> OutOfMemory {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => OutOfMemory::OutOfHostMemory,
        // ERROR_OUT_OF_DEVICE_MEMORY, ERROR_TOO_MANY_OBJECTS and the catch-all.
        _ => OutOfMemory::OutOfDeviceMemory,
    }
}

/// How a `vkMapMemory` error becomes a [`DeviceMapError`]; see the table at
/// [`out_of_memory_from_vk`].
pub fn map_error_from_vk(result: vk::Result) -> DeviceMapError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => DeviceMapError::OutOfHostMemory,
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY | vk::Result::ERROR_TOO_MANY_OBJECTS => {
            DeviceMapError::OutOfDeviceMemory
        }
        // ERROR_MEMORY_MAP_FAILED and the catch-all.
        _ => DeviceMapError::MapFailed,
    }
}

/// `ash::Device` as a [`MemoryDevice`] for `vk::DeviceMemory`.
///
/// Borrow one from a device with [`AshMemoryDevice::wrap`]; it costs nothing.
/// Every memory object it allocates comes from `vkAllocateMemory` on that device,
/// with no allocation callbacks.
///
/// It reports no memory budget: use [`AshBudgetDevice`](crate::AshBudgetDevice)
/// for that.
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
        f(&batch[..chunk.len()]).map_err(out_of_memory_from_vk)?;
    }
    Ok(())
}

impl MemoryDevice<vk::DeviceMemory> for AshMemoryDevice {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<vk::DeviceMemory, OutOfMemory> {
        let mut flags_info =
            vk::MemoryAllocateFlagsInfo::default().flags(allocation_flags_to_ash(flags));
        let mut info = vk::MemoryAllocateInfo::default()
            .allocation_size(size)
            .memory_type_index(memory_type);
        if !flags.is_empty() {
            info = info.push_next(&mut flags_info);
        }
        // SAFETY: the caller keeps `allocate_memory`'s contract: `memory_type` is a
        // valid index, `size` is non-zero and within `maxMemoryAllocationSize`,
        // the flags are enabled on the device (so `VkMemoryAllocateFlagsInfo` may
        // be chained), and the allocation count stays under
        // `maxMemoryAllocationCount`. `info` and its chain outlive the call.
        let result = unsafe { self.device.allocate_memory(&info, None) };
        result.map_err(out_of_memory_from_vk)
    }

    unsafe fn deallocate_memory(&self, memory: vk::DeviceMemory) {
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
        match result {
            Ok(ptr) => NonNull::new(ptr.cast::<u8>()).ok_or(DeviceMapError::MapFailed),
            Err(err) => Err(map_error_from_vk(err)),
        }
    }

    unsafe fn unmap_memory(&self, memory: &mut vk::DeviceMemory) {
        // SAFETY: the caller guarantees `memory` came from this device and is
        // mapped, and that no pointer into the mapping is used afterwards.
        unsafe { self.device.unmap_memory(*memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, vk::DeviceMemory>],
    ) -> Result<(), OutOfMemory> {
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
        for_each_batch(ranges, |batch| {
            // SAFETY: as for `invalidate_memory_ranges`: the caller guarantees
            // every range is mapped memory of this device, inside the mapping and
            // aligned to `nonCoherentAtomSize` (or reaching the end of the object).
            unsafe { self.device.flush_mapped_memory_ranges(batch) }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_table() {
        use {DeviceMapError as M, OutOfMemory as O};
        let rows = [
            (
                vk::Result::ERROR_OUT_OF_HOST_MEMORY,
                O::OutOfHostMemory,
                M::OutOfHostMemory,
            ),
            (
                vk::Result::ERROR_OUT_OF_DEVICE_MEMORY,
                O::OutOfDeviceMemory,
                M::OutOfDeviceMemory,
            ),
            (
                vk::Result::ERROR_TOO_MANY_OBJECTS,
                O::OutOfDeviceMemory,
                M::OutOfDeviceMemory,
            ),
            (
                vk::Result::ERROR_MEMORY_MAP_FAILED,
                O::OutOfDeviceMemory,
                M::MapFailed,
            ),
            (
                vk::Result::ERROR_DEVICE_LOST,
                O::OutOfDeviceMemory,
                M::MapFailed,
            ),
            (
                vk::Result::ERROR_INVALID_EXTERNAL_HANDLE,
                O::OutOfDeviceMemory,
                M::MapFailed,
            ),
            (
                vk::Result::ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS,
                O::OutOfDeviceMemory,
                M::MapFailed,
            ),
            (
                vk::Result::ERROR_UNKNOWN,
                O::OutOfDeviceMemory,
                M::MapFailed,
            ),
            (
                vk::Result::from_raw(-123_456),
                O::OutOfDeviceMemory,
                M::MapFailed,
            ),
        ];
        for (result, oom, map) in rows {
            assert_eq!(out_of_memory_from_vk(result), oom, "{result:?}");
            assert_eq!(map_error_from_vk(result), map, "{result:?}");
        }
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
