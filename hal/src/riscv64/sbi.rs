//! Calls into the Supervisor Binary Interface (OpenSBI): the timer, system
//! reset and the legacy console/shutdown fallbacks.
//!
//! Calling convention (SBI v0.2+): `a7` = extension id, `a6` = function id,
//! arguments in `a0..a5`; the firmware returns an error code in `a0` and a
//! value in `a1` and preserves every other register.

use core::arch::asm;

/// "TIME" extension.
const EID_TIME: usize = 0x5449_4D45;
/// "SRST" (system reset) extension.
const EID_SRST: usize = 0x5352_5354;
/// Legacy `sbi_set_timer` (v0.1).
const EID_LEGACY_SET_TIMER: usize = 0x00;
/// Legacy `sbi_shutdown` (v0.1).
const EID_LEGACY_SHUTDOWN: usize = 0x08;

/// `SBI_ERR_NOT_SUPPORTED`.
const ERR_NOT_SUPPORTED: isize = -2;

/// One SBI call; returns `(error, value)`.
fn call(eid: usize, fid: usize, a0: usize, a1: usize, a2: usize) -> (isize, usize) {
    let error: usize;
    let value: usize;
    // SAFETY: `ecall` from S-mode traps into the SBI firmware, which follows
    // the SBI calling convention: it only writes a0/a1 (declared as outputs)
    // and touches no memory of ours for the calls made in this module (timer,
    // reset, shutdown take no pointers).
    unsafe {
        asm!(
            "ecall",
            inlateout("a0") a0 => error,
            inlateout("a1") a1 => value,
            in("a2") a2,
            in("a6") fid,
            in("a7") eid,
            options(nostack),
        );
    }
    (error as isize, value)
}

/// Program the next timer interrupt for when `time` reaches `deadline`; also
/// clears a pending supervisor timer interrupt. `u64::MAX` means never.
pub fn set_timer(deadline: u64) {
    let (err, _) = call(EID_TIME, 0, deadline as usize, 0, 0);
    if err == ERR_NOT_SUPPORTED {
        // SBI v0.1 firmware: the legacy call has the same meaning.
        call(EID_LEGACY_SET_TIMER, 0, deadline as usize, 0, 0);
    }
}

/// Ask the firmware to power the machine off; returns only if it cannot.
/// `failure` selects the "system failure" reset reason.
pub fn system_shutdown(failure: bool) {
    // sbi_system_reset(type = 0 shutdown, reason = 0 none / 1 failure).
    call(EID_SRST, 0, 0, usize::from(failure), 0);
    // Firmware without SRST: the legacy shutdown (it has no failure code).
    call(EID_LEGACY_SHUTDOWN, 0, 0, 0, 0);
}
