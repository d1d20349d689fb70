//! Fuzz driver: decodes an operation program from arbitrary bytes and runs it
//! against `GpuAllocator` on a simulated device (`gpu_alloc_tests::sim`),
//! checking after every step what the property tests check.
//!
//! Input format (every read past the end yields zero bytes, so any input is a
//! valid program):
//!
//! - byte 0: layout index (modulo `Layout::all().len()`);
//! - byte 1: flags: bit 0 `i_am_potato` (else `i_am_prototyping`), bit 1
//!   `buffer_device_address`, bit 2 allow the AMD exotic property bits, bit 3
//!   tight heaps and object limit, bit 4 fault operations enabled;
//! - bytes 2..4 (tight only): object limit `1 + b % 16`, heap MiB `1 + b % 64`;
//! - then operations, one opcode byte each followed by its operands (`step`).
//!
//! Checked after every step: `check_invariants`, allocator heap usage and
//! remaining object count against the device, no `MemoryDevice` rule broken (the
//! simulated device panics). For every new block: type in the mask and eligible
//! for the usage, properties of its type, aligned, inside a live object of its
//! type, no overlap with a live block, atom-aligned in non-coherent memory,
//! `Dedicated::Required` alone in its object, linear and optimal resources never
//! on one `bufferImageGranularity` page. Errors: exactly the documented error for
//! zero size, bad masks, `DEVICE_ADDRESS` without the feature, no eligible type,
//! too large; without faults, budgets or tight heaps, small requests on an empty
//! allocator succeed. Written data reads back on every read, free and at the end.
//! At the end: everything freed, `cleanup`, zero memory objects on the device.

#![deny(unsafe_op_in_unsafe_fn)]

use {
    gpu_alloc::{
        AllocOptions, AllocationError, Dedicated, HeapBudget, MapError, MemoryBlock,
        MemoryPropertyFlags, Request, ResourceKind, TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{best_type, eligible_types, wants_host, Harness, Preset},
        sim::{Faults, Layout, SimDevice, SimMemory},
    },
    std::{
        collections::{BTreeMap, BTreeSet},
        ptr::NonNull,
        sync::OnceLock,
    },
};

/// Exotic property bits a program may allow (AMD device-coherent and uncached).
const AMD_BITS: u32 = 0xC0;
/// At most this many live blocks (bounds the cost of one input).
const MAX_LIVE: usize = 64;
/// Blocks in larger memory objects are never mapped, written or read.
const MAX_TOUCHED_OBJECT: u64 = 64 << 20;
/// At most this many operations per input.
const MAX_OPS: usize = 400;

fn layouts() -> &'static [Layout] {
    static LAYOUTS: OnceLock<Vec<Layout>> = OnceLock::new();
    LAYOUTS.get_or_init(Layout::all)
}

/// Reads the input front to back; zero once exhausted.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
}

/// The byte a write with `byte` puts at block offset `pos`.
fn pattern(byte: u8, pos: u64) -> u8 {
    byte ^ (pos as u8).wrapping_mul(31) ^ (pos >> 8) as u8
}

/// Bytes per page of the model's sparse copy of a block.
const PAGE: u64 = 4096;

/// One page of what the model knows of a block's bytes.
struct Page {
    data: Box<[u8; PAGE as usize]>,
    known: Box<[bool; PAGE as usize]>,
}

