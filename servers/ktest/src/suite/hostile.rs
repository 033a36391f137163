//! A hostile task: thousands of random syscalls with random arguments, run
//! first so that every later test shows the kernel survived them. 50,000
//! of them, or the required 10,000 where kernel entries are slow
//! ([`Env::slow_entries`]: under nested virtualisation each costs about a
//! millisecond).
//!
//! The hostile thread lives in its own VSpace and CSpace, both carved from
//! one untyped (the pool), as is everything else here:
//!
//! - Code: the root task's read-only segments, copied into fresh frames and
//!   mapped at their own addresses, and a private copy of its initialised
//!   data ([`crate::space::Image`]); `.bss` is not mapped, so
//!   [`hostile_main`] and [`victim_main`] touch no static. They get their
//!   parameters in registers.
//! - CSpace: a 16-slot CNode (radix 4) holding a cap to itself in slot 1,
//!   with no guard, so that a CPtr resolves through that self-reference 15
//!   times and then indexes slot `s`: CPtr `0x1111_1111_1111_111s`
//!   ([`cptr`]). (A cap minted with a guard would make plain slot numbers
//!   resolve; the self-reference is the harder case, for lookups 16 levels
//!   deep and for destruction, and the task can still mint guarded caps of
//!   its CNode and wander into them.) Its caps: an
//!   endpoint (2), a notification (3), a 64 KiB untyped (4), a frame (5), a
//!   page table (6, the sole cap, so it can be linked), a *victim* thread
//!   (7) and the victim's VSpace (8), a badged copy of the endpoint (9);
//!   10..15 start empty. No cap to its own thread or VSpace, none to the
//!   root task's objects, no IRQ or I/O-port authority.
//! - The victim: a thread in a third VSpace with its own CNode, serving the
//!   endpoint (echo replies) with a receive window, so sends, calls and cap
//!   transfers have a partner, and thread invocations hit a thread that is
//!   blocked, running, faulting or suspended.
//!
//! [`hostile_main`] runs a seeded xorshift loop: each iteration is one
//! syscall, either a well-formed invocation on a random cap with random
//! arguments, IPC on the endpoint or notification, an arbitrary syscall
//! number with arbitrary arguments, or a number that is no rint syscall
//! (an unknown-syscall fault). Arguments lean towards values that exist or
//! sit at limits (cptrs of the slots above, invocation labels, object types
//! and sizes, counts, rights, scheduling parameters, aligned, unaligned, kernel-half
//! and non-canonical addresses, `0`, `u64::MAX`), plus fully random words;
//! message-info words, IPC-buffer message words, `caps_or_badges` and the
//! receive window are randomised too. DebugWrite is held to at most three
//! dots or lengths the kernel refuses, so the log stays readable.
//!
//! The root task is the fault handler of both threads (through one endpoint,
//! by badge; each answer and the next receive in one `ReplyRecv`). An
//! unknown syscall is checked (pc past the syscall, a check word the
//! hostile task put in the sixth argument) and answered with a result the
//! hostile task checks in turn. Every [`EPOCH`] iterations the
//! hostile task asks (with a magic unknown syscall) for a refresh: the root
//! task revokes the small untyped (everything the hostile task made from
//! it), empties both CNodes, refills them and restarts the victim, so the
//! fuzzing keeps meeting live objects. A victim fault restarts the victim
//! (a bounded number of times per epoch).
//!
//! The hostile task can block forever (a receive nobody sends to, a call to
//! a suspended victim). A watchdog thread, round robin like the hostile
//! task (the suite's `env::CHILD_SCHED`), yields in a loop and watches the iteration counter the hostile task
//! keeps in a shared page: when it stands still while the watchdog gets the
//! CPU twice in a row, the hostile task is blocked (round robin runs a
//! ready hostile task between two turns of the watchdog, and it finishes an
//! iteration before its next syscall), and the watchdog suspends and
//! resumes it, which cancels the blocking syscall. Every thread here is
//! round robin without classification (no reservation can run ahead of
//! the watchdog), so this always works; after
//! [`MAX_IDLE_CANCELS`] cancels without progress, or [`MAX_ROUNDS`] rounds
//! in all, it reports a timeout, which fails the test. The root task's own
//! loop is bounded in messages.
//!
//! At the end the root task checks the counts (every syscall accounted
//! for, every result a known error code, every unknown syscall delivered
//! and answered intact, one refresh per epoch), prints them, revokes the
//! pool and retypes its two halves: that only works if nothing the hostile
//! task made survived anywhere.

use core::sync::atomic::{AtomicU64, Ordering};

use libipc::abi::{
    CPtr, CapType, Error, FAULT_LABEL_BASE, FaultKind, Invocation, MSG_MAX_WORDS,
    NOTIFICATION_LABEL, Rights, Syscall,
};
use libipc::cap::{CNode, Cap, Endpoint, Frame, Notification, Thread, Untyped, init};
use libipc::sys::{self, IpcBuf};
use rt::println;

use crate::arch::{self, KERNEL_ADDR, Page, REGION, regs};
use crate::env::{Env, RW, Rng, child_ctx, child_exit, mi};
use crate::fmt::{Fail, TestResult};
use crate::space::{self, Image, Pool, Space};

