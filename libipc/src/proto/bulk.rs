//! Bulk buffers: data that moves by shared memory, not through the kernel.
//!
//! Client and server first share a region (a shared-memory object the
//! memory server maps into both; how they agree on it is the protocol's
//! business, typically an op that hands over the frame caps). An op declared
//! with `bulk_in(MAX)` or `bulk_out(MAX)` then carries a [`Bulk`], an
//! offset and a length into that region, next to its arguments; the kernel
//! copies those two numbers, never the data.
//!
//! The server's dispatch checks the reference before the op runs: length at
//! most the op's declared `MAX`, `offset + len` inside the region, no
//! overflow. A failed check is a `BadBulk` error reply. The op's method then
//! gets the checked `&[u8]` (in) or `&mut [u8]` (out).
//!
//! The region is shared with the client, which can write to it at any time:
//! a server must copy what it needs to validate before validating it (read
//! once, then check the copy), never check in place and use later.

use core::ops::Range;

use serde::{Deserialize, Serialize};

use super::ProtoError;

/// A reference to `len` bytes at `offset` in the shared region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bulk {
    pub offset: u32,
    pub len: u32,
}

impl Bulk {
    pub const fn new(offset: u32, len: u32) -> Bulk {
        Bulk { offset, len }
    }

    /// The byte range in a region of `region_len` bytes, if the reference is
    /// at most `max` long and inside the region; `BadBulk` otherwise.
    pub fn range(self, region_len: usize, max: u32) -> Result<Range<usize>, ProtoError> {
        if self.len > max {
            return Err(ProtoError::BadBulk);
        }
        let start = self.offset as usize;
        let end = start.checked_add(self.len as usize).ok_or(ProtoError::BadBulk)?;
        if end > region_len {
            return Err(ProtoError::BadBulk);
        }
        Ok(start..end)
    }

    /// The referenced bytes of `region` (see [`Bulk::range`]).
    pub fn slice(self, region: &[u8], max: u32) -> Result<&[u8], ProtoError> {
        let r = self.range(region.len(), max)?;
        region.get(r).ok_or(ProtoError::BadBulk)
    }

    /// The referenced bytes of `region`, writable (see [`Bulk::range`]).
    pub fn slice_mut(self, region: &mut [u8], max: u32) -> Result<&mut [u8], ProtoError> {
        let r = self.range(region.len(), max)?;
        region.get_mut(r).ok_or(ProtoError::BadBulk)
    }

    /// Client side: copy `data` into `region` at `offset` and return the
    /// reference to it (`BadBulk` if it does not fit or is longer than
    /// `max`).
    pub fn put(region: &mut [u8], offset: u32, data: &[u8], max: u32) -> Result<Bulk, ProtoError> {
        let len = u32::try_from(data.len()).map_err(|_| ProtoError::BadBulk)?;
        let b = Bulk::new(offset, len);
        b.slice_mut(region, max)?.copy_from_slice(data);
        Ok(b)
    }
}
