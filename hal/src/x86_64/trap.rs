//! Traps: the IDT, 256 asm entry stubs that save a uniform [`TrapFrame`],
//! and decoding vectors into [`Trap`]s for the kernel.
//!
//! Every stub pushes a dummy error code where the CPU pushes none, then its
//! vector, and jumps to the common entry, which saves the 15 general-purpose
//! registers (with `swapgs` when the trap came from user mode), calls
//! [`trap_entry`] with the frame, restores the registers from the (possibly
//! modified) frame and returns with `iretq`. So the frame is everything
//! needed to resume the interrupted context, kernel or user.
//!
//! All gates are interrupt gates (IF cleared on entry). Double fault, NMI
//! and machine check run on their own IST stacks (see `gdt.rs`).

use super::{cpu, gdt, vectors};
use crate::api::{Access, Cpu, ExitCode, Trap, TrapFrameOps, TrapKind};
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::fmt;
use x86_64::VirtAddr as X86VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::registers::control::Cr2;
use x86_64::structures::DescriptorTablePointer;

/// The registers of an interrupted context, as the entry stubs lay them out
/// on the stack (lowest address first).
#[repr(C)]
#[derive(Clone, Default)]
pub struct TrapFrame {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    /// Vector number, pushed by the stub.
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    // Pushed by the CPU:
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 22 * 8);

impl TrapFrame {
    /// Whether the trapped context ran in user mode (CS RPL 3).
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

impl TrapFrameOps for TrapFrame {
    fn pc(&self) -> u64 {
        self.rip
    }
    fn set_pc(&mut self, pc: u64) {
        self.rip = pc;
    }
    fn sp(&self) -> u64 {
        self.rsp
    }
}

impl fmt::Display for TrapFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: [[(&str, u64); 4]; 5] = [
            [("rax", self.rax), ("rbx", self.rbx), ("rcx", self.rcx), ("rdx", self.rdx)],
            [("rsi", self.rsi), ("rdi", self.rdi), ("rbp", self.rbp), ("rsp", self.rsp)],
            [("r8", self.r8), ("r9", self.r9), ("r10", self.r10), ("r11", self.r11)],
            [("r12", self.r12), ("r13", self.r13), ("r14", self.r14), ("r15", self.r15)],
            [("rip", self.rip), ("rfl", self.rflags), ("cs", self.cs), ("ss", self.ss)],
        ];
        for row in rows {
            for (i, (name, v)) in row.iter().enumerate() {
                let sep = if i == 0 { "  " } else { " " };
                write!(f, "{sep}{name:>3} {v:#018x}")?;
            }
            writeln!(f)?;
        }
        write!(f, "  vector {:#x}  error code {:#x}", self.vector, self.error_code)
    }
}

// ---------------------------------------------------------------------------
// Entry stubs
// ---------------------------------------------------------------------------

/// Bytes per entry stub (each is padded to this size, so the stub for
/// vector `v` is at `rint_trap_stubs + v * STUB_SIZE`).
const STUB_SIZE: u64 = 16;

global_asm!(
    r#"
    .section .text.rint_trap, "ax", @progbits
    .balign 16
    .global rint_trap_stubs
rint_trap_stubs:
    .set rint_vec, 0
    .rept 256
    .balign 16
    /* Vectors with a CPU error code: 8, 10-14, 17, 21, 29, 30. */
    .if (rint_vec == 8) || ((rint_vec >= 10) && (rint_vec <= 14)) || (rint_vec == 17) || (rint_vec == 21) || (rint_vec == 29) || (rint_vec == 30)
    .else
    pushq $0
    .endif
    pushq $rint_vec
    jmp rint_trap_common
    .set rint_vec, rint_vec + 1
    .endr
    .balign 16
rint_trap_stubs_end:

    /* Stack: vector, error code, rip, cs, rflags, rsp, ss. */
rint_trap_common:
    testb $3, 24(%rsp)
    jz 1f
    swapgs
1:  push %r15
    push %r14
    push %r13
    push %r12
    push %r11
    push %r10
    push %r9
    push %r8
    push %rbp
    push %rdi
    push %rsi
    push %rdx
    push %rcx
    push %rbx
    push %rax
    /* The CPU aligned rsp to 16 before pushing its 5 words; 2 + 15 more
       keep it 16-byte aligned for the call. */
    mov %rsp, %rdi
    cld
    call {entry}
    pop %rax
    pop %rbx
    pop %rcx
    pop %rdx
    pop %rsi
    pop %rdi
    pop %rbp
    pop %r8
    pop %r9
    pop %r10
    pop %r11
    pop %r12
    pop %r13
    pop %r14
    pop %r15
    testb $3, 24(%rsp)
    jz 2f
    swapgs
2:  add $16, %rsp
    iretq
    "#,
    entry = sym trap_entry,
    options(att_syntax)
);

unsafe extern "C" {
    static rint_trap_stubs: u8;
    static rint_trap_stubs_end: u8;
}

// ---------------------------------------------------------------------------
// IDT
// ---------------------------------------------------------------------------

#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

const EMPTY_GATE: Gate = Gate {
    offset_low: 0,
    selector: 0,
    ist: 0,
    attributes: 0,
    offset_mid: 0,
    offset_high: 0,
    reserved: 0,
};

#[repr(C, align(16))]
struct Idt(UnsafeCell<[Gate; 256]>);

// SAFETY: the IDT is written only by `init` on the boot CPU before it is
// loaded and before interrupts are enabled; afterwards only the CPU reads it.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([EMPTY_GATE; 256]));

