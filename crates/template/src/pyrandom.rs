//! Python's `random` module where Ansible relies on it: a seeded `random.Random` (Mersenne
//! Twister, seeded exactly as CPython seeds it) and `random.SystemRandom`.
//!
//! Seeds matter to users: `{{ 59 | random(seed=inventory_hostname) }}` and the password lookup's
//! `seed=` must give the numbers Ansible gives, or a converted playbook reshuffles every cron
//! minute and password it derived.

use std::io::Read;

use sha2::{Digest, Sha512};

/// A source of random bits with Python's `_randbelow` on top.
pub trait PyRng {
    /// `getrandbits(k)` for `k <= 64`.
    fn getrandbits(&mut self, k: u32) -> Result<u64, String>;

    /// `_randbelow_with_getrandbits(n)`: uniform in `0..n` by rejection, as CPython draws it.
    fn below(&mut self, n: u64) -> Result<u64, String> {
        if n == 0 {
            return Ok(0);
        }
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k)?;
            if r < n {
                return Ok(r);
            }
        }
    }

    /// `random.choice(seq)`, as an index.
    fn choice_index(&mut self, len: usize) -> Result<usize, String> {
        if len == 0 {
            return Err("Cannot choose from an empty sequence".into());
        }
        let n = u64::try_from(len).map_err(|e| e.to_string())?;
        usize::try_from(self.below(n)?).map_err(|e| e.to_string())
    }

    /// `random.shuffle(list)`.
    fn shuffle<T>(&mut self, items: &mut [T]) -> Result<(), String>
    where
        Self: Sized,
    {
        for i in (1..items.len()).rev() {
            let bound = u64::try_from(i + 1).map_err(|e| e.to_string())?;
            let j = usize::try_from(self.below(bound)?).map_err(|e| e.to_string())?;
            items.swap(i, j);
        }
        Ok(())
    }

    /// `random.randrange(start, stop, step)`.
    fn randrange(&mut self, start: i64, stop: i64, step: i64) -> Result<i64, String> {
        let width = i128::from(stop) - i128::from(start);
        let step = i128::from(step);
        let count = match step {
            0 => return Err("zero step for randrange()".into()),
            1 if width > 0 => width,
            s if s > 0 => (width + s - 1) / s,
            s => (width + s + 1) / s,
        };
        if count <= 0 {
            return Err(format!("empty range in randrange({start}, {stop}, {step})"));
        }
        let n = u64::try_from(count).map_err(|e| e.to_string())?;
        let pick = i128::from(self.below(n)?);
        i64::try_from(i128::from(start) + step * pick).map_err(|e| e.to_string())
    }
}

/// `random.SystemRandom`: bits from the kernel.
pub struct SystemRandom;

impl PyRng for SystemRandom {
    fn getrandbits(&mut self, k: u32) -> Result<u64, String> {
        let mut buf = [0u8; 8];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|e| format!("cannot read random bytes from /dev/urandom: {e}"))?;
        let bits = u64::from_le_bytes(buf);
        Ok(if k >= 64 { bits } else { bits >> (64 - k) })
    }
}

const N: usize = 624;
const M: usize = 397;

/// `random.Random(seed)`.
pub struct MersenneTwister {
    state: [u32; N],
    index: usize,
}

/// A seed Python accepts deterministically (version 2 seeding).
pub enum Seed<'a> {
    Int(i128),
    Text(&'a str),
}

impl MersenneTwister {
    pub fn new(seed: Seed<'_>) -> MersenneTwister {
        let key = match seed {
            Seed::Int(i) => int_key(&i.unsigned_abs().to_be_bytes()),
            Seed::Text(s) => {
                // random.seed(str): int.from_bytes(s + sha512(s), 'big').
                let mut bytes = s.as_bytes().to_vec();
                bytes.extend_from_slice(&Sha512::digest(s.as_bytes()));
                int_key(&bytes)
            }
        };
        let mut mt = MersenneTwister {
            state: [0; N],
            index: N,
        };
        mt.init_by_array(&key);
        mt
    }

    fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..N {
            let prev = self.state[i - 1];
            self.state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let mut i = 1usize;
        let mut j = 0usize;
        let len = key.len().max(1);
        for _ in 0..N.max(len) {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key.get(j).copied().unwrap_or(0))
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.state[i - 1];
            self.state[i] = (self.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.state[0] = self.state[N - 1];
                i = 1;
            }
        }
        self.state[0] = 0x8000_0000;
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            for k in 0..N {
                let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
                self.state[k] = self.state[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

impl PyRng for MersenneTwister {
    fn getrandbits(&mut self, k: u32) -> Result<u64, String> {
        match k {
            0 => Ok(0),
            1..=32 => Ok(u64::from(self.next_u32() >> (32 - k))),
            // Longer draws are assembled from 32-bit words, least significant first.
            33..=64 => {
                let low = u64::from(self.next_u32());
                let high = u64::from(self.next_u32() >> (64 - k));
                Ok(low | (high << 32))
            }
            _ => Err(format!("cannot draw {k} random bits")),
        }
    }
}

/// The 32-bit words (least significant first) of a big-endian unsigned integer, as CPython
/// splits a seed for `init_by_array`.
fn int_key(be_bytes: &[u8]) -> Vec<u32> {
    let significant: &[u8] = match be_bytes.iter().position(|b| *b != 0) {
        Some(first) => &be_bytes[first..],
        None => &[],
    };
    let mut words = Vec::with_capacity(significant.len() / 4 + 1);
    for chunk in significant.rchunks(4) {
        let mut word = [0u8; 4];
        word[4 - chunk.len()..].copy_from_slice(chunk);
        words.push(u32::from_be_bytes(word));
    }
    if words.is_empty() {
        words.push(0);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference values from CPython 3.11.
    #[test]
    fn int_seeds_match_cpython() {
        let mut r = MersenneTwister::new(Seed::Int(42));
        // random.Random(42).getrandbits(32)
        assert_eq!(r.getrandbits(32), Ok(2_746_317_213));
        let mut r = MersenneTwister::new(Seed::Int(0));
        // random.Random(0).randrange(0, 100)
        assert_eq!(r.randrange(0, 100, 1), Ok(49));
        // r = random.Random(2**40 + 5); r.getrandbits(40); r.randrange(10, 100, 7)
        let mut r = MersenneTwister::new(Seed::Int((1 << 40) + 5));
        assert_eq!(r.getrandbits(40), Ok(569_101_979_940));
        assert_eq!(r.randrange(10, 100, 7), Ok(38));
        // random.Random(-7).choice('abcdef')
        let mut r = MersenneTwister::new(Seed::Int(-7));
        assert_eq!(r.choice_index(6), Ok(2));
    }

    #[test]
    fn text_seeds_match_cpython() {
        // random.Random('foo').randrange(0, 60)
        let mut r = MersenneTwister::new(Seed::Text("foo"));
        assert_eq!(r.randrange(0, 60, 1), Ok(29));
        // l = list(range(10)); random.Random('web01').shuffle(l)
        let mut items: Vec<u32> = (0..10).collect();
        let mut r = MersenneTwister::new(Seed::Text("web01"));
        assert_eq!(r.shuffle(&mut items), Ok(()));
        assert_eq!(items, vec![3, 2, 8, 4, 7, 9, 1, 0, 6, 5]);
    }
}
