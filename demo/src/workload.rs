//! A renderer-like workload, the same on every device: a level load of meshes
//! and textures, then frames of streaming churn (assets evicted and loaded),
//! asset updates through `UPLOAD | TRANSIENT` staging, and `DOWNLOAD` readbacks
//! that check every byte that went through the GPU.
//!
//! Every upload writes a pattern into a staging buffer and copies it into the
//! asset (buffer to buffer, or buffer to image); every readback copies the same
//! pieces of the asset into a readback buffer and compares them with the
//! pattern the asset last received. Which pieces, [`Plan`] decides once for
//! every device: all of a buffer or mip level of up to 64 KiB; of a larger one
//! its first and last page and 30 random pages (4 KiB, or the fewest whole
//! rows of a mip level that hold 4 KiB), chosen anew at every upload. The
//! pattern depends on the asset, the upload and the place in the asset, so a
//! piece that another resource overwrote, that an upload missed or that landed
//! elsewhere does not compare equal. A readback of an asset that was not
//! touched for many frames catches any allocation that overlapped it.
//!
//! With `--threads N` ([`threads`]), N threads run it at once on one
//! `SharedGpuAllocator`, each with a share of the assets.
//!
//! The level's meshes, the streamed textures and the staging buffers live in
//! user pools ([`pools`]): a full textures pool makes the workload evict its
//! least recently used textures, and the staging buffers of the frames in
//! flight go round one memory object of a ring pool.
//!
//! With `--defrag` ([`defrag`]), the assets' blocks are movable and
//! defragmentation passes move them between frames.

