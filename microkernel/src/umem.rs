//! User addresses. The kernel never dereferences a user pointer: user data it
//! needs (messages) comes through the IPC buffer frame, reached through the
//! direct map. What user space does pass are *addresses* (where to map a
//! frame, where the IPC buffer is); each one goes through [`UserAddr`]'s
//! single checked constructor.

use hal::{Arch, Mmu};
use libipc::abi::Error;

/// A checked user-half address range `[addr, addr + len)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAddr {
    addr: u64,
    len: u64,
}

impl UserAddr {
    /// `addr` aligned to `align` (a power of two), `len` > 0, no wraparound,
    /// entirely below the end of the user half. Else `BadUserPointer`.
    pub fn new(addr: u64, len: u64, align: u64) -> Result<UserAddr, Error> {
        if len == 0 || !align.is_power_of_two() || addr & (align - 1) != 0 {
            return Err(Error::BadUserPointer);
        }
        let end = addr.checked_add(len).ok_or(Error::BadUserPointer)?;
        if end > <Arch as Mmu>::USER_END {
            return Err(Error::BadUserPointer);
        }
        Ok(UserAddr { addr, len })
    }

    pub fn addr(self) -> u64 {
        self.addr
    }
}
