//! `mem`: the memory server (`servers/memory`, `docs/memory.md`). It owns
//! a pool of untyped memory and pages address spaces registered with it:
//! anonymous regions filled with zeroed frames on first touch (it is their
//! threads' fault handler), shared-memory objects mapped into several
//! spaces, and a quota per space, all of whose memory comes back with one
//! revoke when the space is detached.
//!
//! | op | arguments | returns | errors |
//! |---|---|---|---|
//! | 1 `attach` | quota (bytes), a slot of the client's CNode for its endpoint, whether a notification comes; caps: VSpace, CNode, notification | the space's id | `NotPermitted`, `NoCap`, `BadSize`, `OutOfMemory`, `TooMany` |
//! | 2 `detach` | space | its final usage | `NotPermitted`, `NoSuchSpace` |
//! | 3 `map_anon` | space, address, length, rights, populate | nothing | `BadAddress`, `BadRights`, `Overlap`, `QuotaExceeded`, `TooMany` |
//! | 4 `unmap` | space, address, length | pages freed | `BadAddress`, `NotMapped` |
//! | 5 `usage` | space | `Usage` | `NoSuchSpace` |
//! | 6 `pool` | none | `Pool` | none |
//! | 7 `shm_create` | space, pages | the object's id | `QuotaExceeded`, `BadSize`, `TooMany` |
//! | 8 `shm_map` | space, object, address, rights | nothing | `NoSuchObject`, `NotPermitted`, `BadAddress`, `Overlap`, `QuotaExceeded` |
//! | 9 `shm_grant` | object, space | nothing | `NoSuchObject`, `NoSuchSpace`, `NotPermitted` |
//! | 10 `next_fault` | none | the oldest fault report not yet taken, if any | `NotPermitted` |
//!
//! **Who may do what.** The server tells callers apart by the badge of the
//! endpoint cap they call through. An unbadged cap (what init gives a
//! server whose manifest entry `needs` "mem") is a *manager*'s: it may
//! attach and detach spaces, act on any space and take fault reports. The
//! cap the server installs for a space at `attach` (into the client's
//! CNode, at the slot named) is badged with the space's id: through it a
//! program acts on its own space only, named [`SELF`] (or its own id).
//!
//! **Faults.** A space's threads have the server's endpoint, badged with
//! the space's id, as their fault endpoint (the manager sets that up). A
//! page fault inside an anonymous region maps a zeroed frame and resumes
//! the thread; anything else (an address outside every region, a write to
//! a read-only region, no quota left, a fault that is no page fault) leaves
//! the thread stopped and is queued as a [`FaultReport`] for the manager,
//! whose notification (sent with `attach`) is signalled: it takes the
//! reports with `next_fault` and decides (the process server ends the
//! process).

use core::fmt;

use serde::{Deserialize, Serialize};

/// A space's id: its badge. Never 0.
pub type SpaceId = u64;
/// "The caller's own space" (through a space's badged cap).
pub const SELF: SpaceId = 0;
/// A shared-memory object's id.
pub type ShmId = u64;

/// Mapping rights, as bits: readable (always implied), writable,
/// executable. Writable and executable together are refused (W^X).
pub type Prot = u8;
pub const READ: Prot = 1;
pub const WRITE: Prot = 2;
pub const EXEC: Prot = 4;
pub const RW: Prot = READ | WRITE;

/// Smallest and largest quota a space may have (a power of two; others are
/// rounded up).
pub const QUOTA_MIN: u64 = 64 * 1024;
pub const QUOTA_MAX: u64 = 1 << 30;
/// Largest shared object, in pages.
pub const SHM_PAGES_MAX: u32 = 1024;

