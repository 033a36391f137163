//! Faults delivered as IPC to a child's fault endpoint: page faults (read
//! of an unmapped page, write to a read-only one), an unknown (Linux)
//! syscall, and an illegal instruction. The root task handles each one and
//! the child continues.

use libipc::abi::{CPtr, FAULT_LABEL_BASE, FaultKind, Rights};
use libipc::cap::{Cap, Endpoint};
use libipc::sys;

use crate::arch::{self, Page, regs};
use crate::env::{Child, Env, RW, child_ctx, child_exit, mi};
use crate::fmt::{Fail, TestResult};

const FAULT_BADGE: u64 = 0xf0;
const REPORT_BADGE: u64 = 0xc0;

/// Run the fault gadget `a[2]` (0 load from `a[0]`, 1 store `a[3]` to
/// `a[0]`, 2 Linux syscall `a[3]`, 3 illegal instruction, 4 breakpoint),
/// then send the result on `a[1]`.
extern "C" fn faulter(idx: u64) -> ! {
    let c = child_ctx(idx);
    let v = match c.a[2] {
        0 => arch::load(c.a[0]),
        1 => {
            arch::store(c.a[0], c.a[3]);
            arch::load(c.a[0])
        }
        2 => arch::linux_syscall(c.a[3]),
        3 => {
            arch::illegal_instruction();
            0x1d
        }
        _ => {
            arch::breakpoint();
            0xb9
        }
    };
    let _ = c.buf.send(CPtr(c.a[1]), mi(0x4e, 1), &[v]);
    child_exit(&c)
}

/// An endpoint, a child running `faulter` with `mode`/`addr`/`value` whose
/// faults go to the endpoint (badge [`FAULT_BADGE`]) and whose report
/// comes through it (badge [`REPORT_BADGE`]).
fn start(env: &mut Env, mode: u64, addr: u64, value: u64) -> Result<(Cap<Endpoint>, Child), Fail> {
    let ep = env.endpoint()?;
    let fault_ep = env.mint(ep, Rights::ALL, FAULT_BADGE)?;
    let report = env.mint(ep, Rights::ALL, REPORT_BADGE)?;
    let child = env.spawn_at(faulter, [addr, report.slot(), mode, value])?;
    ok!(child.thread.set_fault_endpoint(Some(fault_ep)));
    ok!(child.thread.resume());
    Ok((ep, child))
}

fn fault_label(kind: FaultKind) -> u64 {
    FAULT_LABEL_BASE + kind as u64
}

pub fn fault_page_fault(env: &mut Env) -> TestResult {
    let va = env.free_va()?;
    let (ep, _) = start(env, 0, va + 0x18, 0)?;
    let m = ok!(ep.recv());
    check_eq!(m.badge, FAULT_BADGE);
    check_eq!(u64::from(m.label()), fault_label(FaultKind::PageFault));
    check_eq!(m.word(0), arch::load_address(), "(pc)");
    check_eq!(m.word(1), va + 0x18, "(address)");
    check_eq!(m.word(2), 0, "(access: read)");
    // Map the page and resume the child with an empty reply.
    let frame = env.frame()?;
    let page = ok!(Page::map(frame, va, RW));
    check!(page.write(3, 0x5eed), "write refused");
    ok!(sys::reply(mi(0, 0), &[]));
    let m = ok!(ep.recv());
    check_eq!(m.badge, REPORT_BADGE, "(a second fault instead of the report?)");
    check_eq!(m.word(0), 0x5eed);
    Ok(())
}

pub fn fault_write_to_read_only(env: &mut Env) -> TestResult {
    let mut page = env.page(RW)?;
    check!(page.write(0, 1), "write refused");
    ok!(page.remap(Rights::READ));
    let (ep, _) = start(env, 1, page.va(), 0x77)?;
    let m = ok!(ep.recv());
    check_eq!(m.badge, FAULT_BADGE);
    check_eq!(u64::from(m.label()), fault_label(FaultKind::PageFault));
    check_eq!(m.word(1), page.va(), "(address)");
    check_eq!(m.word(2), 1, "(access: write)");
    check_eq!(page.read(0), 1, "(the write must not have happened)");
    ok!(page.remap(RW));
    ok!(sys::reply(mi(0, 0), &[]));
    let m = ok!(ep.recv());
    check_eq!(m.badge, REPORT_BADGE, "(a second fault instead of the report?)");
    check_eq!(m.word(0), 0x77);
    check_eq!(page.read(0), 0x77);
    Ok(())
}

pub fn fault_unknown_syscall(env: &mut Env) -> TestResult {
    let (ep, _) = start(env, 2, 0, arch::LINUX_GETPID)?;
    let m = ok!(ep.recv());
    check_eq!(m.badge, FAULT_BADGE);
    check_eq!(u64::from(m.label()), fault_label(FaultKind::UnknownSyscall));
    check!(m.len() >= regs::COUNT, "{} words, expected {} registers", m.len(), regs::COUNT);
    let mut r = [0u64; regs::COUNT];
    m.copy_words(&mut r);
    check_eq!(r[regs::SYSCALL_NR], arch::LINUX_GETPID, "(syscall number register)");
    check_eq!(r[regs::PC], arch::linux_syscall_return_address(), "(pc past the syscall)");
    // The handler emulates the syscall: its reply sets the result register.
    r[regs::RESULT0] = 0x4242;
    ok!(sys::reply(mi(0, regs::COUNT), &r));
    let m = ok!(ep.recv());
    check_eq!(m.badge, REPORT_BADGE, "(a second fault instead of the report?)");
    check_eq!(m.word(0), 0x4242);
    Ok(())
}

