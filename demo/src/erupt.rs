//! The workload's device on Vulkan through erupt and `gpu-alloc-erupt`: the same
//! resources and copies as the ash backend (`ash.rs`), through erupt's
//! loaders.

use {
    crate::{
        ash::OpenError,
        gpu::{
            whole_image, BufferCopy, BufferPurpose, Gpu, ImageCopy, Requirements, Resource, Shape,
        },
    },
    erupt::{vk, DeviceLoader, EntryLoader, InstanceLoader},
    gpu_alloc::MemoryBlock,
    gpu_alloc_erupt::{
        extended_device_properties, EnabledFeatures, EruptDeviceProperties, EruptMemoryDevice,
    },
    std::{
        ffi::CStr,
        sync::{Mutex, MutexGuard, PoisonError},
    },
};

/// An instance, the first physical device, a device with one queue.
///
/// Shared by the threads of `--threads`: each records into a command pool of
/// its own ([`gpu`](Self::gpu)), and the queue, which Vulkan wants externally
/// synchronized, is behind a lock.
pub struct Erupt {
    device: DeviceLoader,
    instance: InstanceLoader,
    // Dropped last: it holds the loaded library.
    _entry: EntryLoader,
    /// Locked by every `vkQueueSubmit` and `vkDeviceWaitIdle`.
    queue: Mutex<vk::Queue>,
    queue_family: u32,
    pub properties: EruptDeviceProperties,
    pub name: String,
}

impl Erupt {
    /// Opens the first Vulkan device.
    pub fn open() -> Result<Erupt, OpenError> {
        let entry = EntryLoader::new()
            .map_err(|err| OpenError::NoDriver(format!("cannot load the Vulkan library: {err}")))?;
        let api_version = entry.instance_version().min(vk::API_VERSION_1_2);
        let app = vk::ApplicationInfoBuilder::new()
            .application_name(c"gpu-alloc-demo")
            .api_version(api_version);
        // erupt reads the extension and layer lists with `slice::from_raw_parts`,
        // which must not see the null pointer of an unset list.
        let instance_info = vk::InstanceCreateInfoBuilder::new()
            .application_info(&app)
            .enabled_extension_names(&[])
            .enabled_layer_names(&[]);
        // SAFETY: a valid create info without layers or extensions.
        let instance = unsafe { InstanceLoader::new(&entry, &instance_info) }
            .map_err(|err| OpenError::NoDriver(format!("vkCreateInstance: {err:?}")))?;
        let destroy = |err| {
            // SAFETY: called once, on an error path where the instance is live
            // and nothing made from it is.
            unsafe { instance.destroy_instance(None) };
            err
        };
        // SAFETY: a live instance.
        let physical_devices = unsafe { instance.enumerate_physical_devices(None) }
            .result()
            .map_err(|err| {
                destroy(OpenError::Failed(format!(
                    "vkEnumeratePhysicalDevices: {err}"
                )))
            })?;
        let Some(&physical_device) = physical_devices.first() else {
            return Err(destroy(OpenError::NoDriver(
                "no Vulkan device found".into(),
            )));
        };
        // SAFETY: the physical device belongs to the instance.
        let device_props = unsafe { instance.get_physical_device_properties(physical_device) };
        // SAFETY: `device_name` is a NUL-terminated array.
        let name = unsafe { CStr::from_ptr(device_props.device_name.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above.
        let families =
            unsafe { instance.get_physical_device_queue_family_properties(physical_device, None) };
        let transfer =
            vk::QueueFlags::GRAPHICS | vk::QueueFlags::COMPUTE | vk::QueueFlags::TRANSFER;
        let Some(queue_family) = families
            .iter()
            .position(|f| f.queue_flags.intersects(transfer) && f.queue_count > 0)
        else {
            return Err(destroy(OpenError::Failed("no queue can copy".into())));
        };
        let queue_family = queue_family as u32;
        // SAFETY: the physical device belongs to the live instance.
        let properties = unsafe {
            extended_device_properties(&instance, physical_device, EnabledFeatures::new())
        }
        .map_err(|err| {
            destroy(OpenError::Failed(format!(
                "reading memory properties: {err}"
            )))
        })?;
        let priorities = [1.0];
        let queue_info = [vk::DeviceQueueCreateInfoBuilder::new()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities)];
        let device_info = vk::DeviceCreateInfoBuilder::new()
            .queue_create_infos(&queue_info)
            .enabled_extension_names(&[])
            .enabled_layer_names(&[]);
        // SAFETY: a valid create info: one queue of an existing family.
        let device = unsafe { DeviceLoader::new(&instance, physical_device, &device_info) }
            .map_err(|err| destroy(OpenError::Failed(format!("vkCreateDevice: {err}"))))?;
        // SAFETY: the family was asked for with one queue.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        Ok(Erupt {
            device,
            instance,
            _entry: entry,
            queue: Mutex::new(queue),
            queue_family,
            properties,
            name,
        })
    }

    /// The queue, for a call that needs it externally synchronized.
    fn lock_queue(&self) -> MutexGuard<'_, vk::Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The workload's device on this Vulkan device, with a command pool, command
    /// buffer and fence of its own: one per thread.
    pub fn gpu(&self) -> Result<EruptGpu<'_>, String> {
        let device = &self.device;
        let pool_info = vk::CommandPoolCreateInfoBuilder::new()
            .queue_family_index(self.queue_family)
            .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER);
        // SAFETY: a valid create info for a family the device has a queue of.
        let pool = unsafe { device.create_command_pool(&pool_info, None) }
            .result()
            .map_err(|err| format!("vkCreateCommandPool: {err}"))?;
        let mut gpu = EruptGpu {
            vk: self,
            pool,
            cmd: vk::CommandBuffer::default(),
            fence: vk::Fence::default(),
            recording: false,
        };
        let alloc_info = vk::CommandBufferAllocateInfoBuilder::new()
            .command_pool(pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: a live pool of this device.
        gpu.cmd = unsafe { device.allocate_command_buffers(&alloc_info) }
            .result()
            .map_err(|err| format!("vkAllocateCommandBuffers: {err}"))?[0];
        // SAFETY: a valid create info.
        gpu.fence = unsafe { device.create_fence(&vk::FenceCreateInfoBuilder::new(), None) }
            .result()
            .map_err(|err| format!("vkCreateFence: {err}"))?;
        Ok(gpu)
    }
}

