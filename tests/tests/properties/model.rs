//! The shadow model that checks every step of a random program.

use {
    crate::{
        ops::{pattern, AllocOp, MaskChoice, Mode, Op, Program},
        AMD_BITS,
    },
    gpu_alloc::{
        AllocationError, Dedicated, MapError, MemoryBlock, MemoryPropertyFlags, Request,
        TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{best_type, eligible_types, wants_host, Harness, Preset},
        sim::{Faults, Layout, SimDevice, SimMemory},
    },
    proptest::sample::Index,
    std::{
        collections::{BTreeMap, BTreeSet},
        ptr::NonNull,
    },
};

/// What the model knows of a block's bytes: disjoint ranges of expected bytes,
/// by offset in the block. Sparse, so that a large block costs nothing until
/// written, and every byte written is checked on each free and at the end.
#[derive(Default)]
struct Shadow {
    /// `offset -> bytes`; ranges never overlap nor touch (touching ones merge).
    ranges: BTreeMap<u64, Vec<u8>>,
}

impl Shadow {
    /// Forgets the bytes of `start..end`, keeping the parts of ranges outside it.
    fn forget(&mut self, start: u64, end: u64) {
        // Ranges are disjoint and sorted, so their ends are sorted too: the ones
        // that overlap `start..end` are the last ones starting before `end`.
        let overlapping: Vec<u64> = self
            .ranges
            .range(..end)
            .rev()
            .take_while(|(&at, bytes)| at + bytes.len() as u64 > start)
            .map(|(&at, _)| at)
            .collect();
        for at in overlapping {
            let bytes = self.ranges.remove(&at).expect("listed above");
            let stop = at + bytes.len() as u64;
            if stop > end {
                self.ranges
                    .insert(end, bytes[(end - at) as usize..].to_vec());
            }
            if at < start {
                let mut head = bytes;
                head.truncate((start - at) as usize);
                self.ranges.insert(at, head);
            }
        }
    }

    /// Records `bytes` written at `offset`, merging with touching ranges.
    fn record(&mut self, offset: u64, bytes: &[u8]) {
        let end = offset + bytes.len() as u64;
        self.forget(offset, end);
        let mut start = offset;
        let mut merged = bytes.to_vec();
        if let Some((&at, before)) = self.ranges.range_mut(..offset).next_back() {
            if at + before.len() as u64 == offset {
                before.extend_from_slice(&merged);
                merged = self.ranges.remove(&at).expect("found above");
                start = at;
            }
        }
        if let Some(after) = self.ranges.remove(&end) {
            merged.extend_from_slice(&after);
        }
        self.ranges.insert(start, merged);
    }

    /// The known ranges, as `(offset, len)`.
    fn spans(&self) -> Vec<(u64, u64)> {
        self.ranges
            .iter()
            .map(|(&at, bytes)| (at, bytes.len() as u64))
            .collect()
    }

    /// The first known byte of `offset..offset + actual.len()` that `actual`
    /// does not match: `(position, expected, actual)`.
    fn mismatch(&self, offset: u64, actual: &[u8]) -> Option<(u64, u8, u8)> {
        let end = offset + actual.len() as u64;
        let first = self
            .ranges
            .range(..=offset)
            .next_back()
            .map_or(offset, |(&at, _)| at);
        for (&at, bytes) in self.ranges.range(first..end) {
            let from = at.max(offset);
            let to = (at + bytes.len() as u64).min(end);
            for pos in from..to {
                let (want, got) = (bytes[(pos - at) as usize], actual[(pos - offset) as usize]);
                if want != got {
                    return Some((pos, want, got));
                }
            }
        }
        None
    }
}

/// A live block and what the model knows of it.
pub(crate) struct Live {
    block: MemoryBlock<SimMemory>,
    request: Request,
    memory_id: u64,
    /// Every byte written to the block and not forgotten since.
    shadow: Shadow,
    /// The pointer to the block's start while mapped by a `Map` op.
    mapped: Option<NonNull<u8>>,
}

impl Live {
    fn host_visible(&self) -> bool {
        self.block
            .props()
            .contains(MemoryPropertyFlags::HOST_VISIBLE)
    }