/// Syscalls the hostile task makes: at least 10,000; 50,000 where kernel
/// entries are not slow ([`Env::slow_entries`]).
const ITERATIONS: u64 = 50_000;
const MIN_ITERATIONS: u64 = 10_000;
/// Iterations between refreshes.
const EPOCH: u64 = 1000;
const SEED: u64 = 0x6b74_6573_745f_6831;
/// Victim restarts per epoch after faults (then it stays stopped).
const VICTIM_RESTARTS: u64 = 32;
/// Watchdog: rounds without progress before a cancel, cancels without
/// progress before a timeout, rounds in all before a timeout (a round is
/// at most a time slice of each thread at its priority, or a cancel).
const STILL_ROUNDS: u64 = 2;
const MAX_IDLE_CANCELS: u64 = 200;
const MAX_ROUNDS: u64 = 2_000_000;

/// The magic unknown syscall of the hostile task: number, first argument,
/// second argument one of the requests.
const MAGIC_NR: u64 = 0x6b74_6573_7400_0000;
const MAGIC_ARG: u64 = 0x686f_7374_696c_6521;
const REQ_EPOCH: u64 = 1;
const REQ_DONE: u64 = 2;
/// An unknown syscall carries `nr ^ CHECK` in its sixth argument; the
/// handler answers `answer(nr)`.
const CHECK: u64 = 0xc0ff_ee00_dead_beef;

fn answer(nr: u64) -> u64 {
    nr.rotate_left(17) ^ 0x5a5a_5a5a_5a5a_5a5a
}

const BADGE_HOSTILE: u64 = 0x4057;
const BADGE_VICTIM: u64 = 0x71c7;
const BADGE_WATCHDOG: u64 = 0xd09;
const LABEL_TIMEOUT: u32 = 0x7173;

/// The hostile CNode's radix and slots.
const RADIX: u8 = 4;
const SLOTS: u64 = 1 << RADIX;
const S_SELF: u64 = 1;
const S_EP: u64 = 2;
const S_NTFN: u64 = 3;
const S_UNTYPED: u64 = 4;
const S_FRAME: u64 = 5;
const S_TABLE: u64 = 6;
const S_VICTIM: u64 = 7;
const S_VICTIM_VS: u64 = 8;
const S_BADGED_EP: u64 = 9;
/// The victim's receive window (slots of its own CNode).
const WINDOW: u64 = 8;
const SMALL_UNTYPED_BITS: u8 = 16;

/// The CPtr of slot `s` in a CSpace rooted at a radix-4 CNode whose slot 1
/// holds itself: 15 steps through slot 1, then slot `s`.
pub const fn cptr(s: u64) -> u64 {
    0x1111_1111_1111_1110 | (s & 0xf)
}

/// Where the shared page is in the hostile task's space (thread area 15's
/// IPC-buffer address; area 0 is the hostile task's own).
const SHARED_VA: u64 = space::ipc_va(15);

/// Words of the shared page the hostile task keeps.
mod w {
    /// Iterations done (the watchdog's progress counter).
    pub const DONE: usize = 0;
    /// rint syscalls that returned Ok.
    pub const OK: usize = 1;
    /// rint syscalls that returned a known error.
    pub const ERR: usize = 2;
    /// rint syscalls that returned a value that is no error code.
    pub const BAD: usize = 3;
    /// Unknown syscalls made (each a fault the root task handles).
    pub const UNKNOWN: usize = 4;
    /// Unknown syscalls whose result was not the handler's answer.
    pub const WRONG_ANSWER: usize = 5;
    /// Bytes DebugWrite printed.
    pub const DEBUG_BYTES: usize = 6;
    /// The error histogram: word `HIST + code`.
    pub const HIST: usize = 8;
    pub const COUNT: usize = HIST + 17;
}

/// Cancels the watchdog made.
static CANCELS: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------------------
// The hostile task
// ---------------------------------------------------------------------------

/// Invocation labels, the notification label, fault labels and oddities.
fn label(rng: &mut Rng) -> u32 {
    match rng.below(10) {
        0..=6 => {
            let all = Invocation::ALL;
            all.get(rng.below(all.len() as u64) as usize).map_or(0, |l| *l as u32)
        }
        7 => [0, NOTIFICATION_LABEL, u32::MAX, 0xfa03, 2, 99]
            .get(rng.below(6) as usize)
            .copied()
            .unwrap_or(0),
        _ => rng.next() as u32,
    }
}

/// A slot of the hostile CNode, mostly one that starts with a cap.
fn slot(rng: &mut Rng) -> u64 {
    if rng.chance(80) { 1 + rng.below(S_BADGED_EP) } else { rng.below(SLOTS) }
}

/// A capability pointer: mostly one that resolves.
fn cap_ptr(rng: &mut Rng) -> u64 {
    match rng.below(20) {
        0..=14 => cptr(slot(rng)),
        // A path through another slot (a CNode the task made, or nothing).
        15 => cptr(slot(rng)) ^ (rng.below(16) << (4 * (1 + rng.below(15)))),
        16 => rng.below(SLOTS),
        17 => rng.pick(&[0, u64::MAX, 0x11, 0x1111_1111_1111_1111, cptr(0)]),
        _ => rng.next(),
    }
}

