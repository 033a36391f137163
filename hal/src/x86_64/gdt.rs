//! The per-CPU GDT and TSS.
//!
//! Descriptor order follows what `syscall`/`sysret` need (IA32_STAR): kernel
//! code and data at 0x08/0x10 (`STAR[47:32]` = 0x08), then an unused slot,
//! user data and 64-bit user code at 0x18/0x20/0x28 (`STAR[63:48]` = 0x18:
//! `sysretq` loads SS = 0x20|3 and CS = 0x28|3), then the 16-byte TSS
//! descriptor at 0x30. The slot at 0x18 is where a 32-bit user code segment
//! would go for `sysretl`; it stays null, so user mode cannot switch to
//! compatibility mode (a far jump or `iretq` to 0x1b faults in user mode).
//!
//! The TSS holds RSP0 (the kernel stack for traps from user mode: this
//! CPU's kernel stack, set by `user::init` through [`set_kernel_stack`]) and
//! three IST stacks: double fault, NMI and machine check each run on their
//! own stack, so a kernel stack overflow is reported instead of escalating
//! to a triple fault. The I/O permission bitmap is empty: user mode has no
//! port access (IOPL is always 0).
//!
//! Each CPU needs its own GDT (the TSS descriptor's busy bit) and TSS; they
//! live in [`PER_CPU`], indexed by `Cpu::id()` (only the boot CPU for now).

use core::cell::UnsafeCell;
use x86_64::VirtAddr as X86VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, FS, GS, SS, Segment};
use x86_64::instructions::tables::{lgdt, load_tss};
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::DescriptorTablePointer;

pub(super) const KERNEL_CS: u16 = 0x08;
pub(super) const KERNEL_SS: u16 = 0x10;
/// `STAR[63:48]` for `sysretq` (the null slot below user data).
pub(super) const USER_BASE: u16 = 0x18;
pub(super) const USER_SS: u16 = 0x20 | 3;
pub(super) const USER_CS: u16 = 0x28 | 3;
const TSS_SEL: u16 = 0x30;

/// IST slots (1-based, as in the IDT gate's IST field).
pub(super) const IST_DOUBLE_FAULT: u8 = 1;
pub(super) const IST_NMI: u8 = 2;
pub(super) const IST_MACHINE_CHECK: u8 = 3;

/// CPUs the per-CPU tables have room for.
const MAX_CPUS: usize = 1;

/// The 64-bit task-state segment (Intel SDM vol. 3, 8.7).
#[repr(C, packed(4))]
struct Tss {
    _reserved0: u32,
    /// Stack pointers loaded on a privilege change to ring 0..2.
    rsp: [u64; 3],
    _reserved1: u64,
    /// Interrupt stack table, IST1..IST7.
    ist: [u64; 7],
    _reserved2: u64,
    _reserved3: u16,
    /// Offset of the I/O permission bitmap; past the limit = none, so user
    /// mode has no port access.
    iomap_base: u16,
}

const TSS_SIZE: usize = core::mem::size_of::<Tss>();
const _: () = assert!(TSS_SIZE == 104);

#[repr(C, align(64))]
struct PerCpu {
    gdt: [u64; 8],
    tss: Tss,
}

/// Per-CPU tables, written only by the CPU they belong to.
struct PerCpuCell(UnsafeCell<PerCpu>);

// SAFETY: each `PerCpu` is only accessed by its own CPU (`init` on that
// CPU, then `set_kernel_stack` on that CPU with interrupts off) and by the
// CPU's hardware through GDTR/TR.
unsafe impl Sync for PerCpuCell {}

const fn segment(access: u64, flags: u64) -> u64 {
    // limit 0xfffff, base 0: only the access byte and the flags nibble vary.
    0xffff | (access << 40) | (0xf << 48) | (flags << 52)
}

