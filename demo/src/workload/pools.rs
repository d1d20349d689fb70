//! The workload's user pools (issue 17), made before the level load and
//! destroyed after the last frame:
//!
//! - **level geometry**: a general pool of device-local memory for the level's
//!   meshes, its object size and most objects computed from the level's
//!   meshes, so that the level fits and a pool that fills anyway fails the
//!   run;
//! - **streamed textures**: a general pool for the streamed textures with
//!   room for about half of what the streamer keeps at its most. A texture
//!   that finds it full (`TryAllocError::PoolFull`) makes the workload free
//!   its least recently used streamed textures whose last submission is done,
//!   one at a time, until the texture fits; with none left, the load waits
//!   for a later frame;
//! - **frame uploads**: a ring pool (one per thread with `--threads`) of one
//!   memory object that holds the staging buffers of the frames in flight,
//!   freed in allocation order at each frame's fence. It may make a second
//!   object, and the run fails if it does: the ring must give the space of
//!   retired frames to new ones.
//!
//! The sizes come from the shapes the workload makes ([`Sizing`]) and the
//! memory types from resources made and destroyed unbound to read their
//! requirements (as VMA's `vmaFindMemoryTypeIndexForBufferInfo` does).

use {
    super::{
        level_shapes, texture, Allocator, Counters, Plan, Share, FRAMES_IN_FLIGHT, LOADS_MAX,
        LOAD_BATCH, STREAMED_MAX, STREAMED_MESH_EXP, STREAMED_TEXTURE_EXP, UPDATES_MAX,
    },
    crate::gpu::{mip_extent, BufferPurpose, Gpu, Shape, TEXEL},
    gpu_alloc::{PoolAlgorithm, PoolDestroyed, PoolId, PoolOptions, UsageFlags},
};

/// The pools' names, in stats, the memory map and the report.
pub const GEOMETRY: &str = "level geometry";
pub const TEXTURES: &str = "streamed textures";
/// The ring's name on one thread; with `--threads`, thread i's is
/// `frame uploads i`.
pub const UPLOADS: &str = "frame uploads";

/// Bytes a block may take in a pool beyond its resource's bytes, for each
/// of: its requirement's rounding, its alignment, the pool's rounding to
/// `bufferImageGranularity` pages. 64 KiB is the largest of these on every
/// device the demo knows (large images' alignment).
const SLACK: u64 = 64 << 10;

/// What a pool is for: indexes [`Counters::pool_peaks`](super::Counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Geometry = 0,
    Textures = 1,
    Uploads = 2,
}

/// The pools one share of the workload allocates from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SharePools {
    pub geometry: PoolId,
    pub textures: PoolId,
    /// This share's ring.
    pub uploads: PoolId,
}

impl SharePools {
    pub fn id(&self, role: Role) -> PoolId {
        match role {
            Role::Geometry => self.geometry,
            Role::Textures => self.textures,
            Role::Uploads => self.uploads,
        }
    }
}

/// Most bytes a block of a resource of `bytes` takes in a pool.
fn footprint(bytes: u64) -> u64 {
    bytes.next_multiple_of(SLACK) + 2 * SLACK
}

/// Bytes of padding a driver may add to each mip level of an image (to its
/// tiles), as the pools are sized.
const MIP_PADDING: u64 = 4 << 10;

/// Bytes of a resource of `shape`: a buffer's size, an image's texels.
pub fn resource_bytes(shape: Shape) -> u64 {
    match shape {
        Shape::Buffer { size, .. } => size,
        Shape::Image {
            width,
            height,
            mips,
        } => (0..mips)
            .map(|mip| {
                let (w, h) = mip_extent(width, height, mip);
                u64::from(w) * u64::from(h) * TEXEL
            })
            .sum(),
    }
}

/// Most bytes a block of a resource of `shape` takes in a pool: its bytes,
/// each mip level padded by [`MIP_PADDING`], then [`footprint`].
fn block_bytes(shape: Shape) -> u64 {
    let padding = match shape {
        Shape::Buffer { .. } => 0,
        Shape::Image { mips, .. } => u64::from(mips) * MIP_PADDING,
    };
    footprint(resource_bytes(shape) + padding)
}

