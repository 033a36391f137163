//! Scheduling-context parameters, the scheduler's configuration, and the
//! bandwidth arithmetic. Bandwidth is counted in parts per million of one
//! CPU ([`PPM`]), rounded up for what a context asks and compared exactly,
//! so admission never depends on floating point.

use crate::{AdmitError, Time};

/// One CPU, in parts per million.
pub const PPM: u32 = 1_000_000;

/// A CPU reservation: up to `budget` of CPU time in every `period`, each
/// job finished within `deadline` of its release.
/// Valid when `0 < budget <= deadline <= period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub budget: Time,
    pub period: Time,
    /// Relative deadline.
    pub deadline: Time,
}

impl Reservation {
    /// A reservation with an explicit relative deadline.
    pub const fn new(budget: Time, period: Time, deadline: Time) -> Self {
        Self { budget, period, deadline }
    }

    /// A reservation whose deadline is its period (implicit deadline).
    pub const fn implicit(budget: Time, period: Time) -> Self {
        Self { budget, period, deadline: period }
    }

    /// Whether `0 < budget <= deadline <= period`.
    pub const fn is_valid(&self) -> bool {
        self.budget > 0 && self.budget <= self.deadline && self.deadline <= self.period
    }

    /// The bandwidth admission charges: the *density* budget / deadline,
    /// in parts per million, rounded up. For implicit deadlines this is the
    /// utilisation budget / period; for shorter deadlines it is the
    /// sufficient (pessimistic) EDF test for constrained deadlines.
    /// Invalid reservations count as a whole CPU.
    pub const fn bandwidth(&self) -> u32 {
        if !self.is_valid() {
            return PPM;
        }
        let num = self.budget as u128 * PPM as u128;
        let d = self.deadline as u128;
        // budget <= deadline, so the quotient is at most PPM.
        num.div_ceil(d) as u32
    }
}

/// The class of a scheduling context and its class parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Latency / real-time: earliest deadline first within a reservation.
    Edf(Reservation),
    /// Best effort: round robin with this quantum.
    Rr { quantum: Time },
}

/// What init sets on a scheduling context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub class: Class,
    /// Whether dynamic classification may move this context between the
    /// classes (promotion of RR, demotion of EDF). Off for contexts whose
    /// class init fixed on purpose.
    pub adaptive: bool,
}

impl Params {
    /// An EDF context with reservation `r`, not adaptive.
    pub const fn edf(r: Reservation) -> Self {
        Self { class: Class::Edf(r), adaptive: false }
    }

    /// An RR context with quantum `quantum`, not adaptive.
    pub const fn rr(quantum: Time) -> Self {
        Self { class: Class::Rr { quantum }, adaptive: false }
    }

    /// The same parameters with dynamic classification on or off.
    pub const fn adaptive(self, on: bool) -> Self {
        Self { class: self.class, adaptive: on }
    }

    /// Check the class parameters.
    pub const fn validate(&self) -> Result<(), AdmitError> {
        match self.class {
            Class::Edf(r) if !r.is_valid() => Err(AdmitError::InvalidParams),
            Class::Rr { quantum: 0 } => Err(AdmitError::InvalidParams),
            _ => Ok(()),
        }
    }
}

/// Dynamic classification thresholds (see `docs/scheduler.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classify {
    /// Consecutive short bursts (blocked before using `short_pct` percent
    /// of the quantum) before an adaptive RR context is promoted.
    pub promote_after: u8,
    /// Consecutive jobs that exhaust their full budget before an adaptive
    /// EDF context is demoted.
    pub demote_after: u8,
    /// Consecutive jobs within budget after which an adaptive EDF
    /// context's reservation is derived again (and shrunk if that saves a
    /// quarter or more). Longer than `promote_after`: a retuned budget
    /// must cover the longest burst, so it needs more samples.
    pub retune_after: u8,
    /// A burst is short if it used less than this share of the quantum.
    pub short_pct: u8,
    /// Each demotion or refused promotion doubles the streak the next
    /// promotion needs, up to `promote_after << max_backoff`.
    pub max_backoff: u8,
    /// Derived budget: the longest burst of the streak times this, in
    /// percent.
    pub headroom_pct: u16,
    /// A context whose derived bandwidth is above this (ppm) is not
    /// latency work and is not promoted.
    pub max_bandwidth: u32,
    /// Derived periods are at least this long.
    pub min_period: Time,
}

impl Classify {
    pub const DEFAULT: Self = Self {
        promote_after: 4,
        demote_after: 3,
        retune_after: 16,
        short_pct: 50,
        max_backoff: 4,
        headroom_pct: 150,
        max_bandwidth: 250_000,
        min_period: 100_000,
    };
}

