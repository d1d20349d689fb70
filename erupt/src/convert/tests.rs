use {
    super::*,
    erupt::vk,
    gpu_alloc_tests::backend_support::convert::{
        assert_dedicated_resources_keep_their_handles, assert_handle_types_are_vulkan_bits,
        BUFFER_HANDLE, IMAGE_HANDLE,
    },
};

fn bits() -> impl Iterator<Item = u32> {
    (0..32).map(|i| 1u32 << i)
}

#[test]
fn every_memory_property_bit_round_trips() {
    // Each of gpu-alloc's bits survives the trip through erupt and back.
    for flag in MemoryPropertyFlags::all().iter() {
        let vk_flags = memory_properties_to_erupt(flag);
        assert_eq!(vk_flags.bits(), u32::from(flag.bits()), "{flag:?}");
        assert_eq!(memory_properties_from_erupt(vk_flags), flag);
    }
    // Each bit erupt names is kept raw; the low byte also lands in the typed flags.
    for bit in bits() {
        let Some(vk_flags) = vk::MemoryPropertyFlags::from_bits(bit) else {
            continue;
        };
        let info = memory_type_info_from_erupt(&vk::MemoryType {
            property_flags: vk_flags,
            heap_index: 3,
        });
        assert_eq!(info.raw_flags, bit);
        assert_eq!(info.heap, 3);
        let typed = memory_properties_from_erupt(vk_flags);
        if bit <= 0xFF {
            assert_eq!(u32::from(typed.bits()), bit);
            assert_eq!(memory_properties_to_erupt(typed), vk_flags);
            assert_eq!(info.unknown_bits(), 0);
        } else {
            assert!(typed.is_empty());
            assert_eq!(info.unknown_bits(), bit);
        }
    }
    // RDMA_CAPABLE_NV is the bit the typed flags cannot carry.
    let info = memory_type_info_from_erupt(&vk::MemoryType {
        property_flags: vk::MemoryPropertyFlags::RDMA_CAPABLE_NV
            | vk::MemoryPropertyFlags::DEVICE_LOCAL,
        heap_index: 0,
    });
    assert_eq!(info.props(), MemoryPropertyFlags::DEVICE_LOCAL);
    assert_eq!(info.unknown_bits(), 0x100);
}

#[test]
fn every_heap_flag_bit_round_trips() {
    for flag in MemoryHeapFlags::all().iter() {
        let vk_flags = heap_flags_to_erupt(flag);
        assert_eq!(vk_flags.bits(), flag.bits(), "{flag:?}");
        assert_eq!(heap_flags_from_erupt(vk_flags), flag);
    }
    for bit in bits() {
        let Some(vk_flags) = vk::MemoryHeapFlags::from_bits(bit) else {
            continue;
        };
        let ours = heap_flags_from_erupt(vk_flags);
        assert_eq!(ours.bits(), bit);
        assert_eq!(heap_flags_to_erupt(ours), vk_flags);
        let info = memory_heap_info_from_erupt(&vk::MemoryHeap {
            size: 12345,
            flags: vk_flags,
        });
        assert_eq!(
            info,
            MemoryHeapInfo {
                size: 12345,
                flags: ours
            }
        );
    }
}

#[test]
fn every_allocation_flag_bit_round_trips() {
    for flag in AllocationFlags::all().iter() {
        assert_eq!(
            allocation_flags_from_erupt(allocation_flags_to_erupt(flag)),
            flag
        );
    }
    assert_eq!(
        allocation_flags_to_erupt(AllocationFlags::DEVICE_ADDRESS),
        vk::MemoryAllocateFlags::DEVICE_ADDRESS
    );
    for bit in bits() {
        let Some(vk_flags) = vk::MemoryAllocateFlags::from_bits(bit) else {
            continue;
        };
        let ours = allocation_flags_from_erupt(vk_flags);
        if vk_flags == vk::MemoryAllocateFlags::DEVICE_ADDRESS {
            assert_eq!(ours, AllocationFlags::DEVICE_ADDRESS);
            assert_eq!(allocation_flags_to_erupt(ours), vk_flags);
        } else {
            assert!(ours.is_empty(), "{vk_flags:?}");
        }
    }
}

#[test]
fn errors_map_to_the_closest_variant() {
    assert_eq!(
        out_of_memory_from_erupt(vk::Result::ERROR_OUT_OF_HOST_MEMORY),
        OutOfMemory::OutOfHostMemory
    );
    for result in [
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY,
        vk::Result::ERROR_TOO_MANY_OBJECTS,
        vk::Result::ERROR_INVALID_EXTERNAL_HANDLE,
        vk::Result::ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS,
        vk::Result::ERROR_DEVICE_LOST,
        vk::Result(-123_456),
    ] {
        assert_eq!(
            out_of_memory_from_erupt(result),
            OutOfMemory::OutOfDeviceMemory,
            "{result:?}"
        );
    }
    assert_eq!(
        map_error_from_erupt(vk::Result::ERROR_OUT_OF_HOST_MEMORY),
        DeviceMapError::OutOfHostMemory
    );
    assert_eq!(
        map_error_from_erupt(vk::Result::ERROR_OUT_OF_DEVICE_MEMORY),
        DeviceMapError::OutOfDeviceMemory
    );
    assert_eq!(
        map_error_from_erupt(vk::Result::ERROR_MEMORY_MAP_FAILED),
        DeviceMapError::MapFailed
    );
    assert_eq!(
        map_error_from_erupt(vk::Result(-7_777)),
        DeviceMapError::MapFailed
    );
}

#[test]
fn requirements_become_requests() {
    use gpu_alloc::{Request, UsageFlags};
    let vk_req = vk::MemoryRequirements {
        size: 65_548,
        alignment: 65_536,
        memory_type_bits: 0b1001,
    };
    let req = memory_requirements_from_erupt(&vk_req);
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
        (vk::Buffer(BUFFER_HANDLE), vk::Image(IMAGE_HANDLE)),
        (vk::Buffer::null(), vk::Image::null()),
        dedicated_buffer,
        dedicated_image,
        dedicated_to_erupt,
    );
}

#[test]
fn handle_types_are_vulkan_bits() {
    use vk::ExternalMemoryHandleTypeFlags as Flags;
    assert_handle_types_are_vulkan_bits(
        handle_types_to_erupt,
        [
            Flags::OPAQUE_FD,
            Flags::OPAQUE_WIN32,
            Flags::OPAQUE_WIN32_KMT,
            Flags::DMA_BUF_EXT,
        ],
        |flags| flags.bits(),
    );
}
