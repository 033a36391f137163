//! Capabilities as values: what a slot holds.
//!
//! A [`Cap`] is four machine words (32 bytes, `Copy`): the type and rights,
//! the object's physical address, one "word" (the badge of an endpoint or
//! notification cap, the guard of a CNode cap, the VSpace a frame is mapped
//! in) and one packed `data` word with the type-specific fields. Four words
//! keep a slot (cap plus derivation links, see [`crate::cdt`]) at 64 bytes.
//!
//! The fields are private: caps are made by the per-type constructors, which
//! check that the fields fit the packing, and changed only by mutators that
//! never change *which object* the cap names (the watermark of an untyped,
//! the mapping of a frame). The derivation tree relies on that identity
//! ([`Cap::same_object`]) staying fixed while a cap sits in a slot.
//!
//! This module also holds the derivation rules a copy or mint obeys
//! ([`Cap::derive`], [`Cap::mint`]).
//!
//! `data` layout per type (bit ranges, low to high):
//!
//! ```text
//! Untyped   0..6 size_bits  6 device          8..56 watermark (bytes)
//! CNode     0..6 radix_bits                   8..15 guard_bits   word: guard
//! Frame     0..6 size_bits  6 device 7 mapped 12..64 mapped vaddr  word: vspace
//! PageTable                          7 mapped 12..64 mapped vaddr  word: vspace
//! VSpace    word: address-space id (ASID, assigned by the kernel)
//! IoPort    addr: first port, data: last port (inclusive)
//! IrqHandler addr: irq number
//! Reply     addr: the thread to reply to
//! Trace     no fields (the kernel has one event trace)
//! SchedControl no fields (the kernel's scheduler is kernel data)
//! ```

use libipc::abi::{CapType, Error, Rights};

use crate::untyped::{
    CNODE_RADIX_MAX, CNODE_RADIX_MIN, FRAME_LARGE_BITS, FRAME_SMALL_BITS, SLOT_BITS,
    UNTYPED_MAX_BITS, UNTYPED_MIN_BITS, object_size_bits,
};

const SIZE_MASK: u64 = 0x3f;
const DEVICE_BIT: u64 = 1 << 6;
const MAPPED_BIT: u64 = 1 << 7;
const WATERMARK_SHIFT: u32 = 8;
const WATERMARK_MASK: u64 = (1 << 48) - 1;
const GUARD_BITS_SHIFT: u32 = 8;
const GUARD_BITS_MASK: u64 = 0x7f;
const VADDR_MASK: u64 = !0xfff;

/// A capability: a typed, rights-limited reference to a kernel object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Cap {
    ty: CapType,
    rights: Rights,
    addr: u64,
    word: u64,
    data: u64,
}

const _: () = assert!(core::mem::size_of::<Cap>() == 32);

/// `true` if `addr` is aligned to `2^bits`.
const fn aligned(addr: u64, bits: u32) -> bool {
    bits >= 64 || addr & ((1u64 << bits) - 1) == 0
}

impl Cap {
    /// The empty capability (an all-zero value).
    pub const fn null() -> Cap {
        Cap { ty: CapType::Null, rights: Rights::NONE, addr: 0, word: 0, data: 0 }
    }

    /// A cap with all rights and no type-specific data.
    const fn plain(ty: CapType, addr: u64) -> Cap {
        Cap { ty, rights: Rights::ALL, addr, word: 0, data: 0 }
    }

    /// An untyped region `[base, base + 2^size_bits)`, watermark 0.
    /// `size_bits` must be in 4..=47 and `base` aligned to the size.
    pub fn untyped(base: u64, size_bits: u8, device: bool) -> Result<Cap, Error> {
        if !(UNTYPED_MIN_BITS..=UNTYPED_MAX_BITS).contains(&size_bits) {
            return Err(Error::RangeError);
        }
        if !aligned(base, size_bits.into()) {
            return Err(Error::AlignmentError);
        }
        if base.checked_add(1u64 << size_bits).is_none() {
            return Err(Error::RangeError);
        }
        let device = if device { DEVICE_BIT } else { 0 };
        Ok(Cap { data: u64::from(size_bits) | device, ..Cap::plain(CapType::Untyped, base) })
    }

