//! The workload's device on the simulated GPU of `gpu-alloc-tests`: resources
//! get plausible memory requirements (those of a discrete desktop GPU), and
//! copies move real bytes between memory objects as the device sees them (an
//! image's mip levels lie one after another, each row by row, as `mip_bytes`
//! says).

use {
    crate::gpu::{mip_extent, BufferCopy, Gpu, ImageCopy, Requirements, Resource, Shape, TEXEL},
    gpu_alloc::MemoryBlock,
    gpu_alloc_tests::sim::{Layout, SimDevice, SimMemory},
    std::sync::Arc,
};

/// `DEVICE_LOCAL` and `HOST_VISIBLE` in Vulkan's bits.
const DEVICE_LOCAL: u32 = 0x1;
const HOST_VISIBLE: u32 = 0x2;

/// The simulated device and what the workload needs to know about it. With
/// `--threads`, each thread has a `SimGpu` of its own ([`worker`](Self::worker))
/// on the same device.
pub struct SimGpu {
    device: Arc<SimDevice>,
    /// Memory types buffers can use: all.
    buffer_types: u32,
    /// Memory types optimal images can use: device-local or host-invisible ones
    /// (all of them on devices where every type is host-visible).
    image_types: u32,
}

/// A simulated resource: nothing but its requirements, kept for checks.
#[derive(Debug)]
pub struct SimHandle {
    requirements: Requirements,
}

impl SimGpu {
    pub fn new(layout: Layout) -> Self {
        let count = layout.memory_types.len() as u32;
        let buffer_types = if count == 32 { !0 } else { (1 << count) - 1 };
        let image_types = (0..count)
            .filter(|&i| {
                let flags = layout.type_flags(i);
                flags & DEVICE_LOCAL != 0 || flags & HOST_VISIBLE == 0
            })
            .fold(0, |bits, i| bits | 1 << i);
        SimGpu {
            // Record broken rules instead of panicking, to report them as failed checks.
            device: Arc::new(SimDevice::new(layout).with_panic_on_violation(false)),
            buffer_types,
            image_types: if image_types == 0 {
                buffer_types
            } else {
                image_types
            },
        }
    }

    pub fn device(&self) -> &SimDevice {
        &self.device
    }

    /// Another `SimGpu` on the same device, for another thread (copies run as
    /// they are recorded, so there is nothing else to share or guard).
    pub fn worker(&self) -> SimGpu {
        SimGpu {
            device: Arc::clone(&self.device),
            buffer_types: self.buffer_types,
            image_types: self.image_types,
        }
    }

    /// Copies bytes as the GPU would: reads what the device sees of `src`, writes
    /// it where the device writes `dst`.
    fn gpu_copy(&self, src: (&SimMemory, u64), dst: (&SimMemory, u64), len: u64) {
        let bytes = self.device.device_read(src.0, src.1, len);
        self.device.device_write(dst.0, dst.1, &bytes);
    }
}

/// `value` rounded up to a multiple of `align` (a power of two).
fn round_up(value: u64, align: u64) -> u64 {
    (value + align - 1) & !(align - 1)
}

/// Bytes a mip level of an optimal image takes: its texels row by row, padded
/// to 1 KiB. The levels lie one after another from the image's start.
fn mip_bytes(width: u32, height: u32, mip: u32) -> u64 {
    let (w, h) = mip_extent(width, height, mip);
    round_up(u64::from(w) * u64::from(h) * TEXEL, 1024)
}

/// The bytes of `region` of an image of `shape` as `(offset in the image,
/// offset in the buffer, length)`: one per row, or one for a band of whole rows.
fn spans(shape: Shape, region: &ImageCopy) -> Vec<(u64, u64, u64)> {
    let Shape::Image { width, height, .. } = shape else {
        panic!("an image copy of a buffer");
    };
    let base: u64 = (0..region.mip).map(|l| mip_bytes(width, height, l)).sum();
    let (w, _) = mip_extent(width, height, region.mip);
    let texel = |x: u32, y: u32| base + (u64::from(y) * u64::from(w) + u64::from(x)) * TEXEL;
    let row = u64::from(region.width) * TEXEL;
    if region.x == 0 && region.width == w {
        let len = row * u64::from(region.height);
        return vec![(texel(0, region.y), region.buffer_offset, len)];
    }
    (0..region.height)
        .map(|y| {
            let in_buffer = region.buffer_offset + u64::from(y) * row;
            (texel(region.x, region.y + y), in_buffer, row)
        })
        .collect()
}