/// A word for an argument: numbers that mean something somewhere, or not.
fn word(rng: &mut Rng) -> u64 {
    match rng.below(24) {
        0 => 0,
        1 => 1,
        2 => rng.below(SLOTS + 1),
        3 => rng.below(14),
        4 => rng.pick(&[4, 5, 11, 12, 13, 16, 20, 21, 22, 47, 48, 63, 64, 255, 256]),
        5 => rng.pick(&[1, 2, 3, 255, 256, 257]),
        6 => rng.below(0x40),
        7 => rng.pick(&[0, 1, 99, 100, 101, 254, 255, 256]),
        8 => REGION.start + rng.below(64) * 0x1000,
        9 => REGION.start + rng.below(0x40_0000),
        10 => space::ipc_va(rng.below(16)) + rng.pick(&[0, 0x1000, 0x2000, 8]),
        11 => arch::raw_syscall_return_address() & !0xfff,
        12 => KERNEL_ADDR + rng.below(4) * 0x1000,
        13 => rng.pick(&[u64::MAX, u64::MAX - 0xfff, i64::MIN as u64, i64::MAX as u64]),
        14 => rng.pick(&[0x7fff_ffff_f000, 0x8000_0000_0000, 0x40_0000_0000, 0x3f_ffff_f000]),
        15 => rng.below(8) << 21,
        16 => cap_ptr(rng),
        17 => u64::from(label(rng)),
        _ => rng.next(),
    }
}

/// A message-info word: mostly valid, lengths at the edges.
fn info(rng: &mut Rng, long: bool) -> u64 {
    if rng.chance(10) {
        let any = rng.next();
        return rng.pick(&[0, u64::MAX, 121, 127, 1 << 12, 1 << 31, any]);
    }
    let len = match rng.below(10) {
        0..=5 => rng.below(7),
        6 | 7 if long => rng.below(MSG_MAX_WORDS as u64 + 1),
        8 => rng.pick(&[4, 5, 118, 119, 120]),
        _ => rng.below(4),
    };
    let caps = if rng.chance(30) { rng.below(4) } else { 0 };
    (u64::from(label(rng)) << 32) | (caps << 7) | len
}

/// Random words in the IPC buffer: message words, caps, receive window.
fn scramble(rng: &mut Rng, buf: IpcBuf) {
    if rng.chance(40) {
        for _ in 0..1 + rng.below(6) {
            let i = if rng.chance(70) { 4 + rng.below(8) } else { rng.below(MSG_MAX_WORDS as u64) };
            let _ = buf.set_msg(i as usize, word(rng));
        }
    }
    if rng.chance(40) {
        let caps = [CPtr(cap_ptr(rng)), CPtr(cap_ptr(rng)), CPtr(cap_ptr(rng))];
        let _ = buf.set_caps(&caps);
    }
    if rng.chance(15) {
        let cnode = if rng.chance(70) { cptr(S_SELF) } else { cap_ptr(rng) };
        let index = if rng.chance(70) { 10 + rng.below(6) } else { word(rng) };
        let _ = buf.set_receive_window(CPtr(cnode), index, rng.pick(&[64, 0, 4, 65]));
    }
}

/// An invocation: the cap, label, words and cap arguments.
struct Inv {
    cap: u64,
    label: u32,
    words: [u64; 40],
    nwords: usize,
    caps: [u64; 3],
    ncaps: u64,
}

impl Inv {
    const fn new() -> Inv {
        Inv { cap: 0, label: 0, words: [0; 40], nwords: 0, caps: [0; 3], ncaps: 0 }
    }
}

/// A slot that starts empty (where new objects and copies go).
fn spare(rng: &mut Rng) -> u64 {
    if rng.chance(85) { 10 + rng.below(SLOTS - 10) } else { 1 + rng.below(SLOTS - 1) }
}

