//! What the system says about itself: `uname`.

use liblinux::abi::{UTSNAME_LEN, Utsname};
use liblinux::errno::EFAULT;
use zerocopy::IntoBytes;

use super::{Action, Call, err};
use crate::arch;
use crate::process::{Process, Sys};

/// The Linux release `uname` reports. C libraries and programs compare it
/// with the kernel version a feature needs; the server implements only
/// the syscalls of `docs/linux.md`, whatever the number says, and answers
/// ENOSYS for the rest.
pub const RELEASE: &str = "6.1.0-rint";

/// `uname`'s version: rint's.
const VERSION: &str = concat!("rint ", env!("CARGO_PKG_VERSION"));

/// `s` as a NUL-terminated `utsname` field (cut to fit).
fn field(s: &str) -> [u8; UTSNAME_LEN] {
    let mut f = [0u8; UTSNAME_LEN];
    let n = s.len().min(UTSNAME_LEN - 1);
    if let (Some(dst), Some(src)) = (f.get_mut(..n), s.as_bytes().get(..n)) {
        dst.copy_from_slice(src);
    }
    f
}

/// `uname(buf)`: Linux, on the node `rint`, this machine.
pub fn uname(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let u = Utsname {
        sysname: field("Linux"),
        nodename: field("rint"),
        release: field(RELEASE),
        version: field(VERSION),
        machine: field(arch::NAME),
        domainname: field("(none)"),
    };
    match p.mm.write(&mut sys.env, &mut sys.pool, c.args[0], u.as_bytes()) {
        Ok(()) => Action::Return(0),
        Err(_) => err(EFAULT),
    }
}