use {
    crate::gpu::{
        mip_extent, BufferCopy, BufferPurpose, Gpu, ImageCopy, Requirements, Resource, Shape, TEXEL,
    },
    gpu_alloc::{
        AllocOptions, AllocatorStats, Config, Dedicated, DefragError, DefragOptions, DefragPass,
        DefragReport, DeviceProperties, ExtendedProperties, Forecast, GpuAllocator, MemoryBlock,
        MemoryDevice, MemoryMap, MemoryPriority, PoolDestroyed, PoolError, PoolId, PoolOptions,
        PoolStats, Request, ResourceKind, SharedGpuAllocator, TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::kit::{Bytes, Rng},
    std::{
        collections::VecDeque,
        fmt::Debug,
        ops::Range,
        sync::mpsc::{Receiver, Sender},
        time::Instant,
    },
};

pub mod defrag;
pub mod pools;
mod threads;

use pools::{Role, SharePools};
pub use threads::run_threaded;

/// Frames a staging buffer stays alive after its frame (as with frames in
/// flight).
const FRAMES_IN_FLIGHT: usize = 2;
/// Bytes of a page, the piece the checks pick in large buffers and mip levels.
const PAGE: u64 = 4 << 10;
/// A buffer or mip level of up to this many bytes is checked whole.
const WHOLE: u64 = 64 << 10;
/// Pages of a larger buffer or mip level checked at random places, besides its
/// first and last page.
const RANDOM_PAGES: u64 = 30;
/// Level assets uploaded per submission during the level load.
const LOAD_BATCH: usize = 16;
/// Streamed assets kept alive: at least / at most (shared out among the
/// threads of `--threads`).
const STREAMED_MIN: usize = 24;
const STREAMED_MAX: usize = 72;
/// Streamed assets loaded per frame, and assets updated per frame, at most
/// (0 to `LOADS_MAX` and 1 to `UPDATES_MAX`).
const LOADS_MAX: u64 = 3;
const UPDATES_MAX: u64 = 4;
/// Streamed meshes have about `4 KiB << 0..=STREAMED_MESH_EXP` bytes,
/// streamed textures sides of `64 << 0..=STREAMED_TEXTURE_EXP`.
const STREAMED_MESH_EXP: u64 = 9;
const STREAMED_TEXTURE_EXP: u64 = 4;
/// The seed of the workload's random choices (of thread 0's with `--threads`).
const SEED: u64 = 0x5eed;
/// Memory objects made or freed between two budget readings the allocator
/// makes by itself (`set_budget_refresh`).
const BUDGET_REFRESH: u32 = 30;

/// Fills `out` with the pattern of the upload with `seed` from byte `position`
/// of the asset on (both multiples of [`TEXEL`]): each 4-byte word is a hash of
/// the seed and the word's place, so a word written by another upload, another
/// resource or for another place matches with a chance of 2^-32.
pub fn fill(seed: u64, position: u64, out: &mut [u8]) {
    debug_assert!(position % TEXEL == 0 && out.len() as u64 % TEXEL == 0);
    let first = position / TEXEL;
    for (i, word) in out.chunks_exact_mut(TEXEL as usize).enumerate() {
        // splitmix64's finaliser of the seed and the word's index.
        let mut x = seed ^ (first + i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        word.copy_from_slice(&(x as u32).to_le_bytes());
    }
}

/// Which of `count` units of `unit` bytes each (the words of a buffer, the rows
/// of a mip level) a check covers, as sorted, disjoint ranges: all of them up to
/// [`WHOLE`] bytes; else the first and the last page and [`RANDOM_PAGES`] pages
/// at random, a page being the fewest units that hold [`PAGE`] bytes.
fn pick(count: u64, unit: u64, rng: &mut Rng) -> Vec<Range<u64>> {
    if count * unit <= WHOLE {
        return std::iter::once(0..count).collect();
    }
    let per_page = PAGE.div_ceil(unit);
    let pages = count.div_ceil(per_page);
    let mut starts = vec![0, count - per_page];
    starts.extend((0..RANDOM_PAGES).map(|_| rng.below_mod(pages) * per_page));
    starts.sort_unstable();
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for start in starts {
        let end = (start + per_page).min(count);
        match ranges.last_mut() {
            Some(last) if start <= last.end => last.end = last.end.max(end),
            _ => ranges.push(start..end),
        }
    }
    ranges
}

/// The most units [`pick`] covers of `count` units of `unit` bytes.
fn pick_bound(count: u64, unit: u64) -> u64 {
    if count * unit <= WHOLE {
        return count;
    }
    count.min((2 + RANDOM_PAGES) * PAGE.div_ceil(unit))
}

/// Where a run of a plan starts in its asset, for messages.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// Byte of a buffer.
    Byte(u64),
    /// First row of a band of whole rows, `width` texels each, of a mip level.
    Row { mip: u32, y: u32, width: u32 },
}

/// Bytes that lie one after another both in the asset's pattern and in the
/// staging or readback buffer.
#[derive(Clone, Copy, Debug)]
struct Run {
    /// Where in the asset's pattern ([`fill`]): a buffer's byte offset, or for
    /// images the byte offset of the texel if mip levels were stored tightly
    /// packed one after another.
    position: u64,
    /// Where in the staging or readback buffer.
    packed: u64,
    len: u64,
    place: Place,
}

/// The copies an asset's upload writes and its readback reads back: the
/// pieces [`pick`] chose, from every mip level of an image, packed one after
/// another into the staging or readback buffer. An upload's seed decides the
/// pieces, so the readback finds them again from the seed.
struct Plan {
    copies: Copies,
    runs: Vec<Run>,
    /// Bytes of the staging or readback buffer.
    bytes: u64,
}

/// The copies of a plan, in the upload's direction.
enum Copies {
    /// `src` in the staging buffer, `dst` in the asset.
    Buffer(Vec<BufferCopy>),
    /// Bands of whole rows of each mip level.
    Image(Vec<ImageCopy>),
}

impl Plan {
    fn new(shape: Shape, seed: u64) -> Plan {
        let mut rng = Rng::odd_state(seed);
        let mut runs = Vec::new();
        let mut packed = 0;
        let copies = match shape {
            Shape::Buffer { size, .. } => {
                debug_assert!(size % TEXEL == 0, "buffer sizes are whole words");
                let mut copies = Vec::new();
                for words in pick(size / TEXEL, TEXEL, &mut rng) {
                    let (offset, len) = (words.start * TEXEL, (words.end - words.start) * TEXEL);
                    copies.push(BufferCopy {
                        src: packed,
                        dst: offset,
                        len,
                    });
                    runs.push(Run {
                        position: offset,
                        packed,
                        len,
                        place: Place::Byte(offset),
                    });
                    packed += len;
                }
                Copies::Buffer(copies)
            }
            Shape::Image {
                width,
                height,
                mips,
            } => {
                let mut copies = Vec::new();
                let mut mip_position = 0;
                for mip in 0..mips {
                    let (w, h) = mip_extent(width, height, mip);
                    let row = u64::from(w) * TEXEL;
                    for rows in pick(u64::from(h), row, &mut rng) {
                        let y = u32::try_from(rows.start).expect("a row of the image");
                        let band = u32::try_from(rows.end - rows.start).expect("rows of the image");
                        copies.push(ImageCopy {
                            buffer_offset: packed,
                            mip,
                            x: 0,
                            y,
                            width: w,
                            height: band,
                        });
                        runs.push(Run {
                            position: mip_position + rows.start * row,
                            packed,
                            len: u64::from(band) * row,
                            place: Place::Row { mip, y, width: w },
                        });
                        packed += u64::from(band) * row;
                    }
                    mip_position += u64::from(h) * row;
                }
                Copies::Image(copies)
            }
        };
        Plan {
            copies,
            runs,
            bytes: packed,
        }
    }

    /// The most bytes of a plan for `shape`, whatever its seed: what a
    /// staging or readback buffer of it holds at most.
    fn max_bytes(shape: Shape) -> u64 {
        match shape {
            Shape::Buffer { size, .. } => pick_bound(size / TEXEL, TEXEL) * TEXEL,
            Shape::Image {
                width,
                height,
                mips,
            } => (0..mips)
                .map(|mip| {
                    let (w, h) = mip_extent(width, height, mip);
                    let row = u64::from(w) * TEXEL;
                    pick_bound(u64::from(h), row) * row
                })
                .sum(),
        }
    }

    /// The staging buffer's bytes for the upload with `seed`.
    fn packed(&self, seed: u64) -> Vec<u8> {
        let mut bytes = vec![0; self.bytes as usize];
        for run in &self.runs {
            let at = run.packed as usize;
            fill(seed, run.position, &mut bytes[at..at + run.len as usize]);
        }
        bytes
    }

    /// Where `read` (a readback buffer's bytes) first differs from what the
    /// upload with `seed` wrote, in words: `(place, read, wrote)`.
    fn mismatch(&self, seed: u64, read: &[u8]) -> Option<(String, u32, u32)> {
        let mut expected = Vec::new();
        for run in &self.runs {
            let at = run.packed as usize;
            let got = &read[at..at + run.len as usize];
            expected.resize(got.len(), 0);
            fill(seed, run.position, &mut expected);
            if got == expected.as_slice() {
                continue;
            }
            let word = |bytes: &[u8], i: usize| {
                u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"))
            };
            let i = (0..got.len())
                .step_by(TEXEL as usize)
                .find(|&i| word(got, i) != word(&expected, i))
                .expect("a differing word");
            let place = match run.place {
                Place::Byte(offset) => format!("byte {}", offset + i as u64),
                Place::Row { mip, y, width } => {
                    let texel = i as u64 / TEXEL;
                    let width = u64::from(width);
                    format!(
                        "mip {mip}, texel ({}, {})",
                        texel % width,
                        u64::from(y) + texel / width
                    )
                }
            };
            return Some((place, word(got, i), word(&expected, i)));
        }
        None
    }
}

/// What the workload needs of an allocator: a [`GpuAllocator`] on one thread,
/// or a [`SharedGpuAllocator`] that every thread of `--threads` uses through
/// `&`.
pub trait Allocator<M> {
    /// [`GpuAllocator::try_alloc_with_options`].
    ///
    /// # Safety
    ///
    /// `device` is the device the allocator was made for.
    unsafe fn alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError>;

    /// [`GpuAllocator::dealloc`].
    ///
    /// # Safety
    ///
    /// `device` is the device the allocator was made for; the device no longer
    /// uses the block.
    unsafe fn dealloc(&mut self, device: &impl MemoryDevice<M>, block: MemoryBlock<M>);

    /// [`GpuAllocator::update_budget`].
    fn update_budget(&mut self, device: &impl MemoryDevice<M>) -> bool;

    /// [`GpuAllocator::set_budget_refresh`].
    fn set_budget_refresh(&mut self, every: u32);

    /// [`GpuAllocator::forecast`].
    fn forecast(&self, request: &Request, options: AllocOptions)
        -> Result<Forecast, TryAllocError>;

    /// [`GpuAllocator::set_block_name`].
    fn set_block_name(&mut self, block: &mut MemoryBlock<M>, name: String) -> bool;

    /// Bytes reserved and memory objects held, for the peaks: exact even while
    /// other threads allocate.
    fn reserved_and_objects(&self) -> (u64, u32);

    /// [`GpuAllocator::create_pool`].
    ///
    /// # Safety
    ///
    /// `device` is the device the allocator was made for; `options` asks for
    /// no export.
    unsafe fn create_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        options: PoolOptions,
    ) -> Result<PoolId, PoolError>;

    /// [`GpuAllocator::destroy_pool`].
    ///
    /// # Safety
    ///
    /// `device` is the device the allocator was made for.
    unsafe fn destroy_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        pool: PoolId,
    ) -> Result<PoolDestroyed, PoolError>;

    /// [`GpuAllocator::pool_stats`].
    fn pool_stats(&self, pool: PoolId) -> Option<PoolStats>;

    /// [`GpuAllocator::set_movable`].
    fn set_movable(
        &mut self,
        block: &mut MemoryBlock<M>,
        tag: u64,
        align_mask: u64,
    ) -> Result<(), DefragError>;

    /// [`GpuAllocator::begin_defrag_pass`].
    fn begin_defrag_pass(&mut self, options: &DefragOptions) -> DefragPass<M>;

    /// [`GpuAllocator::end_defrag_pass`].
    ///
    /// # Safety
    ///
    /// `device` is the device the allocator was made for; the device no longer
    /// uses the old blocks of the moves done nor the new blocks of the others.
    #[allow(clippy::result_large_err)]
    unsafe fn end_defrag_pass(
        &mut self,
        device: &impl MemoryDevice<M>,
        pass: DefragPass<M>,
    ) -> Result<DefragReport, DefragPass<M>>;
}

