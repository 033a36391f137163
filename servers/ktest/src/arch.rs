//! What differs per arch, and the suite's only unsafe code: the user
//! register order, the instruction gadgets the fault tests run in child
//! threads (a load, a store, a Linux syscall, an illegal instruction, a raw
//! syscall with any number), the FP-register gadget and the entry stub that
//! reports a new thread's FP state ([`fp_cycle`], [`fp_entry_address`]),
//! [`Page`], the root task's view of a frame it
//! mapped for a test, IPC-buffer handles for threads the suite starts, and
//! the root task's own read-only image ([`image_segments`], [`copy_image_page`]),
//! which the suite copies into the address spaces it builds.
//!
//! Raw memory accesses are confined to the test regions ([`REGION`],
//! checked at start to hold none of the root task's own mappings) and to
//! reads of the root task's read-only segments, so no Rust object is ever
//! written through them. The FP gadgets are the exception, and a narrow
//! one: [`fp_cycle`] writes only the `FpCycle` it is lent, and the entry
//! stub only [`FP_DUMP`], an `UnsafeCell` static read back with volatile
//! reads.

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

// ---------------------------------------------------------------------------
// FP/vector registers
// ---------------------------------------------------------------------------
//
// The suite is built for targets whose compiled code treats these registers
// differently: `x86_64-unknown-none` is soft-float (no x87/MMX/SSE
// instruction is ever generated, so the xmm registers, MXCSR and the x87
// stack belong to whoever loads them), `riscv64gc-unknown-none-elf` is
// hard-float (lp64d: the compiler may use f0-f31 and fcsr anywhere, fs0-fs11
// are callee-saved). So the FP tests never hold values in these registers
// across Rust code: one asm gadget loads them all, runs a spin loop and a
// syscall of the caller's choosing, and stores them all, and it saves and
// restores what the ABI says a callee must preserve (riscv64 fs0-fs11 and
// fcsr; x86_64 MXCSR and the x87 control word, for good measure). The
// syscall in the middle may block, switch threads, fault to a handler that
// loads its own values, or be preempted like the spin loop: whatever the
// kernel does, the registers must come back as they were loaded.

/// Words of an [`FpRegs`].
pub const FP_WORDS: usize = 42;

/// The FP registers the gadget loads and stores. x86_64: xmm0-xmm15
/// (words `2n`, `2n + 1`), MXCSR (word 32), the x87 control word (33) and
/// st0-st7 as 64-bit integers (34..42, `fild`/`fistp`: exact below 2^63).
/// riscv64: f0-f31 (words 0..32, raw bits), fcsr (32); the rest unused.
pub type FpRegs = [u64; FP_WORDS];

/// Words of an [`FpRegs`] that hold registers on this arch.
#[cfg(target_arch = "x86_64")]
pub const FP_USED: usize = 42;
#[cfg(target_arch = "riscv64")]
pub const FP_USED: usize = 33;

/// One run of the FP gadget ([`fp_cycle`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FpCycle {
    /// In: what to load (only values [`fp_pattern`] makes).
    pub load: FpRegs,
    /// Out: what the registers held after the spin loop and the syscall.
    pub store: FpRegs,
    /// In: syscall number (0: no syscall) and six arguments; out: the
    /// seven result registers (unchanged without a syscall).
    pub io: [u64; 7],
    /// In: spin-loop iterations before the syscall.
    pub spins: u64,
}

const FP_LOAD: usize = core::mem::offset_of!(FpCycle, load);
const FP_STORE: usize = core::mem::offset_of!(FpCycle, store);
const FP_IO: usize = core::mem::offset_of!(FpCycle, io);
const FP_SPINS: usize = core::mem::offset_of!(FpCycle, spins);

impl FpCycle {
    pub const fn new(load: FpRegs, spins: u64, io: [u64; 7]) -> FpCycle {
        FpCycle { load, store: [0; FP_WORDS], io, spins }
    }

    /// The first register word that did not come back (index, loaded,
    /// stored).
    pub fn mismatch(&self) -> Option<(usize, u64, u64)> {
        (0..FP_USED)
            .find(|&i| self.load[i] != self.store[i])
            .map(|i| (i, self.load[i], self.store[i]))
    }
}

fn fp_mix(mut x: u64) -> u64 {
    x ^= x >> 31;
    x = x.wrapping_mul(0x7fb5_d329_728e_a185);
    x ^= x >> 27;
    x = x.wrapping_mul(0x81da_def4_bc2d_d44d);
    x ^ (x >> 33)
}

