//! [`MemoryDevice`] over a gfx-hal device.

use {
    crate::convert::{allocation_error_from_gfx, map_error_from_gfx, out_of_memory_from_gfx},
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, MappedMemoryRange, MemoryDevice, OutOfMemory,
    },
    hal::{device::Device, memory::Segment, Backend, MemoryTypeId},
    std::{
        panic::{catch_unwind, AssertUnwindSafe},
        ptr::NonNull,
    },
};

/// A gfx-hal device seen as a [`MemoryDevice`] whose memory objects are
/// `B::Memory`.
///
/// Borrow one from a device with [`GfxMemoryDevice::wrap`]; it costs nothing.
///
/// Errors never panic here: gfx-hal's errors map to [`OutOfMemory`] and
/// [`DeviceMapError`] (too many objects is
/// [`OutOfMemory::OutOfDeviceMemory`]). gfx-backend-vulkan 0.9 itself panics
/// (`unreachable!`) on a `VkResult` it does not expect; such a panic is caught
/// and reported as the closest error instead (unless the program aborts on
/// panic). gfx-hal 0.9 cannot allocate with
/// [`AllocationFlags::DEVICE_ADDRESS`]: such a request fails with
/// [`OutOfMemory::OutOfDeviceMemory`], and
/// [`GfxDeviceProperties`](crate::GfxDeviceProperties) says so, so that the
/// allocator never makes one.
///
/// With the `tracing` feature, every call logs an event: allocations, frees,
/// maps and unmaps at debug level, flushes and invalidations at trace level.
#[derive(Debug)]
#[repr(transparent)]
pub struct GfxMemoryDevice<B: Backend> {
    device: B::Device,
}

impl<B: Backend> GfxMemoryDevice<B> {
    /// Views a gfx-hal device as a memory device.
    ///
    /// The backend is inferred from the device, as in gpu-alloc-gfx 0.3:
    /// `GfxMemoryDevice::wrap(&device)` needs no `::<Backend>`.
    pub fn wrap<D>(device: &D) -> &Self
    where
        D: Device<B>,
        B: Backend<Device = D>,
    {
        let ptr: *const D = device;
        // SAFETY: `GfxMemoryDevice<B>` is `repr(transparent)` over `B::Device`, so
        // both have the same layout, and the returned reference borrows `device`
        // for its whole lifetime.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The wrapped device.
    pub fn device(&self) -> &B::Device {
        &self.device
    }
}

/// Runs a backend call, turning a panic of the backend into `on_panic`.
fn guarded<T, E>(on_panic: E, call: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or(Err(on_panic))
}

/// Flushes or invalidates `ranges` with `call`, which gets them as gfx-hal
/// segments; a backend panic is reported as out of device memory. No range, no
/// call.
fn with_segments<'a, M>(
    ranges: &'a [MappedMemoryRange<'a, M>],
    call: impl FnOnce(
        &mut dyn Iterator<Item = (&'a M, Segment)>,
    ) -> Result<(), hal::device::OutOfMemory>,
) -> Result<(), OutOfMemory> {
    if ranges.is_empty() {
        return Ok(());
    }
    let mut segments = ranges.iter().map(|r| (r.memory, segment(r.offset, r.size)));
    guarded(OutOfMemory::OutOfDeviceMemory, || {
        call(&mut segments).map_err(out_of_memory_from_gfx)
    })
}

fn segment(offset: u64, size: u64) -> Segment {
    Segment {
        offset,
        size: Some(size),
    }
}

impl<B: Backend> MemoryDevice<B::Memory> for GfxMemoryDevice<B> {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<B::Memory, OutOfMemory> {
        if flags.contains(AllocationFlags::DEVICE_ADDRESS) {
            #[cfg(feature = "tracing")]
            tracing::debug!(
                size,
                memory_type,
                ?flags,
                result = "refused: gfx-hal 0.9 cannot",
                "allocate_memory"
            );
            return Err(OutOfMemory::OutOfDeviceMemory);
        }
        let result = guarded(OutOfMemory::OutOfDeviceMemory, || {
            // SAFETY: the caller guarantees a valid memory type, a size within
            // the device's limits and room under `maxMemoryAllocationCount`.
            unsafe {
                self.device
                    .allocate_memory(MemoryTypeId(memory_type as usize), size)
            }
            .map_err(allocation_error_from_gfx)
        });
        #[cfg(feature = "tracing")]
        tracing::debug!(size, memory_type, ?flags, ?result, "allocate_memory");
        result
    }

    unsafe fn deallocate_memory(&self, memory: B::Memory) {
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, "deallocate_memory");
        // SAFETY: the caller guarantees `memory` is a live object of this device
        // that nothing uses any more.
        unsafe { self.device.free_memory(memory) }
    }

    unsafe fn map_memory(
        &self,
        memory: &mut B::Memory,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        let ptr = guarded(DeviceMapError::MapFailed, || {
            // SAFETY: the caller guarantees `memory` is a live, unmapped,
            // host-visible object of this device and that the non-empty range
            // lies inside it.
            unsafe { self.device.map_memory(memory, segment(offset, size)) }
                .map_err(map_error_from_gfx)
        });
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, offset, size, result = ?ptr, "map_memory");
        NonNull::new(ptr?).ok_or(DeviceMapError::MapFailed)
    }

    unsafe fn unmap_memory(&self, memory: &mut B::Memory) {
        #[cfg(feature = "tracing")]
        tracing::debug!(?memory, "unmap_memory");
        // SAFETY: the caller guarantees `memory` is a mapped object of this
        // device whose mapping is no longer used.
        unsafe { self.device.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, B::Memory>],
    ) -> Result<(), OutOfMemory> {
        #[cfg(feature = "tracing")]
        tracing::trace!(ranges = ranges.len(), "invalidate_memory_ranges");
        with_segments(ranges, |segments| {
            // SAFETY: the caller guarantees every range lies in a mapped object
            // of this device and is aligned to `nonCoherentAtomSize` where
            // required.
            unsafe { self.device.invalidate_mapped_memory_ranges(segments) }
        })
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, B::Memory>],
    ) -> Result<(), OutOfMemory> {
        #[cfg(feature = "tracing")]
        tracing::trace!(ranges = ranges.len(), "flush_memory_ranges");
        with_segments(ranges, |segments| {
            // SAFETY: as for `invalidate_memory_ranges`.
            unsafe { self.device.flush_mapped_memory_ranges(segments) }
        })
    }
}
