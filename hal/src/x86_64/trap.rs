//! Traps: the IDT, 256 asm entry stubs and the `syscall` entry that save a
//! uniform [`TrapFrame`], the common exit, and decoding vectors into
//! [`Trap`]s for the kernel.
//!
//! Every stub pushes a dummy error code where the CPU pushes none, then its
//! vector, and jumps to the common entry, which does `swapgs` when the trap
//! came from user mode (saved CS has RPL 3), saves the 15 general-purpose
//! registers and two words (FS base, padding) and calls [`trap_entry`] with
//! the frame. The `syscall` entry (IA32_LSTAR) builds the same frame by hand
//! on this CPU's kernel stack: `swapgs`, user rsp to the per-CPU scratch
//! slot, kernel stack from the per-CPU area, then SS, rsp, rflags (from
//! r11), CS, rip (from rcx), error code 0 and the pseudo-vector
//! [`SYSCALL_VECTOR`]. Traps from user mode land at the top of the same
//! kernel stack (TSS.RSP0), so a user frame always sits right below it.
//!
//! `trap_entry` returns how to leave (see `user.rs`), and the common exit
//! restores the (possibly modified) frame and returns with `iretq`, or for
//! user mode `swapgs` and `iretq` or `sysretq`. So the frame is everything
//! needed to resume the interrupted context, kernel or user.
//!
//! Under the kvm_pvm hypervisor of this project's KVM host, `syscall` from
//! user mode arrives as a user page fault on the entry; `trap_entry` turns
//! it back into a syscall (see [`redo_misdelivered_syscall`]).
//!
//! All gates are interrupt gates (IF cleared on entry); `syscall` clears IF
//! through IA32_FMASK: the kernel runs with interrupts off. Double fault, NMI
//! and machine check run on their own IST stacks (see `gdt.rs`).

use super::{cpu, gdt, user, vectors};
use crate::api::{Access, Cpu, ExitCode, Trap, TrapFrameOps, TrapKind};
use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::fmt;
use core::mem::offset_of;
use x86_64::VirtAddr as X86VirtAddr;
use x86_64::instructions::tables::lidt;
use x86_64::registers::control::Cr2;
use x86_64::structures::DescriptorTablePointer;

/// The `vector` of a frame built by the `syscall` entry (no IDT vector is
/// this large).
pub(super) const SYSCALL_VECTOR: u64 = 0x100;

/// The registers of an interrupted context, as the entry code lays them out
/// on the stack (lowest address first).
///
/// User frames returned to user mode are sanitized on the way out (see
/// `user.rs`): user CS/SS, user RFLAGS bits only, rip/rsp/FS base in the
/// user half.
#[repr(C)]
#[derive(Clone, Default)]
pub struct TrapFrame {
    /// User FS base (TLS); 0 in frames of kernel traps.
    pub fs_base: u64,
    /// Padding that keeps the frame 16-byte aligned on the stack.
    pub _pad: u64,
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
    /// Vector number, pushed by the stub ([`SYSCALL_VECTOR`] for `syscall`).
    pub vector: u64,
    /// The CPU's error code, or 0 for vectors without one.
    pub error_code: u64,
    // Pushed by the CPU (by the `syscall` entry for syscalls):
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

const _: () = {
    assert!(core::mem::size_of::<TrapFrame>() == 24 * 8);
    assert!(offset_of!(TrapFrame, rax) == 16);
    assert!(offset_of!(TrapFrame, vector) == 17 * 8);
    assert!(offset_of!(TrapFrame, cs) == 20 * 8);
    assert!(offset_of!(TrapFrame, rsp) == 22 * 8);
};

impl TrapFrame {
    pub(super) const ZERO: TrapFrame = TrapFrame {
        fs_base: 0,
        _pad: 0,
        rax: 0,
        rbx: 0,
        rcx: 0,
        rdx: 0,
        rsi: 0,
        rdi: 0,
        rbp: 0,
        r8: 0,
        r9: 0,
        r10: 0,
        r11: 0,
        r12: 0,
        r13: 0,
        r14: 0,
        r15: 0,
        vector: 0,
        error_code: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    };

    /// Whether the trapped context ran in user mode (CS RPL 3).
    pub fn from_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

/// Names of the user registers, in `user_reg` order.
const USER_REG_NAMES: [&str; 19] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
    "r15", "rip", "rsp", "rflags", "fs_base",
];
const REG_RIP: usize = 15;
const REG_RSP: usize = 16;
const REG_RFLAGS: usize = 17;
const REG_FS_BASE: usize = 18;

/// User registers: `rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15, rip, rsp,
/// rflags, fs_base` (19). `set_user_reg` keeps the frame resumable in user
/// mode: RFLAGS keeps only CF, PF, AF, ZF, SF, TF, DF and OF, with IF and
/// bit 1 always set (IOPL 0, no NT, RF, VM, AC, VIF, VIP, ID); rip, rsp
/// and fs_base outside the user half (`>= Mmu::USER_END`, which includes
/// every non-canonical value) are stored as 0. CS and SS are not user
/// registers. The exit to user mode applies the same rules again to
/// whatever the frame holds.
impl TrapFrameOps for TrapFrame {
    const USER_REGS: usize = USER_REG_NAMES.len();
    const USER_REG_NAMES: &'static [&'static str] = &USER_REG_NAMES;

