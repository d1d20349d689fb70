//! Every bad input gets its exact error, from `try_alloc` and (mapped to the old
//! variants) from `alloc`, without any device call that breaks a rule, and
//! without a panic.

use {
    gpu_alloc::{
        reported_problems, AllocationError, Dedicated, MemoryBlock, Request, TryAllocError,
        UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{Harness, Preset},
        sim::{Layout, SimDevice, SimMemory},
    },
};

fn request(size: u64, align_mask: u64, usage: UsageFlags, memory_types: u32) -> Request {
    Request {
        size,
        align_mask,
        usage,
        memory_types,
    }
}

/// Checks that `request` fails with `expected` from `try_alloc` and
/// `try_alloc_with_dedicated`, and with its legacy mapping from `alloc`, on a
/// harness for `layout`, and that the device saw no allocation and no broken
/// rule.
fn expect_error(layout: Layout, request: Request, expected: TryAllocError) {
    let legacy = AllocationError::from(expected);
    for preset in Preset::ALL {
        let mut harness = Harness::new(layout.clone(), preset.config());
        let name = &layout.name;
        assert_eq!(
            harness.try_alloc(request, None).err(),
            Some(expected),
            "{name} {preset:?}: try_alloc({request:?})"
        );
        for dedicated in [Dedicated::Required, Dedicated::Preferred] {
            assert_eq!(
                harness.try_alloc(request, Some(dedicated)).err(),
                Some(expected),
                "{name} {preset:?}: try_alloc_with_dedicated({request:?}, {dedicated:?})"
            );
        }
        assert_eq!(
            harness.alloc(request, None).err(),
            Some(legacy),
            "{name} {preset:?}: alloc({request:?})"
        );
        harness.device.assert_clean();
        assert_eq!(
            harness.device.stats().allocate_calls,
            0,
            "{name}: a refused request reached the device"
        );
        harness.check_accounting();
    }
}

#[test]
fn legacy_error_mapping() {
    use {AllocationError as A, TryAllocError as T};
    let cases = [
        (T::ZeroSize, A::NoCompatibleMemoryTypes),
        (
            T::InvalidAlignMask { align_mask: 5 },
            A::NoCompatibleMemoryTypes,
        ),
        (T::DeviceAddressNotEnabled, A::NoCompatibleMemoryTypes),
        (T::NoCompatibleMemoryTypes, A::NoCompatibleMemoryTypes),
        (T::TooLarge { size: 2, max: 1 }, A::OutOfDeviceMemory),
        (T::OutOfDeviceMemory, A::OutOfDeviceMemory),
        (T::OutOfHostMemory, A::OutOfHostMemory),
        (T::TooManyObjects, A::TooManyObjects),
    ];
    for (new, old) in cases {
        assert_eq!(AllocationError::from(new), old, "{new:?}");
        assert!(!new.to_string().is_empty());
    }
}

#[test]
fn zero_size() {
    for layout in Layout::all() {
        for usage in [
            UsageFlags::empty(),
            UsageFlags::UPLOAD,
            UsageFlags::TRANSIENT,
        ] {
            expect_error(
                layout.clone(),
                request(0, 0, usage, !0),
                TryAllocError::ZeroSize,
            );
        }
    }
}

#[test]
fn align_mask_not_power_of_two_minus_one() {
    let layout = Layout::named("nvidia-h200");
    for align_mask in [2, 5, 6, 0x100, 0xFFE, 0x8000_0000_0000_0000, u64::MAX - 1] {
        expect_error(
            layout.clone(),
            request(64, align_mask, UsageFlags::empty(), !0),
            TryAllocError::InvalidAlignMask { align_mask },
        );
    }
}

#[test]
fn valid_align_masks_are_accepted() {
    // Every 2^n - 1 is valid, including 0 and u64::MAX (which only offset 0 meets).
    let mut harness = Harness::named("nvidia-h200", Preset::Potato);
    for n in [0u32, 1, 8, 16, 20, 40, 63, 64] {
        let align_mask = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        let block = harness
            .try_alloc(request(100, align_mask, UsageFlags::UPLOAD, !0), None)
            .unwrap_or_else(|e| panic!("align_mask {align_mask:#x}: {e:?}"));
        assert_eq!(block.offset() & align_mask, 0);
        harness.check_accounting();
        harness.dealloc(block);
    }
    harness.cleanup();
    harness.device.assert_clean();
}

