//! Regression tests for what the fuzzer (`fuzz/`, target `alloc_ops`) found, one
//! minimal test per finding. See TESTING.md for how to run the fuzzer.

use {
    gpu_alloc::HeapBudget,
    gpu_alloc_tests::harness::{Harness, Preset},
};

/// Finding 1 (fuzz run 2, 2026-11-22): a budget reading whose `usage` is near
/// `u64::MAX` made the simulated device's `memory_budget` overflow ("attempt to
/// add with overflow") when it added its live bytes, during
/// `GpuAllocator::update_budget`. Fixed in the simulated device (099181b: it
/// saturates). The allocator must then treat the heap as full, not panic.
#[test]
fn update_budget_with_usage_near_u64_max() {
    for preset in Preset::ALL {
        let mut harness = Harness::named("amd-rx6600-radv", preset);
        let request = gpu_alloc::Request {
            size: 4096,
            align_mask: 255,
            usage: gpu_alloc::UsageFlags::FAST_DEVICE_ACCESS,
            memory_types: !0,
        };
        let block = harness.try_alloc(request, None).expect("first allocation");
        let heaps = harness.device.layout().memory_heaps.len();
        let readings = vec![
            HeapBudget {
                budget: u64::MAX,
                usage: u64::MAX - 1,
            };
            heaps
        ];
        harness.device.set_budgets(Some(readings));
        assert!(harness.update_budget(), "the device reports budgets");
        harness.check_accounting();
        // Other users hold (almost) everything: no new memory object fits.
        assert_eq!(
            harness
                .try_alloc(request, Some(gpu_alloc::Dedicated::Required))
                .err(),
            Some(gpu_alloc::TryAllocError::OutOfDeviceMemory),
            "{preset:?}"
        );
        harness.dealloc(block);
        harness.cleanup();
        harness.check_accounting();
        harness.device.assert_clean();
    }
}
