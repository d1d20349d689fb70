//! Device accounts: the only place that creates, maps and frees memory objects,
//! and that keeps their counts, the heaps' usage and their budgets.
//!
//! The public `unsafe fn`s of [`GpuAllocator`](crate::GpuAllocator) take the
//! caller's promise about the device once, by wrapping it in a [`Device`]; from
//! there on the allocator's helpers are safe functions, and the `unsafe` blocks
//! that call the device are here, each next to the rule it keeps.
//!
//! What those blocks rely on from the rest of the crate is an invariant of the
//! crate, not a promise of each caller (as `Vec` relies on its own `len`): a
//! memory object handed to [`Accounts::free`] came from
//! [`Accounts::allocate`] (or, for imports, from the caller of the `unsafe`
//! `import_memory`), no block uses it any more, and `mapped` is true exactly
//! when [`Accounts::map_whole`] mapped it. The pools keep it by construction (a
//! chunk is freed only when its sub-allocator is empty, and it is mapped iff
//! its `base` is set) and `check_invariants` checks the counts behind it.
//! These functions are `pub(crate)` and never reachable from outside.

use {
    crate::{error::TryAllocError, report, shared::MappedPtr},
    alloc::vec::Vec,
    core::marker::PhantomData,
    gpu_alloc_types::{AllocateInfo, AllocationFlags, HeapBudget, MemoryDevice},
};

/// The device an allocator works with, after a public `unsafe fn` has taken
/// the caller's promise that it is the allocator's device.
///
/// Invariant: the device is the one whose properties created the allocator, and
/// every call of the allocator and of its blocks is given the same device.
pub(crate) struct Device<'d, M, D> {
    device: &'d D,
    _memory: PhantomData<fn(M) -> M>,
}

impl<M, D> Clone for Device<'_, M, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M, D> Copy for Device<'_, M, D> {}

impl<'d, M, D: MemoryDevice<M>> Device<'d, M, D> {
    /// Takes the caller's promise about `device`.
    ///
    /// # Safety
    ///
    /// `device` is the device whose properties created the allocator that will
    /// use the wrapper, and the same device is passed to every call of that
    /// allocator and its blocks.
    #[inline(always)]
    pub(crate) unsafe fn new(device: &'d D) -> Self {
        Device {
            device,
            _memory: PhantomData,
        }
    }

    /// The device itself, for the `unsafe` calls that a public method makes on
    /// the caller's behalf.
    #[inline(always)]
    pub(crate) fn get(self) -> &'d D {
        self.device
    }
}

/// Accounting of one memory heap.
#[derive(Debug)]
pub(crate) struct Heap {
    /// Size of the heap.
    pub(crate) size: u64,
    /// Bytes of memory objects this allocator holds in the heap:
    /// `used == dedicated + sum of shared object sizes in the heap`.
    pub(crate) used: u64,
    /// Bytes of dedicated and imported memory objects in the heap.
    pub(crate) dedicated: u64,
    /// Most bytes this allocator may hold in the heap by the last budget reading;
    /// `None` before any reading.
    budget: Option<u64>,
    /// The last budget reading.
    pub(crate) reading: Option<HeapBudget>,
}

impl Heap {
    /// Most bytes this allocator may hold in the heap.
    pub(crate) fn limit(&self) -> u64 {
        self.budget.map_or(self.size, |b| b.min(self.size))
    }

    /// Whether `size` more bytes fit: within the limit, or within the heap's
    /// size when the budget may be exceeded.
    pub(crate) fn fits(&self, size: u64, may_exceed: bool) -> bool {
        let limit = if may_exceed { self.size } else { self.limit() };
        self.used.checked_add(size).is_some_and(|end| end <= limit)
    }
}

/// Memory objects held, per heap and in all.
#[derive(Debug)]
pub(crate) struct Accounts {
    pub(crate) heaps: Vec<Heap>,
    /// Memory objects this allocator may still create (`max_memory_allocation_count`
    /// minus the objects it holds, unless changed by `set_remaining_allocations`).
    pub(crate) remaining: u32,
    /// Memory objects held: shared ones plus dedicated and imported blocks.
    pub(crate) objects: u32,
    /// Dedicated and imported memory objects held.
    pub(crate) dedicated_objects: u32,
    /// Flags for every `allocate_memory` call.
    flags: AllocationFlags,
    /// `max_memory_allocation_size`: no memory object is larger.
    max_object: u64,
    /// Whether the allocation under way may take a heap past its budget (set
    /// by the full path for the length of one request, `BudgetPolicy`).
    pub(crate) may_exceed: bool,
    /// Device allocations and frees between two budget readings (0: the
    /// allocator reads budgets only when asked, `update_budget`).
    pub(crate) refresh_every: u32,
    /// Device allocations and frees since the last reading.
    since_refresh: u32,
    /// Budget readings the allocator made by itself.
    pub(crate) refreshes: u64,
}

