//! What `EruptMemoryDevice::allocate_memory_with` chains, on a real Vulkan
//! driver (lavapipe in CI) with the Khronos validation layer on: memory objects
//! dedicated to a buffer, an image and an image with external memory, memory
//! exported as an OPAQUE_FD and imported again on the same device, and
//! priorities. Each test allocates through a `GpuAllocator` and a `WithSupport`
//! declaring what the test device was created with; a structure the device was
//! not created to take would be a validation message, which fails the test
//! (the suite's `Context` checks, as in `lavapipe.rs`).
//!
//! The tests themselves, their names, checks and docs, are written once for
//! both backends in `gpu_alloc_tests::backend_support::dedicated`; this file
//! gives them erupt's calls ([`DedicatedSuite`] for [`Context`]) and
//! `dedicated_tests!` writes the five `#[test]` functions.
//!
//! Without a Vulkan driver each test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`; a device without Vulkan 1.1 or
//! without the extension a test needs prints `skipped:` and the reason.

// `lavapipe.rs` uses the rest of the context.
#[allow(dead_code)]
mod support;

use {
    erupt::{vk, ExtendableFrom},
    gpu_alloc::GpuAllocator,
    gpu_alloc_erupt::{
        buffer_memory_requirements2, dedicated_buffer, dedicated_image, image_memory_requirements2,
        EruptMemoryDevice,
    },
    gpu_alloc_tests::backend_support::dedicated::{DedicatedSuite, ExternalFeatures},
    gpu_alloc_types::{DedicatedResource, ResourceRequirements},
    std::ffi::CStr,
    support::{color_range, transition, Context, Extras},
};

const OPAQUE_FD: vk::ExternalMemoryHandleTypeFlagBits =
    vk::ExternalMemoryHandleTypeFlagBits::OPAQUE_FD;
const FORMAT: vk::Format = vk::Format::R8G8B8A8_UINT;
const EXTENT: vk::Extent3D = vk::Extent3D {
    width: 64,
    height: 64,
    depth: 1,
};

fn buffer_usage() -> vk::BufferUsageFlags {
    vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST
}

fn image_usage() -> vk::ImageUsageFlags {
    vk::ImageUsageFlags::TRANSFER_SRC | vk::ImageUsageFlags::TRANSFER_DST
}

fn image_info<'a>() -> vk::ImageCreateInfoBuilder<'a> {
    vk::ImageCreateInfoBuilder::new()
        .image_type(vk::ImageType::_2D)
        .format(FORMAT)
        .extent(EXTENT)
        .mip_levels(1)
        .array_layers(1)
        .samples(vk::SampleCountFlagBits::_1)
        .tiling(vk::ImageTiling::OPTIMAL)
        .usage(image_usage())
        .sharing_mode(vk::SharingMode::EXCLUSIVE)
        .initial_layout(vk::ImageLayout::UNDEFINED)
}

fn features(flags: vk::ExternalMemoryFeatureFlags) -> ExternalFeatures {
    use vk::ExternalMemoryFeatureFlags as F;
    ExternalFeatures {
        exportable: flags.contains(F::EXPORTABLE),
        importable: flags.contains(F::IMPORTABLE),
        dedicated_only: flags.contains(F::DEDICATED_ONLY),
        shown: format!("{flags:?}"),
    }
}

impl DedicatedSuite for Context {
    type Memory = vk::DeviceMemory;
    type Buffer = vk::Buffer;
    type Image = vk::Image;
    type Device = EruptMemoryDevice;
    const NO_EXTERNAL_IMAGES: &'static str = "no OPAQUE_FD R8G8B8A8_UINT optimal images";