impl<M: Debug + 'static> Allocator<M> for GpuAllocator<M> {
    unsafe fn alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: the caller's promise.
        unsafe { self.try_alloc_with_options(device, request, options) }
    }

    unsafe fn dealloc(&mut self, device: &impl MemoryDevice<M>, block: MemoryBlock<M>) {
        // SAFETY: the caller's promise.
        unsafe { GpuAllocator::dealloc(self, device, block) }
    }

    fn update_budget(&mut self, device: &impl MemoryDevice<M>) -> bool {
        GpuAllocator::update_budget(self, device)
    }

    fn set_budget_refresh(&mut self, every: u32) {
        GpuAllocator::set_budget_refresh(self, every);
    }

    fn forecast(
        &self,
        request: &Request,
        options: AllocOptions,
    ) -> Result<Forecast, TryAllocError> {
        GpuAllocator::forecast(self, request, options)
    }

    fn set_block_name(&mut self, block: &mut MemoryBlock<M>, name: String) -> bool {
        GpuAllocator::set_block_name(self, block, name)
    }

    fn reserved_and_objects(&self) -> (u64, u32) {
        let stats = self.stats();
        (stats.reserved, stats.memory_objects)
    }

    unsafe fn create_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        options: PoolOptions,
    ) -> Result<PoolId, PoolError> {
        // SAFETY: the caller's promise.
        unsafe { GpuAllocator::create_pool(self, device, options) }
    }

    unsafe fn destroy_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        pool: PoolId,
    ) -> Result<PoolDestroyed, PoolError> {
        // SAFETY: the caller's promise.
        unsafe { GpuAllocator::destroy_pool(self, device, pool) }
    }

    fn pool_stats(&self, pool: PoolId) -> Option<PoolStats> {
        GpuAllocator::pool_stats(self, pool)
    }

    fn set_movable(
        &mut self,
        block: &mut MemoryBlock<M>,
        tag: u64,
        align_mask: u64,
    ) -> Result<(), DefragError> {
        GpuAllocator::set_movable(self, block, tag, align_mask)
    }

    fn begin_defrag_pass(&mut self, options: &DefragOptions) -> DefragPass<M> {
        GpuAllocator::begin_defrag_pass(self, options)
    }

    unsafe fn end_defrag_pass(
        &mut self,
        device: &impl MemoryDevice<M>,
        pass: DefragPass<M>,
    ) -> Result<DefragReport, DefragPass<M>> {
        // SAFETY: the caller's promise.
        unsafe { GpuAllocator::end_defrag_pass(self, device, pass) }
    }
}

/// Vulkan's `VK_MAX_MEMORY_HEAPS`: every heap index an allocator can have.
const MAX_HEAPS: u32 = 16;

impl<M: Debug + 'static> Allocator<M> for &SharedGpuAllocator<M> {
    unsafe fn alloc(
        &mut self,
        device: &impl MemoryDevice<M>,
        request: Request,
        options: AllocOptions,
    ) -> Result<MemoryBlock<M>, TryAllocError> {
        // SAFETY: the caller's promise.
        unsafe { self.try_alloc_with_options(device, request, options) }
    }

    unsafe fn dealloc(&mut self, device: &impl MemoryDevice<M>, block: MemoryBlock<M>) {
        // SAFETY: the caller's promise.
        unsafe { SharedGpuAllocator::dealloc(self, device, block) }
    }

    fn update_budget(&mut self, device: &impl MemoryDevice<M>) -> bool {
        SharedGpuAllocator::update_budget(self, device)
    }

    fn set_budget_refresh(&mut self, every: u32) {
        SharedGpuAllocator::set_budget_refresh(self, every);
    }

    fn forecast(
        &self,
        request: &Request,
        options: AllocOptions,
    ) -> Result<Forecast, TryAllocError> {
        SharedGpuAllocator::forecast(self, request, options)
    }

    fn set_block_name(&mut self, block: &mut MemoryBlock<M>, name: String) -> bool {
        SharedGpuAllocator::set_block_name(self, block, name)
    }

    /// From the central allocator's counts (`stats` is exact only when no
    /// other thread allocates meanwhile): the heaps' usage is its `reserved`.
    fn reserved_and_objects(&self) -> (u64, u32) {
        let reserved = (0..MAX_HEAPS).map(|heap| self.heap_usage(heap)).sum();
        (reserved, self.memory_objects())
    }

    unsafe fn create_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        options: PoolOptions,
    ) -> Result<PoolId, PoolError> {
        // SAFETY: the caller's promise.
        unsafe { SharedGpuAllocator::create_pool(self, device, options) }
    }

    unsafe fn destroy_pool(
        &mut self,
        device: &impl MemoryDevice<M>,
        pool: PoolId,
    ) -> Result<PoolDestroyed, PoolError> {
        // SAFETY: the caller's promise.
        unsafe { SharedGpuAllocator::destroy_pool(self, device, pool) }
    }

    fn pool_stats(&self, pool: PoolId) -> Option<PoolStats> {
        SharedGpuAllocator::pool_stats(self, pool)
    }

    fn set_movable(
        &mut self,
        block: &mut MemoryBlock<M>,
        tag: u64,
        align_mask: u64,
    ) -> Result<(), DefragError> {
        SharedGpuAllocator::set_movable(self, block, tag, align_mask)
    }

    fn begin_defrag_pass(&mut self, options: &DefragOptions) -> DefragPass<M> {
        SharedGpuAllocator::begin_defrag_pass(self, options)
    }

    unsafe fn end_defrag_pass(
        &mut self,
        device: &impl MemoryDevice<M>,
        pass: DefragPass<M>,
    ) -> Result<DefragReport, DefragPass<M>> {
        // SAFETY: the caller's promise.
        unsafe { SharedGpuAllocator::end_defrag_pass(self, device, pass) }
    }
}

