//! The ash backend on a real Vulkan driver (lavapipe in CI) with the Khronos
//! validation layer on: any validation message fails the test, and so does a
//! run in which the layer never announced itself (`support::Vk` checks both
//! at the end of every test and again after tearing the device and instance
//! down). `a_validation_error_is_caught` proves that the messages arrive.
//!
//! Without a Vulkan driver each test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

mod support;

use {
    ash::vk,
    gpu_alloc::{Config, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_ash::{
        device_properties_enabled, extended_device_properties, AshBudgetDevice, AshMemoryDevice,
        EnabledFeatures, Properties2,
    },
    gpu_alloc_tests::backend_support::{
        churn, cleanup_and_check, host_visible_type, mappable, pattern,
        validation::{provoke_validation_errors, verdict, DebugMessage, Verdict, LOADER_ID},
        ChurnPlan, Counting, Held, Rng,
    },
    gpu_alloc_types::{AllocationFlags, HeapBudget, MappedMemoryRange, MemoryDevice},
    support::{
        resources::{
            image_copy, image_layout, request, transfer_write_barrier, Buffer, Image, TEXEL,
        },
        Vk,
    },
};

#[test]
fn properties_match_the_driver() {
    let Some(vk) = Vk::new("properties_match_the_driver") else {
        return;
    };
    let props = &vk.props;
    assert_eq!(
        vk.extras,
        support::Extras::default(),
        "`Vk::new` asks for none"
    );
    // SAFETY: `physical_device` belongs to the live instance.
    let raw = unsafe {
        vk.instance
            .get_physical_device_memory_properties(vk.physical_device)
    };
    let types = raw.memory_types_as_slice();
    let heaps = raw.memory_heaps_as_slice();
    assert_eq!(props.extended.memory_types.len(), types.len());
    assert_eq!(props.extended.memory_heaps.len(), heaps.len());
    for (ours, theirs) in props.extended.memory_types.iter().zip(types) {
        assert_eq!(ours.raw_flags, theirs.property_flags.as_raw());
        assert_eq!(ours.heap, theirs.heap_index);
    }
    for (ours, theirs) in props.extended.memory_heaps.iter().zip(heaps) {
        assert_eq!(ours.size, theirs.size);
        assert_eq!(ours.flags.bits(), theirs.flags.as_raw());
    }
    // SAFETY: as above.
    let base = unsafe {
        vk.instance
            .get_physical_device_properties(vk.physical_device)
    };
    assert_eq!(
        props.extended.buffer_image_granularity,
        base.limits.buffer_image_granularity
    );
    assert_eq!(
        props.max_memory_allocation_count,
        base.limits.max_memory_allocation_count
    );
    assert_eq!(
        props.non_coherent_atom_size,
        base.limits.non_coherent_atom_size
    );
    if vk.instance_version >= vk::API_VERSION_1_1 && props.device_api_version >= vk::API_VERSION_1_1
    {
        assert!(props.max_memory_allocation_size_reported);
        let mut m3 = vk::PhysicalDeviceMaintenance3Properties::default();
        let mut p2 = vk::PhysicalDeviceProperties2::default().push_next(&mut m3);
        // SAFETY: the instance and device have Vulkan 1.1.
        unsafe {
            vk.instance
                .get_physical_device_properties2(vk.physical_device, &mut p2)
        };
        assert_eq!(
            props.max_memory_allocation_size,
            m3.max_memory_allocation_size
        );
    }
    assert_ne!(props.max_memory_allocation_size, u64::MAX);

    // The shortcuts agree with the full query.
    #[allow(deprecated)] // gpu-alloc-ash 0.7's function, kept and deprecated.
    // SAFETY: the instance was created with `instance_version`.
    let legacy = unsafe {
        gpu_alloc_ash::device_properties(&vk.instance, vk.instance_version, vk.physical_device)
    }
    .unwrap();
    assert!(!legacy.buffer_device_address, "legacy never claims enabled");
    assert_eq!(legacy.memory_types.len(), types.len());
    assert_eq!(
        legacy.max_memory_allocation_size,
        props.max_memory_allocation_size
    );
    // SAFETY: as above; the test device has bufferDeviceAddress enabled iff
    // `vk.buffer_device_address`.
    let enabled = unsafe {
        device_properties_enabled(
            &vk.instance,
            vk.instance_version,
            vk.physical_device,
            EnabledFeatures::new().with_buffer_device_address(vk.buffer_device_address),
        )
    }
    .unwrap();
    assert_eq!(enabled.buffer_device_address, vk.buffer_device_address);
    assert_eq!(
        props.device_properties().buffer_device_address,
        vk.buffer_device_address
    );
    assert_eq!(
        props.buffer_device_address_supported,
        vk.buffer_device_address
    );
    // Claimed enabled where the device does not support it: never passed on.
    if !props.buffer_device_address_supported {
        let mut claimed = props.clone();
        claimed.enabled = EnabledFeatures::new().with_buffer_device_address(true);
        assert!(!claimed.device_properties().buffer_device_address);
    }
    // A `Properties2` and the instance's version read the same.
    // SAFETY: as above.
    let again = unsafe {
        extended_device_properties(
            &vk.instance,
            Properties2::for_version(vk.instance_version),
            vk.physical_device,
            props.enabled,
        )
    }
    .unwrap();
    assert_eq!(again.extended, props.extended);
    assert_eq!(again.enabled, props.enabled);
    let budget = props.memory_budget.clone();
    assert_eq!(budget.is_some(), props.memory_budget_supported);
    let budget_device = AshBudgetDevice::new_for_test(&vk);
    assert_eq!(
        budget_device.budget_supported(),
        props.memory_budget_supported
    );
    if let Some(budget) = &budget {
        assert_eq!(budget.len(), heaps.len());
        assert!(budget.iter().all(|b| b.budget > 0));
        assert_eq!(
            budget_device.heap_budgets().map(|b| b.len()),
            Some(heaps.len())
        );
        // A shorter slice gets the first heaps; a longer one keeps its tail.
        let mut short = [HeapBudget::default(); 1];
        assert!(budget_device.memory_budget(&mut short));
        assert!(short[0].budget > 0);
        let mut long = vec![
            HeapBudget {
                budget: 7,
                usage: 7
            };
            heaps.len() + 2
        ];
        assert!(budget_device.memory_budget(&mut long));
        assert!(long[..heaps.len()].iter().all(|b| b.budget > 0));
        assert!(long[heaps.len()..].iter().all(|b| b.budget == 7));
    } else {
        let mut untouched = [HeapBudget {
            budget: 7,
            usage: 7,
        }; 2];
        assert!(!budget_device.memory_budget(&mut untouched));
        assert_eq!(
            untouched,
            [HeapBudget {
                budget: 7,
                usage: 7
            }; 2]
        );
        assert!(budget_device.heap_budgets().is_none());
    }
    // The plain wrapper never reports a budget.
    assert!(!AshMemoryDevice::wrap(&vk.device).memory_budget(&mut [HeapBudget::default()]));
    // A 1.0-style query still gives a real bound, not u64::MAX (through the name
    // the demo, bench and soak use).
    // SAFETY: `Unavailable` makes only 1.0 calls.
    let v10 = unsafe {
        gpu_alloc_ash::query_properties(&vk.instance, Properties2::Unavailable, vk.physical_device)
    }
    .unwrap();
    assert!(!v10.max_memory_allocation_size_reported);
    assert_eq!(
        v10.max_memory_allocation_size,
        heaps.iter().map(|h| h.size).max().unwrap()
    );
    assert!(v10.memory_budget.is_none());
    // Through VK_KHR_get_physical_device_properties2, as on a 1.0 instance: the
    // same memory properties; maintenance3, buffer device address and the budget
    // through their extensions only.
    if vk.khr_properties2 {
        let khr = ash::khr::get_physical_device_properties2::Instance::new(&vk.entry, &vk.instance);
        // SAFETY: the loader was made for this instance, which has the extension.
        let via_khr = unsafe {
            extended_device_properties(
                &vk.instance,
                Properties2::Khr(&khr),
                vk.physical_device,
                EnabledFeatures::new(),
            )
        }
        .unwrap();
        assert_eq!(via_khr.extended, props.extended);
        // SAFETY: as above.
        let extensions = unsafe {
            vk.instance
                .enumerate_device_extension_properties(vk.physical_device)
        }
        .unwrap();
        let has = |name: &std::ffi::CStr| {
            extensions
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(name))
        };
        assert_eq!(
            via_khr.max_memory_allocation_size_reported,
            has(ash::khr::maintenance3::NAME)
        );
        if via_khr.max_memory_allocation_size_reported {
            assert_eq!(
                via_khr.max_memory_allocation_size,
                props.max_memory_allocation_size
            );
        }
        if !has(ash::khr::buffer_device_address::NAME) {
            assert!(!via_khr.buffer_device_address_supported);
        }
        assert_eq!(
            via_khr.memory_budget_supported,
            props.memory_budget_supported
        );
        println!(
            "properties_match_the_driver: through VK_KHR_get_physical_device_properties2: \
             maxMemoryAllocationSize {} ({}), bufferDeviceAddress supported {}",
            via_khr.max_memory_allocation_size,
            if via_khr.max_memory_allocation_size_reported {
                "VK_KHR_maintenance3"
            } else {
                "largest heap"
            },
            via_khr.buffer_device_address_supported
        );
    }
    vk.assert_no_validation_messages();
}

