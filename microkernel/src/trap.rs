//! Trap dispatch. The hal decodes the arch's vector or cause into a
//! [`hal::Trap`] and calls [`handle`] with the saved registers.
//!
//! Until user space exists every trap but the timer and device interrupts is
//! a kernel bug: it is reported (cause, faulting address, registers) and the
//! machine stops with a failure status.

use crate::kprintln;
use core::sync::atomic::{AtomicU64, Ordering};
use hal::{
    Arch, Cpu, ExitCode, InterruptController, Timer, Trap, TrapFrame, TrapFrameOps, TrapKind,
};

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Timer ticks since the tick started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub fn handle(frame: &mut TrapFrame, trap: Trap) {
    match trap.kind {
        TrapKind::Timer => {
            TICKS.fetch_add(1, Ordering::Relaxed);
            Arch::ack();
        }
        TrapKind::External { irq } => {
            kprintln!("trap: unexpected device interrupt {}, masking it", irq);
            let _ = Arch::disable_irq(irq);
            Arch::end_of_interrupt(irq);
        }
        TrapKind::Spurious => {}
        _ => fatal(frame, &trap),
    }
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
