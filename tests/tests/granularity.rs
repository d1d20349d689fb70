//! Buffer-image granularity: linear and optimal-tiling resources never share a
//! `bufferImageGranularity` page of one memory object, on every layout.

use {
    gpu_alloc::{AllocOptions, Config, MemoryBlock, Request, ResourceKind, UsageFlags},
    gpu_alloc_tests::{
        harness::Harness,
        sim::{Layout, SimMemory},
    },
    proptest::prelude::*,
};

fn kind(index: u8) -> ResourceKind {
    match index % 3 {
        0 => ResourceKind::Unknown,
        1 => ResourceKind::Linear,
        _ => ResourceKind::Optimal,
    }
}

/// Whether two blocks of these kinds may share a granularity page.
fn may_share(a: ResourceKind, b: ResourceKind) -> bool {
    a == b && a != ResourceKind::Unknown
}

/// Granularity pages `first..=last` that a block touches.
fn pages(block: &MemoryBlock<SimMemory>, granularity: u64) -> (u64, u64) {
    let start = block.offset();
    (
        start / granularity,
        (start + block.size() - 1) / granularity,
    )
}

fn check(
    live: &[(MemoryBlock<SimMemory>, ResourceKind)],
    granularity: u64,
) -> Result<(), TestCaseError> {
    for (i, (a, ka)) in live.iter().enumerate() {
        for (b, kb) in &live[i + 1..] {
            if a.memory().id() != b.memory().id() || may_share(*ka, *kb) {
                continue;
            }
            let (pa, pb) = (pages(a, granularity), pages(b, granularity));
            prop_assert!(
                pa.1 < pb.0 || pb.1 < pa.0,
                "{:?} at {}+{} and {:?} at {}+{} share a {}-byte page",
                ka,
                a.offset(),
                a.size(),
                kb,
                b.offset(),
                b.size(),
                granularity
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn linear_and_optimal_never_share_a_page(
        layout_pick in any::<prop::sample::Index>(),
        ops in prop::collection::vec((any::<bool>(), 1u64..20_000, 0u32..12, any::<u8>(), any::<prop::sample::Index>()), 1..150),
    ) {
        let layouts: Vec<Layout> = Layout::all().into_iter().filter(|l| l.buffer_image_granularity > 1).collect();
        prop_assume!(!layouts.is_empty());
        let layout = layouts[layout_pick.index(layouts.len())].clone();
        let granularity = layout.buffer_image_granularity;
        let mut h = Harness::new(layout, Config::i_am_potato());
        let mut live: Vec<(MemoryBlock<SimMemory>, ResourceKind)> = Vec::new();
        for (alloc, size, align_log, kind_pick, free_pick) in ops {
            if alloc || live.is_empty() {
                let request = Request {
                    size,
                    align_mask: (1 << align_log) - 1,
                    usage: UsageFlags::FAST_DEVICE_ACCESS,
                    memory_types: !0,
                };
                let kind = kind(kind_pick);
                let options = AllocOptions::new().resource(kind);
                // SAFETY: the harness's device made the allocator's properties.
                let block = unsafe { h.allocator.try_alloc_with_options(&h.device, request, options) }
                    .expect("the simulated heaps have room");
                prop_assert_eq!(block.offset() & request.align_mask, 0);
                live.push((block, kind));
            } else {
                let (block, _) = live.swap_remove(free_pick.index(live.len()));
                h.dealloc(block);
            }
            h.allocator.check_invariants();
            check(&live, granularity)?;
        }
        for (block, _) in live {
            h.dealloc(block);
        }
        h.cleanup();
        prop_assert_eq!(h.device.live_count(), 0);
    }
}

/// With granularity 1 (the default of `GpuAllocator::new`), kinds cost nothing:
/// a buffer and an image pack into one memory object back to back.
#[test]
fn no_cost_without_granularity() {
    let mut layout = Layout::named("nvidia-h200");
    layout.buffer_image_granularity = 1;
    let mut h = Harness::new(layout, Config::i_am_prototyping());
    let request = Request {
        size: 256,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    };
    let mut blocks = Vec::new();
    for kind in [
        ResourceKind::Linear,
        ResourceKind::Optimal,
        ResourceKind::Unknown,
    ] {
        // SAFETY: the harness's device made the allocator's properties.
        let block = unsafe {
            h.allocator.try_alloc_with_options(
                &h.device,
                request,
                AllocOptions::new().resource(kind),
            )
        }
        .unwrap();
        blocks.push(block);
    }
    assert!(blocks
        .iter()
        .all(|b| b.memory().id() == blocks[0].memory().id()));
    let mut offsets: Vec<u64> = blocks.iter().map(|b| b.offset()).collect();
    offsets.sort_unstable();
    assert_eq!(offsets, [0, 256, 512]);
    for block in blocks {
        h.dealloc(block);
    }
    h.cleanup();
    assert_eq!(h.device.live_count(), 0);
}

/// On NVIDIA (granularity 1024), buffers and images go to separate memory objects
/// instead of being padded, and unknown kinds are padded to whole pages.
#[test]
fn kinds_are_separated_on_nvidia() {
    let mut h = Harness::new(Layout::named("nvidia-h200"), Config::i_am_prototyping());
    let request = Request {
        size: 256,
        align_mask: 255,
        usage: UsageFlags::FAST_DEVICE_ACCESS,
        memory_types: !0,
    };
    let alloc = |h: &mut Harness, kind| {
        // SAFETY: the harness's device made the allocator's properties.
        unsafe {
            h.allocator.try_alloc_with_options(
                &h.device,
                request,
                AllocOptions::new().resource(kind),
            )
        }
        .unwrap()
    };
    let buffer_a = alloc(&mut h, ResourceKind::Linear);
    let buffer_b = alloc(&mut h, ResourceKind::Linear);
    let image = alloc(&mut h, ResourceKind::Optimal);
    let unknown = alloc(&mut h, ResourceKind::Unknown);
    assert_eq!(buffer_a.memory().id(), buffer_b.memory().id());
    assert_eq!(
        buffer_b.offset() - buffer_a.offset(),
        256,
        "buffers pack tightly"
    );
    assert_ne!(buffer_a.memory().id(), image.memory().id());
    assert_eq!(unknown.size() % 1024, 0, "unknown kinds take whole pages");
    assert_eq!(unknown.offset() % 1024, 0);
    for block in [buffer_a, buffer_b, image, unknown] {
        h.dealloc(block);
    }
    h.cleanup();
    assert_eq!(h.device.live_count(), 0);
}
