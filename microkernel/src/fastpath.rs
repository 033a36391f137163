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
//! space; and the policy would pick it. That last one holds because of
//! donation (`crate::sched`): a call lends the running caller's context to
//! the receiver, and the reply gives it back, so the context the policy
//! chose stays ready and chosen while only its runner changes, and the
//! receiver's own context was blocked before and stays blocked. The
//! fastpath therefore applies when the receiver is on its own context (it
//! holds no other caller's) and, for the reply, when the server holds the
//! caller's context; it moves the context like `Kernel::lend` and
//! `Kernel::take_back` without telling the policy anything, which would
//! not change its decision. (If the decision's time is up, the timer
//! interrupt is pending and taken as soon as the thread runs.)

use crate::object::endpoint;
use crate::object::slots::lookup;
use crate::object::tcb::{ThreadState, tcb};
use crate::object::thread::vspace_root;
use crate::sched::SC_NONE;
use crate::state::Kernel;
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

/// Would a call from `caller` run `receiver` next? The call lends it the
/// caller's context, the one running: yes if the caller has one to lend
/// and the receiver is on its own (`Kernel::lend`'s conditions).
fn call_runs_next(k: &Kernel, caller: u64, receiver: u64) -> bool {
    let (c, r) = (tcb(caller).get(), tcb(receiver).get());
    c.on_sc != SC_NONE
        && c.lent == SC_NONE
        && r.sc != SC_NONE
        && r.on_sc == r.sc
        && r.lent == SC_NONE
        && vspace_root(k, receiver).is_some()
}

/// Would a reply from `server` run `caller` next? Yes if the server runs
/// on the context the caller lent it, which the reply gives back.
fn reply_runs_next(k: &Kernel, server: u64, caller: u64) -> bool {
    let (s, c) = (tcb(server).get(), tcb(caller).get());
    c.lent != SC_NONE
        && s.on_sc == c.lent
        && s.lent == SC_NONE
        && s.sc != SC_NONE
        && k.sc_runner_of(c.lent) == server
        && vspace_root(k, caller).is_some()
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

/// Make `next` the running thread in place of `prev`, which blocked: the
/// context moved with them, and the policy's decision stands.
fn switch_to(k: &mut Kernel, next: u64) {
    tcb(next).get_mut().set_state(ThreadState::Running);
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
    if tcb(receiver).get().caller != 0 || !call_runs_next(k, t, receiver) {
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
    k.lend_quiet(t, receiver);
    switch_to(k, receiver);
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
        || !reply_runs_next(k, t, caller)
    {
        return false;
    }
    // Perform: endpoint::reply, then endpoint::receive blocking (which
    // records the receive block after the reply, as there).
    k.event(TraceKind::Reply, t, caller, 0, info.label());
    k.give_back_quiet(t, caller);
    transfer(t, caller, 0, info);
    tcb(t).get_mut().caller = 0;
    {
        let c = tcb(caller).get_mut();
        c.reply_from = 0;
        c.set_state(ThreadState::Running);
    }
    endpoint::block_receiver_quiet(k, t, cap.addr());
    switch_to(k, caller);
    REPLIES.fetch_add(1, Ordering::Relaxed);
    true
}
