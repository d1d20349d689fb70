//! Random programs of alloc / free / write / read / map / unmap / device write /
//! cleanup, run on every layout of `tests/devices` under both `Config` presets,
//! checked after every step against a shadow model; and the same programs with
//! injected `allocate_memory` and `map_memory` failures ("fault runs").
//!
//! After every step:
//! - the allocator's own `check_invariants`, and its heap usage and remaining
//!   object count against what is alive on the simulated device;
//! - the simulated device panics on any broken `MemoryDevice` rule.
//!
//! For every new block: its memory type is in the request's mask and eligible for
//! the usage (host access => `HOST_VISIBLE`, the core's documented eligibility
//! rules), its properties are the type's, it is aligned to `align_mask`, lies
//! inside a live memory object of that type, overlaps no live block, is atom-aligned
//! in non-coherent memory, and a `Dedicated::Required` block shares its object with
//! nobody. Data written to a block reads back unchanged (checked on every read, on
//! every free and at the end). After freeing everything and `cleanup`, the device
//! holds no memory object.
//!
//! The number of cases per matrix cell is `PROPTEST_CASES` (default 40 for the
//! clean runs, 12 for the fault runs); each test prints how many operations it ran
//! (`cargo test -- --nocapture`). `GPU_ALLOC_TEST_SEED` changes the seeds, which are
//! otherwise fixed so that runs are reproducible.

use {
    gpu_alloc::{
        AllocationError, Dedicated, MapError, MemoryBlock, MemoryPropertyFlags, Request,
        TryAllocError, UsageFlags,
    },
    gpu_alloc_tests::{
        harness::{best_type, eligible_types, wants_host, Harness, Preset},
        sim::{Faults, Layout, SimDevice, SimMemory},
    },
    proptest::{
        prelude::*,
        sample::Index,
        test_runner::{Config as RunnerConfig, RngAlgorithm, TestRng, TestRunner},
    },
    std::{
        collections::{BTreeMap, BTreeSet},
        ptr::NonNull,
        sync::atomic::{AtomicU64, Ordering},
    },
};

/// Cases per matrix cell without `PROPTEST_CASES`, clean runs.
const DEFAULT_CASES: u32 = 40;
/// Cases per matrix cell without `PROPTEST_CASES`, fault runs.
const DEFAULT_FAULT_CASES: u32 = 12;
/// Exotic property bits a program may allow (AMD device-coherent and uncached).
const AMD_BITS: u32 = 0xC0;

/// Operations run by every test of this binary, for the summary lines.
static TOTAL_OPS: AtomicU64 = AtomicU64::new(0);

/// What a run of random programs puts the allocator through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The fixture as it is, no failures: every valid request must be served
    /// from the best type by the documented ranking.
    Clean,
    /// Injected `allocate_memory` and `map_memory` failures.
    Faults,
    /// Heaps shrunk to a few MiB and a memory-object limit of a few objects, so
    /// that requests fail for want of room, and the simulated device checks that
    /// no limit is ever passed.
    Tight,
}

#[derive(Clone, Copy, Debug)]
enum MaskChoice {
    All,
    Single(Index),
    Random(u32),
    Zero,
}

#[derive(Clone, Debug)]
struct AllocOp {
    size: u64,
    align_log2: u8,
    usage: UsageFlags,
    mask: MaskChoice,
    dedicated: Option<Dedicated>,
    legacy: bool,
}

#[derive(Clone, Debug)]
enum Op {
    Alloc(AllocOp),
    Free(Index),
    Write {
        block: Index,
        at: Index,
        len: u16,
        byte: u8,
    },
    Read {
        block: Index,
        which: Index,
    },
    Map(Index),
    Unmap(Index),
    DeviceWrite {
        block: Index,
        at: Index,
        len: u16,
        byte: u8,
    },
    Cleanup,
    /// Fault runs only: fail the next few device calls.
    FailNext {
        allocs: u8,
        maps: u8,
    },
    /// Tight runs only: the device reports a budget of the heap's current usage
    /// plus `slack_kib` KiB, and the allocator reads it with `update_budget`.
    Budget {
        heap: Index,
        slack_kib: u32,
    },
}

#[derive(Clone, Debug)]
struct Program {
    seed: u64,
    buffer_device_address: bool,
    allow_amd: bool,
    /// `Mode::Tight`: `max_memory_allocation_count`.
    tight_count: u32,
    /// `Mode::Tight`: largest heap size, in MiB.
    tight_heap_mib: u64,
    ops: Vec<Op>,
}

