//! The memory and process servers on both arches (`images/test-memproc.toml`):
//! proctest spawns memtest through the process server in its modes and
//! checks argv and the environment, the clock's rate, exit codes, suspended starts,
//! demand-zero paging, quotas, shared memory between two processes, kill,
//! a fault, a corrupt ELF file, malformed requests, and that after many
//! spawn/exit cycles both servers' pools are as full as before.

use rint_systest::{Arch, Boot, both_arches};

/// The last line init prints once the test is over.
const DONE: &str = "init: proctest (pid 3) stays stopped";

/// Every check proctest makes, by the line it prints.
const CHECKS: &[&str] = &[
    "spawn with argv and environment: the exit code is argc (4)",
    "a process spawned suspended is Suspended",
    "wait on a process that has not ended is StillRunning",
    "resume starts it (exit code 2 = argc), a second resume is NotSuspended",
    "a pid is gone once waited for",
    "demand paging: 64 pages read zero on first touch, reused frames zeroed (exit code 7)",
    "quota: map ops past it are QuotaExceeded, a fault past it ends the process (-12)",
    "shared memory: two processes see each other's writes (exit code 0)",
    "a fault outside every region ends the process (-11) with the fault",
    "kill ends a running process: exit code -9, Killed",
    "kill of a pid already waited for is NoSuchProcess",
    "spawning a corrupt ELF file is BadElf",
    "spawning a program that is not there is NotFound",
    "a quota the memory server cannot give is MemoryServer",
    "status of an unknown pid is NoSuchProcess",
    "process: a garbage request gets BadRequest",
    "mem: a truncated request gets BadRequest",
    "mem: an unknown space is NoSuchSpace, no faults are pending, attach without a VSpace is NoCap",
    "mem: attach with an endpoint for the VSpace is NoCap",
    "both servers keep serving after garbage",
    "memory comes back: the largest block, half touched, spawned and ended 12 times",
    "the memory server's pool is as full as before the cycles",
    "the process server's pool is as full as before, nothing left running",
];

both_arches!(memory_and_process_servers, |arch: Arch| {
    let run = Boot::new("test-memproc", arch).until(DONE).run();
    run.expect_matched()
        .expect("init: started memory (pid 1): provides mem (v1), 32768 KiB")
        .expect("init: started process (pid 2): provides process (v1), needs mem, 4096 KiB")
        .expect("init: 3 of 3 servers running:")
        .expect("[memory] memory: pool of ")
        .expect("[process] process: 2 program files")
        // argv and the environment arrive.
        .expect("[memtest] pid 1: argc 4: \"memtest\" \"args\" \"one\" \"two\"")
        .expect("[memtest] pid 1: GREETING is \"hello\"")
        // The clock's rate reaches it through the process server.
        .expect("[memtest] pid 1: clock rate known")
        .expect("[process] process: memtest (pid 1) exited with code 4")
        // Demand paging and frame reuse.
        .expect(
            "[memtest] pid 3: 64 pages demand-zero on first touch, pattern read back (64 faults)",
        )
        .expect("[memtest] pid 3: unmapped and mapped again: frames reused, read zero again")
        // Quotas: the map ops' errors, then the fault that ends it.
        .expect("[memtest] pid 4: a region of twice its quota (512 KiB): QuotaExceeded")
        .expect("[memtest] pid 4: populating a region of its whole quota: QuotaExceeded, undone")
        .expect("memory quota exceeded")
        .expect("[process] process: memtest (pid 4) exited with code -12: page fault (write)")
        // Shared memory between pid 5 and the reader it spawned.
        .expect("says \"hello from pid 5\"")
        .expect("it wrote \"answer from pid 6\"")
        .expect("[process] process: memtest (pid 5) exited with code 0")
        // A fault outside every region (the stack's guard page).
        .expect("outside any region, pc")
        .expect("[process] process: memtest (pid 7) exited with code -11")
        .expect("[process] process: memtest (pid 8) exited with code -9: killed")
        .expect("[process] process: corrupt.elf is refused: not an ELF file")
        .expect("[proctest] proctest: 23 passed, 0 failed")
        .expect("init: proctest (pid 3) exited with code 0")
        .expect_not("FAIL")
        .expect_not("kernel: thread")
        .expect_not("init: memory (pid 1)")
        .expect_not("init: process (pid 2)");
    for c in CHECKS {
        run.expect(&format!("[proctest] ok: {c}"));
    }
});