/// Allocates, maps, writes, flushes, invalidates and reads every host-visible
/// memory type straight through the backend, without the allocator.
#[test]
fn backend_maps_flushes_and_invalidates() {
    let Some(vk) = Vk::new("backend_maps_flushes_and_invalidates") else {
        return;
    };
    let device = Counting::new(AshMemoryDevice::wrap(&vk.device));
    let atom = vk.props.non_coherent_atom_size;
    let size = 4 * atom.max(256);
    for (index, ty) in vk.props.extended.memory_types.iter().enumerate() {
        if !mappable(ty) {
            continue;
        }
        // SAFETY: a valid type index, a small non-zero size, no flags.
        let mut memory =
            unsafe { device.allocate_memory(size, index as u32, AllocationFlags::empty()) }
                .unwrap();
        // SAFETY: host-visible, not mapped, the range is inside the object.
        let ptr = unsafe { device.map_memory(&mut memory, 0, size) }.unwrap();
        let data = pattern(index as u64, size as usize);
        // SAFETY: the mapping covers `size` bytes.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), data.len()) };
        let whole = [MappedMemoryRange {
            memory: &memory,
            offset: 0,
            size,
        }];
        let parts: Vec<_> = (0..size / atom)
            .map(|i| MappedMemoryRange {
                memory: &memory,
                offset: i * atom,
                size: atom,
            })
            .collect();
        // SAFETY: mapped memory of this device; atom-aligned ranges inside it.
        // 17+ ranges exercise the batching.
        unsafe {
            device.flush_memory_ranges(&whole).unwrap();
            device.flush_memory_ranges(&parts).unwrap();
            device.invalidate_memory_ranges(&parts).unwrap();
            device.invalidate_memory_ranges(&whole).unwrap();
        }
        let mut back = vec![0u8; size as usize];
        // SAFETY: the mapping covers `size` bytes.
        unsafe { std::ptr::copy_nonoverlapping(ptr.as_ptr(), back.as_mut_ptr(), back.len()) };
        assert_eq!(back, data);
        // SAFETY: mapped, and unused after; then freed once.
        unsafe {
            device.unmap_memory(&mut memory);
            device.deallocate_memory(memory);
        }
    }
    assert!(device.allocations.get() > 0, "no host-visible memory type");
    assert_eq!(device.live.get(), 0);
    vk.assert_no_validation_messages();
}

