//! Failure messages without a heap: a fixed-size string and the failure
//! value tests return.

use core::fmt;

/// A string of at most `N` bytes; longer text is cut at a character
/// boundary.
pub struct StrBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StrBuf<N> {
    pub const fn new() -> Self {
        StrBuf { buf: [0; N], len: 0 }
    }

    pub fn as_str(&self) -> &str {
        let bytes = self.buf.get(..self.len).unwrap_or(&[]);
        core::str::from_utf8(bytes).unwrap_or("")
    }
}

impl<const N: usize> Default for StrBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StrBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let enc = c.encode_utf8(&mut tmp).as_bytes();
            let end = self.len + enc.len();
            match self.buf.get_mut(self.len..end) {
                Some(dst) => dst.copy_from_slice(enc),
                None => return Ok(()),
            }
            self.len = end;
        }
        Ok(())
    }
}

impl<const N: usize> fmt::Display for StrBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a test failed: the source line and a message.
pub struct Fail {
    pub line: u32,
    pub msg: StrBuf<240>,
}

impl Fail {
    pub fn new(line: u32, args: fmt::Arguments<'_>) -> Fail {
        let mut msg = StrBuf::new();
        let _ = fmt::Write::write_fmt(&mut msg, args);
        Fail { line, msg }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl fmt::Debug for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What a test returns.
pub type TestResult = Result<(), Fail>;

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    #[test]
    fn strbuf_truncates_at_char_boundaries() {
        let mut s = StrBuf::<5>::new();
        let tail = "cdé";
        write!(s, "ab{tail}").expect("infallible");
        assert_eq!(s.as_str(), "abcd");
        let mut s = StrBuf::<6>::new();
        write!(s, "abcdéz").expect("infallible");
        assert_eq!(s.as_str(), "abcdé");
    }

    #[test]
    fn fail_formats_line_and_message() {
        let f = Fail::new(42, format_args!("x = {:#x}", 255));
        assert_eq!(format!("{f}"), "line 42: x = 0xff");
    }
}
