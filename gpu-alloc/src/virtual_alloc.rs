//! The virtual allocator: the pools' sub-allocation strategies over a range of
//! plain integer offsets, with no device and no memory behind them.
//!
//! [`VirtualAllocator`] hands out [`VirtualBlock`]s, ranges of `0..size`, for
//! whatever the caller places in them: sub-ranges of a buffer it made itself,
//! descriptor heap slots, ranges of a file. It runs the very code the
//! [`GpuAllocator`](crate::GpuAllocator)'s pools run inside a memory object
//! (`crate::strategy`), so what is tested and measured for one holds for the
//! other.

#![forbid(unsafe_code)]

use {
    crate::strategy::{Linear, Ring, SubAllocator, Tlsf, KEEP_PADDING},
    core::{
        fmt,
        ops::Range,
        sync::atomic::{AtomicUsize, Ordering},
    },
};

/// The number the next allocator takes as its id (see [`VirtualAllocator`]'s
/// `id`). Starts at 1 so that no allocator has id 0.
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// A fresh allocator id.
fn next_id() -> usize {
    // Only uniqueness matters, not the order with other memory accesses.
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// How a [`VirtualAllocator`] places its blocks.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VirtualStrategy {
    /// Two-level segregated fit (TLSF), the strategy of the GPU allocator's
    /// general pools: blocks freed in any order, O(1) allocation and free, any
    /// power-of-two alignment without rounding the size, freed ranges merged
    /// with free neighbours.
    ///
    /// It is a *good* fit, not a best fit: a request of `size` bytes at `align`
    /// surely succeeds when some free range between live blocks is at least
    /// `size + align - 1` rounded up to a size class boundary (sizes under 32
    /// are classes of their own; above, each power of two is cut into 32 equal
    /// classes), plus [`VirtualAllocator::KEPT_PADDING`] bytes; it may still
    /// succeed in a smaller range.
    General,
    /// Bump allocation: each block right after the last one (at its
    /// alignment), O(1). Freeing the newest block moves the end back; other
    /// frees only count, and their space comes back when every block is
    /// freed. For data that goes all at once (see [`VirtualAllocator::reset`]).
    Linear,
    /// A ring: each block right after the newest one, or at offset 0 when it
    /// does not fit before the end and fits before the oldest live block.
    /// Freeing the oldest block moves the ring's tail (O(1)); a block freed out
    /// of order comes back when every older block is freed. For data freed in
    /// the order it was made, such as per-frame uploads.
    Ring,
}

/// The strategy's sub-allocator; one of the strategy files of the GPU
/// allocator's pools.
// Inline, not boxed: an allocator holds one, so the few hundred bytes the
// smaller strategies leave unused cost less than a pointer to follow on every
// allocation and free.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Inner {
    General(Tlsf),
    Linear(Linear),
    Ring(Ring),
}

/// Calls the same method on whichever sub-allocator `$inner` holds (a `match`,
/// so each call is static and can be inlined).
macro_rules! on_inner {
    ($inner:expr, $sub:ident => $call:expr) => {
        match $inner {
            Inner::General($sub) => $call,
            Inner::Linear($sub) => $call,
            Inner::Ring($sub) => $call,
        }
    };
}

impl Inner {
    fn new(strategy: VirtualStrategy, size: u64) -> Self {
        match strategy {
            VirtualStrategy::General => Inner::General(Tlsf::new(size)),
            VirtualStrategy::Linear => Inner::Linear(Linear::new(size)),
            VirtualStrategy::Ring => Inner::Ring(Ring::new(size)),
        }
    }
}

/// A range of a [`VirtualAllocator`]: `offset()..offset() + size()`.
///
/// Give it back with [`VirtualAllocator::free`]. It is neither `Clone` nor
/// `Copy`, so a block cannot be freed twice; dropping it without `free` leaks
/// its range (nothing is reported): the allocator keeps it used until
/// [`reset`](VirtualAllocator::reset).
#[derive(Debug, PartialEq, Eq, Hash)]
#[must_use = "a block dropped without VirtualAllocator::free keeps its range used"]
pub struct VirtualBlock {
    offset: u64,
    size: u64,
    /// The sub-allocator's handle of the range, for a free without search.
    handle: u32,
    /// The `id` of the allocator (and of its generation, see `reset`) that
    /// made the block.
    allocator: usize,
}