/// `AllocationFlags::DEVICE_ADDRESS` chains `VkMemoryAllocateFlagsInfo`: a
/// buffer bound to the memory can give its device address without a
/// validation message.
#[test]
fn device_address_allocation() {
    let Some(vk) = Vk::new("device_address_allocation") else {
        return;
    };
    if !vk.buffer_device_address {
        println!("device_address_allocation: bufferDeviceAddress unsupported: skipped");
        return;
    }
    let info = vk::BufferCreateInfo::default()
        .size(4096)
        .usage(vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS | vk::BufferUsageFlags::STORAGE_BUFFER);
    // SAFETY: a valid create info; the feature is enabled on the device.
    let buffer = unsafe { vk.device.create_buffer(&info, None) }.unwrap();
    // SAFETY: a live buffer of this device.
    let req = unsafe { vk.device.get_buffer_memory_requirements(buffer) };
    let index = req.memory_type_bits.trailing_zeros();
    let device = AshBudgetDevice::new_for_test(&vk);
    // SAFETY: a type the buffer accepts; DEVICE_ADDRESS is enabled on the device.
    let memory =
        unsafe { device.allocate_memory(req.size, index, AllocationFlags::DEVICE_ADDRESS) }
            .unwrap();
    // SAFETY: buffer and memory are live, unbound, and the type fits.
    unsafe { vk.device.bind_buffer_memory(buffer, memory, 0) }.unwrap();
    let address_info = vk::BufferDeviceAddressInfo::default().buffer(buffer);
    // SAFETY: the buffer has SHADER_DEVICE_ADDRESS usage and is bound.
    let address = unsafe { vk.device.get_buffer_device_address(&address_info) };
    assert_ne!(address, 0);
    // SAFETY: nothing uses the buffer; destroyed before its memory is freed.
    unsafe {
        vk.device.destroy_buffer(buffer, None);
        device.deallocate_memory(memory);
    }
    vk.assert_no_validation_messages();
}

