//! Generated workloads: a mix of periodic latency tasks and CPU-bound
//! tasks, as a pure function of a seed.
//!
//! - A **latency task** models IO-like work: released every `period` (an
//!   interrupt, a frame, a packet batch), it runs a short burst and blocks
//!   until the next release. Each job must finish before the next release
//!   (deadline = period). Burst lengths vary by +-30% around the task's
//!   mean.
//! - A **CPU-bound task** is a worker with a queue: jobs of 5 to 50 ms of
//!   CPU arrive at random (Poisson) and it computes them one after another,
//!   blocking only when its queue is empty.
//!
//! The *offered load* is the CPU time asked for per second of wall time:
//! `latency_share` from the latency tasks, the rest from the CPU-bound
//! ones. At a load of 1.5 the CPU-bound tasks ask for more than the CPU
//! has, so they are (nearly) always runnable.

use crate::rng::Rng;
use sched::Time;

pub const US: Time = 1_000;
pub const MS: Time = 1_000_000;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadConfig {
    pub seed: u64,
    /// Total offered load, in CPUs (1.0 = 100%).
    pub load: f64,
    /// Offered load of the latency tasks, in CPUs (part of `load`).
    pub latency_share: f64,
    pub latency_tasks: usize,
    pub cpu_tasks: usize,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self { seed: 1, load: 1.5, latency_share: 0.3, latency_tasks: 8, cpu_tasks: 6 }
    }
}

/// The kind of task and its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// Released every `period` from `phase`; bursts of `burst` +-30%.
    Latency { period: Time, phase: Time, burst: Time },
    /// Jobs arrive with exponential gaps of mean `mean_gap`, each needing
    /// 5..50 ms.
    Cpu { mean_gap: f64 },
}

/// One task of a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    pub kind: Kind,
    /// Seed of the task's own arrival stream.
    pub seed: u64,
}

impl TaskSpec {
    pub fn is_latency(&self) -> bool {
        matches!(self.kind, Kind::Latency { .. })
    }

    /// The task's offered load, in CPUs.
    pub fn offered(&self) -> f64 {
        match self.kind {
            Kind::Latency { period, burst, .. } => burst as f64 / period as f64,
            Kind::Cpu { mean_gap } => CPU_JOB_MEAN / mean_gap,
        }
    }

    /// The jobs this task releases, in order, forever.
    pub fn arrivals(&self) -> Arrivals {
        Arrivals { spec: self.clone(), rng: Rng::new(self.seed), next: 0, k: 0 }
    }
}

/// Smallest and largest CPU-bound job, ns.
const CPU_JOB_MIN: f64 = 5e6;
const CPU_JOB_MAX: f64 = 50e6;
const CPU_JOB_MEAN: f64 = (CPU_JOB_MIN + CPU_JOB_MAX) / 2.0;

/// Periods the latency tasks draw from.
const PERIODS: [Time; 4] = [2 * MS, 5 * MS, 10 * MS, 20 * MS];

/// Generate the task set for `cfg`: latency tasks first, then CPU tasks.
pub fn generate(cfg: &WorkloadConfig) -> Vec<TaskSpec> {
    let mut rng = Rng::new(cfg.seed);
    let mut tasks = Vec::new();
    let weights = |rng: &mut Rng, n: usize| -> Vec<f64> {
        let w: Vec<f64> = (0..n).map(|_| rng.range(0.5, 1.5)).collect();
        let sum: f64 = w.iter().sum();
        w.into_iter().map(|x| x / sum).collect()
    };
    let lat_w = weights(&mut rng, cfg.latency_tasks);
    for (i, w) in lat_w.into_iter().enumerate() {
        let period = rng.pick(&PERIODS);
        let burst = ((cfg.latency_share * w * period as f64) as Time).max(1);
        let phase = (rng.unit() * period as f64) as Time;
        tasks.push(TaskSpec {
            kind: Kind::Latency { period, phase, burst },
            seed: Rng::stream(cfg.seed, i as u64).next_u64(),
        });
    }
    let cpu_load = (cfg.load - cfg.latency_share).max(0.0);
    let cpu_w = weights(&mut rng, cfg.cpu_tasks);
    for (i, w) in cpu_w.into_iter().enumerate() {
        let share = cpu_load * w;
        let mean_gap = if share > 0.0 { CPU_JOB_MEAN / share } else { f64::INFINITY };
        tasks.push(TaskSpec {
            kind: Kind::Cpu { mean_gap },
            seed: Rng::stream(cfg.seed, (cfg.latency_tasks + i) as u64).next_u64(),
        });
    }
    tasks
}

