//! Host tests: the ring, the 16550 protocol against a simulated UART, and
//! the console protocol's server state through `dispatch`.

#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::vec::Vec;

use libipc::abi::MSG_MAX_WORDS;
use libipc::proto::console::{self, Client, Error, READ_MAX, Text, WRITE_MAX};
use libipc::proto::wire::{self, Header, REPLY_ERR, REPLY_OK};
use libipc::proto::{Direct, Incoming, ProtoError, Reply, Transport};

use super::*;
use crate::uart::*;

/// A simulated 16550: a receive queue, a transmit log, register writes.
#[derive(Default)]
struct FakeUart {
    rx: VecDeque<u8>,
    tx: Vec<u8>,
    writes: Vec<(u8, u8)>,
    overrun: bool,
    /// Fail accesses to this register.
    broken: Option<u8>,
}

impl Regs for FakeUart {
    fn read(&mut self, reg: u8) -> Option<u8> {
        if self.broken == Some(reg) {
            return None;
        }
        Some(match reg {
            RBR_THR => self.rx.pop_front().unwrap_or(0),
            LSR => {
                let oe = if core::mem::take(&mut self.overrun) { LSR_OE } else { 0 };
                LSR_THRE | oe | if self.rx.is_empty() { 0 } else { LSR_DR }
            }
            _ => 0,
        })
    }

    fn write(&mut self, reg: u8, value: u8) -> bool {
        if self.broken == Some(reg) {
            return false;
        }
        if reg == RBR_THR {
            self.tx.push(value);
        } else {
            self.writes.push((reg, value));
        }
        true
    }
}

/// Notifications by slot: slots in `gone` have been destroyed.
#[derive(Default)]
struct FakeNotifier {
    signals: Vec<u64>,
    released: Vec<u64>,
    gone: Vec<u64>,
    /// Slots holding something else than a notification.
    not_notifications: Vec<u64>,
}

impl Notifier for FakeNotifier {
    fn is_notification(&mut self, slot: u64) -> bool {
        !self.not_notifications.contains(&slot)
    }
    fn signal(&mut self, slot: u64) -> bool {
        if self.gone.contains(&slot) {
            return false;
        }
        self.signals.push(slot);
        true
    }
    fn release(&mut self, slot: u64) {
        self.released.push(slot);
    }
}

type TestConsole = Console<FakeUart, FakeNotifier>;

fn console() -> TestConsole {
    let mut c = Console::new(Uart::new(FakeUart::default()), FakeNotifier::default());
    c.uart.init().unwrap();
    c
}

fn client(c: &mut TestConsole) -> Client<impl Transport + '_> {
    Client::new(Direct::new(move |label, words: &[u64], out: &mut [u64; MSG_MAX_WORDS]| {
        Ok(console::dispatch(c, Incoming::new(0, label, words), out))
    }))
}

/// Subscribe as if a cap arrived in `slot`.
fn subscribe_with(c: &mut TestConsole, slot: Option<u64>) -> Result<u32, Error> {
    c.set_incoming(slot);
    let r = client(c).subscribe();
    // What the receive loop does with an unclaimed cap.
    let _ = c.take_unclaimed();
    r
}

fn type_in(c: &mut TestConsole, bytes: &[u8]) -> usize {
    c.uart.regs.rx.extend(bytes);
    // One drain moves a bounded number of bytes; the server drains again
    // while more wait, as after an interrupt.
    let mut n = c.drain(true);
    while c.uart.rx_ready().unwrap() {
        n += c.drain(false);
    }
    c.notify();
    n
}

fn raw(c: &mut TestConsole, label: u32, words: &[u64]) -> Result<Reply, Error> {
    let mut out = [0u64; MSG_MAX_WORDS];
    let r = console::dispatch(c, Incoming::new(0, label, words), &mut out);
    match r.label {
        REPLY_OK => Ok(r),
        REPLY_ERR => Err(wire::decode::<Error>(&out[..r.len]).unwrap().1),
        l => panic!("reply label {l}"),
    }
}

