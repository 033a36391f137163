//! rint's ABI crate: the one definition shared by the kernel, the servers and
//! the host tools. Dependency-free and `no_std`.
//!
//! - [`bootarchive`]: the boot archive the image builder packs and the kernel
//!   reads (format documented in `docs/boot-archive.md`).
//!
//! The kernel ABI (syscalls, capabilities, message info, errors, faults) and
//! the server protocols join this crate as they are built.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

pub mod bootarchive;
