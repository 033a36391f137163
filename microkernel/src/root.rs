//! Starting the root task: the archive's `init` program, loaded into a new
//! address space, with a CSpace holding every capability user space will
//! ever get from the kernel (all free memory as untyped, device memory, IRQ
//! control, I/O ports, the event trace, scheduling control, the boot
//! archive's frames, and its own thread, CNode and VSpace), described in a
//! boot-info page
//! (`libipc::abi::BootInfo`).
//!
//! The root task's own objects come from boot memory, as the kernel's page
//! tables do; everything left after that is handed out as untyped, so the
//! kernel owns no free memory once the root task runs.

use crate::mem::BootFrames;
use crate::mem::phys::{self, PhysRef};
use crate::object::slots::Slots;
use crate::object::tcb::{SLOT_CSPACE, SLOT_IPC_BUFFER, SLOT_VSPACE, Tcb, tcb_slot};
use crate::object::vspace::{self, boot_map, user_flags};
use crate::state::Kernel;
use elf::ElfBytes;
use elf::abi::{PF_R, PF_W, PF_X, PT_LOAD};
use elf::endian::AnyEndian;
use hal::{Arch, BootInfo as HalBootInfo, Console, Mmu, PhysRange, PortIo, TrapFrameOps};
use kcore::{Cap, SlotStore};
use libipc::abi::{
    BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BOOT_MAX_UNTYPED, BootInfo, SlotRange, UntypedDesc,
    root_layout as layout, slots,
};
use libipc::bootarchive::{BootArchive, EntryKind};

const PAGE: u64 = 4096;
/// Free slots the root CNode offers beyond what the boot caps use.
const SPARE_SLOTS: u64 = 4096;
/// The root task's scheduling context: round robin with the default
/// quantum, not adaptive (it is work-conserving, takes no EDF bandwidth,
/// and classification does not turn the system's manager into a
/// reservation behind its back). It holds SchedControl and can give itself
/// (or anyone) a reservation. `docs/scheduler.md` says why.
pub const ROOT_PARAMS: sched::Params = sched::Params::rr(crate::state::DEFAULT_QUANTUM_NS);

/// Why the root task could not start.
#[derive(Debug)]
pub enum RootError {
    NoInit,
    BadElf(&'static str),
    OutOfMemory,
    Map(hal::MapError),
    NoContext,
}

impl core::fmt::Display for RootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RootError::NoInit => f.write_str("the boot archive has no program named \"init\""),
            RootError::BadElf(why) => write!(f, "init is not a loadable ELF: {why}"),
            RootError::OutOfMemory => f.write_str("not enough memory for the root task"),
            RootError::Map(e) => write!(f, "mapping the root task failed: {e:?}"),
            RootError::NoContext => f.write_str("no scheduling context for the root task"),
        }
    }
}

impl From<hal::MapError> for RootError {
    fn from(e: hal::MapError) -> Self {
        RootError::Map(e)
    }
}

fn expected_machine(arch: &str) -> u16 {
    match arch {
        "x86_64" => elf::abi::EM_X86_64,
        "riscv64" => elf::abi::EM_RISCV,
        _ => 0,
    }
}

/// One loadable segment, checked.
struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: usize,
    filesz: usize,
    read: bool,
    write: bool,
    exec: bool,
}

