//! sched-sim: runs rint's scheduler crate (`microkernel/sched`) on
//! generated, seedable workloads and compares plain round robin with the
//! joint RR+EDF policy, epoch by epoch.
//!
//! Both policies see exactly the same jobs (each task's arrivals come from
//! its own seeded stream). Under the joint policy every task starts as an
//! adaptive best-effort context and the scheduler's dynamic classification
//! has to find the latency tasks; `--declare` gives them their true
//! reservation up front instead. `docs/scheduler.md` has the results and
//! the modelling assumptions.
//!
//! Modules: `workload` (task sets and arrival streams), `sim` (the
//! simulated CPU), `metrics` (per-epoch numbers), `report` (table, CSV,
//! SVG), `rng` (SplitMix64).

mod metrics;
mod report;
mod rng;
mod sim;
mod workload;

use sched::{Config, Id, Params, Policy, Reservation, RoundRobin, Scheduler};
use sim::{Run, SimConfig, simulate};
use std::process::ExitCode;
use workload::{Kind, MS, TaskSpec, US, WorkloadConfig};

const HELP: &str = "\
sched-sim: round robin vs the joint RR+EDF scheduler on generated workloads

USAGE: sched-sim [OPTIONS]

Workload:
  --seed N             workload seed (default 1)
  --load X             offered load in CPUs, e.g. 1.0 or 1.5 (default 1.5)
  --latency-share X    part of the load from periodic latency tasks (default 0.3)
  --latency-tasks N    number of latency tasks (default 8)
  --cpu-tasks N        number of CPU-bound tasks (default 6)
  --declare            give latency tasks their true reservation up front
                       (default: all start best effort; the joint scheduler
                       must classify them)
Machine model:
  --epochs N           epochs to simulate (default 10)
  --epoch-ms N         epoch length in simulated ms (default 1000)
  --quantum-ms X       round-robin quantum of both policies (default 10)
  --rr-quantum-ms X    quantum of the RR-only policy alone (default: --quantum-ms)
  --switch-us X        cost of a context switch (default 3)
  --decision-ns N      fixed cost of one scheduling decision (default 500)
  --step-ns N          cost per run-queue step of a decision (default 10)
Output:
  --tasks              list the generated tasks
  --events             list the joint scheduler's reclassification events
  --csv FILE           write per-epoch data as CSV
  --svg FILE           write a plot of the per-epoch data
  --help               this text

Scheduling overhead = modelled CPU time in decisions (decision-ns + steps x
step-ns per pick) and context switches (switch-us each), as a share of the
CPU. Useful utilisation = CPU-bound work + work of latency jobs that met
their deadline. Host ns/pick is measured wall time of the real pick calls.
";

