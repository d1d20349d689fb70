//! The shadow model of [`VirtualAllocator`]'s contract, for the property tests
//! (`tests/tests/virtual_alloc.rs`) and the fuzz target `virtual_ops` (`fuzz/`):
//! both make a [`Program`] (one from proptest, one from bytes) and hand it to
//! [`run`], which runs it on a [`VirtualShadow`].
//!
//! After every operation: `check_invariants`; every live block lies inside
//! `0..size`, at a multiple of its alignment, at its size as asked, and
//! overlaps no other live block (each new block is checked against them all);
//! `stats` has the model's used bytes, free bytes (`size - used`) and live
//! blocks, and `is_empty`, `used` and `live_blocks` agree.
//!
//! Every allocation: `can_alloc` says beforehand what `alloc` then does; size 0
//! fails with `ZeroSize`, an alignment that is not a power of two with
//! `InvalidAlignment`, before any placement; any other failure is `OutOfSpace`
//! with the request's numbers. Whether a valid request is served, by strategy:
//!
//! - linear: exactly as bump allocation decides, at exactly its offset (the
//!   model keeps the end offset; freeing the block that ends there moves it back
//!   to the block's offset, and freeing the last live block moves it to 0), and
//!   the largest free range is what lies after it;
//! - ring: exactly as the ring decides, at exactly its offset, from the model's
//!   list of ranges in allocation order (at the newest's end, or at 0 before
//!   the oldest live one when that does not fit before the end and nothing has
//!   wrapped yet; freed ranges leave the list only from its front), and the
//!   largest free range is exact: it is served, one byte more is not;
//! - general (TLSF): the good-fit guarantee of `VirtualStrategy::General`: a
//!   request must be served if some gap between live blocks (or the ends) is at
//!   least `size + align - 1`, rounded up to a size-class boundary, plus
//!   `VirtualAllocator::KEPT_PADDING`; a refusal is allowed only if no gap is.
//!   The largest free range it reports is no larger than the largest gap, and
//!   no smaller than any gap less the kept padding.
//!
//! Foreign blocks: a block of a second allocator, and a block of this one made
//! before a `reset`, are refused by `free` and come back unchanged (and the
//! second allocator's block is then freed by its owner). At the end, every
//! block is freed (oldest first), and the allocator is empty with its whole
//! range free in one range.

use {
    gpu_alloc::{VirtualAllocError, VirtualAllocator, VirtualBlock, VirtualStats, VirtualStrategy},
    std::collections::BTreeMap,
};

/// One operation of a program.
#[derive(Clone, Copy, Debug)]
pub enum VirtualOp {
    /// `alloc(size, align)`, with any numbers (zero, too large, not a power of two).
    Alloc {
        /// The size asked.
        size: u64,
        /// The alignment asked.
        align: u64,
    },
    /// Frees live block number `pick % live` in allocation order (0 is the
    /// oldest); nothing when no block is live.
    Free {
        /// Which live block.
        pick: usize,
    },
    /// `reset`: every live block becomes stale (kept to be offered to `free`).
    Reset,
    /// Offers a block of a second allocator to `free`, then frees it there.
    FreeForeign,
    /// Offers the oldest stale block (made before a `reset`) to `free`.
    FreeStale,
}

/// A program: the allocator to make and what to do with it.
#[derive(Clone, Debug)]
pub struct Program {
    /// Size of the allocator's range (0 checks that `new` refuses it).
    pub size: u64,
    /// Its strategy.
    pub strategy: VirtualStrategy,
    /// The operations, in order.
    pub ops: Vec<VirtualOp>,
}

/// Runs `program` on a [`VirtualShadow`], checking every step; returns the
/// number of operations run. Panics on the first broken rule.
pub fn run(program: &Program) -> u64 {
    let Some(mut shadow) = VirtualShadow::new(program.size, program.strategy) else {
        return 0;
    };
    for &op in &program.ops {
        shadow.step(op);
    }
    shadow.finish();
    program.ops.len() as u64
}

/// A live block and what it was asked with.
#[derive(Debug)]
struct Live {
    block: VirtualBlock,
    align: u64,
}

