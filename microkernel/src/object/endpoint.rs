//! Endpoints: synchronous rendezvous between a sender and a receiver.
//!
//! An endpoint is idle, or has a queue of waiting senders, or a queue of
//! waiting receivers (never both). A call is a send after which the sender
//! waits for the receiver's reply; the receiver remembers its caller (one
//! at a time, like seL4's implicit reply capability).

use crate::ipc::{Queue, read_message, set_error, transfer_caps, write_message};
use crate::mem::phys::PhysRef;
use crate::object::notification;
use crate::object::tcb::{FLAG_CALL, FLAG_GRANT, ThreadState, tcb};
use crate::state::Kernel;
use hal::TrapFrameOps;
use kcore::Cap;
use libipc::abi::{
    Error, FAULT_LABEL_BASE, MessageInfo, NOTIFICATION_LABEL, Rights, TraceKind, regs,
};

const IDLE: u64 = 0;
const SENDING: u64 = 1;
const RECEIVING: u64 = 2;

#[repr(C)]
pub struct Endpoint {
    state: u64,
    queue: Queue,
    _pad: u64,
}

const _: () = assert!(core::mem::size_of::<Endpoint>() <= 1 << kcore::untyped::ENDPOINT_BITS);

fn ep(pa: u64) -> PhysRef<Endpoint> {
    // SAFETY: callers pass the address from an endpoint cap or from a
    // thread's `blocked_on` while it is queued there: a live endpoint.
    unsafe { PhysRef::new(pa) }
}

/// Thread `sender` sends on `cap` the message in its registers (`info`).
/// Blocking sends queue the sender when no receiver waits; a call then
/// waits for the reply.
pub fn send(k: &mut Kernel, sender: u64, cap: &Cap, info: MessageInfo, block: bool, call: bool) {
    if !cap.rights().contains(Rights::WRITE) {
        return set_error(sender, Error::InsufficientRights);
    }
    let grant = cap.rights().contains(Rights::GRANT);
    let e = ep(cap.addr());
    if e.get().state == RECEIVING {
        let receiver = pop(e);
        deliver(k, sender, receiver, info, cap.badge(), grant, call);
        if !call {
            set_error(sender, Error::Ok);
        }
        return;
    }
    if !block {
        return set_error(sender, Error::WouldBlock);
    }
    let label = {
        let th = tcb(sender).get_mut();
        th.set_state(ThreadState::BlockedOnSend);
        th.send_badge = cap.badge();
        th.flags = if call { FLAG_CALL } else { 0 } | if grant { FLAG_GRANT } else { 0 };
        // A fault is sent with an empty info word: its label is the fault's.
        if th.fault != 0 { (FAULT_LABEL_BASE + th.fault) as u32 } else { info.label() }
    };
    k.event(TraceKind::SendBlock, sender, cap.addr(), cap.badge(), label);
    k.deschedule(sender);
    let ep = e.get_mut();
    ep.state = SENDING;
    ep.queue.push(sender, cap.addr());
}

/// Thread `receiver` receives on endpoint `cap`.
pub fn receive(k: &mut Kernel, receiver: u64, cap: &Cap, block: bool) {
    if !cap.rights().contains(Rights::READ) {
        return set_error(receiver, Error::InsufficientRights);
    }
    // A signal pending on the bound notification comes first.
    let bound = tcb(receiver).get().bound_notification;
    if bound != 0
        && let Some(word) = notification::take_word(bound)
    {
        return deliver_signal(receiver, word);
    }
    let e = ep(cap.addr());
    if e.get().state == SENDING {
        let sender = pop(e);
        let (info, badge, flags) = {
            let th = tcb(sender).get();
            let info =
                MessageInfo::from_raw(th.regs.syscall_arg(regs::ARG_INFO)).unwrap_or_default();
            (info, th.send_badge, th.flags)
        };
        let call = flags & FLAG_CALL != 0 || tcb(sender).get().fault != 0;
        deliver(k, sender, receiver, info, badge, flags & FLAG_GRANT != 0, call);
        if !call {
            set_error(sender, Error::Ok);
            k.wake(sender);
        }
        return;
    }
    if !block {
        return set_error(receiver, Error::WouldBlock);
    }
    tcb(receiver).get_mut().set_state(ThreadState::BlockedOnRecv);
    k.event(TraceKind::RecvBlock, receiver, cap.addr(), 0, 0);
    k.deschedule(receiver);
    let ep = e.get_mut();
    ep.state = RECEIVING;
    ep.queue.push(receiver, cap.addr());
}

/// Wake `receiver` (blocked or about to block on an endpoint) with a
/// notification word instead of a message.
pub fn deliver_signal(receiver: u64, word: u64) {
    let mut m = crate::ipc::Message::new(NOTIFICATION_LABEL);
    m.len = 0;
    write_message(receiver, word, &m, 0);
}

fn pop(e: PhysRef<Endpoint>) -> u64 {
    let ep = e.get_mut();
    let t = ep.queue.pop().unwrap_or(0);
    if ep.queue.is_empty() {
        ep.state = IDLE;
    }
    t
}