fn usage_strategy() -> impl Strategy<Value = UsageFlags> {
    (
        0u8..0x20,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.06),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(base, device_address, attachment, protected)| {
            let mut usage = UsageFlags::from_bits_truncate(base);
            usage.set(UsageFlags::DEVICE_ADDRESS, device_address);
            usage.set(UsageFlags::TRANSIENT_ATTACHMENT, attachment);
            usage.set(UsageFlags::PROTECTED, protected);
            usage
        })
}

fn alloc_strategy() -> impl Strategy<Value = AllocOp> {
    // Sizes around the presets' thresholds and chunk sizes (1 KiB, 8 KiB,
    // 32 KiB, 128 KiB, and 1024 times those), one byte under, at and over.
    let boundaries: Vec<u64> = [1u64 << 10, 8 << 10, 32 << 10, 128 << 10]
        .into_iter()
        .flat_map(|kib| [kib, kib << 10])
        .flat_map(|size| [size - 1, size, size + 1])
        .collect();
    let size = prop_oneof![
        16 => 1u64..=1024,
        8 => 1025u64..=64 * 1024,
        2 => 64 * 1024 + 1..=2u64 << 20,
        2 => prop::sample::select(boundaries),
        1 => (8u64 << 20)..=(48 << 20),
    ];
    let align = prop_oneof![12 => 0u8..=8, 4 => 9u8..=12, 2 => 13u8..=16, 1 => 17u8..=40];
    let mask = prop_oneof![
        12 => Just(MaskChoice::All),
        3 => any::<Index>().prop_map(MaskChoice::Single),
        3 => any::<u32>().prop_map(MaskChoice::Random),
        1 => Just(MaskChoice::Zero),
    ];
    let dedicated = prop_oneof![
        8 => Just(None),
        1 => Just(Some(Dedicated::Preferred)),
        1 => Just(Some(Dedicated::Required)),
    ];
    (
        size,
        align,
        usage_strategy(),
        mask,
        dedicated,
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(size, align_log2, usage, mask, dedicated, legacy)| AllocOp {
                size,
                align_log2,
                usage,
                mask,
                dedicated,
                legacy,
            },
        )
}

fn op_strategy(mode: Mode) -> BoxedStrategy<Op> {
    let len = prop_oneof![3 => 1u16..=64, 2 => 65u16..=4096];
    let ops = prop_oneof![
        30 => alloc_strategy().prop_map(Op::Alloc),
        20 => any::<Index>().prop_map(Op::Free),
        15 => (any::<Index>(), any::<Index>(), len.clone(), any::<u8>())
            .prop_map(|(block, at, len, byte)| Op::Write { block, at, len, byte }),
        10 => (any::<Index>(), any::<Index>()).prop_map(|(block, which)| Op::Read { block, which }),
        5 => any::<Index>().prop_map(Op::Map),
        5 => any::<Index>().prop_map(Op::Unmap),
        4 => (any::<Index>(), any::<Index>(), len, any::<u8>())
            .prop_map(|(block, at, len, byte)| Op::DeviceWrite { block, at, len, byte }),
        2 => Just(Op::Cleanup),
    ];
    if mode == Mode::Faults {
        prop_oneof![
            30 => ops,
            1 => (0u8..4, 0u8..4).prop_map(|(allocs, maps)| Op::FailNext { allocs, maps }),
        ]
        .boxed()
    } else if mode == Mode::Tight {
        prop_oneof![
            40 => ops,
            1 => (any::<Index>(), 0u32..8192)
                .prop_map(|(heap, slack_kib)| Op::Budget { heap, slack_kib }),
        ]
        .boxed()
    } else {
        ops.boxed()
    }
}

fn program_strategy(mode: Mode) -> impl Strategy<Value = Program> {
    (
        any::<u64>(),
        any::<bool>(),
        prop::bool::weighted(0.25),
        (1u32..12, 1u64..48),
        prop::collection::vec(op_strategy(mode), 20..200),
    )
        .prop_map(
            |(seed, buffer_device_address, allow_amd, (tight_count, tight_heap_mib), ops)| {
                Program {
                    seed,
                    buffer_device_address,
                    allow_amd,
                    tight_count,
                    tight_heap_mib,
                    ops,
                }
            },
        )
}

/// The byte a write with `byte` puts at block offset `pos`: varies with the
/// position so that a block handed out at a wrong offset shows.
fn pattern(byte: u8, pos: u64) -> u8 {
    byte ^ (pos as u8).wrapping_mul(31) ^ (pos >> 8) as u8
}

