//! The initial stack of a Linux process, laid out as Linux's
//! `create_elf_tables` does (`fs/binfmt_elf.c`). Pure: tested on the host.
//!
//! ```text
//! top          8 zero bytes
//!              the program's file name (AT_EXECFN points here)
//!              environment strings, then argument strings (argv[0] lowest)
//!              16 random bytes (AT_RANDOM points here), 16-byte aligned
//!              (padding)
//!              auxv: (key, value) pairs ending with AT_NULL
//!              envp[0..], NULL
//!              argv[0..], NULL
//! sp  ->       argc                                      sp % 16 == 0
//! ```
//!
//! [`build`] writes this into a buffer that ends at the stack top and starts
//! at a page boundary, so the caller copies it into the new address space
//! page by page.

use liblinux::abi::auxv::{AT_EXECFN, AT_NULL, AT_RANDOM};
use liblinux::abi::{AuxvEntry, PAGE_SIZE};
use zerocopy::IntoBytes;

/// Most bytes the initial stack contents may take (argument and environment
/// strings included), rounded up to pages by [`build`].
pub const MAX_INIT: usize = 4 * PAGE_SIZE as usize;

/// Most auxiliary-vector entries the caller passes (AT_RANDOM, AT_EXECFN
/// and AT_NULL are added).
pub const MAX_AUXV: usize = 24;

/// Why the stack could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// The strings and tables do not fit [`MAX_INIT`] bytes (Linux: E2BIG).
    TooBig,
    /// The stack top is not 16-byte aligned, or too low.
    BadTop,
    /// More than [`MAX_AUXV`] auxiliary entries.
    TooManyAux,
}

/// What a process starts with.
#[derive(Clone, Copy, Debug)]
pub struct Init<'a> {
    pub argv: &'a [&'a [u8]],
    pub envp: &'a [&'a [u8]],
    /// The program's file name (`AT_EXECFN`).
    pub execfn: &'a [u8],
    /// `(key, value)` pairs, without AT_RANDOM, AT_EXECFN and AT_NULL.
    pub auxv: &'a [(u64, u64)],
    pub random: [u8; 16],
}

/// The built stack: `bytes` belong at `base..top` (`base` page-aligned) and
/// the process starts with its stack pointer at `sp`.
#[derive(Clone, Debug)]
pub struct Built {
    buf: [u8; MAX_INIT],
    len: usize,
    pub base: u64,
    pub sp: u64,
}

impl Built {
    /// The bytes from `base` to the stack top.
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(MAX_INIT - self.len..).unwrap_or(&[])
    }
}

/// A downward writer into the buffer that ends at `top`.
struct Down<'a> {
    buf: &'a mut [u8; MAX_INIT],
    top: u64,
    /// Bytes used from the end.
    used: usize,
}

impl Down<'_> {
    fn addr(&self) -> u64 {
        self.top - self.used as u64
    }

    /// Put `bytes` just below what is there; returns their address.
    fn push(&mut self, bytes: &[u8]) -> Result<u64, StackError> {
        let used = self.used.checked_add(bytes.len()).ok_or(StackError::TooBig)?;
        let start = MAX_INIT.checked_sub(used).ok_or(StackError::TooBig)?;
        self.buf
            .get_mut(start..start + bytes.len())
            .ok_or(StackError::TooBig)?
            .copy_from_slice(bytes);
        self.used = used;
        Ok(self.addr())
    }

    /// A NUL-terminated copy of `s`; returns its address.
    fn push_str(&mut self, s: &[u8]) -> Result<u64, StackError> {
        self.push(&[0])?;
        self.push(s)
    }

    /// Pad so that, once `extra` more bytes are pushed, the address is a
    /// multiple of `align` (a power of two).
    fn align_for(&mut self, extra: usize, align: u64) -> Result<(), StackError> {
        let target = (self.addr() - extra as u64) & !(align - 1);
        let pad = (self.addr() - extra as u64 - target) as usize;
        let used = self.used.checked_add(pad).ok_or(StackError::TooBig)?;
        if used > MAX_INIT {
            return Err(StackError::TooBig);
        }
        self.used = used;
        Ok(())
    }
}

