//! The input ring: bytes received from the UART, oldest first. When it is
//! full the oldest byte makes room (an interactive console wants what was
//! typed last), and the loss is counted.

/// A byte ring of `N` bytes.
pub struct Ring<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
}

impl<const N: usize> Ring<N> {
    pub const fn new() -> Self {
        Ring { buf: [0; N], head: 0, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append `b`; returns `true` if the oldest byte was dropped for it.
    pub fn push(&mut self, b: u8) -> bool {
        if N == 0 {
            return true;
        }
        let dropped = self.len == N;
        if dropped {
            self.head = (self.head + 1) % N;
            self.len -= 1;
        }
        if let Some(slot) = self.buf.get_mut((self.head + self.len) % N) {
            *slot = b;
        }
        self.len += 1;
        dropped
    }

    /// Move up to `out.len()` of the oldest bytes into `out`; returns how
    /// many.
    pub fn pop_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for o in out.iter_mut().take(n) {
            *o = self.buf.get(self.head).copied().unwrap_or(0);
            self.head = (self.head + 1) % N;
        }
        self.len -= n;
        n
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}
