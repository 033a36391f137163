//! Standard input, output and error: the only files a process has yet.
//! fds 1 and 2 write to the rint console ([`crate::console`]); reading fds
//! 0-2 finds end of file (the console has no input for Linux programs
//! yet); fds 0-2 are a terminal to `ioctl`. Any other fd is EBADF.

use liblinux::abi::ioctl::{TCGETS, TIOCGWINSZ};
use liblinux::abi::{Iovec, Termios, UIO_MAXIOV, Winsize, termios};
use liblinux::errno::{EBADF, EFAULT, EINVAL, ENOTTY};
use zerocopy::{FromBytes, IntoBytes};

use super::{Action, Call, err};
use crate::process::{Process, Sys};

/// Bytes copied out of the process per step.
const CHUNK: usize = 512;

/// Whether `fd` is standard output (false) or error (true); `None` for any
/// other fd.
fn output(fd: u64) -> Option<bool> {
    match fd {
        1 => Some(false),
        2 => Some(true),
        _ => None,
    }
}

/// Copy `len` bytes at `buf` to the console; the bytes written, or EFAULT
/// if none could be read.
fn put(p: &mut Process, sys: &mut Sys, stderr: bool, buf: u64, len: u64) -> Result<u64, i32> {
    let mut done = 0u64;
    let mut chunk = [0u8; CHUNK];
    while done < len {
        let n = (len - done).min(CHUNK as u64) as usize;
        let Some(bytes) = chunk.get_mut(..n) else { break };
        let at = buf.checked_add(done).ok_or(EFAULT)?;
        if p.mm.read(&mut sys.env, &mut sys.pool, at, bytes).is_err() {
            // Linux returns what it wrote before the bad address.
            return if done == 0 { Err(EFAULT) } else { Ok(done) };
        }
        p.console.write(stderr, bytes);
        done += n as u64;
    }
    Ok(done)
}

/// Entry `i` of the process's iovec array at `iov`; `None` where it is
/// not readable.
fn iovec(p: &mut Process, sys: &mut Sys, iov: u64, i: u64) -> Option<Iovec> {
    let mut raw = [0u8; size_of::<Iovec>()];
    let at = iov.wrapping_add(i * size_of::<Iovec>() as u64);
    p.mm.read(&mut sys.env, &mut sys.pool, at, &mut raw).ok()?;
    Iovec::read_from_bytes(&raw).ok()
}

/// `write(fd, buf, count)`.
pub fn write(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [fd, buf, count, ..] = c.args;
    let Some(stderr) = output(fd) else { return err(EBADF) };
    match put(p, sys, stderr, buf, count) {
        Ok(n) => Action::Return(n),
        Err(e) => err(e),
    }
}

/// `writev(fd, iov, iovcnt)`.
pub fn writev(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [fd, iov, iovcnt, ..] = c.args;
    let Some(stderr) = output(fd) else { return err(EBADF) };
    if let Err(e) = check_iovecs(p, sys, iov, iovcnt) {
        return err(e);
    }
    let mut total = 0u64;
    for i in 0..iovcnt {
        let Some(v) = iovec(p, sys, iov, i) else {
            return if total == 0 { err(EFAULT) } else { Action::Return(total) };
        };
        if v.iov_len == 0 {
            continue;
        }
        match put(p, sys, stderr, v.iov_base, v.iov_len) {
            Ok(n) => {
                total += n;
                if n < v.iov_len {
                    break;
                }
            }
            Err(e) if total == 0 => return err(e),
            Err(_) => break,
        }
    }
    Action::Return(total)
}

/// Whether `fd` is one of the terminal's (0-2).
fn terminal(fd: u64) -> bool {
    fd <= 2
}

/// `read(fd, buf, count)` on fds 0-2: end of file (0). The console gives
/// Linux programs no input yet, and a read that waited for some would
/// never end; end of file lets a program that reads its input finish.
pub fn read(_: &mut Process, _: &mut Sys, c: &mut Call) -> Action {
    if !terminal(c.args[0]) {
        return err(EBADF);
    }
    Action::Return(0)
}

/// `readv(fd, iov, iovcnt)` on fds 0-2: as [`read`], after checking the
/// iovec array as Linux does (EINVAL for too many or a total length past
/// `ssize_t`, EFAULT where the array is not readable).
pub fn readv(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [fd, iov, iovcnt, ..] = c.args;
    if !terminal(fd) {
        return err(EBADF);
    }
    match check_iovecs(p, sys, iov, iovcnt) {
        Ok(()) => Action::Return(0),
        Err(e) => err(e),
    }
}

/// Check an iovec array as Linux does before any transfer: EINVAL for more
/// than `UIO_MAXIOV` entries or a total length past `ssize_t`, EFAULT where
/// the array is not readable.
fn check_iovecs(p: &mut Process, sys: &mut Sys, iov: u64, iovcnt: u64) -> Result<(), i32> {
    if iovcnt > UIO_MAXIOV {
        return Err(EINVAL);
    }
    let mut total = 0u64;
    for i in 0..iovcnt {
        let Some(v) = iovec(p, sys, iov, i) else { return Err(EFAULT) };
        total = match total.checked_add(v.iov_len) {
            Some(t) if t <= i64::MAX as u64 => t,
            _ => return Err(EINVAL),
        };
    }
    Ok(())
}

/// The console's size as `TIOCGWINSZ` reports it (the serial console has
/// none of its own: the conventional 80x24).
const WINSIZE: Winsize = Winsize { ws_row: 24, ws_col: 80, ws_xpixel: 0, ws_ypixel: 0 };

/// `ioctl(fd, request, arg)` on fds 0-2, a terminal: `TIOCGWINSZ` and
/// `TCGETS` (what a C library asks to decide a stream is interactive);
/// other requests are ENOTTY and logged.
pub fn ioctl(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [fd, request, arg, ..] = c.args;
    if !terminal(fd) {
        return err(EBADF);
    }
    let r = match request {
        TIOCGWINSZ => p.mm.write(&mut sys.env, &mut sys.pool, arg, WINSIZE.as_bytes()),
        TCGETS => {
            let t = Termios {
                c_iflag: termios::ICRNL | termios::IXON,
                c_oflag: termios::OPOST | termios::ONLCR,
                c_cflag: termios::B38400 | termios::CS8 | termios::CREAD,
                c_lflag: termios::ISIG
                    | termios::ICANON
                    | termios::ECHO
                    | termios::ECHOE
                    | termios::ECHOK
                    | termios::IEXTEN,
                c_line: 0,
                c_cc: [0; liblinux::abi::NCCS],
            };
            p.mm.write(&mut sys.env, &mut sys.pool, arg, t.as_bytes())
        }
        _ => {
            rt::println!(
                "{}: ioctl request {request:#x} on fd {fd} not implemented: ENOTTY",
                p.name
            );
            return err(ENOTTY);
        }
    };
    match r {
        Ok(()) => Action::Return(0),
        Err(_) => err(EFAULT),
    }
}
