//! [`Env`]: the resources a process builder carves from (its CNode, free
//! slots, untyped memory) and [`Window`], where it maps a frame in its own
//! address space to fill it.

use libipc::abi::{BootInfo, Error as KError, Rights};
use libipc::cap::{CNode, Cap, Frame, ObjectType, PageTable, VSpace};

use crate::slots::SlotAlloc;
use crate::untyped::UntypedAlloc;
use crate::{Context, Error, Result};

/// Read-write.
pub const RW: Rights = Rights::READ.union(Rights::WRITE);

/// The builder's resources: CPtrs into `cnode` are plain slot indices (a
/// root task's CNode, or any CNode whose guard covers the bits its radix
/// does not).
pub struct Env {
    pub cnode: Cap<CNode>,
    pub slots: SlotAlloc,
    pub mem: UntypedAlloc,
    pub window: Window,
    /// Where caps the builder keeps but will not invoke again go (see
    /// [`Park`]); none: they stay in `cnode`.
    pub park: Option<Park>,
}

/// A *parking* CNode: a builder whose own CSpace root is small (a server's
/// 256 slots) moves the caps that must stay alive but need no CPtr any
/// more (mapped frames and page tables of a process it builds) out of its
/// root into a CNode of its own, where CNode operations still reach them.
/// Typically carved from the same memory as the objects, so one revoke
/// destroys the lot.
pub struct Park {
    /// The parking CNode (its cap in the builder's root).
    pub cnode: Cap<CNode>,
    /// Its free slots.
    pub slots: SlotAlloc,
}

impl Env {
    /// A root task's resources from its boot info: the free slots, every
    /// untyped (RAM and device), and a window at `window_va` in its own
    /// VSpace (page tables for it come from the untyped).
    pub fn from_boot(
        boot: &BootInfo,
        cnode: Cap<CNode>,
        vspace: Cap<VSpace>,
        window_va: u64,
    ) -> Result<Env> {
        let mut slots = SlotAlloc::new(boot.empty.start, boot.empty.end);
        let mut mem = UntypedAlloc::new();
        let n = boot.untyped.end.saturating_sub(boot.untyped.start);
        for (i, d) in boot.untyped_list.iter().take(n as usize).enumerate() {
            mem.add(boot.untyped.start + i as u64, d.paddr, d.size_bits, d.is_device != 0)?;
        }
        let window = Window::create(cnode, &mut slots, &mut mem, vspace, window_va)?;
        Ok(Env { cnode, slots, mem, window, park: None })
    }

    /// Resources for building inside `mem` with `slots` of the same CNode
    /// (a process's own quota), sharing `window`.
    pub fn new(cnode: Cap<CNode>, slots: SlotAlloc, mem: UntypedAlloc, window: Window) -> Env {
        Env { cnode, slots, mem, window, park: None }
    }

    /// Move `cap` into the parking CNode, if there is one, and give its
    /// slot back: the object lives on (a mapped frame stays mapped) but
    /// has no CPtr any more. Returns its slot in the parking CNode; `None`
    /// (and nothing moved) without one.
    pub fn park<T: ObjectType>(&mut self, cap: Cap<T>) -> Result<Option<u64>> {
        let Some(p) = self.park.as_mut() else { return Ok(None) };
        let slot = p.slots.alloc()?;
        if let Err(e) = p.cnode.move_(slot, self.cnode, cap.slot()) {
            p.slots.free(slot);
            return Err(Error::Kernel { op: "CNodeMove (park)", error: e, at: 0 });
        }
        self.slots.free(cap.slot());
        Ok(Some(slot))
    }

    /// A free slot.
    pub fn slot(&mut self) -> Result<u64> {
        self.slots.alloc()
    }

    /// A new `T` (`size_bits` as for `UntypedRetype`) in a new slot.
    pub fn alloc<T: ObjectType>(&mut self, size_bits: u8) -> Result<Cap<T>> {
        let slot = self.slots.alloc()?;
        let r = self.mem.carve(size_bits, self.cnode, slot);
        if r.is_err() {
            self.slots.free(slot);
        }
        r
    }

    /// A fresh 4 KiB frame (zeroed by the kernel).
    pub fn frame(&mut self) -> Result<Cap<Frame>> {
        self.alloc(12)
    }

    /// A copy of `cap` with `rights` in a new slot.
    pub fn copy<T: ObjectType>(&mut self, cap: Cap<T>, rights: Rights) -> Result<Cap<T>> {
        let slot = self.slots.alloc()?;
        match self.cnode.copy(slot, self.cnode, cap.slot(), rights) {
            Ok(()) => Ok(Cap::from_slot(slot)),
            Err(e) => {
                self.slots.free(slot);
                Err(Error::Kernel { op: "CNodeCopy", error: e, at: 0 })
            }
        }
    }

