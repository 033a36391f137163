//! The in-kernel scheduling experiment (`servers/sched-exp`, image
//! `sched-exp`): CPU hogs and a periodic latency task with an EDF
//! reservation, under the joint RR+EDF policy and under plain round robin
//! (`rint.sched=joint|rr` on the kernel command line). Under joint the
//! admitted latency task must miss no deadline; under round robin it
//! waits behind every hog's quantum, longer than its deadline, so it
//! misses (the figures are printed; `docs/scheduler.md` quotes them).

use rint_systest::{Arch, Boot, Outcome, Run, both_arches};
use std::sync::Mutex;

/// One experiment at a time: the runs measure time, and the tests of this
/// file would otherwise run their machines side by side on the host.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// (jobs, misses) and the whole result line of one run.
fn experiment(arch: Arch, policy: &str) -> (u64, u64, String) {
    let run: Run = {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        Boot::new("sched-exp", arch).append(&format!("rint.sched={policy}")).run()
    };
    run.expect(&format!("sched: policy {policy}"))
        .expect_not("sched-exp: error")
        .expect_not("FATAL")
        .expect_not("PANIC")
        .expect_not("kernel: sched: context")
        .expect("kernel: nothing can run any more")
        .expect_outcome(Outcome::Success);
    let line = run
        .line(&format!("sched-exp: policy={policy} jobs="))
        .unwrap_or_else(|| panic!("no result line\n{}", run.output))
        .to_string();
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
    };
    (field("jobs"), field("misses"), line)
}

both_arches!(latency_task_meets_its_deadlines_under_joint, |arch: Arch| {
    let (jobs, misses, line) = experiment(arch, "joint");
    println!("{arch}: {line}");
    assert!(jobs >= 40, "{line}");
    assert_eq!(misses, 0, "the admitted latency task missed deadlines under joint: {line}");
});

both_arches!(latency_task_misses_under_round_robin, |arch: Arch| {
    let (jobs, misses, line) = experiment(arch, "rr");
    println!("{arch}: {line}");
    assert!(jobs >= 40, "{line}");
    // Six hogs with 20 ms quanta stand between two turns of the task:
    // 120 ms, more than its 100 ms deadline.
    assert!(misses > 0, "round robin met every deadline: {line}");
});
