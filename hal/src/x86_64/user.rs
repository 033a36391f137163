//! User mode: the `syscall` MSRs, the per-CPU area GS points at in the
//! kernel, the checks and state loads on every return to user mode, and
//! `Cpu::enter_user`.
//!
//! # The per-CPU area and GS
//! In the kernel, IA32_GS_BASE points at this CPU's [`CpuLocal`]; in user mode
//! GS_BASE holds the user's GS base and the per-CPU pointer waits in
//! IA32_KERNEL_GS_BASE. Every entry from user mode (the `syscall` entry, and
//! the trap stubs when the saved CS has RPL 3) starts with `swapgs`; every
//! exit to user mode ends with one. Only the asm entry reads `%gs:`; Rust
//! code never does. So an NMI or machine check that lands where GS still
//! or already holds the user value (before the `syscall` entry's `swapgs`,
//! or between the exit's `swapgs` and `sysretq`/`iretq`) is harmless: it
//! runs on its IST stack, and its frame, from ring 0, skips `swapgs`.
//!
//! `CpuLocal` layout (byte offsets, used by the asm):
//!
//! | offset | field | |
//! |---|---|---|
//! | 0 | `kernel_stack_top` | top of this CPU's kernel stack, also TSS.RSP0 |
//! | 8 | `user_rsp` | scratch: the user rsp during the `syscall` entry |
//! | 16 | `fs_base_loaded` | FS base this CPU last loaded ([`FS_UNKNOWN`]: not known) |
//! | 64 | `staging` | the frame `enter_user` is resuming, while the stack is reset |
//!
//! # Returning to user mode
//! [`prepare_user_exit`] runs for every frame that goes back to user mode:
//! after a trap from user mode (whatever the handler left in the frame's
//! CS), after a kernel trap whose frame the handler replaced with a user one
//! (CS RPL 3), and in every `enter_user`. It forces the user selectors,
//! keeps only the user flags in RFLAGS (plus IF and the reserved bit 1), and
//! replaces an rip, rsp or FS base outside the user half (`>= USER_END`,
//! which covers every non-canonical value) with 0; an rip of 0 is then a
//! user page fault. So neither `iretq` nor `sysretq` can fault in ring 0.
//! It then loads the frame's FS base if it differs from the one this CPU
//! last loaded, and picks `sysretq` when the frame's rcx is its rip and r11
//! its rflags (as `syscall` leaves them; `sysretq` would clobber them
//! otherwise), `iretq` else.
//!
//! # FS and GS bases
//! The user FS base (TLS) is in the frame. Where the CPU has FSGSBASE the hal
//! enables it (CR4.FSGSBASE): user mode may then write its FS and GS bases
//! itself, so every entry from user mode reads the FS base with `rdfsbase`
//! into the frame (a kernel-half value becomes 0, loaded on the way out),
//! and every exit to user mode zeroes a non-zero user GS base: GS is not
//! part of a thread's state and never carries a value from one thread to
//! another. Without FSGSBASE the base is written with `wrmsr`; user mode can
//! then still change it behind the kernel's back, but only to 0 (loading any
//! selector into FS: every user-loadable descriptor has base 0, and Intel
//! CPUs zero the base on a null selector), so the cache stays trusted only
//! while it is 0 and a non-zero FS base is rewritten on every exit (user
//! segment loads into FS do not survive a trap).

use super::gdt;
use super::trap::TrapFrame;
use super::{Arch, cpu};
use crate::api::{Cpu, Mmu};
use core::arch::asm;
use core::cell::UnsafeCell;
use x86_64::registers::model_specific::{Efer, EferFlags, Msr};

const IA32_SYSENTER_CS: u32 = 0x174;
const IA32_STAR: u32 = 0xc000_0081;
const IA32_LSTAR: u32 = 0xc000_0082;
const IA32_CSTAR: u32 = 0xc000_0083;
const IA32_FMASK: u32 = 0xc000_0084;
const IA32_FS_BASE: u32 = 0xc000_0100;
const IA32_GS_BASE: u32 = 0xc000_0101;
const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;

