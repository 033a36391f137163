//! Trap entry and exit, the saved-register frame, and decoding `scause`.
//!
//! `stvec` points (direct mode) at `__rv_trap_entry`, which pushes a
//! [`TrapFrame`] (all 31 GPRs, `sepc`, `sstatus`, `scause`, `stval`, and the
//! FP registers with `fcsr` while `sstatus.FS` is on) on the kernel stack and
//! calls [`rv_trap_handler`]. That decodes the cause into an [`api::Trap`]
//! (claiming the PLIC source for an external interrupt) and calls the kernel.
//! On return, `__rv_trap_return` restores everything from the frame, so the
//! handler may change the frame (e.g. `set_pc` to skip an `ecall`), and
//! executes `sret`.
//!
//! # The `sscratch` convention
//! - While the hart runs in the kernel, `sscratch` is 0.
//! - While it runs in user mode, `sscratch` holds the top of the current
//!   thread's kernel stack.
//!
//! On entry, `csrrw sp, sscratch, sp` swaps the two: a non-zero result means
//! the trap came from user mode and `sp` is now the kernel stack (the user
//! `sp` sits in `sscratch` until it is saved in the frame); zero means the
//! trap came from the kernel, and a second swap puts the kernel `sp` back.
//! Either way `sscratch` is 0 again before any Rust code runs, so a nested
//! trap (a fault in a handler) is taken as a kernel trap.
//!
//! To enter user mode later, the kernel builds a `TrapFrame` at the top of
//! the thread's kernel stack (user `sepc`, `sp`, `sstatus.SPP = 0`,
//! `SPIE = 1`) and jumps to `__rv_trap_return` with `sp` pointing at it: the
//! return path sees SPP = 0 and writes the stack top (the frame's end) to
//! `sscratch` before `sret`. The per-CPU pointer in `tp` will be loaded from
//! a field beside the kernel stack top on entry from user mode; today only
//! the kernel runs, so `tp` is simply saved and restored.
//!
//! [`api::Trap`]: crate::api::Trap

use super::irq;
use crate::api::{Access, Trap, TrapFrameOps, TrapKind};
use core::arch::global_asm;
use core::fmt;
use core::mem::offset_of;

/// The registers of an interrupted context, as pushed by the trap entry.
/// Everything needed to resume the context (user or kernel) is here.
#[repr(C)]
#[derive(Clone)]
pub struct TrapFrame {
    /// `x0..x31` by register number (`regs[0]` is always 0, `regs[2]` is
    /// the interrupted `sp`).
    pub regs: [u64; 32],
    /// Where the context resumes.
    pub sepc: u64,
    /// `sstatus` at the trap: SPP (previous mode), SPIE, FS, SUM, ...
    pub sstatus: u64,
    pub scause: u64,
    pub stval: u64,
    /// `f0..f31`, valid when `sstatus.FS` was not Off at the trap.
    pub fregs: [u64; 32],
    pub fcsr: u64,
    _pad: u64,
}

/// Size of the frame on the stack (a multiple of 16: keeps `sp` aligned).
const FRAME_SIZE: usize = 560;
const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == FRAME_SIZE);
    assert!(FRAME_SIZE.is_multiple_of(16));
    assert!(offset_of!(TrapFrame, sepc) == 256);
    assert!(offset_of!(TrapFrame, sstatus) == 264);
    assert!(offset_of!(TrapFrame, scause) == 272);
    assert!(offset_of!(TrapFrame, stval) == 280);
    assert!(offset_of!(TrapFrame, fregs) == 288);
    assert!(offset_of!(TrapFrame, fcsr) == 544);
};

const SSTATUS_SPP: u64 = 1 << 8;
const SCAUSE_INTERRUPT: u64 = 1 << 63;

