//! The dry run (issue 16): `forecast` and `find_memory_type` say what the next
//! allocation does, on every usage of every layout, under both presets, as
//! blocks pile up, with and without heap budgets that run out: the memory type, whether it makes a memory object and how
//! large, whether the block gets one of its own, and the same errors; and they
//! change nothing.

use {
    gpu_alloc::{AllocOptions, BudgetPolicy, Dedicated, MemoryBlock, Request, UsageFlags},
    gpu_alloc_tests::{
        harness::{Harness, Preset, USAGES},
        sim::{Layout, SimMemory},
    },
};

/// The usages of the memory-type table, and `TRANSIENT` alone.
fn usages() -> impl Iterator<Item = UsageFlags> {
    USAGES.into_iter().chain([UsageFlags::TRANSIENT])
}

/// A request of `size` bytes aligned to `align_mask + 1`, any memory type.
fn request(size: u64, align_mask: u64, usage: UsageFlags) -> Request {
    Request {
        size,
        align_mask,
        usage,
        memory_types: !0,
    }
}

/// Sizes from slab slots to dedicated objects.
const SIZES: [u64; 6] = [200, 4096, 40_000, 700_000, 5 << 20, 80 << 20];

/// The ids and sizes of the device's live objects.
fn objects(h: &Harness) -> Vec<(u64, u64)> {
    h.device
        .live_objects()
        .iter()
        .map(|o| (o.id, o.size))
        .collect()
}

/// Forecasts `request` with `options`, allocates it, and checks that the two
/// agree: the memory type, the memory object made (its size), whether the
/// block has one of its own, or the same error; and that the forecast changed
/// nothing. Counts the outcome in `checked` (held memory, new shared object,
/// dedicated) and returns the block.
fn forecast_then_alloc(
    h: &mut Harness,
    request: Request,
    options: AllocOptions,
    what: &str,
    checked: &mut [u32; 3],
) -> Option<MemoryBlock<SimMemory>> {
    let before = objects(h);
    let forecast = h.allocator.forecast(&request, options);
    assert_eq!(objects(h), before, "{what}: the forecast allocated");
    if options == AllocOptions::new() {
        assert_eq!(
            h.allocator.find_memory_type(&request),
            forecast.map(|f| f.memory_type),
            "{what}"
        );
    }
    let result = h.try_alloc_with_options(request, options);
    match (forecast, result) {
        (Ok(forecast), Ok(block)) => {
            assert_eq!(forecast.memory_type, block.memory_type(), "{what}");
            let after = objects(h);
            let new: Vec<_> = after.iter().filter(|o| !before.contains(o)).collect();
            assert_eq!(
                forecast.new_object,
                new.first().map(|&&(_, size)| size),
                "{what}: new objects {new:?}"
            );
            assert!(new.len() <= 1, "{what}");
            assert_eq!(forecast.dedicated, block.is_dedicated(), "{what}");
            if block.is_dedicated() {
                assert_eq!(
                    new.first().map(|&&(id, _)| id),
                    Some(block.memory().id()),
                    "{what}"
                );
            }
            checked[match (forecast.new_object, forecast.dedicated) {
                (None, _) => 0,
                (Some(_), false) => 1,
                (Some(_), true) => 2,
            }] += 1;
            Some(block)
        }
        (Err(expected), Err(error)) => {
            assert_eq!(expected, error, "{what}");
            None
        }
        (forecast, result) => panic!(
            "{what}: forecast {forecast:?}, allocation {:?}",
            result.map(|b| (b.memory_type(), b.size()))
        ),
    }
}

