//! What `AshMemoryDevice::allocate_memory_with` sends, on a real Vulkan driver
//! (lavapipe in CI) with the Khronos validation layer on: dedicated memory
//! objects for a buffer and an image (and for an image with external memory),
//! exported memory imported again on the same device, and priorities. Every
//! test allocates through a `GpuAllocator` and a `WithSupport` that declares
//! exactly what the test device was created with, so any structure the backend
//! chains without the device taking it is a validation message, which fails
//! the test (as in `lavapipe.rs`).
//!
//! Without a Vulkan driver each test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`; a device without Vulkan 1.1 or
//! without the extension a test needs prints `skipped:` and the reason.

// `lavapipe.rs` uses the rest of the helpers.
#[allow(dead_code)]
mod support;

use {
    ash::vk,
    gpu_alloc::{
        AllocOptions, Config, Dedicated, GpuAllocator, MemoryBlock, Request, ResourceKind,
        TryAllocError, UsageFlags,
    },
    gpu_alloc_ash::{
        buffer_memory_requirements2, dedicated_buffer, dedicated_image, image_memory_requirements2,
        AshMemoryDevice, DedicatedNeed,
    },
    gpu_alloc_tests::backend_support::pattern,
    gpu_alloc_types::{
        AllocationSupport, ExternalMemoryHandleTypes, MemoryDevice, MemoryPriority, WithSupport,
    },
    support::{
        resources::{image_layout, IMAGE_FORMAT},
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

/// Prints why the test stops here.
fn skipped(test: &str, why: &str) {
    println!("{test}: skipped: {why}");
    eprintln!("{test}: skipped: {why}");
}

/// Whether the instance and the device have Vulkan 1.1 (dedicated allocations,
/// `vkGet*MemoryRequirements2`, external memory); says `skipped` if not.
fn has_vulkan_1_1(vk: &Vk, test: &str) -> bool {
    let ok = vk.instance_version >= vk::API_VERSION_1_1
        && vk.props.device_api_version >= vk::API_VERSION_1_1;
    if !ok {
        skipped(test, &format!("{} has no Vulkan 1.1", vk.device_name));
    }
    ok
}

/// What the test device takes beyond size, type and flags: dedicated
/// resources (Vulkan 1.1), and the extras it was created with.
fn support(vk: &Vk) -> AllocationSupport {
    let mut support = AllocationSupport::new().dedicated(true);
    if vk.extras.external_memory_fd {
        support = support.export(ExternalMemoryHandleTypes::OPAQUE_FD);
    }
    if vk.extras.memory_priority {
        support = support.priority(true);
    }
    support
}

/// The backend device, declaring what `vk`'s device was created with.
fn declared(vk: &Vk) -> WithSupport<'_, AshMemoryDevice> {
    // SAFETY: the tests check for Vulkan 1.1 before allocating (dedicated
    // allocations), and `vk.extras` is what the device was created with.
    unsafe { WithSupport::new(AshMemoryDevice::wrap(&vk.device), support(vk)) }
}

fn create_buffer(vk: &Vk, size: u64, external: bool) -> vk::Buffer {
    let mut external_info = vk::ExternalMemoryBufferCreateInfo::default().handle_types(OPAQUE_FD);
    let mut info = vk::BufferCreateInfo::default()
        .size(size)
        .usage(BUFFER_USAGE);
    if external {
        info = info.push_next(&mut external_info);
    }
    // SAFETY: a valid create info; an external buffer only on a device with
    // VK_KHR_external_memory_fd (the callers check).
    unsafe { vk.device.create_buffer(&info, None) }.expect("create buffer")
}

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

fn create_image(vk: &Vk, external: bool) -> vk::Image {
    let mut external_info = vk::ExternalMemoryImageCreateInfo::default().handle_types(OPAQUE_FD);
    let mut info = image_info();
    if external {
        info = info.push_next(&mut external_info);
    }
    // SAFETY: as for buffers (R8G8B8A8_UINT supports transfers with optimal
    // tiling on every device).
    unsafe { vk.device.create_image(&info, None) }.expect("create image")
}

/// Allocates through `device`, failing the test with the request and options.
fn alloc(
    allocator: &mut GpuAllocator<vk::DeviceMemory>,
    device: &impl MemoryDevice<vk::DeviceMemory>,
    request: Request,
    options: AllocOptions,
) -> MemoryBlock<vk::DeviceMemory> {
    // SAFETY: every test allocates, frees and maps through one device, the
    // one whose properties made `allocator`; dedicated resources are live,
    // unbound resources of it whose requirements made `request`.
    unsafe { allocator.try_alloc_with_options(device, request, options) }
        .unwrap_or_else(|e| panic!("{request:?} {options:?}: {e}"))
}

/// Fills the buffer and clears the image on the GPU, so the validation layer
/// checks the memory bound to them in use.
fn touch(vk: &Vk, buffer: Option<vk::Buffer>, image: Option<vk::Image>) {
    vk.submit(|cmd| {
        if let Some(buffer) = buffer {
            // SAFETY: `cmd` is recording; the buffer is bound and has
            // TRANSFER_DST usage.
            unsafe {
                vk.device
                    .cmd_fill_buffer(cmd, buffer, 0, vk::WHOLE_SIZE, 0x0102_0304)
            };
        }
        if let Some(image) = image {
            image_layout(
                vk,
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
            let range = vk::ImageSubresourceRange {
                aspect_mask: vk::ImageAspectFlags::COLOR,
                base_mip_level: 0,
                level_count: 1,
                base_array_layer: 0,
                layer_count: 1,
            };
            // SAFETY: `cmd` is recording; the image is bound and in
            // TRANSFER_DST_OPTIMAL after the barrier above.
            unsafe {
                vk.device.cmd_clear_color_image(
                    cmd,
                    image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    &colour,
                    &[range],
                )
            };
        }
    });
}

/// The options of a block dedicated to `resource`.
fn dedicated_to(resource: gpu_alloc_types::DedicatedResource) -> AllocOptions {
    AllocOptions::new()
        .dedicated(Dedicated::Required)
        .dedicated_resource(resource)
}

/// A buffer and an image, each in a memory object made for it
/// (`VkMemoryDedicatedAllocateInfo`): the blocks are whole objects of exactly
/// the size of the requirements, the resources bind at offset 0 and are used on
/// the GPU, and the validation layer says nothing.
#[test]
fn dedicated_buffer_and_image_bind_cleanly() {
    const TEST: &str = "dedicated_buffer_and_image_bind_cleanly";
    let Some(vk) = Vk::new(TEST) else {
        return;
    };
    if !has_vulkan_1_1(&vk, TEST) {
        return;
    }
    let device = declared(&vk);
    let mut allocator = vk.allocator(Config::i_am_prototyping());

    let buffer = create_buffer(&vk, 65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&vk.device, buffer) };
    println!("{TEST}: buffer: {needs:?}");
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let options = dedicated_to(dedicated_buffer(buffer)).resource(ResourceKind::Linear);
    let buffer_block = alloc(&mut allocator, &device, request, options);
    assert!(buffer_block.is_dedicated());
    assert_eq!(
        (buffer_block.offset(), buffer_block.size()),
        (0, needs.requirements.size)
    );
    // SAFETY: the block is the buffer's own memory object, of a type its
    // requirements allow.
    unsafe {
        vk.device
            .bind_buffer_memory(buffer, *buffer_block.memory(), buffer_block.offset())
    }
    .expect("bind buffer");

    let image = create_image(&vk, false);
    // SAFETY: a Vulkan 1.1 device and a live, non-disjoint image of it.
    let needs = unsafe { image_memory_requirements2(&vk.device, image) };
    println!("{TEST}: image: {needs:?}");
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let options = dedicated_to(dedicated_image(image)).resource(ResourceKind::Optimal);
    let image_block = alloc(&mut allocator, &device, request, options);
    assert!(image_block.is_dedicated());
    assert_eq!(
        (image_block.offset(), image_block.size()),
        (0, needs.requirements.size)
    );
    // SAFETY: as for the buffer.
    unsafe {
        vk.device
            .bind_image_memory(image, *image_block.memory(), image_block.offset())
    }
    .expect("bind image");

    touch(&vk, Some(buffer), Some(image));
    assert_eq!(allocator.stats().hints_dropped, 0);
    vk.assert_no_validation_messages();
    // SAFETY: the GPU is idle after `submit`; each resource goes before its
    // memory.
    unsafe {
        vk.device.destroy_buffer(buffer, None);
        vk.device.destroy_image(image, None);
        allocator.dealloc(&device, buffer_block);
        allocator.dealloc(&device, image_block);
        allocator.cleanup(&device);
    }
    let stats = allocator.stats();
    assert_eq!((stats.blocks, stats.memory_objects), (0, 0));
}

/// An image created with `VkExternalMemoryImageCreateInfo` (OPAQUE_FD) gets an
/// exportable memory object of its own, bound and used without a validation
/// message.
///
/// Neither lavapipe (Mesa 22.3) nor NVIDIA's driver (580, on an H200) requires
/// a dedicated allocation for it: requirements2 say neither required nor
/// preferred, and the external-image format properties have no DEDICATED_ONLY
/// (the test prints both). The image is still allocated dedicated, as drivers
/// that require it need; where DEDICATED_ONLY is reported, the test checks that
/// requirements2 is read as `DedicatedNeed::Required`.
#[test]
fn external_image_gets_an_exportable_dedicated_object() {
    const TEST: &str = "external_image_gets_an_exportable_dedicated_object";
    let extras = Extras {
        external_memory_fd: true,
        ..Extras::default()
    };
    let Some(vk) = Vk::with_extras(TEST, extras) else {
        return;
    };
    if !has_vulkan_1_1(&vk, TEST) {
        return;
    }
    if !vk.extras.external_memory_fd {
        return skipped(
            TEST,
            &format!("{} has no VK_KHR_external_memory_fd", vk.device_name),
        );
    }
    let Some(features) = external_image_features(&vk) else {
        return skipped(
            TEST,
            "OPAQUE_FD export of R8G8B8A8_UINT optimal images not supported",
        );
    };
    println!("{TEST}: external image memory features: {features:?}");
    if !features.contains(vk::ExternalMemoryFeatureFlags::EXPORTABLE) {
        return skipped(TEST, "OPAQUE_FD images are not exportable");
    }
    let device = declared(&vk);
    let mut allocator = vk.allocator(Config::i_am_prototyping());

    let image = create_image(&vk, true);
    // SAFETY: a Vulkan 1.1 device and a live, non-disjoint image of it.
    let needs = unsafe { image_memory_requirements2(&vk.device, image) };
    println!("{TEST}: external image: {needs:?}");
    if features.contains(vk::ExternalMemoryFeatureFlags::DEDICATED_ONLY) {
        assert_eq!(needs.dedicated, Some(DedicatedNeed::Required));
    }
    let options = dedicated_to(dedicated_image(image))
        .resource(ResourceKind::Optimal)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD);
    let block = alloc(
        &mut allocator,
        &device,
        needs.request(UsageFlags::FAST_DEVICE_ACCESS),
        options,
    );
    assert!(block.is_dedicated());
    assert_eq!(block.size(), needs.requirements.size);
    // SAFETY: the block is the image's own memory object, exportable as the
    // image's handle type, of a type its requirements allow.
    unsafe { vk.device.bind_image_memory(image, *block.memory(), 0) }.expect("bind image");
    touch(&vk, None, Some(image));
    vk.assert_no_validation_messages();
    // SAFETY: the GPU is idle; the image goes before its memory.
    unsafe {
        vk.device.destroy_image(image, None);
        allocator.dealloc(&device, block);
    }
}

