//! Dynamic classification: what the scheduler observes about a context and
//! the rules that move it between the classes.
//!
//! - **Promotion** (RR to EDF): an adaptive RR context that blocks
//!   `promote_after` times in a row having used less than `short_pct`% of
//!   its quantum looks like latency work (short bursts, then waiting for an
//!   event). Its reservation is derived from what was seen: the period is
//!   the mean time between the wakes of the streak, the budget is the
//!   longest burst of the streak times `headroom_pct`%. The derived
//!   reservation then goes through admission like any other.
//! - **Retuning** (EDF to EDF): what a context does while it waits behind
//!   others in RR overstates its needs (it wakes less often and finds
//!   several events' work at once), and a short streak can understate its
//!   longest burst. So an adaptive EDF context's reservation is derived
//!   again from its own jobs: after `retune_after` jobs in a row within
//!   budget it takes the new one if that *shrinks* its bandwidth by a
//!   quarter or more (always admissible); when a job needed more than its
//!   budget (it was throttled, then finished), the budget *grows* to cover
//!   that job with headroom, if admission allows.
//! - **Demotion** (EDF to RR): an adaptive EDF context that exhausts its
//!   budget `demote_after` times in a row without ever blocking in between
//!   is runnable all the time: CPU-bound after all. (A latency job that
//!   overran finishes and blocks after its replenishment; that resets the
//!   count and grows its budget instead.)
//! - **Hysteresis**: every rule needs an unbroken streak (one event of the
//!   other kind resets it), shrinking needs a saving of a quarter, and every
//!   demotion or refused promotion doubles the streak the next promotion
//!   needs (up to `max_backoff` doublings), so a context near a boundary
//!   settles instead of flapping.

use crate::Time;
use crate::params::{Classify, Reservation, mul_div};

/// What the scheduler has seen a context do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Observed {
    /// CPU time since the last wake.
    pub burst: Time,
    /// When it last woke.
    pub last_wake: Option<Time>,
    /// Short bursts (RR) or jobs within budget (EDF) in a row.
    pub streak: u16,
    /// The longest burst of the current streak.
    pub streak_max: Time,
    /// Sum and number of the times between wakes during the streak.
    pub streak_gaps: Time,
    pub streak_wakes: u16,
    /// Budget exhaustions without a block in between (EDF).
    pub overruns: u16,
    /// A job of the current streak exhausted its budget (EDF).
    pub streak_overran: bool,
    /// Backoff: doublings of the promotion threshold.
    pub penalty: u8,
}

impl Observed {
    /// Nothing seen yet.
    pub(crate) const NEW: Self = Self {
        burst: 0,
        last_wake: None,
        streak: 0,
        streak_max: 0,
        streak_gaps: 0,
        streak_wakes: 0,
        overruns: 0,
        streak_overran: false,
        penalty: 0,
    };

    /// The context woke at `now`.
    pub(crate) fn woke(&mut self, now: Time) {
        if let Some(last) = self.last_wake {
            self.streak_gaps = self.streak_gaps.saturating_add(now.saturating_sub(last));
            self.streak_wakes = self.streak_wakes.saturating_add(1);
        }
        self.last_wake = Some(now);
        self.burst = 0;
    }

    /// The context ran for `dt`.
    pub(crate) fn ran(&mut self, dt: Time) {
        self.burst = self.burst.saturating_add(dt);
    }

    /// Forget the streaks and the last wake (after a reclassification or
    /// a parameter change: what was seen under the old class says little
    /// about the new one, not even the next time between wakes).
    pub(crate) fn reset_streaks(&mut self) {
        self.end_streak();
        self.overruns = 0;
        self.last_wake = None;
    }

    /// Start counting a new streak.
    fn end_streak(&mut self) {
        self.streak_overran = false;
        self.streak = 0;
        self.streak_max = 0;
        self.streak_gaps = 0;
        self.streak_wakes = 0;
    }

    /// Count the burst that just ended into the streak.
    fn extend_streak(&mut self) {
        self.streak = self.streak.saturating_add(1);
        self.streak_max = self.streak_max.max(self.burst);
    }

    /// The reservation the streak suggests, if there is one: the mean time
    /// between its wakes, and its longest burst with headroom.
    fn derive(&self, c: &Classify) -> Option<Reservation> {
        if self.streak_wakes == 0 {
            return None;
        }
        let period = (self.streak_gaps / u64::from(self.streak_wakes)).max(c.min_period);
        let budget = mul_div(self.streak_max, u64::from(c.headroom_pct), 100).clamp(1, period);
        Some(Reservation::implicit(budget, period))
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
        self.end_streak();
    }

