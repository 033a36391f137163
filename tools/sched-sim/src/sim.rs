//! The simulated machine: one CPU, the tasks of a workload, and a
//! scheduling policy from the `sched` crate driven exactly as the kernel
//! drives it (wake, block, pick; run until the decision's deadline or until
//! something happens).
//!
//! Costs the model charges (simulated CPU time in which no task runs):
//! - every `pick` costs `decision_cost + steps * step_cost`, where `steps`
//!   is the number of run-queue steps the call took (`sched::Stats::steps`);
//! - every switch to a different task than the one that ran last costs
//!   `switch_cost` (address-space and register switch, cache and TLB
//!   refill, all in one number).
//!
//! The scheduler's clock sees this time pass, so it is charged to the task
//! that runs next, as a kernel that charges the interval between two
//! decisions would.

use crate::metrics::{Epoch, split};
use crate::workload::{Arrivals, Job, TaskSpec};
use sched::{Decision, Event, Id, Policy, Time};
use std::collections::VecDeque;
use std::time::Instant;

/// The machine's parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub epochs: usize,
    pub epoch_len: Time,
    pub switch_cost: Time,
    pub decision_cost: Time,
    pub step_cost: Time,
    /// Measure the host time of the scheduler calls by replaying them
    /// (off in tests: not deterministic).
    pub measure_host: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            epoch_len: 1_000_000_000,
            switch_cost: 3_000,
            decision_cost: 500,
            step_cost: 10,
            measure_host: true,
        }
    }
}

/// A job in a task's queue.
#[derive(Clone, Copy, Debug)]
struct Pending {
    job: Job,
    left: Time,
}

struct TaskState {
    latency: bool,
    arrivals: Arrivals,
    /// The next job not yet released.
    next: Option<Job>,
    queue: VecDeque<Pending>,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Run {
    pub policy: &'static str,
    pub epochs: Vec<Epoch>,
    /// Reclassification events (promotions, refusals, retunes, demotions),
    /// in order.
    pub reclassified: Vec<Event>,
}

impl Run {
    /// Totals over epochs `from..`.
    pub fn total(&self, from: usize) -> Epoch {
        let mut t = Epoch::default();
        for e in self.epochs.iter().skip(from) {
            t.merge(e);
        }
        t
    }
}

struct Machine<'a, P: Policy> {
    cfg: &'a SimConfig,
    policy: P,
    tasks: Vec<TaskState>,
    epochs: Vec<Epoch>,
    now: Time,
    end: Time,
    last_ran: Option<usize>,
    steps_seen: u64,
    /// Every scheduler call, for the host-time replay.
    calls: Vec<Call>,
    reclassified: Vec<Event>,
}

/// A scheduler call the simulation made.
#[derive(Clone, Copy, Debug)]
enum Call {
    Wake(u16, Time),
    Block(u16, Time),
    Pick(Time),
}

/// Replay `calls` on copies of `initial` (the policy before the run) and
/// return the host time spent per epoch: the fastest of a few repetitions,
/// timed at epoch boundaries only, so the clock's own cost does not count.
fn replay<P: Policy + Clone>(
    initial: &P,
    calls: &[Call],
    epoch_len: Time,
    epochs: usize,
) -> Vec<u64> {
    const REPEAT: usize = 5;
    let mut best = vec![u64::MAX; epochs];
    let epoch_of = |c: &Call| {
        let t = match *c {
            Call::Wake(_, t) | Call::Block(_, t) | Call::Pick(t) => t,
        };
        ((t / epoch_len) as usize).min(epochs.saturating_sub(1))
    };
    for _ in 0..REPEAT {
        let mut p = initial.clone();
        let mut start = 0;
        while start < calls.len() {
            let e = epoch_of(&calls[start]);
            let end = start + calls[start..].iter().take_while(|c| epoch_of(c) == e).count();
            let t0 = Instant::now();
            for c in &calls[start..end] {
                match *c {
                    Call::Wake(i, t) => drop(p.wake(Id(i), t)),
                    Call::Block(i, t) => drop(p.block(Id(i), t)),
                    Call::Pick(t) => drop(std::hint::black_box(p.pick(t))),
                }
                while p.pop_event().is_some() {}
            }
            let ns = t0.elapsed().as_nanos() as u64;
            best[e] = best[e].min(ns);
            start = end;
        }
    }
    best.into_iter().map(|b| if b == u64::MAX { 0 } else { b }).collect()
}

