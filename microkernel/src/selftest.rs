//! Boot-time self tests selected with `rint.test=` (see `cmdline`). They prove
//! on real hardware paths what the system tests assert on: the timer ticks,
//! and unexpected exceptions are reported and end the machine with failure.

use crate::cmdline::Cmdline;
use crate::{kprintln, trap};
use hal::{Arch, Cpu, ExitCode, Timer};

pub fn run(cmdline: &Cmdline) {
    let Some(test) = cmdline.get("rint.test") else { return };
    match test {
        "boot" => boot(cmdline.get_u64("rint.ticks").unwrap_or(10)),
        "pagefault" => {
            kprintln!("selftest: reading unmapped address {:#x}", UNMAPPED);
            // SAFETY: deliberately not sound: this read faults, and the trap
            // handler reports it and stops the machine. It is what the test
            // checks; the address is never mapped in the kernel space.
            let v = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
            kprintln!("selftest: FAILED: the read returned {:#x} without a fault", v);
            Arch::exit(ExitCode::Failure);
        }
        "illegal" => {
            kprintln!("selftest: executing an illegal instruction");
            Arch::illegal_instruction();
            kprintln!("selftest: FAILED: no exception");
            Arch::exit(ExitCode::Failure);
        }
        other => {
            kprintln!("selftest: unknown test {:?} (known: boot, pagefault, illegal)", other);
            Arch::exit(ExitCode::Failure);
        }
    }
}

/// A user-half address the kernel never maps.
const UNMAPPED: u64 = 0xdead_b000;

fn boot(want: u64) {
    let start_ns = Arch::now_ns();
    let start = trap::ticks();
    while trap::ticks() - start < want {
        Arch::wait_for_interrupt();
        if Arch::now_ns() - start_ns > 30_000_000_000 {
            kprintln!("selftest: FAILED: only {} timer ticks in 30 s", trap::ticks() - start);
            Arch::exit(ExitCode::Failure);
        }
    }
    let ms = (Arch::now_ns() - start_ns) / 1_000_000;
    kprintln!("selftest: timer ticks={} in {} ms", trap::ticks() - start, ms);
    kprintln!("selftest: boot PASSED");
    Arch::exit(ExitCode::Success);
}