// RFLAGS bits.
const CF: u64 = 1 << 0;
const RESERVED_1: u64 = 1 << 1;
const PF: u64 = 1 << 2;
const AF: u64 = 1 << 4;
const ZF: u64 = 1 << 6;
const SF: u64 = 1 << 7;
const TF: u64 = 1 << 8;
const IF: u64 = 1 << 9;
const DF: u64 = 1 << 10;
const OF: u64 = 1 << 11;
const NT: u64 = 1 << 14;
const AC: u64 = 1 << 18;

/// RFLAGS bits user mode controls: the arithmetic flags, the direction flag
/// and the trap flag (single-stepping traps to the kernel as a debug
/// exception). IOPL, NT, RF, VM, AC, VIF, VIP and ID are always 0.
pub(super) const RFLAGS_USER_BITS: u64 = CF | PF | AF | ZF | SF | TF | DF | OF;
/// RFLAGS bits always set in user mode: interrupts on, reserved bit 1.
pub(super) const RFLAGS_USER_FIXED: u64 = IF | RESERVED_1;
/// Flags `syscall` clears on entry (IA32_FMASK): interrupts off, and no
/// single-stepping, string direction, nested task or SMAP override
/// inherited from user mode.
const SYSCALL_FMASK: u64 = TF | IF | DF | NT | AC;

/// `fs_base_loaded` when the CPU's FS base is not known. Non-canonical, so
/// it never equals a frame's (user-half) FS base.
const FS_UNKNOWN: u64 = u64::MAX;

/// How `rint_trap_exit` leaves (its `eax`).
pub(super) const EXIT_KERNEL: u64 = 0;
pub(super) const EXIT_USER_IRET: u64 = 1;
pub(super) const EXIT_USER_SYSRET: u64 = 2;

/// The per-CPU area (see the module docs for the layout).
#[repr(C, align(64))]
pub(super) struct CpuLocal {
    pub(super) kernel_stack_top: u64,
    pub(super) user_rsp: u64,
    fs_base_loaded: u64,
    _reserved: [u64; 5],
    staging: TrapFrame,
}

const _: () = {
    assert!(core::mem::offset_of!(CpuLocal, kernel_stack_top) == 0);
    assert!(core::mem::offset_of!(CpuLocal, user_rsp) == 8);
    assert!(core::mem::offset_of!(CpuLocal, fs_base_loaded) == 16);
    assert!(core::mem::offset_of!(CpuLocal, staging) == 64);
};

struct CpuLocalCell(UnsafeCell<CpuLocal>);

// SAFETY: each `CpuLocal` is used only by its own CPU, with interrupts off
// (trap entry and exit, `enter_user`, `init` at boot), and by that CPU's asm
// entry through GS.
unsafe impl Sync for CpuLocalCell {}

/// CPUs with a per-CPU area (only the boot CPU for now).
const MAX_CPUS: usize = 1;

static CPU_LOCAL: [CpuLocalCell; MAX_CPUS] = [CpuLocalCell(UnsafeCell::new(CpuLocal {
    kernel_stack_top: 0,
    user_rsp: 0,
    fs_base_loaded: FS_UNKNOWN,
    _reserved: [0; 5],
    staging: TrapFrame::ZERO,
}))];

/// This CPU's area, as a raw pointer (fields are read and written through
/// it, never through a long-lived reference).
fn local() -> *mut CpuLocal {
    CPU_LOCAL[Arch::id()].0.get()
}

unsafe extern "C" {
    // Top of the boot stack (boot.rs): the kernel stack of the boot CPU.
    static rint_boot_stack_top: u8;
    // The asm entry and exit (trap.rs).
    fn rint_syscall_entry();
    fn rint_trap_exit();
}

fn write_msr(msr: u32, value: u64) {
    // SAFETY: only called from `init` and the FS base load below with MSRs
    // that exist on every x86_64 CPU (long mode implies them) and values
    // that keep the kernel running: the syscall MSRs point at the entry in
    // `trap.rs` with the GDT's selectors, the base MSRs take canonical
    // addresses.
    unsafe { Msr::new(msr).write(value) }
}

