//! What differs per arch, and the program's only unsafe code (one
//! `#[allow(unsafe_code)]` function each): the clock counter user mode
//! reads, whose frequency the kernel gives in `BootInfo::clock_hz`
//! (x86_64 `rdtsc`, riscv64 `rdtime`), and the user-register order.

#[cfg(target_arch = "x86_64")]
pub const NAME: &str = "x86_64";
#[cfg(target_arch = "riscv64")]
pub const NAME: &str = "riscv64";

/// The user-register order of `ThreadWriteRegisters` (`docs/kernel.md`).
#[cfg(target_arch = "x86_64")]
pub mod regs {
    /// rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15, rip, rsp, rflags, fs_base.
    pub const COUNT: usize = 19;
    pub const PC: usize = 15;
    pub const SP: usize = 16;
    /// rdi.
    pub const ARG0: usize = 5;
}

/// The user-register order (riscv64): x1..x31, then pc.
#[cfg(target_arch = "riscv64")]
pub mod regs {
    pub const COUNT: usize = 32;
    pub const PC: usize = 31;
    /// x2.
    pub const SP: usize = 1;
    /// a0 (x10).
    pub const ARG0: usize = 9;
}

/// The stack pointer a thread starts a function with, given a 16-aligned
/// stack top: x86_64 functions expect `rsp + 8` to be 16-aligned (as after
/// a `call`), riscv64 functions `sp` itself.
pub const fn initial_sp(top: u64) -> u64 {
    if cfg!(target_arch = "x86_64") { top - 8 } else { top }
}

/// The clock counter (`BootInfo::clock_hz` ticks per second).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn clock() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` reads the time-stamp counter into edx:eax and has no
    // memory or other register effects (user-mode `rdtsc` is allowed: the
    // kernel leaves CR4.TSD clear).
    unsafe {
        core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The clock counter (`BootInfo::clock_hz` ticks per second).
#[cfg(target_arch = "riscv64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn clock() -> u64 {
    let t: u64;
    // SAFETY: `rdtime` reads the `time` CSR into a register and has no
    // memory effects; user mode may read it (the kernel sets
    // `scounteren.TM`).
    unsafe { core::arch::asm!("rdtime {}", out(reg) t, options(nomem, nostack)) };
    t
}
