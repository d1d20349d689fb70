//! gpu-alloc-erupt on a real Vulkan driver (lavapipe in CI) with the Khronos
//! validation layer on: every validation message fails the test, and so does a
//! run in which the layer never announced itself. The messenger is chained to
//! the instance's create info, so it records everything from `vkCreateInstance`
//! to `vkDestroyInstance`; what the messages mean is decided once for the three
//! backend suites, in `gpu_alloc_tests::backend_support::validation`.
//! `a_validation_error_is_caught` proves that the messages arrive.
//!
//! Without a Vulkan loader, a device or the validation layer, the tests print
//! `skipped: no Vulkan driver` and pass, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

/// The `tracing` check shared by the three backend suites.
#[cfg(feature = "tracing")]
#[path = "../../ash/tests/support/trace.rs"]
mod trace;

mod support;

use {
    erupt::{vk, DeviceLoader},
    gpu_alloc::{GpuAllocator, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_erupt::{
        device_properties_enabled, extended_device_properties, EnabledFeatures, EruptBudgetDevice,
        EruptMemoryDevice,
    },
    gpu_alloc_tests::{
        backend_support::{
            alloc_block, assert_blocks_apart, assert_reads_back, churn_synthetic,
            cleanup_and_check, copy_between_mapped, host_visible_type, pattern,
            validation::{provoke_validation_errors, Evidence},
            Counting, ROUND_TRIP_BUFFER_SIZES, ROUND_TRIP_IMAGE_EXTENTS,
        },
        vulkan_gate::no_vulkan,
    },
    gpu_alloc_types::{AllocationFlags, HeapBudget, MemoryDevice},
    support::{transition, Context, Extras, ValidatedInstance},
};

/// `Request` for a resource's real memory requirements, through the backend's
/// one call.
fn request(reqs: &vk::MemoryRequirements, usage: UsageFlags) -> Request {
    gpu_alloc_erupt::request_from_requirements(reqs, usage)
}

/// The device the tests allocate through.
type Dev<'a> = Counting<'a, EruptMemoryDevice>;

/// Records a barrier that makes transfer writes visible to host reads.
///
/// # Safety
///
/// - `cb` is a command buffer of `device` in the recording state.
unsafe fn transfer_to_host_barrier(device: &DeviceLoader, cb: vk::CommandBuffer) {
    let to_host = [vk::MemoryBarrierBuilder::new()
        .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
        .dst_access_mask(vk::AccessFlags::HOST_READ)];
    // SAFETY: the caller's contract; the barrier names no resource.
    unsafe {
        device.cmd_pipeline_barrier(
            cb,
            vk::PipelineStageFlags::TRANSFER,
            vk::PipelineStageFlags::HOST,
            vk::DependencyFlags::empty(),
            &to_host,
            &[],
            &[],
        )
    }
}

/// A buffer bound to a block of the allocator.
struct Buffer {
    buffer: vk::Buffer,
    block: MemoryBlock<vk::DeviceMemory>,
}

fn create_buffer(
    cx: &Context,
    alloc: &mut GpuAllocator<vk::DeviceMemory>,
    dev: &Dev<'_>,
    size: u64,
    usage: vk::BufferUsageFlags,
    mem_usage: UsageFlags,
) -> Buffer {
    // SAFETY: the buffer is created from the context's device, bound once to a
    // block allocated with its real requirements, and destroyed by
    // `destroy_buffer` before the block is freed.
    unsafe {
        let buffer = cx
            .device
            .create_buffer(
                &vk::BufferCreateInfoBuilder::new()
                    .size(size)
                    .usage(usage)
                    .sharing_mode(vk::SharingMode::EXCLUSIVE),
                None,
            )
            .result()
            .unwrap();
        let reqs = cx.device.get_buffer_memory_requirements(buffer);
        let block = alloc_block(alloc, dev, request(&reqs, mem_usage), ResourceKind::Linear);
        assert_eq!(block.offset() & (reqs.alignment - 1), 0);
        assert_ne!(reqs.memory_type_bits & (1 << block.memory_type()), 0);
        cx.device
            .bind_buffer_memory(buffer, *block.memory(), block.offset())
            .result()
            .unwrap();
        Buffer { buffer, block }
    }
}

fn destroy_buffer(
    cx: &Context,
    alloc: &mut GpuAllocator<vk::DeviceMemory>,
    dev: &Dev<'_>,
    b: Buffer,
) {
    // SAFETY: the GPU work using the buffer has completed.
    unsafe {
        cx.device.destroy_buffer(b.buffer, None);
        alloc.dealloc(dev, b.block);
    }
}

#[test]
fn buffers_and_images_round_trip_through_the_gpu() {
    let Some(cx) = Context::new("buffers_and_images_round_trip_through_the_gpu") else {
        return;
    };
    let dev = Counting::new(EruptMemoryDevice::wrap(&cx.device));
    let mut alloc = cx.allocator();
    let transfer = vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST;

    // Buffer -> buffer: upload staging -> device-local -> download staging.
    let mut buffer_jobs = Vec::new();
    for (i, &size) in ROUND_TRIP_BUFFER_SIZES.iter().enumerate() {
        let data = pattern(i as u64, size as usize);
        let mut upload = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_SRC,
            UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        );
        // SAFETY: the device does not use the buffer yet.
        unsafe { upload.block.write_bytes(&dev, 0, &data) }.unwrap();
        // Every other device-local buffer asks for a device address, which needs
        // the DEVICE_ADDRESS allocation flag (validation checks the binding).
        let (usage, mem_usage) = if cx.buffer_device_address && i % 2 == 0 {
            (
                transfer | vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS,
                UsageFlags::FAST_DEVICE_ACCESS | UsageFlags::DEVICE_ADDRESS,
            )
        } else {
            (transfer, UsageFlags::FAST_DEVICE_ACCESS)
        };
        let device_local = create_buffer(&cx, &mut alloc, &dev, size, usage, mem_usage);
        if usage.contains(vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS) {
            // SAFETY: the buffer is bound to memory allocated with DEVICE_ADDRESS.
            let address = unsafe {
                cx.device.get_buffer_device_address(
                    &vk::BufferDeviceAddressInfoBuilder::new().buffer(device_local.buffer),
                )
            };
            assert_ne!(address, 0);
        }
        let download = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_DST,
            UsageFlags::DOWNLOAD,
        );
        buffer_jobs.push((data, upload, device_local, download));
    }

    // Buffer -> optimal-tiling image -> buffer.
    let format = vk::Format::R8G8B8A8_UINT;
    let mut image_jobs = Vec::new();
    for (i, &(w, h)) in ROUND_TRIP_IMAGE_EXTENTS.iter().enumerate() {
        let size = u64::from(w) * u64::from(h) * 4;
        let data = pattern(1000 + i as u64, size as usize);
        let mut upload = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_SRC,
            UsageFlags::UPLOAD,
        );
        // SAFETY: the device does not use the buffer yet.
        unsafe { upload.block.write_bytes(&dev, 0, &data) }.unwrap();
        // SAFETY: the image is created from the context's device, bound once to a
        // block allocated with its real requirements, destroyed after use.
        let (image, block) = unsafe {
            let image = cx
                .device
                .create_image(
                    &vk::ImageCreateInfoBuilder::new()
                        .image_type(vk::ImageType::_2D)
                        .format(format)
                        .extent(vk::Extent3D {
                            width: w,
                            height: h,
                            depth: 1,
                        })
                        .mip_levels(1)
                        .array_layers(1)
                        .samples(vk::SampleCountFlagBits::_1)
                        .tiling(vk::ImageTiling::OPTIMAL)
                        .usage(
                            vk::ImageUsageFlags::TRANSFER_SRC | vk::ImageUsageFlags::TRANSFER_DST,
                        )
                        .sharing_mode(vk::SharingMode::EXCLUSIVE)
                        .initial_layout(vk::ImageLayout::UNDEFINED),
                    None,
                )
                .result()
                .unwrap();
            let reqs = cx.device.get_image_memory_requirements(image);
            let request = request(&reqs, UsageFlags::FAST_DEVICE_ACCESS);
            let block = alloc_block(&mut alloc, &dev, request, ResourceKind::Optimal);
            assert_eq!(block.offset() & (reqs.alignment - 1), 0);
            cx.device
                .bind_image_memory(image, *block.memory(), block.offset())
                .result()
                .unwrap();
            (image, block)
        };
        let download = create_buffer(
            &cx,
            &mut alloc,
            &dev,
            size,
            vk::BufferUsageFlags::TRANSFER_DST,
            UsageFlags::DOWNLOAD,
        );
        image_jobs.push((data, upload, (image, block, w, h), download));
    }
    alloc.check_invariants();
    // Buffers and optimal-tiling images never share a granularity page.
    let buffers = buffer_jobs
        .iter()
        .flat_map(|(_, u, l, d)| [&u.block, &l.block, &d.block])
        .chain(
            image_jobs
                .iter()
                .flat_map(|(_, u, _, d)| [&u.block, &d.block]),
        )
        .map(|block| (block, ResourceKind::Linear));
    let images = image_jobs
        .iter()
        .map(|(_, _, (_, block, ..), _)| (block, ResourceKind::Optimal));
    assert_blocks_apart(alloc.buffer_image_granularity(), buffers.chain(images));

    let d = &cx.device;
    let layers = vk::ImageSubresourceLayersBuilder::new()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .layer_count(1)
        .build();
    cx.submit(|cb| {
        // SAFETY: every resource is live and bound; the barriers order the copies.
        unsafe {
            let to_dst: Vec<_> = image_jobs
                .iter()
                .map(|(_, _, (image, ..), _)| {
                    transition(
                        *image,
                        vk::ImageLayout::UNDEFINED,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        vk::AccessFlags::empty(),
                        vk::AccessFlags::TRANSFER_WRITE,
                    )
                })
                .collect();
            d.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TOP_OF_PIPE,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &to_dst,
            );
            for (data, upload, device_local, _) in &buffer_jobs {
                let region = [vk::BufferCopyBuilder::new().size(data.len() as u64)];
                d.cmd_copy_buffer(cb, upload.buffer, device_local.buffer, &region);
            }
            for (_, upload, (image, _, w, h), _) in &image_jobs {
                let region = [vk::BufferImageCopyBuilder::new()
                    .image_subresource(layers)
                    .image_extent(vk::Extent3D {
                        width: *w,
                        height: *h,
                        depth: 1,
                    })];
                d.cmd_copy_buffer_to_image(
                    cb,
                    upload.buffer,
                    *image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    &region,
                );
            }
            let to_src: Vec<_> = image_jobs
                .iter()
                .map(|(_, _, (image, ..), _)| {
                    transition(
                        *image,
                        vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                        vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                        vk::AccessFlags::TRANSFER_WRITE,
                        vk::AccessFlags::TRANSFER_READ,
                    )
                })
                .collect();
            let written = [vk::MemoryBarrierBuilder::new()
                .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
                .dst_access_mask(vk::AccessFlags::TRANSFER_READ)];
            d.cmd_pipeline_barrier(
                cb,
                vk::PipelineStageFlags::TRANSFER,
                vk::PipelineStageFlags::TRANSFER,
                vk::DependencyFlags::empty(),
                &written,
                &[],
                &to_src,
            );
            for (data, _, device_local, download) in &buffer_jobs {
                let region = [vk::BufferCopyBuilder::new().size(data.len() as u64)];
                d.cmd_copy_buffer(cb, device_local.buffer, download.buffer, &region);
            }
            for (_, _, (image, _, w, h), download) in &image_jobs {
                let region = [vk::BufferImageCopyBuilder::new()
                    .image_subresource(layers)
                    .image_extent(vk::Extent3D {
                        width: *w,
                        height: *h,
                        depth: 1,
                    })];
                d.cmd_copy_image_to_buffer(
                    cb,
                    *image,
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    download.buffer,
                    &region,
                );
            }
            transfer_to_host_barrier(d, cb);
        }
    });

    for (data, upload, device_local, mut download) in buffer_jobs {
        let what = format!("buffer of {} bytes", data.len());
        // SAFETY: the GPU work completed.
        unsafe { assert_reads_back(&dev, &mut download.block, &data, &what) };
        for b in [upload, device_local, download] {
            destroy_buffer(&cx, &mut alloc, &dev, b);
        }
    }
    for (data, upload, (image, block, w, h), mut download) in image_jobs {
        let what = format!("image {w}x{h}");
        // SAFETY: the GPU work completed.
        unsafe { assert_reads_back(&dev, &mut download.block, &data, &what) };
        // SAFETY: the GPU work completed.
        unsafe {
            cx.device.destroy_image(image, None);
            alloc.dealloc(&dev, block);
        }
        destroy_buffer(&cx, &mut alloc, &dev, upload);
        destroy_buffer(&cx, &mut alloc, &dev, download);
    }
    // SAFETY: a fresh allocator for this device, counted from the start; every
    // block is freed.
    unsafe { cleanup_and_check(&mut alloc, &dev) };
    cx.assert_no_messages();
}