/// Move a message from `sender` to `receiver` and wake the receiver; for a
/// call, link the two for the reply and leave the sender waiting.
fn deliver(
    k: &mut Kernel,
    sender: u64,
    receiver: u64,
    info: MessageInfo,
    badge: u64,
    grant: bool,
    call: bool,
) {
    let m = read_message(sender, info);
    let caps = if grant && info.extra_caps() > 0 {
        transfer_caps(sender, receiver, info.extra_caps())
    } else {
        0
    };
    write_message(receiver, badge, &m, caps);
    if call {
        // A receiver that still owes an earlier caller a reply drops it:
        // that caller gets an error rather than waiting forever.
        let old = tcb(receiver).get().caller;
        if old != 0 && old != sender {
            cancel_reply_wait(k, old, Error::IllegalOperation);
        }
        tcb(receiver).get_mut().caller = sender;
        {
            let th = tcb(sender).get_mut();
            th.set_state(ThreadState::BlockedOnReply);
            th.reply_from = receiver;
        }
        // The receiver runs on the caller's context until it replies.
        k.lend(sender, receiver);
        k.deschedule(sender);
    }
    k.wake(receiver);
    let kind = if call { TraceKind::Call } else { TraceKind::Send };
    k.event(kind, sender, receiver, badge, m.label);
}

/// `replier` answers its caller with the message in its registers.
pub fn reply(k: &mut Kernel, replier: u64, info: MessageInfo) {
    let caller = tcb(replier).get().caller;
    if caller == 0 {
        return;
    }
    // The context the caller lent comes back, whatever the reply does.
    k.take_back(caller);
    tcb(replier).get_mut().caller = 0;
    tcb(caller).get_mut().reply_from = 0;
    if tcb(caller).get().state() != ThreadState::BlockedOnReply {
        return;
    }
    k.event(TraceKind::Reply, replier, caller, 0, info.label());
    if tcb(caller).get().fault != 0 {
        return crate::fault::handle_reply(k, replier, caller, info);
    }
    let m = read_message(replier, info);
    write_message(caller, 0, &m, 0);
    k.wake(caller);
}

/// End thread `t`'s wait for a reply with error `e`.
pub fn cancel_reply_wait(k: &mut Kernel, t: u64, e: Error) {
    k.take_back(t);
    let from = tcb(t).get().reply_from;
    if from != 0 && tcb(from).get().caller == t {
        tcb(from).get_mut().caller = 0;
    }
    tcb(t).get_mut().reply_from = 0;
    if tcb(t).get().state() == ThreadState::BlockedOnReply {
        tcb(t).get_mut().fault = 0;
        set_error(t, e);
        k.wake(t);
    }
}

/// Take thread `t` out of whatever IPC it is blocked in, without waking it.
pub fn cancel_ipc(k: &mut Kernel, t: u64) {
    let (state, on) = {
        let th = tcb(t).get();
        (th.state(), th.blocked_on)
    };
    match state {
        ThreadState::BlockedOnSend | ThreadState::BlockedOnRecv => {
            let e = ep(on).get_mut();
            e.queue.remove(t);
            if e.queue.is_empty() {
                e.state = IDLE;
            }
        }
        ThreadState::BlockedOnNotification => notification::remove_waiter(on, t),
        ThreadState::BlockedOnReply => {
            k.take_back(t);
            let from = tcb(t).get().reply_from;
            if from != 0 && tcb(from).get().caller == t {
                tcb(from).get_mut().caller = 0;
            }
            tcb(t).get_mut().reply_from = 0;
        }
        ThreadState::Running | ThreadState::Inactive => {}
    }
    tcb(t).get_mut().flags = 0;
}

/// The last cap to endpoint `pa` is gone: every queued thread fails.
pub fn destroy(k: &mut Kernel, pa: u64) {
    let e = ep(pa);
    while let Some(t) = e.get_mut().queue.pop() {
        let fault = tcb(t).get().fault != 0;
        if fault {
            // A faulting thread whose handler vanished stays stopped.
            tcb(t).get_mut().set_state(ThreadState::Inactive);
        } else {
            set_error(t, Error::InvalidCapability);
            k.wake(t);
        }
    }
    e.get_mut().state = IDLE;
}

/// The first receiver waiting on endpoint `pa`, if receivers wait.
pub fn waiting_receiver(pa: u64) -> Option<u64> {
    let e = ep(pa).get();
    (e.state == RECEIVING && e.queue.head != 0).then_some(e.queue.head)
}

/// Whether senders wait on endpoint `pa`.
pub fn has_sender(pa: u64) -> bool {
    ep(pa).get().state == SENDING
}

/// Take `receiver` (the head of the receive queue) off endpoint `pa`.
pub fn take_receiver(pa: u64, receiver: u64) {
    let e = ep(pa).get_mut();
    e.queue.remove(receiver);
    if e.queue.is_empty() {
        e.state = IDLE;
    }
}

/// Queue `t` to receive on endpoint `pa` (which has no senders waiting),
/// for the fastpath: its context is already blocked for the policy (it
/// ran on a caller's), and the fastpath makes another thread current.
pub fn block_receiver_quiet(k: &mut Kernel, t: u64, pa: u64) {
    tcb(t).get_mut().set_state(ThreadState::BlockedOnRecv);
    k.event(TraceKind::RecvBlock, t, pa, 0, 0);
    let e = ep(pa).get_mut();
    e.state = RECEIVING;
    e.queue.push(t, pa);
}

/// Whether thread `t` is queued on endpoint `pa` to receive (for signals
/// to a bound thread).
pub fn is_receiving(t: u64) -> bool {
    tcb(t).get().state() == ThreadState::BlockedOnRecv
}
