//! The dry run: which memory type a request would get, and whether it would
//! make a memory object, decided as the full path decides, touching nothing.

#![deny(unsafe_code)]

use {
    super::{
        memory_type::{PoolStrategy, TypeState},
        place::{new_object_size, SLABS_PER_NEW_OBJECT},
        shape::{pool_class, Placing},
        GpuAllocator,
    },
    crate::{
        align::{align_down, align_up},
        error::TryAllocError,
        pool::Pool,
        request::{AllocOptions, BudgetPolicy},
        slab,
        strategy::{Linear, Tlsf},
        usage::UsageFlags,
        Request,
    },
    core::fmt::Debug,
};

/// What an allocation would do now, from [`GpuAllocator::forecast`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Forecast {
    /// The memory type the block would get.
    pub memory_type: u32,
    /// The size of the memory object the allocation would make, or `None`
    /// when the block fits in memory the allocator holds.
    pub new_object: Option<u64>,
    /// Whether the block would have a memory object of its own.
    pub dedicated: bool,
}

/// A new memory object's size, or no room for one within the heap's limit and
/// the object count.
enum Room {
    Held,
    New(u64),
    None,
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// What [`try_alloc_with_options`](Self::try_alloc_with_options) would do
    /// with `request` and `options` now, without doing it: the memory type,
    /// and the memory object it would make, if any. The same errors, but for
    /// what only the device can tell (an export or a dedicated resource it
    /// cannot send, a device that runs out of memory before the heap's limit).
    ///
    /// Two differences by design: under memory pressure the allocator first
    /// gives empty memory objects and slabs back and tries again; the forecast
    /// does not count on that, so it may name a worse memory type (or
    /// `OutOfDeviceMemory`) where the allocation would still succeed. And a
    /// block with a [`dedicated_resource`](AllocOptions::dedicated_resource) is
    /// forecast at exactly `request.size`, as on a device that can send the
    /// resource; a device that cannot gets an object of whole
    /// non-coherent atoms (the forecast knows no device).
    ///
    /// # Errors
    ///
    /// As [`try_alloc_with_options`](Self::try_alloc_with_options).
    pub fn forecast(
        &self,
        request: &Request,
        options: AllocOptions,
    ) -> Result<Forecast, TryAllocError> {
        if let Some(pool) = options.pool {
            return self.forecast_pooled(request, &options, pool);
        }
        self.check_request(request)?;
        let result = self.forecast_walk(request, options, false);
        if options.budget == BudgetPolicy::MayExceed
            && result == Err(TryAllocError::OutOfDeviceMemory)
        {
            return self.forecast_walk(request, options, true);
        }
        result
    }

    /// The full path's walk over the eligible types, read-only; `may_exceed`
    /// as in its second walk past the budget.
    fn forecast_walk(
        &self,
        request: &Request,
        options: AllocOptions,
        may_exceed: bool,
    ) -> Result<Forecast, TryAllocError> {
        let mut tried = false;
        for &ty in self.usage.types(request.usage) {
            if !self.serves(ty, request) {
                continue;
            }
            tried = true;
            match self.forecast_in_type(u32::from(ty), request, options, may_exceed) {
                // Like the allocation, only a full heap sends the request on
                // to the next type.
                Err(TryAllocError::OutOfDeviceMemory) => continue,
                result => return result,
            }
        }
        if tried {
            Err(TryAllocError::OutOfDeviceMemory)
        } else {
            Err(self.no_type_error(request))
        }
    }

    /// The memory type [`try_alloc`](Self::try_alloc) would give `request` now
    /// ([`forecast`](Self::forecast) without options).
    ///
    /// # Errors
    ///
    /// As [`forecast`](Self::forecast): why no memory type would serve it.
    pub fn find_memory_type(&self, request: &Request) -> Result<u32, TryAllocError> {
        self.forecast(request, AllocOptions::new())
            .map(|forecast| forecast.memory_type)
    }