trait ForTest<'a> {
    fn new_for_test(vk: &'a Vk) -> Self;
}

impl<'a> ForTest<'a> for AshBudgetDevice<'a> {
    fn new_for_test(vk: &'a Vk) -> Self {
        // SAFETY: `vk` keeps the instance, physical device and device alive for
        // 'a; the instance was created with `instance_version`.
        unsafe {
            AshBudgetDevice::new(
                &vk.instance,
                Properties2::for_version(vk.instance_version),
                vk.physical_device,
                &vk.device,
            )
        }
        .expect("budget device")
    }
}

/// Writes `data` at the start of a host-visible block: with `write_bytes`, or by
/// hand with `map`, `flush_range` (whole and partial) and `unmap`.
fn upload(
    device: &impl MemoryDevice<vk::DeviceMemory>,
    block: &mut MemoryBlock<vk::DeviceMemory>,
    data: &[u8],
    by_hand: bool,
) {
    let len = data.len() as u64;
    // SAFETY: `device` is the allocator's device; the GPU does not use the block
    // while the host writes it.
    unsafe {
        if by_hand {
            let ptr = block.map(device, 0, data.len()).expect("map");
            std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr(), data.len());
            if len > 2 {
                block.flush_range(device, 1, len - 2).expect("flush part");
            }
            block.flush_range(device, 0, len).expect("flush");
            assert!(block.unmap(device));
        } else {
            block.write_bytes(device, 0, data).expect("write_bytes");
        }
    }
}

/// Reads `len` bytes from the start of a host-visible block: with `read_bytes`,
/// or by hand with `map`, `invalidate_range` and `unmap`.
fn download(
    device: &impl MemoryDevice<vk::DeviceMemory>,
    block: &mut MemoryBlock<vk::DeviceMemory>,
    len: usize,
    by_hand: bool,
) -> Vec<u8> {
    let mut out = vec![0u8; len];
    // SAFETY: `device` is the allocator's device; the GPU finished writing.
    unsafe {
        if by_hand {
            let ptr = block.map(device, 0, len).expect("map");
            block
                .invalidate_range(device, 0, len as u64)
                .expect("invalidate");
            std::ptr::copy_nonoverlapping(ptr.as_ptr(), out.as_mut_ptr(), len);
            assert!(block.unmap(device));
        } else {
            block.read_bytes(device, 0, &mut out).expect("read_bytes");
        }
    }
    out
}

