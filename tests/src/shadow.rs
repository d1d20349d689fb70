//! The shadow model of the allocator's contract, one for every driver: the
//! property tests (`tests/tests/properties/`) generate programs with proptest,
//! the fuzz driver (`fuzz/`) decodes them from bytes, and both run each
//! operation through a [`Model`], which checks it.
//!
//! A driver makes a [`Model`] from a [`Setup`], calls one method per operation
//! ([`alloc`](Model::alloc), [`free`](Model::free), [`write`](Model::write),
//! ...), [`end_step`](Model::end_step) after each, and
//! [`finish`](Model::finish) at the end. The model owns the simulated device and
//! the allocator under test (a [`Harness`]), and a second allocator on a device
//! of its own, the source of foreign blocks.
//!
//! After every step, whatever the operation did (or did not do, for want of a
//! block): the allocator's `check_invariants`, its heap usage and remaining
//! object count against what is alive on the simulated device, no broken
//! `MemoryDevice` rule (the device also panics on the first); the documented
//! retention (per memory type, empty memory objects hold at most the pools'
//! high-water marks plus one of the largest empty objects per pool); and no heap
//! above its budget since the last reading (or above what it held then).
//!
//! For every new block: its memory type is in the request's mask and eligible
//! for the usage (the core's documented rules) and, unless heaps are tight, a
//! budget was read or a failure happened during the call, the best type by the
//! documented ranking when that type's heap surely has room; its properties are
//! the type's (`HOST_VISIBLE` for host access); it is at least the request's
//! size, aligned to `align_mask`, inside a live memory object of its type (one
//! with `DEVICE_ADDRESS` when asked), atom-aligned and atom-sized in
//! non-coherent memory, overlaps no live block, shares no
//! `bufferImageGranularity` page with a block of another or of unknown resource
//! kind, and a `Dedicated::Required` block is dedicated and alone in its object.
//!
//! Errors: a request no memory type can serve gets exactly its documented error
//! (`ZeroSize`, `InvalidAlignMask`, `DeviceAddressNotEnabled`,
//! `NoCompatibleMemoryTypes`, `TooLarge { size, max }`, in that order of
//! precedence); any other request is served unless a refusal has a cause (see
//! `expect::refusals`): a failure the device injected during that very call,
//! host memory the device could not find during it, tight heaps or object
//! limits, a budget, or a large request beside live blocks in a heap that may
//! be full. An allocator that holds no block must make room by freeing its empty
//! memory objects. A map, read or write fails only for its documented reason or
//! a map failure injected during the call; flush and invalidate return exactly
//! the documented result.
//!
//! Data: the model keeps every byte written to a block (through `write_bytes`,
//! through a mapping plus a flush, or by the device and read back after an
//! invalidate) in a sparse record, checks the range on every read, and every
//! written byte before each free and at the end.
//!
//! At the end: every block freed, `cleanup`, zero live blocks, zero memory
//! objects and zero heap usage in the allocator, and no memory object left on
//! either device.

mod access;
mod alloc;
mod blocks;
mod budget;
mod expect;
mod written;

pub use self::{expect::Injected, written::pattern};

use {
    self::{blocks::Placements, budget::Ceiling, written::Written},
    crate::{
        harness::{Harness, Preset},
        sim::{Faults, Layout, SimDevice, SimMemory},
    },
    gpu_alloc::{MemoryBlock, MemoryPropertyFlags, Request, ResourceKind},
    std::ptr::NonNull,
};

/// What a program runs on.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The device (with the features the program wants, heaps and the object
    /// limit shrunk for tight runs).
    pub layout: Layout,
    /// The allocator's configuration.
    pub preset: Preset,
    /// Exotic memory property bits the allocator may choose
    /// (`allow_memory_properties`).
    pub allowed: u32,
    /// Failures the device injects from the start, if any.
    pub faults: Option<Faults>,
    /// Whether heaps and the object limit are shrunk so that requests run out
    /// of room: the model then expects no particular memory type, and accepts
    /// `OutOfDeviceMemory` and `TooManyObjects` while a block is live.
    pub tight: bool,
}

/// Which entry point an allocation goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// `alloc` or `alloc_with_dedicated` (gpu-alloc 0.6: `AllocationError`).
    Legacy,
    /// `try_alloc` or `try_alloc_with_dedicated`.
    Try,
    /// `try_alloc_with_options`, for a resource of this kind.
    Options(ResourceKind),
}

