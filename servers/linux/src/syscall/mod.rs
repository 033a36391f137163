//! Linux syscalls: the dispatch table from syscall to handler ([`TABLE`])
//! and the handlers, by subject (`io`, `mem`, `task`, `info`, `time`).
//!
//! A handler gets the process, the server's resources and the call (its
//! arguments and the thread's registers, which it may change, as
//! `arch_prctl` does with the thread pointer) and says what happens next
//! ([`Action`]). A syscall without a handler, or a number Linux does not
//! have, returns `-ENOSYS` and is logged (`[linux] <program>: syscall <name>
//! (<nr>) not implemented: ENOSYS`). To add one: write the handler and add
//! a line to [`TABLE`]; `liblinux::Sysno` has the numbers of both arches.

mod info;
mod io;
mod mem;
mod task;
mod time;

use liblinux::Sysno;
use liblinux::errno::{self, ENOSYS};

use crate::arch::{LINUX_ARCH, Regs};
use crate::process::{Process, Sys};

/// What happens after a syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return this value (or `-errno`) to the process.
    Return(u64),
    /// The process ends with this exit status (`exit`, `exit_group`).
    Exit(u8),
}

/// One syscall as it arrived.
pub struct Call {
    pub args: [u64; 6],
    /// The thread's registers: the reply sets them all.
    pub regs: Regs,
}

type Handler = fn(&mut Process, &mut Sys, &mut Call) -> Action;

/// The syscalls the server implements.
const TABLE: &[(Sysno, Handler)] = &[
    (Sysno::Read, io::read),
    (Sysno::Readv, io::readv),
    (Sysno::Write, io::write),
    (Sysno::Writev, io::writev),
    (Sysno::Ioctl, io::ioctl),
    (Sysno::Brk, mem::brk),
    (Sysno::Mmap, mem::mmap),
    (Sysno::Munmap, mem::munmap),
    (Sysno::Mprotect, mem::mprotect),
    (Sysno::Exit, task::exit),
    (Sysno::ExitGroup, task::exit),
    (Sysno::Getpid, task::getpid),
    (Sysno::Gettid, task::getpid),
    (Sysno::Getuid, task::getuid),
    (Sysno::Geteuid, task::getuid),
    (Sysno::Getgid, task::getuid),
    (Sysno::Getegid, task::getuid),
    (Sysno::SetTidAddress, task::set_tid_address),
    (Sysno::ArchPrctl, task::arch_prctl),
    (Sysno::Uname, info::uname),
    (Sysno::ClockGettime, time::clock_gettime),
    (Sysno::ClockGetres, time::clock_getres),
    (Sysno::Gettimeofday, time::gettimeofday),
];

/// Most ENOSYS lines logged per process.
const ENOSYS_LOG_MAX: u32 = 16;

/// `-errno` as a return value.
pub const fn err(e: i32) -> Action {
    Action::Return(errno::ret(e))
}

/// Handle the syscall in `regs`; on return the registers hold its result.
pub fn dispatch(p: &mut Process, sys: &mut Sys, regs: &mut Regs) -> Action {
    let nr = regs.syscall_nr();
    let args = regs.syscall_args();
    p.syscalls += 1;
    let sysno = Sysno::from_number(LINUX_ARCH, nr);
    let handler = sysno.and_then(|s| TABLE.iter().find(|(t, _)| *t == s)).map(|(_, h)| *h);
    let action = match (sysno, handler) {
        (Some(_), Some(h)) => {
            let mut call = Call { args, regs: *regs };
            let a = h(p, sys, &mut call);
            *regs = call.regs;
            a
        }
        (known, _) => {
            if p.enosys_logged < ENOSYS_LOG_MAX {
                p.enosys_logged += 1;
                match known {
                    Some(s) => rt::println!(
                        "{}: syscall {} ({}) not implemented: ENOSYS",
                        p.name,
                        s.name(),
                        nr
                    ),
                    None => rt::println!(
                        "{}: unknown syscall {} on {}: ENOSYS",
                        p.name,
                        nr,
                        LINUX_ARCH.name()
                    ),
                }
                if p.enosys_logged == ENOSYS_LOG_MAX {
                    rt::println!("{}: (further ENOSYS lines left out)", p.name);
                }
            }
            err(ENOSYS)
        }
    };
    if sys.strace {
        trace(p, sysno, nr, &args, action);
    }
    if let Action::Return(v) = action {
        regs.set_result(v);
    }
    action
}

/// One `strace` line: `[linux] hello: writev(0x1, 0x3ffefffe40, 0x2) = 0x2d`.
fn trace(p: &Process, sysno: Option<Sysno>, nr: u64, args: &[u64; 6], action: Action) {
    use core::fmt::Write;
    let mut line = alloc::string::String::new();
    let _ = match sysno {
        Some(s) => write!(line, "{}: {}(", p.name, s.name()),
        None => write!(line, "{}: syscall_{}(", p.name, nr),
    };
    for (i, a) in args.iter().take(arg_count(sysno)).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(line, "{sep}{a:#x}");
    }
    let _ = match action {
        Action::Return(v) => match errno::of(v) {
            Some(e) => write!(line, ") = -{e}"),
            None => write!(line, ") = {v:#x}"),
        },
        Action::Exit(s) => write!(line, ") = ? (exit {s})"),
    };
    rt::println!("{line}");
}

/// How many arguments to show in a trace line.
fn arg_count(s: Option<Sysno>) -> usize {
    match s {
        Some(
            Sysno::Getpid
            | Sysno::Gettid
            | Sysno::Getuid
            | Sysno::Geteuid
            | Sysno::Getgid
            | Sysno::Getegid,
        ) => 0,
        Some(Sysno::Exit | Sysno::ExitGroup | Sysno::Brk | Sysno::SetTidAddress | Sysno::Uname) => {
            1
        }
        Some(
            Sysno::Munmap
            | Sysno::ArchPrctl
            | Sysno::ClockGettime
            | Sysno::ClockGetres
            | Sysno::Gettimeofday,
        ) => 2,
        Some(
            Sysno::Read
            | Sysno::Readv
            | Sysno::Write
            | Sysno::Writev
            | Sysno::Ioctl
            | Sysno::Mprotect,
        ) => 3,
        Some(Sysno::RtSigprocmask | Sysno::RtSigaction) => 4,
        _ => 6,
    }
}
