//! Memory blocks: what the allocator hands out.

use {
    crate::{
        align::{align_down, align_up},
        error::MapError,
        report::report,
        shared::{MappedPtr, MemoryRef},
        strategy::Strategy,
    },
    core::{mem::ManuallyDrop, ptr, ptr::NonNull},
    gpu_alloc_types::{MappedMemoryRange, MemoryDevice, MemoryPropertyFlags},
};

/// Direction of a cache maintenance call on a mapped range.
#[derive(Clone, Copy, Debug)]
enum SyncKind {
    /// Host writes to the device.
    Flush,
    /// Device writes to the host.
    Invalidate,
}

/// Where a block's name is in its allocator's table: a shared block by its
/// memory object and offset (unique among live blocks), a dedicated one by the
/// tag it carries (0: unnamed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum NameKey {
    Shared(usize, u64),
    Dedicated(u32),
}

#[derive(Debug)]
pub(crate) enum Flavor<M> {
    /// The block owns its memory object.
    Dedicated {
        memory: M,
        /// Host address of the mapped range, which starts at `map_start`.
        mapping: Option<MappedPtr>,
        /// Whether the memory object is counted in the allocator's heap usage and
        /// object count (false only for imported memory of an invalid type).
        accounted: bool,
        /// Whether the memory was imported rather than allocated by the allocator.
        imported: bool,
        /// The block's name in its allocator's table, 0 for none (a shared
        /// block's name is found by its object and offset instead).
        name: u32,
    },
    /// The block is a range of a shared memory object.
    Shared {
        memory: MemoryRef<M>,
        /// Host address of the whole memory object, mapped once when it was created.
        base: Option<MappedPtr>,
        strategy: Strategy,
        /// Pool class (see `ResourceKind`) of the memory object.
        class: u8,
        /// Slot of the memory object in its pool (for [`Strategy::Pool`], the
        /// user pool's slot too: see `allocator/pools.rs`).
        chunk: u32,
        /// The sub-allocator's handle of the block.
        handle: u32,
    },
}

/// A range of device memory handed out by [`GpuAllocator`](crate::GpuAllocator).
///
/// Return it with [`GpuAllocator::dealloc`](crate::GpuAllocator::dealloc); a block
/// dropped any other way is reported, and its memory stays in use.
#[derive(Debug)]
pub struct MemoryBlock<M> {
    /// Id of the allocator that made the block.
    pub(crate) allocator: usize,
    pub(crate) memory_type: u32,
    pub(crate) props: MemoryPropertyFlags,
    /// Offset of the block in its memory object. For host-visible non-coherent
    /// types, a multiple of the non-coherent atom size (imported blocks aside).
    pub(crate) offset: u64,
    /// Size of the block. For host-visible non-coherent types, a multiple of the
    /// non-coherent atom size, or reaching the end of the memory object.
    pub(crate) size: u64,
    /// `non_coherent_atom_size - 1` for host-visible non-coherent types, else 0.
    pub(crate) atom_mask: u64,
    /// Whether the block is mapped through [`MemoryBlock::map`].
    pub(crate) mapped: bool,
    /// Whether the block has a name in its allocator's table (a shared block's
    /// found by its object and offset, a dedicated one's by its flavor's tag).
    pub(crate) named: bool,
    pub(crate) flavor: Flavor<M>,
}

/// Reports a block dropped without `GpuAllocator::dealloc`.
impl<M> Drop for MemoryBlock<M> {
    fn drop(&mut self) {
        report(format_args!(
            "MemoryBlock (memory type {}, offset {}, size {}) dropped without \
             GpuAllocator::dealloc: its memory is leaked until the allocator is dropped",
            self.memory_type, self.offset, self.size
        ));
        self.release_shared();
    }
}

