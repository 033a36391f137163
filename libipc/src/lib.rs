//! rint's ABI crate: the one definition shared by the kernel, the servers and
//! the host tools. Dependency-free and `no_std`.
//!
//! - [`abi`]: the kernel ABI: syscalls, capability types, rights, the
//!   message-info word, error codes, invocation labels, fault kinds.
//! - [`bootarchive`]: the boot archive the image builder packs and the kernel
//!   reads (format documented in `docs/boot-archive.md`).
//!
//! The server protocols join this crate as the servers are built.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

pub mod abi;
pub mod bootarchive;
