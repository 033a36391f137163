//! Process and thread state: exit, ids, the thread-id address, the thread
//! pointer.

use liblinux::errno::{EINVAL, EPERM};

use super::{Action, Call, err};
use crate::process::{Process, Sys};

/// `exit(status)` and `exit_group(status)`: one thread per process, so both
/// end the process with `status & 0xff`.
pub fn exit(_: &mut Process, _: &mut Sys, c: &mut Call) -> Action {
    Action::Exit(c.args[0] as u8)
}

/// `getpid()`, `gettid()`: the process id (one thread per process: its
/// thread id is the same).
pub fn getpid(p: &mut Process, _: &mut Sys, _: &mut Call) -> Action {
    Action::Return(p.pid)
}

/// `getuid()`, `geteuid()`, `getgid()`, `getegid()`: 0, as the auxiliary
/// vector says (`AT_UID` and friends). There are no users yet.
pub fn getuid(_: &mut Process, _: &mut Sys, _: &mut Call) -> Action {
    Action::Return(0)
}

/// `set_tid_address(tidptr)`: remember it (for the day threads exit on
/// their own) and return the thread id, which is the pid.
pub fn set_tid_address(p: &mut Process, _: &mut Sys, c: &mut Call) -> Action {
    p.clear_child_tid = c.args[0];
    Action::Return(p.pid)
}

/// `arch_prctl(code, addr)` (x86_64): set or read the FS base. The reply
/// carries every register, the FS base among them (`fs_base`, the last of
/// the x86_64 order), so setting it is changing that register; the kernel
/// stores a value outside the user half as 0, which is refused here first
/// with EPERM, as Linux does.
pub fn arch_prctl(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    use liblinux::abi::arch_prctl::{ARCH_GET_FS, ARCH_SET_FS};
    let (code, addr) = (c.args[0], c.args[1]);
    match code {
        ARCH_SET_FS => {
            if addr >= os::layout::user_end(os::elf::Machine::native()) {
                return err(EPERM);
            }
            c.regs.set_tls(addr);
            Action::Return(0)
        }
        ARCH_GET_FS => {
            let fs = c.regs.tls().to_le_bytes();
            match p.mm.write(&mut sys.env, &mut sys.pool, addr, &fs) {
                Ok(()) => Action::Return(0),
                Err(_) => err(liblinux::errno::EFAULT),
            }
        }
        _ => {
            rt::println!("{}: arch_prctl code {code:#x} not implemented: EINVAL", p.name);
            err(EINVAL)
        }
    }
}
