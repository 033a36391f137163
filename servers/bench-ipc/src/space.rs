//! Building the benchmark's threads: a bump allocator over the root
//! CNode's free slots and the untyped list in `BootInfo`, page tables on
//! demand, the server's address space (its image copied from the boot
//! archive), and configured, started server threads.

use core::fmt;

use elf::ElfBytes;
use elf::abi::{PF_W, PF_X, PT_LOAD};
use elf::endian::AnyEndian;
use libipc::abi::{BootInfo, CapType, Error, Rights};
use libipc::bootarchive::{BootArchive, EntryKind};
use libipc::cap::{self, CNode, Cap, Endpoint, Frame, ObjectType, Thread, VSpace, init};

use crate::raw::{self, SCRATCH, ScratchPage, regs};

const PAGE: u64 = 4096;

/// Page-table levels below the root a fresh VSpace needs before a 4 KiB
/// frame can be mapped (x86_64 PDPT, PD, PT; Sv39 two levels).
const TABLE_LEVELS: usize = if cfg!(target_arch = "x86_64") { 3 } else { 2 };

/// Where the server's IPC buffer and stack go in its address space: the
/// same places as the root task's (`root_layout`), above any image.
const SERVER_IPC_BUFFER: u64 = 0x1_0000_0000;
const SERVER_STACK_TOP: u64 = 0x1_0010_0000;
/// 16 KiB: the server loop needs a few words.
const SERVER_STACK_PAGES: u64 = 4;

/// The local server's IPC buffer, in the root VSpace next to [`SCRATCH`]
/// (same page tables).
const LOCAL_IPC_BUFFER: u64 = SCRATCH + PAGE;

pub const RW: Rights = Rights::READ.union(Rights::WRITE);

/// A failed step: what was being done and the kernel's answer.
#[derive(Clone, Copy, Debug)]
pub struct Fail {
    pub what: &'static str,
    pub error: Option<Error>,
    pub at: u64,
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.what)?;
        if self.at != 0 {
            write!(f, " at {:#x}", self.at)?;
        }
        match self.error {
            Some(e) => write!(f, ": {}", e.as_str()),
            None => Ok(()),
        }
    }
}

pub type Res<T> = Result<T, Fail>;

pub fn fail(what: &'static str) -> Fail {
    Fail { what, error: None, at: 0 }
}

