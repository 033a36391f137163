//! Linux ABI definitions for rint's Linux compatibility server
//! (`servers/linux`): what a Linux program and the server must agree on,
//! written once.
//!
//! - [`sysno`]: syscall numbers per arch (the x86_64 table and the
//!   asm-generic table riscv64 uses), by name ([`sysno::Sysno`]).
//! - [`errno`]: error numbers (the same on both arches).
//! - [`abi`]: constants (mmap flags, ioctl requests, auxiliary-vector keys,
//!   `arch_prctl` codes) and struct layouts (`iovec`, `utsname`, auxv
//!   entries, `winsize`, `termios`, `timespec`) as `zerocopy` types, so the
//!   server reads and writes them as bytes without `unsafe`.
//!
//! Only 64-bit little-endian Linux (x86_64, riscv64) is described; the
//! layouts are the same on both.

#![no_std]
#![forbid(unsafe_code)]

pub mod abi;
pub mod errno;
pub mod sysno;

pub use sysno::{Arch, Sysno};