/// What a space uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Its quota in bytes (a power of two).
    pub quota: u64,
    /// Bytes carved from it so far: frames, page tables, the server's
    /// bookkeeping for it (a CNode of slots), shared objects it created.
    /// Frames given back with `unmap` are reused, not carved again.
    pub used: u64,
    /// Pages mapped now.
    pub mapped: u64,
    /// Frames kept for reuse (unmapped, not yet zeroed again).
    pub spare: u64,
    /// Regions (anonymous and shared).
    pub regions: u32,
    /// Page faults served (pages mapped on first touch).
    pub faults: u64,
}

/// The server's pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub total: u64,
    /// Bytes in free blocks.
    pub free: u64,
    /// The largest free block.
    pub largest: u64,
    pub spaces: u32,
    pub shared: u32,
}

/// Why a fault was not served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    /// The address is in no region.
    Unmapped,
    /// The region does not allow the access (a write to a read-only one,
    /// executing a non-executable one).
    Protection,
    /// The space's quota has no room for the page (or a page table).
    QuotaExceeded,
    /// Not a page fault (an illegal instruction, an unknown syscall, ...):
    /// the memory server does not handle those.
    NotPageFault,
    /// The kernel refused a step of serving it (the space's VSpace is gone).
    Internal,
}

/// A fault the server did not serve: the thread is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultReport {
    pub space: SpaceId,
    /// `abi::FaultKind` number.
    pub kind: u32,
    pub pc: u64,
    /// The address (page faults), else the kernel's detail word.
    pub addr: u64,
    /// 0 read, 1 write, 2 execute (page faults).
    pub access: u32,
    pub reason: Reason,
}

impl fmt::Display for FaultReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = match self.access {
            0 => "read",
            1 => "write",
            _ => "execute",
        };
        match self.reason {
            Reason::NotPageFault => {
                use crate::abi::FaultKind;
                let kind = match FaultKind::try_from(self.kind) {
                    Ok(FaultKind::PageFault) => "page fault",
                    Ok(FaultKind::IllegalInstruction) => "illegal instruction",
                    Ok(FaultKind::UnknownSyscall) => "unknown syscall",
                    Ok(FaultKind::CapFault) => "capability fault",
                    Ok(FaultKind::UserException) => "exception",
                    Err(_) => "fault",
                };
                write!(f, "{kind} at pc {:#x} ({:#x})", self.pc, self.addr)
            }
            Reason::Unmapped => write!(
                f,
                "page fault ({access}) at {:#x} outside any region, pc {:#x}",
                self.addr, self.pc
            ),
            Reason::Protection => write!(
                f,
                "page fault ({access}) at {:#x}: the region does not allow it, pc {:#x}",
                self.addr, self.pc
            ),
            Reason::QuotaExceeded => write!(
                f,
                "page fault ({access}) at {:#x}: memory quota exceeded, pc {:#x}",
                self.addr, self.pc
            ),
            Reason::Internal => {
                write!(f, "page fault ({access}) at {:#x} could not be served", self.addr)
            }
        }
    }
}

