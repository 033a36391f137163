//! The kernel's own address space: its image mapped with per-section rights
//! (text r-x, rodata r--, data rw-), the direct physical map of RAM (rw-) and
//! the device registers the hal needs (rw-, device). Nothing else: the boot
//! loader's identity mapping of low memory is gone once this is active.

// `hal::PageTable` is the arch's type; its methods come from the trait.
use hal::api::PageTable as _;
use hal::{
    Arch, BootInfo, FrameAllocator, MapError, MapFlags, MemoryKind, Mmu, PageSize, PhysAddr,
    PhysRange, VirtAddr,
};

use super::frames::BootFrames;

pub struct KernelSpaceStats {
    /// Root of the kernel's page table (user address spaces share its
    /// kernel half).
    pub root: PhysAddr,
    pub sections: usize,
    pub direct_map_bytes: u64,
    pub table_pages: usize,
}

/// Counts the page-table pages taken from the boot allocator.
struct Counting<'a> {
    inner: &'a mut BootFrames,
    count: usize,
}

impl FrameAllocator for Counting<'_> {
    fn alloc_frame(&mut self) -> Option<PhysAddr> {
        let f = self.inner.alloc_frame()?;
        self.count += 1;
        Some(f)
    }
}

pub fn build_kernel_space(
    info: &BootInfo,
    frames: &mut BootFrames,
) -> Result<KernelSpaceStats, MapError> {
    let mut alloc = Counting { inner: frames, count: 0 };
    let mut pt = hal::PageTable::new(&mut alloc)?;

    // 1. The kernel image, section by section.
    let mut sections = 0;
    for s in info.kernel_sections.iter().filter(|s| s.size > 0) {
        if s.flags.contains(MapFlags::WRITE) && s.flags.contains(MapFlags::EXECUTE) {
            return Err(MapError::BadFlags); // W^X holds in the kernel too.
        }
        let mut off = 0;
        while off < s.size {
            pt.map(
                VirtAddr(s.virt.0 + off),
                PhysAddr(s.phys.0 + off),
                PageSize::Size4K,
                s.flags | MapFlags::GLOBAL,
                &mut alloc,
            )?;
            off += PageSize::Size4K.bytes();
        }
        sections += 1;
    }

    // 2. The direct map: every RAM region, coalesced, with the largest pages
    //    that fit.
    let mut ram = [PhysRange::default(); hal::MAX_MEMORY_REGIONS];
    let mut n = 0;
    for r in info.memory().iter().filter(|r| {
        matches!(r.kind, MemoryKind::Usable | MemoryKind::AcpiReclaimable | MemoryKind::AcpiNvs)
    }) {
        let start = r.range.start.0 & !0xfff;
        let end = r.range.end.0.div_ceil(0x1000) * 0x1000;
        let end = end.min(<Arch as Mmu>::PHYS_MAP_SIZE);
        if start >= end {
            continue;
        }
        // Regions are sorted: merge with the previous one when they touch.
        if n > 0 && ram[n - 1].end.0 >= start {
            ram[n - 1].end.0 = ram[n - 1].end.0.max(end);
        } else if let Some(slot) = ram.get_mut(n) {
            *slot = PhysRange::new(start, end);
            n += 1;
        }
    }
    // The boot archive may sit outside the reported RAM (it never does under
    // QEMU, but a loader may put it anywhere): map it too.
    let mut extra = [PhysRange::default(); 1];
    if let Some(a) = info.boot_archive
        && !ram[..n].iter().any(|r| r.start.0 <= a.start.0 && a.end.0 <= r.end.0)
    {
        extra[0] = PhysRange::new(a.start.0 & !0xfff, a.end.0.div_ceil(0x1000) * 0x1000);
    }
    let rw = MapFlags::READ | MapFlags::WRITE | MapFlags::GLOBAL;
    let mut direct_map_bytes = 0;
    for r in ram[..n].iter().chain(extra.iter()).filter(|r| !r.is_empty()) {
        map_range(&mut pt, *r, rw, &mut alloc)?;
        direct_map_bytes += r.len();
    }

    // 3. Device registers the hal drives.
    for r in info.mmio() {
        let r = PhysRange::new(r.start.0 & !0xfff, r.end.0.div_ceil(0x1000) * 0x1000);
        let mut pa = r.start.0;
        while pa < r.end.0 {
            match pt.map(
                Arch::phys_to_virt(PhysAddr(pa)),
                PhysAddr(pa),
                PageSize::Size4K,
                rw | MapFlags::DEVICE,
                &mut alloc,
            ) {
                // Two devices may share a page; a device inside RAM is
                // already reachable.
                Ok(()) | Err(MapError::AlreadyMapped) | Err(MapError::HugePage) => {}
                Err(e) => return Err(e),
            }
            pa += 0x1000;
        }
    }

    // SAFETY: the new table maps the kernel image (code, rodata, data, bss
    // with the boot stack) at the addresses it runs at, the direct map at
    // PHYS_OFFSET over all RAM, and the hal's devices at their direct-map
    // addresses: everything the running kernel touches.
    unsafe { pt.activate() };
    // The table stays active for the lifetime of the kernel; the handle
    // going out of scope frees nothing (page-table pages are never returned).
    let table_pages = alloc.count;
    Ok(KernelSpaceStats { root: pt.root(), sections, direct_map_bytes, table_pages })
}

fn map_range(
    pt: &mut hal::PageTable,
    r: PhysRange,
    flags: MapFlags,
    alloc: &mut dyn FrameAllocator,
) -> Result<(), MapError> {
    let sizes = [PageSize::Size1G, PageSize::Size2M, PageSize::Size4K];
    let largest = <Arch as Mmu>::LARGEST_PAGE.bytes();
    let mut pa = r.start.0;
    while pa < r.end.0 {
        let Some(size) = sizes.into_iter().find(|s| {
            let b = s.bytes();
            b <= largest && pa.is_multiple_of(b) && pa + b <= r.end.0
        }) else {
            return Err(MapError::Misaligned);
        };
        pt.map(Arch::phys_to_virt(PhysAddr(pa)), PhysAddr(pa), size, flags, alloc)?;
        pa += size.bytes();
    }
    Ok(())
}
