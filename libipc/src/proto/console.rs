//! `console`: the console server (`servers/console`) drives the machine's
//! UART (a 16550 on both arches) from user space: output for every server,
//! and interrupt-driven input kept in a ring until a client reads it.
//!
//! | op | arguments | returns | errors |
//! |---|---|---|---|
//! | 1 `write` | up to `WRITE_MAX` bytes | how many bytes were written (all of them) | `Device` |
//! | 2 `read` | `max`: most bytes wanted | up to `min(max, READ_MAX)` buffered input bytes, oldest first (empty if none: never blocks) | none |
//! | 3 `subscribe` | none; a notification cap travels with the call | the subscriber's number | `NoNotification`, `TooManySubscribers` |
//! | 4 `info` | none | counters: bytes in, out, dropped, interrupts, subscribers | none |
//!
//! **Output is atomic per request.** The server writes one request's bytes
//! to the UART before it takes the next request, so the output of two
//! clients never interleaves inside a `write` (the runtime sends each
//! `print!` as one `write`). `\n` goes out as `\r\n`. The kernel's own
//! output (`DebugWrite`, kernel messages) goes to the same UART outside
//! this protocol and may land between two bytes of a `write`.
//!
//! **Input.** Bytes arrive by interrupt and wait in the server's ring (the
//! oldest are dropped when it is full, and counted). `read` takes what is
//! there. A client that wants to wait for input subscribes once, sending a
//! notification capability (a send-only copy is enough) with the request:
//! its caller's console endpoint needs GRANT for the kernel to move the
//! cap. The server then signals that notification whenever new input is
//! buffered; the client waits on it and reads again (`rt::console::Input`
//! does this). A subscription ends when the notification is destroyed (the
//! client exits, or revokes the cap it sent): the server drops it at the
//! next signal that fails.
//!
//! `write` and `read` are not idempotent (a repeated `write` prints twice, a
//! repeated `read` consumes more input), nor is `subscribe` (the server
//! cannot tell two copies of one notification apart); `info` is.

use serde::{Deserialize, Serialize};

use super::Bytes;

/// Most bytes in one `write` (and one `read` reply): a request of this
/// many bytes fits in a message (952 payload bytes) with room to spare.
pub const WRITE_MAX: usize = 896;
/// Most bytes one `read` returns.
pub const READ_MAX: usize = WRITE_MAX;
/// Most subscribers the server keeps at once.
pub const MAX_SUBSCRIBERS: usize = 16;

/// Bytes going out or coming in.
pub type Text = Bytes<WRITE_MAX>;

/// The server's counters (`info`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Bytes received from the UART since the server started.
    pub rx_bytes: u64,
    /// Received bytes dropped because the input ring was full, plus bytes
    /// the UART itself reported lost (overrun).
    pub rx_dropped: u64,
    /// Bytes written to the UART (`\r` of `\r\n` included).
    pub tx_bytes: u64,
    /// Interrupts taken.
    pub interrupts: u64,
    /// Input bytes waiting in the ring.
    pub buffered: u32,
    /// Live subscriptions.
    pub subscribers: u32,
}

crate::protocol! {
    name = "console", version = 1;
    errors {
        /// `subscribe` arrived without a notification capability (send one
        /// with the request; the caller's endpoint cap needs GRANT), or the
        /// capability is not a notification.
        NoNotification = 1,
        /// Every subscription slot is taken.
        TooManySubscribers = 2,
        /// The UART could not be written.
        Device = 3,
    }
    ops {
        /// Write `data` to the console as one unit.
        1 write(data: Text) -> u32, once;
        /// Take up to `max` buffered input bytes (never blocks).
        2 read(max: u32) -> Text, once;
        /// Signal the notification sent with this request whenever input
        /// arrives.
        3 subscribe() -> u32, once;
        /// The server's counters.
        4 info() -> Info, idempotent;
    }
}
