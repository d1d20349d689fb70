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
    let info = memory_type_info(&adapter::MemoryType {
        properties: Properties::CPU_VISIBLE | Properties::COHERENT,
        heap_index: 2,
    });
    assert_eq!(info.heap, 2);
    assert_eq!(info.raw_flags, 0x6);
    assert_eq!(info.unknown_bits(), 0);
    let heap = memory_heap_info(&adapter::MemoryHeap {
        size: 1 << 30,
        flags: HeapFlags::DEVICE_LOCAL,
    });
    assert_eq!(heap.size, 1 << 30);
    assert_eq!(heap.flags, MemoryHeapFlags::DEVICE_LOCAL);
}

#[test]
fn errors_map_to_the_closest_variant() {
    assert_eq!(
        allocation_error(device::AllocationError::TooManyObjects),
        OutOfMemory::OutOfDeviceMemory
    );
    assert_eq!(
        allocation_error(device::OutOfMemory::Host.into()),
        OutOfMemory::OutOfHostMemory
    );
    assert_eq!(
        allocation_error(device::OutOfMemory::Device.into()),
        OutOfMemory::OutOfDeviceMemory
    );
    assert_eq!(
        map_error(device::OutOfMemory::Host.into()),
        DeviceMapError::OutOfHostMemory
    );
    assert_eq!(
        map_error(device::OutOfMemory::Device.into()),
        DeviceMapError::OutOfDeviceMemory
    );
    for e in [
        device::MapError::MappingFailed,
        device::MapError::OutOfBounds,
        device::MapError::Access,
    ] {
        assert_eq!(map_error(e), DeviceMapError::MapFailed);
    }
}
