//! Trap entry and exit, entering user mode, the saved-register frame, and
//! decoding `scause`.
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
//! - While it runs in user mode, `sscratch` holds the top of the hart's
//!   kernel stack (today the boot stack: one hart, one kernel stack).
//!
//! On entry, `csrrw sp, sscratch, sp` swaps the two: a non-zero result means
//! the trap came from user mode and `sp` is now the kernel stack top (the
//! user `sp` sits in `sscratch` until it is saved in the frame); zero means
//! the trap came from the kernel, and a second swap puts the kernel `sp`
//! back. Either way `sscratch` is 0 again before any Rust code runs, so a
//! nested trap (a fault in a handler) is taken as a kernel trap. A trap from
//! user mode therefore always pushes its frame at the very top of the kernel
//! stack; the kernel's own state on that stack does not survive it.
//!
//! On entry from user mode `tp` and `gp` are set to the kernel's values (0
//! today: the kernel uses neither; `tp` will hold the per-CPU pointer once
//! secondary harts run). The user values are in the frame.
//!
//! # Interrupts
//! The hardware clears `sstatus.SIE` on every trap (keeping the old value in
//! SPIE) and the entry code never sets it, so the kernel runs a trap with
//! interrupts off. User mode always runs with interrupts on (S-mode
//! interrupts are taken in U-mode whatever SIE says; `sret` sets SIE from
//! SPIE = 1).
//!
//! # Entering user mode
//! [`enter_user`] (`Cpu::enter_user`) disables interrupts, points `sp` at
//! `stack top - FRAME_SIZE`, copies the frame there (a `memmove` in
//! registers only: the source may itself lie on the kernel stack, e.g. the
//! frame of the trap being handled), and jumps to `__rv_trap_return`. The
//! return path sees SPP = 0, writes the stack top (the frame's end) to
//! `sscratch` and executes `sret`. `enter_user` does not trust the frame's
//! privileged state: it rebuilds `sstatus` (SPP = 0, SPIE = 1, SIE = 0,
//! SUM = MXR = 0, only FS taken from the frame) and forces `sepc` into the
//! user half (see [`user_pc`]). `sstatus.SUM` is never set: the kernel does
//! not touch user memory through user addresses.
//!
//! # FP state
//! Every user thread has FP on: [`TrapFrameOps::new_user`] starts it with
//! `FS = Initial` and zeroed `f0..f31`/`fcsr` (no lazy enabling). The entry
//! saves `f0..f31` and `fcsr` whenever the interrupted context has FS != Off
//! (always, for user threads) and the return path restores them likewise,
//! so each frame carries its thread's FP state and the kernel may switch
//! threads by resuming another frame. A frame with FS = Off (only if the
//! kernel builds one by hand) resumes with FP off and FP instructions trap
//! as illegal instructions.
//!
//! # The user register order
//! [`TrapFrameOps::user_reg`] index `i` in `0..31` is `x(i + 1)`: ra, sp,
//! gp, tp, t0, t1, t2, s0, s1, a0..a7, s2..s11, t3..t6; index 31 is pc
//! (`USER_REGS` = 32, names in [`USER_REG_NAMES`]). The TLS base is `tp`
//! (index 3). Nothing privileged (`sstatus`, `scause`, `stval`) is reachable.
//!
//! [`api::Trap`]: crate::api::Trap
//! [`USER_REG_NAMES`]: TrapFrameOps::USER_REG_NAMES

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

const SSTATUS_SIE: u64 = 1 << 1;
const SSTATUS_SPIE: u64 = 1 << 5;
const SSTATUS_SPP: u64 = 1 << 8;
const SSTATUS_FS: u64 = 3 << 13;
const SSTATUS_FS_INITIAL: u64 = 1 << 13;
/// `sstatus.UXL`: XLEN of U-mode (2 = 64 bits; read-only on QEMU).
const SSTATUS_UXL: u64 = 3 << 32;
const SSTATUS_UXL_64: u64 = 2 << 32;
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
    j       6f
2:
    // From user mode: the kernel's tp and gp (see the module docs).
    li      tp, 0
    li      gp, 0
6:
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

    // __rv_enter_user(a0 = frame, a1 = kernel stack top, a2 = sstatus,
    // a3 = sepc) -> !: see `enter_user`. Uses no stack until the frame is in
    // place, so the source may overlap the destination.
    .global __rv_enter_user
__rv_enter_user:
    csrci   sstatus, {sie}
    addi    sp, a1, -{size}
    beq     a0, sp, 9f
    bltu    a0, sp, 8f
    // Source above the destination: copy upwards.
    mv      t0, sp
    addi    t1, a0, {size}
7:
    ld      t2, 0(a0)
    sd      t2, 0(t0)
    addi    a0, a0, 8
    addi    t0, t0, 8
    bltu    a0, t1, 7b
    j       9f
8:
    // Source below the destination: copy downwards.
    addi    a0, a0, {size}
    addi    t0, sp, {size}
10:
    addi    a0, a0, -8
    addi    t0, t0, -8
    ld      t2, 0(a0)
    sd      t2, 0(t0)
    bne     t0, sp, 10b
9:
    sd      a2, {sstatus}(sp)
    sd      a3, {sepc}(sp)
    j       __rv_trap_return
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
    sie = const SSTATUS_SIE,
    handler = sym rv_trap_handler,
);