#[test]
fn ring_keeps_order_wraps_and_drops_the_oldest() {
    let mut r = Ring::<4>::new();
    assert!(r.is_empty());
    for b in 1..=4 {
        assert!(!r.push(b));
    }
    assert!(r.push(5), "a full ring drops its oldest byte");
    let mut out = [0u8; 8];
    assert_eq!(r.pop_into(&mut out), 4);
    assert_eq!(&out[..4], &[2, 3, 4, 5]);
    assert_eq!(r.pop_into(&mut out), 0);
    // Wrap around many times, popping in small pieces.
    let mut next = 0u8;
    let mut want = 0u8;
    for _ in 0..100 {
        for _ in 0..3 {
            assert!(!r.push(next));
            next = next.wrapping_add(1);
        }
        while !r.is_empty() {
            let mut two = [0u8; 2];
            let n = r.pop_into(&mut two);
            for &b in &two[..n] {
                assert_eq!(b, want);
                want = want.wrapping_add(1);
            }
        }
    }
    let mut zero: [u8; 0] = [];
    assert_eq!(r.pop_into(&mut zero), 0);
}

#[test]
fn init_programs_fifo_line_modem_and_the_receive_interrupt_last() {
    let c = console();
    let w = &c.uart.regs.writes;
    assert_eq!(w.first(), Some(&(IER, 0)), "interrupts off first: {w:?}");
    assert!(w.contains(&(IIR_FCR, FCR_INIT)));
    assert!(w.contains(&(LCR, LCR_8N1)));
    assert!(w.contains(&(MCR, MCR_INIT)));
    assert_eq!(w.last(), Some(&(IER, IER_RX)), "the receive interrupt goes on last: {w:?}");
}

#[test]
fn write_translates_newlines_and_counts() {
    let mut c = console();
    let mut cl = client(&mut c);
    assert_eq!(cl.write(Text::from_slice(b"a\nb\n").unwrap()), Ok(4));
    assert_eq!(cl.write(Text::new()), Ok(0));
    drop(cl);
    assert_eq!(c.uart.regs.tx, b"a\r\nb\r\n");
    assert_eq!(c.counters().tx_bytes, 6);
}

#[test]
fn a_broken_uart_is_a_device_error_not_a_panic() {
    let mut c = console();
    c.uart.regs.broken = Some(RBR_THR);
    assert_eq!(client(&mut c).write(Text::from_slice(b"x").unwrap()), Err(Error::Device));
    c.uart.regs.broken = Some(LSR);
    assert_eq!(client(&mut c).write(Text::from_slice(b"x").unwrap()), Err(Error::Device));
    assert_eq!(c.uart.init(), Err(RegError { reg: LSR }));
    assert_eq!(c.drain(true), 0);
}

#[test]
fn input_is_buffered_and_read_in_pieces() {
    let mut c = console();
    assert_eq!(client(&mut c).read(10), Ok(Text::new()), "nothing typed: empty, no wait");
    assert_eq!(type_in(&mut c, b"hello\r"), 6);
    let mut cl = client(&mut c);
    assert_eq!(cl.read(3).unwrap().as_slice(), b"hel");
    assert_eq!(cl.read(0).unwrap().as_slice(), b"");
    assert_eq!(cl.read(u32::MAX).unwrap().as_slice(), b"lo\r");
    drop(cl);
    let i = c.counters();
    assert_eq!((i.rx_bytes, i.interrupts, i.buffered, i.rx_dropped), (6, 1, 0, 0));
}

#[test]
fn a_full_ring_drops_the_oldest_input_and_counts_overruns() {
    let mut c = console();
    let many: Vec<u8> = (0..INPUT_RING + 10).map(|i| (i % 251) as u8).collect();
    c.uart.regs.overrun = true;
    assert_eq!(type_in(&mut c, &many), many.len());
    let i = c.counters();
    assert_eq!(i.rx_dropped, 10 + 1);
    assert_eq!(i.buffered as usize, INPUT_RING);
    let first = client(&mut c).read(1).unwrap();
    assert_eq!(first.as_slice(), &many[10..11]);
}

