//! Memory: the heap (`brk`) and anonymous private mappings (`mmap`,
//! `munmap`, `mprotect`). Nothing is mapped here: the syscalls change the
//! process's regions and pages appear on first touch (`crate::mm`), zeroed.
//! rint maps W^X, so a mapping both writable and executable is refused
//! (EACCES, logged).

use liblinux::abi::mman::*;
use liblinux::errno::{EACCES, EEXIST, EINVAL, ENODEV, ENOMEM};
use os::elf::Machine;
use os::layout::{PAGE, Range, page_ceil, user_end};

use super::{Action, Call, err};
use crate::layout::{BRK_MAX, ELF_MIN, MMAP_AREA};
use crate::mm::map::{Backing, Kind, Region, page_range};
use crate::process::{Process, Sys};

const USER_END: u64 = user_end(Machine::native());

/// W+X is refused: log it.
fn write_and_exec(p: &Process, what: &str, prot: u64) -> bool {
    let wx = prot & PROT_WRITE != 0 && prot & PROT_EXEC != 0;
    if wx {
        rt::println!("{}: {what} writable and executable refused (rint maps W^X): EACCES", p.name);
    }
    wx
}

/// `brk(addr)`: move the end of the heap; returns the new end, or the old
/// one if `addr` is 0 or cannot be had.
pub fn brk(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let addr = c.args[0];
    if addr < p.brk_start || addr - p.brk_start > BRK_MAX {
        return Action::Return(p.brk);
    }
    let (Some(old_end), Some(new_end)) = (page_ceil(p.brk), page_ceil(addr)) else {
        return Action::Return(p.brk);
    };
    if new_end > old_end {
        let grow = Range::new(old_end, new_end);
        if !p.mm.regions.is_free(grow) {
            return Action::Return(p.brk);
        }
        let heap = Region {
            range: grow,
            prot: PROT_READ | PROT_WRITE,
            kind: Kind::Heap,
            backing: Backing::Zero,
        };
        if p.mm.regions.insert(heap).is_err() {
            return Action::Return(p.brk);
        }
    } else if new_end < old_end
        && p.mm.unmap(&mut sys.env, &mut sys.pool, Range::new(new_end, old_end)).is_err()
    {
        return Action::Return(p.brk);
    }
    p.brk = addr;
    Action::Return(addr)
}

/// `mmap(addr, length, prot, flags, fd, offset)`: anonymous private
/// mappings, anywhere (top down in the mmap area, or at a free hint),
/// `MAP_FIXED` (replacing what is there) or `MAP_FIXED_NOREPLACE`. File and
/// shared mappings are not implemented yet (logged).
pub fn mmap(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [addr, len, prot, flags, fd, _offset] = c.args;
    if len == 0 {
        return err(EINVAL);
    }
    let Some(len) = page_ceil(len) else { return err(ENOMEM) };
    if flags & MAP_ANONYMOUS == 0 {
        rt::println!("{}: mmap of file descriptor {} not implemented: ENODEV", p.name, fd as i64);
        return err(ENODEV);
    }
    if flags & MAP_TYPE != MAP_PRIVATE {
        rt::println!(
            "{}: mmap flags {flags:#x}: only private mappings are implemented: EINVAL",
            p.name
        );
        return err(EINVAL);
    }
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return err(EINVAL);
    }
    if write_and_exec(p, "mmap", prot) {
        return err(EACCES);
    }
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    let wanted = Range::sized(addr, len)
        .filter(|r| addr.is_multiple_of(PAGE) && r.start >= ELF_MIN && r.end <= USER_END);
    let range = if fixed {
        let Some(r) = wanted else { return err(EINVAL) };
        if !p.mm.regions.is_free(r) {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return err(EEXIST);
            }
            if p.mm.unmap(&mut sys.env, &mut sys.pool, r).is_err() {
                return err(ENOMEM);
            }
        }
        r
    } else {
        match wanted.filter(|r| addr != 0 && p.mm.regions.is_free(*r)) {
            Some(r) => r,
            None => match p.mm.regions.find_free(len, MMAP_AREA) {
                Some(start) => Range::new(start, start + len),
                None => return err(ENOMEM),
            },
        }
    };
    let region = Region { range, prot, kind: Kind::Mmap, backing: Backing::Zero };
    match p.mm.regions.insert(region) {
        Ok(()) => Action::Return(range.start),
        Err(_) => err(ENOMEM),
    }
}

/// `munmap(addr, length)`.
pub fn munmap(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [addr, len, ..] = c.args;
    let Some(range) = page_range(addr, len) else { return err(EINVAL) };
    if range.end > USER_END {
        return err(EINVAL);
    }
    match p.mm.unmap(&mut sys.env, &mut sys.pool, range) {
        Ok(()) => Action::Return(0),
        Err(_) => err(ENOMEM),
    }
}

/// `mprotect(addr, length, prot)`: regions must cover the range (ENOMEM
/// otherwise, as Linux).
pub fn mprotect(p: &mut Process, sys: &mut Sys, c: &mut Call) -> Action {
    let [addr, len, prot, ..] = c.args;
    if !addr.is_multiple_of(PAGE) || prot & !(PROT_READ | PROT_WRITE | PROT_EXEC) != 0 {
        return err(EINVAL);
    }
    if len == 0 {
        return Action::Return(0);
    }
    let Some(range) = page_range(addr, len) else { return err(ENOMEM) };
    if write_and_exec(p, "mprotect", prot) {
        return err(EACCES);
    }
    if !p.mm.regions.covers(range) {
        return err(ENOMEM);
    }
    match p.mm.protect(&mut sys.env, &mut sys.pool, range, prot) {
        Ok(()) => Action::Return(0),
        Err(_) => err(ENOMEM),
    }
}
