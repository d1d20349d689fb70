//! The workload's device on Vulkan through gfx-hal 0.9 (gfx-backend-vulkan) and
//! `gpu-alloc-gfx`: the same resources and copies as the ash backend.

use {
    crate::{
        ash::OpenError,
        gpu::{
            whole_image, BufferCopy, BufferPurpose, Gpu, ImageCopy, Requirements, Resource, Shape,
        },
    },
    gfx_backend_vulkan as back,
    gpu_alloc::MemoryBlock,
    gpu_alloc_gfx::{gfx_extended_device_properties, GfxDeviceProperties, GfxMemoryDevice},
    hal::{
        adapter::PhysicalDevice as _,
        buffer, command,
        command::CommandBuffer as _,
        device::Device as _,
        format, image,
        memory::{Barrier, Dependencies, SparseFlags},
        pool::{CommandPool as _, CommandPoolCreateFlags},
        pso::PipelineStage,
        queue::{Queue as _, QueueFamily as _, QueueGroup},
        Instance as _,
    },
    std::{
        iter,
        sync::{Mutex, OnceLock},
    },
};

type B = back::Backend;

/// Receives gfx-backend-vulkan's log records, where its debug messenger sends
/// the validation layer's messages (when `VK_INSTANCE_LAYERS` turns it on).
struct Messages {
    validation: Mutex<Vec<String>>,
}

impl log::Log for Messages {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target().starts_with("gfx_backend_vulkan") && metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let text = record.args().to_string();
        eprintln!("gfx-backend-vulkan [{}]: {}", record.level(), text.trim());
        // Validation warnings and errors fail the run.
        if text.trim_start().starts_with("VALIDATION") {
            let mut validation = self.validation.lock().unwrap_or_else(|e| e.into_inner());
            validation.push(text.trim().to_owned());
        }
    }

    fn flush(&self) {}
}

/// The logger, installed on first use.
fn messages() -> &'static Messages {
    static MESSAGES: OnceLock<Messages> = OnceLock::new();
    let mut installed = false;
    let messages = MESSAGES.get_or_init(|| {
        installed = true;
        Messages {
            validation: Mutex::new(Vec::new()),
        }
    });
    if installed && log::set_logger(messages).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    messages
}

/// The command pool, its command buffer and the fence of one submission.
struct Commands {
    pool: <B as hal::Backend>::CommandPool,
    cmd: <B as hal::Backend>::CommandBuffer,
    fence: <B as hal::Backend>::Fence,
}

/// [`Gpu`] on the first Vulkan adapter through gfx-hal: one command buffer, one
/// fence.
pub struct GfxGpu {
    /// Destroyed in `drop`, before the device.
    commands: Option<Commands>,
    recording: bool,
    // Field order is drop order: queues and device before the instance.
    queue_group: QueueGroup<B>,
    device: <B as hal::Backend>::Device,
    pub properties: GfxDeviceProperties,
    pub name: String,
    _instance: back::Instance,
}

impl GfxGpu {
    /// Opens the first adapter with a transfer queue.
    pub fn open() -> Result<GfxGpu, OpenError> {
        messages();
        let instance = back::Instance::create("gpu-alloc-demo", 1)
            .map_err(|err| OpenError::NoDriver(format!("gfx-backend-vulkan: {err:?}")))?;
        let Some((adapter, family)) = instance.enumerate_adapters().into_iter().find_map(|a| {
            let family = a
                .queue_families
                .iter()
                .position(|f| f.queue_type().supports_transfer())?;
            Some((a, family))
        }) else {
            return Err(OpenError::NoDriver("no Vulkan device found".into()));
        };
        // SAFETY: the family belongs to the adapter; one queue is asked for.
        let gpu = unsafe {
            adapter.physical_device.open(
                &[(&adapter.queue_families[family], &[1.0])],
                hal::Features::empty(),
            )
        };
        let mut gpu =
            gpu.map_err(|err| OpenError::Failed(format!("opening the device: {err:?}")))?;
        let queue_group = gpu
            .queue_groups
            .pop()
            .ok_or_else(|| OpenError::Failed("no queue group".into()))?;
        let device = gpu.device;
        let fail =
            |what: &str, err: &dyn std::fmt::Debug| OpenError::Failed(format!("{what}: {err:?}"));
        // SAFETY: the family is the queue group's, of this device.
        let mut pool = unsafe {
            device.create_command_pool(queue_group.family, CommandPoolCreateFlags::RESET_INDIVIDUAL)
        }
        .map_err(|err| fail("creating a command pool", &err))?;
        // SAFETY: a live pool.
        let cmd = unsafe { pool.allocate_one(command::Level::Primary) };
        let fence = device
            .create_fence(false)
            .map_err(|err| fail("creating a fence", &err))?;
        Ok(GfxGpu {
            commands: Some(Commands { pool, cmd, fence }),
            recording: false,
            queue_group,
            device,
            properties: gfx_extended_device_properties(&adapter),
            name: adapter.info.name.clone(),
            _instance: instance,
        })
    }

