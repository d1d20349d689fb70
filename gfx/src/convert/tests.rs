use {
    super::*,
    gpu_alloc_types::{DeviceMapError, OutOfMemory},
    hal::device,
};

#[test]
fn every_memory_property_bit_round_trips() {
    // Every gfx-hal bit, one at a time and all together.
    for bit in (0..16).map(|i| 1u16 << i) {
        let Some(props) = Properties::from_bits(bit) else {
            continue;
        };
        let ours = memory_properties_from_gfx(props);
        assert_eq!(ours.bits().count_ones(), 1, "{props:?}");
        assert_eq!(memory_properties_to_gfx(ours), props);
        // gfx-hal's bits are Vulkan's, which are ours.
        assert_eq!(u16::from(ours.bits()), bit);
    }
    assert_eq!(
        memory_properties_to_gfx(memory_properties_from_gfx(Properties::all())),
        Properties::all()
    );
    // Every gpu-alloc bit: the five gfx-hal knows round-trip, the rest vanish.
    for flag in MemoryPropertyFlags::all().iter() {
        let gfx = memory_properties_to_gfx(flag);
        if gfx.is_empty() {
            assert!(
                flag.intersects(
                    MemoryPropertyFlags::PROTECTED
                        | MemoryPropertyFlags::DEVICE_COHERENT_AMD
                        | MemoryPropertyFlags::DEVICE_UNCACHED_AMD
                ),
                "{flag:?}"
            );
        } else {
            assert_eq!(memory_properties_from_gfx(gfx), flag);
        }
    }
}

#[test]
fn every_heap_flag_bit_round_trips() {
    for bit in (0..16).map(|i| 1u16 << i) {
        let Some(flags) = HeapFlags::from_bits(bit) else {
            continue;
        };
        let ours = heap_flags_from_gfx(flags);
        assert_eq!(ours.bits(), u32::from(bit));
        assert_eq!(heap_flags_to_gfx(ours), flags);
    }
    for flag in MemoryHeapFlags::all().iter() {
        let gfx = heap_flags_to_gfx(flag);
        if flag == MemoryHeapFlags::MULTI_INSTANCE {
            assert!(gfx.is_empty());
        } else {
            assert_eq!(heap_flags_from_gfx(gfx), flag);
        }
    }
}

#[test]
fn types_and_heaps_keep_everything_gfx_reports() {
    let info = memory_type_info_from_gfx(&adapter::MemoryType {
        properties: Properties::CPU_VISIBLE | Properties::COHERENT,
        heap_index: 2,
    });
    assert_eq!(info.heap, 2);
    assert_eq!(info.raw_flags, 0x6);
    assert_eq!(info.unknown_bits(), 0);
    let heap = memory_heap_info_from_gfx(&adapter::MemoryHeap {
        size: 1 << 30,
        flags: HeapFlags::DEVICE_LOCAL,
    });
    assert_eq!(heap.size, 1 << 30);
    assert_eq!(heap.flags, MemoryHeapFlags::DEVICE_LOCAL);
}

#[test]
fn errors_map_to_the_closest_variant() {
    assert_eq!(
        allocation_error_from_gfx(device::AllocationError::TooManyObjects),
        OutOfMemory::OutOfDeviceMemory
    );
    assert_eq!(
        allocation_error_from_gfx(device::OutOfMemory::Host.into()),
        OutOfMemory::OutOfHostMemory
    );
    assert_eq!(
        allocation_error_from_gfx(device::OutOfMemory::Device.into()),
        OutOfMemory::OutOfDeviceMemory
    );
    assert_eq!(
        map_error_from_gfx(device::OutOfMemory::Host.into()),
        DeviceMapError::OutOfHostMemory
    );
    assert_eq!(
        map_error_from_gfx(device::OutOfMemory::Device.into()),
        DeviceMapError::OutOfDeviceMemory
    );
    for e in [
        device::MapError::MappingFailed,
        device::MapError::OutOfBounds,
        device::MapError::Access,
    ] {
        assert_eq!(map_error_from_gfx(e), DeviceMapError::MapFailed);
    }
}

#[test]
fn requirements_become_requests() {
    use gpu_alloc::{Request, UsageFlags};
    let hal_req = hal::memory::Requirements {
        size: 65_548,
        alignment: 65_536,
        type_mask: 0b1001,
    };
    let req = memory_requirements_from_gfx(&hal_req);
    assert_eq!(req, MemoryRequirements::new(65_548, 65_536, 0b1001));
    assert_eq!(req.align_mask, 65_535);
    let request: Request = request_from_requirements(&hal_req, UsageFlags::DOWNLOAD);
    assert_eq!(
        request,
        Request {
            size: 65_548,
            align_mask: 65_535,
            usage: UsageFlags::DOWNLOAD,
            memory_types: 0b1001,
        }
    );
}
