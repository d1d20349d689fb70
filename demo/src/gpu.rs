//! What the workload needs from a device: resources with memory requirements,
//! binding, and transfer commands. Implemented by the Vulkan (ash) backend and
//! the simulated device.

use {
    gpu_alloc::{DedicatedResource, MemoryBlock, MemoryDevice},
    std::fmt::Debug,
};

/// Bytes per texel: every texture is RGBA8.
pub const TEXEL: u64 = 4;

/// Width and height of mip level `mip` of a `width` x `height` image.
pub fn mip_extent(width: u32, height: u32, mip: u32) -> (u32, u32) {
    ((width >> mip).max(1), (height >> mip).max(1))
}

/// Every mip level of a `width` x `height` image with `mips` levels, whole,
/// as regions (their `buffer_offset`s packed tightly, for a buffer that would
/// hold them): what an image-to-image copy of all of it copies.
pub fn whole_image(width: u32, height: u32, mips: u32) -> Vec<ImageCopy> {
    let mut packed = 0;
    (0..mips)
        .map(|mip| {
            let (w, h) = mip_extent(width, height, mip);
            let region = ImageCopy {
                buffer_offset: packed,
                mip,
                x: 0,
                y: 0,
                width: w,
                height: h,
            };
            packed += u64::from(w) * u64::from(h) * TEXEL;
            region
        })
        .collect()
}

/// A copy of `len` bytes from byte `src` of one buffer to byte `dst` of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferCopy {
    pub src: u64,
    pub dst: u64,
    pub len: u64,
}

/// A `width` x `height` texel rectangle at (`x`, `y`) of mip level `mip` of an
/// image, and the bytes of a buffer that hold it tightly packed, row after row,
/// from `buffer_offset` on (a multiple of [`TEXEL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageCopy {
    pub buffer_offset: u64,
    pub mip: u32,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// What a resource is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A buffer of `size` bytes.
    Buffer { size: u64, purpose: BufferPurpose },
    /// A 2D RGBA8 image with optimal tiling and a full mip chain.
    Image { width: u32, height: u32, mips: u32 },
}

/// What a buffer is for (picks its usage flags on Vulkan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferPurpose {
    /// Vertex and index data: a copy destination and source.
    Mesh,
    /// Host-written data copied to the GPU.
    Staging,
    /// GPU data copied back for the host.
    Readback,
}

/// A resource's memory requirements.
#[derive(Clone, Copy, Debug)]
pub struct Requirements {
    pub size: u64,
    pub align: u64,
    pub type_bits: u32,
    /// The driver prefers (or requires) a dedicated memory object.
    pub prefers_dedicated: bool,
    /// The driver requires a dedicated memory object.
    pub requires_dedicated: bool,
    /// The resource's handle, sent with a dedicated memory object
    /// (`VkMemoryDedicatedAllocateInfo`) where the backend can.
    pub resource: Option<DedicatedResource>,
}

/// A resource bound to a block.
#[derive(Debug)]
pub struct Resource<G: Gpu + ?Sized> {
    pub handle: G::Handle,
    pub block: MemoryBlock<G::Memory>,
    pub shape: Shape,
    /// The alignment its memory requirements ask (a new block for it keeps
    /// it, when defragmentation moves it).
    pub align: u64,
}

/// A device the workload runs on.
///
/// Transfer commands are recorded in order and run by
/// [`submit_and_wait`](Gpu::submit_and_wait); [`barrier`](Gpu::barrier) orders
/// the copies recorded before it against those recorded after.
pub trait Gpu {
    /// Device memory object handle.
    type Memory: Debug + 'static;
    /// What the allocator allocates through.
    type Device: MemoryDevice<Self::Memory>;
    /// Buffer or image handle.
    type Handle: Debug;

    /// The memory device for the allocator.
    fn memory_device(&self) -> &Self::Device;

    /// Creates a resource (unbound) and returns its memory requirements.
    fn create(&mut self, shape: Shape) -> Result<(Self::Handle, Requirements), String>;

    /// Binds a resource to a block.
    ///
    /// # Safety
    ///
    /// `block` comes from an allocator of this device, fits `handle`'s
    /// requirements, and `handle` is unbound.
    unsafe fn bind(
        &mut self,
        handle: &mut Self::Handle,
        block: &MemoryBlock<Self::Memory>,
    ) -> Result<(), String>;

    /// Destroys a resource.
    ///
    /// # Safety
    ///
    /// No recorded or running command uses it.
    unsafe fn destroy(&mut self, handle: Self::Handle);

    /// Records copies of `regions` from buffer `src` to buffer `dst` (disjoint
    /// inside each buffer, and inside both).
    fn copy_buffer(&mut self, src: &Resource<Self>, dst: &Resource<Self>, regions: &[BufferCopy]);

    /// Records copies of `regions` (disjoint) from buffer `src` into image `dst`,
    /// any mip level, leaving every mip level ready to be copied from. What the
    /// image held outside the regions is lost.
    fn copy_buffer_to_image(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    );

    /// Records copies of `regions` from image `src`, after
    /// [`copy_buffer_to_image`](Gpu::copy_buffer_to_image), into buffer `dst`.
    fn copy_image_to_buffer(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    );

    /// Records a copy of all of `src` into `dst`, a new resource of the same
    /// shape bound to `dst_block` (defragmentation): a buffer's bytes, or
    /// every texel of every mip level of an image, which is then ready to be
    /// copied from as after [`copy_buffer_to_image`](Gpu::copy_buffer_to_image).
    /// Record a [`barrier`](Gpu::barrier) before it (after the writes to
    /// `src`) and after it (before the next uses of `dst`).
    fn copy_whole(
        &mut self,
        src: &Resource<Self>,
        dst: &Self::Handle,
        dst_block: &MemoryBlock<Self::Memory>,
    );

    /// Records an execution and memory dependency between the copies before and
    /// after it.
    fn barrier(&mut self);

    /// Runs what was recorded and waits until it is done and its writes are
    /// visible to the host.
    fn submit_and_wait(&mut self) -> Result<(), String>;

    /// Memory objects the device holds, where it can tell.
    fn live_memory_objects(&self) -> Option<usize>;

    /// Broken API rules the device noticed (the simulated device checks them).
    fn violations(&self) -> Vec<String>;
}