    /// A copy of `cap` with `rights` and `badge` (endpoints, notifications;
    /// guard data for CNodes) in a new slot.
    pub fn mint<T: ObjectType>(
        &mut self,
        cap: Cap<T>,
        rights: Rights,
        badge: u64,
    ) -> Result<Cap<T>> {
        let slot = self.slots.alloc()?;
        match self.cnode.mint(slot, self.cnode, cap.slot(), rights, badge) {
            Ok(()) => Ok(Cap::from_slot(slot)),
            Err(e) => {
                self.slots.free(slot);
                Err(Error::Kernel { op: "CNodeMint", error: e, at: 0 })
            }
        }
    }

    /// Delete the cap in `cap`'s slot and free the slot.
    pub fn delete<T: ObjectType>(&mut self, cap: Cap<T>) -> Result<()> {
        self.cnode.delete(cap.slot()).op("CNodeDelete")?;
        self.slots.free(cap.slot());
        Ok(())
    }

    /// `pages` frames of device memory from `paddr` on (page-aligned), in
    /// consecutive new slots; returns the first. The device untyped that
    /// covers them is carved up to `paddr` with untyped fillers, which are
    /// deleted again once the frames exist (the frames keep the kernel's
    /// watermark). A device untyped only moves forward: regions must be
    /// asked for once each, in ascending address order within one untyped.
    pub fn device_frames(&mut self, paddr: u64, pages: u64) -> Result<u64> {
        let len = pages.saturating_mul(crate::layout::PAGE);
        if !paddr.is_multiple_of(crate::layout::PAGE) || pages == 0 {
            return Err(Error::Layout {
                what: "device region not page-aligned or empty",
                at: paddr,
            });
        }
        let i = self
            .mem
            .device_entry(paddr, len)
            .ok_or(Error::Layout { what: "no device untyped covers the region", at: paddr })?;
        let e = *self.mem.entry(i).ok_or(Error::TooMany("untyped caps"))?;
        let off = paddr - e.paddr;
        if off < e.watermark {
            return Err(Error::Layout {
                what: "device memory already carved past the region",
                at: paddr,
            });
        }
        let mut fill = [0u8; 64];
        let n = crate::untyped::filler_blocks(e.watermark, off, e.size_bits, &mut fill)
            .ok_or(Error::TooMany("filler untypeds"))?;
        let mut fillers = [0u64; 64];
        let mut made = 0;
        let mut r = Ok(0);
        for &bits in fill.iter().take(n) {
            let slot = match self.slots.alloc() {
                Ok(s) => s,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            };
            if let Err(err) = self.mem.carve_from::<libipc::cap::Untyped>(i, bits, self.cnode, slot)
            {
                self.slots.free(slot);
                r = Err(err);
                break;
            }
            if let Some(f) = fillers.get_mut(made) {
                *f = slot;
            }
            made += 1;
        }
        if r.is_ok() {
            r = self.slots.alloc_run(pages).and_then(|first| {
                for k in 0..pages {
                    self.mem.carve_from::<Frame>(i, 12, self.cnode, first + k)?;
                }
                Ok(first)
            });
        }
        for &slot in fillers.iter().take(made) {
            let _ = self.cnode.delete(slot);
            self.slots.free(slot);
        }
        r
    }

    /// Map `frame` at `va` in `vs` with `rights`, adding the page tables
    /// that are missing (from this environment's memory).
    pub fn map_frame(
        &mut self,
        vs: Cap<VSpace>,
        frame: Cap<Frame>,
        va: u64,
        rights: Rights,
    ) -> Result<u32> {
        map_with_tables(
            self.cnode,
            &mut self.slots,
            &mut self.mem,
            self.park.as_mut(),
            vs,
            frame,
            va,
            rights,
        )
    }
}

/// Page-table levels below the root on this machine: at most this many
/// tables are missing for one 4 KiB mapping.
const TABLE_LEVELS: u32 = if cfg!(target_arch = "x86_64") { 3 } else { 2 };