/// Buffers and optimal-tiling images of many sizes, with their real memory
/// requirements, through `GpuAllocator`: write through mapped memory, copy on the
/// GPU (buffer to buffer through device-local memory, buffer to image to buffer),
/// read back and compare byte for byte. Then everything is freed and `cleanup`
/// leaves no memory object alive.
#[test]
fn buffers_and_images_copy_on_the_gpu() {
    let Some(vk) = Vk::new("buffers_and_images_copy_on_the_gpu") else {
        return;
    };
    let budget_device = AshBudgetDevice::new_for_test(&vk);
    let device = Counting::new(&budget_device);
    // Small chunks and a low dedicated threshold: shared and dedicated blocks both.
    let mut alloc = vk.allocator(Config::i_am_potato());
    assert_eq!(
        alloc.update_budget(&device),
        vk.props.memory_budget_supported
    );
    let sizes = [
        1u64, 3, 64, 255, 1000, 4096, 4097, 20_000, 33_000, 65_548, 300_001,
    ];
    let src_usage = vk::BufferUsageFlags::TRANSFER_SRC;
    let dst_usage = vk::BufferUsageFlags::TRANSFER_DST;
    for (i, &size) in sizes.iter().enumerate() {
        let by_hand = i % 2 == 1;
        // Buffer -> device-local buffer -> host-readable buffer.
        let data = pattern(i as u64, size as usize);
        let mut src = Buffer::new(
            &vk,
            &mut alloc,
            &device,
            size,
            src_usage,
            UsageFlags::UPLOAD,
        );
        let mid = Buffer::new(
            &vk,
            &mut alloc,
            &device,
            size,
            src_usage | dst_usage,
            UsageFlags::FAST_DEVICE_ACCESS,
        );
        let mut dst = Buffer::new(
            &vk,
            &mut alloc,
            &device,
            size,
            dst_usage,
            UsageFlags::DOWNLOAD,
        );
        upload(&device, &mut src.block, &data, by_hand);
        vk.submit(|cmd| {
            let region = [vk::BufferCopy {
                src_offset: 0,
                dst_offset: 0,
                size,
            }];
            // SAFETY: `cmd` is recording; the buffers are live, bound, large
            // enough, with transfer usages; a barrier orders the two copies.
            unsafe {
                vk.device
                    .cmd_copy_buffer(cmd, src.buffer, mid.buffer, &region);
                transfer_write_barrier(
                    &vk,
                    cmd,
                    vk::PipelineStageFlags::TRANSFER,
                    vk::AccessFlags::TRANSFER_READ,
                );
                vk.device
                    .cmd_copy_buffer(cmd, mid.buffer, dst.buffer, &region);
            }
            transfer_write_barrier(
                &vk,
                cmd,
                vk::PipelineStageFlags::HOST,
                vk::AccessFlags::HOST_READ,
            );
        });
        let back = download(&device, &mut dst.block, size as usize, !by_hand);
        assert!(back == data, "buffer copy of {size} bytes differs");

        // Buffer -> optimal-tiling image -> buffer.
        let texels = size.div_ceil(TEXEL);
        let width = texels.min(61) as u32;
        let height = texels.div_ceil(u64::from(width)) as u32;
        let image = Image::new(&vk, &mut alloc, &device, width, height);
        let bytes = image.bytes();
        let image_data = pattern(1000 + i as u64, bytes as usize);
        let mut staging = Buffer::new(
            &vk,
            &mut alloc,
            &device,
            bytes,
            src_usage,
            UsageFlags::UPLOAD,
        );
        let mut readback = Buffer::new(
            &vk,
            &mut alloc,
            &device,
            bytes,
            dst_usage,
            UsageFlags::DOWNLOAD,
        );
        upload(&device, &mut staging.block, &image_data, !by_hand);
        vk.submit(|cmd| {
            let region = [image_copy(image.extent)];
            image_layout(
                &vk,
                cmd,
                image.image,
                (vk::ImageLayout::UNDEFINED, vk::AccessFlags::empty()),
                (
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    vk::AccessFlags::TRANSFER_WRITE,
                ),
            );
            // SAFETY: `cmd` is recording; the image is in TRANSFER_DST_OPTIMAL and
            // the staging buffer holds exactly its texels.
            unsafe {
                vk.device.cmd_copy_buffer_to_image(
                    cmd,
                    staging.buffer,
                    image.image,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    &region,
                )
            };
            image_layout(
                &vk,
                cmd,
                image.image,
                (
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    vk::AccessFlags::TRANSFER_WRITE,
                ),
                (
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    vk::AccessFlags::TRANSFER_READ,
                ),
            );
            // SAFETY: the image is in TRANSFER_SRC_OPTIMAL, after the barrier.
            unsafe {
                vk.device.cmd_copy_image_to_buffer(
                    cmd,
                    image.image,
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    readback.buffer,
                    &region,
                )
            };
            transfer_write_barrier(
                &vk,
                cmd,
                vk::PipelineStageFlags::HOST,
                vk::AccessFlags::HOST_READ,
            );
        });
        let back = download(&device, &mut readback.block, bytes as usize, by_hand);
        assert!(
            back == image_data,
            "image copy of {width}x{height} texels differs"
        );

        for buffer in [src, mid, dst, staging, readback] {
            buffer.free(&vk, &mut alloc, &device);
        }
        image.free(&vk, &mut alloc, &device);
        alloc.check_invariants();
    }
    // SAFETY: a fresh allocator for this device, counted from the start; every
    // block is freed.
    unsafe { cleanup_and_check(&mut alloc, &device) };
    println!(
        "buffers_and_images_copy_on_the_gpu: {} memory objects allocated and freed, {} maps, {} flushes, {} invalidates",
        device.allocations.get(),
        device.maps.get(),
        device.flushes.get(),
        device.invalidates.get()
    );
    vk.assert_no_validation_messages();
}