    /// A CNode of `2^radix_bits` slots (radix 1..=20) with no guard. The
    /// object is `2^(radix_bits + 6)` bytes and `addr` is aligned to that.
    pub fn cnode(addr: u64, radix_bits: u8) -> Result<Cap, Error> {
        if !(CNODE_RADIX_MIN..=CNODE_RADIX_MAX).contains(&radix_bits) {
            return Err(Error::RangeError);
        }
        if !aligned(addr, u32::from(radix_bits) + u32::from(SLOT_BITS)) {
            return Err(Error::AlignmentError);
        }
        Ok(Cap { data: u64::from(radix_bits), ..Cap::plain(CapType::CNode, addr) })
    }

    /// This CNode cap with a guard of `guard_bits` bits (guard + radix may
    /// use at most 64 bits; the guard value must fit in `guard_bits`).
    pub fn with_guard(self, guard_bits: u8, guard: u64) -> Result<Cap, Error> {
        if self.ty != CapType::CNode {
            return Err(Error::WrongType);
        }
        if u32::from(guard_bits) + u32::from(self.cnode_radix()) > 64 {
            return Err(Error::RangeError);
        }
        if guard_bits < 64 && guard >> guard_bits != 0 {
            return Err(Error::RangeError);
        }
        let data = (self.data & SIZE_MASK) | (u64::from(guard_bits) << GUARD_BITS_SHIFT);
        Ok(Cap { data, word: guard, ..self })
    }

    /// An endpoint at `addr`, all rights, unbadged.
    pub const fn endpoint(addr: u64) -> Cap {
        Cap::plain(CapType::Endpoint, addr)
    }

    /// A notification at `addr`, all rights, unbadged.
    pub const fn notification(addr: u64) -> Cap {
        Cap::plain(CapType::Notification, addr)
    }

    /// A thread control block at `addr`.
    pub const fn thread(addr: u64) -> Cap {
        Cap::plain(CapType::Thread, addr)
    }

    /// A page-table page at `addr`.
    pub const fn page_table(addr: u64) -> Cap {
        Cap::plain(CapType::PageTable, addr)
    }

    /// An address-space root at `addr`.
    pub const fn vspace(addr: u64) -> Cap {
        Cap::plain(CapType::VSpace, addr)
    }

    /// An unmapped frame of `2^size_bits` bytes (12 or 21) at `addr`.
    pub fn frame(addr: u64, size_bits: u8, device: bool) -> Result<Cap, Error> {
        if size_bits != FRAME_SMALL_BITS && size_bits != FRAME_LARGE_BITS {
            return Err(Error::RangeError);
        }
        if !aligned(addr, size_bits.into()) {
            return Err(Error::AlignmentError);
        }
        let device = if device { DEVICE_BIT } else { 0 };
        Ok(Cap { data: u64::from(size_bits) | device, ..Cap::plain(CapType::Frame, addr) })
    }

    /// The authority to create IRQ handlers (one object, address 0).
    pub const fn irq_control() -> Cap {
        Cap::plain(CapType::IrqControl, 0)
    }

    /// The handler of interrupt `irq`.
    pub const fn irq_handler(irq: u64) -> Cap {
        Cap::plain(CapType::IrqHandler, irq)
    }

    /// The I/O ports `first..=last`.
    pub fn io_port(first: u16, last: u16) -> Result<Cap, Error> {
        if first > last {
            return Err(Error::RangeError);
        }
        Ok(Cap { data: u64::from(last), ..Cap::plain(CapType::IoPort, u64::from(first)) })
    }

    /// The right to reply once to the thread at `thread_addr`.
    pub const fn reply(thread_addr: u64) -> Cap {
        Cap::plain(CapType::Reply, thread_addr)
    }

    /// The right to read the kernel's event trace (no object: the trace is
    /// kernel data).
    pub const fn trace() -> Cap {
        Cap::plain(CapType::Trace, 0)
    }

    /// The authority to set threads' scheduling parameters (no object: the
    /// scheduler is kernel data).
    pub const fn sched_control() -> Cap {
        Cap::plain(CapType::SchedControl, 0)
    }