    fn device_name(&self) -> String {
        // SAFETY: a physical device of the live instance.
        let properties = unsafe {
            self.vi
                .instance
                .get_physical_device_properties(self.physical_device)
        };
        // SAFETY: `device_name` is NUL-terminated.
        unsafe { CStr::from_ptr(properties.device_name.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// The instance has 1.2; the device may have less.
    fn has_vulkan_1_1(&self) -> bool {
        self.properties().device_api_version >= vk::API_VERSION_1_1
    }

    fn extras(&self) -> Extras {
        self.extras
    }

    fn device(&self) -> &EruptMemoryDevice {
        EruptMemoryDevice::wrap(&self.device)
    }

    fn allocator(&self) -> GpuAllocator<vk::DeviceMemory> {
        Context::allocator(self)
    }

    fn assert_no_validation_messages(&self) {
        self.assert_no_messages();
    }

    fn why_no_memory_priority(&self) -> String {
        format!(
            "{} has no VK_EXT_memory_priority with the memoryPriority feature",
            DedicatedSuite::device_name(self)
        )
    }

    fn create_buffer(&self, size: u64, external: bool) -> vk::Buffer {
        let mut external_info =
            vk::ExternalMemoryBufferCreateInfoBuilder::new().handle_types(OPAQUE_FD.bitmask());
        let mut info = vk::BufferCreateInfoBuilder::new()
            .size(size)
            .usage(buffer_usage())
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        if external {
            info = info.extend_from(&mut external_info);
        }
        // SAFETY: a valid create info; external only on a device with
        // VK_KHR_external_memory_fd (the tests check).
        unsafe { self.device.create_buffer(&info, None) }
            .result()
            .expect("create buffer")
    }

    fn create_image(&self, external: bool) -> vk::Image {
        let mut external_info =
            vk::ExternalMemoryImageCreateInfoBuilder::new().handle_types(OPAQUE_FD.bitmask());
        let mut info = image_info();
        if external {
            info = info.extend_from(&mut external_info);
        }
        // SAFETY: as for buffers; R8G8B8A8_UINT supports transfers with optimal
        // tiling everywhere.
        unsafe { self.device.create_image(&info, None) }
            .result()
            .expect("create image")
    }

    fn dedicated_buffer(buffer: vk::Buffer) -> DedicatedResource {
        dedicated_buffer(buffer)
    }

    fn dedicated_image(image: vk::Image) -> DedicatedResource {
        dedicated_image(image)
    }

    fn external_image_features(&self) -> Option<ExternalFeatures> {
        let mut external_info =
            vk::PhysicalDeviceExternalImageFormatInfoBuilder::new().handle_type(OPAQUE_FD);
        let format_info = vk::PhysicalDeviceImageFormatInfo2Builder::new()
            .format(FORMAT)
            ._type(vk::ImageType::_2D)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(image_usage())
            .extend_from(&mut external_info);
        let mut external = vk::ExternalImageFormatPropertiesBuilder::new();
        let mut properties = vk::ImageFormatProperties2Builder::new().extend_from(&mut external);
        // SAFETY: a 1.2 instance and one of its physical devices; both chains
        // are valid in 1.1 and outlive the call.
        let result = unsafe {
            self.vi
                .instance
                .get_physical_device_image_format_properties2(
                    self.physical_device,
                    &format_info,
                    &mut properties,
                )
        };
        result.result().ok()?;
        Some(features(
            external.external_memory_properties.external_memory_features,
        ))
    }

    fn external_buffer_features(&self) -> ExternalFeatures {
        let buffer_info = vk::PhysicalDeviceExternalBufferInfoBuilder::new()
            .usage(buffer_usage())
            .handle_type(OPAQUE_FD);
        let mut buffer_properties = vk::ExternalBufferPropertiesBuilder::new();
        // SAFETY: a 1.2 instance and one of its physical devices.
        unsafe {
            self.vi
                .instance
                .get_physical_device_external_buffer_properties(
                    self.physical_device,
                    &buffer_info,
                    &mut buffer_properties,
                )
        };
        features(
            buffer_properties
                .external_memory_properties
                .external_memory_features,
        )
    }

    fn touch(&self, buffer: Option<vk::Buffer>, image: Option<vk::Image>) {
        self.submit(|cb| {
            // SAFETY: `cb` is recording; the resources are live, bound, and
            // have TRANSFER_DST usage; the barrier puts the image in the layout
            // of the clear.
            unsafe {
                if let Some(buffer) = buffer {
                    self.device
                        .cmd_fill_buffer(cb, buffer, 0, vk::WHOLE_SIZE, 0x0102_0304);
                }
                if let Some(image) = image {
                    let to_dst = [transition(
                        image,
                        vk::ImageLayout::UNDEFINED,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        vk::AccessFlags::empty(),
                        vk::AccessFlags::TRANSFER_WRITE,
                    )];
                    self.device.cmd_pipeline_barrier(
                        cb,
                        vk::PipelineStageFlags::TOP_OF_PIPE,
                        vk::PipelineStageFlags::TRANSFER,
                        vk::DependencyFlags::empty(),
                        &[],
                        &[],
                        &to_dst,
                    );
                    let colour = vk::ClearColorValue {
                        uint32: [1, 2, 3, 4],
                    };
                    self.device.cmd_clear_color_image(
                        cb,
                        image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        &colour,
                        &[color_range().into_builder()],
                    );
                }
            }
        });
    }

    unsafe fn buffer_requirements(&self, buffer: vk::Buffer) -> ResourceRequirements {
        // SAFETY: the caller's contract.
        unsafe { buffer_memory_requirements2(&self.device, buffer) }
    }

    unsafe fn image_requirements(&self, image: vk::Image) -> ResourceRequirements {
        // SAFETY: the caller's contract.
        unsafe { image_memory_requirements2(&self.device, image) }
    }

    unsafe fn bind_buffer(&self, buffer: vk::Buffer, memory: vk::DeviceMemory) {
        // SAFETY: the caller's contract.
        unsafe { self.device.bind_buffer_memory(buffer, memory, 0) }
            .result()
            .expect("bind buffer");
    }

    unsafe fn bind_image(&self, image: vk::Image, memory: vk::DeviceMemory) {
        // SAFETY: the caller's contract.
        unsafe { self.device.bind_image_memory(image, memory, 0) }
            .result()
            .expect("bind image");
    }

    unsafe fn export_fd(&self, memory: vk::DeviceMemory) -> i32 {
        let get_fd = vk::MemoryGetFdInfoKHRBuilder::new()
            .memory(memory)
            .handle_type(OPAQUE_FD);
        // SAFETY: the caller's contract: exportable memory, and the extension
        // (so erupt loaded the function).
        unsafe { self.device.get_memory_fd_khr(&get_fd) }
            .result()
            .expect("vkGetMemoryFdKHR")
    }

    unsafe fn import_fd(
        &self,
        fd: i32,
        size: u64,
        memory_type: u32,
        dedicated_to: Option<vk::Buffer>,
    ) -> vk::DeviceMemory {
        let mut import = vk::ImportMemoryFdInfoKHRBuilder::new()
            .handle_type(OPAQUE_FD)
            .fd(fd);
        let mut import_dedicated = vk::MemoryDedicatedAllocateInfoBuilder::new();
        let mut import_info = vk::MemoryAllocateInfoBuilder::new()
            .allocation_size(size)
            .memory_type_index(memory_type)
            .extend_from(&mut import);
        if let Some(buffer) = dedicated_to {
            import_dedicated = import_dedicated.buffer(buffer);
            import_info = import_info.extend_from(&mut import_dedicated);
        }
        // SAFETY: the caller's contract: an OPAQUE_FD of this device's memory,
        // of this size and type (and buffer); the import takes the fd.
        unsafe { self.device.allocate_memory(&import_info, None) }
            .result()
            .expect("import the fd")
    }

    unsafe fn destroy_buffer(&self, buffer: vk::Buffer) {
        // SAFETY: the caller's contract.
        unsafe { self.device.destroy_buffer(buffer, None) };
    }

    unsafe fn destroy_image(&self, image: vk::Image) {
        // SAFETY: the caller's contract.
        unsafe { self.device.destroy_image(image, None) };
    }
}

gpu_alloc_tests::dedicated_tests!(Context::with_extras);
