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
//! For now it runs as the root task of an image (`images/test-linux.toml`)
//! and runs every other program in the boot archive, one after another,
//! reporting how each ended:
//!
//! ```text
//! linux: hello exited with status 0
//! linux: segv killed by signal 11 (SIGSEGV)
//! linux: bad.elf not started: bad ELF: ...
//! ```
//!
//! `linux.strace` on the kernel command line logs every syscall.
//!
//! Modules: `arch` (per-arch register mapping: the only arch-specific
//! code), `layout` (the process address-space layout), `stack` (the initial
//! stack, pure), `mm` (regions and pages, paging in), `process` (loading,
//! starting, ending a process), `syscall` (the dispatch table and the
//! handlers), `console` (program output on the rint console).

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

#[cfg(target_os = "none")]
mod arch;
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
    use libipc::abi::{BootInfo, FAULT_LABEL_BASE, FaultKind, MessageInfo};
    use libipc::bootarchive::{BootArchive, EntryKind};
    use libipc::cap::{Cap, Endpoint, init};
    use libipc::sys::{self, Message};
    use liblinux::abi::signal::SIGSEGV;
    use os::Env;

    use crate::arch::{self, MAX_REGS, REGS, Regs};
    use crate::mm::Pool;
    use crate::mm::map::Access;
    use crate::process::{Process, Sys};
    use crate::syscall::{self, Action};

    /// Where the server maps frames to fill them: far above its own image,
    /// below its IPC buffer (`libipc::abi::root_layout`).
    const WINDOW: u64 = 0x8000_0000;

    /// SIGILL and SIGTRAP, for reports.
    const SIGILL: u32 = 4;
    const SIGTRAP: u32 = 5;

    rt::entry!(main);

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

    fn main(boot: &'static BootInfo) {
        let archive = match BootArchive::parse(rt::boot_archive(boot)) {
            Ok(a) => a,
            Err(e) => {
                rt::println!("linux: the boot archive does not parse: {e}");
                return;
            }
        };
        let cmdline = archive
            .entries()
            .find(|e| e.kind == EntryKind::Cmdline)
            .and_then(|e| core::str::from_utf8(e.data).ok())
            .unwrap_or("");
        let strace = cmdline.split_ascii_whitespace().any(|w| w == "linux.strace");
        let mut env = match Env::from_boot(boot, init::CNODE, init::VSPACE, WINDOW) {
            Ok(e) => e,
            Err(e) => {
                rt::println!("linux: cannot set up: {e}");
                return;
            }
        };
        let ep: Cap<Endpoint> = match env.alloc(0) {
            Ok(ep) => ep,
            Err(e) => {
                rt::println!("linux: no endpoint: {e}");
                return;
            }
        };
        let mut sys = Sys { env, pool: Pool::new(), ep, strace };
        let programs =
            archive.entries().filter(|e| e.kind == EntryKind::Program && e.name != "init");
        rt::println!(
            "linux: Linux-ABI server on {}, {} programs to run{}",
            arch::NAME,
            programs.count(),
            if strace { " (linux.strace)" } else { "" }
        );
        let (mut ran, mut ok) = (0, 0);
        let mut pid = 1;
        for e in archive.entries().filter(|e| e.kind == EntryKind::Program && e.name != "init") {
            ran += 1;
            let mut p = match Process::load(&mut sys, pid, e.name, e.data) {
                Ok(p) => p,
                Err(err) => {
                    rt::println!("linux: {} not started: {err}", e.name);
                    continue;
                }
            };
            if let Err(err) = p.start(&mut sys) {
                rt::println!("linux: {} not started: {err}", e.name);
                p.end(&mut sys);
                continue;
            }
            pid += 1;
            let end = serve(&mut sys, &mut p);
            p.end(&mut sys);
            match end {
                End::Exited(s) => {
                    rt::println!("linux: {} exited with status {s}", p.name);
                    if s == 0 {
                        ok += 1;
                    }
                }
                End::Killed(sig) => {
                    rt::println!("linux: {} killed by signal {sig} ({})", p.name, signal_name(sig))
                }
            }
            rt::println!(
                "linux: {}: {} syscalls, {} page faults, {} KiB of memory free in the server",
                p.name,
                p.syscalls,
                p.mm.faults,
                sys.env.mem.free_bytes() >> 10
            );
        }
        rt::println!("linux: done: {ran} programs, {ok} exited with status 0");
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
                    rt::println!("linux: receiving on the fault endpoint failed: {}", e.as_str());
                    return End::Killed(SIGTRAP);
                }
            };
            if m.badge != p.pid {
                rt::println!("linux: a message with badge {} (no such process): ignored", m.badge);
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
                    rt::println!("linux: {}: syscall fault with {} words only", p.name, m.len());
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
                            "linux: {}: SIGSEGV: {} of {addr:#x} at pc {pc:#x}: {why}",
                            p.name,
                            access.name()
                        );
                        Err(End::Killed(SIGSEGV))
                    }
                }
            }
            Some(FaultKind::IllegalInstruction) => {
                p.console.flush();
                rt::println!(
                    "linux: {}: SIGILL: illegal instruction at pc {:#x}",
                    p.name,
                    m.word(0)
                );
                Err(End::Killed(SIGILL))
            }
            other => {
                p.console.flush();
                rt::println!(
                    "linux: {}: SIGTRAP: {} at pc {:#x} (cause {:#x}, detail {:#x})",
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
