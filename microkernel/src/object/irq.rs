//! Interrupts and I/O ports. IRQ control hands out one handler cap per
//! interrupt line; a handler routes its line to a notification. A delivered
//! interrupt stays masked until the driver acknowledges it through its
//! handler, so a level-triggered device cannot storm the kernel.
//! I/O port caps (x86_64) cover an inclusive port range.

use crate::ipc::Message;
use crate::object::Call;
use crate::object::notification;
use crate::object::slots::{Slots, dest_slot};
use crate::state::{Kernel, MAX_IRQS};
use hal::{Arch, InterruptController, PortIo};
use kcore::Cap;
use libipc::abi::{CapType, Error, Invocation, TraceKind};

pub fn handles(l: Invocation) -> bool {
    matches!(
        l,
        Invocation::IrqControlGet
            | Invocation::IrqHandlerAck
            | Invocation::IrqHandlerSetNotification
            | Invocation::IrqHandlerClear
            | Invocation::IoPortIn
            | Invocation::IoPortOut
    )
}

pub fn invoke(k: &mut Kernel, call: &Call<'_>, reply: &mut Message) -> Result<(), Error> {
    match (call.cap.cap_type(), call.label) {
        (CapType::IrqControl, Invocation::IrqControlGet) => {
            let irq = call.arg(0)?;
            let (_, cnode) = call.extra_typed(0, CapType::CNode)?;
            let dst = dest_slot(&cnode, call.arg(1)?)?;
            let i = usize::try_from(irq).ok().filter(|&i| i < MAX_IRQS).ok_or(Error::RangeError)?;
            if k.irqs[i].claimed {
                return Err(Error::IllegalOperation);
            }
            kcore::cdt::insert_child(&mut Slots, call.slot, dst, Cap::irq_handler(irq))?;
            k.irqs[i].claimed = true;
        }
        (CapType::IrqHandler, l) => {
            let irq = call.cap.irq().unwrap_or(0);
            let i = (irq as usize).min(MAX_IRQS - 1);
            match l {
                Invocation::IrqHandlerSetNotification => {
                    let (_, n) = call.extra_typed(0, CapType::Notification)?;
                    Arch::enable_irq(irq as u32).map_err(|_| Error::RangeError)?;
                    k.irqs[i].notification = n.addr();
                    k.irqs[i].badge = n.badge();
                }
                Invocation::IrqHandlerAck => {
                    if k.irqs[i].notification != 0 {
                        Arch::enable_irq(irq as u32).map_err(|_| Error::RangeError)?;
                    }
                }
                Invocation::IrqHandlerClear => {
                    let _ = Arch::disable_irq(irq as u32);
                    k.irqs[i].notification = 0;
                }
                _ => return Err(Error::IllegalOperation),
            }
        }
        (CapType::IoPort, l) => {
            let (first, last) = call.cap.io_ports().ok_or(Error::WrongType)?;
            let port = u16::try_from(call.arg(0)?).map_err(|_| Error::RangeError)?;
            let width = u8::try_from(call.arg(1)?).map_err(|_| Error::InvalidArgument)?;
            if !matches!(width, 1 | 2 | 4) {
                return Err(Error::InvalidArgument);
            }
            let end = u32::from(port) + u32::from(width) - 1;
            if port < first || end > u32::from(last) {
                return Err(Error::RangeError);
            }
            match l {
                Invocation::IoPortIn => {
                    let v = Arch::port_in(port, width).ok_or(Error::IllegalOperation)?;
                    reply.push(u64::from(v));
                }
                Invocation::IoPortOut => {
                    let v = u32::try_from(call.arg(2)?).map_err(|_| Error::RangeError)?;
                    if !Arch::port_out(port, width, v) {
                        return Err(Error::IllegalOperation);
                    }
                }
                _ => return Err(Error::IllegalOperation),
            }
        }
        _ => return Err(Error::IllegalOperation),
    }
    Ok(())
}

/// A device interrupt arrived.
pub fn handle(k: &mut Kernel, irq: u32) {
    let i = irq as usize;
    let _ = Arch::disable_irq(irq);
    let slot = k.irqs.get(i).copied().unwrap_or_default();
    let interrupted = k.current();
    k.event(TraceKind::Irq, interrupted, u64::from(irq), slot.notification, 0);
    if slot.notification != 0 {
        notification::signal(k, 0, slot.notification, slot.badge);
    }
    Arch::end_of_interrupt(irq);
}

/// The last cap to an IRQ handler is gone.
pub fn destroy_handler(k: &mut Kernel, cap: &Cap) {
    if let Some(irq) = cap.irq()
        && let Some(slot) = k.irqs.get_mut(irq as usize)
    {
        let _ = Arch::disable_irq(irq as u32);
        *slot = crate::state::IrqSlot::default();
    }
}
