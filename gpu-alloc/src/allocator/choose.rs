//! Which memory type serves a request, on two paths that decide alike.
//!
//! - The **short path** ([`GpuAllocator::alloc_short`]) takes the best memory
//!   type the request's mask allows, asks `shape.rs` what the request becomes
//!   there, and places it in memory the type already has: a free slot of a
//!   slab, a free range of a general memory object, or the room left in the
//!   newest transient object. No device call, no error: whatever it cannot
//!   serve, errors included, goes to the full path.
//! - The **full path** ([`GpuAllocator::alloc_full`]) checks the request, then
//!   walks the eligible types best first, asks the same `shape.rs` question in
//!   each (or makes a dedicated object), and makes new slabs and memory objects
//!   as needed; under memory pressure it gives empty objects back and tries
//!   again.

#![deny(unsafe_code)]

use {
    super::{
        device::Device,
        shape::{pool_class, Placing},
        GpuAllocator,
    },
    crate::{
        align::{align_up, is_align_mask},
        block::{Flavor, MemoryBlock},
        error::TryAllocError,
        pool::Placement,
        request::{AllocOptions, BudgetPolicy, Dedicated, ResourceKind},
        shared::ObjectRef,
        strategy::Strategy,
        usage::UsageFlags,
        Request,
    },
    core::fmt::Debug,
    gpu_alloc_types::{MemoryDevice, MemoryPropertyFlags},
};

/// A block placed in a shared memory object and counted, to be made.
pub(super) struct Placed<M> {
    pub(super) ty: u32,
    /// Pool class of the memory object.
    pub(super) class: u8,
    pub(super) size: u64,
    pub(super) strategy: Strategy,
    pub(super) placement: Placement,
    pub(super) object: ObjectRef<M>,
    /// The memory type's properties and atom mask, read while it was at hand.
    pub(super) props: MemoryPropertyFlags,
    pub(super) atom_mask: u64,
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// The short path, or `full` for what it does not serve. (Both return from
    /// here, so that the block is built where the caller wants it.)
    #[inline(always)]
    pub(super) fn alloc_short<E>(
        &mut self,
        request: &Request,
        resource: ResourceKind,
        full: impl FnOnce(&mut Self) -> Result<MemoryBlock<M>, E>,
    ) -> Result<MemoryBlock<M>, E> {
        match self.place_short(request, resource) {
            Some(placed) => Ok(self.make_block(placed)),
            None => full(self),
        }
    }

    /// Places and counts a block for [`alloc_short`](Self::alloc_short) in
    /// memory the best allowed type already has.
    #[inline(always)]
    fn place_short(&mut self, request: &Request, resource: ResourceKind) -> Option<Placed<M>> {
        if request.size == 0
            || !is_align_mask(request.align_mask)
            || request.usage.intersects(self.slow_usage)
        {
            return None;
        }
        let ty = (self.usage).first_allowed(request.usage, request.memory_types)?;
        let class = pool_class(self.buffer_image_granularity, resource);
        let state = &mut self.types[usize::from(ty)];
        let transient = request.usage.contains(UsageFlags::TRANSIENT);
        let shape = state.rounding[class].shape(request.size, request.align_mask, transient)?;
        let size = shape.size;
        let (strategy, (placement, object)) = match shape.placing {
            Placing::Slab {
                class: slab_class, ..
            } => {
                let found = state.slabs[class].alloc(slab_class, size)?;
                state.general[class].add_block(size);
                (Strategy::Slab, found)
            }
            Placing::General => {
                let pool = &mut state.general[class];
                let placement = pool.alloc(size, shape.align_mask)?;
                pool.add_block(size);
                let object = pool.get_mut(placement.chunk).object_ref();
                (Strategy::General, (placement, object))
            }
            Placing::Transient => {
                let pool = &mut state.transient[class];
                let found = pool.alloc_recent(size, shape.align_mask)?;
                pool.add_block(size);
                (Strategy::Transient, found)
            }
        };
        state.add_block(size);
        let (props, atom_mask) = (state.info.props(), state.atom_mask);
        self.live_blocks += 1;
        Some(Placed {
            ty: u32::from(ty),
            class: class as u8,
            size,
            strategy,
            placement,
            object,
            props,
            atom_mask,
        })
    }

    /// The block for a placed and counted shared block.
    #[inline(always)]
    pub(super) fn make_block(&self, placed: Placed<M>) -> MemoryBlock<M> {
        MemoryBlock::new(
            self.id,
            placed.ty,
            placed.props,
            placed.placement.offset,
            placed.size,
            placed.atom_mask,
            Flavor::Shared {
                memory: placed.object.memory,
                base: placed.object.base,
                strategy: placed.strategy,
                class: placed.class,
                chunk: placed.placement.chunk,
                handle: placed.placement.handle,
            },
        )
    }

    /// The full path: every request the short path does not serve.
    #[inline(never)]
    pub(super) fn alloc_full(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        request: Request,
        options: &AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        if let Some(pool) = options.pool {
            return self.alloc_pooled(device, request, options, pool);
        }
        let result = self.alloc_in_eligible_types(device, request, options);
        if options.budget == BudgetPolicy::MayExceed
            && matches!(result, Err(TryAllocError::OutOfDeviceMemory))
        {
            // Nothing had room within the budget: past it, up to the heap's
            // size, with memory objects no larger than the block needs.
            self.accounts.may_exceed = true;
            let result = self.alloc_in_eligible_types(device, request, options);
            self.accounts.may_exceed = false;
            return result;
        }
        result
    }

