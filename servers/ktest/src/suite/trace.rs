//! The kernel's event trace, read through the root task's trace capability
//! (`TraceRead`): a Call and its Reply between two child threads appear in
//! order with the right threads (through the IPC fastpath where it applies,
//! so the suite's run without the fastpath checks the slow path records
//! the same events); the ring overwrites its oldest events and says how
//! many a reader lost; the invocation's errors.

use libipc::abi::trace::{Event, MAX_EVENTS_PER_READ};
use libipc::abi::{CPtr, Error, Invocation, Rights, TraceKind};
use libipc::cap::{Trace, init};

use crate::env::{Env, child_ctx, child_exit, mi};
use crate::fmt::{Fail, TestResult};

/// Server on endpoint `a[0]`: receive a call, answer it (label 0x7ac2,
/// word 0 + 1) and wait for the next one.
extern "C" fn server(idx: u64) -> ! {
    let c = child_ctx(idx);
    let ep = CPtr(c.a[0]);
    if let Ok(m) = c.buf.recv(ep) {
        let _ = c.buf.reply_recv(ep, mi(0x7ac2, 1), &[m.word(0).wrapping_add(1)]);
    }
    child_exit(&c)
}

/// Client: call endpoint `a[0]` (label 0x7ac1, word 41), then send the
/// reply's word to the root task on `a[1]` (label 0x7ac3).
extern "C" fn client(idx: u64) -> ! {
    let c = child_ctx(idx);
    let w = match c.buf.call(CPtr(c.a[0]), mi(0x7ac1, 1), &[41]) {
        Ok(m) => m.word(0),
        Err(e) => 0xe000 + e as u64,
    };
    let _ = c.buf.send(CPtr(c.a[1]), mi(0x7ac3, 1), &[w]);
    child_exit(&c)
}

/// The sequence number the next event gets.
fn now(trace: libipc::cap::Cap<Trace>) -> Result<u64, Fail> {
    Ok(ok!(trace.read(u64::MAX, &mut [])).next)
}

/// Every event from `start` on, into `out`; how many. Fails if any were
/// lost or `out` is too small.
fn read_all(start: u64, out: &mut [Event]) -> Result<usize, Fail> {
    let mut batch = [Event::default(); MAX_EVENTS_PER_READ];
    let (mut seq, mut n) = (start, 0usize);
    loop {
        let b = ok!(init::TRACE.read(seq, &mut batch));
        check_eq!(b.lost, 0, "(events lost reading from {seq})");
        if b.count == 0 {
            check_eq!(b.next, seq, "(nothing new, so next is where we are)");
            return Ok(n);
        }
        for e in batch.iter().take(b.count) {
            check_eq!(e.seq, seq, "(events come in sequence)");
            let slot = out.get_mut(n).ok_or_else(|| fail!("more than {} events", n))?;
            *slot = *e;
            n += 1;
            seq += 1;
        }
        check_eq!(b.next, seq);
    }
}