/// The largest streamed mesh and texture.
fn streamed_maxima() -> [Shape; 2] {
    let exp = 12 + STREAMED_MESH_EXP;
    let mesh = Shape::Buffer {
        size: ((1 << exp) + (1 << exp) - 1) & !15,
        purpose: BufferPurpose::Mesh,
    };
    let side = 64 << STREAMED_TEXTURE_EXP;
    [mesh, texture(side, side)]
}

/// The mean bytes of a streamed texture (as `random_texture` draws them:
/// sides `64 << 0..=STREAMED_TEXTURE_EXP`, one in four half as high).
fn mean_streamed_texture() -> u64 {
    let sides = STREAMED_TEXTURE_EXP + 1;
    let total: u64 = (0..sides)
        .map(|exp| {
            let width = 64 << exp;
            3 * resource_bytes(texture(width, width)) + resource_bytes(texture(width, width / 2))
        })
        .sum();
    total / (4 * sides)
}

/// The pools' options but their memory types, from the shapes the workload
/// makes on `threads` threads.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizing {
    pub geometry: PoolOptions,
    pub textures: PoolOptions,
    /// Each thread's ring (unnamed here).
    pub uploads: PoolOptions,
    /// The most bytes of streamed textures the streamer would keep, about:
    /// what the textures pool has no room for.
    pub texture_working_set: u64,
}

impl Sizing {
    pub fn new(threads: usize) -> Sizing {
        let shares: Vec<Vec<Shape>> = (0..threads)
            .map(|index| {
                level_shapes(Share {
                    index,
                    count: threads,
                })
            })
            .collect();

        // Geometry: objects four times the largest mesh, so that an object
        // that turns a mesh away is more than half full (the level only
        // allocates: each object's free space is its tail); then the level
        // fits in its bytes over half an object, plus the one being filled.
        let meshes: Vec<u64> = shares
            .iter()
            .flatten()
            .filter(|s| matches!(s, Shape::Buffer { .. }))
            .map(|&s| block_bytes(s))
            .collect();
        let largest = meshes.iter().copied().max().unwrap_or(SLACK);
        let object = (4 * largest).next_power_of_two();
        let total: u64 = meshes.iter().sum();
        let most = total.div_ceil(object / 2) + 1;
        let geometry = PoolOptions::new(object)
            .usage(UsageFlags::FAST_DEVICE_ACCESS)
            .max_objects(u32::try_from(most).expect("a level of fewer objects"))
            .name(GEOMETRY);

        // Textures: objects that hold the textures one frame loads at its
        // most and one more (so that a load finds room once the older
        // textures go), as many as hold half of the streamed textures the
        // streamer keeps at its most (half of its assets), one at least.
        let [largest_mesh, largest_texture] = streamed_maxima();
        let object = (LOADS_MAX + 1) * block_bytes(largest_texture);
        let object = object.next_power_of_two();
        let texture_working_set = STREAMED_MAX as u64 / 2 * mean_streamed_texture();
        let most = (texture_working_set / 2 / object).max(1);
        let textures = PoolOptions::new(object)
            .usage(UsageFlags::FAST_DEVICE_ACCESS)
            .max_objects(u32::try_from(most).expect("a few objects"))
            .name(TEXTURES);

        // Uploads: the staging of the frames in flight and of the one being
        // recorded, each at its most, and one block more, which a submission
        // bounds (the ring skips the end of its object when the next block
        // does not fit there).
        let staging = |shape: Shape| footprint(Plan::max_bytes(shape));
        let streamed = staging(largest_mesh).max(staging(largest_texture));
        let submission = shares
            .iter()
            .map(|level| {
                let load = level
                    .chunks(LOAD_BATCH)
                    .map(|chunk| chunk.iter().map(|&s| staging(s)).sum::<u64>())
                    .max()
                    .unwrap_or(0);
                let any = level.iter().map(|&s| staging(s)).max().unwrap_or(0);
                let frame = LOADS_MAX * streamed + UPDATES_MAX * any.max(streamed);
                load.max(frame)
            })
            .max()
            .unwrap_or(0);
        let ring = (FRAMES_IN_FLIGHT as u64 + 1) * submission + submission;
        let uploads = PoolOptions::new(ring.next_multiple_of(1 << 20))
            .usage(UsageFlags::UPLOAD)
            .algorithm(PoolAlgorithm::Ring)
            .min_objects(1)
            .max_objects(2);
        Sizing {
            geometry,
            textures,
            uploads,
            texture_working_set,
        }
    }
}