struct Args {
    workload: WorkloadConfig,
    sim: SimConfig,
    quantum: sched::Time,
    rr_quantum: Option<sched::Time>,
    declare: bool,
    list_tasks: bool,
    list_events: bool,
    csv: Option<String>,
    svg: Option<String>,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        workload: WorkloadConfig::default(),
        sim: SimConfig::default(),
        quantum: 10 * MS,
        rr_quantum: None,
        declare: false,
        list_tasks: false,
        list_events: false,
        csv: None,
        svg: None,
    };
    fn val<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse().map_err(|_| format!("{flag}: cannot parse {v:?}"))
    }
    fn ns(flag: &str, v: Option<String>, unit: f64) -> Result<sched::Time, String> {
        let x: f64 = val(flag, v)?;
        if !(x.is_finite() && x >= 0.0) {
            return Err(format!("{flag}: must be a non-negative number"));
        }
        Ok((x * unit).round() as sched::Time)
    }
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--help" | "-h" => return Ok(None),
            "--seed" => a.workload.seed = val(&flag, it.next())?,
            "--load" => a.workload.load = val(&flag, it.next())?,
            "--latency-share" => a.workload.latency_share = val(&flag, it.next())?,
            "--latency-tasks" => a.workload.latency_tasks = val(&flag, it.next())?,
            "--cpu-tasks" => a.workload.cpu_tasks = val(&flag, it.next())?,
            "--declare" => a.declare = true,
            "--tasks" => a.list_tasks = true,
            "--events" => a.list_events = true,
            "--epochs" => a.sim.epochs = val(&flag, it.next())?,
            "--epoch-ms" => a.sim.epoch_len = ns(&flag, it.next(), MS as f64)?,
            "--quantum-ms" => a.quantum = ns(&flag, it.next(), MS as f64)?,
            "--rr-quantum-ms" => a.rr_quantum = Some(ns(&flag, it.next(), MS as f64)?),
            "--switch-us" => a.sim.switch_cost = ns(&flag, it.next(), US as f64)?,
            "--decision-ns" => a.sim.decision_cost = val(&flag, it.next())?,
            "--step-ns" => a.sim.step_cost = val(&flag, it.next())?,
            "--csv" => a.csv = Some(val(&flag, it.next())?),
            "--svg" => a.svg = Some(val(&flag, it.next())?),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    let w = &a.workload;
    if !(w.load.is_finite() && w.load > 0.0 && w.load <= 10.0) {
        return Err("--load must be in (0, 10]".into());
    }
    if !(w.latency_share >= 0.0 && w.latency_share <= w.load) {
        return Err("--latency-share must be in [0, load]".into());
    }
    if w.latency_tasks + w.cpu_tasks == 0 || w.latency_tasks + w.cpu_tasks > CAPACITY {
        return Err(format!("between 1 and {CAPACITY} tasks"));
    }
    if a.sim.epochs == 0 || a.sim.epoch_len == 0 || a.quantum == 0 || a.rr_quantum == Some(0) {
        return Err("--epochs, --epoch-ms and --quantum-ms must be positive".into());
    }
    Ok(Some(a))
}

/// Scheduler capacity.
const CAPACITY: usize = 64;

/// The reservation a latency task would be given by hand: 1.5 times its mean
/// burst (its longest burst is 1.3 times; the rest covers the kernel time
/// charged to it: decisions and switches) every period.
fn declared(spec: &TaskSpec) -> Option<Reservation> {
    match spec.kind {
        Kind::Latency { period, burst, .. } => {
            Some(Reservation::implicit((burst as f64 * 1.5).ceil() as sched::Time, period))
        }
        Kind::Cpu { .. } => None,
    }
}

/// Add the tasks' contexts to `p`.
fn populate<P: Policy>(p: &mut P, tasks: &[TaskSpec], quantum: sched::Time, declare: bool) {
    for (i, t) in tasks.iter().enumerate() {
        let best_effort = Params::rr(quantum).adaptive(true);
        let params = match declared(t) {
            Some(r) if declare => Params::edf(r),
            _ => best_effort,
        };
        let id = Id(i as u16);
        if let Err(e) = p.add(id, params) {
            eprintln!("sched-sim: task {i}: admission refused ({e:?}); it runs best effort");
            p.add(id, best_effort).expect("best effort is always admitted");
        }
    }
}

