//! Allocations: the call through each entry point, and the checks of its
//! block or its error.

use {
    super::{
        blocks::{check_block, NewBlock},
        expect::{invalid, is_expected, refusals, roomy, Causes},
        written::Written,
        Entry, Injected, Live, Model,
    },
    crate::{
        harness::{best_type, eligible_types},
        sim::SimMemory,
    },
    gpu_alloc::{
        AllocOptions, AllocationError, Dedicated, MemoryBlock, Request, ResourceKind, TryAllocError,
    },
};

impl Model {
    /// Whether type `ty`'s heap surely has room for `size` more bytes.
    fn roomy(&self, ty: u32, size: u64) -> bool {
        let heap = self.layout.type_heap(ty);
        let heap_size = self.layout.memory_heaps[heap as usize].size;
        roomy(self.harness.device.heap_usage(heap), heap_size, size)
    }

    fn call(
        &mut self,
        request: Request,
        dedicated: Option<Dedicated>,
        entry: Entry,
    ) -> Result<MemoryBlock<SimMemory>, Result<TryAllocError, AllocationError>> {
        let harness = &mut self.harness;
        match entry {
            Entry::Legacy => harness.alloc(request, dedicated).map_err(Err),
            Entry::Try => harness.try_alloc(request, dedicated).map_err(Ok),
            Entry::Options(kind) => {
                let mut options = AllocOptions::new().resource(kind);
                if let Some(dedicated) = dedicated {
                    options = options.dedicated(dedicated);
                }
                harness.try_alloc_with_options(request, options).map_err(Ok)
            }
        }
    }

    /// What must become of `request`, as far as the model knows before the
    /// call (the failures during the call are filled in after it).
    fn expectation(&self, request: &Request) -> Expectation {
        let eligible = eligible_types(&self.layout, request, self.allowed);
        let invalid = invalid(&self.layout, request, &eligible);
        let budgets = self.budgets.iter().any(Option::is_some);
        let best = best_type(&self.layout, request, self.allowed)
            .filter(|&ty| !self.tight && !budgets && self.roomy(ty, request.size));
        let causes = Causes {
            injected: Injected::default(),
            host_failures: 0,
            room: eligible.iter().any(|&ty| self.roomy(ty, request.size)),
            tight: self.tight,
            budgets,
            empty: self.live.is_empty(),
        };
        Expectation {
            eligible,
            invalid,
            best,
            causes,
        }
    }

    /// Allocates through `entry` and checks the block (and records it) or the
    /// error.
    pub fn alloc(&mut self, request: Request, dedicated: Option<Dedicated>, entry: Entry) {
        let mut expect = self.expectation(&request);
        let before = self.tally();
        let result = self.call(request, dedicated, entry);
        let injected = self.injected_since(before);
        expect.causes.injected = injected;
        expect.causes.host_failures = self.tally().backing_failures - before.backing_failures;
        if injected.maps > 0 {
            // Only a new memory object is mapped during an allocation, and a
            // failed map fails the request.
            assert!(
                matches!(
                    result,
                    Err(Ok(TryAllocError::MapFailed) | Err(AllocationError::OutOfHostMemory))
                ),
                "request {request:?}: the map of a new memory object failed, and the request \
                 got {:?}",
                result
                    .as_ref()
                    .map(|b| (b.memory_type(), b.offset(), b.size()))
            );
        }
        let kind = match entry {
            Entry::Options(kind) => kind,
            // The gpu-alloc 0.6 entry points know no resource kind.
            Entry::Legacy | Entry::Try => ResourceKind::Unknown,
        };
        match result {
            Ok(block) => {
                let new = NewBlock {
                    block: &block,
                    request: &request,
                    dedicated,
                    kind,
                };
                self.served(&new, &expect);
                self.live.push(Live {
                    block,
                    request,
                    kind,
                    written: Written::default(),
                    mapped: None,
                });
            }
            Err(error) => {
                self.counts.refused += 1;
                self.counts.refused_by_faults += u64::from(!injected.none());
                let expected = expect
                    .invalid
                    .map_or_else(|| refusals(&expect.causes), |e| vec![e]);
                assert!(
                    is_expected(error, &expected),
                    "request {request:?} ({dedicated:?}, {entry:?}) failed with {error:?}; \
                     expected one of {expected:?} (eligible types {:?}; {:?})",
                    expect.eligible,
                    expect.causes
                );
            }
        }
    }

    /// Checks a new block against its request, its memory object and the live
    /// blocks, and records where it lies.
    fn served(&mut self, new: &NewBlock<'_>, expect: &Expectation) {
        self.counts.served += 1;
        let request = new.request;
        assert!(
            expect.invalid.is_none(),
            "request {request:?} served; it must fail with {:?}",
            expect.invalid
        );
        let calm = expect.causes.injected.none() && expect.causes.host_failures == 0;
        let id = new.block.memory().id();
        let object = self
            .harness
            .device
            .object(id)
            .expect("the block's memory object is alive on the device");
        let best = expect.best.filter(|_| calm);
        check_block(&self.layout, &object, new, &expect.eligible, best);
        self.placements.place(new);
    }
}

/// What must become of a request.
struct Expectation {
    /// The memory types that may serve it.
    eligible: Vec<u32>,
    /// The error it must get whatever the state.
    invalid: Option<TryAllocError>,
    /// The type that must serve it if nothing fails during the call.
    best: Option<u32>,
    /// What may make it fail.
    causes: Causes,
}
