//! Host tests of the protocol framework: the wire format, the bounded
//! types, bulk references, the `protocol!` macro (through `kv` and a test
//! protocol with bulk ops) and the channels.

#![allow(clippy::unwrap_used)]

mod bounded;
mod bulk_ops;
mod channel;
mod kv;
mod memproc;
mod wire;

/// A small deterministic generator for the fuzz-style tests.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
