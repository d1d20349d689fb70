//! What a request tells the device beyond size and type (issue 16): the
//! resource of a dedicated block, a priority, export handle types. On every
//! layout, on a simulated device that supports all of it and on one that
//! supports none: what is sent reaches the device exactly (the device checks
//! the dedicated object's size against the resource's), what a request requires
//! and the device cannot do is a clear error with nothing allocated, and hints
//! the device cannot honour are dropped and counted in `stats`. Budgets: the
//! per-request policy at the edge (one byte under, at, and over), readings the
//! allocator makes by itself every N device calls and after the device runs
//! out of memory.

use {
    gpu_alloc::{
        AllocOptions, BudgetPolicy, Config, Dedicated, ExternalMemoryHandleTypes, MemoryPriority,
        Request, SharedGpuAllocator, TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::Harness,
        sim::{Layout, SimDevice, SimResource},
    },
    gpu_alloc_types::{AllocationSupport, MemoryDevice, WithSupport},
};

/// Everything the simulated device can be asked for.
fn full_support() -> AllocationSupport {
    AllocationSupport::new()
        .dedicated(true)
        .priority(true)
        .export(ExternalMemoryHandleTypes::OPAQUE_FD | ExternalMemoryHandleTypes::DMA_BUF)
}

/// A harness for `layout` whose device reports `support`, with a small
/// preferred-dedicated threshold so that `Preferred` takes effect at 1 MiB.
fn harness(layout: Layout, support: AllocationSupport) -> Harness {
    let device = SimDevice::new(layout).with_allocation_support(support);
    Harness::with_device(device, Config::i_am_prototyping())
}

/// Every memory type of the layout.
fn all_types(layout: &Layout) -> u32 {
    u32::MAX >> (32 - layout.memory_types.len() as u32)
}

/// A request for `resource` (its size and types) with `usage`.
fn request_for(resource: &SimResource, usage: UsageFlags) -> Request {
    Request {
        size: resource.size,
        align_mask: 255,
        usage,
        memory_types: resource.memory_types,
    }
}

/// Sizes that are not whole non-coherent atoms nor pages: a dedicated object for
/// a resource must still be exactly this big.
const ODD_SIZE: u64 = 4 * 1024 * 1024 + 1000;

const USAGES: [UsageFlags; 2] = [UsageFlags::FAST_DEVICE_ACCESS, UsageFlags::UPLOAD];

#[test]
fn a_required_dedicated_block_is_made_for_its_resource_on_every_layout() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = harness(layout, full_support());
        for (i, usage) in USAGES.into_iter().enumerate() {
            let resource = h.device.create_resource(i == 0, ODD_SIZE, types);
            let options = AllocOptions::new()
                .dedicated(Dedicated::Required)
                .dedicated_resource(resource.handle);
            let block = h
                .try_alloc_with_options(request_for(&resource, usage), options)
                .unwrap_or_else(|e| panic!("{name}, {usage:?}: {e}"));
            assert_eq!(
                block.size(),
                ODD_SIZE,
                "{name}: the block is the resource's size"
            );
            let id = block.memory().id();
            let object = h.device.object(id).expect("live");
            assert_eq!(
                object.size, ODD_SIZE,
                "{name}: the object is the resource's size"
            );
            assert_eq!(object.info.dedicated, Some(resource.handle), "{name}");
            assert_eq!(
                h.device.dedicated_object(resource.handle),
                Some(id),
                "{name}"
            );
            if block
                .props()
                .contains(gpu_alloc::MemoryPropertyFlags::HOST_VISIBLE)
            {
                let data: Vec<u8> = (0..4096u32).map(|i| (i * 7) as u8).collect();
                let mut block = block;
                h.write(&mut block, ODD_SIZE - 4096, &data).unwrap();
                let mut back = vec![0; data.len()];
                h.read(&mut block, ODD_SIZE - 4096, &mut back).unwrap();
                assert_eq!(
                    back, data,
                    "{name}: data written to the object's last bytes"
                );
                h.dealloc(block);
            } else {
                h.dealloc(block);
            }
            assert_eq!(h.device.dedicated_object(resource.handle), None, "{name}");
        }
        assert_eq!(h.allocator.stats().hints_dropped, 0, "{name}");
        h.cleanup();
        h.device.assert_clean();
    }
}