    fn pc(&self) -> u64 {
        self.rip
    }
    fn set_pc(&mut self, pc: u64) {
        self.rip = pc;
    }
    fn sp(&self) -> u64 {
        self.rsp
    }

    fn new_user(pc: u64, sp: u64, arg0: u64) -> Self {
        TrapFrame {
            rip: user::user_addr(pc),
            rsp: user::user_addr(sp),
            rdi: arg0,
            cs: u64::from(gdt::USER_CS),
            ss: u64::from(gdt::USER_SS),
            rflags: user::RFLAGS_USER_FIXED,
            ..TrapFrame::ZERO
        }
    }

    fn syscall_number(&self) -> u64 {
        self.rax
    }

    fn syscall_arg(&self, i: usize) -> u64 {
        match i {
            0 => self.rdi,
            1 => self.rsi,
            2 => self.rdx,
            3 => self.r10,
            4 => self.r8,
            5 => self.r9,
            _ => 0,
        }
    }

    fn set_syscall_result(&mut self, i: usize, value: u64) {
        let slot = match i {
            0 => &mut self.rax,
            1 => &mut self.rdi,
            2 => &mut self.rsi,
            3 => &mut self.rdx,
            4 => &mut self.r10,
            5 => &mut self.r8,
            6 => &mut self.r9,
            _ => return,
        };
        *slot = value;
    }

    /// `syscall` already left rip past the instruction: nothing to do.
    fn skip_syscall_instruction(&mut self) {}

    fn user_reg(&self, i: usize) -> u64 {
        match i {
            0 => self.rax,
            1 => self.rbx,
            2 => self.rcx,
            3 => self.rdx,
            4 => self.rsi,
            5 => self.rdi,
            6 => self.rbp,
            7 => self.r8,
            8 => self.r9,
            9 => self.r10,
            10 => self.r11,
            11 => self.r12,
            12 => self.r13,
            13 => self.r14,
            14 => self.r15,
            REG_RIP => self.rip,
            REG_RSP => self.rsp,
            REG_RFLAGS => self.rflags,
            REG_FS_BASE => self.fs_base,
            _ => 0,
        }
    }

    fn set_user_reg(&mut self, i: usize, value: u64) {
        let (slot, value) = match i {
            0 => (&mut self.rax, value),
            1 => (&mut self.rbx, value),
            2 => (&mut self.rcx, value),
            3 => (&mut self.rdx, value),
            4 => (&mut self.rsi, value),
            5 => (&mut self.rdi, value),
            6 => (&mut self.rbp, value),
            7 => (&mut self.r8, value),
            8 => (&mut self.r9, value),
            9 => (&mut self.r10, value),
            10 => (&mut self.r11, value),
            11 => (&mut self.r12, value),
            12 => (&mut self.r13, value),
            13 => (&mut self.r14, value),
            14 => (&mut self.r15, value),
            REG_RIP => (&mut self.rip, user::user_addr(value)),
            REG_RSP => (&mut self.rsp, user::user_addr(value)),
            REG_RFLAGS => (&mut self.rflags, user::user_rflags(value)),
            REG_FS_BASE => (&mut self.fs_base, user::user_addr(value)),
            _ => return,
        };
        *slot = value;
    }

    fn tls(&self) -> u64 {
        self.fs_base
    }

    /// A value outside the user half is stored as 0.
    fn set_tls(&mut self, value: u64) {
        self.fs_base = user::user_addr(value);
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
        write!(
            f,
            "  fs.base {:#x}  vector {:#x}  error code {:#x}",
            self.fs_base, self.vector, self.error_code
        )
    }
}

// ---------------------------------------------------------------------------
// Entry and exit
// ---------------------------------------------------------------------------

/// Bytes per entry stub (each is padded to this size, so the stub for
/// vector `v` is at `rint_trap_stubs + v * STUB_SIZE`).
const STUB_SIZE: u64 = 16;