unsafe extern "C" {
    /// Copies `frame` to `stack_top - FRAME_SIZE`, stores `sstatus` and
    /// `sepc` in the copy, and resumes it through `__rv_trap_return`.
    fn __rv_enter_user(frame: *const TrapFrame, stack_top: u64, sstatus: u64, sepc: u64) -> !;
    /// Top of the boot stack (`boot.rs`), this hart's kernel stack.
    static __rv_boot_stack_top: u8;
}

/// A user-mode `sepc` for `pc`: `pc` itself if it is a user-half address
/// (bits 63..38 clear), else 0; bit 0 cleared as the hardware does. A frame
/// never resumes at a kernel address: whatever the kernel or a user sets,
/// `sret` cannot fault in S-mode and the first fetch faults in U-mode at
/// worst.
fn user_pc(pc: u64) -> u64 {
    if pc >> 38 == 0 { pc & !1 } else { 0 }
}

/// `sstatus` for resuming a user frame whose saved `sstatus` is `saved`:
/// U-mode (SPP = 0), interrupts on after `sret` (SPIE = 1, SIE = 0 until
/// then), the live UXL, SUM = MXR = 0, and only FS taken from `saved`.
fn user_sstatus(saved: u64) -> u64 {
    let live: u64;
    // SAFETY: reading sstatus has no side effects.
    unsafe { core::arch::asm!("csrr {}, sstatus", out(reg) live, options(nomem, nostack)) };
    (live & SSTATUS_UXL) | SSTATUS_SPIE | (saved & SSTATUS_FS)
}

/// `Cpu::enter_user`: discard this hart's kernel stack and resume `frame`
/// in user mode (see the module docs).
pub(crate) fn enter_user(frame: &TrapFrame) -> ! {
    let top = (&raw const __rv_boot_stack_top) as u64;
    let sstatus = user_sstatus(frame.sstatus);
    let sepc = user_pc(frame.sepc);
    // SAFETY: `frame` is a valid, 8-aligned TrapFrame; `top` is the top of
    // this hart's kernel stack (16-aligned, FRAME_SIZE bytes below it are
    // stack). `__rv_enter_user` turns interrupts off, moves `sp` below the
    // destination before writing it and copies without using the stack (an
    // overlapping source, e.g. the current trap's frame, is handled), so it
    // discards only the kernel stack the contract gives up. The copy resumes
    // in U-mode (SPP = 0 forced in `sstatus`) at a user-half pc; the return
    // path sets `sscratch` to `top` for the next trap. Nothing returns here.
    unsafe { __rv_enter_user(frame, top, sstatus, sepc) }
}

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

    /// `x1..x31` by number, then pc (see the module docs).
    const USER_REGS: usize = 32;
    const USER_REG_NAMES: &'static [&'static str] = &[
        "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
        "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5",
        "t6", "pc",
    ];

    /// U-mode, interrupts on after `sret`, FS = Initial with zeroed FP
    /// registers, `a0` = `arg0`, `sp` = `sp`, pc as [`user_pc`] makes it.
    fn new_user(pc: u64, sp: u64, arg0: u64) -> Self {
        let mut regs = [0; 32];
        regs[REG_SP] = sp;
        regs[REG_A0] = arg0;
        TrapFrame {
            regs,
            sepc: user_pc(pc),
            sstatus: SSTATUS_UXL_64 | SSTATUS_SPIE | SSTATUS_FS_INITIAL,
            scause: 0,
            stval: 0,
            fregs: [0; 32],
            fcsr: 0,
            _pad: 0,
        }
    }

    /// `a7`.
    fn syscall_number(&self) -> u64 {
        self.regs[REG_A7]
    }

    /// `a0..a5`.
    fn syscall_arg(&self, i: usize) -> u64 {
        if i < 6 { self.regs[REG_A0 + i] } else { 0 }
    }

    /// `a0..a6`.
    fn set_syscall_result(&mut self, i: usize, value: u64) {
        if i < 7 {
            self.regs[REG_A0 + i] = value;
        }
    }

    /// `ecall` is always 4 bytes (there is no compressed form).
    fn skip_syscall_instruction(&mut self) {
        self.sepc = self.sepc.wrapping_add(4);
    }

    fn user_reg(&self, i: usize) -> u64 {
        match i {
            0..=30 => self.regs[i + 1],
            31 => self.sepc,
            _ => 0,
        }
    }

    /// Index 31 (pc) goes through [`user_pc`]: a pc outside the user half
    /// is stored as 0.
    fn set_user_reg(&mut self, i: usize, value: u64) {
        match i {
            0..=30 => self.regs[i + 1] = value,
            31 => self.sepc = user_pc(value),
            _ => {}
        }
    }

    /// `tp`.
    fn tls(&self) -> u64 {
        self.regs[REG_TP]
    }

    fn set_tls(&mut self, value: u64) {
        self.regs[REG_TP] = value;
    }
}

const _: () = assert!(
    <TrapFrame as TrapFrameOps>::USER_REG_NAMES.len() == <TrapFrame as TrapFrameOps>::USER_REGS
);

const REG_SP: usize = 2;
const REG_TP: usize = 4;
const REG_A0: usize = 10;
const REG_A7: usize = 17;

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
