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

use super::{Arch, phys_to_virt};
use crate::api::Console;
use core::fmt;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Physical address of QEMU virt's UART, used until the device tree is read.
const DEFAULT_UART_PA: u64 = 0x1000_0000;

/// Receive buffer / transmit holding register.
const RBR_THR: u64 = 0;
/// Interrupt enable register.
const IER: u64 = 1;
/// FIFO control register (write).
const FCR: u64 = 2;
/// Line status register.
const LSR: u64 = 5;
const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// Polls of LSR before a byte is written regardless (the line may be dead;
/// the console must never block forever). At 115200 baud one byte takes
/// about 87 us, far less than this many MMIO reads.
const TX_SPIN_LIMIT: u32 = 100_000;

/// Virtual (direct-map) address of the UART registers.
static BASE: AtomicU64 = AtomicU64::new(phys_to_virt(DEFAULT_UART_PA));
/// Register stride as a shift (`reg-shift` in the device tree).
static REG_SHIFT: AtomicU32 = AtomicU32::new(0);

/// Use the UART at physical `pa` with registers `1 << reg_shift` bytes apart.
pub(crate) fn init(pa: u64, reg_shift: u32) {
    BASE.store(phys_to_virt(pa), Ordering::Relaxed);
    REG_SHIFT.store(reg_shift.min(4), Ordering::Relaxed);
    // No UART interrupts: the console is polled.
    write_reg(IER, 0);
    // Enable and clear the FIFOs.
    write_reg(FCR, 0x07);
}

fn reg_addr(reg: u64) -> *mut u8 {
    let base = BASE.load(Ordering::Relaxed);
    (base + (reg << REG_SHIFT.load(Ordering::Relaxed))) as *mut u8
}

fn read_reg(reg: u64) -> u8 {
    // SAFETY: BASE is the direct-map address of the UART found in the device
    // tree (or QEMU virt's default), mapped as device memory in the boot
    // page table and the kernel's table (BootInfo::mmio); `reg` is one of the
    // 8 16550 registers. A byte read has no effect on memory Rust knows.
    unsafe { core::ptr::read_volatile(reg_addr(reg)) }
}

fn write_reg(reg: u64, value: u8) {
    // SAFETY: as in `read_reg`: a device register of the UART, mapped at
    // this address in every table the hal runs on.
    unsafe { core::ptr::write_volatile(reg_addr(reg), value) }
}

fn put(byte: u8) {
    let mut spins = 0;
    while read_reg(LSR) & LSR_THR_EMPTY == 0 && spins < TX_SPIN_LIMIT {
        core::hint::spin_loop();
        spins += 1;
    }
    write_reg(RBR_THR, byte);
}

impl Console for Arch {
    fn write_bytes(bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
    }

    fn read_byte() -> Option<u8> {
        if read_reg(LSR) & LSR_DATA_READY != 0 { Some(read_reg(RBR_THR)) } else { None }
    }
}

/// `fmt::Write` over the UART, for the hal's own boot messages.
pub(crate) struct Writer;

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Arch::write_bytes(s.as_bytes());
        Ok(())
    }
}
