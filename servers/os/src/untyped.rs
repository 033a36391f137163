//! [`UntypedAlloc`]: carving kernel objects from the untyped caps it is
//! given.
//!
//! It keeps a model of each untyped's watermark, updated with the kernel's
//! own arithmetic (`kcore::untyped`: object sizes, natural alignment), so
//! it knows which untyped has room before it asks. It carves from the
//! smallest untyped an object fits in, keeping large regions whole for
//! large objects. The kernel stays the authority: should it refuse a retype
//! the model allowed (someone else carved from the same untyped), the
//! untyped is marked full and the next one is tried.
//!
//! The model is pure and tested on the host; the carving itself is bare
//! metal.

use kcore::untyped::{Untyped as Region, object_size_bits};
use libipc::abi::CapType;

use crate::{Error, Result};

/// Most untyped caps one allocator holds.
pub const CAPACITY: usize = 256;

/// One untyped cap and what the allocator knows about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its slot in the owner's CNode.
    pub slot: u64,
    pub paddr: u64,
    pub size_bits: u8,
    pub device: bool,
    /// Offset of the first free byte, as far as the allocator knows.
    pub watermark: u64,
}

impl Entry {
    fn region(&self) -> Region {
        Region {
            base: self.paddr,
            size_bits: self.size_bits,
            watermark: self.watermark,
            device: self.device,
        }
    }

    pub fn size(&self) -> u64 {
        1u64.checked_shl(self.size_bits.into()).unwrap_or(0)
    }

    pub fn free_bytes(&self) -> u64 {
        self.size().saturating_sub(self.watermark)
    }
}

/// The untyped caps of one owner.
#[derive(Clone, Debug)]
pub struct UntypedAlloc {
    entries: [Option<Entry>; CAPACITY],
    count: usize,
}

impl Default for UntypedAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl UntypedAlloc {
    pub const fn new() -> UntypedAlloc {
        UntypedAlloc { entries: [None; CAPACITY], count: 0 }
    }

    /// Take an untyped cap (in `slot`) of `2^size_bits` bytes at `paddr`,
    /// of which nothing has been carved yet.
    pub fn add(&mut self, slot: u64, paddr: u64, size_bits: u8, device: bool) -> Result<()> {
        let e = self.entries.get_mut(self.count).ok_or(Error::TooMany("untyped caps"))?;
        *e = Some(Entry { slot, paddr, size_bits, device, watermark: 0 });
        self.count += 1;
        Ok(())
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().take(self.count).flatten()
    }

    /// Bytes not yet carved, RAM only.
    pub fn free_bytes(&self) -> u64 {
        self.entries().filter(|e| !e.device).map(|e| e.free_bytes()).sum()
    }

    /// The untyped in `slot` is whole again (everything carved from it was
    /// revoked): the kernel resets its watermark, and so does the model.
    pub fn reset(&mut self, slot: u64) {
        for e in self.entries.iter_mut().take(self.count).flatten() {
            if e.slot == slot {
                e.watermark = 0;
            }
        }
    }

    /// Which entry to carve one `ty` object of `size_bits` from (RAM only),
    /// and the watermark after it: the smallest untyped it fits in.
    pub fn plan(&self, ty: CapType, size_bits: u8) -> Result<(usize, u64)> {
        let bits = object_size_bits(ty, size_bits).map_err(|error| Error::Kernel {
            op: "UntypedRetype (object size)",
            error,
            at: 0,
        })?;
        let mut best: Option<(usize, u8, u64)> = None;
        for (i, e) in self.entries.iter().take(self.count).enumerate() {
            let Some(e) = e else { continue };
            // The kernel refuses an untyped child as large as its parent.
            if e.device || (ty == CapType::Untyped && e.size_bits <= bits) {
                continue;
            }
            if let Ok(p) = e.region().plan_retype(bits, 1)
                && best.is_none_or(|(_, b, _)| e.size_bits < b)
            {
                best = Some((i, e.size_bits, p.new_watermark));
            }
        }
        best.map(|(i, _, wm)| (i, wm)).ok_or(Error::OutOfMemory { bits })
    }