    /// The forecast in memory type `ty` (`alloc_from_type`'s decisions);
    /// `OutOfDeviceMemory` or `TooManyObjects` when the type has no room.
    fn forecast_in_type(
        &self,
        ty: u32,
        request: &Request,
        options: AllocOptions,
        may_exceed: bool,
    ) -> Result<Forecast, TryAllocError> {
        let state = &self.types[ty as usize];
        let (dedicated_size, hinted) = self.dedicated_choice(ty, request, &options);
        let shared = |new_object| Forecast {
            memory_type: ty,
            new_object,
            dedicated: false,
        };
        if !hinted {
            let class = pool_class(self.buffer_image_granularity, options.resource);
            let transient = request.usage.contains(UsageFlags::TRANSIENT);
            if let Some(shape) =
                state.rounding[class].shape(request.size, request.align_mask, transient)
            {
                let general = &state.general[class];
                let (size, align_mask) = (shape.size, shape.align_mask);
                return match shape.placing {
                    Placing::Slab {
                        class: slab_class,
                        slot,
                    } => {
                        if state.slabs[class].has_open(slab_class) {
                            return Ok(shared(None));
                        }
                        // A new slab, if one suits and has room; else the
                        // block alone (`place_in_slab`).
                        if let Some(slots) = self.slab_slots(state, class, slab_class, slot) {
                            let bytes = slot * u64::from(slots);
                            let slab_align = slab::slab_align_mask(slot);
                            match self
                                .room::<Tlsf>(ty, general, bytes, slab_align, true, may_exceed)
                            {
                                Room::Held => return Ok(shared(None)),
                                Room::New(object) => return Ok(shared(Some(object))),
                                Room::None => {}
                            }
                        }
                        self.shared_room::<Tlsf>(ty, general, size, align_mask, may_exceed)
                            .map(shared)
                    }
                    Placing::General => self
                        .shared_room::<Tlsf>(ty, general, size, align_mask, may_exceed)
                        .map(shared),
                    Placing::Transient => {
                        let transient = &state.transient[class];
                        self.shared_room::<Linear>(ty, transient, size, align_mask, may_exceed)
                            .map(shared)
                    }
                };
            }
        }
        let size = if options.dedicated_resource.is_some() {
            request.size
        } else {
            dedicated_size
        };
        if self.accounts.remaining == 0 {
            return Err(TryAllocError::TooManyObjects);
        }
        if !self.heap_fits(state, size, may_exceed) {
            return Err(TryAllocError::OutOfDeviceMemory);
        }
        Ok(Forecast {
            memory_type: ty,
            new_object: Some(size),
            dedicated: true,
        })
    }

    /// The slots of a new slab of `slab_class` in pool class `class`
    /// (`place_in_new_slab`), or `None` when a slab does not suit.
    fn slab_slots(
        &self,
        state: &TypeState<M>,
        class: usize,
        slab_class: usize,
        slot: u64,
    ) -> Option<u32> {
        let room =
            Tlsf::largest(&self.sizes).min(align_down(state.max_object, state.atom_mask)) / 8;
        slab::slots_for(slot, state.slabs[class].count(slab_class), room)
    }

    /// Where a shared block of `size` bytes would go in `pool` of type `ty`.
    fn shared_room<S: PoolStrategy>(
        &self,
        ty: u32,
        pool: &Pool<M, S>,
        size: u64,
        align_mask: u64,
        may_exceed: bool,
    ) -> Result<Option<u64>, TryAllocError> {
        match self.room::<S>(ty, pool, size, align_mask, false, may_exceed) {
            Room::Held => Ok(None),
            Room::New(object) => Ok(Some(object)),
            Room::None if self.accounts.remaining == 0 => Err(TryAllocError::TooManyObjects),
            Room::None => Err(TryAllocError::OutOfDeviceMemory),
        }
    }

    /// Whether `pool` of type `ty` holds room for `size` bytes, else the
    /// memory object `place_in_new_object` would make for them (halved under
    /// the heap's limit down to `size`).
    fn room<S: PoolStrategy>(
        &self,
        ty: u32,
        pool: &Pool<M, S>,
        size: u64,
        align_mask: u64,
        slab: bool,
        may_exceed: bool,
    ) -> Room {
        if pool.can_place(size, align_mask) {
            return Room::Held;
        }
        if self.accounts.remaining == 0 {
            return Room::None;
        }
        let state = &self.types[ty as usize];
        let heap_size = self.accounts.heaps[state.info.heap as usize].size;
        let copies = if slab { SLABS_PER_NEW_OBJECT } else { 1 };
        let cap = S::largest(&self.sizes);
        let mut object = if may_exceed {
            align_up(size, state.atom_mask).unwrap_or(size).max(size)
        } else {
            new_object_size(
                size,
                copies,
                pool.next_size,
                cap,
                heap_size,
                state.max_object,
                state.atom_mask,
            )
        };
        loop {
            if self.heap_fits(state, object, may_exceed) {
                return Room::New(object);
            }
            if object / 2 < size {
                return Room::None;
            }
            object = align_up(object / 2, state.atom_mask).unwrap_or(object);
        }
    }

    /// Whether a memory object of `size` bytes fits `state`'s heap now (its
    /// size, when `may_exceed`; else its limit).
    fn heap_fits(&self, state: &TypeState<M>, size: u64, may_exceed: bool) -> bool {
        size <= self.accounts.max_object()
            && self.accounts.heaps[state.info.heap as usize].fits(size, may_exceed)
    }
}