    /// The full path's walk over the eligible types.
    fn alloc_in_eligible_types(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        request: Request,
        options: &AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        self.check_request(&request)?;
        // The eligible types, best first, that the mask allows and the size fits.
        let mut tried = false;
        let count = self.usage.types(request.usage).len();
        for rank in 0..count {
            let ty = self.usage.types(request.usage)[rank];
            if !self.serves(ty, &request) {
                continue;
            }
            tried = true;
            match self.alloc_from_type_or_release(device, u32::from(ty), &request, options) {
                // This type's heap is full: the next type may have room.
                Err(TryAllocError::OutOfDeviceMemory) => continue,
                result => return result,
            }
        }
        if tried {
            Err(TryAllocError::OutOfDeviceMemory)
        } else {
            Err(self.no_type_error(&request))
        }
    }

    /// [`alloc_from_type`](Self::alloc_from_type), and under memory pressure
    /// once more after giving back the empty memory objects of the type's heap
    /// (at the object limit: of every heap).
    fn alloc_from_type_or_release(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        request: &Request,
        options: &AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let heap = self.types[ty as usize].info.heap;
        let mut released = false;
        loop {
            let result = self.alloc_from_type(device, ty, request, options);
            let scope = match result {
                Err(TryAllocError::OutOfDeviceMemory) => Some(heap),
                Err(TryAllocError::TooManyObjects) => None,
                result => return result,
            };
            if released || !self.release_empty(device, scope) {
                return result;
            }
            released = true;
        }
    }

    /// Allocates from memory type `ty`: a shared block of the shape
    /// `shape.rs` gives, or a dedicated memory object.
    #[inline(always)]
    fn alloc_from_type(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        request: &Request,
        options: &AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let (dedicated_size, hinted) = self.dedicated_choice(ty, request, options);
        let state = &self.types[ty as usize];
        if !hinted {
            let class = pool_class(self.buffer_image_granularity, options.resource);
            let transient = request.usage.contains(UsageFlags::TRANSIENT);
            let rounding = &state.rounding[class];
            if let Some(shape) = rounding.shape(request.size, request.align_mask, transient) {
                let block = self.alloc_shared(device, ty, class as u8, shape)?;
                if options.priority.is_some() {
                    // A shared memory object has no priority of its own.
                    self.hints_dropped += 1;
                }
                return Ok(block);
            }
        }
        if options.beyond_kind() {
            return self.alloc_dedicated_with(device, ty, request.size, dedicated_size, options);
        }
        self.alloc_dedicated(device, ty, dedicated_size)
    }

    /// The size a dedicated block of memory type `ty` would have for
    /// `request`, and whether the options give it one whatever its shape.
    #[inline(always)]
    pub(super) fn dedicated_choice(
        &self,
        ty: u32,
        request: &Request,
        options: &AllocOptions,
    ) -> (u64, bool) {
        let state = &self.types[ty as usize];
        // Whole atoms, but never past the object limit (`serves` checked that
        // the request itself fits): a dedicated block that ends at the end of
        // its object may have a partial last atom.
        let dedicated_size = align_up(request.size, state.atom_mask)
            .unwrap_or(u64::MAX)
            .min(state.max_object);
        let hinted = options.own_object()
            || (options.dedicated == Some(Dedicated::Preferred)
                && dedicated_size >= self.sizes.preferred_dedicated_threshold);
        (dedicated_size, hinted)
    }

    /// Checks the parts of a request that do not depend on the memory type.
    pub(super) fn check_request(&self, request: &Request) -> Result<(), TryAllocError> {
        if request.size == 0 {
            return Err(TryAllocError::ZeroSize);
        }
        if !is_align_mask(request.align_mask) {
            return Err(TryAllocError::InvalidAlignMask {
                align_mask: request.align_mask,
            });
        }
        if request.usage.contains(UsageFlags::DEVICE_ADDRESS) && !self.buffer_device_address {
            return Err(TryAllocError::DeviceAddressNotEnabled);
        }
        Ok(())
    }

    /// Whether memory type `ty` can serve `request`: allowed by its mask, and the
    /// request fits in one of its memory objects. (Rounding up to atoms may pass
    /// `max_object`; the object then ends at `max_object`, where a flush range
    /// may end too.)
    pub(super) fn serves(&self, ty: u8, request: &Request) -> bool {
        request.memory_types & (1 << ty) != 0
            && request.size <= self.types[usize::from(ty)].max_object
    }

    /// Why no memory type can serve a valid request: none is eligible, or the
    /// request is too large for every eligible one.
    pub(super) fn no_type_error(&self, request: &Request) -> TryAllocError {
        let mut eligible = false;
        let mut max = 0;
        let mut size = request.size;
        for &ty in self.usage.types(request.usage) {
            if request.memory_types & (1 << ty) == 0 {
                continue;
            }
            eligible = true;
            let state = &self.types[usize::from(ty)];
            max = max.max(state.max_object);
            size = match align_up(request.size, state.atom_mask) {
                Some(rounded) => size.max(rounded),
                None => u64::MAX,
            };
        }
        if eligible {
            TryAllocError::TooLarge { size, max }
        } else {
            TryAllocError::NoCompatibleMemoryTypes
        }
    }
}