/// What the model keeps to predict the strategy's decisions.
#[derive(Debug)]
enum Rule {
    /// Only the good-fit guarantee (computed from the live blocks).
    General,
    /// The bump offset: every live block ends at or before it.
    Linear { end: u64 },
    /// `(offset, end, freed)` of the ranges not reclaimed, oldest first.
    Ring { ranges: Vec<(u64, u64, bool)> },
}

/// The allocator under test and its shadow: the live blocks in allocation
/// order, their ranges, and the strategy's rule.
#[derive(Debug)]
pub struct VirtualShadow {
    heap: VirtualAllocator,
    /// The source of foreign blocks.
    other: VirtualAllocator,
    size: u64,
    /// Live blocks, oldest first.
    live: Vec<Live>,
    /// `offset -> end` of every live block.
    ranges: BTreeMap<u64, u64>,
    /// Blocks made before a `reset` (at most a few are kept).
    stale: Vec<VirtualBlock>,
    rule: Rule,
}

/// Stale blocks kept after a reset (the rest are dropped: leaked by design).
const MAX_STALE: usize = 4;

impl VirtualShadow {
    /// An allocator of `size` bytes; `None` (after checking the error) for 0.
    pub fn new(size: u64, strategy: VirtualStrategy) -> Option<Self> {
        let heap = match VirtualAllocator::new(size, strategy) {
            Ok(heap) => heap,
            Err(err) => {
                assert_eq!(size, 0, "new({size}) failed: {err}");
                return None;
            }
        };
        assert_ne!(size, 0, "new(0) succeeded");
        let shadow = VirtualShadow {
            heap,
            other: VirtualAllocator::new(1, strategy).expect("one byte"),
            size,
            live: Vec::new(),
            ranges: BTreeMap::new(),
            stale: Vec::new(),
            rule: Self::fresh_rule(strategy),
        };
        shadow.check();
        Some(shadow)
    }

    fn fresh_rule(strategy: VirtualStrategy) -> Rule {
        match strategy {
            VirtualStrategy::Linear => Rule::Linear { end: 0 },
            VirtualStrategy::Ring => Rule::Ring { ranges: Vec::new() },
            _ => Rule::General,
        }
    }

    /// Number of live blocks.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Runs one operation and checks the state after it.
    pub fn step(&mut self, op: VirtualOp) {
        match op {
            VirtualOp::Alloc { size, align } => self.alloc(size, align),
            VirtualOp::Free { pick } => self.free(pick),
            VirtualOp::Reset => self.reset(),
            VirtualOp::FreeForeign => self.free_foreign(),
            VirtualOp::FreeStale => self.free_stale(),
        }
        self.check();
    }

    fn alloc(&mut self, size: u64, align: u64) {
        let can = self.heap.can_alloc(size, align);
        let result = self.heap.alloc(size, align);
        assert_eq!(
            can,
            result.is_ok(),
            "can_alloc({size}, {align}) disagrees with alloc"
        );
        if size == 0 {
            assert_eq!(result, Err(VirtualAllocError::ZeroSize));
            return;
        }
        if !align.is_power_of_two() {
            assert_eq!(result, Err(VirtualAllocError::InvalidAlignment { align }));
            return;
        }
        let predicted = self.predict(size, align);
        let block = match result {
            Ok(block) => block,
            Err(err) => {
                assert_eq!(err, VirtualAllocError::OutOfSpace { size, align });
                match predicted {
                    Prediction::Exactly(offset) => {
                        assert_eq!(offset, None, "alloc({size}, {align}) refused")
                    }
                    Prediction::Surely(sure) => assert!(
                        !sure,
                        "alloc({size}, {align}) refused beside a gap of the good-fit guarantee"
                    ),
                }
                return;
            }
        };
        let (offset, end) = (block.offset(), block.range().end);
        assert_eq!(block.size(), size, "block size");
        assert_eq!(
            offset % align,
            0,
            "block at {offset} not aligned to {align}"
        );
        assert!(
            end <= self.size && offset < end,
            "block {offset}..{end} out of bounds"
        );
        if let Prediction::Exactly(expected) = predicted {
            assert_eq!(
                Some(offset),
                expected,
                "alloc({size}, {align}) placed elsewhere"
            );
        }
        if let Some((&o, &e)) = self.ranges.range(..end).next_back() {
            assert!(e <= offset, "block {offset}..{end} overlaps {o}..{e}");
        }
        self.ranges.insert(offset, end);
        match &mut self.rule {
            Rule::General => {}
            Rule::Linear { end: bump } => *bump = end,
            Rule::Ring { ranges } => ranges.push((offset, end, false)),
        }
        self.live.push(Live { block, align });
    }

