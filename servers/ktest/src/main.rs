//! ktest: the kernel test suite. Runs as the root task (`init`) of the
//! `test-kernel` image and exercises every kernel object, every syscall and
//! each error path, then reports its own counts:
//!
//! ```text
//! ktest: <name> ... ok
//! ktest: <name> ... FAILED: line <n>: <why>
//! ktest: N passed, M failed
//! ktest: ALL PASSED                      (only if M == 0)
//! ```
//!
//! Each test is a function `fn(&mut Env) -> TestResult` in `suite/` that
//! allocates what it needs from [`env::Env`] (a bump allocator over the
//! root CNode's free slots and the untyped list in `BootInfo`), so tests are
//! independent; threads a test starts are suspended after it. A failure is
//! a value with a source line (no heap, no panic), so one failing test never
//! stops the suite.
//!
//! What the suite relies on beyond `libipc::abi` (all in `docs/kernel.md`):
//! the user-register order (`arch::regs`); a fault handler's reply writes
//! its words into the first registers and resumes the thread if its label
//! is 0; unknown-syscall fault messages carry the pc past the syscall; FP
//! registers are per thread and a new thread starts with the arch's
//! initial FP state; the
//! root task and the suite's children run on round-robin scheduling
//! contexts without classification ([`env::CHILD_SCHED`]), so a child the
//! root task resumes runs once the root task waits (round robin never
//! preempts a thread before its quantum is up, and the tests block long
//! before that), and a test that must know another thread has blocked
//! gives it turns explicitly (`suite::ipc::go_late`); the root task's fixed
//! layout (`abi::root_layout`) leaves `arch::REGION` and `arch::NO_TABLES`
//! free (the `layout` test checks).
//!
//! The hostile task and the stress tests also build address spaces of their
//! own (`space`): they copy the root task's read-only segments, found
//! through its program headers (`__ehdr_start`), and run the suite's
//! functions there. They size their work to how fast kernel entries are
//! here (`Env::entry_cost`).
//!
//! On the host this binary only says where it runs; its formatting helpers
//! have host unit tests.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]
// A failure carries its message inline (no heap): 256 bytes, moved only on
// the failure path.
#![allow(clippy::result_large_err)]

// On the host only the unit tests use these.
#[macro_use]
#[cfg_attr(not(target_os = "none"), allow(unused_macros))]
mod macros;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod fmt;

#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod arch;
#[cfg(target_os = "none")]
mod env;
#[cfg(target_os = "none")]
mod space;
#[cfg(target_os = "none")]
mod suite;

#[cfg(target_os = "none")]
rt::entry!(main);

#[cfg(target_os = "none")]
fn main(boot: &'static libipc::abi::BootInfo) {
    use rt::println;

    println!("ktest: {} tests on {}", suite::TESTS.len(), libipc::sys::arch::NAME);
    let mut env = env::Env::new(boot);
    let (mut passed, mut failed) = (0usize, 0usize);
    // One line per test, written when it ends (so that what a test makes
    // the kernel print stays on lines of its own). If the suite hangs, the
    // culprit is the test after the last one reported, in `suite::TESTS`
    // order.
    for t in suite::TESTS {
        match (t.run)(&mut env) {
            Ok(()) => {
                passed += 1;
                match env.skipped {
                    Some(why) => println!("ktest: {} ... ok (skipped: {why})", t.name),
                    None => println!("ktest: {} ... ok", t.name),
                }
            }
            Err(f) => {
                failed += 1;
                println!("ktest: {} ... FAILED: {f}", t.name);
            }
        }
        env.cleanup();
    }
    println!("ktest: {passed} passed, {failed} failed");
    if failed == 0 {
        println!("ktest: ALL PASSED");
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "ktest runs as the root task of a rint image: cargo run -p rint-image -- run --image test-kernel"
    );
}
