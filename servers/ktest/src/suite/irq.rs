//! IRQ control and handlers, I/O ports, and the console UART user space
//! may drive.

use libipc::abi::{Error, Rights};
use libipc::cap::{Cap, IrqHandler, init};
#[cfg(target_arch = "riscv64")]
use libipc::{abi::CapType, cap::Frame};

use crate::arch::FREE_IRQ;
use crate::env::Env;
use crate::fmt::TestResult;

pub fn irq_control(env: &mut Env) -> TestResult {
    let (slot, slot2) = (env.slot()?, env.slot()?);
    let irq = init::IRQ_CONTROL;
    ok!(irq.get(FREE_IRQ, init::CNODE, slot));
    // One handler per interrupt.
    expect_err!(
        irq.get(FREE_IRQ, init::CNODE, slot2),
        [Error::AlreadyMapped, Error::RevokeFirst, Error::IllegalOperation]
    );
    expect_err!(irq.get(FREE_IRQ + 1, init::CNODE, slot), Error::SlotOccupied);
    expect_err!(
        irq.get(1_000_000, init::CNODE, slot2),
        [Error::RangeError, Error::InvalidArgument]
    );
    let h: Cap<IrqHandler> = Cap::from_slot(slot);
    let n = env.notification()?;
    let badged = env.mint(n, Rights::ALL, 0x100)?;
    let ep = env.endpoint()?;
    // Route, acknowledge, try a wrong cap, unroute; check afterwards, so the
    // line never stays routed (the kernel stops an idle machine only when no
    // interrupt can arrive).
    let routed = h.set_notification(badged);
    let acked = h.ack();
    let wrong = h.set_notification(ep.cast());
    let cleared = h.clear();
    ok!(routed);
    ok!(acked);
    expect_err!(wrong, Error::WrongType);
    ok!(cleared);
    // Deleting the handler frees the interrupt.
    ok!(init::CNODE.delete(slot));
    ok!(irq.get(FREE_IRQ, init::CNODE, slot2));
    ok!(init::CNODE.delete(slot2));
    Ok(())
}

#[cfg(target_arch = "x86_64")]
pub fn io_ports(_env: &mut Env) -> TestResult {
    // Port 0x80 (POST diagnostics) is harmless to read and write.
    let ports = init::IO_PORTS;
    ok!(ports.port_in(0x80, 1));
    ok!(ports.port_out(0x80, 1, 0x42));
    ok!(ports.port_out(0x80, 2, 0x4242));
    expect_err!(ports.port_in(0x80, 3), Error::InvalidArgument);
    expect_err!(ports.port_out(0x80, 0, 0), Error::InvalidArgument);
    Ok(())
}

#[cfg(target_arch = "riscv64")]
pub fn io_ports(_env: &mut Env) -> TestResult {
    // No port I/O: the slot is empty.
    expect_err!(init::IO_PORTS.port_in(0x80, 1), Error::InvalidCapability);
    Ok(())
}

/// x86_64: COM1 is reachable through the I/O port cap, and the kernel
/// left the UART's interrupts off (the console server enables them).
#[cfg(target_arch = "x86_64")]
pub fn console_uart(_env: &mut Env) -> TestResult {
    const COM1: u16 = 0x3f8;
    let ier = ok!(init::IO_PORTS.port_in(COM1 + 1, 1));
    check_eq!(ier, 0, "(COM1's IER: the kernel enables no UART interrupt)");
    ok!(init::IO_PORTS.port_in(COM1 + 5, 1));
    Ok(())
}

/// riscv64: the console UART's page (QEMU virt, 0x1000_0000) is device
/// untyped, at the start of one, so a console server can map it while the
/// kernel keeps printing through it.
#[cfg(target_arch = "riscv64")]
pub fn console_uart(env: &mut Env) -> TestResult {
    const UART: u64 = 0x1000_0000;
    let found = (0..env.untyped_count())
        .filter_map(|i| env.untyped_at(i))
        .find(|(_, d)| d.is_device == 1 && d.paddr <= UART && UART - d.paddr < 1u64 << d.size_bits);
    let Some((u, d)) = found else {
        return Err(fail!("no device untyped covers the UART page {UART:#x}"));
    };
    check_eq!(d.paddr, UART, "(the UART's page starts its device untyped)");
    let slot = env.slot()?;
    ok!(u.retype(CapType::Frame, 12, init::CNODE, slot, 1));
    let (pa, size) = ok!(Cap::<Frame>::from_slot(slot).get_address());
    check_eq!((pa, size), (UART, 4096));
    ok!(init::CNODE.delete(slot));
    // The kernel still prints (through the same UART) after this.
    Ok(())
}
