//! 4-level paging (PML4 → PDPT → PD → PT) with 4-KiB, 2-MiB and (where the
//! CPU has them) 1-GiB pages, and the arch's memory layout constants.
//!
//! Page-table pages are reached through the direct map at `PHYS_OFFSET`.
//! Mapping flags: READ is implicit (x86 cannot express non-readable pages),
//! no WRITE → read-only, no EXECUTE → NX (when EFER.NXE is on), USER → U/S,
//! GLOBAL → G (kernel half only: a global user page would outlive address
//! space switches), DEVICE → PCD|PWT (uncached with the default PAT).
//! Intermediate entries are permissive (present, writable, and user where
//! the address is in the user half); leaves decide the rights.
//!
//! User address spaces: the kernel half (PML4 entries 256..512) is copied
//! from the kernel's table ([`copy_kernel_half`]); the intermediate tables
//! of the user half are kernel objects the kernel installs with
//! [`map_table`] and removes with [`unmap_table`]. `map` for a user address
//! is called with an allocator that has no frames, so a missing table is
//! `OutOfMemory` with the table unchanged.
//!
//! TLB: PCIDs are not used, so an inactive table has nothing cached; the
//! flushes here act on this CPU for the active table.
//!
//! [`copy_kernel_half`]: crate::api::PageTable::copy_kernel_half
//! [`map_table`]: crate::api::PageTable::map_table
//! [`unmap_table`]: crate::api::PageTable::unmap_table

use super::{Arch, PHYS_OFFSET, cpu, phys_ptr};
use crate::api::{FrameAllocator, MapError, MapFlags, Mmu, PageSize, PhysAddr, VirtAddr};
use core::arch::asm;

impl Mmu for Arch {
    const PHYS_OFFSET: u64 = PHYS_OFFSET;
    /// One PDPT's worth: the boot code maps RAM up to here at `PHYS_OFFSET`
    /// before the kernel builds its own page table.
    const PHYS_MAP_SIZE: u64 = 512 << 30;
    const KERNEL_BASE: u64 = 0xffff_8000_0000_0000;
    const USER_END: u64 = 0x0000_8000_0000_0000;
    /// 1-GiB pages are optional on x86_64; `map` accepts `Size1G` only where
    /// the CPU has them.
    const LARGEST_PAGE: PageSize = PageSize::Size2M;
}

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const WRITE_THROUGH: u64 = 1 << 3;
const NO_CACHE: u64 = 1 << 4;
const HUGE: u64 = 1 << 7;
const GLOBAL: u64 = 1 << 8;
const NO_EXECUTE: u64 = 1 << 63;
/// Physical address bits of an entry (4-KiB aligned; for huge pages the low
/// bits include the PAT bit, masked separately).
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
/// Architectural limit of physical addresses (MAXPHYADDR <= 52).
const MAX_PHYS: u64 = 1 << 52;
const ENTRIES: usize = 512;

/// One address space's 4-level page table.
pub struct PageTable {
    root: PhysAddr,
}

/// Page size of a leaf at `level` (0 = PT, 1 = PD, 2 = PDPT).
fn level_size(level: usize) -> PageSize {
    match level {
        0 => PageSize::Size4K,
        1 => PageSize::Size2M,
        _ => PageSize::Size1G,
    }
}

fn leaf_level(size: PageSize) -> usize {
    match size {
        PageSize::Size4K => 0,
        PageSize::Size2M => 1,
        PageSize::Size1G => 2,
    }
}

/// Index into the table at `level` (3 = PML4) for `va`.
fn index(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * level)) & (ENTRIES as u64 - 1)) as usize
}

fn is_canonical(va: u64) -> bool {
    let top = (va as i64) >> 47;
    top == 0 || top == -1
}

/// Pointer to entry `i` of the table at physical `table`.
fn entry(table: u64, i: usize) -> *mut u64 {
    debug_assert!(i < ENTRIES);
    phys_ptr::<u64>(table + 8 * i as u64)
}

