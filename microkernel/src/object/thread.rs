//! Thread invocations: configure, registers, resume/suspend, IPC buffer,
//! TLS, notification binding, fault endpoint; and what destroying a thread
//! does. (Scheduling parameters are not set here: only the holder of the
//! SchedControl capability sets them, `object::schedcontrol`.)

use crate::ipc::Message;
use crate::object::Call;
use crate::object::delete::delete_slot;
use crate::object::slots::{Slots, cap_at};
use crate::object::tcb::{
    SLOT_CSPACE, SLOT_FAULT_EP, SLOT_IPC_BUFFER, SLOT_VSPACE, ThreadState, tcb, tcb_slot,
};
use crate::object::{endpoint, notification};
use crate::state::Kernel;
use crate::umem::UserAddr;
use hal::{TrapFrame, TrapFrameOps};
use kcore::{Cap, SlotId};
use libipc::abi::{CapType, Error, Invocation, TraceKind};

pub fn handles(l: Invocation) -> bool {
    matches!(
        l,
        Invocation::ThreadConfigure
            | Invocation::ThreadReadRegisters
            | Invocation::ThreadWriteRegisters
            | Invocation::ThreadResume
            | Invocation::ThreadSuspend
            | Invocation::ThreadSetPriority
            | Invocation::ThreadSetIpcBuffer
            | Invocation::ThreadSetTls
            | Invocation::ThreadBindNotification
            | Invocation::ThreadUnbindNotification
            | Invocation::ThreadSetFaultEndpoint
    )
}

const USER_REGS: usize = <TrapFrame as TrapFrameOps>::USER_REGS;

pub fn invoke(k: &mut Kernel, call: &Call<'_>, reply: &mut Message) -> Result<(), Error> {
    let t = call.cap.addr();
    match call.label {
        Invocation::ThreadConfigure => {
            // A second word (the first scheduler's priority) is ignored.
            let (cs_slot, _) = call.extra_typed(0, CapType::CNode)?;
            let (vs_slot, _) = call.extra_typed(1, CapType::VSpace)?;
            let (buf_slot, buf) = call.extra_typed(2, CapType::Frame)?;
            check_ipc_buffer(call.arg(0)?, &buf)?;
            install(k, t, SLOT_CSPACE, cs_slot)?;
            install(k, t, SLOT_VSPACE, vs_slot)?;
            install(k, t, SLOT_IPC_BUFFER, buf_slot)?;
        }
        Invocation::ThreadReadRegisters => {
            let n = (call.arg(0)? as usize).min(USER_REGS);
            let th = tcb(t).get();
            for i in 0..n {
                reply.push(th.regs.user_reg(i));
            }
        }
        Invocation::ThreadWriteRegisters => {
            if t == call.caller {
                return Err(Error::IllegalOperation);
            }
            let resume = call.arg(0)? != 0;
            let n = call.arg(1)? as usize;
            if n > USER_REGS || n + 2 > call.words.len() {
                return Err(Error::InvalidArgument);
            }
            let th = tcb(t).get_mut();
            for i in 0..n {
                th.regs.set_user_reg(i, call.words[2 + i]);
            }
            if resume {
                resume_thread(k, t);
            }
        }
        Invocation::ThreadResume => resume_thread(k, t),
        Invocation::ThreadSuspend => suspend(k, t),
        // Fixed priorities are gone (scheduling contexts replace them); the
        // label stays reserved.
        Invocation::ThreadSetPriority => return Err(Error::IllegalOperation),
        Invocation::ThreadSetIpcBuffer => {
            let (buf_slot, buf) = call.extra_typed(0, CapType::Frame)?;
            check_ipc_buffer(call.arg(0)?, &buf)?;
            install(k, t, SLOT_IPC_BUFFER, buf_slot)?;
        }
        Invocation::ThreadSetTls => {
            let v = call.arg(0)?;
            UserAddr::new(v.max(1), 1, 1)?;
            tcb(t).get_mut().regs.set_tls(v);
        }
        Invocation::ThreadBindNotification => {
            let (_, n) = call.extra_typed(0, CapType::Notification)?;
            notification::bind(n.addr(), t)?;
        }
        Invocation::ThreadUnbindNotification => notification::unbind(t),
        Invocation::ThreadSetFaultEndpoint => {
            if call.extra_caps == 0 {
                clear(k, t, SLOT_FAULT_EP)?;
            } else {
                let (ep_slot, _) = call.extra_typed(0, CapType::Endpoint)?;
                install(k, t, SLOT_FAULT_EP, ep_slot)?;
            }
        }
        _ => return Err(Error::IllegalOperation),
    }
    Ok(())
}