/// A live block and what the model knows of it.
struct Live {
    block: MemoryBlock<SimMemory>,
    request: Request,
    kind: ResourceKind,
    memory_id: u64,
    /// Expected bytes, by page index, where `known` (sparse: blocks can be large).
    pages: BTreeMap<u64, Page>,
    /// Pointer to the block's start while mapped by a `Map` op.
    mapped: Option<NonNull<u8>>,
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
    fn record(&mut self, offset: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let pos = offset + i as u64;
            let page = self.pages.entry(pos / PAGE).or_insert_with(|| Page {
                data: Box::new([0; PAGE as usize]),
                known: Box::new([false; PAGE as usize]),
            });
            page.data[(pos % PAGE) as usize] = b;
            page.known[(pos % PAGE) as usize] = true;
        }
    }
    fn forget(&mut self, offset: u64, len: u64) {
        for pos in offset..offset + len {
            if let Some(page) = self.pages.get_mut(&(pos / PAGE)) {
                page.known[(pos % PAGE) as usize] = false;
            }
        }
    }
    fn check(&self, offset: u64, bytes: &[u8]) {
        for (i, &actual) in bytes.iter().enumerate() {
            let pos = offset + i as u64;
            let Some(page) = self.pages.get(&(pos / PAGE)) else {
                continue;
            };
            let at = (pos % PAGE) as usize;
            if page.known[at] {
                assert_eq!(
                    actual,
                    page.data[at],
                    "byte {pos} of block (memory {} offset {} size {}, request {:?}) corrupted",
                    self.memory_id,
                    self.block.offset(),
                    self.block.size(),
                    self.request
                );
            }
        }
    }
    /// The ranges `(offset, len)` of the pages written so far, clipped to the block.
    fn written(&self) -> Vec<(u64, u64)> {
        let size = self.block.size();
        self.pages
            .keys()
            .map(|&p| (p * PAGE, PAGE.min(size - p * PAGE)))
            .collect()
    }
    /// One written range chosen by `b`, if any.
    fn written_one(&self, b: u8) -> Option<(u64, u64)> {
        let w = self.written();
        (!w.is_empty()).then(|| w[usize::from(b) % w.len()])
    }
}

struct Model {
    harness: Harness,
    /// A second allocator and device: the source of foreign blocks.
    other: Harness,
    layout: Layout,
    faults: bool,
    tight: bool,
    allowed: u32,
    budgets_set: bool,
    /// Failure rates of `allocate_memory` and `map_memory` (fault programs).
    rates: (f64, f64),
    live: Vec<Live>,
    /// `(memory id, offset) -> (end, kind)` of every live block.
    occupied: BTreeMap<(u64, u64), (u64, ResourceKind)>,
    /// Memory objects of `Dedicated::Required` blocks.
    dedicated: BTreeSet<u64>,
    ops: u64,
}

fn kind(b: u8) -> ResourceKind {
    match b % 3 {
        0 => ResourceKind::Unknown,
        1 => ResourceKind::Linear,
        _ => ResourceKind::Optimal,
    }
}

impl Model {
    fn pick(&self, b: u8) -> Option<usize> {
        (!self.live.is_empty()).then(|| usize::from(b) % self.live.len())
    }

    /// Block `i` chosen by `b` if its memory object is small enough for the
    /// simulated device to back with host memory when mapped (it allocates the
    /// bytes of a whole object on first map, and a copy for non-coherent types).
    fn pick_touchable(&self, b: u8) -> Option<usize> {
        let i = self.pick(b)?;
        let size = self.harness.device.object(self.live[i].memory_id)?.size;
        (size <= MAX_TOUCHED_OBJECT).then_some(i)
    }

    fn decode_request(&self, input: &mut Input<'_>) -> Request {
        let size = match input.u8() % 16 {
            0..=6 => 1 + u64::from(input.u16()) % 4096,
            7..=9 => 1 + u64::from(input.u32()) % (1 << 20),
            10 => 1 + u64::from(input.u32()) % (64 << 20),
            11 => 0,
            12 => u64::MAX - u64::from(input.u8()),
            13 => {
                let heap = usize::from(input.u8()) % self.layout.memory_heaps.len();
                self.layout.memory_heaps[heap].size - 1 + u64::from(input.u8() % 3)
            }
            14 => self.layout.max_memory_allocation_size - 1 + u64::from(input.u8() % 3),
            _ => input.u64(),
        };
        let align_mask = match input.u8() % 16 {
            0..=11 => (1u64 << (input.u8() % 17)) - 1,
            12 => (1u64 << (input.u8() % 64)) - 1,
            13 => u64::MAX,
            14 => input.u64(),
            _ => 3u64 << (input.u8() % 60),
        };
        let usage = UsageFlags::from_bits_retain(input.u8());
        let types = self.layout.memory_types.len() as u32;
        let all = if types == 32 {
            u32::MAX
        } else {
            (1u32 << types) - 1
        };
        let memory_types = match input.u8() % 8 {
            0..=3 => u32::MAX,
            4 => all,
            5 => 1 << (u32::from(input.u8()) % types),
            6 => input.u32(),
            _ => 0,
        };
        Request {
            size,
            align_mask,
            usage,
            memory_types,
        }
    }