/// `externalMemoryFeatures` of OPAQUE_FD for the test images, or `None` when
/// the format cannot be external.
fn external_image_features(vk: &Vk) -> Option<vk::ExternalMemoryFeatureFlags> {
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
    // SAFETY: a 1.1 instance and one of its physical devices; both chains are
    // valid in 1.1 and outlive the call.
    let result = unsafe {
        vk.instance.get_physical_device_image_format_properties2(
            vk.physical_device,
            &format_info,
            &mut properties,
        )
    };
    result.ok()?;
    Some(external.external_memory_properties.external_memory_features)
}

/// `externalMemoryFeatures` of OPAQUE_FD for the test buffers.
fn external_buffer_features(vk: &Vk) -> vk::ExternalMemoryFeatureFlags {
    let info = vk::PhysicalDeviceExternalBufferInfo::default()
        .usage(BUFFER_USAGE)
        .handle_type(OPAQUE_FD);
    let mut properties = vk::ExternalBufferProperties::default();
    // SAFETY: a 1.1 instance and one of its physical devices.
    unsafe {
        vk.instance.get_physical_device_external_buffer_properties(
            vk.physical_device,
            &info,
            &mut properties,
        )
    };
    properties
        .external_memory_properties
        .external_memory_features
}

/// A host-visible block exported as an OPAQUE_FD, written through the
/// allocator's mapping, imported on the same device into a new memory object
/// that a second `GpuAllocator` takes in with `import_memory`: the bytes read
/// back through the imported block, and bytes written there read back through
/// the first.
///
/// The exported object is made for an external buffer (bound to it); it is
/// dedicated to that buffer only where the driver asks for it
/// (DEDICATED_ONLY, or requirements2's requiresDedicatedAllocation), which
/// lavapipe does not.
#[test]
fn exported_memory_reads_back_through_an_imported_block() {
    const TEST: &str = "exported_memory_reads_back_through_an_imported_block";
    let extras = Extras {
        external_memory_fd: true,
        ..Extras::default()
    };
    let Some(vk) = Vk::with_extras(TEST, extras) else {
        return;
    };
    if !has_vulkan_1_1(&vk, TEST) {
        return;
    }
    if !vk.extras.external_memory_fd {
        return skipped(
            TEST,
            &format!("{} has no VK_KHR_external_memory_fd", vk.device_name),
        );
    }
    let features = external_buffer_features(&vk);
    println!("{TEST}: external buffer memory features: {features:?}");
    let both =
        vk::ExternalMemoryFeatureFlags::EXPORTABLE | vk::ExternalMemoryFeatureFlags::IMPORTABLE;
    if !features.contains(both) {
        return skipped(TEST, "OPAQUE_FD buffers are not exportable and importable");
    }
    let device = declared(&vk);
    let mut exporter = vk.allocator(Config::i_am_prototyping());
    let mut importer = vk.allocator(Config::i_am_prototyping());

    const SIZE: usize = 4096;
    let buffer = create_buffer(&vk, SIZE as u64, true);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&vk.device, buffer) };
    println!("{TEST}: external buffer: {needs:?}");
    let dedicated = features.contains(vk::ExternalMemoryFeatureFlags::DEDICATED_ONLY)
        || needs.dedicated == Some(DedicatedNeed::Required);
    let mut options = AllocOptions::new()
        .resource(ResourceKind::Linear)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD);
    if dedicated {
        options = options
            .dedicated(Dedicated::Required)
            .dedicated_resource(dedicated_buffer(buffer));
    }
    let request = needs.request(UsageFlags::UPLOAD | UsageFlags::HOST_ACCESS);
    let mut block = alloc(&mut exporter, &device, request, options);
    assert!(block.is_dedicated(), "an exported block has its own object");
    assert_eq!(block.offset(), 0);
    // SAFETY: the block is a memory object of its own, exportable as the
    // buffer's handle type, of a type the buffer allows.
    unsafe { vk.device.bind_buffer_memory(buffer, *block.memory(), 0) }.expect("bind buffer");

    let written = pattern(0x5eed, SIZE);
    // SAFETY: the block is of `device`; the GPU does not use the buffer.
    unsafe { block.write_bytes(&device, 0, &written) }.expect("write");

    let fd_device = ash::khr::external_memory_fd::Device::new(&vk.instance, &vk.device);
    let get_fd = vk::MemoryGetFdInfoKHR::default()
        .memory(*block.memory())
        .handle_type(OPAQUE_FD);
    // SAFETY: the memory was allocated exportable as OPAQUE_FD on a device
    // with VK_KHR_external_memory_fd.
    let fd = unsafe { fd_device.get_memory_fd(&get_fd) }.expect("vkGetMemoryFdKHR");
    let mut import = vk::ImportMemoryFdInfoKHR::default()
        .handle_type(OPAQUE_FD)
        .fd(fd);
    let mut import_dedicated = vk::MemoryDedicatedAllocateInfo::default().buffer(buffer);
    let mut import_info = vk::MemoryAllocateInfo::default()
        .allocation_size(block.size())
        .memory_type_index(block.memory_type())
        .push_next(&mut import);
    if dedicated {
        import_info = import_info.push_next(&mut import_dedicated);
    }
    // SAFETY: an OPAQUE_FD of this device's memory, imported with the size and
    // memory type it was allocated with (and its buffer, when dedicated); the
    // import takes the fd.
    let imported = unsafe { vk.device.allocate_memory(&import_info, None) }.expect("import the fd");
    // SAFETY: `imported` is a memory object of the allocators' device, of the
    // exported block's type, `block.size()` bytes from offset 0, freed only
    // through the returned block.
    let mut imported_block = unsafe {
        importer.import_memory(
            imported,
            block.memory_type(),
            block.props(),
            0,
            block.size(),
        )
    };

    let mut read = vec![0; SIZE];
    // SAFETY: the imported block is `device`'s memory; nothing writes it.
    unsafe { imported_block.read_bytes(&device, 0, &mut read) }.expect("read imported");
    assert!(
        read == written,
        "the imported memory holds the exported bytes"
    );

    let answer = pattern(0xa115, SIZE);
    // SAFETY: as above.
    unsafe {
        imported_block
            .write_bytes(&device, 0, &answer)
            .expect("write imported");
        block
            .read_bytes(&device, 0, &mut read)
            .expect("read exported");
    }
    assert!(
        read == answer,
        "the exported memory sees the imported writes"
    );

    vk.assert_no_validation_messages();
    // SAFETY: the GPU never used the memory; the buffer goes before the memory
    // bound to it.
    unsafe {
        importer.dealloc(&device, imported_block);
        vk.device.destroy_buffer(buffer, None);
        exporter.dealloc(&device, block);
    }
}