impl Drop for Erupt {
    fn drop(&mut self) {
        // SAFETY: everything made from the device was destroyed by `EruptGpu`'s
        // drop (it borrows `self`, so it is gone); the device is idle.
        unsafe {
            self.device.destroy_device(None);
            self.instance.destroy_instance(None);
        }
    }
}

/// A buffer or an image.
#[derive(Debug)]
pub enum Handle {
    Buffer(vk::Buffer),
    Image(vk::Image),
}

/// [`Gpu`] on a Vulkan device through erupt: one command pool with one command
/// buffer, one fence; used by one thread at a time.
pub struct EruptGpu<'a> {
    vk: &'a Erupt,
    pool: vk::CommandPool,
    cmd: vk::CommandBuffer,
    fence: vk::Fence,
    recording: bool,
}

impl Drop for EruptGpu<'_> {
    fn drop(&mut self) {
        let device = &self.vk.device;
        // SAFETY: after waiting for the device to be idle (with the queue
        // locked, as vkDeviceWaitIdle wants) nothing uses the pool (and its
        // command buffer) or the fence; null handles are ignored.
        unsafe {
            let queue = self.vk.lock_queue();
            let _ = device.device_wait_idle();
            drop(queue);
            device.destroy_fence(self.fence, None);
            device.destroy_command_pool(self.pool, None);
        }
    }
}

/// Every mip level of a colour image.
fn all_mips() -> vk::ImageSubresourceRange {
    vk::ImageSubresourceRangeBuilder::new()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .level_count(vk::REMAINING_MIP_LEVELS)
        .layer_count(1)
        .build()
}

/// Vulkan's copies of `regions`, tightly packed in the buffer.
fn image_regions(regions: &[ImageCopy]) -> Vec<vk::BufferImageCopyBuilder<'static>> {
    regions
        .iter()
        .map(|r| {
            let layers = vk::ImageSubresourceLayersBuilder::new()
                .aspect_mask(vk::ImageAspectFlags::COLOR)
                .mip_level(r.mip)
                .layer_count(1)
                .build();
            vk::BufferImageCopyBuilder::new()
                .buffer_offset(r.buffer_offset)
                .image_subresource(layers)
                .image_offset(vk::Offset3D {
                    x: r.x as i32,
                    y: r.y as i32,
                    z: 0,
                })
                .image_extent(vk::Extent3D {
                    width: r.width,
                    height: r.height,
                    depth: 1,
                })
        })
        .collect()
}

