//! Device interrupts: the IOAPIC routes GSI `n` to vector `IRQ_BASE + n` on
//! the boot CPU (fixed delivery, physical destination, edge triggered,
//! active high: right for ISA interrupts; nothing fancier yet, no ACPI MADT
//! overrides). The legacy 8259 PICs are remapped out of the exception
//! vectors and fully masked. End of interrupt goes to the local APIC.

use super::{Arch, lapic, phys_ptr, vectors};
use crate::api::{InterruptController, IrqError};
use core::sync::atomic::{AtomicU32, Ordering};
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;
use x86_64::instructions::port::Port;

/// Physical base of the IOAPIC's registers (the PC default; QEMU's q35 and
/// pc machines put it here).
pub(super) const IOAPIC_PHYS: u64 = 0xfec0_0000;

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const REG_VERSION: u32 = 0x01;
const REG_REDTBL: u32 = 0x10;
const RTE_MASKED: u32 = 1 << 16;

/// Redirection entries the IOAPIC has (and that have a vector).
static NUM_IRQS: AtomicU32 = AtomicU32::new(0);
/// Serialises the IOREGSEL/IOWIN register pair.
static IOAPIC_LOCK: Mutex<()> = Mutex::new(());

fn outb(port: u16, val: u8) {
    // SAFETY: the 8259 PIC ports (0x20/0x21, 0xa0/0xa1) belong to this
    // module; reprogramming and masking the PICs affects no memory.
    unsafe { Port::<u8>::new(port).write(val) }
}

/// Move the 8259 PICs' vectors to 0x20..0x30 (away from the exceptions, in
/// case one fires spuriously) and mask every line.
fn disable_legacy_pic() {
    let base = vectors::LEGACY_PIC_BASE;
    outb(0x20, 0x11); // ICW1: init, ICW4 follows
    outb(0xa0, 0x11);
    outb(0x21, base); // ICW2: vector base
    outb(0xa1, base + 8);
    outb(0x21, 0x04); // ICW3: slave on IRQ2
    outb(0xa1, 0x02);
    outb(0x21, 0x01); // ICW4: 8086 mode
    outb(0xa1, 0x01);
    outb(0x21, 0xff); // OCW1: mask all
    outb(0xa1, 0xff);
}

/// Read an IOAPIC register. Caller holds `IOAPIC_LOCK`.
fn ioapic_read(reg: u32) -> u32 {
    // SAFETY: the IOAPIC's register window is mapped uncached at
    // PHYS_OFFSET + IOAPIC_PHYS (boot page tables; `BootInfo::mmio` for the
    // kernel's); IOREGSEL and IOWIN are aligned 32-bit registers in that
    // page, and the caller's lock keeps the select/access pair atomic.
    unsafe {
        phys_ptr::<u32>(IOAPIC_PHYS + IOREGSEL).write_volatile(reg);
        phys_ptr::<u32>(IOAPIC_PHYS + IOWIN).read_volatile()
    }
}

/// Write an IOAPIC register. Caller holds `IOAPIC_LOCK`.
fn ioapic_write(reg: u32, val: u32) {
    // SAFETY: as in `ioapic_read`.
    unsafe {
        phys_ptr::<u32>(IOAPIC_PHYS + IOREGSEL).write_volatile(reg);
        phys_ptr::<u32>(IOAPIC_PHYS + IOWIN).write_volatile(val);
    }
}

/// Run `f` with the IOAPIC lock held and interrupts off (trap handlers call
/// `disable_irq` too).
fn with_ioapic<R>(f: impl FnOnce() -> R) -> R {
    without_interrupts(|| {
        let _guard = IOAPIC_LOCK.lock();
        f()
    })
}

/// Mask the PICs and every IOAPIC input; point each input at its vector on
/// this CPU, masked.
pub(super) fn init() {
    disable_legacy_pic();
    let dest = lapic::id();
    let n = with_ioapic(|| {
        let entries = ((ioapic_read(REG_VERSION) >> 16) & 0xff) + 1;
        let n = entries.min(vectors::MAX_IRQS);
        for gsi in 0..n {
            ioapic_write(REG_REDTBL + 2 * gsi + 1, dest << 24);
            ioapic_write(REG_REDTBL + 2 * gsi, RTE_MASKED | vector(gsi));
        }
        n
    });
    NUM_IRQS.store(n, Ordering::Relaxed);
    hal_println!(
        "x86_64: IOAPIC at {:#x}: {} inputs, vectors {:#x}..",
        IOAPIC_PHYS,
        n,
        vectors::IRQ_BASE
    );
}

fn vector(gsi: u32) -> u32 {
    u32::from(vectors::IRQ_BASE) + gsi
}

fn check(irq: u32) -> Result<(), IrqError> {
    if irq < NUM_IRQS.load(Ordering::Relaxed) { Ok(()) } else { Err(IrqError::NoSuchIrq) }
}

impl InterruptController for Arch {
    fn enable_irq(irq: u32) -> Result<(), IrqError> {
        check(irq)?;
        let dest = lapic::id();
        with_ioapic(|| {
            ioapic_write(REG_REDTBL + 2 * irq + 1, dest << 24);
            // Fixed delivery, physical destination, active high, edge.
            ioapic_write(REG_REDTBL + 2 * irq, vector(irq));
        });
        Ok(())
    }

    fn disable_irq(irq: u32) -> Result<(), IrqError> {
        check(irq)?;
        with_ioapic(|| {
            let low = ioapic_read(REG_REDTBL + 2 * irq);
            ioapic_write(REG_REDTBL + 2 * irq, low | RTE_MASKED);
        });
        Ok(())
    }

    fn end_of_interrupt(_irq: u32) {
        lapic::eoi();
    }
}