#[test]
fn a_dedicated_object_for_a_resource_is_exactly_its_size_in_every_memory_type() {
    let mut non_coherent = 0;
    for layout in Layout::all() {
        let name = layout.name.clone();
        let count = layout.memory_types.len() as u32;
        let mut h = harness(layout, full_support());
        for ty in 0..count {
            let props = h.device.properties().memory_types[ty as usize].props;
            let host = props.contains(gpu_alloc::MemoryPropertyFlags::HOST_VISIBLE);
            let usage = if host {
                UsageFlags::HOST_ACCESS
            } else {
                UsageFlags::FAST_DEVICE_ACCESS
            };
            let resource = h.device.create_resource(false, ODD_SIZE, 1 << ty);
            let options = AllocOptions::new()
                .dedicated(Dedicated::Required)
                .dedicated_resource(resource.handle);
            let block = match h.try_alloc_with_options(request_for(&resource, usage), options) {
                Ok(block) => block,
                // Lazily allocated, protected and exotic types serve no usage
                // unless asked; the heap of a type may be smaller than the object.
                Err(TryAllocError::NoCompatibleMemoryTypes | TryAllocError::OutOfDeviceMemory) => {
                    continue
                }
                Err(e) => panic!("{name}, type {ty}: {e}"),
            };
            assert_eq!(block.memory_type(), ty);
            assert_eq!(block.size(), ODD_SIZE, "{name}, type {ty}");
            assert_eq!(h.device.object(block.memory().id()).unwrap().size, ODD_SIZE);
            non_coherent +=
                u32::from(host && !props.contains(gpu_alloc::MemoryPropertyFlags::HOST_COHERENT));
            h.dealloc(block);
        }
        h.cleanup();
        h.device.assert_clean();
    }
    assert!(
        non_coherent > 0,
        "no layout has a non-coherent type: the atom rounding went untested"
    );
}

#[test]
fn a_preferred_dedicated_block_sends_its_resource_only_when_it_gets_its_own_object() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = harness(layout, full_support());
        let threshold = Config::i_am_prototyping().preferred_dedicated_threshold;
        let large = h
            .device
            .create_resource(true, threshold.max(ODD_SIZE), types);
        let small = h.device.create_resource(true, 4096, types);
        let preferred = |r: &SimResource| {
            AllocOptions::new()
                .dedicated(Dedicated::Preferred)
                .dedicated_resource(r.handle)
        };
        let usage = UsageFlags::FAST_DEVICE_ACCESS;
        let big = h
            .try_alloc_with_options(request_for(&large, usage), preferred(&large))
            .unwrap();
        assert_eq!(
            h.device.dedicated_object(large.handle),
            Some(big.memory().id()),
            "{name}"
        );
        let little = h
            .try_alloc_with_options(request_for(&small, usage), preferred(&small))
            .unwrap();
        assert_eq!(
            h.device.dedicated_object(small.handle),
            None,
            "{name}: shared"
        );
        assert_eq!(h.allocator.stats().hints_dropped, 0, "{name}");
        h.dealloc(big);
        h.dealloc(little);
        h.cleanup();
        h.device.assert_clean();
    }
}

