//! Server protocols: each declared once, with [`protocol!`](crate::protocol),
//! in its own module here; the typed client, the server's dispatch trait and
//! the wire encoding come from that one declaration. `docs/protocols.md` is
//! the reference; this is the map.
//!
//! - [`wire`]: the message format. The label is the op number (requests) or
//!   the status (replies: [`wire::REPLY_OK`], [`wire::REPLY_ERR`]); word 0 is
//!   a header (payload byte length, protocol version); words 1.. hold the
//!   postcard bytes, little-endian, 8 to a word. At most 952 payload bytes.
//!   Decoding is strict (exact length, zero padding, no trailing bytes),
//!   bounded and never allocates.
//! - [`bounded`]: fixed-capacity [`Bytes`], [`Str`] and [`List`], the only
//!   "variable-length" types protocols use: a length over the bound is a
//!   decode error, not an allocation.
//! - [`bulk`]: [`Bulk`], an (offset, length) reference into a shared-memory
//!   region the two sides set up, for data that should not go through the
//!   kernel; checked against the region and the op's declared maximum.
//! - [`channel`]: zero-copy streams: a single-producer single-consumer ring
//!   of postcard frames in a shared region, robust against a hostile peer,
//!   plus (bare metal) the notification signalling around it.
//! - [`transport`]: the [`Transport`] a client calls through: [`Direct`]
//!   (a function, for tests and in-process servers) on every target, and on
//!   bare metal `Endpoint` (a `Call` on an endpoint cap) and `serve` (the
//!   server's receive-dispatch-reply loop).
//! - [`grant`]: a transport that sends capabilities with a request.
//! - The protocols: [`kv`] (a small key-value store), [`init`] (init's
//!   name service and exit), [`console`] (the console server: output for
//!   every server, interrupt-driven input), [`mem`] (the memory server),
//!   [`process`] (the process server). [`DECLARED`] lists every protocol's name and
//!   version, for the image builder's checks.
//!
//! Errors: every protocol's error enum has a [`ProtoError`] variant first
//! (`Protocol(ProtoError)`), then its own. A malformed request gets an
//! error reply and the server keeps serving.
//!
//! Why postcard into the IPC buffer and not hand-packed words: one
//! declaration gives both sides the same encoding, variable-sized but
//! bounded fields cost only their length, and a decoder that checks
//! everything is postcard's job, not each server's. Why not a derive macro
//! crate: `macro_rules!` needs no proc-macro dependency and keeps the
//! generated code readable with `cargo expand`.

pub mod bounded;
pub mod bulk;
pub mod channel;
pub mod console;
mod declare;
pub mod grant;
pub mod init;
pub mod kv;
pub mod mem;
pub mod process;
pub mod transport;
pub mod wire;

#[cfg(test)]
mod tests;

pub use bounded::{Bytes, List, Str};
pub use bulk::Bulk;
pub use transport::{Direct, Transport};

use core::fmt;
use serde::{Deserialize, Serialize};

/// Errors of the protocol layer, shared by every protocol (each protocol's
/// error enum carries them as its `Protocol` variant). Encoded by serde
/// variant index: new variants are appended, never inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProtoError {
    /// The request did not decode: bad header or length, non-zero padding,
    /// malformed postcard, bytes left over, a bound exceeded.
    BadRequest,
    /// The label is not an op of this protocol.
    UnknownOp,
    /// Client and server speak different versions of the protocol.
    VersionMismatch { client: u32, server: u32 },
    /// A bulk reference lies outside the shared region or is longer than the
    /// op's declared maximum.
    BadBulk,
    /// A bulk op arrived but the server has no shared region for the caller.
    NoRegion,
    /// The message (request or reply) does not fit in 120 words.
    TooLarge,
    /// The reply did not decode (client side).
    BadReply,
    /// The server is gone (died or restarted while we called, or the
    /// endpoint is no longer valid). An idempotent op is retried once after
    /// [`Transport::reconnect`]; others report this.
    ServerGone,
    /// The kernel refused the IPC with this `abi::Error` code.
    Ipc(u64),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::BadRequest => f.write_str("malformed request"),
            ProtoError::UnknownOp => f.write_str("unknown op"),
            ProtoError::VersionMismatch { client, server } => {
                write!(f, "protocol version mismatch (client {client}, server {server})")
            }
            ProtoError::BadBulk => f.write_str("bulk reference out of bounds"),
            ProtoError::NoRegion => f.write_str("no shared region for a bulk op"),
            ProtoError::TooLarge => f.write_str("message too large"),
            ProtoError::BadReply => f.write_str("malformed reply"),
            ProtoError::ServerGone => f.write_str("server gone"),
            ProtoError::Ipc(code) => write!(f, "IPC error {code}"),
        }
    }
}

