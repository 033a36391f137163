//! Endpoint IPC between the root task and child threads: call and
//! reply-receive with messages in registers and in the IPC buffer, plain
//! send and receive, the non-blocking forms, badges, and capability
//! transfer with and without the grant right.

use libipc::abi::{CPtr, Error, MSG_MAX_WORDS, Rights, slots};
use libipc::cap::{Cap, Notification, init};
use libipc::sys;

use crate::env::{Env, child_ctx, child_exit, mi, mi_caps};
use crate::fmt::TestResult;

/// Message lengths of the ping-pong: empty, registers only, one word in the
/// IPC buffer, all of it.
const LENS: [usize; 4] = [0, 4, 5, MSG_MAX_WORDS];
/// The receive window's depth (the kernel resolves every CPtr 64 bits deep
/// and ignores it; the root CNode's CPtrs are plain indices).
const RECV_DEPTH: u64 = 64;

fn pattern(round: usize, i: usize) -> u64 {
    0xc0de_0000_0000_0000 | ((round as u64) << 32) | i as u64
}

/// Client: call endpoint `a[0]` with each of [`LENS`] and check each reply
/// (label `0x200 + round`, same length, every word + 1); finally send
/// label 0x1ff with the number of mismatches.
extern "C" fn pingpong_client(idx: u64) -> ! {
    let c = child_ctx(idx);
    let ep = CPtr(c.a[0]);
    let mut errors = 0u64;
    let mut words = [0u64; MSG_MAX_WORDS];
    for (round, &len) in LENS.iter().enumerate() {
        for (i, w) in words.iter_mut().enumerate() {
            *w = pattern(round, i);
        }
        let msg = words.get(..len).unwrap_or(&[]);
        match c.buf.call(ep, mi(0x100 + round as u32, len), msg) {
            Ok(m) => {
                if m.label() != 0x200 + round as u32 || m.len() != len {
                    errors += 1;
                }
                for i in 0..len {
                    if m.word(i) != pattern(round, i).wrapping_add(1) {
                        errors += 1;
                    }
                }
            }
            Err(_) => errors += 100,
        }
    }
    let _ = c.buf.send(ep, mi(0x1ff, 1), &[errors]);
    child_exit(&c)
}

pub fn ipc_call_reply_recv(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let badged = env.mint(ep, Rights::ALL, 0xb0b)?;
    env.spawn(pingpong_client, [badged.slot(), 0, 0, 0])?;
    let mut m = ok!(ep.recv());
    let mut reply = [0u64; MSG_MAX_WORDS];
    for (round, &len) in LENS.iter().enumerate() {
        check_eq!(m.badge, 0xb0b, "(round {round})");
        check_eq!(m.label(), 0x100 + round as u32);
        check_eq!(m.len(), len);
        for i in 0..len {
            check_eq!(m.word(i), pattern(round, i), "(round {round}, word {i})");
        }
        for (i, r) in reply.iter_mut().enumerate() {
            *r = pattern(round, i).wrapping_add(1);
        }
        let words = reply.get(..len).unwrap_or(&[]);
        m = ok!(ep.reply_recv(mi(0x200 + round as u32, len), words));
    }
    check_eq!(m.label(), 0x1ff);
    check_eq!(m.word(0), 0, "(the client saw bad replies)");
    Ok(())
}

/// Call endpoint `a[0]` (label 0x77, words 1, 2), then send what the reply
/// was: label, length, word 0, word 4.
extern "C" fn caller(idx: u64) -> ! {
    let c = child_ctx(idx);
    let ep = CPtr(c.a[0]);
    let report = match c.buf.call(ep, mi(0x77, 2), &[1, 2]) {
        Ok(m) => [u64::from(m.label()), m.len() as u64, m.word(0), m.word(4)],
        Err(e) => [u64::MAX, e as u64, 0, 0],
    };
    let _ = c.buf.send(ep, mi(0x79, 4), &report);
    child_exit(&c)
}

pub fn ipc_reply(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    env.spawn(caller, [ep.slot(), 0, 0, 0])?;
    let m = ok!(ep.recv());
    check_eq!((m.label(), m.len(), m.word(0), m.word(1)), (0x77, 2, 1, 2));
    ok!(sys::reply(mi(0x78, 5), &[10, 11, 12, 13, 14]));
    let m = ok!(ep.recv());
    check_eq!(m.label(), 0x79);
    check_eq!([m.word(0), m.word(1), m.word(2), m.word(3)], [0x78, 5, 10, 14]);
    Ok(())
}

