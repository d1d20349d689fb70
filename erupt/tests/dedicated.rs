//! What `EruptMemoryDevice::allocate_memory_with` chains, on a real Vulkan
//! driver (lavapipe in CI) with the Khronos validation layer on: memory objects
//! dedicated to a buffer, an image and an image with external memory, memory
//! exported as an OPAQUE_FD and imported again on the same device, and
//! priorities. Each test allocates through a `GpuAllocator` and a `WithSupport`
//! declaring what the test device was created with; a structure the device was
//! not created to take would be a validation message, which fails the test
//! (the suite's `Context` checks, as in `lavapipe.rs`).
//!
//! Without a Vulkan driver each test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`; a device without Vulkan 1.1 or
//! without the extension a test needs prints `skipped:` and the reason.

// `lavapipe.rs` uses the rest of the context.
#[allow(dead_code)]
mod support;

use {
    erupt::{vk, ExtendableFrom},
    gpu_alloc::{
        AllocOptions, Dedicated, GpuAllocator, MemoryBlock, Request, ResourceKind, TryAllocError,
        UsageFlags,
    },
    gpu_alloc_erupt::{
        buffer_memory_requirements2, dedicated_buffer, dedicated_image, image_memory_requirements2,
        DedicatedNeed, EruptMemoryDevice,
    },
    gpu_alloc_tests::backend_support::pattern,
    gpu_alloc_types::{
        AllocationSupport, DedicatedResource, ExternalMemoryHandleTypes, MemoryDevice,
        MemoryPriority, WithSupport,
    },
    std::ffi::CStr,
    support::{Context, Extras},
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

/// Prints why the test stops here.
fn skipped(test: &str, why: &str) {
    println!("{test}: skipped: {why}");
    eprintln!("{test}: skipped: {why}");
}

/// The physical device's name, for skip messages.
fn device_name(cx: &Context) -> String {
    // SAFETY: a physical device of the live instance.
    let properties = unsafe {
        cx.vi
            .instance
            .get_physical_device_properties(cx.physical_device)
    };
    // SAFETY: `device_name` is NUL-terminated.
    unsafe { CStr::from_ptr(properties.device_name.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Whether the device has Vulkan 1.1 (the instance has 1.2); says `skipped`
/// if not.
fn has_vulkan_1_1(cx: &Context, test: &str) -> bool {
    let ok = cx.properties().device_api_version >= vk::API_VERSION_1_1;
    if !ok {
        skipped(test, &format!("{} has no Vulkan 1.1", device_name(cx)));
    }
    ok
}

/// The backend device, declaring dedicated resources (Vulkan 1.1) and the
/// extras the context's device was created with.
fn declared(cx: &Context) -> WithSupport<'_, EruptMemoryDevice> {
    let mut support = AllocationSupport::new().dedicated(true);
    if cx.extras.external_memory_fd {
        support = support.export(ExternalMemoryHandleTypes::OPAQUE_FD);
    }
    if cx.extras.memory_priority {
        support = support.priority(true);
    }
    // SAFETY: the tests check for Vulkan 1.1 before allocating, and
    // `cx.extras` is what the device was created with.
    unsafe { WithSupport::new(EruptMemoryDevice::wrap(&cx.device), support) }
}

fn create_buffer(cx: &Context, size: u64, external: bool) -> vk::Buffer {
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
    // VK_KHR_external_memory_fd (the callers check).
    unsafe { cx.device.create_buffer(&info, None) }
        .result()
        .expect("create buffer")
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

fn create_image(cx: &Context, external: bool) -> vk::Image {
    let mut external_info =
        vk::ExternalMemoryImageCreateInfoBuilder::new().handle_types(OPAQUE_FD.bitmask());
    let mut info = image_info();
    if external {
        info = info.extend_from(&mut external_info);
    }
    // SAFETY: as for buffers; R8G8B8A8_UINT supports transfers with optimal
    // tiling everywhere.
    unsafe { cx.device.create_image(&info, None) }
        .result()
        .expect("create image")
}

/// Allocates through `device`, failing the test with the request and options.
fn alloc(
    allocator: &mut GpuAllocator<vk::DeviceMemory>,
    device: &impl MemoryDevice<vk::DeviceMemory>,
    request: Request,
    options: AllocOptions,
) -> MemoryBlock<vk::DeviceMemory> {
    // SAFETY: each test allocates, maps and frees through one device, whose
    // properties made `allocator`; a dedicated resource is live, unbound and
    // of that device, and its requirements made `request`.
    unsafe { allocator.try_alloc_with_options(device, request, options) }
        .unwrap_or_else(|e| panic!("{request:?} {options:?}: {e}"))
}

fn dedicated_to(resource: DedicatedResource) -> AllocOptions {
    AllocOptions::new()
        .dedicated(Dedicated::Required)
        .dedicated_resource(resource)
}

/// Fills the buffer and clears the image on the GPU, so the layer checks the
/// memory bound to them in use.
fn touch(cx: &Context, buffer: Option<vk::Buffer>, image: Option<vk::Image>) {
    let range = vk::ImageSubresourceRangeBuilder::new()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .level_count(1)
        .layer_count(1);
    cx.submit(|cb| {
        // SAFETY: `cb` is recording; the resources are live, bound, and have
        // TRANSFER_DST usage; the barrier puts the image in the layout of the
        // clear.
        unsafe {
            if let Some(buffer) = buffer {
                cx.device
                    .cmd_fill_buffer(cb, buffer, 0, vk::WHOLE_SIZE, 0x0102_0304);
            }
            if let Some(image) = image {
                let to_dst = [vk::ImageMemoryBarrierBuilder::new()
                    .image(image)
                    .old_layout(vk::ImageLayout::UNDEFINED)
                    .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
                    .src_access_mask(vk::AccessFlags::empty())
                    .dst_access_mask(vk::AccessFlags::TRANSFER_WRITE)
                    .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .subresource_range(*range)];
                cx.device.cmd_pipeline_barrier(
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
                cx.device.cmd_clear_color_image(
                    cb,
                    image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    &colour,
                    &[range],
                );
            }
        }
    });
}

/// A buffer and an image in memory objects made for them
/// (`VkMemoryDedicatedAllocateInfo`, read from requirements2): each block is a
/// whole object of the requirements' size, bound at 0 and used on the GPU,
/// and the layer says nothing.
#[test]
fn dedicated_buffer_and_image_bind_cleanly() {
    const TEST: &str = "dedicated_buffer_and_image_bind_cleanly";
    let Some(cx) = Context::new(TEST) else {
        return;
    };
    if !has_vulkan_1_1(&cx, TEST) {
        return;
    }
    let device = declared(&cx);
    let mut allocator = cx.allocator();

    let buffer = create_buffer(&cx, 65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&cx.device, buffer) };
    println!("{TEST}: buffer: {needs:?}");
    let options = dedicated_to(dedicated_buffer(buffer)).resource(ResourceKind::Linear);
    let buffer_block = alloc(
        &mut allocator,
        &device,
        needs.request(UsageFlags::FAST_DEVICE_ACCESS),
        options,
    );
    assert!(buffer_block.is_dedicated());
    assert_eq!(
        (buffer_block.offset(), buffer_block.size()),
        (0, needs.requirements.size)
    );
    // SAFETY: the buffer's own memory object, of a type it allows.
    unsafe {
        cx.device
            .bind_buffer_memory(buffer, *buffer_block.memory(), 0)
    }
    .result()
    .expect("bind buffer");

    let image = create_image(&cx, false);
    // SAFETY: a Vulkan 1.1 device and a live, non-disjoint image of it.
    let needs = unsafe { image_memory_requirements2(&cx.device, image) };
    println!("{TEST}: image: {needs:?}");
    let options = dedicated_to(dedicated_image(image)).resource(ResourceKind::Optimal);
    let image_block = alloc(
        &mut allocator,
        &device,
        needs.request(UsageFlags::FAST_DEVICE_ACCESS),
        options,
    );
    assert!(image_block.is_dedicated());
    assert_eq!(
        (image_block.offset(), image_block.size()),
        (0, needs.requirements.size)
    );
    // SAFETY: as for the buffer.
    unsafe { cx.device.bind_image_memory(image, *image_block.memory(), 0) }
        .result()
        .expect("bind image");

    touch(&cx, Some(buffer), Some(image));
    assert_eq!(allocator.stats().hints_dropped, 0);
    cx.assert_no_messages();
    // SAFETY: the GPU is idle after `submit`; resources go before their memory.
    unsafe {
        cx.device.destroy_buffer(buffer, None);
        cx.device.destroy_image(image, None);
        allocator.dealloc(&device, buffer_block);
        allocator.dealloc(&device, image_block);
        allocator.cleanup(&device);
    }
    let stats = allocator.stats();
    assert_eq!((stats.blocks, stats.memory_objects), (0, 0));
}

/// `externalMemoryFeatures` of OPAQUE_FD for the test images, or `None` when
/// the format cannot be external.
fn external_image_features(cx: &Context) -> Option<vk::ExternalMemoryFeatureFlags> {
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
    // SAFETY: a 1.2 instance and one of its physical devices; both chains are
    // valid in 1.1 and outlive the call.
    let result = unsafe {
        cx.vi.instance.get_physical_device_image_format_properties2(
            cx.physical_device,
            &format_info,
            &mut properties,
        )
    };
    result.result().ok()?;
    Some(external.external_memory_properties.external_memory_features)
}

/// An image created with `VkExternalMemoryImageCreateInfo` (OPAQUE_FD) gets an
/// exportable memory object of its own, bound and used without a message.
///
/// lavapipe (Mesa 22.3) and NVIDIA's driver (580, on an H200) neither require
/// nor prefer a dedicated allocation for it (requirements2) and report no
/// DEDICATED_ONLY (the test prints both);
/// the image is allocated dedicated all the same, as drivers that require it
/// need, and where DEDICATED_ONLY is reported the test checks that
/// requirements2 is read as `DedicatedNeed::Required`.
#[test]
fn external_image_gets_an_exportable_dedicated_object() {
    const TEST: &str = "external_image_gets_an_exportable_dedicated_object";
    let extras = Extras {
        external_memory_fd: true,
        ..Extras::default()
    };
    let Some(cx) = Context::with_extras(TEST, extras) else {
        return;
    };
    if !has_vulkan_1_1(&cx, TEST) {
        return;
    }
    if !cx.extras.external_memory_fd {
        let why = format!("{} has no VK_KHR_external_memory_fd", device_name(&cx));
        return skipped(TEST, &why);
    }
    let Some(features) = external_image_features(&cx) else {
        return skipped(TEST, "no OPAQUE_FD R8G8B8A8_UINT optimal images");
    };
    println!("{TEST}: external image memory features: {features:?}");
    if !features.contains(vk::ExternalMemoryFeatureFlags::EXPORTABLE) {
        return skipped(TEST, "OPAQUE_FD images are not exportable");
    }
    let device = declared(&cx);
    let mut allocator = cx.allocator();

    let image = create_image(&cx, true);
    // SAFETY: a Vulkan 1.1 device and a live, non-disjoint image of it.
    let needs = unsafe { image_memory_requirements2(&cx.device, image) };
    println!("{TEST}: external image: {needs:?}");
    if features.contains(vk::ExternalMemoryFeatureFlags::DEDICATED_ONLY) {
        assert_eq!(needs.dedicated, Some(DedicatedNeed::Required));
    }
    let options = dedicated_to(dedicated_image(image))
        .resource(ResourceKind::Optimal)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD);
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let block = alloc(&mut allocator, &device, request, options);
    assert!(block.is_dedicated());
    assert_eq!(block.size(), needs.requirements.size);
    // SAFETY: the image's own, exportable memory object, of a type it allows.
    unsafe { cx.device.bind_image_memory(image, *block.memory(), 0) }
        .result()
        .expect("bind image");
    touch(&cx, None, Some(image));
    cx.assert_no_messages();
    // SAFETY: the GPU is idle; the image goes before its memory.
    unsafe {
        cx.device.destroy_image(image, None);
        allocator.dealloc(&device, block);
    }
}

/// A host-visible block exported as an OPAQUE_FD (made for an external buffer
/// bound to it, and dedicated to it only where the driver asks: lavapipe does
/// not), written through the allocator's mapping and imported on the same
/// device into a new memory object that a second allocator takes in with
/// `import_memory`: each side reads what the other wrote.
#[test]
fn exported_memory_reads_back_through_an_imported_block() {
    const TEST: &str = "exported_memory_reads_back_through_an_imported_block";
    let extras = Extras {
        external_memory_fd: true,
        ..Extras::default()
    };
    let Some(cx) = Context::with_extras(TEST, extras) else {
        return;
    };
    if !has_vulkan_1_1(&cx, TEST) {
        return;
    }
    if !cx.extras.external_memory_fd {
        let why = format!("{} has no VK_KHR_external_memory_fd", device_name(&cx));
        return skipped(TEST, &why);
    }
    let buffer_info = vk::PhysicalDeviceExternalBufferInfoBuilder::new()
        .usage(buffer_usage())
        .handle_type(OPAQUE_FD);
    let mut buffer_properties = vk::ExternalBufferPropertiesBuilder::new();
    // SAFETY: a 1.2 instance and one of its physical devices.
    unsafe {
        cx.vi
            .instance
            .get_physical_device_external_buffer_properties(
                cx.physical_device,
                &buffer_info,
                &mut buffer_properties,
            )
    };
    let features = buffer_properties
        .external_memory_properties
        .external_memory_features;
    println!("{TEST}: external buffer memory features: {features:?}");
    let both =
        vk::ExternalMemoryFeatureFlags::EXPORTABLE | vk::ExternalMemoryFeatureFlags::IMPORTABLE;
    if !features.contains(both) {
        return skipped(TEST, "OPAQUE_FD buffers are not exportable and importable");
    }
    let device = declared(&cx);
    let mut exporter = cx.allocator();
    let mut importer = cx.allocator();

    const SIZE: usize = 4096;
    let buffer = create_buffer(&cx, SIZE as u64, true);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&cx.device, buffer) };
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
    // SAFETY: a memory object of its own, exportable as the buffer's handle
    // type, of a type the buffer allows.
    unsafe { cx.device.bind_buffer_memory(buffer, *block.memory(), 0) }
        .result()
        .expect("bind buffer");

    let written = pattern(0x5eed, SIZE);
    // SAFETY: the block is of `device`; the GPU does not use the buffer.
    unsafe { block.write_bytes(&device, 0, &written) }.expect("write");

    let get_fd = vk::MemoryGetFdInfoKHRBuilder::new()
        .memory(*block.memory())
        .handle_type(OPAQUE_FD);
    // SAFETY: the memory was allocated exportable as OPAQUE_FD, on a device
    // with VK_KHR_external_memory_fd (so erupt loaded the function).
    let fd = unsafe { cx.device.get_memory_fd_khr(&get_fd) }
        .result()
        .expect("vkGetMemoryFdKHR");
    let mut import = vk::ImportMemoryFdInfoKHRBuilder::new()
        .handle_type(OPAQUE_FD)
        .fd(fd);
    let mut import_dedicated = vk::MemoryDedicatedAllocateInfoBuilder::new().buffer(buffer);
    let mut import_info = vk::MemoryAllocateInfoBuilder::new()
        .allocation_size(block.size())
        .memory_type_index(block.memory_type())
        .extend_from(&mut import);
    if dedicated {
        import_info = import_info.extend_from(&mut import_dedicated);
    }
    // SAFETY: an OPAQUE_FD of this device's memory, imported with its size and
    // memory type (and its buffer, when dedicated); the import takes the fd.
    let imported = unsafe { cx.device.allocate_memory(&import_info, None) }
        .result()
        .expect("import the fd");
    // SAFETY: `imported` is memory of the allocators' device, of the exported
    // block's type, `block.size()` bytes from 0, freed only through the block.
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
    // SAFETY: memory of `device` that nothing else writes meanwhile.
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

    cx.assert_no_messages();
    // SAFETY: the GPU never used the memory; the buffer goes before the memory
    // bound to it.
    unsafe {
        importer.dealloc(&device, imported_block);
        cx.device.destroy_buffer(buffer, None);
        exporter.dealloc(&device, block);
    }
}

/// With VK_EXT_memory_priority and `memoryPriority` enabled, dedicated blocks
/// (one for a buffer, one without a resource) carry priorities, nothing is
/// dropped and the layer says nothing.
#[test]
fn memory_priority_is_sent_when_enabled() {
    const TEST: &str = "memory_priority_is_sent_when_enabled";
    let extras = Extras {
        memory_priority: true,
        ..Extras::default()
    };
    let Some(cx) = Context::with_extras(TEST, extras) else {
        return;
    };
    if !has_vulkan_1_1(&cx, TEST) {
        return;
    }
    if !cx.extras.memory_priority {
        let why = format!(
            "{} has no VK_EXT_memory_priority with the memoryPriority feature",
            device_name(&cx)
        );
        return skipped(TEST, &why);
    }
    let device = declared(&cx);
    let mut allocator = cx.allocator();

    let buffer = create_buffer(&cx, 65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&cx.device, buffer) };
    let options = dedicated_to(dedicated_buffer(buffer)).priority(MemoryPriority::HIGHEST);
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let buffer_block = alloc(&mut allocator, &device, request, options);
    // SAFETY: the buffer's own memory object.
    unsafe {
        cx.device
            .bind_buffer_memory(buffer, *buffer_block.memory(), 0)
    }
    .result()
    .expect("bind buffer");
    let plain = Request {
        size: 65_536,
        align_mask: 255,
        usage: UsageFlags::UPLOAD,
        memory_types: !0,
    };
    let options = AllocOptions::new()
        .dedicated(Dedicated::Required)
        .priority(MemoryPriority::LOWEST);
    let plain_block = alloc(&mut allocator, &device, plain, options);

    touch(&cx, Some(buffer), None);
    assert_eq!(allocator.stats().hints_dropped, 0);
    cx.assert_no_messages();
    // SAFETY: the GPU is idle; the buffer goes before its memory.
    unsafe {
        cx.device.destroy_buffer(buffer, None);
        allocator.dealloc(&device, buffer_block);
        allocator.dealloc(&device, plain_block);
    }
}

