//! A thread arena: the leases one thread's blocks are placed in, by memory type
//! and pool class, each lease a general block of the allocator behind the
//! [`SharedGpuAllocator`](crate::SharedGpuAllocator) with a TLSF over its range.
//!
//! An arena sits behind a lock of its own that its thread takes on every
//! allocation and free; other threads take it only to free a block placed here,
//! and the pressure flush takes it to collect empty leases. It never takes
//! another arena's lock, and it may take the central lock while it holds its
//! own (never the other way round).

#![deny(unsafe_code)]

use {
    crate::{
        allocator::CLASSES,
        block::{Flavor, MemoryBlock},
        pool::by_largest::ByLargest,
        shared::ObjectRef,
        stats::MapRange,
        strategy::{size_class, size_class_at_least, SubAllocator, Tlsf},
    },
    alloc::vec::Vec,
};

/// Every lease's offset in its memory object is a multiple of this, so a block
/// aligned inside the lease to at most this is aligned in the object.
pub(super) const LEASE_ALIGN: u64 = 64 * 1024;

/// The lease size of blocks up to half of it: a thread that allocates a few
/// small blocks holds no more.
pub(super) const LEASE_MIN: u64 = 256 * 1024;

/// Leases of one bucket of the best-fit index looked at for the lowest slot:
/// leases are all of one size, so many of them may share a bucket, and the
/// allocation stays O(1).
const BUCKET_WALK: usize = 8;

/// A list keeps its empty leases while they add up to at most an eighth of the
/// bytes its blocks use (one at least), so that a thread whose use swings does
/// not lease and give back on every swing; as its use falls, each free gives
/// back one empty lease past that.
const KEEP_EMPTY_DIV: u64 = 8;

/// The largest lease, whatever the memory objects' size (for blocks over
/// 128 KiB, up to the arenas' 1 MiB, a lease holds two of them at least).
pub(super) const LEASE_MAX: u64 = 16 * 1024 * 1024;

/// A range of a memory object that an arena places blocks in.
#[derive(Debug)]
struct Lease<M> {
    /// The general block of the allocator behind that holds the range.
    block: MemoryBlock<M>,
    /// Places blocks at offsets relative to `block.offset`.
    tlsf: Tlsf,
    /// The memory object and mapping of `block`, which its blocks share.
    object: ObjectRef<M>,
}

/// The leases of one memory type and pool class.
#[derive(Debug)]
struct LeaseList<M> {
    /// Lease slots; a block names its lease by slot.
    leases: Vec<Option<Lease<M>>>,
    /// Vacant slots, reused first.
    vacant: Vec<u16>,
    /// Each slot's lease's free summary (`SubAllocator::free_summary`; 0 for
    /// a vacant slot), and the slots bucketed by it.
    summaries: Vec<u32>,
    by_largest: ByLargest,
    /// Bytes held in leases.
    held: u64,
    /// Bytes and count of the live blocks placed in the leases.
    used: u64,
    blocks: u64,
    /// Leases that hold no block (see `KEEP_EMPTY_DIV` for how many stay).
    empty: u32,
    /// Bytes of the leases that hold no block.
    empty_bytes: u64,
}

impl<M> Default for LeaseList<M> {
    fn default() -> Self {
        LeaseList {
            leases: Vec::new(),
            vacant: Vec::new(),
            summaries: Vec::new(),
            by_largest: ByLargest::default(),
            held: 0,
            used: 0,
            blocks: 0,
            empty: 0,
            empty_bytes: 0,
        }
    }
}

impl<M> LeaseList<M> {
    /// Records the free summary of the lease in `slot` (0: none).
    #[inline(always)]
    fn set_summary(&mut self, slot: usize, summary: u32) {
        let old = core::mem::replace(&mut self.summaries[slot], summary);
        self.by_largest.update(slot as u32, old, summary);
    }
}

/// Where a block placed by an arena sits: what its flavor records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct LeasedAt {
    /// `ty * CLASSES + class`.
    pub(super) list: usize,
    pub(super) slot: u16,
    pub(super) handle: u32,
}

impl LeasedAt {
    /// The flavor's `chunk` field: the list and the slot.
    pub(super) fn chunk(self) -> u32 {
        (self.list as u32) << 16 | u32::from(self.slot)
    }

    pub(super) fn from_chunk(chunk: u32, handle: u32) -> Self {
        LeasedAt {
            list: (chunk >> 16) as usize,
            slot: chunk as u16,
            handle,
        }
    }
}

/// What one arena holds of one memory type, for statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Holding {
    pub(super) leases: u64,
    pub(super) held: u64,
    pub(super) used: u64,
    pub(super) blocks: u64,
}

/// One thread's leases, by memory type and pool class.
#[derive(Debug)]
pub(super) struct Arena<M> {
    lists: Vec<LeaseList<M>>,
}

