//! Linux syscall numbers, per arch.
//!
//! x86_64 has its own table (`arch/x86/entry/syscalls/syscall_64.tbl`);
//! riscv64 uses the generic one (`include/uapi/asm-generic/unistd.h`), which
//! leaves out the old calls that have an `*at` or newer form (`open`,
//! `stat`, `pipe`, `fork`, ...). [`Sysno`] names a syscall independently of
//! the arch; [`Sysno::number`] and [`Sysno::from_number`] translate for one
//! arch. Every number is written once, in the table below.

use core::fmt;

/// An architecture whose Linux syscall numbers this module knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    /// riscv64: the asm-generic table.
    Riscv64,
}

impl Arch {
    /// The arch this crate is compiled for, if it is one of the above.
    #[cfg(target_arch = "x86_64")]
    pub const NATIVE: Option<Arch> = Some(Arch::X86_64);
    #[cfg(target_arch = "riscv64")]
    pub const NATIVE: Option<Arch> = Some(Arch::Riscv64);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "riscv64")))]
    pub const NATIVE: Option<Arch> = None;

    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Riscv64 => "riscv64",
        }
    }
}

/// Marks a syscall an arch does not have.
const NA: i32 = -1;

macro_rules! sysnos {
    ($($(#[$m:meta])* $v:ident = $name:literal, $x86:expr, $rv:expr;)+) => {
        /// A Linux syscall, by name. Not every arch has every one
        /// ([`Sysno::number`] is `None` there).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Sysno { $($(#[$m])* $v,)+ }

        impl Sysno {
            /// Every syscall this module knows.
            pub const ALL: &'static [Sysno] = &[$(Sysno::$v,)+];

            /// The name in the kernel's tables (`"write"`, `"exit_group"`).
            pub const fn name(self) -> &'static str {
                match self { $(Sysno::$v => $name,)+ }
            }

            /// `(x86_64, riscv64)` numbers, [`NA`] where absent.
            const fn raw(self) -> (i32, i32) {
                match self { $(Sysno::$v => ($x86, $rv),)+ }
            }
        }
    };
}

sysnos! {
    Read = "read", 0, 63;
    Write = "write", 1, 64;
    Open = "open", 2, NA;
    Close = "close", 3, 57;
    Stat = "stat", 4, NA;
    Fstat = "fstat", 5, 80;
    Lstat = "lstat", 6, NA;
    Poll = "poll", 7, NA;
    Lseek = "lseek", 8, 62;
    Mmap = "mmap", 9, 222;
    Mprotect = "mprotect", 10, 226;
    Munmap = "munmap", 11, 215;
    Brk = "brk", 12, 214;
    RtSigaction = "rt_sigaction", 13, 134;
    RtSigprocmask = "rt_sigprocmask", 14, 135;
    RtSigreturn = "rt_sigreturn", 15, 139;
    Ioctl = "ioctl", 16, 29;
    Pread64 = "pread64", 17, 67;
    Pwrite64 = "pwrite64", 18, 68;
    Readv = "readv", 19, 65;
    Writev = "writev", 20, 66;
    Access = "access", 21, NA;
    Pipe = "pipe", 22, NA;
    Select = "select", 23, NA;
    SchedYield = "sched_yield", 24, 124;
    Mremap = "mremap", 25, 216;
    Msync = "msync", 26, 227;
    Madvise = "madvise", 28, 233;
    Dup = "dup", 32, 23;
    Dup2 = "dup2", 33, NA;
    Nanosleep = "nanosleep", 35, 101;
    Getpid = "getpid", 39, 172;
    Socket = "socket", 41, 198;
    Connect = "connect", 42, 203;
    Accept = "accept", 43, 202;
    Sendto = "sendto", 44, 206;
    Recvfrom = "recvfrom", 45, 207;
    Bind = "bind", 49, 200;
    Listen = "listen", 50, 201;
    Clone = "clone", 56, 220;
    Fork = "fork", 57, NA;
    Vfork = "vfork", 58, NA;
    Execve = "execve", 59, 221;
    Exit = "exit", 60, 93;
    Wait4 = "wait4", 61, 260;
    Kill = "kill", 62, 129;
    Uname = "uname", 63, 160;
    Fcntl = "fcntl", 72, 25;
    Fsync = "fsync", 74, 82;
    Ftruncate = "ftruncate", 77, 46;
    Getcwd = "getcwd", 79, 17;
    Chdir = "chdir", 80, 49;
    Fchdir = "fchdir", 81, 50;
    Rename = "rename", 82, NA;
    Mkdir = "mkdir", 83, NA;
    Rmdir = "rmdir", 84, NA;
    Unlink = "unlink", 87, NA;
    Readlink = "readlink", 89, NA;
    Umask = "umask", 95, 166;
    Gettimeofday = "gettimeofday", 96, 169;
    Getrlimit = "getrlimit", 97, 163;
    Getrusage = "getrusage", 98, 165;
    Sysinfo = "sysinfo", 99, 179;
    Times = "times", 100, 153;
    Getuid = "getuid", 102, 174;
    Getgid = "getgid", 104, 176;
    Geteuid = "geteuid", 107, 175;
    Getegid = "getegid", 108, 177;
    Setpgid = "setpgid", 109, 154;
    Getppid = "getppid", 110, 173;
    Setsid = "setsid", 112, 157;
    Getpgid = "getpgid", 121, 155;
    Sigaltstack = "sigaltstack", 131, 132;
    Prctl = "prctl", 157, 167;
    /// x86_64 only: FS/GS base (riscv64 programs set `tp` themselves).
    ArchPrctl = "arch_prctl", 158, NA;
    Setrlimit = "setrlimit", 160, 164;
    Gettid = "gettid", 186, 178;
    Tkill = "tkill", 200, 130;
    Futex = "futex", 202, 98;
    Getdents64 = "getdents64", 217, 61;
    SetTidAddress = "set_tid_address", 218, 96;
    ClockGettime = "clock_gettime", 228, 113;
    ClockGetres = "clock_getres", 229, 114;
    ClockNanosleep = "clock_nanosleep", 230, 115;
    ExitGroup = "exit_group", 231, 94;
    EpollCtl = "epoll_ctl", 233, 21;
    Tgkill = "tgkill", 234, 131;
    Waitid = "waitid", 247, 95;
    Openat = "openat", 257, 56;
    Mkdirat = "mkdirat", 258, 34;
    Newfstatat = "newfstatat", 262, 79;
    Unlinkat = "unlinkat", 263, 35;
    Renameat = "renameat", 264, 38;
    Linkat = "linkat", 265, 37;
    Readlinkat = "readlinkat", 267, 78;
    Faccessat = "faccessat", 269, 48;
    Pselect6 = "pselect6", 270, 72;
    Ppoll = "ppoll", 271, 73;
    SetRobustList = "set_robust_list", 273, 99;
    GetRobustList = "get_robust_list", 274, 100;
    Utimensat = "utimensat", 280, 88;
    EpollPwait = "epoll_pwait", 281, 22;
    Accept4 = "accept4", 288, 242;
    Eventfd2 = "eventfd2", 290, 19;
    EpollCreate1 = "epoll_create1", 291, 20;
    Dup3 = "dup3", 292, 24;
    Pipe2 = "pipe2", 293, 59;
    Prlimit64 = "prlimit64", 302, 261;
    Getrandom = "getrandom", 318, 278;
    MemfdCreate = "memfd_create", 319, 279;
    Statx = "statx", 332, 291;
    Rseq = "rseq", 334, 293;
    Clone3 = "clone3", 435, 435;
    Faccessat2 = "faccessat2", 439, 439;
    /// riscv64 only (`__NR_arch_specific_syscall + 14`).
    RiscvHwprobe = "riscv_hwprobe", NA, 258;
    /// riscv64 only (`__NR_arch_specific_syscall + 15`).
    RiscvFlushIcache = "riscv_flush_icache", NA, 259;
}

impl Sysno {
    /// This syscall's number on `arch`, if the arch has it.
    pub const fn number(self, arch: Arch) -> Option<u64> {
        let (x86, rv) = self.raw();
        let n = match arch {
            Arch::X86_64 => x86,
            Arch::Riscv64 => rv,
        };
        if n < 0 { None } else { Some(n as u64) }
    }

    /// The syscall `nr` is on `arch`; `None` for a number this module does
    /// not know (which may still be a real Linux syscall).
    pub fn from_number(arch: Arch, nr: u64) -> Option<Sysno> {
        Sysno::ALL.iter().copied().find(|s| s.number(arch) == Some(nr))
    }
}

impl fmt::Display for Sysno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample checked against the kernel's tables (syscall_64.tbl and
    /// asm-generic/unistd.h), written out independently of the table above.
    #[test]
    fn known_numbers() {
        let x86 = [
            (Sysno::Read, 0),
            (Sysno::Write, 1),
            (Sysno::Close, 3),
            (Sysno::Mmap, 9),
            (Sysno::Munmap, 11),
            (Sysno::Brk, 12),
            (Sysno::RtSigaction, 13),
            (Sysno::RtSigprocmask, 14),
            (Sysno::Ioctl, 16),
            (Sysno::Writev, 20),
            (Sysno::Getpid, 39),
            (Sysno::Exit, 60),
            (Sysno::Uname, 63),
            (Sysno::ArchPrctl, 158),
            (Sysno::Gettid, 186),
            (Sysno::Futex, 202),
            (Sysno::SetTidAddress, 218),
            (Sysno::ClockGettime, 228),
            (Sysno::ExitGroup, 231),
            (Sysno::Openat, 257),
            (Sysno::Newfstatat, 262),
            (Sysno::SetRobustList, 273),
            (Sysno::Prlimit64, 302),
            (Sysno::Getrandom, 318),
            (Sysno::Rseq, 334),
            (Sysno::Clone3, 435),
        ];
        for (s, n) in x86 {
            assert_eq!(s.number(Arch::X86_64), Some(n), "x86_64 {s}");
            assert_eq!(Sysno::from_number(Arch::X86_64, n), Some(s));
        }
        let rv = [
            (Sysno::Getcwd, 17),
            (Sysno::Ioctl, 29),
            (Sysno::Openat, 56),
            (Sysno::Close, 57),
            (Sysno::Read, 63),
            (Sysno::Write, 64),
            (Sysno::Writev, 66),
            (Sysno::Fstat, 80),
            (Sysno::Exit, 93),
            (Sysno::ExitGroup, 94),
            (Sysno::SetTidAddress, 96),
            (Sysno::Futex, 98),
            (Sysno::ClockGettime, 113),
            (Sysno::RtSigaction, 134),
            (Sysno::RtSigprocmask, 135),
            (Sysno::Uname, 160),
            (Sysno::Getpid, 172),
            (Sysno::Gettid, 178),
            (Sysno::Brk, 214),
            (Sysno::Munmap, 215),
            (Sysno::Clone, 220),
            (Sysno::Mmap, 222),
            (Sysno::Mprotect, 226),
            (Sysno::Getrandom, 278),
            (Sysno::RiscvFlushIcache, 259),
        ];
        for (s, n) in rv {
            assert_eq!(s.number(Arch::Riscv64), Some(n), "riscv64 {s}");
            assert_eq!(Sysno::from_number(Arch::Riscv64, n), Some(s));
        }
    }

    #[test]
    fn absent_on_one_arch() {
        for s in [Sysno::Open, Sysno::Stat, Sysno::Fork, Sysno::Pipe, Sysno::ArchPrctl] {
            assert!(s.number(Arch::X86_64).is_some(), "{s}");
            assert_eq!(s.number(Arch::Riscv64), None, "{s}");
        }
        assert_eq!(Sysno::RiscvHwprobe.number(Arch::X86_64), None);
        assert_eq!(Sysno::from_number(Arch::X86_64, 100_000), None);
    }

    /// No two syscalls share a number on one arch, and names are unique.
    #[test]
    fn numbers_are_unique() {
        for arch in [Arch::X86_64, Arch::Riscv64] {
            for (i, a) in Sysno::ALL.iter().enumerate() {
                for b in &Sysno::ALL[i + 1..] {
                    if let (Some(x), Some(y)) = (a.number(arch), b.number(arch)) {
                        assert_ne!(x, y, "{a} and {b} on {}", arch.name());
                    }
                    assert_ne!(a.name(), b.name());
                }
            }
        }
    }
}