/// An invocation with arguments that fit its label, on a cap that mostly
/// has the label's type: deep paths, not only argument checks.
fn tailored(rng: &mut Rng, inv: &mut Inv) {
    use Invocation as I;
    let all = Invocation::ALL;
    let l = all.get(rng.below(all.len() as u64) as usize).copied().unwrap_or(I::ThreadResume);
    inv.label = l as u32;
    let mut w = |ws: &[u64]| {
        for (d, s) in inv.words.iter_mut().zip(ws) {
            *d = *s;
        }
        inv.nwords = ws.len();
    };
    // The cap the label usually goes to, or a new object.
    let (home, caps): (u64, [u64; 3]) = match l {
        I::UntypedRetype => {
            let ty = if rng.chance(90) { 1 + rng.below(8) } else { rng.below(14) };
            let bits = match ty {
                1 => 4 + rng.below(12),
                2 => 1 + rng.below(6),
                6 => rng.pick(&[12, 12, 12, 21]),
                _ => rng.pick(&[0, 0, 12, 4]),
            };
            w(&[ty, bits, spare(rng), 1 + rng.below(3)]);
            (S_UNTYPED, [cptr(S_SELF), 0, 0])
        }
        I::CNodeCopy | I::CNodeMint | I::CNodeMove => {
            let src = 1 + rng.below(SLOTS - 1);
            let rights = if rng.chance(70) { 0x1f } else { rng.below(0x40) };
            let badge = rng.pick(&[0, 1, 0xbad, u64::MAX]);
            w(&[spare(rng), src, rights, badge]);
            (S_SELF, [cptr(S_SELF), 0, 0])
        }
        I::CNodeDelete | I::CNodeRevoke | I::CNodeIdentify => {
            w(&[spare(rng)]);
            (S_SELF, [0; 3])
        }
        I::ThreadConfigure => {
            let va = if rng.chance(60) { space::ipc_va(rng.below(4)) } else { word(rng) };
            w(&[va, rng.pick(&[0, 50, 99, 100, 101])]);
            (S_VICTIM, [cptr(S_SELF), cptr(S_VICTIM_VS), cptr(S_FRAME)])
        }
        I::ThreadReadRegisters => {
            w(&[rng.below(40)]);
            (S_VICTIM, [0; 3])
        }
        I::ThreadWriteRegisters => {
            let n = rng.below(regs::COUNT as u64 + 2);
            let mut ws = [0u64; regs::COUNT + 4];
            ws[0] = rng.below(2);
            ws[1] = n;
            for r in ws.iter_mut().skip(2) {
                *r = word(rng);
            }
            let len = (n as usize + 2).min(ws.len());
            w(ws.get(..len).unwrap_or(&[]));
            (S_VICTIM, [0; 3])
        }
        I::ThreadSetPriority => {
            w(&[rng.pick(&[0, 1, 50, 99, 100, 101, 255, 256])]);
            (S_VICTIM, [0; 3])
        }
        I::ThreadSetIpcBuffer => {
            w(&[if rng.chance(50) { space::ipc_va(rng.below(4)) } else { word(rng) }]);
            (S_VICTIM, [cptr(S_FRAME), 0, 0])
        }
        I::ThreadSetTls => {
            w(&[word(rng)]);
            (S_VICTIM, [0; 3])
        }
        I::ThreadBindNotification => {
            w(&[]);
            (S_VICTIM, [cptr(S_NTFN), 0, 0])
        }
        I::ThreadSetFaultEndpoint => {
            w(&[]);
            (S_VICTIM, [cptr(if rng.chance(50) { S_EP } else { S_BADGED_EP }), 0, 0])
        }
        I::ThreadResume | I::ThreadSuspend | I::ThreadUnbindNotification => {
            w(&[]);
            (S_VICTIM, [0; 3])
        }
        I::FrameMap => {
            let va = match rng.below(4) {
                0 => REGION.start + rng.below(8) * 0x1000,
                1 => space::ipc_va(rng.below(16)),
                2 => rng.below(8) << 21,
                _ => word(rng),
            };
            w(&[va, rng.below(8)]);
            (S_FRAME, [cptr(if rng.chance(70) { S_VICTIM_VS } else { spare(rng) }), 0, 0])
        }
        I::FrameRemap => {
            w(&[rng.below(8)]);
            (S_FRAME, [0; 3])
        }
        I::FrameUnmap | I::FrameGetAddress => {
            w(&[]);
            (S_FRAME, [0; 3])
        }
        I::PageTableMap => {
            let va = if rng.chance(70) { REGION.start + (rng.below(64) << 21) } else { word(rng) };
            w(&[va]);
            (S_TABLE, [cptr(if rng.chance(70) { S_VICTIM_VS } else { spare(rng) }), 0, 0])
        }
        I::PageTableUnmap => {
            w(&[]);
            (S_TABLE, [0; 3])
        }
        _ => {
            w(&[word(rng), word(rng), word(rng)]);
            (slot(rng), [cap_ptr(rng), 0, 0])
        }
    };
    // Now and then the same label on another cap (new objects live in
    // 10..15), or a cap argument of another slot.
    inv.cap = match rng.below(10) {
        0..=6 => cptr(home),
        7 | 8 => cptr(spare(rng)),
        _ => cptr(slot(rng)),
    };
    inv.caps = caps;
    if rng.chance(10)
        && let Some(c) = inv.caps.get_mut(rng.below(3) as usize)
    {
        *c = cptr(rng.below(SLOTS));
    }
    inv.ncaps = match caps.iter().filter(|&&c| c != 0).count() as u64 {
        n if rng.chance(90) => n,
        _ => rng.below(4),
    };
}

fn syscall_nr(s: Syscall) -> u64 {
    s.to_raw()
}

