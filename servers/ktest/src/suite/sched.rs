//! Scheduling contexts (`docs/scheduler.md`): fixed priorities are gone;
//! only the SchedControl capability sets parameters, checked word by word;
//! admission refuses EDF bandwidth beyond the bound with `NoBandwidth` and
//! changes nothing; threads beyond the free contexts are `TableFull`; the timer enforces budgets (a hog with a reservation is
//! throttled, and its replenishments stay on its period's grid); a call
//! runs the server on the caller's context (donation: the caller's budget
//! pays for the server's work), also after the server dropped an earlier
//! caller without replying; dynamic classification promotes a thread
//! that keeps blocking early and demotes it when it turns CPU-bound.
//!
//! What the threads do is observed through the event trace (`Throttle`,
//! `Reclassify` and `SchedConfigure` events name threads by TCB address,
//! which the `SchedConfigure` event of the root task's own configuration
//! reveals). Waits are bounded by the clock (`BootInfo::clock_hz`), never
//! unbounded.

use core::sync::atomic::{AtomicU64, Ordering};

use libipc::abi::sched::{self, Params};
use libipc::abi::trace::{Event, MAX_EVENTS_PER_READ};
use libipc::abi::{CPtr, Error, Invocation, Rights, TraceKind};
use libipc::cap::{Cap, SchedControl, Thread, init};
use libipc::sys;
use libipc::sys::arch::{calibrate, clock, work};

use crate::env::{Env, best_effort, child_ctx, child_exit, mi};
use crate::fmt::{Fail, TestResult};

const MS: u64 = 1_000_000;

/// The clock ([`clock`]) ticks in `ms` milliseconds.
fn ticks(env: &Env, ms: u64) -> u64 {
    env.boot.clock_hz.max(1_000_000) / 1000 * ms
}

/// Spin for `t` ticks of the clock (time passing, whoever runs).
fn spin(t: u64) {
    let start = clock();
    while clock().wrapping_sub(start) < t {
        core::hint::spin_loop();
    }
}

/// Steps of [`work`] this CPU does in `ms` milliseconds (measured by the
/// root task while nothing else runs; the fastest of three).
fn steps_for(env: &Env, ms: u64) -> u64 {
    calibrate(ticks(env, ms), 3)
}

/// The sequence number the next trace event gets.
fn trace_now() -> Result<u64, Fail> {
    Ok(ok!(init::TRACE.read(u64::MAX, &mut [])).next)
}

/// Scan the trace from `*seq` on, calling `f` for each event; `*seq`
/// moves past what was read.
fn scan(seq: &mut u64, mut f: impl FnMut(&Event)) -> TestResult {
    let mut batch = [Event::default(); MAX_EVENTS_PER_READ];
    loop {
        let b = ok!(init::TRACE.read(*seq, &mut batch));
        batch.iter().take(b.count).for_each(&mut f);
        *seq = b.next;
        if b.count == 0 {
            return Ok(());
        }
    }
}

/// Configure `t` with `p` and return its TCB address as the trace names it
/// (from the `SchedConfigure` event the configuration records).
fn configure(t: Cap<Thread>, p: Params) -> Result<u64, Fail> {
    let mut seq = trace_now()?;
    ok!(init::SCHED_CONTROL.configure(t, p));
    let mut addr = 0;
    scan(&mut seq, |e| {
        if e.kind() == Some(TraceKind::SchedConfigure) {
            addr = e.thread;
        }
    })?;
    check!(addr != 0, "no SchedConfigure event for {t:?}");
    Ok(addr)
}

/// ThreadSetPriority is gone (its label stays reserved); ThreadConfigure
/// ignores the priority word it used to take.
pub fn sched_priorities_removed(env: &mut Env) -> TestResult {
    let (t, frame, va) = env.thread()?;
    expect_err!(t.invoke(Invocation::ThreadSetPriority, &[100], &[]), Error::IllegalOperation);
    expect_err!(t.invoke(Invocation::ThreadSetPriority, &[], &[]), Error::IllegalOperation);
    let caps = [init::CNODE.cptr(), init::VSPACE.cptr(), frame.cptr()];
    ok!(t.invoke(Invocation::ThreadConfigure, &[va, 255], &caps));
    ok!(t.invoke(Invocation::ThreadConfigure, &[va], &caps));
    Ok(())
}

