//! The boot frame allocator: hands out zeroed 4 KiB frames for the kernel's
//! own page tables from usable RAM, never from the kernel image, the boot
//! archive or the first MiB (legacy firmware areas on PCs).
//!
//! What is left when boot ends becomes the untyped memory given to user space
//! (issue 3), so this allocator only ever moves forward.

use hal::{Arch, BootInfo, FrameAllocator, MemoryKind, Mmu, PhysAddr, PhysRange};

const PAGE: u64 = 4096;
const MAX_RANGES: usize = 128;
const LOW_RESERVED: u64 = 1 << 20;

pub struct BootFrames {
    ranges: [PhysRange; MAX_RANGES],
    len: usize,
}

impl BootFrames {
    pub fn new(info: &BootInfo) -> Self {
        let mut f = BootFrames { ranges: [PhysRange::default(); MAX_RANGES], len: 0 };
        for r in info.memory().iter().filter(|r| r.kind == MemoryKind::Usable) {
            let start = r.range.start.0.div_ceil(PAGE) * PAGE;
            let end = (r.range.end.0 / PAGE) * PAGE;
            let end = end.min(<Arch as Mmu>::PHYS_MAP_SIZE);
            if start < end {
                f.push(PhysRange::new(start, end));
            }
        }
        f.remove(PhysRange::new(0, LOW_RESERVED));
        f.remove(page_round(info.kernel_image));
        if let Some(a) = info.boot_archive {
            f.remove(page_round(a));
        }
        f
    }

    fn push(&mut self, r: PhysRange) {
        if let Some(slot) = self.ranges.get_mut(self.len) {
            *slot = r;
            self.len += 1;
        }
        // More than MAX_RANGES fragments: the extra memory goes unused.
    }

    /// Take `hole` out of every free range, splitting where needed.
    fn remove(&mut self, hole: PhysRange) {
        let mut i = 0;
        while i < self.len {
            let r = self.ranges[i];
            if !r.overlaps(&hole) {
                i += 1;
                continue;
            }
            let below = PhysRange::new(r.start.0, hole.start.0.max(r.start.0));
            let above = PhysRange::new(hole.end.0.min(r.end.0), r.end.0);
            // Replace r by its remaining pieces.
            self.ranges[i] = self.ranges[self.len - 1];
            self.len -= 1;
            if !below.is_empty() {
                self.push(below);
            }
            if !above.is_empty() {
                self.push(above);
            }
        }
    }

    /// Bytes still free.
    pub fn free_bytes(&self) -> u64 {
        self.ranges[..self.len].iter().map(|r| r.len()).sum()
    }

    /// Take every free range (the allocator is empty afterwards).
    pub fn take_all(&mut self) -> ([PhysRange; MAX_RANGES], usize) {
        let out = (self.ranges, self.len);
        self.len = 0;
        out
    }

    /// A zeroed, `size`-aligned block of `size` bytes (a power of two of at
    /// least 4 KiB), from the top of the highest range that has one.
    pub fn alloc_block(&mut self, size: u64) -> Option<PhysAddr> {
        if !size.is_power_of_two() || size < PAGE {
            return None;
        }
        let fits = |r: &PhysRange| {
            r.end.0.checked_sub(size).map(|s| s & !(size - 1)).filter(|&s| s >= r.start.0)
        };
        let (i, start) = (0..self.len).rev().find_map(|i| fits(&self.ranges[i]).map(|s| (i, s)))?;
        let r = self.ranges[i];
        // Split: [r.start, start) stays here, [start + size, r.end) is pushed.
        self.ranges[i] = PhysRange::new(r.start.0, start);
        if start + size < r.end.0 {
            self.push(PhysRange::new(start + size, r.end.0));
        }
        let va = Arch::phys_to_virt(PhysAddr(start));
        // SAFETY: the block is usable RAM in the direct map that was just
        // removed from the free list: nothing else refers to it.
        unsafe { core::ptr::write_bytes(va.0 as *mut u8, 0, size as usize) };
        Some(PhysAddr(start))
    }
}

fn page_round(r: PhysRange) -> PhysRange {
    PhysRange::new((r.start.0 / PAGE) * PAGE, r.end.0.div_ceil(PAGE) * PAGE)
}

impl FrameAllocator for BootFrames {
    fn alloc_frame(&mut self) -> Option<PhysAddr> {
        // Take from the top of the last range: keeps low memory (DMA-able,
        // contiguous) for user space.
        let r = self.ranges.get_mut(..self.len)?.iter_mut().rev().find(|r| !r.is_empty())?;
        r.end.0 -= PAGE;
        let frame = r.end;
        let va = Arch::phys_to_virt(frame);
        // SAFETY: the frame is usable RAM inside the direct map (ranges are
        // clipped to PHYS_MAP_SIZE), outside the kernel image and the boot
        // archive, and was just removed from the free list, so no one else
        // refers to it.
        unsafe { core::ptr::write_bytes(va.0 as *mut u8, 0, PAGE as usize) };
        Some(frame)
    }
}
