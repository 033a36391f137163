//! Plain round robin: one FIFO, a quantum per context, no classes, no
//! admission, no events. The baseline the joint policy is measured against
//! (it is what the kernel's fixed-priority scheduler does among threads of
//! one priority). EDF parameters are accepted and ignored: such a context
//! gets the default quantum.

use crate::list::Ring;
use crate::params::{Class, Params};
use crate::{AdmitError, Decision, Error, Event, Id, Policy, RunKind, Stats, Time};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Blocked,
    Ready,
}

#[derive(Clone, Copy, Debug)]
struct Ctx {
    state: State,
    quantum: Time,
    quantum_left: Time,
}

impl Ctx {
    const FREE: Self = Self { state: State::Free, quantum: 1, quantum_left: 1 };
}

/// Round robin over up to `N` contexts.
#[derive(Clone, Debug)]
pub struct RoundRobin<const N: usize> {
    default_quantum: Time,
    ctxs: [Ctx; N],
    queue: Ring<N>,
    current: Option<u16>,
    last: Time,
    stats: Stats,
}

impl<const N: usize> RoundRobin<N> {
    /// Round robin; EDF contexts get `default_quantum` (at least 1).
    pub const fn new(default_quantum: Time) -> Self {
        const { assert!(N > 0 && N <= 1 << 16, "capacity must be 1..=65536") };
        Self {
            default_quantum: if default_quantum == 0 { 1 } else { default_quantum },
            ctxs: [Ctx::FREE; N],
            queue: Ring::new(),
            current: None,
            last: 0,
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
        }
    }

    fn get(&self, id: Id) -> Result<&Ctx, Error> {
        match self.ctxs.get(id.index()) {
            None => Err(Error::BadId),
            Some(c) if c.state == State::Free => Err(Error::NotFound),
            Some(c) => Ok(c),
        }
    }

    fn quantum_for(&self, params: &Params) -> Time {
        match params.class {
            Class::Rr { quantum } => quantum,
            Class::Edf(_) => self.default_quantum,
        }
    }

    fn account(&mut self, now: Time) {
        let now = now.max(self.last);
        let dt = now - self.last;
        self.last = now;
        let Some(cur) = self.current else { return };
        let Some(c) = self.ctxs.get_mut(usize::from(cur)) else { return };
        if dt == 0 || c.state != State::Ready {
            return;
        }
        c.quantum_left = c.quantum_left.saturating_sub(dt);
        if c.quantum_left == 0 {
            c.quantum_left = c.quantum;
            self.queue.rotate_to_back(cur, &mut self.stats.steps);
        }
    }
}

impl<const N: usize> Policy for RoundRobin<N> {
    fn name(&self) -> &'static str {
        "rr"
    }

    fn add(&mut self, id: Id, params: Params) -> Result<(), AdmitError> {
        params.validate()?;
        let quantum = self.quantum_for(&params);
        match self.ctxs.get_mut(id.index()) {
            None => Err(AdmitError::BadId),
            Some(c) if c.state != State::Free => Err(AdmitError::InUse),
            Some(c) => {
                *c = Ctx { state: State::Blocked, quantum, quantum_left: quantum };
                Ok(())
            }
        }
    }

    fn set_params(&mut self, id: Id, params: Params, now: Time) -> Result<(), AdmitError> {
        params.validate()?;
        self.account(now);
        let quantum = self.quantum_for(&params);
        match self.ctxs.get_mut(id.index()) {
            None => Err(AdmitError::BadId),
            Some(c) if c.state == State::Free => Err(AdmitError::NotFound),
            Some(c) => {
                c.quantum = quantum;
                c.quantum_left = quantum;
                Ok(())
            }
        }
    }

    fn remove(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        self.get(id)?;
        self.queue.remove(id.0, &mut self.stats.steps);
        if let Some(c) = self.ctxs.get_mut(id.index()) {
            *c = Ctx::FREE;
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
        if let Some(c) = self.ctxs.get_mut(id.index()) {
            c.state = State::Ready;
            c.quantum_left = c.quantum;
        }
        self.queue.push_back(id.0, &mut self.stats.steps);
        Ok(())
    }

    fn block(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        if self.get(id)?.state != State::Ready {
            return Ok(());
        }
        self.queue.remove(id.0, &mut self.stats.steps);
        if let Some(c) = self.ctxs.get_mut(id.index()) {
            c.state = State::Blocked;
        }
        if self.current == Some(id.0) {
            self.current = None;
        }
        Ok(())
    }

    fn yield_(&mut self, id: Id, now: Time) -> Result<(), Error> {
        self.account(now);
        if self.get(id)?.state != State::Ready {
            return Ok(());
        }
        self.queue.rotate_to_back(id.0, &mut self.stats.steps);
        if let Some(c) = self.ctxs.get_mut(id.index()) {
            c.quantum_left = c.quantum;
        }
        Ok(())
    }

    fn pick(&mut self, now: Time) -> Decision {
        self.stats.picks += 1;
        self.stats.steps += 1;
        self.account(now);
        let now = self.last;
        self.current = self.queue.front();
        match self.current.and_then(|i| self.ctxs.get(usize::from(i))) {
            Some(c) => Decision {
                run: self.current.map(Id),
                until: now.saturating_add(c.quantum_left),
                kind: RunKind::Rr,
            },
            None => Decision::idle(crate::NEVER),
        }
    }

    fn pop_event(&mut self) -> Option<Event> {
        None
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reservation;

    const MS: Time = 1_000_000;

    #[test]
    fn rotates_on_quantum_and_accepts_everything() {
        let mut p = RoundRobin::<4>::new(10 * MS);
        assert_eq!(p.add(Id(0), Params::rr(5 * MS)), Ok(()));
        // EDF parameters are not admitted, just given the default quantum.
        assert_eq!(p.add(Id(1), Params::edf(Reservation::implicit(9, 10))), Ok(()));
        assert_eq!(p.add(Id(2), Params::edf(Reservation::implicit(9, 10))), Ok(()));
        assert_eq!(p.add(Id(2), Params::rr(1)), Err(AdmitError::InUse));
        assert_eq!(p.add(Id(4), Params::rr(1)), Err(AdmitError::BadId));
        assert_eq!(p.pick(0), Decision::idle(crate::NEVER));
        for i in 0..3 {
            p.wake(Id(i), 0).expect("wake");
        }
        let d = p.pick(0);
        assert_eq!((d.run, d.until), (Some(Id(0)), 5 * MS));
        let d = p.pick(5 * MS);
        assert_eq!((d.run, d.until), (Some(Id(1)), 15 * MS));
        // A wake does not preempt: the newcomer queues at the back.
        let d = p.pick(7 * MS);
        assert_eq!((d.run, d.until), (Some(Id(1)), 15 * MS));
        let d = p.pick(15 * MS);
        assert_eq!((d.run, d.until), (Some(Id(2)), 25 * MS));
        p.block(Id(2), 20 * MS).expect("block");
        let d = p.pick(20 * MS);
        assert_eq!((d.run, d.until), (Some(Id(0)), 25 * MS));
        p.yield_(Id(0), 21 * MS).expect("yield");
        assert_eq!(p.pick(21 * MS).run, Some(Id(1)));
        assert_eq!(p.pop_event(), None);
        assert_eq!(p.remove(Id(3), 0), Err(Error::NotFound));
        assert_eq!(p.remove(Id(1), 21 * MS), Ok(()));
        assert_eq!(p.pick(21 * MS).run, Some(Id(0)));
    }
}
