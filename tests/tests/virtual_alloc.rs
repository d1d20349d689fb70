//! Random programs on `VirtualAllocator`, every strategy over capacities from 1
//! byte to `u64::MAX`, checked after every step by the shadow model that the
//! fuzz target `virtual_ops` runs too (`gpu_alloc_tests::virtual_shadow`, whose
//! module docs list every rule): invariants, bounds, alignment, no overlap,
//! stats; linear and ring decisions exactly as the model's, TLSF's good-fit
//! guarantee; the errors; foreign and stale blocks refused. `PROPTEST_CASES`
//! sets the cases per test (proptest's default, 256).

use {
    gpu_alloc::{VirtualAllocator, VirtualStrategy},
    gpu_alloc_tests::virtual_shadow::{run, Program, VirtualOp},
    proptest::prelude::*,
};

/// Capacities: one byte, small, medium, and huge ones where sums overflow.
fn capacity() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(1u64),
        3 => 2u64..256,
        3 => 256u64..65_536,
        1 => Just(1u64 << 20),
        1 => Just(1u64 << 62),
        1 => Just(u64::MAX),
    ]
}

/// A size for an allocator of `capacity` bytes: mostly a share of it, and
/// the edges (0, the whole capacity, one byte more, `u64::MAX`).
fn size(capacity: u64) -> impl Strategy<Value = u64> {
    let share = (capacity / 8).max(1);
    prop_oneof![
        1 => Just(0u64),
        6 => 1u64..=16.min(capacity),
        8 => 1u64..=share,
        2 => 1u64..=capacity,
        1 => Just(capacity),
        1 => Just(capacity.saturating_add(1)),
        1 => Just(u64::MAX),
    ]
}

/// An alignment: mostly small powers of two, any power up to 2^63, and some
/// that are not powers of two.
fn align() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => (0u32..9).prop_map(|log| 1u64 << log),
        3 => (0u32..64).prop_map(|log| 1u64 << log),
        1 => prop_oneof![Just(0u64), Just(3), Just(48), Just(u64::MAX)],
    ]
}

/// A program for `strategy`: frees pick the oldest live block `oldest_first`
/// of the time out of 10 (else any).
fn program(strategy: VirtualStrategy, oldest_first: u32) -> impl Strategy<Value = Program> {
    capacity().prop_flat_map(move |capacity| {
        let op = prop_oneof![
            10 => (size(capacity), align()).prop_map(|(size, align)| VirtualOp::Alloc { size, align }),
            8 => (0u32..10, any::<usize>()).prop_map(move |(roll, pick)| VirtualOp::Free {
                pick: if roll < oldest_first { 0 } else { pick },
            }),
            1 => Just(VirtualOp::FreeForeign),
            1 => Just(VirtualOp::FreeStale),
            1 => Just(VirtualOp::Reset),
        ];
        proptest::collection::vec(op, 1..200).prop_map(move |ops| Program {
            size: capacity,
            strategy,
            ops,
        })
    })
}

proptest! {
    #[test]
    fn general_matches_shadow(program in program(VirtualStrategy::General, 0)) {
        run(&program);
    }

    #[test]
    fn linear_matches_shadow(program in program(VirtualStrategy::Linear, 0)) {
        run(&program);
    }

    /// Mostly in order, as a ring is used, with some frees out of order.
    #[test]
    fn ring_matches_shadow(program in program(VirtualStrategy::Ring, 8)) {
        run(&program);
    }

    /// Rings freed in any order: out-of-order frees pile up before the oldest goes.
    #[test]
    fn ring_freed_in_any_order_matches_shadow(program in program(VirtualStrategy::Ring, 0)) {
        run(&program);
    }
}

const STRATEGIES: [VirtualStrategy; 3] = [
    VirtualStrategy::General,
    VirtualStrategy::Linear,
    VirtualStrategy::Ring,
];

/// Fixed programs at the edges: a zero-sized allocator, one byte, an alignment
/// above the capacity, the largest capacity filled by one block.
#[test]
fn edges() {
    use VirtualOp::*;
    for strategy in STRATEGIES {
        let programs = [
            (0, vec![Alloc { size: 1, align: 1 }]),
            (
                1,
                vec![
                    Alloc {
                        size: 1,
                        align: 1 << 63,
                    },
                    Alloc { size: 1, align: 1 },
                    FreeForeign,
                    Free { pick: 0 },
                    Alloc { size: 2, align: 1 },
                    Alloc { size: 1, align: 2 },
                    Reset,
                    FreeStale,
                ],
            ),
            (
                100,
                vec![
                    Alloc {
                        size: 10,
                        align: 1 << 40,
                    },
                    Alloc {
                        size: 10,
                        align: 128,
                    },
                    Free { pick: 0 },
                    Alloc {
                        size: 100,
                        align: 1 << 63,
                    },
                ],
            ),
            (
                u64::MAX,
                vec![
                    Alloc {
                        size: u64::MAX,
                        align: 1,
                    },
                    Alloc { size: 1, align: 1 },
                    Free { pick: 0 },
                    Alloc {
                        size: u64::MAX - 1,
                        align: 1 << 63,
                    },
                    Alloc {
                        size: 1,
                        align: 1 << 63,
                    },
                ],
            ),
        ];
        for (size, ops) in programs {
            run(&Program {
                size,
                strategy,
                ops,
            });
        }
    }
}

/// The wrap of a ring, step by step (what the random programs check, in a
/// program a reader can follow).
#[test]
fn ring_wraps_as_documented() {
    let mut ring = VirtualAllocator::new(100, VirtualStrategy::Ring).unwrap();
    let a = ring.alloc(60, 1).unwrap();
    let b = ring.alloc(30, 1).unwrap();
    ring.free(a).unwrap();
    // 20 bytes do not fit in 90..100: they wrap to 0, before b at 60.
    let c = ring.alloc(20, 16).unwrap();
    assert_eq!(c.offset(), 0);
    // 20..60 is left; 90..100 waits until b goes.
    assert_eq!(ring.stats().largest_free, 40);
    assert!(ring.alloc(41, 1).is_err());
    ring.free(b).unwrap();
    assert_eq!(ring.stats().largest_free, 80);
    ring.free(c).unwrap();
    ring.check_invariants();
    assert!(ring.is_empty());
}