/// The memory types a resource of `shape` can use on `gpu` (made and
/// destroyed unbound).
pub fn memory_types_of<G: Gpu>(gpu: &mut G, shape: Shape) -> Result<u32, String> {
    let (handle, requirements) = gpu
        .create(shape)
        .map_err(|err| format!("creating {shape:?} to read its memory types: {err}"))?;
    // SAFETY: never bound, recorded or used.
    unsafe { gpu.destroy(handle) };
    Ok(requirements.type_bits)
}

/// The name of thread `index`'s ring among `count` threads. The names live
/// as long as the process (the pools take `&'static str`): one short string
/// per thread, made once per run.
pub fn ring_name(index: usize, count: usize) -> &'static str {
    if count == 1 {
        UPLOADS
    } else {
        Box::leak(format!("{UPLOADS} {index}").into_boxed_str())
    }
}

/// Makes the pools of a run on `threads` threads: the geometry and textures
/// pools, and a ring for each thread. Returns each thread's pools, or why a
/// pool could not be made (then none is left).
pub fn create<G: Gpu, A: Allocator<G::Memory>>(
    gpu: &mut G,
    allocator: &mut A,
    threads: usize,
) -> Result<Vec<SharePools>, String> {
    let sizing = Sizing::new(threads);
    let [mesh, texture] = streamed_maxima();
    let staging = Shape::Buffer {
        size: 1 << 16,
        purpose: BufferPurpose::Staging,
    };
    let mut options = vec![
        sizing.geometry.memory_types(memory_types_of(gpu, mesh)?),
        sizing.textures.memory_types(memory_types_of(gpu, texture)?),
    ];
    let staging_types = memory_types_of(gpu, staging)?;
    options.extend((0..threads).map(|index| {
        sizing
            .uploads
            .memory_types(staging_types)
            .name(ring_name(index, threads))
    }));
    let mut made = Vec::new();
    for options in options {
        // SAFETY: the allocator's device; no export asked for.
        match unsafe { allocator.create_pool(gpu.memory_device(), options) } {
            Ok(id) => made.push(id),
            Err(err) => {
                let (_, failures) = destroy(gpu, allocator, &made);
                let name = options.name.unwrap_or("(unnamed)");
                let mut why = format!("creating the pool {name:?} ({options:?}): {err}");
                for failure in failures {
                    why = format!("{why}; {failure}");
                }
                return Err(why);
            }
        }
    }
    Ok(made[2..]
        .iter()
        .map(|&uploads| SharePools {
            geometry: made[0],
            textures: made[1],
            uploads,
        })
        .collect())
}

/// Every pool of `shares`, each once.
pub fn all(shares: &[SharePools]) -> Vec<PoolId> {
    let mut ids: Vec<PoolId> = shares
        .iter()
        .flat_map(|s| [s.geometry, s.textures, s.uploads])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Destroys `pools`, once their blocks are freed: what each destruction
/// found, by name, and a failure for each pool that still held blocks.
pub fn destroy<G: Gpu, A: Allocator<G::Memory>>(
    gpu: &G,
    allocator: &mut A,
    pools: &[PoolId],
) -> (Vec<(String, PoolDestroyed)>, Vec<String>) {
    let mut destroyed = Vec::new();
    let mut failures = Vec::new();
    for &pool in pools {
        let name = allocator
            .pool_stats(pool)
            .and_then(|stats| stats.name)
            .unwrap_or_else(|| format!("{pool:?}"));
        // SAFETY: the allocator's device.
        match unsafe { allocator.destroy_pool(gpu.memory_device(), pool) } {
            Ok(done) => {
                if done.live_blocks != 0 {
                    failures.push(format!(
                        "the pool {name:?} was destroyed with {} live blocks ({} bytes)",
                        done.live_blocks, done.live_bytes
                    ));
                }
                destroyed.push((name, done));
            }
            Err(err) => failures.push(format!("destroying the pool {name:?}: {err}")),
        }
    }
    (destroyed, failures)
}

/// The checks of the pools' use over a run, from its counters: a ring held
/// one memory object all along.
pub fn checks(counters: &Counters) -> Vec<String> {
    let ring = counters.pool_peaks[Role::Uploads as usize];
    if ring == 1 {
        Vec::new()
    } else {
        vec![format!(
            "a ring pool of the frame uploads held {ring} memory objects at its most, not 1"
        )]
    }
}
