//! The workload's device on the simulated GPU of `gpu-alloc-tests`: resources
//! get plausible memory requirements (those of a discrete desktop GPU), and
//! copies move real bytes between memory objects as the device sees them.

use {
    crate::gpu::{Gpu, Requirements, Resource, Shape, TEXEL},
    gpu_alloc::MemoryBlock,
    gpu_alloc_tests::sim::{Layout, SimDevice, SimMemory},
};

/// `DEVICE_LOCAL` and `HOST_VISIBLE` in Vulkan's bits.
const DEVICE_LOCAL: u32 = 0x1;
const HOST_VISIBLE: u32 = 0x2;

/// The simulated device and what the workload needs to know about it.
pub struct SimGpu {
    device: SimDevice,
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
            device: SimDevice::new(layout).with_panic_on_violation(false),
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
            },
            // Optimal images: mip levels padded to 1 KiB, large images 64 KiB
            // aligned, huge ones preferring a dedicated object.
            Shape::Image {
                width,
                height,
                mips,
            } => {
                let size: u64 = (0..mips)
                    .map(|level| {
                        let w = u64::from((width >> level).max(1));
                        let h = u64::from((height >> level).max(1));
                        round_up(w * h * TEXEL, 1024)
                    })
                    .sum();
                let align = if size >= 64 << 10 { 64 << 10 } else { 1024 };
                Requirements {
                    size: round_up(size, align),
                    align,
                    type_bits: self.image_types,
                    prefers_dedicated: size >= 64 << 20,
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

    fn copy_buffer(&mut self, src: &Resource<Self>, dst: &Resource<Self>, len: u64) {
        self.gpu_copy(
            (src.block.memory(), src.block.offset()),
            (dst.block.memory(), dst.block.offset()),
            len,
        );
    }

    fn copy_buffer_to_image(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        width: u32,
        height: u32,
    ) {
        // Mip 0 is stored row by row at the start of the image.
        let Shape::Image { width: stride, .. } = dst.shape else {
            panic!("copy_buffer_to_image to a buffer");
        };
        let row = u64::from(width) * TEXEL;
        for y in 0..u64::from(height) {
            self.gpu_copy(
                (src.block.memory(), src.block.offset() + y * row),
                (
                    dst.block.memory(),
                    dst.block.offset() + y * u64::from(stride) * TEXEL,
                ),
                row,
            );
        }
    }

    fn copy_image_to_buffer(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        width: u32,
        height: u32,
    ) {
        let Shape::Image { width: stride, .. } = src.shape else {
            panic!("copy_image_to_buffer from a buffer");
        };
        let row = u64::from(width) * TEXEL;
        for y in 0..u64::from(height) {
            self.gpu_copy(
                (
                    src.block.memory(),
                    src.block.offset() + y * u64::from(stride) * TEXEL,
                ),
                (dst.block.memory(), dst.block.offset() + y * row),
                row,
            );
        }
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
