//! Defragmentation as callers see it: what may move ([`DefragOptions`]), one
//! pass of planned moves ([`DefragPass`], [`DefragMove`]), and what a pass did
//! ([`DefragReport`], [`DefragStats`]).
//!
//! The planning and the bookkeeping live in the allocator
//! (`allocator/defrag.rs`).

#![deny(unsafe_code)]

#[cfg(doc)]
use crate::GpuAllocator;
use {
    crate::{block::MemoryBlock, block::NameKey, pools::PoolId},
    alloc::vec::Vec,
};

/// What a defragmentation pass may do: how much it moves, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DefragOptions {
    /// Most blocks one pass moves.
    pub max_moves: u32,
    /// Most bytes one pass moves.
    pub max_bytes: u64,
    /// Bit `i` lets the pass move blocks of memory type `i` (all by default).
    pub memory_types: u32,
    /// Whether the allocator's own general pools are defragmented.
    pub default_pools: bool,
    /// Whether user pools of the general algorithm are defragmented (each in
    /// itself), all of them or only `pool`.
    pub user_pools: bool,
    /// Only this user pool (and not the default pools), if given.
    pub pool: Option<PoolId>,
    /// Whether a pass compacts the pools where it can empty no memory object,
    /// with what is left of its limits once every pool's whole objects are
    /// planned: the blocks of the least used slabs of a slab class go to
    /// free slots of the fullest, blocks move into fuller objects or lower in
    /// their own, and slabs at most half used give their blocks up, so that
    /// the free space gathers into whole objects (freed when the pass ends,
    /// or by a later pass) and few ranges. On by default; off, passes only
    /// empty objects whose blocks all fit elsewhere as the pool stands.
    pub compact: bool,
}

impl Default for DefragOptions {
    fn default() -> Self {
        DefragOptions {
            max_moves: u32::MAX,
            max_bytes: u64::MAX,
            memory_types: !0,
            default_pools: true,
            user_pools: true,
            pool: None,
            compact: true,
        }
    }
}

impl DefragOptions {
    /// No limit, every memory type, every pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the most blocks a pass moves.
    pub fn max_moves(mut self, max_moves: u32) -> Self {
        self.max_moves = max_moves;
        self
    }

    /// Sets the most bytes a pass moves.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Sets the memory types whose blocks may move.
    pub fn memory_types(mut self, memory_types: u32) -> Self {
        self.memory_types = memory_types;
        self
    }

    /// Moves blocks of `pool` only.
    pub fn only_pool(mut self, pool: PoolId) -> Self {
        self.pool = Some(pool);
        self.default_pools = false;
        self.user_pools = true;
        self
    }

    /// Whether the default pools are defragmented.
    pub fn default_pools(mut self, default_pools: bool) -> Self {
        self.default_pools = default_pools;
        self
    }

    /// Whether a pass may compact (see [`compact`](Self::compact)).
    pub fn compact(mut self, compact: bool) -> Self {
        self.compact = compact;
        self
    }

    /// Whether user pools are defragmented.
    pub fn user_pools(mut self, user_pools: bool) -> Self {
        self.user_pools = user_pools;
        self
    }
}

/// What the caller says of a move when it ends a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MoveOutcome {
    /// Not answered yet (at the end of the pass: as [`Skip`](Self::Skip)).
    Pending,
    /// Copied and rebound: the caller holds the new block, and gave the old
    /// one back through [`DefragMove::done`].
    Done,
    /// The resource was busy: it stays where it is.
    Skip,
    /// The resource was destroyed meanwhile (its old block freed by the
    /// caller as usual).
    Destroyed,
}

/// One planned move: a movable block (the caller's, named by the tag given to
/// [`GpuAllocator::set_movable`]) and the new block made for it.
///
/// The caller copies the old block's bytes to [`destination`](Self::destination)
/// (on the GPU, or on the host for host-visible memory), binds its resource
/// to the new block, and then calls [`done`](Self::done) with the old block;
/// or [`skip`](Self::skip) or [`destroyed`](Self::destroyed). Nothing is freed
/// before [`GpuAllocator::end_defrag_pass`].
#[derive(Debug)]
pub struct DefragMove<M> {
    pub(crate) tag: u64,
    pub(crate) memory_type: u32,
    pub(crate) size: u64,
    /// Where the old block is: its object's key and its offset.
    pub(crate) source: NameKey,
    pub(crate) source_offset: u64,
    /// The new block's key (its object and offset), while the caller holds it.
    pub(crate) destination_key: NameKey,
    pub(crate) destination: Option<MemoryBlock<M>>,
    pub(crate) old: Option<MemoryBlock<M>>,
    pub(crate) outcome: MoveOutcome,
}

impl<M> DefragMove<M> {
    /// The tag the block was made movable with.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// Memory type of both blocks.
    pub fn memory_type(&self) -> u32 {
        self.memory_type
    }

    /// Bytes to copy (the block's size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Offset of the old block in its memory object.
    pub fn source_offset(&self) -> u64 {
        self.source_offset
    }

    /// Whether `block` is the block this move moves (same allocator's object
    /// and offset).
    pub fn is_source(&self, block: &MemoryBlock<M>) -> bool {
        matches!(block.flavor, crate::block::Flavor::Shared { .. })
            && block.name_key() == self.source
    }

    /// The new block, until [`done`](Self::done) hands it over.
    pub fn destination(&self) -> Option<&MemoryBlock<M>> {
        self.destination.as_ref()
    }

