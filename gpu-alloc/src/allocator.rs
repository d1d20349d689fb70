//! The allocator: picks memory types and strategies, and accounts for every
//! memory object it holds.

use {
    crate::{
        block::{Flavor, MappedPtr, MemoryBlock, MemoryRef, SharedMemory, Strategy},
        config::Config,
        error::{AllocationError, TryAllocError},
        pool::{Chunk, Pool},
        report::report,
        slab::{self, SlabFree, SlabRange, Slabs},
        stats::{
            fragmentation, AllocatorStats, HeapStats, MapRange, MemoryMap, MemoryObjectMap,
            MemoryTypeStats, ObjectKind,
        },
        strategy::{align_down, align_up, is_align_mask, pow2_floor, Linear, SubAllocator, Tlsf},
        usage::{MemoryForUsage, UsageFlags},
        Request,
    },
    alloc::{collections::BTreeMap, vec::Vec},
    core::{
        fmt::Debug,
        sync::atomic::{AtomicUsize, Ordering},
    },
    gpu_alloc_types::{
        AllocationFlags, DeviceProperties, ExtendedProperties, HeapBudget, MemoryDevice,
        MemoryPropertyFlags, MemoryTypeInfo,
    },
};

/// Source of allocator ids, so blocks can name the allocator that made them.
static NEXT_ALLOCATOR_ID: AtomicUsize = AtomicUsize::new(1);

/// Hints for the allocator to decide on the allocation strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dedicated {
    /// The block must have a memory object of its own (for example, the resource
    /// requires a dedicated allocation). Memory objects are slow to create and
    /// limited in number: use with care.
    Required,

    /// A memory object of its own is preferred (the driver said it may be faster).
    /// The allocator gives one when the request is at least
    /// `Config::preferred_dedicated_threshold` bytes.
    Preferred,
}

/// Accounting of one memory heap.
#[derive(Debug)]
struct Heap {
    /// Size of the heap.
    size: u64,
    /// Bytes of memory objects this allocator holds in the heap:
    /// `used == dedicated + sum of chunk sizes in the heap`.
    used: u64,
    /// Bytes of dedicated and imported memory objects in the heap.
    dedicated: u64,
    /// Most bytes this allocator may hold in the heap by the last budget reading;
    /// `None` before any reading.
    budget: Option<u64>,
    /// The last budget reading.
    reading: Option<HeapBudget>,
}

impl Heap {
    /// Most bytes this allocator may hold in the heap.
    fn limit(&self) -> u64 {
        self.budget.map_or(self.size, |b| b.min(self.size))
    }

    fn fits(&self, size: u64) -> bool {
        self.used
            .checked_add(size)
            .is_some_and(|end| end <= self.limit())
    }
}

/// Memory object accounting shared by every strategy.
#[derive(Debug)]
struct Accounts {
    heaps: Vec<Heap>,
    /// Memory objects this allocator may still create (`max_memory_allocation_count`
    /// minus the objects it holds, unless changed by `set_remaining_allocations`).
    remaining: u32,
    /// Memory objects held: chunks plus dedicated and imported blocks.
    objects: u32,
    /// Dedicated and imported memory objects held.
    dedicated_objects: u32,
    /// Flags for every `allocate_memory` call.
    flags: AllocationFlags,
}

impl Accounts {
    /// Allocates a memory object of `size` bytes from memory type `ty` in `heap`,
    /// unless the object count or the heap's limit forbids it.
    unsafe fn allocate<M>(
        &mut self,
        device: &impl MemoryDevice<M>,
        ty: u32,
        heap: u32,
        size: u64,
    ) -> Result<M, TryAllocError> {
        if self.remaining == 0 {
            return Err(TryAllocError::TooManyObjects);
        }
        if !self.heaps[heap as usize].fits(size) {
            return Err(TryAllocError::OutOfDeviceMemory);
        }
        // SAFETY: `ty` is a valid type index, `size` is non-zero and at most
        // `max_memory_allocation_size` (checked by the callers), `flags` only holds
        // DEVICE_ADDRESS when the properties say the feature is enabled, and
        // `remaining > 0` keeps the object count under the device's limit.
        let memory = unsafe { device.allocate_memory(size, ty, self.flags) }?;
        #[cfg(feature = "tracing")]
        tracing::debug!(memory_type = ty, size, "allocated device memory");
        self.heaps[heap as usize].used += size;
        self.remaining -= 1;
        self.objects += 1;
        Ok(memory)
    }

    /// Frees a memory object of `size` bytes in `heap`, unmapping it first.
    unsafe fn free<M>(
        &mut self,
        device: &impl MemoryDevice<M>,
        heap: u32,
        size: u64,
        mut memory: M,
        mapped: bool,
    ) {
        if mapped {
            // SAFETY: the object is mapped and no block that could use the mapping
            // is alive.
            unsafe { device.unmap_memory(&mut memory) };
        }
        // SAFETY: the object came from this device, no block references it, and the
        // allocator holds no clone of the handle.
        unsafe { device.deallocate_memory(memory) };
        #[cfg(feature = "tracing")]
        tracing::debug!(heap, size, "freed device memory");
        self.heaps[heap as usize].used -= size;
        self.remaining = self.remaining.saturating_add(1);
        self.objects -= 1;
    }
}

/// Per memory type state.
#[derive(Debug)]
struct TypeState<M> {
    info: MemoryTypeInfo,
    /// `non_coherent_atom_size - 1` for host-visible non-coherent types, else 0.
    atom_mask: u64,
    /// Largest object this type can have: `min(heap size, max_memory_allocation_size)`.
    max_object: u64,
    /// General pools by class: 0 holds blocks of unknown resource kind, each on
    /// granularity pages of its own; 1 holds linear resources only, 2 optimal-tiling
    /// images only. When the granularity is 1, every block goes to class 0 unpadded.
    general: [Pool<M, Tlsf>; CLASSES],
    /// Transient pools by class, as for `general`.
    transient: [Pool<M, Linear>; CLASSES],
    /// Slabs of small general blocks by class; every slab is a used range of the
    /// general pool of its class, and carries its memory object's handle and
    /// mapping.
    slabs: [Slabs<SlabPayload<M>>; CLASSES],
    /// What the fast path needs, by pool class.
    fast: [Fast; CLASSES],
    /// Live blocks of this type.
    blocks: u64,
    /// Bytes of live blocks of this type.
    block_bytes: u64,
    /// Dedicated and imported memory objects of this type, as
    /// `(size, imported) -> count`; their sizes add up to the heap's share of
    /// `Heap::dedicated` from this type.
    dedicated: BTreeMap<(u64, bool), u32>,
}

impl<M> TypeState<M> {
    /// Every shared memory object of the type: its kind, size, sub-allocator and
    /// whether it is mapped.
    fn chunks(&self) -> impl Iterator<Item = (ObjectKind, u64, &dyn SubAllocator, bool)> {
        self.chunks_by_class()
            .map(|(kind, _, size, sub, mapped)| (kind, size, sub, mapped))
    }

    /// As [`chunks`](Self::chunks), with the resource kind of each object's pool.
    fn chunks_by_class(
        &self,
    ) -> impl Iterator<Item = (ObjectKind, ResourceKind, u64, &dyn SubAllocator, bool)> {
        let general = self
            .general
            .iter()
            .zip(CLASS_KINDS)
            .flat_map(|(pool, class)| {
                pool.iter().map(move |c| {
                    let sub: &dyn SubAllocator = &c.sub;
                    (ObjectKind::General, class, c.size, sub, c.base.is_some())
                })
            });
        let transient = self
            .transient
            .iter()
            .zip(CLASS_KINDS)
            .flat_map(|(pool, class)| {
                pool.iter().map(move |c| {
                    let sub: &dyn SubAllocator = &c.sub;
                    (ObjectKind::Transient, class, c.size, sub, c.base.is_some())
                })
            });
        general.chain(transient)
    }

