//! Zero-copy channels: a single-producer single-consumer ring of postcard
//! frames in a shared-memory region, for streams (console output, packets,
//! log lines) that should not cost a kernel IPC per item. The kernel only
//! carries the wake-ups (a notification signal), never the data.
//!
//! # The region
//!
//! The two sides see the same region as `&[AtomicU64]`, 8-byte words:
//!
//! ```text
//! word 0        head: words the producer has written (free-running u64)
//! word 8        tail: words the consumer has read    (free-running u64)
//!               (own 64-byte lines, so the two sides do not share a cache line)
//! words 16..    the ring: cap = region.len() - 16 words
//! ```
//!
//! A frame starts at `head % cap`: a header word (`len` in bits 0..32,
//! `seq` in bits 32..64) and `ceil(len / 8)` words of postcard bytes,
//! little-endian, zero-padded. A frame never wraps: if it does not fit
//! before the end of the ring, the producer writes a pad header
//! (`len = 0xffff_ffff`, same `seq`) and starts the frame at word 0. `seq`
//! counts frames from 0; the consumer checks it, which catches a producer
//! that rewrites published frames or a lost update.
//!
//! The producer stores payload words, then `head` with `Release`; the
//! consumer loads `head` with `Acquire`, copies the frame out, then stores
//! `tail` with `Release`, which the producer loads with `Acquire` before
//! reusing the space.
//!
//! # Why `&[AtomicU64]`
//!
//! The memory is written by another thread or process while we read it, so
//! a `&[u8]` or `&mut [u8]` view would be a data race as Rust defines it.
//! Atomics make every access well defined without `unsafe` in this crate;
//! relaxed 8-byte atomic loads and stores are plain loads and stores on
//! x86_64 and riscv64, so the ring costs nothing for it. Turning the mapped
//! pages into `&[AtomicU64]` (8-byte aligned: pages are) is the one unsafe
//! step, done once by whoever maps the region (the runtime); host tests use
//! a `Vec<AtomicU64>`. Indices live in the region itself rather than in a
//! separate pair of atomics so that one shared object is the whole channel.
//!
//! # A hostile peer
//!
//! Each side keeps its own index privately and only publishes it; the
//! peer's index and every frame header are checked before use (`head - tail`
//! at most `cap`, a frame inside the published part and before the end of
//! the ring, `len` at most [`FRAME_MAX`], `seq` the expected one, a pad not
//! at word 0). A failed check is [`ChannelError::Corrupt`]: the channel is
//! then broken for good (every later call reports `Corrupt`) and should be
//! torn down. Nothing panics and nothing is read outside the region. The
//! consumer copies a frame out before decoding it, so a producer that keeps
//! writing cannot change bytes under the decoder.
//!
//! "Zero-copy": the producer serializes straight into the ring (postcard
//! runs twice, once to size the frame and once to write it) and the kernel
//! copies nothing; the consumer's one copy of each frame is the price of
//! the point above.

use core::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Word index of `head` in the region.
pub const HEAD: usize = 0;
/// Word index of `tail` in the region.
pub const TAIL: usize = 8;
/// Words before the ring.
pub const HEADER_WORDS: usize = 16;
/// Largest frame payload, in bytes.
pub const FRAME_MAX: usize = 4096;
/// Frame header `len` of a pad: skip to the end of the ring.
const PAD: u32 = u32::MAX;

/// What can go wrong on a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelError {
    /// The region has no room for the header and a ring of two words.
    RegionTooSmall,
    /// No room for this frame now; try again once the consumer has read.
    Full,
    /// A frame over [`FRAME_MAX`] bytes or larger than the ring; or, when
    /// popping into a caller's buffer, a frame larger than the buffer (the
    /// frame is skipped).
    TooLarge,
    /// The value did not serialize.
    Encode,
    /// The frame did not decode as the expected type (it is skipped).
    Decode,
    /// The peer broke the ring's rules; the channel is unusable.
    Corrupt,
    /// Signalling or waiting on the notification failed (`abi::Error`).
    Ipc(u64),
}

/// Zero the region's indices: the creator of a channel does this once,
/// before either side attaches.
pub fn init(region: &[AtomicU64]) -> Result<(), ChannelError> {
    let l = Layout::of(region)?;
    l.head.store(0, Ordering::Relaxed);
    l.tail.store(0, Ordering::Relaxed);
    Ok(())
}

struct Layout<'a> {
    head: &'a AtomicU64,
    tail: &'a AtomicU64,
    ring: &'a [AtomicU64],
}

