//! The small helpers that the tests, the demo, the bench, the soak and the fuzz
//! driver share, written once:
//!
//! - [`rng`]: the seeded random number generator ([`Rng`]), so that a seed gives
//!   the same program, trace or workload everywhere and every time;
//! - [`fmt`]: byte counts for people ([`Bytes`]: `512 B`, `64.0 KiB`, `312 MiB`)
//!   and for tables ([`mib`]);
//! - [`cli`]: command-line reading on `lexopt`, with the same `--help` and the
//!   same `error:` line and exit code 2 for a bad command line in every binary.

pub mod cli;
pub mod fmt;
pub mod rng;

pub use self::{
    fmt::{mib, Bytes},
    rng::Rng,
};
