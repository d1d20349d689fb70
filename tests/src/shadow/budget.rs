//! Budget readings, and the check that no heap grows past its budget.

use {
    super::{BudgetPath, Model},
    gpu_alloc::HeapBudget,
};

/// A heap's budget since the last reading: the most the allocator may hold
/// (`budget - (usage - its own usage)`), and the most the heap may hold now
/// (that, or what it held when the budget came below its usage, shrinking as
/// blocks are freed).
#[derive(Clone, Copy, Debug)]
pub(super) struct Ceiling {
    limit: u64,
    now: u64,
}

impl Model {
    /// Gives the allocator a budget reading (one entry per heap) by `path`;
    /// checks the budget it then reports per heap, and from now on after every
    /// step that no heap grows past it.
    pub fn set_budgets(&mut self, readings: Vec<HeapBudget>, path: BudgetPath) {
        let heaps = self.layout.memory_heaps.len();
        assert_eq!(readings.len(), heaps, "one reading per heap");
        let device = &self.harness.device;
        let reported: Vec<HeapBudget> = match path {
            BudgetPath::Allocator => readings.clone(),
            BudgetPath::Device => (0..heaps)
                .map(|h| HeapBudget {
                    budget: readings[h].budget,
                    usage: readings[h]
                        .usage
                        .saturating_add(device.heap_usage(h as u32)),
                })
                .collect(),
        };
        match path {
            BudgetPath::Allocator => self.harness.allocator.set_heap_budgets(&readings),
            BudgetPath::Device => {
                self.harness.device.set_budgets(Some(readings));
                assert!(self.harness.update_budget(), "the device reports budgets");
            }
        }
        for (heap, reading) in reported.iter().enumerate() {
            let own = self.harness.device.heap_usage(heap as u32);
            let limit = reading
                .budget
                .saturating_sub(reading.usage.saturating_sub(own));
            let size = self.layout.memory_heaps[heap].size;
            assert_eq!(
                self.harness.allocator.heap_budget(heap as u32),
                limit.min(size),
                "heap {heap}: the allocator's budget after the reading {reading:?} with {own} \
                 bytes of its own"
            );
            self.budgets[heap] = Some(Ceiling {
                limit,
                now: limit.max(own),
            });
        }
    }

    /// Checks that no heap holds more than its budget allows (or, when the
    /// budget came below what it held, more than it held since).
    pub(super) fn check_budgets(&mut self) {
        for (heap, budget) in self.budgets.iter_mut().enumerate() {
            if let Some(Ceiling { limit, now }) = budget {
                let used = self.harness.device.heap_usage(heap as u32);
                assert!(
                    used <= *now,
                    "heap {heap} grew to {used} bytes, over its budget of {limit} (and over \
                     {now}, what it held)"
                );
                *now = used.max(*limit);
            }
        }
    }

    /// The most the allocator may hold in `heap` by the last budget reading.
    pub fn budget(&self, heap: usize) -> Option<u64> {
        self.budgets[heap].map(|b| b.limit)
    }
}