fn run_both(a: &Args) -> Vec<Run> {
    let tasks = workload::generate(&a.workload);
    let rr_quantum = a.rr_quantum.unwrap_or(a.quantum);
    let mut rr = RoundRobin::<CAPACITY>::new(rr_quantum);
    populate(&mut rr, &tasks, rr_quantum, false);
    let config = Config { default_quantum: a.quantum, ..Config::DEFAULT };
    let mut joint = Scheduler::<CAPACITY>::new(config).expect("valid config");
    populate(&mut joint, &tasks, a.quantum, a.declare);
    vec![simulate(rr, &tasks, &a.sim), simulate(joint, &tasks, &a.sim)]
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("sched-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let w = &args.workload;
    let s = &args.sim;
    let rr_quantum = args.rr_quantum.unwrap_or(args.quantum);
    println!(
        "sched-sim: seed {} load {:.0}% ({} latency tasks offering {:.0}%, {} CPU-bound tasks), {} epochs of {} ms, quantum {} ms (rr {} ms), {}",
        w.seed,
        w.load * 100.0,
        w.latency_tasks,
        w.latency_share * 100.0,
        w.cpu_tasks,
        s.epochs,
        s.epoch_len / MS,
        args.quantum as f64 / MS as f64,
        rr_quantum as f64 / MS as f64,
        if args.declare { "latency tasks declared EDF" } else { "all tasks start best effort" },
    );
    println!(
        "model: switch {} us, decision {} ns + {} ns/step",
        s.switch_cost as f64 / US as f64,
        s.decision_cost,
        s.step_cost
    );
    let tasks = workload::generate(w);
    let offered = |lat: bool| -> f64 {
        tasks.iter().filter(|t| t.is_latency() == lat).map(TaskSpec::offered).sum::<f64>() * 100.0
    };
    println!(
        "offered load: latency tasks {:.1}%, CPU-bound tasks {:.1}%",
        offered(true),
        offered(false)
    );
    if args.list_tasks {
        for (i, t) in tasks.iter().enumerate() {
            match t.kind {
                Kind::Latency { period, phase, burst } => println!(
                    "task {i:2}: latency, period {:.1} ms, phase {:.2} ms, burst {:.3} ms (+-30%), offers {:.1}%",
                    period as f64 / MS as f64,
                    phase as f64 / MS as f64,
                    burst as f64 / MS as f64,
                    t.offered() * 100.0
                ),
                Kind::Cpu { mean_gap } => println!(
                    "task {i:2}: CPU-bound, jobs of 5-50 ms every {:.1} ms on average, offers {:.1}%",
                    mean_gap / MS as f64,
                    t.offered() * 100.0
                ),
            }
        }
    }
    let runs = run_both(&args);
    if args.list_events {
        for r in &runs {
            for e in &r.reclassified {
                println!("{}: {}", r.policy, report::event(e));
            }
        }
    }
    print!("{}", report::table(&runs));
    println!();
    print!("{}", report::verdict(&runs[0].total(0), &runs[1].total(0)));
    if let Some(path) = &args.csv {
        if let Err(e) = std::fs::write(path, report::csv(&runs)) {
            eprintln!("sched-sim: {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }
    if let Some(path) = &args.svg {
        let title =
            format!("sched-sim: RR vs joint RR+EDF, load {:.0}%, seed {}", w.load * 100.0, w.seed);
        if let Err(e) = std::fs::write(path, report::svg(&runs, &title)) {
            eprintln!("sched-sim: {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Result<Option<Args>, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn parses_flags() {
        let a =
            args("--seed 7 --load 1.0 --epochs 3 --csv x.csv --svg y.svg --quantum-ms 5 --declare")
                .expect("parse")
                .expect("not help");
        assert_eq!(a.workload.seed, 7);
        assert_eq!(a.workload.load, 1.0);
        assert_eq!(a.sim.epochs, 3);
        assert_eq!(a.quantum, 5 * MS);
        assert!(a.declare);
        assert_eq!(a.csv.as_deref(), Some("x.csv"));
        assert_eq!(a.svg.as_deref(), Some("y.svg"));
        assert!(args("--help").expect("parse").is_none());
        assert!(args("--load").is_err());
        assert!(args("--load abc").is_err());
        assert!(args("--load 0").is_err());
        assert!(args("--bogus").is_err());
        assert!(args("--cpu-tasks 100").is_err());
    }

    #[test]
    fn joint_beats_rr_on_deadlines_in_a_short_run() {
        let mut a = args("--epochs 2 --epoch-ms 300").expect("parse").expect("args");
        a.sim.measure_host = false;
        let runs = run_both(&a);
        let (rr, joint) = (runs[0].total(0), runs[1].total(0));
        assert!(rr.jobs() > 0 && joint.jobs() > 0);
        assert!(
            joint.miss_pct() < rr.miss_pct(),
            "joint {} rr {}",
            joint.miss_pct(),
            rr.miss_pct()
        );
        // Same workload: the same latency jobs were released.
        assert!(rr.jobs().abs_diff(joint.jobs()) <= a.workload.latency_tasks as u64 * 2);
    }
}