/// Read entry `i` of the page-table page at physical `table`.
fn read(table: u64, i: usize) -> u64 {
    // SAFETY: `table` is a page-table page of this table (the root, or an
    // address taken from a present non-leaf entry), reached through the
    // direct map; `i` < 512 keeps the access inside it.
    unsafe { entry(table, i).read_volatile() }
}

/// Write entry `i` of the page-table page at physical `table`.
fn write(table: u64, i: usize, value: u64) {
    // SAFETY: as in `read`; the `&mut PageTable` the callers hold makes them
    // the only writer of this table.
    unsafe { entry(table, i).write_volatile(value) }
}

/// Leaf entry bits (without the address) for a page of `size` at `va`.
fn leaf_bits(va: u64, flags: MapFlags, size: PageSize) -> u64 {
    let mut e = PRESENT;
    if flags.contains(MapFlags::WRITE) {
        e |= WRITABLE;
    }
    if flags.contains(MapFlags::USER) {
        e |= USER;
    }
    if flags.contains(MapFlags::GLOBAL) && va >= Arch::KERNEL_BASE {
        e |= GLOBAL;
    }
    if flags.contains(MapFlags::DEVICE) {
        e |= NO_CACHE | WRITE_THROUGH;
    }
    if !flags.contains(MapFlags::EXECUTE) && cpu::nx_enabled() {
        e |= NO_EXECUTE;
    }
    if size != PageSize::Size4K {
        e |= HUGE;
    }
    e
}

/// Physical address a leaf at `level` maps (clears the PAT bit of huge
/// pages).
fn leaf_addr(e: u64, level: usize) -> u64 {
    e & ADDR_MASK & !(level_size(level).bytes() - 1)
}

/// Whether `va` is a user-half address.
fn is_user(va: u64) -> bool {
    va < Arch::USER_END
}

/// Bits of an intermediate entry on the path to `va`.
fn table_bits(va: u64) -> u64 {
    PRESENT | WRITABLE | if is_user(va) { USER } else { 0 }
}

/// Whether `root` is the table this CPU runs on.
fn is_active(root: u64) -> bool {
    let cr3: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack, preserves_flags)) };
    cr3 & ADDR_MASK == root
}

/// Flush every non-global TLB entry and paging-structure cache of this CPU
/// by reloading CR3.
fn flush_all() {
    // SAFETY: writes CR3 back unchanged: same table, only the non-global
    // TLB entries go.
    unsafe { asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags)) };
}

fn flush_page(va: u64) {
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new_truncate(va));
}

/// The leaf mapping `va`: `(table, index, entry, level)`, where `va` must be
/// the start of the page (`HugePage` otherwise).
fn find_leaf(root: u64, va: u64) -> Result<(u64, usize, u64, usize), MapError> {
    if !is_canonical(va) {
        return Err(MapError::BadAddress);
    }
    let mut table = root;
    for level in (0..=3).rev() {
        let i = index(va, level);
        let e = read(table, i);
        if e & PRESENT == 0 {
            return Err(MapError::NotMapped);
        }
        if level == 0 || (level <= 2 && e & HUGE != 0) {
            if !va.is_multiple_of(level_size(level).bytes()) {
                return Err(MapError::HugePage);
            }
            return Ok((table, i, e, level));
        }
        table = e & ADDR_MASK;
    }
    Err(MapError::NotMapped)
}

fn zero_frame(pa: u64) {
    // SAFETY: `pa` is a frame the allocator just handed out for this table:
    // RAM in the direct map that no one else uses.
    unsafe { core::ptr::write_bytes(phys_ptr::<u8>(pa), 0, 4096) };
}

impl crate::api::PageTable for PageTable {
    fn new(alloc: &mut dyn FrameAllocator) -> Result<Self, MapError> {
        let root = alloc.alloc_frame().ok_or(MapError::OutOfMemory)?;
        zero_frame(root.0);
        Ok(PageTable { root })
    }