    fn add_dedicated(&mut self, size: u64, imported: bool) {
        *self.dedicated.entry((size, imported)).or_insert(0) += 1;
    }

    fn remove_dedicated(&mut self, size: u64, imported: bool) {
        let key = (size, imported);
        match self.dedicated.get_mut(&key) {
            Some(count) if *count > 1 => *count -= 1,
            Some(_) => {
                self.dedicated.remove(&key);
            }
            None => unreachable!("a dedicated object that was never added"),
        }
    }
}

/// What a block placed in a slab needs of its memory object: the object and
/// its mapping.
type SlabPayload<M> = (MemoryRef<M>, Option<MappedPtr>);

/// What placing a small general block in an existing slab needs of a memory type
/// and pool class, computed once, so that the common allocation is a handful of
/// operations (`GpuAllocator::alloc_fast`). Every mask has the form `2^n - 1`.
#[derive(Clone, Copy, Debug)]
struct Fast {
    /// A general block's size is rounded up with this mask: whole non-coherent
    /// atoms, whole granularity pages (class 0 with a granularity above 1) and
    /// whole granules, as [`GpuAllocator::alloc_from_type`] rounds it (rounding to
    /// several powers of two is rounding to the largest).
    size_mask: u64,
    /// Added to a request's alignment mask: atoms, and granularity pages for
    /// class 0.
    align_bits: u64,
    /// Largest rounded size the fast path serves: below the dedicated threshold,
    /// within the strategy's object size and the type's largest object. Larger
    /// requests take the full path, which decides the same way.
    limit: u64,
    /// The same for `TRANSIENT` requests (rounded with `align_bits` only, as the
    /// transient strategy needs no granules), in the newest transient object.
    transient_limit: u64,
}

impl Fast {
    fn new(
        config: &Config,
        granularity: u64,
        atom_mask: u64,
        max_object: u64,
        class: usize,
    ) -> Self {
        let granularity_mask = if class == 0 { granularity - 1 } else { 0 };
        let align_bits = atom_mask | granularity_mask;
        Fast {
            size_mask: align_bits | (GRANULE - 1),
            align_bits,
            limit: config
                .dedicated_threshold
                .saturating_sub(1)
                .min(general_cap(config))
                .min(align_down(max_object, atom_mask)),
            transient_limit: config
                .transient_dedicated_threshold
                .saturating_sub(1)
                .min(transient_cap(config))
                .min(align_down(max_object, atom_mask)),
        }
    }
}

/// Largest memory object the transient strategy creates.
#[inline(always)]
fn transient_cap(config: &Config) -> u64 {
    config
        .final_free_list_chunk
        .max(config.starting_free_list_chunk)
}

/// Largest memory object the general strategy creates.
#[inline(always)]
fn general_cap(config: &Config) -> u64 {
    config
        .final_free_list_chunk
        .max(config.initial_buddy_dedicated_size)
        .max(config.minimal_buddy_size)
}

/// The resource kind each pool class holds (see `TypeState::general`).
const CLASS_KINDS: [ResourceKind; CLASSES] = [
    ResourceKind::Unknown,
    ResourceKind::Linear,
    ResourceKind::Optimal,
];

/// A new shared memory object has room for at least this many blocks of the size
/// of the request that makes it (within the strategy's and the heap's caps).
const BLOCKS_PER_NEW_OBJECT: u64 = 4;

/// General blocks are sized in multiples of this many bytes.
const GRANULE: u64 = 16;

/// Pool classes per memory type and strategy (see `TypeState::general`).
const CLASSES: usize = 3;

/// What a block will be bound to, so that linear and optimal-tiling resources never
/// share a `bufferImageGranularity` page of one memory object.
///
/// Requests made without a kind ([`GpuAllocator::alloc`] and the other methods
/// of gpu-alloc 0.6) are [`ResourceKind::Unknown`]. The cost is zero when the
/// granularity is 1, which is what [`GpuAllocator::new`] assumes, since
/// [`DeviceProperties`] cannot carry it; pass the real value through
/// [`GpuAllocator::with_extended_properties`] (the backends report it).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// Not said. With a granularity above 1, the block gets granularity pages of
    /// its own (its offset and size are rounded to the granularity), so it is safe
    /// next to anything.
    #[default]
    Unknown,
    /// A buffer, or an image with linear tiling.
    Linear,
    /// An image with optimal tiling.
    Optimal,
}

/// Options for [`GpuAllocator::try_alloc_with_options`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AllocOptions {
    /// Hint about dedicated memory objects.
    pub dedicated: Option<Dedicated>,
    /// What the block will be bound to.
    pub resource: ResourceKind,
}

impl AllocOptions {
    /// No dedicated hint, unknown resource kind.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the dedicated hint.
    pub fn dedicated(mut self, dedicated: Dedicated) -> Self {
        self.dedicated = Some(dedicated);
        self
    }

    /// Sets the resource kind.
    pub fn resource(mut self, resource: ResourceKind) -> Self {
        self.resource = resource;
        self
    }
}

/// A shared block to place: memory type, size and alignment (rounded as the
/// type and pool class need), strategy and pool class.
#[derive(Clone, Copy, Debug)]
struct Want {
    ty: u32,
    size: u64,
    align_mask: u64,
    strategy: Strategy,
    class: u8,
}

/// Memory allocator for Vulkan-like APIs.
///
/// See the [crate docs](crate) for an overview and an example.
#[derive(Debug)]
pub struct GpuAllocator<M> {
    /// Unique id, stored in every block this allocator makes.
    id: usize,
    config: Config,
    types: Vec<TypeState<M>>,
    accounts: Accounts,
    usage: MemoryForUsage,
    /// Property bits outside the general-use set that the caller allowed.
    allowed_exotic: u32,
    max_memory_allocation_size: u64,
    buffer_device_address: bool,
    buffer_image_granularity: u64,
    /// Usage bits that send a request past the fast path: `DEVICE_ADDRESS` when
    /// the feature is off (an error).
    slow_usage: UsageFlags,
    /// Blocks handed out and not yet returned:
    /// `live_blocks == sum of TypeState::blocks + unaccounted_blocks`.
    live_blocks: u64,
    /// Live blocks of imported memory of a memory type that does not exist,
    /// which no `TypeState` counts (see [`import_memory`](Self::import_memory)).
    unaccounted_blocks: u64,
}

