//! Buffers and images bound to blocks of a `GpuAllocator`.

use {
    super::Vk,
    ash::vk,
    gpu_alloc::{GpuAllocator, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_tests::backend_support::alloc_block,
    gpu_alloc_types::MemoryDevice,
};

/// `Request` for a resource's real memory requirements, through the backend's
/// one call.
pub fn request(req: vk::MemoryRequirements, usage: UsageFlags) -> Request {
    gpu_alloc_ash::request_from_requirements(&req, usage)
}

/// A buffer bound to a block.
pub struct Buffer {
    pub buffer: vk::Buffer,
    pub block: MemoryBlock<vk::DeviceMemory>,
}

/// An optimal-tiling `R8G8B8A8_UINT` image bound to a block.
pub struct Image {
    pub image: vk::Image,
    pub block: MemoryBlock<vk::DeviceMemory>,
    pub extent: vk::Extent3D,
}

pub const IMAGE_FORMAT: vk::Format = vk::Format::R8G8B8A8_UINT;
pub const TEXEL: u64 = 4;

impl Buffer {
    pub fn new(
        vk: &Vk,
        alloc: &mut GpuAllocator<vk::DeviceMemory>,
        device: &impl MemoryDevice<vk::DeviceMemory>,
        size: u64,
        usage: vk::BufferUsageFlags,
        memory: UsageFlags,
    ) -> Buffer {
        let info = vk::BufferCreateInfo::default().size(size).usage(usage);
        // SAFETY: a valid create info for a live device.
        let buffer = unsafe { vk.device.create_buffer(&info, None) }.expect("create buffer");
        // SAFETY: a live buffer of this device.
        let req = unsafe { vk.device.get_buffer_memory_requirements(buffer) };
        // SAFETY: every test passes the device whose properties made `alloc`.
        let block =
            unsafe { alloc_block(alloc, device, request(req, memory), ResourceKind::Linear) };
        assert!(block.size() >= req.size);
        assert_eq!(block.offset() % req.alignment, 0);
        assert_ne!(req.memory_type_bits & (1 << block.memory_type()), 0);
        // SAFETY: the block lies inside its memory object, of a type the buffer
        // accepts, at an offset aligned as required; the buffer is unbound.
        unsafe {
            vk.device
                .bind_buffer_memory(buffer, *block.memory(), block.offset())
        }
        .expect("bind buffer");
        Buffer { buffer, block }
    }

    /// Destroys the buffer and returns its block to the allocator.
    pub fn free(
        self,
        vk: &Vk,
        alloc: &mut GpuAllocator<vk::DeviceMemory>,
        device: &impl MemoryDevice<vk::DeviceMemory>,
    ) {
        // SAFETY: the device is idle after every submit; the buffer is destroyed
        // before its block is returned.
        unsafe {
            vk.device.destroy_buffer(self.buffer, None);
            alloc.dealloc(device, self.block);
        }
    }
}

impl Image {
    pub fn new(
        vk: &Vk,
        alloc: &mut GpuAllocator<vk::DeviceMemory>,
        device: &impl MemoryDevice<vk::DeviceMemory>,
        width: u32,
        height: u32,
    ) -> Image {
        let extent = vk::Extent3D {
            width,
            height,
            depth: 1,
        };
        let info = vk::ImageCreateInfo::default()
            .image_type(vk::ImageType::TYPE_2D)
            .format(IMAGE_FORMAT)
            .extent(extent)
            .mip_levels(1)
            .array_layers(1)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(vk::ImageUsageFlags::TRANSFER_SRC | vk::ImageUsageFlags::TRANSFER_DST)
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .initial_layout(vk::ImageLayout::UNDEFINED);
        // SAFETY: a valid create info (R8G8B8A8_UINT supports transfers with
        // optimal tiling on every Vulkan device).
        let image = unsafe { vk.device.create_image(&info, None) }.expect("create image");
        // SAFETY: a live image of this device.
        let req = unsafe { vk.device.get_image_memory_requirements(image) };
        let request = request(req, UsageFlags::FAST_DEVICE_ACCESS);
        // SAFETY: as for buffers.
        let block = unsafe { alloc_block(alloc, device, request, ResourceKind::Optimal) };
        assert_eq!(block.offset() % req.alignment, 0);
        // SAFETY: as for buffers.
        unsafe {
            vk.device
                .bind_image_memory(image, *block.memory(), block.offset())
        }
        .expect("bind image");
        Image {
            image,
            block,
            extent,
        }
    }

    pub fn bytes(&self) -> u64 {
        u64::from(self.extent.width) * u64::from(self.extent.height) * TEXEL
    }

    /// Destroys the image and returns its block to the allocator.
    pub fn free(
        self,
        vk: &Vk,
        alloc: &mut GpuAllocator<vk::DeviceMemory>,
        device: &impl MemoryDevice<vk::DeviceMemory>,
    ) {
        // SAFETY: as for buffers.
        unsafe {
            vk.device.destroy_image(self.image, None);
            alloc.dealloc(device, self.block);
        }
    }
}

/// Records a barrier from transfer writes to `dst_access` at `dst_stage`.
pub fn transfer_write_barrier(
    vk: &Vk,
    cmd: vk::CommandBuffer,
    dst_stage: vk::PipelineStageFlags,
    dst_access: vk::AccessFlags,
) {
    let barrier = vk::MemoryBarrier::default()
        .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
        .dst_access_mask(dst_access);
    // SAFETY: `cmd` is recording.
    unsafe {
        vk.device.cmd_pipeline_barrier(
            cmd,
            vk::PipelineStageFlags::TRANSFER,
            dst_stage,
            vk::DependencyFlags::empty(),
            &[barrier],
            &[],
            &[],
        )
    }
}

/// The one colour mip level and layer of the tests' images.
pub const COLOR_RANGE: vk::ImageSubresourceRange = vk::ImageSubresourceRange {
    aspect_mask: vk::ImageAspectFlags::COLOR,
    base_mip_level: 0,
    level_count: 1,
    base_array_layer: 0,
    layer_count: 1,
};

/// Records a layout transition of a whole colour image.
pub fn image_layout(
    vk: &Vk,
    cmd: vk::CommandBuffer,
    image: vk::Image,
    (old, src_access): (vk::ImageLayout, vk::AccessFlags),
    (new, dst_access): (vk::ImageLayout, vk::AccessFlags),
) {
    let barrier = vk::ImageMemoryBarrier::default()
        .old_layout(old)
        .new_layout(new)
        .src_access_mask(src_access)
        .dst_access_mask(dst_access)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .image(image)
        .subresource_range(COLOR_RANGE);
    // SAFETY: `cmd` is recording; the image is live.
    unsafe {
        vk.device.cmd_pipeline_barrier(
            cmd,
            vk::PipelineStageFlags::TOP_OF_PIPE | vk::PipelineStageFlags::TRANSFER,
            vk::PipelineStageFlags::TRANSFER,
            vk::DependencyFlags::empty(),
            &[],
            &[],
            &[barrier],
        )
    }
}

/// The whole colour image as a copy region.
pub fn image_copy(extent: vk::Extent3D) -> vk::BufferImageCopy {
    vk::BufferImageCopy {
        buffer_offset: 0,
        buffer_row_length: 0,
        buffer_image_height: 0,
        image_subresource: vk::ImageSubresourceLayers {
            aspect_mask: vk::ImageAspectFlags::COLOR,
            mip_level: 0,
            base_array_layer: 0,
            layer_count: 1,
        },
        image_offset: vk::Offset3D { x: 0, y: 0, z: 0 },
        image_extent: extent,
    }
}
