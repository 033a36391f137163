//! Capability slots in physical memory: the kernel's [`SlotStore`] for the
//! derivation tree, and capability lookup in a thread's CSpace.
//!
//! A [`SlotId`] is the physical address of a slot: inside a CNode object or
//! among a TCB's own slots. Ids only come from kernel-maintained places
//! (tree links, CNode indexing within the radix, TCB slot offsets), so they
//! always name slots of live objects.

use crate::mem::phys::PhysRef;
use crate::object::tcb::{SLOT_CSPACE, tcb_slot};
use kcore::{Cap, Slot, SlotId, SlotStore};
use libipc::abi::{CapType, Error};

/// The slots of all CNodes and TCBs, reached through the direct map.
pub struct Slots;

fn slot_ref(id: SlotId) -> PhysRef<Slot> {
    // SAFETY: slot ids come only from the kernel-maintained places listed in
    // the module documentation, all of which name slots of live objects.
    unsafe { PhysRef::new(id.0) }
}

impl SlotStore for Slots {
    fn get(&self, id: SlotId) -> Option<&Slot> {
        id.get().map(|id| slot_ref(id).get())
    }
    fn get_mut(&mut self, id: SlotId) -> Option<&mut Slot> {
        id.get().map(|id| slot_ref(id).get_mut())
    }
    fn slot_of(&self, cnode_addr: u64, index: u64) -> SlotId {
        SlotId(cnode_addr + (index << kcore::untyped::SLOT_BITS))
    }
}

/// The cap in slot `id` (null for an empty slot).
pub fn cap_at(id: SlotId) -> Cap {
    Slots.get(id).map_or(Cap::null(), |s| *s.cap())
}

/// Change the cap in an occupied slot in place (watermark, mapping), never
/// which object it names.
pub fn update_cap(id: SlotId, f: impl FnOnce(&mut Cap)) {
    if let Some(slot) = Slots.get_mut(id)
        && !slot.is_empty()
    {
        f(slot.cap_mut());
    }
}

/// All CPtrs are resolved with the full word as depth: a CSpace's guards
/// make up whatever its radices do not use.
pub const CPTR_DEPTH: u32 = 64;

/// Resolve `cptr` in `thread`'s CSpace to an occupied slot.
pub fn lookup(thread: u64, cptr: u64) -> Result<(SlotId, Cap), Error> {
    let root = cap_at(tcb_slot(thread, SLOT_CSPACE));
    if root.cap_type() != CapType::CNode {
        return Err(Error::InvalidCapability);
    }
    Ok(kcore::cspace::lookup_cap(&Slots, &root, cptr, CPTR_DEPTH)?)
}

/// Resolve `cptr` in `thread`'s CSpace and require a cap of type `ty`.
pub fn lookup_typed(thread: u64, cptr: u64, ty: CapType) -> Result<(SlotId, Cap), Error> {
    let (slot, cap) = lookup(thread, cptr)?;
    if cap.cap_type() != ty {
        return Err(Error::WrongType);
    }
    Ok((slot, cap))
}

/// Slot `index` of the CNode `cnode` as a destination: inside the radix,
/// not the reserved slot 0, and empty.
pub fn dest_slot(cnode: &Cap, index: u64) -> Result<SlotId, Error> {
    let slot = cnode_slot(cnode, index)?;
    if !cap_at(slot).is_null() {
        return Err(Error::SlotOccupied);
    }
    Ok(slot)
}

/// Slot `index` of the CNode `cnode` (any content). Slot 0 of every CNode is
/// reserved for the kernel (it never holds a cap; CPtr 0 is the null cap).
pub fn cnode_slot(cnode: &Cap, index: u64) -> Result<SlotId, Error> {
    if cnode.cap_type() != CapType::CNode {
        return Err(Error::WrongType);
    }
    let n = 1u64 << cnode.cnode_radix();
    if index == 0 || index >= n {
        return Err(Error::RangeError);
    }
    Ok(Slots.slot_of(cnode.addr(), index))
}