    /// A cap to a new object of type `ty` made by retype at `addr`;
    /// `user_size_bits` as in [`object_size_bits`], `device` as the untyped.
    pub fn for_object(
        ty: CapType,
        addr: u64,
        user_size_bits: u8,
        device: bool,
    ) -> Result<Cap, Error> {
        let size = object_size_bits(ty, user_size_bits)?;
        if !aligned(addr, size.into()) {
            return Err(Error::AlignmentError);
        }
        match ty {
            CapType::Untyped => Cap::untyped(addr, user_size_bits, device),
            CapType::CNode => Cap::cnode(addr, user_size_bits),
            CapType::Frame => Cap::frame(addr, user_size_bits, device),
            CapType::Endpoint | CapType::Notification | CapType::Thread => Ok(Cap::plain(ty, addr)),
            CapType::PageTable | CapType::VSpace => Ok(Cap::plain(ty, addr)),
            _ => Err(Error::InvalidArgument),
        }
    }

    pub const fn is_null(&self) -> bool {
        matches!(self.ty, CapType::Null)
    }
    pub const fn cap_type(&self) -> CapType {
        self.ty
    }
    /// Physical address of the object (region base for untyped; the first
    /// port for I/O ports, the IRQ number for IRQ handlers).
    pub const fn addr(&self) -> u64 {
        self.addr
    }
    pub const fn rights(&self) -> Rights {
        self.rights
    }

    /// The badge of an endpoint or notification cap; 0 means unbadged and
    /// every other type reads 0.
    pub const fn badge(&self) -> u64 {
        match self.ty {
            CapType::Endpoint | CapType::Notification => self.word,
            _ => 0,
        }
    }

    /// log2 of the object size for Untyped, CNode (whole object) and Frame.
    pub fn size_bits(&self) -> Option<u8> {
        let low = (self.data & SIZE_MASK) as u8;
        match self.ty {
            CapType::Untyped | CapType::Frame => Some(low),
            CapType::CNode => Some(low + SLOT_BITS),
            _ => None,
        }
    }

    /// Device memory (untyped or frame): not zeroed, mapped uncached.
    pub const fn is_device(&self) -> bool {
        matches!(self.ty, CapType::Untyped | CapType::Frame) && self.data & DEVICE_BIT != 0
    }

    /// Untyped: offset of the first free byte.
    pub const fn untyped_watermark(&self) -> u64 {
        match self.ty {
            CapType::Untyped => (self.data >> WATERMARK_SHIFT) & WATERMARK_MASK,
            _ => 0,
        }
    }

    /// Set an untyped cap's watermark (at most the region size).
    pub fn set_untyped_watermark(&mut self, watermark: u64) -> Result<(), Error> {
        if self.ty != CapType::Untyped {
            return Err(Error::WrongType);
        }
        if watermark > 1u64 << (self.data & SIZE_MASK) {
            return Err(Error::RangeError);
        }
        let keep = self.data & !(WATERMARK_MASK << WATERMARK_SHIFT);
        self.data = keep | (watermark << WATERMARK_SHIFT);
        Ok(())
    }

    /// CNode: log2 of the number of slots (0 for other types).
    pub const fn cnode_radix(&self) -> u8 {
        match self.ty {
            CapType::CNode => (self.data & SIZE_MASK) as u8,
            _ => 0,
        }
    }
    /// CNode: number of guard bits (0 for other types).
    pub const fn cnode_guard_bits(&self) -> u8 {
        match self.ty {
            CapType::CNode => ((self.data >> GUARD_BITS_SHIFT) & GUARD_BITS_MASK) as u8,
            _ => 0,
        }
    }
    /// CNode: the guard value (0 for other types).
    pub const fn cnode_guard(&self) -> u64 {
        match self.ty {
            CapType::CNode => self.word,
            _ => 0,
        }
    }

    /// Frame: `Some((vspace, vaddr))` if this cap maps the frame.
    pub const fn frame_mapping(&self) -> Option<(u64, u64)> {
        match self.ty {
            CapType::Frame if self.data & MAPPED_BIT != 0 => {
                Some((self.word, self.data & VADDR_MASK))
            }
            _ => None,
        }
    }

