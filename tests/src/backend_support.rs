//! What the backends' Vulkan tests (`ash/tests`, `erupt/tests`, `gfx/tests`)
//! share: a [`MemoryDevice`] wrapper that counts calls and live memory objects,
//! a deterministic generator and byte pattern, the check that blocks keep apart
//! on `bufferImageGranularity` pages, a churn driver over [`GpuAllocator`] whose
//! API-specific parts (making, binding and destroying resources) each test
//! passes as closures, and the mapped-memory steps of the flush tests;
//! [`validation`] holds what they make of the validation layer's messages, and
//! [`dedicated`] the tests of their `dedicated.rs` suites, [`convert`] the
//! checks of their conversion unit tests.
//!
//! Everything here is generic over the memory object type `M` and names no
//! Vulkan binding: each backend still creates its instance, device and
//! resources through its own API.

pub use crate::kit::Rng;

use {
    gpu_alloc::{AllocOptions, GpuAllocator, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice,
        MemoryPropertyFlags, MemoryTypeInfo, OutOfMemory,
    },
    std::{cell::Cell, collections::BTreeMap, fmt::Debug, ops::Range, ptr::NonNull},
};

pub mod convert;
pub mod dedicated;
pub mod validation;

/// A [`MemoryDevice`] that forwards every call to `inner` and counts the calls
/// and the memory objects alive through it.
pub struct Counting<'a, D> {
    /// The device every call goes to.
    pub inner: &'a D,
    /// Objects allocated and not yet freed through this wrapper.
    pub live: Cell<u64>,
    /// Successful `allocate_memory` calls.
    pub allocations: Cell<u64>,
    /// `deallocate_memory` calls.
    pub frees: Cell<u64>,
    /// `map_memory` calls, failed ones included.
    pub maps: Cell<u64>,
    /// `unmap_memory` calls.
    pub unmaps: Cell<u64>,
    /// `flush_memory_ranges` calls.
    pub flushes: Cell<u64>,
    /// `invalidate_memory_ranges` calls.
    pub invalidates: Cell<u64>,
}

impl<'a, D> Counting<'a, D> {
    /// Wraps `inner` with every count at zero.
    pub fn new(inner: &'a D) -> Self {
        Counting {
            inner,
            live: Cell::new(0),
            allocations: Cell::new(0),
            frees: Cell::new(0),
            maps: Cell::new(0),
            unmaps: Cell::new(0),
            flushes: Cell::new(0),
            invalidates: Cell::new(0),
        }
    }
}

fn bump(cell: &Cell<u64>) {
    cell.set(cell.get() + 1);
}

impl<M, D: MemoryDevice<M>> MemoryDevice<M> for Counting<'_, D> {
    unsafe fn allocate_memory(
        &self,
        size: u64,
        memory_type: u32,
        flags: AllocationFlags,
    ) -> Result<M, OutOfMemory> {
        // SAFETY: forwarded with the caller's contract.
        let memory = unsafe { self.inner.allocate_memory(size, memory_type, flags) }?;
        bump(&self.live);
        bump(&self.allocations);
        Ok(memory)
    }

    unsafe fn deallocate_memory(&self, memory: M) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { self.inner.deallocate_memory(memory) };
        let live = self.live.get().checked_sub(1);
        self.live
            .set(live.expect("a memory object freed that this wrapper did not allocate"));
        bump(&self.frees);
    }

    unsafe fn map_memory(
        &self,
        memory: &mut M,
        offset: u64,
        size: u64,
    ) -> Result<NonNull<u8>, DeviceMapError> {
        bump(&self.maps);
        // SAFETY: forwarded with the caller's contract.
        unsafe { self.inner.map_memory(memory, offset, size) }
    }

    unsafe fn unmap_memory(&self, memory: &mut M) {
        bump(&self.unmaps);
        // SAFETY: forwarded with the caller's contract.
        unsafe { self.inner.unmap_memory(memory) }
    }

    unsafe fn invalidate_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, M>],
    ) -> Result<(), OutOfMemory> {
        bump(&self.invalidates);
        // SAFETY: forwarded with the caller's contract.
        unsafe { self.inner.invalidate_memory_ranges(ranges) }
    }

    unsafe fn flush_memory_ranges(
        &self,
        ranges: &[MappedMemoryRange<'_, M>],
    ) -> Result<(), OutOfMemory> {
        bump(&self.flushes);
        // SAFETY: forwarded with the caller's contract.
        unsafe { self.inner.flush_memory_ranges(ranges) }
    }

    fn memory_budget(&self, budgets: &mut [HeapBudget]) -> bool {
        self.inner.memory_budget(budgets)
    }
}

