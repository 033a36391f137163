//! os: building processes from user space. Used by init, the memory and
//! process servers and the Linux server.
//!
//! - [`slots`]: [`SlotAlloc`], a bitmap allocator over a range of a CNode's
//!   slots (allocate one, a contiguous run, free).
//! - [`untyped`]: [`UntypedAlloc`], carving objects from the untyped caps it
//!   is given. It models each region's watermark with the kernel's own
//!   arithmetic (`kcore::untyped`), so it knows which untyped has room
//!   before asking; running out is [`Error::OutOfMemory`].
//! - [`elf`]: checking an ELF executable before loading it: every header
//!   field and every loadable segment (class, byte order, machine, type,
//!   entry, alignment, overlap, sizes, W^X, address range). A malformed
//!   file is an [`elf::ElfError`], never a crash. Pure: tested on the host.
//! - [`layout`]: page arithmetic and address ranges (pure).
//! - [`arch`]: the user-register order of `ThreadWriteRegisters` per arch
//!   and the initial register file of a thread (pure).
//! - Bare metal only: [`Env`] (the caller's CNode, slots, untyped and a
//!   [`Window`] in its own VSpace to fill frames through), [`Space`] (a new
//!   VSpace with page tables made on demand, fresh frames mapped and
//!   filled, an ELF image loaded, stacks with guard pages),
//!   [`thread::spawn`] (a configured, started thread with its IPC buffer,
//!   registers and fault endpoint), [`Child`] (what init and the process
//!   server build the same way for a native program: CNode and fixed
//!   slots, VSpace, ELF, IPC buffer, start info, thread) and [`Park`] (a
//!   CNode where a builder with few slots of its own keeps the caps of
//!   what it built).
//!
//! Errors are [`Error`] values naming the step and the kernel's answer.
//! The only `unsafe` is in [`Window`]: the stores into a frame mapped at
//! the window address.

#![no_std]
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod arch;
pub mod buddy;
pub mod elf;
pub mod layout;
pub mod slots;
pub mod untyped;

#[cfg(target_os = "none")]
mod child;
#[cfg(target_os = "none")]
mod env;
#[cfg(target_os = "none")]
mod space;
#[cfg(target_os = "none")]
pub mod thread;

pub use buddy::Buddy;
#[cfg(target_os = "none")]
pub use child::Child;
#[cfg(target_os = "none")]
pub use env::{Env, Park, Window};
pub use slots::SlotAlloc;
#[cfg(target_os = "none")]
pub use space::{Loaded, Space};
pub use untyped::UntypedAlloc;

use core::fmt;

use libipc::abi;

/// What went wrong while building a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The kernel refused `op` (at address `at`, 0 if none) with `error`.
    Kernel { op: &'static str, error: abi::Error, at: u64 },
    /// No free slot left in the slot allocator's range.
    OutOfSlots,
    /// No untyped has room for an object of `2^bits` bytes.
    OutOfMemory { bits: u8 },
    /// The ELF file was refused.
    Elf(elf::ElfError),
    /// An address or size does not fit the layout (what, where).
    Layout { what: &'static str, at: u64 },
    /// A fixed-capacity table is full (which).
    TooMany(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Kernel { op, error, at: 0 } => write!(f, "{op}: {}", error.as_str()),
            Error::Kernel { op, error, at } => write!(f, "{op} at {at:#x}: {}", error.as_str()),
            Error::OutOfSlots => f.write_str("out of free CNode slots"),
            Error::OutOfMemory { bits } => {
                write!(f, "out of memory: no untyped has room for {} bytes", 1u64 << bits)
            }
            Error::Elf(e) => write!(f, "bad ELF: {e}"),
            Error::Layout { what, at } => write!(f, "{what} ({at:#x})"),
            Error::TooMany(what) => write!(f, "too many {what}"),
        }
    }
}

impl From<elf::ElfError> for Error {
    fn from(e: elf::ElfError) -> Self {
        Error::Elf(e)
    }
}

pub type Result<T> = core::result::Result<T, Error>;

/// Attach the step (and address) to a kernel error.
pub trait Context<T> {
    fn op(self, op: &'static str) -> Result<T>;
    fn op_at(self, op: &'static str, at: u64) -> Result<T>;
}

impl<T> Context<T> for core::result::Result<T, abi::Error> {
    fn op(self, op: &'static str) -> Result<T> {
        self.op_at(op, 0)
    }
    fn op_at(self, op: &'static str, at: u64) -> Result<T> {
        self.map_err(|error| Error::Kernel { op, error, at })
    }
}
