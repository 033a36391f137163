//! linux: rint's Linux-ABI server (`docs/linux.md`). It runs static Linux
//! executables: it loads one into a new address space, starts its thread
//! with the server's endpoint as fault endpoint, and serves the faults that
//! arrive there. Every Linux syscall is a non-rint syscall number, so the
//! kernel delivers it as an unknown-syscall fault carrying all registers;
//! the server emulates it (`syscall`) and replies with the registers the
//! thread resumes with. Page faults map memory on first touch (`mm`); a
//! fault outside the process's memory kills the process (SIGSEGV), never
//! the server.
//!
//! init starts it as a server (`rt::server!`). Its Linux programs are the
//! archive entries its manifest entry lists in `files` (mapped read-only),
//! run one after another (or as `linux.conf` says: `config`), each in the
//! server's memory quota, which is taken back whole when the program ends
//! (`arena`). It reports how each ended and exits with code 0 when it has
//! run them all:
//!
//! ```text
//! [linux] hello exited with status 0
//! [linux] segv killed by signal 11 (SIGSEGV)
//! [linux] bad.elf not started: bad ELF: ...
//! [linux] done: 3 programs, 1 exited with status 0
//! ```
//!
//! Modules: `config` (`linux.conf`, pure), `clock` (counter ticks to
//! time, pure), `arena` (the server's memory:
//! its own and the processes'), `arch` (per-arch register mapping: the
//! only arch-specific code), `layout` (the process address-space layout),
//! `stack` (the initial stack, pure), `mm` (regions and pages, paging in),
//! `process` (loading, starting, ending a process), `syscall` (the dispatch
//! table and the handlers), `console` (program output on the rint console).

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;
#[cfg(test)]
extern crate std;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod arena;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod clock;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod config;
#[cfg(target_os = "none")]
mod console;
#[cfg(target_os = "none")]
mod layout;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod mm;
#[cfg(target_os = "none")]
mod process;
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod stack;
#[cfg(target_os = "none")]
mod syscall;

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod server {
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    use libipc::abi::{FAULT_LABEL_BASE, FaultKind, MessageInfo};
    use libipc::cap::{Cap, Endpoint, VSpace};
    use libipc::start::slots;
    use libipc::sys::{self, Message};
    use liblinux::abi::signal::SIGSEGV;

    use crate::arch::{self, MAX_REGS, REGS, Regs};
    use crate::arena::{Arena, Home};
    use crate::config::{self, Config};
    use crate::mm::Pool;
    use crate::mm::map::Access;
    use crate::process::{Process, Sys};
    use crate::syscall::{self, Action};

    /// SIGILL and SIGTRAP, for reports.
    const SIGILL: u32 = 4;
    const SIGTRAP: u32 = 5;

    /// Fewest arena slots worth starting with: a small program's objects,
    /// page tables and a few dozen pages.
    const MIN_ARENA_SLOTS: u64 = 64;

    rt::server!(main);

    /// How a process ended.
    enum End {
        Exited(u8),
        Killed(u32),
    }

    fn signal_name(s: u32) -> &'static str {
        match s {
            SIGILL => "SIGILL",
            SIGTRAP => "SIGTRAP",
            SIGSEGV => "SIGSEGV",
            _ => "signal",
        }
    }

    /// `N programs`, `1 program`.
    struct Programs(usize);

    impl core::fmt::Display for Programs {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let s = if self.0 == 1 { "" } else { "s" };
            write!(f, "{} program{s}", self.0)
        }
    }

    /// Exit codes (reported to init).
    const EXIT_OK: i32 = 0;
    const EXIT_SETUP: i32 = 1;
    const EXIT_CONFIG: i32 = 2;

    fn main(start: &'static rt::Start) -> i32 {
        // Settings, and the programs to run.
        let conf = match start.file(config::FILE).map(core::str::from_utf8) {
            None => Config::default(),
            Some(Ok(text)) => match config::parse(text) {
                Ok(c) => c,
                Err(e) => {
                    rt::println!("{e}");
                    return EXIT_CONFIG;
                }
            },
            Some(Err(_)) => {
                rt::println!("{} is not UTF-8 text", config::FILE);
                return EXIT_CONFIG;
            }
        };
        let files: Vec<&'static str> = start
            .info
            .files
            .iter()
            .map(|f| f.name.as_str())
            .filter(|n| *n != config::FILE)
            .collect();
        let programs: Vec<&'static str> = if conf.has_run {
            let mut v = Vec::new();
            for name in conf.run() {
                match files.iter().find(|f| **f == *name) {
                    Some(f) => v.push(*f),
                    None => {
                        rt::println!(
                            "{}: `run` names {name:?}, which is not one of its files (add it to the manifest entry's `files`)",
                            config::FILE
                        );
                        return EXIT_CONFIG;
                    }
                }
            }
            v
        } else {
            files
        };
        if programs.is_empty() {
            rt::println!(
                "no Linux programs to run: list them in the manifest entry's `files` (docs/linux.md)"
            );
            return EXIT_CONFIG;
        }

        // Memory: the server's own objects, then the arena.
        let untyped = start.untyped().iter().map(|u| (u.slot, u.size_bits));
        let vspace: Cap<VSpace> = Cap::from_slot(slots::VSPACE);
        let mut home = match Home::new(rt::server::CNODE, vspace, untyped, start.info.free_slots) {
            Ok(h) => h,
            Err(e) => {
                rt::println!("cannot set up: {e}");
                return EXIT_SETUP;
            }
        };
        let ep: Cap<Endpoint> = match home.env.alloc(0) {
            Ok(ep) => ep,
            Err(e) => {
                rt::println!("no endpoint: {e}");
                return EXIT_SETUP;
            }
        };
        let arena = match home.arena(MIN_ARENA_SLOTS) {
            Ok(a) => a,
            Err(e) => {
                rt::println!("cannot set up: {e}");
                return EXIT_SETUP;
            }
        };
        rt::println!(
            "Linux-ABI server on {}, {} to run, {} KiB and {} slots for them{}",
            arch::NAME,
            Programs(programs.len()),
            arena.bytes() >> 10,
            arena.slot_count(),
            if conf.strace { " (strace)" } else { "" }
        );

        let (mut ran, mut ok) = (0usize, 0);
        for (i, name) in programs.iter().enumerate() {
            ran += 1;
            let Some(file) = start.file(name) else {
                rt::println!("{name} not started: its file is not mapped");
                continue;
            };
            let end = run(&arena, ep, conf.strace, start.clock_hz(), i as u64 + 1, name, file);
            arena.reclaim();
            if let Some(End::Exited(0)) = end {
                ok += 1;
            }
        }
        rt::println!("done: {}, {ok} exited with status 0", Programs(ran));
        EXIT_OK
    }

    /// The radix of a process's frame store: a slot for every page the
    /// arena holds, at most one per page a process may map
    /// (`mm::map::MAX_PAGES`).
    fn store_radix(arena_bytes: u64) -> u8 {
        let pages = (arena_bytes / 4096).clamp(64, crate::mm::map::MAX_PAGES as u64);
        (64 - (pages - 1).leading_zeros()) as u8
    }

    /// Load, start and serve one program in the arena until it ends, and
    /// report how; `None` if it did not start. The caller reclaims the
    /// arena.
    fn run(
        arena: &Arena,
        ep: Cap<Endpoint>,
        strace: bool,
        clock_hz: u64,
        pid: u64,
        name: &'static str,
        file: &'static [u8],
    ) -> Option<End> {
        let mut env = arena.env();
        let pool = match Pool::new(&mut env, store_radix(arena.bytes())) {
            Ok(p) => p,
            Err(err) => {
                rt::println!("{name} not started: no frame store: {err}");
                return None;
            }
        };
        let mut sys = Box::new(Sys { env, pool, ep, strace, clock_hz });
        let mut p = match Process::load(&mut sys, pid, name, file) {
            Ok(p) => Box::new(p),
            Err(err) => {
                rt::println!("{name} not started: {err}");
                return None;
            }
        };
        if let Err(err) = p.start(&mut sys) {
            rt::println!("{name} not started: {err}");
            p.end();
            return None;
        }
        let end = serve(&mut sys, &mut p);
        p.end();
        match end {
            End::Exited(s) => rt::println!("{name} exited with status {s}"),
            End::Killed(sig) => {
                rt::println!("{name} killed by signal {sig} ({})", signal_name(sig))
            }
        }
        let used = arena.bytes().saturating_sub(sys.env.mem.free_bytes());
        rt::println!(
            "{name}: {} syscalls, {} page faults, {} KiB of memory used (given back)",
            p.syscalls,
            p.mm.faults,
            used >> 10
        );
        Some(end)
    }

    /// What to answer the message just handled with. (One lives at a time,
    /// on the stack: the size difference does not matter.)
    #[allow(clippy::large_enum_variant)]
    enum Reply {
        /// Resume with these registers (a syscall's result).
        Regs(Regs),
        /// Resume as it was (a page fault handled).
        Resume,
    }

    /// Serve `p`'s faults until it ends.
    fn serve(sys: &mut Sys, p: &mut Process) -> End {
        let mut reply: Option<Reply> = None;
        loop {
            let got = match reply.take() {
                Some(Reply::Regs(r)) => {
                    let words = r.words();
                    match MessageInfo::new(0, words.len(), 0) {
                        Some(info) => sys::reply_recv(sys.ep.cptr(), info, words),
                        None => sys::recv(sys.ep.cptr()),
                    }
                }
                Some(Reply::Resume) => sys::reply_recv(sys.ep.cptr(), MessageInfo::default(), &[]),
                None => sys::recv(sys.ep.cptr()),
            };
            let m = match got {
                Ok(m) => m,
                Err(e) => {
                    rt::println!("receiving on the fault endpoint failed: {}", e.as_str());
                    return End::Killed(SIGTRAP);
                }
            };
            if m.badge != p.pid {
                rt::println!("a message with badge {} (no such process): ignored", m.badge);
                continue;
            }
            match handle(sys, p, &m) {
                Ok(r) => reply = Some(r),
                Err(end) => return end,
            }
        }
    }

    /// One fault of `p`: the reply, or how the process ends.
    fn handle(sys: &mut Sys, p: &mut Process, m: &Message) -> Result<Reply, End> {
        let kind = u64::from(m.label())
            .checked_sub(FAULT_LABEL_BASE)
            .and_then(|k| u32::try_from(k).ok())
            .and_then(|k| FaultKind::try_from(k).ok());
        match kind {
            Some(FaultKind::UnknownSyscall) => {
                if m.len() < REGS.count {
                    rt::println!("{}: syscall fault with {} words only", p.name, m.len());
                    return Err(End::Killed(SIGTRAP));
                }
                let mut regs = Regs([0; MAX_REGS]);
                m.copy_words(&mut regs.0);
                match syscall::dispatch(p, sys, &mut regs) {
                    Action::Return(_) => Ok(Reply::Regs(regs)),
                    Action::Exit(status) => Err(End::Exited(status)),
                }
            }
            Some(FaultKind::PageFault) => {
                let (pc, addr, access) = (m.word(0), m.word(1), Access::from_word(m.word(2)));
                match p.mm.page_in(&mut sys.env, &mut sys.pool, addr, access) {
                    Ok(_) => {
                        p.mm.faults += 1;
                        Ok(Reply::Resume)
                    }
                    Err(why) => {
                        p.console.flush();
                        rt::println!(
                            "{}: SIGSEGV: {} of {addr:#x} at pc {pc:#x}: {why}",
                            p.name,
                            access.name()
                        );
                        Err(End::Killed(SIGSEGV))
                    }
                }
            }
            Some(FaultKind::IllegalInstruction) => {
                p.console.flush();
                rt::println!("{}: SIGILL: illegal instruction at pc {:#x}", p.name, m.word(0));
                Err(End::Killed(SIGILL))
            }
            other => {
                p.console.flush();
                rt::println!(
                    "{}: SIGTRAP: {} at pc {:#x} (cause {:#x}, detail {:#x})",
                    p.name,
                    other.map(|k| k.as_str()).unwrap_or("unknown fault"),
                    m.word(0),
                    m.word(1),
                    m.word(2)
                );
                Err(End::Killed(SIGTRAP))
            }
        }
    }
}