    fn root(&self) -> PhysAddr {
        self.root
    }

    /// Maps one page, creating missing intermediate tables with frames from
    /// `alloc`. With an allocator that has no frames (how the kernel maps
    /// user pages, whose tables are objects it installs with `map_table`), a
    /// missing table is `OutOfMemory` and nothing changes. If the allocator
    /// runs dry after handing out some frames, the tables created before
    /// stay linked (empty): no mapping changes and no frame is lost; a later
    /// `map` reuses them.
    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: PageSize,
        flags: MapFlags,
        alloc: &mut dyn FrameAllocator,
    ) -> Result<(), MapError> {
        let (va, pa) = (va.0, pa.0);
        let bytes = size.bytes();
        if !is_canonical(va) || (flags.contains(MapFlags::USER) && !is_user(va)) {
            return Err(MapError::BadAddress);
        }
        if pa.checked_add(bytes).is_none_or(|end| end > MAX_PHYS) {
            return Err(MapError::BadAddress);
        }
        if !va.is_multiple_of(bytes) || !pa.is_multiple_of(bytes) {
            return Err(MapError::Misaligned);
        }
        if size == PageSize::Size1G && !cpu::has_1g_pages() {
            return Err(MapError::BadFlags);
        }
        let target = leaf_level(size);

        // Pass 1: check without changing anything.
        let mut table = self.root.0;
        let mut level = 3;
        loop {
            let e = read(table, index(va, level));
            if level == target {
                if e & PRESENT != 0 {
                    return Err(MapError::AlreadyMapped);
                }
                break;
            }
            if e & PRESENT == 0 {
                break; // the rest of the path gets created
            }
            if e & HUGE != 0 {
                return Err(MapError::HugePage);
            }
            table = e & ADDR_MASK;
            level -= 1;
        }

        // Pass 2: create the missing tables, then the leaf. Nothing is
        // written before the first missing table's frame is in hand.
        let mut table = self.root.0;
        for level in (target + 1..=3).rev() {
            let i = index(va, level);
            let e = read(table, i);
            let next = if e & PRESENT != 0 {
                e & ADDR_MASK
            } else {
                let frame = alloc.alloc_frame().ok_or(MapError::OutOfMemory)?.0;
                zero_frame(frame);
                write(table, i, frame | table_bits(va));
                frame
            };
            table = next;
        }
        write(table, index(va, target), pa | leaf_bits(va, flags, size));
        Ok(())
    }

    /// Removes the mapping at `va`, which must be the start of the page
    /// (`HugePage` if a larger page covers it otherwise).
    fn unmap(&mut self, va: VirtAddr) -> Result<(PhysAddr, PageSize), MapError> {
        let (table, i, e, level) = find_leaf(self.root.0, va.0)?;
        write(table, i, 0);
        flush_page(va.0);
        Ok((PhysAddr(leaf_addr(e, level)), level_size(level)))
    }

    /// Where `va` leads, with the effective rights along the walk.
    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, MapFlags)> {
        let va = va.0;
        if !is_canonical(va) {
            return None;
        }
        let mut table = self.root.0;
        let (mut writable, mut user, mut nx) = (true, true, false);
        for level in (0..=3).rev() {
            let e = read(table, index(va, level));
            if e & PRESENT == 0 {
                return None;
            }
            writable &= e & WRITABLE != 0;
            user &= e & USER != 0;
            nx |= e & NO_EXECUTE != 0;
            if level == 0 || (level <= 2 && e & HUGE != 0) {
                let offset = va & (level_size(level).bytes() - 1);
                let mut flags = MapFlags::READ;
                if writable {
                    flags = flags | MapFlags::WRITE;
                }
                if !nx {
                    flags = flags | MapFlags::EXECUTE;
                }
                if user {
                    flags = flags | MapFlags::USER;
                }
                if e & GLOBAL != 0 {
                    flags = flags | MapFlags::GLOBAL;
                }
                if e & NO_CACHE != 0 {
                    flags = flags | MapFlags::DEVICE;
                }
                return Some((PhysAddr(leaf_addr(e, level) + offset), flags));
            }
            table = e & ADDR_MASK;
        }
        None
    }

    unsafe fn activate(&self) {
        // SAFETY: the caller guarantees the table maps everything the
        // running kernel uses, as the current one does; the root is a
        // 4-KiB aligned page-table page. Writing CR3 flushes the non-global
        // TLB entries.
        unsafe { asm!("mov cr3, {}", in(reg) self.root.0, options(nostack, preserves_flags)) };
    }

    unsafe fn from_root(root: PhysAddr) -> Self {
        PageTable { root }
    }

    fn copy_kernel_half(&mut self, kernel: &Self) {
        for i in ENTRIES / 2..ENTRIES {
            write(self.root.0, i, read(kernel.root.0, i));
        }
    }

    /// Installs `table` as the first missing PDPT (for a missing PML4
    /// entry), page directory or page table on the path to `va`. A PDPT
    /// covers 512 GiB, which `PageSize` cannot express: it is reported as
    /// `Size1G` (so a PDPT and a page directory look alike; the kernel
    /// needs neither size to unlink them again). A page directory reports
    /// `Size1G`, a page table `Size2M`. `table` must be a zeroed, 4-KiB
    /// aligned frame (`Misaligned` otherwise) that is not in use.
    fn map_table(&mut self, va: VirtAddr, table: PhysAddr) -> Result<PageSize, MapError> {
        let (va, table) = (va.0, table.0);
        if !is_user(va) {
            return Err(MapError::BadAddress);
        }
        if !table.is_multiple_of(4096) {
            return Err(MapError::Misaligned);
        }
        if table >= MAX_PHYS {
            return Err(MapError::BadAddress);
        }
        let mut t = self.root.0;
        for level in (1..=3).rev() {
            let i = index(va, level);
            let e = read(t, i);
            if e & PRESENT == 0 {
                write(t, i, table | table_bits(va));
                // Level 3's table is a PDPT (512 GiB, see above).
                return Ok(if level >= 2 { PageSize::Size1G } else { PageSize::Size2M });
            }
            if e & HUGE != 0 {
                return Err(MapError::HugePage);
            }
            t = e & ADDR_MASK;
        }
        Err(MapError::AlreadyMapped)
    }

    /// Unlinks `table` from the entry on the path to `va` that points at it
    /// (PML4, PDPT or page-directory entry) and, if this table is active,
    /// flushes this CPU's TLB by reloading CR3. The table's contents are
    /// left as they are.
    fn unmap_table(&mut self, va: VirtAddr, table: PhysAddr) -> Result<(), MapError> {
        let (va, table) = (va.0, table.0);
        if !is_user(va) {
            return Err(MapError::BadAddress);
        }
        let mut t = self.root.0;
        for level in (1..=3).rev() {
            let i = index(va, level);
            let e = read(t, i);
            if e & PRESENT == 0 || e & HUGE != 0 {
                break;
            }
            if e & ADDR_MASK == table {
                write(t, i, 0);
                if is_active(self.root.0) {
                    flush_all();
                }
                return Ok(());
            }
            t = e & ADDR_MASK;
        }
        Err(MapError::NotMapped)
    }

    /// Rewrites the leaf at `va` (the start of the page; `HugePage` if a
    /// larger page covers it otherwise) with `flags`, same frame and size,
    /// and flushes its TLB entry. The same checks as `map` apply to `flags`.
    fn protect(&mut self, va: VirtAddr, flags: MapFlags) -> Result<(), MapError> {
        let va = va.0;
        if !is_canonical(va) || (flags.contains(MapFlags::USER) && !is_user(va)) {
            return Err(MapError::BadAddress);
        }
        let (table, i, e, level) = find_leaf(self.root.0, va)?;
        write(table, i, leaf_addr(e, level) | leaf_bits(va, flags, level_size(level)));
        flush_page(va);
        Ok(())
    }
}