/// Receive once on endpoint `a[0]`, then send on `a[1]`: label 0xec and
/// [badge, label, words...] (label 0xee and the error if the receive
/// failed).
extern "C" fn echo(idx: u64) -> ! {
    let c = child_ctx(idx);
    let tx = CPtr(c.a[1]);
    let mut out = [0u64; 12];
    let _ = match c.buf.recv(CPtr(c.a[0])) {
        Ok(m) => {
            out[0] = m.badge;
            out[1] = u64::from(m.label());
            let n = m.copy_words(out.get_mut(2..).unwrap_or(&mut [])) + 2;
            c.buf.send(tx, mi(0xec, n), out.get(..n).unwrap_or(&[]))
        }
        Err(e) => c.buf.send(tx, mi(0xee, 1), &[e as u64]),
    };
    child_exit(&c)
}

pub fn ipc_send_recv(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let to_child = env.mint(ep, Rights::ALL, 0x11)?;
    let to_root = env.mint(ep, Rights::ALL, 0x22)?;
    env.spawn(echo, [ep.slot(), to_root.slot(), 0, 0])?;
    ok!(to_child.send(mi(0x5e, 6), &[1, 2, 3, 4, 5, 6]));
    let m = ok!(ep.recv());
    check_eq!(m.badge, 0x22);
    check_eq!(m.label(), 0xec);
    let mut w = [0u64; 8];
    check_eq!(m.copy_words(&mut w), 8);
    check_eq!(w, [0x11, 0x5e, 1, 2, 3, 4, 5, 6]);
    Ok(())
}

pub fn ipc_nonblocking_would_block(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    expect_err!(ep.nb_send(mi(1, 0), &[]), Error::WouldBlock);
    expect_err!(ep.nb_send(mi(1, 6), &[1, 2, 3, 4, 5, 6]), Error::WouldBlock);
    expect_err!(ep.nb_recv(), Error::WouldBlock);
    let badged = env.mint(ep, Rights::ALL, 3)?;
    expect_err!(badged.nb_recv(), Error::WouldBlock);
    Ok(())
}

/// Yields a helper makes before it reports: every thread queued before it
/// gets that many turns of round robin first.
const LATE_YIELDS: usize = 8;

/// Give every other ready thread [`LATE_YIELDS`] turns, then send an
/// empty message labelled 0x60 on endpoint `a[0]`: when it arrives, the
/// threads started before this one have blocked or stopped (a thread that
/// could still run had those turns to get there).
pub(super) extern "C" fn go_late(idx: u64) -> ! {
    let c = child_ctx(idx);
    for _ in 0..LATE_YIELDS {
        sys::yield_now();
    }
    let _ = c.buf.send(CPtr(c.a[0]), mi(0x60, 0), &[]);
    child_exit(&c)
}

/// NbSend succeeds when a receiver waits. A helper started after the
/// receiver reports once the receiver has had its turns (and blocked).
pub fn ipc_nb_send_to_waiting_receiver(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let reports = env.endpoint()?;
    let from_child = env.mint(reports, Rights::ALL, 0xa)?;
    let from_helper = env.mint(reports, Rights::ALL, 0xb)?;
    env.spawn(echo, [ep.slot(), from_child.slot(), 0, 0])?;
    let helper = env.spawn_at(go_late, [from_helper.slot(), 0, 0, 0])?;
    ok!(helper.thread.resume());
    let m = ok!(reports.recv());
    check_eq!(m.badge, 0xb, "(the helper should run only after the receiver blocked)");
    ok!(ep.nb_send(mi(0x61, 2), &[42, 43]));
    let m = ok!(reports.recv());
    check_eq!(m.badge, 0xa);
    let mut w = [0u64; 4];
    check_eq!(m.copy_words(&mut w), 4);
    check_eq!(w, [0, 0x61, 42, 43]);
    Ok(())
}