impl EruptGpu<'_> {
    fn device(&self) -> &DeviceLoader {
        &self.vk.device
    }

    fn cmd(&mut self) -> vk::CommandBuffer {
        if !self.recording {
            let info = vk::CommandBufferBeginInfoBuilder::new()
                .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
            // SAFETY: the command buffer is in the initial state.
            unsafe { self.device().begin_command_buffer(self.cmd, &info) }
                .result()
                .expect("vkBeginCommandBuffer");
            self.recording = true;
        }
        self.cmd
    }

    fn buffer(resource: &Resource<Self>) -> vk::Buffer {
        match resource.handle {
            Handle::Buffer(buffer) => buffer,
            Handle::Image(_) => panic!("a buffer was expected"),
        }
    }

    fn image(resource: &Resource<Self>) -> vk::Image {
        match resource.handle {
            Handle::Image(image) => image,
            Handle::Buffer(_) => panic!("an image was expected"),
        }
    }

    fn memory_barrier(&mut self, dst_stage: vk::PipelineStageFlags, dst_access: vk::AccessFlags) {
        let cmd = self.cmd();
        let barrier = [vk::MemoryBarrierBuilder::new()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(dst_access)];
        // SAFETY: a command buffer being recorded; a valid barrier.
        unsafe {
            self.device().cmd_pipeline_barrier(
                cmd,
                vk::PipelineStageFlags::TRANSFER,
                dst_stage,
                vk::DependencyFlags::empty(),
                &barrier,
                &[],
                &[],
            )
        };
    }

    fn transition(
        &mut self,
        image: vk::Image,
        old: vk::ImageLayout,
        new: vk::ImageLayout,
        dst_access: vk::AccessFlags,
    ) {
        let cmd = self.cmd();
        let barrier = [vk::ImageMemoryBarrierBuilder::new()
            .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
            .dst_access_mask(dst_access)
            .old_layout(old)
            .new_layout(new)
            .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
            .image(image)
            .subresource_range(all_mips())];
        // SAFETY: a command buffer being recorded; the image is live.
        unsafe {
            self.device().cmd_pipeline_barrier(
                cmd,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &barrier,
            )
        };
    }
}