impl<M> MemoryBlock<M> {
    pub(crate) fn new(
        allocator: usize,
        memory_type: u32,
        props: MemoryPropertyFlags,
        offset: u64,
        size: u64,
        atom_mask: u64,
        flavor: Flavor<M>,
    ) -> Self {
        MemoryBlock {
            allocator,
            memory_type,
            props,
            offset,
            size,
            atom_mask,
            mapped: false,
            named: false,
            flavor,
        }
    }

    /// Tells a shared memory object that this block is gone without returning
    /// to its allocator (see [`MemoryRef::abandon`]).
    fn release_shared(&self) {
        match &self.flavor {
            // A leased block's object counts its lease, which its arena keeps
            // (never emptied now) until the allocator goes.
            Flavor::Shared {
                strategy: Strategy::Leased,
                ..
            } => {}
            Flavor::Shared { memory, .. } => memory.abandon(),
            Flavor::Dedicated { .. } => {}
        }
    }

    /// Drops a block that is not returned to its allocator (another allocator
    /// was handed it), without a second report.
    pub(crate) fn abandon(self) {
        self.release_shared();
        drop(self.into_flavor());
    }

    /// Takes the block apart without reporting a leak.
    pub(crate) fn into_flavor(self) -> Flavor<M> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped or used again, so the flavor is moved out
        // exactly once; every other field is `Copy`.
        unsafe { ptr::read(&this.flavor) }
    }

    /// The memory object the block lives in.
    pub fn memory(&self) -> &M {
        match &self.flavor {
            Flavor::Dedicated { memory, .. } => memory,
            Flavor::Shared { memory, .. } => memory.get(),
        }
    }

    /// Offset of the block in its memory object, in bytes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the block in bytes: at least the requested size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Properties of the block's memory type.
    pub fn props(&self) -> MemoryPropertyFlags {
        self.props
    }

    /// Index of the block's memory type.
    pub fn memory_type(&self) -> u32 {
        self.memory_type
    }

    /// Whether the block has its own memory object (dedicated or imported).
    pub fn is_dedicated(&self) -> bool {
        matches!(self.flavor, Flavor::Dedicated { .. })
    }

    /// Where the block's name would be in its allocator's table.
    pub(crate) fn name_key(&self) -> NameKey {
        match &self.flavor {
            Flavor::Dedicated { name, .. } => NameKey::Dedicated(*name),
            Flavor::Shared { memory, .. } => NameKey::Shared(memory.key(), self.offset),
        }
    }

    /// Whether the block is mapped through [`map`](Self::map).
    pub fn is_mapped(&self) -> bool {
        self.mapped
    }

    fn check_range(&self, offset: u64, size: u64) -> Result<(), MapError> {
        match offset.checked_add(size) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(MapError::MapFailed),
        }
    }

    /// Maps `size` bytes of the block starting at `offset` (relative to the block)
    /// and returns their host address.
    ///
    /// Shared memory objects stay mapped for their whole life, so this is cheap for
    /// them; a dedicated memory object is mapped now and unmapped by
    /// [`unmap`](Self::unmap).
    ///
    /// # Errors
    ///
    /// [`MapError::NonHostVisible`] if the memory type is not host-visible,
    /// [`MapError::AlreadyMapped`] if the block is mapped, [`MapError::MapFailed`]
    /// if `offset + size` exceeds the block, or the device's mapping error.
    ///
    /// # Safety
    ///
    /// - `device` is the device the block was allocated from.
    /// - Host accesses through the pointer do not race with device accesses, and
    ///   stay inside the `size` bytes mapped.
    /// - For memory without `HOST_COHERENT`, writes are flushed and reads
    ///   invalidated with [`flush_range`](Self::flush_range) and
    ///   [`invalidate_range`](Self::invalidate_range).
    pub unsafe fn map(
        &mut self,
        device: &impl MemoryDevice<M>,
        offset: u64,
        size: usize,
    ) -> Result<NonNull<u8>, MapError> {
        if !self.props.contains(MemoryPropertyFlags::HOST_VISIBLE) {
            return Err(MapError::NonHostVisible);
        }
        if self.mapped {
            return Err(MapError::AlreadyMapped);
        }
        self.check_range(offset, size as u64)?;
        let block_ptr = match &mut self.flavor {
            Flavor::Shared { base, .. } => {
                let base = base.ok_or(MapError::NonHostVisible)?;
                // SAFETY: `base` maps the whole memory object and the block lies inside it.
                unsafe { base.0.add(self.offset as usize) }
            }
            Flavor::Dedicated {
                memory, mapping, ..
            } => {
                let map_start = align_down(self.offset, self.atom_mask);
                let map_len = self.offset + self.size - map_start;
                // SAFETY: the caller passes the block's device; the memory type is
                // host-visible, the object is unmapped (`mapping` is only set while
                // `mapped`), and the range is inside the object.
                let ptr = unsafe { device.map_memory(memory, map_start, map_len) }?;
                *mapping = Some(MappedPtr(ptr));
                // SAFETY: the mapping starts at `map_start <= offset` and covers the block.
                unsafe { ptr.add((self.offset - map_start) as usize) }
            }
        };
        self.mapped = true;
        // SAFETY: `offset + size <= self.size` was checked, so this stays in the block.
        Ok(unsafe { block_ptr.add(offset as usize) })
    }

    /// Unmaps the block. Returns whether it was mapped.
    ///
    /// # Safety
    ///
    /// - `device` is the device the block was allocated from.
    /// - No pointer returned by [`map`](Self::map) is used afterwards.
    pub unsafe fn unmap(&mut self, device: &impl MemoryDevice<M>) -> bool {
        if !self.mapped {
            return false;
        }
        self.mapped = false;
        if let Flavor::Dedicated {
            memory, mapping, ..
        } = &mut self.flavor
        {
            if mapping.take().is_some() {
                // SAFETY: the object is mapped (`mapping` was set) from this device.
                unsafe { device.unmap_memory(memory) };
            }
        }
        true
    }

    /// The atom-aligned range of the memory object covering `offset..offset + size`
    /// of the block, or `None` when the memory is coherent and nothing needs doing.
    fn device_range(&self, offset: u64, size: u64) -> Result<Option<(u64, u64)>, MapError> {
        if !self.props.contains(MemoryPropertyFlags::HOST_VISIBLE) {
            return Err(MapError::NonHostVisible);
        }
        self.check_range(offset, size)?;
        if self.props.contains(MemoryPropertyFlags::HOST_COHERENT) || size == 0 {
            return Ok(None);
        }
        match &self.flavor {
            Flavor::Dedicated { mapping: None, .. } => return Err(MapError::MapFailed),
            Flavor::Shared { base: None, .. } => return Err(MapError::NonHostVisible),
            _ => {}
        }
        let start = align_down(self.offset + offset, self.atom_mask);
        let block_end = self.offset + self.size;
        let end = align_up(self.offset + offset + size, self.atom_mask)
            .map_or(block_end, |end| end.min(block_end));
        Ok(Some((start, end - start)))
    }

    /// Makes host writes to `offset..offset + size` of the block visible to the
    /// device. A no-op for `HOST_COHERENT` memory. The range is widened to whole
    /// non-coherent atoms, which never leaves the block.
    ///
    /// # Errors
    ///
    /// [`MapError::NonHostVisible`] for memory that is not host-visible,
    /// [`MapError::MapFailed`] if the range exceeds the block or a dedicated block
    /// is not mapped, or the device's error.
    ///
    /// # Safety
    ///
    /// `device` is the device the block was allocated from.
    pub unsafe fn flush_range(
        &mut self,
        device: &impl MemoryDevice<M>,
        offset: u64,
        size: u64,
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.sync_range(device, offset, size, SyncKind::Flush) }
    }

    /// Makes device writes to `offset..offset + size` of the block visible to host
    /// reads. A no-op for `HOST_COHERENT` memory. The range is widened to whole
    /// non-coherent atoms, which never leaves the block.
    ///
    /// # Errors
    ///
    /// As for [`flush_range`](Self::flush_range).
    ///
    /// # Safety
    ///
    /// `device` is the device the block was allocated from.
    pub unsafe fn invalidate_range(
        &mut self,
        device: &impl MemoryDevice<M>,
        offset: u64,
        size: u64,
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.sync_range(device, offset, size, SyncKind::Invalidate) }
    }

    /// Flushes or invalidates `offset..offset + size` of the block, widened to
    /// whole atoms; nothing for coherent memory.
    ///
    /// # Safety
    ///
    /// `device` is the device the block was allocated from.
    unsafe fn sync_range(
        &self,
        device: &impl MemoryDevice<M>,
        offset: u64,
        size: u64,
        sync: SyncKind,
    ) -> Result<(), MapError> {
        let Some((offset, size)) = self.device_range(offset, size)? else {
            return Ok(());
        };
        let ranges = [MappedMemoryRange {
            memory: self.memory(),
            offset,
            size,
        }];
        // SAFETY: the range is atom-aligned (or reaches the block's end, which is
        // the object's end or atom-aligned) and inside the current mapping.
        unsafe {
            match sync {
                SyncKind::Flush => device.flush_memory_ranges(&ranges),
                SyncKind::Invalidate => device.invalidate_memory_ranges(&ranges),
            }
        }?;
        Ok(())
    }

    /// Copies `data` into the block at `offset`: maps, writes, flushes and unmaps.
    ///
    /// # Errors
    ///
    /// As for [`map`](Self::map) and [`flush_range`](Self::flush_range).
    ///
    /// # Safety
    ///
    /// - `device` is the device the block was allocated from.
    /// - The device does not access the range while it is written.
    pub unsafe fn write_bytes(
        &mut self,
        device: &impl MemoryDevice<M>,
        offset: u64,
        data: &[u8],
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from the caller.
        let ptr = unsafe { self.map(device, offset, data.len()) }?;
        // SAFETY: `map` returned `data.len()` writable bytes that `data` cannot overlap.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), data.len()) };
        // SAFETY: forwarded from the caller.
        let result = unsafe { self.flush_range(device, offset, data.len() as u64) };
        // SAFETY: forwarded from the caller; `ptr` is not used again.
        unsafe { self.unmap(device) };
        result
    }

    /// Copies bytes of the block at `offset` into `data`: maps, invalidates, reads
    /// and unmaps. Prefer `HOST_CACHED` memory (`UsageFlags::DOWNLOAD`) for reads.
    ///
    /// # Errors
    ///
    /// As for [`map`](Self::map) and [`invalidate_range`](Self::invalidate_range).
    ///
    /// # Safety
    ///
    /// - `device` is the device the block was allocated from.
    /// - The device does not write the range while it is read.
    pub unsafe fn read_bytes(
        &mut self,
        device: &impl MemoryDevice<M>,
        offset: u64,
        data: &mut [u8],
    ) -> Result<(), MapError> {
        // SAFETY: forwarded from the caller.
        let ptr = unsafe { self.map(device, offset, data.len()) }?;
        // SAFETY: forwarded from the caller.
        let result = unsafe { self.invalidate_range(device, offset, data.len() as u64) };
        if result.is_ok() {
            // SAFETY: `map` returned `data.len()` readable bytes that `data` cannot overlap.
            unsafe { core::ptr::copy_nonoverlapping(ptr.as_ptr(), data.as_mut_ptr(), data.len()) };
        }
        // SAFETY: forwarded from the caller; `ptr` is not used again.
        unsafe { self.unmap(device) };
        result
    }
}

#[cfg(test)]
mod size {
    /// The block is moved on every allocation and free: a name tag in the
    /// flavor's spare bytes keeps it at 72 bytes for 8-byte memory handles.
    #[test]
    fn a_block_with_an_8_byte_handle_is_72_bytes() {
        assert_eq!(core::mem::size_of::<super::MemoryBlock<u64>>(), 72);
    }
}
