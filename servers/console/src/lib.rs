//! The console server's device-independent part, built for the host too
//! (and tested there): the input [`Ring`], the 16550's register protocol
//! over any register access ([`Uart`] over [`Regs`]), and the `console`
//! protocol's server state ([`Console`]). `main.rs` is the server itself:
//! capabilities, the interrupt, the receive loop.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod ring;
pub mod uart;

pub use ring::Ring;
pub use uart::{Regs, Uart};

use libipc::proto::Caller;
use libipc::proto::console::{self, Error, Info, MAX_SUBSCRIBERS, READ_MAX, Text};

/// Bytes of input the server keeps until a client reads them.
pub const INPUT_RING: usize = 4096;

/// How the server reaches its subscribers' notifications (capabilities, on
/// bare metal).
pub trait Notifier {
    /// Whether the capability in `slot` is a notification it may signal.
    fn is_notification(&mut self, slot: u64) -> bool;
    /// Signal the notification in `slot`; `false` if it is gone.
    fn signal(&mut self, slot: u64) -> bool;
    /// The subscription in `slot` is over: empty the slot and take it back.
    fn release(&mut self, slot: u64);
}

/// The console protocol's server state over UART registers `R`.
pub struct Console<R: Regs, N: Notifier> {
    pub uart: Uart<R>,
    pub notifier: N,
    input: Ring<INPUT_RING>,
    subscribers: [Option<u64>; MAX_SUBSCRIBERS],
    /// The slot of a capability that came with the request being served
    /// (set by the receive loop); `subscribe` takes it.
    incoming: Option<u64>,
    info: Info,
}

impl<R: Regs, N: Notifier> Console<R, N> {
    pub fn new(uart: Uart<R>, notifier: N) -> Self {
        Console {
            uart,
            notifier,
            input: Ring::new(),
            subscribers: [None; MAX_SUBSCRIBERS],
            incoming: None,
            info: Info::default(),
        }
    }

    /// The request about to be dispatched came with a capability, received
    /// into `slot` (or none).
    pub fn set_incoming(&mut self, slot: Option<u64>) {
        self.incoming = slot;
    }

    /// Whether the capability set with [`Console::set_incoming`] is still
    /// unclaimed (the receive loop deletes it) rather than kept by
    /// `subscribe`.
    pub fn take_unclaimed(&mut self) -> Option<u64> {
        self.incoming.take()
    }

    /// An interrupt came: move every byte the UART holds into the input
    /// ring. Returns how many arrived. The caller acknowledges the
    /// interrupt and calls this again while [`Uart::rx_ready`] (a byte that
    /// came between draining and acknowledging would otherwise wait for the
    /// next interrupt, or forever on an edge-triggered line).
    pub fn drain(&mut self, count_interrupt: bool) -> usize {
        if count_interrupt {
            self.info.interrupts += 1;
        }
        let d = self.uart.drain(&mut self.input);
        self.info.rx_bytes += d.received as u64;
        self.info.rx_dropped += d.dropped as u64 + d.overruns as u64;
        d.received
    }

    /// Input arrived: signal every subscriber, dropping those whose
    /// notification is gone.
    pub fn notify(&mut self) {
        for s in self.subscribers.iter_mut() {
            if let Some(slot) = *s
                && !self.notifier.signal(slot)
            {
                self.notifier.release(slot);
                *s = None;
            }
        }
    }

    /// The counters.
    pub fn counters(&self) -> Info {
        Info {
            buffered: self.input.len() as u32,
            subscribers: self.subscribers.iter().flatten().count() as u32,
            ..self.info
        }
    }
}

impl<R: Regs, N: Notifier> console::Server for Console<R, N> {
    fn write(&mut self, _: &Caller, data: Text) -> Result<u32, Error> {
        let sent = self.uart.write(&data).map_err(|_| Error::Device)?;
        self.info.tx_bytes += sent;
        Ok(data.len() as u32)
    }

    fn read(&mut self, _: &Caller, max: u32) -> Result<Text, Error> {
        let max = (max as usize).min(READ_MAX);
        let mut buf = [0u8; READ_MAX];
        let out = buf.get_mut(..max).unwrap_or(&mut []);
        let n = self.input.pop_into(out);
        // Cannot fail: `n <= READ_MAX`.
        Ok(Text::from_slice(buf.get(..n).unwrap_or(&[])).unwrap_or_default())
    }

    fn subscribe(&mut self, _: &Caller) -> Result<u32, Error> {
        let slot = self.incoming.ok_or(Error::NoNotification)?;
        if !self.notifier.is_notification(slot) {
            return Err(Error::NoNotification);
        }
        let (i, free) = self
            .subscribers
            .iter_mut()
            .enumerate()
            .find(|(_, s)| s.is_none())
            .ok_or(Error::TooManySubscribers)?;
        *free = Some(slot);
        self.incoming = None;
        // Input may be waiting already.
        if !self.input.is_empty() && !self.notifier.signal(slot) {
            self.notifier.release(slot);
            *free = None;
            return Err(Error::NoNotification);
        }
        Ok(i as u32)
    }

    fn info(&mut self, _: &Caller) -> Result<Info, Error> {
        Ok(self.counters())
    }
}

#[cfg(test)]
mod tests;
