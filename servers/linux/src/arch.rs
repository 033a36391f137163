//! Where a Linux syscall's number, arguments and result sit in the register
//! file an unknown-syscall fault carries (`docs/kernel.md`, "Faults"), per
//! arch. Everything else in the server is arch-independent.
//!
//! | | number | arguments 0..6 | result |
//! |---|---|---|---|
//! | x86_64 (`syscall`) | rax | rdi, rsi, rdx, r10, r8, r9 | rax; rcx and r11 get rip and rflags, as the `syscall` instruction leaves them |
//! | riscv64 (`ecall`) | a7 | a0..a5 | a0 |

use os::arch::RegFile;
use os::elf::Machine;

/// Register file of this machine.
pub const REGS: RegFile = RegFile::native();

/// Linux's name for this machine's syscall table.
pub const LINUX_ARCH: liblinux::Arch = match Machine::native() {
    Machine::X86_64 => liblinux::Arch::X86_64,
    Machine::Riscv64 => liblinux::Arch::Riscv64,
};

/// `uname`'s machine and the name in reports.
pub const NAME: &str = LINUX_ARCH.name();

#[cfg(target_arch = "x86_64")]
mod idx {
    pub const NR: usize = 0;
    pub const ARGS: [usize; 6] = [5, 4, 3, 9, 7, 8];
    pub const RESULT: usize = 0;
    /// rcx and r11, which `syscall` overwrites with rip and rflags.
    pub const CLOBBER_PC: Option<usize> = Some(2);
    pub const CLOBBER_FLAGS: Option<(usize, usize)> = Some((10, 17));
}

#[cfg(not(target_arch = "x86_64"))]
mod idx {
    pub const NR: usize = 16;
    pub const ARGS: [usize; 6] = [9, 10, 11, 12, 13, 14];
    pub const RESULT: usize = 9;
    pub const CLOBBER_PC: Option<usize> = None;
    pub const CLOBBER_FLAGS: Option<(usize, usize)> = None;
}

/// Most registers in a fault message.
pub const MAX_REGS: usize = os::arch::MAX_REGS;

/// A stopped thread's registers, as an unknown-syscall fault delivers them
/// and the reply sets them.
#[derive(Clone, Copy, Debug)]
pub struct Regs(pub [u64; MAX_REGS]);

impl Regs {
    fn get(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    fn set(&mut self, i: usize, v: u64) {
        if let Some(r) = self.0.get_mut(i) {
            *r = v;
        }
    }

    pub fn syscall_nr(&self) -> u64 {
        self.get(idx::NR)
    }

    pub fn syscall_args(&self) -> [u64; 6] {
        idx::ARGS.map(|i| self.get(i))
    }

    /// Set the syscall's result (and what the syscall instruction itself
    /// leaves, on x86_64).
    pub fn set_result(&mut self, v: u64) {
        self.set(idx::RESULT, v);
        if let Some(i) = idx::CLOBBER_PC {
            self.set(i, self.get(REGS.pc));
        }
        if let Some((i, flags)) = idx::CLOBBER_FLAGS {
            self.set(i, self.get(flags));
        }
    }

    /// The thread pointer (x86_64 FS base, riscv64 tp).
    pub fn tls(&self) -> u64 {
        self.get(REGS.tls)
    }

    pub fn set_tls(&mut self, v: u64) {
        self.set(REGS.tls, v);
    }

    /// The registers to send back.
    pub fn words(&self) -> &[u64] {
        self.0.get(..REGS.count).unwrap_or(&[])
    }
}

/// The CPU's cycle counter (x86_64 `rdtsc`, riscv64 `rdcycle`), the only
/// varying value the server can read without a clock or entropy service.
/// Used to seed `AT_RANDOM`: unpredictable enough for tests, not for
/// security (CAVEATS.md).
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
#[allow(unsafe_code)]
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` reads the time-stamp counter into edx:eax and has no
    // other effect; the kernel leaves user-mode `rdtsc` allowed (CR4.TSD
    // clear).
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// See the x86_64 version.
#[cfg(all(target_os = "none", target_arch = "riscv64"))]
#[allow(unsafe_code)]
pub fn cycles() -> u64 {
    let c: u64;
    // SAFETY: `rdcycle` reads the cycle CSR into a register and has no other
    // effect; user mode may read it (the kernel sets `scounteren.CY`).
    unsafe { core::arch::asm!("rdcycle {}", out(reg) c, options(nomem, nostack)) };
    c
}

/// `AT_HWCAP`: x86_64 reports CPUID.1:EDX, given here as the x86-64
/// baseline every x86_64 CPU has (FPU, TSC, CX8, CMOV, MMX, FXSR, SSE,
/// SSE2), not read from the CPU; riscv64 the single-letter extensions of
/// rv64gc, which rint requires.
pub const HWCAP: u64 = match Machine::native() {
    Machine::X86_64 => {
        (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 23) | (1 << 24) | (1 << 25) | (1 << 26)
    }
    Machine::Riscv64 => liblinux::abi::hwcap_riscv::RV64GC,
};
