//! The Linux-ABI server (`servers/linux`), started by init in
//! `images/test-linux.toml`, runs static musl programs built from
//! `tests/linux/*.c` for each arch, given to it as manifest `files`:
//! hello-world (printf, malloc through brk and mmap) exits 0 with its lines
//! unchanged on the console; unimplemented syscalls return ENOSYS and the
//! server carries on; a NULL read is reported as SIGSEGV and kills only
//! that program; a truncated ELF is refused; `uname`, `getpid` and reads
//! of standard input (end of file) and the clocks (`clock_gettime`,
//! `gettimeofday`, `clock_getres`) work, and an exit status of 3 is
//! reported; a program touching 2 MiB gets it, one touching more than the
//! server's quota is killed with the reason. `strace` in its `linux.conf` shows the syscalls. The server
//! then exits with code 0 and init reports it.

use rint_systest::{Arch, Boot, Outcome, both_arches};

both_arches!(linux_programs_run, |arch: Arch| {
    let run = Boot::new("test-linux", arch).run();
    run.expect("init: started linux (pid 1)")
        .expect(&format!("[linux] Linux-ABI server on {arch}, 6 programs to run, "))
        .expect(" slots for them (strace)\n")
        // hello: its own lines, exactly as printed, and the exit status.
        .expect("\nhello from Linux on rint: hello, argc=1\n")
        .expect("\nmalloc: 1000 + 204800 bytes ok, sum=4997\n")
        .expect("[linux] hello exited with status 0")
        // The syscalls musl's stdio and malloc make went through the server.
        .expect("[linux] hello: set_tid_address(")
        .expect("[linux] hello: ioctl(0x1, 0x5413, ")
        .expect("[linux] hello: writev(0x1, ")
        .expect("[linux] hello: mmap(0x0, ")
        .expect("[linux] hello: munmap(")
        .expect("[linux] hello: exit_group(0x0) = ? (exit 0)")
        // ENOSYS for what is not implemented; the program sees it and exits 0.
        .expect("[linux] enosys: unknown syscall 999 on ")
        .expect("\nenosys: syscall 999: -1 (Function not implemented)\n")
        .expect("[linux] enosys: syscall getppid (")
        .expect("\nenosys: getppid: -1 (Function not implemented)\n")
        .expect("[linux] enosys exited with status 0")
        // A NULL read kills the program, not the server.
        .expect("\nsegv: reading address 0\n")
        .expect("[linux] segv: SIGSEGV: read of 0x0 at pc 0x")
        .expect("[linux] segv killed by signal 11 (SIGSEGV)")
        // A malformed ELF is refused with a reason.
        .expect("[linux] truncated.elf not started: bad ELF: not an ELF file")
        // What the system says about itself, input at end of file, and an
        // exit status other than 0 reported as it is.
        .expect(&format!("\nbasics: uname: Linux rint 6.1.0-rint {arch}\n"))
        .expect("\nbasics: pid 5, tid 5, uid 0\n")
        .expect("[linux] basics: getpid() = 0x5")
        .expect("\nbasics: read(0) = 0\n")
        .expect("\nbasics: readv(0) = 0\n")
        .expect("\nbasics: read(5) = -1 (Bad file descriptor)\n")
        .expect("\nbasics: getchar() = -1, at end of file: yes\n")
        .expect("\nbasics: mprotect 0 0 0: kept, gone\n")
        // The clocks: the counter's rate reaches the server in its start
        // info; time since boot never goes back.
        .expect("[linux] basics: clock_gettime(0x1, ")
        .expect(
            "\nbasics: clock_gettime(CLOCK_MONOTONIC): monotonic, tv_nsec in range: yes, plausible: yes\n",
        )
        .expect("\nbasics: realtime ok, gettimeofday ok\n")
        .expect("\nbasics: clock_getres ok\n")
        .expect("\nbasics: unknown clock: -1 (Invalid argument), bad pointer: -1 (Bad address)\n")
        .expect("[linux] basics exited with status 3")
        // Every program's memory comes back when it ends.
        .expect(" KiB of memory used (given back)\n")
        // 2 MiB fit in the server's quota, 16 MiB more do not: the process
        // is killed with the reason, the server carries on.
        .expect("\ntoobig: 2048 KiB touched\n")
        .expect(": the server could not map it: out of memory: ")
        .expect("[linux] toobig killed by signal 11 (SIGSEGV)")
        .expect_not("toobig: all touched")
        .expect("[linux] done: 6 programs, 2 exited with status 0")
        .expect("init: linux (pid 1) exited with code 0")
        .expect_not("FATAL")
        .expect_not("panicked")
        .expect_outcome(Outcome::Success);
    if arch == Arch::X86_64 {
        run.expect("[linux] hello: arch_prctl(0x1002, ");
    }
});