/// Set up `syscall`/`sysret`, the per-CPU area and the kernel stack for
/// traps from user mode. Boot CPU, interrupts off, after `gdt::init` (which
/// reloads GS) and `cpu::init`.
pub(super) fn init() {
    let top = &raw const rint_boot_stack_top as u64;
    let p = local();
    // SAFETY: boot CPU with interrupts off: nothing else uses the area yet.
    unsafe {
        (*p).kernel_stack_top = top;
        (*p).fs_base_loaded = 0; // written below
    }
    // SAFETY: `top` is the 16-byte aligned top of the boot stack, mapped
    // and writable in every address space (the kernel half is shared); it is
    // this CPU's kernel stack, which the kernel gives up entirely whenever
    // it enters user mode.
    unsafe { gdt::set_kernel_stack(top) };

    write_msr(IA32_GS_BASE, p as u64);
    write_msr(IA32_KERNEL_GS_BASE, 0);
    write_msr(IA32_FS_BASE, 0);
    // SYSENTER from user mode must fault (#GP with a null SYSENTER_CS on
    // Intel, #UD in long mode on AMD), never enter the kernel.
    write_msr(IA32_SYSENTER_CS, 0);
    // syscall: CS = 0x08, SS = 0x10; sysretq: CS = 0x18 + 16 = 0x2b,
    // SS = 0x18 + 8 = 0x23 (RPL forced to 3).
    write_msr(IA32_STAR, (u64::from(gdt::USER_BASE) << 48) | (u64::from(gdt::KERNEL_CS) << 32));
    write_msr(IA32_LSTAR, syscall_entry_address());
    // `syscall` from compatibility mode: unreachable (the GDT has no 32-bit
    // user code segment), but never let it jump to address 0.
    write_msr(IA32_CSTAR, syscall_entry_address());
    write_msr(IA32_FMASK, SYSCALL_FMASK);
    // SAFETY: enabling `syscall`/`sysret` changes nothing for the kernel;
    // the MSRs they use are set up above.
    unsafe { Efer::update(|f| f.insert(EferFlags::SYSTEM_CALL_EXTENSIONS)) };
}

/// Address of the `syscall` entry (IA32_LSTAR).
pub(super) fn syscall_entry_address() -> u64 {
    rint_syscall_entry as *const () as u64
}

/// `v` if it is a user-half address (canonical, below `USER_END`), else 0.
pub(super) const fn user_addr(v: u64) -> u64 {
    if v < <Arch as Mmu>::USER_END { v } else { 0 }
}

/// RFLAGS for user mode from `v`: the user bits of `v`, plus IF and bit 1.
pub(super) const fn user_rflags(v: u64) -> u64 {
    (v & RFLAGS_USER_BITS) | RFLAGS_USER_FIXED
}