/// Thousands of allocations and frees of random sizes, alignments and usages,
/// with the memory type masks of real resources (and a real buffer bound to
/// every eighth block); host-visible blocks carry tags that must survive until
/// they are freed. Then everything is freed, `cleanup` runs, and no memory
/// object is left alive.
#[test]
fn churn_thousands_then_cleanup() {
    let Some(vk) = Vk::new("churn_thousands_then_cleanup") else {
        return;
    };
    let device = Counting::new(AshMemoryDevice::wrap(&vk.device));
    let mut alloc = vk.allocator(Config::i_am_potato());

    let buffer_usage = vk::BufferUsageFlags::TRANSFER_SRC
        | vk::BufferUsageFlags::TRANSFER_DST
        | vk::BufferUsageFlags::UNIFORM_BUFFER
        | vk::BufferUsageFlags::STORAGE_BUFFER;
    // Memory type masks of a real buffer and a real optimal-tiling image.
    let probe = vk::BufferCreateInfo::default()
        .size(4096)
        .usage(buffer_usage);
    // SAFETY: valid create infos; the probes are destroyed right away.
    let (buffer_types, image_types) = unsafe {
        let buffer = vk.device.create_buffer(&probe, None).unwrap();
        let buffer_types = vk
            .device
            .get_buffer_memory_requirements(buffer)
            .memory_type_bits;
        vk.device.destroy_buffer(buffer, None);
        let image = Image::new(&vk, &mut alloc, &device, 16, 16);
        let image_types = vk
            .device
            .get_image_memory_requirements(image.image)
            .memory_type_bits;
        image.free(&vk, &mut alloc, &device);
        (buffer_types, image_types)
    };
    let mut buffer_usages = vec![
        UsageFlags::empty(),
        UsageFlags::FAST_DEVICE_ACCESS,
        UsageFlags::HOST_ACCESS,
        UsageFlags::UPLOAD,
        UsageFlags::DOWNLOAD,
        UsageFlags::TRANSIENT,
        UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        UsageFlags::HOST_ACCESS | UsageFlags::FAST_DEVICE_ACCESS,
    ];
    if vk.buffer_device_address {
        buffer_usages.push(UsageFlags::DEVICE_ADDRESS | UsageFlags::FAST_DEVICE_ACCESS);
    }
    let image_usages = [UsageFlags::FAST_DEVICE_ACCESS, UsageFlags::TRANSIENT];

    let make = |rng: &mut Rng, step: u32| {
        let size = match rng.below(8) {
            0 => 1 + rng.below(16),
            1..=4 => 1 + rng.below(4096),
            5 | 6 => 1 + rng.below(64 * 1024),
            _ => 1 + rng.below(512 * 1024),
        };
        let is_image = rng.below(4) == 0;
        let (types, usage) = if is_image {
            (image_types, image_usages[rng.below(2) as usize])
        } else {
            let usage = buffer_usages[rng.below(buffer_usages.len() as u64) as usize];
            (buffer_types, usage)
        };
        // Buffers are linear; a quarter of the synthetic buffer requests say
        // nothing (the gpu-alloc 0.6 way), which must be safe next to anything.
        let kind = if is_image {
            ResourceKind::Optimal
        } else if rng.below(4) == 0 && step % 8 != 0 {
            ResourceKind::Unknown
        } else {
            ResourceKind::Linear
        };
        if !is_image && step % 8 == 0 {
            let info = vk::BufferCreateInfo::default().size(size).usage(
                buffer_usage
                    | if usage.contains(UsageFlags::DEVICE_ADDRESS) {
                        vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS
                    } else {
                        vk::BufferUsageFlags::empty()
                    },
            );
            // SAFETY: a valid create info for a live device.
            let buffer = unsafe { vk.device.create_buffer(&info, None) }.unwrap();
            // SAFETY: a live buffer of this device.
            let req = unsafe { vk.device.get_buffer_memory_requirements(buffer) };
            (request(req, usage), kind, Some(buffer))
        } else {
            let align = 1u64 << rng.below(13);
            let request = Request {
                size,
                align_mask: align - 1,
                usage,
                memory_types: types,
            };
            (request, kind, None)
        }
    };
    let bind = |held: &mut Held<vk::DeviceMemory, Option<vk::Buffer>>| {
        if let Some(buffer) = held.resource {
            // SAFETY: a fresh block of a type the buffer accepts, aligned.
            unsafe {
                vk.device
                    .bind_buffer_memory(buffer, *held.block.memory(), held.block.offset())
            }
            .expect("bind");
        }
    };
    let destroy = |held: &mut Held<vk::DeviceMemory, Option<vk::Buffer>>| {
        if let Some(buffer) = held.resource.take() {
            // SAFETY: the buffer is unused, and destroyed before its block is freed.
            unsafe { vk.device.destroy_buffer(buffer, None) };
        }
    };
    let plan = ChurnPlan {
        steps: 10_000,
        seed: 0x5eed,
        allocate: (6, 10),
    };
    // SAFETY: a fresh allocator of this device, counted from the start.
    let stats = unsafe { churn(&mut alloc, &device, plan, make, bind, destroy) };
    println!(
        "churn_thousands_then_cleanup: {} steps, {} blocks live at the end, \
         {} memory objects allocated (peak {} alive), 0 left after cleanup, \
         {} neighbours of different kinds checked for granularity pages, {} tags checked",
        plan.steps,
        stats.live_at_end,
        device.allocations.get(),
        stats.peak_objects,
        stats.page_checks,
        stats.tags_checked
    );
    vk.assert_no_validation_messages();
}
/// Prints which memory type each usage gets, the heap budgets read, and every
/// message the messenger recorded.
#[test]
fn report_memory_types_and_budget() {
    let Some(vk) = Vk::new("report_memory_types_and_budget") else {
        return;
    };
    let budget_device = AshBudgetDevice::new_for_test(&vk);
    let device = Counting::new(&budget_device);
    let mut alloc = vk.allocator(Config::i_am_prototyping());
    let p = &vk.props;
    let mut out = String::new();
    let mut line = |s: String| {
        println!("report: {s}");
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "device {:?}, device api {}.{}.{}, instance api {}.{}, validation layer {}",
        vk.device_name,
        vk::api_version_major(p.device_api_version),
        vk::api_version_minor(p.device_api_version),
        vk::api_version_patch(p.device_api_version),
        vk::api_version_major(vk.instance_version),
        vk::api_version_minor(vk.instance_version),
        if vk.validation { "on" } else { "ABSENT" }
    ));
    for (i, t) in p.extended.memory_types.iter().enumerate() {
        line(format!(
            "memory type {i}: heap {}, flags {:#x} {:?}",
            t.heap,
            t.raw_flags,
            vk::MemoryPropertyFlags::from_raw(t.raw_flags)
        ));
    }
    for (i, h) in p.extended.memory_heaps.iter().enumerate() {
        line(format!("heap {i}: {} bytes, flags {:?}", h.size, h.flags));
    }
    line(format!(
        "maxMemoryAllocationSize {} ({}), maxMemoryAllocationCount {}, nonCoherentAtomSize {}, \
         bufferImageGranularity {}, bufferDeviceAddress supported {} enabled {}, \
         VK_EXT_memory_budget {} (enabled on the device: {})",
        p.max_memory_allocation_size,
        if p.max_memory_allocation_size_reported {
            "maintenance3"
        } else {
            "largest heap"
        },
        p.max_memory_allocation_count,
        p.non_coherent_atom_size,
        p.extended.buffer_image_granularity,
        p.buffer_device_address_supported,
        vk.buffer_device_address,
        if p.memory_budget_supported {
            "supported"
        } else {
            "not supported"
        },
        vk.memory_budget_ext,
    ));
    let show_budget = |line: &mut dyn FnMut(String), when: &str| match budget_device.heap_budgets()
    {
        Some(budgets) => {
            for (i, b) in budgets.iter().enumerate() {
                line(format!(
                    "budget {when}: heap {i}: budget {} bytes, usage {} bytes",
                    b.budget, b.usage
                ));
            }
        }
        None => line(format!(
            "budget {when}: none (VK_EXT_memory_budget not supported)"
        )),
    };
    show_budget(&mut line, "at start");
    assert_eq!(alloc.update_budget(&device), p.memory_budget_supported);

    let buffer_usage = vk::BufferUsageFlags::TRANSFER_SRC
        | vk::BufferUsageFlags::TRANSFER_DST
        | vk::BufferUsageFlags::UNIFORM_BUFFER
        | vk::BufferUsageFlags::STORAGE_BUFFER
        | vk::BufferUsageFlags::VERTEX_BUFFER
        | vk::BufferUsageFlags::INDEX_BUFFER;
    let mut usages = vec![
        ("default (empty)", UsageFlags::empty()),
        ("FAST_DEVICE_ACCESS", UsageFlags::FAST_DEVICE_ACCESS),
        ("HOST_ACCESS", UsageFlags::HOST_ACCESS),
        ("UPLOAD", UsageFlags::UPLOAD),
        ("DOWNLOAD", UsageFlags::DOWNLOAD),
        (
            "FAST_DEVICE_ACCESS|HOST_ACCESS",
            UsageFlags::FAST_DEVICE_ACCESS | UsageFlags::HOST_ACCESS,
        ),
        ("TRANSIENT", UsageFlags::TRANSIENT),
        (
            "UPLOAD|TRANSIENT",
            UsageFlags::UPLOAD | UsageFlags::TRANSIENT,
        ),
    ];
    if vk.buffer_device_address {
        usages.push((
            "DEVICE_ADDRESS|FAST_DEVICE_ACCESS",
            UsageFlags::DEVICE_ADDRESS | UsageFlags::FAST_DEVICE_ACCESS,
        ));
    }
    let mut buffers = Vec::new();
    for (name, usage) in usages {
        let mut usage_vk = buffer_usage;
        if usage.contains(UsageFlags::DEVICE_ADDRESS) {
            usage_vk |= vk::BufferUsageFlags::SHADER_DEVICE_ADDRESS;
        }
        let buffer = Buffer::new(&vk, &mut alloc, &device, 1 << 20, usage_vk, usage);
        let b = &buffer.block;
        line(format!(
            "usage {name}: memory type {} {:?} (heap {}), {} block",
            b.memory_type(),
            b.props(),
            p.extended.memory_types[b.memory_type() as usize].heap,
            if b.is_dedicated() {
                "dedicated"
            } else {
                "shared"
            },
        ));
        buffers.push(buffer);
    }
    let image = Image::new(&vk, &mut alloc, &device, 256, 256);
    line(format!(
        "optimal-tiling image 256x256 R8G8B8A8_UINT, FAST_DEVICE_ACCESS: memory type {} {:?}",
        image.block.memory_type(),
        image.block.props()
    ));
    show_budget(&mut line, "with the blocks above allocated");
    for heap in 0..p.extended.memory_heaps.len() as u32 {
        line(format!(
            "allocator heap {heap}: uses {} bytes, limit {} bytes",
            alloc.heap_usage(heap),
            alloc.heap_budget(heap)
        ));
    }
    for buffer in buffers {
        buffer.free(&vk, &mut alloc, &device);
    }
    image.free(&vk, &mut alloc, &device);
    // SAFETY: a fresh allocator for this device, counted from the start; every
    // block is freed.
    unsafe { cleanup_and_check(&mut alloc, &device) };

    let messages = vk.log().messages();
    line(format!(
        "messenger: {} message(s) recorded, {} failing",
        messages.len(),
        vk.log().failing().len()
    ));
    let loader_note = |m: &&DebugMessage| verdict(m) == Verdict::Note && m.id == LOADER_ID;
    line(format!(
        "messenger: {} of them loader notes (not printed)",
        messages.iter().filter(loader_note).count()
    ));
    for m in messages.iter().filter(|m| !loader_note(m)) {
        let first = m.text.lines().next().unwrap_or_default();
        line(format!(
            "message [{:?} {}] {:?} {}: {first}",
            m.severity,
            m.types,
            verdict(m),
            m.id
        ));
    }
    if let Ok(dir) = std::env::var("GPU_ALLOC_REPORT_DIR") {
        let path = std::path::Path::new(&dir).join("ash-report.txt");
        std::fs::write(&path, &out).expect("write report");
    }
    vk.assert_no_validation_messages();
}