/// One syscall's number and arguments.
fn next_syscall(rng: &mut Rng, buf: IpcBuf) -> [u64; 7] {
    let mut io = [0u64; 7];
    match rng.below(100) {
        // An invocation of a random cap: half with arguments made for the
        // label, half with any.
        0..=39 => {
            let nr = match rng.below(10) {
                0 => Syscall::Send,
                1 => Syscall::NbSend,
                _ => Syscall::Call,
            };
            let mut inv = Inv::new();
            if rng.chance(50) {
                tailored(rng, &mut inv);
            } else {
                inv.label = label(rng);
                inv.cap = cap_ptr(rng);
                inv.nwords = if rng.chance(10) { rng.below(40) } else { rng.below(7) } as usize;
                for v in inv.words.iter_mut().take(inv.nwords) {
                    *v = word(rng);
                }
                inv.ncaps = rng.below(4);
                inv.caps = [cap_ptr(rng), cap_ptr(rng), cap_ptr(rng)];
            }
            io[0] = syscall_nr(nr);
            io[1] = inv.cap;
            io[2] = (u64::from(inv.label) << 32) | (inv.ncaps << 7) | inv.nwords as u64;
            for (i, &v) in inv.words.iter().enumerate().take(inv.nwords) {
                match io.get_mut(3 + i) {
                    Some(r) => *r = v,
                    None => {
                        let _ = buf.set_msg(i, v);
                    }
                }
            }
            let _ = buf.set_caps(&inv.caps.map(CPtr));
        }
        // IPC with the endpoints and the notification.
        40..=59 => {
            let nr = match rng.below(16) {
                0..=3 => Syscall::Call,
                4..=5 => Syscall::Send,
                6..=7 => Syscall::NbSend,
                8 => Syscall::Recv,
                9..=10 => Syscall::NbRecv,
                11 => Syscall::ReplyRecv,
                12 => Syscall::Reply,
                13 => Syscall::Yield,
                14 => Syscall::DebugWrite,
                _ => Syscall::Send,
            };
            io[0] = syscall_nr(nr);
            io[1] = match rng.below(6) {
                0..=1 => cptr(S_EP),
                2 => cptr(S_BADGED_EP),
                3 => cptr(S_NTFN),
                _ => cap_ptr(rng),
            };
            io[2] = info(rng, true);
            for r in io.iter_mut().skip(3) {
                *r = word(rng);
            }
            scramble(rng, buf);
        }
        // Anything: any number (mostly rint's), any arguments.
        60..=91 => {
            io[0] = match rng.below(10) {
                0..=7 => {
                    let all = Syscall::ALL;
                    all.get(rng.below(all.len() as u64) as usize).map_or(0, |s| s.to_raw())
                }
                8 => rng.pick(&[0, 10, 10u64.wrapping_neg(), 11u64.wrapping_neg(), u64::MAX]),
                _ => {
                    let any = rng.next();
                    rng.pick(&[i64::MIN as u64, i64::MAX as u64, 1 << 32, any])
                }
            };
            io[1] = if rng.chance(60) { cap_ptr(rng) } else { word(rng) };
            io[2] = if rng.chance(60) { info(rng, true) } else { word(rng) };
            for r in io.iter_mut().skip(3) {
                *r = word(rng);
            }
            scramble(rng, buf);
        }
        // A number that is no rint syscall: a fault.
        _ => {
            io[0] = if rng.chance(50) { rng.below(512) } else { rng.next() >> rng.below(64) };
            for r in io.iter_mut().skip(1) {
                *r = word(rng);
            }
        }
    }
    io
}

/// Make the syscall in `io` and count its result in `stats`.
fn fuzz_one(rng: &mut Rng, buf: IpcBuf, stats: &mut [u64; w::COUNT]) {
    let mut io = next_syscall(rng, buf);
    let nr = io[0];
    let known = Syscall::from_raw(nr);
    if known.is_none() {
        io[6] = nr ^ CHECK;
    }
    if known == Some(Syscall::DebugWrite) && io[1] <= sys::DEBUG_WRITE_MAX as u64 {
        // At most three dots.
        io[1] %= 4;
        let _ = buf.set_msg(0, u64::from_le_bytes(*b"........"));
    }
    let len = io[1];
    arch::raw_syscall(&mut io);
    if known.is_none() {
        bump(stats, w::UNKNOWN, 1);
        if io[0] != answer(nr) {
            bump(stats, w::WRONG_ANSWER, 1);
        }
        return;
    }
    match Error::try_from(io[0]) {
        Ok(Error::Ok) => {
            bump(stats, w::OK, 1);
            if known == Some(Syscall::DebugWrite) {
                bump(stats, w::DEBUG_BYTES, len);
            }
        }
        Ok(_) => bump(stats, w::ERR, 1),
        Err(_) => bump(stats, w::BAD, 1),
    }
    if io[0] <= 16 {
        bump(stats, w::HIST + io[0] as usize, 1);
    }
}

fn bump(stats: &mut [u64; w::COUNT], i: usize, n: u64) {
    if let Some(s) = stats.get_mut(i) {
        *s += n;
    }
}

/// Ask the root task for `req` with a magic unknown syscall.
fn magic(req: u64, i: u64) {
    let mut io = [MAGIC_NR, MAGIC_ARG, req, i, 0, 0, 0];
    arch::raw_syscall(&mut io);
}

fn publish(shared: u64, stats: &[u64; w::COUNT]) {
    for (i, s) in stats.iter().enumerate() {
        arch::store(shared + 8 * i as u64, *s);
    }
}

