//! The 16550 UART as the console server drives it, over any register
//! access ([`Regs`]: I/O port invocations on x86_64, a mapped device page
//! on riscv64).
//!
//! Set-up ([`Uart::init`]): interrupts off while configuring, 8N1 with the
//! divisor left as the kernel (x86_64) or the firmware (riscv64)
//! programmed it, FIFOs on (not cleared: input typed early waits there)
//! with the receive trigger at one byte (an interrupt per byte typed, not
//! per 14), modem control DTR, RTS and
//! OUT2 (on PC hardware OUT2 gates the UART's interrupt line), then only
//! the "received data available" interrupt enabled. The transmitter is
//! polled: output waits for the holding register to be empty, then fills
//! the 16-byte FIFO.
//!
//! The kernel keeps writing the same transmitter for its own output
//! (`DebugWrite`, kernel messages); it never reads the receiver and never
//! enables the UART's interrupts (`hal/src/uart16550.rs`).

use crate::ring::Ring;

/// Receive buffer (read) / transmit holding (write).
pub const RBR_THR: u8 = 0;
/// Interrupt enable.
pub const IER: u8 = 1;
/// Interrupt identification (read) / FIFO control (write).
pub const IIR_FCR: u8 = 2;
/// Line control.
pub const LCR: u8 = 3;
/// Modem control.
pub const MCR: u8 = 4;
/// Line status.
pub const LSR: u8 = 5;

/// IER: received data available.
pub const IER_RX: u8 = 1 << 0;
/// LSR: a received byte is waiting.
pub const LSR_DR: u8 = 1 << 0;
/// LSR: a received byte was lost (overrun).
pub const LSR_OE: u8 = 1 << 1;
/// LSR: the transmit holding register (and FIFO) is empty.
pub const LSR_THRE: u8 = 1 << 5;
/// FCR: FIFOs on, receive trigger at 1 byte. Not cleared: the kernel
/// (x86_64) or the hal (riscv64) enabled them at boot, and with the enable
/// bit unchanged a 16550 keeps their contents, so bytes typed before the
/// server started are not lost.
pub const FCR_INIT: u8 = 0x01;
/// LCR: 8 data bits, no parity, 1 stop bit, divisor latch off.
pub const LCR_8N1: u8 = 0x03;
/// MCR: DTR, RTS, OUT2.
pub const MCR_INIT: u8 = 0x0b;
/// Bytes the transmitter FIFO takes once THRE is set.
pub const TX_FIFO: usize = 16;

/// LSR polls before a byte is sent anyway (a stuck UART does not hang the
/// server; the byte may be lost).
const TX_SPIN_LIMIT: u32 = 10_000;
/// Most bytes one drain moves (the receive FIFO holds 16; more may arrive
/// while draining).
const DRAIN_LIMIT: usize = 4096;

/// Access to the UART's eight byte registers. Accesses can fail (an I/O
/// port invocation refused): that is reported, never a panic.
pub trait Regs {
    fn read(&mut self, reg: u8) -> Option<u8>;
    fn write(&mut self, reg: u8, value: u8) -> bool;
}

/// A register access failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegError {
    pub reg: u8,
}

/// What one drain moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Bytes read from the UART.
    pub received: usize,
    /// Old bytes the ring dropped to make room.
    pub dropped: usize,
    /// Times the UART reported an overrun.
    pub overruns: usize,
}

/// A 16550 UART.
pub struct Uart<R: Regs> {
    pub regs: R,
}

impl<R: Regs> Uart<R> {
    pub fn new(regs: R) -> Self {
        Uart { regs }
    }

    fn rd(&mut self, reg: u8) -> Result<u8, RegError> {
        self.regs.read(reg).ok_or(RegError { reg })
    }

    fn wr(&mut self, reg: u8, value: u8) -> Result<(), RegError> {
        if self.regs.write(reg, value) { Ok(()) } else { Err(RegError { reg }) }
    }

    /// Program the UART (see the module doc); the receive interrupt is on
    /// afterwards. Bytes already waiting stay in the receiver for the first
    /// drain.
    pub fn init(&mut self) -> Result<(), RegError> {
        self.wr(IER, 0)?;
        self.wr(LCR, LCR_8N1)?;
        self.wr(IIR_FCR, FCR_INIT)?;
        self.wr(MCR, MCR_INIT)?;
        // Reading IIR and LSR clears stale interrupt conditions.
        self.rd(IIR_FCR)?;
        self.rd(LSR)?;
        self.wr(IER, IER_RX)
    }

    /// Whether a received byte is waiting.
    pub fn rx_ready(&mut self) -> Result<bool, RegError> {
        Ok(self.rd(LSR)? & LSR_DR != 0)
    }

    /// Move every waiting byte into `ring`.
    pub fn drain<const N: usize>(&mut self, ring: &mut Ring<N>) -> Drained {
        let mut d = Drained::default();
        for _ in 0..DRAIN_LIMIT {
            let Ok(lsr) = self.rd(LSR) else { break };
            if lsr & LSR_OE != 0 {
                d.overruns += 1;
            }
            if lsr & LSR_DR == 0 {
                break;
            }
            let Ok(b) = self.rd(RBR_THR) else { break };
            d.received += 1;
            if ring.push(b) {
                d.dropped += 1;
            }
        }
        d
    }

    /// Wait (bounded) until the transmitter is empty.
    fn wait_tx(&mut self) -> Result<(), RegError> {
        for _ in 0..TX_SPIN_LIMIT {
            if self.rd(LSR)? & LSR_THRE != 0 {
                return Ok(());
            }
            core::hint::spin_loop();
        }
        Ok(())
    }

    /// Send `data`, `\n` as `\r\n`. Returns the bytes sent.
    pub fn write(&mut self, data: &[u8]) -> Result<u64, RegError> {
        let mut room = 0usize;
        let mut sent = 0u64;
        for &b in data {
            let crlf: &[u8] = if b == b'\n' { b"\r\n" } else { core::slice::from_ref(&b) };
            for &c in crlf {
                if room == 0 {
                    self.wait_tx()?;
                    room = TX_FIFO;
                }
                self.wr(RBR_THR, c)?;
                room -= 1;
                sent += 1;
            }
        }
        Ok(sent)
    }
}