pub fn trace_call_reply(env: &mut Env) -> TestResult {
    let start = now(init::TRACE)?;
    let ep = env.endpoint()?;
    let badged = env.mint(ep, Rights::ALL, 0x7b)?;
    let reports = env.endpoint()?;
    env.spawn(server, [ep.slot(), 0, 0, 0])?;
    env.spawn(client, [badged.slot(), reports.slot(), 0, 0])?;
    // Both children run (round robin, after this thread) while it waits.
    let m = ok!(reports.recv());
    check_eq!((m.label(), m.word(0)), (0x7ac3, 42));

    let mut all = [Event::default(); 64];
    let total = read_all(start, &mut all)?;
    // Without the configuration of the children's scheduling contexts.
    let mut log = [Event::default(); 64];
    let mut n = 0;
    for e in all.iter().take(total) {
        if e.kind() != Some(TraceKind::SchedConfigure)
            && let Some(slot) = log.get_mut(n)
        {
            *slot = *e;
            n += 1;
        }
    }
    let log = log.get(..n).unwrap_or(&[]);
    for w in log.windows(2) {
        check!(w[0].time_ns <= w[1].time_ns, "time goes back: {:x?}", w);
    }
    // The threads, as the trace names them: the server and the client
    // were resumed in that order; this thread blocked first.
    let (s, c) = match log {
        [a, b, ..] => (a.thread, b.thread),
        _ => return Err(fail!("only {n} events: {log:x?}")),
    };
    let r = log.get(2).map_or(0, |e| e.thread);
    check!(s != 0 && c != 0 && r != 0, "threads {s:#x} {c:#x} {r:#x}");
    check!(s != c && c != r && s != r, "threads {s:#x} {c:#x} {r:#x} not distinct");
    let ep_addr = log.get(4).map_or(0, |e| e.a);
    let reports_addr = log.get(2).map_or(0, |e| e.a);
    check!(ep_addr != 0 && reports_addr != 0 && ep_addr != reports_addr, "endpoints");
    use TraceKind::*;
    // kind, thread, a, b, c.
    let want: [(TraceKind, u64, u64, u64, u32); 14] = [
        (Resume, s, 0, 0, 0),
        (Resume, c, 0, 0, 0),
        (RecvBlock, r, reports_addr, 0, 0),
        (Switch, s, r, 0, 0),
        (RecvBlock, s, ep_addr, 0, 0),
        (Switch, c, s, 0, 0),
        (Call, c, s, 0x7b, 0x7ac1),
        (Switch, s, c, 0, 0),
        (Reply, s, c, 0, 0x7ac2),
        (RecvBlock, s, ep_addr, 0, 0),
        (Switch, c, s, 0, 0),
        (Send, c, r, 0, 0x7ac3),
        // The root task is round robin like the client: the client goes on
        // until it ends (suspends itself, running before: state 1).
        (Suspend, c, 1, 0, 0),
        (Switch, r, c, 0, 0),
    ];
    check_eq!(n, want.len(), "events: {log:x?}");
    for (i, (e, w)) in log.iter().zip(want.iter()).enumerate() {
        let got = (e.kind(), e.thread, e.a, e.b, e.c);
        check_eq!(got, (Some(w.0), w.1, w.2, w.3, w.4), "(event {i} of {log:x?})");
        check_eq!(e.cpu, 0);
    }
    Ok(())
}

/// More events than the ring holds: a reader that fell behind learns how
/// many it lost and reads on from the oldest event still there.
pub fn trace_ring_overwrites(env: &mut Env) -> TestResult {
    if env.slow_entries() {
        env.skipped = Some("kernel entries are too slow here for 9000 signals");
        return Ok(());
    }
    const SIGNALS: u64 = 9000;
    let n = env.notification()?;
    let b = env.mint(n, Rights::ALL, 0x5a)?;
    let start = now(init::TRACE)?;
    for _ in 0..SIGNALS {
        ok!(b.signal());
    }
    let end = now(init::TRACE)?;
    check_eq!(end - start, SIGNALS, "(one event per signal)");
    let mut batch = [Event::default(); MAX_EVENTS_PER_READ];
    let got = ok!(init::TRACE.read(start, &mut batch));
    check!(got.lost > 0 && got.lost < SIGNALS, "lost {} of {SIGNALS}", got.lost);
    check_eq!(got.count, MAX_EVENTS_PER_READ);
    check_eq!(got.next, start + got.lost + got.count as u64);
    let first = batch[0];
    check_eq!(first.seq, start + got.lost);
    // This thread signalled, nobody was woken, the badge is there.
    check_eq!((first.kind(), first.b, first.c), (Some(TraceKind::Signal), 0, 0x5a));
    check!(first.thread != 0 && first.a != 0, "{first:x?}");
    // What is left reads without loss to the end.
    let mut seq = got.next;
    while seq < end {
        let r = ok!(init::TRACE.read(seq, &mut batch));
        check_eq!(r.lost, 0);
        check!(r.count > 0, "no events at {seq} before {end}");
        seq = r.next;
    }
    check_eq!(seq, end);
    ok!(n.poll());
    Ok(())
}

pub fn trace_read_errors(env: &mut Env) -> TestResult {
    let trace = init::TRACE;
    // No start word.
    expect_err!(trace.invoke(Invocation::TraceRead, &[], &[]), Error::InvalidArgument);
    // Another label on the trace cap, TraceRead on another cap.
    expect_err!(trace.invoke(Invocation::FrameGetAddress, &[], &[]), Error::IllegalOperation);
    expect_err!(init::IPC_BUFFER.invoke(Invocation::TraceRead, &[0], &[]), Error::IllegalOperation);
    // Reading needs READ; copies read the same trace.
    let blind = env.copy(trace, Rights::WRITE)?;
    expect_err!(blind.read(0, &mut []), Error::InsufficientRights);
    let copy = env.copy(trace, Rights::READ)?;
    check_eq!(now(copy)?, now(trace)?);
    // Badges do not apply.
    let slot = env.slot()?;
    expect_err!(
        init::CNODE.mint(slot, init::CNODE, trace.slot(), Rights::ALL, 1),
        Error::InvalidArgument
    );
    Ok(())
}