/// Register values for the gadget, all different for different seeds
/// (with overwhelming likelihood), and valid: MXCSR keeps every exception
/// masked and varies the flags, rounding and flush-to-zero (no reserved
/// bit, so `ldmxcsr` cannot fault); the x87 control word keeps every
/// exception masked and 64-bit precision and varies the rounding; x87
/// values stay below 2^52 (exact in any precision).
#[cfg(target_arch = "x86_64")]
pub fn fp_pattern(seed: u64) -> FpRegs {
    let mut r = [0u64; FP_WORDS];
    for (i, w) in r.iter_mut().enumerate() {
        *w = fp_mix(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64);
    }
    let h = fp_mix(seed ^ 0x5555);
    r[32] = 0x1f80 | (h & 0x3f) | ((h >> 6) & 3) << 13 | ((h >> 8) & 1) << 15;
    r[33] = 0x037f | ((h >> 9) & 3) << 10;
    for w in r.iter_mut().skip(34) {
        *w &= (1 << 52) - 1;
    }
    r
}

/// As above for riscv64: f registers any bits, fcsr a valid rounding mode
/// (0..=4) and any accrued flags.
#[cfg(target_arch = "riscv64")]
pub fn fp_pattern(seed: u64) -> FpRegs {
    let mut r = [0u64; FP_WORDS];
    for (i, w) in r.iter_mut().enumerate().take(32) {
        *w = fp_mix(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64);
    }
    let h = fp_mix(seed ^ 0x5555);
    r[32] = (h & 0x1f) | ((h >> 5) % 5) << 5;
    r
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    r#"
    .section .text.ktest_fp, "ax", @progbits
    .global ktest_fp_cycle, ktest_fp_entry
ktest_fp_cycle:
    push r12
    sub rsp, 16
    stmxcsr [rsp]
    fnstcw [rsp + 4]
    mov r12, rdi
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu xmm\n, [r12 + {load} + \n * 16]
    .endr
    ldmxcsr [r12 + {load} + 256]
    fninit
    fldcw [r12 + {load} + 264]
    .irp n, 7,6,5,4,3,2,1,0
    fild qword ptr [r12 + {load} + 272 + \n * 8]
    .endr
    mov rcx, [r12 + {spins}]
2:
    test rcx, rcx
    jz 3f
    dec rcx
    jmp 2b
3:
    mov rax, [r12 + {io}]
    test rax, rax
    jz 4f
    mov rdi, [r12 + {io} + 8]
    mov rsi, [r12 + {io} + 16]
    mov rdx, [r12 + {io} + 24]
    mov r10, [r12 + {io} + 32]
    mov r8, [r12 + {io} + 40]
    mov r9, [r12 + {io} + 48]
    syscall
    mov [r12 + {io}], rax
    mov [r12 + {io} + 8], rdi
    mov [r12 + {io} + 16], rsi
    mov [r12 + {io} + 24], rdx
    mov [r12 + {io} + 32], r10
    mov [r12 + {io} + 40], r8
    mov [r12 + {io} + 48], r9
4:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    movdqu [r12 + {store} + \n * 16], xmm\n
    .endr
    stmxcsr [r12 + {store} + 256]
    fnstcw [r12 + {store} + 264]
    .irp n, 0,1,2,3,4,5,6,7
    fistp qword ptr [r12 + {store} + 272 + \n * 8]
    .endr
    fldcw [rsp + 4]
    ldmxcsr [rsp]
    add rsp, 16
    pop r12
    ret

    /* A thread's first instructions: its FP state as FXSAVE leaves it, at
       rsi (16-byte aligned, 512 bytes), then the function at rdx. */
ktest_fp_entry:
    fxsave64 [rsi]
    jmp rdx
    "#,
    load = const FP_LOAD,
    store = const FP_STORE,
    io = const FP_IO,
    spins = const FP_SPINS,
);

#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    r#"
    .section .text.ktest_fp, "ax", @progbits
    .option push
    .option arch, +d
    .global ktest_fp_cycle, ktest_fp_entry
ktest_fp_cycle:
    addi sp, sp, -128
    sd ra, 0(sp)
    sd s1, 8(sp)
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
    fsd fs\n, (16 + \n * 8)(sp)
    .endr
    frcsr t0
    sd t0, 112(sp)
    mv s1, a0
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fld f\n, ({load} + \n * 8)(s1)
    .endr
    ld t0, ({load} + 256)(s1)
    fscsr t0
    ld t0, {spins}(s1)
2:
    beqz t0, 3f
    addi t0, t0, -1
    j 2b
3:
    ld a7, {io}(s1)
    beqz a7, 4f
    ld a0, ({io} + 8)(s1)
    ld a1, ({io} + 16)(s1)
    ld a2, ({io} + 24)(s1)
    ld a3, ({io} + 32)(s1)
    ld a4, ({io} + 40)(s1)
    ld a5, ({io} + 48)(s1)
    ecall
    sd a0, {io}(s1)
    sd a1, ({io} + 8)(s1)
    sd a2, ({io} + 16)(s1)
    sd a3, ({io} + 24)(s1)
    sd a4, ({io} + 32)(s1)
    sd a5, ({io} + 40)(s1)
    sd a6, ({io} + 48)(s1)
4:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\n, ({store} + \n * 8)(s1)
    .endr
    frcsr t0
    sd t0, ({store} + 256)(s1)
    ld t0, 112(sp)
    fscsr t0
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11
    fld fs\n, (16 + \n * 8)(sp)
    .endr
    ld s1, 8(sp)
    ld ra, 0(sp)
    addi sp, sp, 128
    ret

    /* A thread's first instructions: f0-f31 and fcsr at a1 (33 words),
       then the function at a2. */
ktest_fp_entry:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd f\n, (\n * 8)(a1)
    .endr
    frcsr t0
    sd t0, 256(a1)
    jr a2
    .option pop
    "#,
    load = const FP_LOAD,
    store = const FP_STORE,
    io = const FP_IO,
    spins = const FP_SPINS,
);

unsafe extern "C" {
    fn ktest_fp_cycle(c: *mut FpCycle);
    fn ktest_fp_entry();
}

/// Load `c.load` into the FP registers, spin `c.spins` times, make the
/// syscall in `c.io` (if its number is not 0), and store the registers in
/// `c.store`. Through the syscall the thread may block, fault or be
/// preempted; a fault handler must reply with the registers it was sent.
pub fn fp_cycle(c: &mut FpCycle) {
    // SAFETY: the gadget reads and writes only `*c` (valid and exclusive),
    // uses the stack below `sp` for 24 (x86_64) or 128 (riscv64) bytes and
    // restores every register the ABI makes callee-saved: r12, MXCSR and
    // the x87 control word (x86_64; the x87 stack is empty again after the
    // eight `fistp`) or s1, ra, fs0-fs11 and fcsr (riscv64). It clobbers
    // caller-saved general registers only (rax, rcx, rdx, rsi, rdi, r8-r11
    // / t0, a0-a7) and the caller-saved FP registers (xmm0-xmm15, which
    // soft-float code never uses; ft/fa registers, which lp64d lets any call
    // clobber). Its `load` values are valid (see `fp_pattern`), so `ldmxcsr`,
    // `fldcw` and `fscsr` cannot fault. The syscall returns to the next
    // instruction with those registers as the kernel (or a fault handler
    // replying with the registers it got) leaves them.
    unsafe { ktest_fp_cycle(c) }
}

/// Where a thread that is to report its initial FP state starts: the stub
/// stores the state at its second argument register ([`FP_DUMP`]'s
/// address, see [`fp_dump_address`]) and jumps to its third (the child
/// function; the first argument, the child's index, passes through).
pub fn fp_entry_address() -> u64 {
    ktest_fp_entry as *const () as usize as u64
}

/// An FXSAVE-sized, 16-byte aligned area the entry stub writes.
#[repr(C, align(16))]
pub struct FpDump(core::cell::UnsafeCell<[u64; 64]>);

// SAFETY: written only by the entry stub of one thread, read (volatile) by
// the root task after that thread reported over IPC that it is past the
// stub; zeroed by the root task before it starts such a thread.
unsafe impl Sync for FpDump {}

pub static FP_DUMP: FpDump = FpDump(core::cell::UnsafeCell::new([0; 64]));

pub fn fp_dump_address() -> u64 {
    FP_DUMP.0.get() as usize as u64
}

/// Word `i` of [`FP_DUMP`] (0 past the end).
pub fn fp_dump_word(i: usize) -> u64 {
    if i >= 64 {
        return 0;
    }
    // SAFETY: `i < 64` stays inside the static; see `FpDump` for who writes
    // it and when (a volatile read of plain words).
    unsafe { core::ptr::read_volatile(FP_DUMP.0.get().cast::<u64>().add(i)) }
}

/// Zero [`FP_DUMP`] (before starting a thread at [`fp_entry_address`]).
pub fn fp_dump_clear() {
    for i in 0..64 {
        // SAFETY: as in `fp_dump_word`; no entry stub runs now.
        unsafe { core::ptr::write_volatile(FP_DUMP.0.get().cast::<u64>().add(i), 0) };
    }
}

/// The words of [`FP_DUMP`] that a new thread's initial FP state fixes,
/// with the masks to compare them under: x86_64, the FXSAVE image of FCW
/// 0x037f, MXCSR 0x1f80 and everything else 0 (FSW, tag word all empty,
/// opcode, pointers, st0-st7 in their 10 bytes, xmm0-xmm15), not
/// MXCSR_MASK (a CPU constant) or reserved bytes; riscv64, f0-f31 and
/// fcsr all 0.
#[cfg(target_arch = "x86_64")]
pub fn fp_initial_word(i: usize) -> Option<(u64, u64)> {
    match i {
        0 => Some((0x037f, u64::MAX)),
        1 | 2 => Some((0, u64::MAX)),
        3 => Some((0x1f80, 0xffff_ffff)),
        4..20 if i.is_multiple_of(2) => Some((0, u64::MAX)),
        4..20 => Some((0, 0xffff)),
        20..52 => Some((0, u64::MAX)),
        _ => None,
    }
}
#[cfg(target_arch = "riscv64")]
pub fn fp_initial_word(i: usize) -> Option<(u64, u64)> {
    (i < 33).then_some((0, u64::MAX))
}