/// Which way a budget reading reaches the allocator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetPath {
    /// `set_heap_budgets` with the reading as it is.
    Allocator,
    /// The device reports it (adding its live objects to each usage), and
    /// `update_budget` reads it.
    Device,
}

/// What a program did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Steps run.
    pub ops: u64,
    /// Allocations served.
    pub served: u64,
    /// Allocations refused.
    pub refused: u64,
    /// Allocations refused while the device injected a failure during the call.
    pub refused_by_faults: u64,
    /// Most memory objects alive at once on the device.
    pub peak_objects: u64,
    /// Failures the device injected.
    pub injected: Injected,
    /// Of `injected`, those drawn by the fault rates (the others were forced by
    /// the fail-next counters).
    pub by_rate: Injected,
}

/// A live block and what the model knows of it.
struct Live {
    block: MemoryBlock<SimMemory>,
    request: Request,
    kind: ResourceKind,
    /// Every byte written to the block and not forgotten since.
    written: Written,
    /// The pointer to the block's start while mapped by [`Model::map`].
    mapped: Option<NonNull<u8>>,
}

/// Device counters that tell what failed during one call.
#[derive(Clone, Copy, Debug)]
struct Tally {
    injected: Injected,
    backing_failures: u64,
}

/// The shadow model: the allocator under test, its device, and what the model
/// knows the allocator holds.
pub struct Model {
    harness: Harness,
    /// A second allocator and device: the source of foreign blocks.
    other: Harness,
    layout: Layout,
    allowed: u32,
    tight: bool,
    /// The fault rates to restore after a read that had to turn them off.
    rates: (f64, f64),
    live: Vec<Live>,
    placements: Placements,
    /// Per heap, since the first budget reading.
    budgets: Vec<Option<Ceiling>>,
    counts: Counts,
}

impl Model {
    /// A model with a fresh device and allocator for `setup`.
    pub fn new(setup: Setup) -> Self {
        let Setup {
            layout,
            preset,
            allowed,
            faults,
            tight,
        } = setup;
        let mut device = SimDevice::new(layout.clone());
        let rates = faults
            .as_ref()
            .map_or((0.0, 0.0), |f| (f.alloc_rate, f.map_rate));
        if let Some(faults) = faults {
            device = device.with_faults(faults);
        }
        let mut harness = Harness::with_device(device, preset.config());
        harness.allocator.allow_memory_properties(allowed);
        let other = Harness::new(layout.clone(), preset.config());
        Model {
            harness,
            other,
            placements: Placements::new(layout.buffer_image_granularity),
            budgets: vec![None; layout.memory_heaps.len()],
            layout,
            allowed,
            tight,
            rates,
            live: Vec::new(),
            counts: Counts::default(),
        }
    }

    /// The device's layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Number of live blocks; operations name them by index `0..live()`.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Size of live block `i`.
    pub fn block_size(&self, i: usize) -> u64 {
        self.live[i].block.size()
    }

    /// Size of the memory object of live block `i`.
    pub fn object_size(&self, i: usize) -> u64 {
        let id = self.live[i].block.memory().id();
        self.harness
            .device
            .object(id)
            .expect("a live block's memory object is alive")
            .size
    }

    /// Bytes of live memory objects in `heap` on the device.
    pub fn heap_usage(&self, heap: u32) -> u64 {
        self.harness.device.heap_usage(heap)
    }

    /// Steps run so far.
    pub fn ops(&self) -> u64 {
        self.counts.ops
    }

    fn tally(&self) -> Tally {
        let stats = self.harness.device.stats();
        Tally {
            injected: Injected {
                allocs: stats.injected_alloc_failures,
                maps: stats.injected_map_failures,
            },
            backing_failures: stats.backing_failures,
        }
    }

    /// Failures the device injected since `before` was taken.
    fn injected_since(&self, before: Tally) -> Injected {
        let now = self.tally().injected;
        Injected {
            allocs: now.allocs - before.injected.allocs,
            maps: now.maps - before.injected.maps,
        }
    }

    /// Verifies the data of block `i`, then frees it.
    pub fn free(&mut self, i: usize) {
        self.verify(i);
        let live = self.live.swap_remove(i);
        self.placements
            .remove(&live.block, &live.request, live.kind);
        self.harness.dealloc(live.block);
    }