    /// Frame: record that this cap maps the frame at `vaddr` (aligned to
    /// the frame size) in the VSpace at `vspace`.
    pub fn set_frame_mapping(&mut self, vspace: u64, vaddr: u64) -> Result<(), Error> {
        let Some(size) = self.size_bits().filter(|_| self.ty == CapType::Frame) else {
            return Err(Error::WrongType);
        };
        if !aligned(vaddr, size.into()) {
            return Err(Error::AlignmentError);
        }
        self.data = (self.data & !VADDR_MASK) | MAPPED_BIT | vaddr;
        self.word = vspace;
        Ok(())
    }

    /// Frame or page table: forget the mapping (no-op for other types).
    pub fn clear_frame_mapping(&mut self) {
        if matches!(self.ty, CapType::Frame | CapType::PageTable) {
            self.data &= SIZE_MASK | DEVICE_BIT;
            self.word = 0;
        }
    }

    /// Page table: `Some((vspace, vaddr))` if this cap has the table linked
    /// into an address space, covering `vaddr`.
    pub const fn table_mapping(&self) -> Option<(u64, u64)> {
        match self.ty {
            CapType::PageTable if self.data & MAPPED_BIT != 0 => {
                Some((self.word, self.data & VADDR_MASK))
            }
            _ => None,
        }
    }

    /// Page table: record that the table is linked into `vspace` on the
    /// path to `vaddr` (page aligned).
    pub fn set_table_mapping(&mut self, vspace: u64, vaddr: u64) -> Result<(), Error> {
        if self.ty != CapType::PageTable {
            return Err(Error::WrongType);
        }
        if !aligned(vaddr, 12) {
            return Err(Error::AlignmentError);
        }
        self.data = (self.data & !VADDR_MASK) | MAPPED_BIT | vaddr;
        self.word = vspace;
        Ok(())
    }

    /// VSpace: a cap carrying the address-space id the kernel gave it.
    pub const fn vspace_with_asid(addr: u64, asid: u64) -> Cap {
        Cap { word: asid, ..Cap::plain(CapType::VSpace, addr) }
    }

    /// VSpace: its address-space id.
    pub const fn vspace_asid(&self) -> Option<u64> {
        match self.ty {
            CapType::VSpace => Some(self.word),
            _ => None,
        }
    }

    /// IRQ handler: the interrupt number.
    pub const fn irq(&self) -> Option<u64> {
        match self.ty {
            CapType::IrqHandler => Some(self.addr),
            _ => None,
        }
    }

    /// I/O port cap: the inclusive port range.
    pub const fn io_ports(&self) -> Option<(u16, u16)> {
        match self.ty {
            CapType::IoPort => Some((self.addr as u16, self.data as u16)),
            _ => None,
        }
    }

    /// The part of `data` that is part of the object's identity.
    fn identity(&self) -> u64 {
        match self.ty {
            CapType::Untyped | CapType::Frame => self.data & SIZE_MASK,
            CapType::IoPort => self.data,
            _ => 0,
        }
    }

    /// Both caps name the same object: same type and address, and for
    /// untyped (and frames) the same size, for I/O ports the same range.
    /// Rights, badge, guard, watermark and mapping do not matter. Null caps
    /// name nothing.
    pub fn same_object(&self, other: &Cap) -> bool {
        !self.is_null()
            && self.ty == other.ty
            && self.addr == other.addr
            && self.identity() == other.identity()
    }

    /// The cap a copy puts in the destination slot: the same cap, except a
    /// frame copy is unmapped. Null: `InvalidCapability`; Reply caps cannot
    /// be copied: `IllegalOperation`. (Untyped caps have one more rule that
    /// needs the tree, in [`crate::cdt::copy`].)
    pub fn derive(&self) -> Result<Cap, Error> {
        match self.ty {
            CapType::Null => Err(Error::InvalidCapability),
            CapType::Reply => Err(Error::IllegalOperation),
            _ => {
                let mut cap = *self;
                cap.clear_frame_mapping();
                Ok(cap)
            }
        }
    }