/// Where the device has VK_EXT_memory_priority with `memoryPriority`, a block
/// dedicated to a buffer and a dedicated block without a resource are
/// allocated with priorities, no hint is dropped, and the layer says nothing.
#[test]
fn memory_priority_is_sent_when_enabled() {
    const TEST: &str = "memory_priority_is_sent_when_enabled";
    let extras = Extras {
        memory_priority: true,
        ..Extras::default()
    };
    let Some(vk) = Vk::with_extras(TEST, extras) else {
        return;
    };
    if !has_vulkan_1_1(&vk, TEST) {
        return;
    }
    if !vk.extras.memory_priority {
        // SAFETY: a physical device of the live instance.
        let extensions = unsafe {
            vk.instance
                .enumerate_device_extension_properties(vk.physical_device)
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
        return skipped(TEST, &format!("{} {why}", vk.device_name));
    }
    let device = declared(&vk);
    assert!(device.support().priority);
    let mut allocator = vk.allocator(Config::i_am_prototyping());

    let buffer = create_buffer(&vk, 65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&vk.device, buffer) };
    let options = dedicated_to(dedicated_buffer(buffer)).priority(MemoryPriority::HIGHEST);
    let buffer_block = alloc(
        &mut allocator,
        &device,
        needs.request(UsageFlags::FAST_DEVICE_ACCESS),
        options,
    );
    // SAFETY: the buffer's own memory object.
    unsafe {
        vk.device
            .bind_buffer_memory(buffer, *buffer_block.memory(), 0)
    }
    .expect("bind buffer");

    let request = Request {
        size: 65_536,
        align_mask: 255,
        usage: UsageFlags::UPLOAD,
        memory_types: !0,
    };
    let options = AllocOptions::new()
        .dedicated(Dedicated::Required)
        .priority(MemoryPriority::LOWEST);
    let plain_block = alloc(&mut allocator, &device, request, options);
    assert!(plain_block.is_dedicated());

    touch(&vk, Some(buffer), None);
    assert_eq!(allocator.stats().hints_dropped, 0);
    vk.assert_no_validation_messages();
    // SAFETY: the GPU is idle; the buffer goes before its memory.
    unsafe {
        vk.device.destroy_buffer(buffer, None);
        allocator.dealloc(&device, buffer_block);
        allocator.dealloc(&device, plain_block);
    }
}