    /// Checks bytes read at `offset` against what was written there.
    fn check(&self, offset: u64, bytes: &[u8]) {
        if let Some((pos, want, got)) = self.shadow.mismatch(offset, bytes) {
            panic!(
                "byte {pos} of block (memory {} offset {} size {}, request {:?}) corrupted: \
                 {got:#04x} read, {want:#04x} written",
                self.memory_id,
                self.block.offset(),
                self.block.size(),
                self.request
            );
        }
    }
}

/// Failures the simulated device injected (see `Stats`), or injected during
/// one call when taken as a difference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Injected {
    pub(crate) allocs: u64,
    pub(crate) maps: u64,
}

impl Injected {
    fn none(self) -> bool {
        self == Injected::default()
    }
}

/// The model: live blocks and the ranges they occupy.
pub(crate) struct Model<'a> {
    harness: Harness,
    layout: &'a Layout,
    mode: Mode,
    allowed: u32,
    live: Vec<Live>,
    /// `(memory id, offset) -> end` of every live block.
    occupied: BTreeMap<(u64, u64), u64>,
    /// Memory objects of `Dedicated::Required` blocks.
    dedicated: BTreeSet<u64>,
    pub(crate) ops: u64,
    /// Budgets given to the allocator in `Mode::Tight`, per heap: the budget,
    /// and the most the heap may hold now (the budget, or what it held when the
    /// budget came below its usage, shrinking as blocks are freed).
    budgets: Vec<Option<(u64, u64)>>,
    /// Per `(memory type, transient?)` pool of shared blocks: bytes of live
    /// blocks now, and the most since the start or the last cleanup.
    pool_bytes: BTreeMap<(u32, bool), (u64, u64)>,
    /// Allocations served and refused.
    pub(crate) served: u64,
    pub(crate) refused: u64,
    /// Allocations refused because of a failure the device injected.
    pub(crate) refused_by_faults: u64,
}

