//! rint's hardware abstraction layer: everything architecture-specific.
//!
//! The kernel sees the traits in [`api`] implemented by one zero-sized type,
//! [`Arch`], and the three arch-defined types [`TrapFrame`], [`FpState`] and
//! [`PageTable`]. Each arch lives in `src/<arch>/` with the same module
//! names: `boot` (entry from the loader, early page tables, boot
//! information), `cpu`, `fpu` (FP state outside the frame), `irq`
//! (interrupt controller), `mmu` (page tables), `timer`, `trap` (vectors,
//! trap frame), `serial` (UART console).
//!
//! # How control reaches the kernel
//! The arch boot code calls `__rint_kernel_main(&'static BootInfo) -> !` and
//! every trap calls `__rint_kernel_trap(&mut TrapFrame, Trap)`. The kernel
//! defines both with [`kernel_entry!`]; the hal never depends on the kernel.
//!
//! # Safety
//! This crate is one of the few places `unsafe` is allowed: assembly entry
//! points, control registers, MMIO and port I/O, page-table memory. Every
//! `unsafe` block carries a `// SAFETY:` comment.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
mod uart16550;

#[cfg(target_arch = "x86_64")]
#[path = "x86_64/mod.rs"]
mod arch;

#[cfg(target_arch = "riscv64")]
#[path = "riscv64/mod.rs"]
mod arch;

pub use api::*;
/// The running machine: implements `Cpu`, `Console`, `Timer`,
/// `InterruptController`, `Mmu` and `PortIo`.
pub use arch::Arch;
/// A thread's FP/vector state outside the frame, implementing
/// [`api::FpStateOps`].
pub use arch::FpState;
/// The arch's page table, implementing [`api::PageTable`].
pub use arch::PageTable;
/// The arch's saved-register frame, implementing [`api::TrapFrameOps`].
pub use arch::TrapFrame;

// The kernel's two entry points, defined by `kernel_entry!`.
unsafe extern "Rust" {
    fn __rint_kernel_main(info: &'static BootInfo) -> !;
    fn __rint_kernel_trap(frame: &mut TrapFrame, trap: Trap);
}

/// Called by the arch boot code once the console, traps and early paging work.
pub(crate) fn enter_kernel(info: &'static BootInfo) -> ! {
    // SAFETY: `__rint_kernel_main` is defined by the kernel through
    // `kernel_entry!` with exactly this signature.
    unsafe { __rint_kernel_main(info) }
}

/// Called by the arch trap code with the saved frame of the interrupted context.
pub(crate) fn kernel_trap(frame: &mut TrapFrame, trap: Trap) {
    // SAFETY: `__rint_kernel_trap` is defined by the kernel through
    // `kernel_entry!` with exactly this signature.
    unsafe { __rint_kernel_trap(frame, trap) }
}

/// Defines the kernel's entry points for the hal:
/// `kernel_entry!(main = path::to::main, trap = path::to::trap_handler);`
/// with `fn main(&'static BootInfo) -> !` and
/// `fn trap_handler(&mut TrapFrame, Trap)`.
#[macro_export]
macro_rules! kernel_entry {
    (main = $main:path, trap = $trap:path $(,)?) => {
        #[unsafe(no_mangle)]
        fn __rint_kernel_main(info: &'static $crate::BootInfo) -> ! {
            $main(info)
        }
        #[unsafe(no_mangle)]
        fn __rint_kernel_trap(frame: &mut $crate::TrapFrame, trap: $crate::Trap) {
            $trap(frame, trap)
        }
    };
}
