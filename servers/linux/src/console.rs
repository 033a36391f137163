//! The output of a Linux process's standard output and error on the rint
//! console (the kernel's `DebugWrite` until a console server exists).
//!
//! Each stream is buffered up to its line end and written as one
//! `DebugWrite`, so a program's lines reach the console whole and
//! unchanged, never cut by the server's own `linux: ...` log lines. A line
//! longer than the buffer goes out in pieces; what is left at exit is
//! written then.

use libipc::sys;

/// Longest line written in one piece.
const LINE: usize = 512;

struct LineBuf {
    buf: [u8; LINE],
    len: usize,
}

impl LineBuf {
    const fn new() -> LineBuf {
        LineBuf { buf: [0; LINE], len: 0 }
    }

    fn flush(&mut self) {
        if let Some(b) = self.buf.get(..self.len)
            && !b.is_empty()
        {
            let _ = sys::debug_write(b);
        }
        self.len = 0;
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
            if b == b'\n' || self.len == LINE {
                self.flush();
            }
        }
    }
}

/// Standard output and standard error of one process.
pub struct Console {
    out: LineBuf,
    err: LineBuf,
}

impl Console {
    pub const fn new() -> Console {
        Console { out: LineBuf::new(), err: LineBuf::new() }
    }

    /// Write `bytes` to file descriptor 1 (or 2 with `stderr`).
    pub fn write(&mut self, stderr: bool, bytes: &[u8]) {
        if stderr { self.err.write(bytes) } else { self.out.write(bytes) }
    }

    /// Write out what is buffered (an unfinished last line).
    pub fn flush(&mut self) {
        self.out.flush();
        self.err.flush();
    }
}