/// Map `frame` at `va` in `vs`; each time the kernel says a table is
/// missing (`NotMapped`), carve one and map it there (then park it, if
/// there is a parking CNode). Returns how many tables were added.
#[allow(clippy::too_many_arguments)]
fn map_with_tables(
    cnode: Cap<CNode>,
    slots: &mut SlotAlloc,
    mem: &mut UntypedAlloc,
    mut park: Option<&mut Park>,
    vs: Cap<VSpace>,
    frame: Cap<Frame>,
    va: u64,
    rights: Rights,
) -> Result<u32> {
    let mut added = 0;
    loop {
        match frame.map(vs, va, rights) {
            Ok(()) => return Ok(added),
            Err(KError::NotMapped) if added < TABLE_LEVELS => {}
            Err(error) => return Err(Error::Kernel { op: "FrameMap", error, at: va }),
        }
        let slot = slots.alloc()?;
        let pt: Cap<PageTable> = match mem.carve(0, cnode, slot) {
            Ok(pt) => pt,
            Err(e) => {
                slots.free(slot);
                return Err(e);
            }
        };
        pt.map(vs, va).op_at("PageTableMap", va)?;
        added += 1;
        if let Some(p) = park.as_deref_mut() {
            let to = p.slots.alloc()?;
            p.cnode.move_(to, cnode, slot).op("CNodeMove (park a page table)")?;
            slots.free(slot);
        }
    }
}

/// One page of the builder's own address space where it maps a frame to
/// fill or read it. Its page tables exist once it is made, so using it
/// costs no memory. At most one frame is mapped there at a time: every
/// method maps, copies and unmaps before it returns.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    va: u64,
    vspace: Cap<VSpace>,
}

impl Window {
    /// The window at `va` (page-aligned, where nothing else is mapped) in
    /// the caller's own VSpace `vspace`; its page tables come from `mem`.
    pub fn create(
        cnode: Cap<CNode>,
        slots: &mut SlotAlloc,
        mem: &mut UntypedAlloc,
        vspace: Cap<VSpace>,
        va: u64,
    ) -> Result<Window> {
        if !va.is_multiple_of(crate::layout::PAGE) {
            return Err(Error::Layout { what: "window address not page-aligned", at: va });
        }
        // Map a frame there once (adding the tables), then give it back.
        let slot = slots.alloc()?;
        let frame: Cap<Frame> = match mem.carve(12, cnode, slot) {
            Ok(f) => f,
            Err(e) => {
                slots.free(slot);
                return Err(e);
            }
        };
        map_with_tables(cnode, slots, mem, None, vspace, frame, va, RW)?;
        frame.unmap().op("FrameUnmap")?;
        cnode.delete(slot).op("CNodeDelete")?;
        slots.free(slot);
        Ok(Window { va, vspace })
    }

    pub const fn vaddr(&self) -> u64 {
        self.va
    }

    /// Copy `bytes` into `frame` (4 KiB) at byte `offset`.
    pub fn write(&self, frame: Cap<Frame>, offset: usize, bytes: &[u8]) -> Result<()> {
        if offset.checked_add(bytes.len()).is_none_or(|end| end > crate::layout::PAGE as usize) {
            return Err(Error::Layout { what: "bytes do not fit the page", at: offset as u64 });
        }
        frame.map(self.vspace, self.va, RW).op_at("FrameMap (window)", self.va)?;
        self.copy_in(offset, bytes);
        frame.unmap().op("FrameUnmap (window)")
    }

    /// Copy bytes of `frame` from `offset` into `out`.
    pub fn read(&self, frame: Cap<Frame>, offset: usize, out: &mut [u8]) -> Result<()> {
        if offset.checked_add(out.len()).is_none_or(|end| end > crate::layout::PAGE as usize) {
            return Err(Error::Layout { what: "bytes do not fit the page", at: offset as u64 });
        }
        frame.map(self.vspace, self.va, Rights::READ).op_at("FrameMap (window)", self.va)?;
        self.copy_out(offset, out);
        frame.unmap().op("FrameUnmap (window)")
    }

    /// The store itself: `offset + bytes.len() <= PAGE` (checked by the
    /// caller), a frame mapped read-write at the window.
    #[allow(unsafe_code)]
    fn copy_in(&self, offset: usize, bytes: &[u8]) {
        let dst =
            core::ptr::with_exposed_provenance_mut::<u8>(self.va as usize).wrapping_add(offset);
        // SAFETY: a frame was just mapped read-write at `self.va` (the map
        // succeeded) and stays mapped until this returns; `offset..offset +
        // len` lies inside its 4 KiB (checked by `write`). No Rust object
        // lives at the window (the caller chose an address outside its image,
        // stack and heap), so nothing aliases the destination, and `bytes`
        // cannot lie in the freshly mapped page.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }

    /// The load: as [`Window::copy_in`], the frame mapped readable.
    #[allow(unsafe_code)]
    fn copy_out(&self, offset: usize, out: &mut [u8]) {
        let src = core::ptr::with_exposed_provenance::<u8>(self.va as usize).wrapping_add(offset);
        // SAFETY: as in `copy_in`, with the frame mapped readable and `out`
        // (the caller's memory) not inside it.
        unsafe { core::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
    }
}
