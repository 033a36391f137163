//! Trap dispatch. The hal decodes the arch's vector or cause into a
//! [`hal::Trap`] and calls [`handle`] with the saved registers.
//!
//! A trap from user mode saves the frame into the current thread's TCB,
//! is handled under the kernel lock (syscall, timer, device interrupt,
//! fault), and returns into whichever thread the scheduler picks, whose
//! saved registers replace the frame. FP state the frame does not carry
//! (x86_64 x87/SSE) stays in the CPU's registers across kernel entries and
//! is saved and loaded only when the CPU switches to another thread, and
//! only for threads that have used FP ([`switch_fp`]). The timer is a one-shot the scheduler
//! arms for the end of its decision (`sched`); when it fires the scheduler
//! decides again. With nothing to run, the CPU idles
//! inside [`return_to_user`] with interrupts enabled; interrupts taken
//! there arrive here as kernel-mode traps.
//!
//! Any other kernel-mode trap is a kernel bug: it is reported (cause,
//! faulting address, registers) and the machine stops with a failure status.

use crate::kprintln;
use crate::object::tcb::tcb;
use crate::object::{irq, thread, vspace};
use crate::state::{FP_INITIAL, FP_STALE, KERNEL, Kernel};
use crate::{fault, syscall};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use hal::{
    Access, Arch, Cpu, ExitCode, FpState, FpStateOps, Timer, Trap, TrapFrame, TrapFrameOps,
    TrapKind,
};
use libipc::abi::FaultKind;

static TICKS: AtomicU64 = AtomicU64::new(0);
/// End the machine when nothing can ever run again (`rint.exit_on_idle`).
pub static EXIT_ON_IDLE: AtomicBool = AtomicBool::new(false);

/// Timer interrupts since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn handle(frame: &mut TrapFrame, trap: Trap) {
    if trap.from_user {
        user_trap(frame, trap);
        return_to_user(frame);
        return;
    }
    match trap.kind {
        TrapKind::Timer => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            KERNEL.lock().timer_fired();
            Arch::ack();
        }
        TrapKind::External { irq } => irq::handle(&mut KERNEL.lock(), irq),
        TrapKind::Spurious => {}
        _ => fatal(frame, &trap),
    }
}

fn user_trap(frame: &mut TrapFrame, trap: Trap) {
    let mut k = KERNEL.lock();
    let cur = k.current();
    if cur == 0 {
        drop(k);
        fatal(frame, &trap);
    }
    tcb(cur).get_mut().regs = frame.clone();
    let k = &mut *k;
    match trap.kind {
        TrapKind::Syscall => syscall::handle(k, cur),
        TrapKind::Timer => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            k.timer_fired();
            Arch::ack();
        }
        TrapKind::External { irq } => irq::handle(k, irq),
        TrapKind::Spurious => {}
        TrapKind::PageFault { addr, access } => {
            let access = match access {
                Access::Read => 0,
                Access::Write => 1,
                Access::Execute => 2,
            };
            fault::raise(k, cur, FaultKind::PageFault, [addr, access, 0])
        }
        TrapKind::FpUnavailable => fp_first_use(k, cur),
        TrapKind::IllegalInstruction => {
            fault::raise(k, cur, FaultKind::IllegalInstruction, [trap.detail, 0, 0])
        }
        _ => fault::raise(k, cur, FaultKind::UserException, [trap.cause, trap.detail, 0]),
    }
}

/// Pick the thread to run and load its registers into `frame`; idle until
/// there is one.
fn return_to_user(frame: &mut TrapFrame) {
    loop {
        {
            let mut k = KERNEL.lock();
            if let Some(t) = pick(&mut k) {
                switch_fp(&mut k, t);
                frame.clone_from(&tcb(t).get().regs);
                return;
            }
            k.ran(0);
        }
        idle();
    }
}

/// Leave the kernel for the first time (or after idling at boot).
pub fn enter_user_first() -> ! {
    let mut regs = TrapFrame::new_user(0, 0, 0);
    return_to_user(&mut regs);
    Arch::enter_user(&regs)
}

