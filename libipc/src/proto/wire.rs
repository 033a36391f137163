//! The wire format of protocol messages, requests and replies alike.
//!
//! ```text
//! label    request: the op number (1..=0x7fff)
//!          reply:   REPLY_OK (0, payload = the op's reply) or
//!                   REPLY_ERR (1, payload = the protocol's error enum)
//! word 0   header: bits  0..16  payload length in bytes (0..=952)
//!                  bits 16..32  reserved, zero
//!                  bits 32..64  protocol version (the sender's)
//! words 1..  the postcard payload, little-endian, 8 bytes a word; the last
//!          word's unused bytes are zero. A message of n payload bytes is
//!          exactly 1 + ceil(n / 8) words.
//! ```
//!
//! The byte length rides in the header rather than in a postcard prefix so
//! that the receiver knows the exact frame before decoding anything:
//! decoding then checks that postcard consumed every byte, which catches
//! truncation and garbage that a self-delimiting read would let through.
//!
//! Decoding copies the payload into a 952-byte stack buffer (words to bytes:
//! the only conversion that needs no `unsafe`) and runs postcard over it.
//! Protocol types are bounded (`proto::bounded`), so decoding is bounded
//! in time and space and never allocates. Every failure is a
//! [`ProtoError::BadRequest`], never a panic.

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

use super::ProtoError;
use crate::abi::MSG_MAX_WORDS;

/// Reply label: success; the payload is the op's reply value.
pub const REPLY_OK: u32 = 0;
/// Reply label: failure; the payload is the protocol's error enum.
pub const REPLY_ERR: u32 = 1;

/// Most payload bytes in one message: every word but the header.
pub const PAYLOAD_MAX: usize = (MSG_MAX_WORDS - 1) * 8;

/// A message's header word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Payload length in bytes.
    pub len: usize,
    /// The sender's protocol version.
    pub version: u32,
}

impl Header {
    pub const fn new(len: usize, version: u32) -> Header {
        Header { len, version }
    }

    /// The header word. `len` must be at most [`PAYLOAD_MAX`] (it is masked).
    pub const fn to_word(self) -> u64 {
        ((self.version as u64) << 32) | (self.len as u64 & 0xffff)
    }

    /// Parse a header word: reserved bits set or a length over
    /// [`PAYLOAD_MAX`] is `BadRequest`.
    pub const fn from_word(w: u64) -> Result<Header, ProtoError> {
        let len = (w & 0xffff) as usize;
        if w & 0xffff_0000 != 0 || len > PAYLOAD_MAX {
            return Err(ProtoError::BadRequest);
        }
        Ok(Header { len, version: (w >> 32) as u32 })
    }

    /// Message words a payload of this length takes, header included.
    pub const fn words(self) -> usize {
        1 + self.len.div_ceil(8)
    }
}

/// Pack `bytes` into `out`, 8 to a word, little-endian, the last word
/// zero-padded. Returns the words written; `TooLarge` if they do not fit.
pub fn pack(bytes: &[u8], out: &mut [u64]) -> Result<usize, ProtoError> {
    let n = bytes.len().div_ceil(8);
    let out = out.get_mut(..n).ok_or(ProtoError::TooLarge)?;
    for (w, chunk) in out.iter_mut().zip(bytes.chunks(8)) {
        let mut le = [0u8; 8];
        le.iter_mut().zip(chunk).for_each(|(d, s)| *d = *s);
        *w = u64::from_le_bytes(le);
    }
    Ok(n)
}

/// Unpack `len` bytes from `words` into `out` (the reverse of [`pack`]).
/// `words` must be exactly `ceil(len / 8)` long and the padding bytes zero;
/// anything else is `BadRequest`.
pub fn unpack(words: &[u64], len: usize, out: &mut [u8]) -> Result<(), ProtoError> {
    if words.len() != len.div_ceil(8) {
        return Err(ProtoError::BadRequest);
    }
    let out = out.get_mut(..len).ok_or(ProtoError::BadRequest)?;
    let mut chunks = out.chunks_mut(8);
    for &w in words {
        let le = w.to_le_bytes();
        match chunks.next() {
            Some(chunk) => {
                let (used, pad) = le.split_at(chunk.len());
                chunk.copy_from_slice(used);
                if pad.iter().any(|&b| b != 0) {
                    return Err(ProtoError::BadRequest);
                }
            }
            None => return Err(ProtoError::BadRequest),
        }
    }
    Ok(())
}

