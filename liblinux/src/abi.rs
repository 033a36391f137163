//! Constants and struct layouts of the Linux user ABI (64-bit, little
//! endian: x86_64 and riscv64 agree on everything here).
//!
//! Structs derive `zerocopy`'s traits, so the server copies them to and
//! from a Linux program's memory as bytes (`IntoBytes::as_bytes`,
//! `FromBytes::read_from_bytes`) without `unsafe`. Each layout is checked
//! against its C size by a `const` assertion.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Page size on both arches.
pub const PAGE_SIZE: u64 = 4096;

/// `struct iovec` (`readv`, `writev`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Iovec {
    pub iov_base: u64,
    pub iov_len: u64,
}

/// Most iovecs one `readv`/`writev` takes (`UIO_MAXIOV`).
pub const UIO_MAXIOV: u64 = 1024;

/// Length of each `utsname` field, with its NUL.
pub const UTSNAME_LEN: usize = 65;

/// `struct utsname` (`uname`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Utsname {
    pub sysname: [u8; UTSNAME_LEN],
    pub nodename: [u8; UTSNAME_LEN],
    pub release: [u8; UTSNAME_LEN],
    pub version: [u8; UTSNAME_LEN],
    pub machine: [u8; UTSNAME_LEN],
    pub domainname: [u8; UTSNAME_LEN],
}

/// One auxiliary-vector entry (`Elf64_auxv_t`): a key (`AT_*`) and a value.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct AuxvEntry {
    pub a_type: u64,
    pub a_val: u64,
}

/// Auxiliary-vector keys (`include/uapi/linux/auxvec.h`).
pub mod auxv {
    /// End of the vector.
    pub const AT_NULL: u64 = 0;
    pub const AT_IGNORE: u64 = 1;
    /// Address of the program headers in memory.
    pub const AT_PHDR: u64 = 3;
    /// Size of one program header.
    pub const AT_PHENT: u64 = 4;
    /// Number of program headers.
    pub const AT_PHNUM: u64 = 5;
    pub const AT_PAGESZ: u64 = 6;
    /// Base address of the interpreter (0: none).
    pub const AT_BASE: u64 = 7;
    pub const AT_FLAGS: u64 = 8;
    /// The program's entry point.
    pub const AT_ENTRY: u64 = 9;
    pub const AT_UID: u64 = 11;
    pub const AT_EUID: u64 = 12;
    pub const AT_GID: u64 = 13;
    pub const AT_EGID: u64 = 14;
    /// Address of a string naming the platform.
    pub const AT_PLATFORM: u64 = 15;
    /// CPU feature bits.
    pub const AT_HWCAP: u64 = 16;
    /// Frequency of `times()`.
    pub const AT_CLKTCK: u64 = 17;
    /// Non-zero for setuid-like programs.
    pub const AT_SECURE: u64 = 23;
    /// Address of 16 random bytes.
    pub const AT_RANDOM: u64 = 25;
    pub const AT_HWCAP2: u64 = 26;
    /// Address of the program's file name.
    pub const AT_EXECFN: u64 = 31;
    /// Address of the vDSO (absent: none).
    pub const AT_SYSINFO_EHDR: u64 = 33;
}

/// `struct winsize` (`TIOCGWINSZ`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Winsize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}

/// Control characters in the kernel's `struct termios`.
pub const NCCS: usize = 19;

/// The kernel's `struct termios` (`TCGETS`/`TCSETS`; C libraries keep a
/// larger struct of their own and pass this prefix).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Termios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; NCCS],
}

/// `termios` flag bits (the same on both arches).
pub mod termios {
    pub const ICRNL: u32 = 0o400;
    pub const IXON: u32 = 0o2000;
    pub const OPOST: u32 = 0o1;
    pub const ONLCR: u32 = 0o4;
    pub const B38400: u32 = 0o17;
    pub const CS8: u32 = 0o60;
    pub const CREAD: u32 = 0o200;
    pub const ISIG: u32 = 0o1;
    pub const ICANON: u32 = 0o2;
    pub const ECHO: u32 = 0o10;
    pub const ECHOE: u32 = 0o20;
    pub const ECHOK: u32 = 0o40;
    pub const IEXTEN: u32 = 0o100000;
}

/// `struct timespec`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

/// `struct timeval` (`gettimeofday`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Timeval {
    pub tv_sec: i64,
    pub tv_usec: i64,
}

/// `struct timezone` (`gettimeofday`; obsolete, always zero).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Timezone {
    pub tz_minuteswest: i32,
    pub tz_dsttime: i32,
}

/// Clock ids (`clock_gettime`, `clock_getres`; the same on both arches).
pub mod clock {
    pub const CLOCK_REALTIME: u64 = 0;
    pub const CLOCK_MONOTONIC: u64 = 1;
    pub const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
    pub const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
    pub const CLOCK_MONOTONIC_RAW: u64 = 4;
    pub const CLOCK_REALTIME_COARSE: u64 = 5;
    pub const CLOCK_MONOTONIC_COARSE: u64 = 6;
    pub const CLOCK_BOOTTIME: u64 = 7;
}

/// `ioctl` requests (the asm-generic values; x86_64 uses the same).
pub mod ioctl {
    pub const TCGETS: u64 = 0x5401;
    pub const TCSETS: u64 = 0x5402;
    pub const TCSETSW: u64 = 0x5403;
    pub const TCSETSF: u64 = 0x5404;
    pub const TIOCGPGRP: u64 = 0x540f;
    pub const TIOCSPGRP: u64 = 0x5410;
    pub const TIOCGWINSZ: u64 = 0x5413;
    pub const TIOCSWINSZ: u64 = 0x5414;
    pub const FIONREAD: u64 = 0x541b;
}

