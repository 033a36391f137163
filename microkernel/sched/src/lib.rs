//! rint scheduler: the joint RR+EDF policy with scheduling contexts,
//! admission control and dynamic classification, free of hardware so that
//! the kernel and the host simulator (`tools/sched-sim`) run the same code.
//!
//! Design principles:
//! 1. **Tickless and explicit about time.** Every entry point takes `now`
//!    (nanoseconds of a monotonic clock) and the scheduler charges the
//!    running context for the time since the previous call. Every decision
//!    says "run X until T at the latest": the kernel arms a one-shot timer
//!    for T and calls [`Policy::pick`] again when it fires.
//! 2. **Guarantees by admission, never by hope.** A latency (EDF) context
//!    gets a reservation only if the total EDF bandwidth stays under a
//!    bound that leaves the round-robin reserve intact; a refusal is an
//!    error value ([`AdmitError`]), never a silent downgrade.
//! 3. **Budgets are enforced.** A context that uses up its budget is
//!    throttled until its next period (hard constant bandwidth server, the
//!    rule Linux's `SCHED_DEADLINE` uses), so an overrunning context cannot
//!    take time that was promised to another.
//! 4. **No starvation.** Best-effort (RR) work has a reserved share that
//!    competes in EDF like any reservation, and gets everything EDF leaves.
//! 5. **Kernel-friendly.** `no_std`, no allocation (capacity `N` is a const
//!    generic), no `unsafe`, no floating point, no panics on any input,
//!    deterministic: the same calls give the same decisions.
//!
//! Modules:
//! - [`params`]: [`Params`], [`Class`], [`Reservation`], [`Config`] and the
//!   bandwidth arithmetic (parts per million).
//! - [`joint`]: [`Scheduler`], the joint RR+EDF policy.
//! - [`rr`]: [`RoundRobin`], plain round robin, the baseline.
//! - `classify`: the dynamic classification rules (promotion, retuning,
//!   demotion, hysteresis), used by [`Scheduler`].
//! - `list`: the fixed-capacity run queues.
//!
//! How the kernel uses it: one [`Scheduler`] per CPU, indexed by [`Id`]
//! (a scheduling-context number below `N`). The kernel calls
//! [`Policy::wake`], [`Policy::block`] and [`Policy::yield_`] as threads
//! change state, then [`Policy::pick`] at every scheduling point (after a
//! syscall that changed states, and when the one-shot timer fires), runs the
//! returned context until [`Decision::until`], and drains
//! [`Policy::pop_event`] into its trace. `docs/scheduler.md` explains the
//! policy and why it was chosen.

#![no_std]
#![forbid(unsafe_code)]
// Nothing a caller passes may panic the kernel.
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::panic, clippy::unwrap_used))]

#[cfg(test)]
extern crate std;

mod classify;
pub mod joint;
mod list;
pub mod params;
pub mod rr;

pub use joint::Scheduler;
pub use params::{Class, Classify, Config, ConfigError, PPM, Params, Reservation};
pub use rr::RoundRobin;

/// A point in time or a duration, in nanoseconds of the kernel's monotonic
/// clock (any unit works, as long as every number uses the same one).
pub type Time = u64;

/// "No deadline": a decision that needs no timer.
pub const NEVER: Time = Time::MAX;

/// A scheduling context: an index below the scheduler's capacity `N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub u16);

impl Id {
    /// The table index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Why an `add` or `set_params` was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdmitError {
    /// The id is not below the scheduler's capacity.
    BadId,
    /// `add` on an id that is in use.
    InUse,
    /// `set_params` on an id that is not in use.
    NotFound,
    /// Zero budget, period or quantum, or not `budget <= deadline <= period`.
    InvalidParams,
    /// Admitting this reservation would take the total EDF bandwidth over
    /// the bound: `requested` parts per million were asked for, `available`
    /// were left.
    Overload { requested: u32, available: u32 },
}

/// Why a state change (`wake`, `block`, `yield_`, `remove`) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The id is not below the scheduler's capacity.
    BadId,
    /// No context with this id.
    NotFound,
}

/// Under which rule the chosen context runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// Nothing to run: idle until `until` (or until a wake).
    Idle,
    /// An EDF context on its own budget.
    Edf,
    /// A round-robin context on the RR reserve (it won against EDF work).
    RrReserve,
    /// A round-robin context in time EDF does not want.
    Rr,
}

