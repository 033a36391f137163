//! What differs per arch, and the suite's only unsafe code: the user
//! register order, the instruction gadgets the fault tests run in child
//! threads (a load, a store, a Linux syscall, an illegal instruction), and
//! [`Page`], the root task's view of a frame it mapped for a test.
//!
//! Raw memory accesses are confined to the test regions ([`REGION`],
//! checked at start to hold none of the root task's own mappings), so no
//! Rust object is ever reached through them.

use core::ops::Range;

use libipc::abi::{Error, Rights};
use libipc::cap::{Cap, Frame, init};

/// Where the suite maps frames (page tables are added on demand): 1 GiB
/// above the root task's image.
pub const REGION: Range<u64> = 0x4000_0000..0x8000_0000;
/// A 1 GiB region where nothing is mapped and no page table exists.
pub const NO_TABLES: Range<u64> = 0x30_0000_0000..0x30_4000_0000;
/// A kernel-half address (both arches map their kernel image there).
pub const KERNEL_ADDR: u64 = 0xffff_ffff_8000_0000;

/// The user-register order of `ThreadReadRegisters`, `ThreadWriteRegisters`,
/// fault replies and unknown-syscall fault messages
/// (`hal::TrapFrameOps::user_reg`, listed in `docs/kernel.md`).
#[cfg(target_arch = "x86_64")]
pub mod regs {
    /// rax, rbx, rcx, rdx, rsi, rdi, rbp, r8..r15, rip, rsp, rflags, fs_base.
    pub const COUNT: usize = 19;
    pub const PC: usize = 15;
    pub const SP: usize = 16;
    /// Flags: the kernel keeps only the user bits, so no round trip.
    pub const FLAGS: Option<usize> = Some(17);
    pub const TLS: usize = 18;
    /// First argument register (rdi).
    pub const ARG0: usize = 5;
    /// Syscall number register (rax).
    pub const SYSCALL_NR: usize = 0;
    /// First result register (rax).
    pub const RESULT0: usize = 0;
}

/// The user-register order (riscv64): x1..x31, then pc.
#[cfg(target_arch = "riscv64")]
pub mod regs {
    pub const COUNT: usize = 32;
    pub const PC: usize = 31;
    /// x2.
    pub const SP: usize = 1;
    pub const FLAGS: Option<usize> = None;
    /// tp (x4).
    pub const TLS: usize = 3;
    /// a0 (x10).
    pub const ARG0: usize = 9;
    /// a7 (x17).
    pub const SYSCALL_NR: usize = 16;
    /// a0 (x10).
    pub const RESULT0: usize = 9;
}

#[cfg(target_arch = "x86_64")]
pub const NAME: &str = "x86_64";
#[cfg(target_arch = "riscv64")]
pub const NAME: &str = "riscv64";

/// Linux `getpid`: a syscall number that is not a rint syscall.
#[cfg(target_arch = "x86_64")]
pub const LINUX_GETPID: u64 = 39;
#[cfg(target_arch = "riscv64")]
pub const LINUX_GETPID: u64 = 172;

/// An interrupt line the platform has and the kernel does not use itself:
/// x86_64 GSI 10 (a PCI INTx line on QEMU's pc), riscv64 PLIC source 1
/// (virtio-mmio slot 0 on QEMU's virt).
#[cfg(target_arch = "x86_64")]
pub const FREE_IRQ: u64 = 10;
#[cfg(target_arch = "riscv64")]
pub const FREE_IRQ: u64 = 1;

/// Page-table levels below the root that a fresh VSpace needs before a
/// 4 KiB frame can be mapped (x86_64 PDPT, PD, PT; Sv39 two levels).
#[cfg(target_arch = "x86_64")]
pub const TABLE_LEVELS: usize = 3;
#[cfg(target_arch = "riscv64")]
pub const TABLE_LEVELS: usize = 2;

