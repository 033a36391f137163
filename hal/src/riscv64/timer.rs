//! The supervisor timer through the SBI TIME extension.
//!
//! `time` counts at the timebase frequency from the device tree (10 MHz on
//! QEMU virt). The hardware has one compare value and no periodic mode, so a
//! periodic tick is emulated: [`Timer::start_periodic`] arms the first
//! deadline and every [`Timer::ack`] arms the next one, `period` after the
//! previous deadline (no drift; if the kernel fell behind, the next deadline
//! is one period from now instead of a burst of late ticks).
//! Setting the compare value also clears a pending timer interrupt.

use super::{Arch, sbi};
use crate::api::Timer;
use core::sync::atomic::{AtomicU64, Ordering};
use riscv::register::{sie, time};

/// Timebase frequency in Hz (QEMU virt's until the device tree is read).
static TIMEBASE_HZ: AtomicU64 = AtomicU64::new(10_000_000);
/// Ticks of `time` between periodic interrupts; 0 when not periodic.
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The deadline currently armed (`time` value), `u64::MAX` if none.
static DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Nanoseconds per tick in 32.32 fixed point, so `now_ns` (called on every
/// kernel entry by the event trace) multiplies instead of dividing.
static NS_PER_TICK_FP32: AtomicU64 = AtomicU64::new(ns_per_tick_fp32(10_000_000));

const NS_PER_S: u128 = 1_000_000_000;

const fn ns_per_tick_fp32(hz: u64) -> u64 {
    let v = (NS_PER_S << 32) / hz as u128;
    if v > u64::MAX as u128 { u64::MAX } else { v as u64 }
}

/// Record the timebase and make sure no timer interrupt is pending.
pub(crate) fn init(timebase_hz: u64) {
    if timebase_hz != 0 {
        TIMEBASE_HZ.store(timebase_hz, Ordering::Relaxed);
        NS_PER_TICK_FP32.store(ns_per_tick_fp32(timebase_hz), Ordering::Relaxed);
    }
    Arch::stop();
}

/// The timebase frequency in Hz.
pub(crate) fn timebase_hz() -> u64 {
    TIMEBASE_HZ.load(Ordering::Relaxed)
}

fn now_ticks() -> u64 {
    time::read() as u64
}

fn ns_to_ticks(ns: u64) -> u64 {
    let t = u128::from(ns) * u128::from(timebase_hz()) / NS_PER_S;
    u64::try_from(t).unwrap_or(u64::MAX).max(1)
}

fn arm(deadline: u64) {
    DEADLINE.store(deadline, Ordering::Relaxed);
    sbi::set_timer(deadline);
    // SAFETY: enabling the supervisor timer interrupt source only lets
    // timer traps in once sstatus.SIE allows interrupts; the trap vector is
    // installed (boot code) before any timer is armed.
    unsafe { sie::set_stimer() };
}

impl Timer for Arch {
    fn start_periodic(hz: u32) {
        let hz = u64::from(hz.max(1));
        let period = (timebase_hz() / hz).max(1);
        PERIOD.store(period, Ordering::Relaxed);
        arm(now_ticks().saturating_add(period));
    }

    fn arm_oneshot(delta_ns: u64) {
        PERIOD.store(0, Ordering::Relaxed);
        arm(now_ticks().saturating_add(ns_to_ticks(delta_ns)));
    }

    fn stop() {
        PERIOD.store(0, Ordering::Relaxed);
        DEADLINE.store(u64::MAX, Ordering::Relaxed);
        // SAFETY: masking the timer interrupt source cannot break any
        // invariant: it only keeps timer traps out.
        unsafe { sie::clear_stimer() };
        sbi::set_timer(u64::MAX);
    }

    fn now_ns() -> u64 {
        let t =
            (u128::from(now_ticks()) * u128::from(NS_PER_TICK_FP32.load(Ordering::Relaxed))) >> 32;
        u64::try_from(t).unwrap_or(u64::MAX)
    }

    fn clock_hz() -> u64 {
        timebase_hz()
    }

    fn ack() {
        let period = PERIOD.load(Ordering::Relaxed);
        if period == 0 {
            // One-shot (or stopped): nothing more to come; clear the pending
            // interrupt by moving the compare value out of reach.
            DEADLINE.store(u64::MAX, Ordering::Relaxed);
            sbi::set_timer(u64::MAX);
            return;
        }
        let now = now_ticks();
        let mut next = DEADLINE.load(Ordering::Relaxed).saturating_add(period);
        if next <= now {
            next = now.saturating_add(period);
        }
        arm(next);
    }
}