/// Parse and check init's ELF: 64-bit, this machine, static executable,
/// segments inside the file and below the root task's fixed layout, W^X.
fn parse(data: &[u8], arch: &str) -> Result<(u64, [Option<Segment>; 8]), RootError> {
    let elf =
        ElfBytes::<AnyEndian>::minimal_parse(data).map_err(|_| RootError::BadElf("header"))?;
    let h = &elf.ehdr;
    if h.class != elf::file::Class::ELF64 {
        return Err(RootError::BadElf("not 64-bit"));
    }
    if h.e_machine != expected_machine(arch) {
        return Err(RootError::BadElf("built for another machine"));
    }
    if h.e_type != elf::abi::ET_EXEC {
        return Err(RootError::BadElf("not a static executable (ET_EXEC)"));
    }
    let phdrs = elf.segments().ok_or(RootError::BadElf("no program headers"))?;
    let mut segs: [Option<Segment>; 8] = Default::default();
    let mut n = 0;
    for p in phdrs.iter().filter(|p| p.p_type == PT_LOAD) {
        let end = p.p_vaddr.checked_add(p.p_memsz).ok_or(RootError::BadElf("segment wraps"))?;
        if p.p_filesz > p.p_memsz || end > layout::IMAGE_END || p.p_vaddr < PAGE {
            return Err(RootError::BadElf("segment outside the user image range"));
        }
        let fend = p.p_offset.checked_add(p.p_filesz).ok_or(RootError::BadElf("segment wraps"))?;
        if fend > data.len() as u64 {
            return Err(RootError::BadElf("segment beyond the end of the file"));
        }
        let (write, exec) = (p.p_flags & PF_W != 0, p.p_flags & PF_X != 0);
        if write && exec {
            return Err(RootError::BadElf("a segment is writable and executable (W^X)"));
        }
        let slot = segs.get_mut(n).ok_or(RootError::BadElf("more than 8 loadable segments"))?;
        *slot = Some(Segment {
            vaddr: p.p_vaddr,
            memsz: p.p_memsz,
            offset: p.p_offset as usize,
            filesz: p.p_filesz as usize,
            read: p.p_flags & PF_R != 0,
            write,
            exec,
        });
        n += 1;
    }
    if n == 0 {
        return Err(RootError::BadElf("no loadable segment"));
    }
    let entry = h.e_entry;
    if !segs.iter().flatten().any(|s| s.exec && s.vaddr <= entry && entry < s.vaddr + s.memsz) {
        return Err(RootError::BadElf("entry point outside executable code"));
    }
    Ok((entry, segs))
}

struct Boot<'a> {
    frames: &'a mut BootFrames,
}

impl Boot<'_> {
    fn page(&mut self) -> Result<u64, RootError> {
        Ok(self.frames.alloc_block(PAGE).ok_or(RootError::OutOfMemory)?.0)
    }
}

/// Insert a boot cap as a root of the derivation tree at `index`.
fn put(cnode: u64, index: u64, cap: Cap) {
    let slot = Slots.slot_of(cnode, index);
    // Cannot fail: the slot is in the fresh root CNode and empty.
    let _ = kcore::cdt::insert_root(&mut Slots, slot, cap);
}