#[test]
fn subscribers_are_signalled_and_dropped_when_gone() {
    let mut c = console();
    assert_eq!(
        subscribe_with(&mut c, None),
        Err(Error::NoNotification),
        "no cap came with the request"
    );
    c.notifier.not_notifications.push(99);
    assert_eq!(subscribe_with(&mut c, Some(99)), Err(Error::NoNotification));
    assert_eq!(subscribe_with(&mut c, Some(40)), Ok(0));
    assert_eq!(subscribe_with(&mut c, Some(41)), Ok(1));
    assert_eq!(c.counters().subscribers, 2);
    type_in(&mut c, b"x");
    assert_eq!(c.notifier.signals, [40, 41]);
    // Subscriber 40's notification is destroyed: dropped at the next signal.
    c.notifier.gone.push(40);
    type_in(&mut c, b"y");
    assert_eq!(c.notifier.released, [40]);
    assert_eq!(c.counters().subscribers, 1);
    // A new subscriber takes the free place, and is signalled at once as
    // input is waiting.
    c.notifier.signals.clear();
    assert_eq!(subscribe_with(&mut c, Some(42)), Ok(0));
    assert_eq!(c.notifier.signals, [42]);
}

#[test]
fn subscriptions_are_bounded() {
    let mut c = console();
    for i in 0..console::MAX_SUBSCRIBERS as u64 {
        assert_eq!(subscribe_with(&mut c, Some(100 + i)), Ok(i as u32));
    }
    c.set_incoming(Some(500));
    assert_eq!(client(&mut c).subscribe(), Err(Error::TooManySubscribers));
    assert_eq!(c.take_unclaimed(), Some(500), "the refused cap is left for the loop to delete");
}

#[test]
fn largest_write_and_read_fit_in_one_message() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let t = Text::from_slice(&[0xff; WRITE_MAX]).unwrap();
    assert!(
        wire::encode(console::VERSION, &console::write::Request { data: t }, &mut words).is_ok()
    );
    let r: Result<Text, Error> = Ok(Text::from_slice(&[0xff; READ_MAX]).unwrap());
    assert!(wire::encode(console::VERSION, &r, &mut words).is_ok());
    let mut c = console();
    assert_eq!(client(&mut c).write(t), Ok(WRITE_MAX as u32));
    // One byte more does not decode.
    let long = libipc::proto::Bytes::<{ WRITE_MAX + 1 }>::from_slice(&[1; WRITE_MAX + 1]).unwrap();
    let n = wire::encode(console::VERSION, &long, &mut words).unwrap();
    assert_eq!(
        raw(&mut c, console::write::OP, &words[..n]),
        Err(Error::Protocol(ProtoError::BadRequest))
    );
}

#[test]
fn malformed_requests_get_error_replies_and_the_server_keeps_serving() {
    let mut c = console();
    let bad = Err(Error::Protocol(ProtoError::BadRequest));
    assert_eq!(raw(&mut c, console::write::OP, &[]), bad);
    assert_eq!(raw(&mut c, console::read::OP, &[1 << 20]), bad);
    assert_eq!(raw(&mut c, console::read::OP, &[Header::new(0, 1).to_word()]), bad);
    assert_eq!(raw(&mut c, 77, &[Header::new(0, 1).to_word()]), Err(ProtoError::UnknownOp.into()));
    assert_eq!(
        raw(&mut c, console::info::OP, &[Header::new(0, 9).to_word()]),
        Err(ProtoError::VersionMismatch { client: 9, server: 1 }.into())
    );
    // Every truncation of a valid write.
    let mut words = [0u64; MSG_MAX_WORDS];
    let req = console::write::Request { data: Text::from_slice(&[b'z'; 100]).unwrap() };
    let n = wire::encode(console::VERSION, &req, &mut words).unwrap();
    for cut in 0..n {
        assert_eq!(raw(&mut c, console::write::OP, &words[..cut]), bad, "cut at {cut}");
    }
    // Random words never panic.
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..5000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 8) as usize;
        let ws: Vec<u64> = (0..len).map(|i| x.rotate_left(i as u32 * 9)).collect();
        let _ = raw(&mut c, (x >> 60) as u32 % 6, &ws);
    }
    assert!(c.uart.regs.tx.len() <= 5000 * WRITE_MAX * 2);
    // Still serving.
    assert_eq!(client(&mut c).write(Text::from_slice(b"ok").unwrap()), Ok(2));
    assert!(client(&mut c).info().is_ok());
}
