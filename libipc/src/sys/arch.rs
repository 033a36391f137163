//! What user space needs of the machine beyond the syscall trap: its name,
//! the stack pointer a thread starts a function with, and the two counters
//! user mode reads.
//!
//! - [`clock`]: the counter the kernel's own time comes from,
//!   `BootInfo::clock_hz` ticks per second (x86_64 `rdtsc`, riscv64
//!   `rdtime`). For waits and time measured in seconds.
//! - [`cycles`]: the cycle counter for timing short code paths, fenced so
//!   that it is read in order with the code around it (x86_64
//!   `lfence; rdtsc; lfence`, riscv64 `rdcycle`); [`CYCLES_COUNTER`] names
//!   it. Under QEMU's TCG both count host time-stamp ticks rather than
//!   guest cycles.
//!
//! The user-register order of `ThreadWriteRegisters` is `os::arch`'s
//! (`RegFile`); this module has what a program that starts its own threads
//! needs besides it. The unsafe code is the counter reads, one `asm!` each.

/// The machine's name, as results and logs print it.
#[cfg(target_arch = "x86_64")]
pub const NAME: &str = "x86_64";
/// The machine's name, as results and logs print it.
#[cfg(target_arch = "riscv64")]
pub const NAME: &str = "riscv64";

/// Which counter [`cycles`] reads.
#[cfg(target_arch = "x86_64")]
pub const CYCLES_COUNTER: &str = "rdtsc";
/// Which counter [`cycles`] reads.
#[cfg(target_arch = "riscv64")]
pub const CYCLES_COUNTER: &str = "rdcycle";

/// The stack pointer a thread starts a function with, given a 16-aligned
/// stack top: x86_64 functions expect `rsp + 8` to be 16-aligned (as after
/// a `call`), riscv64 functions `sp` itself.
pub const fn initial_sp(top: u64) -> u64 {
    if cfg!(target_arch = "x86_64") { top - 8 } else { top }
}

/// The clock (`BootInfo::clock_hz` ticks per second): `rdtsc`.
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

/// The clock (`BootInfo::clock_hz` ticks per second): `rdtime`.
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

/// The cycle counter: `rdtsc` between two `lfence`s, so it is not executed
/// before earlier instructions finish nor later ones start before it.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `lfence` and `rdtsc` read the time-stamp counter into
    // edx:eax and have no memory or other register effects (user-mode
    // `rdtsc` is allowed: the kernel leaves CR4.TSD clear). Not `pure`, so
    // the compiler keeps it in order with the syscalls around it.
    unsafe {
        core::arch::asm!(
            "lfence",
            "rdtsc",
            "lfence",
            out("eax") lo,
            out("edx") hi,
            options(nomem, nostack, preserves_flags),
        );
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// The cycle counter: `rdcycle`.
#[cfg(target_arch = "riscv64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn cycles() -> u64 {
    let c: u64;
    // SAFETY: `rdcycle` reads the `cycle` CSR into a register and has no
    // memory effects; user mode may read it (the kernel sets
    // `scounteren.CY`, OpenSBI `mcounteren.CY`). Not `pure`, so the
    // compiler keeps it in order with the syscalls around it.
    unsafe { core::arch::asm!("rdcycle {}", out(reg) c, options(nomem, nostack)) };
    c
}

/// `steps` steps of CPU work (xorshift), however long they take; returns
/// the result so that the work is not optimised away. With [`calibrate`],
/// a way to keep a CPU busy for a given time.
pub fn work(steps: u64) -> u64 {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..steps {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    core::hint::black_box(x)
}

/// Steps of [`work`] this CPU does in `ticks` of the [`clock`], from the
/// fastest of `tries` measurements (take them while nothing else runs).
pub fn calibrate(ticks: u64, tries: u32) -> u64 {
    const STEPS: u64 = 1 << 16;
    let mut best = u64::MAX;
    for _ in 0..tries {
        let t0 = clock();
        work(STEPS);
        best = best.min(clock().wrapping_sub(t0).max(1));
    }
    (u128::from(STEPS) * u128::from(ticks) / u128::from(best)) as u64
}
