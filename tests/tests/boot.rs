//! Boot on both arches: banner, memory map, boot archive, kernel page tables,
//! timer ticks, a clean exit; and the ways a boot can go wrong (no archive, a
//! corrupt archive, an unexpected exception).

use rint_systest::{Accel, Arch, Boot, Outcome, both_arches, build};

both_arches!(selftest_boot_passes, |arch: Arch| {
    // KVM where it opens (x86_64), so the hardware-virtualised path is
    // covered too; TCG otherwise.
    let run = Boot::new("test-boot", arch).accel(Accel::Auto).run();
    run.expect(&format!("rint {} microkernel on {arch}", env!("CARGO_PKG_VERSION")))
        .expect("memory map (")
        .expect("usable RAM:")
        .expect("cmdline: rint.test=boot rint.ticks=10")
        .expect("archive: 4 entries")
        .expect("mmu: kernel address space active")
        .expect("timer: periodic tick at 100 Hz")
        .expect("selftest: timer ticks=10 in")
        .expect("selftest: boot PASSED")
        .expect_outcome(Outcome::Success);
    // Every archive entry is listed with its size; init is recognised as an
    // ELF for this arch.
    let init = run.line("  init ").expect("init listed");
    assert!(init.contains(&format!("program  ELF {arch} entry 0x")), "{init}");
    let hello = run.line("  hello.txt ").expect("hello.txt listed");
    assert!(hello.contains(" 34 bytes  file"), "{hello}");
    assert!(run.line("  manifest.toml ").is_some_and(|l| l.contains("manifest")));
    assert!(run.line("  cmdline ").is_some_and(|l| l.contains(" 28 bytes  cmdline")));
    // The memory map lists at least one usable region with a sane size.
    let usable = run.line("usable RAM:").expect("usable line");
    let mib: u64 =
        usable.split_whitespace().nth(2).and_then(|n| n.parse().ok()).expect("MiB figure");
    assert!((128..=256).contains(&mib), "256 MiB machine reports {mib} MiB usable");
    // Ticks at 100 Hz: 10 ticks take about 100 ms; allow for TCG jitter.
    let ticks = run.line("selftest: timer ticks=10 in").expect("tick line");
    let ms: u64 = ticks
        .rsplit(" in ")
        .next()
        .and_then(|s| s.trim_end_matches(" ms").trim().parse().ok())
        .expect("ms figure");
    assert!((50..=2000).contains(&ms), "10 ticks at 100 Hz took {ms} ms");
});

/// The default image's servers in start order (its boot plan, computed by
/// the image builder from `images/default.toml`), so the test follows the
/// manifest as servers are added: init gives them pids 1, 2, ... in this
/// order.
fn default_servers(arch: Arch) -> Vec<String> {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../images/default.toml");
    let text = std::fs::read_to_string(&file).expect("images/default.toml");
    let manifest = rint_image::manifest::parse(&file, &text).expect("default manifest parses");
    let plan = manifest.plan(&file, &text, &arch.to_string()).expect("default manifest plans");
    plan.servers.iter().map(|s| s.name.as_str().to_string()).collect()
}

both_arches!(default_image_starts_init, |arch: Arch| {
    let servers = default_servers(arch);
    let linux_pid = servers.iter().position(|n| n == "linux").expect("a linux server") + 1;
    // init prints its summary before it serves any message, so by the time
    // it reports the Linux server's exit the summary is out, and so is the
    // hello-world's output.
    let until = format!("init: linux (pid {linux_pid}) exited with code 0");
    let run = Boot::new("default", arch).accel(Accel::Auto).until(&until).run();
    let n = servers.len();
    run.expect_matched()
        .expect(&format!("microkernel on {arch}"))
        .expect("  init ")
        .expect("  hello ")
        .expect("  manifest.toml ")
        .expect("kernel: boot complete; starting init")
        .expect("init: running as the root task;")
        .expect(&format!("init: {n} of {n} servers running:"))
        // The Linux server runs the musl hello-world: its lines, unchanged,
        // and how it ended.
        .expect(&format!("[linux] Linux-ABI server on {arch}, 1 program to run"))
        .expect("\nhello from Linux on rint: hello, argc=1\n")
        .expect("\nmalloc: 1000 + 204800 bytes ok, sum=4997\n")
        .expect("[linux] hello exited with status 0")
        .expect("[linux] done: 1 program, 1 exited with status 0")
        .expect_not("FATAL")
        .expect_not("panicked");
    let entries = run
        .line("archive: ")
        .and_then(|l| l.split("archive: ").nth(1))
        .and_then(|r| r.split(" entries").next())
        .and_then(|n| n.trim().parse::<u32>().ok())
        .expect("archive entry count");
    run.expect(&format!("init: boot archive at 0x200000000, {entries} entries:"));
    for (i, name) in servers.iter().enumerate() {
        let pid = i + 1;
        run.expect(&format!("init: started {name} (pid {pid}): "));
        run.expect(&format!("init:   pid {pid:<3} {name:<20} running  "));
    }
    // init sees RAM as untyped: most of the 256 MiB machine.
    let line = run.line("init: running as the root task;").expect("init line");
    let mib: u64 = line
        .split(" MiB of RAM")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .expect("MiB figure");
    assert!((128..=256).contains(&mib), "{line}");
});

both_arches!(boots_without_archive, |arch: Arch| {
    let run = Boot::new("test-boot", arch).no_archive().append("rint.test=boot rint.ticks=3").run();
    run.expect("archive: none")
        .expect("selftest: timer ticks=3 in")
        .expect_outcome(Outcome::Success);
});

both_arches!(corrupt_archive_is_rejected, |arch: Arch| {
    // Flip one byte of init's data: the archive's checksum catches it, the
    // kernel says so and carries on booting.
    let image = build("test-boot", arch);
    let mut blob = std::fs::read(&image.archive).expect("archive");
    let at = libipc_offset_of_first_entry(&blob) + 100;
    blob[at] ^= 0x55;
    let path = image.archive.with_extension(format!("corrupt.{}", std::process::id()));
    std::fs::write(&path, &blob).expect("write corrupt archive");
    let run =
        Boot::new("test-boot", arch).archive(path.clone()).until("kernel: boot complete").run();
    let _ = std::fs::remove_file(&path);
    run.expect_matched()
        .expect("archive: rejected")
        .expect("entry 0: data checksum mismatch")
        .expect_not("FATAL");
});

/// Offset of entry 0's data (bytes 40..48 of the first table entry).
fn libipc_offset_of_first_entry(blob: &[u8]) -> usize {
    let mut b = [0u8; 8];
    b.copy_from_slice(&blob[64 + 40..64 + 48]);
    u64::from_le_bytes(b) as usize
}

both_arches!(page_fault_is_reported, |arch: Arch| {
    let run = Boot::new("test-pagefault", arch).run();
    run.expect("selftest: reading unmapped address 0xdeadb000")
        .expect("FATAL: unexpected page fault in kernel mode")
        .expect("faulting address 0x00000000deadb000 (Read access)")
        .expect("  pc 0x")
        .expect("kernel: stopping the machine after an unexpected exception")
        .expect_not("selftest: FAILED")
        .expect_outcome(Outcome::Failure);
});

both_arches!(illegal_instruction_is_reported, |arch: Arch| {
    let run = Boot::new("test-illegal", arch).run();
    run.expect("selftest: executing an illegal instruction")
        .expect("FATAL: unexpected ")
        .expect("in kernel mode")
        .expect("kernel: stopping the machine after an unexpected exception")
        .expect_not("selftest: FAILED")
        .expect_outcome(Outcome::Failure);
});