    /// Record that entry `i` carved up to `watermark`.
    pub fn commit(&mut self, i: usize, watermark: u64) {
        if let Some(Some(e)) = self.entries.get_mut(i) {
            e.watermark = e.watermark.max(watermark);
        }
    }

    /// Record that entry `i` is full (the kernel said so).
    pub fn exhaust(&mut self, i: usize) {
        if let Some(Some(e)) = self.entries.get_mut(i) {
            e.watermark = e.size();
        }
    }

    pub fn entry(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i).and_then(|e| e.as_ref())
    }

    /// The device untyped that covers `[paddr, paddr + len)`.
    pub fn device_entry(&self, paddr: u64, len: u64) -> Option<usize> {
        let end = paddr.checked_add(len)?;
        self.entries.iter().take(self.count).position(|e| {
            e.as_ref().is_some_and(|e| {
                e.device
                    && e.paddr <= paddr
                    && e.paddr.checked_add(e.size()).is_some_and(|x| end <= x)
            })
        })
    }
}

/// One untyped cap carved on its own (a process's memory quota, a memory
/// server's per-space block): its watermark modelled with the kernel's
/// arithmetic, like one [`UntypedAlloc`] entry but without the table. The
/// model puts the block at address 0, which is exact as long as the block
/// is aligned to its size (buddy blocks and init's containers are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    /// Its slot in the owner's CNode (the CPtr it is invoked through).
    pub slot: u64,
    pub size_bits: u8,
    /// Offset of the first free byte.
    pub watermark: u64,
}

impl Block {
    pub const fn new(slot: u64, size_bits: u8) -> Block {
        Block { slot, size_bits, watermark: 0 }
    }

    pub fn size(&self) -> u64 {
        1u64.checked_shl(self.size_bits.into()).unwrap_or(0)
    }

    /// Bytes not yet carved.
    pub fn free_bytes(&self) -> u64 {
        self.size().saturating_sub(self.watermark)
    }

    /// The watermark after carving one `ty` object of `size_bits` (as for
    /// `UntypedRetype`), if it fits.
    pub fn plan(&self, ty: CapType, size_bits: u8) -> Result<u64> {
        let bits = object_size_bits(ty, size_bits).map_err(|error| Error::Kernel {
            op: "UntypedRetype (object size)",
            error,
            at: 0,
        })?;
        if ty == CapType::Untyped && bits >= self.size_bits {
            return Err(Error::OutOfMemory { bits });
        }
        let region =
            Region { base: 0, size_bits: self.size_bits, watermark: self.watermark, device: false };
        region
            .plan_retype(bits, 1)
            .map(|p| p.new_watermark)
            .map_err(|_| Error::OutOfMemory { bits })
    }

    /// Everything carved from it is gone (the owner revoked it).
    pub fn reset(&mut self) {
        self.watermark = 0;
    }
}

/// The untyped children that move a watermark from `from` to `to` (both
/// page-aligned, `from <= to`) in a region of `2^region_bits` bytes:
/// naturally aligned blocks, each smaller than the region, largest first
/// where alignment allows. Returns how many went into `out` (`None` if
/// `out` is too short).
pub fn filler_blocks(from: u64, to: u64, region_bits: u8, out: &mut [u8]) -> Option<usize> {
    let mut at = from;
    let mut n = 0;
    while at < to {
        let align_bits = if at == 0 { 63 } else { at.trailing_zeros() as u8 };
        let fit_bits = (63 - (to - at).leading_zeros()) as u8;
        let bits = align_bits.min(fit_bits).min(region_bits.saturating_sub(1));
        *out.get_mut(n)? = bits;
        n += 1;
        at += 1u64 << bits;
    }
    Some(n)
}