#[test]
fn a_device_without_dedicated_info_refuses_required_and_drops_preferred() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let mut h = harness(layout, AllocationSupport::NONE);
        let resource = h.device.create_resource(true, ODD_SIZE, types);
        let request = request_for(&resource, UsageFlags::FAST_DEVICE_ACCESS);
        let required = AllocOptions::new()
            .dedicated(Dedicated::Required)
            .dedicated_resource(resource.handle);
        assert_eq!(
            h.try_alloc_with_options(request, required).unwrap_err(),
            TryAllocError::DedicatedNotSupported,
            "{name}"
        );
        assert_eq!(h.device.live_count(), 0, "{name}: nothing allocated");
        // Preferred at the threshold: a dedicated object, without the resource.
        let threshold = Config::i_am_prototyping().preferred_dedicated_threshold;
        let large = h
            .device
            .create_resource(true, threshold.max(ODD_SIZE), types);
        let preferred = AllocOptions::new()
            .dedicated(Dedicated::Preferred)
            .dedicated_resource(large.handle);
        let block = h
            .try_alloc_with_options(
                request_for(&large, UsageFlags::FAST_DEVICE_ACCESS),
                preferred,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let object = h.device.object(block.memory().id()).unwrap();
        assert_eq!(
            object.info.dedicated, None,
            "{name}: nothing the device cannot take"
        );
        assert!(object.size >= large.size, "{name}");
        assert_eq!(
            h.allocator.stats().hints_dropped,
            1,
            "{name}: the resource was dropped"
        );
        h.dealloc(block);
        h.cleanup();
        h.device.assert_clean();
    }
}

#[test]
fn priority_goes_with_objects_of_their_own_and_is_counted_otherwise() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        for support in [full_support(), AllocationSupport::NONE] {
            let mut h = harness(layout.clone(), support);
            let high = MemoryPriority::HIGHEST;
            let request = |size| Request {
                size,
                align_mask: 255,
                usage: UsageFlags::FAST_DEVICE_ACCESS,
                memory_types: !0,
            };
            let own = AllocOptions::new()
                .dedicated(Dedicated::Required)
                .priority(high);
            let dedicated = h.try_alloc_with_options(request(ODD_SIZE), own).unwrap();
            let object = h.device.object(dedicated.memory().id()).unwrap();
            // In a shared object: no priority of its own.
            let shared = h
                .try_alloc_with_options(request(4096), AllocOptions::new().priority(high))
                .unwrap();
            let stats = h.allocator.stats();
            if support.priority {
                assert_eq!(object.info.priority, Some(high), "{name}");
                assert_eq!(stats.hints_dropped, 1, "{name}: the shared block's");
            } else {
                assert_eq!(object.info.priority, None, "{name}");
                assert_eq!(stats.hints_dropped, 2, "{name}: both");
            }
            h.dealloc(dedicated);
            h.dealloc(shared);
            h.cleanup();
            h.device.assert_clean();
        }
    }
}

#[test]
fn export_gives_a_block_an_exportable_object_of_its_own_or_a_clear_error() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let mut h = harness(
            layout.clone(),
            AllocationSupport::new().export(ExternalMemoryHandleTypes::OPAQUE_FD),
        );
        let request = Request {
            size: 4096,
            align_mask: 255,
            usage: UsageFlags::UPLOAD,
            memory_types: !0,
        };
        let fd = ExternalMemoryHandleTypes::OPAQUE_FD;
        let block = h
            .try_alloc_with_options(request, AllocOptions::new().export(fd))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let object = h.device.object(block.memory().id()).unwrap();
        assert_eq!(object.info.export, fd, "{name}");
        assert_eq!(block.offset(), 0, "{name}: an object of its own");
        assert_eq!(h.allocator.stats().memory_objects, 1, "{name}");
        let dma_buf = ExternalMemoryHandleTypes::DMA_BUF;
        assert_eq!(
            h.try_alloc_with_options(request, AllocOptions::new().export(dma_buf))
                .unwrap_err(),
            TryAllocError::ExportNotSupported {
                requested: dma_buf,
                supported: fd
            },
            "{name}"
        );
        assert_eq!(h.device.live_count(), 1, "{name}: nothing more allocated");
        h.dealloc(block);
        h.cleanup();
        h.device.assert_clean();

        let mut none = harness(layout, AllocationSupport::NONE);
        assert_eq!(
            none.try_alloc_with_options(request, AllocOptions::new().export(fd))
                .unwrap_err(),
            TryAllocError::ExportNotSupported {
                requested: fd,
                supported: ExternalMemoryHandleTypes::empty()
            },
            "{name}"
        );
        assert_eq!(none.device.live_count(), 0, "{name}");
    }
}

