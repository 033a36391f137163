//! What differs per arch, and the suite's only unsafe code: the user
//! register order, the instruction gadgets the fault tests run in child
//! threads (a load, a store, a Linux syscall, an illegal instruction, a raw
//! syscall with any number), [`Page`], the root task's view of a frame it
//! mapped for a test, IPC-buffer handles for threads the suite starts, and
//! the root task's own read-only image ([`image_segments`], [`copy_image_page`]),
//! which the suite copies into the address spaces it builds.
//!
//! Raw memory accesses are confined to the test regions ([`REGION`],
//! checked at start to hold none of the root task's own mappings) and to
//! reads of the root task's read-only segments, so no Rust object is ever
//! written through them.

use core::ops::Range;

use libipc::abi::{Error, Rights};
use libipc::cap::{Cap, Frame, init};
use libipc::sys::IpcBuf;

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
    /// Function arguments 0..4 (rdi, rsi, rdx, rcx).
    pub const CALL_ARGS: [usize; 4] = [5, 4, 3, 2];
    /// Syscall arguments 0..6 (rdi, rsi, rdx, r10, r8, r9).
    pub const SYSCALL_ARGS: [usize; 6] = [5, 4, 3, 9, 7, 8];
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
    /// Function arguments 0..4 (a0..a3).
    pub const CALL_ARGS: [usize; 4] = [9, 10, 11, 12];
    /// Syscall arguments 0..6 (a0..a5).
    pub const SYSCALL_ARGS: [usize; 6] = [9, 10, 11, 12, 13, 14];
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
    .global ktest_raw_syscall, ktest_raw_syscall_ret
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
ktest_raw_syscall:
    push r12
    mov r12, rdi
    mov rax, [r12]
    mov rdi, [r12 + 8]
    mov rsi, [r12 + 16]
    mov rdx, [r12 + 24]
    mov r10, [r12 + 32]
    mov r8, [r12 + 40]
    mov r9, [r12 + 48]
    syscall
ktest_raw_syscall_ret:
    mov [r12], rax
    mov [r12 + 8], rdi
    mov [r12 + 16], rsi
    mov [r12 + 24], rdx
    mov [r12 + 32], r10
    mov [r12 + 40], r8
    mov [r12 + 48], r9
    pop r12
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
    .global ktest_raw_syscall, ktest_raw_syscall_ret
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
ktest_raw_syscall:
    mv t0, a0
    ld a7, 0(t0)
    ld a0, 8(t0)
    ld a1, 16(t0)
    ld a2, 24(t0)
    ld a3, 32(t0)
    ld a4, 40(t0)
    ld a5, 48(t0)
    ecall
ktest_raw_syscall_ret:
    sd a0, 0(t0)
    sd a1, 8(t0)
    sd a2, 16(t0)
    sd a3, 24(t0)
    sd a4, 32(t0)
    sd a5, 40(t0)
    sd a6, 48(t0)
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
    fn ktest_raw_syscall(io: *mut [u64; 7]);
    fn ktest_raw_syscall_ret();
    /// The root task's ELF header (the linker defines it: the first
    /// loadable segment starts with the headers).
    static __ehdr_start: u8;
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

/// A free-running counter readable in user mode (x86_64 `rdtsc`, riscv64
/// `rdtime`), in units that differ per machine: only for ratios.
#[cfg(target_arch = "x86_64")]
pub fn cycles() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: `rdtsc` reads the time-stamp counter (the kernel leaves
    // CR4.TSD clear, so user mode may); it touches no memory.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(target_arch = "riscv64")]
pub fn cycles() -> u64 {
    let t: u64;
    // SAFETY: `rdtime` reads the time CSR (the kernel enables it for user
    // mode in scounteren); it touches no memory.
    unsafe { core::arch::asm!("rdtime {}", out(reg) t, options(nomem, nostack)) };
    t
}

/// Trap into the kernel with any syscall number: `io` holds the number and
/// six argument words in, the seven result registers out (a rint syscall
/// writes them; for any other number the thread's fault handler decides,
/// and gets the pc of [`raw_syscall_return_address`]).
pub fn raw_syscall(io: &mut [u64; 7]) {
    // SAFETY: the gadget reads and writes only the seven words of `io` (a
    // valid, exclusive array), saves and restores the callee-saved register
    // it uses (r12; riscv64 uses t0, preserved by the kernel like every
    // non-result register), and clobbers only caller-saved registers
    // (rax, rcx, rdx, rsi, rdi, r8-r11 / a0-a7, t0). The kernel resumes the
    // thread with its registers, except the result registers the gadget
    // stores; a fault handler must reply with the registers it was sent.
    unsafe { ktest_raw_syscall(io) }
}

pub fn raw_syscall_return_address() -> u64 {
    ktest_raw_syscall_ret as *const () as usize as u64
}

/// A handle to the IPC buffer at `va`, for a thread the suite started with
/// its buffer mapped there (a test-region address; else no buffer).
pub fn ipc_buf(va: u64) -> IpcBuf {
    if !in_region(va, &REGION) || !va.is_multiple_of(4096) {
        return IpcBuf::NONE;
    }
    // SAFETY: the suite maps every thread's IPC buffer read-write at a
    // page-aligned test-region address, where no Rust object lives, and
    // registers it with the kernel before the thread runs; only `IpcBuf`
    // handles reach it. If it were not mapped, an access would fault to
    // the thread's handler.
    unsafe { IpcBuf::from_vaddr(va) }
}

// ---------------------------------------------------------------------------
// The root task's image
// ---------------------------------------------------------------------------

/// A loadable segment of the root task's image: pages `start..end`, of
/// which `start..file_end` hold bytes of the file (the rest is `.bss`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub start: u64,
    pub end: u64,
    pub file_end: u64,
    pub writable: bool,
    pub executable: bool,
}