/// Every word of SchedControlConfigure is checked; only the SchedControl
/// capability (with WRITE) configures.
pub fn sched_configure_errors(env: &mut Env) -> TestResult {
    let (t, _, _) = env.thread()?;
    let sc = init::SCHED_CONTROL;
    let bad = |p: Params| sc.configure(t, p);
    // Good ones.
    ok!(sc.configure(t, Params::rr(0)));
    ok!(sc.configure(t, Params::rr(2 * MS).adaptive(true)));
    ok!(sc.configure(t, Params::edf(MS, 10 * MS)));
    ok!(sc.configure(t, Params::edf(MS, 10 * MS).with_deadline(5 * MS)));
    ok!(sc.configure(t, Params::rr(0)));
    // Bad numbers.
    expect_err!(bad(Params { class: 2, ..Params::rr(0) }), Error::InvalidArgument);
    expect_err!(bad(Params::edf(0, 10 * MS)), Error::InvalidArgument);
    expect_err!(bad(Params::edf(11 * MS, 10 * MS)), Error::InvalidArgument);
    expect_err!(bad(Params::edf(2 * MS, 10 * MS).with_deadline(MS)), Error::InvalidArgument);
    expect_err!(bad(Params::edf(MS, 10 * MS).with_deadline(20 * MS)), Error::InvalidArgument);
    expect_err!(bad(Params::edf(1, 2)), Error::InvalidArgument);
    expect_err!(bad(Params::edf(MS, u64::MAX)), Error::InvalidArgument);
    expect_err!(bad(Params::rr(1)), Error::InvalidArgument);
    expect_err!(bad(Params::rr(u64::MAX)), Error::InvalidArgument);
    expect_err!(bad(Params { flags: 2, ..Params::rr(0) }), Error::InvalidArgument);
    // Bad messages: too short, no thread, not a thread.
    let w = Params::rr(0).to_words();
    expect_err!(
        sc.invoke(Invocation::SchedControlConfigure, &w[..5], &[t.cptr()]),
        Error::InvalidArgument
    );
    expect_err!(sc.invoke(Invocation::SchedControlConfigure, &w, &[]), Error::InvalidArgument);
    let ep = env.endpoint()?;
    expect_err!(sc.invoke(Invocation::SchedControlConfigure, &w, &[ep.cptr()]), Error::WrongType);
    // Not SchedControl: the thread's own cap, the trace cap.
    let on_thread: Cap<SchedControl> = t.cast();
    expect_err!(on_thread.configure(t, Params::rr(0)), Error::IllegalOperation);
    expect_err!(
        init::TRACE.cast::<SchedControl>().configure(t, Params::rr(0)),
        Error::IllegalOperation
    );
    // A read-only copy of SchedControl is not enough.
    let ro = env.copy(sc, Rights::READ)?;
    expect_err!(ro.configure(t, Params::rr(0)), Error::InsufficientRights);
    let rw = env.copy(sc, Rights::ALL)?;
    ok!(rw.configure(t, Params::rr(0)));
    Ok(())
}

/// EDF reservations are admitted up to the bound (90% of the CPU); one
/// more is refused with NoBandwidth and changes nothing; releasing
/// bandwidth (back to round robin) lets it in.
pub fn sched_admission(env: &mut Env) -> TestResult {
    let (a, _, _) = env.thread()?;
    let (b, _, _) = env.thread()?;
    let (c, _, _) = env.thread()?;
    let sc = init::SCHED_CONTROL;
    ok!(sc.configure(a, Params::edf(4 * MS, 10 * MS)));
    ok!(sc.configure(b, Params::edf(20 * MS, 50 * MS)));
    // 80% admitted; 20% more is over the bound.
    expect_err!(sc.configure(c, Params::edf(2 * MS, 10 * MS)), Error::NoBandwidth);
    // A constrained deadline counts its density: 1 ms in 5 ms is 20%.
    expect_err!(
        sc.configure(c, Params::edf(MS, 50 * MS).with_deadline(5 * MS)),
        Error::NoBandwidth
    );
    ok!(sc.configure(c, Params::edf(MS, 10 * MS)));
    // Growing an admitted reservation is admission again; a refusal keeps
    // the old one (10% more still fits after it).
    expect_err!(sc.configure(a, Params::edf(6 * MS, 10 * MS)), Error::NoBandwidth);
    expect_err!(sc.configure(b, Params::edf(30 * MS, 50 * MS)), Error::NoBandwidth);
    ok!(sc.configure(a, Params::edf(4 * MS, 10 * MS)));
    // Round robin gives the bandwidth back.
    ok!(sc.configure(b, Params::rr(0)));
    ok!(sc.configure(c, Params::edf(5 * MS, 10 * MS)));
    for t in [a, b, c] {
        best_effort(t)?;
    }
    // All of it is free again.
    ok!(sc.configure(a, Params::edf(9 * MS, 10 * MS)));
    best_effort(a)
}