impl<M> Default for Arena<M> {
    fn default() -> Self {
        Arena { lists: Vec::new() }
    }
}

/// The list index of memory type `ty`, pool class `class`.
pub(super) fn list_of(ty: u32, class: usize) -> usize {
    ty as usize * CLASSES + class
}

impl<M> Arena<M> {
    /// Places `size` bytes aligned to `align_mask + 1` in a lease of `list`:
    /// where, and the offset in the memory object; `None` when no lease has
    /// room.
    #[inline]
    pub(super) fn alloc(
        &mut self,
        list: usize,
        size: u64,
        align_mask: u64,
    ) -> Option<(LeasedAt, u64, ObjectRef<M>)> {
        let leases = self.lists.get_mut(list)?;
        // The lease whose largest free range is the smallest that surely holds
        // the block (the lowest slot of equals: blocks gather in the oldest
        // leases, the newer ones empty out and go back), else one that may.
        let sure = size_class_at_least(size.checked_add(align_mask)?)?;
        let slot = leases
            .by_largest
            .at_least_within(sure + 1, BUCKET_WALK)
            .or_else(|| {
                leases
                    .by_largest
                    .at_least_within(size_class(size) + 1, BUCKET_WALK)
            })?;
        let slot = slot as usize;
        let lease = leases.leases[slot].as_mut()?;
        let was_empty = lease.tlsf.is_empty();
        let (offset, handle) = lease.tlsf.alloc(size, align_mask)?;
        let offset = lease.block.offset + offset;
        let object = lease.object;
        let summary = lease.tlsf.free_summary();
        if was_empty {
            leases.empty -= 1;
            leases.empty_bytes -= lease.block.size;
        }
        leases.set_summary(slot, summary);
        leases.used += size;
        leases.blocks += 1;
        let slot = slot as u16;
        Some((LeasedAt { list, slot, handle }, offset, object))
    }

    /// The size of a new lease for a block of `size` bytes: `LEASE_MIN`, or
    /// room for two such blocks (a power of two) when that is more, at most
    /// `max`. Leases of one size fit the holes that others left in the central
    /// allocator's objects; leases sized by the thread's use held 20-50% more
    /// device memory at 16 threads (`BENCHMARKS.md`, "Many threads").
    pub(super) fn lease_size(size: u64, max: u64) -> u64 {
        size.saturating_mul(2)
            .checked_next_power_of_two()
            .unwrap_or(max)
            .clamp(LEASE_MIN, max)
    }

    /// Adds a lease (a general block of the allocator behind, of at least
    /// `LEASE_MIN` bytes), or gives it back as `Err` when the list has no slot
    /// left.
    pub(super) fn add_lease(
        &mut self,
        list: usize,
        block: MemoryBlock<M>,
    ) -> Result<(), MemoryBlock<M>> {
        let Flavor::Shared { memory, base, .. } = block.flavor else {
            return Err(block);
        };
        if self.lists.len() <= list {
            self.lists.resize_with(list + 1, LeaseList::default);
        }
        let leases = &mut self.lists[list];
        let slot = match leases.vacant.pop() {
            Some(slot) => usize::from(slot),
            None if leases.leases.len() <= usize::from(u16::MAX) => {
                leases.leases.push(None);
                leases.summaries.push(0);
                leases.leases.len() - 1
            }
            None => return Err(block),
        };
        leases.held += block.size;
        leases.empty += 1;
        leases.empty_bytes += block.size;
        let tlsf = Tlsf::new(block.size);
        leases.set_summary(slot, tlsf.free_summary());
        let object = ObjectRef { memory, base };
        leases.leases[slot] = Some(Lease {
            tlsf,
            block,
            object,
        });
        Ok(())
    }

    /// Frees a block placed at `at`, `offset` bytes into its memory object and
    /// `size` long. Returns a lease for the caller to give back: the one the
    /// block was in if it emptied and the list's empty leases are over their
    /// budget, or another empty one if the budget shrank below what they hold
    /// (at most one a free, so a list whose use falls gives its empty leases
    /// back as it goes; one empty lease always stays).
    pub(super) fn free(&mut self, at: LeasedAt, offset: u64, size: u64) -> Option<MemoryBlock<M>> {
        let leases = &mut self.lists[at.list];
        let slot = usize::from(at.slot);
        let lease = leases.leases[slot]
            .as_mut()
            .expect("a leased block's lease is held until the block is freed");
        lease
            .tlsf
            .free(offset - lease.block.offset, size, at.handle);
        let (summary, emptied) = (lease.tlsf.free_summary(), lease.tlsf.is_empty());
        let lease_size = lease.block.size;
        leases.set_summary(slot, summary);
        leases.used -= size;
        leases.blocks -= 1;
        let budget = leases.used / KEEP_EMPTY_DIV;
        if emptied {
            if leases.empty == 0 || leases.empty_bytes + lease_size <= budget {
                leases.empty += 1;
                leases.empty_bytes += lease_size;
                return None;
            }
            return Some(Self::take(leases, slot));
        }
        if leases.empty > 1 && leases.empty_bytes > budget {
            let slot = (leases.leases.iter())
                .position(|lease| lease.as_ref().is_some_and(|l| l.tlsf.is_empty()))
                .expect("`empty` counts the empty leases");
            let lease = Self::take(leases, slot);
            leases.empty -= 1;
            leases.empty_bytes -= lease.size;
            return Some(lease);
        }
        None
    }

