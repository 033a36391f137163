//! Time: `clock_gettime`, `clock_getres`, `gettimeofday`, all from the
//! user-readable counter at the rate in the server's start info
//! (`crate::clock`). There is no real-time clock: `CLOCK_REALTIME` and
//! `gettimeofday` count from boot, like `CLOCK_MONOTONIC`. Sleeping
//! (`nanosleep`, `clock_nanosleep`) is not implemented (ENOSYS).

use liblinux::abi::Timezone;
use liblinux::abi::clock::{
    CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_MONOTONIC_COARSE, CLOCK_MONOTONIC_RAW, CLOCK_REALTIME,
    CLOCK_REALTIME_COARSE,
};
use liblinux::errno::{EFAULT, EINVAL};
use zerocopy::IntoBytes;

use super::{Action, Call, err};
use crate::clock;
use crate::process::{Process, Sys};

/// Whether the server reads clock `id` (all from the one counter).
/// Per-process and per-thread CPU-time clocks, and dynamic (fd or pid)
/// clocks, are not kept: EINVAL.
fn known(id: u64) -> bool {
    matches!(
        id,
        CLOCK_REALTIME
            | CLOCK_MONOTONIC
            | CLOCK_MONOTONIC_RAW
            | CLOCK_REALTIME_COARSE
            | CLOCK_MONOTONIC_COARSE
            | CLOCK_BOOTTIME
    )
}

/// Copy `bytes` to the process at `va`: 0, or EFAULT.
fn put(p: &mut Process, sys: &mut Sys, va: u64, bytes: &[u8]) -> Action {
    match p.mm.write(&mut sys.env, &mut sys.pool, va, bytes) {
        Ok(()) => Action::Return(0),
        Err(_) => err(EFAULT),
    }
}

/// `clock_gettime(id, tp)`: the counter as seconds and nanoseconds since
/// boot; EINVAL for a clock it does not keep (or an unknown counter rate),
/// EFAULT if `tp` is not writable.
pub fn clock_gettime(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    if !known(c.args[0]) {
        return err(EINVAL);
    }
    match clock::timespec(libipc::sys::arch::clock(), sys.clock_hz) {
        Some(t) => put(p, sys, c.args[1], t.as_bytes()),
        None => err(EINVAL),
    }
}

/// `clock_getres(id, res)`: one counter tick, rounded up to nanoseconds;
/// `res` may be NULL (only the clock id is checked).
pub fn clock_getres(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    if !known(c.args[0]) {
        return err(EINVAL);
    }
    match (clock::resolution(sys.clock_hz), c.args[1]) {
        (None, _) => err(EINVAL),
        (Some(_), 0) => Action::Return(0),
        (Some(r), va) => put(p, sys, va, r.as_bytes()),
    }
}

/// `gettimeofday(tv, tz)`: `CLOCK_REALTIME` (since boot) in microseconds;
/// the obsolete time zone, if asked for, is UTC. Either pointer may be
/// NULL.
pub fn gettimeofday(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let (tv, tz) = (c.args[0], c.args[1]);
    if tv != 0 {
        let Some(t) = clock::timeval(libipc::sys::arch::clock(), sys.clock_hz) else {
            return err(EINVAL);
        };
        if let r @ Action::Return(v) = put(p, sys, tv, t.as_bytes())
            && v != 0
        {
            return r;
        }
    }
    if tz != 0 {
        return put(p, sys, tz, Timezone::default().as_bytes());
    }
    Action::Return(0)
}
