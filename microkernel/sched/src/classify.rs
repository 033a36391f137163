//! Dynamic classification: what the scheduler observes about a context and
//! the rules that move it between the classes.
//!
//! - **Promotion** (RR to EDF): an adaptive RR context that blocks
//!   `promote_after` times in a row having used less than `short_pct`% of
//!   its quantum looks like latency work (short bursts, then waiting for an
//!   event). Its reservation is derived from what was seen: the period is
//!   the mean time between wakes (an exponentially weighted moving average),
//!   the budget is the longest burst of the streak times `headroom_pct`%.
//!   The derived reservation then goes through admission like any other.
//! - **Demotion** (EDF to RR): an adaptive EDF context whose jobs exhaust
//!   their full budget `demote_after` times in a row is CPU-bound after all.
//! - **Hysteresis**: both rules need an unbroken streak (one burst of the
//!   other kind resets it), and every demotion or refused promotion doubles
//!   the streak the next promotion needs (up to `max_backoff` doublings), so
//!   a context near the boundary settles instead of flapping.

use crate::Time;
use crate::params::{Classify, Reservation, mul_div};

/// What the scheduler has seen a context do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Observed {
    /// CPU time since the last wake.
    pub burst: Time,
    /// When it last woke.
    pub last_wake: Option<Time>,
    /// Moving average of the time between wakes; 0 before two wakes.
    pub interval: Time,
    /// Short bursts in a row (RR).
    pub short_streak: u16,
    /// The longest burst of the current streak.
    pub streak_max: Time,
    /// Budget exhaustions in a row (EDF).
    pub overruns: u16,
    /// Backoff: doublings of the promotion threshold.
    pub penalty: u8,
}

impl Observed {
    /// The context woke at `now`.
    pub(crate) fn woke(&mut self, now: Time) {
        if let Some(last) = self.last_wake {
            let sample = now.saturating_sub(last);
            self.interval = if self.interval == 0 {
                sample
            } else {
                // 7/8 old + 1/8 new.
                (self.interval / 8).saturating_mul(7).saturating_add(sample / 8)
            };
        }
        self.last_wake = Some(now);
        self.burst = 0;
    }

    /// The context ran for `dt`.
    pub(crate) fn ran(&mut self, dt: Time) {
        self.burst = self.burst.saturating_add(dt);
    }

    /// Forget the streaks (after a reclassification or a parameter change).
    pub(crate) fn reset_streaks(&mut self) {
        self.short_streak = 0;
        self.streak_max = 0;
        self.overruns = 0;
    }

    /// Make the next promotion harder.
    pub(crate) fn penalise(&mut self, c: &Classify) {
        if self.penalty < c.max_backoff {
            self.penalty += 1;
        }
    }

    /// Short bursts in a row needed for a promotion now.
    pub(crate) fn promote_threshold(&self, c: &Classify) -> u32 {
        u32::from(c.promote_after) << self.penalty.min(16)
    }

    /// An RR context used up its quantum: not latency work.
    pub(crate) fn quantum_expired(&mut self) {
        self.short_streak = 0;
        self.streak_max = 0;
    }

    /// An adaptive RR context with quantum `quantum` blocked. Returns the
    /// derived reservation when a promotion is due.
    pub(crate) fn rr_blocked(&mut self, quantum: Time, c: &Classify) -> Option<Reservation> {
        let short = mul_div(self.burst, 100, u64::from(c.short_pct)) < quantum;
        if !short {
            self.quantum_expired();
            return None;
        }
        self.short_streak = self.short_streak.saturating_add(1);
        self.streak_max = self.streak_max.max(self.burst);
        if u32::from(self.short_streak) < self.promote_threshold(c) || self.interval == 0 {
            return None;
        }
        let period = self.interval.max(c.min_period);
        let budget = mul_div(self.streak_max, u64::from(c.headroom_pct), 100).clamp(1, period);
        let r = Reservation::implicit(budget, period);
        self.reset_streaks();
        if r.bandwidth() > c.max_bandwidth {
            // Blocks often, but uses too much CPU to be latency work.
            return None;
        }
        Some(r)
    }

    /// An adaptive EDF context finished a job (blocked) within its budget.
    pub(crate) fn edf_completed(&mut self) {
        self.overruns = 0;
    }

    /// An adaptive EDF context exhausted its full budget. True when a
    /// demotion is due.
    pub(crate) fn edf_overran(&mut self, c: &Classify) -> bool {
        self.overruns = self.overruns.saturating_add(1);
        u32::from(self.overruns) >= u32::from(c.demote_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Time = 1_000_000;

    #[test]
    fn interval_average() {
        let mut o = Observed::default();
        o.woke(0);
        assert_eq!(o.interval, 0);
        o.woke(8 * MS);
        assert_eq!(o.interval, 8 * MS);
        o.woke(24 * MS);
        assert_eq!(o.interval, 9 * MS);
    }

    #[test]
    fn promotion_needs_a_streak_and_derives_a_reservation() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        let mut t = 0;
        for i in 0..4 {
            o.woke(t);
            o.ran(MS);
            let r = o.rr_blocked(10 * MS, &c);
            if i < 3 {
                assert_eq!(r, None);
            } else {
                assert_eq!(r, Some(Reservation::implicit(3 * MS / 2, 10 * MS)));
            }
            t += 10 * MS;
        }
        assert_eq!(o.short_streak, 0);
    }

    #[test]
    fn a_long_burst_breaks_the_streak() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        for i in 0..20u64 {
            o.woke(i * 10 * MS);
            // Every third burst uses most of the quantum.
            o.ran(if i % 3 == 2 { 8 * MS } else { MS });
            assert_eq!(o.rr_blocked(10 * MS, &c), None);
        }
    }

    #[test]
    fn heavy_contexts_are_not_promoted() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        for i in 0..8u64 {
            o.woke(i * 4 * MS);
            o.ran(3 * MS);
            // 3 ms of 4 ms with a 100 ms quantum: short, but 100% bandwidth.
            assert_eq!(o.rr_blocked(100 * MS, &c), None);
        }
    }

    #[test]
    fn backoff_doubles_the_threshold() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        assert_eq!(o.promote_threshold(&c), 4);
        o.penalise(&c);
        assert_eq!(o.promote_threshold(&c), 8);
        for _ in 0..10 {
            o.penalise(&c);
        }
        assert_eq!(o.promote_threshold(&c), 4 << c.max_backoff);
    }

    #[test]
    fn demotion_after_consecutive_overruns() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        assert!(!o.edf_overran(&c));
        assert!(!o.edf_overran(&c));
        o.edf_completed();
        assert!(!o.edf_overran(&c));
        assert!(!o.edf_overran(&c));
        assert!(o.edf_overran(&c));
    }
}
