//! The platform-level interrupt controller (PLIC, `riscv,plic0` /
//! `sifive,plic-1.0.0`) for the boot hart's S-mode context.
//!
//! Register map (offsets from the base):
//! - `0x00_0000 + 4 * src`: priority of source `src` (0 = never delivered);
//! - `0x00_2000 + 0x80 * ctx + 4 * (src / 32)`: enable bits of context `ctx`;
//! - `0x20_0000 + 0x1000 * ctx`: priority threshold of `ctx`, and at `+ 4`
//!   the claim/complete register.
//!
//! The context is the one whose `interrupts-extended` entry is the S-mode
//! external interrupt (9) of the boot hart (context 1 for hart 0 on QEMU
//! virt). Sources are 1..=`riscv,ndev`; source 0 means "none".
//!
//! [`claim`] is called by the trap code for a supervisor external interrupt;
//! the kernel completes the source with `end_of_interrupt`.

use super::{Arch, phys_to_virt};
use crate::api::{InterruptController, IrqError};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use riscv::register::sie;
use spin::Mutex;

const PRIORITY_BASE: u64 = 0x0;
const ENABLE_BASE: u64 = 0x2000;
const ENABLE_STRIDE: u64 = 0x80;
const CONTEXT_BASE: u64 = 0x20_0000;
const CONTEXT_STRIDE: u64 = 0x1000;
/// Priority given to enabled sources (any non-zero value above threshold 0).
const DEFAULT_PRIORITY: u32 = 1;

/// Direct-map address of the PLIC; 0 when the machine has none.
static BASE: AtomicU64 = AtomicU64::new(0);
/// Number of sources (`riscv,ndev`).
static NDEV: AtomicU32 = AtomicU32::new(0);
/// Our context.
static CONTEXT: AtomicU64 = AtomicU64::new(0);
/// Serialises read-modify-write of the enable words.
static ENABLE_LOCK: Mutex<()> = Mutex::new(());

/// Set up the PLIC at physical `pa` with `ndev` sources for context `ctx`:
/// every source masked and at priority 0, threshold 0, sie.SEIE enabled.
pub(crate) fn init(pa: u64, ndev: u32, ctx: u64) {
    BASE.store(phys_to_virt(pa), Ordering::Relaxed);
    NDEV.store(ndev, Ordering::Relaxed);
    CONTEXT.store(ctx, Ordering::Relaxed);
    for src in 1..=ndev {
        write(PRIORITY_BASE + 4 * u64::from(src), 0);
    }
    for word in 0..=u64::from(ndev / 32) {
        write(enable_word(word), 0);
    }
    write(context_reg(0), 0);
    // SAFETY: enabling the external interrupt source only lets PLIC
    // interrupts trap once sstatus.SIE allows it; all sources are masked
    // and the trap vector is installed.
    unsafe { sie::set_sext() };
}

fn context_reg(off: u64) -> u64 {
    CONTEXT_BASE + CONTEXT_STRIDE * CONTEXT.load(Ordering::Relaxed) + off
}

fn enable_word(word: u64) -> u64 {
    ENABLE_BASE + ENABLE_STRIDE * CONTEXT.load(Ordering::Relaxed) + 4 * word
}

fn read(off: u64) -> u32 {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: `base` is the direct-map address of the PLIC from the device
    // tree, mapped as device memory in the boot table and the kernel's table
    // (the whole `reg` range is in BootInfo::mmio); callers pass offsets of
    // registers inside that range (sources <= ndev, our context).
    unsafe { core::ptr::read_volatile((base + off) as *const u32) }
}

fn write(off: u64, value: u32) {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((base + off) as *mut u32, value) }
}

fn check(irq: u32) -> Result<(), IrqError> {
    if BASE.load(Ordering::Relaxed) == 0 || irq == 0 || irq > NDEV.load(Ordering::Relaxed) {
        Err(IrqError::NoSuchIrq)
    } else {
        Ok(())
    }
}

fn set_enabled(irq: u32, on: bool) {
    let word = enable_word(u64::from(irq / 32));
    let bit = 1u32 << (irq % 32);
    let _guard = ENABLE_LOCK.lock();
    let v = read(word);
    write(word, if on { v | bit } else { v & !bit });
}

/// Claim the highest-priority pending source of our context; 0 if none.
pub(crate) fn claim() -> u32 {
    if BASE.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    read(context_reg(4))
}

impl InterruptController for Arch {
    fn enable_irq(irq: u32) -> Result<(), IrqError> {
        check(irq)?;
        write(PRIORITY_BASE + 4 * u64::from(irq), DEFAULT_PRIORITY);
        set_enabled(irq, true);
        Ok(())
    }

    fn disable_irq(irq: u32) -> Result<(), IrqError> {
        check(irq)?;
        set_enabled(irq, false);
        Ok(())
    }

    fn end_of_interrupt(irq: u32) {
        if check(irq).is_ok() {
            write(context_reg(4), irq);
        }
    }
}
