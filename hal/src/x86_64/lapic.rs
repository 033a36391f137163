//! The local APIC in xAPIC mode: registers reached through the direct map at
//! `PHYS_OFFSET + IA32_APIC_BASE`, set up once per CPU, and end-of-interrupt.
//! The timer half lives in `timer.rs`.

use super::{phys_ptr, vectors};
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const DEFAULT_PHYS_BASE: u64 = 0xfee0_0000;

// Register offsets.
pub(super) const ID: u32 = 0x020;
pub(super) const VERSION: u32 = 0x030;
pub(super) const TPR: u32 = 0x080;
pub(super) const EOI: u32 = 0x0b0;
pub(super) const SVR: u32 = 0x0f0;
pub(super) const ESR: u32 = 0x280;
pub(super) const LVT_TIMER: u32 = 0x320;
pub(super) const LVT_LINT0: u32 = 0x350;
pub(super) const LVT_LINT1: u32 = 0x360;
pub(super) const LVT_ERROR: u32 = 0x370;
pub(super) const TIMER_INITIAL: u32 = 0x380;
pub(super) const TIMER_CURRENT: u32 = 0x390;
pub(super) const TIMER_DIVIDE: u32 = 0x3e0;

pub(super) const LVT_MASKED: u32 = 1 << 16;
const SVR_ENABLE: u32 = 1 << 8;
const DELIVERY_NMI: u32 = 0b100 << 8;

/// Physical base of the registers (0 until `init` or `phys_base` ran).
static PHYS_BASE: AtomicU64 = AtomicU64::new(0);

/// Physical address of this CPU's local APIC registers (4 KiB).
pub(super) fn phys_base() -> u64 {
    let cached = PHYS_BASE.load(Ordering::Relaxed);
    if cached != 0 {
        return cached;
    }
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has no
    // side effects.
    let msr = unsafe { Msr::new(IA32_APIC_BASE).read() };
    let base = match msr & 0x000f_ffff_ffff_f000 {
        0 => DEFAULT_PHYS_BASE,
        b => b,
    };
    PHYS_BASE.store(base, Ordering::Relaxed);
    base
}

/// Read a local APIC register.
pub(super) fn read(reg: u32) -> u32 {
    let p = phys_ptr::<u32>(phys_base() + u64::from(reg));
    // SAFETY: the local APIC page is mapped uncached at PHYS_OFFSET + base by
    // the boot page tables and by the kernel's page table (it is in
    // `BootInfo::mmio`); `reg` is one of the 16-byte aligned register
    // offsets above, inside that page. APIC registers must be read as
    // aligned 32-bit words, which a volatile u32 read is.
    unsafe { p.read_volatile() }
}

/// Write a local APIC register.
pub(super) fn write(reg: u32, val: u32) {
    let p = phys_ptr::<u32>(phys_base() + u64::from(reg));
    // SAFETY: as in `read`; the writes program only this CPU's APIC.
    unsafe { p.write_volatile(val) }
}

/// Signal end of interrupt for the interrupt in service.
pub(super) fn eoi() {
    write(EOI, 0);
}

/// This CPU's APIC ID.
pub(super) fn id() -> u32 {
    read(ID) >> 24
}

/// Enable this CPU's local APIC in xAPIC mode: spurious vector 0xff, all
/// priorities accepted, LINT0 (the legacy PIC's ExtINT) masked, LINT1 as
/// NMI, the error interrupt and the timer masked.
pub(super) fn init() {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU. Setting the global
    // enable bit (normally already set by firmware) at the same base keeps
    // the registers where they are mapped.
    let msr = unsafe { Msr::new(IA32_APIC_BASE).read() };
    if msr & APIC_BASE_X2APIC != 0 {
        hal_println!("x86_64: warning: local APIC is in x2APIC mode; xAPIC MMIO may not work");
    }
    if msr & APIC_BASE_ENABLE == 0 {
        // SAFETY: as above.
        unsafe { Msr::new(IA32_APIC_BASE).write(msr | APIC_BASE_ENABLE) };
    }
    write(TPR, 0);
    write(LVT_TIMER, LVT_MASKED | u32::from(vectors::TIMER));
    write(LVT_LINT0, LVT_MASKED);
    write(LVT_LINT1, DELIVERY_NMI);
    write(LVT_ERROR, LVT_MASKED | u32::from(vectors::APIC_ERROR));
    // The ESR is updated by a write, then read.
    write(ESR, 0);
    let _ = read(ESR);
    write(SVR, SVR_ENABLE | u32::from(vectors::SPURIOUS));
    eoi();
    hal_println!(
        "x86_64: local APIC id {} version {:#x} at {:#x}",
        id(),
        read(VERSION) & 0xff,
        phys_base()
    );
}
