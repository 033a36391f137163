//! The ns16550a UART console (MMIO).
//!
//! The registers are always reached through the direct map
//! (`PHYS_OFFSET + pa`): the boot page table maps the whole low 64 GiB there
//! and the kernel's own table maps the UART page there too (it is in
//! `BootInfo::mmio`), so the same address works before and after the kernel
//! switches address spaces. Until the device tree has been read, the address
//! of QEMU virt's UART (0x1000_0000) is assumed.
//!
//! OpenSBI has already programmed the line (baud rate, 8N1), so
//! [`init`] only masks the UART's interrupts and enables the FIFOs.
//!
//! The kernel only transmits. The UART's page is also handed to user space
//! as device untyped ([`Console::shared_region`]): the console server maps
//! it and drives the receiver and the UART's interrupt (PLIC source 10 on
//! QEMU virt); the kernel keeps writing the transmitter for its own output.

use super::{Arch, phys_to_virt};
use crate::PhysRange;
use crate::api::Console;
use crate::uart16550::{self, FCR, IER, Regs};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Physical address of QEMU virt's UART, used until the device tree is read.
const DEFAULT_UART_PA: u64 = 0x1000_0000;
const PAGE: u64 = 4096;

/// Physical address of the UART registers.
static UART_PA: AtomicU64 = AtomicU64::new(DEFAULT_UART_PA);
/// Virtual (direct-map) address of the UART registers.
static BASE: AtomicU64 = AtomicU64::new(phys_to_virt(DEFAULT_UART_PA));
/// Register stride as a shift (`reg-shift` in the device tree).
static REG_SHIFT: AtomicU32 = AtomicU32::new(0);

/// Use the UART at physical `pa` with registers `1 << reg_shift` bytes apart.
pub(crate) fn init(pa: u64, reg_shift: u32) {
    UART_PA.store(pa, Ordering::Relaxed);
    BASE.store(phys_to_virt(pa), Ordering::Relaxed);
    REG_SHIFT.store(reg_shift.min(4), Ordering::Relaxed);
    // No UART interrupts: the console is polled.
    Mmio::write(IER, 0);
    // Enable and clear the FIFOs.
    Mmio::write(FCR, 0x07);
}

fn reg_addr(reg: u8) -> *mut u8 {
    let base = BASE.load(Ordering::Relaxed);
    (base + (u64::from(reg) << REG_SHIFT.load(Ordering::Relaxed))) as *mut u8
}

/// The UART's registers, through the direct map.
struct Mmio;

impl Regs for Mmio {
    fn read(reg: u8) -> u8 {
        // SAFETY: BASE is the direct-map address of the UART found in the
        // device tree (or QEMU virt's default), mapped as device memory in
        // the boot page table and the kernel's table (BootInfo::mmio); `reg`
        // is one of the 8 16550 registers. A byte read has no effect on
        // memory Rust knows.
        unsafe { core::ptr::read_volatile(reg_addr(reg)) }
    }
    fn write(reg: u8, value: u8) {
        // SAFETY: as in `read`: a device register of the UART, mapped at
        // this address in every table the hal runs on.
        unsafe { core::ptr::write_volatile(reg_addr(reg), value) }
    }
}

impl Console for Arch {
    fn write_bytes(bytes: &[u8]) {
        uart16550::write_bytes::<Mmio>(bytes);
    }

    fn shared_region() -> Option<PhysRange> {
        let pa = UART_PA.load(Ordering::Relaxed) & !(PAGE - 1);
        Some(PhysRange::new(pa, pa + PAGE))
    }
}