/// A live block and what the model knows of it.
struct Live {
    block: MemoryBlock<SimMemory>,
    request: Request,
    memory_id: u64,
    /// Expected bytes, for positions where `known` is set (empty until a write).
    data: Vec<u8>,
    known: Vec<bool>,
    /// Recently written ranges, `(offset, len)`, to read back.
    written: Vec<(u64, u64)>,
    /// The pointer to the block's start while mapped by a `Map` op.
    mapped: Option<NonNull<u8>>,
}

impl Live {
    fn host_visible(&self) -> bool {
        self.block
            .props()
            .contains(MemoryPropertyFlags::HOST_VISIBLE)
    }

    fn record(&mut self, offset: u64, bytes: &[u8]) {
        if self.data.is_empty() {
            let size = self.block.size() as usize;
            self.data = vec![0; size];
            self.known = vec![false; size];
        }
        let start = offset as usize;
        self.data[start..start + bytes.len()].copy_from_slice(bytes);
        self.known[start..start + bytes.len()].fill(true);
        self.written.push((offset, bytes.len() as u64));
        if self.written.len() > 8 {
            self.written.remove(0);
        }
    }

    fn forget(&mut self, offset: u64, len: u64) {
        if !self.known.is_empty() {
            self.known[offset as usize..(offset + len) as usize].fill(false);
        }
    }

    fn check(&self, offset: u64, bytes: &[u8]) {
        if self.known.is_empty() {
            return;
        }
        for (i, &actual) in bytes.iter().enumerate() {
            let pos = offset as usize + i;
            if self.known[pos] {
                assert_eq!(
                    actual,
                    self.data[pos],
                    "byte {pos} of block (memory {} offset {} size {}, request {:?}) corrupted",
                    self.memory_id,
                    self.block.offset(),
                    self.block.size(),
                    self.request
                );
            }
        }
    }
}

/// The model: live blocks and the ranges they occupy.
struct Model<'a> {
    harness: Harness,
    layout: &'a Layout,
    mode: Mode,
    faults: bool,
    allowed: u32,
    live: Vec<Live>,
    /// `(memory id, offset) -> end` of every live block.
    occupied: BTreeMap<(u64, u64), u64>,
    /// Memory objects of `Dedicated::Required` blocks.
    dedicated: BTreeSet<u64>,
    ops: u64,
    /// Budgets given to the allocator in `Mode::Tight`, per heap.
    budgets: Vec<Option<u64>>,
    /// Allocations served and refused.
    served: u64,
    refused: u64,
}