/// Create the root task and make it runnable. Returns its TCB address.
pub fn start(
    k: &mut Kernel,
    info: &HalBootInfo,
    archive: Option<&BootArchive<'static>>,
    frames: &mut BootFrames,
) -> Result<u64, RootError> {
    let archive = archive.ok_or(RootError::NoInit)?;
    let init =
        archive.find("init").filter(|e| e.kind == EntryKind::Program).ok_or(RootError::NoInit)?;
    let (entry, segs) = parse(init.data, info.arch)?;
    let mut b = Boot { frames };

    // Address space.
    let root = b.page()?;
    let asid = vspace::create(k, root).ok_or(RootError::OutOfMemory)?;

    // Image: fresh frames, file bytes copied in.
    for s in segs.iter().flatten() {
        let flags = user_flags(s.read, s.write, s.exec);
        let first = s.vaddr & !(PAGE - 1);
        let end = (s.vaddr + s.memsz).div_ceil(PAGE) * PAGE;
        let mut va = first;
        while va < end {
            let frame = b.page()?;
            // Bytes of the file that land in this page.
            let lo = va.max(s.vaddr);
            let hi = (va + PAGE).min(s.vaddr + s.filesz as u64);
            if lo < hi {
                let from = s.offset + (lo - s.vaddr) as usize;
                let bytes = init.data.get(from..from + (hi - lo) as usize).unwrap_or(&[]);
                // SAFETY: `frame` is a fresh page from the boot allocator.
                unsafe { phys::copy_to(frame + (lo - va), bytes) };
            }
            boot_map(root, va, frame, flags, b.frames)?;
            va += PAGE;
        }
    }

    // Stack, IPC buffer, boot-info page.
    let rw = user_flags(true, true, false);
    let mut va = layout::STACK_TOP - layout::STACK_SIZE;
    while va < layout::STACK_TOP {
        let f = b.page()?;
        boot_map(root, va, f, rw, b.frames)?;
        va += PAGE;
    }
    let ipc = b.page()?;
    boot_map(root, layout::IPC_BUFFER, ipc, rw, b.frames)?;
    let bi = b.page()?;
    boot_map(root, layout::BOOT_INFO, bi, user_flags(true, false, false), b.frames)?;

    // The boot archive, read-only.
    let arch_range = info.boot_archive.unwrap_or_default();
    let arch_pages = archive.size() / PAGE;
    for i in 0..arch_pages {
        let pa = arch_range.start.0 + i * PAGE;
        boot_map(root, layout::ARCHIVE + i * PAGE, pa, user_flags(true, false, false), b.frames)?;
    }

    // The CNode: big enough for every boot cap plus spare slots.
    let needed = slots::FIRST_DYNAMIC + arch_pages + BOOT_MAX_UNTYPED as u64 + SPARE_SLOTS;
    let radix = (64 - (needed - 1).leading_zeros()).max(12) as u8;
    let cnode_bytes = 1u64 << (radix + kcore::untyped::SLOT_BITS);
    let cnode = b.frames.alloc_block(cnode_bytes).ok_or(RootError::OutOfMemory)?.0;

    // The thread.
    let tcb_pa = b.page()?;
    // SAFETY: a fresh, zeroed page from the boot allocator, large enough.
    let t: PhysRef<Tcb> = unsafe { PhysRef::new(tcb_pa) };
    t.init(Tcb::new());
    t.get_mut().regs = hal::TrapFrame::new_user(entry, layout::STACK_TOP, layout::BOOT_INFO);
    k.sc_create(tcb_pa).map_err(|_| RootError::NoContext)?;
    k.sc_configure(tcb_pa, ROOT_PARAMS).map_err(|_| RootError::NoContext)?;

    // Fixed caps.
    let cnode_cap = Cap::cnode(cnode, radix)
        .and_then(|c| c.with_guard(64 - radix, 0))
        .map_err(|_| RootError::OutOfMemory)?;
    put(cnode, slots::INIT_THREAD, Cap::thread(tcb_pa));
    put(cnode, slots::INIT_CNODE, cnode_cap);
    put(cnode, slots::INIT_VSPACE, Cap::vspace_with_asid(root, asid));
    put(cnode, slots::IRQ_CONTROL, Cap::irq_control());
    if <Arch as PortIo>::HAS_PORTS
        && let Ok(c) = Cap::io_port(0, 0xffff)
    {
        put(cnode, slots::IO_PORTS, c);
    }
    put(cnode, slots::BOOT_INFO_FRAME, mapped_frame(bi, asid, layout::BOOT_INFO));
    put(cnode, slots::IPC_BUFFER, mapped_frame(ipc, asid, layout::IPC_BUFFER));
    put(cnode, slots::TRACE, Cap::trace());
    put(cnode, slots::SCHED_CONTROL, Cap::sched_control());

    // Archive frames.
    let mut next = slots::FIRST_DYNAMIC;
    let archive_frames = SlotRange { start: next, end: next + arch_pages };
    for i in 0..arch_pages {
        let pa = arch_range.start.0 + i * PAGE;
        put(cnode, next, mapped_frame(pa, asid, layout::ARCHIVE + i * PAGE));
        next += 1;
    }

    // Untyped: all remaining RAM, then device memory.
    let mut list = [UntypedDesc::default(); BOOT_MAX_UNTYPED];
    let mut count = 0;
    let untyped_start = next;
    let (ranges, n) = b.frames.take_all();
    for r in ranges.iter().take(n) {
        for (base, bits) in blocks(*r) {
            if count < BOOT_MAX_UNTYPED
                && let Ok(cap) = Cap::untyped(base, bits, false)
            {
                put(cnode, next, cap);
                list[count] =
                    UntypedDesc { paddr: base, size_bits: bits, is_device: 0, _pad: [0; 6] };
                next += 1;
                count += 1;
            }
        }
    }
    for r in device_ranges(info).iter().flatten() {
        for (base, bits) in blocks(*r) {
            if count < BOOT_MAX_UNTYPED
                && let Ok(cap) = Cap::untyped(base, bits, true)
            {
                put(cnode, next, cap);
                list[count] =
                    UntypedDesc { paddr: base, size_bits: bits, is_device: 1, _pad: [0; 6] };
                next += 1;
                count += 1;
            }
        }
    }

    // Boot info.
    // SAFETY: `bi` is a fresh page from the boot allocator; BootInfo fits.
    let bi_ref: PhysRef<BootInfo> = unsafe { PhysRef::new(bi) };
    bi_ref.init(BootInfo {
        magic: BOOT_INFO_MAGIC,
        version: BOOT_INFO_VERSION,
        cnode_radix_bits: u64::from(radix),
        ipc_buffer: layout::IPC_BUFFER,
        empty: SlotRange { start: next, end: 1u64 << radix },
        untyped: SlotRange { start: untyped_start, end: next },
        archive_frames,
        archive_vaddr: layout::ARCHIVE,
        archive_size: archive.size(),
        tick_hz: 1_000_000_000 / crate::state::MAX_SLICE_NS,
        untyped_list: list,
        clock_hz: <Arch as hal::Timer>::clock_hz(),
    });

    // The thread's own slots: copies of its CNode, VSpace and IPC buffer.
    let copy = |from: u64, to: usize| {
        let _ = kcore::cdt::copy(&mut Slots, Slots.slot_of(cnode, from), tcb_slot(tcb_pa, to));
    };
    copy(slots::INIT_CNODE, SLOT_CSPACE);
    copy(slots::INIT_VSPACE, SLOT_VSPACE);
    copy(slots::IPC_BUFFER, SLOT_IPC_BUFFER);
    k.wake(tcb_pa);
    Ok(tcb_pa)
}

