//! What `AshMemoryDevice::allocate_memory_with` sends, on a real Vulkan driver
//! (lavapipe in CI) with the Khronos validation layer on: dedicated memory
//! objects for a buffer and an image (and for an image with external memory),
//! exported memory imported again on the same device, and priorities. Every
//! test allocates through a `GpuAllocator` and a `WithSupport` that declares
//! exactly what the test device was created with, so any structure the backend
//! chains without the device taking it is a validation message, which fails
//! the test (as in `lavapipe.rs`).
//!
//! The tests themselves, their names, checks and docs, are written once for
//! both backends in `gpu_alloc_tests::backend_support::dedicated`; this file
//! gives them ash's calls ([`DedicatedSuite`] for [`Vk`]) and
//! `dedicated_tests!` writes the five `#[test]` functions.
//!
//! Without a Vulkan driver each test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`; a device without Vulkan 1.1 or
//! without the extension a test needs prints `skipped:` and the reason.

// `lavapipe.rs` uses the rest of the helpers.
#[allow(dead_code)]
mod support;

use {
    ash::vk,
    gpu_alloc::{Config, GpuAllocator},
    gpu_alloc_ash::{
        buffer_memory_requirements2, dedicated_buffer, dedicated_image, image_memory_requirements2,
        AshMemoryDevice,
    },
    gpu_alloc_tests::backend_support::dedicated::{DedicatedSuite, ExternalFeatures},
    gpu_alloc_types::{DedicatedResource, ResourceRequirements},
    support::{
        resources::{image_layout, COLOR_RANGE, IMAGE_FORMAT},
        Extras, Vk,
    },
};

const OPAQUE_FD: vk::ExternalMemoryHandleTypeFlags = vk::ExternalMemoryHandleTypeFlags::OPAQUE_FD;
const BUFFER_USAGE: vk::BufferUsageFlags = vk::BufferUsageFlags::from_raw(
    vk::BufferUsageFlags::TRANSFER_SRC.as_raw() | vk::BufferUsageFlags::TRANSFER_DST.as_raw(),
);
const IMAGE_USAGE: vk::ImageUsageFlags = vk::ImageUsageFlags::from_raw(
    vk::ImageUsageFlags::TRANSFER_SRC.as_raw() | vk::ImageUsageFlags::TRANSFER_DST.as_raw(),
);
const IMAGE_EXTENT: vk::Extent3D = vk::Extent3D {
    width: 64,
    height: 64,
    depth: 1,
};

