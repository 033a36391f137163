//! Per-epoch measurements and the statistics over them.

use sched::Time;

/// What one policy did in one epoch. Times are nanoseconds of simulated
/// CPU time, except `host_ns`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Epoch {
    /// Length of the epoch.
    pub len: Time,
    /// CPU time running tasks (any work).
    pub busy: Time,
    /// Work that counts: CPU-bound work, and latency jobs finished by their
    /// deadline (counted when the job finishes).
    pub useful: Time,
    /// Latency work on jobs that finished late (or not by the end).
    pub late_work: Time,
    /// CPU-bound work (part of `useful`).
    pub cpu_work: Time,
    /// Modelled time spent deciding (per pick) and switching.
    pub decide: Time,
    pub switch: Time,
    pub idle: Time,
    /// Response times (release to completion) of latency jobs finished in
    /// this epoch.
    pub responses: Vec<Time>,
    /// Latency jobs finished after their deadline.
    pub late: u64,
    /// Latency jobs unfinished and past their deadline at the end of the run.
    pub overdue: u64,
    pub switches: u64,
    pub picks: u64,
    /// Scheduler steps (see `sched::Stats::steps`).
    pub steps: u64,
    /// Host time of this epoch's scheduler calls (wake, block, pick),
    /// replayed in a tight loop after the run, ns; 0 when not measured.
    pub host_ns: u64,
    pub promotions: u64,
    pub retunes: u64,
    pub demotions: u64,
    pub throttles: u64,
    /// CPU-bound jobs finished.
    pub cpu_jobs: u64,
}

impl Epoch {
    /// Latency jobs accounted: finished, or overdue at the end.
    pub fn jobs(&self) -> u64 {
        self.responses.len() as u64 + self.overdue
    }

    /// Deadline misses: late, or overdue at the end.
    pub fn misses(&self) -> u64 {
        self.late + self.overdue
    }

    pub fn pct(&self, t: Time) -> f64 {
        if self.len == 0 { 0.0 } else { 100.0 * t as f64 / self.len as f64 }
    }

    pub fn busy_pct(&self) -> f64 {
        self.pct(self.busy)
    }

    pub fn useful_pct(&self) -> f64 {
        self.pct(self.useful)
    }

    /// Scheduling overhead: modelled decision and switch time, % of the CPU.
    pub fn overhead_pct(&self) -> f64 {
        self.pct(self.decide + self.switch)
    }

    pub fn miss_pct(&self) -> f64 {
        let jobs = self.jobs();
        if jobs == 0 { 0.0 } else { 100.0 * self.misses() as f64 / jobs as f64 }
    }

    pub fn mean_response(&self) -> Option<f64> {
        mean(&self.responses)
    }

    pub fn p99_response(&self) -> Option<Time> {
        percentile(&self.responses, 99.0)
    }

    pub fn steps_per_pick(&self) -> f64 {
        if self.picks == 0 { 0.0 } else { self.steps as f64 / self.picks as f64 }
    }

    /// Host time of the scheduler per decision: all its calls, divided by
    /// the number of picks.
    pub fn host_ns_per_pick(&self) -> f64 {
        if self.picks == 0 { 0.0 } else { self.host_ns as f64 / self.picks as f64 }
    }

    /// Add `other` into `self` (for totals over epochs).
    pub fn merge(&mut self, o: &Epoch) {
        self.len += o.len;
        self.busy += o.busy;
        self.useful += o.useful;
        self.late_work += o.late_work;
        self.cpu_work += o.cpu_work;
        self.decide += o.decide;
        self.switch += o.switch;
        self.idle += o.idle;
        self.responses.extend_from_slice(&o.responses);
        self.late += o.late;
        self.overdue += o.overdue;
        self.switches += o.switches;
        self.picks += o.picks;
        self.steps += o.steps;
        self.host_ns += o.host_ns;
        self.promotions += o.promotions;
        self.retunes += o.retunes;
        self.demotions += o.demotions;
        self.throttles += o.throttles;
        self.cpu_jobs += o.cpu_jobs;
    }
}

/// Mean of `xs`, `None` if empty.
pub fn mean(xs: &[Time]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some(xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64)
}

/// The `p`-th percentile of `xs` by the nearest-rank method: the smallest
/// value with at least `p`% of the values at or below it. `None` if empty.
pub fn percentile(xs: &[Time], p: f64) -> Option<Time> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// Split the interval `[from, to)` over epochs of length `len`: calls
/// `f(epoch, duration)` for each piece.
pub fn split(from: Time, to: Time, len: Time, mut f: impl FnMut(usize, Time)) {
    let mut t = from;
    while t < to {
        let e = t / len;
        let end = ((e + 1) * len).min(to);
        f(e as usize, end - t);
        t = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        assert_eq!(percentile(&[], 99.0), None);
        assert_eq!(percentile(&[5], 99.0), Some(5));
        let v: Vec<Time> = (1..=100).rev().collect();
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 100.0), Some(100));
        let v: Vec<Time> = (1..=1000).collect();
        assert_eq!(percentile(&v, 99.0), Some(990));
        // Ten values: the 99th percentile is the largest.
        assert_eq!(percentile(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 1000], 99.0), Some(1000));
    }

    #[test]
    fn mean_of_values() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1, 2, 3, 6]), Some(3.0));
    }

    #[test]
    fn split_over_epochs() {
        let mut got = Vec::new();
        split(5, 27, 10, |e, d| got.push((e, d)));
        assert_eq!(got, [(0, 5), (1, 10), (2, 7)]);
        got.clear();
        split(10, 10, 10, |e, d| got.push((e, d)));
        assert!(got.is_empty());
    }

    #[test]
    fn epoch_ratios_and_merge() {
        let mut e = Epoch {
            len: 1000,
            busy: 900,
            useful: 700,
            decide: 20,
            switch: 30,
            responses: vec![10, 20, 30],
            late: 1,
            overdue: 1,
            picks: 4,
            steps: 10,
            ..Default::default()
        };
        assert_eq!(e.busy_pct(), 90.0);
        assert_eq!(e.useful_pct(), 70.0);
        assert_eq!(e.overhead_pct(), 5.0);
        // Three finished (one late) plus one overdue at the end.
        assert_eq!(e.jobs(), 4);
        assert_eq!(e.miss_pct(), 50.0);
        assert_eq!(e.mean_response(), Some(20.0));
        assert_eq!(e.steps_per_pick(), 2.5);
        let copy = e.clone();
        e.merge(&copy);
        assert_eq!(e.jobs(), 8);
        assert_eq!(e.useful_pct(), 70.0);
    }
}
