//! Sv39 page tables.
//!
//! Three levels of 512 eight-byte entries; a leaf at level 2 maps 1 GiB, at
//! level 1 2 MiB, at level 0 4 KiB. Virtual addresses are 39 bits,
//! sign-extended: bits 63..39 must equal bit 38 (user half below
//! `0x40_0000_0000`, kernel half from `0xffff_ffc0_0000_0000`).
//!
//! Entry bits: V R W X U G A D, two software bits (RSW) and the PPN from bit
//! 10. A and D are always set (no hardware or trap-based A/D updates are
//! needed). RSW bit 8 records `MapFlags::DEVICE` so that `translate` reports
//! it; plain Sv39 has no memory types (no Svpbmt), and QEMU treats MMIO as
//! uncached anyway.
//!
//! Table pages are reached through the direct map (`PHYS_OFFSET + pa`).
//! Every address space uses ASID 0; `activate` flushes the whole TLB.
//!
//! # User address spaces
//! A user table is a root from [`PageTable::new`] whose kernel half (root
//! entries 256..512: the direct map and the kernel image) is copied from the
//! kernel's table with `copy_kernel_half`; those entries point at the
//! kernel's own level-1 tables (or are 1 GiB leaves) and never change after
//! boot. The user half (root entries 0..256, `va < USER_END`) belongs to the
//! address space. The kernel supplies its intermediate tables itself with
//! `map_table` (a level-1 table covers 1 GiB, a level-0 table 2 MiB) and
//! takes them back with `unmap_table`; it calls `map` with an allocator that
//! returns `None`, which makes `map` fail with `OutOfMemory`, changing
//! nothing, whenever a table on the path is missing. Intermediate entries
//! never carry U, G, A or D (reserved in non-leaf entries).

use super::{Arch, PHYS_MAP_SIZE, PHYS_OFFSET, phys_to_virt};
use crate::api::{FrameAllocator, MapError, MapFlags, Mmu, PageSize, PhysAddr, VirtAddr};
use core::arch::asm;

impl Mmu for Arch {
    const PHYS_OFFSET: u64 = PHYS_OFFSET;
    const PHYS_MAP_SIZE: u64 = PHYS_MAP_SIZE;
    const KERNEL_BASE: u64 = 0xffff_ffc0_0000_0000;
    const USER_END: u64 = 0x0000_0040_0000_0000;
    const LARGEST_PAGE: PageSize = PageSize::Size1G;
}

const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_U: u64 = 1 << 4;
const PTE_G: u64 = 1 << 5;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
/// Software bit: the mapping is device memory.
const PTE_DEVICE: u64 = 1 << 8;
const PPN_SHIFT: u64 = 10;
const PPN_MASK: u64 = (1 << 44) - 1;

const ENTRIES: usize = 512;
const PAGE: u64 = 4096;
/// Physical addresses Sv39 can express (56 bits).
const PA_LIMIT: u64 = 1 << 56;
const SATP_SV39: u64 = 8 << 60;

/// One Sv39 address space.
#[derive(Debug)]
pub struct PageTable {
    root: PhysAddr,
}

/// Level at which a page of `size` is a leaf.
fn leaf_level(size: PageSize) -> usize {
    match size {
        PageSize::Size4K => 0,
        PageSize::Size2M => 1,
        PageSize::Size1G => 2,
    }
}

fn level_size(level: usize) -> PageSize {
    match level {
        0 => PageSize::Size4K,
        1 => PageSize::Size2M,
        _ => PageSize::Size1G,
    }
}

fn is_canonical(va: u64) -> bool {
    let top = (va as i64) >> 38;
    top == 0 || top == -1
}

fn index(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * level)) & 0x1ff) as usize
}

fn is_leaf(pte: u64) -> bool {
    pte & (PTE_R | PTE_W | PTE_X) != 0
}