fn check_ipc_buffer(vaddr: u64, frame: &Cap) -> Result<(), Error> {
    UserAddr::new(vaddr, 4096, 4096)?;
    if frame.size_bits() != Some(12) || frame.is_device() {
        return Err(Error::InvalidArgument);
    }
    Ok(())
}

/// Replace the cap in TCB slot `i` with a copy of the cap in `src`.
fn install(k: &mut Kernel, t: u64, i: usize, src: SlotId) -> Result<(), Error> {
    let dst = tcb_slot(t, i);
    if dst == src {
        return Ok(());
    }
    clear(k, t, i)?;
    kcore::cdt::copy(&mut Slots, src, dst)
}

fn clear(k: &mut Kernel, t: u64, i: usize) -> Result<(), Error> {
    let slot = tcb_slot(t, i);
    if !cap_at(slot).is_null() {
        delete_slot(k, slot)?;
    }
    Ok(())
}

/// Start an inactive thread.
pub fn resume_thread(k: &mut Kernel, t: u64) {
    if tcb(t).get().state() == ThreadState::Inactive {
        tcb(t).get_mut().fault = 0;
        k.event(TraceKind::Resume, t, 0, 0, 0);
        k.wake(t);
    }
}

/// Stop a thread wherever it is. A blocking syscall it was in returns
/// `Cancelled` when it is resumed.
pub fn suspend(k: &mut Kernel, t: u64) {
    let before = tcb(t).get().state();
    if before != ThreadState::Inactive {
        k.event(TraceKind::Suspend, t, before as u64, 0, 0);
    }
    let blocked = !matches!(before, ThreadState::Running | ThreadState::Inactive);
    endpoint::cancel_ipc(k, t);
    if blocked && tcb(t).get().fault == 0 {
        crate::ipc::set_error(t, Error::Cancelled);
    }
    tcb(t).get_mut().set_state(ThreadState::Inactive);
    k.deschedule(t);
}

/// The last cap to thread `t` is gone: take it off every queue and link.
/// (Its own slots are emptied afterwards by `delete::drain`.)
pub fn destroy(k: &mut Kernel, t: u64) {
    endpoint::cancel_ipc(k, t);
    let caller = tcb(t).get().caller;
    if caller != 0 {
        // Whoever waits for this thread's reply gets an error, not a hang.
        endpoint::cancel_reply_wait(k, caller, Error::InvalidCapability);
    }
    notification::unbind(t);
    tcb(t).get_mut().set_state(ThreadState::Inactive);
    k.deschedule(t);
    k.sc_destroy(t);
    for cpu in k.cpus.iter_mut() {
        if cpu.current == t {
            cpu.current = 0;
        }
        // A new thread may get this TCB's address: switching to it must
        // still be a switch in the trace.
        if cpu.ran == t {
            cpu.ran = 0;
        }
        // Its FP state dies with it: never saved into the freed TCB, never
        // seen by the next thread (nor by a new one at this address).
        if cpu.fp_owner == t {
            cpu.fp_owner = crate::state::FP_STALE;
        }
    }
}

/// The VSpace root thread `t` runs in, if its VSpace slot holds a live one.
pub fn vspace_root(k: &Kernel, t: u64) -> Option<u64> {
    let cap = cap_at(tcb_slot(t, SLOT_VSPACE));
    if cap.cap_type() != CapType::VSpace {
        return None;
    }
    let asid = cap.vspace_asid()?;
    crate::object::vspace::asid_root(k, asid).filter(|&r| r == cap.addr())
}

/// The fault endpoint cap of thread `t`, if it has one.
pub fn fault_endpoint(t: u64) -> Option<Cap> {
    let cap = cap_at(tcb_slot(t, SLOT_FAULT_EP));
    (cap.cap_type() == CapType::Endpoint).then_some(cap)
}
