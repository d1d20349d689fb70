//! Deterministic failure injection for the simulated device.

use gpu_alloc_types::{DeviceMapError, OutOfMemory};

/// A small xorshift64* generator: deterministic for a seed, no dependencies.
#[derive(Clone, Debug)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator for `seed` (any value; 0 is remapped to a fixed non-zero one).
    pub fn new(seed: u64) -> Self {
        // Spread the seed so that nearby seeds give unrelated streams; xorshift
        // needs a non-zero state.
        let mixed = seed
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        XorShift64 {
            state: if mixed == 0 {
                0x2545_F491_4F6C_DD1D
            } else {
                mixed
            },
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `true` with probability `rate` (clamped to 0..=1). Consumes no randomness
    /// when `rate` is 0 or 1, so a disabled knob does not disturb the stream.
    pub fn chance(&mut self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        // 53 random bits as a float in [0, 1).
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        unit < rate
    }
}

/// What the simulated device fails on purpose.
///
/// Rates are probabilities per call, drawn from a seeded [`XorShift64`], so a
/// run is reproducible. The "next N" counters fail the next N calls whatever the
/// rates say, and are consumed first.
#[derive(Clone, Debug)]
pub struct Faults {
    /// Probability that `allocate_memory` fails.
    pub alloc_rate: f64,
    /// Probability that `map_memory` fails.
    pub map_rate: f64,
    /// Fail this many next calls to `allocate_memory`.
    pub fail_next_allocs: u32,
    /// Fail this many next calls to `map_memory`.
    pub fail_next_maps: u32,
    /// The error a failed `allocate_memory` returns.
    pub alloc_error: OutOfMemory,
    /// The error a failed `map_memory` returns.
    pub map_error: DeviceMapError,
    rng: XorShift64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::none()
    }
}

impl Faults {
    /// No injected failures.
    pub fn none() -> Self {
        Faults::seeded(0)
    }

    /// No injected failures yet, with the random stream seeded by `seed`.
    pub fn seeded(seed: u64) -> Self {
        Faults {
            alloc_rate: 0.0,
            map_rate: 0.0,
            fail_next_allocs: 0,
            fail_next_maps: 0,
            alloc_error: OutOfMemory::OutOfDeviceMemory,
            map_error: DeviceMapError::MapFailed,
            rng: XorShift64::new(seed),
        }
    }

    /// Random failures of `allocate_memory` and `map_memory` at the given rates.
    pub fn with_rates(seed: u64, alloc_rate: f64, map_rate: f64) -> Self {
        Faults {
            alloc_rate,
            map_rate,
            ..Faults::seeded(seed)
        }
    }

    /// Decides whether this `allocate_memory` call fails.
    pub(crate) fn alloc_fails(&mut self) -> Option<OutOfMemory> {
        if self.fail_next_allocs > 0 {
            self.fail_next_allocs -= 1;
            return Some(self.alloc_error.clone());
        }
        self.rng
            .chance(self.alloc_rate)
            .then(|| self.alloc_error.clone())
    }

    /// Decides whether this `map_memory` call fails.
    pub(crate) fn map_fails(&mut self) -> Option<DeviceMapError> {
        if self.fail_next_maps > 0 {
            self.fail_next_maps -= 1;
            return Some(self.map_error.clone());
        }
        self.rng
            .chance(self.map_rate)
            .then(|| self.map_error.clone())
    }
}
