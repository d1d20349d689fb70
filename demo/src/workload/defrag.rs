//! `--defrag` (issue 18): the assets' blocks are made movable as they are
//! made, and defragmentation passes move them between frames with real GPU
//! copies.
//!
//! - **What moves.** Every mesh and texture asks `set_movable` with a tag that
//!   finds it (its thread and its id, [`tag`]) and its resource's alignment.
//!   The allocator refuses blocks with a memory object of their own
//!   (dedicated) and, with `--threads`, blocks a thread arena placed: those
//!   stay. Staging buffers (a ring pool) and readback buffers (short-lived,
//!   mapped to be read) are never made movable.
//! - **When.** On one thread, a pass begins at the start of the frame after
//!   each progress line, before the frame evicts: an asset the pass planned
//!   to move that the streamer evicts meanwhile is answered `destroyed`; the
//!   moves are then made before the frame records anything. With
//!   `--threads`, the coordinator begins a pass at each meeting and each
//!   thread answers the moves of its own assets; an asset that its thread
//!   evicted and that waits for the next thread to free it is answered
//!   `skip`. After the last frame, passes run until one moves nothing (at
//!   most [`FINAL_PASSES`]). Each pass moves at most [`MAX_MOVES`] blocks and
//!   [`MAX_BYTES`] bytes.
//! - **A move.** A new resource of the same shape is made and bound to the
//!   new block (after checking that the block fits its requirements); a copy
//!   of all of the old resource to the new one is recorded (a buffer copy, or
//!   an image copy of every mip level with its layout transitions) between
//!   two barriers; after the submission's fence the move is `done`, the old
//!   resource destroyed and the asset holds the new resource. Every moved
//!   asset is then read back and compared with the pattern of its last
//!   upload, like any readback. The pass ends (the allocator frees the old
//!   blocks and the emptied memory objects) only after that.
//! - **Checks.** The allocator's invariants after every pass; the moves the
//!   workload counts as done, skipped and destroyed against the allocator's
//!   `DefragStats`; and, on one thread, the movable blocks the allocator
//!   counts at the end against the assets made movable.

use {
    super::{Allocator, Asset, Counters, Workload},
    crate::gpu::{Gpu, Resource},
    gpu_alloc::{
        AllocatorStats, DefragError, DefragOptions, DefragPass, DefragReport, MemoryMap,
        MoveOutcome,
    },
    gpu_alloc_tests::kit::Bytes,
};

/// Most blocks one pass moves.
pub const MAX_MOVES: u32 = 64;
/// Most bytes one pass moves.
pub const MAX_BYTES: u64 = 64 << 20;
/// Most passes after the last frame (they stop at the first that moves
/// nothing).
pub const FINAL_PASSES: u32 = 32;
/// Bits of a tag that hold the asset's id; the thread's index is above.
const ID_BITS: u32 = 48;

/// The options of every pass: all memory types and pools, within the limits.
pub fn options() -> DefragOptions {
    DefragOptions::new()
        .max_moves(MAX_MOVES)
        .max_bytes(MAX_BYTES)
}

/// The tag of asset `id` of the thread (share) `index`.
pub fn tag(index: usize, id: u64) -> u64 {
    debug_assert!(id < 1 << ID_BITS);
    (index as u64) << ID_BITS | id
}

/// The thread (share) whose asset a tag names.
fn tag_owner(tag: u64) -> usize {
    (tag >> ID_BITS) as usize
}

/// The id of the asset a tag names.
fn tag_id(tag: u64) -> u64 {
    tag & ((1 << ID_BITS) - 1)
}

/// What the workload did for defragmentation, by its own count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Answers {
    /// Asset blocks made movable, and those the allocator refused (dedicated,
    /// or placed by a thread arena).
    pub movable: u64,
    pub immovable: u64,
    /// Moves answered done, skip and destroyed.
    pub done: u64,
    pub skipped: u64,
    pub destroyed: u64,
}

impl Answers {
    /// Adds another thread's answers.
    pub fn add(&mut self, other: &Answers) {
        self.movable += other.movable;
        self.immovable += other.immovable;
        self.done += other.done;
        self.skipped += other.skipped;
        self.destroyed += other.destroyed;
    }
}

/// The memory before the first pass, at the end of the last frame (before
/// the last passes) and after them (the outcome's statistics and map).
pub struct Summary {
    /// The frame after which the first pass ran, and the statistics then.
    pub first: (u32, AllocatorStats),
    /// At the end of the last frame.
    pub end: AllocatorStats,
    pub end_map: MemoryMap,
}

/// The failed checks of a run with `--defrag`: the workload's count of its
/// answers against what the allocator's passes reported (`stats` after the
/// last pass).
pub fn checks(answers: &Answers, stats: &AllocatorStats) -> Vec<String> {
    let total = &stats.defrag.total;
    let mut failures = Vec::new();
    for (what, answered, reported) in [
        ("done", answers.done, total.moved),
        ("skipped", answers.skipped, total.skipped),
        ("destroyed", answers.destroyed, total.destroyed),
    ] {
        if answered != reported {
            failures.push(format!(
                "defragmentation: the workload answered {answered} moves {what}, the \
                 allocator's passes count {reported}"
            ));
        }
    }
    failures
}

