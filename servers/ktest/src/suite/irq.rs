//! IRQ control and handlers, and I/O ports.

use libipc::abi::{Error, Rights};
use libipc::cap::{Cap, IrqHandler, init};

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