fn pte_addr(pte: u64) -> u64 {
    ((pte >> PPN_SHIFT) & PPN_MASK) * PAGE
}

/// Pointer to entry `idx` of the table page at physical `table`.
fn entry_ptr(table: u64, idx: usize) -> *mut u64 {
    (phys_to_virt(table) as *mut u64).wrapping_add(idx % ENTRIES)
}

/// Read entry `idx` of the table page at `table`.
///
/// # Safety
/// `table` must be a page-table page of a live `PageTable` (handed out by a
/// frame allocator for it, so nothing else uses the frame), reachable
/// through the direct map.
unsafe fn read_pte(table: u64, idx: usize) -> u64 {
    // SAFETY: per the contract the page is a table page in the direct map,
    // 4 KiB and aligned; `idx < 512` (entry_ptr reduces it).
    unsafe { core::ptr::read_volatile(entry_ptr(table, idx)) }
}

/// Write entry `idx` of the table page at `table`.
///
/// # Safety
/// As for [`read_pte`], and the caller holds the `PageTable` mutably: no one
/// else changes the entry.
unsafe fn write_pte(table: u64, idx: usize, pte: u64) {
    // SAFETY: as in `read_pte`; exclusive access comes from `&mut PageTable`.
    unsafe { core::ptr::write_volatile(entry_ptr(table, idx), pte) }
}

/// Allocate a page-table page and make sure it is zeroed.
fn alloc_table(alloc: &mut dyn FrameAllocator) -> Result<u64, MapError> {
    let frame = alloc.alloc_frame().ok_or(MapError::OutOfMemory)?.0;
    if !frame.is_multiple_of(PAGE) || frame >= PHYS_MAP_SIZE {
        // Unusable as a table page: not reachable or not a page.
        return Err(MapError::OutOfMemory);
    }
    // SAFETY: the allocator handed the frame to us alone; it is a 4 KiB
    // aligned page inside the direct map (checked above).
    unsafe { core::ptr::write_bytes(phys_to_virt(frame) as *mut u8, 0, PAGE as usize) };
    Ok(frame)
}

fn sfence_vma_addr(va: u64) {
    // SAFETY: flushing TLB entries has no effect on memory; later accesses
    // walk the current tables again.
    unsafe { asm!("sfence.vma {}, zero", in(reg) va, options(nostack)) };
}

fn current_root() -> u64 {
    let satp: u64;
    // SAFETY: reading satp has no side effects.
    unsafe { asm!("csrr {}, satp", out(reg) satp, options(nomem, nostack)) };
    (satp & PPN_MASK) * PAGE
}

/// Entry bits for `flags`, or `BadFlags` if Sv39 cannot express them.
fn leaf_bits(flags: MapFlags) -> Result<u64, MapError> {
    let r = flags.contains(MapFlags::READ);
    let w = flags.contains(MapFlags::WRITE);
    let x = flags.contains(MapFlags::EXECUTE);
    if !r && (w || !x) {
        // W without R is reserved; no R/W/X would be a pointer to a table.
        return Err(MapError::BadFlags);
    }
    let mut bits = PTE_V | PTE_A | PTE_D;
    for (flag, bit) in [
        (MapFlags::READ, PTE_R),
        (MapFlags::WRITE, PTE_W),
        (MapFlags::EXECUTE, PTE_X),
        (MapFlags::USER, PTE_U),
        (MapFlags::GLOBAL, PTE_G),
        (MapFlags::DEVICE, PTE_DEVICE),
    ] {
        if flags.contains(flag) {
            bits |= bit;
        }
    }
    Ok(bits)
}

fn flags_of(pte: u64) -> MapFlags {
    let mut flags = MapFlags::empty();
    for (flag, bit) in [
        (MapFlags::READ, PTE_R),
        (MapFlags::WRITE, PTE_W),
        (MapFlags::EXECUTE, PTE_X),
        (MapFlags::USER, PTE_U),
        (MapFlags::GLOBAL, PTE_G),
        (MapFlags::DEVICE, PTE_DEVICE),
    ] {
        if pte & bit != 0 {
            flags = flags | flag;
        }
    }
    flags
}

