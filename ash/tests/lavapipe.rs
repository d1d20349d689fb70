//! The ash backend on a real Vulkan driver (lavapipe in CI) with the Khronos
//! validation layer on: any validation message fails the test.
//!
//! Without a Vulkan driver each test prints `skipped: no Vulkan driver` and
//! passes, unless `GPU_ALLOC_REQUIRE_VULKAN=1`.

mod support;

use {
    ash::vk,
    gpu_alloc_ash::{
        device_properties, device_properties_enabled, extended_properties, memory_budget,
        AshBudgetDevice, AshMemoryDevice, Properties2,
    },
    gpu_alloc_types::{AllocationFlags, MappedMemoryRange, MemoryDevice, MemoryPropertyFlags},
    support::{pattern, Counting, Vk},
};

#[test]
fn properties_match_the_driver() {
    let Some(vk) = Vk::new("properties_match_the_driver") else {
        return;
    };
    let props = &vk.props;
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
    // SAFETY: the instance was created with `instance_version`.
    let legacy =
        unsafe { device_properties(&vk.instance, vk.instance_version, vk.physical_device) }
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
            vk.buffer_device_address,
        )
    }
    .unwrap();
    assert_eq!(enabled.buffer_device_address, vk.buffer_device_address);
    // SAFETY: as above.
    let ext = unsafe { extended_properties(&vk.instance, vk.instance_version, vk.physical_device) }
        .unwrap();
    assert_eq!(ext, props.extended);
    // SAFETY: as above.
    let budget = unsafe { memory_budget(&vk.instance, vk.instance_version, vk.physical_device) };
    assert_eq!(budget.is_some(), props.memory_budget_supported);
    if let Some(budget) = &budget {
        assert_eq!(budget.len(), heaps.len());
    }
    // A 1.0-style query still gives a real bound, not u64::MAX.
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
        if !ty.props().contains(MemoryPropertyFlags::HOST_VISIBLE) || ty.unknown_bits() != 0 {
            continue;
        }
        if ty.props().contains(MemoryPropertyFlags::PROTECTED) {
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