/// The hostile task: `iterations` random syscalls from `seed`, its IPC
/// buffer at `ipc`, its counters in the page at `shared`.
extern "C" fn hostile_main(ipc: u64, shared: u64, seed: u64, iterations: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let mut rng = Rng::new(seed);
    let mut stats = [0u64; w::COUNT];
    for i in 0..iterations {
        if i > 0 && i % EPOCH == 0 {
            publish(shared, &stats);
            magic(REQ_EPOCH, i);
        }
        fuzz_one(&mut rng, buf, &mut stats);
        stats[w::DONE] = i + 1;
        arch::store(shared, i + 1);
        if i % 16 == 0 {
            publish(shared, &stats);
        }
    }
    publish(shared, &stats);
    loop {
        magic(REQ_DONE, iterations);
    }
}

/// The victim: serve endpoint `ep` (echo every message back with label
/// `label ^ 1`), receive window `window` slots `WINDOW..`.
extern "C" fn victim_main(ipc: u64, ep: u64, window: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let mut words = [0u64; MSG_MAX_WORDS];
    let _ = buf.set_receive_window(CPtr(window), WINDOW, 64);
    let mut r = buf.recv(CPtr(ep));
    loop {
        r = match r {
            Ok(m) => {
                let n = m.copy_words(&mut words);
                let _ = buf.set_receive_window(CPtr(window), WINDOW, 64);
                let reply = words.get(..n).unwrap_or(&[]);
                buf.reply_recv(CPtr(ep), mi(m.label() ^ 1, n), reply)
            }
            Err(_) => {
                sys::yield_now();
                buf.recv(CPtr(ep))
            }
        };
    }
}

/// The watchdog (root task's space, round robin like the others): `a[0]` the
/// progress word (root mapping), `a[1]` the hostile thread, `a[2]` where to
/// report a timeout.
extern "C" fn watchdog(idx: u64) -> ! {
    let c = child_ctx(idx);
    let (progress, hostile, report) = (c.a[0], CPtr(c.a[1]), CPtr(c.a[2]));
    let mut last = arch::load(progress);
    let (mut still, mut idle) = (0u64, 0u64);
    for _ in 0..MAX_ROUNDS {
        sys::yield_now();
        let now = arch::load(progress);
        if now != last {
            (last, still, idle) = (now, 0, 0);
            continue;
        }
        still += 1;
        if still < STILL_ROUNDS {
            continue;
        }
        still = 0;
        let _ = c.buf.invoke(hostile, Invocation::ThreadSuspend, &[], &[]);
        let _ = c.buf.invoke(hostile, Invocation::ThreadResume, &[], &[]);
        CANCELS.fetch_add(1, Ordering::Relaxed);
        idle += 1;
        if idle >= MAX_IDLE_CANCELS {
            break;
        }
    }
    let _ = c.buf.send(report, mi(LABEL_TIMEOUT, 1), &[arch::load(progress)]);
    child_exit(&c)
}

// ---------------------------------------------------------------------------
// The root task's side
// ---------------------------------------------------------------------------

/// Everything the root task holds for the test (root CNode slots).
struct Setup {
    pool: Pool,
    hostile: Cap<Thread>,
    victim: Cap<Thread>,
    hcnode: Cap<CNode>,
    vcnode: Cap<CNode>,
    ep: Cap<Endpoint>,
    ntfn: Cap<Notification>,
    small: Cap<Untyped>,
    frame: Cap<Frame>,
    victim_space: Space,
    victim_ipc: Cap<Frame>,
    victim_fault: Cap<Endpoint>,
}

fn invocation<T>(what: &str, r: Result<T, Error>) -> Result<T, Fail> {
    r.map_err(|e| fail!("{what}: {e:?}"))
}

impl Setup {
    /// Put the hostile task's caps into its CNode (empty but for what the
    /// task cannot reach).
    fn fill(&self) -> TestResult {
        let (h, root) = (self.hcnode, init::CNODE);
        invocation("copy self", h.copy(S_SELF, root, h.slot(), Rights::ALL))?;
        invocation("copy endpoint", h.copy(S_EP, root, self.ep.slot(), Rights::ALL))?;
        invocation("copy notification", h.copy(S_NTFN, root, self.ntfn.slot(), Rights::ALL))?;
        invocation("copy untyped", h.copy(S_UNTYPED, root, self.small.slot(), Rights::ALL))?;
        invocation("copy frame", h.copy(S_FRAME, root, self.frame.slot(), Rights::ALL))?;
        invocation("page table", self.pool.ut.retype(CapType::PageTable, 0, h, S_TABLE, 1))?;
        invocation("copy victim", h.copy(S_VICTIM, root, self.victim.slot(), Rights::ALL))?;
        let vs = self.victim_space.vs.slot();
        invocation("copy victim VSpace", h.copy(S_VICTIM_VS, root, vs, Rights::ALL))?;
        invocation("mint endpoint", h.mint(S_BADGED_EP, root, self.ep.slot(), Rights::ALL, 0x5ad))?;
        Ok(())
    }