/// The free part `[watermark, 2^size_bits)` of an untyped as at most
/// `out.len()` naturally aligned power-of-two blocks `(offset, bits)`, the
/// largest ones, in address order (so carving them one after the other
/// works with the kernel's watermark; the small blocks between them are
/// skipped). Blocks below 2^`min_bits` bytes are left out. Returns how many.
pub fn free_blocks(watermark: u64, size_bits: u8, min_bits: u8, out: &mut [(u64, u8)]) -> usize {
    let end = 1u64.checked_shl(size_bits.into()).unwrap_or(0);
    let mut all = [(0u64, 0u8); 64];
    let mut n = 0;
    let mut at = watermark.next_multiple_of(1u64 << min_bits.min(63));
    while at < end && n < all.len() {
        // The largest block aligned at `at` that fits before `end`.
        let align_bits = if at == 0 { 63 } else { at.trailing_zeros() as u8 };
        let fit_bits = (63 - (end - at).leading_zeros()) as u8;
        let bits = align_bits.min(fit_bits);
        if let Some(slot) = all.get_mut(n) {
            *slot = (at, bits);
        }
        n += 1;
        at += 1u64 << bits;
    }
    // Keep the largest `out.len()`, in address order.
    let mut chosen = [false; 64];
    for _ in 0..out.len().min(n) {
        let best =
            (0..n).filter(|&i| !chosen[i]).max_by_key(|&i| (all[i].1, core::cmp::Reverse(i)));
        if let Some(b) = best {
            chosen[b] = true;
        }
    }
    let mut k = 0;
    for i in 0..n {
        if chosen[i]
            && let Some(o) = out.get_mut(k)
        {
            *o = all[i];
            k += 1;
        }
    }
    k
}

#[cfg(target_os = "none")]
mod bare {
    use super::*;
    use libipc::abi::Error as KError;
    use libipc::cap::{CNode, Cap, ObjectType, Untyped};

    impl Block {
        /// Carve one `T` (`size_bits` as for `UntypedRetype`) into
        /// `dest[index]`. `OutOfMemory` if the model says it does not fit
        /// (the kernel is not asked) or the kernel says so.
        pub fn carve<T: ObjectType>(
            &mut self,
            size_bits: u8,
            dest: Cap<CNode>,
            index: u64,
        ) -> Result<Cap<T>> {
            let wm = self.plan(T::TYPE, size_bits)?;
            let ut: Cap<Untyped> = Cap::from_slot(self.slot);
            match ut.retype(T::TYPE, size_bits, dest, index, 1) {
                Ok(()) => {
                    self.watermark = wm;
                    Ok(Cap::from_slot(index))
                }
                Err(KError::NotEnoughMemory) => {
                    self.watermark = self.size();
                    Err(Error::OutOfMemory { bits: size_bits })
                }
                Err(error) => Err(Error::Kernel { op: "UntypedRetype", error, at: 0 }),
            }
        }
    }

    impl UntypedAlloc {
        /// Carve one `T` (`size_bits` as for `UntypedRetype`) into
        /// `dest[index]`.
        pub fn carve<T: ObjectType>(
            &mut self,
            size_bits: u8,
            dest: Cap<CNode>,
            index: u64,
        ) -> Result<Cap<T>> {
            loop {
                let (i, wm) = self.plan(T::TYPE, size_bits)?;
                let Some(e) = self.entry(i).copied() else {
                    return Err(Error::TooMany("untyped caps"));
                };
                let ut: Cap<Untyped> = Cap::from_slot(e.slot);
                match ut.retype(T::TYPE, size_bits, dest, index, 1) {
                    Ok(()) => {
                        self.commit(i, wm);
                        return Ok(Cap::from_slot(index));
                    }
                    Err(KError::NotEnoughMemory | KError::RevokeFirst) => self.exhaust(i),
                    Err(error) => return Err(Error::Kernel { op: "UntypedRetype", error, at: 0 }),
                }
            }
        }

