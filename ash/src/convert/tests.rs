use {
    super::*,
    gpu_alloc_tests::backend_support::convert::{
        assert_dedicated_resources_keep_their_handles, assert_handle_types_are_vulkan_bits,
        BUFFER_HANDLE, IMAGE_HANDLE,
    },
};

/// Every [`MemoryPropertyFlags`] flag next to ash's constant for the same bit.
const MEMORY_PROPERTY_TABLE: [(MemoryPropertyFlags, vk::MemoryPropertyFlags); 8] = [
    (
        MemoryPropertyFlags::DEVICE_LOCAL,
        vk::MemoryPropertyFlags::DEVICE_LOCAL,
    ),
    (
        MemoryPropertyFlags::HOST_VISIBLE,
        vk::MemoryPropertyFlags::HOST_VISIBLE,
    ),
    (
        MemoryPropertyFlags::HOST_COHERENT,
        vk::MemoryPropertyFlags::HOST_COHERENT,
    ),
    (
        MemoryPropertyFlags::HOST_CACHED,
        vk::MemoryPropertyFlags::HOST_CACHED,
    ),
    (
        MemoryPropertyFlags::LAZILY_ALLOCATED,
        vk::MemoryPropertyFlags::LAZILY_ALLOCATED,
    ),
    (
        MemoryPropertyFlags::PROTECTED,
        vk::MemoryPropertyFlags::PROTECTED,
    ),
    (
        MemoryPropertyFlags::DEVICE_COHERENT_AMD,
        vk::MemoryPropertyFlags::DEVICE_COHERENT_AMD,
    ),
    (
        MemoryPropertyFlags::DEVICE_UNCACHED_AMD,
        vk::MemoryPropertyFlags::DEVICE_UNCACHED_AMD,
    ),
];

/// Every [`MemoryHeapFlags`] flag next to ash's constant for the same bit.
const MEMORY_HEAP_TABLE: [(MemoryHeapFlags, vk::MemoryHeapFlags); 2] = [
    (
        MemoryHeapFlags::DEVICE_LOCAL,
        vk::MemoryHeapFlags::DEVICE_LOCAL,
    ),
    (
        MemoryHeapFlags::MULTI_INSTANCE,
        vk::MemoryHeapFlags::MULTI_INSTANCE,
    ),
];

#[test]
fn memory_property_table_pairs_equal_bits() {
    let mut seen = 0u32;
    for (ours, theirs) in MEMORY_PROPERTY_TABLE {
        assert_eq!(
            u32::from(ours.bits()),
            theirs.as_raw(),
            "{ours:?} vs {theirs:?}"
        );
        assert_eq!(ours.bits().count_ones(), 1, "{ours:?} is one bit");
        assert_eq!(seen & theirs.as_raw(), 0, "{ours:?} listed twice");
        seen |= theirs.as_raw();
        assert_eq!(memory_properties_from_ash(theirs), ours);
        assert_eq!(memory_properties_to_ash(ours), theirs);
    }
    // The table names every flag MemoryPropertyFlags has.
    assert_eq!(seen, u32::from(MemoryPropertyFlags::all().bits()));
}

#[test]
fn memory_properties_round_trip_every_bit() {
    for bit in 0..8 {
        let ours = MemoryPropertyFlags::from_bits_retain(1 << bit);
        assert_eq!(
            memory_properties_from_ash(memory_properties_to_ash(ours)),
            ours
        );
    }
    for bit in 0..32 {
        let theirs = vk::MemoryPropertyFlags::from_raw(1 << bit);
        let back = memory_properties_to_ash(memory_properties_from_ash(theirs));
        if bit < 8 {
            assert_eq!(back, theirs, "bit {bit}");
        } else {
            // Does not fit MemoryPropertyFlags: dropped here, kept by MemoryTypeInfo.
            assert_eq!(back, vk::MemoryPropertyFlags::empty(), "bit {bit}");
        }
    }
}

#[test]
fn memory_type_info_keeps_every_bit() {
    for bit in 0..32 {
        let raw = vk::MemoryPropertyFlags::from_raw(1 << bit);
        let info = memory_type_info_from_ash(&vk::MemoryType {
            property_flags: raw,
            heap_index: bit,
        });
        assert_eq!(info.raw_flags, raw.as_raw(), "bit {bit}");
        assert_eq!(info.heap, bit);
        assert_eq!(info.props(), memory_properties_from_ash(raw));
        assert_eq!(info.unknown_bits() != 0, bit >= 8, "bit {bit}");
    }
    // The bits the core must refuse are all preserved.
    let refused = vk::MemoryPropertyFlags::PROTECTED
        | vk::MemoryPropertyFlags::DEVICE_COHERENT_AMD
        | vk::MemoryPropertyFlags::DEVICE_UNCACHED_AMD
        | vk::MemoryPropertyFlags::RDMA_CAPABLE_NV;
    let info = memory_type_info_from_ash(&vk::MemoryType {
        property_flags: refused | vk::MemoryPropertyFlags::DEVICE_LOCAL,
        heap_index: 0,
    });
    assert_eq!(
        info.props(),
        MemoryPropertyFlags::DEVICE_LOCAL
            | MemoryPropertyFlags::PROTECTED
            | MemoryPropertyFlags::DEVICE_COHERENT_AMD
            | MemoryPropertyFlags::DEVICE_UNCACHED_AMD
    );
    assert_eq!(
        info.unknown_bits(),
        vk::MemoryPropertyFlags::RDMA_CAPABLE_NV.as_raw()
    );
}

