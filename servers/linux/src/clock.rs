//! Time from the user-readable counter (pure): counter ticks to
//! `timespec` and `timeval`, and the counter's resolution.
//!
//! The counter (`libipc::sys::arch::clock`: x86_64 `rdtsc`, riscv64
//! `rdtime`) runs at the rate the start info gives (`clock_hz`) and counts
//! from (about) boot. There is no real-time clock yet, so every Linux clock
//! the server knows reads it: `CLOCK_REALTIME` is time since boot too.

use liblinux::abi::{Timespec, Timeval};

const NANOS: u128 = 1_000_000_000;

/// `ticks` of a `hz` counter as seconds and nanoseconds; `None` if the
/// rate is unknown (0). 128-bit arithmetic: no overflow for any `ticks`
/// and `hz`.
pub fn timespec(ticks: u64, hz: u64) -> Option<Timespec> {
    if hz == 0 {
        return None;
    }
    let (ticks, hz) = (u128::from(ticks), u128::from(hz));
    let sec = ticks / hz;
    // rem < hz < 2^64, so rem * 1e9 < 2^94: no overflow; the quotient is
    // below 1e9.
    let nsec = (ticks % hz) * NANOS / hz;
    // sec <= ticks < 2^64: it fits an i64 for any counter value below
    // 2^63 seconds; saturate past that rather than wrap.
    let tv_sec = i64::try_from(sec).unwrap_or(i64::MAX);
    let tv_nsec = i64::try_from(nsec).unwrap_or(0);
    Some(Timespec { tv_sec, tv_nsec })
}

/// `ticks` of a `hz` counter as seconds and microseconds.
pub fn timeval(ticks: u64, hz: u64) -> Option<Timeval> {
    let t = timespec(ticks, hz)?;
    Some(Timeval { tv_sec: t.tv_sec, tv_usec: t.tv_nsec / 1000 })
}

/// The length of one tick of a `hz` counter, rounded up to whole
/// nanoseconds (at least 1 ns); `None` if the rate is unknown.
pub fn resolution(hz: u64) -> Option<Timespec> {
    if hz == 0 {
        return None;
    }
    let ns = NANOS.div_ceil(u128::from(hz));
    let tv_sec = i64::try_from(ns / NANOS).unwrap_or(i64::MAX);
    let tv_nsec = i64::try_from(ns % NANOS).unwrap_or(0);
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ts(tv_sec: i64, tv_nsec: i64) -> Option<Timespec> {
        Some(Timespec { tv_sec, tv_nsec })
    }

    #[test]
    fn ticks_to_timespec() {
        assert_eq!(timespec(0, 1_000_000), ts(0, 0));
        assert_eq!(timespec(1_500_000, 1_000_000), ts(1, 500_000_000));
        // riscv64 QEMU's 10 MHz timer; an x86_64 TSC rate.
        assert_eq!(timespec(10_000_001, 10_000_000), ts(1, 100));
        assert_eq!(timespec(7_500_000_000, 2_500_000_000), ts(3, 0));
        assert_eq!(timespec(2_500_000_001, 2_500_000_000), ts(1, 0));
        assert_eq!(timespec(2_500_000_003, 2_500_000_000), ts(1, 1));
        assert_eq!(timespec(5, 0), None);
    }

    #[test]
    fn no_overflow() {
        // u64::MAX ticks at 1 Hz does not fit an i64 of seconds: saturate.
        assert_eq!(timespec(u64::MAX, 1), ts(i64::MAX, 0));
        let t = timespec(u64::MAX, u64::MAX).unwrap();
        assert_eq!(t, Timespec { tv_sec: 1, tv_nsec: 0 });
        let t = timespec(u64::MAX - 1, u64::MAX).unwrap();
        assert_eq!(t.tv_sec, 0);
        assert!(t.tv_nsec < 1_000_000_000);
        let t = timespec(u64::MAX, 3_000_000_000).unwrap();
        assert_eq!(t.tv_sec, (u64::MAX / 3_000_000_000) as i64);
        assert!(t.tv_nsec < 1_000_000_000);
    }

    #[test]
    fn monotonic_in_ticks() {
        let hz = 2_419_200_000;
        let mut last = timespec(0, hz).unwrap();
        for ticks in (0..50_000_000_000u64).step_by(123_456_789) {
            let t = timespec(ticks, hz).unwrap();
            assert!((t.tv_sec, t.tv_nsec) >= (last.tv_sec, last.tv_nsec));
            assert!((0..1_000_000_000).contains(&t.tv_nsec));
            last = t;
        }
    }

    #[test]
    fn timeval_and_resolution() {
        let v = timeval(1_234_567_891, 1_000_000_000).unwrap();
        assert_eq!(v, Timeval { tv_sec: 1, tv_usec: 234_567 });
        assert_eq!(timeval(1, 0), None);
        assert_eq!(resolution(10_000_000), ts(0, 100));
        assert_eq!(resolution(3_000_000_000), ts(0, 1));
        assert_eq!(resolution(1), ts(1, 0));
        assert_eq!(resolution(3), ts(0, 333_333_334));
        assert_eq!(resolution(0), None);
    }
}