/// Which part of the workload a thread runs: of the level's assets every
/// `count`-th from the `index`-th, and a `count`-th of the streamed ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    pub index: usize,
    pub count: usize,
}

impl Share {
    /// The whole workload, on one thread.
    pub const ALL: Share = Share { index: 0, count: 1 };

    /// Streamed assets this share keeps alive: at least / at most.
    fn streamed_min(self) -> usize {
        STREAMED_MIN / self.count
    }

    fn streamed_max(self) -> usize {
        STREAMED_MAX.div_ceil(self.count)
    }

    /// The seed of the share's random choices: the run's for thread 0.
    fn seed(self) -> u64 {
        SEED ^ (self.index as u64) << 32
    }

    /// The seed of the share's level (`level_shapes`).
    fn level_seed(self) -> u64 {
        !self.seed()
    }
}

/// Where a thread of `--threads` sends the assets it evicts (to the next
/// thread, which frees them) and where it receives those of the previous one.
pub struct HandOver<G: Gpu> {
    pub to_next: Sender<Resource<G>>,
    pub from_previous: Receiver<Resource<G>>,
}

/// A mesh or texture with the seed of the pattern it holds.
struct Asset<G: Gpu> {
    resource: Resource<G>,
    /// Unique among the run's assets: the high half of every seed of its
    /// uploads, so that no two assets hold the same pattern.
    id: u64,
    seed: u64,
    /// The last submission that uploaded to it (no asset is uploaded twice in
    /// one submission).
    uploaded_in: u64,
    /// The last submission that uploaded to it or read it back: once that
    /// one is done (below `Workload::batch`), no command uses the asset.
    used_in: u64,
    streamed: bool,
    /// Its block is in the streamed textures' pool (evicted when it is full).
    in_texture_pool: bool,
    /// Its block is movable (`--defrag`).
    movable: bool,
}

/// A readback to compare once its submission is done.
struct Pending<G: Gpu> {
    readback: Resource<G>,
    seed: u64,
    plan: Plan,
    what: String,
}

/// What the run did.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    pub frames: u32,
    pub level_assets: usize,
    pub uploads: u64,
    pub readbacks: u64,
    pub bytes_verified: u64,
    pub streamed_in: u64,
    pub streamed_out: u64,
    /// Assets freed by a thread that did not create them (the evicted assets
    /// of the previous thread, with `--threads`).
    pub freed_by_other_thread: u64,
    pub peak_reserved: u64,
    pub peak_objects: u32,
    pub budget_read: bool,
    /// Blocks given a memory object of their own with their resource's handle
    /// (sent to the device where it can take it).
    pub dedicated_for_resource: u64,
    /// Dedicated blocks given a priority (sent where the device takes one).
    pub dedicated_with_priority: u64,
    /// Bytes of staging buffers made (all in the ring pools).
    pub staged_bytes: u64,
    /// Streamed textures freed to make room in their full pool.
    pub texture_evictions: u64,
    /// Streamed textures not loaded: their pool was full and no texture of
    /// this thread could go (all used by the submission being recorded).
    pub loads_deferred: u64,
    /// The most memory objects each pool ([`Role`]) held, read after every
    /// block made in it (with `--threads`, the most of any thread's ring).
    pub pool_peaks: [u32; 3],
    /// Blocks made movable and moves answered (`--defrag`).
    pub answers: defrag::Answers,
}

/// The result of a run.
pub struct Outcome {
    /// Threads that ran the workload.
    pub threads: usize,
    pub counters: Counters,
    /// Statistics and map at the end of the last frame, before teardown.
    pub stats: AllocatorStats,
    pub map: MemoryMap,
    /// What destroying each pool after the run found, by pool name.
    pub pools_destroyed: Vec<(String, PoolDestroyed)>,
    /// Every failed check, in order.
    pub failures: Vec<String>,
    pub seconds: f64,
    /// With `--defrag`: the memory before and after the passes (`stats` and
    /// `map` are after the last pass).
    pub defrag: Option<defrag::Summary>,
}

/// The workload's state: the whole workload, or one thread's share of it.
pub struct Workload<'g, G: Gpu, A = GpuAllocator<<G as Gpu>::Memory>> {
    gpu: &'g mut G,
    allocator: A,
    rng: Rng,
    share: Share,
    /// With `--threads`: the evicted assets' way to the next thread.
    hand_over: Option<HandOver<G>>,
    /// The pools it allocates from.
    pools: SharePools,
    /// Put before every failure: which thread, with `--threads`.
    label: String,
    assets: Vec<Asset<G>>,
    /// The id of the next asset.
    next_id: u64,
    /// Staging buffers of the last frames, oldest first.
    in_flight: VecDeque<Vec<Resource<G>>>,
    pending: Vec<Pending<G>>,
    /// Number of the submission being recorded.
    batch: u64,
    counters: Counters,
    failures: Vec<String>,
    /// `--defrag`: assets are made movable.
    defrag: bool,
    /// The defragmentation pass begun at the start of this frame (one
    /// thread), answered after the frame's evictions.
    pass: Option<DefragPass<G::Memory>>,
}

impl<'g, G: Gpu, A: Allocator<G::Memory>> Workload<'g, G, A> {
    /// `share` of the workload on `gpu`, with `allocator`, made for its
    /// device, and `pools` of it.
    pub fn new(gpu: &'g mut G, mut allocator: A, share: Share, pools: SharePools) -> Self {
        let budget_read = allocator.update_budget(gpu.memory_device());
        // The allocator keeps the budget fresh by itself as VMA does: a
        // reading every 30 memory objects made or freed.
        allocator.set_budget_refresh(BUDGET_REFRESH);
        Workload {
            gpu,
            allocator,
            rng: Rng::odd_state(share.seed()),
            share,
            hand_over: None,
            pools,
            label: if share.count > 1 {
                format!("thread {}: ", share.index)
            } else {
                String::new()
            },
            assets: Vec::new(),
            next_id: share.index as u64,
            in_flight: VecDeque::from([Vec::new()]),
            pending: Vec::new(),
            batch: 0,
            counters: Counters {
                budget_read,
                ..Counters::default()
            },
            failures: Vec::new(),
            defrag: false,
            pass: None,
        }
    }