/// Scheduler configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Bound on the total EDF bandwidth, in ppm (e.g. 900 000 = 90%).
    /// The bound actually applied is also at most one CPU minus the RR
    /// reserve.
    pub edf_bound: u32,
    /// The round-robin reserve: best-effort work gets at least `budget`
    /// in every `period` while it has work, whatever EDF wants. `None`
    /// lets EDF starve RR (up to `edf_bound`).
    pub rr_reserve: Option<Reservation>,
    /// Quantum for contexts demoted from EDF that had none of their own,
    /// and for EDF contexts under a plain round-robin policy.
    pub default_quantum: Time,
    pub classify: Classify,
}

/// Why a [`Config`] was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// `edf_bound` above one CPU.
    EdfBound,
    /// The reserve is not a valid reservation with implicit deadline.
    Reserve,
    /// `default_quantum` is zero.
    Quantum,
    /// A classification threshold is zero, or headroom below 100%.
    Classify,
}

impl Config {
    /// EDF up to 90% of the CPU, RR reserve 1 ms every 10 ms (10%),
    /// 10 ms default quantum.
    pub const DEFAULT: Self = Self {
        edf_bound: 900_000,
        rr_reserve: Some(Reservation::implicit(1_000_000, 10_000_000)),
        default_quantum: 10_000_000,
        classify: Classify::DEFAULT,
    };

    /// Check the configuration.
    pub const fn validate(&self) -> Result<(), ConfigError> {
        if self.edf_bound > PPM {
            return Err(ConfigError::EdfBound);
        }
        if let Some(r) = self.rr_reserve
            && (!r.is_valid() || r.deadline != r.period)
        {
            return Err(ConfigError::Reserve);
        }
        if self.default_quantum == 0 {
            return Err(ConfigError::Quantum);
        }
        let c = &self.classify;
        if c.promote_after == 0
            || c.demote_after == 0
            || c.retune_after == 0
            || c.short_pct == 0
            || c.headroom_pct < 100
            || c.min_period == 0
        {
            return Err(ConfigError::Classify);
        }
        Ok(())
    }

    /// The EDF bandwidth bound in force: `edf_bound`, and at most one CPU
    /// minus the reserve.
    pub const fn effective_bound(&self) -> u32 {
        let reserve = match self.rr_reserve {
            Some(r) => r.bandwidth(),
            None => 0,
        };
        let rest = PPM - reserve;
        if self.edf_bound < rest { self.edf_bound } else { rest }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// `a * b / c` rounded down, saturating, and 0 for `c == 0`.
pub(crate) const fn mul_div(a: Time, b: Time, c: Time) -> Time {
    if c == 0 {
        return 0;
    }
    let q = a as u128 * b as u128 / c as u128;
    if q > Time::MAX as u128 { Time::MAX } else { q as Time }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_rounds_up_and_uses_density() {
        assert_eq!(Reservation::implicit(1, 3).bandwidth(), 333_334);
        assert_eq!(Reservation::implicit(5, 10).bandwidth(), 500_000);
        // Constrained deadline: density budget / deadline.
        assert_eq!(Reservation::new(1, 10, 2).bandwidth(), 500_000);
        // Huge numbers do not overflow.
        assert_eq!(Reservation::implicit(u64::MAX / 2, u64::MAX).bandwidth(), 500_000);
        // Invalid ones count as a whole CPU.
        assert_eq!(Reservation::new(3, 10, 2).bandwidth(), PPM);
        assert_eq!(Reservation::implicit(0, 10).bandwidth(), PPM);
    }

    #[test]
    fn validation() {
        assert!(Reservation::new(1, 10, 5).is_valid());
        assert!(!Reservation::new(6, 10, 5).is_valid());
        assert!(!Reservation::new(1, 10, 11).is_valid());
        assert_eq!(Params::rr(0).validate(), Err(AdmitError::InvalidParams));
        assert_eq!(Params::rr(1).validate(), Ok(()));
        assert_eq!(Config::DEFAULT.validate(), Ok(()));
        let bad = Config { edf_bound: PPM + 1, ..Config::DEFAULT };
        assert_eq!(bad.validate(), Err(ConfigError::EdfBound));
        let bad = Config { rr_reserve: Some(Reservation::new(1, 10, 5)), ..Config::DEFAULT };
        assert_eq!(bad.validate(), Err(ConfigError::Reserve));
    }

    #[test]
    fn effective_bound_leaves_the_reserve() {
        assert_eq!(Config::DEFAULT.effective_bound(), 900_000);
        let c = Config { edf_bound: PPM, ..Config::DEFAULT };
        assert_eq!(c.effective_bound(), 900_000);
        let c = Config { edf_bound: 500_000, ..Config::DEFAULT };
        assert_eq!(c.effective_bound(), 500_000);
        let c = Config { edf_bound: PPM, rr_reserve: None, ..Config::DEFAULT };
        assert_eq!(c.effective_bound(), PPM);
    }

    #[test]
    fn mul_div_saturates() {
        assert_eq!(mul_div(10, 3, 4), 7);
        assert_eq!(mul_div(u64::MAX, u64::MAX, 1), u64::MAX);
        assert_eq!(mul_div(5, 5, 0), 0);
    }
}
