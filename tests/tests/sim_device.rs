//! Tests of the simulated device itself: that it loads every layout, keeps data,
//! simulates non-coherent memory, injects faults deterministically, and catches
//! every broken rule. Without these, a quiet simulated device would make every
//! allocator test pass.

use {
    gpu_alloc_tests::{
        kit::Rng,
        sim::{Faults, Layout, SimDevice, SimMemory},
    },
    gpu_alloc_types::{
        AllocationFlags, DeviceMapError, HeapBudget, MappedMemoryRange, MemoryDevice,
        MemoryPropertyFlags, OutOfMemory,
    },
};

/// A small layout with one coherent and one non-coherent host-visible type.
fn small_layout() -> Layout {
    Layout::parse(
        "small",
        r#"{
            "device": "small test device",
            "memory_heaps": [
                { "size": 1048576, "flags": 1 },
                { "size": 65536, "flags": 0, "budget": 60000, "usage": 1000 }
            ],
            "memory_types": [
                { "heap": 0, "flags": 1 },
                { "heap": 1, "flags": 6 },
                { "heap": 1, "flags": 10 }
            ],
            "non_coherent_atom_size": 64,
            "buffer_image_granularity": 1,
            "max_memory_allocation_count": 3,
            "max_memory_allocation_size": 32768
        }"#,
    )
    .expect("valid layout")
}

fn lenient() -> SimDevice {
    SimDevice::new(small_layout()).with_panic_on_violation(false)
}

fn alloc(device: &SimDevice, size: u64, ty: u32) -> SimMemory {
    // SAFETY: the simulated device checks every rule itself; these tests probe it.
    unsafe { device.allocate_memory(size, ty, AllocationFlags::empty()) }.expect("allocation")
}

fn last_violation(device: &SimDevice) -> String {
    device
        .violations()
        .last()
        .map(ToString::to_string)
        .unwrap_or_default()
}

#[test]
fn every_fixture_loads_and_converts() {
    let layouts = Layout::all();
    assert!(layouts.len() >= 14, "{} layouts", layouts.len());
    let names: Vec<&str> = layouts.iter().map(|l| l.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "Layout::all is sorted by name");
    for layout in &layouts {
        let props = layout.device_properties();
        assert_eq!(props.memory_types.len(), layout.memory_types.len());
        assert_eq!(props.memory_heaps.len(), layout.memory_heaps.len());
        assert_eq!(
            props.max_memory_allocation_size,
            layout.max_memory_allocation_size
        );
        let ext = layout.extended_properties();
        assert_eq!(
            ext.buffer_image_granularity,
            layout.buffer_image_granularity
        );
        for (info, ty) in ext.memory_types.iter().zip(&layout.memory_types) {
            assert_eq!(info.raw_flags, ty.flags);
        }
        assert_eq!(Layout::named(&layout.name), *layout);
    }
    // Budgets come from the fixtures that have them.
    let h200 = Layout::named("nvidia-h200");
    let budgets = h200.heap_budgets().expect("h200 has budgets");
    assert_eq!(budgets[1].usage, 1_601_536);
    assert_eq!(Layout::named("amd-rx470-radv").heap_budgets(), None);
}

#[test]
fn bad_layouts_are_refused() {
    let bad_heap = r#"{ "device": "x", "memory_heaps": [ { "size": 1, "flags": 0 } ],
        "memory_types": [ { "heap": 1, "flags": 0 } ], "non_coherent_atom_size": 64,
        "buffer_image_granularity": 1, "max_memory_allocation_count": 1,
        "max_memory_allocation_size": 1 }"#;
    assert!(Layout::parse("bad", bad_heap).is_err());
    let bad_atom = bad_heap
        .replace("\"heap\": 1", "\"heap\": 0")
        .replace("64", "48");
    assert!(Layout::parse("bad", &bad_atom).is_err());
    assert!(Layout::parse("bad", "{}").is_err());
}

