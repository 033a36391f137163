//! Address spaces: VSpace objects (page-table roots), page-table objects,
//! frame mappings, and the ASID table.
//!
//! Each VSpace gets an address-space id when it is created: an index into
//! the kernel's ASID table plus a generation. Frame and page-table caps
//! record the ASID they are mapped in, not the VSpace's address; a cap that
//! outlives its VSpace (or whose table was unlinked) finds a dead ASID or a
//! translation that no longer leads to its frame, and its unmap does
//! nothing. So a stale cap can never unmap someone else's mapping.
//!
//! User page tables are never allocated by the kernel: a map that needs a
//! missing table fails with `NotMapped`, and user space maps a PageTable
//! object there first (seL4's model).

use crate::object::slots::update_cap;
use crate::state::{ASID_BITS, Kernel, MAX_ASIDS};
use crate::umem::UserAddr;
use hal::api::PageTable as _;
use hal::{FrameAllocator, MapError, MapFlags, PageSize, PageTable, PhysAddr, VirtAddr};
use kcore::Cap;
use kcore::SlotId as SlotsId;
use libipc::abi::{CapType, Error, Rights};

/// Never hands out a frame: user page tables come from PageTable objects.
struct NoFrames;
impl FrameAllocator for NoFrames {
    fn alloc_frame(&mut self) -> Option<PhysAddr> {
        None
    }
}

fn map_error(e: MapError) -> Error {
    match e {
        MapError::AlreadyMapped | MapError::HugePage => Error::AlreadyMapped,
        MapError::NotMapped | MapError::OutOfMemory => Error::NotMapped,
        MapError::Misaligned => Error::AlignmentError,
        MapError::BadAddress => Error::BadUserPointer,
        MapError::BadFlags => Error::InvalidArgument,
    }
}

fn table(root: u64) -> PageTable {
    // SAFETY: `root` comes from the ASID table (a live VSpace) or from a
    // VSpace cap: a root built by `PageTable::new` and not yet destroyed.
    unsafe { PageTable::from_root(PhysAddr(root)) }
}

/// Initialise a fresh VSpace at `root` (zeroed page): share the kernel half
/// and take an ASID. Returns the ASID, or `None` if the table is full.
pub fn create(k: &mut Kernel, root: u64) -> Option<u64> {
    let index = (1..MAX_ASIDS).find(|&i| k.asid_root[i] == 0)?;
    let generation = k.asid_generation[index].wrapping_add(1);
    k.asid_generation[index] = generation;
    k.asid_root[index] = root;
    let mut pt = table(root);
    pt.copy_kernel_half(&table(k.kernel_root));
    Some(index as u64 | (generation << ASID_BITS))
}

/// Free ASID slots (to check before a retype that makes VSpaces).
pub fn free_asids(k: &Kernel) -> usize {
    k.asid_root.iter().skip(1).filter(|&&r| r == 0).count()
}

/// The root of the live VSpace with `asid`.
pub fn asid_root(k: &Kernel, asid: u64) -> Option<u64> {
    let index = (asid & ((1 << ASID_BITS) - 1)) as usize;
    let generation = asid >> ASID_BITS;
    let root = *k.asid_root.get(index)?;
    (root != 0 && k.asid_generation[index] == generation).then_some(root)
}

/// The last cap to a VSpace is gone.
pub fn destroy(k: &mut Kernel, cap: &Cap) {
    if let Some(asid) = cap.vspace_asid() {
        let index = (asid & ((1 << ASID_BITS) - 1)) as usize;
        if asid_root(k, asid) == Some(cap.addr()) {
            k.asid_root[index] = 0;
        }
    }
    // Never keep running on a page table whose memory may be reused.
    for cpu in 0..k.cpus.len() {
        if k.cpus[cpu].active_root == cap.addr() {
            k.cpus[cpu].active_root = 0;
            let kroot = k.kernel_root;
            // SAFETY: the kernel's own table maps everything the kernel uses.
            unsafe { table(kroot).activate() };
        }
    }
}

/// Switch this CPU to the address space rooted at `root`.
pub fn activate(k: &mut Kernel, root: u64) {
    if k.cpu().active_root != root {
        k.cpu().active_root = root;
        // SAFETY: every VSpace shares the kernel half (copied at creation),
        // so the kernel keeps running unchanged on it.
        unsafe { table(root).activate() };
    }
}

/// The VSpace root and ASID named by a VSpace cap, if it is live.
fn live_vspace(k: &Kernel, vspace: &Cap) -> Result<(u64, u64), Error> {
    if vspace.cap_type() != CapType::VSpace {
        return Err(Error::WrongType);
    }
    let asid = vspace.vspace_asid().ok_or(Error::WrongType)?;
    match asid_root(k, asid) {
        Some(root) if root == vspace.addr() => Ok((root, asid)),
        _ => Err(Error::InvalidCapability),
    }
}

fn page_size(bits: u8) -> Result<PageSize, Error> {
    match bits {
        12 => Ok(PageSize::Size4K),
        21 => Ok(PageSize::Size2M),
        _ => Err(Error::InvalidArgument),
    }
}

/// Map flags from requested rights, checked against the cap's rights.
/// W^X: write and execute together are refused.
fn map_flags(cap: &Cap, requested: u64) -> Result<MapFlags, Error> {
    let want = Rights::from_bits(requested as u32).ok_or(Error::InvalidArgument)?;
    let allowed = Rights::READ.union(Rights::WRITE).union(Rights::EXECUTE);
    if !allowed.contains(want) || !cap.rights().contains(want) {
        return Err(Error::InsufficientRights);
    }
    if want.contains(Rights::WRITE) && want.contains(Rights::EXECUTE) {
        return Err(Error::InvalidArgument);
    }
    let mut f = MapFlags::READ | MapFlags::USER;
    if want.contains(Rights::WRITE) {
        f = f | MapFlags::WRITE;
    }
    if want.contains(Rights::EXECUTE) {
        f = f | MapFlags::EXECUTE;
    }
    if cap.is_device() {
        f = f | MapFlags::DEVICE;
    }
    Ok(f)
}