/// On a device created without VK_EXT_memory_priority, whose application
/// declares dedicated allocations only, a priority is dropped and counted
/// (`hints_dropped` grows by one) and the allocation goes through without a
/// validation message; with nothing declared, a required dedicated resource
/// and an export are refused with their errors.
///
/// The Khronos layer of CI (1.3.239) does not report a
/// `VkMemoryPriorityAllocateInfoEXT` of a disabled extension, so that the
/// backend chains nothing for a dropped priority is checked by the unit test
/// of its chain (`device::tests`), not here.
#[test]
fn undeclared_support_drops_priority_and_refuses_requirements() {
    const TEST: &str = "undeclared_support_drops_priority_and_refuses_requirements";
    let Some(vk) = Vk::new(TEST) else {
        return;
    };
    if !has_vulkan_1_1(&vk, TEST) {
        return;
    }
    assert_eq!(vk.extras, Extras::default());
    let device = declared(&vk);
    assert_eq!(device.support(), AllocationSupport::new().dedicated(true));
    let mut allocator = vk.allocator(Config::i_am_prototyping());

    let buffer = create_buffer(&vk, 65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&vk.device, buffer) };
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let before = allocator.stats().hints_dropped;
    let options = dedicated_to(dedicated_buffer(buffer)).priority(MemoryPriority::HIGHEST);
    let block = alloc(&mut allocator, &device, request, options);
    assert_eq!(allocator.stats().hints_dropped, before + 1);
    // SAFETY: the buffer's own memory object.
    unsafe { vk.device.bind_buffer_memory(buffer, *block.memory(), 0) }.expect("bind buffer");
    touch(&vk, Some(buffer), None);

    let bare = AshMemoryDevice::wrap(&vk.device);
    let refusals = [
        (
            dedicated_to(dedicated_buffer(buffer)),
            TryAllocError::DedicatedNotSupported,
        ),
        (
            AllocOptions::new().export(ExternalMemoryHandleTypes::OPAQUE_FD),
            TryAllocError::ExportNotSupported {
                requested: ExternalMemoryHandleTypes::OPAQUE_FD,
                supported: ExternalMemoryHandleTypes::empty(),
            },
        ),
    ];
    for (options, expected) in refusals {
        // SAFETY: `bare` is the same device as `device`; nothing is allocated.
        let refused = unsafe { allocator.try_alloc_with_options(bare, request, options) };
        assert_eq!(refused.err(), Some(expected), "{options:?}");
    }

    vk.assert_no_validation_messages();
    // SAFETY: the GPU is idle; the buffer goes before its memory.
    unsafe {
        vk.device.destroy_buffer(buffer, None);
        allocator.dealloc(&device, block);
    }
}