impl Model<'_> {
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
        // Without faults and with room, the best type by the documented ranking.
        let expect_best = match self.mode {
            Mode::Clean => best_type(self.layout, &request, self.allowed)
                .filter(|&ty| self.roomy(ty, request.size)),
            _ => None,
        };
        let no_address = request.usage.contains(UsageFlags::DEVICE_ADDRESS)
            && !self.layout.buffer_device_address;
        let result = if op.legacy {
            self.harness
                .alloc(request, op.dedicated)
                .map_err(Err::<TryAllocError, _>)
        } else {
            self.harness.try_alloc(request, op.dedicated).map_err(Ok)
        };
        match result {
            Ok(block) => {
                self.served += 1;
                assert!(
                    !no_address,
                    "DEVICE_ADDRESS served without buffer_device_address"
                );
                self.admit(block, request, op.dedicated, &eligible, expect_best);
            }
            Err(error) => {
                self.refused += 1;
                self.check_error(error, &request, &eligible, no_address);
            }
        }
    }

    /// Checks an allocation error; `Ok` holds a `TryAllocError`, `Err` a legacy
    /// `AllocationError`.
    fn check_error(
        &self,
        error: Result<TryAllocError, AllocationError>,
        request: &Request,
        eligible: &[u32],
        no_address: bool,
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
                Mode::Faults => vec![
                    TryAllocError::OutOfDeviceMemory,
                    TryAllocError::OutOfHostMemory,
                    TryAllocError::MapFailed,
                ],
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
             (eligible types {eligible:?})"
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
        self.live.push(Live {
            block,
            request,
            memory_id: id,
            data: Vec::new(),
            known: Vec::new(),
            written: Vec::new(),
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

    /// Reads back the recently written ranges of block `i` and compares them with
    /// the model. With faults, a failed map is retried with faults off.
    fn verify(&mut self, i: usize) {
        let ranges = self.live[i].written.clone();
        for (offset, len) in ranges {
            let bytes = match self.read_block(i, offset, len) {
                Ok(bytes) => bytes,
                Err(error) => {
                    assert!(self.faults, "reading {offset}+{len}: {error:?}");
                    let device = &self.harness.device;
                    device.set_fault_rates(0.0, 0.0);
                    device.fail_next_maps(0);
                    let bytes = self
                        .read_block(i, offset, len)
                        .unwrap_or_else(|e| panic!("reading {offset}+{len} without faults: {e:?}"));
                    self.harness.device.set_fault_rates(FAULT_RATE, FAULT_RATE);
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

    fn step(&mut self, op: &Op) {
        match op {
            Op::Alloc(op) => self.alloc(op),
            Op::Free(index) => {
                let Some(i) = self.pick(index) else { return };
                self.verify(i);
                let live = self.live.swap_remove(i);
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
                let result = self.write_block(i, offset, &bytes);
                let live = &mut self.live[i];
                match result {
                    Ok(()) => {
                        assert!(
                            live.host_visible(),
                            "wrote to a block that is not host-visible"
                        );
                        live.record(offset, &bytes);
                    }
                    Err(MapError::NonHostVisible) => assert!(!live.host_visible()),
                    Err(MapError::MapFailed) if self.faults && live.mapped.is_none() => {
                        // A failed map writes nothing; the data must be as before.
                        assert!(!live.block.is_mapped());
                    }
                    Err(error) => panic!("write {offset}+{len}: {error:?}"),
                }
            }
            Op::Read { block, which } => {
                let Some(i) = self.pick(block) else { return };
                let live = &self.live[i];
                if !live.host_visible() || live.written.is_empty() {
                    let mut byte = [0u8; 1];
                    let result = self.harness.read(&mut self.live[i].block, 0, &mut byte);
                    if !self.live[i].host_visible() {
                        assert_eq!(result, Err(MapError::NonHostVisible));
                    }
                    return;
                }
                let (offset, len) = live.written[which.index(live.written.len())];
                match self.read_block(i, offset, len) {
                    Ok(bytes) => self.live[i].check(offset, &bytes),
                    Err(MapError::MapFailed) if self.faults => {}
                    Err(error) => panic!("read {offset}+{len}: {error:?}"),
                }
            }
            Op::Map(index) => {
                let Some(i) = self.pick(index) else { return };
                let Model { harness, live, .. } = self;
                let live = &mut live[i];
                let size = live.block.size() as usize;
                match harness.map(&mut live.block, 0, size) {
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
                match self.read_block(i, offset, len) {
                    Ok(read) => {
                        assert_eq!(read, bytes, "device write not visible after invalidate");
                        self.live[i].record(offset, &bytes);
                    }
                    // The host view of the range is stale now: forget it.
                    Err(MapError::MapFailed) if self.faults => self.live[i].forget(offset, len),
                    Err(error) => panic!("read after device write: {error:?}"),
                }
            }
            Op::Cleanup => {
                self.harness.cleanup();
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
            Op::Budget { heap, slack_kib } => {
                let heaps = self.layout.memory_heaps.len();
                let heap = heap.index(heaps);
                let used = self.harness.device.heap_usage(heap as u32);
                let limit = used + (u64::from(*slack_kib) << 10);
                self.budgets[heap] = Some(limit);
                let readings = (0..heaps)
                    .map(|h| gpu_alloc::HeapBudget {
                        budget: self.budgets[h].unwrap_or(self.layout.memory_heaps[h].size),
                        usage: 0,
                    })
                    .collect();
                self.harness.device.set_budgets(Some(readings));
                assert!(self.harness.update_budget(), "the device reports budgets");
            }
        }
        self.ops += 1;
        self.harness.check_accounting();
        for (heap, limit) in self.budgets.iter().enumerate() {
            if let Some(limit) = *limit {
                let used = self.harness.device.heap_usage(heap as u32);
                assert!(
                    used <= limit,
                    "heap {heap} holds {used} bytes, over the budget of {limit} it was given"
                );
            }
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
        for heap in 0..self.layout.memory_heaps.len() as u32 {
            assert_eq!(self.harness.allocator.heap_usage(heap), 0);
        }
        Counts {
            ops: self.ops,
            served: self.served,
            refused: self.refused,
            peak_objects: self.harness.device.stats().peak_live_objects,
        }
    }
}

/// What a program did.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    ops: u64,
    served: u64,
    refused: u64,
    peak_objects: u64,
}

/// Failure rate of `allocate_memory` and `map_memory` in fault runs.
const FAULT_RATE: f64 = 0.15;

/// Runs one program; returns the number of operations run.
fn run_program(layout: &Layout, preset: Preset, mode: Mode, program: &Program) -> Counts {
    let faults = mode == Mode::Faults;
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
    if faults {
        device = device.with_faults(Faults::with_rates(program.seed, FAULT_RATE, FAULT_RATE));
    }
    let mut harness = Harness::with_device(device, preset.config());
    let allowed = if program.allow_amd { AMD_BITS } else { 0 };
    harness.allocator.allow_memory_properties(allowed);
    let mut model = Model {
        harness,
        layout: &layout,
        mode,
        faults,
        allowed,
        live: Vec::new(),
        occupied: BTreeMap::new(),
        dedicated: BTreeSet::new(),
        budgets: vec![None; layout.memory_heaps.len()],
        ops: 0,
        served: 0,
        refused: 0,
    };
    for op in &program.ops {
        model.step(op);
    }
    model.finish()
}

fn cases(mode: Mode) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if mode != Mode::Clean {
            DEFAULT_FAULT_CASES
        } else {
            DEFAULT_CASES
        })
}

/// A fixed seed per test (FNV-1a of its name), changed by `GPU_ALLOC_TEST_SEED`.
fn seed(name: &str) -> [u8; 32] {
    let extra: u64 = std::env::var("GPU_ALLOC_TEST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ extra;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&hash.rotate_left(i as u32 * 16).to_le_bytes());
    }
    seed
}

/// Runs the random programs of one matrix cell.
fn run_cell(layout_name: &str, preset: Preset, mode: Mode) {
    let layout = Layout::named(layout_name);
    let name = format!("{layout_name}/{preset:?}/{mode:?}");
    let config = RunnerConfig {
        cases: cases(mode),
        failure_persistence: None,
        ..RunnerConfig::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed(&name));
    let mut runner = TestRunner::new_with_rng(config, rng);
    let counts = std::cell::RefCell::new(Counts::default());
    let result = runner.run(&program_strategy(mode), |program| {
        let c = run_program(&layout, preset, mode, &program);
        let mut counts = counts.borrow_mut();
        counts.ops += c.ops;
        counts.served += c.served;
        counts.refused += c.refused;
        counts.peak_objects = counts.peak_objects.max(c.peak_objects);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    let counts = counts.into_inner();
    let total = TOTAL_OPS.fetch_add(counts.ops, Ordering::Relaxed) + counts.ops;
    println!(
        "{name}: {} random operations ({} allocations served, {} refused, at most {} memory \
         objects; this binary so far: {total})",
        counts.ops, counts.served, counts.refused, counts.peak_objects
    );
    assert!(counts.served > 0, "{name}: no allocation succeeded");
}

macro_rules! matrix {
    ($($module:ident => $layout:literal),* $(,)?) => {
        /// Every layout of the matrix, to check it against `tests/devices`.
        const MATRIX: &[&str] = &[$($layout),*];
        $(
            mod $module {
                use super::*;
                #[test]
                fn potato() {
                    run_cell($layout, Preset::Potato, Mode::Clean);
                }
                #[test]
                fn prototyping() {
                    run_cell($layout, Preset::Prototyping, Mode::Clean);
                }
                #[test]
                fn potato_faults() {
                    run_cell($layout, Preset::Potato, Mode::Faults);
                }
                #[test]
                fn prototyping_faults() {
                    run_cell($layout, Preset::Prototyping, Mode::Faults);
                }
                #[test]
                fn potato_tight() {
                    run_cell($layout, Preset::Potato, Mode::Tight);
                }
                #[test]
                fn prototyping_tight() {
                    run_cell($layout, Preset::Prototyping, Mode::Tight);
                }
            }
        )*
    };
}

matrix! {
    amd_renoir_apu_radv => "amd-renoir-apu-radv",
    amd_rx470_radv => "amd-rx470-radv",
    amd_rx6600_radv => "amd-rx6600-radv",
    amd_rx6600_windows => "amd-rx6600-windows",
    apple_m1_moltenvk => "apple-m1-moltenvk",
    apple_m3max_moltenvk => "apple-m3max-moltenvk",
    intel_adl_gt2_anv => "intel-adl-gt2-anv",
    intel_arc_b60_anv => "intel-arc-b60-anv",
    intel_tgl_gt2_anv => "intel-tgl-gt2-anv",
    lavapipe_llvm15 => "lavapipe-llvm15",
    llvmpipe_mesa23 => "llvmpipe-mesa23",
    nvidia_h200 => "nvidia-h200",
    nvidia_rtx2060super_windows => "nvidia-rtx2060super-windows",
    nvidia_rtx3060ti_linux => "nvidia-rtx3060ti-linux",
}

#[test]
fn matrix_covers_every_layout() {
    let names: Vec<String> = Layout::all().into_iter().map(|l| l.name).collect();
    assert_eq!(
        MATRIX, names,
        "add new layouts of tests/devices to the matrix"
    );
}