#[test]
fn data_round_trips_through_mappings() {
    let device = SimDevice::new(small_layout());
    let mut memory = alloc(&device, 4096, 1);
    // SAFETY: type 1 is host-visible, the object is not mapped, range inside.
    let ptr = unsafe { device.map_memory(&mut memory, 1024, 2048) }.expect("map");
    // SAFETY: the mapping covers 2048 bytes from `ptr`.
    unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0xAB, 2048) };
    // SAFETY: the object is mapped.
    unsafe { device.unmap_memory(&mut memory) };
    // Coherent memory: the device sees host writes at once.
    assert_eq!(device.device_read(&memory, 1024, 2048), vec![0xAB; 2048]);
    assert_eq!(device.device_read(&memory, 0, 16), vec![0; 16]);
    // And the host sees device writes at once.
    device.device_write(&memory, 0, &[1, 2, 3]);
    // SAFETY: as above.
    let ptr = unsafe { device.map_memory(&mut memory, 0, 4096) }.expect("map");
    // SAFETY: the mapping covers 4096 bytes.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.as_ptr(), 4) };
    assert_eq!(bytes, &[1, 2, 3, 0]);
    // SAFETY: mapped; then freed once.
    unsafe {
        device.unmap_memory(&mut memory);
        device.deallocate_memory(memory);
    }
    device.assert_clean();
}

#[test]
fn non_coherent_memory_needs_flush_and_invalidate() {
    let device = SimDevice::new(small_layout());
    let mut memory = alloc(&device, 256, 2);
    // SAFETY: type 2 is host-visible, not mapped, range inside.
    let ptr = unsafe { device.map_memory(&mut memory, 0, 256) }.expect("map");
    // SAFETY: the mapping covers 256 bytes.
    unsafe { std::ptr::write_bytes(ptr.as_ptr(), 7, 256) };
    assert_eq!(
        device.device_read(&memory, 0, 256),
        vec![0; 256],
        "not flushed yet"
    );
    let range = MappedMemoryRange {
        memory: &memory,
        offset: 64,
        size: 64,
    };
    // SAFETY: mapped, inside the mapping, atom-aligned.
    unsafe { device.flush_memory_ranges(&[range]) }.expect("flush");
    let seen = device.device_read(&memory, 0, 256);
    assert_eq!(&seen[..64], &[0; 64]);
    assert_eq!(&seen[64..128], &[7; 64]);
    assert_eq!(&seen[128..], &[0; 128]);

    device.device_write(&memory, 192, &[9; 64]);
    // SAFETY: the mapping covers 256 bytes.
    assert_eq!(unsafe { *ptr.as_ptr().add(200) }, 7, "not invalidated yet");
    let range = MappedMemoryRange {
        memory: &memory,
        offset: 192,
        size: 64,
    };
    // SAFETY: mapped, inside the mapping, atom-aligned and reaching the end.
    unsafe { device.invalidate_memory_ranges(&[range]) }.expect("invalidate");
    // SAFETY: the mapping covers 256 bytes.
    assert_eq!(unsafe { *ptr.as_ptr().add(200) }, 9);
    // SAFETY: freeing a mapped object is allowed.
    unsafe { device.deallocate_memory(memory) };
    device.assert_clean();
    assert_eq!(device.stats().flush_calls, 1);
    assert_eq!(device.stats().invalidate_calls, 1);
}

#[test]
fn faults_are_deterministic_and_counted() {
    let run = |seed| {
        let device = SimDevice::new(small_layout()).with_faults(Faults::with_rates(seed, 0.5, 0.0));
        (0..64)
            .map(|_| {
                // SAFETY: valid type and size; each success is freed at once.
                match unsafe { device.allocate_memory(64, 0, AllocationFlags::empty()) } {
                    Ok(memory) => {
                        // SAFETY: freed once.
                        unsafe { device.deallocate_memory(memory) };
                        true
                    }
                    Err(e) => {
                        assert_eq!(e, OutOfMemory::OutOfDeviceMemory);
                        false
                    }
                }
            })
            .collect::<Vec<bool>>()
    };
    let a = run(7);
    assert_eq!(a, run(7), "same seed, same failures");
    assert_ne!(a, run(8), "another seed, other failures");
    let failures = a.iter().filter(|ok| !**ok).count();
    assert!(
        (16..=48).contains(&failures),
        "{failures} of 64 at rate 0.5"
    );

    let device = SimDevice::new(small_layout());
    device.fail_next_allocs(2);
    device.fail_next_maps(1);
    // SAFETY: valid arguments.
    unsafe {
        assert!(device
            .allocate_memory(64, 1, AllocationFlags::empty())
            .is_err());
        assert!(device
            .allocate_memory(64, 1, AllocationFlags::empty())
            .is_err());
    }
    let mut memory = alloc(&device, 64, 1);
    // SAFETY: host-visible, not mapped, inside.
    unsafe {
        assert_eq!(
            device.map_memory(&mut memory, 0, 64),
            Err(DeviceMapError::MapFailed)
        );
        assert!(device.map_memory(&mut memory, 0, 64).is_ok());
        device.deallocate_memory(memory);
    }
    let stats = device.stats();
    assert_eq!(stats.injected_alloc_failures, 2);
    assert_eq!(stats.injected_map_failures, 1);
    assert_eq!(stats.allocate_calls, 3);
    device.assert_clean();

    let mut rng = Rng::new(1);
    assert!(!rng.chance(0.0) && rng.chance(1.0));
}

