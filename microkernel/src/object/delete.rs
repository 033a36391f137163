//! Deleting capabilities and destroying objects.
//!
//! Deleting a cap may make it the *final* cap to its object; the object is
//! then destroyed: threads blocked on an endpoint or notification are woken
//! with an error, a thread is taken off every queue, an address space gives
//! up its ASID. Every deleted frame or page-table cap that maps something
//! unmaps it first, final or not (a mapping belongs to the cap).
//!
//! CNodes and TCBs contain slots. Destroying one must delete the caps inside,
//! which may be final caps to more CNodes, and so on: a user can nest them as
//! deep as memory allows. The kernel never recurses for this. A destroyed
//! container goes on an intrusive list (its link lives in the container
//! itself: slot 0 of a CNode, which is reserved, or a TCB field) and
//! [`drain`] empties containers from that list until it is empty. Containers
//! are drained only after the operation that destroyed them (delete, revoke)
//! has finished with the derivation tree, so no tree walk in progress is
//! disturbed.

use crate::mem::phys::PhysRef;
use crate::object::slots::{Slots, cap_at};
use crate::object::tcb::{TCB_SLOTS, tcb, tcb_slot};
use crate::object::{endpoint, notification, vspace};
use crate::state::Kernel;
use kcore::{Cap, SlotId, SlotStore};
use libipc::abi::{CapType, Error};

/// Delete the cap in `slot` (and destroy its object if it was the final cap).
pub fn delete_slot(k: &mut Kernel, slot: SlotId) -> Result<(), Error> {
    let d = kcore::cdt::delete(&mut Slots, slot)?;
    removed(k, &d.cap, d.is_final);
    drain(k);
    Ok(())
}

/// Delete every cap derived from the one in `slot`.
pub fn revoke_slot(k: &mut Kernel, slot: SlotId) -> Result<(), Error> {
    let mut on_delete = |cap: Cap, is_final: bool| removed(k, &cap, is_final);
    // No budget yet (no preemption point): the revoke always finishes.
    kcore::cdt::revoke(&mut Slots, slot, u64::MAX, &mut on_delete)?;
    drain(k);
    Ok(())
}

/// A cap left the tree.
fn removed(k: &mut Kernel, cap: &Cap, is_final: bool) {
    // Mappings belong to caps.
    match cap.cap_type() {
        CapType::Frame => vspace::unmap_frame_cap(k, cap),
        CapType::PageTable => vspace::unmap_table_cap(k, cap),
        _ => {}
    }
    if is_final {
        destroy(k, cap);
    }
}

/// The final cap to `cap`'s object is gone.
fn destroy(k: &mut Kernel, cap: &Cap) {
    match cap.cap_type() {
        CapType::Endpoint => endpoint::destroy(k, cap.addr()),
        CapType::Notification => notification::destroy(k, cap.addr()),
        CapType::Thread => {
            crate::object::thread::destroy(k, cap.addr());
            push(k, Container::Tcb(cap.addr()));
        }
        CapType::CNode => push(k, Container::CNode(cap.addr(), 1u64 << cap.cnode_radix())),
        CapType::VSpace => vspace::destroy(k, cap),
        CapType::IrqHandler => crate::object::irq::destroy_handler(k, cap),
        // Untyped, frames, page tables, IRQ control, I/O ports, replies:
        // nothing beyond the per-cap unmapping above.
        _ => {}
    }
}

#[derive(Clone, Copy)]
enum Container {
    /// Address and slot count.
    CNode(u64, u64),
    Tcb(u64),
}

/// Slot 0 of a CNode while it waits to be emptied: the list link, the slot
/// count and the next slot to delete.
#[repr(C)]
struct CNodeHeader {
    next: u64,
    slots: u64,
    cursor: u64,
    _pad: [u64; 5],
}
const _: () = assert!(core::mem::size_of::<CNodeHeader>() == 64);

fn header(cnode: u64) -> PhysRef<CNodeHeader> {
    // SAFETY: slot 0 of a CNode is reserved for the kernel and 64 bytes
    // long; the CNode's memory stays allocated until its untyped is revoked
    // and retyped, which cannot happen before `drain` returns.
    unsafe { PhysRef::new(cnode) }
}

const TCB_TAG: u64 = 1;

fn push(k: &mut Kernel, c: Container) {
    let next = k.destroy_list;
    match c {
        Container::CNode(addr, slots) => {
            header(addr).init(CNodeHeader { next, slots, cursor: 1, _pad: [0; 5] });
            k.destroy_list = addr;
        }
        Container::Tcb(addr) => {
            tcb(addr).get_mut().destroy_next = next;
            k.destroy_list = addr | TCB_TAG;
        }
    }
}

/// Empty every container on the destroy list (which may add more).
pub fn drain(k: &mut Kernel) {
    while k.destroy_list != 0 {
        let head = k.destroy_list;
        let Some(slot) = next_occupied(head) else {
            // Empty: unlink it.
            k.destroy_list = if head & TCB_TAG != 0 {
                tcb(head & !TCB_TAG).get().destroy_next
            } else {
                header(head).get().next
            };
            continue;
        };
        if let Ok(d) = kcore::cdt::delete(&mut Slots, slot) {
            removed(k, &d.cap, d.is_final);
        }
    }
}

/// The next occupied slot of a container, advancing its cursor; `None` when
/// it has none left.
fn next_occupied(head: u64) -> Option<SlotId> {
    if head & TCB_TAG != 0 {
        let t = head & !TCB_TAG;
        return (0..TCB_SLOTS).map(|i| tcb_slot(t, i)).find(|&s| !cap_at(s).is_null());
    }
    let h = header(head);
    loop {
        let (cursor, slots) = (h.get().cursor, h.get().slots);
        if cursor >= slots {
            return None;
        }
        h.get_mut().cursor = cursor + 1;
        let slot = Slots.slot_of(head, cursor);
        if !cap_at(slot).is_null() {
            return Some(slot);
        }
    }
}