    /// Makes the assets movable (`--defrag`).
    pub fn with_defrag(mut self, defrag: bool) -> Self {
        self.defrag = defrag;
        self
    }

    /// Sends evicted assets to the next thread (`--threads`).
    pub fn with_hand_over(mut self, hand_over: HandOver<G>) -> Self {
        self.hand_over = Some(hand_over);
        self
    }

    fn fail(&mut self, what: String) {
        let what = format!("{}{what}", self.label);
        if self.failures.len() < 20 {
            eprintln!("FAILED: {what}");
        }
        self.failures.push(what);
    }

    /// Creates a resource and binds it to a new block: in the pool of `role`
    /// if given (unless the driver requires a memory object of its own for
    /// it). A streamed texture whose pool is full evicts the least recently
    /// used ones until it fits, or is not loaded (`None`, no failure).
    fn create(
        &mut self,
        shape: Shape,
        usage: UsageFlags,
        name: Option<&'static str>,
        role: Option<Role>,
    ) -> Option<Resource<G>> {
        let (mut handle, req) = match self.gpu.create(shape) {
            Ok(created) => created,
            Err(err) => {
                self.fail(format!("creating {shape:?}: {err}"));
                return None;
            }
        };
        let kind = match shape {
            Shape::Buffer { .. } => ResourceKind::Linear,
            Shape::Image { .. } => ResourceKind::Optimal,
        };
        let mut options = AllocOptions::new().resource(kind);
        if let Some(name) = name {
            options = options.name(name);
        }
        let role = role.filter(|_| !req.requires_dedicated);
        let request = Request {
            size: req.size,
            align_mask: req.align - 1,
            usage,
            memory_types: req.type_bits,
        };
        if let Some(role) = role {
            // The pool is the application's choice: no hint for a memory
            // object of its own.
            options = options.pool(self.pools.id(role));
        } else {
            options = self.own_object_options(shape, &req, &request, options);
        }
        let block = loop {
            // SAFETY: the memory device is the one the allocator was made for.
            let block = unsafe {
                self.allocator
                    .alloc(self.gpu.memory_device(), request, options)
            };
            match block {
                Ok(block) => break block,
                Err(TryAllocError::PoolFull { .. })
                    if role == Some(Role::Textures) && self.evict_for_room() => {}
                Err(TryAllocError::PoolFull { .. }) if role == Some(Role::Textures) => {
                    self.counters.loads_deferred += 1;
                    // SAFETY: never bound or used.
                    unsafe { self.gpu.destroy(handle) };
                    return None;
                }
                Err(err) => {
                    self.fail(format!("allocating {request:?} for {shape:?}: {err}"));
                    // SAFETY: never bound or used.
                    unsafe { self.gpu.destroy(handle) };
                    return None;
                }
            }
        };
        if let Some(role) = role {
            let objects = self
                .allocator
                .pool_stats(self.pools.id(role))
                .map_or(0, |stats| stats.memory_objects);
            let peak = &mut self.counters.pool_peaks[role as usize];
            *peak = (*peak).max(objects);
        }
        if block.is_dedicated() && req.resource.is_some() {
            self.counters.dedicated_for_resource += 1;
        }
        if block.is_dedicated() && options.priority.is_some() {
            self.counters.dedicated_with_priority += 1;
        }
        // SAFETY: the block was allocated for these requirements; the resource is new.
        if let Err(err) = unsafe { self.gpu.bind(&mut handle, &block) } {
            self.fail(format!("binding {shape:?}: {err}"));
        }
        Some(Resource {
            handle,
            block,
            shape,
            align: req.align,
        })
    }

    /// `options` for a block outside the pools: the driver's wish for a
    /// memory object of its own, the resource's handle for one, and a
    /// priority where the dry run says the block gets one.
    fn own_object_options(
        &self,
        shape: Shape,
        req: &Requirements,
        request: &Request,
        mut options: AllocOptions,
    ) -> AllocOptions {
        if req.requires_dedicated {
            options = options.dedicated(Dedicated::Required);
        } else if req.prefers_dedicated {
            options = options.dedicated(Dedicated::Preferred);
        }
        if let Some(resource) = req.resource {
            options = options.dedicated_resource(resource);
        }
        // A priority reaches only memory objects of their own: the dry run
        // says which blocks get one. Textures are sampled every frame; staging
        // and readback buffers are touched once.
        let own_object = self
            .allocator
            .forecast(request, options)
            .is_ok_and(|forecast| forecast.dedicated);
        if own_object {
            options = options.priority(match shape {
                Shape::Image { .. } => MemoryPriority::HIGHEST,
                Shape::Buffer {
                    purpose: BufferPurpose::Mesh,
                    ..
                } => MemoryPriority::DEFAULT,
                Shape::Buffer { .. } => MemoryPriority::LOWEST,
            });
        }
        options
    }

    /// Frees the least recently used streamed texture of the textures' pool
    /// that no recorded command uses (every submission before the one being
    /// recorded is done: `submit` waits for each). `false` when there is none.
    fn evict_for_room(&mut self) -> bool {
        let lru = (0..self.assets.len())
            .filter(|&i| self.assets[i].in_texture_pool && self.assets[i].used_in < self.batch)
            .min_by_key(|&i| (self.assets[i].used_in, self.assets[i].id));
        let Some(index) = lru else {
            return false;
        };
        let asset = self.assets.swap_remove(index);
        self.free(asset.resource);
        self.counters.texture_evictions += 1;
        true
    }

    /// Destroys a resource and frees its block.
    fn free(&mut self, resource: Resource<G>) {
        self.destroying(&resource);
        // SAFETY: every submission that used it has completed (callers free only
        // after `submit_and_wait`; another thread's assets come after its
        // `submit_and_wait`); the handle is of this device, which every thread's
        // `G` shares.
        unsafe {
            self.gpu.destroy(resource.handle);
            self.allocator
                .dealloc(self.gpu.memory_device(), resource.block);
        }
    }

    /// An evicted asset: to the next thread with `--threads`, else freed.
    fn evict(&mut self, resource: Resource<G>) {
        let resource = match &self.hand_over {
            // Only fails when the next thread is gone (it panicked).
            Some(hand_over) => match hand_over.to_next.send(resource) {
                Ok(()) => return,
                Err(unsent) => unsent.0,
            },
            None => resource,
        };
        self.free(resource);
    }