/// Server on endpoint `a[0]`: receive message `k` with the receive window
/// at root slot `a[1] + 4 * k` and reply what arrived: [extra caps,
/// unwrapped mask, badge of unwrapped cap 0, label].
extern "C" fn cap_receiver(idx: u64) -> ! {
    let c = child_ctx(idx);
    let ep = CPtr(c.a[0]);
    let mut slot = c.a[1];
    let window = |slot| c.buf.set_receive_window(CPtr(slots::INIT_CNODE), slot, RECV_DEPTH);
    let _ = window(slot);
    let mut r = c.buf.recv(ep);
    while let Ok(m) = r {
        let report = [
            m.info.extra_caps() as u64,
            u64::from(m.info.caps_unwrapped()),
            m.unwrapped_badge(0),
            u64::from(m.label()),
        ];
        slot += 4;
        let _ = window(slot);
        r = c.buf.reply_recv(ep, mi(0, 4), &report);
    }
    child_exit(&c)
}

/// `n` consecutive free slots of the root CNode; the first.
fn slots_in_a_row(env: &mut Env, n: u64) -> Result<u64, crate::fmt::Fail> {
    let first = env.slot()?;
    for i in 1..n {
        check_eq!(env.slot()?, first + i, "(slots are handed out in order)");
    }
    Ok(first)
}

/// Call `ep` carrying `caps`; the receiver's report.
fn call_with_caps(
    ep: Cap<libipc::cap::Endpoint>,
    label: u32,
    caps: &[CPtr],
) -> Result<[u64; 4], Error> {
    sys::ipc_buffer().set_caps(caps)?;
    let m = ep.call(mi_caps(label, 0, caps.len()), &[])?;
    Ok([m.word(0), m.word(1), m.word(2), m.word(3)])
}

pub fn cap_transfer_grant(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let n = env.notification()?;
    let n55 = env.mint(n, Rights::ALL, 0x55)?;
    let window = slots_in_a_row(env, 8)?;
    env.spawn(cap_receiver, [ep.slot(), window, 0, 0])?;
    let r = ok!(call_with_caps(ep, 0x6a, &[n55.cptr()]));
    check_eq!(r, [1, 0, 0, 0x6a]);
    // The cap arrived in the window, badge and all.
    ok!(Cap::<Notification>::from_slot(window).signal());
    check_eq!(ok!(n.poll()), 0x55);
    // The sender keeps its own.
    ok!(n55.signal());
    check_eq!(ok!(n.poll()), 0x55);
    // A message without caps carries none.
    let m = ok!(ep.call(mi(0x6b, 0), &[]));
    check_eq!(m.word(0), 0);
    expect_err!(Cap::<Notification>::from_slot(window + 4).signal(), Error::InvalidCapability);
    Ok(())
}

pub fn cap_transfer_without_grant(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let no_grant = env.copy(ep, Rights::READ.union(Rights::WRITE))?;
    let n = env.notification()?;
    let n55 = env.mint(n, Rights::ALL, 0x55)?;
    let window = slots_in_a_row(env, 4)?;
    env.spawn(cap_receiver, [ep.slot(), window, 0, 0])?;
    let r = ok!(call_with_caps(no_grant, 0x6c, &[n55.cptr()]));
    check_eq!(r, [0, 0, 0, 0x6c], "(the message arrives without the cap)");
    expect_err!(Cap::<Notification>::from_slot(window).signal(), Error::InvalidCapability);
    Ok(())
}

pub fn cap_transfer_several(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let n = env.notification()?;
    let caps = [
        env.mint(n, Rights::ALL, 1)?.cptr(),
        env.mint(n, Rights::ALL, 2)?.cptr(),
        env.mint(n, Rights::ALL, 4)?.cptr(),
    ];
    let window = slots_in_a_row(env, 8)?;
    // The second slot of the first window is taken: the transfer stops there.
    ok!(init::CNODE.copy(window + 1, init::CNODE, ep.slot(), Rights::ALL));
    env.spawn(cap_receiver, [ep.slot(), window, 0, 0])?;
    let r = ok!(call_with_caps(ep, 0x70, &caps));
    check_eq!(r[0], 1, "(caps that arrived before the occupied slot)");
    ok!(Cap::<Notification>::from_slot(window).signal());
    check_eq!(ok!(n.poll()), 1);
    // All three into consecutive slots.
    let r = ok!(call_with_caps(ep, 0x71, &caps));
    check_eq!(r[0], 3);
    for i in 0..3 {
        ok!(Cap::<Notification>::from_slot(window + 4 + i).signal());
    }
    check_eq!(ok!(n.poll()), 7);
    Ok(())
}