impl Model<'_> {
    /// Failures the device injected so far.
    fn injected(&self) -> Injected {
        let stats = self.harness.device.stats();
        Injected {
            allocs: stats.injected_alloc_failures,
            maps: stats.injected_map_failures,
        }
    }

    /// Failures the device injected since `before` was taken.
    fn injected_since(&self, before: Injected) -> Injected {
        let now = self.injected();
        Injected {
            allocs: now.allocs - before.allocs,
            maps: now.maps - before.maps,
        }
    }

    fn pick(&self, index: &Index) -> Option<usize> {
        (!self.live.is_empty()).then(|| index.index(self.live.len()))
    }

    fn request(&self, op: &AllocOp) -> Request {
        let types = self.layout.memory_types.len();
        let all = if types == 32 {
            u32::MAX
        } else {
            (1u32 << types) - 1
        };
        let memory_types = match op.mask {
            MaskChoice::All => u32::MAX,
            MaskChoice::Single(index) => 1 << index.index(types),
            MaskChoice::Random(bits) => bits & all,
            MaskChoice::Zero => 0,
        };
        Request {
            size: op.size,
            align_mask: (1u64 << op.align_log2) - 1,
            usage: op.usage,
            memory_types,
        }
    }

    /// Whether type `ty`'s heap surely has room for `size` more bytes: at most
    /// half full with the request, twice over, and a largest chunk (an eighth of
    /// the heap) added.
    fn roomy(&self, ty: u32, size: u64) -> bool {
        let heap = self.layout.type_heap(ty);
        let heap_size = self.layout.memory_heaps[heap as usize].size;
        let used = self.harness.device.heap_usage(heap);
        used + 2 * size + heap_size / 8 <= heap_size / 2
    }

    fn alloc(&mut self, op: &AllocOp) {
        let request = self.request(op);
        let eligible = eligible_types(self.layout, &request, self.allowed);
        // With room and without budgets, the best type by the documented ranking
        // (with faults: unless a failure is injected during the call).
        let best = match self.mode {
            Mode::Clean | Mode::Faults => best_type(self.layout, &request, self.allowed)
                .filter(|&ty| self.roomy(ty, request.size)),
            Mode::Tight => None,
        };
        let no_address = request.usage.contains(UsageFlags::DEVICE_ADDRESS)
            && !self.layout.buffer_device_address;
        let before = self.injected();
        let result = if op.legacy {
            self.harness
                .alloc(request, op.dedicated)
                .map_err(Err::<TryAllocError, _>)
        } else {
            self.harness.try_alloc(request, op.dedicated).map_err(Ok)
        };
        let injected = self.injected_since(before);
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
        match result {
            Ok(block) => {
                self.served += 1;
                assert!(
                    !no_address,
                    "DEVICE_ADDRESS served without buffer_device_address"
                );
                let expect_best = best.filter(|_| injected.none());
                self.admit(block, request, op.dedicated, &eligible, expect_best);
            }
            Err(error) => {
                self.refused += 1;
                self.refused_by_faults += u64::from(!injected.none());
                self.check_error(error, &request, &eligible, no_address, injected);
            }
        }
    }

    /// Checks an allocation error; `Ok` holds a `TryAllocError`, `Err` a legacy
    /// `AllocationError`. `injected`: the failures the device injected during
    /// the call, the only ones a fault run accepts, besides running out of room.
    fn check_error(
        &self,
        error: Result<TryAllocError, AllocationError>,
        request: &Request,
        eligible: &[u32],
        no_address: bool,
        injected: Injected,
    ) {
        let legacy = |e: TryAllocError| AllocationError::from(e);
        let expected: Vec<TryAllocError> = if no_address && eligible.is_empty() {
            vec![
                TryAllocError::DeviceAddressNotEnabled,
                TryAllocError::NoCompatibleMemoryTypes,
            ]
        } else if no_address {
            vec![TryAllocError::DeviceAddressNotEnabled]
        } else if eligible.is_empty() {
            vec![TryAllocError::NoCompatibleMemoryTypes]
        } else if let Some(too_large) = self.too_large(request, eligible) {
            vec![too_large]
        } else {
            match self.mode {
                // An injected `allocate_memory` failure may end as
                // `OutOfDeviceMemory` (when no other type or smaller memory object
                // serves), an injected `map_memory` failure as `MapFailed`; so may
                // a large request that fills a heap, as in clean runs. Nothing
                // else: the simulated device fails nothing on its own here.
                Mode::Faults => {
                    let mut expected = Vec::new();
                    if injected.allocs > 0
                        || !eligible.iter().any(|&ty| self.roomy(ty, request.size))
                    {
                        expected.push(TryAllocError::OutOfDeviceMemory);
                    }
                    if injected.maps > 0 {
                        expected.push(TryAllocError::MapFailed);
                    }
                    expected
                }
                // Out of room is fine, unless the allocator holds no block: then
                // it must make room by freeing its empty memory objects.
                Mode::Tight
                    if !self.live.is_empty() || self.budgets.iter().any(Option::is_some) =>
                {
                    vec![
                        TryAllocError::OutOfDeviceMemory,
                        TryAllocError::TooManyObjects,
                    ]
                }
                // Large requests may fill a small heap (224 MiB on some NVIDIA
                // layouts) even without faults.
                Mode::Clean if !eligible.iter().any(|&ty| self.roomy(ty, request.size)) => {
                    vec![TryAllocError::OutOfDeviceMemory]
                }
                _ => vec![],
            }
        };
        let ok = match error {
            Ok(e) => expected.contains(&e),
            Err(e) => expected.iter().any(|&t| legacy(t) == e),
        };
        assert!(
            ok,
            "request {request:?} failed with {error:?}; expected one of {expected:?} \
             (eligible types {eligible:?}; failures injected during the call: {injected:?})"
        );
    }

    /// The `TooLarge` error a request must get when it is larger than any eligible
    /// type can ever hold (its heap size or `max_memory_allocation_size`, after
    /// rounding to whole atoms in non-coherent memory).
    fn too_large(&self, request: &Request, eligible: &[u32]) -> Option<TryAllocError> {
        let layout = self.layout;
        let (mut size, mut max, mut fits) = (0u64, 0u64, false);
        for &ty in eligible {
            let flags = layout.type_flags(ty);
            let non_coherent = flags & 0x2 != 0 && flags & 0x4 == 0;
            let rounded = if non_coherent {
                let mask = layout.non_coherent_atom_size - 1;
                request
                    .size
                    .checked_add(mask)
                    .map_or(u64::MAX, |s| s & !mask)
            } else {
                request.size
            };
            let heap = layout.memory_heaps[layout.type_heap(ty) as usize].size;
            let max_object = heap.min(layout.max_memory_allocation_size);
            size = size.max(rounded);
            max = max.max(max_object);
            fits |= rounded <= max_object;
        }
        (!fits).then_some(TryAllocError::TooLarge { size, max })
    }

    /// Checks a new block and adds it to the model.
    fn admit(
        &mut self,
        block: MemoryBlock<SimMemory>,
        request: Request,
        dedicated: Option<Dedicated>,
        eligible: &[u32],
        expect_best: Option<u32>,
    ) {
        let ty = block.memory_type();
        let layout = self.layout;
        assert!(
            eligible.contains(&ty),
            "request {request:?} served from type {ty} (flags {:#x}); eligible: {eligible:?}",
            layout.type_flags(ty)
        );
        assert!(
            self.too_large(&request, eligible).is_none(),
            "request {request:?} served although larger than any eligible heap allows"
        );
        if let Some(best) = expect_best {
            assert_eq!(
                ty, best,
                "request {request:?} served from type {ty}, the documented ranking picks {best}"
            );
        }
        assert_eq!(
            block.props().bits(),
            (layout.type_flags(ty) & 0xFF) as u8,
            "props of the block are not those of its type {ty}"
        );
        if wants_host(request.usage) {
            assert!(block.props().contains(MemoryPropertyFlags::HOST_VISIBLE));
        }
        let memory = block.memory();
        let object = self
            .harness
            .device
            .object(memory.id())
            .expect("the block's memory object is alive on the device");
        assert_eq!(object.memory_type, ty, "memory object of another type");
        if request.usage.contains(UsageFlags::DEVICE_ADDRESS) {
            assert!(
                object
                    .flags
                    .contains(gpu_alloc::AllocationFlags::DEVICE_ADDRESS),
                "DEVICE_ADDRESS block in an object allocated without the flag"
            );
        }
        let (offset, size) = (block.offset(), block.size());
        assert!(
            size >= request.size,
            "block of {size} bytes for {request:?}"
        );
        assert_eq!(
            offset & request.align_mask,
            0,
            "offset {offset} for {request:?}"
        );
        let end = offset.checked_add(size).expect("block end overflows");
        assert!(
            end <= object.size,
            "block {offset}+{size} outside its memory object of {} bytes",
            object.size
        );
        let props = block.props();
        if props.contains(MemoryPropertyFlags::HOST_VISIBLE)
            && !props.contains(MemoryPropertyFlags::HOST_COHERENT)
        {
            let atom = layout.non_coherent_atom_size;
            assert_eq!(offset % atom, 0, "non-coherent block offset {offset}");
            assert!(
                size % atom == 0 || end == object.size,
                "non-coherent block {offset}+{size} neither atom-sized nor at the object's end"
            );
        }
        let id = memory.id();
        if let Some((&(prev_id, prev_offset), &prev_end)) =
            self.occupied.range(..(id, offset + 1)).next_back()
        {
            assert!(
                prev_id != id || prev_end <= offset,
                "block {offset}+{size} overlaps block {prev_offset}..{prev_end} of memory {id}"
            );
        }
        if let Some((&(next_id, next_offset), _)) = self.occupied.range((id, offset)..).next() {
            assert!(
                next_id != id || next_offset >= end,
                "block {offset}+{size} overlaps the block at {next_offset} of memory {id}"
            );
        }
        let shared = self
            .occupied
            .range((id, 0)..=(id, u64::MAX))
            .next()
            .is_some();
        assert!(
            !self.dedicated.contains(&id),
            "block placed in the memory object of a Dedicated::Required block"
        );
        if dedicated == Some(Dedicated::Required) {
            assert!(
                !shared,
                "Dedicated::Required block shares its memory object"
            );
            self.dedicated.insert(id);
        }
        self.occupied.insert((id, offset), end);
        if !block.is_dedicated() {
            let key = (
                block.memory_type(),
                request.usage.contains(UsageFlags::TRANSIENT),
            );
            let (used, high) = self.pool_bytes.entry(key).or_default();
            *used += block.size();
            *high = (*high).max(*used);
        }
        self.live.push(Live {
            block,
            request,
            memory_id: id,
            shadow: Shadow::default(),
            mapped: None,
        });
    }

    /// Reads `len` bytes at `offset` of block `i`: through its pointer (after an
    /// invalidate) when mapped, else with `read_bytes`.
    fn read_block(&mut self, i: usize, offset: u64, len: u64) -> Result<Vec<u8>, MapError> {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        let mut bytes = vec![0u8; len as usize];
        match live.mapped {
            Some(ptr) => {
                harness.invalidate(&mut live.block, offset, len)?;
                // SAFETY: the block is mapped from its start over its whole size and
                // `offset + len` lies inside it; the device does not write now.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        ptr.as_ptr().add(offset as usize),
                        bytes.as_mut_ptr(),
                        bytes.len(),
                    )
                };
            }
            None => harness.read(&mut live.block, offset, &mut bytes)?,
        }
        Ok(bytes)
    }

    /// Writes `bytes` at `offset` of block `i`: through its pointer (then a flush)
    /// when mapped, else with `write_bytes`.
    fn write_block(&mut self, i: usize, offset: u64, bytes: &[u8]) -> Result<(), MapError> {
        let Model { harness, live, .. } = self;
        let live = &mut live[i];
        match live.mapped {
            Some(ptr) => {
                // SAFETY: as in `read_block`; the device does not read now.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        bytes.as_ptr(),
                        ptr.as_ptr().add(offset as usize),
                        bytes.len(),
                    )
                };
                harness.flush(&mut live.block, offset, bytes.len() as u64)
            }
            None => harness.write(&mut live.block, offset, bytes),
        }
    }

    /// Reads back every byte written to block `i` and compares it with the
    /// model. A map failure, which only an injected one may cause, is retried
    /// with faults off.
    fn verify(&mut self, i: usize) {
        for (offset, len) in self.live[i].shadow.spans() {
            let before = self.injected();
            let bytes = match self.read_block(i, offset, len) {
                Ok(bytes) => bytes,
                Err(error) => {
                    let injected = self.injected_since(before);
                    assert!(
                        error == MapError::MapFailed && injected.maps > 0,
                        "reading {offset}+{len}: {error:?} (failures injected: {injected:?})"
                    );
                    let device = &self.harness.device;
                    device.set_fault_rates(0.0, 0.0);
                    device.fail_next_maps(0);
                    let bytes = self
                        .read_block(i, offset, len)
                        .unwrap_or_else(|e| panic!("reading {offset}+{len} without faults: {e:?}"));
                    self.harness
                        .device
                        .set_fault_rates(ALLOC_FAULT_RATE, MAP_FAULT_RATE);
                    bytes
                }
            };
            self.live[i].check(offset, &bytes);
        }
    }

    /// A range of block `i` chosen by `at` and `len`, clipped to the block.
    fn range(&self, i: usize, at: &Index, len: u16) -> (u64, u64) {
        let size = self.live[i].block.size();
        let offset = at.index(size as usize) as u64;
        (offset, u64::from(len).min(size - offset))
    }

    /// Runs one operation, then the checks every step gets, whatever the
    /// operation did (or did not do, for want of a block).
    fn step(&mut self, op: &Op) {
        self.apply(op);
        self.ops += 1;
        self.harness.check_accounting();
        self.check_retention();
        for (heap, budget) in self.budgets.iter_mut().enumerate() {
            if let Some((limit, ceiling)) = budget {
                let used = self.harness.device.heap_usage(heap as u32);
                assert!(
                    used <= *ceiling,
                    "heap {heap} grew to {used} bytes, over its budget of {limit} (and over \
                     {ceiling}, what it held)"
                );
                *ceiling = used.max(*limit);
            }
        }
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Alloc(op) => self.alloc(op),
            Op::Free(index) => {
                let Some(i) = self.pick(index) else { return };
                self.verify(i);
                let live = self.live.swap_remove(i);
                if !live.block.is_dedicated() {
                    let transient = live.request.usage.contains(UsageFlags::TRANSIENT);
                    let key = (live.block.memory_type(), transient);
                    self.pool_bytes
                        .get_mut(&key)
                        .expect("counted when placed")
                        .0 -= live.block.size();
                }
                self.occupied.remove(&(live.memory_id, live.block.offset()));
                self.dedicated.remove(&live.memory_id);
                self.harness.dealloc(live.block);
            }
            Op::Write {
                block,
                at,
                len,
                byte,
            } => {
                let Some(i) = self.pick(block) else { return };
                let (offset, len) = self.range(i, at, *len);
                let bytes: Vec<u8> = (offset..offset + len).map(|p| pattern(*byte, p)).collect();
                let before = self.injected();
                let result = self.write_block(i, offset, &bytes);
                let injected = self.injected_since(before);
                let live = &mut self.live[i];
                match result {
                    Ok(()) => {
                        assert!(
                            live.host_visible(),
                            "wrote to a block that is not host-visible"
                        );
                        assert_eq!(injected.maps, 0, "a write succeeded without its map");
                        live.shadow.record(offset, &bytes);
                    }
                    Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                    Err(MapError::MapFailed) if injected.maps > 0 && live.mapped.is_none() => {
                        // A failed map writes nothing; the data must be as before.
                        assert!(!live.block.is_mapped());
                    }
                    Err(error) => panic!("write {offset}+{len}: {error:?} ({injected:?} injected)"),
                }
            }
            Op::Read { block, which } => {
                let Some(i) = self.pick(block) else { return };
                let spans = self.live[i].shadow.spans();
                if spans.is_empty() {
                    // Nothing known to compare: the read must still work, or
                    // fail for the documented reasons.
                    let mut byte = [0u8; 1];
                    let before = self.injected();
                    let result = self.harness.read(&mut self.live[i].block, 0, &mut byte);
                    let injected = self.injected_since(before);
                    let live = &self.live[i];
                    match result {
                        Ok(()) => assert!(live.host_visible() && live.mapped.is_none()),
                        Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                        Err(MapError::AlreadyMapped) => assert!(live.mapped.is_some()),
                        Err(MapError::MapFailed) if injected.maps > 0 => {}
                        Err(error) => panic!("read of byte 0: {error:?} ({injected:?} injected)"),
                    }
                    return;
                }
                let (offset, len) = spans[which.index(spans.len())];
                let before = self.injected();
                let result = self.read_block(i, offset, len);
                let injected = self.injected_since(before);
                match result {
                    Ok(bytes) => self.live[i].check(offset, &bytes),
                    Err(MapError::MapFailed) if injected.maps > 0 => {}
                    Err(error) => panic!("read {offset}+{len}: {error:?} ({injected:?} injected)"),
                }
            }
            Op::Map(index) => {
                let Some(i) = self.pick(index) else { return };
                let before = self.injected();
                let Model { harness, live, .. } = self;
                let live = &mut live[i];
                let size = live.block.size() as usize;
                let result = harness.map(&mut live.block, 0, size);
                let stats = harness.device.stats();
                let injected_maps = stats.injected_map_failures - before.maps;
                match result {
                    Ok(ptr) => {
                        assert!(live.mapped.is_none(), "a mapped block mapped again");
                        assert!(live.host_visible());
                        assert_eq!(injected_maps, 0, "a map succeeded although it failed");
                        live.mapped = Some(ptr);
                    }
                    Err(MapError::AlreadyMapped) => assert!(live.mapped.is_some()),
                    Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                    Err(MapError::MapFailed) if injected_maps > 0 => {}
                    Err(error) => panic!("map: {error:?} ({injected_maps} map failures injected)"),
                }
            }
            Op::Unmap(index) => {
                let Some(i) = self.pick(index) else { return };
                let Model { harness, live, .. } = self;
                let live = &mut live[i];
                let was = harness.unmap(&mut live.block);
                assert_eq!(was, live.mapped.is_some(), "unmap's answer");
                live.mapped = None;
                if let Some(object) = harness.device.object(live.memory_id) {
                    if live.block.is_dedicated() {
                        assert_eq!(object.mapped, None, "dedicated object still mapped");
                    }
                }
            }
            Op::DeviceWrite {
                block,
                at,
                len,
                byte,
            } => {
                let Some(i) = self.pick(block) else { return };
                if !self.live[i].host_visible() {
                    return;
                }
                let (offset, len) = self.range(i, at, *len);
                let bytes: Vec<u8> = (offset..offset + len).map(|p| pattern(*byte, p)).collect();
                let live = &self.live[i];
                self.harness.device.device_write(
                    live.block.memory(),
                    live.block.offset() + offset,
                    &bytes,
                );
                let before = self.injected();
                let result = self.read_block(i, offset, len);
                let injected = self.injected_since(before);
                match result {
                    Ok(read) => {
                        assert_eq!(read, bytes, "device write not visible after invalidate");
                        self.live[i].shadow.record(offset, &bytes);
                    }
                    // The host view of the range is stale now: forget it.
                    Err(MapError::MapFailed) if injected.maps > 0 => {
                        self.live[i].shadow.forget(offset, offset + len)
                    }
                    Err(error) => {
                        panic!("read after device write: {error:?} ({injected:?} injected)")
                    }
                }
            }
            Op::Cleanup => {
                self.harness.cleanup();
                for (used, high) in self.pool_bytes.values_mut() {
                    *high = *used;
                }
                let holding: BTreeSet<u64> = self.live.iter().map(|l| l.memory_id).collect();
                for object in self.harness.device.live_objects() {
                    assert!(
                        holding.contains(&object.id),
                        "cleanup left memory object {object:?}, which holds no block"
                    );
                }
            }
            Op::FailNext { allocs, maps } => {
                self.harness.device.fail_next_allocs(u32::from(*allocs));
                self.harness.device.fail_next_maps(u32::from(*maps));
            }
            Op::Budget {
                heap,
                slack_kib,
                below,
            } => {
                let heaps = self.layout.memory_heaps.len();
                let heap = heap.index(heaps);
                let used = self.harness.device.heap_usage(heap as u32);
                let slack = u64::from(*slack_kib) << 10;
                let limit = if *below {
                    used.saturating_sub(slack)
                } else {
                    used + slack
                };
                self.budgets[heap] = Some((limit, limit.max(used)));
                let readings = (0..heaps)
                    .map(|h| gpu_alloc::HeapBudget {
                        budget: self.budgets[h].map_or(self.layout.memory_heaps[h].size, |b| b.0),
                        usage: 0,
                    })
                    .collect();
                self.harness.device.set_budgets(Some(readings));
                assert!(self.harness.update_budget(), "the device reports budgets");
            }
        }
    }

    /// The documented retention: an emptied memory object stays only while the
    /// rest of its pool holds less than the pool's high-water mark (the most bytes
    /// in use at once since the last cleanup), so a pool keeps at most its
    /// high-water mark plus one object in empty objects. Programs use the 0.6
    /// methods only (one resource class) and two strategies, and a dedicated
    /// object is freed with its block: per memory type, the empty bytes stay
    /// under the two pools' high-water marks plus two of the largest empty objects.
    fn check_retention(&self) {
        let holding: BTreeSet<u64> = self.live.iter().map(|l| l.memory_id).collect();
        let types = self.layout.memory_types.len();
        let mut empty_bytes = vec![0u64; types];
        let mut largest = vec![0u64; types];
        for object in self.harness.device.live_objects() {
            if !holding.contains(&object.id) {
                let ty = object.memory_type as usize;
                empty_bytes[ty] += object.size;
                largest[ty] = largest[ty].max(object.size);
            }
        }
        for ty in 0..types {
            let high = |transient| {
                self.pool_bytes
                    .get(&(ty as u32, transient))
                    .map_or(0, |p| p.1)
            };
            let bound = high(false) + high(true) + 2 * largest[ty];
            assert!(
                empty_bytes[ty] <= bound,
                "memory type {ty} keeps {} bytes in empty memory objects, over the \
                 retention bound of {bound} (high-water marks {} and {})",
                empty_bytes[ty],
                high(false),
                high(true)
            );
        }
    }

    /// Verifies and frees every block, cleans up, and checks that nothing is left.
    fn finish(mut self) -> Counts {
        self.harness.device.set_faults(Faults::none());
        for i in 0..self.live.len() {
            self.verify(i);
        }
        for live in std::mem::take(&mut self.live) {
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
            assert_eq!(self.harness.allocator.heap_usage(heap), 0);
        }
        let stats = self.harness.device.stats();
        Counts {
            ops: self.ops,
            served: self.served,
            refused: self.refused,
            refused_by_faults: self.refused_by_faults,
            peak_objects: stats.peak_live_objects,
            injected: Injected {
                allocs: stats.injected_alloc_failures,
                maps: stats.injected_map_failures,
            },
            by_rate: Injected {
                allocs: stats.rate_alloc_failures,
                maps: stats.rate_map_failures,
            },
        }
    }
}

