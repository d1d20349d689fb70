//! Sub-allocation strategies.
//!
//! Every strategy places ranges inside one memory object of a fixed size and works
//! on integer offsets only: it never touches memory, handles or pointers. They all
//! answer the crate-private [`SubAllocator`] trait, so a new strategy is a new file
//! here plus one line where the allocator picks strategies.

#![deny(unsafe_code)]

use core::fmt::Debug;

mod free_list;
mod linear;
mod tlsf;

pub(crate) use self::{free_list::FreeList, linear::Linear, tlsf::Tlsf};

/// The sub-allocators behind a small public face, for the benchmark crate to
/// compare strategies head to head. Not part of the API.
#[doc(hidden)]
pub mod bench_support {
    use super::{FreeList, Linear, SubAllocator, Tlsf};

    /// Which strategy an [`OffsetAllocator`] runs.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Kind {
        /// Two-level segregated fit, the general strategy.
        Tlsf,
        /// Best fit over sorted free ranges.
        BestFit,
        /// Bump allocation, the transient strategy.
        Linear,
    }

    /// One sub-allocator over `capacity` bytes.
    #[derive(Debug)]
    pub struct OffsetAllocator(Inner);

    #[derive(Debug)]
    enum Inner {
        Tlsf(alloc::boxed::Box<Tlsf>),
        BestFit(FreeList),
        Linear(Linear),
    }

    impl OffsetAllocator {
        /// A sub-allocator of `kind` over `capacity` bytes.
        pub fn new(kind: Kind, capacity: u64) -> Self {
            OffsetAllocator(match kind {
                Kind::Tlsf => Inner::Tlsf(alloc::boxed::Box::new(Tlsf::new(capacity))),
                Kind::BestFit => Inner::BestFit(FreeList::new(capacity)),
                Kind::Linear => Inner::Linear(Linear::new(capacity)),
            })
        }

        fn sub(&mut self) -> &mut dyn SubAllocator {
            match &mut self.0 {
                Inner::Tlsf(s) => &mut **s,
                Inner::BestFit(s) => s,
                Inner::Linear(s) => s,
            }
        }

        /// `(offset, handle)` of a new range, or `None`.
        pub fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)> {
            self.sub().alloc(size, align_mask)
        }

        /// Frees a range returned by [`alloc`](Self::alloc).
        pub fn free(&mut self, offset: u64, size: u64, handle: u32) {
            self.sub().free(offset, size, handle)
        }
    }
}

/// Places ranges inside one memory object of `capacity` bytes.
pub(crate) trait SubAllocator: Debug {
    /// Creates a sub-allocator for a memory object of `capacity` bytes.
    fn new(capacity: u64) -> Self
    where
        Self: Sized;

    /// Finds a free range of `size` bytes (non-zero) whose offset is a multiple of
    /// `align_mask + 1` (`align_mask` is `2^n - 1`), marks it used and returns its
    /// offset and a handle for [`free`](SubAllocator::free), or returns `None` when
    /// no such range is free.
    fn alloc(&mut self, size: u64, align_mask: u64) -> Option<(u64, u32)>;

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
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    fn check_invariants(&self);
}

#[cfg(test)]
mod tests;

/// Rounds `value` up to a multiple of `align_mask + 1`, or `None` on overflow.
pub(crate) fn align_up(value: u64, align_mask: u64) -> Option<u64> {
    Some(value.checked_add(align_mask)? & !align_mask)
}

/// Rounds `value` down to a multiple of `align_mask + 1`.
pub(crate) fn align_down(value: u64, align_mask: u64) -> u64 {
    value & !align_mask
}

/// Bits of the second level of size classes (see [`size_class`]).
pub(crate) const SL_BITS: u32 = 5;
/// Size classes per power of two.
pub(crate) const SL_COUNT: usize = 1 << SL_BITS;

/// The size class of `size` bytes (non-zero): sizes below `SL_COUNT` have a class
/// each; above, each power of two is split into `SL_COUNT` equal steps, and a size
/// belongs to the step it is in (rounded down). The index is `fl * SL_COUNT + sl`
/// with `(fl, sl)` as the TLSF strategy's lists use them; larger sizes have larger
/// or equal classes.
#[inline]
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
#[inline]
pub(crate) fn size_class_at_least(size: u64) -> Option<u32> {
    if size < SL_COUNT as u64 {
        return Some(size as u32);
    }
    let log = 63 - size.leading_zeros();
    let rounded = size.checked_add((1u64 << (log - SL_BITS)) - 1)?;
    Some(size_class(rounded))
}

/// Largest power of two not above `value` (`value > 0`).
pub(crate) fn pow2_floor(value: u64) -> u64 {
    1 << (63 - value.leading_zeros())
}

/// Whether `mask` has the form `2^n - 1`.
pub(crate) fn is_align_mask(mask: u64) -> bool {
    mask & mask.wrapping_add(1) == 0
}
