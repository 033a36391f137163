//! Console output: through the console server when the program has a
//! console capability (`crate::console`), through the `DebugWrite` syscall
//! otherwise.

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use libipc::proto::console::WRITE_MAX;
use libipc::sys::{self, DEBUG_WRITE_MAX};

/// Collects text and writes it to the kernel console in `DebugWrite`-sized
/// chunks (one syscall per 960 bytes, not per `write_str`).
pub struct DebugWriter {
    buf: [u8; DEBUG_WRITE_MAX],
    len: usize,
}

impl DebugWriter {
    pub const fn new() -> Self {
        DebugWriter { buf: [0; DEBUG_WRITE_MAX], len: 0 }
    }

    /// Write out what is collected. Errors are dropped: there is nowhere
    /// else to report them.
    pub fn flush(&mut self) {
        if let Some(bytes) = self.buf.get(..self.len) {
            let _ = sys::debug_write(bytes);
        }
        self.len = 0;
    }
}

impl Default for DebugWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for DebugWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

impl Drop for DebugWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Collects one `print!`'s text and sends it as one console `write` (or
/// one `DebugWrite`), `WRITE_MAX` bytes at a time: the output of one call
/// up to that size never interleaves with another program's.
struct Writer {
    buf: [u8; WRITE_MAX],
    len: usize,
}

const _: () = assert!(WRITE_MAX <= DEBUG_WRITE_MAX);

impl Writer {
    const fn new() -> Self {
        Writer { buf: [0; WRITE_MAX], len: 0 }
    }

    fn flush(&mut self) {
        if let Some(bytes) = self.buf.get(..self.len)
            && !bytes.is_empty()
            && crate::console::print(bytes).is_err()
        {
            // No console server (or it is gone): the kernel console.
            let _ = sys::debug_write(bytes);
        }
        self.len = 0;
    }
}

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// The line prefix of a server's output (`[name] `): its name, set once
/// by the server runtime; empty for a root task.
static PREFIX: spin::Once<libipc::plan::Name> = spin::Once::new();
static PREFIX_SET: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn set_prefix(name: libipc::plan::Name) {
    PREFIX.call_once(|| name);
    PREFIX_SET.store(1, Ordering::Relaxed);
}

/// The implementation of [`crate::print!`]: one console `write` (or one
/// `DebugWrite`) per call and per `WRITE_MAX` bytes, prefixed with
/// `[name] ` in a server.
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut w = Writer::new();
    if PREFIX_SET.load(Ordering::Relaxed) != 0
        && let Some(name) = PREFIX.get()
    {
        let _ = fmt::Write::write_fmt(&mut w, format_args!("[{name}] "));
    }
    let _ = fmt::Write::write_fmt(&mut w, args);
    w.flush();
}