crate::protocol! {
    name = "mem", version = 1;
    errors {
        /// The caller may not do this (a space's cap naming another space,
        /// or a manager-only op).
        NotPermitted = 1,
        /// No space with that id (never attached, or detached).
        NoSuchSpace = 2,
        /// The space's quota has no room.
        QuotaExceeded = 3,
        /// An address or length not page-aligned, zero, wrapping, or
        /// outside the user half.
        BadAddress = 4,
        /// The range overlaps a region of the space.
        Overlap = 5,
        /// `attach` arrived without the caps it announced.
        NoCap = 6,
        /// The pool has no free block that large.
        OutOfMemory = 7,
        /// A table of the server is full (spaces, regions, objects).
        TooMany = 8,
        /// Rights other than read, write, execute, or write and execute
        /// together.
        BadRights = 9,
        /// No shared object with that id.
        NoSuchObject = 10,
        /// Nothing is mapped there.
        NotMapped = 11,
        /// The kernel refused a step (the space's VSpace is gone, ...).
        Kernel = 12,
        /// A quota or object size out of range.
        BadSize = 13,
    }
    ops {
        /// Register an address space (manager only). Caps with the call:
        /// its VSpace; then, if `install` is given, a CNode into whose slot
        /// `install` the server mints its endpoint badged for the space;
        /// then, if `notify`, a notification the server signals when it
        /// queues a fault report of the space. `quota` is rounded up to a
        /// power of two (`QUOTA_MIN` at least).
        1 attach(quota: u64, install: Option<u64>, notify: bool) -> SpaceId, once;
        /// Give a space's memory back (manager only): every frame, page
        /// table and shared object it had goes with one revoke; mappings of
        /// its shared objects in other spaces go too. Its final usage.
        2 detach(space: SpaceId) -> Usage, idempotent;
        /// Reserve `[va, va + len)` as an anonymous region with `rights`:
        /// zeroed frames are mapped on first touch (or all now, if
        /// `populate`). A region larger than the quota is refused with
        /// `QuotaExceeded`; a populate that runs out of quota is undone and
        /// refused the same way. Otherwise memory is charged when touched.
        3 map_anon(space: SpaceId, va: u64, len: u64, rights: Prot, populate: bool) -> (), idempotent;
        /// Remove the regions inside `[va, va + len)` (whole regions only):
        /// anonymous pages are kept for reuse by the space, shared ones
        /// unmapped. How many pages were mapped there.
        4 unmap(space: SpaceId, va: u64, len: u64) -> u64, idempotent;
        /// What the space uses.
        5 usage(space: SpaceId) -> Usage, idempotent;
        /// The pool.
        6 pool() -> Pool, idempotent;
        /// A shared object of `pages` zeroed pages, carved from (and
        /// charged to) the space's quota; it lives as long as the space.
        7 shm_create(space: SpaceId, pages: u32) -> ShmId, once;
        /// Map shared object `shm` at `va` in the space (which created it
        /// or was granted it), all pages at once, with `rights`.
        8 shm_map(space: SpaceId, shm: ShmId, va: u64, rights: Prot) -> (), idempotent;
        /// Let space `to` map `shm` (by its creator or a manager).
        9 shm_grant(shm: ShmId, to: SpaceId) -> (), idempotent;
        /// The oldest fault report not yet taken (manager only).
        10 next_fault() -> Option<FaultReport>, once;
    }
}

/// Whether `p` is a valid rights value: read implied, no bits beyond
/// read/write/execute, not write and execute together.
pub const fn valid_prot(p: Prot) -> bool {
    p & !(READ | WRITE | EXEC) == 0 && p & (WRITE | EXEC) != (WRITE | EXEC)
}

/// Attach an address space (bare metal): `quota` bytes, the server's
/// endpoint for the space minted into `install = (cnode, slot)` if given,
/// fault reports signalled on `notify` if given. `ep` is a manager's
/// (unbadged) cap with `GRANT`.
#[cfg(target_os = "none")]
pub fn attach(
    ep: crate::cap::Cap<crate::cap::Endpoint>,
    vspace: crate::cap::Cap<crate::cap::VSpace>,
    quota: u64,
    install: Option<(crate::cap::Cap<crate::cap::CNode>, u64)>,
    notify: Option<crate::cap::Cap<crate::cap::Notification>>,
) -> Result<SpaceId, Error> {
    let mut caps = [crate::abi::CPtr::default(); 3];
    let mut n = 0;
    caps[n] = vspace.cptr();
    n += 1;
    if let Some((cnode, _)) = install {
        caps[n] = cnode.cptr();
        n += 1;
    }
    if let Some(ntfn) = notify {
        caps[n] = ntfn.cptr();
        n += 1;
    }
    let t = super::grant::WithCaps::new(ep, caps.get(..n).unwrap_or(&[]));
    Client::new(t).attach(quota, install.map(|(_, slot)| slot), notify.is_some())
}