fn image_info<'a>() -> vk::ImageCreateInfo<'a> {
    vk::ImageCreateInfo::default()
        .image_type(vk::ImageType::TYPE_2D)
        .format(IMAGE_FORMAT)
        .extent(IMAGE_EXTENT)
        .mip_levels(1)
        .array_layers(1)
        .samples(vk::SampleCountFlags::TYPE_1)
        .tiling(vk::ImageTiling::OPTIMAL)
        .usage(IMAGE_USAGE)
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

impl DedicatedSuite for Vk {
    type Memory = vk::DeviceMemory;
    type Buffer = vk::Buffer;
    type Image = vk::Image;
    type Device = AshMemoryDevice;
    const NO_EXTERNAL_IMAGES: &'static str =
        "OPAQUE_FD export of R8G8B8A8_UINT optimal images not supported";

    fn device_name(&self) -> String {
        self.device_name.clone()
    }

    fn has_vulkan_1_1(&self) -> bool {
        self.instance_version >= vk::API_VERSION_1_1
            && self.props.device_api_version >= vk::API_VERSION_1_1
    }

    fn extras(&self) -> Extras {
        self.extras
    }

    fn device(&self) -> &AshMemoryDevice {
        AshMemoryDevice::wrap(&self.device)
    }

    fn allocator(&self) -> GpuAllocator<vk::DeviceMemory> {
        Vk::allocator(self, Config::i_am_prototyping())
    }

    fn assert_no_validation_messages(&self) {
        Vk::assert_no_validation_messages(self);
    }

    fn why_no_memory_priority(&self) -> String {
        // SAFETY: a physical device of the live instance.
        let extensions = unsafe {
            self.instance
                .enumerate_device_extension_properties(self.physical_device)
        }
        .unwrap_or_default();
        let listed = extensions
            .iter()
            .any(|e| e.extension_name_as_c_str() == Ok(ash::ext::memory_priority::NAME));
        let why = if listed {
            "lists VK_EXT_memory_priority without the memoryPriority feature"
        } else {
            "does not list VK_EXT_memory_priority"
        };
        format!("{} {why}", self.device_name)
    }

    fn create_buffer(&self, size: u64, external: bool) -> vk::Buffer {
        let mut external_info =
            vk::ExternalMemoryBufferCreateInfo::default().handle_types(OPAQUE_FD);
        let mut info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(BUFFER_USAGE);
        if external {
            info = info.push_next(&mut external_info);
        }
        // SAFETY: a valid create info; an external buffer only on a device with
        // VK_KHR_external_memory_fd (the tests check).
        unsafe { self.device.create_buffer(&info, None) }.expect("create buffer")
    }

    fn create_image(&self, external: bool) -> vk::Image {
        let mut external_info =
            vk::ExternalMemoryImageCreateInfo::default().handle_types(OPAQUE_FD);
        let mut info = image_info();
        if external {
            info = info.push_next(&mut external_info);
        }
        // SAFETY: as for buffers (R8G8B8A8_UINT supports transfers with optimal
        // tiling on every device).
        unsafe { self.device.create_image(&info, None) }.expect("create image")
    }

    fn dedicated_buffer(buffer: vk::Buffer) -> DedicatedResource {
        dedicated_buffer(buffer)
    }

    fn dedicated_image(image: vk::Image) -> DedicatedResource {
        dedicated_image(image)
    }

    fn external_image_features(&self) -> Option<ExternalFeatures> {
        let mut external_info =
            vk::PhysicalDeviceExternalImageFormatInfo::default().handle_type(OPAQUE_FD);
        let format_info = vk::PhysicalDeviceImageFormatInfo2::default()
            .format(IMAGE_FORMAT)
            .ty(vk::ImageType::TYPE_2D)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(IMAGE_USAGE)
            .push_next(&mut external_info);
        let mut external = vk::ExternalImageFormatProperties::default();
        let mut properties = vk::ImageFormatProperties2::default().push_next(&mut external);
        // SAFETY: a 1.1 instance and one of its physical devices; both chains
        // are valid in 1.1 and outlive the call.
        let result = unsafe {
            self.instance.get_physical_device_image_format_properties2(
                self.physical_device,
                &format_info,
                &mut properties,
            )
        };
        result.ok()?;
        Some(features(
            external.external_memory_properties.external_memory_features,
        ))
    }

    fn external_buffer_features(&self) -> ExternalFeatures {
        let info = vk::PhysicalDeviceExternalBufferInfo::default()
            .usage(BUFFER_USAGE)
            .handle_type(OPAQUE_FD);
        let mut properties = vk::ExternalBufferProperties::default();
        // SAFETY: a 1.1 instance and one of its physical devices.
        unsafe {
            self.instance
                .get_physical_device_external_buffer_properties(
                    self.physical_device,
                    &info,
                    &mut properties,
                )
        };
        features(
            properties
                .external_memory_properties
                .external_memory_features,
        )
    }

    fn touch(&self, buffer: Option<vk::Buffer>, image: Option<vk::Image>) {
        self.submit(|cmd| {
            if let Some(buffer) = buffer {
                // SAFETY: `cmd` is recording; the buffer is bound and has
                // TRANSFER_DST usage.
                unsafe {
                    self.device
                        .cmd_fill_buffer(cmd, buffer, 0, vk::WHOLE_SIZE, 0x0102_0304)
                };
            }
            if let Some(image) = image {
                image_layout(
                    self,
                    cmd,
                    image,
                    (vk::ImageLayout::UNDEFINED, vk::AccessFlags::empty()),
                    (
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        vk::AccessFlags::TRANSFER_WRITE,
                    ),
                );
                let colour = vk::ClearColorValue {
                    uint32: [1, 2, 3, 4],
                };
                // SAFETY: `cmd` is recording; the image is bound and in
                // TRANSFER_DST_OPTIMAL after the barrier above.
                unsafe {
                    self.device.cmd_clear_color_image(
                        cmd,
                        image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        &colour,
                        &[COLOR_RANGE],
                    )
                };
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
        unsafe { self.device.bind_buffer_memory(buffer, memory, 0) }.expect("bind buffer");
    }

    unsafe fn bind_image(&self, image: vk::Image, memory: vk::DeviceMemory) {
        // SAFETY: the caller's contract.
        unsafe { self.device.bind_image_memory(image, memory, 0) }.expect("bind image");
    }

    unsafe fn export_fd(&self, memory: vk::DeviceMemory) -> i32 {
        let fd_device = ash::khr::external_memory_fd::Device::new(&self.instance, &self.device);
        let get_fd = vk::MemoryGetFdInfoKHR::default()
            .memory(memory)
            .handle_type(OPAQUE_FD);
        // SAFETY: the caller's contract: exportable memory, and the extension.
        unsafe { fd_device.get_memory_fd(&get_fd) }.expect("vkGetMemoryFdKHR")
    }

    unsafe fn import_fd(
        &self,
        fd: i32,
        size: u64,
        memory_type: u32,
        dedicated_to: Option<vk::Buffer>,
    ) -> vk::DeviceMemory {
        let mut import = vk::ImportMemoryFdInfoKHR::default()
            .handle_type(OPAQUE_FD)
            .fd(fd);
        let mut import_dedicated = vk::MemoryDedicatedAllocateInfo::default();
        let mut import_info = vk::MemoryAllocateInfo::default()
            .allocation_size(size)
            .memory_type_index(memory_type)
            .push_next(&mut import);
        if let Some(buffer) = dedicated_to {
            import_dedicated = import_dedicated.buffer(buffer);
            import_info = import_info.push_next(&mut import_dedicated);
        }
        // SAFETY: the caller's contract: an OPAQUE_FD of this device's memory,
        // of this size and type (and buffer); the import takes the fd.
        unsafe { self.device.allocate_memory(&import_info, None) }.expect("import the fd")
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

gpu_alloc_tests::dedicated_tests!(Vk::with_extras);