#[test]
fn the_forecast_agrees_at_the_object_limit_and_past_the_budget() {
    let mut checked = [0u32; 3];
    let mut refused = 0;
    for layout in Layout::all() {
        let name = layout.name.clone();
        let heaps = layout.memory_heaps.len();
        let mut h = Harness::new(layout, Preset::Prototyping.config());
        let mut held = Vec::new();
        let upload = request(4096, 255, UsageFlags::UPLOAD);
        held.push(h.try_alloc(upload, None).unwrap());
        // No memory object left: what held memory serves, and the same error
        // for the rest (not a fall back to another type).
        // SAFETY: fewer objects than the device allows.
        unsafe { h.allocator.set_remaining_allocations(0) };
        for usage in usages() {
            for size in [256, 4096, 5 << 20] {
                let request = request(size, 255, usage);
                let what = format!("{name}, no objects left, {usage:?}, {size} bytes");
                match forecast_then_alloc(&mut h, request, AllocOptions::new(), &what, &mut checked)
                {
                    Some(block) => held.push(block),
                    None => refused += 1,
                }
            }
        }
        // SAFETY: as many as the layout allows, less the ones held.
        unsafe { h.allocator.set_remaining_allocations(1000) };
        // Every heap's budget is what the allocator holds: within it nothing
        // more; past it (`MayExceed`), objects just as large as the block.
        let heap_usages = h.device.heap_usages();
        let readings = heap_usages
            .iter()
            .map(|&used| gpu_alloc::HeapBudget {
                budget: used,
                usage: 0,
            })
            .collect::<Vec<_>>();
        assert_eq!(readings.len(), heaps);
        h.device.set_budgets(Some(readings));
        assert!(h.update_budget());
        for usage in usages() {
            for size in [40_000, 700_000, 5 << 20] {
                let request = request(size, 255, usage);
                for budget in [BudgetPolicy::WithinBudget, BudgetPolicy::MayExceed] {
                    let options = AllocOptions::new().budget(budget);
                    let what = format!("{name}, budget full, {usage:?}, {size} bytes, {budget:?}");
                    match forecast_then_alloc(&mut h, request, options, &what, &mut checked) {
                        Some(block) => held.push(block),
                        None => refused += 1,
                    }
                }
            }
        }
        for block in held {
            h.dealloc(block);
        }
        h.cleanup();
        h.device.assert_clean();
    }
    assert!(
        refused > 100 && checked[0] > 10 && checked[1] + checked[2] > 100,
        "{refused} {checked:?}"
    );
}

#[test]
fn the_forecast_is_what_the_allocation_then_does_on_every_usage_of_every_layout() {
    let mut checked = [0u32; 3]; // held memory, new shared object, dedicated
    for layout in Layout::all() {
        for (preset, budget) in [
            (Preset::Potato, None),
            (Preset::Prototyping, None),
            // Heaps that fill: objects halved to fit, types fallen back to.
            (Preset::Prototyping, Some(24 << 20)),
        ] {
            let name = format!("{} ({preset:?}, budget {budget:?})", layout.name);
            let mut h = Harness::new(layout.clone(), preset.config());
            if let Some(budget) = budget {
                let reading = gpu_alloc::HeapBudget { budget, usage: 0 };
                h.device
                    .set_budgets(Some(vec![reading; layout.memory_heaps.len()]));
                assert!(h.update_budget());
            }
            let mut held: Vec<MemoryBlock<SimMemory>> = Vec::new();
            for round in 0..3 {
                for usage in usages() {
                    for (i, size) in SIZES.into_iter().enumerate() {
                        let options = match (round + i) % 4 {
                            0 => AllocOptions::new().dedicated(Dedicated::Preferred),
                            1 if size < (1 << 20) => {
                                AllocOptions::new().dedicated(Dedicated::Required)
                            }
                            _ => AllocOptions::new(),
                        };
                        let align_mask = if i % 2 == 0 { 255 } else { 4095 };
                        let request = request(size, align_mask, usage);
                        let what = format!("{name}, {usage:?}, {size} bytes, {options:?}");
                        if let Some(block) =
                            forecast_then_alloc(&mut h, request, options, &what, &mut checked)
                        {
                            held.push(block);
                        }
                    }
                }
            }
            for block in held {
                h.dealloc(block);
            }
            h.cleanup();
            h.device.assert_clean();
        }
    }
    assert!(
        checked.iter().all(|&n| n > 100),
        "each outcome checked often: {checked:?}"
    );
}
