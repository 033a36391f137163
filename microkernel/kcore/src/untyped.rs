//! Untyped memory: carving kernel objects out of a region by watermark.
//!
//! There is no kernel heap. Every kernel object lives in memory that an
//! untyped capability covers; `Untyped::Retype` carves new objects from the
//! untyped's free part, which is everything above its *watermark* (offset of
//! the first free byte). Objects are naturally aligned to their size, so the
//! first object goes at the watermark rounded up to that alignment, and the
//! watermark then moves past the last one. Memory below the watermark is
//! reused only after every object carved from it is gone: the kernel resets
//! the watermark to 0 ([`Untyped::reset`]) only when the untyped cap has no
//! children in the derivation tree (see [`crate::cdt::retype_source`]).
//!
//! This module also defines the kernel's object sizes ([`object_size_bits`])
//! and which objects device memory may become ([`retype_allowed`]).
//! Everything that comes from user space (sizes, counts) is checked with
//! checked arithmetic: a bad request is an error, never an overflow.

use libipc::abi::{CapType, Error};

use crate::cap::Cap;

/// log2 bytes of an endpoint object.
pub const ENDPOINT_BITS: u8 = 5;
/// log2 bytes of a notification object.
pub const NOTIFICATION_BITS: u8 = 5;
/// log2 bytes of a thread control block (the kernel may change this as
/// the TCB grows; it holds the saved registers and the scheduling state).
pub const THREAD_BITS: u8 = 11;
/// log2 bytes of a page-table page.
pub const PAGE_TABLE_BITS: u8 = 12;
/// log2 bytes of an address-space root.
pub const VSPACE_BITS: u8 = 12;
/// log2 bytes of a small frame.
pub const FRAME_SMALL_BITS: u8 = 12;
/// log2 bytes of a large frame (2 MiB).
pub const FRAME_LARGE_BITS: u8 = 21;
/// log2 bytes of a CNode slot ([`crate::cdt::Slot`]).
pub const SLOT_BITS: u8 = 6;
/// Smallest and largest CNode radix (log2 of the slot count).
pub const CNODE_RADIX_MIN: u8 = 1;
pub const CNODE_RADIX_MAX: u8 = 20;
/// Smallest and largest untyped region (log2 bytes).
pub const UNTYPED_MIN_BITS: u8 = 4;
pub const UNTYPED_MAX_BITS: u8 = 47;

/// log2 of the size in bytes of a `ty` object. `user_size_bits` is the
/// radix for a CNode, the size for Frame (12 or 21) and Untyped (4..=47)
/// and ignored otherwise. Sizes out of range: `RangeError`; types retype
/// cannot make: `InvalidArgument`.
pub fn object_size_bits(ty: CapType, user_size_bits: u8) -> Result<u8, Error> {
    let bits = user_size_bits;
    match ty {
        CapType::Endpoint => Ok(ENDPOINT_BITS),
        CapType::Notification => Ok(NOTIFICATION_BITS),
        CapType::Thread => Ok(THREAD_BITS),
        CapType::PageTable => Ok(PAGE_TABLE_BITS),
        CapType::VSpace => Ok(VSPACE_BITS),
        CapType::Frame if bits == FRAME_SMALL_BITS || bits == FRAME_LARGE_BITS => Ok(bits),
        CapType::CNode if (CNODE_RADIX_MIN..=CNODE_RADIX_MAX).contains(&bits) => {
            Ok(bits + SLOT_BITS)
        }
        CapType::Untyped if (UNTYPED_MIN_BITS..=UNTYPED_MAX_BITS).contains(&bits) => Ok(bits),
        CapType::Frame | CapType::CNode | CapType::Untyped => Err(Error::RangeError),
        _ => Err(Error::InvalidArgument),
    }
}

/// Whether an untyped (device or not) may be retyped into `ty`. Device
/// memory holds no kernel objects: it becomes frames or smaller untypeds.
pub fn retype_allowed(device: bool, ty: CapType) -> bool {
    let retypeable = object_size_bits(ty, untyped_default_bits(ty)).is_ok();
    retypeable && (!device || matches!(ty, CapType::Frame | CapType::Untyped))
}

/// A valid `user_size_bits` for `ty`, to ask whether `ty` is retypeable.
fn untyped_default_bits(ty: CapType) -> u8 {
    match ty {
        CapType::Frame => FRAME_SMALL_BITS,
        CapType::CNode => CNODE_RADIX_MIN,
        _ => UNTYPED_MIN_BITS,
    }
}

/// The state of an untyped region: `[base, base + 2^size_bits)`, free from
/// `base + watermark` up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untyped {
    pub base: u64,
    pub size_bits: u8,
    /// Offset of the first free byte, `0..=2^size_bits`.
    pub watermark: u64,
    pub device: bool,
}

/// Where a retype puts its objects; [`Untyped::commit`] applies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetypePlan {
    /// Physical address of the first object.
    pub first: u64,
    pub obj_size_bits: u8,
    pub count: u64,
    /// The watermark after the retype.
    pub new_watermark: u64,
}

