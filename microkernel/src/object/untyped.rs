//! Untyped memory: retyped into kernel objects and smaller untyped. Objects
//! are carved at the untyped's watermark, naturally aligned; fresh memory is
//! zeroed (device memory never is). Retype is the only way kernel objects
//! come to exist after boot.

use crate::kprintln;
use crate::mem::phys::{self, PhysRef};
use crate::object::Call;
use crate::object::slots::{Slots, dest_slot, update_cap};
use crate::object::tcb::Tcb;
use crate::object::vspace;
use crate::sched::ScReservation;
use crate::state::Kernel;
use kcore::Cap;
use libipc::abi::{CapType, Error};

/// Most objects one retype makes.
pub const MAX_RETYPE_COUNT: u64 = 256;

pub fn retype(k: &mut Kernel, call: &Call<'_>) -> Result<(), Error> {
    // ---- decode and check: no side effects ----
    let ty = u32::try_from(call.arg(0)?)
        .ok()
        .and_then(|t| CapType::try_from(t).ok())
        .ok_or(Error::InvalidArgument)?;
    if !matches!(
        ty,
        CapType::Untyped
            | CapType::CNode
            | CapType::Endpoint
            | CapType::Notification
            | CapType::Thread
            | CapType::Frame
            | CapType::PageTable
            | CapType::VSpace
    ) {
        return Err(Error::InvalidArgument);
    }
    let user_bits = u8::try_from(call.arg(1)?).map_err(|_| Error::RangeError)?;
    let dest_index = call.arg(2)?;
    let count = call.arg(3)?;
    if count == 0 || count > MAX_RETYPE_COUNT {
        return Err(Error::RangeError);
    }
    let (_, dest_cnode) = call.extra_typed(0, CapType::CNode)?;

    let ut = kcore::cdt::retype_source(&Slots, call.slot)?;
    if !kcore::retype_allowed(call.cap.is_device(), ty) {
        return Err(Error::InvalidArgument);
    }
    let obj_bits = kcore::object_size_bits(ty, user_bits)?;
    // A child untyped as large as its parent would be indistinguishable from
    // a copy of it in the derivation tree: copy the cap instead.
    if ty == CapType::Untyped && call.cap.size_bits() == Some(obj_bits) {
        return Err(Error::RangeError);
    }
    let plan = ut.plan_retype(obj_bits, count)?;
    let mut dests = [kcore::SlotId::NONE; MAX_RETYPE_COUNT as usize];
    for (i, d) in dests.iter_mut().enumerate().take(count as usize) {
        let index = dest_index.checked_add(i as u64).ok_or(Error::RangeError)?;
        *d = dest_slot(&dest_cnode, index)?;
        // Two destinations cannot be the same slot: indices differ.
    }
    if ty == CapType::VSpace && vspace::free_asids(k) < count as usize {
        return Err(Error::NotEnoughMemory);
    }
    // The destination CNode must not lie in the memory being carved.
    let carve_start = plan.object_addr(0).ok_or(Error::RangeError)?;
    let carve_end = carve_start + (count << obj_bits);
    let dn = dest_cnode.addr();
    let dn_end = dn + (1u64 << (dest_cnode.cnode_radix() + kcore::untyped::SLOT_BITS));
    if dn < carve_end && carve_start < dn_end {
        return Err(Error::IllegalOperation);
    }
    // Every thread gets a scheduling context of this CPU's fixed table,
    // taken here, last of the checks, for all of them at once (`TableFull`
    // and nothing taken if there are not enough): carving cannot then
    // make a thread without one.
    let mut contexts = match ty {
        CapType::Thread => Some(k.sc_reserve(count as usize)?),
        _ => None,
    };

    // ---- perform: cannot fail ----
    for (i, &dst) in dests.iter().enumerate().take(count as usize) {
        let Some(addr) = plan.object_addr(i as u64) else { break };
        let mut cap = match Cap::for_object(ty, addr, user_bits, call.cap.is_device()) {
            Ok(c) => c,
            Err(_) => break,
        };
        init_object(k, ty, addr, obj_bits, call.cap.is_device(), &mut cap, contexts.as_mut());
        if kcore::cdt::insert_child(&mut Slots, call.slot, dst, cap).is_err() {
            break;
        }
    }
    // Contexts no thread got (only if the loop above stopped early, which
    // the checks rule out) go back.
    if let Some(r) = contexts {
        k.sc_unreserve(r);
    }
    let watermark = plan.new_watermark;
    update_cap(call.slot, |c| {
        let _ = c.set_untyped_watermark(watermark);
    });
    Ok(())
}

fn init_object(
    k: &mut Kernel,
    ty: CapType,
    addr: u64,
    bits: u8,
    device: bool,
    cap: &mut Cap,
    contexts: Option<&mut ScReservation>,
) {
    if ty == CapType::Untyped || device {
        return;
    }
    // SAFETY: the range was just carved from the untyped past its
    // watermark: every earlier object there is gone (the watermark only
    // resets when the untyped has no children), and it is RAM (not device).
    unsafe { phys::zero(addr, 1u64 << bits) };
    match ty {
        CapType::Thread => {
            // SAFETY: a fresh, zeroed, aligned block of THREAD_BITS bytes.
            let t: PhysRef<Tcb> = unsafe { PhysRef::new(addr) };
            t.init(Tcb::new());
            // Reserved before performing, one per thread: attaching cannot
            // fail (if it did, it says so on the console).
            match contexts {
                Some(r) => {
                    let _ = k.sc_attach(r, addr);
                }
                None => kprintln!("kernel: sched: context for {:#x} was not reserved", addr),
            }
        }
        CapType::VSpace => {
            // Checked before performing: an ASID is free.
            if let Some(asid) = vspace::create(k, addr) {
                *cap = Cap::vspace_with_asid(addr, asid);
            }
        }
        _ => {}
    }
}
