//! What differs per arch, and the program's only unsafe code, one
//! `#[allow(unsafe_code)]` function each:
//!
//! - [`cycles`]: the cycle counter (`lfence; rdtsc; lfence` on x86_64,
//!   `rdcycle` on riscv64). It belongs in `libipc::sys` beside the syscall
//!   stub; it lives here until it moves there.
//! - [`ScratchPage::write`]: stores into a fresh frame the root task mapped
//!   at [`SCRATCH`], to fill the server's image pages.

use libipc::abi::{Error, Rights};
use libipc::cap::{Cap, Frame, init};

#[cfg(target_arch = "x86_64")]
pub const NAME: &str = "x86_64";
#[cfg(target_arch = "riscv64")]
pub const NAME: &str = "riscv64";

/// Which counter [`cycles`] reads, as printed in the result line.
#[cfg(target_arch = "x86_64")]
pub const COUNTER: &str = "rdtsc";
#[cfg(target_arch = "riscv64")]
pub const COUNTER: &str = "rdcycle";

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

/// Read the cycle counter.
///
/// x86_64: `rdtsc` between two `lfence`s, so it is not executed before
/// earlier instructions finish nor later ones start before it. riscv64:
/// `rdcycle` (the kernel sets `scounteren.CY`). Under QEMU's TCG both count
/// host time-stamp ticks rather than guest cycles.
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

/// Read the cycle counter (see the x86_64 version).
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

/// Where the root task maps a frame to fill it: 1 GiB, far above its image
/// (which ends below `root_layout::IMAGE_END`, in practice within a few
/// MiB of the linker's base) and below its IPC buffer.
pub const SCRATCH: u64 = 0x4000_0000;

/// A frame mapped read-write at [`SCRATCH`] in the root VSpace. Made only by
/// a successful `FrameMap` there, unmapped only by [`ScratchPage::unmap`];
/// at most one exists at a time (the address is taken while it does).
pub struct ScratchPage {
    frame: Cap<Frame>,
}

impl ScratchPage {
    pub const SIZE: usize = 4096;

    /// Map `frame` (4 KiB) at [`SCRATCH`]. The page tables for it must exist.
    pub fn map(frame: Cap<Frame>) -> Result<ScratchPage, Error> {
        frame.map(init::VSPACE, SCRATCH, Rights::READ.union(Rights::WRITE))?;
        Ok(ScratchPage { frame })
    }

    /// Store `bytes` at byte `at` of the page; `false` (nothing stored) if
    /// they do not fit.
    #[allow(unsafe_code)]
    pub fn write(&mut self, at: usize, bytes: &[u8]) -> bool {
        match at.checked_add(bytes.len()) {
            Some(end) if end <= Self::SIZE => {}
            _ => return false,
        }
        let dst = core::ptr::with_exposed_provenance_mut::<u8>(SCRATCH as usize).wrapping_add(at);
        // SAFETY: `self` exists only while the frame is mapped read-write at
        // SCRATCH (a successful map, not unmapped since: `unmap` consumes
        // `self`), and `at..end` lies within its 4 KiB. No Rust object lives
        // there (the address is outside the image, the stack, the IPC buffer
        // and the archive), so nothing aliases the destination, and
        // `bytes` (the archive or the stack) cannot overlap it.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        true
    }

    /// Unmap the page; the frame can then be mapped elsewhere.
    pub fn unmap(self) -> Result<Cap<Frame>, Error> {
        self.frame.unmap()?;
        Ok(self.frame)
    }
}
