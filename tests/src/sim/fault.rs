//! Deterministic failure injection for the simulated device.

use {
    crate::kit::Rng,
    gpu_alloc_types::{DeviceMapError, OutOfMemory},
};

/// What the simulated device fails on purpose.
///
/// Rates are probabilities per call, drawn from a seeded [`Rng`], so a
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
    rng: Rng,
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
            // The seeding of this device's failures since the first fault runs
            // (the property tests' and the fuzz corpus's seeds replay them).
            rng: Rng::from_state(
                seed.wrapping_add(0x9E37_79B9_7F4A_7C15)
                    .wrapping_mul(0xBF58_476D_1CE4_E5B9),
            ),
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