/// What a program did.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub(crate) ops: u64,
    pub(crate) served: u64,
    pub(crate) refused: u64,
    /// Requests refused because of a failure injected during the call.
    pub(crate) refused_by_faults: u64,
    pub(crate) peak_objects: u64,
    /// Failures the device injected.
    pub(crate) injected: Injected,
    /// Of `injected`, those drawn by the fault rates (the others were forced
    /// by the fail-next counters).
    pub(crate) by_rate: Injected,
}

/// Failure rates of `allocate_memory` and `map_memory` in fault runs. A program
/// makes fewer map calls than allocations (a map per new host-visible memory
/// object, and per access to a dedicated block), hence the higher map rate: most
/// programs then meet a map failure drawn by the rate too.
pub(crate) const ALLOC_FAULT_RATE: f64 = 0.15;
pub(crate) const MAP_FAULT_RATE: f64 = 0.25;

/// Runs one program; returns the number of operations run.
pub(crate) fn run_program(
    layout: &Layout,
    preset: Preset,
    mode: Mode,
    program: &Program,
) -> Counts {
    let mut layout = layout.clone();
    layout.buffer_device_address = program.buffer_device_address;
    if mode == Mode::Tight {
        layout.max_memory_allocation_count = program.tight_count;
        for heap in &mut layout.memory_heaps {
            heap.size = heap.size.min(program.tight_heap_mib << 20);
            heap.budget = heap.budget.min(heap.size);
            heap.usage = 0;
        }
    }
    let mut device = SimDevice::new(layout.clone());
    if mode == Mode::Faults {
        // Random failures, and a forced one of the first `allocate_memory` and
        // the first `map_memory`, so that every program that reaches the device
        // meets an injected failure of each.
        let mut faults = Faults::with_rates(program.seed, ALLOC_FAULT_RATE, MAP_FAULT_RATE);
        faults.fail_next_allocs = 1;
        faults.fail_next_maps = 1;
        device = device.with_faults(faults);
    }
    let mut harness = Harness::with_device(device, preset.config());
    let allowed = if program.allow_amd { AMD_BITS } else { 0 };
    harness.allocator.allow_memory_properties(allowed);
    let mut model = Model {
        harness,
        layout: &layout,
        mode,
        allowed,
        live: Vec::new(),
        occupied: BTreeMap::new(),
        dedicated: BTreeSet::new(),
        budgets: vec![None; layout.memory_heaps.len()],
        ops: 0,
        pool_bytes: BTreeMap::new(),
        served: 0,
        refused: 0,
        refused_by_faults: 0,
    };
    for op in &program.ops {
        model.step(op);
    }
    model.finish()
}