pub fn fault_illegal_instruction(env: &mut Env) -> TestResult {
    let (ep, child) = start(env, 3, 0, 0)?;
    let m = ok!(ep.recv());
    check_eq!(m.badge, FAULT_BADGE);
    check_eq!(u64::from(m.label()), fault_label(FaultKind::IllegalInstruction));
    check_eq!(m.word(0), arch::illegal_address(), "(pc)");
    // Skip the instruction: move the pc with ThreadWriteRegisters while
    // the child waits for the reply, then resume it with an empty reply.
    let mut r = [0u64; regs::COUNT];
    check_eq!(ok!(child.thread.read_registers(&mut r)), regs::COUNT);
    check_eq!(r[regs::PC], arch::illegal_address(), "(pc in the registers)");
    set_pc(&child, arch::illegal_resume_address())?;
    ok!(sys::reply(mi(0, 0), &[]));
    let m = ok!(ep.recv());
    check_eq!(m.badge, REPORT_BADGE, "(a second fault instead of the report?)");
    check_eq!(m.word(0), 0x1d);
    Ok(())
}

/// Move a stopped child's pc to `pc` (it waits for its fault reply).
fn set_pc(child: &Child, pc: u64) -> TestResult {
    let mut r = [0u64; regs::COUNT];
    check_eq!(ok!(child.thread.read_registers(&mut r)), regs::COUNT);
    r[regs::PC] = pc;
    ok!(child.thread.write_registers(false, &r));
    Ok(())
}

pub fn fault_user_exception(env: &mut Env) -> TestResult {
    let (ep, child) = start(env, 4, 0, 0)?;
    let m = ok!(ep.recv());
    check_eq!(m.badge, FAULT_BADGE);
    check_eq!(u64::from(m.label()), fault_label(FaultKind::UserException));
    let pc = m.word(0);
    check!(
        pc == arch::breakpoint_address() || pc == arch::breakpoint_resume_address(),
        "pc {pc:#x}, breakpoint at {:#x}",
        arch::breakpoint_address()
    );
    check_eq!(m.word(1), 3, "(cause: breakpoint, x86_64 vector 3 / riscv64 scause 3)");
    set_pc(&child, arch::breakpoint_resume_address())?;
    ok!(sys::reply(mi(0, 0), &[]));
    let m = ok!(ep.recv());
    check_eq!(m.badge, REPORT_BADGE, "(a second fault instead of the report?)");
    check_eq!(m.word(0), 0xb9);
    Ok(())
}

/// A reply with a non-zero label leaves the thread stopped; ThreadResume
/// restarts it at the faulting instruction.
pub fn fault_reply_label_stops(env: &mut Env) -> TestResult {
    let va = env.free_va()?;
    let (ep, child) = start(env, 0, va, 0)?;
    let m = ok!(ep.recv());
    check_eq!(u64::from(m.label()), fault_label(FaultKind::PageFault));
    ok!(sys::reply(mi(1, 0), &[]));
    // A helper reports after the child had its turns to run (it must not).
    let from_helper = env.mint(ep, Rights::ALL, 0xb)?;
    let helper = env.spawn_at(super::ipc::go_late, [from_helper.slot(), 0, 0, 0])?;
    ok!(helper.thread.resume());
    let m = ok!(ep.recv());
    check_eq!(m.badge, 0xb, "(the child ran after a reply labelled 1)");
    let page = env.page_at(va, RW)?;
    check!(page.write(0, 0x600d), "write refused");
    ok!(child.thread.resume());
    let m = ok!(ep.recv());
    check_eq!(m.badge, REPORT_BADGE, "(a second fault instead of the report?)");
    check_eq!(m.word(0), 0x600d);
    Ok(())
}

/// A thread without a fault endpoint stops at its fault.
pub fn fault_without_handler(env: &mut Env) -> TestResult {
    let va = env.free_va()?;
    let ep = env.endpoint()?;
    let report = env.mint(ep, Rights::ALL, REPORT_BADGE)?;
    let from_helper = env.mint(ep, Rights::ALL, 0xb)?;
    let child = env.spawn(faulter, [va, report.slot(), 0, 0])?;
    let helper = env.spawn_at(super::ipc::go_late, [from_helper.slot(), 0, 0, 0])?;
    ok!(helper.thread.resume());
    let m = ok!(ep.recv());
    check_eq!(m.badge, 0xb, "(the faulting child sent its report?)");
    expect_err!(ep.nb_recv(), libipc::abi::Error::WouldBlock);
    let mut r = [0u64; regs::COUNT];
    ok!(child.thread.read_registers(&mut r));
    check_eq!(r[regs::PC], arch::load_address(), "(stopped at the load)");
    Ok(())
}
