//! What the allocator keeps per memory type: its pools of shared memory
//! objects by strategy and pool class, its slabs, how its requests are rounded,
//! and the counts of its blocks and dedicated objects.

#![deny(unsafe_code)]

use {
    super::shape::{Rounding, CLASSES, CLASS_KINDS},
    crate::{
        align::pow2_floor,
        config::Sizes,
        pool::Pool,
        request::ResourceKind,
        shared::ObjectRef,
        slab::Slabs,
        stats::ObjectKind,
        strategy::{Linear, SubAllocator, Tlsf},
    },
    alloc::collections::BTreeMap,
    gpu_alloc_types::{MemoryPropertyFlags, MemoryTypeInfo},
};

/// Per memory type state.
#[derive(Debug)]
pub(crate) struct TypeState<M> {
    pub(crate) info: MemoryTypeInfo,
    /// `non_coherent_atom_size - 1` for host-visible non-coherent types, else 0.
    pub(crate) atom_mask: u64,
    /// Largest object this type can have: `min(heap size, max_memory_allocation_size)`.
    pub(crate) max_object: u64,
    /// General pools by pool class (see `shape::pool_class`).
    pub(crate) general: [Pool<M, Tlsf>; CLASSES],
    /// Transient pools by pool class.
    pub(crate) transient: [Pool<M, Linear>; CLASSES],
    /// Slabs of small general blocks by pool class; every slab is a used range
    /// of the general pool of its class, and carries its memory object's
    /// handle and mapping.
    pub(crate) slabs: [Slabs<ObjectRef<M>>; CLASSES],
    /// How requests are rounded, by pool class.
    pub(crate) rounding: [Rounding; CLASSES],
    /// Live blocks of this type.
    pub(crate) blocks: u64,
    /// Bytes of live blocks of this type.
    pub(crate) block_bytes: u64,
    /// Dedicated and imported memory objects of this type, as
    /// `(size, imported) -> count`; their sizes add up to the heap's share of
    /// `Heap::dedicated` from this type.
    pub(crate) dedicated: BTreeMap<(u64, bool), u32>,
}

/// What the device allows a memory type, before its own properties are known.
pub(crate) struct TypeLimits {
    /// `non_coherent_atom_size - 1` (rounded up to a power of two).
    pub(crate) atom_mask: u64,
    /// `min(heap size, max_memory_allocation_size)`.
    pub(crate) max_object: u64,
    /// Size of the type's heap.
    pub(crate) heap_size: u64,
    /// `bufferImageGranularity` (at least 1).
    pub(crate) granularity: u64,
}

/// One shared memory object as the statistics see it.
pub(crate) struct ChunkView<'a> {
    pub(crate) kind: ObjectKind,
    /// The resource kind its pool class holds.
    pub(crate) resource: ResourceKind,
    pub(crate) size: u64,
    pub(crate) sub: &'a dyn SubAllocator,
    /// [`SharedMemory::key`](crate::shared::SharedMemory::key) of the object.
    pub(crate) key: usize,
    /// Whether the object is mapped (for the invariant checks).
    #[cfg_attr(
        not(any(debug_assertions, feature = "check-invariants")),
        allow(dead_code)
    )]
    pub(crate) mapped: bool,
    /// The user pool's slot, for an object of a user pool.
    pub(crate) pool: Option<u32>,
}

impl<M> TypeState<M> {
    /// The state of a memory type with no memory object yet.
    pub(crate) fn new(info: MemoryTypeInfo, sizes: &Sizes, limits: TypeLimits) -> Self {
        let props = info.props();
        let non_coherent = props.contains(MemoryPropertyFlags::HOST_VISIBLE)
            && !props.contains(MemoryPropertyFlags::HOST_COHERENT);
        // Only host-visible non-coherent memory has atoms to respect.
        let atom_mask = if non_coherent { limits.atom_mask } else { 0 };
        let (granularity, max_object) = (limits.granularity, limits.max_object);
        let largest_shared = largest_shared_object(sizes.general_max, limits.heap_size, max_object);
        TypeState {
            info,
            atom_mask,
            max_object,
            general: core::array::from_fn(|_| Pool::new(sizes.general_start)),
            transient: core::array::from_fn(|_| Pool::new(sizes.transient_start)),
            slabs: core::array::from_fn(|_| Slabs::new()),
            rounding: core::array::from_fn(|class| {
                Rounding::new(
                    sizes,
                    granularity,
                    atom_mask,
                    max_object,
                    largest_shared,
                    class,
                )
            }),
            blocks: 0,
            block_bytes: 0,
            dedicated: BTreeMap::new(),
        }
    }

