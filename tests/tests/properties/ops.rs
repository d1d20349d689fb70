//! The operations of the random programs, and how proptest generates them.

use {
    gpu_alloc::{Dedicated, UsageFlags},
    proptest::{prelude::*, sample::Index},
};

/// What a run of random programs puts the allocator through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
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
pub(crate) enum MaskChoice {
    All,
    Single(Index),
    Random(u32),
    Zero,
}

#[derive(Clone, Debug)]
pub(crate) struct AllocOp {
    pub(crate) size: u64,
    pub(crate) align_log2: u8,
    pub(crate) usage: UsageFlags,
    pub(crate) mask: MaskChoice,
    pub(crate) dedicated: Option<Dedicated>,
    pub(crate) legacy: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Op {
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
    /// plus `slack_kib` KiB (minus, when `below`), and the allocator reads it
    /// with `update_budget`.
    Budget {
        heap: Index,
        slack_kib: u32,
        below: bool,
    },
}

#[derive(Clone, Debug)]
pub(crate) struct Program {
    pub(crate) seed: u64,
    pub(crate) buffer_device_address: bool,
    pub(crate) allow_amd: bool,
    /// `Mode::Tight`: `max_memory_allocation_count`.
    pub(crate) tight_count: u32,
    /// `Mode::Tight`: largest heap size, in MiB.
    pub(crate) tight_heap_mib: u64,
    pub(crate) ops: Vec<Op>,
}

pub(crate) fn usage_strategy() -> impl Strategy<Value = UsageFlags> {
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

pub(crate) fn alloc_strategy() -> impl Strategy<Value = AllocOp> {
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

pub(crate) fn op_strategy(mode: Mode) -> BoxedStrategy<Op> {
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
            1 => (any::<Index>(), 0u32..8192, prop::bool::weighted(0.3))
                .prop_map(|(heap, slack_kib, below)| Op::Budget { heap, slack_kib, below }),
        ]
        .boxed()
    } else {
        ops.boxed()
    }
}

pub(crate) fn program_strategy(mode: Mode) -> impl Strategy<Value = Program> {
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