/// Maps a memory object through the backend, writes, flushes, lets the GPU
/// copy, invalidates and reads back, with ranges aligned to
/// `nonCoherentAtomSize` the way non-coherent memory needs them.
#[test]
fn flush_and_invalidate_through_the_backend() {
    let Some(cx) = Context::new("flush_and_invalidate_through_the_backend") else {
        return;
    };
    let props = cx.properties();
    let device = EruptMemoryDevice::wrap(&cx.device);
    let atom = props.non_coherent_atom_size.max(1);
    let size = 64 * atom.max(64);
    // SAFETY: created from the context's device; destroyed at the end.
    let (src, dst) = unsafe {
        let info = vk::BufferCreateInfoBuilder::new()
            .size(size)
            .usage(vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        (
            cx.device.create_buffer(&info, None).result().unwrap(),
            cx.device.create_buffer(&info, None).result().unwrap(),
        )
    };
    // SAFETY: a live buffer of this device.
    let reqs = unsafe { cx.device.get_buffer_memory_requirements(src) };
    let host_type = host_visible_type(&props.extended.memory_types, reqs.memory_type_bits)
        .expect("a host-visible memory type");
    let object_size = reqs.size.max(size);
    // SAFETY: a valid type, a size within limits, no flags; each object is freed
    // below after the GPU work completed.
    let (mut src_mem, mut dst_mem) = unsafe {
        (
            device
                .allocate_memory(object_size, host_type, AllocationFlags::empty())
                .unwrap(),
            device
                .allocate_memory(object_size, host_type, AllocationFlags::empty())
                .unwrap(),
        )
    };
    // SAFETY: both objects are live, host-visible, unmapped and of a type the
    // buffers accept; the copy is waited for, and the buffers are destroyed
    // before their memory is freed.
    unsafe {
        cx.device
            .bind_buffer_memory(src, src_mem, 0)
            .result()
            .unwrap();
        cx.device
            .bind_buffer_memory(dst, dst_mem, 0)
            .result()
            .unwrap();
        let sizes = (object_size, size, atom);
        copy_between_mapped(device, &mut src_mem, &mut dst_mem, sizes, || {
            cx.submit(|cb| {
                let region = [vk::BufferCopyBuilder::new().size(size)];
                cx.device.cmd_copy_buffer(cb, src, dst, &region);
                transfer_to_host_barrier(&cx.device, cb);
            })
        });
        cx.device.destroy_buffer(src, None);
        cx.device.destroy_buffer(dst, None);
        device.deallocate_memory(src_mem);
        device.deallocate_memory(dst_mem);
    }
    cx.assert_no_messages();
}

/// Thousands of allocations of many sizes and usages, freed in a scrambled
/// order; afterwards no memory object is left on the device.
#[test]
fn churn_then_cleanup_leaves_no_memory_object() {
    let Some(cx) = Context::new("churn_then_cleanup_leaves_no_memory_object") else {
        return;
    };
    let dev = Counting::new(EruptMemoryDevice::wrap(&cx.device));
    let mut alloc = cx.allocator();
    // SAFETY: a fresh allocator for this device, counted from the start.
    let stats = unsafe { churn_synthetic(&mut alloc, &dev) };
    eprintln!(
        "churn: {} blocks from {} device allocations, at most {} memory objects live \
         at once, {} tags checked",
        stats.blocks_allocated,
        dev.allocations.get(),
        stats.peak_objects,
        stats.tags_checked
    );
    cx.assert_no_messages();
}

/// The queried properties match the device, and the budget is readable exactly
/// when `VK_EXT_memory_budget` is there.
#[test]
fn properties_and_budget() {
    let Some(cx) = Context::new("properties_and_budget") else {
        return;
    };
    assert_eq!(cx.extras, Extras::default(), "`Context::new` asks for none");
    let props = cx.properties();
    // SAFETY: plain queries of a live physical device.
    let (raw, limits) = unsafe {
        (
            cx.vi
                .instance
                .get_physical_device_memory_properties(cx.physical_device),
            cx.vi
                .instance
                .get_physical_device_properties(cx.physical_device)
                .limits,
        )
    };
    let ext = &props.extended;
    assert_eq!(ext.memory_types.len(), raw.memory_type_count as usize);
    assert_eq!(ext.memory_heaps.len(), raw.memory_heap_count as usize);
    for (ours, theirs) in ext.memory_types.iter().zip(raw.memory_types.iter()) {
        assert_eq!(ours.raw_flags, theirs.property_flags.bits());
        assert_eq!(ours.heap, theirs.heap_index);
    }
    for (ours, theirs) in ext.memory_heaps.iter().zip(raw.memory_heaps.iter()) {
        assert_eq!(ours.size, theirs.size);
        assert_eq!(ours.flags.bits(), theirs.flags.bits());
    }
    assert_eq!(
        ext.buffer_image_granularity,
        limits.buffer_image_granularity
    );
    assert_eq!(props.non_coherent_atom_size, limits.non_coherent_atom_size);
    assert_eq!(
        props.max_memory_allocation_count,
        limits.max_memory_allocation_count
    );
    // The instance is Vulkan 1.2, so maintenance3 is always readable.
    assert!(props.max_memory_allocation_size_reported);
    assert!(props.max_memory_allocation_size > 0);
    assert_ne!(props.max_memory_allocation_size, u64::MAX);
    assert_eq!(
        props.buffer_device_address_supported,
        cx.buffer_device_address
    );
    assert_eq!(
        props.enabled.buffer_device_address,
        cx.buffer_device_address
    );
    let device_props = props.device_properties();
    assert_eq!(device_props.buffer_device_address, cx.buffer_device_address);
    assert_eq!(device_props.memory_types.len(), ext.memory_types.len());
    // Claimed enabled where the device does not support it: never passed on.
    if !props.buffer_device_address_supported {
        let mut claimed = props.clone();
        claimed.enabled = EnabledFeatures::new().with_buffer_device_address(true);
        assert!(!claimed.device_properties().buffer_device_address);
    }
    #[allow(deprecated)] // gpu-alloc-erupt 0.9's function, kept and deprecated.
    // SAFETY: the physical device belongs to the instance.
    let plain =
        unsafe { gpu_alloc_erupt::device_properties(&cx.vi.instance, cx.physical_device) }.unwrap();
    assert!(!plain.buffer_device_address, "supported is not enabled");
    // SAFETY: as above; the device has bufferDeviceAddress iff the context says so.
    let enabled = unsafe {
        device_properties_enabled(
            &cx.vi.instance,
            cx.physical_device,
            EnabledFeatures::new().with_buffer_device_address(cx.buffer_device_address),
        )
    }
    .unwrap();
    assert_eq!(enabled.buffer_device_address, cx.buffer_device_address);
    assert_eq!(
        props.device_api_version,
        // SAFETY: as above.
        unsafe {
            cx.vi
                .instance
                .get_physical_device_properties(cx.physical_device)
        }
        .api_version
    );
    eprintln!(
        "properties: {} types, {} heaps, max size {:#x}, atom {}, granularity {}, bda {}, budget {}",
        ext.memory_types.len(),
        ext.memory_heaps.len(),
        props.max_memory_allocation_size,
        props.non_coherent_atom_size,
        ext.buffer_image_granularity,
        props.buffer_device_address_supported,
        props.memory_budget_supported
    );

    assert_eq!(props.memory_budget_supported, cx.memory_budget_enabled);
    assert_eq!(props.memory_budget.is_some(), cx.memory_budget_enabled);
    // SAFETY: the device was created from this physical device of this instance.
    let budget_device =
        unsafe { EruptBudgetDevice::new(&cx.vi.instance, cx.physical_device, &cx.device) }.unwrap();
    assert_eq!(budget_device.budget_supported(), cx.memory_budget_enabled);
    let mut budgets = vec![HeapBudget::default(); ext.memory_heaps.len()];
    assert!(!EruptMemoryDevice::wrap(&cx.device).memory_budget(&mut budgets));
    let mut alloc = cx.allocator();
    if cx.memory_budget_enabled {
        assert!(budget_device.memory_budget(&mut budgets));
        for (heap, b) in ext.memory_heaps.iter().zip(&budgets) {
            assert!(b.budget > 0 && b.budget <= heap.size, "{b:?} of {heap:?}");
        }
        let listed = budget_device.heap_budgets().expect("budgets");
        assert_eq!(listed.len(), ext.memory_heaps.len());
        assert!(listed.iter().all(|b| b.budget > 0));
        let at_query = props.memory_budget.as_ref().expect("budgets at the query");
        assert_eq!(at_query.len(), ext.memory_heaps.len());
        assert!(at_query.iter().all(|b| b.budget > 0));
        assert!(alloc.update_budget(&budget_device));
        eprintln!("budgets: {budgets:?}");
    } else {
        let untouched = [HeapBudget {
            budget: 7,
            usage: 7,
        }; 2];
        let mut budgets = untouched;
        assert!(!budget_device.memory_budget(&mut budgets));
        assert_eq!(budgets, untouched);
        assert!(budget_device.heap_budgets().is_none());
        assert!(!alloc.update_budget(&budget_device));
        eprintln!("VK_EXT_memory_budget is not supported here: no budget to read");
    }
    // The budget device allocates and frees like the plain one.
    let host_type = host_visible_type(&ext.memory_types, !0).expect("a host-visible memory type");
    // SAFETY: a valid type index, a small non-zero size, no flags; freed once.
    unsafe {
        let memory = budget_device
            .allocate_memory(256, host_type, AllocationFlags::empty())
            .unwrap();
        EruptMemoryDevice::wrap(&cx.device).deallocate_memory(memory);
    }
    cx.assert_no_messages();
}

/// The capture itself works: two flushes that break valid-usage rules (of an
/// unmapped memory object, and at an offset that is not a multiple of
/// `nonCoherentAtomSize`), made through the backend, are each reported.
#[test]
fn a_validation_error_is_caught() {
    let Some(cx) = Context::new("a_validation_error_is_caught") else {
        return;
    };
    let props = cx.properties();
    let device = EruptMemoryDevice::wrap(&cx.device);
    let host_type =
        host_visible_type(&props.extended.memory_types, !0).expect("a host-visible memory type");
    // SAFETY: a host-visible type of this device and its atom size; the drivers
    // this runs on (lavapipe) ignore flushes of coherent memory.
    let provoked =
        unsafe { provoke_validation_errors(device, host_type, props.non_coherent_atom_size) };
    cx.vi.messages.assert_caught(&provoked);
    cx.assert_no_messages();
}

/// On an instance that can call neither `vkGetPhysicalDeviceProperties2` nor its
/// KHR alias (Vulkan 1.0, no extension), maintenance3 is out of reach: the size
/// limit falls back to the largest heap, and no budget can be read.
#[test]
fn vulkan_1_0_instance_falls_back_to_the_largest_heap() {
    let test = "vulkan_1_0_instance_falls_back_to_the_largest_heap";
    let vi = match ValidatedInstance::new(vk::API_VERSION_1_0, test) {
        Ok(vi) => vi,
        Err(why) => {
            no_vulkan(test, &why);
            return;
        }
    };
    assert!(vi.instance.get_physical_device_properties2.is_none());
    assert!(vi.instance.get_physical_device_properties2_khr.is_none());
    // SAFETY: a plain query of a live instance.
    let physical_devices = unsafe { vi.instance.enumerate_physical_devices(None) }
        .result()
        .unwrap();
    for &pd in physical_devices.iter() {
        // SAFETY: `pd` was enumerated from the instance.
        let props = unsafe { extended_device_properties(&vi.instance, pd, EnabledFeatures::new()) }
            .unwrap();
        let largest_heap = props.extended.memory_heaps.iter().map(|h| h.size).max();
        assert!(!props.max_memory_allocation_size_reported);
        assert_eq!(Some(props.max_memory_allocation_size), largest_heap);
        assert!(!props.memory_budget_supported);
        assert!(props.memory_budget.is_none());
        assert!(!props.buffer_device_address_supported);
    }
    vi.assert_no_messages(Evidence::Instance);
}

/// With the `tracing` feature, every call of the memory device logs an event
/// (`cargo test -p gpu-alloc-erupt --features tracing`).
#[cfg(feature = "tracing")]
#[test]
fn tracing_logs_device_calls() {
    let Some(cx) = Context::new("tracing_logs_device_calls") else {
        return;
    };
    let props = cx.properties();
    let host_type =
        host_visible_type(&props.extended.memory_types, !0).expect("a host-visible memory type");
    trace::device_calls_are_logged(EruptMemoryDevice::wrap(&cx.device), host_type);
    cx.assert_no_messages();
}
