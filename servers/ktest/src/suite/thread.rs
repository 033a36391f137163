//! Threads: configure, start, registers, suspend and resume, TLS,
//! IPC buffer, and configuration errors.

use libipc::abi::{CPtr, Error, Invocation};
use libipc::cap::{Cap, Thread, init};

use crate::arch::{self, Page, regs};
use crate::env::{Env, RW, child_ctx, child_exit, mi};
use crate::fmt::TestResult;

/// Send `[0x5eed, idx, tls word]` on endpoint `a[0]`; the TLS word only if
/// `a[1]` is set.
extern "C" fn hello(idx: u64) -> ! {
    let c = child_ctx(idx);
    let tls = if c.a[1] != 0 { arch::tls_word0() } else { 0 };
    let _ = c.buf.send(CPtr(c.a[0]), mi(0x4e11, 3), &[0x5eed, idx, tls]);
    child_exit(&c)
}

pub fn thread_start(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let child = env.spawn(hello, [ep.slot(), 0, 0, 0])?;
    let m = ok!(ep.recv());
    check_eq!(m.label(), 0x4e11);
    check_eq!(m.badge, 0);
    check_eq!(m.word(0), 0x5eed);
    check_eq!(m.word(1), child.regs[regs::ARG0]);
    Ok(())
}

pub fn thread_write_registers_resume(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let child = env.spawn_at(hello, [ep.slot(), 0, 0, 0])?;
    // Not started: nothing arrives.
    expect_err!(ep.nb_recv(), Error::WouldBlock);
    ok!(child.thread.write_registers(true, &child.regs));
    let m = ok!(ep.recv());
    check_eq!(m.word(0), 0x5eed);
    Ok(())
}

pub fn thread_read_write_registers(env: &mut Env) -> TestResult {
    let (t, _, _) = env.thread()?;
    let mut w = [0u64; regs::COUNT];
    for (i, r) in w.iter_mut().enumerate() {
        *r = 0x1000_0000 + 0x111 * i as u64;
    }
    w[regs::PC] = arch::illegal_resume_address();
    w[regs::SP] = 0x3fff_fff0;
    if let Some(f) = regs::FLAGS {
        w[f] = 0;
    }
    ok!(t.write_registers(false, &w));
    let mut r = [0u64; regs::COUNT];
    check_eq!(ok!(t.read_registers(&mut r)), regs::COUNT);
    for i in 0..regs::COUNT {
        if Some(i) != regs::FLAGS {
            check_eq!(r[i], w[i], "(register {i})");
        }
    }
    // A prefix.
    let mut r3 = [0u64; 3];
    check_eq!(ok!(t.read_registers(&mut r3)), 3);
    check_eq!(r3, [w[0], w[1], w[2]]);
    // Writing a prefix leaves the rest.
    ok!(t.write_registers(false, &[7]));
    check_eq!(ok!(t.read_registers(&mut r3)), 3);
    check_eq!(r3, [7, w[1], w[2]]);
    // Asking for more registers than there are gives all of them.
    let m = ok!(t.invoke(Invocation::ThreadReadRegisters, &[121], &[]));
    check_eq!(m.len(), regs::COUNT);
    // A count the words do not back, or more registers than there are.
    expect_err!(
        t.invoke(Invocation::ThreadWriteRegisters, &[0, 5, 1, 2], &[]),
        Error::InvalidArgument
    );
    let too_many = [0u64; regs::COUNT + 1];
    expect_err!(t.write_registers(false, &too_many), Error::InvalidArgument);
    // Not on the caller's own thread.
    expect_err!(init::THREAD.write_registers(false, &[0]), Error::IllegalOperation);
    Ok(())
}

/// Send 0, 1, 2, ... on endpoint `a[0]`, counting only delivered sends.
extern "C" fn counter(idx: u64) -> ! {
    let c = child_ctx(idx);
    let mut i = 0u64;
    loop {
        if c.buf.send(CPtr(c.a[0]), mi(1, 1), &[i]).is_ok() {
            i += 1;
        } else {
            libipc::sys::yield_now();
        }
    }
}