    fn commands(&mut self) -> &mut Commands {
        self.commands.as_mut().expect("live until drop")
    }

    /// The command buffer, begun if it was not.
    fn cmd(&mut self) -> &mut <B as hal::Backend>::CommandBuffer {
        let begin = !self.recording;
        self.recording = true;
        let cmd = &mut self.commands().cmd;
        if begin {
            // SAFETY: the command buffer is in the initial state (new or reset
            // after its last submission completed).
            unsafe { cmd.begin_primary(command::CommandBufferFlags::ONE_TIME_SUBMIT) };
        }
        cmd
    }

    fn global_barrier(&mut self, stages: std::ops::Range<PipelineStage>, dst: buffer::Access) {
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the barrier names no resource
        // (gfx-backend-vulkan records a global memory barrier).
        unsafe {
            cmd.pipeline_barrier(
                stages,
                Dependencies::empty(),
                iter::once(Barrier::AllBuffers(buffer::Access::TRANSFER_WRITE..dst)),
            )
        };
    }

    fn transition(
        &mut self,
        image: &<B as hal::Backend>::Image,
        from: (image::Access, image::Layout),
        to: (image::Access, image::Layout),
    ) {
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the image is live.
        unsafe {
            cmd.pipeline_barrier(
                PipelineStage::TRANSFER..PipelineStage::TRANSFER,
                Dependencies::empty(),
                iter::once(Barrier::Image {
                    states: from..to,
                    target: image,
                    range: all_mips(),
                    families: None,
                }),
            )
        };
    }
}

impl Drop for GfxGpu {
    fn drop(&mut self) {
        let _ = self.device.wait_idle();
        if let Some(Commands {
            mut pool,
            cmd,
            fence,
        }) = self.commands.take()
        {
            // SAFETY: the device is idle, so nothing uses the command buffer,
            // pool or fence.
            unsafe {
                pool.free(iter::once(cmd));
                self.device.destroy_command_pool(pool);
                self.device.destroy_fence(fence);
            }
        }
    }
}

/// A buffer or an image.
#[derive(Debug)]
pub enum Handle {
    Buffer(<B as hal::Backend>::Buffer),
    Image(<B as hal::Backend>::Image),
}

/// Every mip level of a colour image.
fn all_mips() -> image::SubresourceRange {
    image::SubresourceRange {
        aspects: format::Aspects::COLOR,
        level_start: 0,
        level_count: None,
        layer_start: 0,
        layer_count: Some(1),
    }
}

/// gfx-hal's copies of `regions`, tightly packed in the buffer.
fn image_regions(regions: &[ImageCopy]) -> impl Iterator<Item = command::BufferImageCopy> + '_ {
    regions.iter().map(|r| command::BufferImageCopy {
        buffer_offset: r.buffer_offset,
        buffer_width: r.width,
        buffer_height: r.height,
        image_layers: image::SubresourceLayers {
            aspects: format::Aspects::COLOR,
            level: r.mip as image::Level,
            layers: 0..1,
        },
        image_offset: image::Offset {
            x: r.x as i32,
            y: r.y as i32,
            z: 0,
        },
        image_extent: image::Extent {
            width: r.width,
            height: r.height,
            depth: 1,
        },
    })
}

fn buffer(resource: &Resource<GfxGpu>) -> &<B as hal::Backend>::Buffer {
    match &resource.handle {
        Handle::Buffer(buffer) => buffer,
        Handle::Image(_) => panic!("a buffer was expected"),
    }
}

fn image(resource: &Resource<GfxGpu>) -> &<B as hal::Backend>::Image {
    match &resource.handle {
        Handle::Image(image) => image,
        Handle::Buffer(_) => panic!("an image was expected"),
    }
}

impl Gpu for GfxGpu {
    type Memory = <B as hal::Backend>::Memory;
    type Device = GfxMemoryDevice<B>;
    type Handle = Handle;

    fn memory_device(&self) -> &GfxMemoryDevice<B> {
        GfxMemoryDevice::wrap(&self.device)
    }