global_asm!(
    r#"
    /* The register restore shared by the three exits (rsp at rax's slot). */
    /* The general registers in TrapFrame order (rax lowest). */
    .macro rint_push_gprs
    push %r15
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
    .endm

    .macro rint_pop_gprs
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
    .endm

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
1:  rint_push_gprs
    pushq $0                        /* padding */
    pushq $0                        /* FS base: trap_entry reads it */
    /* The CPU aligned rsp to 16 before pushing its 5 words; 2 + 17 more
       keep it 16-byte aligned for the call. */
rint_trap_dispatch:
    mov %rsp, %rdi
    cld
    call {entry}
    /* eax: how to leave (user.rs: 0 kernel, 1 user iretq, 2 user sysretq). */
    .global rint_trap_exit
rint_trap_exit:
    cmp $1, %eax
    je 3f
    ja 4f
    add $16, %rsp
    rint_pop_gprs
    add $16, %rsp                   /* vector, error code */
    iretq
3:  add $16, %rsp
    rint_pop_gprs
    add $16, %rsp
    swapgs
    iretq
4:  add $16, %rsp
    rint_pop_gprs                   /* rcx = rip, r11 = rflags (checked) */
    mov {rsp_off}(%rsp), %rsp       /* the user rsp */
    swapgs
    sysretq

    /* syscall: rcx = user rip, r11 = user rflags, IF/TF/DF/NT/AC cleared
       (IA32_FMASK), rsp still the user's. */
    .balign 16
    .global rint_syscall_entry
rint_syscall_entry:
    swapgs
    mov %rsp, %gs:{user_rsp}
    mov %gs:{stack_top}, %rsp
    pushq ${user_ss}
    pushq %gs:{user_rsp}
    push %r11
    pushq ${user_cs}
    push %rcx
    pushq $0                        /* error code */
    pushq ${syscall_vector}
    rint_push_gprs
    pushq $0
    pushq $0
    jmp rint_trap_dispatch
    "#,
    entry = sym trap_entry,
    rsp_off = const offset_of!(TrapFrame, rsp) - offset_of!(TrapFrame, vector),
    user_rsp = const offset_of!(user::CpuLocal, user_rsp),
    stack_top = const offset_of!(user::CpuLocal, kernel_stack_top),
    user_ss = const gdt::USER_SS,
    user_cs = const gdt::USER_CS,
    syscall_vector = const SYSCALL_VECTOR,
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
        // CR0.TS set: an FP instruction of a thread that has not used FP
        // yet (`fpu.rs`).
        7 => (TrapKind::FpUnavailable, "device not available"),
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
        SYSCALL_VECTOR => (TrapKind::Syscall, "syscall"),
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

/// Page-fault error code bits: user-mode access, instruction fetch.
const PF_USER: u64 = 1 << 2;
const PF_FETCH: u64 = 1 << 4;

/// Work around a hypervisor that delivers `syscall` from user mode without
/// the switch to ring 0 (the kvm_pvm "native" mode this project's KVM host
/// runs): the CPU does the rest of `syscall` (rcx = return rip, r11 =
/// rflags, IA32_FMASK applied, rip = IA32_LSTAR) and then faults, still in
/// user mode, fetching the entry (a kernel page). Such a user page fault at
/// exactly the entry is turned into the frame the `syscall` entry would
/// have built. User mode can fake this only by jumping to the entry with
/// chosen rcx and r11, which is no more than a real `syscall` followed by a
/// jump, with the same sanitizing on the way out.
fn redo_misdelivered_syscall(frame: &mut TrapFrame) {
    let entry = user::syscall_entry_address();
    if frame.rip == entry
        && frame.error_code & (PF_USER | PF_FETCH) == PF_USER | PF_FETCH
        && Cr2::read_raw() == entry
    {
        frame.rip = frame.rcx;
        frame.rflags = frame.r11;
        frame.vector = SYSCALL_VECTOR;
        frame.error_code = 0;
    }
}

/// Called by the common entry with the saved frame; returns how
/// `rint_trap_exit` leaves (`user::EXIT_*`).
extern "C" fn trap_entry(frame: &mut TrapFrame) -> u64 {
    if frame.vector != SYSCALL_VECTOR && cpu::smap_enabled() {
        // Interrupt delivery keeps RFLAGS.AC as the interrupted context had
        // it: the handler must not run with SMAP suspended because user mode
        // set AC. The exit restores the interrupted context's flags.
        // (`syscall` clears AC through IA32_FMASK.)
        cpu::clear_ac();
    }
    let from_user = frame.from_user();
    if from_user {
        user::capture_fs_base(frame);
        if frame.vector == 14 {
            redo_misdelivered_syscall(frame);
        }
    }
    let trap = decode(frame);
    crate::kernel_trap(frame, trap);
    if trap.kind == TrapKind::Fatal {
        // A double fault or machine check cannot be resumed.
        hal_println!("x86_64: the kernel returned from a {}; stopping", trap.name);
        super::Arch::exit(ExitCode::Failure);
    }
    // A trap from user mode always goes back to user mode.
    if from_user || frame.from_user() { user::prepare_user_exit(frame) } else { user::EXIT_KERNEL }
}