#[test]
fn the_shared_allocator_sends_the_same_info() {
    for layout in Layout::all() {
        let name = layout.name.clone();
        let types = all_types(&layout);
        let device = SimDevice::new(layout).with_allocation_support(full_support());
        let allocator = SharedGpuAllocator::new(Config::i_am_prototyping(), device.properties());
        let resource = device.create_resource(false, ODD_SIZE, types);
        let options = AllocOptions::new()
            .dedicated(Dedicated::Required)
            .dedicated_resource(resource.handle)
            .priority(MemoryPriority::LOWEST);
        // SAFETY: `device` made the allocator's properties and is passed to
        // every call of it and its blocks; the resource is the device's and
        // unbound, and the request is its requirements.
        let block = unsafe {
            allocator.try_alloc_with_options(
                &device,
                request_for(&resource, UsageFlags::FAST_DEVICE_ACCESS),
                options,
            )
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let object = device.object(block.memory().id()).unwrap();
        assert_eq!(object.info.dedicated, Some(resource.handle), "{name}");
        assert_eq!(object.info.priority, Some(MemoryPriority::LOWEST), "{name}");
        assert_eq!(object.size, ODD_SIZE, "{name}");
        // SAFETY: as above; the block is not in use.
        unsafe {
            allocator.dealloc(&device, block);
            allocator.cleanup(&device);
        }
        device.assert_clean();
    }
}

#[test]
fn with_support_declares_what_the_device_was_created_with() {
    let layout = Layout::all().into_iter().next().expect("a layout");
    let types = all_types(&layout);
    let support = AllocationSupport::new().dedicated(true);
    // The simulated device honours all of it; what the allocator sees is what
    // the wrapper declares.
    let device = SimDevice::new(layout).with_allocation_support(full_support());
    // SAFETY: the simulated device honours everything `support` names.
    let declared = unsafe { WithSupport::new(&device, support) };
    assert_eq!(declared.allocation_support(), support);
    let mut allocator =
        gpu_alloc::GpuAllocator::new(Config::i_am_prototyping(), device.properties());
    let resource = device.create_resource(true, ODD_SIZE, types);
    let options = AllocOptions::new()
        .dedicated(Dedicated::Required)
        .dedicated_resource(resource.handle)
        .priority(MemoryPriority::HIGHEST);
    // SAFETY: `declared` forwards to `device`, which made the properties; the
    // same wrapper is passed to every call.
    let block = unsafe {
        allocator.try_alloc_with_options(
            &declared,
            request_for(&resource, UsageFlags::FAST_DEVICE_ACCESS),
            options,
        )
    }
    .unwrap();
    let object = device.object(block.memory().id()).unwrap();
    assert_eq!(object.info.dedicated, Some(resource.handle));
    assert_eq!(object.info.priority, None, "not declared: dropped");
    assert_eq!(allocator.stats().hints_dropped, 1);
    // SAFETY: as above.
    unsafe {
        allocator.dealloc(&declared, block);
        allocator.cleanup(&declared);
    }
    device.assert_clean();
}

/// A harness on `layout` whose heaps report budgets of `budget` bytes each
/// (nothing used by others), read once; and the first memory type of heap 0
/// that device-local requests may use.
fn budgeted(layout: Layout, budget: u64) -> (Harness, u32) {
    let heaps = layout.memory_heaps.len();
    let ty = (0..layout.memory_types.len() as u32)
        .find(|&ty| layout.type_heap(ty) == 0)
        .expect("a type in heap 0");
    let mut h = harness(layout, AllocationSupport::NONE);
    let reading = gpu_alloc::HeapBudget { budget, usage: 0 };
    h.device.set_budgets(Some(vec![reading; heaps]));
    assert!(h.update_budget());
    (h, ty)
}

/// A dedicated request of `size` bytes of memory type `ty` alone.
fn dedicated_in(ty: u32, size: u64, budget: BudgetPolicy) -> (Request, AllocOptions) {
    let request = Request {
        size,
        align_mask: 0,
        usage: UsageFlags::empty(),
        memory_types: 1 << ty,
    };
    let options = AllocOptions::new()
        .dedicated(Dedicated::Required)
        .budget(budget);
    (request, options)
}

#[test]
fn the_budget_policy_holds_at_the_edge_on_every_layout() {
    const BUDGET: u64 = 64 << 20;
    for layout in Layout::all() {
        let name = layout.name.clone();
        if layout.memory_heaps[0].size <= BUDGET + 1 {
            continue;
        }
        let (mut h, ty) = budgeted(layout, BUDGET);
        let within = BudgetPolicy::WithinBudget;
        // One byte under, and exactly at, the budget: allowed.
        for size in [BUDGET - 1, BUDGET] {
            let (request, options) = dedicated_in(ty, size, within);
            let block = h
                .try_alloc_with_options(request, options)
                .unwrap_or_else(|e| {
                    panic!("{name}: {size} bytes within a budget of {BUDGET}: {e}")
                });
            h.dealloc(block);
        }
        // One byte over: refused within the budget, nothing allocated...
        let (request, options) = dedicated_in(ty, BUDGET + 1, within);
        assert_eq!(
            h.try_alloc_with_options(request, options).unwrap_err(),
            TryAllocError::OutOfDeviceMemory,
            "{name}"
        );
        assert_eq!(h.device.live_count(), 0, "{name}");
        // ...and allowed past it.
        let (request, options) = dedicated_in(ty, BUDGET + 1, BudgetPolicy::MayExceed);
        let block = h
            .try_alloc_with_options(request, options)
            .unwrap_or_else(|e| panic!("{name}: may exceed: {e}"));
        let heap = &h.allocator.stats().heaps[0];
        assert_eq!(heap.limit, BUDGET, "{name}: the budget in stats");
        assert_eq!(heap.reserved, BUDGET + 1, "{name}");
        // The next request within the budget finds none left.
        let (request, options) = dedicated_in(ty, 1, within);
        assert_eq!(
            h.try_alloc_with_options(request, options).unwrap_err(),
            TryAllocError::OutOfDeviceMemory,
            "{name}"
        );
        h.dealloc(block);
        h.cleanup();
        h.device.assert_clean();
    }
}

#[test]
fn the_allocator_reads_budgets_by_itself_every_n_device_calls() {
    let layout = Layout::all().into_iter().next().expect("a layout");
    let heaps = layout.memory_heaps.len();
    let (mut h, ty) = budgeted(layout, 64 << 20);
    h.allocator.set_budget_refresh(4);
    assert_eq!(h.allocator.budget_refresh(), 4);
    // Others take memory: the budget shrinks to 16 MiB, unread so far.
    let smaller = gpu_alloc::HeapBudget {
        budget: 16 << 20,
        usage: 0,
    };
    h.device.set_budgets(Some(vec![smaller; heaps]));
    let mut blocks = Vec::new();
    for _ in 0..3 {
        let (request, options) = dedicated_in(ty, 1 << 20, BudgetPolicy::WithinBudget);
        blocks.push(h.try_alloc_with_options(request, options).unwrap());
    }
    assert_eq!(
        h.allocator.stats().budget_refreshes,
        0,
        "three device calls"
    );
    assert_eq!(h.allocator.stats().heaps[0].limit, 64 << 20);
    let (request, options) = dedicated_in(ty, 1 << 20, BudgetPolicy::WithinBudget);
    blocks.push(h.try_alloc_with_options(request, options).unwrap());
    let stats = h.allocator.stats();
    assert_eq!(stats.budget_refreshes, 1, "the fourth device call reads");
    assert_eq!(stats.heaps[0].limit, 16 << 20, "and applies the new budget");
    for block in blocks {
        h.dealloc(block);
    }
    assert_eq!(h.allocator.stats().budget_refreshes, 2, "frees count too");
    // Off: no reading.
    h.allocator.set_budget_refresh(0);
    for _ in 0..8 {
        let (request, options) = dedicated_in(ty, 1 << 20, BudgetPolicy::WithinBudget);
        let block = h.try_alloc_with_options(request, options).unwrap();
        h.dealloc(block);
    }
    assert_eq!(h.allocator.stats().budget_refreshes, 2);
    h.cleanup();
    h.device.assert_clean();
}

#[test]
fn a_device_out_of_memory_within_the_budget_makes_the_allocator_read_it_again() {
    let layout = Layout::all().into_iter().next().expect("a layout");
    let heaps = layout.memory_heaps.len();
    let (mut h, ty) = budgeted(layout, 64 << 20);
    h.allocator.set_budget_refresh(1000);
    // The device has only 8 MiB left, which its budget now says too.
    h.device.set_heap_capacity(0, 8 << 20);
    let tight = gpu_alloc::HeapBudget {
        budget: 8 << 20,
        usage: 0,
    };
    h.device.set_budgets(Some(vec![tight; heaps]));
    let (request, options) = dedicated_in(ty, 16 << 20, BudgetPolicy::WithinBudget);
    assert_eq!(
        h.try_alloc_with_options(request, options).unwrap_err(),
        TryAllocError::OutOfDeviceMemory
    );
    let stats = h.allocator.stats();
    assert!(stats.budget_refreshes >= 1, "read after the device said no");
    assert_eq!(stats.heaps[0].limit, 8 << 20);
    h.cleanup();
    h.device.assert_clean();
}

#[test]
fn a_dropped_hint_counts_once_per_block_made() {
    let mut checked = 0;
    for layout in Layout::all() {
        let name = layout.name.clone();
        let heaps = layout.memory_heaps.len();
        if heaps < 2 {
            continue;
        }
        let mut h = harness(layout, AllocationSupport::NONE);
        // The device-local heap (the first type device-local requests get) has
        // no budget left: the request tries its types and falls back to
        // another heap's, where it is placed once.
        let probe = Request {
            size: 4096,
            align_mask: 255,
            usage: UsageFlags::FAST_DEVICE_ACCESS,
            memory_types: !0,
        };
        let first = h.allocator.find_memory_type(&probe).unwrap();
        let first_heap = h.device.layout().type_heap(first);
        let mut readings = vec![
            gpu_alloc::HeapBudget {
                budget: 1 << 40,
                usage: 0
            };
            heaps
        ];
        readings[first_heap as usize].budget = 0;
        h.device.set_budgets(Some(readings.clone()));
        assert!(h.update_budget());
        for options in [
            AllocOptions::new().priority(MemoryPriority::HIGHEST),
            AllocOptions::new()
                .dedicated(Dedicated::Required)
                .priority(MemoryPriority::HIGHEST),
        ] {
            let before = h.allocator.stats().hints_dropped;
            let Ok(block) = h.try_alloc_with_options(probe, options) else {
                continue; // no other heap serves device-local requests here
            };
            assert_ne!(block.memory_type(), first, "{name}");
            assert_eq!(
                h.allocator.stats().hints_dropped,
                before + 1,
                "{name}: {options:?}"
            );
            h.dealloc(block);
            checked += 1;
        }
        // Nothing anywhere (no memory object held either): the request fails
        // and counts nothing.
        h.cleanup();
        h.device.set_budgets(Some(vec![
            gpu_alloc::HeapBudget {
                budget: 0,
                usage: 0
            };
            heaps
        ]));
        assert!(h.update_budget());
        let before = h.allocator.stats().hints_dropped;
        let options = AllocOptions::new().priority(MemoryPriority::HIGHEST);
        assert!(h.try_alloc_with_options(probe, options).is_err(), "{name}");
        assert_eq!(
            h.allocator.stats().hints_dropped,
            before,
            "{name}: a failed request"
        );
        h.cleanup();
        h.device.assert_clean();
    }
    assert!(checked >= 4, "the fallback was exercised: {checked}");
}
