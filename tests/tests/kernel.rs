//! The kernel test suite (`servers/ktest`) runs as the root task of the
//! `test-kernel` image on both arches: every object, syscall and error path,
//! with its own pass/fail counts. The kernel ends the machine once nothing
//! can run any more (`rint.exit_on_idle`).

use rint_systest::{Arch, Boot, Outcome, both_arches};

both_arches!(ktest_suite_passes, |arch: Arch| {
    let run = Boot::new("test-kernel", arch).append("rint.exit_on_idle").run();
    run.expect("kernel: boot complete; starting init").expect_not("FATAL").expect_not("PANIC");
    let summary = run.line("ktest: ").and_then(|_| {
        run.output.lines().rev().find(|l| l.starts_with("ktest: ") && l.contains(" passed, "))
    });
    let summary = summary.unwrap_or_else(|| panic!("no ktest summary\n{}", run.output));
    let passed: u32 = summary
        .trim_start_matches("ktest: ")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 20, "only {passed} kernel tests ran: {summary}");
    run.expect(" passed, 0 failed").expect("ktest: ALL PASSED").expect_outcome(Outcome::Success);
});
