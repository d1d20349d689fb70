//! A memory handle that counts its drops, on a device of one device-local
//! type: for the tests of blocks that outlive their allocator (each test
//! binary has its own count).

use gpu_alloc::{DeviceMapError, MappedMemoryRange, MemoryDevice, OutOfMemory};
use gpu_alloc_types::AllocationFlags;
use std::{
    ptr::NonNull,
    sync::atomic::{AtomicUsize, Ordering},
};

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
