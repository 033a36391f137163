//! The kernel test suite (`servers/ktest`) runs as the root task of the
//! `test-kernel` image on both arches: every object, syscall and error path,
//! a hostile task making thousands of random syscalls, and a stress run,
//! with its own pass/fail counts. The kernel ends the machine once nothing
//! can run any more (`rint.exit_on_idle`).
//!
//! The suite runs twice: with the IPC fastpath and without it
//! (`rint.fastpath=off`). Both must pass the same checks, which is what
//! holds the fastpath to the slow path's behaviour.

use rint_systest::{Arch, Boot, Outcome, Run, both_arches};

fn suite(arch: Arch, append: &str) -> Run {
    let run = Boot::new("test-kernel", arch).append(append).run();
    run.expect("kernel: boot complete; starting init").expect_not("FATAL").expect_not("PANIC");
    // The scheduler's "cannot happen" reports (a context out of step with
    // its threads).
    run.expect_not("kernel: sched: context");
    let summary = run
        .output
        .lines()
        .rev()
        .find(|l| l.starts_with("ktest: ") && l.contains(" passed, "))
        .unwrap_or_else(|| panic!("no ktest summary\n{}", run.output));
    let passed: u32 = summary
        .trim_start_matches("ktest: ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 60, "only {passed} kernel tests ran: {summary}");
    run.expect(" passed, 0 failed").expect("ktest: ALL PASSED").expect_outcome(Outcome::Success);
    run.expect("ktest: hostile ... ok");
    // The console UART: device untyped on riscv64, interrupts left off on
    // x86_64 (servers/ktest/src/suite/irq.rs).
    run.expect("ktest: console_uart ... ok");
    run
}

/// How often the fastpath ran: (calls, replies).
fn fastpath_counts(run: &Run) -> (u64, u64) {
    let line = run.line("kernel: IPC fastpath taken by").expect("fastpath line");
    let nums: Vec<u64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    (nums.first().copied().unwrap_or(0), nums.get(1).copied().unwrap_or(0))
}

both_arches!(ktest_suite_passes_with_fastpath, |arch: Arch| {
    let run = suite(arch, "rint.exit_on_idle");
    // The fastpath applies when the call lends the running context to a
    // receiver on its own one, and when the reply gives it back; much of
    // the suite's IPC is of other kinds. It must have run at all.
    let (calls, replies) = fastpath_counts(&run);
    assert!(calls > 0 && replies > 0, "the fastpath never ran: {calls} calls, {replies} replies");
});

both_arches!(ktest_suite_passes_without_fastpath, |arch: Arch| {
    let run = suite(arch, "rint.exit_on_idle rint.fastpath=off");
    run.expect("kernel: IPC fastpath off");
    assert_eq!(fastpath_counts(&run), (0, 0));
});
