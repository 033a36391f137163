//! [`FpState`]: nothing, because the trap frame carries the FP state.
//!
//! The kernel is built for `riscv64gc` (hard-float, lp64d) and may use FP
//! registers itself, so the trap entry saves `f0..f31` and `fcsr` into the
//! frame of every trap whose context has `sstatus.FS` on, before any Rust
//! code runs, and the return path restores them (see `trap.rs`). A thread's
//! FP state thus moves with its frame into and out of its TCB, and there is
//! nothing left to switch. Vector state needs no care: no user frame has
//! `sstatus.VS` on (`new_user` and `enter_user` build `sstatus` without it,
//! and a trap saves the `VS` its context ran with), so vector instructions
//! trap as illegal in user mode whatever the firmware left for the kernel.

use crate::api::FpStateOps;

/// Empty: the frame holds the FP registers.
#[derive(Clone)]
pub struct FpState;

impl FpStateOps for FpState {
    fn initial() -> Self {
        FpState
    }
    fn save(&mut self) {}
    fn load(&self) {}
    fn load_initial() {}
    /// Nothing: FP use never traps, and need not (the registers are always
    /// the running thread's).
    fn trap_use(_on: bool) {}
}
