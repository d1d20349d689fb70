//! A memory handle that counts its drops, on a device of one device-local
//! type: for the tests of blocks that outlive their allocator (each test
//! binary has its own count).

use gpu_alloc::{
    AllocationFlags, DeviceMapError, DeviceProperties, MappedMemoryRange, MemoryDevice, MemoryHeap,
    MemoryPropertyFlags, MemoryType, OutOfMemory,
};
use std::{
    borrow::Cow,
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};

/// The device's properties: one device-local type on a 1 GiB heap, 16
/// memory objects at most.
pub fn properties() -> DeviceProperties<'static> {
    DeviceProperties {
        memory_types: Cow::Owned(vec![MemoryType {
            heap: 0,
            props: MemoryPropertyFlags::DEVICE_LOCAL,
        }]),
        memory_heaps: Cow::Owned(vec![MemoryHeap { size: 1 << 30 }]),
        max_memory_allocation_count: 16,
        max_memory_allocation_size: 1 << 30,
        non_coherent_atom_size: 64,
        buffer_device_address: false,
    }
}

/// Memory handles dropped so far in this process.
pub static DROPPED: AtomicUsize = AtomicUsize::new(0);

/// A memory handle; dropping it counts in [`DROPPED`].
#[derive(Debug)]
pub struct Counted;

impl Drop for Counted {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// Hands out [`Counted`] handles; maps nothing.
pub struct Device;

impl MemoryDevice<Counted> for Device {
    unsafe fn allocate_memory(
        &self,
        _size: u64,
        _memory_type: u32,
        _flags: AllocationFlags,
    ) -> Result<Counted, OutOfMemory> {
        Ok(Counted)
    }
    unsafe fn deallocate_memory(&self, memory: Counted) {
        drop(memory);
    }
    unsafe fn map_memory(
        &self,
        _memory: &mut Counted,
        _offset: u64,
        _size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        Err(DeviceMapError::MapFailed)
    }
    unsafe fn unmap_memory(&self, _memory: &mut Counted) {}
    unsafe fn invalidate_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, Counted>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }
    unsafe fn flush_memory_ranges(
        &self,
        _ranges: &[MappedMemoryRange<'_, Counted>],
    ) -> Result<(), OutOfMemory> {
        Ok(())
    }
}