fn mapped_frame(pa: u64, asid: u64, vaddr: u64) -> Cap {
    let mut c = Cap::frame(pa, 12, false).unwrap_or(Cap::null());
    let _ = c.set_frame_mapping(asid, vaddr);
    c
}

/// Split a range into naturally aligned power-of-two blocks of at least a
/// page (and at most 2^47 bytes).
fn blocks(r: PhysRange) -> impl Iterator<Item = (u64, u8)> {
    let mut at = r.start.0.div_ceil(PAGE) * PAGE;
    let end = r.end.0 & !(PAGE - 1);
    core::iter::from_fn(move || {
        if at >= end {
            return None;
        }
        let align = if at == 0 { 47 } else { at.trailing_zeros().min(47) };
        let fit = 63 - (end - at).leading_zeros();
        let bits = align.min(fit) as u8;
        let base = at;
        at += 1u64 << bits;
        Some((base, bits))
    })
}

/// Device memory: the physical space below 4 GiB (above the first MiB) that
/// the firmware map does not describe and the kernel does not drive, plus
/// the one device page the kernel shares: the console UART's
/// (`Console::shared_region`, riscv64), which the console server maps while
/// the kernel keeps writing its transmitter.
fn device_ranges(info: &HalBootInfo) -> [Option<PhysRange>; 32] {
    let mut out: [Option<PhysRange>; 32] = [None; 32];
    let mut n = 0;
    let limit = (4u64 << 30).min(<Arch as Mmu>::PHYS_MAP_SIZE);
    let mut taken = [PhysRange::default(); hal::MAX_MEMORY_REGIONS + hal::MAX_MMIO_REGIONS];
    let mut t = 0;
    for r in info.memory() {
        taken[t] = r.range;
        t += 1;
    }
    let shared = <Arch as Console>::shared_region();
    for r in info.mmio() {
        if shared.is_some_and(|sh| is_shared(r, &sh)) {
            continue;
        }
        taken[t] = *r;
        t += 1;
    }
    let taken = &mut taken[..t];
    taken.sort_unstable_by_key(|r| r.start.0);
    let mut at = 1u64 << 20;
    for r in taken.iter() {
        let start = r.start.0 & !(PAGE - 1);
        if start > at && at < limit && n < out.len() {
            out[n] = Some(PhysRange::new(at, start.min(limit)));
            n += 1;
        }
        at = at.max(r.end.0.div_ceil(PAGE) * PAGE);
        if at >= limit {
            break;
        }
    }
    if at < limit && n < out.len() {
        out[n] = Some(PhysRange::new(at, limit));
    }
    out
}

/// Whether kernel device region `r` lies within the shared page(s) `shared`
/// (compared in whole pages, as the hal rounds device regions up).
fn is_shared(r: &PhysRange, shared: &PhysRange) -> bool {
    let start = r.start.0 & !(PAGE - 1);
    let end = r.end.0.div_ceil(PAGE) * PAGE;
    start >= shared.start.0 && end <= shared.end.0 && start < end
}