/// Every thread takes one of its CPU's 256 scheduling contexts: a retype
/// of more threads than there are free contexts fails with `TableFull`
/// and makes none; a thread's deletion gives its context back.
pub fn sched_table_full(env: &mut Env) -> TestResult {
    const N: u64 = 256;
    let ut: Cap<libipc::cap::Untyped> = env.retype(20)?;
    let first = env.slot()?;
    for i in 1..N {
        check_eq!(env.slot()?, first + i, "(free slots are not consecutive)");
    }
    // The root task's own context is in use, so 256 never fit.
    expect_err!(
        ut.retype(libipc::abi::CapType::Thread, 0, init::CNODE, first, N),
        Error::TableFull
    );
    // Nothing was made: the first slot is still free and the untyped
    // still carves there.
    ok!(ut.retype(libipc::abi::CapType::Thread, 0, init::CNODE, first, 1));
    let t: Cap<Thread> = Cap::from_slot(first);
    ok!(init::SCHED_CONTROL.configure(t, Params::rr(0)));
    ok!(init::CNODE.delete(first));
    expect_err!(init::SCHED_CONTROL.configure(t, Params::rr(0)), Error::InvalidCapability);
    Ok(())
}

/// Spin forever.
extern "C" fn hog(_idx: u64) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// A CPU hog with a reservation of 1 ms every 10 ms is throttled each
/// period (budget enforcement by the timer), and its budget comes back on
/// the period's grid (unless the kernel ran more than a period late, which
/// a loaded host can make happen now and then: most must be on it).
pub fn sched_budget_enforced(env: &mut Env) -> TestResult {
    let h = env.spawn_at(hog, [0; 4])?;
    let period = 10 * MS;
    let addr = configure(h.thread, Params::edf(MS, period))?;
    let mut seq = trace_now()?;
    ok!(h.thread.resume());
    let mut untils = [0u64; 7];
    let mut n = 0;
    let deadline = clock() + ticks(env, 5_000);
    while n < untils.len() && clock() < deadline {
        // The hog preempts this (round-robin) thread whenever it has budget.
        sys::yield_now();
        scan(&mut seq, |e| {
            if e.kind() == Some(TraceKind::Throttle) && e.thread == addr && n < untils.len() {
                untils[n] = e.a;
                n += 1;
            }
        })?;
    }
    ok!(h.thread.suspend());
    best_effort(h.thread)?;
    check_eq!(n, untils.len(), "(throttles of the hog seen in 5 s: {untils:?})");
    let on_grid = untils
        .windows(2)
        .filter(|w| {
            let d = w[1].wrapping_sub(w[0]);
            d >= period && d % period == 0
        })
        .count();
    check!(on_grid * 2 > untils.len(), "replenishments off the grid: {untils:?}");
    Ok(())
}

/// Steps of [`work`] the server does per call.
static DONATION_WORK: AtomicU64 = AtomicU64::new(0);

/// Server on endpoint `a[0]`: for each call do [`DONATION_WORK`] steps of
/// work, then reply.
extern "C" fn busy_server(idx: u64) -> ! {
    let c = child_ctx(idx);
    let ep = CPtr(c.a[0]);
    let mut r = c.buf.recv(ep);
    while r.is_ok() {
        work(DONATION_WORK.load(Ordering::Relaxed));
        r = c.buf.reply_recv(ep, mi(0, 0), &[]);
    }
    child_exit(&c)
}

/// Client: call `a[0]` once, then report on `a[1]`.
extern "C" fn one_call(idx: u64) -> ! {
    let c = child_ctx(idx);
    let r = c.buf.call(CPtr(c.a[0]), mi(1, 0), &[]);
    let _ = c.buf.send(CPtr(c.a[1]), mi(0xd0, 1), &[u64::from(r.is_ok())]);
    child_exit(&c)
}