pub fn thread_suspend_resume(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let child = env.spawn(counter, [ep.slot(), 0, 0, 0])?;
    check_eq!(ok!(ep.recv()).word(0), 0);
    check_eq!(ok!(ep.recv()).word(0), 1);
    ok!(child.thread.suspend());
    // A suspended thread sends nothing (a send it was blocked in is
    // cancelled).
    expect_err!(ep.nb_recv(), Error::WouldBlock);
    ok!(child.thread.suspend());
    ok!(child.thread.resume());
    check_eq!(ok!(ep.recv()).word(0), 2);
    check_eq!(ok!(ep.recv()).word(0), 3);
    ok!(child.thread.suspend());
    Ok(())
}

/// Call endpoint `a[0]`, then send the error code the call returned
/// (label 0x7e58) on it.
extern "C" fn call_then_report(idx: u64) -> ! {
    let c = child_ctx(idx);
    let code = match c.buf.call(CPtr(c.a[0]), mi(0x7e57, 0), &[]) {
        Ok(_) => 0,
        Err(e) => e as u64,
    };
    let _ = c.buf.send(CPtr(c.a[0]), mi(0x7e58, 1), &[code]);
    child_exit(&c)
}

pub fn thread_suspend_cancels_ipc(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let child = env.spawn(call_then_report, [ep.slot(), 0, 0, 0])?;
    // The child waits for our reply; suspending it cancels that wait, and
    // once resumed its call returns Cancelled.
    check_eq!(ok!(ep.recv()).label(), 0x7e57);
    ok!(child.thread.suspend());
    ok!(child.thread.resume());
    let m = ok!(ep.recv());
    check_eq!(m.label(), 0x7e58);
    check_eq!(m.word(0), Error::Cancelled as u64);
    ok!(child.thread.suspend());
    Ok(())
}

pub fn thread_tls(env: &mut Env) -> TestResult {
    let (t, _, _) = env.thread()?;
    ok!(t.set_tls(0x4000_1000));
    let mut r = [0u64; regs::COUNT];
    ok!(t.read_registers(&mut r));
    check_eq!(r[regs::TLS], 0x4000_1000);
    expect_err!(t.set_tls(arch::KERNEL_ADDR), Error::BadUserPointer);
    // A running thread sees its TLS base.
    let tls: Page = env.page(RW)?;
    check!(tls.write(0, 0x7157_0000_0000_0001), "write refused");
    let ep = env.endpoint()?;
    let child = env.spawn_at(hello, [ep.slot(), 1, 0, 0])?;
    ok!(child.thread.set_tls(tls.va()));
    ok!(child.thread.resume());
    let m = ok!(ep.recv());
    check_eq!(m.word(2), 0x7157_0000_0000_0001);
    Ok(())
}

pub fn thread_ipc_buffer(env: &mut Env) -> TestResult {
    let (t, _, _) = env.thread()?;
    let p = env.page(RW)?;
    ok!(t.set_ipc_buffer(p.va(), p.frame()));
    expect_err!(t.set_ipc_buffer(p.va() + 8, p.frame()), Error::BadUserPointer);
    expect_err!(t.set_ipc_buffer(arch::KERNEL_ADDR, p.frame()), Error::BadUserPointer);
    let ep = env.endpoint()?;
    expect_err!(t.set_ipc_buffer(p.va(), ep.cast()), Error::WrongType);
    Ok(())
}

pub fn thread_configure_errors(env: &mut Env) -> TestResult {
    let t: Cap<Thread> = env.retype(0)?;
    let f = env.frame()?;
    let ep = env.endpoint()?;
    let va = env.free_va()?;
    let (cs, vs) = (init::CNODE, init::VSPACE);
    expect_err!(t.configure(ep.cast(), vs, f, va), Error::WrongType);
    expect_err!(t.configure(cs, f.cast(), f, va), Error::WrongType);
    expect_err!(t.configure(cs, vs, ep.cast(), va), Error::WrongType);
    expect_err!(t.configure(cs, vs, f, va + 8), Error::BadUserPointer);
    // An IPC buffer must be a 4 KiB frame.
    let large: Cap<libipc::cap::Frame> = env.retype(21)?;
    expect_err!(t.configure(cs, vs, large, va), Error::InvalidArgument);
    let empty = Cap::from_slot(env.slot()?);
    expect_err!(t.configure(empty, vs, f, va), Error::InvalidCapability);
    ok!(t.configure(cs, vs, f, va));
    Ok(())
}