    /// Take back everything the hostile task got or made, and give it its
    /// caps again.
    fn refresh(&self) -> TestResult {
        invocation("suspend victim", self.victim.suspend())?;
        invocation("revoke small untyped", init::CNODE.revoke(self.small.slot()))?;
        for i in 1..SLOTS {
            let _ = self.hcnode.revoke(i);
            invocation("delete in the hostile CNode", self.hcnode.delete(i))?;
        }
        for i in 3..SLOTS {
            let _ = self.vcnode.revoke(i);
            invocation("delete in the victim CNode", self.vcnode.delete(i))?;
        }
        self.fill()?;
        self.start_victim().map(drop)
    }

    /// (Re)configure the victim and start it; returns its start registers.
    fn start_victim(&self) -> Result<[u64; regs::COUNT], Fail> {
        let (v, root) = (self.vcnode, init::CNODE);
        for (i, src) in [(S_SELF, v.slot()), (S_EP, self.ep.slot())] {
            match v.copy(i, root, src, Rights::ALL) {
                Ok(()) | Err(Error::SlotOccupied) => {}
                Err(e) => return Err(fail!("victim CNode slot {i}: {e:?}")),
            }
        }
        let t = self.victim;
        invocation("suspend victim", t.suspend())?;
        invocation("unbind victim", t.unbind_notification())?;
        let vs = self.victim_space.vs;
        space::configure(t, v, vs, self.victim_ipc, space::ipc_va(0))?;
        invocation("victim fault endpoint", t.set_fault_endpoint(Some(self.victim_fault)))?;
        invocation("victim TLS", t.set_tls(0))?;
        let args = [space::ipc_va(0), cptr(S_EP), cptr(S_SELF), 0];
        space::start(t, victim_main, args, space::stack_top(0))
    }
}

/// What the root task saw.
#[derive(Default)]
struct Seen {
    faults: u64,
    bad_faults: u64,
    victim_faults: u64,
    epochs: u64,
}

pub fn hostile(env: &mut Env) -> TestResult {
    // The test regions must be free before anything is mapped there (the
    // layout test runs after this one).
    super::basics::layout(env)?;
    let pool = Pool::new(env, 21)?;
    pool.guard(run(env, pool))
}

fn run(env: &mut Env, pool: Pool) -> TestResult {
    let mut image = Image::copy(env, &pool)?;

    // The hostile task's space: image, IPC buffer, stack, shared page.
    let mut hspace = Space::new(env, &pool)?;
    image.map_into(env, &pool, &mut hspace)?;
    let hipc = hspace.area(env, &pool, 0)?;
    let shared: Cap<Frame> = hspace.page(env, &pool, SHARED_VA)?;
    let shared_root = Page::map(env.copy(shared, Rights::ALL)?, env.free_va()?, RW)
        .map_err(|e| fail!("mapping the shared page: {e:?}"))?;
    // The victim's.
    let mut victim_space = Space::new(env, &pool)?;
    image.map_into(env, &pool, &mut victim_space)?;
    let victim_ipc = victim_space.area(env, &pool, 0)?;

    let ctl: Cap<Endpoint> = pool.make(env, 0)?;
    let hostile_fault = env.mint(ctl, Rights::ALL, BADGE_HOSTILE)?;
    let victim_fault = env.mint(ctl, Rights::ALL, BADGE_VICTIM)?;
    let report = env.mint(ctl, Rights::ALL, BADGE_WATCHDOG)?;
    let s = Setup {
        pool,
        hostile: pool.make(env, 0)?,
        victim: pool.make(env, 0)?,
        hcnode: pool.make(env, RADIX)?,
        vcnode: pool.make(env, RADIX)?,
        ep: pool.make(env, 0)?,
        ntfn: pool.make(env, 0)?,
        small: pool.make(env, SMALL_UNTYPED_BITS)?,
        frame: pool.make(env, 12)?,
        victim_space,
        victim_ipc,
        victim_fault,
    };
    s.fill()?;
    let victim_regs = s.start_victim()?;
    space::configure(s.hostile, s.hcnode, hspace.vs, hipc, space::ipc_va(0))?;
    ok!(s.hostile.set_fault_endpoint(Some(hostile_fault)));
    let slow = env.slow_entries();
    let iterations = if slow { MIN_ITERATIONS } else { ITERATIONS };
    if slow {
        println!(
            "ktest: a kernel entry costs {} loop steps here (nested virtualisation?): the hostile and stress tests do their minimum",
            env.entry_cost()
        );
    }
    let args = [space::ipc_va(0), SHARED_VA, SEED, iterations];
    space::start(s.hostile, hostile_main, args, space::stack_top(0))?;
    let dog = env.spawn_at(watchdog, [shared_root.va(), s.hostile.slot(), report.slot(), 0])?;
    ok!(dog.thread.resume());

    let served = serve(&s, ctl, &victim_regs, iterations);
    // Stop everything before looking (the watchdog first: it resumes the
    // hostile task).
    let _ = dog.thread.suspend();
    let _ = s.hostile.suspend();
    let _ = s.victim.suspend();
    let halves = env.slot()?;
    env.slot()?;
    let seen = served?;

    let mut st = [0u64; w::COUNT];
    for (i, v) in st.iter_mut().enumerate() {
        *v = shared_root.read(i);
    }
    let cancels = CANCELS.load(Ordering::Relaxed);
    if st[w::DEBUG_BYTES] > 0 {
        println!();
    }
    println!(
        "ktest: hostile: {} syscalls ({} faults handled, {} errors, {} ok)",
        st[w::DONE],
        seen.faults,
        st[w::ERR] + st[w::BAD],
        st[w::OK]
    );
    let mut hist = crate::fmt::StrBuf::<480>::new();
    for code in 1..=16u64 {
        let n = st[w::HIST + code as usize];
        if n > 0
            && let Ok(e) = Error::try_from(code)
        {
            let _ = core::fmt::Write::write_fmt(&mut hist, format_args!(" {}={n}", e.as_str()));
        }
    }
    println!(
        "ktest: hostile: seed {SEED:#x}, {} epochs, {} cancels by the watchdog, {} victim faults, {} image pages; errors:{hist}",
        seen.epochs,
        cancels,
        seen.victim_faults,
        image.len()
    );

    // Tear it all down: the pool must be whole again.
    pool.check_whole(halves)?;
    expect_err!(s.hostile.read_registers(&mut [0u64; 1]), Error::InvalidCapability);
    expect_err!(s.hcnode.delete(1), Error::InvalidCapability);

    check_eq!(st[w::DONE], iterations, "(iterations done)");
    check_eq!(st[w::BAD], 0, "(results that are no error code)");
    check_eq!(st[w::WRONG_ANSWER], 0, "(unknown syscalls resumed without the handler's result)");
    check_eq!(seen.bad_faults, 0, "(fault messages with a wrong pc or registers)");
    check_eq!(st[w::UNKNOWN], seen.faults, "(unknown syscalls made vs faults handled)");
    check_eq!(st[w::OK] + st[w::ERR] + st[w::BAD] + st[w::UNKNOWN], iterations, "(results)");
    check_eq!(seen.epochs, iterations.div_ceil(EPOCH) - 1, "(refreshes)");
    // Only a suspend cancels a blocked syscall, and only the watchdog can
    // suspend the hostile task.
    let cancelled = st[w::HIST + Error::Cancelled as usize];
    check!(cancelled <= cancels, "{cancelled} syscalls cancelled, {cancels} cancels");
    Ok(())
}

