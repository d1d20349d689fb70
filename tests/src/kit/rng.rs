//! The seeded random number generator of the tests, the demo, the bench and the
//! soak: xorshift64* (Vigna), fast, without dependencies, and good enough to draw
//! sizes, choices and failures. One seed gives one stream on every machine, so a
//! trace, a workload or a failing program comes back exactly.
//!
//! Its streams are recorded in places: the bench's traces (the numbers in
//! `BENCHMARKS.md` compare runs of the same requests), the demo's workload (the
//! runs in `demo/GPU-RUN.md` and the README), the soak's run, the simulated
//! device's failures and the fuzz corpus. The tests below pin the first draws,
//! so that a change to the generator is a decision, not an accident.

/// xorshift64*: a 64-bit state, never zero, stepped by three shifts and output
/// through one multiplication.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value): one splitmix64 step spreads the seed
    /// over all bits, so that nearby seeds give unrelated streams.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng::from_state(z)
    }

    /// A generator whose state is `seed` times the 64-bit golden ratio, made
    /// odd: a cheaper spread than [`new`](Rng::new), and the seeding of the
    /// demo's workload, the soak and the backends' data patterns.
    pub fn odd_state(seed: u64) -> Self {
        Rng::from_state(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A generator that starts from `state` as it is (0, which xorshift never
    /// leaves, is taken as 1).
    pub fn from_state(state: u64) -> Self {
        Rng(state.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift of 53 random bits.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64() >> 11) * u128::from(n)) >> 53) as u64
    }

    /// In `0..n` (`n > 0`) as the remainder of the next 64 bits: slightly
    /// uneven where `n` does not divide 2^64, and what the demo, the soak and the
    /// backend tests drew with before they shared this generator, so their runs
    /// stay the ones recorded. New code takes [`below`](Rng::below).
    pub fn below_mod(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`: 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `true` with probability `rate` (clamped to 0..=1). Draws nothing when
    /// `rate` is 0 or 1, so a knob turned off or fully on leaves the stream as it
    /// was.
    pub fn chance(&mut self, rate: f64) -> bool {
        if rate <= 0.0 {
            return false;
        }
        if rate >= 1.0 {
            return true;
        }
        self.unit() < rate
    }

    /// Log-uniform in `lo..=hi` (`0 < lo <= hi`).
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let (l, h) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
        ((l + (h - l) * self.unit()).exp() as u64).clamp(lo, hi)
    }

    /// A power of two `2^k` with `k` uniform in `lo_log2..=hi_log2`.
    pub fn pow2(&mut self, lo_log2: u32, hi_log2: u32) -> u64 {
        1 << (lo_log2 + self.below(u64::from(hi_log2 - lo_log2 + 1)) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first draws, as the bench's and the demo's own generators gave them
    /// before they were merged into this one.
    #[test]
    fn streams_are_pinned() {
        let mut rng = Rng::new(1);
        let draws = [rng.next_u64(), rng.next_u64(), rng.next_u64()];
        assert_eq!(
            draws,
            [
                0x4b46_a55d_f361_1b9b,
                0xd7e1_f141_0e76_3ef4,
                0x5f14_ec66_975f_9b06
            ]
        );
        let mut rng = Rng::new(0);
        let draws = [rng.below(1000), rng.below(1000), rng.below(1000)];
        assert_eq!(draws, [483, 869, 702]);

        let mut rng = Rng::odd_state(1);
        assert_eq!(
            [rng.next_u64(), rng.next_u64()],
            [0x0d83_b3e2_9a21_487a, 0x54c4_4c79_f1fe_9d67]
        );
        assert_eq!([rng.below_mod(1000), rng.below_mod(1000)], [712, 617]);
    }

    #[test]
    fn state_zero_is_one() {
        let (mut zero, mut one) = (Rng::from_state(0), Rng::from_state(1));
        for _ in 0..4 {
            assert_eq!(zero.next_u64(), one.next_u64());
        }
        assert_ne!(zero.next_u64(), 0);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut rng = Rng::new(7);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let b = rng.below(10);
            seen[b as usize] = true;
            assert!(rng.below_mod(10) < 10);
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u), "{u}");
            let l = rng.log_uniform(16, 4096);
            assert!((16..=4096).contains(&l), "{l}");
            let p = rng.pow2(4, 8);
            assert!(p.is_power_of_two() && (16..=256).contains(&p), "{p}");
        }
        assert!(
            seen.iter().all(|&s| s),
            "below(10) missed a value: {seen:?}"
        );
        assert_eq!(rng.below(1), 0);
    }

    /// `chance` draws nothing at rates 0 and 1, and lands near the rate between.
    #[test]
    fn chance_keeps_the_stream() {
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        assert!(!a.chance(0.0) && !a.chance(-1.0) && a.chance(1.0) && a.chance(2.0));
        assert_eq!(a.next_u64(), b.next_u64());
        let hits = (0..10_000).filter(|_| a.chance(0.25)).count();
        assert!((2300..2700).contains(&hits), "{hits} of 10000 at 0.25");
    }
}
