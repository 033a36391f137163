//! process: the process server (`docs/memory.md`).
//!
//! It serves the `process` protocol (`libipc::proto::process`): `spawn`
//! builds a process from one of the ELF files its manifest entry lists
//! (`files`), checked field by field (`os::elf::check`: a malformed file is
//! a `BadElf` reply, never a crash), with the same code init builds its
//! servers with (`os::Child`), so an ordinary `rt::server!` program runs:
//!
//! - from a block of the server's own pool (its *container*): the CNode,
//!   VSpace, thread, the loaded image, IPC buffer, start info, a
//!   notification, and a *keeper* CNode that holds the caps of all that
//!   (the server's own CSpace root has only 256 slots);
//! - from the memory server: the address space is attached with the
//!   process's quota, the stack and the heap are demand-zero regions, and
//!   the thread's faults go to the memory server (its endpoint badged with
//!   the space's id), which pages them and reports the rest here;
//! - the start info names `mem` (the memory server, badged for the
//!   process's own space), `process` (this server, badged with its pid:
//!   processes spawn processes) and `notify` (a notification of its own, to
//!   `watch` with), and carries argv and the environment;
//! - slot 4, where the runtime reports its exit (the `init` protocol's
//!   `exit`), is this server's endpoint badged with the pid.
//!
//! A process ends by exiting, by a fault the memory server reports (its
//! notification wakes this server, which takes the reports with
//! `next_fault`), or by `kill`. Teardown is one revoke of the container and
//! a `detach` at the memory server: all its memory comes back.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod sizes;

#[cfg(target_os = "none")]
mod server;

#[cfg(not(target_os = "none"))]
fn main() {}