const GATE_INTERRUPT: u8 = 0x8e; // present, DPL 0, 64-bit interrupt gate
const GATE_INTERRUPT_USER: u8 = 0xee; // same, callable with `int` from ring 3

/// Fill and load the IDT.
pub(super) fn init() {
    let base = &raw const rint_trap_stubs as u64;
    let end = &raw const rint_trap_stubs_end as u64;
    assert_eq!(end - base, 256 * STUB_SIZE, "trap stubs are not {STUB_SIZE} bytes each");
    let idt = IDT.0.get();
    for v in 0..256u64 {
        let handler = base + v * STUB_SIZE;
        let ist = match v {
            8 => gdt::IST_DOUBLE_FAULT,
            2 => gdt::IST_NMI,
            18 => gdt::IST_MACHINE_CHECK,
            _ => 0,
        };
        // Breakpoint (int3) may come from user mode.
        let attributes = if v == 3 { GATE_INTERRUPT_USER } else { GATE_INTERRUPT };
        let gate = Gate {
            offset_low: handler as u16,
            selector: gdt::KERNEL_CS,
            ist,
            attributes,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        };
        // SAFETY: `v` < 256 indexes the static IDT, which nothing reads
        // until `lidt` below (boot CPU, interrupts off).
        unsafe { (*idt)[v as usize] = gate };
    }
    let ptr =
        DescriptorTablePointer { limit: (256 * 16 - 1) as u16, base: X86VirtAddr::new(idt as u64) };
    // SAFETY: the IDT is a static that lives forever and every gate points
    // at an entry stub in the kernel text with the kernel code selector.
    unsafe { lidt(&ptr) };
}

// ---------------------------------------------------------------------------
// Decoding and dispatch
// ---------------------------------------------------------------------------

/// Name and kind of CPU exception `v` (< 32).
fn exception(v: u64, frame: &TrapFrame) -> (TrapKind, &'static str) {
    match v {
        0 => (TrapKind::Arithmetic, "divide error"),
        1 => (TrapKind::Other, "debug exception"),
        2 => (TrapKind::Other, "non-maskable interrupt"),
        3 => (TrapKind::Breakpoint, "breakpoint"),
        4 => (TrapKind::Other, "overflow"),
        5 => (TrapKind::Other, "bound range exceeded"),
        6 => (TrapKind::IllegalInstruction, "illegal instruction"),
        7 => (TrapKind::Other, "device not available"),
        8 => (TrapKind::Fatal, "double fault"),
        10 => (TrapKind::Other, "invalid TSS"),
        11 => (TrapKind::Other, "segment not present"),
        12 => (TrapKind::Other, "stack-segment fault"),
        13 => (TrapKind::GeneralProtection, "general protection fault"),
        14 => {
            let e = frame.error_code;
            let access = if e & (1 << 4) != 0 {
                Access::Execute
            } else if e & (1 << 1) != 0 {
                Access::Write
            } else {
                Access::Read
            };
            (TrapKind::PageFault { addr: Cr2::read_raw(), access }, "page fault")
        }
        16 => (TrapKind::Arithmetic, "x87 floating-point error"),
        // #AC reports no address; the faulting instruction is at rip.
        17 => (TrapKind::Alignment { addr: 0 }, "alignment check"),
        18 => (TrapKind::Fatal, "machine check"),
        19 => (TrapKind::Arithmetic, "SIMD floating-point error"),
        20 => (TrapKind::Other, "virtualization exception"),
        21 => (TrapKind::Other, "control protection exception"),
        _ => (TrapKind::Other, "reserved exception"),
    }
}

/// Decode the trap described by `frame`.
fn decode(frame: &TrapFrame) -> Trap {
    let v = frame.vector;
    let (kind, name) = match v {
        0..32 => exception(v, frame),
        _ if v == u64::from(vectors::TIMER) => (TrapKind::Timer, "timer interrupt"),
        _ if v == u64::from(vectors::SPURIOUS) => (TrapKind::Spurious, "spurious interrupt"),
        _ if v == u64::from(vectors::APIC_ERROR) => (TrapKind::Other, "local APIC error"),
        _ if (u64::from(vectors::LEGACY_PIC_BASE)..u64::from(vectors::IRQ_BASE)).contains(&v) => {
            (TrapKind::Spurious, "legacy PIC interrupt")
        }
        _ if (u64::from(vectors::IRQ_BASE)..u64::from(vectors::TIMER)).contains(&v) => {
            let irq = (v - u64::from(vectors::IRQ_BASE)) as u32;
            (TrapKind::External { irq }, "device interrupt")
        }
        _ => (TrapKind::Other, "unexpected interrupt"),
    };
    Trap { kind, from_user: frame.from_user(), cause: v, detail: frame.error_code, name }
}

/// Called by the common entry stub with the saved frame.
extern "C" fn trap_entry(frame: &mut TrapFrame) {
    if cpu::smap_enabled() {
        // Interrupt delivery keeps RFLAGS.AC as the interrupted context had
        // it: the handler must not run with SMAP suspended because user mode
        // set AC. `iretq` restores the interrupted context's flags.
        cpu::clear_ac();
    }
    let trap = decode(frame);
    crate::kernel_trap(frame, trap);
    if trap.kind == TrapKind::Fatal {
        // A double fault or machine check cannot be resumed.
        hal_println!("x86_64: the kernel returned from a {}; stopping", trap.name);
        super::Arch::exit(ExitCode::Failure);
    }
}