#[test]
fn no_usable_memory_type() {
    use UsageFlags as U;
    let none = TryAllocError::NoCompatibleMemoryTypes;
    let h200 = Layout::named("nvidia-h200");
    // Mask 0.
    expect_error(h200.clone(), request(64, 0, U::empty(), 0), none);
    // Only bits of types the device does not have.
    expect_error(h200.clone(), request(64, 0, U::empty(), !0 << 5), none);
    // Only types that cannot serve the usage: device-local 1 and type 0 are not
    // host-visible.
    for usage in [U::HOST_ACCESS, U::UPLOAD, U::DOWNLOAD] {
        expect_error(h200.clone(), request(64, 0, usage, 0b11), none);
    }
    // Protected usage on a device without protected memory.
    expect_error(h200, request(64, 0, U::PROTECTED, !0), none);
    // The lazily allocated type of Apple M1 (3) serves transient attachments only.
    let m1 = Layout::named("apple-m1-moltenvk");
    expect_error(m1.clone(), request(64, 0, U::empty(), 1 << 3), none);
    expect_error(
        m1,
        request(64, 0, U::TRANSIENT_ATTACHMENT | U::UPLOAD, 1 << 3),
        none,
    );
    // AMD device-coherent types only, not allowed.
    let rx6600 = Layout::named("amd-rx6600-radv");
    expect_error(rx6600, request(64, 0, U::empty(), 0b1111 << 7), none);
}

#[test]
fn size_u64_max() {
    for layout in Layout::all() {
        for usage in [
            UsageFlags::empty(),
            UsageFlags::UPLOAD,
            UsageFlags::DOWNLOAD,
        ] {
            let mut harness = Harness::new(layout.clone(), Preset::Potato.config());
            let error = harness
                .try_alloc(request(u64::MAX, 0, usage, !0), None)
                .expect_err("u64::MAX bytes");
            let TryAllocError::TooLarge { size, max } = error else {
                panic!("{} {usage:?}: {error:?}", layout.name);
            };
            assert_eq!(size, u64::MAX, "{}", layout.name);
            assert!(max <= layout.max_memory_allocation_size);
            assert!(max <= layout.largest_heap());
            harness.device.assert_clean();
            assert_eq!(harness.device.stats().allocate_calls, 0);
        }
    }
}

#[test]
fn larger_than_max_memory_allocation_size() {
    let h200 = Layout::named("nvidia-h200");
    let max = h200.max_memory_allocation_size;
    for usage in [
        UsageFlags::empty(),
        UsageFlags::UPLOAD,
        UsageFlags::TRANSIENT,
    ] {
        expect_error(
            h200.clone(),
            request(max + 1, 0, usage, !0),
            TryAllocError::TooLarge { size: max + 1, max },
        );
    }
}

#[test]
fn exactly_max_memory_allocation_size_is_served() {
    // lavapipe: one 2 GiB heap, max_memory_allocation_size 2 GiB.
    let layout = Layout::named("lavapipe-llvm15");
    let max = layout.max_memory_allocation_size;
    let mut harness = Harness::new(layout, Preset::Potato.config());
    let block = harness
        .try_alloc(request(max, 0, UsageFlags::empty(), !0), None)
        .expect("a request of exactly max_memory_allocation_size");
    assert_eq!(block.size(), max);
    harness.check_accounting();
    harness.dealloc(block);
    harness.cleanup();
    harness.device.assert_clean();
}

#[test]
fn larger_than_any_heap() {
    // Intel Arc B60: heap 0 (25.6 GB) is smaller than max_memory_allocation_size
    // (72.2 GB, heap 1's size). Device-local types all draw from heap 0.
    let arc = Layout::named("intel-arc-b60-anv");
    let heap0 = arc.memory_heaps[0].size;
    let device_local = 0b101_1011; // types 0, 1, 3, 4, 6
    expect_error(
        arc.clone(),
        request(heap0 + 1, 0, UsageFlags::empty(), device_local),
        TryAllocError::TooLarge {
            size: heap0 + 1,
            max: heap0,
        },
    );
    // Every type allowed: heap 1 (72.2 GB, also max_memory_allocation_size) is
    // the largest anything can hold.
    let heap1 = arc.memory_heaps[1].size;
    expect_error(
        arc,
        request(heap1 + 1, 0, UsageFlags::empty(), !0),
        TryAllocError::TooLarge {
            size: heap1 + 1,
            max: heap1,
        },
    );
    // A shrunk heap: lavapipe with 1 GiB of its 2 GiB.
    let mut small = Layout::named("lavapipe-llvm15");
    small.memory_heaps[0].size = 1 << 30;
    expect_error(
        small,
        request((1 << 30) + 1, 0, UsageFlags::UPLOAD, !0),
        TryAllocError::TooLarge {
            size: (1 << 30) + 1,
            max: 1 << 30,
        },
    );
}

