//! Sub-allocation strategies.
//!
//! Every strategy places ranges inside one memory object of a fixed size and works
//! on integer offsets only: it never touches memory, handles or pointers. They all
//! answer the crate-private [`SubAllocator`] trait, so a new strategy is a new file
//! here plus one line where the allocator picks strategies.

#![deny(unsafe_code)]

use core::fmt::Debug;

/// How a shared block was placed: which pool of its memory type holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Strategy {
    /// A range of a general pool's memory object, placed by [`Tlsf`].
    General,
    /// A range of a transient pool's memory object, placed by [`Linear`].
    Transient,
    /// A slot of a slab (`crate::slab`), itself a range of a general pool's
    /// memory object.
    Slab,
    /// A range of a lease: a general block that a [`SharedGpuAllocator`]'s
    /// thread arena holds and places blocks in (`crate::concurrent`). Its
    /// memory object counts the lease, not this block, as live.
    ///
    /// [`SharedGpuAllocator`]: crate::SharedGpuAllocator
    #[cfg_attr(not(feature = "std"), allow(dead_code))]
    Leased,
    /// A range of a memory object of a user pool (`allocator/pools.rs`),
    /// placed by the pool's algorithm.
    Pool,
}

mod linear;
mod ring;
mod tlsf;

pub(crate) use self::{
    linear::Linear,
    ring::Ring,
    tlsf::{Tlsf, KEEP_PADDING},
};

/// Places ranges inside one memory object of `capacity` bytes.
pub(crate) trait SubAllocator: Debug {
    /// The shortest retention epoch of the strategy's pools, in blocks freed
    /// (see `Pool::retained_floor`): how long a pool remembers how much it
    /// held.
    fn min_epoch() -> u64
    where
        Self: Sized;

    /// Whether the strategy's pools choose among their memory objects by the
    /// size of each one's largest free range (`crate::pool::ByLargest`), or
    /// fill the newest that has room first (a strategy whose largest range
    /// changes with every block, as bump allocation's does, would pay for
    /// an index update on every block).
    fn best_fit_objects() -> bool
    where
        Self: Sized;

    /// Creates a sub-allocator for a memory object of `capacity` bytes.
    fn new(capacity: u64) -> Self
    where
        Self: Sized;

    /// Finds a free range of `size` bytes (non-zero) whose offset is a multiple of
    /// `align_mask + 1` (`align_mask` is `2^n - 1`), marks it used and returns its
    /// offset and a handle for [`free`](SubAllocator::free), or returns `None` when
    /// no such range is free.
    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)>;

    /// Like [`alloc`](SubAllocator::alloc), but in the free range of lowest
    /// offset that holds the block, and only at an offset below `below`:
    /// defragmentation's compaction, which moves a block down in its own
    /// object. Strategies that place in order (linear, ring) find nothing.
    fn alloc_lowest(&mut self, size: u64, align_mask: u64, below: u64) -> Option<(u64, u32)> {
        let _ = (size, align_mask, below);
        None
    }

    /// Whether [`alloc`](SubAllocator::alloc) would find a range now (it
    /// decides exactly alike, without marking anything).
    fn can_alloc(&self, size: u64, align_mask: u64) -> bool;

    /// Marks the range at `offset` of `size` bytes free again. The triple must be
    /// one that [`alloc`](SubAllocator::alloc) returned (with the `size` passed to
    /// it) and that was not freed since.
    fn free(&mut self, offset: u64, size: u64, handle: u32);

    /// Whether no range is in use.
    fn is_empty(&self) -> bool;

    /// Bytes in live ranges.
    fn used(&self) -> u64;

    /// Number of live ranges.
    fn live_ranges(&self) -> u64;

    /// Size of the largest range that could be allocated with alignment 1.
    fn largest_free(&self) -> u64;

    /// The size class ([`size_class`]) of the largest free range plus one, or 0
    /// when nothing is free, for choosing objects without touching them: a
    /// request of `size` bytes may fit only if the summary exceeds
    /// `size_class(size)`, and surely fits (any alignment) if it exceeds
    /// [`size_class_at_least`]`(size + align_mask)`.
    fn free_summary(&self) -> u32 {
        match self.largest_free() {
            0 => 0,
            n => size_class(n) + 1,
        }
    }

    /// Calls `f(offset, size, used)` for consecutive ranges covering the whole
    /// capacity in offset order. Used ranges may merge adjacent live blocks.
    fn for_each_range(&self, f: &mut dyn FnMut(u64, u64, bool));

    /// Walks every internal structure and panics if an invariant does not hold.
    ///
    /// In every build, for [`VirtualAllocator::check_invariants`]; the GPU
    /// allocator calls it only from its own `check_invariants` (debug builds
    /// and the `check-invariants` feature), so its release builds never run
    /// or link it.
    ///
    /// [`VirtualAllocator::check_invariants`]: crate::VirtualAllocator::check_invariants
    fn check_invariants(&self);
}

#[cfg(test)]
mod tests;

/// Bits of the second level of size classes (see [`size_class`]).
pub(crate) const SL_BITS: u32 = 5;
/// Size classes per power of two.
pub(crate) const SL_COUNT: usize = 1 << SL_BITS;

/// The size class of `size` bytes (non-zero): sizes below `SL_COUNT` have a class
/// each; above, each power of two is split into `SL_COUNT` equal steps, and a size
/// belongs to the step it is in (rounded down). The index is `fl * SL_COUNT + sl`
/// with `(fl, sl)` as the TLSF strategy's lists use them; larger sizes have larger
/// or equal classes.
#[inline(always)]
pub(crate) fn size_class(size: u64) -> u32 {
    if size < SL_COUNT as u64 {
        size as u32
    } else {
        let log = 63 - size.leading_zeros();
        let sl = (size >> (log - SL_BITS)) as u32 - SL_COUNT as u32;
        (log - SL_BITS + 1) * SL_COUNT as u32 + sl
    }
}

/// The smallest size class whose every size is at least `size`, or `None` past
/// the largest class.
#[inline(always)]
pub(crate) fn size_class_at_least(size: u64) -> Option<u32> {
    if size < SL_COUNT as u64 {
        return Some(size as u32);
    }
    let log = 63 - size.leading_zeros();
    let rounded = size.checked_add((1u64 << (log - SL_BITS)) - 1)?;
    Some(size_class(rounded))
}
