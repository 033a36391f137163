//! rint kernel core: the capability system's algorithms, free of hardware
//! and of memory management, so they are tested on the host.
//!
//! The kernel has no heap: every kernel object is carved from untyped memory
//! that user space holds a capability to, and capabilities live in slots of
//! CNode objects in physical memory. This crate is what the kernel runs on
//! those slots; the kernel supplies the storage and the object side effects.
//!
//! - [`cap`]: [`Cap`], the 32-byte capability value, its constructors, and
//!   the copy and mint rules.
//! - [`cdt`]: the capability derivation tree over 64-byte [`Slot`]s (cap +
//!   links) reached through the [`SlotStore`] trait: insert, copy, mint,
//!   move, delete (with final-cap detection) and preemptible revoke.
//! - [`untyped`]: watermark carving of untyped regions into objects and the
//!   kernel's object sizes.
//! - [`cspace`]: seL4-style CPtr resolution through guarded CNodes.
//!
//! How the kernel uses it: it implements [`SlotStore`] over its direct map
//! (a [`SlotId`] is a slot's physical address; a CNode's slot `i` is at
//! `cnode + 64 * i`), resolves user CPtrs with [`cspace::resolve`], and
//! performs CNode invocations with the [`cdt`] operations. Retype is
//! [`cdt::retype_source`], [`Untyped::plan_retype`], [`Cap::for_object`] and
//! [`cdt::insert_child`] per object, then the new watermark is stored with
//! [`Cap::set_untyped_watermark`]. Delete and revoke report each removed cap
//! and whether it was the final one, and the kernel destroys final objects.
//!
//! `no_std`, no allocation, no `unsafe`; all user-supplied numbers are
//! checked, and errors are [`libipc::abi::Error`] codes.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod cap;
pub mod cdt;
pub mod cspace;
pub mod untyped;

#[cfg(test)]
mod testutil;

pub use cap::Cap;
pub use cdt::{Deleted, Links, Revoke, Slot, SlotId, SlotStore};
pub use cspace::{LookupError, lookup_cap, resolve};
pub use untyped::{RetypePlan, Untyped, object_size_bits, retype_allowed};
