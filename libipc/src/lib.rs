//! rint's ABI crate: the one definition shared by the kernel, the servers and
//! the host tools. `no_std`; its only dependencies are serde and postcard,
//! for [`proto`].
//!
//! - [`abi`]: the kernel ABI: syscalls, capability types, rights, the
//!   message-info word, error codes, invocation labels, fault kinds.
//! - [`bootarchive`]: the boot archive the image builder packs and the kernel
//!   reads (format documented in `docs/boot-archive.md`).
//! - [`cap`]: typed capabilities (`Cap<Endpoint>`, `Cap<Thread>`, ...) with
//!   one method per invocation; the argument encodings are pure and tested
//!   on the host, the invoking methods exist on the bare-metal targets.
//! - `sys` (bare-metal targets only): the syscall stubs, the IPC buffer and
//!   the message operations (send, call, recv, reply-recv, ...), and
//!   `sys::arch` (the machine's name, a thread's initial stack pointer, the
//!   clock and cycle counters). The crate's only unsafe code is there: the
//!   trap, the IPC-buffer accesses and the counter reads.
//! - [`proto`]: the server protocols, each declared once with
//!   [`protocol!`]: postcard messages in the IPC buffer, typed clients,
//!   server dispatch traits, bulk buffers and zero-copy channels
//!   (`docs/protocols.md`). Host-testable; the parts that make syscalls
//!   exist on the bare-metal targets only.
//! - [`plan`]: the boot plan the image builder writes and init follows.
//! - [`start`]: what a server started by init finds: its address-space
//!   layout, fixed slots and start info.

#![no_std]
#![deny(unsafe_code)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;

pub mod abi;
pub mod bootarchive;
pub mod cap;
pub mod plan;
pub mod proto;
pub mod start;
#[cfg(target_os = "none")]
pub mod sys;