/// The stack pointer a thread starts a function with, given a 16-aligned
/// stack top: x86_64 functions expect `rsp + 8` to be 16-aligned (as after
/// a `call`), riscv64 functions `sp` itself.
#[cfg(target_arch = "x86_64")]
pub const fn initial_sp(top: u64) -> u64 {
    top - 8
}
#[cfg(target_arch = "riscv64")]
pub const fn initial_sp(top: u64) -> u64 {
    top
}

pub fn in_region(addr: u64, region: &Range<u64>) -> bool {
    region.contains(&addr)
}

// ---------------------------------------------------------------------------
// Gadgets: tiny functions with known instruction addresses
// ---------------------------------------------------------------------------

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    r#"
    .section .text.ktest_gadgets, "ax", @progbits
    .global ktest_load, ktest_store, ktest_linux_syscall, ktest_linux_syscall_ret
    .global ktest_illegal, ktest_illegal_resume, ktest_tls_word0
    .global ktest_breakpoint, ktest_breakpoint_resume
ktest_load:
    mov rax, [rdi]
    ret
ktest_store:
    mov [rdi], rsi
    ret
ktest_linux_syscall:
    mov rax, rdi
    syscall
ktest_linux_syscall_ret:
    ret
ktest_illegal:
    ud2
ktest_illegal_resume:
    ret
ktest_tls_word0:
    mov rax, fs:[0]
    ret
ktest_breakpoint:
    int3
ktest_breakpoint_resume:
    ret
    "#
);

#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    r#"
    .section .text.ktest_gadgets, "ax", @progbits
    .global ktest_load, ktest_store, ktest_linux_syscall, ktest_linux_syscall_ret
    .global ktest_illegal, ktest_illegal_resume, ktest_tls_word0
    .global ktest_breakpoint, ktest_breakpoint_resume
ktest_load:
    ld a0, 0(a0)
    ret
ktest_store:
    sd a1, 0(a0)
    ret
ktest_linux_syscall:
    mv a7, a0
    ecall
ktest_linux_syscall_ret:
    ret
ktest_illegal:
    unimp
ktest_illegal_resume:
    ret
ktest_tls_word0:
    ld a0, 0(tp)
    ret
ktest_breakpoint:
    ebreak
ktest_breakpoint_resume:
    ret
    "#
);

unsafe extern "C" {
    fn ktest_load(addr: u64) -> u64;
    fn ktest_store(addr: u64, value: u64);
    fn ktest_linux_syscall(nr: u64) -> u64;
    fn ktest_linux_syscall_ret();
    fn ktest_illegal();
    fn ktest_illegal_resume();
    fn ktest_tls_word0() -> u64;
    fn ktest_breakpoint();
    fn ktest_breakpoint_resume();
}

/// Load the word at `addr` (a test-region address, else 0 without a load).
/// The load instruction is the first of [`load_address`].
pub fn load(addr: u64) -> u64 {
    if !in_region(addr, &REGION) || !addr.is_multiple_of(8) {
        return 0;
    }
    // SAFETY: `addr` is an aligned address in the test region, which holds
    // no Rust object (checked by the `layout` test before any mapping); if
    // nothing is mapped there the thread faults to its handler, which is
    // the point.
    unsafe { ktest_load(addr) }
}

/// Store `value` at `addr` (a test-region address, else nothing).
pub fn store(addr: u64, value: u64) {
    if !in_region(addr, &REGION) || !addr.is_multiple_of(8) {
        return;
    }
    // SAFETY: as in `load`.
    unsafe { ktest_store(addr, value) }
}

/// Make syscall `nr` the Linux way (number in rax / a7, `syscall`/`ecall`)
/// and return the result register. Not a rint syscall: the thread's fault
/// handler gets an unknown-syscall fault and decides the result.
pub fn linux_syscall(nr: u64) -> u64 {
    // SAFETY: the gadget clobbers only caller-saved registers (rax, rcx,
    // r11 / a0, a7) and touches no memory; the kernel resumes the thread
    // with the registers its fault handler replies with.
    unsafe { ktest_linux_syscall(nr) }
}

