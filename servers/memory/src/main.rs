//! memory: the memory server (`docs/memory.md`).
//!
//! It owns the untyped memory its manifest entry's quota gives it (the
//! *pool*, managed as a buddy allocator of untyped caps, `os::buddy`) and
//! serves the `mem` protocol (`libipc::proto::mem`):
//!
//! - A manager (the process server) *attaches* an address space: it sends
//!   the VSpace cap with a quota. The server carves a block of that size
//!   from the pool; every frame, page table and shared object of the space
//!   comes out of that block, and `detach` gives it all back with one
//!   revoke, whatever the space did.
//! - Anonymous regions are demand-zero: the server is the pager. The
//!   space's threads' fault endpoint is this server's endpoint badged with
//!   the space's id; a page fault inside a region gets a zeroed frame and
//!   the thread resumes. A fault it does not serve (outside every region,
//!   against the region's rights, quota exhausted, not a page fault) leaves
//!   the thread stopped and is reported to the manager (queued, and its
//!   notification signalled), never ending the server.
//! - Shared objects: frames carved from (and charged to) the creating
//!   space, mapped into any space the creator grants them to.
//!
//! The server's CSpace root has 256 slots; the caps of a space's frames
//! and page tables live in a CNode carved from the space's own block (one
//! slot per page of quota), where CNode operations reach them; a cap is
//! moved into one of a few scratch slots of the root whenever it must be
//! invoked. `regions` (pure, host-tested) keeps each space's regions.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

extern crate alloc;

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod regions;

#[cfg(target_os = "none")]
mod server;

#[cfg(not(target_os = "none"))]
fn main() {}