#[test]
fn device_address_without_buffer_device_address() {
    let usage = UsageFlags::DEVICE_ADDRESS | UsageFlags::FAST_DEVICE_ACCESS;
    for layout in Layout::all() {
        assert!(!layout.buffer_device_address);
        expect_error(
            layout.clone(),
            request(256, 255, usage, !0),
            TryAllocError::DeviceAddressNotEnabled,
        );
        // Enabled: served, from a memory object allocated with the flag.
        let mut enabled = layout.clone();
        enabled.buffer_device_address = true;
        let mut harness = Harness::new(enabled, Preset::Potato.config());
        let block = harness
            .try_alloc(request(256, 255, usage, !0), None)
            .unwrap_or_else(|e| panic!("{}: {e:?}", layout.name));
        let object = harness
            .device
            .object(block.memory().id())
            .expect("live object");
        assert!(object
            .flags
            .contains(gpu_alloc::AllocationFlags::DEVICE_ADDRESS));
        harness.dealloc(block);
        harness.cleanup();
        harness.device.assert_clean();
    }
}

/// Allocates one small block of each strategy (general, transient, dedicated).
fn blocks(harness: &mut Harness) -> Vec<MemoryBlock<SimMemory>> {
    let general = request(256, 255, UsageFlags::UPLOAD, !0);
    let transient = request(256, 255, UsageFlags::UPLOAD | UsageFlags::TRANSIENT, !0);
    vec![
        harness.try_alloc(general, None).expect("general"),
        harness.try_alloc(transient, None).expect("transient"),
        harness
            .try_alloc(general, Some(Dedicated::Required))
            .expect("dedicated"),
    ]
}

#[test]
fn try_dealloc_returns_a_foreign_block() {
    let mut a = Harness::named("nvidia-h200", Preset::Potato);
    let mut b = Harness::named("nvidia-h200", Preset::Potato);
    // A third allocator on the same device as `a`.
    let mut c = Harness::with_device(
        SimDevice::new(Layout::named("nvidia-h200")),
        Preset::Potato.config(),
    );
    for block in blocks(&mut a) {
        let (id, offset, size) = (block.memory().id(), block.offset(), block.size());
        let before = (a.device.stats(), b.device.stats(), c.device.stats());
        let block = b.try_dealloc(block).expect_err("b did not make the block");
        let block = c.try_dealloc(block).expect_err("c did not make the block");
        assert_eq!(
            (block.memory().id(), block.offset(), block.size()),
            (id, offset, size),
            "the block comes back untouched"
        );
        assert_eq!(
            before,
            (a.device.stats(), b.device.stats(), c.device.stats()),
            "no device call"
        );
        a.try_dealloc(block).expect("a made the block");
    }
    for harness in [&mut a, &mut b, &mut c] {
        harness.cleanup();
        harness.check_accounting();
        harness.device.assert_clean();
    }
}

#[test]
fn dealloc_reports_a_foreign_block_and_leaves_the_device_alone() {
    let mut a = Harness::named("nvidia-h200", Preset::Potato);
    let mut b = Harness::named("nvidia-h200", Preset::Potato);
    for block in blocks(&mut a) {
        let id = block.memory().id();
        let before = (a.device.stats(), b.device.stats(), reported_problems());
        b.dealloc(block);
        let after = (a.device.stats(), b.device.stats(), reported_problems());
        assert_eq!(before.0, after.0, "no call on the block's device");
        assert_eq!(before.1, after.1, "no call on the wrong device");
        assert!(after.2 > before.2, "the foreign block is reported");
        assert!(
            a.device.object(id).is_some(),
            "its memory object stays alive"
        );
        a.device.assert_no_violations();
        b.device.assert_no_violations();
        b.check_accounting();
    }
    // The blocks are lost to `a` (their memory leaks, as documented); `b` is clean.
    b.cleanup();
    b.device.assert_clean();
}