/// Encode `value` as postcard bytes into `out`; returns the byte count.
/// A value that does not fit is `TooLarge`.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T, out: &mut [u8]) -> Result<usize, ProtoError> {
    postcard::to_slice(value, out).map(|b| b.len()).map_err(|e| match e {
        postcard::Error::SerializeBufferFull => ProtoError::TooLarge,
        _ => ProtoError::BadRequest,
    })
}

/// Decode exactly `bytes` as a `T`: malformed postcard, a bound exceeded or
/// bytes left over are `BadRequest`.
pub fn from_bytes<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ProtoError> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        _ => Err(ProtoError::BadRequest),
    }
}

/// Encode a message: header (with `version`) and `value`'s postcard bytes
/// into `out`. Returns the words used (at most 120); `TooLarge` if the
/// value takes more than [`PAYLOAD_MAX`] bytes or `out` is too short.
pub fn encode<T: Serialize + ?Sized>(
    version: u32,
    value: &T,
    out: &mut [u64],
) -> Result<usize, ProtoError> {
    let mut bytes = [0u8; PAYLOAD_MAX];
    let len = to_bytes(value, &mut bytes)?;
    let (head, rest) = out.split_first_mut().ok_or(ProtoError::TooLarge)?;
    let payload = bytes.get(..len).ok_or(ProtoError::TooLarge)?;
    let n = pack(payload, rest)?;
    *head = Header::new(len, version).to_word();
    Ok(1 + n)
}

/// A message's payload, copied out of its words: decode it with
/// [`Frame::decode`] (which may borrow from the frame).
pub struct Frame {
    pub header: Header,
    bytes: [u8; PAYLOAD_MAX],
}

impl Frame {
    /// Check a message's words (header, exact length, zero padding) and copy
    /// its payload out.
    pub fn from_words(words: &[u64]) -> Result<Frame, ProtoError> {
        let (&head, payload) = words.split_first().ok_or(ProtoError::BadRequest)?;
        let header = Header::from_word(head)?;
        let mut bytes = [0u8; PAYLOAD_MAX];
        unpack(payload, header.len, &mut bytes)?;
        Ok(Frame { header, bytes })
    }

    /// The payload bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.header.len).unwrap_or(&[])
    }

    /// Decode the payload as a `T` (see [`from_bytes`]).
    pub fn decode<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ProtoError> {
        from_bytes(self.bytes())
    }
}

impl core::fmt::Debug for Frame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Frame").field("header", &self.header).field("bytes", &self.bytes()).finish()
    }
}

/// Decode a message of `words`: its header and its payload as a `T`.
/// Every failure is `BadRequest`.
pub fn decode<T: DeserializeOwned>(words: &[u64]) -> Result<(Header, T), ProtoError> {
    let frame = Frame::from_words(words)?;
    let value = frame.decode()?;
    Ok((frame.header, value))
}

/// The `(words, byte length)` form: decode `words` holding `byte_len`
/// payload bytes without a header (for frames whose length travels
/// elsewhere, like channel frames).
pub fn decode_payload<T: DeserializeOwned>(
    words: &[u64],
    byte_len: usize,
) -> Result<T, ProtoError> {
    if byte_len > PAYLOAD_MAX {
        return Err(ProtoError::TooLarge);
    }
    let mut bytes = [0u8; PAYLOAD_MAX];
    unpack(words, byte_len, &mut bytes)?;
    from_bytes(bytes.get(..byte_len).ok_or(ProtoError::BadRequest)?)
}

/// Write a reply into `out`: `REPLY_OK` with the value, or `REPLY_ERR` with
/// the error. A value too large for a message becomes a `TooLarge` error
/// reply (`E::from`), so the client always hears back.
pub fn reply<R: Serialize, E: Serialize + From<ProtoError>>(
    version: u32,
    result: &Result<R, E>,
    out: &mut [u64],
) -> super::Reply {
    let encoded = match result {
        Ok(v) => encode(version, v, out).map(|len| super::Reply { label: REPLY_OK, len }),
        Err(e) => encode(version, e, out).map(|len| super::Reply { label: REPLY_ERR, len }),
    };
    match encoded {
        Ok(r) => r,
        Err(e) => error_reply::<E>(version, E::from(e), out),
    }
}

/// Write the error reply `err` into `out`. A protocol's error enum always
/// fits; should `out` be too short, the reply is empty (`len` 0), which the
/// client reports as `BadReply`.
pub fn error_reply<E: Serialize>(version: u32, err: E, out: &mut [u64]) -> super::Reply {
    let len = encode(version, &err, out).unwrap_or(0);
    super::Reply { label: REPLY_ERR, len }
}