impl<P: Policy> Machine<'_, P> {
    fn epoch(&mut self, t: Time) -> &mut Epoch {
        let i = ((t / self.cfg.epoch_len) as usize).min(self.epochs.len() - 1);
        &mut self.epochs[i]
    }

    /// Let `d` of time pass with the CPU doing `what`.
    fn spend(&mut self, d: Time, what: fn(&mut Epoch) -> &mut Time) {
        let (from, to) = (self.now, (self.now + d).min(self.end));
        let len = self.cfg.epoch_len;
        let epochs = &mut self.epochs;
        split(from, to, len, |e, piece| {
            if let Some(ep) = epochs.get_mut(e) {
                *what(ep) += piece;
            }
        });
        self.now = to;
    }

    fn record(&mut self, c: Call) {
        if self.cfg.measure_host {
            self.calls.push(c);
        }
    }

    fn next_arrival(&self) -> Time {
        self.tasks.iter().filter_map(|t| t.next.map(|j| j.release)).min().unwrap_or(Time::MAX)
    }

    /// Release every job due by now; wake tasks that were idle. True if a
    /// task woke (the scheduler must decide again).
    fn release_due(&mut self) -> bool {
        let mut woke = false;
        for i in 0..self.tasks.len() {
            while let Some(job) = self.tasks[i].next.filter(|j| j.release <= self.now) {
                let t = &mut self.tasks[i];
                t.next = t.arrivals.next();
                let was_idle = t.queue.is_empty();
                t.queue.push_back(Pending { job, left: job.work });
                if was_idle {
                    self.policy.wake(Id(i as u16), self.now).expect("wake");
                    self.record(Call::Wake(i as u16, self.now));
                    woke = true;
                }
            }
        }
        woke
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.policy.pop_event() {
            let now = self.now;
            let ep = self.epoch(now);
            match e {
                Event::Promoted { .. } => ep.promotions += 1,
                Event::Demoted { .. } => ep.demotions += 1,
                Event::Retuned { .. } => ep.retunes += 1,
                Event::Throttled { .. } => ep.throttles += 1,
                Event::PromotionRefused { .. } => {}
            }
            if !matches!(e, Event::Throttled { .. }) {
                self.reclassified.push(e);
            }
        }
    }

    /// Run task `i` from now until `until` at the latest; returns when the
    /// task blocks (true), or `until` or the next arrival comes (false).
    fn run_task(&mut self, i: usize, until: Time) -> bool {
        loop {
            let stop = until.min(self.next_arrival()).min(self.end);
            let Some(front) = self.tasks[i].queue.front().copied() else { return true };
            let seg_end = stop.min(self.now + front.left);
            if seg_end <= self.now {
                return false;
            }
            let ran = seg_end - self.now;
            let latency = self.tasks[i].latency;
            self.spend(ran, |e| &mut e.busy);
            if !latency {
                // CPU-bound work is useful as it is done.
                let (from, len) = (seg_end - ran, self.cfg.epoch_len);
                let epochs = &mut self.epochs;
                split(from, seg_end, len, |e, piece| {
                    if let Some(ep) = epochs.get_mut(e) {
                        ep.useful += piece;
                        ep.cpu_work += piece;
                    }
                });
            }
            let q = &mut self.tasks[i].queue;
            let Some(p) = q.front_mut() else { return true };
            p.left -= ran;
            if p.left > 0 {
                return false;
            }
            let job = p.job;
            q.pop_front();
            let now = self.now;
            let ep = self.epoch(now);
            if latency {
                ep.responses.push(now - job.release);
                if now > job.deadline {
                    ep.late += 1;
                    ep.late_work += job.work;
                } else {
                    ep.useful += job.work;
                }
            } else {
                ep.cpu_jobs += 1;
            }
            if self.tasks[i].queue.is_empty() {
                self.policy.block(Id(i as u16), now).expect("block");
                self.record(Call::Block(i as u16, now));
                return true;
            }
        }
    }

    /// Call `pick` and pay for it.
    fn decide(&mut self) -> Decision {
        let d = self.policy.pick(self.now);
        self.record(Call::Pick(self.now));
        // Every step since the last decision: this pick's and those of the
        // wakes and blocks before it.
        let total = self.policy.stats().steps;
        let steps = total - self.steps_seen;
        self.steps_seen = total;
        self.drain_events();
        let now = self.now;
        let ep = self.epoch(now);
        ep.picks += 1;
        ep.steps += steps;
        let cost = self.cfg.decision_cost + steps * self.cfg.step_cost;
        self.spend(cost, |e| &mut e.decide);
        d
    }

    /// The main loop. The scheduler decides again when a task wakes or
    /// blocks and when the decision's time is up (the one-shot timer); a
    /// job released to a task that is already runnable changes nothing.
    fn run(mut self) -> (Vec<Epoch>, Vec<Call>, Vec<Event>) {
        let mut decision: Option<Decision> = None;
        while self.now < self.end {
            if self.release_due() {
                decision = None;
            }
            let d = match decision {
                Some(d) if d.until > self.now => d,
                _ => self.decide(),
            };
            decision = Some(d);
            let Some(id) = d.run else {
                let idle_until = d.until.min(self.next_arrival()).min(self.end);
                let t = idle_until.saturating_sub(self.now);
                self.spend(t, |e| &mut e.idle);
                continue;
            };
            let i = id.index();
            if self.last_ran != Some(i) {
                let now = self.now;
                self.epoch(now).switches += 1;
                self.spend(self.cfg.switch_cost, |e| &mut e.switch);
                self.last_ran = Some(i);
            }
            if self.run_task(i, d.until) {
                decision = None;
            }
        }
        // Latency jobs still queued and past their deadline count as misses.
        let end = self.end;
        let mut overdue = 0;
        let mut late_work = 0;
        for t in self.tasks.iter().filter(|t| t.latency) {
            for p in t.queue.iter().filter(|p| p.job.deadline < end) {
                overdue += 1;
                late_work += p.job.work - p.left;
            }
        }
        if let Some(last) = self.epochs.last_mut() {
            last.overdue += overdue;
            last.late_work += late_work;
        }
        (self.epochs, self.calls, self.reclassified)
    }
}