/// `len` bytes of a deterministic pattern, different for each `seed`.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::odd_state(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Sizes of the buffers the round-trip tests copy through the GPU.
pub const ROUND_TRIP_BUFFER_SIZES: &[u64] = &[
    1,
    3,
    4,
    63,
    64,
    100,
    255,
    256,
    1000,
    4095,
    4096,
    4097,
    65_536,
    100_003,
    1 << 20,
    3 << 20,
];

/// Width and height of the optimal-tiling images the round-trip tests copy
/// through the GPU.
pub const ROUND_TRIP_IMAGE_EXTENTS: &[(u32, u32)] = &[
    (1, 1),
    (7, 3),
    (16, 16),
    (33, 17),
    (64, 64),
    (128, 100),
    (256, 256),
    (513, 300),
];

/// The [`Request`] for a resource's real memory requirements.
pub fn request(size: u64, alignment: u64, memory_types: u32, usage: UsageFlags) -> Request {
    assert!(
        alignment.is_power_of_two(),
        "alignment {alignment} is not a power of two"
    );
    Request {
        size,
        align_mask: alignment - 1,
        usage,
        memory_types,
    }
}

/// Allocates for a resource of `kind`, so that the allocator keeps buffers and
/// optimal-tiling images on separate `bufferImageGranularity` pages; panics with
/// the request and the error when it fails.
///
/// # Safety
///
/// - `device` is the device whose properties made `alloc`, and every block of
///   `alloc` came from it (as for [`GpuAllocator::alloc`]).
pub unsafe fn alloc_block<M: Debug + 'static>(
    alloc: &mut GpuAllocator<M>,
    device: &impl MemoryDevice<M>,
    request: Request,
    kind: ResourceKind,
) -> MemoryBlock<M> {
    let options = AllocOptions::new().resource(kind);
    // SAFETY: the caller's contract.
    unsafe { alloc.try_alloc_with_options(device, request, options) }
        .unwrap_or_else(|e| panic!("{request:?} ({kind:?}): {e}"))
}

/// Whether a memory type can be mapped by the tests: host-visible, not
/// protected, and with no property bit that [`MemoryPropertyFlags`] cannot name.
pub fn mappable(ty: &MemoryTypeInfo) -> bool {
    ty.props().contains(MemoryPropertyFlags::HOST_VISIBLE)
        && !ty.props().contains(MemoryPropertyFlags::PROTECTED)
        && ty.unknown_bits() == 0
}

/// The first [`mappable`] memory type whose bit is set in `allowed`.
pub fn host_visible_type(types: &[MemoryTypeInfo], allowed: u32) -> Option<u32> {
    types
        .iter()
        .enumerate()
        .position(|(i, ty)| i < 32 && allowed & (1 << i) != 0 && mappable(ty))
        .map(|i| i as u32)
}

/// Reads `data.len()` bytes from the start of a host-visible block and asserts
/// that they are `data`; `what` names the block in the failure message.
///
/// # Safety
///
/// - `device` is the device of the block's allocator, and the device's writes
///   to the block are finished.
pub unsafe fn assert_reads_back<M>(
    device: &impl MemoryDevice<M>,
    block: &mut MemoryBlock<M>,
    data: &[u8],
    what: &dyn std::fmt::Display,
) {
    let mut back = vec![0; data.len()];
    // SAFETY: the caller's contract.
    unsafe { block.read_bytes(device, 0, &mut back) }.expect("read back");
    assert!(back == data, "{what} differs");
}

