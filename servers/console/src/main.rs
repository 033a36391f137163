//! console: the console server. Drives the machine's 16550 UART from user
//! space and serves the `console` protocol (`libipc::proto::console`):
//! output for every server, input by interrupt into a ring.
//!
//! What it needs from its manifest entry (`images/test-console.toml`):
//! - the UART: on x86_64 the I/O ports of COM1 (`ioports`, base 0x3f8),
//!   reached through `IoPortIn`/`IoPortOut`; on riscv64 its register page
//!   (`mmio`, named `uart`), mapped uncached (the kernel hands that page out
//!   as device untyped while still writing its transmitter);
//! - its interrupt line (`irqs`: ISA IRQ 4 through the IOAPIC on x86_64,
//!   PLIC source 10 on riscv64).
//!
//! The interrupt is routed to a notification bound to the server's thread,
//! so one `Recv` on the endpoint returns either a request or the interrupt.
//! On an interrupt the server drains the receive FIFO into its ring,
//! acknowledges the line, and drains again while bytes are waiting (on
//! x86_64 the IOAPIC line is edge-triggered: a byte that arrives while the
//! line is masked would otherwise raise no new edge), then signals every
//! subscriber. Requests are answered at once: `read` never blocks (a client
//! waits on its subscription's notification instead, because a server can
//! owe only one caller a reply at a time).
//!
//! Capabilities that come with a request land in a receive slot; only
//! `subscribe` keeps one (checked to be a notification), every other is
//! deleted.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod server {
    use console::{Console, Notifier, Regs, Uart};
    use libipc::abi::{
        CPtr, Error as KError, MSG_MAX_WORDS, MessageInfo, NOTIFICATION_LABEL, Rights,
    };
    use libipc::cap::{Cap, Endpoint, IoPort, IrqHandler, Notification, Thread};
    use libipc::proto::console as proto;
    use libipc::proto::{Incoming, Reply};
    use libipc::start::{Role, slots};
    use libipc::sys;
    use rt::server::CNODE;

    rt::server!(main);

    /// The badge of the interrupt's signals on the bound notification.
    const IRQ_BADGE: u64 = 1;
    /// Drain-and-acknowledge rounds per interrupt before the server takes
    /// requests again (it signals itself to come back).
    const IRQ_ROUNDS: usize = 8;

    /// The UART's registers: COM1's I/O ports, or a mapped register page
    /// (byte registers one byte apart, as on QEMU virt).
    enum Device {
        Ports { cap: Cap<IoPort>, base: u16 },
        Mapped(rt::Mmio),
    }

    impl Regs for Device {
        fn read(&mut self, reg: u8) -> Option<u8> {
            match self {
                Device::Ports { cap, base } => {
                    cap.port_in(base.checked_add(u16::from(reg))?, 1).ok().map(|v| v as u8)
                }
                Device::Mapped(m) => m.read8(u64::from(reg)),
            }
        }

        fn write(&mut self, reg: u8, value: u8) -> bool {
            match self {
                Device::Ports { cap, base } => base
                    .checked_add(u16::from(reg))
                    .is_some_and(|p| cap.port_out(p, 1, u32::from(value)).is_ok()),
                Device::Mapped(m) => m.write8(u64::from(reg), value),
            }
        }
    }

    /// Subscribers' notifications, as capabilities in the server's CNode.
    struct Caps {
        start: &'static rt::Start,
    }

    const THREAD: Cap<Thread> = Cap::from_slot(slots::THREAD);

    impl Notifier for Caps {
        fn is_notification(&mut self, slot: u64) -> bool {
            // Asked of the kernel (`CNodeIdentify`): a notification we may
            // signal (WRITE), nothing else.
            CNODE
                .identify(slot)
                .is_ok_and(|id| id.is::<Notification>() && id.rights.contains(Rights::WRITE))
        }

        fn signal(&mut self, slot: u64) -> bool {
            Cap::<Notification>::from_slot(slot).signal().is_ok()
        }

        fn release(&mut self, slot: u64) {
            let _ = CNODE.delete(slot);
            self.start.free_slot(slot);
        }
    }

    type Server = Console<Device, Caps>;

    fn main(start: &'static rt::Start) -> i32 {
        match run(start) {
            Ok(never) => match never {},
            Err(why) => {
                rt::println!("console: {why}");
                1
            }
        }
    }

    enum Never {}

    fn run(start: &'static rt::Start) -> Result<Never, &'static str> {
        let info = &start.info;
        let ep: Cap<Endpoint> = info
            .caps
            .iter()
            .find(|c| c.role == Role::Provided && c.protocol.as_str() == proto::NAME)
            .map(|c| Cap::from_slot(c.slot))
            .ok_or("no endpoint to serve: the manifest entry must provide `console`")?;
        let (device, place) = if let Some(p) = info.ports.first() {
            let cap = Cap::from_slot(p.slot);
            (Device::Ports { cap, base: p.base }, Place::Ports(p.base))
        } else if let Ok(m) = start.device("uart") {
            (Device::Mapped(m), Place::Mapped(m.paddr))
        } else {
            return Err(
                "no UART: the manifest entry needs `ioports` (x86_64) or an `mmio` region named `uart`",
            );
        };
        let irq = info.irqs.first().ok_or("no interrupt line: the manifest entry needs `irqs`")?;
        let handler: Cap<IrqHandler> = Cap::from_slot(irq.slot);

        // The interrupt's notification, bound to this thread.
        let ntfn: Cap<Notification> = start.alloc(0).map_err(|_| "no memory for a notification")?;
        let badged = start.slot().map_err(|_| "no free slot")?;
        CNODE
            .mint(badged, CNODE, ntfn.slot(), Rights::WRITE, IRQ_BADGE)
            .map_err(|_| "minting the interrupt's notification failed")?;
        let irq_ntfn: Cap<Notification> = Cap::from_slot(badged);
        THREAD.bind_notification(ntfn).map_err(|_| "binding the notification failed")?;

        let mut con: Server = Console::new(Uart::new(device), Caps { start });
        con.uart.init().map_err(|_| "the UART's registers cannot be reached")?;
        handler.set_notification(irq_ntfn).map_err(|_| "routing the interrupt failed")?;
        // Bytes typed before the interrupt was routed.
        on_interrupt(&mut con, handler, irq_ntfn, false);
        match place {
            Place::Ports(base) => rt::println!(
                "console: 16550 at I/O ports {:#x}..{:#x}, IRQ {}, serving",
                base,
                u32::from(base) + 7,
                irq.line
            ),
            Place::Mapped(pa) => {
                rt::println!("console: 16550 at {:#x} (mapped), IRQ {}, serving", pa, irq.line)
            }
        }
        serve(start, ep, &mut con, handler, irq_ntfn)
    }

    enum Place {
        Ports(u16),
        Mapped(u64),
    }

    /// Drain, acknowledge, drain again while bytes wait (bounded), then
    /// tell the subscribers.
    fn on_interrupt(
        con: &mut Server,
        handler: Cap<IrqHandler>,
        irq_ntfn: Cap<Notification>,
        counted: bool,
    ) {
        let mut got = con.drain(counted);
        let mut rounds = 0;
        loop {
            let _ = handler.ack();
            if !matches!(con.uart.rx_ready(), Ok(true)) {
                break;
            }
            rounds += 1;
            if rounds == IRQ_ROUNDS {
                // Input keeps coming: serve requests, then come back.
                let _ = irq_ntfn.signal();
                break;
            }
            got += con.drain(false);
        }
        if got > 0 {
            con.notify();
        }
    }

    /// The receive loop: interrupts and requests.
    fn serve(
        start: &'static rt::Start,
        ep: Cap<Endpoint>,
        con: &mut Server,
        handler: Cap<IrqHandler>,
        irq_ntfn: Cap<Notification>,
    ) -> Result<Never, &'static str> {
        let buf = sys::ipc_buffer();
        let mut words = [0u64; MSG_MAX_WORDS];
        let mut out = [0u64; MSG_MAX_WORDS];
        let mut reply: Option<Reply> = None;
        // Where a capability sent with a request lands.
        let mut incoming = start.slot().ok();
        loop {
            let window = incoming.map_or(CPtr(0), |_| CNODE.cptr());
            let _ = buf.set_receive_window(window, incoming.unwrap_or(0), 64);
            let r = match reply.take() {
                Some(rep) => match MessageInfo::new(rep.label, rep.len, 0) {
                    Some(info) => {
                        buf.reply_recv(ep.cptr(), info, out.get(..rep.len).unwrap_or(&[]))
                    }
                    None => buf.recv(ep.cptr()),
                },
                None => buf.recv(ep.cptr()),
            };
            let msg = match r {
                Ok(m) => m,
                Err(KError::InvalidCapability | KError::WrongType | KError::InsufficientRights) => {
                    return Err("receiving on the endpoint failed");
                }
                // The reply could not be delivered (the caller is gone);
                // receive afresh.
                Err(_) => continue,
            };
            if msg.label() == NOTIFICATION_LABEL {
                if msg.badge & IRQ_BADGE != 0 {
                    on_interrupt(con, handler, irq_ntfn, true);
                }
                continue;
            }
            let n = msg.copy_words(&mut words);
            let caps = msg.info.extra_caps();
            con.set_incoming(if caps > 0 { incoming } else { None });
            let inc = Incoming::new(msg.badge, msg.label(), words.get(..n).unwrap_or(&[]));
            reply = Some(proto::dispatch(con, inc, &mut out));
            match con.take_unclaimed() {
                // Not kept: delete it, the slot receives the next one.
                Some(slot) => {
                    let _ = CNODE.delete(slot);
                }
                // Kept by `subscribe`: a fresh receive slot.
                None if caps > 0 => incoming = start.slot().ok(),
                None => {}
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