/// `mmap`/`mprotect` protection and flags.
pub mod mman {
    pub const PROT_NONE: u64 = 0;
    pub const PROT_READ: u64 = 1;
    pub const PROT_WRITE: u64 = 2;
    pub const PROT_EXEC: u64 = 4;
    pub const MAP_SHARED: u64 = 0x01;
    pub const MAP_PRIVATE: u64 = 0x02;
    pub const MAP_SHARED_VALIDATE: u64 = 0x03;
    /// Mask of the sharing type.
    pub const MAP_TYPE: u64 = 0x0f;
    pub const MAP_FIXED: u64 = 0x10;
    pub const MAP_ANONYMOUS: u64 = 0x20;
    pub const MAP_GROWSDOWN: u64 = 0x0100;
    pub const MAP_DENYWRITE: u64 = 0x0800;
    pub const MAP_EXECUTABLE: u64 = 0x1000;
    pub const MAP_LOCKED: u64 = 0x2000;
    pub const MAP_NORESERVE: u64 = 0x4000;
    pub const MAP_POPULATE: u64 = 0x8000;
    pub const MAP_NONBLOCK: u64 = 0x1_0000;
    pub const MAP_STACK: u64 = 0x2_0000;
    pub const MAP_HUGETLB: u64 = 0x4_0000;
    pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
    /// `mmap`'s error return as an address (`(void *)-1`).
    pub const MAP_FAILED: u64 = u64::MAX;
}

/// `arch_prctl` codes (x86_64).
pub mod arch_prctl {
    pub const ARCH_SET_GS: u64 = 0x1001;
    pub const ARCH_SET_FS: u64 = 0x1002;
    pub const ARCH_GET_FS: u64 = 0x1003;
    pub const ARCH_GET_GS: u64 = 0x1004;
}

/// `rt_sigprocmask` `how`.
pub mod signal {
    pub const SIG_BLOCK: u64 = 0;
    pub const SIG_UNBLOCK: u64 = 1;
    pub const SIG_SETMASK: u64 = 2;
    /// Bytes of the kernel's signal set (64 signals).
    pub const SIGSET_SIZE: u64 = 8;
    pub const SIGSEGV: u32 = 11;
    pub const SIGKILL: u32 = 9;
}

/// Standard file descriptors.
pub mod fd {
    pub const STDIN: u64 = 0;
    pub const STDOUT: u64 = 1;
    pub const STDERR: u64 = 2;
}

/// `AT_HWCAP` bits of riscv64: one per single-letter ISA extension, bit
/// `letter - 'a'`.
pub mod hwcap_riscv {
    pub const fn ext(letter: u8) -> u64 {
        1 << (letter.to_ascii_lowercase() - b'a')
    }
    /// rv64gc: I, M, A, F, D, C.
    pub const RV64GC: u64 = ext(b'i') | ext(b'm') | ext(b'a') | ext(b'f') | ext(b'd') | ext(b'c');
}

const _: () = {
    assert!(core::mem::size_of::<Iovec>() == 16);
    assert!(core::mem::size_of::<Utsname>() == 390);
    assert!(core::mem::size_of::<AuxvEntry>() == 16);
    assert!(core::mem::size_of::<Winsize>() == 8);
    assert!(core::mem::size_of::<Termios>() == 36);
    assert!(core::mem::size_of::<Timespec>() == 16);
    assert!(core::mem::size_of::<Timeval>() == 16);
    assert!(core::mem::size_of::<Timezone>() == 8);
};

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromZeros;

    #[test]
    fn layouts_as_bytes() {
        let v = Iovec { iov_base: 0x1122_3344_5566_7788, iov_len: 5 };
        assert_eq!(&v.as_bytes()[..8], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(Iovec::read_from_bytes(v.as_bytes()), Ok(v));
        assert!(Iovec::read_from_bytes(&[0u8; 15]).is_err());
        let w = Winsize { ws_row: 24, ws_col: 80, ..Default::default() };
        assert_eq!(w.as_bytes(), &[24, 0, 80, 0, 0, 0, 0, 0]);
        let a = AuxvEntry { a_type: auxv::AT_PAGESZ, a_val: PAGE_SIZE };
        assert_eq!(a.as_bytes()[0], 6);
        assert_eq!(&a.as_bytes()[8..10], &[0, 0x10]);
        let t = Termios { c_line: 7, ..Default::default() };
        assert_eq!(t.as_bytes()[16], 7);
        let u = Utsname::new_zeroed();
        assert_eq!(core::mem::offset_of!(Utsname, machine), 4 * 65);
        assert_eq!(u.as_bytes().len(), 390);
    }

    #[test]
    fn constants() {
        assert_eq!((ioctl::TCGETS, ioctl::TIOCGWINSZ), (0x5401, 0x5413));
        assert_eq!((mman::MAP_PRIVATE | mman::MAP_ANONYMOUS), 0x22);
        assert_eq!(arch_prctl::ARCH_SET_FS, 0x1002);
        assert_eq!((auxv::AT_PHDR, auxv::AT_ENTRY, auxv::AT_RANDOM), (3, 9, 25));
        assert_eq!(hwcap_riscv::RV64GC, 0x112d);
    }
}
