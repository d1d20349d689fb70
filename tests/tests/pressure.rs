//! Memory pressure: when heaps fill up, allocations fall back to the next
//! acceptable memory type in the documented order, fail with `OutOfDeviceMemory`
//! only when nothing acceptable is left, and recover fully after frees.

use {
    gpu_alloc::{Config, MemoryBlock, Request, TryAllocError, UsageFlags},
    gpu_alloc_tests::{
        harness::Harness,
        sim::{Layout, SimMemory},
    },
};

const MIB: u64 = 1 << 20;

fn request(usage: UsageFlags) -> Request {
    Request {
        size: MIB,
        align_mask: 255,
        usage,
        memory_types: !0,
    }
}

/// Allocates 1 MiB blocks until the allocator says no; returns the blocks and the
/// error.
fn fill(h: &mut Harness, usage: UsageFlags) -> (Vec<MemoryBlock<SimMemory>>, TryAllocError) {
    let mut blocks = Vec::new();
    loop {
        match h.try_alloc(request(usage), None) {
            Ok(block) => blocks.push(block),
            Err(err) => return (blocks, err),
        }
        h.allocator.check_invariants();
        assert!(blocks.len() < 10_000, "heaps never filled");
    }
}

/// H200 layout with small heaps: device-local requests go to type 1, then type 4
/// (same heap 0), then type 0 in heap 1, and fail only when both heaps are full.
fn check_fallback(h: &mut Harness, heap_bytes: [u64; 2]) {
    let (blocks, err) = fill(h, UsageFlags::FAST_DEVICE_ACCESS);
    assert_eq!(err, TryAllocError::OutOfDeviceMemory);
    let types: Vec<u32> = blocks.iter().map(|b| b.memory_type()).collect();
    // The documented order for device-only usage on this layout.
    let order = [1, 4, 0, 2, 3];
    let rank = |ty: u32| order.iter().position(|&t| t == ty).unwrap();
    assert!(
        types.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "types used out of order: {types:?}"
    );
    assert_eq!(types[0], 1);
    assert!(types.contains(&0), "never fell back to the other heap");
    // Nearly all of both heaps were used before giving up.
    let used: u64 = blocks.iter().map(|b| b.size()).sum();
    let total = heap_bytes[0] + heap_bytes[1];
    assert!(
        used * 10 >= total * 9,
        "gave up early: {used} of {total} bytes"
    );
    h.device.assert_no_violations();

    // Free everything: the same requests succeed again, on the best type.
    for block in blocks {
        h.dealloc(block);
    }
    let again = h
        .try_alloc(request(UsageFlags::FAST_DEVICE_ACCESS), None)
        .unwrap();
    assert_eq!(again.memory_type(), 1);
    h.dealloc(again);
    let (blocks, err) = fill(h, UsageFlags::FAST_DEVICE_ACCESS);
    assert_eq!(err, TryAllocError::OutOfDeviceMemory);
    let refill: u64 = blocks.iter().map(|b| b.size()).sum();
    assert_eq!(refill, used, "recovered a different amount");
    for block in blocks {
        h.dealloc(block);
    }
    h.cleanup();
    h.device.assert_clean();
}

/// Heaps that are small in the properties: the allocator's own accounting stops it.
#[test]
fn small_heaps_fall_back_then_fail_then_recover() {
    let mut layout = Layout::named("nvidia-h200");
    layout.memory_heaps[0].size = 64 * MIB;
    layout.memory_heaps[1].size = 32 * MIB;
    let mut h = Harness::new(layout, Config::i_am_potato());
    check_fallback(&mut h, [64 * MIB, 32 * MIB]);
}

/// Heaps that are large in the properties but full on the device (other users):
/// the device's `OutOfDeviceMemory` answers stop it, and nothing is leaked.
#[test]
fn device_full_falls_back_then_fails_then_recovers() {
    let mut h = Harness::new(Layout::named("nvidia-h200"), Config::i_am_potato());
    h.device.set_heap_capacity(0, 48 * MIB);
    h.device.set_heap_capacity(1, 40 * MIB);
    check_fallback(&mut h, [48 * MIB, 40 * MIB]);
}

/// A budget reading shrinks what the allocator takes from a heap.
#[test]
fn budget_limits_the_heap() {
    let mut layout = Layout::named("nvidia-h200");
    layout.memory_heaps[0].size = 64 * MIB;
    layout.memory_heaps[1].size = 64 * MIB;
    let mut h = Harness::new(layout, Config::i_am_potato());
    h.allocator.set_heap_budgets(&[
        gpu_alloc::HeapBudget {
            budget: 40 * MIB,
            usage: 8 * MIB,
        },
        gpu_alloc::HeapBudget {
            budget: 64 * MIB,
            usage: 0,
        },
    ]);
    assert_eq!(h.allocator.heap_budget(0), 32 * MIB);
    let (blocks, _) = fill(&mut h, UsageFlags::FAST_DEVICE_ACCESS);
    assert!(h.allocator.heap_usage(0) <= 32 * MIB);
    let in_heap0: u64 = blocks
        .iter()
        .filter(|b| b.memory_type() == 1 || b.memory_type() == 4)
        .map(|b| b.size())
        .sum();
    assert!(
        (24 * MIB..=32 * MIB).contains(&in_heap0),
        "heap 0 held {in_heap0}"
    );
    for block in blocks {
        h.dealloc(block);
    }
    h.cleanup();
    h.device.assert_clean();
}

/// Host-visible usages fall back among host-visible types only (system memory
/// first, then device-local host-visible memory), and fail once those are full.
#[test]
fn upload_never_falls_back_to_device_only_memory() {
    let mut layout = Layout::named("nvidia-h200");
    layout.memory_heaps[0].size = 16 * MIB;
    layout.memory_heaps[1].size = 16 * MIB;
    let mut h = Harness::new(layout, Config::i_am_potato());
    let (blocks, err) = fill(&mut h, UsageFlags::UPLOAD);
    assert_eq!(err, TryAllocError::OutOfDeviceMemory);
    assert!(blocks.iter().all(|b| b
        .props()
        .contains(gpu_alloc::MemoryPropertyFlags::HOST_VISIBLE)));
    // Type 4 (device-local, host-visible, heap 0) is the last resort for uploads.
    assert_eq!(blocks.last().unwrap().memory_type(), 4);
    for block in blocks {
        h.dealloc(block);
    }
    h.cleanup();
    h.device.assert_clean();
}