    fn create(&mut self, shape: Shape) -> Result<(Handle, Requirements), String> {
        let device = &self.device;
        let (handle, requirements) = match shape {
            Shape::Buffer { size, purpose } => {
                let usage = match purpose {
                    BufferPurpose::Mesh => {
                        buffer::Usage::VERTEX
                            | buffer::Usage::INDEX
                            | buffer::Usage::TRANSFER_DST
                            | buffer::Usage::TRANSFER_SRC
                    }
                    BufferPurpose::Staging => buffer::Usage::TRANSFER_SRC,
                    BufferPurpose::Readback => buffer::Usage::TRANSFER_DST,
                };
                // SAFETY: a valid size and usage.
                let buffer = unsafe { device.create_buffer(size, usage, SparseFlags::empty()) }
                    .map_err(|err| format!("creating a buffer: {err:?}"))?;
                // SAFETY: a live buffer.
                let requirements = unsafe { device.get_buffer_requirements(&buffer) };
                (Handle::Buffer(buffer), requirements)
            }
            Shape::Image {
                width,
                height,
                mips,
            } => {
                // SAFETY: RGBA8 optimal 2D images with these usages are required
                // to be supported.
                let image = unsafe {
                    device.create_image(
                        image::Kind::D2(width, height, 1, 1),
                        mips as image::Level,
                        format::Format::Rgba8Unorm,
                        image::Tiling::Optimal,
                        image::Usage::SAMPLED
                            | image::Usage::TRANSFER_SRC
                            | image::Usage::TRANSFER_DST,
                        SparseFlags::empty(),
                        image::ViewCapabilities::empty(),
                    )
                }
                .map_err(|err| format!("creating an image: {err:?}"))?;
                // SAFETY: a live image.
                let requirements = unsafe { device.get_image_requirements(&image) };
                (Handle::Image(image), requirements)
            }
        };
        Ok((
            handle,
            Requirements {
                size: requirements.size,
                align: requirements.alignment.max(1),
                type_bits: requirements.type_mask,
                // gfx-hal 0.9 does not report it: the allocator's size
                // threshold decides.
                prefers_dedicated: false,
                requires_dedicated: false,
                resource: None,
            },
        ))
    }

    unsafe fn bind(
        &mut self,
        handle: &mut Handle,
        block: &MemoryBlock<Self::Memory>,
    ) -> Result<(), String> {
        let device = &self.device;
        // SAFETY: the caller guarantees the block fits the resource's requirements
        // and the resource is unbound.
        let result = unsafe {
            match handle {
                Handle::Buffer(buffer) => {
                    device.bind_buffer_memory(block.memory(), block.offset(), buffer)
                }
                Handle::Image(image) => {
                    device.bind_image_memory(block.memory(), block.offset(), image)
                }
            }
        };
        result.map_err(|err| format!("binding memory: {err:?}"))
    }

    unsafe fn destroy(&mut self, handle: Handle) {
        // SAFETY: the caller guarantees no command uses the resource.
        unsafe {
            match handle {
                Handle::Buffer(buffer) => self.device.destroy_buffer(buffer),
                Handle::Image(image) => self.device.destroy_image(image),
            }
        }
    }

    fn copy_buffer(&mut self, src: &Resource<Self>, dst: &Resource<Self>, regions: &[BufferCopy]) {
        let cmd = self.cmd();
        let regions = regions.iter().map(|r| command::BufferCopy {
            src: r.src,
            dst: r.dst,
            size: r.len,
        });
        // SAFETY: a command buffer being recorded; both buffers are live and
        // bound, the regions lie inside them and do not overlap.
        unsafe { cmd.copy_buffer(buffer(src), buffer(dst), regions) };
    }

    fn copy_buffer_to_image(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        let target = image(dst);
        self.transition(
            target,
            (image::Access::TRANSFER_WRITE, image::Layout::Undefined),
            (
                image::Access::TRANSFER_WRITE,
                image::Layout::TransferDstOptimal,
            ),
        );
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the buffer holds the regions,
        // which lie inside the image; the image is live, bound and in
        // TransferDstOptimal.
        unsafe {
            cmd.copy_buffer_to_image(
                buffer(src),
                target,
                image::Layout::TransferDstOptimal,
                image_regions(regions),
            )
        };
        self.transition(
            target,
            (
                image::Access::TRANSFER_WRITE,
                image::Layout::TransferDstOptimal,
            ),
            (
                image::Access::TRANSFER_READ,
                image::Layout::TransferSrcOptimal,
            ),
        );
    }

