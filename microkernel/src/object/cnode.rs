//! CNodes: arrays of capability slots. Invocations on a CNode cap copy,
//! mint, move, delete, revoke and identify the caps in its slots; a source
//! slot in another CNode is named by an extra cap. Slot 0 of every CNode is
//! reserved for the kernel.

use crate::ipc::Message;
use crate::object::Call;
use crate::object::delete::{delete_slot, revoke_slot};
use crate::object::slots::{Slots, cap_at, cnode_slot, dest_slot};
use crate::state::Kernel;
use libipc::abi::{CapType, Error, Invocation, Rights};

pub fn handles(l: Invocation) -> bool {
    matches!(
        l,
        Invocation::CNodeCopy
            | Invocation::CNodeMint
            | Invocation::CNodeMove
            | Invocation::CNodeDelete
            | Invocation::CNodeRevoke
            | Invocation::CNodeIdentify
    )
}

pub fn invoke(k: &mut Kernel, call: &Call<'_>, reply: &mut Message) -> Result<(), Error> {
    match call.label {
        Invocation::CNodeCopy | Invocation::CNodeMint | Invocation::CNodeMove => {
            let dst = dest_slot(&call.cap, call.arg(0)?)?;
            let (_, src_node) = call.extra_typed(0, CapType::CNode)?;
            let src = cnode_slot(&src_node, call.arg(1)?)?;
            if cap_at(src).is_null() {
                return Err(Error::InvalidCapability);
            }
            match call.label {
                Invocation::CNodeMove => kcore::cdt::move_cap(&mut Slots, src, dst),
                Invocation::CNodeCopy => {
                    let rights = rights(call.arg(2)?)?;
                    kcore::cdt::mint(&mut Slots, src, dst, rights, 0)
                }
                _ => {
                    let rights = rights(call.arg(2)?)?;
                    kcore::cdt::mint(&mut Slots, src, dst, rights, call.arg(3)?)
                }
            }
        }
        Invocation::CNodeDelete => {
            let slot = cnode_slot(&call.cap, call.arg(0)?)?;
            if cap_at(slot).is_null() {
                return Ok(());
            }
            delete_slot(k, slot)
        }
        Invocation::CNodeRevoke => {
            let slot = cnode_slot(&call.cap, call.arg(0)?)?;
            if cap_at(slot).is_null() {
                return Err(Error::InvalidCapability);
            }
            revoke_slot(k, slot)
        }
        Invocation::CNodeIdentify => {
            // Whoever holds the CNode cap may use every cap in it, so
            // telling what they are gives away nothing new: no right is
            // needed. An empty slot is a null cap, not an error.
            let cap = cap_at(cnode_slot(&call.cap, call.arg(0)?)?);
            reply.push(cap.cap_type() as u64);
            reply.push(u64::from(cap.rights().bits()));
            reply.push(u64::from(cap.badge() != 0));
            Ok(())
        }
        _ => Err(Error::IllegalOperation),
    }
}

fn rights(raw: u64) -> Result<Rights, Error> {
    u32::try_from(raw).ok().and_then(Rights::from_bits).ok_or(Error::InvalidArgument)
}
