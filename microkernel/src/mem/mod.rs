//! The kernel's memory primitives: reading boot-time physical memory, the
//! boot frame allocator and the kernel's own address space.
//!
//! This is one of the few places `unsafe` is allowed in the kernel.

mod frames;
mod kspace;
pub mod phys;

pub use frames::BootFrames;
pub use kspace::build_kernel_space;

use crate::kprintln;
use hal::{Arch, BootInfo, Mmu, PhysRange};

/// Print the firmware memory map and the ranges the kernel takes out of it.
pub fn print_memory_map(info: &BootInfo) {
    kprintln!("memory map ({} regions):", info.memory().len());
    let mut usable = 0u64;
    for r in info.memory() {
        kprintln!(
            "  [{:#014x}-{:#014x}) {:>10} KiB  {}",
            r.range.start.0,
            r.range.end.0,
            r.range.len() >> 10,
            r.kind.name()
        );
        if r.kind == hal::MemoryKind::Usable {
            usable += r.range.len();
        }
    }
    kprintln!(
        "  kernel image [{:#x}-{:#x}), boot archive {}",
        info.kernel_image.start.0,
        info.kernel_image.end.0,
        match info.boot_archive {
            Some(a) => ArchiveRange(a),
            None => ArchiveRange(PhysRange::default()),
        }
    );
    kprintln!("  usable RAM: {} MiB", usable >> 20);
}

struct ArchiveRange(PhysRange);
impl core::fmt::Display for ArchiveRange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.is_empty() {
            f.write_str("none")
        } else {
            write!(f, "[{:#x}-{:#x})", self.0.start.0, self.0.end.0)
        }
    }
}

/// Boot-time read-only view of physical memory the loader filled (the boot
/// archive), through the direct map.
pub fn boot_phys_slice(range: PhysRange) -> &'static [u8] {
    if range.is_empty() || range.end.0 > <Arch as Mmu>::PHYS_MAP_SIZE {
        return &[];
    }
    let va = Arch::phys_to_virt(range.start);
    // SAFETY: the range was reported by the loader as the boot archive: RAM
    // inside the direct map (checked against PHYS_MAP_SIZE above), mapped
    // from boot on and kept mapped in the kernel address space. Its frames
    // are excluded from every allocator (see `BootFrames`), so nothing
    // writes to it while this shared reference lives.
    unsafe { core::slice::from_raw_parts(va.0 as *const u8, range.len() as usize) }
}