/// The root task's loop: handle faults until the hostile task is done
/// (each answer and the next receive in one `ReplyRecv`).
fn serve(
    s: &Setup,
    ctl: Cap<Endpoint>,
    victim_regs: &[u64; regs::COUNT],
    iterations: u64,
) -> Result<Seen, Fail> {
    let mut seen = Seen::default();
    let mut restarts = 0u64;
    let unknown = FAULT_LABEL_BASE + FaultKind::UnknownSyscall as u64;
    // A generous bound on messages: a fault per syscall at most, victim
    // faults per epoch, refreshes.
    let bound = iterations * 2 + 100_000;
    let mut m = ok!(ctl.recv());
    for _ in 0..bound {
        let mut r = [0u64; regs::COUNT];
        let answer_with: (u32, usize) = match m.badge {
            BADGE_HOSTILE => {
                let n = m.copy_words(&mut r);
                if u64::from(m.label()) != unknown || n != regs::COUNT {
                    let kind = u64::from(m.label()).wrapping_sub(FAULT_LABEL_BASE);
                    let (pc, addr) = (m.word(0), m.word(1));
                    return Err(fail!(
                        "the hostile task faulted: kind {kind}, pc {pc:#x}, address {addr:#x}"
                    ));
                }
                let nr = r[regs::SYSCALL_NR];
                let arg = |i: usize| regs::SYSCALL_ARGS.get(i).and_then(|&j| r.get(j)).copied();
                if nr == MAGIC_NR && arg(0) == Some(MAGIC_ARG) {
                    match arg(1) {
                        Some(REQ_EPOCH) => {
                            seen.epochs += 1;
                            restarts = 0;
                            s.refresh()?;
                        }
                        Some(REQ_DONE) => return Ok(seen),
                        other => return Err(fail!("unknown request {other:?}")),
                    }
                } else {
                    seen.faults += 1;
                    if r[regs::PC] != arch::raw_syscall_return_address()
                        || arg(5) != Some(nr ^ CHECK)
                    {
                        seen.bad_faults += 1;
                    }
                    r[regs::RESULT0] = answer(nr);
                }
                (0, regs::COUNT)
            }
            BADGE_VICTIM => {
                seen.victim_faults += 1;
                if restarts < VICTIM_RESTARTS {
                    restarts += 1;
                    r = *victim_regs;
                    (0, regs::COUNT)
                } else {
                    (1, 0)
                }
            }
            BADGE_WATCHDOG if m.label() == LABEL_TIMEOUT => {
                return Err(fail!(
                    "timeout at iteration {}: no progress after {MAX_IDLE_CANCELS} cancels, or {MAX_ROUNDS} watchdog rounds",
                    m.word(0)
                ));
            }
            b => return Err(fail!("unexpected message: badge {b:#x}, label {:#x}", m.label())),
        };
        let (label, len) = answer_with;
        m = ok!(ctl.reply_recv(mi(label, len), r.get(..len).unwrap_or(&[])));
    }
    Err(fail!("more than {bound} fault messages"))
}