impl PageTable {
    /// Find the leaf mapping `va`: `(table, index, level, entry)`.
    fn find_leaf(&self, va: u64) -> Option<(u64, usize, usize, u64)> {
        let mut table = self.root.0;
        for level in (0..=2).rev() {
            let idx = index(va, level);
            // SAFETY: `table` is the root or a table page reached from it:
            // all handed out by the allocator for this table.
            let pte = unsafe { read_pte(table, idx) };
            if pte & PTE_V == 0 {
                return None;
            }
            if is_leaf(pte) {
                return Some((table, idx, level, pte));
            }
            table = pte_addr(pte);
        }
        None
    }

    fn is_active(&self) -> bool {
        current_root() == self.root.0
    }

    /// The user-half `va` as a checked address, `BadAddress` otherwise.
    fn user_va(va: VirtAddr) -> Result<u64, MapError> {
        if va.0 < Arch::USER_END { Ok(va.0) } else { Err(MapError::BadAddress) }
    }
}

/// `sfence.vma` for everything: a non-leaf entry changed, which the
/// address-specific form does not cover.
fn sfence_vma_all() {
    // SAFETY: flushing the TLB has no effect on memory; later accesses walk
    // the current tables again.
    unsafe { asm!("sfence.vma", options(nostack)) };
}

/// Entry linking a next-level table at `child`.
fn table_pte(child: u64) -> u64 {
    ((child / PAGE) << PPN_SHIFT) | PTE_V
}

impl crate::api::PageTable for PageTable {
    /// A new, empty root table (see [`crate::api::PageTable::new`]).
    fn new(alloc: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        Ok(PageTable { root: PhysAddr(alloc_table(alloc)?) })
    }

    /// Physical address of the root table.
    fn root(&self) -> PhysAddr {
        self.root
    }

    /// Map one page (see [`crate::api::PageTable::map`]).
    ///
    /// Every check is done before anything changes, and the missing
    /// intermediate tables are allocated before any is linked in: on error
    /// the tree is as it was. (If the allocator runs dry after handing out
    /// the first of two tables, that frame stays unused: the allocator has
    /// no way to take it back.) With an allocator that always returns
    /// `None` (the kernel's, for user tables) a missing table means
    /// `OutOfMemory` and no change at all.
    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: PageSize,
        flags: MapFlags,
        alloc: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        let (va, pa) = (va.0, pa.0);
        let leaf = leaf_bits(flags)?;
        if !is_canonical(va) || pa >= PA_LIMIT {
            return Err(MapError::BadAddress);
        }
        if flags.contains(MapFlags::USER) && va >= Arch::USER_END {
            // User pages in the kernel half would be a kernel bug.
            return Err(MapError::BadAddress);
        }
        let bytes = size.bytes();
        if !va.is_multiple_of(bytes) || !pa.is_multiple_of(bytes) {
            return Err(MapError::Misaligned);
        }
        let target = leaf_level(size);

        // 1. Walk without changing anything: find the deepest existing
        //    table on the path and reject conflicts.
        let mut table = self.root.0;
        let mut level = 2;
        while level > target {
            // SAFETY: `table` is the root or reached from it (see find_leaf).
            let pte = unsafe { read_pte(table, index(va, level)) };
            if pte & PTE_V == 0 {
                break;
            }
            if is_leaf(pte) {
                return Err(MapError::HugePage);
            }
            table = pte_addr(pte);
            level -= 1;
        }
        if level == target {
            // SAFETY: as above.
            if unsafe { read_pte(table, index(va, level)) } & PTE_V != 0 {
                return Err(MapError::AlreadyMapped);
            }
        }