    fn free(&mut self, pick: usize) {
        if self.live.is_empty() {
            return;
        }
        let Live { block, .. } = self.live.remove(pick % self.live.len());
        let (offset, end) = (block.offset(), block.range().end);
        self.ranges.remove(&offset);
        let live_left = self.live.len();
        match &mut self.rule {
            Rule::General => {}
            Rule::Linear { end: bump } => {
                if live_left == 0 {
                    *bump = 0;
                } else if end == *bump {
                    *bump = offset;
                }
            }
            Rule::Ring { ranges } => {
                let entry = ranges
                    .iter_mut()
                    .find(|r| r.0 == offset && !r.2)
                    .expect("a live block is in the ring's list");
                entry.2 = true;
                let reclaimed = ranges.iter().take_while(|r| r.2).count();
                ranges.drain(..reclaimed);
            }
        }
        self.heap.free(block).expect("a block of this allocator");
    }

    fn reset(&mut self) {
        self.heap.reset();
        self.ranges.clear();
        self.rule = Self::fresh_rule(self.heap.strategy());
        for live in self.live.drain(..) {
            if self.stale.len() < MAX_STALE {
                self.stale.push(live.block);
            }
        }
    }

    fn free_foreign(&mut self) {
        let Ok(block) = self.other.alloc(1, 1) else {
            panic!("the second allocator has room for one byte");
        };
        let (offset, size) = (block.offset(), block.size());
        let err = self
            .heap
            .free(block)
            .expect_err("a foreign block was freed");
        let block = err.into_block();
        assert_eq!(
            (block.offset(), block.size()),
            (offset, size),
            "a changed block"
        );
        self.other.free(block).expect("its own block");
    }

    fn free_stale(&mut self) {
        if self.stale.is_empty() {
            return;
        }
        let block = self.stale.remove(0);
        let (offset, size) = (block.offset(), block.size());
        let err = self
            .heap
            .free(block)
            .expect_err("a block made before reset was freed");
        assert_eq!(
            (err.block.offset(), err.block.size()),
            (offset, size),
            "a changed block"
        );
    }

    /// What the strategy must do with a valid request.
    fn predict(&self, size: u64, align: u64) -> Prediction {
        match &self.rule {
            Rule::Linear { end } => {
                let offset = align_up(*end, align).filter(|&o| fits(o, size, self.size));
                Prediction::Exactly(offset)
            }
            Rule::Ring { ranges } => {
                Prediction::Exactly(ring_place(ranges, self.size, size, align))
            }
            Rule::General => {
                let sure = size
                    .checked_add(align - 1)
                    .and_then(class_boundary_at_least)
                    .and_then(|need| need.checked_add(VirtualAllocator::KEPT_PADDING))
                    .is_some_and(|need| self.gaps().any(|gap| gap >= need));
                Prediction::Surely(sure)
            }
        }
    }

