//! User x87/SSE state: one FXSAVE image per thread ([`FpState`]), and
//! CR0.TS to find a thread's first FP instruction.
//!
//! The trap frame does not carry these registers. The kernel and the hal
//! are built soft-float (`x86_64-unknown-none`: `-mmx,-sse,...,+soft-float`)
//! and never execute an x87, MMX or SSE instruction except the `fxsave64`
//! and `fxrstor64` here, so the registers keep their values through every
//! kernel entry, the idle loop included. The kernel moves them only when it
//! switches this CPU to another thread, and only for threads that have used
//! them (see [`FpStateOps`]): rint's own programs are soft-float, so IPC
//! between them costs no FP work at all.
//!
//! A thread that has not used FP yet runs with CR0.TS set (`trap_use`):
//! its first x87, MMX or SSE instruction (FXSAVE and FXRSTOR included, and
//! `fwait`, as CR0.MP is set) raises #NM, which `trap.rs` reports as
//! `TrapKind::FpUnavailable`; the kernel marks the thread, clears TS and
//! resumes the instruction. While TS is set the registers hold the initial
//! state ([`FpStateOps::load_initial`] scrubs them when the kernel switches
//! from an FP user to such a thread), never another thread's values.
//!
//! `fxsave64`/`fxrstor64` (the REX.W forms: 64-bit FPU instruction and
//! data pointers) move the x87 registers and control/status/tag words,
//! MXCSR and xmm0-xmm15: all the state user mode can reach while CR4 has
//! OSFXSR but not OSXSAVE (no AVX: `vex`-encoded instructions raise #UD).
//! Neither instruction raises a pending x87 or SIMD exception; an unmasked
//! exception flag in a restored image is raised by the thread's next x87
//! or SSE instruction, in user mode, as its own fault. With CR0.TS clear
//! (the kernel's callers see to it) FXRSTOR faults only on a misaligned
//! image or reserved MXCSR bits; images come only from
//! [`FpState::INITIAL`] or from `fxsave64`, and are 16-byte aligned by
//! their type.

use super::Arch;
use crate::api::{Cpu, FpStateOps};
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::registers::control::{Cr0, Cr0Flags};

/// A thread's x87/SSE registers in the 512-byte FXSAVE layout (Intel SDM
/// vol. 1, table 10-2): FCW, FSW, abridged FTW, FOP, FIP, FDP, MXCSR,
/// MXCSR_MASK, st0-st7, xmm0-xmm15.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpState([u64; 64]);

const _: () = {
    assert!(core::mem::size_of::<FpState>() == 512);
    assert!(core::mem::align_of::<FpState>() == 16);
};

/// FCW after FNINIT: all x87 exceptions masked, 64-bit precision, round to
/// nearest.
const FCW_INIT: u64 = 0x037f;
/// MXCSR at reset: all SIMD exceptions masked, round to nearest, no
/// flush-to-zero or denormals-are-zero.
pub const MXCSR_INIT: u64 = 0x1f80;

impl FpState {
    /// What FNINIT and `ldmxcsr 0x1f80` leave, with every x87 and xmm
    /// register zero: FCW 0x037f; FSW, tag word (all empty), opcode and
    /// pointers 0; MXCSR 0x1f80 (bytes 24..28; MXCSR_MASK at 28..32 is
    /// ignored by FXRSTOR).
    pub const INITIAL: FpState = {
        let mut w = [0u64; 64];
        w[0] = FCW_INIT;
        w[3] = MXCSR_INIT;
        FpState(w)
    };
}

/// The initial image, for `load_initial`.
static INITIAL: FpState = FpState::INITIAL;

impl FpStateOps for FpState {
    fn initial() -> Self {
        FpState::INITIAL
    }

    fn save(&mut self) {
        // SAFETY: `self` is a valid, exclusively borrowed, 16-byte aligned
        // (by its type) 512-byte area, exactly what `fxsave64` writes. CR4
        // has OSFXSR (cpu.rs), CR0 never has EM and the caller cleared TS
        // (the trait's contract; the kernel's `trap::switch_fp` does), so
        // it cannot fault; it raises no pending FP exception and changes no
        // register. (Were TS set, the #NM in ring 0 would be reported as a
        // kernel fault and stop the machine: a kernel bug, not user input.)
        unsafe {
            asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack, preserves_flags))
        };
    }

    fn load(&self) {
        // SAFETY: `self` is a 16-byte aligned 512-byte image that came from
        // `INITIAL` or from `fxsave64` (the fields are private and nothing
        // else writes them), so its MXCSR has no reserved bit set and
        // `fxrstor64` cannot fault (TS is clear, as for `save`). It only
        // loads x87/SSE registers, which the (soft-float) kernel does not
        // use; user mode sees them next.
        unsafe {
            asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack, preserves_flags, readonly))
        };
    }

    fn load_initial() {
        INITIAL.load();
    }

    fn trap_use(on: bool) {
        // CR0 is read only when the cached bit is unknown (another CPU id
        // than the cache covers, which does not happen yet): a CR0 access
        // may exit to the hypervisor, and this runs on every return to
        // user mode.
        let cached = TS_SET.get(Arch::id());
        if cached.is_some_and(|c| c.load(Ordering::Relaxed) == on) {
            return;
        }
        let cr0 = Cr0::read();
        let new = if on { cr0 | Cr0Flags::TASK_SWITCHED } else { cr0 - Cr0Flags::TASK_SWITCHED };
        if new != cr0 {
            // SAFETY: only CR0.TS changes. With it set, x87/MMX/SSE
            // instructions raise #NM, which the kernel never executes except
            // `fxsave64` and `fxrstor64` above, whose callers clear it
            // first; user mode's #NM is a `TrapKind::FpUnavailable` for the
            // kernel.
            unsafe { Cr0::write(new) };
        }
        if let Some(c) = cached {
            c.store(on, Ordering::Relaxed);
        }
    }
}

/// Whether CR0.TS is set, per CPU (only the boot CPU runs): `cpu::init`
/// clears it before any thread runs, and only `trap_use` changes it.
static TS_SET: [AtomicBool; 1] = [AtomicBool::new(false)];