/// Donation: a client with 1 ms every 10 ms calls a server that works
/// about 30 ms for it (calibrated roughly: under TCG on a loaded host the
/// speed of the machine varies by a factor of several). The server
/// runs on the client's context, so the client's budget pays: the
/// client's context is throttled while the server (not the client) runs
/// on it, and the call takes several periods.
pub fn sched_donation(env: &mut Env) -> TestResult {
    DONATION_WORK.store(steps_for(env, 30), Ordering::Relaxed);
    let ep = env.endpoint()?;
    let reports = env.endpoint()?;
    let server = env.spawn_at(busy_server, [ep.slot(), 0, 0, 0])?;
    let client = env.spawn_at(one_call, [ep.slot(), reports.slot(), 0, 0])?;
    let s = configure(server.thread, Params::rr(0))?;
    let c = configure(client.thread, Params::edf(MS, 10 * MS))?;
    let mut seq = trace_now()?;
    ok!(server.thread.resume());
    ok!(client.thread.resume());
    let m = ok!(reports.recv());
    check_eq!((m.label(), m.word(0)), (0xd0, 1), "(the call failed)");
    let (mut lent, mut own, mut server_own) = (0, 0, 0);
    scan(&mut seq, |e| {
        if e.kind() == Some(TraceKind::Throttle) {
            match (e.thread, e.b) {
                (t, r) if t == c && r == s => lent += 1,
                (t, _) if t == c => own += 1,
                (t, _) if t == s => server_own += 1,
                _ => {}
            }
        }
    })?;
    best_effort(client.thread)?;
    check!(
        lent >= 3,
        "the client's context was throttled {lent} times while the server ran on it ({own} times otherwise)"
    );
    check_eq!(server_own, 0, "(the server's own context is round robin)");
    Ok(())
}

/// Server on endpoint `a[0]` that drops its first caller: it receives a
/// call, reports on `a[1]`, and waits with a plain `Recv` without
/// replying; every call after that it serves as [`busy_server`] does.
extern "C" fn dropping_server(idx: u64) -> ! {
    let c = child_ctx(idx);
    let ep = CPtr(c.a[0]);
    if c.buf.recv(ep).is_ok() {
        let _ = c.buf.send(CPtr(c.a[1]), mi(0x51, 0), &[]);
        let mut r = c.buf.recv(ep);
        while r.is_ok() {
            work(DONATION_WORK.load(Ordering::Relaxed));
            r = c.buf.reply_recv(ep, mi(0, 0), &[]);
        }
    }
    child_exit(&c)
}

/// Client: call `a[0]` once, then report on `a[1]` with label `a[2]` and
/// one word: 0 if the call succeeded, else its error code.
extern "C" fn tagged_call(idx: u64) -> ! {
    let c = child_ctx(idx);
    let code = match c.buf.call(CPtr(c.a[0]), mi(1, 0), &[]) {
        Ok(_) => 0,
        Err(e) => e as u64,
    };
    let _ = c.buf.send(CPtr(c.a[1]), mi(c.a[2] as u32, 1), &[code]);
    child_exit(&c)
}