impl<'a> Layout<'a> {
    fn of(region: &'a [AtomicU64]) -> Result<Layout<'a>, ChannelError> {
        let head = region.get(HEAD).ok_or(ChannelError::RegionTooSmall)?;
        let tail = region.get(TAIL).ok_or(ChannelError::RegionTooSmall)?;
        let ring = region.get(HEADER_WORDS..).ok_or(ChannelError::RegionTooSmall)?;
        if ring.len() < 2 {
            return Err(ChannelError::RegionTooSmall);
        }
        Ok(Layout { head, tail, ring })
    }

    fn cap(&self) -> u64 {
        self.ring.len() as u64
    }
}

const fn frame_header(len: u32, seq: u32) -> u64 {
    ((seq as u64) << 32) | len as u64
}

/// Words a frame of `len` payload bytes takes, header included.
const fn frame_words(len: usize) -> usize {
    1 + len.div_ceil(8)
}

// ---------------------------------------------------------------------------
// Producer
// ---------------------------------------------------------------------------

/// The writing side of a channel.
pub struct Producer<'a> {
    l: Layout<'a>,
    /// Our `head`: the shared copy is only ever written from this.
    head: u64,
    seq: u32,
    broken: bool,
}

impl<'a> Producer<'a> {
    /// The producer of the ring in `region` (initialised with [`init`]).
    pub fn new(region: &'a [AtomicU64]) -> Result<Self, ChannelError> {
        let l = Layout::of(region)?;
        let head = l.head.load(Ordering::Relaxed);
        Ok(Producer { l, head, seq: 0, broken: false })
    }

    /// Ring capacity in words.
    pub fn capacity(&self) -> usize {
        self.l.ring.len()
    }

    /// Append `value` as one frame, serialized straight into the ring.
    /// `Full` if there is no room now (nothing is written).
    pub fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ChannelError> {
        let len =
            postcard::serialize_with_flavor(value, Count(0)).map_err(|_| ChannelError::TooLarge)?;
        let pos = self.reserve(len)?;
        let start = pos.checked_add(1).ok_or(ChannelError::Corrupt)?;
        let words = self.l.ring.get(start..start + len.div_ceil(8)).ok_or(ChannelError::Corrupt)?;
        let written = postcard::serialize_with_flavor(value, RingWriter::new(words))
            .map_err(|_| ChannelError::Encode)?;
        // A `Serialize` that gives a different length the second time.
        if written != len {
            return Err(ChannelError::Encode);
        }
        self.publish(pos, len);
        Ok(())
    }

    /// Append `bytes` (already encoded) as one frame.
    pub fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        let len = bytes.len();
        if len > FRAME_MAX {
            return Err(ChannelError::TooLarge);
        }
        let pos = self.reserve(len)?;
        let start = pos.checked_add(1).ok_or(ChannelError::Corrupt)?;
        let words = self.l.ring.get(start..start + len.div_ceil(8)).ok_or(ChannelError::Corrupt)?;
        for (w, chunk) in words.iter().zip(bytes.chunks(8)) {
            let mut le = [0u8; 8];
            le.iter_mut().zip(chunk).for_each(|(d, s)| *d = *s);
            w.store(u64::from_le_bytes(le), Ordering::Relaxed);
        }
        self.publish(pos, len);
        Ok(())
    }

    /// Find room for a frame of `len` bytes; write a pad if it must start
    /// at word 0. Returns the ring index of its header word. Nothing is
    /// published yet.
    fn reserve(&mut self, len: usize) -> Result<usize, ChannelError> {
        if self.broken {
            return Err(ChannelError::Corrupt);
        }
        let cap = self.l.cap();
        let need = frame_words(len) as u64;
        if len > FRAME_MAX || need > cap {
            return Err(ChannelError::TooLarge);
        }
        let tail = self.l.tail.load(Ordering::Acquire);
        let used = self.head.wrapping_sub(tail);
        if used > cap {
            self.broken = true;
            return Err(ChannelError::Corrupt);
        }
        let free = cap - used;
        let pos = self.head % cap;
        let contig = cap - pos;
        if need <= contig {
            if need > free {
                return Err(ChannelError::Full);
            }
            return Ok(pos as usize);
        }
        if contig + need > free {
            return Err(ChannelError::Full);
        }
        let pad = self.l.ring.get(pos as usize).ok_or(ChannelError::Corrupt)?;
        pad.store(frame_header(PAD, self.seq), Ordering::Relaxed);
        // The pad is published together with the frame after it.
        self.head = self.head.wrapping_add(contig);
        Ok(0)
    }

    /// Write the header of the frame at `pos` and publish it.
    fn publish(&mut self, pos: usize, len: usize) {
        if let Some(h) = self.l.ring.get(pos) {
            h.store(frame_header(len as u32, self.seq), Ordering::Relaxed);
        }
        self.seq = self.seq.wrapping_add(1);
        self.head = self.head.wrapping_add(frame_words(len) as u64);
        self.l.head.store(self.head, Ordering::Release);
    }
}