/// Execute an illegal instruction; returns if the fault handler moves the
/// pc to [`illegal_resume_address`].
pub fn illegal_instruction() {
    // SAFETY: the gadget touches no register or memory before trapping; the
    // handler resumes it at its `ret`.
    unsafe { ktest_illegal() }
}

/// The word at the thread's TLS base (x86_64 `fs:0`, riscv64 `0(tp)`):
/// shows the kernel loads the TLS register. Call only in a thread whose TLS
/// base the test set to a mapped test page.
pub fn tls_word0() -> u64 {
    // SAFETY: the caller's TLS base is a mapped test page (see above), no
    // Rust object; the gadget clobbers only the result register.
    unsafe { ktest_tls_word0() }
}

/// Execute a breakpoint instruction (`int3`, `ebreak`): a user exception;
/// returns if the fault handler moves the pc to
/// [`breakpoint_resume_address`].
pub fn breakpoint() {
    // SAFETY: as for `illegal_instruction`.
    unsafe { ktest_breakpoint() }
}

pub fn breakpoint_address() -> u64 {
    ktest_breakpoint as *const () as usize as u64
}
pub fn breakpoint_resume_address() -> u64 {
    ktest_breakpoint_resume as *const () as usize as u64
}

pub fn load_address() -> u64 {
    ktest_load as *const () as usize as u64
}
pub fn linux_syscall_return_address() -> u64 {
    ktest_linux_syscall_ret as *const () as usize as u64
}
pub fn illegal_address() -> u64 {
    ktest_illegal as *const () as usize as u64
}
pub fn illegal_resume_address() -> u64 {
    ktest_illegal_resume as *const () as usize as u64
}

// ---------------------------------------------------------------------------
// Mapped test pages
// ---------------------------------------------------------------------------

/// A 4 KiB frame the root task mapped at a test-region address, read and
/// written through volatile word accesses. Made only by a successful
/// `FrameMap`; unmapped only through [`Page::unmap`].
pub struct Page {
    frame: Cap<Frame>,
    va: u64,
    writable: bool,
}

impl Page {
    pub const WORDS: usize = 512;

    /// Map `frame` at `va` (in [`REGION`], page-aligned) in the root VSpace.
    pub fn map(frame: Cap<Frame>, va: u64, rights: Rights) -> Result<Page, Error> {
        if !in_region(va, &REGION) || !va.is_multiple_of(4096) {
            return Err(Error::InvalidArgument);
        }
        frame.map(init::VSPACE, va, rights)?;
        Ok(Page { frame, va, writable: rights.contains(Rights::WRITE) })
    }

    pub fn va(&self) -> u64 {
        self.va
    }

    pub fn frame(&self) -> Cap<Frame> {
        self.frame
    }

    /// Word `i` of the page (0 past the end).
    pub fn read(&self, i: usize) -> u64 {
        if i >= Self::WORDS {
            return 0;
        }
        let p = core::ptr::with_exposed_provenance::<u64>(self.va as usize).wrapping_add(i);
        // SAFETY: the page is mapped readable at `va` (a successful map,
        // not unmapped since: `unmap` consumes the `Page`), in the test
        // region where no Rust object lives; `i < 512` stays inside it.
        unsafe { core::ptr::read_volatile(p) }
    }

    /// Set word `i`; `false` (and no store) if the mapping is read-only.
    pub fn write(&self, i: usize, value: u64) -> bool {
        if i >= Self::WORDS || !self.writable {
            return false;
        }
        let p = core::ptr::with_exposed_provenance_mut::<u64>(self.va as usize).wrapping_add(i);
        // SAFETY: as in `read`, and the mapping is writable (the rights of
        // the last successful map or remap).
        unsafe { core::ptr::write_volatile(p, value) };
        true
    }

    /// Change the mapping's rights.
    pub fn remap(&mut self, rights: Rights) -> Result<(), Error> {
        self.frame.remap(rights)?;
        self.writable = rights.contains(Rights::WRITE);
        Ok(())
    }

    pub fn unmap(self) -> Result<(), Error> {
        self.frame.unmap()
    }
}
