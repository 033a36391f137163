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
            if e.device {
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
}

#[cfg(target_os = "none")]
mod bare {
    use super::*;
    use libipc::abi::Error as KError;
    use libipc::cap::{CNode, Cap, ObjectType, Untyped};

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
    fn capacity() {
        let mut a = UntypedAlloc::new();
        for i in 0..CAPACITY as u64 {
            a.add(i, i << 12, 12, false).unwrap();
        }
        assert_eq!(a.add(0, 0, 12, false), Err(Error::TooMany("untyped caps")));
        assert_eq!(a.entries().count(), CAPACITY);
    }
}
