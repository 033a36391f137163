//! The 16550 UART protocol shared by the arch consoles (COM1 through I/O
//! ports on x86_64, the ns16550a through MMIO on riscv64). Each arch supplies
//! only how a register is read and written.
//!
//! The kernel only transmits: it never reads the receive buffer and never
//! enables the UART's interrupts, so input (and the UART's interrupt line)
//! belongs to the user-space console server (`servers/console`), which
//! drives the same UART. Both write the transmitter; kernel output is debug
//! output and may land between two bytes of the server's.

use crate::api::Console;
use core::fmt;

/// Receive buffer (read) / transmit holding (write) / divisor low (DLAB).
pub(crate) const RBR_THR: u8 = 0;
/// Interrupt enable / divisor high (DLAB).
pub(crate) const IER: u8 = 1;
/// FIFO control (write).
pub(crate) const FCR: u8 = 2;
/// Line control (programmed by the x86_64 console; firmware does it on riscv64).
#[allow(dead_code)]
pub(crate) const LCR: u8 = 3;
/// Modem control (x86_64 only, as LCR).
#[allow(dead_code)]
pub(crate) const MCR: u8 = 4;
/// Line status.
pub(crate) const LSR: u8 = 5;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// How many LSR polls to wait for room in the transmitter before sending a
/// byte anyway (about 10 ms even under KVM, where each poll is a VM exit; a
/// byte takes 87 us at 115200 baud). A missing or stuck UART never hangs
/// the kernel.
const TX_SPIN_LIMIT: u32 = 100_000;

/// Access to one UART's registers.
pub(crate) trait Regs {
    fn read(reg: u8) -> u8;
    fn write(reg: u8, value: u8);
}

fn put<R: Regs>(byte: u8) {
    for _ in 0..TX_SPIN_LIMIT {
        if R::read(LSR) & LSR_THR_EMPTY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    R::write(RBR_THR, byte);
}

/// Write bytes, translating `\n` to `\r\n`.
pub(crate) fn write_bytes<R: Regs>(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            put::<R>(b'\r');
        }
        put::<R>(b);
    }
}

/// `fmt::Write` over the console, for the hal's own boot messages.
/// Unlocked: used during boot (one CPU, interrupts off) and for short
/// diagnostics.
pub(crate) struct Writer;

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        <crate::Arch as Console>::write_bytes(s.as_bytes());
        Ok(())
    }
}