    /// Frees the assets the previous thread evicted (`--threads`).
    fn free_handed_over(&mut self) {
        let Some(hand_over) = &self.hand_over else {
            return;
        };
        let received: Vec<Resource<G>> = hand_over.from_previous.try_iter().collect();
        for resource in received {
            self.free(resource);
            self.counters.freed_by_other_thread += 1;
        }
    }

    /// Records an upload of a new pattern into asset `index`, through a staging
    /// buffer that lives until its frame is out of flight.
    fn upload(&mut self, index: usize) {
        let shape = self.assets[index].resource.shape;
        let seed = self.assets[index].id << 32 | self.rng.next_u64() >> 32;
        let plan = Plan::new(shape, seed);
        let staging_shape = Shape::Buffer {
            size: plan.bytes,
            purpose: BufferPurpose::Staging,
        };
        let Some(mut staging) = self.create(
            staging_shape,
            UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
            None,
            Some(Role::Uploads),
        ) else {
            return;
        };
        let data = plan.packed(seed);
        // SAFETY: the device is the allocator's; the GPU does not use the new buffer.
        if let Err(err) = unsafe {
            staging
                .block
                .write_bytes(self.gpu.memory_device(), 0, &data)
        } {
            self.fail(format!("writing staging buffer: {err}"));
        }
        let asset = &self.assets[index].resource;
        match &plan.copies {
            Copies::Buffer(copies) => self.gpu.copy_buffer(&staging, asset, copies),
            Copies::Image(copies) => self.gpu.copy_buffer_to_image(&staging, asset, copies),
        }
        let asset = &mut self.assets[index];
        asset.seed = seed;
        asset.uploaded_in = self.batch;
        asset.used_in = self.batch;
        self.counters.uploads += 1;
        self.counters.staged_bytes += plan.bytes;
        self.in_flight.back_mut().expect("a frame").push(staging);
    }

    /// Records a readback of asset `index`, compared after the submission.
    fn readback(&mut self, index: usize) {
        let Asset {
            resource: asset,
            id,
            seed,
            ..
        } = &self.assets[index];
        let (shape, id, seed) = (asset.shape, *id, *seed);
        let plan = Plan::new(shape, seed);
        let readback_shape = Shape::Buffer {
            size: plan.bytes,
            purpose: BufferPurpose::Readback,
        };
        let Some(readback) = self.create(readback_shape, UsageFlags::DOWNLOAD, None, None) else {
            return;
        };
        self.assets[index].used_in = self.batch;
        let asset = &self.assets[index].resource;
        match &plan.copies {
            Copies::Buffer(copies) => {
                let back: Vec<BufferCopy> = copies
                    .iter()
                    .map(|c| BufferCopy {
                        src: c.dst,
                        dst: c.src,
                        len: c.len,
                    })
                    .collect();
                self.gpu.copy_buffer(asset, &readback, &back);
            }
            Copies::Image(copies) => self.gpu.copy_image_to_buffer(asset, &readback, copies),
        }
        let what = format!(
            "asset {index} (id {id}, {:?}, memory type {}, offset {})",
            shape,
            asset.block.memory_type(),
            asset.block.offset()
        );
        self.pending.push(Pending {
            readback,
            seed,
            plan,
            what,
        });
    }

    /// Submits what was recorded, waits, and compares every readback.
    fn submit(&mut self) {
        if let Err(err) = self.gpu.submit_and_wait() {
            self.fail(format!("submission {}: {err}", self.batch));
        }
        self.batch += 1;
        for mut pending in std::mem::take(&mut self.pending) {
            let mut bytes = vec![0; pending.plan.bytes as usize];
            // SAFETY: the submission that wrote it is complete.
            let read = unsafe {
                pending
                    .readback
                    .block
                    .read_bytes(self.gpu.memory_device(), 0, &mut bytes)
            };
            match read {
                Err(err) => self.fail(format!("reading back {}: {err}", pending.what)),
                Ok(()) => match pending.plan.mismatch(pending.seed, &bytes) {
                    Some((place, read, wrote)) => self.fail(format!(
                        "data mismatch in {} at {place}: read {read:#010x}, wrote {wrote:#010x} \
                         (seed {:#x})",
                        pending.what, pending.seed
                    )),
                    None => {
                        self.counters.readbacks += 1;
                        self.counters.bytes_verified += pending.plan.bytes;
                    }
                },
            }
            self.free(pending.readback);
        }
    }

    /// Adds an asset, records its upload and a readback of it (after a barrier,
    /// which the caller records). Returns its id, or `None` when it could not
    /// be made (a failure) or its pool had no room (a deferred load).
    fn add_asset(&mut self, shape: Shape, streamed: bool) -> Option<u64> {
        // Streamed textures carry their asset's name in leak reports, stats
        // and the memory map.
        let texture = streamed && matches!(shape, Shape::Image { .. });
        let name = texture.then_some("streamed texture");
        // The level's meshes and the streamed textures have pools of their
        // own; the level's textures and the streamed meshes share the
        // allocator's memory.
        let role = match shape {
            Shape::Buffer { .. } if !streamed => Some(Role::Geometry),
            Shape::Image { .. } if streamed => Some(Role::Textures),
            _ => None,
        };
        let mut resource = self.create(shape, UsageFlags::FAST_DEVICE_ACCESS, name, role)?;
        if texture {
            let name = format!("streamed texture {}", self.next_id);
            self.allocator.set_block_name(&mut resource.block, name);
        }
        let id = self.next_id;
        let movable = self.defrag && self.make_movable(&mut resource, id);
        let in_texture_pool = role == Some(Role::Textures) && !resource.block.is_dedicated();
        self.assets.push(Asset {
            resource,
            id,
            seed: 0,
            uploaded_in: u64::MAX,
            used_in: self.batch,
            streamed,
            in_texture_pool,
            movable,
        });
        self.next_id += 1;
        self.upload(self.assets.len() - 1);
        Some(id)
    }

    /// Records the frame's uploads, a barrier, then the readbacks of the
    /// assets `check` names by id.
    fn record_checks(&mut self, check: &[u64]) {
        self.gpu.barrier();
        for &id in check {
            match self.assets.iter().position(|asset| asset.id == id) {
                Some(index) => self.readback(index),
                None => self.fail(format!("asset {id} to check is gone")),
            }
        }
    }

    /// The level load: meshes, textures and two huge textures, uploaded and
    /// checked in batches.
    pub fn load_level(&mut self) {
        let shapes = level_shapes(self.share);
        for chunk in shapes.chunks(LOAD_BATCH) {
            let added: Vec<u64> = chunk
                .iter()
                .filter_map(|&shape| self.add_asset(shape, false))
                .collect();
            self.record_checks(&added);
            self.submit();
            self.end_frame();
        }
        self.counters.level_assets = self.assets.len();
        self.sample();
    }

