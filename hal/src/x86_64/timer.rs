//! Time: the local APIC timer drives `TrapKind::Timer` (periodic or
//! one-shot), the TSC gives `now_ns`. Both are calibrated at boot against
//! PIT channel 2 (gate through port 0x61, mode 0, ~10 ms), the one timer of
//! known frequency every PC (and QEMU, with or without KVM) has.

use super::{Arch, lapic, vectors};
use crate::api::Timer;
use core::arch::x86_64::_rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

/// PIT input clock.
const PIT_HZ: u64 = 1_193_182;
/// PIT ticks in the calibration window (10 ms).
const PIT_LATCH: u64 = PIT_HZ / 100;
/// LAPIC timer divide configuration value for divide-by-16.
const DIVIDE_16: u32 = 0b0011;
const LVT_PERIODIC: u32 = 1 << 17;

/// Local APIC timer ticks per second (after the divider).
static LAPIC_HZ: AtomicU64 = AtomicU64::new(0);
/// TSC ticks per second.
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// TSC at calibration: `now_ns` counts from here.
static TSC_BASE: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick as a 32.32 fixed-point number.
static NS_PER_TSC_32: AtomicU64 = AtomicU64::new(0);

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter.
    unsafe { _rdtsc() }
}

fn outb(port: u16, val: u8) {
    // SAFETY: the PIT (0x40-0x43) and port 0x61 (PIT channel 2 gate and
    // speaker) belong to this module during calibration; writes to them
    // affect no memory.
    unsafe { Port::<u8>::new(port).write(val) }
}

fn inb(port: u16) -> u8 {
    // SAFETY: as in `outb`.
    unsafe { Port::<u8>::new(port).read() }
}

/// Run PIT channel 2 for `PIT_LATCH` ticks and count TSC and LAPIC timer
/// ticks meanwhile. Returns `(tsc_ticks, lapic_ticks)`, or `None` if the PIT
/// never finished (no PIT).
fn measure() -> Option<(u64, u64)> {
    // Gate channel 2 on, speaker off.
    let p61 = inb(0x61);
    outb(0x61, (p61 & !0x02) | 0x01);
    // Channel 2, lobyte/hibyte, mode 0 (interrupt on terminal count), binary.
    outb(0x43, 0b1011_0000);
    outb(0x42, (PIT_LATCH & 0xff) as u8);
    // Counting starts with the high byte.
    lapic::write(lapic::TIMER_DIVIDE, DIVIDE_16);
    lapic::write(lapic::LVT_TIMER, lapic::LVT_MASKED | u32::from(vectors::TIMER));
    outb(0x42, (PIT_LATCH >> 8) as u8);
    let tsc0 = rdtsc();
    lapic::write(lapic::TIMER_INITIAL, u32::MAX);
    // OUT2 (port 0x61 bit 5) goes high at terminal count. Give up after
    // ~1 s worth of a fast TSC, or a bounded number of polls.
    let mut done = false;
    for _ in 0..50_000_000u32 {
        if inb(0x61) & 0x20 != 0 {
            done = true;
            break;
        }
        if rdtsc().wrapping_sub(tsc0) > 10_000_000_000 {
            break;
        }
    }
    let lapic_left = lapic::read(lapic::TIMER_CURRENT);
    let tsc1 = rdtsc();
    lapic::write(lapic::TIMER_INITIAL, 0);
    outb(0x61, p61);
    done.then(|| (tsc1 - tsc0, u64::from(u32::MAX - lapic_left)))
}

/// Calibrate the TSC and the LAPIC timer. Runs on the boot CPU with
/// interrupts off, after `lapic::init`.
pub(super) fn init() {
    // Best of three: the shortest TSC interval is the one least disturbed
    // (by the host, under virtualisation).
    let mut best: Option<(u64, u64)> = None;
    for _ in 0..3 {
        if let Some(m) = measure()
            && best.is_none_or(|b| m.0 < b.0)
        {
            best = Some(m);
        }
    }
    let (tsc_hz, lapic_hz) = match best {
        Some((tsc, lapic)) => (tsc * PIT_HZ / PIT_LATCH, lapic * PIT_HZ / PIT_LATCH),
        None => {
            // QEMU and KVM clock the APIC timer at 1 GHz (62.5 MHz / 16).
            hal_println!(
                "x86_64: warning: PIT calibration failed; guessing TSC 2 GHz, APIC 62.5 MHz"
            );
            (2_000_000_000, 62_500_000)
        }
    };
    let tsc_hz = tsc_hz.max(1_000_000);
    let lapic_hz = lapic_hz.max(1_000);
    LAPIC_HZ.store(lapic_hz, Ordering::Relaxed);
    TSC_HZ.store(tsc_hz, Ordering::Relaxed);
    NS_PER_TSC_32.store((1_000_000_000u64 << 32) / tsc_hz, Ordering::Relaxed);
    TSC_BASE.store(rdtsc(), Ordering::Relaxed);
    hal_println!(
        "x86_64: TSC {}.{:03} MHz, APIC timer {}.{:03} MHz (calibrated against the PIT)",
        tsc_hz / 1_000_000,
        tsc_hz / 1_000 % 1_000,
        lapic_hz / 1_000_000,
        lapic_hz / 1_000 % 1_000
    );
}

/// LAPIC timer ticks for `ns` nanoseconds, within the 32-bit counter.
fn lapic_ticks(ns: u64) -> u32 {
    let t = u128::from(ns) * u128::from(LAPIC_HZ.load(Ordering::Relaxed)) / 1_000_000_000;
    t.clamp(1, u128::from(u32::MAX)) as u32
}

impl Timer for Arch {
    fn start_periodic(hz: u32) {
        if hz == 0 {
            Self::stop();
            return;
        }
        let count =
            (LAPIC_HZ.load(Ordering::Relaxed) / u64::from(hz)).clamp(1, u64::from(u32::MAX));
        lapic::write(lapic::TIMER_DIVIDE, DIVIDE_16);
        lapic::write(lapic::LVT_TIMER, LVT_PERIODIC | u32::from(vectors::TIMER));
        lapic::write(lapic::TIMER_INITIAL, count as u32);
    }

    fn arm_oneshot(delta_ns: u64) {
        lapic::write(lapic::TIMER_DIVIDE, DIVIDE_16);
        lapic::write(lapic::LVT_TIMER, u32::from(vectors::TIMER));
        lapic::write(lapic::TIMER_INITIAL, lapic_ticks(delta_ns));
    }

    fn stop() {
        lapic::write(lapic::LVT_TIMER, lapic::LVT_MASKED | u32::from(vectors::TIMER));
        lapic::write(lapic::TIMER_INITIAL, 0);
    }

    fn now_ns() -> u64 {
        let delta = rdtsc().wrapping_sub(TSC_BASE.load(Ordering::Relaxed));
        ((u128::from(delta) * u128::from(NS_PER_TSC_32.load(Ordering::Relaxed))) >> 32) as u64
    }

    fn clock_hz() -> u64 {
        TSC_HZ.load(Ordering::Relaxed)
    }

    fn ack() {
        lapic::eoi();
    }
}