/// A layout with one non-coherent host-visible type whose
/// `max_memory_allocation_size` is not a multiple of `non_coherent_atom_size`
/// (as the RADV layouts report 4294967292 with atoms of 64).
fn odd_max_layout() -> Layout {
    let mut layout = Layout::named("apple-m1-moltenvk");
    layout.non_coherent_atom_size = 64;
    layout.max_memory_allocation_size = 4_294_967_292;
    layout
}

/// A request of exactly `max_memory_allocation_size` bytes in non-coherent
/// memory is legal for the device (a flush range may end at the end of the
/// object), so it must be served, not refused because rounding up to whole atoms
/// would pass the limit.
#[test]
fn non_coherent_request_at_an_odd_max_size() {
    let layout = odd_max_layout();
    let max = layout.max_memory_allocation_size;
    let mut harness = Harness::new(layout, Preset::Potato.config());
    // Type 2 only: DEVICE_LOCAL | HOST_VISIBLE | HOST_CACHED, not coherent.
    let result = harness.try_alloc(request(max, 0, UsageFlags::DOWNLOAD, 1 << 2), None);
    match result {
        Ok(block) => {
            assert_eq!(block.size(), max);
            harness.dealloc(block);
        }
        Err(error) => panic!("{max} bytes of non-coherent memory refused: {error:?}"),
    }
    harness.cleanup();
    harness.device.assert_clean();
}

/// Ranges outside a block are refused by `map`, `write_bytes`, `read_bytes`,
/// `flush_range` and `invalidate_range`, without a device call; mapping a block
/// that cannot be mapped says why.
#[test]
fn block_ranges_out_of_bounds() {
    use gpu_alloc::MapError;
    for dedicated in [None, Some(Dedicated::Required)] {
        let mut harness = Harness::named("apple-m1-moltenvk", Preset::Potato);
        // Type 2: host-visible, not coherent, so flushes reach the device.
        let req = request(100, 0, UsageFlags::UPLOAD, 1 << 2);
        let mut block = harness.try_alloc(req, dedicated).expect("block");
        let size = block.size();
        let before = harness.device.stats();
        let out = [
            (size, 1),
            (size - 1, 2),
            (0, size + 1),
            (1, u64::MAX),
            (u64::MAX, 1),
        ];
        for (offset, len) in out {
            let what = format!("{dedicated:?} {offset}+{len} of {size}");
            if let Ok(len) = usize::try_from(len) {
                if len < 1 << 20 {
                    let mut buf = vec![0u8; len];
                    assert_eq!(
                        harness.write(&mut block, offset, &buf),
                        Err(MapError::MapFailed),
                        "write {what}"
                    );
                    assert_eq!(
                        harness.read(&mut block, offset, &mut buf),
                        Err(MapError::MapFailed),
                        "read {what}"
                    );
                }
                assert_eq!(
                    harness.map(&mut block, offset, len).err(),
                    Some(MapError::MapFailed),
                    "map {what}"
                );
            }
            assert_eq!(
                harness.flush(&mut block, offset, len),
                Err(MapError::MapFailed),
                "flush {what}"
            );
            assert_eq!(
                harness.invalidate(&mut block, offset, len),
                Err(MapError::MapFailed),
                "invalidate {what}"
            );
        }
        assert_eq!(before, harness.device.stats(), "no device call");
        assert!(!block.is_mapped());
        harness.dealloc(block);
        harness.cleanup();
        harness.device.assert_clean();
    }
    // Device-only memory cannot be mapped.
    let mut harness = Harness::named("nvidia-h200", Preset::Potato);
    let mut block = harness
        .try_alloc(request(100, 0, UsageFlags::empty(), !0), None)
        .expect("block");
    assert_eq!(
        harness.map(&mut block, 0, 1).err(),
        Some(MapError::NonHostVisible)
    );
    assert_eq!(
        harness.write(&mut block, 0, &[1]),
        Err(MapError::NonHostVisible)
    );
    assert_eq!(
        harness.flush(&mut block, 0, 1),
        Err(MapError::NonHostVisible)
    );
    harness.dealloc(block);
    harness.cleanup();
    harness.device.assert_clean();
}