    /// One frame: evictions, streamed loads, updates, readbacks. With
    /// `defrag_pass`, a defragmentation pass begins before the evictions and
    /// its moves are made after them (one thread, `--defrag`).
    pub fn frame(&mut self, defrag_pass: bool) {
        self.free_handed_over();
        if defrag_pass {
            self.begin_pass();
        }
        let streamed = self.assets.iter().filter(|a| a.streamed).count();
        // Evict.
        let evict = if streamed > self.share.streamed_min() {
            self.rng.below_mod(4) as usize
        } else {
            0
        };
        for _ in 0..evict {
            let candidates: Vec<usize> = (0..self.assets.len())
                .filter(|&i| self.assets[i].streamed)
                .collect();
            if candidates.is_empty() {
                break;
            }
            let index = candidates[self.rng.below_mod(candidates.len() as u64) as usize];
            let asset = self.assets.swap_remove(index);
            self.evict(asset.resource);
            self.counters.streamed_out += 1;
        }
        if defrag_pass {
            self.end_pass();
        }
        // Load (a texture may evict others from its pool: `check` names
        // assets by id, which eviction does not move).
        let load = if streamed < self.share.streamed_max() {
            self.rng.below_mod(LOADS_MAX + 1) as usize
        } else {
            0
        };
        let mut check = Vec::new();
        for _ in 0..load {
            let shape = if self.rng.below_mod(2) == 0 {
                random_mesh(&mut self.rng, STREAMED_MESH_EXP)
            } else {
                random_texture(&mut self.rng, STREAMED_TEXTURE_EXP)
            };
            if let Some(id) = self.add_asset(shape, true) {
                check.push(id);
                self.counters.streamed_in += 1;
            }
        }
        // Update a few assets (dynamic data, texture streaming of mips).
        let updates = if self.assets.is_empty() {
            // Only after failed allocations, already reported.
            0
        } else {
            1 + self.rng.below_mod(UPDATES_MAX)
        };
        for _ in 0..updates {
            let index = self.rng.below_mod(self.assets.len() as u64) as usize;
            if self.assets[index].uploaded_in != self.batch {
                self.upload(index);
                check.push(self.assets[index].id);
            }
        }
        // And read back two assets nobody touched this frame.
        let readbacks = if self.assets.is_empty() { 0 } else { 2 };
        for _ in 0..readbacks {
            let index = self.rng.below_mod(self.assets.len() as u64) as usize;
            let id = self.assets[index].id;
            if self.assets[index].uploaded_in != self.batch && !check.contains(&id) {
                check.push(id);
            }
        }
        self.record_checks(&check);
        self.submit();
        self.end_frame();
        self.counters.frames += 1;
        self.sample();
    }

    /// Retires the staging buffers of the oldest frame once enough frames are in
    /// flight, and starts a new frame.
    fn end_frame(&mut self) {
        while self.in_flight.len() > FRAMES_IN_FLIGHT {
            let oldest = self.in_flight.pop_front().expect("a frame");
            for staging in oldest {
                self.free(staging);
            }
        }
        self.in_flight.push_back(Vec::new());
    }

    /// Tracks peaks.
    fn sample(&mut self) {
        let (reserved, objects) = self.allocator.reserved_and_objects();
        self.counters.peak_reserved = self.counters.peak_reserved.max(reserved);
        self.counters.peak_objects = self.counters.peak_objects.max(objects);
    }

    /// Assets alive.
    pub fn assets(&self) -> usize {
        self.assets.len()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The end of a thread's share (`--threads`): stops handing over, frees
    /// its own assets and staging buffers and, once the previous thread has
    /// stopped evicting, the assets it evicted. Returns the counters and the
    /// failures.
    pub fn finish_share(mut self) -> (Counters, Vec<String>) {
        let from_previous = self.hand_over.take().map(|hand_over| {
            // Lets the next thread's last receive below end.
            drop(hand_over.to_next);
            hand_over.from_previous
        });
        for asset in std::mem::take(&mut self.assets) {
            self.free(asset.resource);
        }
        for frame in std::mem::take(&mut self.in_flight) {
            for staging in frame {
                self.free(staging);
            }
        }
        // Ends when the previous thread has dropped its sender.
        for resource in from_previous.into_iter().flatten() {
            self.free(resource);
            self.counters.freed_by_other_thread += 1;
        }
        for failure in pools::checks(&self.counters) {
            self.fail(failure);
        }
        (self.counters, self.failures)
    }
}

impl<G: Gpu> Workload<'_, G> {
    /// A progress line; also reads the budget and checks the allocator's
    /// invariants.
    pub fn progress(&mut self, frames: u32) {
        self.allocator.update_budget(self.gpu.memory_device());
        self.allocator.check_invariants();
        let stats = self.allocator.stats();
        let c = &self.counters;
        println!(
            "{}",
            progress_line(c.frames, frames, &stats, self.assets.len(), c)
        );
    }

    /// Frees everything, cleans up and checks that the device holds nothing.
    pub fn finish(mut self, started: Instant) -> Outcome {
        self.allocator.update_budget(self.gpu.memory_device());
        self.allocator.check_invariants();
        let stats = self.allocator.stats();
        let map = self.allocator.memory_map();
        let movable = self.assets.iter().filter(|a| a.movable).count() as u64;
        if self.defrag && stats.movable_blocks != movable {
            self.fail(format!(
                "the allocator counts {} movable blocks, the workload {movable} movable assets",
                stats.movable_blocks
            ));
        }
        for asset in std::mem::take(&mut self.assets) {
            self.free(asset.resource);
        }
        for frame in std::mem::take(&mut self.in_flight) {
            for staging in frame {
                self.free(staging);
            }
        }
        let all = pools::all(&[self.pools]);
        let (pools_destroyed, failures) = pools::destroy(&*self.gpu, &mut self.allocator, &all);
        for failure in failures.into_iter().chain(pools::checks(&self.counters)) {
            self.fail(failure);
        }
        // SAFETY: the allocator's device; every block was freed above.
        unsafe { self.allocator.cleanup(self.gpu.memory_device()) };
        self.allocator.check_invariants();
        let after = self.allocator.stats();
        if after.blocks != 0 || after.memory_objects != 0 || after.reserved != 0 {
            self.fail(format!(
                "after freeing everything and cleanup the allocator holds {} blocks in {} \
                 memory objects ({} bytes)",
                after.blocks, after.memory_objects, after.reserved
            ));
        }
        for failure in device_checks(&*self.gpu) {
            self.fail(failure);
        }
        Outcome {
            threads: 1,
            counters: self.counters.clone(),
            stats,
            map,
            pools_destroyed,
            failures: std::mem::take(&mut self.failures),
            seconds: started.elapsed().as_secs_f64(),
            defrag: None,
        }
    }
}