#[test]
fn capacity_and_budget() {
    let device = SimDevice::new(small_layout());
    device.set_heap_capacity(1, 1000);
    // SAFETY: valid arguments; the capacity makes it fail legally.
    let result = unsafe { device.allocate_memory(1001, 1, AllocationFlags::empty()) };
    assert_eq!(result, Err(OutOfMemory::OutOfDeviceMemory));
    assert_eq!(device.stats().capacity_failures, 1);
    let memory = alloc(&device, 1000, 1);
    let mut budgets = [HeapBudget::default(); 2];
    assert!(device.memory_budget(&mut budgets));
    assert_eq!(
        budgets[1],
        HeapBudget {
            budget: 60000,
            usage: 2000
        }
    );
    device.set_budgets(None);
    assert!(!device.memory_budget(&mut budgets));
    // SAFETY: freed once.
    unsafe { device.deallocate_memory(memory) };
    device.assert_clean();
    assert_eq!(device.heap_usages(), vec![0, 0]);
}

#[test]
fn introspection() {
    let device = SimDevice::new(small_layout());
    let a = alloc(&device, 100, 0);
    let mut b = alloc(&device, 200, 1);
    // SAFETY: host-visible, not mapped, inside.
    unsafe { device.map_memory(&mut b, 8, 16) }.expect("map");
    assert_eq!(device.live_count(), 2);
    assert_eq!(device.heap_usage(0), 100);
    assert_eq!(device.heap_usage(1), 200);
    let live = device.live_objects();
    assert_eq!(live.len(), 2);
    assert_eq!(
        (live[0].id, live[0].memory_type, live[0].size),
        (a.id(), 0, 100)
    );
    assert_eq!(live[1].mapped, Some((8, 16)));
    assert_eq!(device.object(b.id()).map(|o| o.heap), Some(1));
    assert_eq!(b.size(), 200);
    assert_eq!(b.memory_type(), 1);
    // SAFETY: freed once each.
    unsafe {
        device.deallocate_memory(a);
        device.deallocate_memory(b);
    }
    assert_eq!(device.stats().peak_live_objects, 2);
    assert_eq!(device.stats().deallocate_calls, 2);
    device.assert_clean();
}