    /// A derived cap with rights reduced to `rights` and, if `badge` is not
    /// 0, that badge. Only an unbadged endpoint or notification cap can be
    /// badged: re-badging is `IllegalOperation`, a badge on another type
    /// `InvalidArgument`. Badge 0 keeps the current badge.
    ///
    /// On a CNode cap the "badge" sets the guard instead (seL4's CNode cap
    /// data): bits 0..6 are the guard size, the bits above it the guard
    /// value, which must fit the size; size plus radix at most 64
    /// (`RangeError` otherwise). This is how user space builds CSpaces of
    /// its own: CPtrs always resolve 64 bits deep.
    pub fn mint(&self, rights: Rights, badge: u64) -> Result<Cap, Error> {
        let mut cap = self.derive()?;
        cap.rights = cap.rights.intersect(rights);
        if badge != 0 {
            match self.ty {
                CapType::Endpoint | CapType::Notification if self.word != 0 => {
                    return Err(Error::IllegalOperation);
                }
                CapType::Endpoint | CapType::Notification => cap.word = badge,
                CapType::CNode => {
                    let guard_bits = (badge & 0x3f) as u8;
                    cap = cap.with_guard(guard_bits, badge >> 6)?;
                }
                _ => return Err(Error::InvalidArgument),
            }
        }
        Ok(cap)
    }

    /// Untyped: raise the watermark to at least `watermark` (used when a
    /// copy that carved objects is deleted and its objects move up).
    pub(crate) fn raise_untyped_watermark(&mut self, watermark: u64) {
        if watermark > self.untyped_watermark() {
            // Cannot fail: the watermark came from a cap of the same region.
            let _ = self.set_untyped_watermark(watermark);
        }
    }
}