/// Schedule, and switch to the chosen thread's address space. Threads whose
/// address space is gone are stopped. A thread other than the one this CPU
/// ran last is a context switch in the trace.
fn pick(k: &mut Kernel) -> Option<u64> {
    loop {
        k.schedule();
        let t = k.current();
        if t == 0 {
            return None;
        }
        match thread::vspace_root(k, t) {
            Some(root) => {
                vspace::activate(k, root);
                k.ran(t);
                return Some(t);
            }
            None => {
                kprintln!("kernel: thread {:#x} has no address space; stopping it", t);
                thread::suspend(k, t);
            }
        }
    }
}

/// Give this CPU the FP state thread `t` runs with, unless its registers
/// hold it already. A thread that has used FP gets its own (the holder's
/// saved into its TCB first, unless that thread was destroyed:
/// `thread::destroy` marks the registers stale); any other thread runs on
/// the initial state with FP use trapping, so that its first FP instruction
/// makes it an FP user ([`fp_first_use`]). Switching between threads that
/// never used FP (all of rint's own programs: they are soft-float) costs
/// nothing, and neither does a return to the same thread: the kernel never
/// touches the FP registers otherwise (`hal::FpStateOps`).
fn switch_fp(k: &mut Kernel, t: u64) {
    let owner = k.cpu().fp_owner;
    let uses_fp = tcb(t).get().fp_used;
    let want = if uses_fp { t } else { FP_INITIAL };
    if owner != want {
        // Save and load must not trap.
        FpState::trap_use(false);
        if owner != FP_INITIAL && owner != FP_STALE {
            tcb(owner).get_mut().fp.save();
        }
        if uses_fp {
            tcb(t).get().fp.load();
        } else {
            FpState::load_initial();
        }
        k.cpu().fp_owner = want;
    }
    FpState::trap_use(!uses_fp);
}

/// Thread `cur`'s first FP instruction trapped: it is an FP user from now
/// on. Its state is still the initial one, which the registers hold (it ran
/// with FP use trapping, so [`switch_fp`] had put them in that state), so
/// they become its own; the instruction runs again when it resumes.
fn fp_first_use(k: &mut Kernel, cur: u64) {
    tcb(cur).get_mut().fp_used = true;
    if k.cpu().fp_owner == FP_INITIAL {
        k.cpu().fp_owner = cur;
    }
    // Otherwise (not expected) `switch_fp` on the way out loads its state.
}

fn idle() {
    if EXIT_ON_IDLE.load(Ordering::Relaxed) {
        let k = KERNEL.lock();
        let sources = k.irqs.iter().any(|i| i.notification != 0);
        // A throttled context waits for its budget: not the end.
        let waiting = !k.idle_forever();
        drop(k);
        if !sources && !waiting {
            KERNEL.lock().sched_report();
            kprintln!(
                "kernel: IPC fastpath taken by {} calls and {} replies",
                crate::fastpath::CALLS.load(Ordering::Relaxed),
                crate::fastpath::REPLIES.load(Ordering::Relaxed)
            );
            let dump = crate::trace::DUMP_EVENTS.load(Ordering::Relaxed);
            if dump != 0 {
                crate::trace::dump(&KERNEL.lock().trace, dump);
            }
            kprintln!("kernel: nothing can run any more; stopping the machine (rint.exit_on_idle)");
            Arch::exit(ExitCode::Success);
        }
    }
    Arch::wait_for_interrupt();
}

/// Report an unexpected exception and stop the machine.
fn fatal(frame: &TrapFrame, trap: &Trap) -> ! {
    Arch::disable_interrupts();
    crate::console::force_unlock();
    let mode = if trap.from_user { "user" } else { "kernel" };
    kprintln!();
    kprintln!(
        "FATAL: unexpected {} in {} mode (cause {:#x}, detail {:#x})",
        trap.name,
        mode,
        trap.cause,
        trap.detail
    );
    match trap.kind {
        TrapKind::PageFault { addr, access } => {
            kprintln!("  faulting address {:#018x} ({:?} access)", addr, access)
        }
        TrapKind::Alignment { addr } => kprintln!("  misaligned address {:#018x}", addr),
        _ => {}
    }
    kprintln!("  pc {:#018x}  sp {:#018x}", frame.pc(), frame.sp());
    kprintln!("{}", frame);
    kprintln!("kernel: stopping the machine after an unexpected exception");
    Arch::exit(ExitCode::Failure)
}