fn rdfsbase() -> u64 {
    let v: u64;
    // SAFETY: only called with CR4.FSGSBASE on (`cpu::fsgsbase_enabled`);
    // reads the FS base into a register.
    unsafe { asm!("rdfsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// On entry from user mode: record the user's FS base in `frame`.
pub(super) fn capture_fs_base(frame: &mut TrapFrame) {
    let p = local();
    if cpu::fsgsbase_enabled() {
        let base = rdfsbase();
        // SAFETY: this CPU's area, interrupts off (trap entry).
        unsafe { (*p).fs_base_loaded = base };
        frame.fs_base = user_addr(base);
    } else {
        // SAFETY: as above.
        let loaded = unsafe { (*p).fs_base_loaded };
        // The thread that ran is the one whose FS base was loaded last.
        frame.fs_base = user_addr(loaded);
        if loaded != 0 {
            // User mode may have zeroed it with a segment load.
            // SAFETY: as above.
            unsafe { (*p).fs_base_loaded = FS_UNKNOWN };
        }
    }
}

/// Make the CPU's FS base `base` (a user-half address), unless it already is.
fn load_fs_base(base: u64) {
    let p = local();
    // SAFETY: this CPU's area, interrupts off (trap exit or `enter_user`).
    if unsafe { (*p).fs_base_loaded } == base {
        return;
    }
    if cpu::fsgsbase_enabled() {
        // SAFETY: CR4.FSGSBASE is on; `base` is canonical (user half). The
        // kernel does not use FS.
        unsafe { asm!("wrfsbase {}", in(reg) base, options(nomem, nostack, preserves_flags)) };
    } else {
        write_msr(IA32_FS_BASE, base);
    }
    // SAFETY: as above.
    unsafe { (*p).fs_base_loaded = base };
}

/// With FSGSBASE, user mode can set its GS base: zero it so that it never
/// reaches another thread.
fn clear_user_gs_base() {
    // SAFETY: CR4.FSGSBASE is on (checked by the caller). Interrupts are
    // off; between the two `swapgs` GS_BASE is the user's (IA32_KERNEL_GS_BASE
    // keeps the per-CPU pointer), and nothing in between uses GS. An NMI
    // there is harmless (see the module docs).
    unsafe {
        asm!(
            "swapgs",
            "rdgsbase {v}",
            "test {v}, {v}",
            "jz 2f",
            "xor {v:e}, {v:e}",
            "wrgsbase {v}",
            "2:",
            "swapgs",
            v = out(reg) _,
            options(nomem, nostack)
        )
    };
}

/// Make `frame` safe to resume in user mode and load the user state that is
/// not in registers; returns how `rint_trap_exit` leaves.
pub(super) fn prepare_user_exit(frame: &mut TrapFrame) -> u64 {
    frame.cs = u64::from(gdt::USER_CS);
    frame.ss = u64::from(gdt::USER_SS);
    frame.rflags = user_rflags(frame.rflags);
    frame.rip = user_addr(frame.rip);
    frame.rsp = user_addr(frame.rsp);
    frame.fs_base = user_addr(frame.fs_base);
    load_fs_base(frame.fs_base);
    if cpu::fsgsbase_enabled() {
        clear_user_gs_base();
    }
    // `sysretq` loads rip from rcx and rflags from r11: use it only where
    // that restores exactly the frame (rip is a user-half address, so
    // `sysretq` cannot fault in ring 0).
    if frame.rcx == frame.rip && frame.r11 == frame.rflags {
        EXIT_USER_SYSRET
    } else {
        EXIT_USER_IRET
    }
}

/// Called by `enter_user` on the fresh kernel stack with the frame copied to
/// its top.
extern "C" fn enter_user_prepare(frame: &mut TrapFrame) -> u64 {
    prepare_user_exit(frame)
}

/// `Cpu::enter_user`: reset to the top of this CPU's kernel stack, copy the
/// frame there and leave through the trap exit.
pub(super) fn enter_user(frame: &TrapFrame) -> ! {
    x86_64::instructions::interrupts::disable();
    let p = local();
    // SAFETY: this CPU's area, interrupts off. The frame is staged outside
    // the stack because the stack is about to be reset and `frame` may live
    // on it, anywhere, even where the copy goes.
    let (staging, top) = unsafe {
        (&raw mut (*p).staging).write(frame.clone());
        (&raw const (*p).staging, (*p).kernel_stack_top)
    };
    // SAFETY: discards the whole kernel stack, which the contract of
    // `enter_user` allows (nothing on it is needed again). `top` is the
    // 16-byte aligned top of this CPU's kernel stack; the frame (a multiple
    // of 16 bytes) is copied right below it, where a trap from user mode puts
    // its frame, and `rint_trap_exit` resumes it as the trap path would.
    // The call happens with rsp 16-byte aligned; DF is clear in the kernel.
    unsafe {
        asm!(
            "mov rsp, rdx",
            "sub rsp, {size}",
            "mov rdi, rsp",
            "mov ecx, {words}",
            "rep movsq",
            "mov rdi, rsp",
            "call {prepare}",
            "jmp {exit}",
            size = const core::mem::size_of::<TrapFrame>(),
            words = const core::mem::size_of::<TrapFrame>() / 8,
            prepare = sym enter_user_prepare,
            exit = sym rint_trap_exit,
            in("rsi") staging,
            in("rdx") top,
            options(noreturn)
        )
    }
}