/// Lay out `init` below `top` (16-byte aligned).
pub fn build(top: u64, init: &Init<'_>) -> Result<Built, StackError> {
    if !top.is_multiple_of(16) || top < MAX_INIT as u64 + PAGE_SIZE {
        return Err(StackError::BadTop);
    }
    if init.auxv.len() > MAX_AUXV {
        return Err(StackError::TooManyAux);
    }
    let mut built = Built { buf: [0; MAX_INIT], len: 0, base: 0, sp: 0 };
    let mut d = Down { buf: &mut built.buf, top, used: 0 };
    d.push(&[0; 8])?;
    let execfn = d.push_str(init.execfn)?;
    // Strings go down from the last environment string to argv[0], so
    // argv[0] is lowest, as copy_strings leaves them.
    let mut env_at = [0u64; 64];
    let mut arg_at = [0u64; 64];
    if init.envp.len() > env_at.len() || init.argv.len() > arg_at.len() {
        return Err(StackError::TooBig);
    }
    for (i, s) in init.envp.iter().enumerate().rev() {
        env_at[i] = d.push_str(s)?;
    }
    for (i, s) in init.argv.iter().enumerate().rev() {
        arg_at[i] = d.push_str(s)?;
    }
    d.align_for(0, 16)?;
    let random = d.push(&init.random)?;

    // The word area: argc, argv + NULL, envp + NULL, auxv pairs + AT_NULL.
    let mut aux = [AuxvEntry::default(); MAX_AUXV + 3];
    let mut n = 0;
    let extra = [(AT_RANDOM, random), (AT_EXECFN, execfn), (AT_NULL, 0)];
    for &(a_type, a_val) in init.auxv.iter().chain(extra.iter()) {
        if let Some(e) = aux.get_mut(n) {
            *e = AuxvEntry { a_type, a_val };
            n += 1;
        }
    }
    let words = 1 + init.argv.len() + 1 + init.envp.len() + 1;
    let table = words * 8 + n * 16;
    d.align_for(table, 16)?;
    for e in aux.iter().take(n).rev() {
        d.push(e.as_bytes())?;
    }
    d.push(&0u64.to_le_bytes())?;
    for a in env_at.iter().take(init.envp.len()).rev() {
        d.push(&a.to_le_bytes())?;
    }
    d.push(&0u64.to_le_bytes())?;
    for a in arg_at.iter().take(init.argv.len()).rev() {
        d.push(&a.to_le_bytes())?;
    }
    let sp = d.push(&(init.argv.len() as u64).to_le_bytes())?;
    // Round the buffer's start down to a page.
    let base = sp & !(PAGE_SIZE - 1);
    let len = (top - base) as usize;
    if len > MAX_INIT {
        return Err(StackError::TooBig);
    }
    built.len = len;
    built.base = base;
    built.sp = sp;
    Ok(built)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use liblinux::abi::auxv::{AT_ENTRY, AT_PAGESZ};

    const TOP: u64 = 0x3f_f000_0000;

    fn word(b: &Built, at: u64) -> u64 {
        let off = (at - b.base) as usize;
        u64::from_le_bytes(b.bytes()[off..off + 8].try_into().unwrap())
    }

    fn string(b: &Built, at: u64) -> &[u8] {
        let off = (at - b.base) as usize;
        let rest = &b.bytes()[off..];
        &rest[..rest.iter().position(|&c| c == 0).unwrap()]
    }

    #[test]
    fn layout_matches_linux() {
        let init = Init {
            argv: &[b"hello", b"-v"],
            envp: &[b"TERM=vt100"],
            execfn: b"/bin/hello",
            auxv: &[(AT_PAGESZ, 4096), (AT_ENTRY, 0x401000)],
            random: [7; 16],
        };
        let b = build(TOP, &init).unwrap();
        assert_eq!(b.sp % 16, 0, "sp is 16-byte aligned");
        assert_eq!(b.base % PAGE_SIZE, 0);
        assert_eq!(b.bytes().len() as u64, TOP - b.base);
        assert_eq!(&b.bytes()[b.bytes().len() - 8..], &[0; 8], "zero word at the top");
        let mut at = b.sp;
        assert_eq!(word(&b, at), 2, "argc");
        at += 8;
        assert_eq!(string(&b, word(&b, at)), b"hello");
        assert_eq!(string(&b, word(&b, at + 8)), b"-v");
        assert_eq!(word(&b, at + 16), 0);
        at += 24;
        assert_eq!(string(&b, word(&b, at)), b"TERM=vt100");
        assert_eq!(word(&b, at + 8), 0);
        at += 16;
        let mut aux = std::vec::Vec::new();
        loop {
            let (k, v) = (word(&b, at), word(&b, at + 8));
            aux.push((k, v));
            at += 16;
            if k == AT_NULL {
                break;
            }
        }
        assert_eq!(&aux[..2], &[(AT_PAGESZ, 4096), (AT_ENTRY, 0x401000)]);
        let random = aux.iter().find(|(k, _)| *k == AT_RANDOM).unwrap().1;
        assert_eq!(random % 16, 0);
        let off = (random - b.base) as usize;
        assert_eq!(&b.bytes()[off..off + 16], &[7; 16]);
        let execfn = aux.iter().find(|(k, _)| *k == AT_EXECFN).unwrap().1;
        assert_eq!(string(&b, execfn), b"/bin/hello");
        // Strings in Linux's order: argv[0] lowest, then argv[1], envp, execfn.
        let a0 = word(&b, b.sp + 8);
        assert!(a0 < word(&b, b.sp + 16) && word(&b, b.sp + 16) < word(&b, b.sp + 32));
        assert!(word(&b, b.sp + 32) < execfn);
        assert!(random < a0, "random bytes below the strings");
    }

    #[test]
    fn alignment_for_every_count() {
        for argc in 0..4 {
            let argv: [&[u8]; 3] = [b"a", b"bb", b"ccc"];
            let init = Init {
                argv: &argv[..argc.min(3)],
                envp: &[],
                execfn: b"x",
                auxv: &[],
                random: [0; 16],
            };
            let b = build(TOP, &init).unwrap();
            assert_eq!(b.sp % 16, 0, "argc {argc}");
            assert_eq!(word(&b, b.sp), argc.min(3) as u64);
        }
    }

    #[test]
    fn limits() {
        let long = [b'x'; MAX_INIT];
        let init = Init { argv: &[&long], envp: &[], execfn: b"x", auxv: &[], random: [0; 16] };
        assert_eq!(build(TOP, &init).unwrap_err(), StackError::TooBig);
        let ok = Init { argv: &[], envp: &[], execfn: b"x", auxv: &[], random: [0; 16] };
        assert_eq!(build(TOP + 8, &ok).unwrap_err(), StackError::BadTop);
        assert_eq!(build(64, &ok).unwrap_err(), StackError::BadTop);
        let many = [(1u64, 0u64); MAX_AUXV + 1];
        let init = Init { auxv: &many, ..ok };
        assert_eq!(build(TOP, &init).unwrap_err(), StackError::TooManyAux);
    }
}
