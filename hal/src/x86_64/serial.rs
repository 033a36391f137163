//! The serial console: the COM1 16550 UART at I/O port 0x3f8, 115200 8N1,
//! polled (no interrupts).

use super::Arch;
use crate::api::Console;
use core::fmt;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
// Register offsets from the base port.
const THR_RBR_DLL: u16 = 0; // transmit / receive / divisor low (DLAB=1)
const IER_DLM: u16 = 1; // interrupt enable / divisor high (DLAB=1)
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;

/// How many LSR polls to wait for room in the transmitter before sending a
/// byte anyway (about 10 ms even under KVM, where each poll is a VM exit; a
/// byte takes 87 us at 115200 baud). Keeps a missing or stuck UART from
/// hanging the kernel.
const TX_SPIN_LIMIT: u32 = 100_000;

fn outb(reg: u16, val: u8) {
    // SAFETY: COM1's registers are I/O ports owned by this module; writing
    // them configures or feeds the UART and touches no memory.
    unsafe { Port::<u8>::new(COM1 + reg).write(val) }
}

fn inb(reg: u16) -> u8 {
    // SAFETY: as in `outb`; reading LSR/RBR has no effect beyond the UART.
    unsafe { Port::<u8>::new(COM1 + reg).read() }
}

/// Program the UART: 115200 baud, 8 data bits, no parity, 1 stop bit, FIFOs
/// on, interrupts off.
pub(super) fn init() {
    outb(IER_DLM, 0x00); // no interrupts
    outb(LCR, 0x80); // DLAB on
    outb(THR_RBR_DLL, 0x01); // divisor 1 = 115200 baud
    outb(IER_DLM, 0x00);
    outb(LCR, 0x03); // DLAB off, 8N1
    outb(FCR, 0xc7); // FIFOs on and cleared, 14-byte threshold
    outb(MCR, 0x03); // DTR, RTS (OUT2 off: no interrupts to the PIC)
}

fn put(byte: u8) {
    for _ in 0..TX_SPIN_LIMIT {
        if inb(LSR) & LSR_THR_EMPTY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    outb(THR_RBR_DLL, byte);
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
        if inb(LSR) & LSR_DATA_READY != 0 { Some(inb(THR_RBR_DLL)) } else { None }
    }
}

struct Writer;

impl fmt::Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Arch::write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Formatted output for `hal_println!`. Unlocked: used during boot (one
/// CPU, interrupts off) and for short diagnostics.
pub(crate) fn print(args: fmt::Arguments<'_>) {
    // `Writer::write_str` never fails.
    let _ = fmt::Write::write_fmt(&mut Writer, args);
}