    /// What the caller said so far.
    pub fn outcome(&self) -> MoveOutcome {
        self.outcome
    }

    /// The copy is made and the resource bound to the new block: hands over
    /// the new block for the old one, which the allocator frees when the pass
    /// ends. The new block is movable with the same tag, and keeps the old
    /// one's name.
    ///
    /// # Errors
    ///
    /// `old` back when it is not this move's block, is mapped, or the move
    /// was answered already.
    #[allow(clippy::result_large_err)]
    pub fn done(&mut self, old: MemoryBlock<M>) -> Result<MemoryBlock<M>, MemoryBlock<M>> {
        if self.outcome != MoveOutcome::Pending || !self.is_source(&old) || old.mapped {
            return Err(old);
        }
        let Some(new) = self.destination.take() else {
            return Err(old);
        };
        self.old = Some(old);
        self.outcome = MoveOutcome::Done;
        Ok(new)
    }

    /// The resource is busy: the block stays, the new one is freed when the
    /// pass ends.
    pub fn skip(&mut self) {
        if self.outcome == MoveOutcome::Pending {
            self.outcome = MoveOutcome::Skip;
        }
    }

    /// The resource was destroyed (and its old block freed) meanwhile: the
    /// new block is freed when the pass ends.
    pub fn destroyed(&mut self) {
        if self.outcome == MoveOutcome::Pending {
            self.outcome = MoveOutcome::Destroyed;
        }
    }
}

/// One pass of planned moves, from [`GpuAllocator::begin_defrag_pass`], to be
/// ended with [`GpuAllocator::end_defrag_pass`] once the copies are done
/// (a pass dropped unended leaks its new blocks, which are reported).
#[derive(Debug)]
pub struct DefragPass<M> {
    pub(crate) allocator: usize,
    pub(crate) moves: Vec<DefragMove<M>>,
    /// The memory objects the pass empties: which pool, and the object's slot
    /// and key.
    pub(crate) sources: Vec<SourceObject>,
    /// The objects (memory type, pool class, slot) of default pools that
    /// compaction moves blocks out of: their emptied slabs go back at the
    /// end of the pass, and the objects if that empties them.
    pub(crate) slab_objects: Vec<(u32, u8, u32)>,
}

/// A memory object a pass empties.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SourceObject {
    /// `None`: the default general pool of `ty` and `class`; else the user
    /// pool's slot.
    pub(crate) pool: Option<u32>,
    pub(crate) ty: u32,
    pub(crate) class: u8,
    pub(crate) slot: u32,
    pub(crate) key: usize,
}

impl<M> DefragPass<M> {
    /// The planned moves.
    pub fn moves(&self) -> &[DefragMove<M>] {
        &self.moves
    }

    /// The planned moves, to answer.
    pub fn moves_mut(&mut self) -> &mut [DefragMove<M>] {
        &mut self.moves
    }

    /// Whether the pass moves nothing (defragmentation has nothing left to
    /// do within its options).
    pub fn is_empty(&self) -> bool {
        self.moves.is_empty() && self.sources.is_empty()
    }

    /// Memory objects the pass empties if every move is done (its end may
    /// free more: objects and slabs that compaction's moves leave empty).
    pub fn objects_to_free(&self) -> usize {
        self.sources.len()
    }
}

/// What one pass did ([`GpuAllocator::end_defrag_pass`]). `objects_freed`
/// and `bytes_freed` count every memory object the end of the pass freed:
/// those its moves emptied, and any that the releases of its blocks freed
/// under the retention policy.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DefragReport {
    /// Blocks moved (done).
    pub moved: u64,
    /// Their bytes.
    pub bytes_moved: u64,
    /// Moves skipped (or not answered).
    pub skipped: u64,
    /// Moves whose resource was destroyed meanwhile.
    pub destroyed: u64,
    /// Memory objects freed.
    pub objects_freed: u64,
    /// Their bytes.
    pub bytes_freed: u64,
}

/// Every pass so far, in `AllocatorStats::defrag`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DefragStats {
    /// Passes ended.
    pub passes: u64,
    /// What they did, added up.
    pub total: DefragReport,
    /// What the last one did.
    pub last: DefragReport,
}

impl DefragReport {
    pub(crate) fn add(&mut self, other: &DefragReport) {
        self.moved += other.moved;
        self.bytes_moved += other.bytes_moved;
        self.skipped += other.skipped;
        self.destroyed += other.destroyed;
        self.objects_freed += other.objects_freed;
        self.bytes_freed += other.bytes_freed;
    }
}

/// Why a block cannot be made movable, or a pass not ended.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DefragError {
    /// The block or pass is another allocator's (or a thread arena's).
    #[error("the block or pass belongs to another allocator")]
    ForeignBlock,
    /// The block has a memory object of its own (dedicated or imported):
    /// moving it frees nothing.
    #[error("dedicated and imported blocks never move")]
    Dedicated,
    /// The block is mapped (pointers into it must stay valid).
    #[error("mapped blocks never move")]
    Mapped,
    /// The block is in a linear or ring object, which empties by itself.
    #[error("only blocks of general pools move")]
    NotGeneral,
    /// The alignment mask given is not `2^n - 1`.
    #[error("invalid alignment mask {align_mask:#x}")]
    InvalidAlignMask {
        /// The mask given.
        align_mask: u64,
    },
}