/// The capture itself works: two flushes that break valid-usage rules (of an
/// unmapped memory object, and at an offset that is not a multiple of
/// `nonCoherentAtomSize`), made through the backend, are each reported.
#[test]
fn a_validation_error_is_caught() {
    let Some(vk) = Vk::new("a_validation_error_is_caught") else {
        return;
    };
    if !vk.validation {
        println!("a_validation_error_is_caught: skipped: no validation layer (allowed)");
        return;
    }
    let atom = vk.props.non_coherent_atom_size;
    let host_type =
        host_visible_type(&vk.props.extended.memory_types, !0).expect("a host-visible memory type");
    let device = AshMemoryDevice::wrap(&vk.device);
    // SAFETY: a host-visible type of this device and its atom size; the drivers
    // this runs on (lavapipe) ignore flushes of coherent memory.
    let provoked = unsafe { provoke_validation_errors(device, host_type, atom) };
    vk.log().assert_caught(&provoked);
    vk.assert_no_validation_messages();
}

/// With the `tracing` feature, every call of the memory device logs an event
/// (`cargo test -p gpu-alloc-ash --features tracing`).
#[cfg(feature = "tracing")]
#[test]
fn tracing_logs_device_calls() {
    let Some(vk) = Vk::new("tracing_logs_device_calls") else {
        return;
    };
    let host_type =
        host_visible_type(&vk.props.extended.memory_types, !0).expect("a host-visible memory type");
    support::trace::device_calls_are_logged(AshMemoryDevice::wrap(&vk.device), host_type);
    vk.assert_no_validation_messages();
}
