//! Exponential back-off with jitter: one type for retries, throttling and IAM failures.

use std::time::Duration;

use rand::Rng as _;

/// How a delay is spread around its exponential ceiling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    /// Anywhere from zero to the ceiling (retries: callers spread out the most).
    Full,
    /// The ceiling times a factor drawn from `lo..hi` (pauses that must last at least
    /// about the ceiling, but not all end together).
    Scaled {
        /// Smallest factor.
        lo: f64,
        /// Largest factor (exclusive).
        hi: f64,
    },
}

/// `base x 2^(n-1)`, capped at `cap`, then jittered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// The first delay's ceiling.
    pub base: Duration,
    /// Largest ceiling.
    pub cap: Duration,
    /// How the delay is drawn below or around the ceiling.
    pub jitter: Jitter,
}

impl Backoff {
    /// The ceiling before failure number `n` (1-based) is tried again, without jitter.
    pub fn ceiling(&self, n: u32) -> Duration {
        let doublings = n.saturating_sub(1).min(20);
        self.base.saturating_mul(1u32 << doublings).min(self.cap)
    }

    /// The delay after failure number `n` (1-based), jittered.
    pub fn delay(&self, n: u32) -> Duration {
        let ceiling = self.ceiling(n);
        match self.jitter {
            Jitter::Full => ceiling.mul_f64(rand::rng().random::<f64>()),
            Jitter::Scaled { lo, hi } => ceiling.mul_f64(rand::rng().random_range(lo..hi)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap_and_jitter_stays_in_range() {
        let b = Backoff {
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            jitter: Jitter::Full,
        };
        assert_eq!(b.ceiling(1), Duration::from_millis(250));
        assert_eq!(b.ceiling(3), Duration::from_secs(1));
        assert_eq!(b.ceiling(40), Duration::from_secs(8));
        for n in 1..10 {
            assert!(b.delay(n) <= b.ceiling(n));
        }
        let s = Backoff {
            jitter: Jitter::Scaled { lo: 0.8, hi: 1.2 },
            ..b
        };
        for n in 1..10 {
            let d = s.delay(n);
            assert!(d >= s.ceiling(n).mul_f64(0.8) && d <= s.ceiling(n).mul_f64(1.2));
        }
    }
}