/// Each entry breaks one rule; the device must notice with a message that
/// contains the given words.
#[test]
fn every_rule_is_checked() {
    type Probe = fn(&SimDevice);
    let probes: &[(&str, Probe)] = &[
        ("out of range", |d| {
            // SAFETY: deliberately broken rule; the device only records it.
            let _ = unsafe { d.allocate_memory(64, 3, AllocationFlags::empty()) };
        }),
        ("size is zero", |d| {
            // SAFETY: deliberately broken rule; the device only records it.
            let _ = unsafe { d.allocate_memory(0, 0, AllocationFlags::empty()) };
        }),
        ("max_memory_allocation_size", |d| {
            // SAFETY: deliberately broken rule; the device only records it.
            let _ = unsafe { d.allocate_memory(32769, 0, AllocationFlags::empty()) };
        }),
        ("buffer_device_address", |d| {
            // SAFETY: deliberately broken rule; the device only records it.
            let _ = unsafe { d.allocate_memory(64, 0, AllocationFlags::DEVICE_ADDRESS) };
        }),
        ("max_memory_allocation_count", |d| {
            let objects: Vec<SimMemory> = (0..3).map(|_| alloc(d, 64, 0)).collect();
            // SAFETY: deliberately broken rule; the device only records it.
            let _ = unsafe { d.allocate_memory(64, 0, AllocationFlags::empty()) };
            for memory in objects {
                // SAFETY: freed once.
                unsafe { d.deallocate_memory(memory) };
            }
        }),
        ("more than its size", |d| {
            let a = alloc(d, 32768, 1);
            let b = alloc(d, 32768, 1);
            // SAFETY: deliberately broken rule; the device only records it.
            let _ = unsafe { d.allocate_memory(1, 2, AllocationFlags::empty()) };
            // SAFETY: freed once each.
            unsafe {
                d.deallocate_memory(a);
                d.deallocate_memory(b);
            }
        }),
        ("freed already", |d| {
            let a = alloc(d, 64, 0);
            // SAFETY: deliberately broken rule (the same object freed twice); the
            // device only records it. `SimMemory` is plain data without `Drop`,
            // so duplicating it with `ptr::read` is harmless on the Rust side.
            unsafe {
                let twin = std::ptr::read(&a);
                d.deallocate_memory(a);
                d.deallocate_memory(twin);
            }
        }),
        ("not allocated by this device", |d| {
            let other = SimDevice::new(small_layout());
            let foreign = alloc(&other, 64, 0);
            let id = foreign.id();
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe { d.deallocate_memory(foreign) };
            assert!(other.object(id).is_some());
        }),
        ("not HOST_VISIBLE", |d| {
            let mut a = alloc(d, 64, 0);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 0, 64);
                d.deallocate_memory(a);
            }
        }),
        ("mapped already", |d| {
            let mut a = alloc(d, 64, 1);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 0, 64);
                let _ = d.map_memory(&mut a, 0, 64);
                d.deallocate_memory(a);
            }
        }),
        ("mapping zero bytes", |d| {
            let mut a = alloc(d, 64, 1);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 0, 0);
                d.deallocate_memory(a);
            }
        }),
        ("which has 64 bytes", |d| {
            let mut a = alloc(d, 64, 1);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 32, 33);
                let _ = d.map_memory(&mut a, u64::MAX, 2);
                d.deallocate_memory(a);
            }
        }),
        ("not mapped", |d| {
            let mut a = alloc(d, 64, 1);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                d.unmap_memory(&mut a);
                d.deallocate_memory(a);
            }
        }),
        ("outside its mapping", |d| {
            let mut a = alloc(d, 256, 1);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 64, 64);
                let range = MappedMemoryRange {
                    memory: &a,
                    offset: 0,
                    size: 64,
                };
                let _ = d.flush_memory_ranges(&[range]);
                d.deallocate_memory(a);
            }
        }),
        ("is not a multiple of non_coherent_atom_size", |d| {
            let mut a = alloc(d, 256, 2);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 0, 256);
                let range = MappedMemoryRange {
                    memory: &a,
                    offset: 32,
                    size: 64,
                };
                let _ = d.invalidate_memory_ranges(&[range]);
                d.deallocate_memory(a);
            }
        }),
        ("does not reach the end", |d| {
            let mut a = alloc(d, 256, 2);
            // SAFETY: deliberately broken rule; the device only records it.
            unsafe {
                let _ = d.map_memory(&mut a, 0, 256);
                let range = MappedMemoryRange {
                    memory: &a,
                    offset: 64,
                    size: 65,
                };
                let _ = d.flush_memory_ranges(&[range]);
                d.deallocate_memory(a);
            }
        }),
    ];
    for (words, probe) in probes {
        let device = lenient();
        probe(&device);
        assert!(
            device
                .violations()
                .iter()
                .any(|v| v.message.contains(words)),
            "expected a violation mentioning {words:?}, got {:?}",
            device.violations()
        );
        assert!(!last_violation(&device).is_empty());
    }

    // Coherent memory has no atom rules, and a range reaching the end of a
    // non-coherent object may have any size.
    let device = SimDevice::new(small_layout());
    let mut a = alloc(&device, 100, 1);
    let mut b = alloc(&device, 100, 2);
    // SAFETY: both host-visible, ranges inside their mappings.
    unsafe {
        device.map_memory(&mut a, 0, 100).expect("map");
        device.map_memory(&mut b, 0, 100).expect("map");
        let ranges = [
            MappedMemoryRange {
                memory: &a,
                offset: 3,
                size: 5,
            },
            MappedMemoryRange {
                memory: &b,
                offset: 64,
                size: 36,
            },
        ];
        device.flush_memory_ranges(&ranges).expect("flush");
        device.deallocate_memory(a);
        device.deallocate_memory(b);
    }
    device.assert_clean();
}

#[test]
#[should_panic(expected = "rule broken")]
fn a_broken_rule_panics_by_default() {
    let device = SimDevice::new(small_layout());
    // SAFETY: deliberately broken rule; the device panics.
    let _ = unsafe { device.allocate_memory(0, 0, AllocationFlags::empty()) };
}

#[test]
fn layout_flags_reach_the_properties() {
    let apple = Layout::named("apple-m1-moltenvk");
    let props = apple.device_properties();
    assert_eq!(
        props.memory_types[3].props,
        MemoryPropertyFlags::DEVICE_LOCAL | MemoryPropertyFlags::LAZILY_ALLOCATED
    );
    let mut bda = apple.clone();
    bda.buffer_device_address = true;
    assert!(bda.device_properties().buffer_device_address);
    assert!(!props.buffer_device_address);
}