/// Run `tasks` under `policy`, whose contexts `0..tasks.len()` the caller
/// has added (blocked).
pub fn simulate<P: Policy + Clone>(policy: P, tasks: &[TaskSpec], cfg: &SimConfig) -> Run {
    let name = policy.name();
    let end = cfg.epoch_len * cfg.epochs as Time;
    let epochs =
        (0..cfg.epochs).map(|_| Epoch { len: cfg.epoch_len, ..Epoch::default() }).collect();
    let tasks = tasks
        .iter()
        .map(|spec| {
            let mut arrivals = spec.arrivals();
            let next = arrivals.next();
            TaskState { latency: spec.is_latency(), arrivals, next, queue: VecDeque::new() }
        })
        .collect();
    let steps_seen = policy.stats().steps;
    let initial = cfg.measure_host.then(|| policy.clone());
    let m = Machine {
        cfg,
        policy,
        tasks,
        epochs,
        now: 0,
        end,
        last_ran: None,
        steps_seen,
        calls: Vec::new(),
        reclassified: Vec::new(),
    };
    let (mut epochs, calls, reclassified) = m.run();
    if let Some(initial) = initial {
        let host = replay(&initial, &calls, cfg.epoch_len, cfg.epochs);
        for (e, ns) in epochs.iter_mut().zip(host) {
            e.host_ns = ns;
        }
    }
    Run { policy: name, epochs, reclassified }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{Kind, MS};
    use sched::{Params, RoundRobin};

    fn rr_with(n: usize) -> RoundRobin<64> {
        let mut p = RoundRobin::<64>::new(10 * MS);
        for i in 0..n {
            p.add(Id(i as u16), Params::rr(10 * MS)).expect("add");
        }
        p
    }

    fn cfg(epochs: usize) -> SimConfig {
        SimConfig { epochs, epoch_len: 100 * MS, measure_host: false, ..SimConfig::default() }
    }

    #[test]
    fn time_is_fully_accounted() {
        let tasks = crate::workload::generate(&Default::default());
        let run = simulate(rr_with(tasks.len()), &tasks, &cfg(5));
        for e in &run.epochs {
            assert_eq!(e.busy + e.decide + e.switch + e.idle, e.len, "{e:?}");
            assert!(e.useful <= e.busy);
        }
    }

    #[test]
    fn one_periodic_task_alone() {
        // 1 ms every 10 ms, nothing else: every job on time, response 1 ms
        // plus one decision and one switch at most.
        let spec =
            TaskSpec { kind: Kind::Latency { period: 10 * MS, phase: 0, burst: MS }, seed: 5 };
        let c = cfg(2);
        let run = simulate(rr_with(1), std::slice::from_ref(&spec), &c);
        let t = run.total(0);
        assert_eq!(t.jobs(), 20);
        assert_eq!(t.misses(), 0);
        let worst = *t.responses.iter().max().expect("jobs");
        assert!(worst <= (1.3 * MS as f64) as Time + c.decision_cost + c.switch_cost + 100);
        assert_eq!(t.useful, t.busy);
        // The only switch is the first: the task is alone.
        assert_eq!(t.switches, 1);
    }

    #[test]
    fn deterministic_for_a_seed() {
        let tasks = crate::workload::generate(&Default::default());
        let a = simulate(rr_with(tasks.len()), &tasks, &cfg(3));
        let b = simulate(rr_with(tasks.len()), &tasks, &cfg(3));
        assert_eq!(a.epochs, b.epochs);
    }
}