/// FrameMap: map the frame in `slot` at `vaddr` in `vspace`.
pub fn map_frame(
    k: &mut Kernel,
    slot: SlotsId,
    frame: &Cap,
    vspace: &Cap,
    vaddr: u64,
    rights: u64,
) -> Result<(), Error> {
    if frame.frame_mapping().is_some() {
        return Err(Error::AlreadyMapped);
    }
    let bits = frame.size_bits().ok_or(Error::WrongType)?;
    let size = page_size(bits)?;
    if vaddr & (size.bytes() - 1) != 0 {
        return Err(Error::AlignmentError);
    }
    let va = UserAddr::new(vaddr, size.bytes(), size.bytes())?;
    let flags = map_flags(frame, rights)?;
    let (root, asid) = live_vspace(k, vspace)?;
    table(root)
        .map(VirtAddr(va.addr()), PhysAddr(frame.addr()), size, flags, &mut NoFrames)
        .map_err(map_error)?;
    update_cap(slot, |c| {
        let _ = c.set_frame_mapping(asid, va.addr());
    });
    Ok(())
}

/// FrameRemap: change the rights of the frame's mapping.
pub fn remap_frame(k: &mut Kernel, frame: &Cap, rights: u64) -> Result<(), Error> {
    let (asid, vaddr) = frame.frame_mapping().ok_or(Error::NotMapped)?;
    let flags = map_flags(frame, rights)?;
    let root = asid_root(k, asid).ok_or(Error::NotMapped)?;
    let mut pt = table(root);
    match pt.translate(VirtAddr(vaddr)) {
        Some((pa, _)) if pa.0 == frame.addr() => {}
        _ => return Err(Error::NotMapped),
    }
    pt.protect(VirtAddr(vaddr), flags).map_err(map_error)
}

/// Remove the mapping a frame cap records, if it still stands.
pub fn unmap_frame_cap(k: &mut Kernel, frame: &Cap) {
    let Some((asid, vaddr)) = frame.frame_mapping() else { return };
    let Some(root) = asid_root(k, asid) else { return };
    let mut pt = table(root);
    if let Some((pa, _)) = pt.translate(VirtAddr(vaddr))
        && pa.0 == frame.addr()
    {
        let _ = pt.unmap(VirtAddr(vaddr));
    }
}

/// FrameUnmap.
pub fn unmap_frame(k: &mut Kernel, slot: SlotsId, frame: &Cap) {
    unmap_frame_cap(k, frame);
    update_cap(slot, |c| c.clear_frame_mapping());
}

/// PageTableMap: link the table in `slot` on the path to `vaddr`.
pub fn map_table(
    k: &mut Kernel,
    slot: SlotsId,
    pt_cap: &Cap,
    vspace: &Cap,
    vaddr: u64,
) -> Result<(), Error> {
    if pt_cap.table_mapping().is_some() {
        return Err(Error::AlreadyMapped);
    }
    // Only the sole cap to a table may link it: copies start unmapped, and
    // two links to one table would alias (or loop) page tables.
    if !kcore::cdt::is_final(&crate::object::slots::Slots, slot)? {
        return Err(Error::RevokeFirst);
    }
    let va = UserAddr::new(vaddr & !0xfff, 4096, 4096)?;
    let (root, asid) = live_vspace(k, vspace)?;
    table(root).map_table(VirtAddr(va.addr()), PhysAddr(pt_cap.addr())).map_err(map_error)?;
    update_cap(slot, |c| {
        let _ = c.set_table_mapping(asid, va.addr());
    });
    Ok(())
}

/// Unlink the table a page-table cap records, if it is still linked, and
/// clear it: entries left in an unlinked table would come back to life if
/// it were linked again elsewhere (seL4 clears it the same way).
pub fn unmap_table_cap(k: &mut Kernel, pt_cap: &Cap) {
    let Some((asid, vaddr)) = pt_cap.table_mapping() else { return };
    if let Some(root) = asid_root(k, asid) {
        let _ = table(root).unmap_table(VirtAddr(vaddr), PhysAddr(pt_cap.addr()));
    }
    // SAFETY: the table is unlinked from every address space (only this
    // cap could link it, see `map_table`), so nothing walks it; it is a
    // page of RAM carved from untyped.
    unsafe { crate::mem::phys::zero(pt_cap.addr(), 4096) };
}

/// PageTableUnmap.
pub fn unmap_table(k: &mut Kernel, slot: SlotsId, pt_cap: &Cap) {
    unmap_table_cap(k, pt_cap);
    update_cap(slot, |c| c.clear_frame_mapping());
}

/// Map a frame for the kernel itself while building the root task (the
/// boot allocator supplies missing page tables).
pub fn boot_map(
    root: u64,
    vaddr: u64,
    frame: u64,
    flags: MapFlags,
    alloc: &mut dyn FrameAllocator,
) -> Result<(), MapError> {
    table(root).map(VirtAddr(vaddr), PhysAddr(frame), PageSize::Size4K, flags, alloc)
}

pub fn user_flags(read: bool, write: bool, exec: bool) -> MapFlags {
    let mut f = MapFlags::USER;
    if read || write || exec {
        f = f | MapFlags::READ;
    }
    if write {
        f = f | MapFlags::WRITE;
    }
    if exec {
        f = f | MapFlags::EXECUTE;
    }
    f
}