const EMPTY_CPU: PerCpu = PerCpu {
    gdt: [
        0,
        segment(0x9a, 0xa), // kernel code: present, ring 0, exec/read; L=1, G=1
        segment(0x92, 0xc), // kernel data: present, ring 0, read/write; D=1, G=1
        0,                  // no 32-bit user code (see the module docs)
        segment(0xf2, 0xc), // user data: ring 3, read/write
        segment(0xfa, 0xa), // user code 64: ring 3, exec/read, L=1
        0,                  // TSS, filled in by `init`
        0,
    ],
    tss: Tss {
        _reserved0: 0,
        rsp: [0; 3],
        _reserved1: 0,
        ist: [0; 7],
        _reserved2: 0,
        _reserved3: 0,
        iomap_base: TSS_SIZE as u16,
    },
};

static PER_CPU: [PerCpuCell; MAX_CPUS] = [PerCpuCell(UnsafeCell::new(EMPTY_CPU))];

unsafe extern "C" {
    // Top of the IST stacks, in the `.stack` section (boot.rs).
    static rint_ist1_top: u8;
    static rint_ist2_top: u8;
    static rint_ist3_top: u8;
}

/// Load this CPU's GDT and TSS and reload every segment register.
pub(super) fn init() {
    let cpu = &PER_CPU[0];
    let p = cpu.0.get();
    let tss_addr = {
        // SAFETY: only computes the address of the TSS field; no reference
        // to the packed struct is created.
        unsafe { &raw const (*p).tss as u64 }
    };
    let ist = [
        &raw const rint_ist1_top as u64,
        &raw const rint_ist2_top as u64,
        &raw const rint_ist3_top as u64,
    ];
    // Available 64-bit TSS (type 9), present, limit = size - 1.
    let limit = (TSS_SIZE - 1) as u64;
    let low = (limit & 0xffff)
        | ((tss_addr & 0xff_ffff) << 16)
        | (0x89 << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (((tss_addr >> 24) & 0xff) << 56);
    let high = tss_addr >> 32;
    // SAFETY: this CPU's tables are not loaded yet (or are being reloaded
    // with identical segment descriptors, boot CPU only), so no one else
    // reads them while they are written; the writes go through the raw
    // pointer into the static.
    unsafe {
        (*p).gdt[6] = low;
        (*p).gdt[7] = high;
        (*p).tss.ist = [ist[0], ist[1], ist[2], 0, 0, 0, 0];
    }
    let ptr = DescriptorTablePointer {
        limit: (8 * 8 - 1) as u16,
        // SAFETY: only the field address is taken.
        base: X86VirtAddr::new(unsafe { &raw const (*p).gdt } as u64),
    };
    // SAFETY: the GDT lives in a static for the kernel's lifetime and keeps
    // the boot GDT's kernel code (0x08) and data (0x10) selectors, so the
    // running code's segments stay valid; CS is reloaded right after.
    unsafe { lgdt(&ptr) };
    // SAFETY: the selectors name the descriptors just loaded: 64-bit ring-0
    // code for CS, ring-0 data for the data segments, null for FS/GS (their
    // bases are set through MSRs later), and an available TSS.
    unsafe {
        CS::set_reg(SegmentSelector(KERNEL_CS));
        SS::set_reg(SegmentSelector(KERNEL_SS));
        DS::set_reg(SegmentSelector(KERNEL_SS));
        ES::set_reg(SegmentSelector(KERNEL_SS));
        FS::set_reg(SegmentSelector(0));
        GS::set_reg(SegmentSelector(0));
        load_tss(SegmentSelector(TSS_SEL));
    }
}

/// Set the stack the CPU switches to on a trap from user mode (RSP0).
///
/// # Safety
/// `top` must be the 16-byte aligned top of a mapped, writable kernel stack
/// that nothing else uses while this CPU can trap from user mode.
pub(super) unsafe fn set_kernel_stack(top: u64) {
    let p = PER_CPU[0].0.get();
    // SAFETY: the TSS belongs to this CPU, which reads RSP0 only on a trap
    // from user mode, never in the middle of this store; the field is
    // written through a raw pointer (it is unaligned in the packed struct).
    unsafe { (&raw mut (*p).tss.rsp).cast::<u64>().write_unaligned(top) };
}