/// A released job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Job {
    pub release: Time,
    /// Absolute deadline (latency jobs); `Time::MAX` for CPU jobs.
    pub deadline: Time,
    /// CPU time it needs.
    pub work: Time,
}

/// The arrival stream of one task.
#[derive(Clone, Debug)]
pub struct Arrivals {
    spec: TaskSpec,
    rng: Rng,
    next: Time,
    k: u64,
}

impl Iterator for Arrivals {
    type Item = Job;

    fn next(&mut self) -> Option<Job> {
        match self.spec.kind {
            Kind::Latency { period, phase, burst } => {
                let release = phase + self.k * period;
                self.k += 1;
                let work = ((burst as f64 * self.rng.range(0.7, 1.3)) as Time).max(1);
                Some(Job { release, deadline: release + period, work })
            }
            Kind::Cpu { mean_gap } => {
                if !mean_gap.is_finite() {
                    return None;
                }
                self.next += self.rng.exp(mean_gap) as Time;
                let work = self.rng.range(CPU_JOB_MIN, CPU_JOB_MAX) as Time;
                Some(Job { release: self.next, deadline: Time::MAX, work })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(spec: &TaskSpec, until: Time) -> Vec<Job> {
        spec.arrivals().take_while(|j| j.release < until).collect()
    }

    #[test]
    fn same_seed_same_workload() {
        let cfg = WorkloadConfig { seed: 42, ..Default::default() };
        let a = generate(&cfg);
        let b = generate(&cfg);
        assert_eq!(a, b);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(jobs(x, 2000 * MS), jobs(y, 2000 * MS));
        }
        let c = generate(&WorkloadConfig { seed: 43, ..cfg });
        assert_ne!(a, c);
    }

    #[test]
    fn offered_load_matches_the_request() {
        for load in [1.0, 1.5] {
            let cfg = WorkloadConfig { seed: 3, load, ..Default::default() };
            let tasks = generate(&cfg);
            assert_eq!(tasks.len(), cfg.latency_tasks + cfg.cpu_tasks);
            let lat: f64 = tasks.iter().filter(|t| t.is_latency()).map(TaskSpec::offered).sum();
            let all: f64 = tasks.iter().map(TaskSpec::offered).sum();
            assert!((lat - cfg.latency_share).abs() < 0.01, "latency {lat}");
            assert!((all - load).abs() < 0.01, "total {all}");
            // The generated jobs realise it over a long run (CPU arrivals are
            // random: allow 10%).
            let horizon = 200_000 * MS;
            let work: Time = tasks.iter().flat_map(|t| jobs(t, horizon)).map(|j| j.work).sum();
            let real = work as f64 / horizon as f64;
            assert!((real - load).abs() < 0.1 * load, "realised {real} for {load}");
        }
    }

    #[test]
    fn latency_jobs_are_periodic_with_deadline_at_the_next_release() {
        let tasks = generate(&WorkloadConfig::default());
        for t in tasks.iter().filter(|t| t.is_latency()) {
            let Kind::Latency { period, phase, burst } = t.kind else { unreachable!() };
            assert!(phase < period);
            for (k, j) in t.arrivals().take(100).enumerate() {
                assert_eq!(j.release, phase + k as Time * period);
                assert_eq!(j.deadline, j.release + period);
                assert!(
                    j.work as f64 >= burst as f64 * 0.69 && j.work as f64 <= burst as f64 * 1.31
                );
            }
        }
    }
}