impl core::fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("cap", &self.l.cap())
            .field("head", &self.head)
            .field("seq", &self.seq)
            .finish()
    }
}

/// A postcard flavor that only counts bytes (up to `FRAME_MAX`).
struct Count(usize);

impl postcard::ser_flavors::Flavor for Count {
    type Output = usize;

    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        if self.0 >= FRAME_MAX {
            return Err(postcard::Error::SerializeBufferFull);
        }
        self.0 += 1;
        Ok(())
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        match self.0.checked_add(data.len()) {
            Some(n) if n <= FRAME_MAX => {
                self.0 = n;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

/// A postcard flavor that writes bytes into ring words, 8 to a word.
struct RingWriter<'a> {
    words: &'a [AtomicU64],
    /// Bytes written.
    n: usize,
    acc: u64,
}

impl<'a> RingWriter<'a> {
    fn new(words: &'a [AtomicU64]) -> Self {
        RingWriter { words, n: 0, acc: 0 }
    }
}

impl postcard::ser_flavors::Flavor for RingWriter<'_> {
    type Output = usize;

    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        let shift = (self.n % 8) * 8;
        self.acc |= u64::from(b) << shift;
        self.n += 1;
        if self.n.is_multiple_of(8) {
            let w = self.words.get(self.n / 8 - 1).ok_or(postcard::Error::SerializeBufferFull)?;
            w.store(self.acc, Ordering::Relaxed);
            self.acc = 0;
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        if !self.n.is_multiple_of(8) {
            let w = self.words.get(self.n / 8).ok_or(postcard::Error::SerializeBufferFull)?;
            w.store(self.acc, Ordering::Relaxed);
        }
        Ok(self.n)
    }
}

// ---------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------

/// The reading side of a channel.
pub struct Consumer<'a> {
    l: Layout<'a>,
    /// Our `tail`: the shared copy is only ever written from this.
    tail: u64,
    seq: u32,
    broken: bool,
}

impl<'a> Consumer<'a> {
    /// The consumer of the ring in `region` (initialised with [`init`]).
    pub fn new(region: &'a [AtomicU64]) -> Result<Self, ChannelError> {
        let l = Layout::of(region)?;
        let tail = l.tail.load(Ordering::Relaxed);
        Ok(Consumer { l, tail, seq: 0, broken: false })
    }

    /// Ring capacity in words.
    pub fn capacity(&self) -> usize {
        self.l.ring.len()
    }

    /// Whether no frame is waiting (an error counts as not empty: `pop`
    /// will report it).
    pub fn is_empty(&self) -> bool {
        !self.broken && self.l.head.load(Ordering::Acquire) == self.tail
    }

    /// The next frame, decoded as a `T`; `None` if the ring is empty. A frame
    /// that does not decode is skipped and reported as `Decode`.
    pub fn pop<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ChannelError> {
        let mut buf = [0u8; FRAME_MAX];
        match self.pop_into(&mut buf)? {
            None => Ok(None),
            Some(n) => {
                let bytes = buf.get(..n).ok_or(ChannelError::Decode)?;
                super::wire::from_bytes(bytes).map(Some).map_err(|_| ChannelError::Decode)
            }
        }
    }