    fn alloc(&mut self, input: &mut Input<'_>) {
        let request = self.decode_request(input);
        let options_byte = input.u8();
        let dedicated = match options_byte % 4 {
            0 | 1 => None,
            2 => Some(Dedicated::Preferred),
            _ => Some(Dedicated::Required),
        };
        let resource = kind(options_byte >> 2);
        let api = (options_byte >> 4) % 4;
        if self.live.len() >= MAX_LIVE {
            return;
        }
        let mut options = AllocOptions::new().resource(resource);
        if let Some(d) = dedicated {
            options = options.dedicated(d);
        }
        let h = &mut self.harness;
        // The legacy and 0.6 entry points know no resource kind: Unknown.
        let (result, kind) = match api {
            0 => (
                h.alloc(request, dedicated).map_err(Err::<TryAllocError, _>),
                ResourceKind::Unknown,
            ),
            1 => (
                h.try_alloc(request, dedicated).map_err(Ok),
                ResourceKind::Unknown,
            ),
            _ => {
                // SAFETY: the harness's device made this allocator and is passed to
                // every call of the allocator and its blocks.
                let r = unsafe {
                    h.allocator
                        .try_alloc_with_options(&h.device, request, options)
                };
                h.allocator.check_invariants();
                (r.map_err(Ok), resource)
            }
        };
        let eligible = eligible_types(&self.layout, &request, self.allowed);
        let valid_mask = request.align_mask.wrapping_add(1) & request.align_mask == 0;
        let no_address = request.usage.contains(UsageFlags::DEVICE_ADDRESS)
            && !self.layout.buffer_device_address;
        match result {
            Ok(block) => {
                assert!(request.size != 0, "zero-size request served");
                assert!(
                    valid_mask,
                    "bad align_mask {:#x} served",
                    request.align_mask
                );
                assert!(!no_address, "DEVICE_ADDRESS served without the feature");
                self.admit(block, request, dedicated, kind, &eligible);
            }
            Err(error) => {
                let expected: Vec<TryAllocError> = if request.size == 0 {
                    vec![TryAllocError::ZeroSize]
                } else if !valid_mask {
                    vec![TryAllocError::InvalidAlignMask {
                        align_mask: request.align_mask,
                    }]
                } else if no_address {
                    vec![TryAllocError::DeviceAddressNotEnabled]
                } else if eligible.is_empty() {
                    vec![TryAllocError::NoCompatibleMemoryTypes]
                } else if let Some(too_large) = self.too_large(&request, &eligible) {
                    vec![too_large]
                } else {
                    let must_succeed = !self.faults
                        && !self.tight
                        && !self.budgets_set
                        && self.live.is_empty()
                        && request.size <= 2 << 20
                        && request.align_mask < 1 << 16;
                    if must_succeed {
                        vec![]
                    } else {
                        // Out of host memory: the simulated device cannot back a
                        // huge object with host memory.
                        let mut v = vec![
                            TryAllocError::OutOfDeviceMemory,
                            TryAllocError::TooManyObjects,
                            TryAllocError::OutOfHostMemory,
                        ];
                        if self.faults {
                            v.push(TryAllocError::MapFailed);
                        }
                        v
                    }
                };
                let ok = match error {
                    Ok(e) => expected.contains(&e),
                    Err(e) => expected.iter().any(|&t| AllocationError::from(t) == e),
                };
                assert!(
                    ok,
                    "request {request:?} ({dedicated:?}, {kind:?}) failed with {error:?}; \
                     expected one of {expected:?} (eligible types {eligible:?}, {} live)",
                    self.live.len()
                );
            }
        }
    }