impl Gpu for EruptGpu<'_> {
    type Memory = vk::DeviceMemory;
    type Device = EruptMemoryDevice;
    type Handle = Handle;

    fn memory_device(&self) -> &EruptMemoryDevice {
        EruptMemoryDevice::wrap(&self.vk.device)
    }

    fn create(&mut self, shape: Shape) -> Result<(Handle, Requirements), String> {
        let device = self.device();
        let (handle, requirements) = match shape {
            Shape::Buffer { size, purpose } => {
                let usage = match purpose {
                    BufferPurpose::Mesh => {
                        vk::BufferUsageFlags::VERTEX_BUFFER
                            | vk::BufferUsageFlags::INDEX_BUFFER
                            | vk::BufferUsageFlags::TRANSFER_DST
                            | vk::BufferUsageFlags::TRANSFER_SRC
                    }
                    BufferPurpose::Staging => vk::BufferUsageFlags::TRANSFER_SRC,
                    BufferPurpose::Readback => vk::BufferUsageFlags::TRANSFER_DST,
                };
                let info = vk::BufferCreateInfoBuilder::new()
                    .size(size)
                    .usage(usage)
                    .sharing_mode(vk::SharingMode::EXCLUSIVE);
                // SAFETY: a valid create info.
                let buffer = unsafe { device.create_buffer(&info, None) }
                    .result()
                    .map_err(|err| format!("vkCreateBuffer: {err}"))?;
                // SAFETY: a live buffer.
                let requirements = unsafe { device.get_buffer_memory_requirements(buffer) };
                (Handle::Buffer(buffer), requirements)
            }
            Shape::Image {
                width,
                height,
                mips,
            } => {
                let info = vk::ImageCreateInfoBuilder::new()
                    .image_type(vk::ImageType::_2D)
                    .format(vk::Format::R8G8B8A8_UNORM)
                    .extent(vk::Extent3D {
                        width,
                        height,
                        depth: 1,
                    })
                    .mip_levels(mips)
                    .array_layers(1)
                    .samples(vk::SampleCountFlagBits::_1)
                    .tiling(vk::ImageTiling::OPTIMAL)
                    .usage(
                        vk::ImageUsageFlags::SAMPLED
                            | vk::ImageUsageFlags::TRANSFER_DST
                            | vk::ImageUsageFlags::TRANSFER_SRC,
                    )
                    .sharing_mode(vk::SharingMode::EXCLUSIVE)
                    .initial_layout(vk::ImageLayout::UNDEFINED);
                // SAFETY: a valid create info (RGBA8 optimal images with these
                // usages are required to be supported).
                let image = unsafe { device.create_image(&info, None) }
                    .result()
                    .map_err(|err| format!("vkCreateImage: {err}"))?;
                // SAFETY: a live image.
                let requirements = unsafe { device.get_image_memory_requirements(image) };
                (Handle::Image(image), requirements)
            }
        };
        Ok((
            handle,
            Requirements {
                size: requirements.size,
                align: requirements.alignment.max(1),
                type_bits: requirements.memory_type_bits,
                // Not queried here (no VkMemoryDedicatedRequirements): the
                // allocator's size threshold decides.
                prefers_dedicated: false,
                requires_dedicated: false,
                resource: None,
            },
        ))
    }

    unsafe fn bind(
        &mut self,
        handle: &mut Handle,
        block: &MemoryBlock<vk::DeviceMemory>,
    ) -> Result<(), String> {
        let device = self.device();
        // SAFETY: the caller guarantees the block fits the resource's requirements
        // and the resource is unbound.
        let result = unsafe {
            match *handle {
                Handle::Buffer(buffer) => {
                    device.bind_buffer_memory(buffer, *block.memory(), block.offset())
                }
                Handle::Image(image) => {
                    device.bind_image_memory(image, *block.memory(), block.offset())
                }
            }
        };
        result
            .result()
            .map_err(|err| format!("binding memory: {err}"))
    }

    unsafe fn destroy(&mut self, handle: Handle) {
        let device = self.device();
        // SAFETY: the caller guarantees no command uses the resource.
        unsafe {
            match handle {
                Handle::Buffer(buffer) => device.destroy_buffer(buffer, None),
                Handle::Image(image) => device.destroy_image(image, None),
            }
        }
    }

    fn copy_buffer(&mut self, src: &Resource<Self>, dst: &Resource<Self>, regions: &[BufferCopy]) {
        let cmd = self.cmd();
        let regions: Vec<_> = regions
            .iter()
            .map(|r| {
                vk::BufferCopyBuilder::new()
                    .src_offset(r.src)
                    .dst_offset(r.dst)
                    .size(r.len)
            })
            .collect();
        // SAFETY: a command buffer being recorded; both buffers are live and
        // bound, the regions lie inside them and do not overlap.
        unsafe {
            self.device()
                .cmd_copy_buffer(cmd, Self::buffer(src), Self::buffer(dst), &regions)
        };
    }

    fn copy_buffer_to_image(
        &mut self,
        src: &Resource<Self>,
        dst: &Resource<Self>,
        regions: &[ImageCopy],
    ) {
        let image = Self::image(dst);
        self.transition(
            image,
            vk::ImageLayout::UNDEFINED,
            vk::ImageLayout::TRANSFER_DST_OPTIMAL,
            vk::AccessFlags::TRANSFER_WRITE,
        );
        let cmd = self.cmd();
        // SAFETY: a command buffer being recorded; the buffer holds the regions,
        // which lie inside the image; the image is live, bound and in
        // TRANSFER_DST_OPTIMAL.
        unsafe {
            self.device().cmd_copy_buffer_to_image(
                cmd,
                Self::buffer(src),
                image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &image_regions(regions),
            )
        };
        self.transition(
            image,
            vk::ImageLayout::TRANSFER_DST_OPTIMAL,
            vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
            vk::AccessFlags::TRANSFER_READ,
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
        // is in TRANSFER_SRC_OPTIMAL), the regions lie inside it and the buffer
        // holds them.
        unsafe {
            self.device().cmd_copy_image_to_buffer(
                cmd,
                Self::image(src),
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                Self::buffer(dst),
                &image_regions(regions),
            )
        };
    }

    fn copy_whole(
        &mut self,
        src: &Resource<Self>,
        dst: &Handle,
        _dst_block: &MemoryBlock<vk::DeviceMemory>,
    ) {
        match (src.shape, dst) {
            (Shape::Buffer { size, .. }, Handle::Buffer(buffer)) => {
                let cmd = self.cmd();
                let region = [vk::BufferCopyBuilder::new().size(size)];
                // SAFETY: a command buffer being recorded; both buffers are live,
                // bound and `size` bytes long.
                unsafe {
                    self.device()
                        .cmd_copy_buffer(cmd, Self::buffer(src), *buffer, &region)
                };
            }
            (
                Shape::Image {
                    width,
                    height,
                    mips,
                },
                Handle::Image(image),
            ) => {
                let image = *image;
                // The new image holds nothing yet.
                self.transition(
                    image,
                    vk::ImageLayout::UNDEFINED,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    vk::AccessFlags::TRANSFER_WRITE,
                );
                let regions: Vec<_> = whole_image(width, height, mips)
                    .iter()
                    .map(|r| {
                        let layers = vk::ImageSubresourceLayersBuilder::new()
                            .aspect_mask(vk::ImageAspectFlags::COLOR)
                            .mip_level(r.mip)
                            .layer_count(1)
                            .build();
                        vk::ImageCopyBuilder::new()
                            .src_subresource(layers)
                            .dst_subresource(layers)
                            .extent(vk::Extent3D {
                                width: r.width,
                                height: r.height,
                                depth: 1,
                            })
                    })
                    .collect();
                let cmd = self.cmd();
                // SAFETY: a command buffer being recorded; both images are live,
                // bound and of the same create info; the source was uploaded (so
                // it is in TRANSFER_SRC_OPTIMAL), the new one was just moved to
                // TRANSFER_DST_OPTIMAL; the regions are whole mip levels.
                unsafe {
                    self.device().cmd_copy_image(
                        cmd,
                        Self::image(src),
                        vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                        image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        &regions,
                    )
                };
                self.transition(
                    image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    vk::AccessFlags::TRANSFER_READ,
                );
            }
            _ => panic!("a copy between a buffer and an image"),
        }
    }

    fn barrier(&mut self) {
        self.memory_barrier(
            vk::PipelineStageFlags::TRANSFER,
            vk::AccessFlags::TRANSFER_READ | vk::AccessFlags::TRANSFER_WRITE,
        );
    }

    fn submit_and_wait(&mut self) -> Result<(), String> {
        if !self.recording {
            return Ok(());
        }
        self.memory_barrier(vk::PipelineStageFlags::HOST, vk::AccessFlags::HOST_READ);
        let device = &self.vk.device;
        // SAFETY: the command buffer is being recorded.
        unsafe { device.end_command_buffer(self.cmd) }
            .result()
            .map_err(|err| format!("vkEndCommandBuffer: {err}"))?;
        self.recording = false;
        let cmds = [self.cmd];
        let submit = [vk::SubmitInfoBuilder::new().command_buffers(&cmds)];
        let queue = self.vk.lock_queue();
        // SAFETY: an executable command buffer whose resources are all live; the
        // fence is unsignalled; the queue is locked.
        unsafe { device.queue_submit(*queue, &submit, self.fence) }
            .result()
            .map_err(|err| format!("vkQueueSubmit: {err}"))?;
        drop(queue);
        // SAFETY: the fence was just submitted.
        unsafe { device.wait_for_fences(&[self.fence], true, u64::MAX) }
            .result()
            .map_err(|err| format!("vkWaitForFences: {err}"))?;
        // SAFETY: the submission is complete, so neither fence nor command
        // buffer is in use.
        unsafe {
            device
                .reset_fences(&[self.fence])
                .result()
                .map_err(|err| format!("vkResetFences: {err}"))?;
            device
                .reset_command_buffer(self.cmd, vk::CommandBufferResetFlags::empty())
                .result()
                .map_err(|err| format!("vkResetCommandBuffer: {err}"))?;
        }
        Ok(())
    }

    fn live_memory_objects(&self) -> Option<usize> {
        None
    }

    fn violations(&self) -> Vec<String> {
        Vec::new()
    }
}
