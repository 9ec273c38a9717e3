//! The host's answers to a module's questions about time and chance, fixed by the job.

use std::convert::Infallible;
use std::time::Duration;

use rand_core::TryRng;
use sha2::{Digest as _, Sha256};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Random bytes for `random_get`: block `i` of the stream is `SHA-256(seed || i)` (`i` as 8
/// bytes, big-endian), the blocks concatenated. Anyone holding the seed can recompute every
/// byte a module was given.
pub struct SeededRandom {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl SeededRandom {
    /// The stream of `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        SeededRandom {
            seed,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.used == 32 {
            let mut h = Sha256::new();
            h.update(self.seed);
            h.update(self.counter.to_be_bytes());
            self.block = h.finalize().into();
            self.counter += 1;
            self.used = 0;
        }
        let b = self.block[self.used];
        self.used += 1;
        b
    }
}

impl TryRng for SeededRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.byte();
        }
        Ok(())
    }
}

/// A clock that always reads the same instant: `time_ns` after the Unix epoch (wall clock) or
/// after an arbitrary origin (monotonic clock), with a resolution of 1 ns.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock {
    /// Nanoseconds.
    pub time_ns: u64,
}

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.time_ns)
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.time_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_sha256_of_the_seed_and_a_counter() {
        let mut r = SeededRandom::new([7; 32]);
        let mut got = [0u8; 40];
        r.try_fill_bytes(&mut got).unwrap();
        let block = |i: u64| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update([7u8; 32]);
            h.update(i.to_be_bytes());
            h.finalize().into()
        };
        assert_eq!(got[..32], block(0));
        assert_eq!(got[32..], block(1)[..8]);
        let mut other = SeededRandom::new([8; 32]);
        assert_ne!(
            other.try_next_u64().unwrap(),
            u64::from_le_bytes(block(0)[..8].try_into().unwrap())
        );
    }
}