#[test]
fn memory_heap_table_and_every_bit() {
    let mut seen = 0u32;
    for (ours, theirs) in MEMORY_HEAP_TABLE {
        assert_eq!(ours.bits(), theirs.as_raw(), "{ours:?} vs {theirs:?}");
        assert_eq!(seen & ours.bits(), 0);
        seen |= ours.bits();
        assert_eq!(heap_flags_from_ash(theirs), ours);
        assert_eq!(heap_flags_to_ash(ours), theirs);
    }
    assert_eq!(seen, MemoryHeapFlags::all().bits());
    for bit in 0..32 {
        let theirs = vk::MemoryHeapFlags::from_raw(1 << bit);
        assert_eq!(heap_flags_to_ash(heap_flags_from_ash(theirs)), theirs);
        let ours = MemoryHeapFlags::from_bits_retain(1 << bit);
        assert_eq!(heap_flags_from_ash(heap_flags_to_ash(ours)), ours);
    }
    let info = memory_heap_info_from_ash(&vk::MemoryHeap {
        size: 12345,
        flags: vk::MemoryHeapFlags::DEVICE_LOCAL,
    });
    assert_eq!(info.size, 12345);
    assert_eq!(info.flags, MemoryHeapFlags::DEVICE_LOCAL);
}

#[test]
fn allocation_flags_round_trip_every_bit() {
    let mut seen = AllocationFlags::empty();
    for (ours, theirs) in ALLOCATION_TABLE {
        assert!(!seen.intersects(ours));
        seen |= ours;
        assert_eq!(allocation_flags_to_ash(ours), theirs);
        assert_eq!(allocation_flags_from_ash(theirs), ours);
    }
    assert_eq!(seen, AllocationFlags::all());
    for bit in 0..8 {
        let ours = AllocationFlags::from_bits_retain(1 << bit);
        let expected = ours & AllocationFlags::all();
        assert_eq!(
            allocation_flags_from_ash(allocation_flags_to_ash(ours)),
            expected
        );
    }
    for bit in 0..32 {
        let theirs = vk::MemoryAllocateFlags::from_raw(1 << bit);
        let back = allocation_flags_to_ash(allocation_flags_from_ash(theirs));
        if theirs == vk::MemoryAllocateFlags::DEVICE_ADDRESS {
            assert_eq!(back, theirs);
        } else {
            // DEVICE_MASK, DEVICE_ADDRESS_CAPTURE_REPLAY and unnamed bits: the
            // allocator never asks for them.
            assert_eq!(back, vk::MemoryAllocateFlags::empty(), "bit {bit}");
        }
    }
    assert_eq!(
        allocation_flags_to_ash(AllocationFlags::empty()),
        vk::MemoryAllocateFlags::empty()
    );
}

#[test]
fn error_table() {
    use {DeviceMapError as M, OutOfMemory as O};
    let rows = [
        (
            vk::Result::ERROR_OUT_OF_HOST_MEMORY,
            O::OutOfHostMemory,
            M::OutOfHostMemory,
        ),
        (
            vk::Result::ERROR_OUT_OF_DEVICE_MEMORY,
            O::OutOfDeviceMemory,
            M::OutOfDeviceMemory,
        ),
        (
            vk::Result::ERROR_TOO_MANY_OBJECTS,
            O::OutOfDeviceMemory,
            M::OutOfDeviceMemory,
        ),
        (
            vk::Result::ERROR_MEMORY_MAP_FAILED,
            O::OutOfDeviceMemory,
            M::MapFailed,
        ),
        (
            vk::Result::ERROR_DEVICE_LOST,
            O::OutOfDeviceMemory,
            M::MapFailed,
        ),
        (
            vk::Result::ERROR_INVALID_EXTERNAL_HANDLE,
            O::OutOfDeviceMemory,
            M::MapFailed,
        ),
        (
            vk::Result::ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS,
            O::OutOfDeviceMemory,
            M::MapFailed,
        ),
        (
            vk::Result::ERROR_UNKNOWN,
            O::OutOfDeviceMemory,
            M::MapFailed,
        ),
        (
            vk::Result::from_raw(-123_456),
            O::OutOfDeviceMemory,
            M::MapFailed,
        ),
    ];
    for (result, oom, map) in rows {
        assert_eq!(out_of_memory_from_ash(result), oom, "{result:?}");
        assert_eq!(map_error_from_ash(result), map, "{result:?}");
    }
}

#[test]
fn requirements_become_requests() {
    use gpu_alloc::{Request, UsageFlags};
    let vk_req = vk::MemoryRequirements {
        size: 65_548,
        alignment: 65_536,
        memory_type_bits: 0b1001,
    };
    let req = memory_requirements_from_ash(&vk_req);
    assert_eq!(req, MemoryRequirements::new(65_548, 65_536, 0b1001));
    assert_eq!(req.align_mask, 65_535);
    let request: Request = request_from_requirements(&vk_req, UsageFlags::DOWNLOAD);
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

#[test]
fn dedicated_resources_keep_their_handles() {
    assert_dedicated_resources_keep_their_handles(
        (
            vk::Buffer::from_raw(BUFFER_HANDLE),
            vk::Image::from_raw(IMAGE_HANDLE),
        ),
        (vk::Buffer::null(), vk::Image::null()),
        dedicated_buffer,
        dedicated_image,
        dedicated_to_ash,
    );
}

#[test]
fn handle_types_are_vulkan_bits() {
    use vk::ExternalMemoryHandleTypeFlags as Flags;
    assert_handle_types_are_vulkan_bits(
        handle_types_to_ash,
        [
            Flags::OPAQUE_FD,
            Flags::OPAQUE_WIN32,
            Flags::OPAQUE_WIN32_KMT,
            Flags::DMA_BUF_EXT,
        ],
        |flags| flags.as_raw(),
    );
}
