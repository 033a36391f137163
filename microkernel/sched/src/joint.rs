//! The joint RR+EDF scheduler.
//!
//! **Classes.** An EDF context has a [`Reservation`] (budget, period,
//! relative deadline) and runs as a *hard constant bandwidth server*: it
//! has a current job with an absolute deadline and a remaining budget;
//! when the budget runs out it is throttled until `release + period`, then
//! a new job starts (replenishment). An RR context has a quantum.
//!
//! **Admission.** The sum of the EDF contexts' bandwidths (budget divided
//! by relative deadline, see [`Reservation::bandwidth`]) stays at or under
//! [`Config::effective_bound`]; `add`/`set_params` that would exceed it
//! fail with [`AdmitError::Overload`].
//!
//! **Dispatch.** Among ready EDF contexts with budget left, the earliest
//! absolute deadline (ties: lower id) runs. Best-effort work is served by
//! the *RR reserve*, a constant bandwidth server of its own
//! ([`Config::rr_reserve`]) that competes in EDF while any RR context is
//! ready: when its deadline is earlier than the best EDF context's, the RR
//! queue's head runs on the reserve's budget. Because admission keeps the
//! EDF bandwidth plus the reserve's at or under one CPU, EDF guarantees
//! the reserve its budget every period: RR never starves. When no EDF
//! context is ready, the RR head runs without using the reserve (RR gets
//! everything EDF leaves).
//!
//! **Wake-up rule** (as Linux `SCHED_DEADLINE`): a waking EDF context
//! keeps its current job if its remaining budget fits in the time left to
//! its deadline at its bandwidth; otherwise an implicit-deadline context
//! starts a new job now (classic CBS), and a constrained-deadline context
//! keeps its deadline with the budget scaled down (revised CBS). A context
//! that wakes after its deadline but before its next period waits for the
//! period (throttled). These rules keep a context that blocks and wakes
//! from taking more than its bandwidth.

use crate::classify::Observed;
use crate::list::{Ring, Sorted};
use crate::params::{Class, Config, ConfigError, Params, Reservation, mul_div};
use crate::{AdmitError, Decision, Error, Event, Events, Id, NEVER, Policy, RunKind, Stats, Time};

/// A constant bandwidth server: one reservation's job state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cbs {
    pub res: Reservation,
    /// Budget left in the current job.
    pub remaining: Time,
    /// When the current job was released.
    pub release: Time,
    /// The current job's absolute deadline.
    pub deadline: Time,
    /// Out of budget until [`Cbs::replenish_at`].
    pub throttled: bool,
    /// The budget was scaled down by the revised wake-up rule (an
    /// exhaustion is then not the context's overrun).
    pub scaled: bool,
    /// Whether there is a current job at all.
    pub active: bool,
}

impl Cbs {
    pub(crate) const fn new(res: Reservation) -> Self {
        Self {
            res,
            remaining: 0,
            release: 0,
            deadline: 0,
            throttled: false,
            scaled: false,
            active: false,
        }
    }

    /// When the next job may start.
    pub(crate) const fn replenish_at(&self) -> Time {
        self.release.saturating_add(self.res.period)
    }

    /// Release a new job at `now` with the full budget.
    pub(crate) fn start_job(&mut self, now: Time) {
        self.release = now;
        self.deadline = now.saturating_add(self.res.deadline);
        self.remaining = self.res.budget;
        self.throttled = false;
        self.scaled = false;
        self.active = true;
    }

    /// A throttled server's next job, at its replenishment: released at
    /// [`Cbs::replenish_at`] rather than at `now`, so that a context that
    /// keeps using its budget (or yields every job) stays on its period's
    /// grid however late the scheduler is called (timer latency would
    /// otherwise push every later job back). More than a period late, the
    /// job starts at `now`.
    pub(crate) fn replenish(&mut self, now: Time) {
        let at = self.replenish_at();
        if now >= at && now - at < self.res.period {
            self.start_job(at);
        } else {
            self.start_job(now);
        }
    }

