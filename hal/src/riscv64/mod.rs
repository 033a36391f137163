//! The riscv64 port of the hal: QEMU `virt` (and similar) machines booted by
//! OpenSBI in S-mode, Sv39 paging, the SBI timer, the PLIC and an ns16550a
//! UART.
//!
//! Layout of the kernel address space (Sv39, 39-bit virtual addresses):
//!
//! | virtual                        | what                                   |
//! |--------------------------------|----------------------------------------|
//! | `0 .. 0x40_0000_0000`          | user space (`USER_END`)                |
//! | `0xffff_ffc0_0000_0000 ..`     | direct map of physical memory (64 GiB) |
//! | `0xffff_ffff_8020_0000 ..`     | kernel image (root slot 510)           |
//!
//! Modules: [`boot`] (entry from OpenSBI, early page table, device tree,
//! `BootInfo`), [`cpu`], [`irq`] (PLIC), [`mmu`] (Sv39 page tables),
//! [`timer`] (SBI timer), [`trap`] (trap vector and frame), [`serial`]
//! (ns16550a), plus the private helpers `sbi` (SBI calls) and `dtb` (device
//! tree parsing).
//!
//! Per-CPU state: only the boot hart runs today and `Cpu::id` is 0; its
//! kernel stack is the boot stack, on which every trap from user mode lands
//! (`sscratch` carries the stack top while in user mode, see [`trap`]). When
//! secondary harts are started, `tp` will point at the hart's per-CPU block
//! while in the kernel.

pub mod boot;
pub mod cpu;
mod dtb;
mod fpu;
pub mod irq;
pub mod mmu;
mod sbi;
pub mod serial;
pub mod timer;
pub mod trap;

pub use fpu::FpState;
pub use mmu::PageTable;
pub use trap::TrapFrame;

/// The running machine. Implements [`crate::api::Cpu`],
/// [`crate::api::Console`], [`crate::api::Timer`],
/// [`crate::api::InterruptController`], [`crate::api::Mmu`] and
/// [`crate::api::PortIo`] (no ports on RISC-V: every call fails).
#[derive(Debug, Clone, Copy)]
pub struct Arch;

/// Virtual address of physical address 0 (the direct map).
pub(crate) const PHYS_OFFSET: u64 = 0xffff_ffc0_0000_0000;
/// Size of the direct map window the boot page table and the kernel use.
pub(crate) const PHYS_MAP_SIZE: u64 = 64 << 30;

/// Direct-map virtual address of physical address `pa`.
pub(crate) const fn phys_to_virt(pa: u64) -> u64 {
    pa.wrapping_add(PHYS_OFFSET)
}