impl VirtualBlock {
    /// First offset of the block, a multiple of the alignment it was asked with.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Size of the block in bytes, exactly as asked (never 0).
    #[inline]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offsets of the block, `offset()..offset() + size()`.
    #[inline]
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.size
    }
}

/// `VirtualAllocator::new` was asked for an allocator of 0 bytes; ask for one
/// byte at least.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("a virtual allocator needs a size of at least one byte")]
pub struct ZeroCapacityError;

/// Why [`VirtualAllocator::alloc`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum VirtualAllocError {
    /// The size asked was 0. Ask for one byte at least.
    #[error("a virtual block of 0 bytes")]
    ZeroSize,

    /// The alignment is not a power of two (0 included). Pass 1 for none.
    #[error("alignment {align} is not a power of two")]
    InvalidAlignment {
        /// The alignment passed.
        align: u64,
    },

    /// No free range holds the block now. Free blocks (with the linear and
    /// ring strategies, the oldest ones: see [`VirtualStrategy`]), call
    /// [`reset`](VirtualAllocator::reset), or ask for fewer bytes or a lower
    /// alignment.
    #[error("no free range of {size} bytes at alignment {align}")]
    OutOfSpace {
        /// The size asked.
        size: u64,
        /// The alignment asked.
        align: u64,
    },
}

/// [`VirtualAllocator::free`] was given a block that another allocator made,
/// or that this one made before a [`reset`](VirtualAllocator::reset); nothing
/// changed. The block is inside: free it where it belongs, or drop it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("the virtual block at offset {} was not made by this allocator", .block.offset)]
pub struct ForeignBlockError {
    /// The block passed to `free`.
    pub block: VirtualBlock,
}

impl ForeignBlockError {
    /// The block passed to `free`.
    pub fn into_block(self) -> VirtualBlock {
        self.block
    }
}

/// A snapshot of a [`VirtualAllocator`] ([`VirtualAllocator::stats`]).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct VirtualStats {
    /// The allocator's strategy.
    pub strategy: VirtualStrategy,
    /// Size of the allocator's range, in bytes.
    pub size: u64,
    /// Bytes in live blocks (their sizes as asked).
    pub used: u64,
    /// Bytes in no live block: `size - used`. Not all of it can be allocated:
    /// it includes alignment padding and, with the linear and ring strategies,
    /// the space of blocks freed out of order.
    pub free: u64,
    /// Number of live blocks.
    pub blocks: u64,
    /// The largest block that [`VirtualAllocator::alloc`] would place now at
    /// alignment 1. Exact for the linear and ring strategies; for the general
    /// one, the largest free range it keeps (a request of at most that size
    /// may fall back on a bounded search and miss it: see
    /// [`VirtualStrategy::General`]).
    pub largest_free: u64,
    /// Number of free ranges that [`VirtualAllocator::for_each_range`] reports.
    pub free_ranges: u64,
}

/// A range of a [`VirtualAllocator`], as [`VirtualAllocator::for_each_range`]
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct VirtualRange {
    /// First offset of the range.
    pub offset: u64,
    /// Length of the range in bytes (never 0).
    pub size: u64,
    /// Whether the range is in use (see `for_each_range` for what a used range
    /// may hold besides live blocks).
    pub used: bool,
}