fn ehdr() -> u64 {
    // Only the address is taken; nothing is read through a reference.
    (&raw const __ehdr_start) as usize as u64
}

/// Word `i` of the root task's ELF headers (program headers included).
fn header_word(i: u64) -> u64 {
    let p = core::ptr::with_exposed_provenance::<u64>((ehdr() + 8 * i) as usize);
    // SAFETY: the ELF header and the program headers lie in the first
    // loadable segment (the linker defines `__ehdr_start` only then), which
    // the kernel maps readable; callers stay below the program-header
    // table's end, and every word there is 8-aligned (the headers are).
    unsafe { core::ptr::read_volatile(p) }
}

/// The root task's loadable segments, page-rounded, from its own program
/// headers (at most `out.len()`); returns how many.
pub fn image_segments(out: &mut [Segment]) -> usize {
    const PT_LOAD: u64 = 1;
    const PF_X: u64 = 1;
    const PF_W: u64 = 2;
    let phoff = header_word(4);
    let phentsize = header_word(6) >> 48;
    let phnum = header_word(7) & 0xffff;
    if phentsize != 56 || !phoff.is_multiple_of(8) || phoff > 4096 || phnum > 64 {
        return 0;
    }
    let mut n = 0;
    for i in 0..phnum {
        let w = (phoff + i * phentsize) / 8;
        let (kind, flags) = (header_word(w) & 0xffff_ffff, header_word(w) >> 32);
        let (vaddr, filesz, memsz) = (header_word(w + 2), header_word(w + 4), header_word(w + 5));
        if kind != PT_LOAD || memsz == 0 {
            continue;
        }
        let Some(slot) = out.get_mut(n) else { break };
        *slot = Segment {
            start: vaddr & !0xfff,
            end: vaddr.saturating_add(memsz).div_ceil(4096) * 4096,
            file_end: vaddr.saturating_add(filesz.min(memsz)).div_ceil(4096) * 4096,
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        };
        n += 1;
    }
    n
}

/// Copy the root task's page at `va` into `dst`: a page of a read-only
/// segment, or one holding file bytes of a writable segment (its current
/// contents; call it only while no other thread of the root task runs).
/// `false` (and nothing copied) for any other `va`.
pub fn copy_image_page(va: u64, dst: &Page) -> bool {
    let mut segs = [Segment::default(); 8];
    let n = image_segments(&mut segs);
    let inside = segs.iter().take(n).any(|s| {
        let end = if s.writable { s.file_end } else { s.end };
        (s.start..end).contains(&va)
    });
    if !inside || !va.is_multiple_of(4096) || !dst.writable {
        return false;
    }
    let src = core::ptr::with_exposed_provenance::<u64>(va as usize);
    for i in 0..Page::WORDS {
        // SAFETY: `va` is a page of a loadable segment of the root task
        // (page-rounded: the kernel maps whole pages readable). Read-only
        // segments are never written; the writable ones only by the root
        // task's threads, none of which runs during the copy (see above),
        // so the volatile reads race with nothing. `i < 512` stays inside
        // the page.
        let w = unsafe { core::ptr::read_volatile(src.wrapping_add(i)) };
        dst.write(i, w);
    }
    true
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