impl Default for Cap {
    fn default() -> Cap {
        Cap::null()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn null_is_zero_and_default() {
        let n = Cap::null();
        assert!(n.is_null());
        assert_eq!(Cap::default(), n);
        assert_eq!(n.rights(), Rights::NONE);
        assert!(!n.same_object(&n));
        assert_eq!(n.derive(), Err(Error::InvalidCapability));
    }

    #[test]
    fn untyped_fields_and_validation() {
        let u = Cap::untyped(0x10_0000, 20, true).unwrap();
        assert_eq!(u.cap_type(), CapType::Untyped);
        assert_eq!(u.addr(), 0x10_0000);
        assert_eq!(u.size_bits(), Some(20));
        assert!(u.is_device());
        assert_eq!(u.untyped_watermark(), 0);
        assert_eq!(Cap::untyped(0x10_0000, 3, false), Err(Error::RangeError));
        assert_eq!(Cap::untyped(0, 48, false), Err(Error::RangeError));
        assert_eq!(Cap::untyped(0x1000, 20, false), Err(Error::AlignmentError));
        assert_eq!(Cap::untyped(u64::MAX << 47, 47, false), Err(Error::RangeError));
        // The largest region, full watermark: the 48-bit field holds 2^47.
        let mut big = Cap::untyped(1 << 47, 47, false).unwrap();
        big.set_untyped_watermark(1 << 47).unwrap();
        assert_eq!(big.untyped_watermark(), 1 << 47);
        assert_eq!(big.size_bits(), Some(47));
        assert!(!big.is_device());
        assert_eq!(big.set_untyped_watermark((1 << 47) + 1), Err(Error::RangeError));
    }

    #[test]
    fn cnode_fields_and_guard() {
        let c = Cap::cnode(0x4000, 8).unwrap();
        assert_eq!(c.cnode_radix(), 8);
        assert_eq!(c.size_bits(), Some(14));
        assert_eq!((c.cnode_guard_bits(), c.cnode_guard()), (0, 0));
        let g = c.with_guard(56, 0xab).unwrap();
        assert_eq!((g.cnode_radix(), g.cnode_guard_bits(), g.cnode_guard()), (8, 56, 0xab));
        assert!(g.same_object(&c));
        assert_eq!(g.badge(), 0);
        assert_eq!(c.with_guard(57, 0), Err(Error::RangeError));
        assert_eq!(c.with_guard(4, 0x10), Err(Error::RangeError));
        assert_eq!(Cap::cnode(0x4000, 0), Err(Error::RangeError));
        assert_eq!(Cap::cnode(0x4000, 21), Err(Error::RangeError));
        assert_eq!(Cap::cnode(0x2000, 8), Err(Error::AlignmentError));
        assert_eq!(Cap::endpoint(0).with_guard(1, 0), Err(Error::WrongType));
    }

    #[test]
    fn frame_mapping_round_trip() {
        let mut f = Cap::frame(0x20_0000, 21, false).unwrap();
        assert_eq!(f.frame_mapping(), None);
        assert_eq!(f.set_frame_mapping(0x9000, 0x1000), Err(Error::AlignmentError));
        f.set_frame_mapping(0x9000, 0x7fff_ffe0_0000).unwrap();
        assert_eq!(f.frame_mapping(), Some((0x9000, 0x7fff_ffe0_0000)));
        assert_eq!(f.size_bits(), Some(21));
        let copy = f.derive().unwrap();
        assert_eq!(copy.frame_mapping(), None, "a copy starts unmapped");
        assert!(copy.same_object(&f));
        f.clear_frame_mapping();
        assert_eq!(f, copy);
        assert_eq!(Cap::frame(0x1000, 13, false), Err(Error::RangeError));
        assert_eq!(Cap::frame(0x1000, 21, false), Err(Error::AlignmentError));
        assert_eq!(Cap::endpoint(0).set_frame_mapping(0, 0), Err(Error::WrongType));
    }

    #[test]
    fn identity_rules() {
        let a = Cap::untyped(0x10_0000, 20, false).unwrap();
        let b = Cap::untyped(0x10_0000, 12, false).unwrap();
        assert!(!a.same_object(&b), "same base, other size: another object");
        let mut a2 = a;
        a2.set_untyped_watermark(0x100).unwrap();
        assert!(a.same_object(&a2), "the watermark is state, not identity");
        assert!(!Cap::endpoint(0x40).same_object(&Cap::notification(0x40)));
        assert!(Cap::irq_handler(3).same_object(&Cap::irq_handler(3)));
        assert!(!Cap::irq_handler(3).same_object(&Cap::irq_handler(4)));
        let p = Cap::io_port(0x3f8, 0x3ff).unwrap();
        assert_eq!(p.io_ports(), Some((0x3f8, 0x3ff)));
        assert!(!p.same_object(&Cap::io_port(0x3f8, 0x3f8).unwrap()));
        assert_eq!(Cap::io_port(2, 1), Err(Error::RangeError));
        assert_eq!(Cap::irq_handler(9).irq(), Some(9));
    }

    #[test]
    fn mint_reduces_rights_and_badges_once() {
        let ep = Cap::endpoint(0x1000);
        let ro = ep.mint(Rights::READ, 0).unwrap();
        assert_eq!(ro.rights(), Rights::READ);
        // Minting cannot add rights back.
        assert_eq!(ro.mint(Rights::ALL, 0).unwrap().rights(), Rights::READ);
        let b = ep.mint(Rights::ALL, 42).unwrap();
        assert_eq!(b.badge(), 42);
        assert!(b.same_object(&ep));
        assert_eq!(b.mint(Rights::ALL, 7), Err(Error::IllegalOperation));
        assert_eq!(b.mint(Rights::WRITE, 0).unwrap().badge(), 42, "badge 0 keeps the badge");
        let n = Cap::notification(0x2000).mint(Rights::ALL, 1).unwrap();
        assert_eq!(n.badge(), 1);
        assert_eq!(Cap::thread(0x800).mint(Rights::ALL, 1), Err(Error::InvalidArgument));
        // On a CNode the badge is guard data: size in bits 0..6, value above.
        let c = Cap::cnode(0x4000, 2).unwrap().mint(Rights::ALL, 62 | (5 << 6)).unwrap();
        assert_eq!((c.cnode_guard_bits(), c.cnode_guard()), (62, 5));
        assert!(c.same_object(&Cap::cnode(0x4000, 2).unwrap()));
        assert_eq!(Cap::cnode(0x4000, 2).unwrap().mint(Rights::ALL, 63), Err(Error::RangeError));
        assert_eq!(
            Cap::cnode(0x4000, 2).unwrap().mint(Rights::ALL, 2 | (4 << 6)),
            Err(Error::RangeError)
        );
    }

    #[test]
    fn derive_rules() {
        assert_eq!(Cap::reply(0x800).derive(), Err(Error::IllegalOperation));
        assert_eq!(Cap::reply(0x800).mint(Rights::ALL, 0), Err(Error::IllegalOperation));
        assert_eq!(Cap::null().mint(Rights::ALL, 0), Err(Error::InvalidCapability));
        for cap in [
            Cap::untyped(0, 12, false).unwrap(),
            Cap::cnode(0, 1).unwrap(),
            Cap::endpoint(0),
            Cap::notification(0),
            Cap::thread(0),
            Cap::page_table(0),
            Cap::vspace(0),
            Cap::irq_control(),
            Cap::irq_handler(1),
            Cap::io_port(1, 2).unwrap(),
            Cap::trace(),
            Cap::sched_control(),
        ] {
            assert_eq!(cap.derive(), Ok(cap));
        }
        // The trace cap: copies name the same trace; rights shrink, no badge.
        let t = Cap::trace();
        assert!(t.same_object(&t.mint(Rights::READ, 0).unwrap()));
        assert_eq!(t.mint(Rights::READ, 0).unwrap().rights(), Rights::READ);
        assert_eq!(t.mint(Rights::ALL, 5), Err(Error::InvalidArgument));
        assert_eq!(Cap::for_object(CapType::Trace, 0, 0, false), Err(Error::InvalidArgument));
        assert_eq!(
            Cap::for_object(CapType::SchedControl, 0, 0, false),
            Err(Error::InvalidArgument)
        );
    }

    #[test]
    fn for_object_builds_each_retypeable_type() {
        let ok = |ty, addr, bits| Cap::for_object(ty, addr, bits, false).unwrap();
        assert_eq!(ok(CapType::Endpoint, 0x20, 0), Cap::endpoint(0x20));
        assert_eq!(ok(CapType::Thread, 0x800, 0).cap_type(), CapType::Thread);
        assert_eq!(ok(CapType::CNode, 0x400, 4).cnode_radix(), 4);
        assert_eq!(ok(CapType::Frame, 0x1000, 12).size_bits(), Some(12));
        assert_eq!(ok(CapType::Untyped, 0x1000, 12).size_bits(), Some(12));
        assert!(Cap::for_object(CapType::Frame, 0, 12, true).unwrap().is_device());
        assert_eq!(Cap::for_object(CapType::Endpoint, 0x10, 0, false), Err(Error::AlignmentError));
        assert_eq!(Cap::for_object(CapType::Reply, 0, 0, false), Err(Error::InvalidArgument));
        assert_eq!(Cap::for_object(CapType::Frame, 0, 13, false), Err(Error::RangeError));
    }
}

#[cfg(test)]
mod mapping_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn page_table_mapping_round_trip_and_copy_unmaps() {
        let mut pt = Cap::page_table(0x8000);
        assert_eq!(pt.table_mapping(), None);
        pt.set_table_mapping(7, 0x4000_0000).unwrap();
        assert_eq!(pt.table_mapping(), Some((7, 0x4000_0000)));
        assert_eq!(pt.set_table_mapping(7, 0x123), Err(Error::AlignmentError));
        assert_eq!(pt.derive().unwrap().table_mapping(), None);
        assert!(pt.same_object(&Cap::page_table(0x8000)));
        pt.clear_frame_mapping();
        assert_eq!(pt.table_mapping(), None);
        assert_eq!(Cap::endpoint(0x40).set_table_mapping(1, 0), Err(Error::WrongType));
    }

    #[test]
    fn vspace_asid_is_not_identity() {
        let a = Cap::vspace_with_asid(0x9000, 3);
        assert_eq!(a.vspace_asid(), Some(3));
        assert!(a.same_object(&Cap::vspace(0x9000)));
        assert_eq!(Cap::endpoint(0x40).vspace_asid(), None);
    }
}