        // 2. Allocate every missing table before touching the tree, so a
        //    failure leaves it as it was.
        let missing = level - target;
        let mut new_tables = [0u64; 2];
        for slot in new_tables.iter_mut().take(missing) {
            *slot = alloc_table(alloc)?;
        }

        // 3. Fill the new tables bottom-up (new_tables[i] sits at level
        //    `level - 1 - i`), write the leaf, and publish the new chain in
        //    the existing tree last, so the walker never sees a half-built
        //    path.
        for i in 0..missing.saturating_sub(1) {
            // SAFETY: `new_tables[i]` is a fresh table page from the
            // allocator, not yet reachable from the tree: ours alone.
            unsafe {
                write_pte(new_tables[i], index(va, level - 1 - i), table_pte(new_tables[i + 1]))
            };
        }
        let leaf_table = if missing > 0 { new_tables[missing - 1] } else { table };
        // SAFETY: `leaf_table` is a table of this tree or a fresh one; we
        // hold `&mut self`. The entry was checked invalid in step 1 (or the
        // table is new and zeroed).
        unsafe { write_pte(leaf_table, index(va, target), ((pa / PAGE) << PPN_SHIFT) | leaf) };
        if missing > 0 {
            // SAFETY: `table` is a table of this tree and the entry was
            // checked invalid in step 1; we hold `&mut self`.
            unsafe { write_pte(table, index(va, level), table_pte(new_tables[0])) };
        }
        if self.is_active() {
            // Implementations may cache invalid entries.
            sfence_vma_addr(va);
        }
        Ok(())
    }

    /// Remove the mapping at `va` (see [`crate::api::PageTable::unmap`]).
    fn unmap(&mut self, va: VirtAddr) -> Result<(PhysAddr, PageSize), MapError> {
        let va = va.0;
        if !is_canonical(va) {
            return Err(MapError::BadAddress);
        }
        let (table, idx, level, pte) = self.find_leaf(va).ok_or(MapError::NotMapped)?;
        let size = level_size(level);
        if !va.is_multiple_of(size.bytes()) {
            return Err(MapError::Misaligned);
        }
        // SAFETY: `table` is a table page of this tree; we hold `&mut self`.
        unsafe { write_pte(table, idx, 0) };
        sfence_vma_addr(va);
        Ok((PhysAddr(pte_addr(pte)), size))
    }

    /// Where `va` leads (see [`crate::api::PageTable::translate`]).
    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, MapFlags)> {
        let va = va.0;
        if !is_canonical(va) {
            return None;
        }
        let (_, _, level, pte) = self.find_leaf(va)?;
        let offset = va & (level_size(level).bytes() - 1);
        Some((PhysAddr(pte_addr(pte) + offset), flags_of(pte)))
    }

    /// Switch this hart to this address space.
    ///
    /// # Safety
    /// The table must map the running kernel (code, stack, data, the direct
    /// map and the devices the hal uses) exactly as the current one does.
    unsafe fn activate(&self) {
        let satp = SATP_SV39 | (self.root.0 / PAGE);
        // SAFETY: the caller guarantees the table maps everything the
        // running kernel uses exactly as the current one does, so execution
        // continues at the next instruction; sfence.vma drops stale
        // translations of the old table.
        unsafe { asm!("csrw satp, {}", "sfence.vma", in(reg) satp, options(nostack)) };
    }

    /// A handle for the table rooted at `root` (see
    /// [`crate::api::PageTable::from_root`]).
    ///
    /// # Safety
    /// `root` must be the root of a table built by this type and still alive.
    unsafe fn from_root(root: PhysAddr) -> Self {
        PageTable { root }
    }

    /// Copy root entries 256..512 (the kernel half) from `kernel`.
    fn copy_kernel_half(&mut self, kernel: &Self) {
        for idx in ENTRIES / 2..ENTRIES {
            // SAFETY: both roots are root tables of live `PageTable`s; we
            // hold `self` mutably, and `kernel`'s entry is only read.
            unsafe { write_pte(self.root.0, idx, read_pte(kernel.root.0, idx)) };
        }
        if self.is_active() {
            sfence_vma_all();
        }
    }

    /// Link `table` as the first missing intermediate table on the path to
    /// the user-half `va` (see [`crate::api::PageTable::map_table`]):
    /// `Size1G` for a level-1 table in the root, `Size2M` for a level-0
    /// table. `table` is zeroed again here before it is linked (it must be
    /// a frame nothing else uses); `Misaligned` if it is not page aligned,
    /// `BadAddress` if it lies outside the direct map or `va` is not a
    /// user-half address.
    fn map_table(&mut self, va: VirtAddr, table: PhysAddr) -> Result<PageSize, MapError> {
        let va = Self::user_va(va)?;
        let table = table.0;
        if !table.is_multiple_of(PAGE) {
            return Err(MapError::Misaligned);
        }
        if table >= PHYS_MAP_SIZE {
            return Err(MapError::BadAddress);
        }
        let mut parent = self.root.0;
        for level in [2, 1] {
            let idx = index(va, level);
            // SAFETY: `parent` is the root or a table reached from it.
            let pte = unsafe { read_pte(parent, idx) };
            if pte & PTE_V == 0 {
                // SAFETY: the caller hands over `table` (a page in the
                // direct map, checked above) for this tree alone; it is not
                // linked anywhere yet.
                unsafe { core::ptr::write_bytes(phys_to_virt(table) as *mut u8, 0, PAGE as usize) };
                // SAFETY: `parent` is a table of this tree, the entry is
                // invalid; we hold `&mut self`.
                unsafe { write_pte(parent, idx, table_pte(table)) };
                if self.is_active() {
                    sfence_vma_all();
                }
                return Ok(level_size(level));
            }
            if is_leaf(pte) {
                return Err(MapError::HugePage);
            }
            parent = pte_addr(pte);
        }
        Err(MapError::AlreadyMapped)
    }

    /// Unlink the intermediate table `table` from the path to the user-half
    /// `va` (see [`crate::api::PageTable::unmap_table`]). The whole TLB is
    /// flushed (the entry is not a leaf).
    fn unmap_table(&mut self, va: VirtAddr, table: PhysAddr) -> Result<(), MapError> {
        let va = Self::user_va(va)?;
        let mut parent = self.root.0;
        for level in [2, 1] {
            let idx = index(va, level);
            // SAFETY: `parent` is the root or a table reached from it.
            let pte = unsafe { read_pte(parent, idx) };
            if pte & PTE_V == 0 || is_leaf(pte) {
                break;
            }
            if pte_addr(pte) == table.0 {
                // SAFETY: `parent` is a table of this tree; we hold
                // `&mut self`.
                unsafe { write_pte(parent, idx, 0) };
                sfence_vma_all();
                return Ok(());
            }
            parent = pte_addr(pte);
        }
        Err(MapError::NotMapped)
    }

    /// New flags for the mapping at `va`, which must be its start (see
    /// [`crate::api::PageTable::protect`]); checks as in `map`.
    fn protect(&mut self, va: VirtAddr, flags: MapFlags) -> Result<(), MapError> {
        let va = va.0;
        let bits = leaf_bits(flags)?;
        if !is_canonical(va) || (flags.contains(MapFlags::USER) && va >= Arch::USER_END) {
            return Err(MapError::BadAddress);
        }
        let (table, idx, level, pte) = self.find_leaf(va).ok_or(MapError::NotMapped)?;
        if !va.is_multiple_of(level_size(level).bytes()) {
            return Err(MapError::Misaligned);
        }
        let ppn = pte & (PPN_MASK << PPN_SHIFT);
        // SAFETY: `table` is a table page of this tree; we hold `&mut self`.
        unsafe { write_pte(table, idx, ppn | bits) };
        sfence_vma_addr(va);
        Ok(())
    }
}
