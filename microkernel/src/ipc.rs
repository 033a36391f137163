//! Message transfer between threads, and the wait queues of endpoints and
//! notifications.
//!
//! A message is up to 120 words: the first four travel in registers
//! (`libipc::abi::regs`), the rest in the sender's and receiver's IPC
//! buffers, which the kernel reaches through the direct map via the frame
//! cap in each TCB (never through a user pointer). A thread without an IPC
//! buffer sends and receives at most four words; the receiver sees the
//! length actually delivered in the message-info word.

use crate::mem::phys::PhysRef;
use crate::object::slots::{Slots, cap_at, dest_slot, lookup, lookup_typed};
use crate::object::tcb::{SLOT_IPC_BUFFER, tcb, tcb_slot};
use hal::TrapFrameOps;
use libipc::abi::{
    CapType, Error, FAULT_LABEL_BASE, FaultKind, IpcBuffer, MSG_MAX_CAPS, MSG_MAX_WORDS,
    MSG_REGISTERS, MessageInfo, regs,
};

/// The IPC buffer of thread `t`, if it has one.
pub fn ipc_buffer(t: u64) -> Option<PhysRef<IpcBuffer>> {
    let cap = cap_at(tcb_slot(t, SLOT_IPC_BUFFER));
    if cap.cap_type() != CapType::Frame {
        return None;
    }
    // SAFETY: the TCB's slot holds a cap to a frame of at least 4 KiB (the
    // kernel checks that when it is installed); the frame stays allocated
    // while a cap to it exists, and an `IpcBuffer` is plain words, valid for
    // any bytes.
    Some(unsafe { PhysRef::new(cap.addr()) })
}

/// A message being moved.
pub struct Message {
    pub label: u32,
    pub len: usize,
    pub words: [u64; MSG_MAX_WORDS],
}

impl Message {
    pub fn new(label: u32) -> Message {
        Message { label, len: 0, words: [0; MSG_MAX_WORDS] }
    }

    pub fn push(&mut self, w: u64) {
        if let Some(slot) = self.words.get_mut(self.len) {
            *slot = w;
            self.len += 1;
        }
    }
}

/// Read the message thread `t` is sending, described by `info`. A pending
/// fault is the message instead.
pub fn read_message(t: u64, info: MessageInfo) -> Message {
    let th = tcb(t).get();
    if let Ok(kind) = FaultKind::try_from(th.fault as u32) {
        return fault_message(t, kind);
    }
    let mut m = Message::new(info.label());
    let buf = ipc_buffer(t);
    let len = if buf.is_some() { info.length() } else { info.length().min(MSG_REGISTERS) };
    for i in 0..len {
        let w = if i < MSG_REGISTERS {
            th.regs.syscall_arg(regs::ARG_MR0 + i)
        } else {
            buf.map_or(0, |b| b.get().msg.get(i).copied().unwrap_or(0))
        };
        m.push(w);
    }
    m
}

fn fault_message(t: u64, kind: FaultKind) -> Message {
    let th = tcb(t).get();
    let mut m = Message::new((FAULT_LABEL_BASE + kind as u64) as u32);
    match kind {
        FaultKind::UnknownSyscall => {
            for i in 0..<hal::TrapFrame as TrapFrameOps>::USER_REGS {
                m.push(th.regs.user_reg(i));
            }
        }
        FaultKind::PageFault | FaultKind::UserException => {
            m.push(th.regs.pc());
            m.push(th.fault_data[0]);
            m.push(th.fault_data[1]);
        }
        FaultKind::IllegalInstruction | FaultKind::CapFault => {
            m.push(th.regs.pc());
            m.push(th.fault_data[0]);
        }
    }
    m
}