/// Attach what was being done (and where) to a kernel error.
pub trait Context<T> {
    fn ctx(self, what: &'static str) -> Res<T>;
    fn ctx_at(self, what: &'static str, at: u64) -> Res<T>;
}

impl<T> Context<T> for Result<T, Error> {
    fn ctx(self, what: &'static str) -> Res<T> {
        self.ctx_at(what, 0)
    }
    fn ctx_at(self, what: &'static str, at: u64) -> Res<T> {
        self.map_err(|e| Fail { what, error: Some(e), at })
    }
}

/// log2 of an object's size (as the kernel's `kcore::object_size_bits`),
/// to skip untypeds too small to hold it.
fn object_bits(ty: CapType, size_bits: u8) -> u8 {
    match ty {
        CapType::Frame | CapType::Untyped => size_bits,
        CapType::CNode => size_bits.saturating_add(6),
        CapType::Thread => 11,
        CapType::PageTable | CapType::VSpace => 12,
        _ => 5,
    }
}

/// The root task's resources.
pub struct Alloc {
    boot: &'static BootInfo,
    next_slot: u64,
    /// First untyped worth trying.
    untyped_cur: u64,
    /// 2 MiB regions (VSpace slot, region base) whose page tables exist.
    tables: [(u64, u64); 16],
    tables_used: usize,
    /// A page table `ensure_tables` made and did not need.
    spare_table: Option<Cap<cap::PageTable>>,
}

impl Alloc {
    pub fn new(boot: &'static BootInfo) -> Alloc {
        Alloc {
            boot,
            next_slot: boot.empty.start,
            untyped_cur: 0,
            tables: [(0, 0); 16],
            tables_used: 0,
            spare_table: None,
        }
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Res<u64> {
        if self.next_slot >= self.boot.empty.end {
            return Err(fail("out of free slots in the root CNode"));
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// A new object of type `T` (`size_bits` as for `UntypedRetype`) from
    /// the first RAM untyped with room.
    pub fn retype<T: ObjectType>(&mut self, size_bits: u8) -> Res<Cap<T>> {
        let slot = self.slot()?;
        let bits = object_bits(T::TYPE, size_bits);
        let count = self.boot.untyped.end.saturating_sub(self.boot.untyped.start);
        let mut i = self.untyped_cur;
        while i < count {
            let Some(desc) = self.boot.untyped_list.get(i as usize) else { break };
            let ut: Cap<cap::Untyped> = Cap::from_slot(self.boot.untyped.start + i);
            if desc.is_device == 0 && desc.size_bits >= bits {
                match ut.retype(T::TYPE, size_bits, init::CNODE, slot, 1) {
                    Ok(()) => return Ok(Cap::from_slot(slot)),
                    // Full (for objects this small), or only a copy of it
                    // may carve: skip it from now on.
                    Err(Error::NotEnoughMemory | Error::RevokeFirst) if i == self.untyped_cur => {
                        self.untyped_cur += 1;
                    }
                    Err(Error::NotEnoughMemory | Error::RevokeFirst) => {}
                    Err(e) => return Err(Fail { what: "UntypedRetype", error: Some(e), at: 0 }),
                }
            } else if desc.is_device != 0 && i == self.untyped_cur {
                self.untyped_cur += 1;
            }
            i += 1;
        }
        Err(fail("no untyped has room for an object"))
    }

    pub fn frame(&mut self) -> Res<Cap<Frame>> {
        self.retype(12)
    }

    /// A copy of `cap` with `rights` in a new slot.
    pub fn copy<T: ObjectType>(&mut self, cap: Cap<T>, rights: Rights) -> Res<Cap<T>> {
        let slot = self.slot()?;
        init::CNODE.copy(slot, init::CNODE, cap.slot(), rights).ctx("CNodeCopy")?;
        Ok(Cap::from_slot(slot))
    }

    /// Map page tables in `vs` until a 4 KiB frame can be mapped at `va`
    /// (`PageTableMap` installs the first missing level each time and says
    /// `AlreadyMapped` when none is missing).
    pub fn ensure_tables(&mut self, vs: Cap<VSpace>, va: u64) -> Res<()> {
        let key = (vs.slot(), va & !0x1f_ffff);
        if self.tables.iter().take(self.tables_used).any(|t| *t == key) {
            return Ok(());
        }
        for _ in 0..=TABLE_LEVELS {
            let pt = match self.spare_table.take() {
                Some(pt) => pt,
                None => self.retype(0)?,
            };
            match pt.map(vs, va) {
                Ok(()) => {}
                Err(Error::AlreadyMapped) => {
                    self.spare_table = Some(pt);
                    if let Some(t) = self.tables.get_mut(self.tables_used) {
                        *t = key;
                        self.tables_used += 1;
                    }
                    return Ok(());
                }
                Err(e) => return Err(Fail { what: "PageTableMap", error: Some(e), at: va }),
            }
        }
        Err(Fail { what: "PageTableMap never said AlreadyMapped", error: None, at: va })
    }

    /// A fresh frame mapped at `va` in `vs` with `rights`.
    fn page_at(&mut self, vs: Cap<VSpace>, va: u64, rights: Rights) -> Res<Cap<Frame>> {
        let f = self.frame()?;
        self.ensure_tables(vs, va)?;
        f.map(vs, va, rights).ctx_at("FrameMap", va)?;
        Ok(f)
    }
}

/// The `init` program's ELF in the boot archive: this very program, as the
/// kernel loaded it.
pub fn own_elf(boot: &'static BootInfo) -> Res<&'static [u8]> {
    let archive = BootArchive::parse(rt::boot_archive(boot))
        .map_err(|_| fail("the boot archive does not parse"))?;
    let e = archive.find("init").ok_or(fail("no init entry in the boot archive"))?;
    if e.kind != EntryKind::Program {
        return Err(fail("the init entry is not a program"));
    }
    Ok(e.data)
}

/// A new address space holding a copy of `elf`'s loadable segments at
/// their link addresses, in fresh frames, with the segments' rights (the
/// kernel's own loader does the same for the root task).
/// Returns the VSpace and the number of pages copied.
pub fn image_space(a: &mut Alloc, elf: &[u8]) -> Res<(Cap<VSpace>, u64)> {
    let file = ElfBytes::<AnyEndian>::minimal_parse(elf).map_err(|_| fail("init's ELF header"))?;
    let phdrs = file.segments().ok_or(fail("init has no program headers"))?;
    let vs: Cap<VSpace> = a.retype(0)?;
    a.ensure_tables(init::VSPACE, SCRATCH)?;
    let mut pages = 0;
    for p in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        let rights = match (p.p_flags & PF_W != 0, p.p_flags & PF_X != 0) {
            (true, false) => RW,
            (false, true) => Rights::READ.union(Rights::EXECUTE),
            (false, false) => Rights::READ,
            (true, true) => return Err(fail("init has a writable and executable segment")),
        };
        let file_end = p.p_vaddr.checked_add(p.p_filesz).ok_or(fail("segment wraps"))?;
        let mem_end = p.p_vaddr.checked_add(p.p_memsz).ok_or(fail("segment wraps"))?;
        let mut va = p.p_vaddr & !(PAGE - 1);
        while va < mem_end {
            // The file bytes that land in this page.
            let (lo, hi) = (va.max(p.p_vaddr), (va + PAGE).min(file_end));
            let f = a.frame()?;
            let mut page = ScratchPage::map(f).ctx_at("FrameMap (scratch)", SCRATCH)?;
            if lo < hi {
                let from = p.p_offset + (lo - p.p_vaddr);
                let bytes = usize::try_from(from)
                    .ok()
                    .and_then(|from| elf.get(from..from + (hi - lo) as usize))
                    .ok_or(fail("segment beyond the end of the file"))?;
                if !page.write((lo - va) as usize, bytes) {
                    return Err(fail("segment bytes do not fit the page"));
                }
            }
            let f = page.unmap().ctx("FrameUnmap (scratch)")?;
            a.ensure_tables(vs, va)?;
            f.map(vs, va, rights).ctx_at("FrameMap (server image)", va)?;
            va += PAGE;
            pages += 1;
        }
    }
    Ok((vs, pages))
}

/// A server thread's entry: `fn(endpoint CPtr) -> !`.
pub type Entry = extern "C" fn(u64) -> !;

/// Start a thread running `entry(ep)` in the CSpace `cspace`
/// and the address space `vs` (from [`image_space`], with the same code at
/// the same addresses), on a new stack and IPC buffer of its own at the
/// root task's layout addresses.
pub fn start_remote(
    a: &mut Alloc,
    cspace: Cap<CNode>,
    vs: Cap<VSpace>,
    entry: Entry,
    ep: Cap<Endpoint>,
) -> Res<Cap<Thread>> {
    let mut va = SERVER_STACK_TOP - SERVER_STACK_PAGES * PAGE;
    while va < SERVER_STACK_TOP {
        a.page_at(vs, va, RW)?;
        va += PAGE;
    }
    let ipc = a.page_at(vs, SERVER_IPC_BUFFER, RW)?;
    start(a, cspace, vs, (ipc, SERVER_IPC_BUFFER), (entry, SERVER_STACK_TOP, ep))
}

/// Start a thread running `entry(ep)` in the root task's
/// CSpace and VSpace, on `stack_top` (in the root task's memory) with a new
/// IPC buffer.
pub fn start_local(
    a: &mut Alloc,
    entry: Entry,
    stack_top: u64,
    ep: Cap<Endpoint>,
) -> Res<Cap<Thread>> {
    let ipc = a.page_at(init::VSPACE, LOCAL_IPC_BUFFER, RW)?;
    let code = (entry, stack_top, ep);
    start(a, init::CNODE, init::VSPACE, (ipc, LOCAL_IPC_BUFFER), code)
}

fn start(
    a: &mut Alloc,
    cspace: Cap<CNode>,
    vs: Cap<VSpace>,
    (ipc, ipc_va): (Cap<Frame>, u64),
    (entry, stack_top, ep): (Entry, u64, Cap<Endpoint>),
) -> Res<Cap<Thread>> {
    let t: Cap<Thread> = a.retype(0)?;
    t.configure(cspace, vs, ipc, ipc_va).ctx("ThreadConfigure")?;
    let mut r = [0u64; regs::COUNT];
    r[regs::PC] = entry as usize as u64;
    r[regs::SP] = raw::initial_sp(stack_top);
    r[regs::ARG0] = ep.slot();
    t.write_registers(true, &r).ctx("ThreadWriteRegisters")?;
    Ok(t)
}
