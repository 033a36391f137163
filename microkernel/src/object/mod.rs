//! Kernel objects, one module each, and the one dispatch on capability type.
//!
//! Every invocation decodes and checks all its arguments first, with no side
//! effect, and only then performs a change that cannot fail (seL4's
//! discipline): an invocation that returns an error changed nothing.

pub mod cnode;
pub mod delete;
pub mod endpoint;
pub mod irq;
pub mod notification;
pub mod schedcontrol;
pub mod slots;
pub mod tcb;
pub mod thread;
pub mod trace;
pub mod untyped;
pub mod vspace;

use crate::ipc::{Message, ipc_buffer};
use crate::state::Kernel;
use kcore::{Cap, SlotId};
use libipc::abi::{CapType, Error, Invocation, MSG_MAX_CAPS};

/// One invocation: who calls, on which cap, with which label and words.
pub struct Call<'a> {
    pub caller: u64,
    pub slot: SlotId,
    pub cap: Cap,
    pub label: Invocation,
    pub words: &'a [u64],
    pub extra_caps: usize,
}

impl Call<'_> {
    /// Message word `i`, or `InvalidArgument` if the message is too short.
    pub fn arg(&self, i: usize) -> Result<u64, Error> {
        self.words.get(i).copied().ok_or(Error::InvalidArgument)
    }

    /// Extra capability `i` (named in the caller's IPC buffer), resolved in
    /// the caller's CSpace.
    pub fn extra(&self, i: usize) -> Result<(SlotId, Cap), Error> {
        if i >= self.extra_caps || i >= MSG_MAX_CAPS {
            return Err(Error::InvalidArgument);
        }
        let buf = ipc_buffer(self.caller).ok_or(Error::InvalidArgument)?;
        let cptr = buf.get().caps_or_badges[i];
        slots::lookup(self.caller, cptr)
    }

    /// Extra capability `i`, which must be of type `ty`.
    pub fn extra_typed(&self, i: usize, ty: CapType) -> Result<(SlotId, Cap), Error> {
        let (slot, cap) = self.extra(i)?;
        if cap.cap_type() != ty {
            return Err(Error::WrongType);
        }
        Ok((slot, cap))
    }
}

/// Perform `call` on the object its cap names. The reply words are returned.
pub fn invoke(k: &mut Kernel, call: &Call<'_>) -> Result<Message, Error> {
    let ty = call.cap.cap_type();
    let mut reply = Message::new(0);
    match (ty, call.label) {
        (CapType::Untyped, Invocation::UntypedRetype) => untyped::retype(k, call)?,
        (CapType::CNode, l) if cnode::handles(l) => cnode::invoke(k, call, &mut reply)?,
        (CapType::Thread, l) if thread::handles(l) => thread::invoke(k, call, &mut reply)?,
        (CapType::Frame, Invocation::FrameMap) => {
            let (_, vspace) = call.extra(0)?;
            vspace::map_frame(k, call.slot, &call.cap, &vspace, call.arg(0)?, call.arg(1)?)?
        }
        (CapType::Frame, Invocation::FrameUnmap) => vspace::unmap_frame(k, call.slot, &call.cap),
        (CapType::Frame, Invocation::FrameRemap) => {
            vspace::remap_frame(k, &call.cap, call.arg(0)?)?
        }
        (CapType::Frame, Invocation::FrameGetAddress) => {
            reply.push(call.cap.addr());
            reply.push(1u64 << call.cap.size_bits().unwrap_or(12));
        }
        (CapType::PageTable, Invocation::PageTableMap) => {
            let (_, vspace) = call.extra(0)?;
            vspace::map_table(k, call.slot, &call.cap, &vspace, call.arg(0)?)?
        }
        (CapType::PageTable, Invocation::PageTableUnmap) => {
            vspace::unmap_table(k, call.slot, &call.cap)
        }
        (CapType::IrqControl | CapType::IrqHandler | CapType::IoPort, l) if irq::handles(l) => {
            irq::invoke(k, call, &mut reply)?
        }
        (CapType::Trace, Invocation::TraceRead) => trace::read(k, call, &mut reply)?,
        (CapType::SchedControl, Invocation::SchedControlConfigure) => {
            schedcontrol::configure(k, call)?
        }
        _ => return Err(Error::IllegalOperation),
    }
    Ok(reply)
}