/// A device created without VK_EXT_memory_priority, declaring dedicated
/// allocations only: a priority is dropped and counted (`hints_dropped` + 1)
/// and the allocation goes through without a message; with nothing declared,
/// a required dedicated resource and an export are refused.
///
/// CI's layer (1.3.239) does not report a priority structure of a disabled
/// extension: the unit test of the backend's chain (`device/tests.rs`) checks
/// that none is sent.
#[test]
fn undeclared_support_drops_priority_and_refuses_requirements() {
    const TEST: &str = "undeclared_support_drops_priority_and_refuses_requirements";
    let Some(cx) = Context::new(TEST) else {
        return;
    };
    if !has_vulkan_1_1(&cx, TEST) {
        return;
    }
    let device = declared(&cx);
    assert_eq!(device.support(), AllocationSupport::new().dedicated(true));
    let mut allocator = cx.allocator();

    let buffer = create_buffer(&cx, 65_536, false);
    // SAFETY: a Vulkan 1.1 device and a live buffer of it.
    let needs = unsafe { buffer_memory_requirements2(&cx.device, buffer) };
    let request = needs.request(UsageFlags::FAST_DEVICE_ACCESS);
    let before = allocator.stats().hints_dropped;
    let options = dedicated_to(dedicated_buffer(buffer)).priority(MemoryPriority::HIGHEST);
    let block = alloc(&mut allocator, &device, request, options);
    assert_eq!(allocator.stats().hints_dropped, before + 1);
    // SAFETY: the buffer's own memory object.
    unsafe { cx.device.bind_buffer_memory(buffer, *block.memory(), 0) }
        .result()
        .expect("bind buffer");
    touch(&cx, Some(buffer), None);

    let bare = EruptMemoryDevice::wrap(&cx.device);
    let export = ExternalMemoryHandleTypes::OPAQUE_FD;
    let refusals = [
        (
            dedicated_to(dedicated_buffer(buffer)),
            TryAllocError::DedicatedNotSupported,
        ),
        (
            AllocOptions::new().export(export),
            TryAllocError::ExportNotSupported {
                requested: export,
                supported: ExternalMemoryHandleTypes::empty(),
            },
        ),
    ];
    for (options, expected) in refusals {
        // SAFETY: `bare` is `device`'s device; nothing is allocated.
        let refused = unsafe { allocator.try_alloc_with_options(bare, request, options) };
        assert_eq!(refused.err(), Some(expected), "{options:?}");
    }

    cx.assert_no_messages();
    // SAFETY: the GPU is idle; the buffer goes before its memory.
    unsafe {
        cx.device.destroy_buffer(buffer, None);
        allocator.dealloc(&device, block);
    }
}
