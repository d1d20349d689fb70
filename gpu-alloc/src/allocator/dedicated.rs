//! Blocks with a memory object of their own: dedicated ones, which the
//! allocator makes, and imported ones, which the caller made.

#![deny(unsafe_code)]

use {
    super::{device::Device, GpuAllocator},
    crate::{
        block::{Flavor, MemoryBlock},
        error::TryAllocError,
        report::report,
        request::{AllocOptions, Dedicated},
    },
    core::fmt::Debug,
    gpu_alloc_types::{AllocateInfo, AllocationFlags, MemoryDevice, MemoryPropertyFlags},
};

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// A block of `size` bytes (non-zero, at most the type's largest object)
    /// in a new memory object of type `ty`.
    pub(super) fn alloc_dedicated(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        size: u64,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        self.alloc_dedicated_info(device, ty, size, None)
    }

    /// A dedicated block of memory type `ty` for a request of `requested`
    /// bytes (`rounded`: rounded up to whole atoms, at most the type's largest
    /// object), with what `options` tells the device: the resource (then the
    /// object is exactly `requested` bytes, as Vulkan requires), the priority,
    /// the export types. Requirements the device cannot meet are errors; hints
    /// it cannot honour are dropped and counted.
    pub(super) fn alloc_dedicated_with(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        requested: u64,
        rounded: u64,
        options: &AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let support = device.get().allocation_support();
        if !support.export.contains(options.export) {
            return Err(TryAllocError::ExportNotSupported {
                requested: options.export,
                supported: support.export,
            });
        }
        let mut info = AllocateInfo::new(AllocationFlags::empty()).export(options.export);
        let mut size = rounded;
        // Counted once the block is made (not for each memory type tried).
        let mut dropped = 0;
        if let Some(resource) = options.dedicated_resource {
            if support.dedicated {
                info = info.dedicated(resource);
                size = requested;
            } else if options.dedicated == Some(Dedicated::Required) {
                return Err(TryAllocError::DedicatedNotSupported);
            } else {
                dropped += 1;
            }
        }
        if let Some(priority) = options.priority {
            if support.priority {
                info = info.priority(priority);
            } else {
                dropped += 1;
            }
        }
        let extra = (!info.is_plain()).then_some(&info);
        let block = self.alloc_dedicated_info(device, ty, size, extra)?;
        self.hints_dropped += dropped;
        Ok(block)
    }

    /// A block of `size` bytes in a new memory object of type `ty`, allocated
    /// with `extra` (see `Accounts::allocate_with`).
    fn alloc_dedicated_info(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        size: u64,
        extra: Option<&AllocateInfo>,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let state = &mut self.types[ty as usize];
        let heap = state.info.heap;
        let memory = self.accounts.allocate_with(device, ty, heap, size, extra)?;
        self.accounts.add_dedicated(heap, size);
        state.add_dedicated(size, false);
        state.add_block(size);
        self.live_blocks += 1;
        Ok(MemoryBlock::new(
            self.id,
            ty,
            state.info.props(),
            0,
            size,
            state.atom_mask,
            Flavor::Dedicated {
                memory,
                mapping: None,
                accounted: true,
                imported: false,
                name: 0,
            },
        ))
    }

    /// Frees the memory object of a returned dedicated or imported block of
    /// memory type `ty` (unmapped already).
    pub(super) fn release_dedicated(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        size: u64,
        memory: M,
        imported: bool,
    ) {
        let state = &mut self.types[ty as usize];
        state.remove_block(size);
        state.remove_dedicated(size, imported);
        let heap = state.info.heap;
        self.accounts.free_dedicated(device, heap, size, memory);
    }

    /// A block for memory the caller allocated (see
    /// [`import_memory`](GpuAllocator::import_memory)), counted in its heap and
    /// the object count when `memory_type` exists.
    pub(super) fn import(
        &mut self,
        memory: M,
        memory_type: u32,
        props: MemoryPropertyFlags,
        offset: u64,
        size: u64,
    ) -> MemoryBlock<M> {
        let state = self.types.get_mut(memory_type as usize);
        let accounted = state.is_some();
        let atom_mask = state.as_ref().map_or(0, |s| s.atom_mask);
        match state {
            Some(state) => {
                state.add_block(size);
                state.add_dedicated(size, true);
                self.accounts.add_imported(state.info.heap, size);
            }
            None => {
                self.unaccounted_blocks += 1;
                report(format_args!(
                    "GpuAllocator::import_memory: memory type {memory_type} does not exist; \
                     the memory is not accounted"
                ));
            }
        }
        self.live_blocks += 1;
        MemoryBlock::new(
            self.id,
            memory_type,
            props,
            offset,
            size,
            atom_mask,
            Flavor::Dedicated {
                memory,
                mapping: None,
                accounted,
                imported: true,
                name: 0,
            },
        )
    }
}