    /// The `TooLarge` error for a request larger than any eligible type can hold.
    fn too_large(&self, request: &Request, eligible: &[u32]) -> Option<TryAllocError> {
        let layout = &self.layout;
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

    fn admit(
        &mut self,
        block: MemoryBlock<SimMemory>,
        request: Request,
        dedicated: Option<Dedicated>,
        kind: ResourceKind,
        eligible: &[u32],
    ) {
        let ty = block.memory_type();
        let layout = &self.layout;
        assert!(
            eligible.contains(&ty),
            "request {request:?} served from type {ty} (flags {:#x}); eligible: {eligible:?}",
            layout.type_flags(ty)
        );
        assert!(
            self.too_large(&request, eligible).is_none(),
            "request {request:?} served although larger than any eligible heap allows"
        );
        if !self.faults
            && !self.tight
            && !self.budgets_set
            && self.live.is_empty()
            && request.size <= 2 << 20
        {
            let best = best_type(layout, &request, self.allowed);
            assert_eq!(
                Some(ty),
                best,
                "request {request:?} on an empty allocator served from type {ty}, the \
                 documented ranking picks {best:?}"
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
        let id = block.memory().id();
        let object = self
            .harness
            .device
            .object(id)
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
        let granularity = layout.buffer_image_granularity.max(1);
        let mut shared = false;
        for (&(_, o), &(e, k)) in self.occupied.range((id, 0)..=(id, u64::MAX)) {
            shared = true;
            assert!(
                e <= offset || o >= end,
                "block {offset}..{end} ({kind:?}) overlaps block {o}..{e} ({k:?}) of memory {id}"
            );
            let may_share = k == kind && k != ResourceKind::Unknown;
            if !may_share {
                let (a0, a1) = (offset / granularity, (end - 1) / granularity);
                let (b0, b1) = (o / granularity, (e - 1) / granularity);
                assert!(
                    a1 < b0 || b1 < a0,
                    "{kind:?} at {offset}..{end} and {k:?} at {o}..{e} share a {granularity}-byte \
                     page of memory {id}"
                );
            }
        }
        assert!(
            !self.dedicated.contains(&id),
            "block placed in the memory object of a Dedicated::Required block"
        );
        if dedicated == Some(Dedicated::Required) {
            assert!(
                !shared,
                "Dedicated::Required block shares its memory object"
            );
            assert!(
                block.is_dedicated(),
                "Dedicated::Required block not dedicated"
            );
            self.dedicated.insert(id);
        }
        self.occupied.insert((id, offset), (end, kind));
        self.live.push(Live {
            block,
            request,
            kind,
            memory_id: id,
            pages: BTreeMap::new(),
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

    /// Reads back the written span of block `i` and compares it with the model;
    /// with faults a failed map is retried with faults off.
    fn verify(&mut self, i: usize) {
        for (offset, len) in self.live[i].written() {
            let bytes = match self.read_block(i, offset, len) {
                Ok(bytes) => bytes,
                Err(error) => {
                    assert!(self.faults, "reading {offset}+{len}: {error:?}");
                    self.harness.device.set_fault_rates(0.0, 0.0);
                    self.harness.device.fail_next_maps(0);
                    let bytes = self
                        .read_block(i, offset, len)
                        .unwrap_or_else(|e| panic!("reading {offset}+{len} without faults: {e:?}"));
                    let (a, m) = self.rates;
                    self.harness.device.set_fault_rates(a, m);
                    bytes
                }
            };
            self.live[i].check(offset, &bytes);
        }
    }

    /// A range of block `i` from two operand bytes, clipped to the block.
    fn range(&self, i: usize, at: u16, len: u16) -> (u64, u64) {
        let size = self.live[i].block.size();
        let offset = u64::from(at) % size;
        (offset, u64::from(len).min(size - offset))
    }

    fn free(&mut self, i: usize) {
        self.verify(i);
        let live = self.live.swap_remove(i);
        self.occupied.remove(&(live.memory_id, live.block.offset()));
        self.dedicated.remove(&live.memory_id);
        self.harness.dealloc(live.block);
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.u8();
        match op % 16 {
            0..=3 => self.alloc(input),
            4 | 5 => {
                let b = input.u8();
                if let Some(i) = self.pick(b) {
                    self.free(i);
                }
            }
            6 | 7 => {
                let (b, at, len, byte) = (input.u8(), input.u16(), input.u16(), input.u8());
                let Some(i) = self.pick_touchable(b) else {
                    return;
                };
                let (offset, len) = self.range(i, at, len % 8192);
                let bytes: Vec<u8> = (offset..offset + len).map(|p| pattern(byte, p)).collect();
                let result = self.write_block(i, offset, &bytes);
                let live = &mut self.live[i];
                match result {
                    Ok(()) => {
                        assert!(live.host_visible(), "wrote to a non-host-visible block");
                        live.record(offset, &bytes);
                    }
                    Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                    Err(MapError::MapFailed) if self.faults && live.mapped.is_none() => {
                        assert!(!live.block.is_mapped());
                    }
                    Err(error) => panic!("write {offset}+{len}: {error:?}"),
                }
            }
            8 => {
                let b = input.u8();
                let Some(i) = self.pick_touchable(b) else {
                    return;
                };
                if !self.live[i].host_visible() {
                    let mut byte = [0u8; 1];
                    let result = self.harness.read(&mut self.live[i].block, 0, &mut byte);
                    assert_eq!(result, Err(MapError::NonHostVisible));
                    return;
                }
                let Some((offset, len)) = self.live[i].written_one(b >> 4) else {
                    return;
                };
                match self.read_block(i, offset, len) {
                    Ok(bytes) => self.live[i].check(offset, &bytes),
                    Err(MapError::MapFailed) if self.faults => {}
                    Err(error) => panic!("read {offset}+{len}: {error:?}"),
                }
            }
            9 => {
                // Map the whole block, or (odd operand) a bad range that must fail.
                let b = input.u8();
                let bad = input.u64();
                let Some(i) = self.pick_touchable(b) else {
                    return;
                };
                let Model { harness, live, .. } = self;
                let live = &mut live[i];
                let size = live.block.size();
                if b & 1 == 1 {
                    let offset = bad % (size + 2);
                    let len = (size - offset.min(size)) + 1;
                    let result = harness.map(&mut live.block, offset, len as usize);
                    assert!(
                        result.is_err(),
                        "map of {offset}+{len} in a {size}-byte block"
                    );
                    return;
                }
                match harness.map(&mut live.block, 0, size as usize) {
                    Ok(ptr) => {
                        assert!(live.mapped.is_none(), "a mapped block mapped again");
                        assert!(live.host_visible());
                        live.mapped = Some(ptr);
                    }
                    Err(MapError::AlreadyMapped) => assert!(live.mapped.is_some()),
                    Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                    Err(MapError::MapFailed) if self.faults => {}
                    Err(error) => panic!("map: {error:?}"),
                }
            }
            10 => {
                let b = input.u8();
                let Some(i) = self.pick(b) else { return };
                let Model { harness, live, .. } = self;
                let live = &mut live[i];
                let was = harness.unmap(&mut live.block);
                assert_eq!(was, live.mapped.is_some(), "unmap's answer");
                live.mapped = None;
                if live.block.is_dedicated() {
                    if let Some(object) = harness.device.object(live.memory_id) {
                        assert_eq!(object.mapped, None, "dedicated object still mapped");
                    }
                }
            }
            11 => {
                // Flush or invalidate an arbitrary range.
                let (b, which) = (input.u8(), input.u8());
                let (offset, size) = match which % 4 {
                    0 => (u64::from(input.u16()), u64::from(input.u16())),
                    1 => (input.u64(), input.u64()),
                    2 => (0, u64::MAX),
                    _ => (u64::from(input.u16()), 0),
                };
                let Some(i) = self.pick_touchable(b) else {
                    return;
                };
                let Model { harness, live, .. } = self;
                let live = &mut live[i];
                let invalidate = which & 4 != 0;
                // An invalidate drops unflushed host writes; every write of the
                // model is flushed at once, so the host view stays as recorded.
                let result = if invalidate {
                    harness.invalidate(&mut live.block, offset, size)
                } else {
                    harness.flush(&mut live.block, offset, size)
                };
                let in_block = offset
                    .checked_add(size)
                    .is_some_and(|end| end <= live.block.size());
                let expected = if !live.host_visible() {
                    Err(MapError::NonHostVisible)
                } else if !in_block {
                    Err(MapError::MapFailed)
                } else if live.coherent() || size == 0 {
                    Ok(())
                } else if live.block.is_dedicated() && !live.block.is_mapped() {
                    Err(MapError::MapFailed)
                } else {
                    Ok(())
                };
                assert_eq!(
                    result,
                    expected,
                    "{} {offset}+{size} of a {}-byte block (dedicated {}, mapped {})",
                    if invalidate { "invalidate" } else { "flush" },
                    live.block.size(),
                    live.block.is_dedicated(),
                    live.block.is_mapped()
                );
            }
            12 => {
                // The device writes; the host must see it after an invalidate.
                let (b, at, len, byte) = (input.u8(), input.u16(), input.u16(), input.u8());
                let Some(i) = self.pick_touchable(b) else {
                    return;
                };
                if !self.live[i].host_visible() {
                    return;
                }
                let (offset, len) = self.range(i, at, len % 4096);
                let bytes: Vec<u8> = (offset..offset + len).map(|p| pattern(byte, p)).collect();
                let live = &self.live[i];
                self.harness.device.device_write(
                    live.block.memory(),
                    live.block.offset() + offset,
                    &bytes,
                );
                match self.read_block(i, offset, len) {
                    Ok(read) => {
                        assert_eq!(read, bytes, "device write not visible after invalidate");
                        self.live[i].record(offset, &bytes);
                    }
                    Err(MapError::MapFailed) if self.faults => self.live[i].forget(offset, len),
                    Err(error) => panic!("read after device write: {error:?}"),
                }
            }
            13 => {
                self.harness.cleanup();
                let holding: BTreeSet<u64> = self.live.iter().map(|l| l.memory_id).collect();
                for object in self.harness.device.live_objects() {
                    assert!(
                        holding.contains(&object.id),
                        "cleanup left memory object {object:?}, which holds no block"
                    );
                }
            }
            14 => {
                // Budgets: an arbitrary reading through `set_heap_budgets`, or one
                // through the device and `update_budget`.
                let how = input.u8();
                let heaps = self.layout.memory_heaps.len();
                let readings: Vec<HeapBudget> = (0..heaps)
                    .map(|h| {
                        let size = self.layout.memory_heaps[h].size;
                        let budget = match input.u8() % 4 {
                            0 => size,
                            1 => u64::from(input.u32()) << (input.u8() % 16),
                            2 => input.u64(),
                            _ => 0,
                        };
                        let usage = match input.u8() % 3 {
                            0 => 0,
                            1 => u64::from(input.u32()),
                            _ => input.u64(),
                        };
                        HeapBudget { budget, usage }
                    })
                    .collect();
                self.budgets_set = true;
                if how & 1 == 0 {
                    self.harness.allocator.set_heap_budgets(&readings);
                } else {
                    self.harness.device.set_budgets(Some(readings));
                    let _ = self.harness.update_budget();
                }
                self.harness.allocator.check_invariants();
            }
            _ => self.misc(input),
        }
    }

    /// Faults, foreign blocks.
    fn misc(&mut self, input: &mut Input<'_>) {
        let what = input.u8();
        match what % 4 {
            0 if self.faults => {
                let (a, m) = (input.u8(), input.u8());
                self.harness.device.fail_next_allocs(u32::from(a % 4));
                self.harness.device.fail_next_maps(u32::from(m % 4));
            }
            1 if self.faults => {
                let (a, m) = (input.u8(), input.u8());
                self.rates = (f64::from(a) / 512.0, f64::from(m) / 512.0);
                let (a, m) = self.rates;
                self.harness.device.set_fault_rates(a, m);
            }
            2 => {
                // A block of another allocator is refused and left intact.
                let request = Request {
                    size: 1 + u64::from(input.u16()),
                    align_mask: 0,
                    usage: UsageFlags::from_bits_retain(input.u8() & 0x1F),
                    memory_types: u32::MAX,
                };
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
            3 => {
                // One of ours offered to the other allocator: refused, still ours.
                let b = input.u8();
                let Some(i) = self.pick(b) else { return };
                let live = self.live.swap_remove(i);
                let Live {
                    block,
                    request,
                    kind,
                    memory_id,
                    pages,
                    mapped,
                } = live;
                let block = self
                    .other
                    .try_dealloc(block)
                    .expect_err("the other allocator accepted our block");
                self.live.push(Live {
                    block,
                    request,
                    kind,
                    memory_id,
                    pages,
                    mapped,
                });
                let last = self.live.len() - 1;
                self.verify(last);
            }
            _ => {}
        }
    }

    fn finish(mut self) {
        self.harness.device.set_faults(Faults::none());
        for i in 0..self.live.len() {
            self.verify(i);
        }
        while !self.live.is_empty() {
            self.free(self.live.len() - 1);
        }
        self.harness.cleanup();
        self.harness.check_accounting();
        assert_eq!(self.harness.allocator.live_blocks(), 0);
        assert_eq!(
            self.harness.allocator.memory_objects(),
            0,
            "objects after cleanup"
        );
        self.harness.device.assert_clean();
        for heap in 0..self.layout.memory_heaps.len() as u32 {
            assert_eq!(self.harness.allocator.heap_usage(heap), 0);
        }
        self.other.cleanup();
        self.other.device.assert_clean();
    }
}

/// Runs one program decoded from `data`; returns the operations run.
pub fn run(data: &[u8]) -> u64 {
    let mut input = Input { data, pos: 0 };
    let layouts = layouts();
    let mut layout = layouts[usize::from(input.u8()) % layouts.len()].clone();
    let flags = input.u8();
    let preset = if flags & 1 != 0 {
        Preset::Potato
    } else {
        Preset::Prototyping
    };
    layout.buffer_device_address = flags & 2 != 0;
    let allowed = if flags & 4 != 0 { AMD_BITS } else { 0 };
    let tight = flags & 8 != 0;
    let faults = flags & 16 != 0;
    if tight {
        layout.max_memory_allocation_count = 1 + u32::from(input.u8() % 16);
        let mib = 1 + u64::from(input.u8() % 64);
        for heap in &mut layout.memory_heaps {
            heap.size = heap.size.min(mib << 20);
            heap.budget = heap.budget.min(heap.size);
            heap.usage = 0;
        }
    }
    let mut device = SimDevice::new(layout.clone());
    if faults {
        device = device.with_faults(Faults::with_rates(u64::from(flags), 0.0, 0.0));
    }
    let mut harness = Harness::with_device(device, preset.config());
    harness.allocator.allow_memory_properties(allowed);
    let other = Harness::new(layout.clone(), preset.config());
    let mut model = Model {
        harness,
        other,
        layout,
        faults,
        tight,
        allowed,
        budgets_set: false,
        rates: (0.0, 0.0),
        live: Vec::new(),
        occupied: BTreeMap::new(),
        dedicated: BTreeSet::new(),
        ops: 0,
    };
    while !input.done() && (model.ops as usize) < MAX_OPS {
        model.step(&mut input);
        model.ops += 1;
        model.harness.check_accounting();
        model.harness.device.assert_no_violations();
    }
    let ops = model.ops;
    model.finish();
    ops
}
