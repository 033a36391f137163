//! Faults as IPC. A thread that faults (page fault, illegal instruction,
//! unknown syscall, any other exception) stops and its fault endpoint
//! receives a message describing the fault, as if the thread had made a
//! call. The handler's reply writes the reply's words into the thread's
//! user registers (in `TrapFrameOps::user_reg` order) and resumes it if the
//! reply's label is 0; any other label leaves it stopped. A thread without a
//! fault endpoint stops, and the kernel says so on the console.

use crate::ipc::read_message;
use crate::kprintln;
use crate::object::endpoint;
use crate::object::tcb::{ThreadState, tcb};
use crate::object::thread::fault_endpoint;
use crate::state::Kernel;
use hal::{TrapFrame, TrapFrameOps};
use libipc::abi::{FaultKind, MessageInfo, Rights, TraceKind};

pub fn raise(k: &mut Kernel, t: u64, kind: FaultKind, data: [u64; 3]) {
    let pc = {
        let th = tcb(t).get_mut();
        th.fault = kind as u64;
        th.fault_data = data;
        th.regs.pc()
    };
    k.event(TraceKind::Fault, t, pc, data[0], kind as u32);
    match fault_endpoint(t) {
        Some(cap) if cap.rights().contains(Rights::WRITE) => {
            endpoint::send(k, t, &cap, MessageInfo::default(), true, true);
        }
        _ => {
            kprintln!(
                "kernel: thread {:#x} stopped: unhandled {} fault at pc {:#x} ({:#x} {:#x})",
                t,
                kind.as_str(),
                pc,
                data[0],
                data[1]
            );
            tcb(t).get_mut().set_state(ThreadState::Inactive);
            k.deschedule(t);
        }
    }
}

/// `replier` replied to the fault of thread `faulted`.
pub fn handle_reply(k: &mut Kernel, replier: u64, faulted: u64, info: MessageInfo) {
    let m = read_message(replier, info);
    let n = m.len.min(<TrapFrame as TrapFrameOps>::USER_REGS);
    {
        let th = tcb(faulted).get_mut();
        for i in 0..n {
            th.regs.set_user_reg(i, m.words[i]);
        }
        th.fault = 0;
    }
    if info.label() == 0 {
        k.wake(faulted);
    } else {
        tcb(faulted).get_mut().set_state(ThreadState::Inactive);
    }
}