impl<M> GpuAllocator<M>
where
    M: Debug + 'static,
{
    /// Creates an allocator for a device with the given properties.
    ///
    /// The properties must describe the device later passed to every method.
    /// Property bits that [`MemoryPropertyFlags`] cannot hold are unknown here: use
    /// [`with_extended_properties`](Self::with_extended_properties) to pass them.
    pub fn new(config: Config, props: DeviceProperties<'_>) -> Self {
        let ext = ExtendedProperties::from_properties(&props, 1);
        Self::with_extended_properties(config, props, ext)
    }

    /// Creates an allocator with everything a backend can tell about the device,
    /// including property bits [`MemoryPropertyFlags`] cannot hold, heap flags and
    /// `bufferImageGranularity`. Where `ext` and `props` disagree on the memory
    /// types or heaps, `ext` wins.
    pub fn with_extended_properties(
        config: Config,
        props: DeviceProperties<'_>,
        ext: ExtendedProperties<'_>,
    ) -> Self {
        let ext = if ext.memory_types.len() == props.memory_types.len()
            && ext.memory_heaps.len() == props.memory_heaps.len()
        {
            ext
        } else {
            let granularity = ext.buffer_image_granularity;
            ExtendedProperties::from_properties(&props, granularity)
        };
        let atom_mask = props.non_coherent_atom_size.max(1).next_power_of_two() - 1;
        let max_size = props.max_memory_allocation_size;
        let heaps: Vec<Heap> = ext
            .memory_heaps
            .iter()
            .map(|h| Heap {
                size: h.size,
                used: 0,
                dedicated: 0,
                budget: None,
                reading: None,
            })
            .collect();
        let general_start = config
            .initial_buddy_dedicated_size
            .max(config.minimal_buddy_size)
            .max(1);
        // `minimal_buddy_size` only bounds object sizes: TLSF needs no minimal block.
        let transient_start = config.starting_free_list_chunk.max(1);
        let granularity = ext.buffer_image_granularity.max(1);
        let types = ext
            .memory_types
            .iter()
            .map(|&info| {
                let props = info.props();
                let non_coherent = props.contains(MemoryPropertyFlags::HOST_VISIBLE)
                    && !props.contains(MemoryPropertyFlags::HOST_COHERENT);
                let heap_size = heaps.get(info.heap as usize).map_or(0, |h| h.size);
                let atom_mask = if non_coherent { atom_mask } else { 0 };
                let max_object = heap_size.min(max_size);
                TypeState {
                    info,
                    atom_mask,
                    max_object,
                    fast: core::array::from_fn(|class| {
                        Fast::new(&config, granularity, atom_mask, max_object, class)
                    }),
                    general: core::array::from_fn(|_| Pool::new(general_start)),
                    transient: core::array::from_fn(|_| Pool::new(transient_start)),
                    slabs: core::array::from_fn(|_| Slabs::new()),
                    blocks: 0,
                    block_bytes: 0,
                    dedicated: BTreeMap::new(),
                }
            })
            .collect();
        let allowed_exotic = 0;
        GpuAllocator {
            id: NEXT_ALLOCATOR_ID.fetch_add(1, Ordering::Relaxed),
            config,
            usage: MemoryForUsage::new(&ext.memory_types, allowed_exotic),
            types,
            accounts: Accounts {
                heaps,
                remaining: props.max_memory_allocation_count,
                objects: 0,
                dedicated_objects: 0,
                flags: if props.buffer_device_address {
                    AllocationFlags::DEVICE_ADDRESS
                } else {
                    AllocationFlags::empty()
                },
            },
            allowed_exotic,
            max_memory_allocation_size: max_size,
            buffer_device_address: props.buffer_device_address,
            buffer_image_granularity: granularity,
            slow_usage: if props.buffer_device_address {
                UsageFlags::empty()
            } else {
                UsageFlags::DEVICE_ADDRESS
            },
            live_blocks: 0,
            unaccounted_blocks: 0,
        }
    }

    /// Makes memory types with these property bits eligible (as raw
    /// `VkMemoryPropertyFlags` bits: `DEVICE_COHERENT_AMD` `0x40`,
    /// `DEVICE_UNCACHED_AMD` `0x80`, `RDMA_CAPABLE_NV` `0x100`, or bits unknown to
    /// this crate). Such types are never chosen otherwise. Replaces the previous
    /// setting; `0` restores the default.
    pub fn allow_memory_properties(&mut self, raw_bits: u32) {
        self.allowed_exotic = raw_bits & crate::usage::EXOTIC_BITS;
        let infos: Vec<MemoryTypeInfo> = self.types.iter().map(|t| t.info).collect();
        self.usage = MemoryForUsage::new(&infos, self.allowed_exotic);
    }

    /// Allocates a memory block.
    ///
    /// # Errors
    ///
    /// See [`AllocationError`]; [`try_alloc`](Self::try_alloc) tells precisely why.
    ///
    /// # Safety
    ///
    /// - `device` is the device whose properties created this allocator, and the
    ///   same device is passed to every call of this allocator and its blocks.
    pub unsafe fn alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        self.alloc_fast(&request, ResourceKind::Unknown, |this| {
            // SAFETY: forwarded from the caller.
            unsafe { this.alloc_slow_compat(device, request) }
        })
    }

    /// [`alloc`](Self::alloc) past the fast path, with the error of gpu-alloc 0.6
    /// (a function of its own, so that the fast path's block goes straight to
    /// the caller).
    #[inline(never)]
    unsafe fn alloc_slow_compat(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_slow(device, request, AllocOptions::new()) }.map_err(Into::into)
    }

    /// Allocates a memory block, with a hint about dedicated memory objects.
    ///
    /// # Errors
    ///
    /// See [`AllocationError`]; [`try_alloc_with_dedicated`](Self::try_alloc_with_dedicated)
    /// tells precisely why.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn alloc_with_dedicated(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        dedicated: Dedicated,
    ) -> Result<MemoryBlock<M>, AllocationError> {
        let options = AllocOptions::new().dedicated(dedicated);
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_internal(device, request, options) }.map_err(Into::into)
    }

    /// Allocates a memory block, returning a precise error.
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`]: each variant says how to recover.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_internal(device, request, AllocOptions::new()) }
    }

    /// Allocates a memory block with a hint about dedicated memory objects,
    /// returning a precise error.
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`]: each variant says how to recover.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc_with_dedicated(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        dedicated: Dedicated,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let options = AllocOptions::new().dedicated(dedicated);
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_internal(device, request, options) }
    }

    /// Allocates a memory block with options (dedicated hint, resource kind for
    /// `bufferImageGranularity`), returning a precise error.
    ///
    /// # Errors
    ///
    /// See [`TryAllocError`]: each variant says how to recover.
    ///
    /// # Safety
    ///
    /// As for [`alloc`](Self::alloc).
    pub unsafe fn try_alloc_with_options(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_internal(device, request, options) }
    }

    /// Checks the parts of a request that do not depend on the memory type.
    fn check_request(&self, request: &Request) -> Result<(), TryAllocError> {
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
    fn serves(&self, ty: u8, request: &Request) -> bool {
        request.memory_types & (1 << ty) != 0
            && request.size <= self.types[usize::from(ty)].max_object
    }

    /// Why no memory type can serve a valid request: none is eligible, or the
    /// request is too large for every eligible one.
    fn no_type_error(&self, request: &Request) -> TryAllocError {
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

    #[inline(always)]
    unsafe fn alloc_internal(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let slow = |this: &mut Self| {
            // SAFETY: forwarded from the caller.
            unsafe { this.alloc_slow(device, request, options) }
        };
        if options.dedicated.is_some() {
            return slow(self);
        }
        self.alloc_fast(&request, options.resource, slow)
    }

    /// The common cases, with no device call, in the best memory type the mask
    /// allows: a small general block in a slab with a free slot, another general
    /// block in an existing memory object, or a transient block in the pool's
    /// most recent memory object. Everything else (any error too)
    /// goes to `slow` ([`alloc_slow`](Self::alloc_slow)), which decides as if
    /// this had not run: it places the block where this would have (the first
    /// ranked type the mask allows, the same rounding and slab class). (Both
    /// paths return from here, so that the block is built where the caller
    /// wants it.)
    #[inline(always)]
    fn alloc_fast<E>(
        &mut self,
        request: &Request,
        resource: ResourceKind,
        slow: impl FnOnce(&mut Self) -> Result<MemoryBlock<M>, E>,
    ) -> Result<MemoryBlock<M>, E> {
        match self.place_fast(request, resource) {
            Some((ty, class, size, strategy, place)) => {
                Ok(self.make_shared_block(u32::from(ty), size, strategy, class as u8, place))
            }
            None => slow(self),
        }
    }

    /// Places a block for [`alloc_fast`](Self::alloc_fast) and counts it:
    /// returns its memory type, pool class, size and slab placement.
    #[inline(always)]
    #[allow(clippy::type_complexity)]
    fn place_fast(
        &mut self,
        request: &Request,
        resource: ResourceKind,
    ) -> Option<(u8, usize, u64, Strategy, (u32, u64, u32, SlabPayload<M>))> {
        let align_mask = request.align_mask;
        if request.size == 0
            || !is_align_mask(align_mask)
            || request.usage.intersects(self.slow_usage)
        {
            return None;
        }
        // The best type, or the first the mask allows.
        let mut ty = self.usage.best(request.usage);
        if ty >= 32 || request.memory_types & (1 << ty) == 0 {
            ty = *self
                .usage
                .types(request.usage)
                .iter()
                .find(|&&ty| request.memory_types & (1 << ty) != 0)?;
        }
        let class = match resource {
            _ if self.buffer_image_granularity == 1 => 0,
            ResourceKind::Unknown => 0,
            ResourceKind::Linear => 1,
            ResourceKind::Optimal => 2,
        };
        let state = &mut self.types[usize::from(ty)];
        let fast = state.fast[class];
        let (size, strategy, place) = if request.usage.contains(UsageFlags::TRANSIENT) {
            let size = request.size.checked_add(fast.align_bits)? & !fast.align_bits;
            if size > fast.transient_limit {
                return None;
            }
            let pool = &mut state.transient[class];
            let place = pool.alloc_recent(size, align_mask | fast.align_bits)?;
            pool.add_block(size);
            (size, Strategy::Transient, place)
        } else {
            let size = request.size.checked_add(fast.size_mask)? & !fast.size_mask;
            if size > fast.limit {
                return None;
            }
            let align_mask = align_mask | fast.align_bits;
            if let Some((slab_class, _)) = slab::class_of(size, align_mask) {
                // A slab class: a slot of an open slab, else the full path makes a
                // slab.
                let place = state.slabs[class].alloc(slab_class, size)?;
                state.general[class].add_block(size);
                (size, Strategy::Slab, place)
            } else {
                // The general strategy in an existing memory object, else the full
                // path makes one.
                let pool = &mut state.general[class];
                let (slot, offset, handle) = pool.alloc(size, align_mask)?;
                pool.add_block(size);
                let chunk = pool.get_mut(slot);
                let place = (slot, offset, handle, (chunk.memory.share(), chunk.base));
                (size, Strategy::General, place)
            }
        };
        state.blocks += 1;
        state.block_bytes += size;
        self.live_blocks += 1;
        Some((ty, class, size, strategy, place))
    }

    /// Every request the fast path does not serve.
    #[inline(never)]
    unsafe fn alloc_slow(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
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
            let ty = u32::from(ty);
            let heap = self.types[ty as usize].info.heap;
            let mut released = false;
            loop {
                // SAFETY: forwarded from the caller.
                match unsafe { self.alloc_from_type(device, ty, &request, options) } {
                    // Counted in `live_blocks` and the type's counters already.
                    Ok(block) => return Ok(block),
                    // Under memory pressure, empty memory objects of the heap (or,
                    // at the object limit, of any heap) go back once, then retry.
                    Err(TryAllocError::OutOfDeviceMemory) => {
                        // SAFETY: forwarded from the caller.
                        if released || !unsafe { self.release_empty(device, Some(heap)) } {
                            break;
                        }
                        released = true;
                    }
                    Err(err @ TryAllocError::TooManyObjects) => {
                        // SAFETY: forwarded from the caller.
                        if released || !unsafe { self.release_empty(device, None) } {
                            return Err(err);
                        }
                        released = true;
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        if tried {
            Err(TryAllocError::OutOfDeviceMemory)
        } else {
            Err(self.no_type_error(&request))
        }
    }

    /// Allocates from memory type `ty`, choosing the strategy.
    #[inline(always)]
    unsafe fn alloc_from_type(
        &mut self,
        device: &impl MemoryDevice<M>,
        ty: u32,
        request: &Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let state = &self.types[ty as usize];
        let atom_mask = state.atom_mask;
        // Whole atoms, but never past the object limit (`serves` checked that
        // the request itself fits): a block that ends at the end of its object may
        // have a partial last atom.
        let size = align_up(request.size, atom_mask)
            .unwrap_or(u64::MAX)
            .min(state.max_object);
        let align_mask = request.align_mask | atom_mask;
        let config = &self.config;
        let transient = request.usage.contains(UsageFlags::TRANSIENT);
        let wants_dedicated = match options.dedicated {
            Some(Dedicated::Required) => true,
            Some(Dedicated::Preferred) if size >= config.preferred_dedicated_threshold => true,
            _ if transient => size >= config.transient_dedicated_threshold,
            _ => size >= config.dedicated_threshold,
        };
        if !wants_dedicated {
            // Granularity: kinds get pools of their own; unknown kinds get pages of
            // their own.
            let granularity_mask = self.buffer_image_granularity - 1;
            let class = match options.resource {
                _ if granularity_mask == 0 => 0,
                ResourceKind::Unknown => 0,
                ResourceKind::Linear => 1,
                ResourceKind::Optimal => 2,
            };
            let (size, align_mask) = if class == 0 && granularity_mask > 0 {
                let padded = align_up(size, granularity_mask);
                (padded.unwrap_or(u64::MAX), align_mask | granularity_mask)
            } else {
                (size, align_mask)
            };
            let (strategy, size) = if transient {
                (Strategy::Transient, size)
            } else {
                // Sizes in whole granules: most blocks then end where the next
                // aligned block may start, so the general strategy rarely splits off
                // slivers of alignment padding (at most 15 bytes more per block).
                let size = align_up(size, GRANULE - 1).unwrap_or(size);
                (Strategy::General, size)
            };
            // Requests too large for the strategy's memory objects get a dedicated one.
            if size <= self.strategy_cap(strategy)
                && size <= align_down(state.max_object, atom_mask)
            {
                let want = Want {
                    ty,
                    size,
                    align_mask,
                    strategy,
                    class,
                };
                // SAFETY: forwarded from the caller.
                return unsafe { self.alloc_shared(device, want) };
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.alloc_dedicated(device, ty, size) }
    }

    unsafe fn alloc_dedicated(
        &mut self,
        device: &impl MemoryDevice<M>,
        ty: u32,
        size: u64,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let state = &mut self.types[ty as usize];
        let heap = state.info.heap;
        // SAFETY: `size` is non-zero and at most `max_object`, checked by `serves`.
        let memory = unsafe { self.accounts.allocate(device, ty, heap, size) }?;
        self.accounts.heaps[heap as usize].dedicated += size;
        self.accounts.dedicated_objects += 1;
        state.add_dedicated(size, false);
        state.blocks += 1;
        state.block_bytes += size;
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
            },
        ))
    }

    /// Largest memory object `strategy` creates.
    #[inline(always)]
    fn strategy_cap(&self, strategy: Strategy) -> u64 {
        let config = &self.config;
        match strategy {
            Strategy::Transient => transient_cap(config),
            Strategy::General | Strategy::Slab => general_cap(config),
        }
    }

    /// Sub-allocates from a shared memory object of type `ty`, creating one if
    /// needed. `size` is at most the strategy's cap and `max_object` (rounded
    /// down to atoms).
    #[inline(always)]
    unsafe fn alloc_shared(
        &mut self,
        device: &impl MemoryDevice<M>,
        want: Want,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        let (ty, size, class) = (want.ty, want.size, want.class);
        if want.strategy == Strategy::General {
            if let Some((slab_class, slot)) = slab::class_of(size, want.align_mask) {
                let slabs = &mut self.types[ty as usize].slabs[usize::from(class)];
                if let Some((chunk, offset, handle, _)) = slabs.alloc(slab_class, size) {
                    let place = (chunk, offset, handle);
                    return Ok(self.shared_block(ty, size, Strategy::Slab, class, place));
                }
                // SAFETY: forwarded from the caller.
                let placed =
                    unsafe { self.place_in_new_slab(device, ty, size, slab_class, slot, class) };
                if let Some(place) = placed? {
                    return Ok(self.shared_block(ty, size, Strategy::Slab, class, place));
                }
            }
        }
        // SAFETY: forwarded from the caller.
        let place = unsafe { self.place(device, want) }?;
        Ok(self.shared_block(ty, size, want.strategy, class, place))
    }

    /// Counts a block of `size` bytes placed at `(chunk slot, offset, handle)` of
    /// a shared memory object of type `ty`, and makes it.
    #[inline(always)]
    fn shared_block(
        &mut self,
        ty: u32,
        size: u64,
        strategy: Strategy,
        class: u8,
        (slot, offset, handle): (u32, u64, u32),
    ) -> MemoryBlock<M> {
        self.live_blocks += 1;
        let state = &mut self.types[ty as usize];
        state.blocks += 1;
        state.block_bytes += size;
        let payload = match strategy {
            Strategy::General | Strategy::Slab => {
                let pool = &mut state.general[usize::from(class)];
                pool.add_block(size);
                let chunk = pool.get_mut(slot);
                (chunk.memory.share(), chunk.base)
            }
            Strategy::Transient => {
                let pool = &mut state.transient[usize::from(class)];
                pool.add_block(size);
                let chunk = pool.get_mut(slot);
                (chunk.memory.share(), chunk.base)
            }
        };
        self.make_shared_block(ty, size, strategy, class, (slot, offset, handle, payload))
    }

    /// The block of `size` bytes at `offset` of the shared memory object at
    /// `chunk` of a pool of memory type `ty`, with the sub-allocator's `handle`
    /// and the object's handle and mapping (counted already).
    #[inline(always)]
    fn make_shared_block(
        &self,
        ty: u32,
        size: u64,
        strategy: Strategy,
        class: u8,
        (chunk, offset, handle, (memory, base)): (u32, u64, u32, SlabPayload<M>),
    ) -> MemoryBlock<M> {
        let state = &self.types[ty as usize];
        MemoryBlock::new(
            self.id,
            ty,
            state.info.props(),
            offset,
            size,
            state.atom_mask,
            Flavor::Shared {
                memory,
                base,
                strategy,
                class,
                chunk,
                handle,
            },
        )
    }

    /// Places `size` bytes in a memory object of the strategy's pool, creating
    /// one if none has room. Returns `(chunk slot, offset, handle)`.
    #[inline(always)]
    unsafe fn place(
        &mut self,
        device: &impl MemoryDevice<M>,
        want: Want,
    ) -> Result<(u32, u64, u32), TryAllocError> {
        let state = &mut self.types[want.ty as usize];
        let class = usize::from(want.class);
        let found = match want.strategy {
            Strategy::General | Strategy::Slab => {
                state.general[class].alloc(want.size, want.align_mask)
            }
            Strategy::Transient => state.transient[class].alloc(want.size, want.align_mask),
        };
        if let Some(place) = found {
            return Ok(place);
        }
        // Empty slabs go back to the general strategy before the pool grows.
        if want.strategy != Strategy::Transient && state.slabs[class].has_empty() {
            let pool = &mut state.general[class];
            for range in state.slabs[class].take_empty() {
                // An object this empties stays: the retry below may use it.
                pool.free(range.chunk, range.offset, range.size, range.handle);
            }
            if let Some(place) = pool.alloc(want.size, want.align_mask) {
                return Ok(place);
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.place_in_new_object(device, want) }
    }

    /// Makes a slab of `slot`-byte slots for `slab_class` in the general pool
    /// and places `size` bytes in it. Returns `Ok(None)` when a slab does not suit
    /// (the pool's objects are too small for one, the slab table is full, or the
    /// heap has no room for a whole slab): the block then goes to the general
    /// strategy by itself.
    #[cold]
    #[inline(never)]
    unsafe fn place_in_new_slab(
        &mut self,
        device: &impl MemoryDevice<M>,
        ty: u32,
        size: u64,
        slab_class: usize,
        slot: u64,
        class: u8,
    ) -> Result<Option<(u32, u64, u32)>, TryAllocError> {
        let state = &self.types[ty as usize];
        // A slab takes at most an eighth of the largest object the pool makes.
        let room = self
            .strategy_cap(Strategy::General)
            .min(align_down(state.max_object, state.atom_mask))
            / 8;
        let existing = state.slabs[usize::from(class)].count(slab_class);
        let Some(slots) = slab::slots_for(slot, existing, room) else {
            return Ok(None);
        };
        let bytes = slot * u64::from(slots);
        let align_mask = slab::slab_align_mask(slot);
        let want = Want {
            ty,
            size: bytes,
            align_mask,
            strategy: Strategy::General,
            class,
        };
        // SAFETY: forwarded from the caller.
        let placed = unsafe { self.place(device, want) };
        let (chunk, offset, handle) = match placed {
            Ok(place) => place,
            Err(TryAllocError::OutOfDeviceMemory | TryAllocError::TooManyObjects) => {
                return Ok(None)
            }
            Err(err) => return Err(err),
        };
        let range = SlabRange {
            chunk,
            offset,
            size: bytes,
            handle,
        };
        let state = &mut self.types[ty as usize];
        let owner = state.general[usize::from(class)].get_mut(chunk);
        let payload = (owner.memory.share(), owner.base);
        let slabs = &mut state.slabs[usize::from(class)];
        if !slabs.add(slab_class, slot, slots, range, payload) {
            let pool = &mut state.general[usize::from(class)];
            // The range came from a memory object that holds it, so the object
            // is not empty and stays.
            pool.free(chunk, offset, bytes, handle);
            return Ok(None);
        }
        Ok(slabs
            .alloc(slab_class, size)
            .map(|(chunk, offset, handle, _)| (chunk, offset, handle)))
    }

    /// As [`place`](Self::place) when no memory object of the pool has room:
    /// makes a new one.
    #[cold]
    #[inline(never)]
    unsafe fn place_in_new_object(
        &mut self,
        device: &impl MemoryDevice<M>,
        want: Want,
    ) -> Result<(u32, u64, u32), TryAllocError> {
        let Want {
            ty,
            size,
            align_mask,
            strategy,
            class,
        } = want;
        let cap = self.strategy_cap(strategy);
        let state = &mut self.types[ty as usize];
        let props = state.info.props();
        let atom_mask = state.atom_mask;
        let heap_size = self.accounts.heaps[state.info.heap as usize].size;
        let max_object = state.max_object;
        let next_size = match strategy {
            Strategy::General | Strategy::Slab => state.general[usize::from(class)].next_size,
            Strategy::Transient => state.transient[usize::from(class)].next_size,
        };
        // A new memory object: the pool's next size, or room for several blocks
        // like this one if that is larger (an object that holds only a few large
        // blocks fragments, and would be made and freed again as they come and
        // go), capped by the strategy, an eighth of the heap and the object limit,
        // but never below the request.
        debug_assert!(size <= cap && size <= align_down(max_object, atom_mask));
        let limit = cap.min(pow2_floor((heap_size / 8).max(1))).min(max_object);
        let for_size = size.checked_next_power_of_two().unwrap_or(size);
        let wanted = next_size.max(for_size.saturating_mul(BLOCKS_PER_NEW_OBJECT));
        let mut chunk_size = wanted.min(limit).max(size);
        // `size` is atom-aligned and at most `max_object`, so this stays >= `size`.
        chunk_size = align_up(chunk_size, atom_mask)
            .unwrap_or(chunk_size)
            .min(align_down(max_object, atom_mask));
        let heap = state.info.heap;
        let host_visible = props.contains(MemoryPropertyFlags::HOST_VISIBLE);
        let mut memory = loop {
            // SAFETY: `chunk_size` is non-zero and at most `max_object`.
            match unsafe { self.accounts.allocate(device, ty, heap, chunk_size) } {
                Ok(memory) => break memory,
                // Under pressure, try smaller objects down to the request's size.
                Err(TryAllocError::OutOfDeviceMemory) if chunk_size / 2 >= size => {
                    chunk_size = align_up(chunk_size / 2, atom_mask).unwrap_or(chunk_size);
                }
                Err(err) => return Err(err),
            }
        };
        let base = if host_visible {
            // SAFETY: the object is new, host-visible and unmapped; the range is the
            // whole object.
            match unsafe { device.map_memory(&mut memory, 0, chunk_size) } {
                Ok(ptr) => Some(MappedPtr(ptr)),
                Err(err) => {
                    // SAFETY: the object is unused and unmapped.
                    unsafe { self.accounts.free(device, heap, chunk_size, memory, false) };
                    return Err(err.into());
                }
            }
        } else {
            None
        };
        let state = &mut self.types[ty as usize];
        macro_rules! grow {
            ($pool:expr, $sub:ty) => {{
                let pool = $pool;
                let mut sub = <$sub>::new(chunk_size);
                let (offset, handle) = sub
                    .alloc(size, align_mask)
                    .expect("a new memory object holds the request");
                let slot = pool.insert(Chunk {
                    memory: SharedMemory::new(memory),
                    base,
                    size: chunk_size,
                    sub,
                });
                pool.note_alloc(size);
                pool.next_size = pool.grown(cap);
                (slot, offset, handle)
            }};
        }
        Ok(match strategy {
            Strategy::General | Strategy::Slab => {
                grow!(&mut state.general[usize::from(class)], Tlsf)
            }
            Strategy::Transient => grow!(&mut state.transient[usize::from(class)], Linear),
        })
    }

    /// Frees empty shared memory objects of `heap` (every heap for `None`).
    /// Returns whether any was freed.
    unsafe fn release_empty(&mut self, device: &impl MemoryDevice<M>, heap: Option<u32>) -> bool {
        let mut freed = false;
        for state in &mut self.types {
            if heap.is_some_and(|h| h != state.info.heap) {
                continue;
            }
            let heap = state.info.heap;
            // Empty slabs first: they hold ranges of the general pools' objects.
            for (slabs, pool) in state.slabs.iter_mut().zip(&mut state.general) {
                for range in slabs.take_empty() {
                    pool.free(range.chunk, range.offset, range.size, range.handle);
                }
            }
            for pool in &mut state.general {
                for slot in pool.empty_slots() {
                    // SAFETY: forwarded from the caller.
                    freed |= unsafe { free_chunk(&mut self.accounts, device, pool, heap, slot) };
                }
            }
            for pool in &mut state.transient {
                for slot in pool.empty_slots() {
                    // SAFETY: forwarded from the caller.
                    freed |= unsafe { free_chunk(&mut self.accounts, device, pool, heap, slot) };
                }
            }
        }
        freed
    }

    /// Returns a block to the allocator.
    ///
    /// A block this allocator did not make is reported and dropped without any
    /// device call (its memory leaks); use [`try_dealloc`](Self::try_dealloc) to
    /// get it back instead.
    ///
    /// # Safety
    ///
    /// - `device` is the device this allocator is used with.
    /// - The device no longer uses the block's memory, and no pointer into a
    ///   mapping of it is used afterwards.
    pub unsafe fn dealloc(&mut self, device: &impl MemoryDevice<M>, block: MemoryBlock<M>) {
        // SAFETY: forwarded from the caller.
        if let Err(block) = unsafe { self.try_dealloc(device, block) } {
            report(format_args!(
                "GpuAllocator::dealloc was given a MemoryBlock from another allocator; it is \
                 dropped without freeing its memory"
            ));
            block.abandon();
        }
    }

    /// Returns a block to the allocator, or gives it back as `Err` if this allocator
    /// did not make it (nothing else happens then).
    ///
    /// An emptied shared memory object is kept for reuse unless the rest of its
    /// pool holds the pool's high-water mark (see the crate docs on retention);
    /// [`cleanup`](Self::cleanup) and memory pressure free the ones kept.
    ///
    /// # Errors
    ///
    /// The block itself, when another allocator made it.
    ///
    /// # Safety
    ///
    /// As for [`dealloc`](Self::dealloc).
    #[allow(clippy::result_large_err)]
    pub unsafe fn try_dealloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        mut block: MemoryBlock<M>,
    ) -> Result<(), MemoryBlock<M>> {
        if block.allocator != self.id {
            return Err(block);
        }
        // SAFETY: forwarded from the caller.
        unsafe { block.unmap(device) };
        let ty = block.memory_type;
        let (offset, size) = (block.offset, block.size);
        self.live_blocks -= 1;
        match block.into_flavor() {
            Flavor::Dedicated {
                memory,
                accounted,
                imported,
                ..
            } => {
                if accounted {
                    let state = &mut self.types[ty as usize];
                    state.blocks -= 1;
                    state.block_bytes -= size;
                    state.remove_dedicated(size, imported);
                    let heap = state.info.heap;
                    self.accounts.heaps[heap as usize].dedicated -= size;
                    self.accounts.dedicated_objects -= 1;
                    // SAFETY: the block owned the object, which `unmap` unmapped.
                    unsafe { self.accounts.free(device, heap, size, memory, false) };
                } else {
                    self.unaccounted_blocks -= 1;
                    // SAFETY: the block owned the object, which `unmap` unmapped.
                    unsafe { device.deallocate_memory(memory) };
                }
            }
            Flavor::Shared {
                strategy,
                class,
                chunk,
                handle,
                ..
            } => {
                let state = &mut self.types[ty as usize];
                state.blocks -= 1;
                state.block_bytes -= size;
                let heap = state.info.heap;
                macro_rules! release {
                    ($pool:expr) => {{
                        let pool = $pool;
                        if pool.free_block(chunk, offset, size, handle) {
                            // SAFETY: forwarded from the caller.
                            unsafe { free_chunk(&mut self.accounts, device, pool, heap, chunk) };
                        }
                    }};
                }
                match strategy {
                    Strategy::General => {
                        let pool = &mut state.general[usize::from(class)];
                        let slabs = &mut state.slabs[usize::from(class)];
                        let accounts = &mut self.accounts;
                        if pool.free_block(chunk, offset, size, handle) {
                            // SAFETY: forwarded from the caller.
                            unsafe { free_chunk(accounts, device, pool, heap, chunk) };
                        } else if slabs.empty_in(chunk) != 0 {
                            // SAFETY: forwarded from the caller.
                            unsafe {
                                release_lone_slabs(accounts, device, pool, slabs, heap, chunk)
                            };
                        }
                    }
                    Strategy::Transient => release!(&mut state.transient[usize::from(class)]),
                    Strategy::Slab => {
                        let slabs = &mut state.slabs[usize::from(class)];
                        let pool = &mut state.general[usize::from(class)];
                        let accounts = &mut self.accounts;
                        pool.remove_block(size);
                        if let SlabFree::Emptied { chunk } = slabs.free(handle, size) {
                            // SAFETY: forwarded from the caller.
                            unsafe {
                                release_lone_slabs(accounts, device, pool, slabs, heap, chunk)
                            };
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Wraps memory allocated outside the allocator in a block, so it can be
    /// handled like the others and freed with [`dealloc`](Self::dealloc). The memory
    /// counts in the heap usage and the object count.
    ///
    /// An invalid `memory_type` is reported, and the memory is then not accounted.
    ///
    /// # Safety
    ///
    /// - `memory` was allocated from the allocator's device, with `memory_type`,
    ///   and `props` are that type's properties.
    /// - The memory object spans exactly `offset..offset + size` as far as the
    ///   block is concerned; for non-coherent memory, `offset` is a multiple of
    ///   `non_coherent_atom_size`.
    /// - The memory is not owned by any other block, and is freed only through the
    ///   returned block.
    pub unsafe fn import_memory(
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
                state.blocks += 1;
                state.block_bytes += size;
                state.add_dedicated(size, true);
                let heap = &mut self.accounts.heaps[state.info.heap as usize];
                heap.used += size;
                heap.dedicated += size;
                self.accounts.objects += 1;
                self.accounts.dedicated_objects += 1;
                self.accounts.remaining = self.accounts.remaining.saturating_sub(1);
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
            },
        )
    }

    /// Frees every shared memory object that holds no block.
    ///
    /// # Safety
    ///
    /// `device` is the device this allocator is used with.
    pub unsafe fn cleanup(&mut self, device: &impl MemoryDevice<M>) {
        // SAFETY: forwarded from the caller.
        unsafe { self.release_empty(device, None) };
        for state in &mut self.types {
            state.general.iter_mut().for_each(Pool::reset_high_water);
            state.transient.iter_mut().for_each(Pool::reset_high_water);
        }
    }

    /// Largest size of one memory object (`max_memory_allocation_size`).
    pub fn max_allocation_size(&self) -> u64 {
        self.max_memory_allocation_size
    }

    /// How many more memory objects the allocator may create.
    pub fn remaining_allocations(&self) -> u32 {
        self.accounts.remaining
    }

    /// Sets how many more memory objects the allocator may create, for example
    /// when other code allocates memory objects from the same device.
    ///
    /// # Safety
    ///
    /// Together with the objects others hold, the allocator's objects must stay
    /// within the device's `maxMemoryAllocationCount`.
    pub unsafe fn set_remaining_allocations(&mut self, remaining: u32) {
        self.accounts.remaining = remaining;
    }

    /// Bytes of device memory this allocator holds in `heap` (0 for a heap that
    /// does not exist).
    pub fn heap_usage(&self, heap: u32) -> u64 {
        self.accounts.heaps.get(heap as usize).map_or(0, |h| h.used)
    }

    /// Most bytes this allocator will hold in `heap`: the heap size, or less after a
    /// budget reading (0 for a heap that does not exist).
    pub fn heap_budget(&self, heap: u32) -> u64 {
        self.accounts
            .heaps
            .get(heap as usize)
            .map_or(0, Heap::limit)
    }

    /// Sets the heaps' budgets from a reading of `VK_EXT_memory_budget` (one entry
    /// per heap, in order; extra entries are ignored). The allocator then keeps its
    /// own usage of each heap within `budget - (usage - its own usage)`.
    pub fn set_heap_budgets(&mut self, budgets: &[HeapBudget]) {
        for (heap, reading) in self.accounts.heaps.iter_mut().zip(budgets) {
            let others = reading.usage.saturating_sub(heap.used);
            heap.budget = Some(reading.budget.saturating_sub(others));
            heap.reading = Some(*reading);
        }
    }

    /// Reads the heap budgets from the device ([`MemoryDevice::memory_budget`]) and
    /// applies them with [`set_heap_budgets`](Self::set_heap_budgets). Returns
    /// whether the device could tell.
    pub fn update_budget(&mut self, device: &impl MemoryDevice<M>) -> bool {
        let mut budgets = alloc::vec![HeapBudget::default(); self.accounts.heaps.len()];
        let known = device.memory_budget(&mut budgets);
        if known {
            self.set_heap_budgets(&budgets);
        }
        known
    }

    /// `bufferImageGranularity` the allocator was created with (1 if unknown).
    pub fn buffer_image_granularity(&self) -> u64 {
        self.buffer_image_granularity
    }

    /// Number of blocks handed out and not yet returned.
    pub fn live_blocks(&self) -> u64 {
        self.live_blocks
    }

    /// Number of device memory objects the allocator holds (shared ones, and
    /// dedicated and imported blocks).
    pub fn memory_objects(&self) -> u32 {
        self.accounts.objects
    }

    /// Statistics per heap and memory type. Cheap: counters plus one pass over the
    /// memory objects, never over the blocks.
    pub fn stats(&self) -> AllocatorStats {
        let mut heaps: Vec<HeapStats> = self
            .accounts
            .heaps
            .iter()
            .enumerate()
            .map(|(index, heap)| HeapStats {
                heap: index as u32,
                size: heap.size,
                limit: heap.limit(),
                budget: heap.reading,
                memory_objects: 0,
                reserved: heap.used,
                used: 0,
                blocks: 0,
                free: 0,
                largest_free: 0,
                fragmentation: 0.0,
            })
            .collect();
        let memory_types: Vec<MemoryTypeStats> = self
            .types
            .iter()
            .enumerate()
            .map(|(index, state)| {
                let dedicated_objects: u32 = state.dedicated.values().sum();
                let dedicated_bytes: u64 = state
                    .dedicated
                    .iter()
                    .map(|(&(size, _), &count)| size * u64::from(count))
                    .sum();
                let mut stats = MemoryTypeStats {
                    memory_type: index as u32,
                    heap: state.info.heap,
                    props: state.info.props(),
                    memory_objects: dedicated_objects,
                    dedicated_objects,
                    reserved: dedicated_bytes,
                    used: state.block_bytes,
                    blocks: state.blocks,
                    free: 0,
                    largest_free: 0,
                    fragmentation: 0.0,
                };
                for (_, size, sub, _) in state.chunks() {
                    stats.memory_objects += 1;
                    stats.reserved += size;
                    stats.free += size - sub.used();
                    stats.largest_free = stats.largest_free.max(sub.largest_free());
                }
                // Free slots of slabs, and what rounding to slot sizes leaves.
                stats.free += state
                    .slabs
                    .iter()
                    .map(|s| s.bytes() - s.block_bytes())
                    .sum::<u64>();
                stats.fragmentation = fragmentation(stats.largest_free, stats.free);
                if let Some(heap) = heaps.get_mut(state.info.heap as usize) {
                    heap.memory_objects += stats.memory_objects;
                    heap.used += stats.used;
                    heap.blocks += stats.blocks;
                    heap.free += stats.free;
                    heap.largest_free = heap.largest_free.max(stats.largest_free);
                }
                stats
            })
            .collect();
        for heap in &mut heaps {
            heap.fragmentation = fragmentation(heap.largest_free, heap.free);
        }
        AllocatorStats {
            memory_objects: self.accounts.objects,
            reserved: heaps.iter().map(|h| h.reserved).sum(),
            used: heaps.iter().map(|h| h.used).sum(),
            blocks: self.live_blocks,
            remaining_allocations: self.accounts.remaining,
            heaps,
            memory_types,
        }
    }

    /// Every memory object with its used and free ranges, plus the statistics:
    /// what a memory map picture is drawn from. Walks every free range.
    pub fn memory_map(&self) -> MemoryMap {
        let mut objects = Vec::new();
        let mut dedicated = Vec::new();
        for (index, state) in self.types.iter().enumerate() {
            let (ty, heap) = (index as u32, state.info.heap);
            for (kind, resource, size, sub, _) in state.chunks_by_class() {
                let mut ranges = Vec::new();
                sub.for_each_range(&mut |offset, size, used| {
                    ranges.push(MapRange { offset, size, used })
                });
                objects.push(MemoryObjectMap {
                    memory_type: ty,
                    heap,
                    kind,
                    resource,
                    size,
                    ranges,
                });
            }
            for (&(size, imported), &count) in &state.dedicated {
                let kind = if imported {
                    ObjectKind::Imported
                } else {
                    ObjectKind::Dedicated
                };
                dedicated.extend((0..count).map(|_| (ty, heap, size, kind)));
            }
        }
        MemoryMap {
            stats: self.stats(),
            objects,
            dedicated,
        }
    }

    /// Walks every internal structure and panics if an invariant does not hold.
    /// For tests; available in debug builds and with the `check-invariants` feature.
    #[cfg(any(debug_assertions, feature = "check-invariants"))]
    pub fn check_invariants(&self) {
        let mut chunk_bytes = alloc::vec![0u64; self.accounts.heaps.len()];
        let mut chunks = 0u32;
        for state in &self.types {
            state.general.iter().for_each(Pool::check_invariants);
            state.transient.iter().for_each(Pool::check_invariants);
            for (slabs, pool) in state.slabs.iter().zip(&state.general) {
                slabs.check_invariants();
                for (slot, chunk) in pool.chunks.iter().enumerate() {
                    let empty = slabs.empty_in(slot as u32);
                    if let Some(chunk) = chunk {
                        assert!(
                            empty == 0 || chunk.sub.used() > empty || pool.needs(slot as u32),
                            "memory object {slot} held by empty slabs alone, and its \
                             pool does not need it"
                        );
                    } else {
                        assert_eq!(empty, 0, "empty slabs in a freed memory object");
                    }
                }
                for range in slabs.ranges() {
                    let chunk = pool.chunks[range.chunk as usize]
                        .as_ref()
                        .expect("a slab in a freed memory object");
                    assert!(
                        range.offset + range.size <= chunk.size,
                        "a slab past the end of its memory object"
                    );
                    // Inside one used range: then it overlaps no block of the
                    // general strategy, and `Slabs::check_invariants` checks that
                    // it overlaps no other slab.
                    let mut used = false;
                    chunk.sub.for_each_range(&mut |offset, size, in_use| {
                        used |= in_use
                            && offset <= range.offset
                            && range.offset + range.size <= offset + size;
                    });
                    assert!(
                        used,
                        "a slab not inside one used range of its memory object"
                    );
                }
            }
            if self.buffer_image_granularity == 1 {
                fn unused<M, S: SubAllocator>(pools: &[Pool<M, S>]) -> bool {
                    pools[1..].iter().all(|p| p.iter().next().is_none())
                }
                assert!(unused(&state.general), "kind pools used with granularity 1");
                assert!(
                    unused(&state.transient),
                    "kind pools used with granularity 1"
                );
            }
            for (_, size, _, mapped) in state.chunks() {
                chunk_bytes[state.info.heap as usize] += size;
                chunks += 1;
                assert!(
                    size <= state.max_object,
                    "memory object over the size limit"
                );
                assert_eq!(size & state.atom_mask, 0, "memory object not atom-aligned");
                assert_eq!(
                    mapped,
                    state
                        .info
                        .props()
                        .contains(MemoryPropertyFlags::HOST_VISIBLE),
                    "host-visible memory objects are mapped, others not"
                );
            }
        }
        let mut dedicated_bytes = alloc::vec![0u64; self.accounts.heaps.len()];
        let mut dedicated_objects = 0u32;
        let mut blocks = 0u64;
        for state in &self.types {
            for (&(size, _), &count) in &state.dedicated {
                dedicated_bytes[state.info.heap as usize] += size * u64::from(count);
                dedicated_objects += count;
            }
            // Slabs are used ranges of the general pools; their blocks are smaller.
            let slab_slack: u64 = state
                .slabs
                .iter()
                .map(|s| s.bytes() - s.block_bytes())
                .sum();
            let shared_used: u64 =
                state.chunks().map(|(_, _, sub, _)| sub.used()).sum::<u64>() - slab_slack;
            let dedicated_used: u64 = state
                .dedicated
                .iter()
                .map(|(&(size, _), &count)| size * u64::from(count))
                .sum();
            assert_eq!(
                state.block_bytes,
                shared_used + dedicated_used,
                "block bytes differ from the used bytes of the memory objects"
            );
            let dedicated_blocks: u64 = state.dedicated.values().map(|&n| u64::from(n)).sum();
            // Every used range of a memory object is a block, except slabs, which
            // hold their used slots.
            let shared_blocks: u64 = state
                .chunks()
                .map(|(_, _, sub, _)| sub.live_ranges())
                .sum::<u64>()
                + state.slabs.iter().map(Slabs::used_slots).sum::<u64>()
                - state
                    .slabs
                    .iter()
                    .map(|s| s.ranges().count() as u64)
                    .sum::<u64>();
            assert_eq!(
                state.blocks,
                dedicated_blocks + shared_blocks,
                "blocks per type differ from the blocks of its memory objects"
            );
            blocks += state.blocks;
        }
        // Every live block is counted by its memory type (shared, slab, dedicated
        // and accounted imported blocks), or is an import of a memory type that
        // does not exist.
        assert_eq!(
            blocks + self.unaccounted_blocks,
            self.live_blocks,
            "live blocks differ from the blocks per memory type ({blocks}) plus the \
             unaccounted imports ({})",
            self.unaccounted_blocks
        );
        assert_eq!(
            dedicated_objects, self.accounts.dedicated_objects,
            "dedicated objects per type differ from the total"
        );
        for (index, heap) in self.accounts.heaps.iter().enumerate() {
            assert_eq!(
                heap.dedicated, dedicated_bytes[index],
                "heap {index}: dedicated bytes per type differ from the heap's"
            );
            assert_eq!(
                heap.used,
                heap.dedicated + chunk_bytes[index],
                "heap {index}: usage differs from the sum of its memory objects"
            );
        }
        assert_eq!(
            self.accounts.objects,
            chunks + self.accounts.dedicated_objects,
            "object count differs from the memory objects held"
        );
    }
}

/// Gives the empty slabs of the memory object at `slot` back to its general
/// strategy if they are all it holds, unless its pool needs the object (the
/// rest of the pool holds less than the retention floor, so the object would be
/// kept even if empty), then frees it under the retention policy: empty slabs
/// never keep a memory object alive by themselves. (An object the pool needs
/// keeps its empty slabs, so a pool emptied and filled again, as on the
/// benchmark's VMA trace, does not make its slabs again. Only a new object of
/// the pool, which gives every empty slab back first, or a cleanup changes
/// what the pool needs.)
unsafe fn release_lone_slabs<M, P: Copy>(
    accounts: &mut Accounts,
    device: &impl MemoryDevice<M>,
    pool: &mut Pool<M, Tlsf>,
    slabs: &mut Slabs<P>,
    heap: u32,
    slot: u32,
) {
    if pool.get_mut(slot).sub.used() != slabs.empty_in(slot) || pool.needs(slot) {
        return;
    }
    let mut emptied = false;
    for range in slabs.take_empty_in(slot) {
        emptied = pool.free(range.chunk, range.offset, range.size, range.handle);
    }
    if emptied {
        // SAFETY: forwarded from the caller.
        unsafe { free_chunk(accounts, device, pool, heap, slot) };
    }
}

/// Frees the chunk at `slot` of `pool` if no block uses it. Returns whether it did.
unsafe fn free_chunk<M, S: SubAllocator>(
    accounts: &mut Accounts,
    device: &impl MemoryDevice<M>,
    pool: &mut Pool<M, S>,
    heap: u32,
    slot: u32,
) -> bool {
    match pool.take_if_unused(slot) {
        Some((memory, base, size)) => {
            // SAFETY: the chunk held no block, and it is mapped iff `base` is set.
            unsafe { accounts.free(device, heap, size, memory, base.is_some()) };
            true
        }
        None => false,
    }
}

impl<M> Drop for GpuAllocator<M> {
    fn drop(&mut self) {
        // Memory objects that hold slabs: a slab is one used range of its object
        // but holds as many blocks as used slots. Hand the objects over to the
        // blocks still out (see `Pool`'s `Drop`) with that count.
        for state in &mut self.types {
            for (slabs, pool) in state.slabs.iter().zip(&mut state.general) {
                if slabs.is_empty() {
                    continue;
                }
                let mut extra = alloc::vec![0i64; pool.chunks.len()];
                slabs.for_each_slab(|chunk, used| extra[chunk as usize] += used as i64 - 1);
                pool.orphan_all(&extra);
            }
        }
        if self.live_blocks > 0 {
            report(format_args!(
                "GpuAllocator dropped with {} live blocks: their memory is leaked",
                self.live_blocks
            ));
        }
        let held = self.accounts.objects - self.accounts.dedicated_objects;
        if held > 0 {
            report(format_args!(
                "GpuAllocator dropped holding {held} shared memory objects: call cleanup \
                 (after freeing every block) before dropping it"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    /// The allocator and its blocks move between threads and can be shared behind
    /// a lock: every field is plain data, or a `SharedMemory`, `MemoryRef` or
    /// `MappedPtr` whose `Send`/`Sync` impls say why they are sound (see the crate
    /// docs, "Threads").
    #[test]
    fn allocator_and_blocks_are_send_and_sync() {
        assert_send_sync::<GpuAllocator<u64>>();
        assert_send_sync::<MemoryBlock<u64>>();
    }
}
