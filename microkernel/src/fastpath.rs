//! The IPC fastpath: Call and ReplyRecv in their most common form, done in
//! one straight line instead of through the general message, queue and
//! scheduler code.
//!
//! It is only an optimisation of the slow path: every condition below is
//! checked first, and if any fails the syscall goes the slow way with
//! nothing changed. What it does when it applies is exactly what the slow
//! path would do (the same registers, the same thread states, the same
//! thread running next, the same trace events in the same order); the
//! kernel test suite runs with and without it (`rint.fastpath=off`) to hold
//! it to that.
//!
//! Conditions for both: the message has at most 4 words (all in registers)
//! and no capabilities; the thread that will run next has a live address
//! space and a priority higher than any ready thread's, so the scheduler
//! would pick it anyway.

use crate::object::endpoint;
use crate::object::slots::lookup;
use crate::object::tcb::{ThreadState, tcb};
use crate::object::thread::vspace_root;
use crate::state::{Kernel, TIMESLICE_TICKS};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hal::TrapFrameOps;
use libipc::abi::{CapType, Error, MSG_REGISTERS, MessageInfo, Rights, Syscall, TraceKind, regs};

/// Off with `rint.fastpath=off`.
pub static ENABLED: AtomicBool = AtomicBool::new(true);
/// How often each fastpath ran (reported by `rint.exit_on_idle`).
pub static CALLS: AtomicU64 = AtomicU64::new(0);
pub static REPLIES: AtomicU64 = AtomicU64::new(0);

/// Try the fastpath for syscall `sc` of the current thread `t`. Returns
/// `true` if it handled the syscall.
pub fn try_fast(k: &mut Kernel, t: u64, sc: Syscall, cptr: u64, info: MessageInfo) -> bool {
    if !ENABLED.load(Ordering::Relaxed)
        || info.length() > MSG_REGISTERS
        || info.extra_caps() != 0
        || tcb(t).get().fault != 0
    {
        return false;
    }
    match sc {
        Syscall::Call => call(k, t, cptr, info),
        Syscall::ReplyRecv => reply_recv(k, t, cptr, info),
        _ => false,
    }
}

/// Would the scheduler run `next` now, ahead of every ready thread? It
/// must outrank them all: a ready thread of the same priority would run
/// first on the slow path (the woken thread joins the tail of its queue).
fn runs_next(k: &Kernel, next: u64) -> bool {
    let prio = tcb(next).get().priority as usize;
    k.top_priority().is_none_or(|top| top < prio) && vspace_root(k, next).is_some()
}

/// Copy the message words of `from` (registers) to `to`'s results, with
/// the badge and the info word, as `ipc::write_message` does.
fn transfer(from: u64, to: u64, badge: u64, info: MessageInfo) {
    let mut words = [0u64; MSG_REGISTERS];
    {
        let r = &tcb(from).get().regs;
        for (i, w) in words.iter_mut().enumerate().take(info.length()) {
            *w = r.syscall_arg(regs::ARG_MR0 + i);
        }
    }
    let out = MessageInfo::new(info.label(), info.length(), 0).unwrap_or_default();
    let r = &mut tcb(to).get_mut().regs;
    for (i, w) in words.iter().enumerate().take(info.length()) {
        r.set_syscall_result(regs::RES_MR0 + i, *w);
    }
    r.set_syscall_result(regs::RES_ERROR, Error::Ok as u64);
    r.set_syscall_result(regs::RES_BADGE, badge);
    r.set_syscall_result(regs::RES_INFO, out.raw());
}

/// Make `next` the running thread in place of the blocked `prev`, as the
/// scheduler would (a used-up time slice is refilled on a switch).
fn switch_to(k: &mut Kernel, prev: u64, next: u64) {
    k.deschedule(prev);
    let th = tcb(next).get_mut();
    th.set_state(ThreadState::Running);
    if th.timeslice == 0 {
        th.timeslice = TIMESLICE_TICKS;
    }
    k.cpu().current = next;
}

/// Call on an endpoint with a receiver waiting: hand the message over and
/// run the receiver.
fn call(k: &mut Kernel, t: u64, cptr: u64, info: MessageInfo) -> bool {
    let Ok((_, cap)) = lookup(t, cptr) else { return false };
    if cap.cap_type() != CapType::Endpoint || !cap.rights().contains(Rights::WRITE) {
        return false;
    }
    let Some(receiver) = endpoint::waiting_receiver(cap.addr()) else { return false };
    if tcb(receiver).get().caller != 0 || !runs_next(k, receiver) {
        return false;
    }
    // Perform: the same end state as endpoint::send + deliver.
    endpoint::take_receiver(cap.addr(), receiver);
    transfer(t, receiver, cap.badge(), info);
    tcb(receiver).get_mut().caller = t;
    {
        let th = tcb(t).get_mut();
        th.set_state(ThreadState::BlockedOnReply);
        th.reply_from = receiver;
    }
    switch_to(k, t, receiver);
    k.event(TraceKind::Call, t, receiver, cap.badge(), info.label());
    CALLS.fetch_add(1, Ordering::Relaxed);
    true
}

/// ReplyRecv by a server whose caller waits, on an endpoint with no sender
/// waiting: answer the caller, queue the server, run the caller.
fn reply_recv(k: &mut Kernel, t: u64, cptr: u64, info: MessageInfo) -> bool {
    let caller = tcb(t).get().caller;
    if caller == 0 {
        return false;
    }
    {
        let c = tcb(caller).get();
        if c.state() != ThreadState::BlockedOnReply || c.fault != 0 || c.reply_from != t {
            return false;
        }
    }
    let Ok((_, cap)) = lookup(t, cptr) else { return false };
    if cap.cap_type() != CapType::Endpoint
        || !cap.rights().contains(Rights::READ)
        || endpoint::has_sender(cap.addr())
        || tcb(t).get().bound_notification != 0
        || !runs_next(k, caller)
    {
        return false;
    }
    // Perform: endpoint::reply, then endpoint::receive blocking (which
    // records the receive block after the reply, as there).
    k.event(TraceKind::Reply, t, caller, 0, info.label());
    transfer(t, caller, 0, info);
    tcb(t).get_mut().caller = 0;
    {
        let c = tcb(caller).get_mut();
        c.reply_from = 0;
        c.set_state(ThreadState::Running);
    }
    endpoint::block_receiver(k, t, cap.addr());
    switch_to(k, t, caller);
    REPLIES.fetch_add(1, Ordering::Relaxed);
    true
}