/// Who sent a request: what the kernel says about the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Caller {
    /// The badge of the endpoint capability the client called through:
    /// servers tell clients apart by it (quotas, sessions).
    pub badge: u64,
}

/// A received request, as `dispatch` takes it.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub badge: u64,
    /// The message's label: the op number.
    pub label: u32,
    /// The message's words (header and payload).
    pub words: &'a [u64],
    /// The shared region this caller's bulk references point into, if the
    /// two sides set one up. Ops with a bulk buffer fail with `NoRegion`
    /// without it.
    pub region: Option<&'a mut [u8]>,
}

impl<'a> Incoming<'a> {
    /// A request without a shared region.
    pub fn new(badge: u64, label: u32, words: &'a [u64]) -> Self {
        Incoming { badge, label, words, region: None }
    }

    /// The same request with `region` for its bulk references.
    pub fn with_region(self, region: &'a mut [u8]) -> Self {
        Incoming { region: Some(region), ..self }
    }
}

/// The reply `dispatch` produced: its label and how many of the output
/// words it filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    pub label: u32,
    pub len: usize,
}

/// Whether an op's requests carry a shared-buffer reference, and which way
/// the data goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkDir {
    /// No bulk buffer.
    None,
    /// Client to server: the server reads at most `max` bytes.
    In { max: u32 },
    /// Server to client: the server writes at most `max` bytes.
    Out { max: u32 },
}

/// What a protocol declares about one op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    /// The op number: the request's label. Stable; new ops are appended.
    pub op: u32,
    pub name: &'static str,
    /// Safe to send again after a server restart: doing it twice leaves
    /// the server as doing it once.
    pub idempotent: bool,
    pub bulk: BulkDir,
}

/// Highest op number: labels from 0x8000 up are left for the kernel's
/// (faults at 0xfa00.., notifications at 0xffff_fffe) and the framework.
pub const OP_MAX: u32 = 0x7fff;

/// Compile-time check of a protocol's op numbers: each in `1..=OP_MAX`,
/// none twice. `protocol!` calls it in a `const` item.
pub const fn check_ops(ops: &[u32]) {
    let mut i = 0;
    while i < ops.len() {
        assert!(ops[i] >= 1 && ops[i] <= OP_MAX, "protocol op number out of 1..=0x7fff");
        let mut j = i + 1;
        while j < ops.len() {
            assert!(ops[i] != ops[j], "protocol op number used twice");
            j += 1;
        }
        i += 1;
    }
}

/// Compile-time check of a protocol's error numbers: 1, 2, 3 ... in
/// declaration order (they are the serde variant indices on the wire; 0 is
/// `Protocol`). `protocol!` calls it in a `const` item.
pub const fn check_errors(codes: &[u32]) {
    let mut i = 0;
    while i < codes.len() {
        assert!(
            codes[i] as usize == i + 1,
            "protocol errors must be numbered 1, 2, 3 ... in order"
        );
        i += 1;
    }
}

/// A protocol's name and version, as its declaration says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    pub name: &'static str,
    pub version: u32,
}

/// Every protocol declared in this crate. The image builder checks the
/// manifest's `provides` and `needs` against it. A new protocol module adds
/// its line here.
pub const DECLARED: &[Declared] = &[
    Declared { name: kv::NAME, version: kv::VERSION },
    Declared { name: init::NAME, version: init::VERSION },
    Declared { name: console::NAME, version: console::VERSION },
    Declared { name: mem::NAME, version: mem::VERSION },
    Declared { name: process::NAME, version: process::VERSION },
];

/// The declaration of protocol `name`.
pub fn declared(name: &str) -> Option<&'static Declared> {
    DECLARED.iter().find(|d| d.name == name)
}

/// What the generated code uses; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde;
}
