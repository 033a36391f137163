//! Notifications: a word of badge bits that signals OR into, and threads
//! waiting for it to become non-zero. A notification bound to a thread also
//! wakes that thread's receive on an endpoint. Interrupts arrive as signals.

use crate::ipc::{Queue, set_error, write_message};
use crate::mem::phys::PhysRef;
use crate::object::endpoint;
use crate::object::tcb::{ThreadState, tcb};
use crate::state::Kernel;
use kcore::Cap;
use libipc::abi::{Error, Rights, TraceKind};

#[repr(C)]
pub struct Notification {
    word: u64,
    queue: Queue,
    /// The thread this notification is bound to (0 = none).
    bound: u64,
}

const _: () =
    assert!(core::mem::size_of::<Notification>() <= 1 << kcore::untyped::NOTIFICATION_BITS);

fn ntfn(pa: u64) -> PhysRef<Notification> {
    // SAFETY: callers pass addresses from notification caps, from a
    // thread's `bound_notification` or `blocked_on`, or from the IRQ table:
    // all cleared when the notification is destroyed.
    unsafe { PhysRef::new(pa) }
}

/// OR `badge` into notification `pa`, waking a waiter or the bound thread.
/// `by` is the signalling thread (0: an interrupt), for the trace.
pub fn signal(k: &mut Kernel, by: u64, pa: u64, badge: u64) {
    let n = ntfn(pa);
    let woken = if let Some(t) = n.get_mut().queue.pop() {
        let word = n.get().word | badge;
        n.get_mut().word = 0;
        deliver(t, word);
        k.wake(t);
        t
    } else {
        let bound = n.get().bound;
        if bound != 0 && endpoint::is_receiving(bound) {
            let word = n.get().word | badge;
            n.get_mut().word = 0;
            endpoint::cancel_ipc(k, bound);
            endpoint::deliver_signal(bound, word);
            k.wake(bound);
            bound
        } else {
            n.get_mut().word |= badge;
            0
        }
    };
    k.event(TraceKind::Signal, by, pa, woken, badge as u32);
}

fn deliver(t: u64, word: u64) {
    let m = crate::ipc::Message::new(0);
    write_message(t, word, &m, 0);
}

/// Send on a notification cap: a signal with the cap's badge.
pub fn send(k: &mut Kernel, sender: u64, cap: &Cap) {
    if !cap.rights().contains(Rights::WRITE) {
        return set_error(sender, Error::InsufficientRights);
    }
    signal(k, sender, cap.addr(), cap.badge());
    set_error(sender, Error::Ok);
}

/// Wait (or poll) on a notification cap.
pub fn wait(k: &mut Kernel, t: u64, cap: &Cap, block: bool) {
    if !cap.rights().contains(Rights::READ) {
        return set_error(t, Error::InsufficientRights);
    }
    if let Some(word) = take_word(cap.addr()) {
        return deliver(t, word);
    }
    if !block {
        return set_error(t, Error::WouldBlock);
    }
    tcb(t).get_mut().set_state(ThreadState::BlockedOnNotification);
    k.event(TraceKind::RecvBlock, t, cap.addr(), 0, 0);
    k.deschedule(t);
    ntfn(cap.addr()).get_mut().queue.push(t, cap.addr());
}

/// Take the pending word of notification `pa`, if non-zero.
pub fn take_word(pa: u64) -> Option<u64> {
    let n = ntfn(pa).get_mut();
    if n.word == 0 {
        return None;
    }
    let w = n.word;
    n.word = 0;
    Some(w)
}

pub fn remove_waiter(pa: u64, t: u64) {
    ntfn(pa).get_mut().queue.remove(t);
}

/// Bind notification `pa` to thread `t`. Errors if either is bound already.
pub fn bind(pa: u64, t: u64) -> Result<(), Error> {
    if ntfn(pa).get().bound != 0 || tcb(t).get().bound_notification != 0 {
        return Err(Error::IllegalOperation);
    }
    ntfn(pa).get_mut().bound = t;
    tcb(t).get_mut().bound_notification = pa;
    Ok(())
}

/// Unbind thread `t` from its notification, if any.
pub fn unbind(t: u64) {
    let pa = tcb(t).get().bound_notification;
    if pa != 0 {
        ntfn(pa).get_mut().bound = 0;
        tcb(t).get_mut().bound_notification = 0;
    }
}

/// The last cap to notification `pa` is gone.
pub fn destroy(k: &mut Kernel, pa: u64) {
    let n = ntfn(pa);
    while let Some(t) = n.get_mut().queue.pop() {
        set_error(t, Error::InvalidCapability);
        k.wake(t);
    }
    let bound = n.get().bound;
    if bound != 0 {
        unbind(bound);
    }
    for irq in k.irqs.iter_mut().filter(|i| i.notification == pa) {
        irq.notification = 0;
    }
}
