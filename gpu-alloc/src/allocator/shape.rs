//! What a request becomes in one memory type and pool class: its rounded size
//! and alignment, and whether a slab, the general strategy or the transient
//! strategy places it, or a dedicated memory object holds it.
//!
//! [`Rounding::shape`] decides this for both allocation paths: the short path
//! (`choose.rs`) places the shape in existing memory only, and hands anything
//! else to the full path, which asks the same function. The inputs of the
//! decision (masks and limits) are computed once per memory type and pool class
//! ([`Rounding::new`]), so the short path's decision is a few masks and one
//! comparison.

#![deny(unsafe_code)]

use crate::{align::align_down, config::Sizes, request::ResourceKind, slab};

/// General blocks are sized in multiples of this many bytes: most blocks then
/// end where the next aligned block may start, so the general strategy rarely
/// splits off slivers of alignment padding (at most 15 bytes more per block).
pub(crate) const GRANULE: u64 = 16;

/// Pool classes per memory type and strategy: blocks of unknown resource kind,
/// linear resources, optimal-tiling images (see [`pool_class`]).
pub(crate) const CLASSES: usize = 3;

/// The resource kind each pool class holds.
pub(crate) const CLASS_KINDS: [ResourceKind; CLASSES] = [
    ResourceKind::Unknown,
    ResourceKind::Linear,
    ResourceKind::Optimal,
];

/// Up to this `bufferImageGranularity`, every block goes to class 0 on pages
/// of its own: the padding costs less than the partly used objects of pools
/// of their own (the real-requirements traces on lavapipe's 64 in
/// `BENCHMARKS.md`: 1.13 against 1.15 device bytes per live byte).
const SHARED_PAGES_UP_TO: u64 = 256;

/// The pool class of a resource: with a `bufferImageGranularity` above
/// [`SHARED_PAGES_UP_TO`], linear and optimal resources get pools of their own,
/// so they never share a granularity page; blocks of unknown kind go to class
/// 0, each on pages of its own. With a smaller granularity every block goes to
/// class 0 (padded to pages, and with granularity 1 unpadded).
#[inline(always)]
pub(crate) fn pool_class(granularity: u64, resource: ResourceKind) -> usize {
    match resource {
        _ if granularity <= SHARED_PAGES_UP_TO => 0,
        ResourceKind::Unknown => 0,
        ResourceKind::Linear => 1,
        ResourceKind::Optimal => 2,
    }
}

/// A shared block to place: its size and alignment (rounded as its memory type
/// and pool class need) and how it is placed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub(crate) size: u64,
    pub(crate) align_mask: u64,
    pub(crate) placing: Placing,
}

/// Which part of a memory type's pools places a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Placing {
    /// A slot of slab class `class`, of `slot` bytes (see `crate::slab`).
    Slab { class: usize, slot: u64 },
    /// The general strategy (TLSF).
    General,
    /// The transient strategy (bump allocation).
    Transient,
}

/// How requests to one memory type and pool class are rounded, and which of
/// them shared memory objects take: computed once per type and class. Every
/// mask has the form `2^n - 1`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rounding {
    /// A general block's size is rounded up with this mask: whole non-coherent
    /// atoms, whole granularity pages (class 0 with a granularity above 1) and
    /// whole granules (rounding to several powers of two is rounding to the
    /// largest).
    size_mask: u64,
    /// Added to a request's alignment mask, and the rounding of a transient
    /// block's size: atoms, and granularity pages for class 0.
    align_bits: u64,
    /// A rounded general size up to this surely goes to shared memory: below
    /// the dedicated threshold, the strategy's largest object and the type's.
    limit: u64,
    /// The same for transient sizes.
    transient_limit: u64,
    /// Past `limit`, a rounded general size still goes to shared memory if it
    /// is at most this (half the largest shared object, at most the type's
    /// largest object) and the
    /// request's size is at most `request_max` (rounded to atoms, the request
    /// stays below the dedicated threshold).
    cap: u64,
    request_max: u64,
    /// `cap` and `request_max` for transient requests.
    transient_cap: u64,
    transient_request_max: u64,
}

