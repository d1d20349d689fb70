use {
    super::*,
    gpu_alloc_types::{DedicatedResource, ExternalMemoryHandleTypes, MemoryPriority},
};

/// One structure of an allocation's `pNext` chain: its type and the value it
/// carries.
#[derive(Debug, PartialEq)]
enum Chained {
    Flags(vk::MemoryAllocateFlags),
    Dedicated(vk::Buffer, vk::Image),
    Priority(f32),
    Export(u32),
}

/// The size, the memory type and the chain `with_allocate_info` passes for
/// `info`, in chain order.
fn chain_of(info: &AllocateInfo) -> (u64, u32, Vec<Chained>) {
    with_allocate_info(4096, 3, info, |allocate_info| {
        let mut chain = Vec::new();
        let mut next = allocate_info.p_next.cast::<vk::BaseInStructure>();
        while !next.is_null() {
            // SAFETY: each `p_next` points to a live structure that
            // `with_allocate_info` chained; all start as `VkBaseInStructure`,
            // and each is read as the type its `sType` names.
            let (item, after) = unsafe {
                let base = &*next;
                let item = match base.s_type {
                    vk::StructureType::MEMORY_ALLOCATE_FLAGS_INFO => {
                        Chained::Flags((*next.cast::<vk::MemoryAllocateFlagsInfo>()).flags)
                    }
                    vk::StructureType::MEMORY_DEDICATED_ALLOCATE_INFO => {
                        let d = &*next.cast::<vk::MemoryDedicatedAllocateInfo>();
                        Chained::Dedicated(d.buffer, d.image)
                    }
                    vk::StructureType::MEMORY_PRIORITY_ALLOCATE_INFO_EXT => Chained::Priority(
                        (*next.cast::<vk::MemoryPriorityAllocateInfoEXT>()).priority,
                    ),
                    vk::StructureType::EXPORT_MEMORY_ALLOCATE_INFO => Chained::Export(
                        (*next.cast::<vk::ExportMemoryAllocateInfo>())
                            .handle_types
                            .bits(),
                    ),
                    other => panic!("unexpected {other:?} in the chain"),
                };
                (item, base.p_next)
            };
            chain.push(item);
            next = after;
        }
        (
            allocate_info.allocation_size,
            allocate_info.memory_type_index,
            chain,
        )
    })
}

#[test]
fn the_chain_holds_what_the_info_asks_for_and_nothing_else() {
    let plain = AllocateInfo::new(AllocationFlags::empty());
    assert_eq!(chain_of(&plain), (4096, 3, vec![]));

    let flags = AllocateInfo::new(AllocationFlags::DEVICE_ADDRESS);
    let device_address = Chained::Flags(vk::MemoryAllocateFlags::DEVICE_ADDRESS);
    assert_eq!(chain_of(&flags).2, [device_address]);

    let buffer = plain.dedicated(DedicatedResource::Buffer(7));
    assert_eq!(
        chain_of(&buffer).2,
        [Chained::Dedicated(vk::Buffer(7), vk::Image(0))]
    );
    let image = plain.dedicated(DedicatedResource::Image(9));
    assert_eq!(
        chain_of(&image).2,
        [Chained::Dedicated(vk::Buffer(0), vk::Image(9))]
    );

    let priority = plain.priority(MemoryPriority::HIGHEST);
    assert_eq!(chain_of(&priority).2, [Chained::Priority(1.0)]);

    let export = plain.export(ExternalMemoryHandleTypes::OPAQUE_FD);
    assert_eq!(chain_of(&export).2, [Chained::Export(1)]);

    let all = flags
        .dedicated(DedicatedResource::Image(9))
        .priority(MemoryPriority::LOWEST)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD | ExternalMemoryHandleTypes::DMA_BUF);
    let (size, ty, mut chain) = chain_of(&all);
    assert_eq!((size, ty), (4096, 3));
    // `extend_from` puts each new structure first: compare as a set.
    let order = |c: &Chained| match c {
        Chained::Flags(_) => 0,
        Chained::Dedicated(..) => 1,
        Chained::Priority(_) => 2,
        Chained::Export(_) => 3,
    };
    chain.sort_by_key(order);
    assert_eq!(
        chain,
        [
            Chained::Flags(vk::MemoryAllocateFlags::DEVICE_ADDRESS),
            Chained::Dedicated(vk::Buffer(0), vk::Image(9)),
            Chained::Priority(0.0),
            Chained::Export(0x201),
        ]
    );
}
