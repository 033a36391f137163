//! The user-register file of `ThreadReadRegisters`/`ThreadWriteRegisters`
//! per machine (`docs/kernel.md`, "Faults"), and a new thread's initial
//! registers. Pure: tested on the host for both machines.

use crate::elf::Machine;

/// Most registers in either machine's order.
pub const MAX_REGS: usize = 32;

/// Where the registers a new thread needs sit in a machine's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegFile {
    /// Registers in the order.
    pub count: usize,
    pub pc: usize,
    pub sp: usize,
    /// The thread pointer (x86_64 `fs_base`, riscv64 `tp`).
    pub tls: usize,
    /// The C calling convention's argument registers.
    pub args: [usize; 6],
}

impl RegFile {
    /// x86_64: rax rbx rcx rdx rsi rdi rbp r8..r15 rip rsp rflags fs_base.
    pub const X86_64: RegFile =
        RegFile { count: 19, pc: 15, sp: 16, tls: 18, args: [5, 4, 3, 2, 7, 8] };
    /// riscv64: x1..x31 (ra, sp, gp, tp, ...) then pc.
    pub const RISCV64: RegFile =
        RegFile { count: 32, pc: 31, sp: 1, tls: 3, args: [9, 10, 11, 12, 13, 14] };

    pub const fn of(machine: Machine) -> RegFile {
        match machine {
            Machine::X86_64 => RegFile::X86_64,
            Machine::Riscv64 => RegFile::RISCV64,
        }
    }

    pub const fn native() -> RegFile {
        RegFile::of(Machine::native())
    }
}

/// How a thread starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Start {
    pub pc: u64,
    /// The stack pointer, as the entry expects it (16-byte aligned for
    /// rint's `_start` and a Linux process entry alike).
    pub sp: u64,
    /// Argument registers 0.. (at most 6).
    pub args: [u64; 6],
    /// Thread pointer (0: none).
    pub tls: u64,
}

/// The first `count` registers of `machine`'s order for `start`, everything
/// else zero.
pub fn initial_regs(machine: Machine, start: &Start) -> ([u64; MAX_REGS], usize) {
    let f = RegFile::of(machine);
    let mut r = [0u64; MAX_REGS];
    let mut put = |i: usize, v: u64| {
        if let Some(slot) = r.get_mut(i) {
            *slot = v;
        }
    };
    put(f.pc, start.pc);
    put(f.sp, start.sp);
    put(f.tls, start.tls);
    for (i, a) in f.args.iter().zip(start.args) {
        put(*i, a);
    }
    (r, f.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_orders() {
        let s = Start { pc: 0x1000, sp: 0x8000, args: [1, 2, 3, 4, 5, 6], tls: 0x77 };
        let (r, n) = initial_regs(Machine::X86_64, &s);
        assert_eq!(n, 19);
        // rdi, rsi, rdx, rcx, r8, r9; rip, rsp, fs_base.
        assert_eq!([r[5], r[4], r[3], r[2], r[7], r[8]], [1, 2, 3, 4, 5, 6]);
        assert_eq!([r[15], r[16], r[18]], [0x1000, 0x8000, 0x77]);
        assert_eq!(r[17], 0, "rflags: the kernel sets what it must");
        let (r, n) = initial_regs(Machine::Riscv64, &s);
        assert_eq!(n, 32);
        // a0..a5 are x10..x15; sp x2, tp x4, pc last.
        assert_eq!(&r[9..15], &[1, 2, 3, 4, 5, 6]);
        assert_eq!([r[31], r[1], r[3]], [0x1000, 0x8000, 0x77]);
        assert_eq!(r[0], 0, "ra: a return from the entry faults");
    }
}
