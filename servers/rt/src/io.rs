//! Console output through the `DebugWrite` syscall.

use core::fmt;
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

/// The implementation of [`crate::print!`].
#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    let mut w = DebugWriter::new();
    let _ = fmt::Write::write_fmt(&mut w, args);
}