    /// The CBS wake-up rule (see the module documentation).
    pub(crate) fn wake(&mut self, now: Time) {
        if !self.active || now >= self.replenish_at() {
            self.start_job(now);
            return;
        }
        if self.throttled {
            return;
        }
        if now >= self.deadline || self.remaining == 0 {
            self.throttled = true;
            return;
        }
        let left = self.deadline - now;
        let r = self.res;
        // remaining / left > budget / deadline: the rest would overrun the
        // bandwidth.
        if u128::from(self.remaining) * u128::from(r.deadline)
            > u128::from(left) * u128::from(r.budget)
        {
            if r.deadline == r.period {
                self.start_job(now);
            } else {
                self.remaining = mul_div(left, r.budget, r.deadline);
                self.scaled = true;
                if self.remaining == 0 {
                    self.throttled = true;
                }
            }
        }
    }

    /// Charge `dt`; true if the budget is now exhausted.
    pub(crate) fn charge(&mut self, dt: Time) -> bool {
        self.remaining = self.remaining.saturating_sub(dt);
        self.remaining == 0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Blocked,
    Ready,
}

/// One scheduling context.
#[derive(Clone, Copy, Debug)]
struct Sc {
    state: State,
    /// What init set.
    base: Params,
    /// The class in force (differs from `base` after a reclassification).
    class: Class,
    /// Bandwidth admitted for it (ppm); 0 unless EDF.
    bw: u32,
    /// Job state; meaningful while `class` is EDF.
    cbs: Cbs,
    /// RR quantum in force, and what is left of it.
    quantum: Time,
    quantum_left: Time,
    obs: Observed,
}

impl Sc {
    const FREE: Self = Self {
        state: State::Free,
        base: Params::rr(1),
        class: Class::Rr { quantum: 1 },
        bw: 0,
        cbs: Cbs::new(Reservation::implicit(1, 1)),
        quantum: 1,
        quantum_left: 1,
        obs: Observed::NEW,
    };