impl Gpu for SimGpu {
    type Memory = SimMemory;
    type Device = SimDevice;
    type Handle = SimHandle;

    fn memory_device(&self) -> &SimDevice {
        &self.device
    }

    fn create(&mut self, shape: Shape) -> Result<(SimHandle, Requirements), String> {
        let requirements = match shape {
            // Like desktop drivers: buffers 256-byte aligned, any memory type.
            Shape::Buffer { size, .. } => Requirements {
                size: round_up(size, 256),
                align: 256,
                type_bits: self.buffer_types,
                prefers_dedicated: false,
                requires_dedicated: false,
                resource: None,
            },
            // Optimal images: mip levels padded to 1 KiB, large images 64 KiB
            // aligned, huge ones preferring a dedicated object.
            Shape::Image {
                width,
                height,
                mips,
            } => {
                let size: u64 = (0..mips).map(|mip| mip_bytes(width, height, mip)).sum();
                let align = if size >= 64 << 10 { 64 << 10 } else { 1024 };
                Requirements {
                    size: round_up(size, align),
                    align,
                    type_bits: self.image_types,
                    prefers_dedicated: size >= 64 << 20,
                    requires_dedicated: false,
                    resource: None,
                }
            }
        };
        Ok((SimHandle { requirements }, requirements))
    }

    unsafe fn bind(
        &mut self,
        handle: &mut SimHandle,
        block: &MemoryBlock<SimMemory>,
    ) -> Result<(), String> {
        let r = handle.requirements;
        if block.size() < r.size
            || block.offset() % r.align != 0
            || r.type_bits & 1 << block.memory_type() == 0
        {
            return Err(format!(
                "block (type {}, offset {}, size {}) does not fit {r:?}",
                block.memory_type(),
                block.offset(),
                block.size()
            ));
        }
        Ok(())
    }

    unsafe fn destroy(&mut self, _handle: SimHandle) {}

    fn copy_buffer(&mut self, src: &Resource<Self>, dst: &Resource<Self>, regions: &[BufferCopy]) {
        for region in regions {
            self.gpu_copy(
                (src.block.memory(), src.block.offset() + region.src),
                (dst.block.memory(), dst.block.offset() + region.dst),
                region.len,
            );
        }
    }

    fn copy_buffer_to_image(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        for region in regions {
            for (in_image, in_buffer, len) in spans(dst.shape, region) {
                self.gpu_copy(
                    (src.block.memory(), src.block.offset() + in_buffer),
                    (dst.block.memory(), dst.block.offset() + in_image),
                    len,
                );
            }
        }
    }

    fn copy_image_to_buffer(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        for region in regions {
            for (in_image, in_buffer, len) in spans(src.shape, region) {
                self.gpu_copy(
                    (src.block.memory(), src.block.offset() + in_image),
                    (dst.block.memory(), dst.block.offset() + in_buffer),
                    len,
                );
            }
        }
    }

    fn copy_whole(
        &mut self,
        src: &Resource<Self>,
        _dst: &SimHandle,
        dst_block: &MemoryBlock<SimMemory>,
    ) {
        // The same shape takes the same bytes, laid out the same way.
        let len = match src.shape {
            Shape::Buffer { size, .. } => size,
            Shape::Image {
                width,
                height,
                mips,
            } => (0..mips).map(|mip| mip_bytes(width, height, mip)).sum(),
        };
        self.gpu_copy(
            (src.block.memory(), src.block.offset()),
            (dst_block.memory(), dst_block.offset()),
            len,
        );
    }

    // Copies run as they are recorded, in order.
    fn barrier(&mut self) {}

    fn submit_and_wait(&mut self) -> Result<(), String> {
        Ok(())
    }

    fn live_memory_objects(&self) -> Option<usize> {
        Some(self.device.live_count())
    }

    fn violations(&self) -> Vec<String> {
        self.device
            .violations()
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}