global_asm!(
    r#"
    .section .text.trap, "ax"
    // Module-level asm does not see the target features: name them.
    .option push
    .option arch, +d
    .balign 4
    .global __rv_trap_entry
__rv_trap_entry:
    csrrw   sp, sscratch, sp
    bnez    sp, 1f
    // From the kernel: take the kernel sp back, sscratch = 0 again.
    csrrw   sp, sscratch, sp
1:
    addi    sp, sp, -{size}
    sd      x1, 8(sp)
    .irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    sd      x\n, (\n * 8)(sp)
    .endr
    // The interrupted sp: the user sp parked in sscratch, or (from the
    // kernel, sscratch = 0) the value before the frame was pushed.
    csrrw   t0, sscratch, zero
    bnez    t0, 2f
    addi    t0, sp, {size}
2:
    sd      t0, 16(sp)
    csrr    t0, sepc
    sd      t0, {sepc}(sp)
    csrr    t1, sstatus
    sd      t1, {sstatus}(sp)
    csrr    t2, scause
    sd      t2, {scause}(sp)
    csrr    t3, stval
    sd      t3, {stval}(sp)
    // FP state, unless the interrupted context has FP off.
    srli    t2, t1, 13
    andi    t2, t2, 3
    beqz    t2, 3f
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd     f\n, ({fregs} + \n * 8)(sp)
    .endr
    frcsr   t3
    sd      t3, {fcsr}(sp)
3:
    // The handler may use FP registers (FS >= Initial).
    li      t2, 1 << 13
    csrs    sstatus, t2
    mv      a0, sp
    call    {handler}

    .global __rv_trap_return
__rv_trap_return:
    ld      t1, {sstatus}(sp)
    srli    t2, t1, 13
    andi    t2, t2, 3
    beqz    t2, 4f
    ld      t3, {fcsr}(sp)
    fscsr   t3
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fld     f\n, ({fregs} + \n * 8)(sp)
    .endr
4:
    // Back to user mode: the next trap finds this kernel stack's top in
    // sscratch.
    andi    t2, t1, {spp}
    bnez    t2, 5f
    addi    t3, sp, {size}
    csrw    sscratch, t3
5:
    csrw    sstatus, t1
    ld      t0, {sepc}(sp)
    csrw    sepc, t0
    ld      x1, 8(sp)
    .irp n, 3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    ld      x\n, (\n * 8)(sp)
    .endr
    ld      sp, 16(sp)
    sret
    .option pop
    "#,
    size = const FRAME_SIZE,
    sepc = const offset_of!(TrapFrame, sepc),
    sstatus = const offset_of!(TrapFrame, sstatus),
    scause = const offset_of!(TrapFrame, scause),
    stval = const offset_of!(TrapFrame, stval),
    fregs = const offset_of!(TrapFrame, fregs),
    fcsr = const offset_of!(TrapFrame, fcsr),
    spp = const SSTATUS_SPP,
    handler = sym rv_trap_handler,
);

/// Called by `__rv_trap_entry` with the frame it pushed (valid, aligned,
/// exclusively ours until the handler returns).
extern "C" fn rv_trap_handler(frame: &mut TrapFrame) {
    let trap = decode(frame);
    crate::kernel_trap(frame, trap);
}

/// Turn `scause`/`stval` into the kernel's view of the trap. For a
/// supervisor external interrupt this claims the source from the PLIC.
fn decode(f: &TrapFrame) -> Trap {
    let cause = f.scause;
    let addr = f.stval;
    let code = cause & !SCAUSE_INTERRUPT;
    let (kind, name) = if cause & SCAUSE_INTERRUPT != 0 {
        match code {
            1 => {
                // Supervisor software interrupt: nothing sends one yet.
                // SAFETY: clearing sip.SSIP only drops the pending software
                // interrupt being handled here.
                unsafe {
                    core::arch::asm!("csrc sip, {}", in(reg) 1u64 << 1, options(nomem, nostack))
                };
                (TrapKind::Spurious, "software interrupt")
            }
            5 => (TrapKind::Timer, "timer interrupt"),
            9 => match irq::claim() {
                0 => (TrapKind::Spurious, "spurious external interrupt"),
                irq => (TrapKind::External { irq }, "external interrupt"),
            },
            _ => (TrapKind::Other, "unknown interrupt"),
        }
    } else {
        match code {
            0 => (TrapKind::Alignment { addr }, "misaligned instruction fetch"),
            1 => {
                (TrapKind::PageFault { addr, access: Access::Execute }, "instruction access fault")
            }
            2 => (TrapKind::IllegalInstruction, "illegal instruction"),
            3 => (TrapKind::Breakpoint, "breakpoint"),
            4 => (TrapKind::Alignment { addr }, "misaligned load"),
            5 => (TrapKind::PageFault { addr, access: Access::Read }, "load access fault"),
            6 => (TrapKind::Alignment { addr }, "misaligned store"),
            7 => (TrapKind::PageFault { addr, access: Access::Write }, "store access fault"),
            8 => (TrapKind::Syscall, "system call"),
            9 => (TrapKind::Other, "environment call from S-mode"),
            12 => (TrapKind::PageFault { addr, access: Access::Execute }, "page fault"),
            13 => (TrapKind::PageFault { addr, access: Access::Read }, "page fault"),
            15 => (TrapKind::PageFault { addr, access: Access::Write }, "page fault"),
            _ => (TrapKind::Other, "unknown exception"),
        }
    };
    Trap { kind, from_user: f.sstatus & SSTATUS_SPP == 0, cause, detail: f.stval, name }
}

impl TrapFrameOps for TrapFrame {
    fn pc(&self) -> u64 {
        self.sepc
    }
    fn set_pc(&mut self, pc: u64) {
        self.sepc = pc;
    }
    fn sp(&self) -> u64 {
        self.regs[2]
    }
}

/// ABI names of `x0..x31`.
const REG_NAMES: [&str; 32] = [
    "zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4",
    "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4",
    "t5", "t6",
];

impl fmt::Display for TrapFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in REG_NAMES.iter().zip(self.regs.iter()).enumerate() {
            write!(f, "  {name:>4} {value:#018x}")?;
            if i % 4 == 3 {
                writeln!(f)?;
            }
        }
        write!(
            f,
            "  sepc {:#018x}  sstatus {:#018x}  scause {:#018x}  stval {:#018x}",
            self.sepc, self.sstatus, self.scause, self.stval
        )
    }
}

impl fmt::Debug for TrapFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