    /// The pool of strategy `S` and pool class `class`.
    #[inline(always)]
    pub(crate) fn pool<S: PoolStrategy>(&mut self, class: u8) -> &mut Pool<M, S> {
        &mut S::pools(self)[usize::from(class)]
    }

    /// Counts a live block of `size` bytes.
    #[inline(always)]
    pub(crate) fn add_block(&mut self, size: u64) {
        self.blocks += 1;
        self.block_bytes += size;
    }

    /// Forgets a block counted by [`add_block`](Self::add_block).
    #[inline(always)]
    pub(crate) fn remove_block(&mut self, size: u64) {
        self.blocks -= 1;
        self.block_bytes -= size;
    }

    /// Every shared memory object of the type.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = ChunkView<'_>> {
        fn views<M, S: SubAllocator>(
            pools: &[Pool<M, S>; CLASSES],
            kind: ObjectKind,
        ) -> impl Iterator<Item = ChunkView<'_>> {
            pools
                .iter()
                .zip(CLASS_KINDS)
                .flat_map(move |(pool, resource)| {
                    pool.iter().map(move |chunk| ChunkView {
                        kind,
                        resource,
                        size: chunk.size,
                        sub: &chunk.sub,
                        key: chunk.memory.key(),
                        mapped: chunk.base.is_some(),
                        pool: None,
                    })
                })
        }
        views(&self.general, ObjectKind::General)
            .chain(views(&self.transient, ObjectKind::Transient))
    }

    pub(crate) fn add_dedicated(&mut self, size: u64, imported: bool) {
        *self.dedicated.entry((size, imported)).or_insert(0) += 1;
    }

    pub(crate) fn remove_dedicated(&mut self, size: u64, imported: bool) {
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

/// A sub-allocation strategy that has pools of its own in every memory type:
/// [`Tlsf`] the general pools, [`Linear`] the transient ones.
pub(crate) trait PoolStrategy: SubAllocator + Sized {
    /// Whether the strategy's pools hold slabs (see `slabs.rs`).
    const HOLDS_SLABS: bool;

    /// The largest memory object the strategy's pools make.
    fn largest(sizes: &Sizes) -> u64;

    /// The strategy's pools of `state`, by pool class.
    fn pools<M>(state: &mut TypeState<M>) -> &mut [Pool<M, Self>; CLASSES];
}

impl PoolStrategy for Tlsf {
    const HOLDS_SLABS: bool = true;

    fn largest(sizes: &Sizes) -> u64 {
        sizes.general_max
    }

    #[inline(always)]
    fn pools<M>(state: &mut TypeState<M>) -> &mut [Pool<M, Self>; CLASSES] {
        &mut state.general
    }
}

impl PoolStrategy for Linear {
    const HOLDS_SLABS: bool = false;

    fn largest(sizes: &Sizes) -> u64 {
        sizes.transient_max
    }

    #[inline(always)]
    fn pools<M>(state: &mut TypeState<M>) -> &mut [Pool<M, Self>; CLASSES] {
        &mut state.transient
    }
}

/// The largest shared memory object a general pool makes for blocks that fit
/// it (`Sizes::general_max`), in a heap of `heap_size` bytes whose objects are
/// at most `max_object` bytes: at most an eighth of the heap (a power of two),
/// so that one pool never holds a large share of a small heap in a few
/// partly used objects.
pub(crate) fn largest_shared_object(general_max: u64, heap_size: u64, max_object: u64) -> u64 {
    general_max
        .min(pow2_floor((heap_size / 8).max(1)))
        .min(max_object)
        .max(1)
}