    /// Copy the next frame's bytes into `buf`; returns their count, or
    /// `None` if the ring is empty. A frame longer than `buf` is skipped and
    /// reported as `TooLarge`.
    pub fn pop_into(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ChannelError> {
        if self.broken {
            return Err(ChannelError::Corrupt);
        }
        let r = self.take(buf);
        if r == Err(ChannelError::Corrupt) {
            self.broken = true;
        }
        r
    }

    fn take(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ChannelError> {
        let cap = self.l.cap();
        let head = self.l.head.load(Ordering::Acquire);
        // At most a pad and a frame.
        for _ in 0..2 {
            let avail = head.wrapping_sub(self.tail);
            if avail > cap {
                return Err(ChannelError::Corrupt);
            }
            if avail == 0 {
                return Ok(None);
            }
            let pos = self.tail % cap;
            let contig = cap - pos;
            let h = self.l.ring.get(pos as usize).ok_or(ChannelError::Corrupt)?;
            let h = h.load(Ordering::Relaxed);
            let (len, seq) = (h as u32, (h >> 32) as u32);
            if seq != self.seq {
                return Err(ChannelError::Corrupt);
            }
            if len == PAD {
                if pos == 0 || contig > avail {
                    return Err(ChannelError::Corrupt);
                }
                self.advance(contig);
                continue;
            }
            let len = len as usize;
            let need = frame_words(len) as u64;
            if len > FRAME_MAX || need > contig || need > avail {
                return Err(ChannelError::Corrupt);
            }
            let start = pos as usize + 1;
            let words =
                self.l.ring.get(start..start + len.div_ceil(8)).ok_or(ChannelError::Corrupt)?;
            let fits = len <= buf.len();
            if fits {
                for (chunk, w) in buf.chunks_mut(8).zip(words) {
                    let le = w.load(Ordering::Relaxed).to_le_bytes();
                    chunk.iter_mut().zip(le).for_each(|(d, s)| *d = s);
                }
            }
            self.seq = self.seq.wrapping_add(1);
            self.advance(need);
            return if fits { Ok(Some(len)) } else { Err(ChannelError::TooLarge) };
        }
        // Two pads in a row.
        Err(ChannelError::Corrupt)
    }

    fn advance(&mut self, words: u64) {
        self.tail = self.tail.wrapping_add(words);
        self.l.tail.store(self.tail, Ordering::Release);
    }
}

impl core::fmt::Debug for Consumer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("cap", &self.l.cap())
            .field("tail", &self.tail)
            .field("seq", &self.seq)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Signalling (bare metal)
// ---------------------------------------------------------------------------

#[cfg(target_os = "none")]
pub use bare::{Receiver, Sender};

#[cfg(target_os = "none")]
mod bare {
    use super::*;
    use crate::abi::Error;
    use crate::cap::{Cap, Notification};

    fn ipc(e: Error) -> ChannelError {
        ChannelError::Ipc(e as u64)
    }

    /// A producer that signals the consumer's notification after each
    /// frame and, when the ring is full, waits on its own (which the
    /// consumer signals when it makes room) if it has one.
    #[derive(Debug)]
    pub struct Sender<'a> {
        pub ring: Producer<'a>,
        /// Signalled after each push: the consumer waits on it.
        pub peer: Cap<Notification>,
        /// Waited on while the ring is full (`None`: `send` reports `Full`).
        pub space: Option<Cap<Notification>>,
    }

    impl<'a> Sender<'a> {
        pub fn new(ring: Producer<'a>, peer: Cap<Notification>) -> Self {
            Sender { ring, peer, space: None }
        }

        /// Push `value` and wake the consumer; wait for room while full if
        /// there is a `space` notification.
        pub fn send<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ChannelError> {
            loop {
                match (self.ring.push(value), self.space) {
                    (Ok(()), _) => return self.peer.signal().map_err(ipc),
                    (Err(ChannelError::Full), Some(space)) => {
                        // Wake the consumer in case it sleeps on a full ring.
                        self.peer.signal().map_err(ipc)?;
                        space.wait().map_err(ipc)?;
                    }
                    (Err(e), _) => return Err(e),
                }
            }
        }
    }

    /// A consumer that waits on its notification while the ring is empty
    /// and signals the producer's (if any) after taking a frame.
    #[derive(Debug)]
    pub struct Receiver<'a> {
        pub ring: Consumer<'a>,
        /// Waited on while the ring is empty: the producer signals it.
        pub wake: Cap<Notification>,
        /// Signalled after each pop, for a producer waiting for room.
        pub space: Option<Cap<Notification>>,
    }

    impl<'a> Receiver<'a> {
        pub fn new(ring: Consumer<'a>, wake: Cap<Notification>) -> Self {
            Receiver { ring, wake, space: None }
        }

        /// The next value, waiting for one if the ring is empty. A signal
        /// that arrives between the empty check and the wait is kept in the
        /// notification word, so no wake-up is lost.
        pub fn recv<T: DeserializeOwned>(&mut self) -> Result<T, ChannelError> {
            loop {
                if let Some(v) = self.try_recv()? {
                    return Ok(v);
                }
                self.wake.wait().map_err(ipc)?;
            }
        }

        /// The next value if one is there.
        pub fn try_recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, ChannelError> {
            let r = self.ring.pop();
            if let (Ok(Some(_)) | Err(ChannelError::Decode | ChannelError::TooLarge), Some(space)) =
                (&r, self.space)
            {
                space.signal().map_err(ipc)?;
            }
            r
        }
    }
}