/// An allocator of ranges of `0..size`, with no memory behind them.
///
/// It places [`VirtualBlock`]s by one of three [`VirtualStrategy`]s, the code
/// the GPU allocator's pools run inside a memory object, works in `no_std`
/// (with `alloc`), and has no `unsafe` code. Sizes and offsets are `u64`;
/// alignments are any power of two (up to 2^63).
///
/// ```
/// use gpu_alloc::{VirtualAllocError, VirtualAllocator, VirtualStrategy};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut heap = VirtualAllocator::new(1 << 20, VirtualStrategy::General)?;
/// let a = heap.alloc(1000, 256)?;
/// let b = heap.alloc(4096, 4096)?;
/// assert_eq!(b.offset() % 4096, 0);
/// assert!(a.range().end <= b.offset() || b.range().end <= a.offset());
/// assert_eq!(heap.stats().used, 5096);
///
/// assert_eq!(heap.alloc(0, 1), Err(VirtualAllocError::ZeroSize));
/// assert!(matches!(heap.alloc(2 << 20, 1), Err(VirtualAllocError::OutOfSpace { .. })));
///
/// heap.free(a)?;
/// heap.free(b)?;
/// assert!(heap.is_empty());
/// heap.check_invariants();
/// # Ok(())
/// # }
/// ```
///
/// A block given to the wrong allocator comes back unchanged:
///
/// ```
/// use gpu_alloc::{VirtualAllocator, VirtualStrategy};
///
/// let mut one = VirtualAllocator::new(100, VirtualStrategy::Ring).unwrap();
/// let mut two = VirtualAllocator::new(100, VirtualStrategy::Ring).unwrap();
/// let block = one.alloc(10, 1).unwrap();
/// let err = two.free(block).unwrap_err();
/// one.free(err.into_block()).unwrap();
/// ```
#[derive(Debug)]
pub struct VirtualAllocator {
    /// Stamped on every block this allocator makes; unique among the
    /// allocators of the process (taken from a global counter, which could
    /// only repeat after `usize::MAX` allocators and resets) and replaced by
    /// [`reset`](Self::reset), so a block of another allocator, or of this
    /// one before a reset, is told apart: `free` trusts a block with this id
    /// to be live here, since a block cannot be copied.
    id: usize,
    /// Size of the range, never 0; the sub-allocator's capacity.
    size: u64,
    strategy: VirtualStrategy,
    inner: Inner,
}

impl VirtualAllocator {
    /// With [`VirtualStrategy::General`], alignment padding of up to this many
    /// bytes in front of a block stays with the block (saving a split and a
    /// merge) and is free again only when the block is.
    pub const KEPT_PADDING: u64 = KEEP_PADDING;

    /// An allocator of the offsets `0..size` that places blocks by `strategy`.
    pub fn new(size: u64, strategy: VirtualStrategy) -> Result<Self, ZeroCapacityError> {
        if size == 0 {
            return Err(ZeroCapacityError);
        }
        Ok(VirtualAllocator {
            id: next_id(),
            size,
            strategy,
            inner: Inner::new(strategy, size),
        })
    }

    /// Places a block of `size` bytes at an offset that is a multiple of
    /// `align` (a power of two), by the allocator's strategy, in O(1).
    #[inline]
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<VirtualBlock, VirtualAllocError> {
        let align_mask = check_request(size, align)?;
        let placed = on_inner!(&mut self.inner, sub => sub.alloc(size, align_mask));
        match placed {
            Some((offset, handle)) => Ok(VirtualBlock {
                offset,
                size,
                handle,
                allocator: self.id,
            }),
            None => Err(VirtualAllocError::OutOfSpace { size, align }),
        }
    }

    /// Whether [`alloc`](Self::alloc) would succeed now with these arguments
    /// (it decides exactly alike, and changes nothing).
    pub fn can_alloc(&self, size: u64, align: u64) -> bool {
        check_request(size, align)
            .is_ok_and(|align_mask| on_inner!(&self.inner, sub => sub.can_alloc(size, align_mask)))
    }

    /// Gives a block back, in O(1) (amortized with [`VirtualStrategy::Ring`]).
    /// A block this allocator did not make (or made before a
    /// [`reset`](Self::reset)) comes back in the error, and nothing changes.
    #[inline]
    pub fn free(&mut self, block: VirtualBlock) -> Result<(), ForeignBlockError> {
        if block.allocator != self.id {
            return Err(ForeignBlockError { block });
        }
        on_inner!(&mut self.inner, sub => sub.free(block.offset, block.size, block.handle));
        Ok(())
    }

    /// Forgets every block at once (a frame fence for the linear and ring
    /// strategies): the whole range is free again. Blocks made before are
    /// refused by [`free`](Self::free) from now on; drop them.
    pub fn reset(&mut self) {
        self.id = next_id();
        self.inner = Inner::new(self.strategy, self.size);
    }

    /// Size of the allocator's range, in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The allocator's strategy.
    pub fn strategy(&self) -> VirtualStrategy {
        self.strategy
    }

    /// Whether no block is live.
    pub fn is_empty(&self) -> bool {
        on_inner!(&self.inner, sub => sub.is_empty())
    }