/// The line printed after a pass that planned moves: what it did, and the
/// bytes reserved before and after it.
pub fn pass_line(frame: u32, report: &DefragReport, reserved: (u64, u64)) -> String {
    format!(
        "defrag pass after frame {frame}: {} moved ({}), {} skipped, {} destroyed; {} memory \
         objects freed ({}); reserved {} -> {}",
        report.moved,
        Bytes(report.bytes_moved),
        report.skipped,
        report.destroyed,
        report.objects_freed,
        Bytes(report.bytes_freed),
        Bytes(reserved.0),
        Bytes(reserved.1),
    )
}

/// One row of the report's before/after table.
fn row(what: &str, stats: &AllocatorStats) -> String {
    let frag: Vec<String> = stats
        .heaps
        .iter()
        .map(|h| format!("{:.2}", h.fragmentation))
        .collect();
    format!(
        "  {what:<34} {:>10} {:>10} {:>7}   {}\n",
        Bytes(stats.reserved).to_string(),
        Bytes(stats.used).to_string(),
        stats.memory_objects,
        frag.join(" "),
    )
}

/// The report's defragmentation section: what the passes did (`after`'s
/// `DefragStats`), the workload's answers, and the memory before the first
/// pass, at the end of the last frame and after the last pass.
pub fn report(
    summary: &Summary,
    after: &AllocatorStats,
    counters: &Counters,
    threads: usize,
) -> String {
    let d = &after.defrag;
    let a = &counters.answers;
    let mut out = format!(
        "\ndefragmentation: {} passes, {} moves done ({}), {} skipped, {} destroyed; {} memory \
         objects freed ({}); {} asset blocks made movable, {} refused (dedicated{})\n",
        d.passes,
        d.total.moved,
        Bytes(d.total.bytes_moved),
        d.total.skipped,
        d.total.destroyed,
        d.total.objects_freed,
        Bytes(d.total.bytes_freed),
        a.movable,
        a.immovable,
        if threads > 1 {
            ", or placed by a thread arena"
        } else {
            ""
        },
    );
    out.push_str(&format!(
        "  {:<34} {:>10} {:>10} {:>7}   fragmentation (per heap)\n",
        "", "reserved", "used", "objects"
    ));
    let first = format!("before the first pass (frame {})", summary.first.0);
    out.push_str(&row(&first, &summary.first.1));
    out.push_str(&row("at the end of the last frame", &summary.end));
    out.push_str(&row("after the last pass", after));
    out
}