        /// Carve one `T` from entry `i` (RAM or device) into
        /// `dest[index]`, keeping the model in step.
        pub fn carve_from<T: ObjectType>(
            &mut self,
            i: usize,
            size_bits: u8,
            dest: Cap<CNode>,
            index: u64,
        ) -> Result<Cap<T>> {
            let e = self.entry(i).copied().ok_or(Error::TooMany("untyped caps"))?;
            let bits = object_size_bits(T::TYPE, size_bits).map_err(|error| Error::Kernel {
                op: "UntypedRetype",
                error,
                at: 0,
            })?;
            let plan = e.region().plan_retype(bits, 1).map_err(|_| Error::OutOfMemory { bits })?;
            let ut: Cap<Untyped> = Cap::from_slot(e.slot);
            ut.retype(T::TYPE, size_bits, dest, index, 1).map_err(|error| Error::Kernel {
                op: "UntypedRetype",
                error,
                at: e.paddr,
            })?;
            self.commit(i, plan.new_watermark);
            Ok(Cap::from_slot(index))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn smallest_fit_and_watermarks() {
        let mut a = UntypedAlloc::new();
        a.add(20, 0x10_0000, 20, false).unwrap(); // 1 MiB
        a.add(21, 0x20_0000, 14, false).unwrap(); // 16 KiB
        a.add(22, 0x30_0000, 24, true).unwrap(); // device
        assert_eq!(a.free_bytes(), (1 << 20) + (1 << 14));
        // A frame goes to the 16 KiB one, four times.
        for n in 1..=4 {
            let (i, wm) = a.plan(CapType::Frame, 12).unwrap();
            assert_eq!((i, wm), (1, n * 4096));
            a.commit(i, wm);
        }
        // Then to the 1 MiB one.
        assert_eq!(a.plan(CapType::Frame, 12).unwrap(), (0, 4096));
        // An endpoint (32 bytes) at 0, then a thread aligned to 2 KiB.
        let (i, wm) = a.plan(CapType::Endpoint, 0).unwrap();
        assert_eq!((i, wm), (0, 32));
        a.commit(i, wm);
        let (i, wm) = a.plan(CapType::Thread, 0).unwrap();
        assert_eq!((i, wm), (0, 2048 + (1 << kcore::untyped::THREAD_BITS)));
        a.commit(i, wm);
        // An untyped child is always smaller than its parent.
        let mut b = UntypedAlloc::new();
        b.add(1, 0, 16, false).unwrap();
        assert_eq!(b.plan(CapType::Untyped, 16), Err(Error::OutOfMemory { bits: 16 }));
        assert_eq!(b.plan(CapType::Untyped, 15).unwrap(), (0, 1 << 15));
        // Too large for anything but the device region, which never serves.
        assert_eq!(a.plan(CapType::Untyped, 21), Err(Error::OutOfMemory { bits: 21 }));
        assert!(a.plan(CapType::Frame, 13).is_err(), "frame sizes are the kernel's");
        // A revoked untyped is whole again.
        a.reset(21);
        assert_eq!(a.plan(CapType::Frame, 12).unwrap(), (1, 4096));
        a.exhaust(1);
        assert_eq!(a.plan(CapType::Frame, 12).unwrap().0, 0);
    }

    #[test]
    fn free_blocks_cover_the_rest() {
        let mut out = [(0, 0); 8];
        // 1 MiB, 0x23000 used: 0x23000.. in aligned blocks.
        let n = free_blocks(0x23000, 20, 12, &mut out);
        let blocks = &out[..n];
        assert_eq!(
            blocks,
            &[
                (0x23000, 12),
                (0x24000, 14),
                (0x28000, 15),
                (0x30000, 16),
                (0x40000, 18),
                (0x80000, 19)
            ]
        );
        let total: u64 = blocks.iter().map(|b| 1u64 << b.1).sum();
        assert_eq!(total, (1 << 20) - 0x23000);
        // Only the largest two, still in address order.
        let mut two = [(0, 0); 2];
        assert_eq!(free_blocks(0x23000, 20, 12, &mut two), 2);
        assert_eq!(two, [(0x40000, 18), (0x80000, 19)]);
        // Nothing used: the whole region; all used: nothing.
        assert_eq!(free_blocks(0, 16, 12, &mut out), 1);
        assert_eq!(out[0], (0, 16));
        assert_eq!(free_blocks(1 << 16, 16, 12, &mut out), 0);
        // Below the minimum size: rounded up past it.
        assert_eq!(free_blocks(0xff01, 16, 12, &mut out), 0);
    }

    #[test]
    fn fillers_reach_the_target() {
        let mut out = [0u8; 64];
        // From 0 to 0x1_1000 in a 256 MiB region: 64 KiB, then 4 KiB.
        let n = filler_blocks(0, 0x1_1000, 28, &mut out).unwrap();
        assert_eq!(&out[..n], &[16, 12]);
        // From 0x3000 to 0x10000: 4 KiB, then 16, 32 KiB.
        let n = filler_blocks(0x3000, 0x10000, 28, &mut out).unwrap();
        assert_eq!(&out[..n], &[12, 14, 15]);
        let mut at = 0x3000u64;
        for b in &out[..n] {
            assert_eq!(at % (1 << b), 0, "aligned");
            at += 1 << b;
        }
        assert_eq!(at, 0x10000);
        // Never a child as large as the region.
        let n = filler_blocks(0, 1 << 16, 16, &mut out).unwrap();
        assert_eq!(&out[..n], &[15, 15]);
        assert_eq!(filler_blocks(0x1000, 0x1000, 20, &mut out), Some(0));
        assert_eq!(filler_blocks(0x1000, 0xfff_f000, 28, &mut out[..2]), None);
        // Device lookups.
        let mut a = UntypedAlloc::new();
        a.add(5, 0x1000_0000, 24, true).unwrap();
        a.add(6, 0x2000_0000, 20, false).unwrap();
        assert_eq!(a.device_entry(0x1000_1000, 0x1000), Some(0));
        assert_eq!(a.device_entry(0x10ff_f000, 0x2000), None, "runs past the end");
        assert_eq!(a.device_entry(0x2000_0000, 0x1000), None, "RAM is not a device");
    }

    #[test]
    fn blocks() {
        let mut b = Block::new(7, 16); // 64 KiB
        assert_eq!(b.plan(CapType::Frame, 12).unwrap(), 4096);
        b.watermark = 4096;
        // A CNode of radix 8 (16 KiB) is aligned to 16 KiB.
        assert_eq!(b.plan(CapType::CNode, 8).unwrap(), 0x8000);
        // An endpoint right after the frame.
        assert_eq!(b.plan(CapType::Endpoint, 0).unwrap(), 4096 + 32);
        b.watermark = 0xf000;
        assert_eq!(b.plan(CapType::Frame, 12).unwrap(), 0x10000);
        b.watermark = 0x10000;
        assert_eq!(b.plan(CapType::Frame, 12), Err(Error::OutOfMemory { bits: 12 }));
        assert_eq!(b.free_bytes(), 0);
        b.reset();
        assert_eq!(b.free_bytes(), 1 << 16);
        assert_eq!(b.plan(CapType::Untyped, 16), Err(Error::OutOfMemory { bits: 16 }));
        assert_eq!(b.plan(CapType::Untyped, 15).unwrap(), 1 << 15);
    }

    #[test]
    fn capacity() {
        let mut a = UntypedAlloc::new();
        for i in 0..CAPACITY as u64 {
            a.add(i, i << 12, 12, false).unwrap();
        }
        assert_eq!(a.add(0, 0, 12, false), Err(Error::TooMany("untyped caps")));
        assert_eq!(a.entries().count(), CAPACITY);
    }
}