impl RetypePlan {
    /// Physical address of object `i` (`None` if `i >= count`).
    pub fn object_addr(&self, i: u64) -> Option<u64> {
        if i >= self.count {
            return None;
        }
        i.checked_shl(self.obj_size_bits.into())?.checked_add(self.first)
    }
}

impl Untyped {
    /// The untyped state an Untyped cap holds; other caps: `WrongType`.
    pub fn from_cap(cap: &Cap) -> Result<Untyped, Error> {
        match (cap.cap_type(), cap.size_bits()) {
            (CapType::Untyped, Some(size_bits)) => Ok(Untyped {
                base: cap.addr(),
                size_bits,
                watermark: cap.untyped_watermark(),
                device: cap.is_device(),
            }),
            _ => Err(Error::WrongType),
        }
    }

    /// Region size in bytes.
    pub fn size(&self) -> u64 {
        1u64.checked_shl(self.size_bits.into()).unwrap_or(0)
    }

    /// Bytes free above the watermark.
    pub fn free_bytes(&self) -> u64 {
        self.size().saturating_sub(self.watermark)
    }

    /// Plan carving `count` objects of `2^obj_size_bits` bytes. Objects are
    /// aligned to their size, the first at the watermark rounded up.
    /// `RangeError`: count 0 or a size out of 4..=47 or above the region's;
    /// `NotEnoughMemory`: they do not fit (including any overflow).
    pub fn plan_retype(&self, obj_size_bits: u8, count: u64) -> Result<RetypePlan, Error> {
        let too_big = obj_size_bits > self.size_bits || obj_size_bits > UNTYPED_MAX_BITS;
        if count == 0 || too_big || obj_size_bits < UNTYPED_MIN_BITS {
            return Err(Error::RangeError);
        }
        let align = 1u64 << obj_size_bits;
        let start = self.watermark.checked_next_multiple_of(align).ok_or(Error::NotEnoughMemory)?;
        let bytes = count.checked_mul(align).ok_or(Error::NotEnoughMemory)?;
        let end = start.checked_add(bytes).ok_or(Error::NotEnoughMemory)?;
        if end > self.size() {
            return Err(Error::NotEnoughMemory);
        }
        let first = self.base.checked_add(start).ok_or(Error::NotEnoughMemory)?;
        Ok(RetypePlan { first, obj_size_bits, count, new_watermark: end })
    }

    /// Apply a plan made by [`Untyped::plan_retype`] on this untyped: the
    /// watermark moves to the end of the new objects (never backwards).
    pub fn commit(&mut self, plan: &RetypePlan) {
        self.watermark = self.watermark.max(plan.new_watermark);
    }