impl<G: Gpu, A: Allocator<G::Memory>> Workload<'_, G, A> {
    /// Makes a new asset's block movable under its tag. Returns whether it
    /// is; a refusal other than for a dedicated block or a thread arena's
    /// fails the run.
    pub(super) fn make_movable(&mut self, resource: &mut Resource<G>, id: u64) -> bool {
        let tag = tag(self.share.index, id);
        match self
            .allocator
            .set_movable(&mut resource.block, tag, resource.align - 1)
        {
            Ok(()) => {
                self.counters.answers.movable += 1;
                true
            }
            Err(DefragError::Dedicated | DefragError::ForeignBlock) => {
                self.counters.answers.immovable += 1;
                false
            }
            Err(err) => {
                self.fail(format!("making asset {id}'s block movable: {err}"));
                false
            }
        }
    }

    /// Answers the moves of this thread's assets in `pass`, between frames
    /// (nothing recorded): copies, waits, hands the old blocks over, and
    /// reads every moved asset back.
    pub(super) fn answer_moves(&mut self, pass: &mut DefragPass<G::Memory>) {
        debug_assert!(self.pending.is_empty(), "answered between frames");
        // (move, asset id, new resource's handle) of the copies recorded.
        let mut copied: Vec<(usize, u64, G::Handle)> = Vec::new();
        // After the writes of the earlier submissions to the old resources.
        self.gpu.barrier();
        for (m, mv) in pass.moves_mut().iter_mut().enumerate() {
            if tag_owner(mv.tag()) != self.share.index || mv.outcome() != MoveOutcome::Pending {
                continue;
            }
            let id = tag_id(mv.tag());
            let Some(index) = self.assets.iter().position(|a| a.id == id) else {
                if self.hand_over.is_none() {
                    self.fail(format!("a move of asset {id}, which is gone"));
                }
                // Evicted, and waiting for the next thread to free it: it
                // stays where it is.
                mv.skip();
                self.counters.answers.skipped += 1;
                continue;
            };
            let asset = &self.assets[index];
            let busy = asset.used_in >= self.batch;
            if !mv.is_source(&asset.resource.block) || busy {
                if !busy {
                    self.fail(format!(
                        "the move tagged for asset {id} is of another block"
                    ));
                }
                mv.skip();
                self.counters.answers.skipped += 1;
                continue;
            }
            let Some(new_block) = mv.destination() else {
                self.fail(format!("the move of asset {id} has no new block"));
                continue;
            };
            let shape = asset.resource.shape;
            let (mut handle, req) = match self.gpu.create(shape) {
                Ok(created) => created,
                Err(err) => {
                    self.fail(format!("creating the new resource of asset {id}: {err}"));
                    mv.skip();
                    self.counters.answers.skipped += 1;
                    continue;
                }
            };
            let fits = new_block.size() >= req.size
                && new_block.offset() % req.align == 0
                && req.type_bits & 1 << new_block.memory_type() != 0;
            // SAFETY: the new block fits the new resource's requirements
            // (checked just before), and the resource is new, unbound.
            let bound = fits && unsafe { self.gpu.bind(&mut handle, new_block) }.is_ok();
            if !bound {
                let (ty, offset, size) = (
                    new_block.memory_type(),
                    new_block.offset(),
                    new_block.size(),
                );
                self.fail(format!(
                    "the new block of asset {id} (memory type {ty}, offset {offset}, size \
                     {size}) does not take its resource ({req:?})"
                ));
                // SAFETY: never bound to memory nor used.
                unsafe { self.gpu.destroy(handle) };
                mv.skip();
                self.counters.answers.skipped += 1;
                continue;
            }
            let old = &self.assets[index].resource;
            self.gpu.copy_whole(old, &handle, new_block);
            copied.push((m, id, handle));
        }
        if copied.is_empty() {
            return;
        }
        // Before the next uses of the new resources.
        self.gpu.barrier();
        // Waits for the copies' fence.
        self.submit();
        let moves = pass.moves_mut();
        let mut moved = Vec::new();
        for (m, id, handle) in copied {
            let index = self
                .assets
                .iter()
                .position(|a| a.id == id)
                .expect("nothing frees an asset while its move is made");
            let mut asset: Asset<G> = self.assets.remove(index);
            let Resource {
                handle: old_handle,
                block: old_block,
                shape,
                align,
            } = asset.resource;
            let (keep, drop) = match moves[m].done(old_block) {
                Ok(new_block) => {
                    self.counters.answers.done += 1;
                    moved.push(id);
                    asset.resource = Resource {
                        handle,
                        block: new_block,
                        shape,
                        align,
                    };
                    (asset, old_handle)
                }
                Err(old_block) => {
                    moves[m].skip();
                    self.counters.answers.skipped += 1;
                    asset.resource = Resource {
                        handle: old_handle,
                        block: old_block,
                        shape,
                        align,
                    };
                    self.fail(format!("the move of asset {id} refused its old block"));
                    (asset, handle)
                }
            };
            // SAFETY: the copy between the two is complete (the fence was
            // waited for) and no other command uses the one destroyed.
            unsafe { self.gpu.destroy(drop) };
            self.assets.insert(index, keep);
        }
        // The moved assets hold what their last upload wrote.
        self.record_checks(&moved);
        self.submit();
    }

    /// Begins a pass (one thread: at the start of a frame, before it
    /// evicts, or after the last frame).
    pub(super) fn begin_pass(&mut self) {
        debug_assert!(self.pass.is_none());
        self.pass = Some(self.allocator.begin_defrag_pass(&options()));
    }

    /// Answers the moves of the pass begun and ends it, printing what it did
    /// if it planned anything. Returns what it did (`None`: it planned
    /// nothing, or it could not be ended).
    pub(super) fn end_pass(&mut self) -> Option<DefragReport> {
        let mut pass = self.pass.take()?;
        let planned = !pass.is_empty();
        let before = self.allocator.reserved_and_objects().0;
        self.answer_moves(&mut pass);
        // SAFETY: the allocator's device; the copies of the moves done are
        // complete (`answer_moves` waited) and their old resources
        // destroyed; the new blocks of the other moves hold no resource.
        let ended = unsafe {
            self.allocator
                .end_defrag_pass(self.gpu.memory_device(), pass)
        };
        match ended {
            Ok(report) if planned => {
                let after = self.allocator.reserved_and_objects().0;
                println!(
                    "{}",
                    pass_line(self.counters.frames, &report, (before, after))
                );
                Some(report)
            }
            Ok(_) => None,
            Err(_) => {
                self.fail("the allocator did not end its own pass".to_owned());
                None
            }
        }
    }

    /// The open pass (one thread) learns that the asset of `resource` is
    /// being destroyed: its move, if it has one, is answered `destroyed`.
    pub(super) fn destroying(&mut self, resource: &Resource<G>) {
        let Some(pass) = &mut self.pass else { return };
        for mv in pass.moves_mut() {
            if mv.outcome() == MoveOutcome::Pending && mv.is_source(&resource.block) {
                mv.destroyed();
                self.counters.answers.destroyed += 1;
            }
        }
    }
}
