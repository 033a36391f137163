//! The serial console: the COM1 16550 UART at I/O port 0x3f8, 115200 8N1,
//! polled (no interrupts), transmit only. The console server drives the
//! same UART's receiver (and IRQ 4) from user space through the I/O port
//! cap.

use super::Arch;
use crate::api::Console;
use crate::uart16550::{self, FCR, IER, LCR, MCR, RBR_THR, Regs};
use core::fmt;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// COM1's registers, through I/O ports.
struct Com1;

impl Regs for Com1 {
    fn read(reg: u8) -> u8 {
        // SAFETY: COM1's registers are I/O ports owned by this module;
        // reading LSR/RBR has no effect beyond the UART.
        unsafe { Port::<u8>::new(COM1 + u16::from(reg)).read() }
    }
    fn write(reg: u8, value: u8) {
        // SAFETY: as in `read`; writing configures or feeds the UART and
        // touches no memory.
        unsafe { Port::<u8>::new(COM1 + u16::from(reg)).write(value) }
    }
}

/// Program the UART: 115200 baud, 8 data bits, no parity, 1 stop bit, FIFOs
/// on, interrupts off.
pub(super) fn init() {
    Com1::write(IER, 0x00); // no interrupts
    Com1::write(LCR, 0x80); // DLAB on
    Com1::write(RBR_THR, 0x01); // divisor 1 = 115200 baud
    Com1::write(IER, 0x00);
    Com1::write(LCR, 0x03); // DLAB off, 8N1
    Com1::write(FCR, 0xc7); // FIFOs on and cleared, 14-byte threshold
    Com1::write(MCR, 0x03); // DTR, RTS (OUT2 off: no interrupts to the PIC)
}

impl Console for Arch {
    fn write_bytes(bytes: &[u8]) {
        uart16550::write_bytes::<Com1>(bytes);
    }

    fn shared_region() -> Option<crate::PhysRange> {
        // Reached through I/O ports: the console server gets the port cap.
        None
    }
}

/// Formatted output for `hal_println!`.
pub(crate) fn print(args: fmt::Arguments<'_>) {
    // `Writer::write_str` never fails.
    let _ = fmt::Write::write_fmt(&mut uart16550::Writer, args);
}