impl Rounding {
    /// The rounding of pool class `class` of a memory type whose atoms are
    /// `atom_mask + 1` bytes, whose objects are at most `max_object` bytes and
    /// whose general pools make objects of at most `largest_shared` bytes.
    pub(crate) fn new(
        sizes: &Sizes,
        granularity: u64,
        atom_mask: u64,
        max_object: u64,
        largest_shared: u64,
        class: usize,
    ) -> Self {
        let granularity_mask = if class == 0 { granularity - 1 } else { 0 };
        let align_bits = atom_mask | granularity_mask;
        let largest = align_down(max_object, atom_mask);
        // Rounded to atoms, a request of at most this size stays below
        // `threshold` (none does for a threshold of 0 or 1).
        let below = |threshold: u64| align_down(threshold.saturating_sub(1), atom_mask);
        // A general block of more than half the largest shared object would
        // leave less than half an object to the others (and an object made
        // for it alone would go back and forth with it): it gets its own.
        let cap = (largest_shared / 2).max(1).min(largest);
        let transient_cap = sizes.transient_max.min(largest);
        Rounding {
            size_mask: align_bits | (GRANULE - 1),
            align_bits,
            limit: sizes.dedicated_threshold.saturating_sub(1).min(cap),
            transient_limit: sizes
                .transient_dedicated_threshold
                .saturating_sub(1)
                .min(transient_cap),
            cap,
            request_max: below(sizes.dedicated_threshold),
            transient_cap,
            transient_request_max: below(sizes.transient_dedicated_threshold),
        }
    }

    /// The largest rounded general size the shared pools take (half the
    /// largest shared object, at most the type's largest object).
    #[cfg(feature = "std")]
    pub(crate) fn cap(&self) -> u64 {
        self.cap
    }

    /// What every alignment in this class adds: atoms and granularity pages.
    pub(crate) fn align_bits(&self) -> u64 {
        self.align_bits
    }

    /// The size and alignment mask of a block of a user pool: a general
    /// block's size rounded as the general strategy's (`general`), a linear
    /// or ring block's as the transient strategy's; `None` when rounding
    /// overflows.
    pub(crate) fn pooled(&self, size: u64, align_mask: u64, general: bool) -> Option<(u64, u64)> {
        let mask = if general {
            self.size_mask
        } else {
            self.align_bits
        };
        let rounded = size.checked_add(mask)? & !mask;
        Some((rounded, align_mask | self.align_bits))
    }

    /// The shape of a request of `size` bytes (non-zero) aligned to
    /// `align_mask + 1`, or `None` when it needs a dedicated memory object: its
    /// size, rounded to atoms, reaches the dedicated threshold, or rounded as
    /// its pool needs it is more than half the largest memory object the
    /// general strategy makes (for transient requests: more than the largest
    /// object the transient strategy or the memory type makes).
    #[inline(always)]
    pub(crate) fn shape(&self, size: u64, align_mask: u64, transient: bool) -> Option<Shape> {
        let align_mask = align_mask | self.align_bits;
        if transient {
            let rounded = size.checked_add(self.align_bits)? & !self.align_bits;
            if rounded > self.transient_limit
                && (rounded > self.transient_cap || size > self.transient_request_max)
            {
                return None;
            }
            let placing = Placing::Transient;
            return Some(Shape {
                size: rounded,
                align_mask,
                placing,
            });
        }
        let rounded = size.checked_add(self.size_mask)? & !self.size_mask;
        if rounded > self.limit && (rounded > self.cap || size > self.request_max) {
            return None;
        }
        let placing = match slab::class_of(rounded, align_mask) {
            Some((class, slot)) => Placing::Slab { class, slot },
            None => Placing::General,
        };
        Some(Shape {
            size: rounded,
            align_mask,
            placing,
        })
    }
}