impl Accounts {
    /// Accounts for heaps of these sizes, a device that allows `count` memory
    /// objects of at most `max_object` bytes, with `flags` on every allocation.
    pub(crate) fn new(
        heap_sizes: impl Iterator<Item = u64>,
        count: u32,
        max_object: u64,
        flags: AllocationFlags,
    ) -> Self {
        Accounts {
            heaps: heap_sizes
                .map(|size| Heap {
                    size,
                    used: 0,
                    dedicated: 0,
                    budget: None,
                    reading: None,
                })
                .collect(),
            remaining: count,
            objects: 0,
            dedicated_objects: 0,
            flags,
            max_object,
            may_exceed: false,
            refresh_every: 0,
            since_refresh: 0,
            refreshes: 0,
        }
    }

    /// Counts a device allocation or free and, every `refresh_every` of them,
    /// reads the heaps' budgets from the device.
    fn count_device_call<M>(&mut self, device: Device<'_, M, impl MemoryDevice<M>>) {
        if self.refresh_every == 0 {
            return;
        }
        self.since_refresh += 1;
        if self.since_refresh >= self.refresh_every {
            self.refresh_budgets(device);
        }
    }

    /// Reads the heaps' budgets from the device and applies them (if it can
    /// tell); restarts the count to the next reading.
    pub(crate) fn refresh_budgets<M>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
    ) -> bool {
        self.since_refresh = 0;
        let mut budgets = alloc::vec![HeapBudget::default(); self.heaps.len()];
        let known = device.get().memory_budget(&mut budgets);
        if known {
            self.set_budgets(&budgets);
            self.refreshes += 1;
        }
        known
    }

    /// Allocates a memory object of `size` bytes from memory type `ty` in
    /// `heap`, unless the object count or the heap's limit forbids it.
    ///
    /// `ty` is a memory type of the device in `heap` (the allocator's type
    /// table says so), and `size` is non-zero (every caller allocates for a
    /// request, whose size is checked to be non-zero, or more).
    pub(crate) fn allocate<M>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        heap: u32,
        size: u64,
    ) -> Result<M, TryAllocError> {
        self.allocate_with(device, ty, heap, size, None)
    }

    /// [`allocate`](Self::allocate), telling the device what `extra` says
    /// beyond the allocator's flags (its own `flags` are ignored).
    ///
    /// `extra` asks only for what the device's `allocation_support` reports,
    /// and a dedicated resource in it is the caller's resource for this
    /// request, whose size is `size` (the promise `try_alloc_with_options`
    /// takes under its `# Safety`).
    pub(crate) fn allocate_with<M>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        ty: u32,
        heap: u32,
        size: u64,
        extra: Option<&AllocateInfo>,
    ) -> Result<M, TryAllocError> {
        debug_assert!(size > 0);
        if self.remaining == 0 {
            return Err(TryAllocError::TooManyObjects);
        }
        if size > self.max_object || !self.heaps[heap as usize].fits(size, self.may_exceed) {
            return Err(TryAllocError::OutOfDeviceMemory);
        }
        let memory = match extra {
            // SAFETY: the device is the allocator's (`Device`'s invariant);
            // `ty` is one of its types, `size` is non-zero and at most
            // `max_memory_allocation_size`; `flags` holds DEVICE_ADDRESS only
            // when the properties say the feature is enabled; `remaining > 0`
            // keeps the object count within the device's limit.
            None => unsafe { device.get().allocate_memory(size, ty, self.flags) },
            Some(extra) => {
                let mut info = *extra;
                info.flags = self.flags;
                debug_assert!(info.is_supported_by(&device.get().allocation_support()));
                // SAFETY: as above, and `info` asks only for what the device
                // supports, with a resource the caller vouched for (this
                // function's contract).
                unsafe { device.get().allocate_memory_with(size, ty, &info) }
            }
        };
        let memory = match memory {
            Ok(memory) => memory,
            Err(error) => {
                // The device is out of memory where the budget said there was
                // room: the budget is stale.
                if self.refresh_every > 0 {
                    self.refresh_budgets(device);
                }
                return Err(error.into());
            }
        };
        report::allocated(ty, size);
        self.heaps[heap as usize].used += size;
        self.remaining -= 1;
        self.objects += 1;
        // After the counts, so that a reading sees this object as the
        // allocator's own.
        self.count_device_call(device);
        Ok(memory)
    }

    /// Maps the whole of a memory object just made by
    /// [`allocate`](Self::allocate) from a host-visible type, for the life of
    /// the object; on failure the object is freed.
    pub(crate) fn map_whole<M>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        heap: u32,
        size: u64,
        mut memory: M,
    ) -> Result<(M, MappedPtr), TryAllocError> {
        // SAFETY: the object comes from the device, is host-visible (the callers'
        // promise), new and so not mapped; `0..size` is the whole object.
        match unsafe { device.get().map_memory(&mut memory, 0, size) } {
            Ok(ptr) => Ok((memory, MappedPtr(ptr))),
            Err(err) => {
                self.free(device, heap, size, memory, false);
                Err(err.into())
            }
        }
    }

    /// Frees a memory object of `size` bytes in `heap`, unmapping it first.
    ///
    /// The object came from [`allocate`](Self::allocate) with this `heap` and
    /// `size`, no block uses it any more (its pool found its sub-allocator
    /// empty, or its dedicated block was returned), and `mapped` says whether
    /// it is mapped.
    pub(crate) fn free<M>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        heap: u32,
        size: u64,
        mut memory: M,
        mapped: bool,
    ) {
        if mapped {
            // SAFETY: the object is mapped, and no block that could use the
            // mapping is alive.
            unsafe { device.get().unmap_memory(&mut memory) };
        }
        // SAFETY: the object came from this device, no block uses it, and the
        // allocator keeps no other handle to it.
        unsafe { device.get().deallocate_memory(memory) };
        report::freed(heap, size);
        self.heaps[heap as usize].used -= size;
        self.remaining = self.remaining.saturating_add(1);
        self.objects -= 1;
        self.count_device_call(device);
    }

    /// `max_memory_allocation_size`.
    pub(crate) fn max_object(&self) -> u64 {
        self.max_object
    }

    /// Counts a dedicated object of `size` bytes in `heap`, made by
    /// [`allocate`](Self::allocate).
    pub(crate) fn add_dedicated(&mut self, heap: u32, size: u64) {
        self.heaps[heap as usize].dedicated += size;
        self.dedicated_objects += 1;
    }

    /// Counts an object of `size` bytes in `heap` made outside the allocator.
    pub(crate) fn add_imported(&mut self, heap: u32, size: u64) {
        let heap = &mut self.heaps[heap as usize];
        heap.used += size;
        heap.dedicated += size;
        self.objects += 1;
        self.dedicated_objects += 1;
        self.remaining = self.remaining.saturating_sub(1);
    }

    /// Frees a dedicated or imported object of `size` bytes in `heap`, which
    /// its block's return already unmapped.
    pub(crate) fn free_dedicated<M>(
        &mut self,
        device: Device<'_, M, impl MemoryDevice<M>>,
        heap: u32,
        size: u64,
        memory: M,
    ) {
        self.heaps[heap as usize].dedicated -= size;
        self.dedicated_objects -= 1;
        self.free(device, heap, size, memory, false);
    }

    /// Sets the heaps' budgets from a reading of `VK_EXT_memory_budget` (one
    /// entry per heap, in order; extra entries are ignored).
    pub(crate) fn set_budgets(&mut self, budgets: &[HeapBudget]) {
        for (heap, reading) in self.heaps.iter_mut().zip(budgets) {
            let others = reading.usage.saturating_sub(heap.used);
            heap.budget = Some(reading.budget.saturating_sub(others));
            heap.reading = Some(*reading);
        }
    }
}

/// Frees a memory object that was never counted (imported memory of a memory
/// type the allocator does not know), once its block is returned.
pub(crate) fn free_unaccounted<M>(device: Device<'_, M, impl MemoryDevice<M>>, memory: M) {
    // SAFETY: the block owned the object, which its return unmapped; nothing
    // else uses it.
    unsafe { device.get().deallocate_memory(memory) };
}