    /// Takes the lease in `slot` out of `leases` (it holds no block).
    fn take(leases: &mut LeaseList<M>, slot: usize) -> MemoryBlock<M> {
        let lease = leases.leases[slot].take().expect("a held lease");
        debug_assert!(lease.tlsf.is_empty());
        leases.set_summary(slot, 0);
        leases.held -= lease.block.size;
        leases.vacant.push(slot as u16);
        lease.block
    }

    /// Takes every lease that holds no block out of the arena.
    pub(super) fn take_empty(&mut self, into: &mut Vec<MemoryBlock<M>>) {
        for leases in &mut self.lists {
            for slot in 0..leases.leases.len() {
                if leases.leases[slot]
                    .as_ref()
                    .is_some_and(|lease| lease.tlsf.is_empty())
                {
                    into.push(Self::take(leases, slot));
                }
            }
            leases.empty = 0;
            leases.empty_bytes = 0;
        }
    }

    /// Takes every lease out, empty or not (when the allocator goes), each
    /// with whether blocks placed in it are still out.
    pub(super) fn take_all(&mut self) -> Vec<(MemoryBlock<M>, bool)> {
        let mut all = Vec::new();
        for leases in self.lists.drain(..) {
            let held = leases.leases.into_iter().flatten();
            all.extend(held.map(|lease| (lease.block, !lease.tlsf.is_empty())));
        }
        all
    }

    /// Each lease's ranges as the memory map shows them: its object's key,
    /// and the lease's used and free ranges at their offsets in the object.
    pub(super) fn lease_ranges(&self, into: &mut Vec<(usize, Vec<MapRange>)>) {
        for lease in self.lists.iter().flat_map(|l| l.leases.iter().flatten()) {
            let start = lease.block.offset;
            let mut ranges = Vec::new();
            lease.tlsf.for_each_range(&mut |offset, size, used| {
                ranges.push(MapRange {
                    offset: start + offset,
                    size,
                    used,
                })
            });
            into.push((lease.object.memory.key(), ranges));
        }
    }

    /// Adds what the arena holds of each memory type to `by_type`.
    pub(super) fn holdings(&self, by_type: &mut [Holding]) {
        for (list, leases) in self.lists.iter().enumerate() {
            let holding = &mut by_type[list / CLASSES];
            holding.leases += leases.leases.iter().flatten().count() as u64;
            holding.held += leases.held;
            holding.used += leases.used;
            holding.blocks += leases.blocks;
        }
    }

    /// Checks every lease's TLSF and the list counters; panics on a broken one.
    #[cfg(any(test, debug_assertions, feature = "check-invariants"))]
    pub(super) fn check_invariants(&self) {
        for leases in &self.lists {
            let mut held = 0;
            let mut used = 0;
            let mut blocks = 0;
            let mut empty = 0;
            let mut empty_bytes = 0;
            for lease in leases.leases.iter().flatten() {
                lease.tlsf.check_invariants();
                assert!(
                    matches!(lease.block.flavor, Flavor::Shared { .. }),
                    "a lease of a dedicated object"
                );
                assert_eq!(lease.block.offset % LEASE_ALIGN, 0, "a misaligned lease");
                held += lease.block.size;
                used += lease.tlsf.used();
                blocks += lease.tlsf.live_ranges();
                empty += u32::from(lease.tlsf.is_empty());
                if lease.tlsf.is_empty() {
                    empty_bytes += lease.block.size;
                }
            }
            assert_eq!(held, leases.held, "lease bytes differ");
            assert_eq!(used, leases.used, "leased block bytes differ");
            assert_eq!(blocks, leases.blocks, "leased block count differs");
            assert_eq!(empty, leases.empty, "empty leases miscounted");
            assert_eq!(
                empty_bytes, leases.empty_bytes,
                "empty lease bytes miscounted"
            );
            for (slot, lease) in leases.leases.iter().enumerate() {
                let summary = lease.as_ref().map_or(0, |l| l.tlsf.free_summary());
                assert_eq!(
                    leases.summaries.get(slot).copied().unwrap_or(0),
                    summary,
                    "a lease's free summary is stale"
                );
            }
            leases.by_largest.check(&leases.summaries);
        }
    }
}
