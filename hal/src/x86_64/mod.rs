//! The x86_64 port: PVH boot under QEMU/KVM, 4-level paging, a 64-bit GDT
//! with a TSS, an IDT with uniform asm stubs, `syscall`/`sysret` and user
//! mode (`user.rs`), the local APIC timer, the IOAPIC and the COM1 16550
//! UART.
//!
//! Memory layout (see `kernel.ld`):
//! - the kernel image is loaded at physical [`KERNEL_PHYS`] and runs at
//!   [`KERNEL_VMA`] + physical address (the top 2 GiB);
//! - all physical memory is reachable at `Mmu::PHYS_OFFSET` + physical address
//!   (the direct map), which is how page tables, the boot information and the
//!   APIC registers are reached once the kernel drops the boot identity map.
//!
//! Interrupt vectors:
//! - 0..32: CPU exceptions;
//! - 0x20..0x30: the legacy 8259 PICs (remapped there and masked; spurious);
//! - `0x30 + gsi`: IOAPIC inputs (`irq`);
//! - 0xef: local APIC timer; 0xfe: local APIC error; 0xff: APIC spurious;
//! - 0x100 (no IDT entry): the `vector` of frames built by the `syscall`
//!   entry.
//!
//! User mode (`user.rs`): `syscall`/`sysretq` with the same frame as traps,
//! one kernel stack per CPU (TSS.RSP0 and the per-CPU area GS points at in
//! the kernel), every return to user mode sanitized.
//!
//! x87/SSE state (`fpu.rs`): one FXSAVE image per thread, switched only
//! when the kernel switches threads (the kernel is soft-float).

/// Print a line on the serial console from the hal: boot messages before
/// the kernel has its console, and hal diagnostics. Textually scoped: defined
/// before the submodules so they all see it.
macro_rules! hal_println {
    ($($arg:tt)*) => {
        $crate::arch::serial::print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod boot;
mod cpu;
mod fpu;
mod gdt;
mod irq;
mod lapic;
mod mmu;
mod serial;
mod timer;
mod trap;
mod user;

pub use fpu::FpState;
pub use mmu::PageTable;
pub use trap::TrapFrame;

/// The running machine. Implements every `api` trait of the hal.
pub struct Arch;

/// Physical load address of the kernel image (`KERNEL_PHYS` in `kernel.ld`).
pub(crate) const KERNEL_PHYS: u64 = 0x10_0000;
/// Virtual address of physical 0 in the kernel image mapping (`KERNEL_VMA` in
/// `kernel.ld`): the kernel runs at `KERNEL_VMA + phys`.
pub(crate) const KERNEL_VMA: u64 = 0xffff_ffff_8000_0000;
/// Start of the direct physical map (`Mmu::PHYS_OFFSET`).
pub(crate) const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;

/// Direct-map address of a physical address, as a raw pointer.
pub(crate) const fn phys_ptr<T>(pa: u64) -> *mut T {
    pa.wrapping_add(PHYS_OFFSET) as *mut T
}

/// Vectors the hal assigns (see the module docs).
pub(crate) mod vectors {
    /// First vector of the remapped (masked) legacy PICs.
    pub const LEGACY_PIC_BASE: u8 = 0x20;
    /// Vector of IOAPIC input 0; input `gsi` uses `IRQ_BASE + gsi`.
    pub const IRQ_BASE: u8 = 0x30;
    pub const TIMER: u8 = 0xef;
    pub const APIC_ERROR: u8 = 0xfe;
    pub const SPURIOUS: u8 = 0xff;
    /// Number of IOAPIC inputs that get a vector.
    pub const MAX_IRQS: u32 = (TIMER - IRQ_BASE) as u32;
}