    /// Bytes in live blocks, in O(1).
    pub fn used(&self) -> u64 {
        on_inner!(&self.inner, sub => sub.used())
    }

    /// Number of live blocks, in O(1).
    pub fn live_blocks(&self) -> u64 {
        on_inner!(&self.inner, sub => sub.live_ranges())
    }

    /// The numbers of [`VirtualStats`]. Counting free ranges walks every range
    /// of the general strategy (O(blocks)); the other numbers are O(1), or
    /// O(free ranges of the largest size class) for the largest free range.
    pub fn stats(&self) -> VirtualStats {
        let used = self.used();
        let mut free_ranges = 0;
        self.for_each_range(|range| free_ranges += u64::from(!range.used));
        VirtualStats {
            strategy: self.strategy,
            size: self.size,
            used,
            free: self.size - used,
            blocks: self.live_blocks(),
            largest_free: on_inner!(&self.inner, sub => sub.largest_free()),
            free_ranges,
        }
    }

    /// Calls `f` for consecutive ranges that cover `0..size` in offset order,
    /// each used or free.
    ///
    /// Free ranges hold no block. A used range holds live blocks, and may also
    /// hold what the strategy does not hand out yet: with the general strategy,
    /// alignment padding kept in front of a block ([`Self::KEPT_PADDING`]);
    /// with the linear strategy, everything from 0 to the end of the newest
    /// block; with the ring strategy, each stretch of blocks from its oldest to
    /// its newest, with the blocks freed out of order in it. Neighbouring live
    /// blocks may be merged into one used range. With the ring strategy, once
    /// blocks have wrapped to offset 0, the free range after the last block
    /// before the wrap is not handed out until the oldest blocks wrap too.
    pub fn for_each_range(&self, mut f: impl FnMut(VirtualRange)) {
        on_inner!(&self.inner, sub => sub.for_each_range(&mut |offset, size, used| {
            f(VirtualRange { offset, size, used })
        }));
    }

    /// Walks the allocator's structures and panics, with a message saying
    /// which, if an invariant does not hold (a bug of gpu-alloc: please
    /// report it). Present in every build; it takes O(blocks) time.
    ///
    /// Checked: the strategy's own invariants (for TLSF, that its ranges tile
    /// the range and its free lists and bitmaps agree; for the ring, that its
    /// blocks follow each other with one wrap at most; for linear, that the
    /// counts fit the bump offset), and that the ranges of
    /// [`for_each_range`](Self::for_each_range) tile `0..size` and hold the
    /// used bytes.
    pub fn check_invariants(&self) {
        on_inner!(&self.inner, sub => sub.check_invariants());
        let used = self.used();
        assert!(used <= self.size, "more bytes used than the allocator has");
        assert_eq!(
            used == 0,
            self.is_empty(),
            "used bytes and emptiness disagree"
        );
        assert_eq!(
            self.is_empty(),
            self.live_blocks() == 0,
            "live blocks and emptiness disagree"
        );
        let (mut next, mut in_used, mut last_used) = (0u64, 0u64, None);
        self.for_each_range(|range| {
            assert_eq!(range.offset, next, "ranges do not follow each other");
            assert!(range.size > 0, "an empty range");
            if !range.used {
                assert_ne!(last_used, Some(false), "two free ranges side by side");
            }
            next = range.offset + range.size;
            if range.used {
                in_used += range.size;
            }
            last_used = Some(range.used);
        });
        assert_eq!(next, self.size, "ranges do not end at the size");
        assert!(in_used >= used, "live bytes outside the used ranges");
    }
}

/// The `align_mask` of a valid request, or why it is not one.
#[inline]
fn check_request(size: u64, align: u64) -> Result<u64, VirtualAllocError> {
    if size == 0 {
        return Err(VirtualAllocError::ZeroSize);
    }
    if !align.is_power_of_two() {
        return Err(VirtualAllocError::InvalidAlignment { align });
    }
    Ok(align - 1)
}

impl fmt::Display for VirtualStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VirtualStrategy::General => "general",
            VirtualStrategy::Linear => "linear",
            VirtualStrategy::Ring => "ring",
        })
    }
}

#[cfg(test)]
mod tests;
