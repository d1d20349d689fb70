//! The `virtual_ops` target: decodes a program of `VirtualAllocator` operations
//! from arbitrary bytes and runs it through the shadow model that the property
//! tests use too (`gpu_alloc_tests::virtual_shadow`, whose module docs list
//! every rule checked after each step).
//!
//! Input format (every read past the end yields zero bytes, so any input is a
//! valid program):
//!
//! - byte 0: strategy (`b % 3`: general, linear, ring);
//! - byte 1: capacity (`b % 8`): 1 byte; `1 + u16` (three values of 8); `1 + u32 %
//!   2^24`; 2^62; `u64::MAX`; any `u64` (0 included, which `new` must refuse);
//! - then operations, one opcode byte each (`b % 16`) followed by its operands:
//!   0..=6 alloc (size byte and operands, alignment byte and operands, see
//!   [`size`] and [`align`]), 7..=12 free (one byte: which live block, 0 the
//!   oldest), 13 reset, 14 a foreign block offered to `free`, 15 a block made
//!   before the last reset offered to `free`.

use {
    super::Input,
    gpu_alloc::VirtualStrategy,
    gpu_alloc_tests::virtual_shadow::{run, Program, VirtualOp},
};

/// At most this many operations per input.
const MAX_OPS: usize = 400;

/// A size for an allocator of `capacity` bytes: small, a share of it, the
/// edges (0, the capacity and its neighbours) or any `u64`.
fn size(capacity: u64, input: &mut Input<'_>) -> u64 {
    match input.u8() % 8 {
        0..=2 => 1 + u64::from(input.u8()),
        3 | 4 => 1 + u64::from(input.u32()) % capacity.max(1),
        5 => 0,
        6 => capacity
            .wrapping_add(u64::from(input.u8() % 3))
            .wrapping_sub(1),
        _ => input.u64(),
    }
}

/// An alignment: mostly up to 512, any power of two, or not a power of two.
fn align(input: &mut Input<'_>) -> u64 {
    match input.u8() {
        0..=199 => 1 << (input.u8() % 10),
        200..=249 => 1 << (input.u8() % 64),
        _ => input.u64(),
    }
}

/// Decodes `data` into a program (see the module docs).
pub fn decode(data: &[u8]) -> Program {
    let mut input = Input { data, pos: 0 };
    let strategy = match input.u8() % 3 {
        0 => VirtualStrategy::General,
        1 => VirtualStrategy::Linear,
        _ => VirtualStrategy::Ring,
    };
    let size_of_heap = match input.u8() % 8 {
        0 => 1,
        1..=3 => 1 + u64::from(input.u16()),
        4 => 1 + u64::from(input.u32()) % (1 << 24),
        5 => 1 << 62,
        6 => u64::MAX,
        _ => input.u64(),
    };
    let mut ops = Vec::new();
    while !input.done() && ops.len() < MAX_OPS {
        let op = match input.u8() % 16 {
            0..=6 => VirtualOp::Alloc {
                size: size(size_of_heap, &mut input),
                align: align(&mut input),
            },
            7..=12 => VirtualOp::Free {
                pick: usize::from(input.u8()),
            },
            13 => VirtualOp::Reset,
            14 => VirtualOp::FreeForeign,
            _ => VirtualOp::FreeStale,
        };
        ops.push(op);
    }
    Program {
        size: size_of_heap,
        strategy,
        ops,
    }
}

/// Runs the program decoded from `data`, checking every step; returns the
/// operations run. Panics on the first broken rule.
pub fn run_virtual(data: &[u8]) -> u64 {
    run(&decode(data))
}