    /// Make the whole region free again. Only sound when no object carved
    /// from it is alive, i.e. the untyped cap has no children in the
    /// derivation tree: the kernel calls it only then.
    pub fn reset(&mut self) {
        self.watermark = 0;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ut(base: u64, size_bits: u8) -> Untyped {
        Untyped { base, size_bits, watermark: 0, device: false }
    }

    #[test]
    fn object_sizes() {
        assert_eq!(object_size_bits(CapType::Endpoint, 99), Ok(5));
        assert_eq!(object_size_bits(CapType::Notification, 0), Ok(5));
        assert_eq!(object_size_bits(CapType::Thread, 0), Ok(THREAD_BITS));
        assert_eq!(object_size_bits(CapType::PageTable, 0), Ok(12));
        assert_eq!(object_size_bits(CapType::VSpace, 0), Ok(12));
        assert_eq!(object_size_bits(CapType::Frame, 12), Ok(12));
        assert_eq!(object_size_bits(CapType::Frame, 21), Ok(21));
        assert_eq!(object_size_bits(CapType::Frame, 30), Err(Error::RangeError));
        assert_eq!(object_size_bits(CapType::CNode, 1), Ok(7));
        assert_eq!(object_size_bits(CapType::CNode, 20), Ok(26));
        assert_eq!(object_size_bits(CapType::CNode, 0), Err(Error::RangeError));
        assert_eq!(object_size_bits(CapType::CNode, 21), Err(Error::RangeError));
        assert_eq!(object_size_bits(CapType::Untyped, 4), Ok(4));
        assert_eq!(object_size_bits(CapType::Untyped, 47), Ok(47));
        assert_eq!(object_size_bits(CapType::Untyped, 3), Err(Error::RangeError));
        assert_eq!(object_size_bits(CapType::Untyped, 48), Err(Error::RangeError));
        for ty in [
            CapType::Null,
            CapType::IrqControl,
            CapType::IrqHandler,
            CapType::IoPort,
            CapType::Reply,
        ] {
            assert_eq!(object_size_bits(ty, 12), Err(Error::InvalidArgument));
        }
    }

    #[test]
    fn device_restrictions() {
        for ty in CapType::ALL {
            let normal = object_size_bits(*ty, untyped_default_bits(*ty)).is_ok();
            assert_eq!(retype_allowed(false, *ty), normal, "{ty:?}");
            let device = matches!(ty, CapType::Frame | CapType::Untyped);
            assert_eq!(retype_allowed(true, *ty), device, "{ty:?}");
        }
    }

    #[test]
    fn objects_are_aligned_from_the_watermark() {
        let mut u = ut(0x10_0000, 16);
        let p = u.plan_retype(5, 3).unwrap();
        assert_eq!((p.first, p.new_watermark), (0x10_0000, 96));
        u.commit(&p);
        // An 11-bit object starts at the next 2 KiB boundary.
        let p = u.plan_retype(11, 2).unwrap();
        assert_eq!(p.first, 0x10_0800);
        assert_eq!(p.object_addr(1), Some(0x10_1000));
        assert_eq!(p.object_addr(2), None);
        assert_eq!(p.new_watermark, 0x1800);
        u.commit(&p);
        assert_eq!(u.watermark, 0x1800);
        assert_eq!(u.free_bytes(), 0x1_0000 - 0x1800);
        // Committing a stale plan never moves the watermark back.
        u.commit(&RetypePlan { first: 0, obj_size_bits: 4, count: 1, new_watermark: 16 });
        assert_eq!(u.watermark, 0x1800);
    }

    #[test]
    fn exhaustion_exactly_at_the_boundary() {
        let mut u = ut(0x1000, 12);
        let p = u.plan_retype(8, 16).unwrap();
        assert_eq!(p.new_watermark, 0x1000);
        assert_eq!(u.plan_retype(8, 17), Err(Error::NotEnoughMemory));
        u.commit(&p);
        assert_eq!(u.free_bytes(), 0);
        assert_eq!(u.plan_retype(4, 1), Err(Error::NotEnoughMemory));
        // One object filling the whole region.
        assert_eq!(ut(0x1000, 12).plan_retype(12, 1).unwrap().new_watermark, 0x1000);
        // Alignment padding that pushes past the end.
        let mut v = ut(0, 12);
        v.watermark = 0x10;
        assert_eq!(v.plan_retype(11, 2), Err(Error::NotEnoughMemory));
        assert_eq!(v.plan_retype(11, 1).unwrap().first, 0x800);
    }

    #[test]
    fn absurd_requests_are_range_errors() {
        let u = ut(0, 20);
        assert_eq!(u.plan_retype(5, 0), Err(Error::RangeError));
        assert_eq!(u.plan_retype(3, 1), Err(Error::RangeError));
        assert_eq!(u.plan_retype(21, 1), Err(Error::RangeError));
        assert_eq!(u.plan_retype(255, 1), Err(Error::RangeError));
        let huge = ut(0, 47);
        assert_eq!(huge.plan_retype(48, 1), Err(Error::RangeError));
        assert_eq!(huge.plan_retype(47, 1).unwrap().new_watermark, 1 << 47);
    }

    #[test]
    fn overflow_attempts_never_wrap() {
        let u = ut(0, 47);
        assert_eq!(u.plan_retype(4, u64::MAX), Err(Error::NotEnoughMemory));
        assert_eq!(u.plan_retype(47, 2), Err(Error::NotEnoughMemory));
        assert_eq!(u.plan_retype(40, 1 << 24), Err(Error::NotEnoughMemory));
        assert_eq!(u.plan_retype(4, (1 << 43) + 1), Err(Error::NotEnoughMemory));
        assert_eq!(u.plan_retype(4, 1 << 43).unwrap().new_watermark, 1 << 47);
        // A watermark near u64::MAX (corrupt state) still errors cleanly.
        let w = Untyped { watermark: u64::MAX - 3, ..u };
        assert_eq!(w.plan_retype(12, 1), Err(Error::NotEnoughMemory));
        assert_eq!(w.free_bytes(), 0);
        // The base at the top of the address space.
        let top = ut(u64::MAX - (1 << 12) + 1, 12);
        assert_eq!(top.plan_retype(12, 1).unwrap().first, u64::MAX - 0xfff);
        let p = RetypePlan { first: u64::MAX - 15, obj_size_bits: 4, count: 2, new_watermark: 0 };
        assert_eq!(p.object_addr(1), None);
    }

    #[test]
    fn reset_frees_everything() {
        let mut u = ut(0x8000, 15);
        let p = u.plan_retype(15, 1).unwrap();
        u.commit(&p);
        assert_eq!(u.plan_retype(4, 1), Err(Error::NotEnoughMemory));
        u.reset();
        assert_eq!(u.watermark, 0);
        assert_eq!(u.plan_retype(15, 1), Ok(p));
    }

    #[test]
    fn from_cap_round_trip() {
        let mut cap = Cap::untyped(0x4_0000, 18, true).unwrap();
        cap.set_untyped_watermark(0x40).unwrap();
        let u = Untyped::from_cap(&cap).unwrap();
        assert_eq!(u, Untyped { base: 0x4_0000, size_bits: 18, watermark: 0x40, device: true });
        assert_eq!(Untyped::from_cap(&Cap::endpoint(0)), Err(Error::WrongType));
        assert_eq!(Untyped::from_cap(&Cap::null()), Err(Error::WrongType));
    }
}