    /// An adaptive RR context with quantum `quantum` blocked. Returns the
    /// derived reservation when a promotion is due.
    pub(crate) fn rr_blocked(&mut self, quantum: Time, c: &Classify) -> Option<Reservation> {
        let short = mul_div(self.burst, 100, u64::from(c.short_pct)) < quantum;
        if !short {
            self.quantum_expired();
            return None;
        }
        self.extend_streak();
        if u32::from(self.streak) < self.promote_threshold(c) {
            return None;
        }
        let r = self.derive(c);
        self.end_streak();
        // Blocks often, but uses too much CPU to be latency work?
        r.filter(|r| r.bandwidth() <= c.max_bandwidth)
    }

    /// An adaptive EDF context holding `current` finished a job (blocked).
    /// Returns a new reservation when a retune is due (see the module
    /// documentation); the caller still checks admission for growth.
    pub(crate) fn edf_completed(
        &mut self,
        current: Reservation,
        c: &Classify,
    ) -> Option<Reservation> {
        self.overruns = 0;
        self.extend_streak();
        if self.streak_overran {
            // Grow to cover the longest job seen, keeping the period.
            let budget =
                mul_div(self.streak_max, u64::from(c.headroom_pct), 100).clamp(1, current.period);
            self.end_streak();
            let r = Reservation::implicit(budget, current.period);
            return (budget > current.budget).then_some(r);
        }
        if u32::from(self.streak) < u32::from(c.retune_after) {
            return None;
        }
        let r = self.derive(c);
        self.end_streak();
        let bw = u64::from(current.bandwidth());
        r.filter(|r| u64::from(r.bandwidth()) * 4 <= bw * 3)
    }

    /// An adaptive EDF context exhausted its full budget. True when a
    /// demotion is due.
    pub(crate) fn edf_overran(&mut self, c: &Classify) -> bool {
        self.streak_overran = true;
        self.overruns = self.overruns.saturating_add(1);
        u32::from(self.overruns) >= u32::from(c.demote_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::PPM;

    const MS: Time = 1_000_000;

    #[test]
    fn gaps_between_wakes() {
        let mut o = Observed::default();
        o.woke(0);
        assert_eq!((o.streak_gaps, o.streak_wakes), (0, 0));
        o.woke(8 * MS);
        o.woke(24 * MS);
        assert_eq!((o.streak_gaps, o.streak_wakes), (24 * MS, 2));
        assert_eq!(o.derive(&Classify::DEFAULT), Some(Reservation::implicit(1, 12 * MS)));
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
        assert_eq!(o.streak, 0);
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
    fn retune_shrinks_by_a_quarter_or_more() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        let mut t = 0;
        let mut jobs = |o: &mut Observed, r: Reservation| {
            let mut out = None;
            for _ in 0..c.retune_after {
                o.woke(t);
                o.ran(MS);
                out = o.edf_completed(r, &c);
                t += 10 * MS;
            }
            out
        };
        // 1 ms every 10 ms: derived 1.5 ms / 10 ms = 150 000 ppm.
        let derived = Reservation::implicit(3 * MS / 2, 10 * MS);
        assert_eq!(jobs(&mut o, Reservation::implicit(4 * MS, 10 * MS)), Some(derived));
        assert_eq!(jobs(&mut o, Reservation::implicit(19 * MS / 10, 10 * MS)), None);
        assert_eq!(jobs(&mut o, derived), None);
    }

    #[test]
    fn retune_grows_after_an_overrun() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        let r = Reservation::implicit(MS, 10 * MS);
        o.woke(0);
        o.ran(MS);
        assert!(!o.edf_overran(&c));
        // Replenished, it finishes after 0.2 ms more and blocks.
        o.ran(MS / 5);
        assert_eq!(o.edf_completed(r, &c), Some(Reservation::implicit(1_800_000, 10 * MS)));
        assert_eq!(o.overruns, 0);
    }

    #[test]
    fn demotion_after_consecutive_overruns() {
        let c = Classify::DEFAULT;
        let mut o = Observed::default();
        assert!(!o.edf_overran(&c));
        assert!(!o.edf_overran(&c));
        o.edf_completed(Reservation::implicit(PPM.into(), 10 * PPM as Time), &c);
        assert!(!o.edf_overran(&c));
        assert!(!o.edf_overran(&c));
        assert!(o.edf_overran(&c));
    }
}