/// Once every block is freed: checks the allocator's invariants, calls
/// `cleanup`, and asserts that no block, memory object or device allocation is
/// left.
///
/// # Safety
///
/// - `device` wraps the device whose properties made `alloc`, every block of
///   `alloc` came from it, and it counted every allocation and free of `alloc`.
pub unsafe fn cleanup_and_check<M, D>(alloc: &mut GpuAllocator<M>, device: &Counting<'_, D>)
where
    M: Debug + 'static,
    D: MemoryDevice<M>,
{
    assert_eq!(alloc.live_blocks(), 0, "blocks left before cleanup");
    alloc.check_invariants();
    // SAFETY: the caller's contract; every block is freed.
    unsafe { alloc.cleanup(device) };
    alloc.check_invariants();
    assert_eq!(alloc.memory_objects(), 0);
    assert_eq!(device.live.get(), 0, "memory objects left on the device");
    assert_eq!(device.allocations.get(), device.frees.get());
}

/// Asserts that blocks never overlap inside a memory object, and that
/// neighbours of different resource kinds, or of unknown kind, never share a
/// `granularity`-byte page. Memory objects are told apart by their `Debug`
/// text (every backend's handle prints its raw value). Returns how many
/// neighbours needed the page check.
pub fn assert_blocks_apart<'b, M: Debug + 'b>(
    granularity: u64,
    blocks: impl IntoIterator<Item = (&'b MemoryBlock<M>, ResourceKind)>,
) -> usize {
    let mut ranges: Vec<_> = blocks
        .into_iter()
        .map(|(b, kind)| (format!("{:?}", b.memory()), b.offset(), b.size(), kind))
        .collect();
    ranges.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let page = |offset: u64| offset / granularity;
    let mut page_checks = 0;
    for pair in ranges.windows(2) {
        let ((m0, o0, s0, k0), (m1, o1, _, k1)) = (&pair[0], &pair[1]);
        if m0 != m1 {
            continue;
        }
        assert!(o0 + s0 <= *o1, "overlap: {pair:?}");
        if k0 != k1 || *k0 == ResourceKind::Unknown {
            page_checks += 1;
            assert!(
                page(o0 + s0 - 1) < page(*o1),
                "{k0:?} and {k1:?} share a {granularity}-byte page: {pair:?}"
            );
        }
    }
    page_checks
}

/// How a [`churn`] run goes.
#[derive(Clone, Copy, Debug)]
pub struct ChurnPlan {
    /// Steps: each allocates one block or frees a random live one.
    pub steps: u32,
    /// Seed of the [`Rng`] the run and its `make` closure draw from.
    pub seed: u64,
    /// While blocks are live, a step allocates with odds `allocate.0` in
    /// `allocate.1`, and frees otherwise.
    pub allocate: (u64, u64),
}

/// A block a [`churn`] run holds, with what the test made for it.
#[derive(Debug)]
pub struct Held<M, R> {
    /// The block.
    pub block: MemoryBlock<M>,
    /// What it was allocated for.
    pub request: Request,
    /// The resource kind it was allocated for.
    pub kind: ResourceKind,
    /// The step that allocated it; a host-visible block carries it as a tag
    /// in its first bytes (at most 8) from allocation to free.
    pub step: u32,
    /// The test's resource (a real buffer, say), or `()`.
    pub resource: R,
}

/// What a [`churn`] run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChurnStats {
    /// Blocks allocated.
    pub blocks_allocated: u64,
    /// The most memory objects alive at once.
    pub peak_objects: u64,
    /// Blocks still live after the last step, freed by the run.
    pub live_at_end: usize,
    /// Neighbours of different kinds (or of unknown kind) whose pages were
    /// checked, each new block against the live blocks next to it.
    pub page_checks: usize,
    /// Tags read back and found intact.
    pub tags_checked: u64,
}

const TAG_LEN: u64 = 8;

/// Whether blocks of these kinds must keep to separate granularity pages:
/// different kinds, or a kind nobody knows.
fn kinds_conflict(a: ResourceKind, b: ResourceKind) -> bool {
    a != b || a == ResourceKind::Unknown
}

/// A live block of a [`LiveRanges`] map, by its offset.
#[derive(Clone, Copy, Debug)]
struct LiveRange {
    end: u64,
    kind: ResourceKind,
    step: u32,
}

/// The blocks a [`churn`] run holds: per memory object (told apart by its
/// `Debug` text, as in [`assert_blocks_apart`]), a map from offset to range,
/// so that every new block is checked against every block live at that moment
/// at the cost of two lookups.
///
/// Invariant: in one memory object no two ranges overlap, and no two of
/// conflicting kinds ([`kinds_conflict`]) share a granularity page. Checking a
/// new block against its neighbours alone keeps it for the whole map: a range
/// `Z` beyond the left neighbour `P` ends before `P` starts, so `Z` cannot
/// overlap the new block `N` if `P` does not; if `P` and `N` conflict, `Z`
/// ends on a page no later than `P` does, before `N`'s first page; if they do
/// not (one known kind), a `Z` that conflicts with `N` conflicts with `P` too,
/// so it ends on a page before `P`'s first, which is no later than `N`'s
/// (and the same on the right). Frees only remove ranges.
struct LiveRanges {
    granularity: u64,
    objects: BTreeMap<String, BTreeMap<u64, LiveRange>>,
}

impl LiveRanges {
    fn new(granularity: u64) -> Self {
        LiveRanges {
            granularity,
            objects: BTreeMap::new(),
        }
    }

    /// Panics if `block` overlaps a live block of its memory object or shares a
    /// page with a neighbour of a conflicting kind; then records it. Returns
    /// how many neighbours needed the page check.
    fn insert<M: Debug>(&mut self, block: &MemoryBlock<M>, kind: ResourceKind, step: u32) -> usize {
        let memory = format!("{:?}", block.memory());
        self.insert_range(
            memory,
            block.offset()..block.offset() + block.size(),
            kind,
            step,
        )
    }

    /// [`LiveRanges::insert`] for `offset..end` of `memory`.
    fn insert_range(
        &mut self,
        memory: String,
        Range { start: offset, end }: Range<u64>,
        kind: ResourceKind,
        step: u32,
    ) -> usize {
        let page = |at: u64| at / self.granularity;
        let ranges = self.objects.entry(memory.clone()).or_default();
        let mut page_checks = 0;
        if let Some((&left_offset, left)) = ranges.range(..=offset).next_back() {
            assert!(
                left.end <= offset,
                "block of step {step} at {offset}..{end} of {memory} overlaps the live block \
                 of step {} at {left_offset}..{}",
                left.step,
                left.end
            );
            if kinds_conflict(left.kind, kind) {
                page_checks += 1;
                assert!(
                    page(left.end - 1) < page(offset),
                    "block of step {step} ({kind:?}) at {offset}..{end} of {memory} shares a \
                     {}-byte page with the block of step {} ({:?}) at {left_offset}..{}",
                    self.granularity,
                    left.step,
                    left.kind,
                    left.end
                );
            }
        }
        if let Some((&right_offset, right)) = ranges.range(offset..).next() {
            assert!(
                end <= right_offset,
                "block of step {step} at {offset}..{end} of {memory} overlaps the live block \
                 of step {} at {right_offset}..{}",
                right.step,
                right.end
            );
            if kinds_conflict(kind, right.kind) {
                page_checks += 1;
                assert!(
                    page(end - 1) < page(right_offset),
                    "block of step {step} ({kind:?}) at {offset}..{end} of {memory} shares a \
                     {}-byte page with the block of step {} ({:?}) at {right_offset}..{}",
                    self.granularity,
                    right.step,
                    right.kind,
                    right.end
                );
            }
        }
        ranges.insert(offset, LiveRange { end, kind, step });
        page_checks
    }

    /// Forgets a block that is about to be freed.
    fn remove<M: Debug>(&mut self, block: &MemoryBlock<M>) {
        let memory = format!("{:?}", block.memory());
        self.remove_range(memory, block.offset()..block.offset() + block.size());
    }

    /// [`LiveRanges::remove`] for `range` of `memory`.
    fn remove_range(&mut self, memory: String, range: Range<u64>) {
        let ranges = self
            .objects
            .get_mut(&memory)
            .unwrap_or_else(|| panic!("no live block in {memory}"));
        let removed = ranges.remove(&range.start);
        assert!(
            removed.is_some_and(|r| r.end == range.end),
            "{memory} has no live block at {range:?}"
        );
        if ranges.is_empty() {
            self.objects.remove(&memory);
        }
    }

    fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// Allocates and frees blocks at random for `plan.steps` steps, then frees what
/// is left and calls `cleanup`.
///
/// Each allocating step asks `make` (given the run's generator and the step) for
/// a request, the resource kind and the test's resource; allocates with that
/// kind and checks the block's alignment and size; calls `bind` (to bind the
/// resource, say); and tags host-visible blocks with the step. Each freeing step
/// checks the victim's tag, calls `release` (which must be done with the
/// resource), and frees the block. Each new block is checked against every
/// block live at that moment, through a sorted map of live ranges per memory
/// object: no overlap, and no granularity page shared with a block of a
/// conflicting kind. After every step the allocator's invariants are checked
/// (`check_invariants`) and its memory objects counted against `device`. After the steps, the live blocks are
/// checked once more with [`assert_blocks_apart`]; after `cleanup`, no block,
/// memory object or device allocation is left.
///
/// # Safety
///
/// - `device` wraps the device whose properties made `alloc`, every block of
///   `alloc` came from it, and it counted every allocation and free of `alloc`
///   (so a fresh [`Counting`] next to a fresh allocator does).
/// - `bind` and `release` keep the rules of the blocks they are given: the
///   device is done with a resource before `release` returns.
pub unsafe fn churn<M, D, R>(
    alloc: &mut GpuAllocator<M>,
    device: &Counting<'_, D>,
    plan: ChurnPlan,
    mut make: impl FnMut(&mut Rng, u32) -> (Request, ResourceKind, R),
    mut bind: impl FnMut(&mut Held<M, R>),
    mut release: impl FnMut(&mut Held<M, R>),
) -> ChurnStats
where
    M: Debug + 'static,
    D: MemoryDevice<M>,
{
    let mut stats = ChurnStats::default();
    let mut free = |alloc: &mut GpuAllocator<M>, stats: &mut ChurnStats, mut held: Held<M, R>| {
        if held
            .block
            .props()
            .contains(MemoryPropertyFlags::HOST_VISIBLE)
        {
            let len = held.block.size().min(TAG_LEN) as usize;
            let mut got = [0u8; TAG_LEN as usize];
            // SAFETY: a host-visible block of this allocator and device; the
            // device does not use it.
            unsafe { held.block.read_bytes(device, 0, &mut got[..len]) }.expect("read tag");
            let tag = u64::from(held.step).to_le_bytes();
            assert_eq!(got[..len], tag[..len], "tag of block {}", held.step);
            stats.tags_checked += 1;
        }
        release(&mut held);
        // SAFETY: the block came from this allocator and device; `release` is
        // done with its resource.
        unsafe { alloc.dealloc(device, held.block) };
    };

    let mut rng = Rng::from_state(plan.seed);
    let mut live: Vec<Held<M, R>> = Vec::new();
    let mut ranges = LiveRanges::new(alloc.buffer_image_granularity());
    for step in 0..plan.steps {
        if live.is_empty() || rng.below_mod(plan.allocate.1) < plan.allocate.0 {
            let (request, kind, resource) = make(&mut rng, step);
            // SAFETY: the caller's contract.
            let block = unsafe { alloc_block(alloc, device, request, kind) };
            assert_eq!(block.offset() & request.align_mask, 0, "{request:?}");
            assert!(block.size() >= request.size, "{request:?}");
            stats.page_checks += ranges.insert(&block, kind, step);
            stats.blocks_allocated += 1;
            let mut held = Held {
                block,
                request,
                kind,
                step,
                resource,
            };
            bind(&mut held);
            if held
                .block
                .props()
                .contains(MemoryPropertyFlags::HOST_VISIBLE)
            {
                let len = held.block.size().min(TAG_LEN) as usize;
                let tag = u64::from(step).to_le_bytes();
                // SAFETY: a host-visible block of this allocator and device; the
                // device does not use it.
                unsafe { held.block.write_bytes(device, 0, &tag[..len]) }.expect("write tag");
            }
            live.push(held);
        } else {
            let victim = live.swap_remove(rng.below_mod(live.len() as u64) as usize);
            ranges.remove(&victim.block);
            free(alloc, &mut stats, victim);
        }
        stats.peak_objects = stats.peak_objects.max(device.live.get());
        alloc.check_invariants();
        assert_eq!(
            u64::from(alloc.memory_objects()),
            device.live.get(),
            "memory objects after step {step}"
        );
    }

    stats.live_at_end = live.len();
    let granularity = alloc.buffer_image_granularity();
    assert_blocks_apart(granularity, live.iter().map(|h| (&h.block, h.kind)));
    for held in live.drain(..) {
        ranges.remove(&held.block);
        free(alloc, &mut stats, held);
    }
    assert!(ranges.is_empty());
    // SAFETY: the caller's contract.
    unsafe { cleanup_and_check(alloc, device) };
    stats
}

/// The churn the erupt and gfx tests run: 4000 steps of synthetic requests
/// (any memory type, five usages, 1 byte to 9 MiB, alignments up to 256, no
/// resource kind) with nothing bound; on every 16th step an upload or download
/// block also round-trips a pattern through `write_bytes`, `flush_range`,
/// `invalidate_range` and `read_bytes`. Besides every check of [`churn`], at
/// least 2000 blocks are allocated, from more than one memory object.
///
/// # Safety
///
/// As for [`churn`].
pub unsafe fn churn_synthetic<M, D>(
    alloc: &mut GpuAllocator<M>,
    device: &Counting<'_, D>,
) -> ChurnStats
where
    M: Debug + 'static,
    D: MemoryDevice<M>,
{
    let usages = [
        UsageFlags::FAST_DEVICE_ACCESS,
        UsageFlags::UPLOAD,
        UsageFlags::DOWNLOAD,
        UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        UsageFlags::HOST_ACCESS | UsageFlags::FAST_DEVICE_ACCESS,
    ];
    let plan = ChurnPlan {
        steps: 4000,
        seed: 0x2545_f491_4f6c_dd1d,
        allocate: (2, 3),
    };
    let make = |rng: &mut Rng, _step| {
        let size = match rng.below_mod(10) {
            0 => 1 + rng.below_mod(64),
            1..=6 => 1 + rng.below_mod(16_384),
            7 | 8 => 1 + rng.below_mod(1 << 20),
            _ => (1 << 20) + rng.below_mod(8 << 20),
        };
        let request = Request {
            size,
            align_mask: (1u64 << rng.below_mod(9)) - 1,
            usage: usages[rng.below_mod(usages.len() as u64) as usize],
            memory_types: !0,
        };
        (request, ResourceKind::Unknown, ())
    };
    let round_trip = |held: &mut Held<M, ()>| {
        let usage = held.request.usage;
        if held.step % 16 != 0 || !usage.intersects(UsageFlags::UPLOAD | UsageFlags::DOWNLOAD) {
            return;
        }
        let data = pattern(u64::from(held.step), held.request.size.min(256) as usize);
        let mut back = vec![0; data.len()];
        let block = &mut held.block;
        // SAFETY: a host-visible block (upload and download memory always is)
        // of this allocator and device; no device work uses it.
        unsafe {
            block.write_bytes(device, 0, &data).unwrap();
            block.flush_range(device, 0, data.len() as u64).unwrap();
            block
                .invalidate_range(device, 0, data.len() as u64)
                .unwrap();
            block.read_bytes(device, 0, &mut back).unwrap();
        }
        assert_eq!(back, data);
    };
    // SAFETY: the caller's contract; nothing is bound to the blocks.
    let stats = unsafe { churn(alloc, device, plan, make, round_trip, |_| {}) };
    assert!(stats.blocks_allocated >= 2000);
    assert!(device.allocations.get() > 1);
    stats
}

/// Checks a GPU copy between two host-visible memory objects, through the
/// device's own mapping calls: maps both whole, writes `pattern(77, size)` into
/// `src`, flushes it as two ranges (up to an `atom` multiple, then to the end of
/// the object) and flushes an empty list, runs `copy` (which copies the first
/// `size` bytes of `src` to `dst` on the GPU and waits), invalidates all of
/// `dst`, compares the bytes, and unmaps both.
///
/// # Safety
///
/// - `src` and `dst` were allocated from `device`, `object_size` bytes each of
///   a host-visible memory type, and are not mapped.
/// - `size <= object_size`; `atom` is the device's `nonCoherentAtomSize`.
/// - `copy` makes the GPU's writes available to host reads before it returns.
pub unsafe fn copy_between_mapped<M, D: MemoryDevice<M>>(
    device: &D,
    src: &mut M,
    dst: &mut M,
    (object_size, size, atom): (u64, u64, u64),
    copy: impl FnOnce(),
) {
    let data = pattern(77, size as usize);
    // SAFETY: both objects are live, host-visible and unmapped; the ranges are
    // inside them; the pointers are used only while mapped; flushed and
    // invalidated ranges are atom-aligned or reach the end of the object.
    unsafe {
        let src_ptr = device.map_memory(src, 0, object_size).unwrap();
        let dst_ptr = device.map_memory(dst, 0, object_size).unwrap();
        std::ptr::copy_nonoverlapping(data.as_ptr(), src_ptr.as_ptr(), data.len());
        let half = (size / 2) / atom * atom;
        device
            .flush_memory_ranges(&[
                MappedMemoryRange {
                    memory: &*src,
                    offset: 0,
                    size: half,
                },
                MappedMemoryRange {
                    memory: &*src,
                    offset: half,
                    size: object_size - half,
                },
            ])
            .unwrap();
        device.flush_memory_ranges(&[]).unwrap();
        copy();
        device
            .invalidate_memory_ranges(&[MappedMemoryRange {
                memory: &*dst,
                offset: 0,
                size: object_size,
            }])
            .unwrap();
        let back = std::slice::from_raw_parts(dst_ptr.as_ptr(), size as usize);
        assert!(back == &data[..], "copied bytes differ");
        device.unmap_memory(src);
        device.unmap_memory(dst);
    }
}

#[cfg(test)]
mod tests {
    use {
        super::*,
        crate::sim::{Layout, SimDevice},
        gpu_alloc::Config,
    };

    fn allocator(device: &SimDevice, config: Config) -> GpuAllocator<crate::sim::SimMemory> {
        GpuAllocator::with_extended_properties(
            config,
            device.properties(),
            device.extended_properties(),
        )
    }

    /// Panics of `LiveRanges::insert_range` for `range` next to the live
    /// blocks of a map with a 1024-byte granularity.
    fn insert_panics(
        live: &[(u64, u64, ResourceKind)],
        range: Range<u64>,
        kind: ResourceKind,
    ) -> bool {
        let mut ranges = LiveRanges::new(1024);
        for (step, &(start, end, kind)) in live.iter().enumerate() {
            ranges.insert_range("m".into(), start..end, kind, step as u32);
        }
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ranges.insert_range("m".into(), range, kind, 99)
        }))
        .is_err()
    }

    /// A new block is checked against the live blocks around it: overlaps on
    /// either side or over a whole block, and pages shared with a block of
    /// another or an unknown kind, are caught.
    #[test]
    fn live_ranges_check_every_new_block_against_its_live_neighbours() {
        use ResourceKind::{Linear as L, Optimal as O, Unknown as U};
        // Overlaps: inside, across either end, the same start.
        assert!(insert_panics(&[(100, 200, L)], 150..160, L));
        assert!(insert_panics(&[(100, 200, L)], 50..101, L));
        assert!(insert_panics(&[(100, 200, L)], 199..300, L));
        assert!(insert_panics(&[(100, 200, L)], 100..101, L));
        assert!(insert_panics(&[(100, 200, L), (300, 400, L)], 150..350, L));
        // Touching is fine; so is another memory object.
        assert!(!insert_panics(&[(100, 200, L)], 200..300, L));
        assert!(!insert_panics(&[(100, 200, L)], 0..100, L));
        let mut ranges = LiveRanges::new(1024);
        ranges.insert_range("a".into(), 0..100, O, 0);
        assert_eq!(ranges.insert_range("b".into(), 0..100, L, 1), 0);
        // Pages: same known kind may share one, others may not.
        assert!(!insert_panics(&[(0, 100, L)], 100..200, L));
        assert!(insert_panics(&[(0, 100, L)], 100..200, O));
        assert!(insert_panics(&[(0, 100, U)], 100..200, U));
        assert!(insert_panics(&[(2000, 2100, O)], 1100..1200, L));
        assert!(!insert_panics(&[(0, 100, L)], 1024..1100, O));
        // A new block that covers a live one, or reaches over two.
        assert!(insert_panics(&[(100, 200, L)], 50..250, L));
        assert!(insert_panics(&[(0, 100, L), (100, 200, L)], 50..150, L));
        // Freed blocks no longer count.
        let mut ranges = LiveRanges::new(1024);
        ranges.insert_range("m".into(), 0..100, O, 0);
        ranges.remove_range("m".into(), 0..100);
        assert!(ranges.is_empty());
        assert_eq!(ranges.insert_range("m".into(), 50..150, L, 1), 0);
    }

    /// The erupt and gfx churn passes its own checks on simulated devices,
    /// which panic on any rule of `MemoryDevice` the driver breaks.
    #[test]
    fn churn_synthetic_keeps_the_rules_of_simulated_devices() {
        for name in ["lavapipe-llvm15", "nvidia-h200", "amd-rx6600-radv"] {
            let device = SimDevice::new(Layout::named(name));
            let counting = Counting::new(&device);
            let mut alloc = allocator(&device, Config::i_am_prototyping());
            // SAFETY: a fresh allocator made for `device`, counted from the start.
            let stats = unsafe { churn_synthetic(&mut alloc, &counting) };
            assert!(stats.tags_checked > 0, "{name}");
            assert!(counting.maps.get() > 0, "{name}");
            assert_eq!(device.live_count(), 0, "{name}");
        }
    }

    /// With a 1024-byte granularity and blocks of every kind, the driver checks
    /// pages, and calls `bind` and `release` once for every block.
    #[test]
    fn churn_checks_pages_and_calls_the_hooks_once_per_block() {
        let device = SimDevice::new(Layout::named("nvidia-h200"));
        let counting = Counting::new(&device);
        let mut alloc = allocator(&device, Config::i_am_potato());
        let kinds = [
            ResourceKind::Unknown,
            ResourceKind::Linear,
            ResourceKind::Optimal,
        ];
        let make = |rng: &mut Rng, step: u32| {
            let request = Request {
                size: 1 + rng.below_mod(3000),
                align_mask: (1 << rng.below_mod(8)) - 1,
                usage: UsageFlags::HOST_ACCESS,
                memory_types: !0,
            };
            (request, kinds[rng.below_mod(3) as usize], step)
        };
        let bound = Cell::new(0u64);
        let released = Cell::new(0u64);
        let bind = |held: &mut Held<_, u32>| {
            assert_eq!(held.resource, held.step);
            bump(&bound);
        };
        let release = |held: &mut Held<_, u32>| {
            assert_eq!(held.resource, held.step);
            bump(&released);
        };
        let plan = ChurnPlan {
            steps: 3000,
            seed: 7,
            allocate: (3, 5),
        };
        // SAFETY: a fresh allocator made for `device`, counted from the start;
        // nothing is bound to the blocks.
        let stats = unsafe { churn(&mut alloc, &counting, plan, make, bind, release) };
        assert!(stats.live_at_end > 0);
        assert!(stats.page_checks > 0);
        assert_eq!(bound.get(), stats.blocks_allocated);
        assert_eq!(released.get(), stats.blocks_allocated);
        assert_eq!(counting.frees.get(), counting.allocations.get());
    }
}