/// Deliver `m` to thread `t` as the result of its receive (or call):
/// success, the badge, the info word, the words. Returns the length
/// delivered.
pub fn write_message(t: u64, badge: u64, m: &Message, caps: usize) -> usize {
    let buf = ipc_buffer(t);
    let len = if buf.is_some() { m.len } else { m.len.min(MSG_REGISTERS) };
    let th = tcb(t).get_mut();
    for i in 0..len.min(MSG_REGISTERS) {
        th.regs.set_syscall_result(regs::RES_MR0 + i, m.words[i]);
    }
    if let Some(b) = buf {
        let b = b.get_mut();
        for i in MSG_REGISTERS..len {
            if let Some(slot) = b.msg.get_mut(i) {
                *slot = m.words[i];
            }
        }
    }
    let info = MessageInfo::new(m.label, len, caps.min(MSG_MAX_CAPS)).unwrap_or_default();
    th.regs.set_syscall_result(regs::RES_ERROR, Error::Ok as u64);
    th.regs.set_syscall_result(regs::RES_BADGE, badge);
    th.regs.set_syscall_result(regs::RES_INFO, info.raw());
    len
}

/// Set only the error result of thread `t` (a failed or cancelled operation).
pub fn set_error(t: u64, e: Error) {
    let th = tcb(t).get_mut();
    th.regs.set_syscall_result(regs::RES_ERROR, e as u64);
    th.regs.set_syscall_result(regs::RES_INFO, 0);
}

/// Copy up to `count` caps named in the sender's IPC buffer into the
/// receiver's receive window. Stops at the first that cannot move (no
/// window, occupied slot, bad cptr). Returns how many arrived.
pub fn transfer_caps(sender: u64, receiver: u64, count: usize) -> usize {
    let (Some(sbuf), Some(rbuf)) = (ipc_buffer(sender), ipc_buffer(receiver)) else {
        return 0;
    };
    let (cptrs, window_cnode, window_index) = {
        let s = sbuf.get();
        let r = rbuf.get();
        (s.caps_or_badges, r.receive_cnode, r.receive_index)
    };
    if window_cnode == 0 {
        return 0;
    }
    let Ok((_, cnode)) = lookup_typed(receiver, window_cnode, CapType::CNode) else {
        return 0;
    };
    let mut moved = 0;
    for (i, &cptr) in cptrs.iter().enumerate().take(count.min(MSG_MAX_CAPS)) {
        let Ok((src, _)) = lookup(sender, cptr) else { break };
        let Some(index) = window_index.checked_add(i as u64) else { break };
        let Ok(dst) = dest_slot(&cnode, index) else { break };
        if kcore::cdt::copy(&mut Slots, src, dst).is_err() {
            break;
        }
        moved += 1;
    }
    moved
}

/// A wait queue (endpoint or notification) of threads linked through
/// their `queue_next`/`queue_prev` fields.
#[repr(C)]
#[derive(Default)]
pub struct Queue {
    pub head: u64,
    pub tail: u64,
}

impl Queue {
    pub fn push(&mut self, t: u64, object: u64) {
        {
            let th = tcb(t).get_mut();
            th.queue_prev = self.tail;
            th.queue_next = 0;
            th.blocked_on = object;
        }
        if self.tail == 0 {
            self.head = t;
        } else {
            tcb(self.tail).get_mut().queue_next = t;
        }
        self.tail = t;
    }

    pub fn pop(&mut self) -> Option<u64> {
        let t = self.head;
        if t == 0 {
            return None;
        }
        self.remove(t);
        Some(t)
    }

    /// Unlink `t`, which must be on this queue.
    pub fn remove(&mut self, t: u64) {
        let (prev, next) = {
            let th = tcb(t).get_mut();
            let r = (th.queue_prev, th.queue_next);
            th.queue_prev = 0;
            th.queue_next = 0;
            th.blocked_on = 0;
            r
        };
        if prev == 0 {
            self.head = next;
        } else {
            tcb(prev).get_mut().queue_next = next;
        }
        if next == 0 {
            self.tail = prev;
        } else {
            tcb(next).get_mut().queue_prev = prev;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head == 0
    }
}