/// Donation after a dropped caller: a server receives a call from a
/// round-robin client and, without replying, waits again (plain `Recv`).
/// A second client with 1 ms every 10 ms then calls, and the server works
/// about 30 ms for it. The first caller gets `IllegalOperation`; the
/// second call runs on the second caller's context (its budget pays: it is
/// throttled while the server runs on it), not on the server's own round-
/// robin context, as it did when the server kept the dropped caller's
/// loan. Every wait is bounded; the margins are those of
/// [`sched_donation`] (30 ms of work, 3 throttles asked for).
pub fn sched_donation_after_drop(env: &mut Env) -> TestResult {
    DONATION_WORK.store(steps_for(env, 30), Ordering::Relaxed);
    let ep = env.endpoint()?;
    let reports = env.endpoint()?;
    let server = env.spawn_at(dropping_server, [ep.slot(), reports.slot(), 0, 0])?;
    let first = env.spawn_at(tagged_call, [ep.slot(), reports.slot(), 0xa0, 0])?;
    let second = env.spawn_at(tagged_call, [ep.slot(), reports.slot(), 0xb0, 0])?;
    let s = configure(server.thread, Params::rr(0))?;
    configure(first.thread, Params::rr(0))?;
    let c = configure(second.thread, Params::edf(MS, 10 * MS))?;
    let mut seq = trace_now()?;
    let (mut lent, mut own, mut server_own) = (0, 0, 0);
    let mut count = |e: &Event| {
        if e.kind() == Some(TraceKind::Throttle) {
            match (e.thread, e.b) {
                (t, r) if t == c && r == s => lent += 1,
                (t, _) if t == c => own += 1,
                (t, _) if t == s => server_own += 1,
                _ => {}
            }
        }
    };
    // Reports: (server has the first call, first client's code, second's).
    let (mut taken, mut a, mut b) = (false, None, None);
    ok!(server.thread.resume());
    ok!(first.thread.resume());
    let deadline = clock() + ticks(env, 20_000);
    while (a.is_none() || b.is_none()) && clock() < deadline {
        match reports.nb_recv() {
            Ok(m) => match m.label() {
                0x51 if !taken => {
                    // The server holds the first call and is about to
                    // wait again: now the second client calls.
                    taken = true;
                    ok!(second.thread.resume());
                }
                0xa0 => a = Some(m.word(0)),
                0xb0 => b = Some(m.word(0)),
                l => return Err(fail!("unexpected report {l:#x}")),
            },
            Err(Error::WouldBlock) => sys::yield_now(),
            Err(e) => return Err(fail!("reports: {e:?}")),
        }
        // Read the trace as it goes, so that no throttle is overwritten.
        scan(&mut seq, &mut count)?;
    }
    scan(&mut seq, &mut count)?;
    let _ = first.thread.suspend();
    let _ = second.thread.suspend();
    best_effort(second.thread)?;
    check!(taken, "the server never received the first call");
    check_eq!(a, Some(Error::IllegalOperation as u64), "(the dropped caller's result)");
    check_eq!(b, Some(0), "(the second call's result)");
    check!(
        lent >= 3,
        "the second client's context was throttled {lent} times while the server ran on it ({own} times otherwise)"
    );
    check_eq!(server_own, 0, "(the server's own context is round robin)");
    Ok(())
}

/// Set by the root task when [`phases`] should turn CPU-bound.
static CPU_BOUND: AtomicU64 = AtomicU64::new(0);

/// Wait on notification `a[0]` (short bursts) until [`CPU_BOUND`] is set,
/// then spin forever.
extern "C" fn phases(idx: u64) -> ! {
    let c = child_ctx(idx);
    while CPU_BOUND.load(Ordering::Relaxed) == 0 {
        let _ = c.buf.recv(CPtr(c.a[0]));
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Dynamic classification: an adaptive round-robin thread that keeps
/// blocking after short bursts is promoted to EDF (a `Reclassify` event
/// with its derived reservation); when it turns CPU-bound it exhausts that
/// budget again and again and is demoted back to round robin.
pub fn sched_classification(env: &mut Env) -> TestResult {
    const WAKES: u64 = 12;
    let n = env.notification()?;
    CPU_BOUND.store(0, Ordering::Relaxed);
    let p = env.spawn_at(phases, [n.slot(), 0, 0, 0])?;
    let addr = configure(p.thread, Params::rr(0).adaptive(true))?;
    let mut seq = trace_now()?;
    ok!(p.thread.resume());
    let gap = ticks(env, 2);
    for _ in 0..WAKES {
        // Let it run and block; then wait a little so that its derived
        // reservation is well under the 25% a latency task may have.
        sys::yield_now();
        spin(gap);
        ok!(n.signal());
        sys::yield_now();
    }
    CPU_BOUND.store(1, Ordering::Relaxed);
    ok!(n.signal());
    let (mut promoted, mut demoted) = (None, false);
    let deadline = clock() + ticks(env, 5_000);
    while !demoted && clock() < deadline {
        sys::yield_now();
        scan(&mut seq, |e| {
            if e.kind() == Some(TraceKind::Reclassify) && e.thread == addr {
                match u64::from(e.c) {
                    sched::CLASS_EDF => promoted = Some((e.a, e.b)),
                    _ => demoted = promoted.is_some(),
                }
            }
        })?;
    }
    ok!(p.thread.suspend());
    best_effort(p.thread)?;
    let Some((budget, period)) = promoted else {
        return Err(fail!("never promoted after {WAKES} short bursts"));
    };
    check!(budget > 0 && budget <= period, "derived reservation {budget} / {period}");
    check!(demoted, "promoted ({budget} ns / {period} ns) but not demoted when CPU-bound");
    Ok(())
}