impl Outcome {
    /// The outcome of a run that could not start (its pools could not be
    /// made): `why`, the device's checks, the allocator's `map`.
    pub(super) fn not_started<G: Gpu>(
        why: String,
        gpu: &G,
        map: MemoryMap,
        started: Instant,
    ) -> Outcome {
        let mut failures = vec![why];
        failures.extend(device_checks(gpu));
        Outcome {
            threads: 0,
            counters: Counters::default(),
            stats: map.stats.clone(),
            map,
            pools_destroyed: Vec::new(),
            failures,
            seconds: started.elapsed().as_secs_f64(),
            defrag: None,
        }
    }
}

/// The device's checks at the end of a run: memory objects left, rules broken
/// (validation messages on Vulkan), problems the allocator reported.
fn device_checks<G: Gpu>(gpu: &G) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(live) = gpu.live_memory_objects() {
        if live != 0 {
            failures.push(format!("the device still holds {live} memory objects"));
        }
    }
    for violation in gpu.violations() {
        failures.push(format!("device rule broken: {violation}"));
    }
    if gpu_alloc::reported_problems() != 0 {
        failures.push(format!(
            "the allocator reported {} problems (leaks or foreign blocks)",
            gpu_alloc::reported_problems()
        ));
    }
    failures
}

/// A progress line after frame `done` of `frames`.
fn progress_line(
    done: u32,
    frames: u32,
    stats: &AllocatorStats,
    assets: usize,
    counters: &Counters,
) -> String {
    format!(
        "frame {done:>4}/{frames}: {:>4} blocks in {:>3} memory objects, reserved {}, used {}, \
         {assets} assets, {} uploads and {} readbacks checked",
        stats.blocks,
        stats.memory_objects,
        Bytes(stats.reserved),
        Bytes(stats.used),
        counters.uploads,
        counters.readbacks,
    )
}

/// Whether frame `frame` (1 to `frames`) gets a progress line: every tenth of
/// the run, and the last.
fn is_progress_frame(frame: u32, frames: u32) -> bool {
    frame % (frames / 10).max(1) == 0 || frame == frames
}

/// A random mesh of `4 KiB << 0..=max_exp` bytes or so.
fn random_mesh(rng: &mut Rng, max_exp: u64) -> Shape {
    let exp = 12 + rng.below_mod(max_exp + 1);
    let size = ((1 << exp) + rng.below_mod(1 << exp)) & !15;
    Shape::Buffer {
        size,
        purpose: BufferPurpose::Mesh,
    }
}

/// A random texture with sides `64 << 0..=max_exp` (some half as high).
fn random_texture(rng: &mut Rng, max_exp: u64) -> Shape {
    let width = 64u32 << rng.below_mod(max_exp + 1);
    let height = if rng.below_mod(4) == 0 {
        width / 2
    } else {
        width
    };
    texture(width, height)
}

/// The level's assets of `share`: of 96 meshes, 64 textures, six large and
/// two huge textures (drawn from the share's own generator, so the pools can
/// be sized from them before the load), every `count`-th from the `index`-th.
fn level_shapes(share: Share) -> Vec<Shape> {
    let mut rng = Rng::odd_state(share.level_seed());
    let mut shapes = Vec::new();
    for _ in 0..96 {
        shapes.push(random_mesh(&mut rng, 10));
    }
    for _ in 0..64 {
        shapes.push(random_texture(&mut rng, 4));
    }
    for _ in 0..6 {
        shapes.push(texture(2048, 2048));
    }
    shapes.push(texture(4096, 4096));
    shapes.push(texture(4096, 2048));
    shapes
        .into_iter()
        .skip(share.index)
        .step_by(share.count)
        .collect()
}

/// An RGBA8 texture with a full mip chain.
fn texture(width: u32, height: u32) -> Shape {
    Shape::Image {
        width,
        height,
        mips: 32 - width.max(height).leading_zeros(),
    }
}

/// Runs the whole workload: level load, `frames` frames with progress lines,
/// teardown; with `defrag`, defragmentation passes (see [`defrag`]).
pub fn run<G: Gpu>(
    gpu: &mut G,
    props: DeviceProperties<'_>,
    ext: ExtendedProperties<'_>,
    frames: u32,
    defrag: bool,
) -> Outcome {
    let started = Instant::now();
    let mut allocator =
        GpuAllocator::with_extended_properties(Config::i_am_prototyping(), props, ext);
    let pools = match pools::create(gpu, &mut allocator, 1) {
        Ok(pools) => pools[0],
        Err(why) => return Outcome::not_started(why, gpu, allocator.memory_map(), started),
    };
    let mut workload = Workload::new(gpu, allocator, Share::ALL, pools).with_defrag(defrag);
    workload.load_level();
    println!(
        "level loaded: {} meshes and textures in {:.2} s",
        workload.counters.level_assets,
        started.elapsed().as_secs_f64()
    );
    workload.progress(frames);
    let mut first = None;
    for frame in 1..=frames {
        // A pass at the start of the frame after each progress line.
        let pass = defrag && is_progress_frame(frame - 1, frames);
        if pass && first.is_none() {
            first = Some((frame - 1, workload.allocator.stats()));
        }
        workload.frame(pass);
        if pass {
            workload.allocator.check_invariants();
        }
        if is_progress_frame(frame, frames) {
            workload.progress(frames);
        }
    }
    if !defrag {
        return workload.finish(started);
    }
    let end = workload.allocator.stats();
    let end_map = workload.allocator.memory_map();
    // Then passes until one moves and frees nothing.
    for _ in 0..defrag::FINAL_PASSES {
        workload.begin_pass();
        let report = workload.end_pass();
        workload.allocator.check_invariants();
        if !report.is_some_and(|r| r.moved > 0 || r.objects_freed > 0) {
            break;
        }
    }
    let mut outcome = workload.finish(started);
    let summary = defrag::Summary {
        first: first.unwrap_or_else(|| (frames, end.clone())),
        end,
        end_map,
    };
    let failures = defrag::checks(&outcome.counters.answers, &outcome.stats);
    outcome.failures.extend(failures);
    outcome.defrag = Some(summary);
    outcome
}

#[cfg(test)]
mod tests;