    fn copy_image_to_buffer(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the image was uploaded (so it
        // is in TransferSrcOptimal), the regions lie inside it and the buffer
        // holds them.
        unsafe {
            cmd.copy_image_to_buffer(
                image(src),
                image::Layout::TransferSrcOptimal,
                buffer(dst),
                image_regions(regions),
            )
        };
    }

    fn copy_whole(
        &mut self,
        src: &Resource<Self>,
        dst: &Handle,
        _dst_block: &MemoryBlock<Self::Memory>,
    ) {
        match (src.shape, dst) {
            (Shape::Buffer { size, .. }, Handle::Buffer(target)) => {
                let cmd = self.cmd();
                let region = command::BufferCopy {
                    src: 0,
                    dst: 0,
                    size,
                };
                // SAFETY: a command buffer being recorded; both buffers are live,
                // bound and `size` bytes long.
                unsafe { cmd.copy_buffer(buffer(src), target, iter::once(region)) };
            }
            (
                Shape::Image {
                    width,
                    height,
                    mips,
                },
                Handle::Image(target),
            ) => {
                // The new image holds nothing yet.
                self.transition(
                    target,
                    (image::Access::TRANSFER_WRITE, image::Layout::Undefined),
                    (
                        image::Access::TRANSFER_WRITE,
                        image::Layout::TransferDstOptimal,
                    ),
                );
                let regions = whole_image(width, height, mips);
                let regions = regions.iter().map(|r| {
                    let layers = image::SubresourceLayers {
                        aspects: format::Aspects::COLOR,
                        level: r.mip as image::Level,
                        layers: 0..1,
                    };
                    command::ImageCopy {
                        src_subresource: layers.clone(),
                        src_offset: image::Offset::ZERO,
                        dst_subresource: layers,
                        dst_offset: image::Offset::ZERO,
                        extent: image::Extent {
                            width: r.width,
                            height: r.height,
                            depth: 1,
                        },
                    }
                });
                let cmd = self.cmd();
                // SAFETY: a command buffer being recorded; both images are live,
                // bound and of the same create info; the source was uploaded (so
                // it is in TransferSrcOptimal), the new one was just moved to
                // TransferDstOptimal; the regions are whole mip levels.
                unsafe {
                    cmd.copy_image(
                        image(src),
                        image::Layout::TransferSrcOptimal,
                        target,
                        image::Layout::TransferDstOptimal,
                        regions,
                    )
                };
                self.transition(
                    target,
                    (
                        image::Access::TRANSFER_WRITE,
                        image::Layout::TransferDstOptimal,
                    ),
                    (
                        image::Access::TRANSFER_READ,
                        image::Layout::TransferSrcOptimal,
                    ),
                );
            }
            _ => panic!("a copy between a buffer and an image"),
        }
    }

    fn barrier(&mut self) {
        self.global_barrier(
            PipelineStage::TRANSFER..PipelineStage::TRANSFER,
            buffer::Access::TRANSFER_READ | buffer::Access::TRANSFER_WRITE,
        );
    }

    fn submit_and_wait(&mut self) -> Result<(), String> {
        if !self.recording {
            return Ok(());
        }
        self.global_barrier(
            PipelineStage::TRANSFER..PipelineStage::HOST,
            buffer::Access::HOST_READ,
        );
        self.recording = false;
        let commands = self.commands.as_mut().expect("live until drop");
        // SAFETY: the command buffer is being recorded.
        unsafe { commands.cmd.finish() };
        // SAFETY: an executable command buffer whose resources are all live; the
        // fence is unsignalled; the queue is used by this thread only.
        unsafe {
            self.queue_group.queues[0].submit(
                iter::once(&commands.cmd),
                iter::empty(),
                iter::empty(),
                Some(&mut commands.fence),
            )
        };
        // SAFETY: the fence was just submitted.
        let done = unsafe { self.device.wait_for_fence(&commands.fence, u64::MAX) }
            .map_err(|err| format!("waiting for the fence: {err:?}"))?;
        if !done {
            return Err("the fence was not signalled".into());
        }
        // SAFETY: the submission is complete, so neither fence nor command
        // buffer is in use.
        unsafe {
            self.device
                .reset_fence(&mut commands.fence)
                .map_err(|err| format!("resetting the fence: {err:?}"))?;
            commands.cmd.reset(false);
        }
        Ok(())
    }

    fn live_memory_objects(&self) -> Option<usize> {
        None
    }

    fn violations(&self) -> Vec<String> {
        let validation = messages().validation.lock();
        validation.unwrap_or_else(|e| e.into_inner()).clone()
    }
}
