//! The syscall layer: decode the syscall registers of the current thread
//! and dispatch. Every syscall leaves its result in the thread's saved
//! registers (`libipc::abi::regs`); nothing here can fail the kernel.
//!
//! A syscall number that is not a rint syscall is an unknown-syscall fault,
//! delivered to the thread's fault handler (how Linux programs run).

use crate::console;
use crate::fault;
use crate::ipc::{ipc_buffer, read_message, set_error, write_message};
use crate::object::slots::lookup;
use crate::object::tcb::tcb;
use crate::object::{Call, endpoint, invoke, notification};
use crate::state::Kernel;
use hal::TrapFrameOps;
use libipc::abi::{
    CapType, Error, FaultKind, Invocation, MSG_MAX_WORDS, MessageInfo, Syscall, regs,
};

/// Largest DebugWrite, in bytes: the IPC buffer's message area.
pub const DEBUG_WRITE_MAX: u64 = (MSG_MAX_WORDS * 8) as u64;

pub fn handle(k: &mut Kernel, t: u64) {
    let (num, cptr, info_raw) = {
        let r = &tcb(t).get().regs;
        (r.syscall_number(), r.syscall_arg(regs::ARG_CPTR), r.syscall_arg(regs::ARG_INFO))
    };
    let Some(sc) = Syscall::from_raw(num) else {
        tcb(t).get_mut().regs.skip_syscall_instruction();
        return fault::raise(k, t, FaultKind::UnknownSyscall, [num, 0, 0]);
    };
    tcb(t).get_mut().regs.skip_syscall_instruction();
    let info = MessageInfo::from_raw(info_raw);
    if let Ok(i) = info
        && crate::fastpath::try_fast(k, t, sc, cptr, i)
    {
        return;
    }
    match sc {
        Syscall::Send | Syscall::NbSend | Syscall::Call => {
            let Ok(info) = info else { return set_error(t, Error::InvalidArgument) };
            send(k, t, sc, cptr, info)
        }
        Syscall::Recv | Syscall::NbRecv => receive(k, t, cptr, sc == Syscall::Recv),
        Syscall::ReplyRecv => {
            let Ok(info) = info else { return set_error(t, Error::InvalidArgument) };
            endpoint::reply(k, t, info);
            receive(k, t, cptr, true)
        }
        Syscall::Reply => {
            let Ok(info) = info else { return set_error(t, Error::InvalidArgument) };
            endpoint::reply(k, t, info);
            set_error(t, Error::Ok)
        }
        Syscall::Yield => {
            set_error(t, Error::Ok);
            k.yield_(t)
        }
        Syscall::DebugWrite => debug_write(t, cptr),
    }
}

fn send(k: &mut Kernel, t: u64, sc: Syscall, cptr: u64, info: MessageInfo) {
    let (slot, cap) = match lookup(t, cptr) {
        Ok(c) => c,
        Err(e) => return set_error(t, e),
    };
    match cap.cap_type() {
        CapType::Endpoint => {
            endpoint::send(k, t, &cap, info, sc != Syscall::NbSend, sc == Syscall::Call)
        }
        CapType::Notification if sc != Syscall::Call => notification::send(k, t, &cap),
        _ => {
            let Ok(label) = Invocation::try_from(info.label()) else {
                return set_error(t, Error::InvalidArgument);
            };
            let m = read_message(t, info);
            let call = Call {
                caller: t,
                slot,
                cap,
                label,
                words: &m.words[..m.len],
                extra_caps: info.extra_caps(),
            };
            match invoke(k, &call) {
                Ok(reply) if sc == Syscall::Call => {
                    write_message(t, 0, &reply, 0);
                }
                Ok(_) => set_error(t, Error::Ok),
                Err(e) => set_error(t, e),
            }
        }
    }
}

fn receive(k: &mut Kernel, t: u64, cptr: u64, block: bool) {
    let cap = match lookup(t, cptr) {
        Ok((_, c)) => c,
        Err(e) => return set_error(t, e),
    };
    match cap.cap_type() {
        CapType::Endpoint => endpoint::receive(k, t, &cap, block),
        CapType::Notification => notification::wait(k, t, &cap, block),
        _ => set_error(t, Error::WrongType),
    }
}

fn debug_write(t: u64, len: u64) {
    if len > DEBUG_WRITE_MAX {
        return set_error(t, Error::TruncatedMessage);
    }
    let Some(buf) = ipc_buffer(t) else { return set_error(t, Error::InvalidArgument) };
    // Only the words that hold the `len` bytes.
    let mut bytes = [0u8; DEBUG_WRITE_MAX as usize];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(&buf.get().msg).take(len.div_ceil(8) as usize) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    console::write_bytes(&bytes[..len as usize]);
    set_error(t, Error::Ok)
}
