//! The user-space system on both arches: init starts the plan's servers,
//! the name service, a device region mapped from the manifest (QEMU's
//! virtio-mmio slot on riscv64, the HPET on x86_64), two interchangeable kv implementations passing the
//! same client test (swapped by the manifest), malformed messages answered
//! with errors, and a crash of the kv server: the client sees the error,
//! init restarts the server, the client looks it up again and reconnects.
//!
//! Build-time manifest errors are host tests in `images/src/manifest.rs`.

use rint_systest::{Arch, Boot, Run, both_arches};

/// The last line init prints once the client test is over.
const DONE: &str = "init: kv-client (pid 2) stays stopped";

/// Every check the client makes, by the line it prints.
const CHECKS: &[&str] = &[
    "name service: lookup of \"kv\" gives an endpoint",
    "name service: the looked-up endpoint reaches the kv server",
    "name service: an unknown name is NotFound",
    "name service: a lookup into an occupied slot is BadSlot",
    "name service: registering a new name",
    "name service: a registered name can be looked up",
    "name service: registering another server's name is NotPermitted",
    "name service: registering a CNode is NoCap",
    "device: the mapped region reads as the device",
    "device: a read past the region is refused",
    "put then get returns the value",
    "list_keys pages through 20 keys in order",
    "kv: a garbage request gets BadRequest",
    "kv: an unknown op gets UnknownOp",
    "kv: another protocol version gets VersionMismatch",
    "kv: the server keeps serving after garbage",
    "init: a garbage request gets BadRequest",
    "init: the name service keeps serving after garbage",
    "crash: the call to the crashing server fails with ServerGone",
    "crash: \"kv\" can be looked up again after the restart",
    "crash: the restarted store is empty (data in memory is lost)",
    "crash: the restarted server serves",
    "crash: a client with a stale endpoint reconnects and retries by itself",
];

/// Boot `image` and check what every kv implementation must show.
fn kv_image(image: &str, arch: Arch) -> Run {
    let run = Boot::new(image, arch).until(DONE).run();
    run.expect_matched()
        .expect("init: started kv-store (pid 1): provides kv (v1), 1024 KiB")
        .expect("init: started kv-client (pid 2): needs kv, 512 KiB")
        .expect("init: 2 of 2 servers running:")
        .expect("init:   pid 1   kv-store")
        .expect("init: kv-client (pid 2) registered kv-client.echo (kv v1)")
        .expect("init: kv-client (pid 2) may not register kv-client.cnode: it sent CNode, not an endpoint")
        .expect("init: kv-store (pid 1) faulted: page fault (write)")
        .expect("init: restarted kv-store (pid 1, restart 1)")
        .expect("[kv-client] kv client test: 35 passed, 0 failed")
        .expect("init: kv-client (pid 2) exited with code 0")
        .expect_not("FAIL")
        .expect_not("kernel: thread");
    for c in CHECKS {
        run.expect(&format!("[kv-client] ok: {c}"));
    }
    run
}

both_arches!(kv_mem_passes_the_client_test, |arch: Arch| {
    let run = kv_image("test-kv-mem", arch);
    run.expect("[kv-store] kv-mem: sorted array").expect("[kv-store] kv-mem: crashing on purpose");
    // After the restart the server is a new generation.
    run.expect("[kv-store] kv-mem: sorted array, up to 64 keys, serving (generation 1)");
});

both_arches!(kv_log_passes_the_same_client_test, |arch: Arch| {
    let run = kv_image("test-kv-log", arch);
    run.expect("[kv-store] kv-log: append-only log").expect_not("kv-mem");
    run.expect("[kv-store] kv-log: append-only log of up to 32768 bytes, serving (generation 1)");
});

/// The two test images differ only in which package provides "kv" (and
/// their descriptions): the swap is that one line.
#[test]
fn kv_images_differ_only_in_the_provider() {
    let root = rint_image::repo_root();
    let read = |n: &str| std::fs::read_to_string(root.join("images").join(n)).expect("manifest");
    let (mem, log) = (read("test-kv-mem.toml"), read("test-kv-log.toml"));
    let diff: Vec<(&str, &str)> = mem.lines().zip(log.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(mem.lines().count(), log.lines().count());
    assert_eq!(diff.len(), 2, "{diff:?}");
    assert!(diff[0].0.starts_with("description ="), "{diff:?}");
    assert_eq!(diff[1], ("package = \"rint-kv-mem\"", "package = \"rint-kv-log\""));
}

both_arches!(panics_and_exits_are_supervised, |arch: Arch| {
    let run = Boot::new("test-supervision", arch).until("init: all servers have stopped").run();
    run.expect_matched()
        .expect("init: started panicker (pid 1): 256 KiB, EDF 5000 us every 10000 us")
        .expect("[panicker] generation 0, pid 1")
        .expect("[panicker] panicked: ")
        .expect("init: panicker (pid 1) exited with code 101: deliberate panic in generation 0 at servers/panicker/src/main.rs:")
        .expect("init: restarted panicker (pid 1, restart 1)")
        .expect("init: panicker (pid 1) exited with code 101: deliberate panic in generation 1")
        .expect("init: restarted panicker (pid 1, restart 2)")
        .expect("[panicker] generation 2, pid 1")
        .expect("init: panicker (pid 1) exited with code 3")
        .expect("init: panicker (pid 1) stays stopped: its restarts are used up")
        .expect_not("restart 3")
        .expect_not("kernel: thread");
});