/// What to run now, and until when at the latest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The context to run, or `None` to idle.
    pub run: Option<Id>,
    /// Call [`Policy::pick`] again at this time at the latest (arm the
    /// one-shot timer); [`NEVER`] if nothing but a wake can change the
    /// decision.
    pub until: Time,
    /// The rule `run` runs under.
    pub kind: RunKind,
}

impl Decision {
    /// Idle until `until`.
    pub const fn idle(until: Time) -> Self {
        Self { run: None, until, kind: RunKind::Idle }
    }
}

/// Something the kernel should record in its trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A best-effort context was promoted to EDF with a derived reservation.
    Promoted { id: Id, at: Time, reservation: Reservation },
    /// A promotion was due, but admission refused it; the context stays RR.
    PromotionRefused { id: Id, at: Time, error: AdmitError },
    /// An adaptive EDF context got a new reservation derived from its own
    /// recent jobs (smaller, or larger after an overrun).
    Retuned { id: Id, at: Time, reservation: Reservation },
    /// An EDF context kept exhausting its budget and is round robin again.
    Demoted { id: Id, at: Time },
    /// An EDF context exhausted its budget and waits for its replenishment.
    Throttled { id: Id, at: Time, until: Time },
}

/// Counters, for the trace and for measuring the scheduler itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls of [`Policy::pick`].
    pub picks: u64,
    /// Elementary steps over all calls: run-queue entries visited, compared
    /// or moved, plus one per call. A deterministic measure of work that
    /// grows with the queue lengths.
    pub steps: u64,
    /// Budget exhaustions (EDF contexts throttled).
    pub throttles: u64,
    /// Promotions to EDF.
    pub promotions: u64,
    /// Promotions refused by admission.
    pub refusals: u64,
    /// Reservations changed by retuning.
    pub retunes: u64,
    /// Demotions to RR.
    pub demotions: u64,
    /// Events lost because the queue was full.
    pub events_dropped: u64,
}

/// A scheduling policy: the interface the kernel (and the simulator) drive.
/// Implemented by [`Scheduler`] (joint RR+EDF) and [`RoundRobin`].
///
/// Every method that takes `now` first charges the running context for the
/// time since the previous call; `now` must not go backwards (a smaller
/// value counts as no time passing).
pub trait Policy {
    /// A short name for reports.
    fn name(&self) -> &'static str;
    /// Create context `id`, blocked. EDF parameters go through admission.
    fn add(&mut self, id: Id, params: Params) -> Result<(), AdmitError>;
    /// Change the parameters of context `id` (admission again; on error
    /// nothing changed). A ready context starts a fresh job at `now`.
    fn set_params(&mut self, id: Id, params: Params, now: Time) -> Result<(), AdmitError>;
    /// Delete context `id`, releasing its bandwidth.
    fn remove(&mut self, id: Id, now: Time) -> Result<(), Error>;
    /// Context `id` became runnable (no-op if it is).
    fn wake(&mut self, id: Id, now: Time) -> Result<(), Error>;
    /// Context `id` stopped being runnable (no-op if it is blocked).
    fn block(&mut self, id: Id, now: Time) -> Result<(), Error>;
    /// Context `id` gives up the CPU: RR goes to the back of the queue with
    /// a fresh quantum; EDF ends its current job early and waits for its
    /// next period.
    fn yield_(&mut self, id: Id, now: Time) -> Result<(), Error>;
    /// Choose what runs from `now`, and until when at the latest.
    fn pick(&mut self, now: Time) -> Decision;
    /// Take the oldest pending event.
    fn pop_event(&mut self) -> Option<Event>;
    /// Counters.
    fn stats(&self) -> Stats;
}

/// A fixed queue of events; when full, new events are counted and dropped.
#[derive(Clone, Debug)]
struct Events {
    buf: [Option<Event>; EVENTS],
    head: usize,
    len: usize,
}

/// Capacity of the event queue. The kernel drains it after every call, and
/// one call produces at most a few events.
const EVENTS: usize = 16;

impl Events {
    const fn new() -> Self {
        Self { buf: [None; EVENTS], head: 0, len: 0 }
    }

    /// Queue `e`; false if it was dropped.
    fn push(&mut self, e: Event) -> bool {
        if self.len >= EVENTS {
            return false;
        }
        if let Some(slot) = self.buf.get_mut((self.head + self.len) % EVENTS) {
            *slot = Some(e);
            self.len += 1;
            true
        } else {
            false
        }
    }

    fn pop(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let e = self.buf.get_mut(self.head).and_then(Option::take);
        self.head = (self.head + 1) % EVENTS;
        self.len -= 1;
        e
    }
}

#[cfg(test)]
mod tests;