    /// Lengths of the gaps between live blocks and the ends of the range.
    fn gaps(&self) -> impl Iterator<Item = u64> + '_ {
        let mut start = 0;
        self.ranges
            .iter()
            .map(|(&o, &e)| (o, e))
            .chain([(self.size, self.size)])
            .map(move |(o, e)| {
                let gap = o - start;
                start = e;
                gap
            })
    }

    /// The checks after every step (see the module docs).
    fn check(&self) {
        self.heap.check_invariants();
        let used: u64 = self.live.iter().map(|l| l.block.size()).sum();
        for live in &self.live {
            let range = live.block.range();
            assert!(range.end <= self.size, "a live block out of bounds");
            assert_eq!(range.start % live.align, 0, "a live block misaligned");
            assert_eq!(
                self.ranges.get(&range.start),
                Some(&range.end),
                "a block moved"
            );
        }
        assert_eq!(
            self.ranges.len(),
            self.live.len(),
            "two live blocks at one offset"
        );
        let stats: VirtualStats = self.heap.stats();
        assert_eq!(stats.size, self.size, "stats: size");
        assert_eq!(stats.used, used, "stats: used bytes");
        assert_eq!(stats.free, self.size - used, "stats: free bytes");
        assert_eq!(stats.blocks, self.live.len() as u64, "stats: live blocks");
        assert_eq!(stats.strategy, self.heap.strategy(), "stats: strategy");
        assert_eq!(self.heap.used(), used, "used");
        assert_eq!(
            self.heap.live_blocks(),
            self.live.len() as u64,
            "live_blocks"
        );
        assert_eq!(self.heap.is_empty(), self.live.is_empty(), "is_empty");
        let largest = stats.largest_free;
        match &self.rule {
            Rule::Linear { end } => assert_eq!(largest, self.size - end, "largest free range"),
            Rule::Ring { ranges } => {
                assert!(
                    largest == 0 || ring_place(ranges, self.size, largest, 1).is_some(),
                    "the largest free range ({largest}) is not served"
                );
                assert!(
                    largest == u64::MAX || ring_place(ranges, self.size, largest + 1, 1).is_none(),
                    "a range larger than the largest free range ({largest}) is served"
                );
            }
            Rule::General => {
                let widest = self.gaps().max().unwrap_or(0);
                assert!(
                    largest <= widest,
                    "largest free range {largest} over the widest gap"
                );
                assert!(
                    largest.saturating_add(VirtualAllocator::KEPT_PADDING) >= widest,
                    "largest free range {largest} well under the widest gap {widest}"
                );
            }
        }
    }

    /// Frees every live block, oldest first, and checks that the allocator is
    /// whole again.
    pub fn finish(mut self) {
        while !self.live.is_empty() {
            self.free(0);
            self.check();
        }
        let stats = self.heap.stats();
        assert!(self.heap.is_empty(), "blocks left after freeing all");
        assert_eq!(
            (stats.used, stats.largest_free, stats.free_ranges),
            (0, self.size, 1),
            "an empty allocator is not one free range"
        );
    }
}

/// What the model predicts for a valid request.
enum Prediction {
    /// Served at exactly this offset, or refused (`None`).
    Exactly(Option<u64>),
    /// Whether it surely must be served (else it may go either way).
    Surely(bool),
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

fn fits(offset: u64, size: u64, limit: u64) -> bool {
    offset.checked_add(size).is_some_and(|end| end <= limit)
}

/// Where the ring places `size` bytes at `align`, from its list of ranges
/// alone: after the newest; when nothing has wrapped (no range below the one
/// before it) and that does not fit before `capacity`, at 0 before the oldest.
fn ring_place(ranges: &[(u64, u64, bool)], capacity: u64, size: u64, align: u64) -> Option<u64> {
    let (Some(oldest), Some(newest)) = (ranges.first(), ranges.last()) else {
        return fits(0, size, capacity).then_some(0);
    };
    let after = align_up(newest.1, align);
    if ranges.windows(2).any(|pair| pair[1].0 < pair[0].0) {
        return after.filter(|&o| fits(o, size, oldest.0));
    }
    after
        .filter(|&o| fits(o, size, capacity))
        .or_else(|| fits(0, size, oldest.0).then_some(0))
}

/// The smallest size-class boundary at or above `n`: `n` itself under 32; above,
/// each power of two is cut into 32 equal steps (`VirtualStrategy::General`).
fn class_boundary_at_least(n: u64) -> Option<u64> {
    if n < 32 {
        return Some(n);
    }
    let step = 1u64 << (63 - n.leading_zeros() - 5);
    Some(n.checked_add(step - 1)? & !(step - 1))
}