    /// `cleanup`: afterwards every memory object on the device holds a block.
    pub fn cleanup(&mut self) {
        self.harness.cleanup();
        self.placements.reset_high_water();
        let holding = self.placements.holding();
        for object in self.harness.device.live_objects() {
            assert!(
                holding.contains(&object.id),
                "cleanup left memory object {object:?}, which holds no block"
            );
        }
    }

    /// Makes the device fail its next `allocs` allocations and `maps` maps.
    pub fn fail_next(&mut self, allocs: u32, maps: u32) {
        self.harness.device.fail_next_allocs(allocs);
        self.harness.device.fail_next_maps(maps);
    }

    /// Sets the device's failure rates of `allocate_memory` and `map_memory`.
    pub fn set_fault_rates(&mut self, alloc_rate: f64, map_rate: f64) {
        self.rates = (alloc_rate, map_rate);
        self.harness.device.set_fault_rates(alloc_rate, map_rate);
    }

    /// The checks every step gets, whatever the operation did (or did not do,
    /// for want of a block).
    pub fn end_step(&mut self) {
        self.counts.ops += 1;
        self.harness.check_accounting();
        self.harness.device.assert_no_violations();
        self.placements.check_retention(
            self.layout.memory_types.len(),
            &self.harness.device.live_objects(),
        );
        self.check_budgets();
    }

    /// Offers a block of the second allocator to ours: refused, and nothing
    /// changes; its owner then frees it and is left with no memory object.
    pub fn offer_foreign(&mut self, request: Request) {
        let Ok(foreign) = self.other.try_alloc(request, None) else {
            return;
        };
        let before = self.harness.allocator.live_blocks();
        let foreign = self
            .harness
            .try_dealloc(foreign)
            .expect_err("a foreign block was accepted");
        assert_eq!(self.harness.allocator.live_blocks(), before);
        self.other.dealloc(foreign);
        self.other.cleanup();
        self.other.device.assert_clean();
    }

    /// Offers block `i` to the second allocator: refused, still ours (it moves
    /// to the last index), its data intact.
    pub fn offer_ours(&mut self, i: usize) {
        let mut live = self.live.swap_remove(i);
        live.block = self
            .other
            .try_dealloc(live.block)
            .expect_err("the other allocator accepted our block");
        self.live.push(live);
        self.verify(self.live.len() - 1);
    }

    /// Verifies and frees every block, cleans up, and checks that nothing is
    /// left on either device.
    pub fn finish(mut self) -> Counts {
        self.harness.device.set_faults(Faults::none());
        self.rates = (0.0, 0.0);
        for i in 0..self.live.len() {
            self.verify(i);
        }
        while let Some(live) = self.live.pop() {
            self.placements
                .remove(&live.block, &live.request, live.kind);
            self.harness.dealloc(live.block);
        }
        self.harness.cleanup();
        self.harness.check_accounting();
        self.harness.device.assert_clean();
        assert_eq!(self.harness.allocator.live_blocks(), 0, "live blocks left");
        assert_eq!(
            self.harness.allocator.memory_objects(),
            0,
            "memory objects left"
        );
        for heap in 0..self.layout.memory_heaps.len() as u32 {
            assert_eq!(
                self.harness.allocator.heap_usage(heap),
                0,
                "heap {heap} in use"
            );
        }
        self.other.cleanup();
        self.other.device.assert_clean();
        assert_eq!(self.other.allocator.memory_objects(), 0);
        let stats = self.harness.device.stats();
        Counts {
            peak_objects: stats.peak_live_objects,
            injected: Injected {
                allocs: stats.injected_alloc_failures,
                maps: stats.injected_map_failures,
            },
            by_rate: Injected {
                allocs: stats.rate_alloc_failures,
                maps: stats.rate_map_failures,
            },
            ..self.counts
        }
    }
}

impl Live {
    fn host_visible(&self) -> bool {
        self.block
            .props()
            .contains(MemoryPropertyFlags::HOST_VISIBLE)
    }

    fn coherent(&self) -> bool {
        self.block
            .props()
            .contains(MemoryPropertyFlags::HOST_COHERENT)
    }

    /// Checks bytes read at `offset` against what was written there.
    fn check(&self, offset: u64, bytes: &[u8]) {
        if let Some((pos, want, got)) = self.written.mismatch(offset, bytes) {
            panic!(
                "byte {pos} of block (memory {} offset {} size {}, request {:?}) corrupted: \
                 {got:#04x} read, {want:#04x} written",
                self.block.memory().id(),
                self.block.offset(),
                self.block.size(),
                self.request
            );
        }
    }
}