    const fn is_edf(&self) -> bool {
        matches!(self.class, Class::Edf(_))
    }
}

/// The joint RR+EDF scheduler for up to `N` scheduling contexts (ids
/// `0..N`, `N <= 65536`). See the module documentation for the policy.
#[derive(Clone, Debug)]
pub struct Scheduler<const N: usize> {
    config: Config,
    bound: u32,
    /// Total admitted EDF bandwidth (ppm).
    edf_bw: u32,
    scs: [Sc; N],
    /// Ready EDF contexts with budget, by absolute deadline.
    edf_ready: Sorted<N>,
    /// Ready EDF contexts out of budget, by replenishment time.
    throttled: Sorted<N>,
    /// Ready RR contexts.
    rr: Ring<N>,
    /// The RR reserve's server.
    reserve: Option<Cbs>,
    current: Option<u16>,
    /// The current context runs on the RR reserve.
    on_reserve: bool,
    /// Time of the previous call.
    last: Time,
    events: Events,
    stats: Stats,
}

impl<const N: usize> Scheduler<N> {
    /// A scheduler with no contexts. `const`, so it can initialise a
    /// static.
    pub const fn new(config: Config) -> Result<Self, ConfigError> {
        const { assert!(N > 0 && N <= 1 << 16, "capacity must be 1..=65536") };
        if let Err(e) = config.validate() {
            return Err(e);
        }
        let reserve = match config.rr_reserve {
            Some(r) => Some(Cbs::new(r)),
            None => None,
        };
        Ok(Self {
            config,
            bound: config.effective_bound(),
            edf_bw: 0,
            scs: [Sc::FREE; N],
            edf_ready: Sorted::new(),
            throttled: Sorted::new(),
            rr: Ring::new(),
            reserve,
            current: None,
            on_reserve: false,
            last: 0,
            events: Events::new(),
            stats: Stats {
                picks: 0,
                steps: 0,
                throttles: 0,
                promotions: 0,
                refusals: 0,
                retunes: 0,
                demotions: 0,
                events_dropped: 0,
            },
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// Total admitted EDF bandwidth, in ppm.
    pub const fn edf_bandwidth(&self) -> u32 {
        self.edf_bw
    }

    /// EDF bandwidth still available for admission, in ppm.
    pub const fn available(&self) -> u32 {
        self.bound.saturating_sub(self.edf_bw)
    }

    /// The class in force for `id` (after any reclassification).
    pub fn class_of(&self, id: Id) -> Option<Class> {
        self.get(id).ok().map(|sc| sc.class)
    }

    /// Whether `id` is ready (runnable, throttled or not).
    pub fn is_ready(&self, id: Id) -> bool {
        self.get(id).is_ok_and(|sc| sc.state == State::Ready)
    }

    /// Whether `id` is an EDF context waiting for its replenishment.
    pub fn is_throttled(&self, id: Id) -> bool {
        self.get(id).is_ok_and(|sc| sc.is_edf() && sc.cbs.throttled)
    }

    /// The context the last decision chose.
    pub fn current(&self) -> Option<Id> {
        self.current.map(Id)
    }

    fn get(&self, id: Id) -> Result<&Sc, Error> {
        match self.scs.get(id.index()) {
            None => Err(Error::BadId),
            Some(sc) if sc.state == State::Free => Err(Error::NotFound),
            Some(sc) => Ok(sc),
        }
    }

    /// The context at a queue index (always in range: queues hold ids
    /// below `N`).
    fn at(&mut self, i: u16) -> Option<&mut Sc> {
        self.scs.get_mut(usize::from(i))
    }

    fn emit(&mut self, e: Event) {
        if !self.events.push(e) {
            self.stats.events_dropped += 1;
        }
    }

    /// Check `bw` against the bound, not counting `own` (the bandwidth the
    /// context already holds).
    fn admit(&self, bw: u32, own: u32) -> Result<(), AdmitError> {
        let available = self.bound.saturating_sub(self.edf_bw.saturating_sub(own));
        if bw > available { Err(AdmitError::Overload { requested: bw, available }) } else { Ok(()) }
    }

    /// Charge the running context for the time since the last call.
    fn account(&mut self, now: Time) {
        let now = now.max(self.last);
        let dt = now - self.last;
        self.last = now;
        let Some(cur) = self.current else { return };
        if dt == 0 {
            return;
        }
        let on_reserve = self.on_reserve;
        let Some(sc) = self.at(cur) else { return };
        if sc.state != State::Ready {
            return;
        }
        sc.obs.ran(dt);
        if sc.is_edf() {
            if !sc.cbs.throttled && sc.cbs.charge(dt) {
                self.exhausted(cur, now);
            }
            return;
        }
        sc.quantum_left = sc.quantum_left.saturating_sub(dt);
        let expired = sc.quantum_left == 0;
        if expired {
            sc.quantum_left = sc.quantum;
            sc.obs.quantum_expired();
        }
        if on_reserve
            && let Some(res) = &mut self.reserve
            && !res.throttled
            && res.charge(dt)
        {
            res.throttled = true;
        }
        if expired {
            self.rr.rotate_to_back(cur, &mut self.stats.steps);
        }
    }

    /// EDF context `i` ran out of budget: throttle it until its next period.
    fn exhausted(&mut self, i: u16, now: Time) {
        let steps = &mut self.stats.steps;
        let Some(sc) = self.scs.get_mut(usize::from(i)) else { return };
        sc.cbs.remaining = 0;
        sc.cbs.throttled = true;
        let until = sc.cbs.replenish_at();
        let demote =
            sc.base.adaptive && !sc.cbs.scaled && sc.obs.edf_overran(&self.config.classify);
        self.edf_ready.remove(i, steps);
        if sc.state == State::Ready {
            self.throttled.insert(until, i, steps);
        }
        self.stats.throttles += 1;
        self.emit(Event::Throttled { id: Id(i), at: now, until });
        if demote {
            self.demote(i, now);
        }
    }

    /// Take `i` off whichever queue it is on.
    fn detach(&mut self, i: u16) {
        let steps = &mut self.stats.steps;
        let Some(sc) = self.scs.get(usize::from(i)) else { return };
        if sc.is_edf() {
            if sc.cbs.throttled {
                self.throttled.remove(i, steps);
            } else {
                self.edf_ready.remove(i, steps);
            }
        } else {
            self.rr.remove(i, steps);
        }
    }

    /// Put ready context `i` on its class's queue.
    fn attach(&mut self, i: u16, now: Time) {
        let steps = &mut self.stats.steps;
        let Some(sc) = self.scs.get_mut(usize::from(i)) else { return };
        if sc.is_edf() {
            sc.cbs.wake(now);
            if sc.cbs.throttled {
                self.throttled.insert(sc.cbs.replenish_at(), i, steps);
            } else {
                self.edf_ready.insert(sc.cbs.deadline, i, steps);
            }
        } else {
            sc.quantum_left = sc.quantum;
            let was_empty = self.rr.is_empty();
            self.rr.push_back(i, steps);
            if was_empty && let Some(res) = &mut self.reserve {
                res.wake(now);
            }
        }
    }

    /// The quantum for `params` when it runs as RR.
    fn quantum_for(&self, params: &Params) -> Time {
        match params.class {
            Class::Rr { quantum } => quantum,
            Class::Edf(_) => self.config.default_quantum,
        }
    }

    /// Adaptive EDF context `i` kept overrunning: make it RR.
    fn demote(&mut self, i: u16, now: Time) {
        self.detach(i);
        let classify = self.config.classify;
        let Some(sc) = self.scs.get(usize::from(i)) else { return };
        let quantum = self.quantum_for(&sc.base);
        let bw = sc.bw;
        let ready = sc.state == State::Ready;
        self.edf_bw = self.edf_bw.saturating_sub(bw);
        if let Some(sc) = self.at(i) {
            sc.bw = 0;
            sc.class = Class::Rr { quantum };
            sc.quantum = quantum;
            sc.obs.reset_streaks();
            sc.obs.penalise(&classify);
        }
        if ready {
            self.attach(i, now);
        }
        if self.current == Some(i) {
            self.on_reserve = false;
        }
        self.stats.demotions += 1;
        self.emit(Event::Demoted { id: Id(i), at: now });
    }

    /// Blocked adaptive RR context `i` earned a promotion to `r`.
    fn promote(&mut self, i: u16, r: Reservation, now: Time) {
        let bw = r.bandwidth();
        let classify = self.config.classify;
        match self.admit(bw, 0) {
            Ok(()) => {
                self.edf_bw = self.edf_bw.saturating_add(bw);
                if let Some(sc) = self.at(i) {
                    sc.class = Class::Edf(r);
                    sc.bw = bw;
                    sc.cbs = Cbs::new(r);
                    sc.obs.reset_streaks();
                }
                self.stats.promotions += 1;
                self.emit(Event::Promoted { id: Id(i), at: now, reservation: r });
            }
            Err(error) => {
                if let Some(sc) = self.at(i) {
                    sc.obs.penalise(&classify);
                }
                self.stats.refusals += 1;
                self.emit(Event::PromotionRefused { id: Id(i), at: now, error });
            }
        }
    }

    /// Blocked adaptive EDF context `i` gets the reservation `r` derived
    /// from its recent jobs: always when it shrinks, when admission allows
    /// when it grows.
    fn retune(&mut self, i: u16, r: Reservation, now: Time) {
        let bw = r.bandwidth();
        let Some(&sc) = self.scs.get(usize::from(i)) else { return };
        if sc.state != State::Blocked || (bw > sc.bw && self.admit(bw, sc.bw).is_err()) {
            return;
        }
        self.edf_bw = self.edf_bw.saturating_sub(sc.bw).saturating_add(bw);
        if let Some(sc) = self.at(i) {
            sc.class = Class::Edf(r);
            sc.bw = bw;
            sc.cbs = Cbs::new(r);
        }
        self.stats.retunes += 1;
        self.emit(Event::Retuned { id: Id(i), at: now, reservation: r });
    }

    /// The next time a throttled server gets its budget back (a decision
    /// may change then).
    fn next_replenish(&self) -> Time {
        let mut t = self.throttled.first().map_or(NEVER, |(t, _)| t);
        if !self.rr.is_empty()
            && let Some(res) = &self.reserve
            && res.throttled
        {
            t = t.min(res.replenish_at());
        }
        t
    }

    /// Check the internal invariants (tests).
    #[cfg(test)]
    pub(crate) fn check(&self) {
        let mut bw = 0u32;
        let mut n_edf = 0;
        let mut n_thr = 0;
        let mut n_rr = 0;
        for (i, sc) in self.scs.iter().enumerate() {
            let i = i as u16;
            let in_edf = self.edf_ready.iter().any(|e| e.1 == i);
            let in_thr = self.throttled.iter().any(|e| e.1 == i);
            let in_rr = {
                let mut r = self.rr.clone();
                let mut s = 0;
                r.remove(i, &mut s)
            };
            bw += sc.bw;
            match (sc.state, sc.class) {
                (State::Ready, Class::Edf(_)) => {
                    assert!(!in_rr, "{i}");
                    if sc.cbs.throttled {
                        assert!(in_thr && !in_edf, "{i}");
                        n_thr += 1;
                    } else {
                        assert!(in_edf && !in_thr && sc.cbs.remaining > 0, "{i}");
                        n_edf += 1;
                    }
                }
                (State::Ready, Class::Rr { .. }) => {
                    assert!(in_rr && !in_edf && !in_thr, "{i}");
                    assert!(sc.quantum_left > 0);
                    n_rr += 1;
                }
                _ => assert!(!in_rr && !in_edf && !in_thr, "{i}"),
            }
            if !sc.is_edf() {
                assert_eq!(sc.bw, 0);
            }
        }
        assert_eq!(bw, self.edf_bw);
        assert!(self.edf_bw <= self.bound);
        assert_eq!(self.edf_ready.len(), n_edf);
        assert_eq!(self.throttled.len(), n_thr);
        assert_eq!(self.rr.len(), n_rr);
    }
}

impl<const N: usize> Policy for Scheduler<N> {
    fn name(&self) -> &'static str {
        "joint"
    }

    fn add(&mut self, id: Id, params: Params) -> Result<(), AdmitError> {
        params.validate()?;
        let sc = match self.scs.get(id.index()) {
            None => return Err(AdmitError::BadId),
            Some(sc) if sc.state != State::Free => return Err(AdmitError::InUse),
            Some(sc) => *sc,
        };
        let bw = match params.class {
            Class::Edf(r) => {
                let bw = r.bandwidth();
                self.admit(bw, 0)?;
                bw
            }
            Class::Rr { .. } => 0,
        };
        let quantum = self.quantum_for(&params);
        self.edf_bw = self.edf_bw.saturating_add(bw);
        if let Some(slot) = self.scs.get_mut(id.index()) {
            *slot = Sc {
                state: State::Blocked,
                base: params,
                class: params.class,
                bw,
                cbs: match params.class {
                    Class::Edf(r) => Cbs::new(r),
                    Class::Rr { .. } => sc.cbs,
                },
                quantum,
                quantum_left: quantum,
                obs: Observed::default(),
            };
        }
        Ok(())
    }

    fn set_params(&mut self, id: Id, params: Params, now: Time) -> Result<(), AdmitError> {
        params.validate()?;
        self.account(now);
        let sc = match self.get(id) {
            Err(Error::BadId) => return Err(AdmitError::BadId),
            Err(Error::NotFound) => return Err(AdmitError::NotFound),
            Ok(sc) => *sc,
        };
        let bw = match params.class {
            Class::Edf(r) => {
                let bw = r.bandwidth();
                self.admit(bw, sc.bw)?;
                bw
            }
            Class::Rr { .. } => 0,
        };
        // Checked; from here on nothing fails.
        let i = id.0;
        let ready = sc.state == State::Ready;
        if ready {
            self.detach(i);
        }
        self.edf_bw = self.edf_bw.saturating_sub(sc.bw).saturating_add(bw);
        let quantum = self.quantum_for(&params);
        if let Some(s) = self.at(i) {
            s.base = params;
            s.class = params.class;
            s.bw = bw;
            if let Class::Edf(r) = params.class {
                s.cbs = Cbs::new(r);
            }
            s.quantum = quantum;
            s.quantum_left = quantum;
            s.obs.reset_streaks();
        }
        if ready {
            self.attach(i, now);
        }
        if self.current == Some(i) {
            self.on_reserve = false;
        }
        Ok(())
    }

    fn remove(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        let sc = *self.get(id)?;
        if sc.state == State::Ready {
            self.detach(id.0);
        }
        self.edf_bw = self.edf_bw.saturating_sub(sc.bw);
        if let Some(s) = self.at(id.0) {
            *s = Sc::FREE;
        }
        if self.current == Some(id.0) {
            self.current = None;
        }
        Ok(())
    }

    fn wake(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        if self.get(id)?.state == State::Ready {
            return Ok(());
        }
        if let Some(sc) = self.at(id.0) {
            sc.state = State::Ready;
            sc.obs.woke(now);
        }
        self.attach(id.0, now);
        Ok(())
    }

    fn block(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        let sc = *self.get(id)?;
        if sc.state != State::Ready {
            return Ok(());
        }
        let i = id.0;
        self.detach(i);
        if self.current == Some(i) {
            self.current = None;
        }
        let classify = self.config.classify;
        let mut promotion = None;
        let mut retune = None;
        if let Some(s) = self.at(i) {
            s.state = State::Blocked;
            if s.base.adaptive {
                match s.class {
                    Class::Rr { quantum } => promotion = s.obs.rr_blocked(quantum, &classify),
                    Class::Edf(r) if !s.cbs.throttled => {
                        retune = s.obs.edf_completed(r, &classify);
                    }
                    Class::Edf(_) => {}
                }
            }
        }
        if let Some(r) = promotion {
            self.promote(i, r, now);
        }
        if let Some(r) = retune {
            self.retune(i, r, now);
        }
        Ok(())
    }

    fn yield_(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        let sc = *self.get(id)?;
        if sc.state != State::Ready {
            return Ok(());
        }
        let i = id.0;
        let steps = &mut self.stats.steps;
        if sc.is_edf() {
            if !sc.cbs.throttled {
                self.edf_ready.remove(i, steps);
                if let Some(s) = self.scs.get_mut(usize::from(i)) {
                    s.cbs.remaining = 0;
                    s.cbs.throttled = true;
                    self.throttled.insert(s.cbs.replenish_at(), i, steps);
                }
            }
        } else {
            self.rr.rotate_to_back(i, steps);
            if let Some(s) = self.scs.get_mut(usize::from(i)) {
                s.quantum_left = s.quantum;
            }
        }
        Ok(())
    }

    fn pick(&mut self, now: Time) -> Decision {
        self.stats.picks += 1;
        self.stats.steps += 1;
        self.account(now);
        let now = self.last;

        // Replenish the throttled EDF contexts whose period has come.
        while let Some((_, i)) = self.throttled.pop_due(now, &mut self.stats.steps) {
            if let Some(sc) = self.scs.get_mut(usize::from(i)) {
                sc.cbs.replenish(now);
                self.edf_ready.insert(sc.cbs.deadline, i, &mut self.stats.steps);
            }
        }

        // The RR reserve: replenish it, and give it a fresh job if its
        // deadline passed unused (RR ran on spare time instead).
        let rr_ready = !self.rr.is_empty();
        let mut reserve_deadline = None;
        if rr_ready && let Some(res) = &mut self.reserve {
            if res.throttled && now >= res.replenish_at() {
                res.replenish(now);
            }
            if !res.throttled && now >= res.deadline {
                res.start_job(now);
            }
            if !res.throttled {
                reserve_deadline = Some((res.deadline, res.remaining));
            }
        }

        let (run, kind) = match (self.edf_ready.first(), reserve_deadline) {
            (Some((d, _)), Some((rd, _))) if rd < d => (self.rr.front(), RunKind::RrReserve),
            (Some((_, i)), _) => (Some(i), RunKind::Edf),
            (None, _) if rr_ready => (self.rr.front(), RunKind::Rr),
            (None, _) => (None, RunKind::Idle),
        };

        let mut until = self.next_replenish();
        let left = |t: Time| now.saturating_add(t);
        if let Some(i) = run
            && let Some(sc) = self.scs.get(usize::from(i))
        {
            until = until.min(match kind {
                RunKind::Edf => left(sc.cbs.remaining),
                RunKind::RrReserve => {
                    let res = reserve_deadline.map_or(NEVER, |(_, rem)| rem);
                    left(sc.quantum_left.min(res))
                }
                RunKind::Rr | RunKind::Idle => left(sc.quantum_left),
            });
        }

        self.current = run;
        self.on_reserve = kind == RunKind::RrReserve;
        match run {
            Some(i) => Decision { run: Some(Id(i)), until, kind },
            None => Decision::idle(until),
        }
    }

    fn pop_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}
