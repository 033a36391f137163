//! Stress, run last: many threads ping-ponging IPC at once, and hundreds of
//! retype/revoke cycles; after each, the untyped everything came from is
//! whole again. Where kernel entries are slow ([`Env::slow_entries`]) both
//! do the least their requirements allow (the sizes below).
//!
//! `stress_ipc`: [`PAIRS`] client/server pairs, each client making
//! [`ROUNDS`] calls with a payload that depends on pair and round (lengths
//! 0..=120, labels, words) through its own badged endpoint cap, and the
//! server checking badge, label, length and every word and answering with
//! another payload the client checks. Some pairs run in the root task's
//! VSpace, some across two new ones (the root task's image mapped into
//! each, [`crate::space::Image`]). All run at the same priority, with a
//! spinner that never makes a syscall: it sees the pairs progress between
//! two of its own reads only if the timer preempts it. Each thread writes
//! its counts and a checksum of what it received into a shared page and
//! signals a notification bound to the root task, which then checks every
//! number against its own computation. Faults of any thread reach the root
//! task as messages on the same receive.
//!
//! `stress_retype_revoke`: [`CYCLES`] cycles that carve a random mix from
//! one untyped — endpoints and notifications in batches, a CNode holding a
//! cap to itself and copies, a VSpace with page tables and frames (every
//! eighth cycle a 2 MiB one), an untyped child with objects of its own, and
//! threads: one blocked receiving (bound to a notification; sometimes woken
//! just before the end), one blocked in a call the root task received and
//! never answers, one stopped sending a fault to an endpoint nobody serves,
//! one that deletes the last cap to itself (every other cycle), one that
//! does so while the root task waits for its reply (the root task's call
//! must fail, not hang), a configured one in the new VSpace and CNode —
//! then revoke it all at once. After each: the caps are gone, the root
//! task's pending reply went nowhere, and the untyped's two halves can be
//! carved. Every 128 cycles a chain of [`CHAIN`] CNodes, each reachable
//! only through the one before, goes with the delete of its head; every
//! 64, a thread revokes the untyped holding the VSpace it runs on. At the
//! end, VSpaces until the address-space ids run out, twice.

use libipc::abi::{CPtr, CapType, Error, Invocation, MSG_MAX_WORDS, NOTIFICATION_LABEL, Rights};
use libipc::cap::{CNode, Cap, Endpoint, Frame, Notification, PageTable, Thread, Untyped, init};
use libipc::sys;
use rt::println;

use crate::arch::{self, Page, REGION};
use crate::env::{Env, RW, Rng, mi};
use crate::fmt::{Fail, TestResult};
use crate::space::{self, Image, Pool, Space};

// ---------------------------------------------------------------------------
// IPC
// ---------------------------------------------------------------------------

/// Client/server pairs and calls per client; where kernel entries are slow
/// ([`Env::slow_entries`]) the least the requirements allow: eight
/// threads, a thousand calls each.
const PAIRS: usize = 6;
const ROUNDS: u64 = 3000;
const MIN_PAIRS: usize = 4;
const MIN_ROUNDS: u64 = 1000;
/// Threads at most: the pairs and the spinner (always the last).
const THREADS: usize = 2 * PAIRS + 1;
/// Spinner work units before it gives up waiting to be preempted.
const SPIN_CAP: u64 = 400_000;

/// Where each pair's client and server run: 0 the root task's VSpace, 1
/// and 2 the two new ones.
const PLACES: [(usize, usize); PAIRS] = [(1, 2), (0, 0), (2, 1), (1, 0), (0, 0), (0, 0)];

/// A thread's record in the shared page: 16 words.
mod rec {
    /// In: the endpoint (client: its badged cap; server: the endpoint).
    pub const EP: u64 = 0;
    /// In: the notification cap to signal when done (badge `1 << t`).
    pub const DONE: u64 = 1;
    /// In: the thread's own cap (it suspends itself at the end).
    pub const SELF: u64 = 2;
    /// In: the pair.
    pub const PAIR: u64 = 3;
    /// In: the badge a server expects.
    pub const BADGE: u64 = 4;
    /// Out: rounds done (spinner: progress changes seen).
    pub const ROUNDS: u64 = 5;
    /// Out: mismatches (spinner: work units spun).
    pub const ERRORS: u64 = 6;
    /// Out: checksum of the words received.
    pub const SUM: u64 = 7;
    /// In: calls per client (spinner: the clients' total).
    pub const CALLS: u64 = 8;
    /// In: pairs (spinner only).
    pub const PAIRS: u64 = 9;
}

fn record(base: u64, t: usize) -> u64 {
    base + 128 * t as u64
}

fn field(rec_va: u64, f: u64) -> u64 {
    arch::load(rec_va + 8 * f)
}

fn set_field(rec_va: u64, f: u64, v: u64) {
    arch::store(rec_va + 8 * f, v)
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn req_len(pair: u64, r: u64) -> usize {
    ((r * 7 + pair * 13) % (MSG_MAX_WORDS as u64 + 1)) as usize
}

fn rep_len(pair: u64, r: u64) -> usize {
    ((r * 11 + pair * 5 + 60) % (MSG_MAX_WORDS as u64 + 1)) as usize
}

fn req_label(pair: u64, r: u64) -> u32 {
    0x4000_0000 | ((pair as u32) << 20) | (r as u32 & 0xf_ffff)
}

fn rep_label(pair: u64, r: u64) -> u32 {
    req_label(pair, r) ^ 0x2000_0000
}

fn req_word(pair: u64, r: u64, j: usize) -> u64 {
    mix((pair << 56) ^ (r << 16) ^ j as u64)
}

fn rep_word(pair: u64, r: u64, j: usize) -> u64 {
    !req_word(pair, r, j).rotate_left(13)
}

/// Checksums of everything a pair's client (replies) and server
/// (requests) receive in `rounds` calls.
fn expected_sums(pair: u64, rounds: u64) -> (u64, u64) {
    let (mut client, mut server) = (0u64, 0u64);
    for r in 0..rounds {
        for j in 0..rep_len(pair, r) {
            client = client.wrapping_add(rep_word(pair, r, j));
        }
        for j in 0..req_len(pair, r) {
            server = server.wrapping_add(req_word(pair, r, j));
        }
    }
    (client, server)
}

/// The end of every stress thread: results, signal, suspend.
fn finish(buf: sys::IpcBuf, me: u64, errors: u64, sum: u64) -> ! {
    set_field(me, rec::ERRORS, errors);
    set_field(me, rec::SUM, sum);
    let _ = buf.send(CPtr(field(me, rec::DONE)), mi(0, 0), &[]);
    let _ = buf.invoke(CPtr(field(me, rec::SELF)), Invocation::ThreadSuspend, &[], &[]);
    loop {
        sys::yield_now();
    }
}

/// A client: its record's number of calls on its endpoint, each reply
/// checked. `me` is its record.
extern "C" fn client(ipc: u64, me: u64, _: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let (ep, pair) = (CPtr(field(me, rec::EP)), field(me, rec::PAIR));
    let (mut errors, mut sum) = (0u64, 0u64);
    let mut words = [0u64; MSG_MAX_WORDS];
    for r in 0..field(me, rec::CALLS) {
        let len = req_len(pair, r);
        for (j, w) in words.iter_mut().enumerate().take(len) {
            *w = req_word(pair, r, j);
        }
        match buf.call(ep, mi(req_label(pair, r), len), words.get(..len).unwrap_or(&[])) {
            Ok(m) => {
                let n = rep_len(pair, r);
                if m.label() != rep_label(pair, r) || m.len() != n {
                    errors += 1;
                }
                for j in 0..m.len() {
                    let w = m.word(j);
                    sum = sum.wrapping_add(w);
                    if w != rep_word(pair, r, j) {
                        errors += 1;
                    }
                }
            }
            Err(_) => errors += 1000,
        }
        set_field(me, rec::ROUNDS, r + 1);
    }
    finish(buf, me, errors, sum)
}

/// A server: its record's number of calls received and checked, each
/// answered.
extern "C" fn server(ipc: u64, me: u64, _: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let (ep, pair, badge) = (CPtr(field(me, rec::EP)), field(me, rec::PAIR), field(me, rec::BADGE));
    let rounds = field(me, rec::CALLS);
    let (mut errors, mut sum) = (0u64, 0u64);
    let mut words = [0u64; MSG_MAX_WORDS];
    let mut m = buf.recv(ep);
    for r in 0..rounds {
        match m {
            Ok(msg) => {
                if msg.badge != badge || msg.label() != req_label(pair, r) {
                    errors += 1;
                }
                if msg.len() != req_len(pair, r) {
                    errors += 1;
                }
                for j in 0..msg.len() {
                    let w = msg.word(j);
                    sum = sum.wrapping_add(w);
                    if w != req_word(pair, r, j) {
                        errors += 1;
                    }
                }
            }
            Err(_) => errors += 1000,
        }
        set_field(me, rec::ROUNDS, r + 1);
        let n = rep_len(pair, r);
        for (j, w) in words.iter_mut().enumerate().take(n) {
            *w = rep_word(pair, r, j);
        }
        let reply = words.get(..n).unwrap_or(&[]);
        if r + 1 < rounds {
            m = buf.reply_recv(ep, mi(rep_label(pair, r), n), reply);
        } else if buf.reply(mi(rep_label(pair, r), n), reply).is_err() {
            errors += 1000;
        }
    }
    finish(buf, me, errors, sum)
}

/// The spinner: no syscall until done; counts how often the clients'
/// progress changed between two of its reads (each change means the timer
/// preempted it). Stops after three, or when the clients are done and it
/// saw one, or after `SPIN_CAP` units of work.
extern "C" fn spinner(ipc: u64, me: u64, records: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let (pairs, total) = (field(me, rec::PAIRS) as usize, field(me, rec::CALLS));
    let progress = || {
        (0..pairs).map(|p| field(record(records, 2 * p), rec::ROUNDS)).fold(0u64, u64::wrapping_add)
    };
    let mut last = progress();
    let (mut changes, mut units, mut x) = (0u64, 0u64, 0x1234_5678u64);
    while changes < 3 && units < SPIN_CAP {
        for _ in 0..256 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x = core::hint::black_box(x);
        }
        units += 1;
        let now = progress();
        if now != last {
            changes += 1;
            last = now;
        }
        if changes > 0 && now == total {
            break;
        }
    }
    set_field(me, rec::ROUNDS, changes);
    finish(buf, me, units, x)
}

/// A thread of the stress test: where it runs and its area there.
struct Placed {
    thread: Cap<Thread>,
    space: usize,
    area: u64,
    entry: space::Entry,
}

pub fn stress_ipc(env: &mut Env) -> TestResult {
    let pool = Pool::new(env, 22)?;
    let r = pool.guard(ipc_run(env, pool));
    let _ = init::THREAD.unbind_notification();
    r
}

fn ipc_run(env: &mut Env, pool: Pool) -> TestResult {
    let (pairs, rounds) =
        if env.slow_entries() { (MIN_PAIRS, MIN_ROUNDS) } else { (PAIRS, ROUNDS) };
    let threads = 2 * pairs + 1;
    let spinner_t = 2 * pairs;
    let mut image = Image::copy(env, &pool)?;
    let mut spaces = [Space::root(), Space::new(env, &pool)?, Space::new(env, &pool)?];
    for s in spaces.iter_mut().skip(1) {
        image.map_into(env, &pool, s)?;
    }
    // The shared page, at the same address everywhere.
    let results: Cap<Frame> = pool.make(env, 12)?;
    let results_root = ok!(Page::map(results, env.free_va()?, RW));
    let base = results_root.va();
    for s in spaces.iter_mut().skip(1) {
        let f = env.copy(results, Rights::ALL)?;
        s.map(env, &pool, f, base, RW)?;
    }

    let ctl: Cap<Endpoint> = pool.make(env, 0)?;
    let done: Cap<Notification> = pool.make(env, 0)?;
    ok!(init::THREAD.bind_notification(done));
    let mut areas = [0u64; 3];
    let mut placed: [Option<Placed>; THREADS] = [const { None }; THREADS];
    for (t, slot) in placed.iter_mut().enumerate().take(threads) {
        let (space, entry): (usize, space::Entry) = match t {
            _ if t == spinner_t => (0, spinner),
            _ if t % 2 == 0 => (PLACES[t / 2].0, client),
            _ => (PLACES[t / 2].1, server),
        };
        let area = areas[space];
        areas[space] += 1;
        let thread: Cap<Thread> = pool.make(env, 0)?;
        *slot = Some(Placed { thread, space, area, entry });
    }

    // Records and threads; the spinner starts first, servers before their
    // clients.
    for p in 0..pairs {
        let ep: Cap<Endpoint> = pool.make(env, 0)?;
        let badge = 0xb000 + p as u64;
        let badged = env.mint(ep, Rights::ALL, badge)?;
        for (t, cap) in [(2 * p, badged), (2 * p + 1, ep)] {
            let r = record(base, t);
            set_field(r, rec::EP, cap.slot());
            set_field(r, rec::PAIR, p as u64);
            set_field(r, rec::BADGE, badge);
            set_field(r, rec::CALLS, rounds);
        }
    }
    let spin = record(base, spinner_t);
    set_field(spin, rec::CALLS, pairs as u64 * rounds);
    set_field(spin, rec::PAIRS, pairs as u64);
    let order = core::iter::once(spinner_t).chain((0..pairs).flat_map(|p| [2 * p + 1, 2 * p]));
    for t in order {
        let Some(pl) = placed[t].as_ref() else { continue };
        let r = record(base, t);
        set_field(r, rec::DONE, env.mint(done, Rights::ALL, 1 << t)?.slot());
        set_field(r, rec::SELF, pl.thread.slot());
        let fault = env.mint(ctl, Rights::ALL, 0x100 + t as u64)?;
        let space = &mut spaces[pl.space];
        let ipc = space.area(env, &pool, pl.area)?;
        let vs = space.vs;
        space::configure(pl.thread, init::CNODE, vs, ipc, space::ipc_va(pl.area))?;
        ok!(pl.thread.set_fault_endpoint(Some(fault)));
        let args = [space::ipc_va(pl.area), r, base, 0];
        space::start(pl.thread, pl.entry, args, space::stack_top(pl.area))?;
    }

    // Wait for all of them: signals arrive through the bound notification.
    let all = (1u64 << threads) - 1;
    let mut seen = 0u64;
    while seen != all {
        let m = ok!(ctl.recv());
        if m.label() != NOTIFICATION_LABEL {
            let t = m.badge.wrapping_sub(0x100);
            return Err(fail!(
                "stress thread {t} faulted: label {:#x}, pc {:#x}, address {:#x}",
                m.label(),
                m.word(0),
                m.word(1)
            ));
        }
        seen |= m.badge;
    }
    ok!(init::THREAD.unbind_notification());

    for p in 0..pairs {
        let (client_sum, server_sum) = expected_sums(p as u64, rounds);
        for (t, sum) in [(2 * p, client_sum), (2 * p + 1, server_sum)] {
            let r = record(base, t);
            check_eq!(field(r, rec::ROUNDS), rounds, "(thread {t} rounds)");
            check_eq!(field(r, rec::ERRORS), 0, "(thread {t} mismatches)");
            check_eq!(field(r, rec::SUM), sum, "(thread {t} checksum)");
        }
    }
    let (changes, units) = (field(spin, rec::ROUNDS), field(spin, rec::ERRORS));
    println!(
        "ktest: stress: {} threads in {pairs} pairs over 3 VSpaces, {} round trips of 0..=120 words; the spinner was preempted {changes}+ times in {units} units",
        2 * pairs,
        pairs as u64 * rounds
    );
    check!(changes >= 1, "the spinner never saw another thread run: no timer preemption");

    for pl in placed.iter().flatten() {
        let _ = pl.thread.suspend();
    }
    let halves = env.slot()?;
    env.slot()?;
    pool.check_whole(halves)
}

// ---------------------------------------------------------------------------
// Retype and revoke
// ---------------------------------------------------------------------------

/// Retype/revoke cycles: 256, or 200 where kernel entries are slow (where
/// also only every eighth cycle starts threads, every 64th makes a 2 MiB
/// frame, one chain is made, shorter, and the address-space ids are not
/// exhausted).
const CYCLES: u64 = 256;
const MIN_CYCLES: u64 = 200;
const CYCLE_BITS: u8 = 23;
/// Root CNode slots each cycle uses (the same ones every cycle).
const CYCLE_SLOTS: u64 = 64;

/// Receive on endpoint `ep` forever.
extern "C" fn blocker(ipc: u64, ep: u64, _: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    loop {
        let _ = buf.recv(CPtr(ep));
    }
}

/// Call endpoint `ep` forever.
extern "C" fn caller(ipc: u64, ep: u64, _: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    loop {
        let _ = buf.call(CPtr(ep), mi(0xca11, 1), &[0x1234]);
    }
}

/// Tell endpoint `ep` (label 0x4e1) that every thread started before this
/// one has blocked (they had turns of round robin to get there), then
/// suspend thread `me`.
extern "C" fn helper(ipc: u64, ep: u64, me: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    for _ in 0..8 {
        sys::yield_now();
    }
    let _ = buf.send(CPtr(ep), mi(0x4e1, 0), &[]);
    let _ = buf.invoke(CPtr(me), Invocation::ThreadSuspend, &[], &[]);
    loop {
        sys::yield_now();
    }
}

/// Delete slot `me` of the root CNode, the last cap to this thread; if
/// that returns, say so on endpoint `ep` (label 0xbad).
extern "C" fn suicide(ipc: u64, me: u64, ep: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let r = buf.invoke(init::CNODE.cptr(), Invocation::CNodeDelete, &[me], &[]);
    let code = match r {
        Ok(_) => 0,
        Err(e) => e as u64,
    };
    loop {
        let _ = buf.send(CPtr(ep), mi(0xbad, 1), &[code]);
    }
}

/// Receive one call on endpoint `ep`, then delete slot `me` of the root
/// CNode (the last cap to this thread) instead of replying; if that
/// returns, report on the endpoint (label 0xbad).
extern "C" fn deserter(ipc: u64, ep: u64, me: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let _ = buf.recv(CPtr(ep));
    let _ = buf.invoke(init::CNODE.cptr(), Invocation::CNodeDelete, &[me], &[]);
    loop {
        let _ = buf.send(CPtr(ep), mi(0xbad, 0), &[]);
    }
}

/// Revoke untyped `nested` (in the root CNode), which holds the VSpace
/// this thread runs in; the kernel must stop the thread rather than return
/// to it. If it does return, report on endpoint `ep` (label 0xbad).
extern "C" fn vspace_killer(ipc: u64, nested: u64, ep: u64, _: u64) -> ! {
    let buf = arch::ipc_buf(ipc);
    let _ = buf.invoke(init::CNODE.cptr(), Invocation::CNodeRevoke, &[nested], &[]);
    loop {
        let _ = buf.send(CPtr(ep), mi(0xbad, 1), &[0x755]);
    }
}

/// The root CNode slots of one cycle, handed out in order.
struct Slots {
    next: u64,
    end: u64,
}

impl Slots {
    fn take(&mut self, n: u64) -> Result<u64, Fail> {
        let s = self.next;
        check!(s + n <= self.end, "a cycle needs more than {CYCLE_SLOTS} slots");
        self.next += n;
        Ok(s)
    }
}

/// What a cycle leaves to check after its revoke (`nested` only in cycles
/// that start threads).
struct Made {
    endpoint: Cap<Endpoint>,
    cnode: Cap<CNode>,
    blocked: Cap<Thread>,
    frame: Cap<Frame>,
    nested: Option<Cap<Untyped>>,
}

/// The cycles' state across cycles.
struct Cycles {
    /// Everything a cycle makes.
    uc: Pool,
    /// What lives across cycles: the threads' stacks, the root task's
    /// tables for their areas, the image.
    keep: Pool,
    root: Space,
    image: Image,
    rng: Rng,
    /// Cycles that start threads: every `threads_every`th; that make a
    /// 2 MiB frame: every `large_every`th.
    threads_every: u64,
    large_every: u64,
    chain: u64,
    objects: u64,
    self_deleted: u64,
    large: u64,
    chains: u64,
    vspace_kills: u64,
}

/// Thread areas (IPC buffer and stack) in the root task's space: the
/// cycles use `FIRST_AREA..FIRST_AREA + AREAS`.
const FIRST_AREA: u64 = 32;
const AREAS: u64 = 6;
/// Depth of the CNode chains (every 128th cycle; a quarter where kernel
/// entries are slow).
const CHAIN: u64 = 1000;

pub fn stress_retype_revoke(env: &mut Env) -> TestResult {
    let uc = Pool::new(env, CYCLE_BITS)?;
    let keep = Pool::new(env, 21)?;
    keep.guard(uc.guard(cycles_run(env, uc, keep)))
}

fn cycles_run(env: &mut Env, uc: Pool, keep: Pool) -> TestResult {
    let mut root = Space::root();
    for k in FIRST_AREA..FIRST_AREA + AREAS {
        for p in 0..space::STACK_PAGES {
            root.page(env, &keep, space::stack_bottom(k) + p * 4096)?;
        }
    }
    let image = Image::copy(env, &keep)?;
    let slow = env.slow_entries();
    let cycles = if slow { MIN_CYCLES } else { CYCLES };
    let mut c = Cycles {
        uc,
        keep,
        root,
        image,
        rng: Rng::new(0x7e70_c1e5),
        threads_every: if slow { 8 } else { 1 },
        large_every: if slow { 64 } else { 8 },
        chain: if slow { CHAIN / 4 } else { CHAIN },
        objects: 0,
        self_deleted: 0,
        large: 0,
        chains: 0,
        vspace_kills: 0,
    };
    let base = env.slot()?;
    for _ in 1..CYCLE_SLOTS {
        env.slot()?;
    }
    for cycle in 0..cycles {
        let mut slots = Slots { next: base, end: base + CYCLE_SLOTS };
        let made = c
            .make(env, &mut slots, cycle)
            .map_err(|f| fail!("cycle {cycle}: line {}: {}", f.line, f.msg))?;
        // All of it at once, and the untyped is whole again.
        let halves = slots.take(2)?;
        uc.check_whole(halves).map_err(|f| fail!("cycle {cycle}: {}", f.msg))?;
        expect_err!(made.endpoint.nb_send(mi(0, 0), &[]), Error::InvalidCapability);
        if let Some(nested) = made.nested {
            // The root task's caller was destroyed: replying reaches nobody.
            ok!(sys::reply(mi(0, 0), &[]));
            expect_err!(made.cnode.delete(1), Error::InvalidCapability);
            expect_err!(made.blocked.read_registers(&mut [0u64; 1]), Error::InvalidCapability);
            expect_err!(made.frame.get_address(), Error::InvalidCapability);
            expect_err!(
                nested.retype(CapType::Endpoint, 0, init::CNODE, slots.next, 1),
                Error::InvalidCapability
            );
        }
    }
    println!(
        "ktest: stress: {cycles} retype/revoke cycles, {} objects ({} threads deleted themselves, {} 2 MiB frames, {} chains of {} CNodes, {} VSpaces destroyed under their thread); the untyped whole after each",
        c.objects, c.self_deleted, c.large, c.chains, c.chain, c.vspace_kills
    );
    let halves = env.slot()?;
    env.slot()?;
    if !slow {
        let asids = asid_exhaustion(env, &uc, halves)?;
        println!("ktest: stress: all {asids} free address-space ids taken, freed, taken again");
    }
    c.keep.check_whole(halves)
}

/// VSpaces until the kernel runs out of address-space ids (not memory:
/// the pool holds far more), twice, with a revoke in between: every id
/// comes back. Returns how many there were.
fn asid_exhaustion(env: &mut Env, pool: &Pool, halves: u64) -> Result<u64, Fail> {
    let k: Cap<CNode> = pool.make(env, 10)?;
    // In batches, halved whenever one does not fit.
    let (mut n, mut batch) = (0u64, 256u64);
    while batch > 0 {
        let count = batch.min((1 << 10) - 1 - n);
        match pool.ut.retype(CapType::VSpace, 0, k, 1 + n, count) {
            Ok(()) => n += count,
            Err(Error::NotEnoughMemory) => batch /= 2,
            Err(e) => return Err(fail!("VSpaces {n}..{}: {e:?}", n + count)),
        }
        check!(n < (1 << 10) - 1, "more VSpaces than address-space ids");
    }
    // Earlier tests keep a few; nearly all ids must have been free.
    check!(n >= 900, "only {n} VSpaces before running out of address-space ids");
    pool.check_whole(halves)?;
    let k: Cap<CNode> = pool.make(env, 10)?;
    let mut made = 0;
    while made < n {
        let count = (n - made).min(256);
        ok!(pool.ut.retype(CapType::VSpace, 0, k, 1 + made, count));
        made += count;
    }
    expect_err!(pool.ut.retype(CapType::VSpace, 0, k, 1 + n, 1), Error::NotEnoughMemory);
    // The newest of them works: a table and a frame map there.
    let vs = env.slot()?;
    ok!(init::CNODE.copy(vs, k, n, Rights::ALL));
    let mut sp = Space::from_cap(Cap::from_slot(vs));
    sp.page(env, pool, REGION.start)?;
    pool.check_whole(halves)?;
    Ok(n)
}

impl Cycles {
    /// Carve and set up one cycle's objects.
    fn make(&mut self, env: &mut Env, slots: &mut Slots, cycle: u64) -> Result<Made, Fail> {
        let ut = self.uc.ut;
        let retype = |ty: CapType, bits: u8, slot: u64, n: u64| -> TestResult {
            match ut.retype(ty, bits, init::CNODE, slot, n) {
                Ok(()) => Ok(()),
                Err(e) => Err(fail!("retype {} x{n}: {e:?}", ty.as_str())),
            }
        };
        let rng = &mut self.rng;
        // Endpoints and notifications in batches.
        let neps = 5 + rng.below(4);
        let eps = slots.take(neps)?;
        retype(CapType::Endpoint, 0, eps, neps)?;
        let nntfns = 1 + rng.below(8);
        let ntfns = slots.take(nntfns)?;
        retype(CapType::Notification, 0, ntfns, nntfns)?;
        self.objects += neps + nntfns;
        let (e0, e1, e2, e3) = (eps, eps + 1, eps + 2, eps + 3);

        // A CNode holding itself, copies and a badged notification.
        let radix = 2 + rng.below(5) as u8;
        let cn: Cap<CNode> = Cap::from_slot(slots.take(1)?);
        retype(CapType::CNode, radix, cn.slot(), 1)?;
        ok!(cn.copy(1, init::CNODE, cn.slot(), Rights::ALL));
        ok!(cn.copy(2, init::CNODE, e0, Rights::ALL));
        ok!(cn.mint(3, init::CNODE, ntfns, Rights::ALL, cycle + 1));
        let heavy = cycle.is_multiple_of(self.threads_every);
        if heavy {
            ok!(cn.move_(3 + rng.below((1 << radix) - 3), cn, 3).or_else(|e| match e {
                Error::SlotOccupied => Ok(()),
                e => Err(e),
            }));
        }

        // A VSpace with tables and frames.
        let vs_slot = slots.take(1)?;
        retype(CapType::VSpace, 0, vs_slot, 1)?;
        let vs = Cap::from_slot(vs_slot);
        let tables = slots.take(arch::TABLE_LEVELS as u64)?;
        retype(CapType::PageTable, 0, tables, arch::TABLE_LEVELS as u64)?;
        for i in 0..arch::TABLE_LEVELS as u64 {
            ok!(Cap::<PageTable>::from_slot(tables + i).map(vs, REGION.start));
        }
        let nframes = if heavy { 1 + rng.below(3) } else { 1 };
        let frames = slots.take(nframes)?;
        retype(CapType::Frame, 12, frames, nframes)?;
        for i in 0..nframes {
            let rights = [RW, Rights::READ, Rights::READ.union(Rights::EXECUTE)];
            let r = rights.get(rng.below(3) as usize).copied().unwrap_or(RW);
            ok!(Cap::<Frame>::from_slot(frames + i).map(vs, REGION.start + i * 4096, r));
        }
        self.objects += 2 + arch::TABLE_LEVELS as u64 + nframes;
        if cycle % self.large_every == 7 {
            let f: Cap<Frame> = Cap::from_slot(slots.take(1)?);
            retype(CapType::Frame, 21, f.slot(), 1)?;
            ok!(f.map(vs, REGION.start + (4 << 20), RW));
            self.objects += 1;
            self.large += 1;
        }

        if !heavy {
            // Only a thread configured in the new CNode and VSpace.
            let endpoint = Cap::from_slot(e0);
            let blocked = Cap::from_slot(slots.take(1)?);
            retype(CapType::Thread, 0, blocked.slot(), 1)?;
            space::configure(blocked, cn, vs, Cap::from_slot(frames), 0x1000)?;
            self.objects += 1;
            let frame = Cap::from_slot(frames);
            return Ok(Made { endpoint, cnode: cn, blocked, frame, nested: None });
        }

        // An untyped child with objects of its own.
        let nested: Cap<Untyped> = Cap::from_slot(slots.take(1)?);
        retype(CapType::Untyped, 14, nested.slot(), 1)?;
        let inner = slots.take(2)?;
        ok!(nested.retype(CapType::Endpoint, 0, init::CNODE, inner, 1));
        ok!(nested.retype(CapType::Frame, 12, init::CNODE, inner + 1, 1));
        self.objects += 3;

        // Threads in the root task's space, IPC buffers from the cycle's
        // untyped (mapped in the root task, unmapped by the revoke).
        let nthreads = 8;
        let threads = slots.take(nthreads)?;
        retype(CapType::Thread, 0, threads, nthreads)?;
        let ipcs = slots.take(AREAS)?;
        retype(CapType::Frame, 12, ipcs, AREAS)?;
        self.objects += nthreads + AREAS;
        let t = |i: u64| Cap::<Thread>::from_slot(threads + i);
        let suicide_now = rng.chance(50);
        for i in 0..5 {
            if i == 3 && !suicide_now {
                continue;
            }
            let area = FIRST_AREA + i;
            let ipc: Cap<Frame> = Cap::from_slot(ipcs + i);
            self.root.map(env, &self.keep, ipc, space::ipc_va(area), RW)?;
            space::configure(t(i), init::CNODE, init::VSPACE, ipc, space::ipc_va(area))?;
            let (entry, args): (space::Entry, [u64; 4]) = match i {
                0 => (blocker, [space::ipc_va(area), e0, 0, 0]),
                1 => (caller, [space::ipc_va(area), e1, 0, 0]),
                2 => (helper, [space::ipc_va(area), e2, t(2).slot(), 0]),
                3 => (suicide, [space::ipc_va(area), t(3).slot(), e2, 0]),
                _ => (deserter, [space::ipc_va(area), e3, t(4).slot(), 0]),
            };
            space::start(t(i), entry, args, space::stack_top(area))?;
        }
        self.self_deleted += 1 + u64::from(suicide_now);
        ok!(t(0).bind_notification(Cap::from_slot(ntfns)));
        // One that faults at once, its fault endpoint served by nobody.
        let nowhere = Cap::<Endpoint>::from_slot(eps + 4 + rng.below(neps - 4));
        ok!(t(5).configure(init::CNODE, init::VSPACE, Cap::from_slot(ipcs), 0x1000));
        crate::env::best_effort(t(5))?;
        ok!(t(5).set_fault_endpoint(Some(nowhere)));
        let mut r = space::entry_regs(blocker, [0; 4], space::stack_top(FIRST_AREA));
        r[crate::arch::regs::PC] = 0x10;
        ok!(t(5).write_registers(true, &r));
        // One in the new CNode and VSpace, never started.
        let copy = slots.take(1)?;
        ok!(init::CNODE.copy(copy, init::CNODE, frames, Rights::ALL));
        let f: Cap<Frame> = Cap::from_slot(copy);
        ok!(f.map(vs, REGION.start + 0x10_0000, RW));
        space::configure(t(6), cn, vs, f, REGION.start + 0x10_0000)?;
        // Now and then one whose VSpace (from the untyped child) it
        // destroys itself, while the CPU runs on it.
        let kill = cycle % 64 == 32;
        if kill {
            let vs2 = slots.take(1)?;
            ok!(nested.retype(CapType::VSpace, 0, init::CNODE, vs2, 1));
            let mut sp = Space::from_cap(Cap::from_slot(vs2));
            self.image.map_into(env, &self.uc, &mut sp)?;
            let ipc = sp.area(env, &self.uc, 0)?;
            space::configure(t(7), init::CNODE, sp.vs, ipc, space::ipc_va(0))?;
            let args = [space::ipc_va(0), nested.slot(), e2, 0];
            space::start(t(7), vspace_killer, args, space::stack_top(0))?;
            self.vspace_kills += 1;
            self.objects += 1;
        }

        // A server that deletes itself instead of answering: the call
        // ends with an error instead of waiting forever.
        expect_err!(
            Cap::<Endpoint>::from_slot(e3).call(mi(0xde5, 0), &[]),
            Error::InvalidCapability
        );
        expect_err!(t(4).read_registers(&mut [0u64; 1]), Error::InvalidCapability);
        // Let them run until all block: the helper, below them, reports.
        let m = ok!(Cap::<Endpoint>::from_slot(e2).recv());
        check_eq!(m.label(), 0x4e1, "(a thread survived deleting itself: {:#x})", m.word(0));
        // Take the call and never answer it.
        let m = ok!(Cap::<Endpoint>::from_slot(e1).recv());
        check_eq!((m.label(), m.word(0)), (0xca11, 0x1234));
        if suicide_now {
            expect_err!(t(3).read_registers(&mut [0u64; 1]), Error::InvalidCapability);
        }
        if kill {
            // The untyped child's objects went with its revoke.
            let ep: Cap<Endpoint> = Cap::from_slot(inner);
            expect_err!(ep.nb_send(mi(0, 0), &[]), Error::InvalidCapability);
        }
        // Sometimes wake the blocked receiver (a message, or its bound
        // notification): it is destroyed ready to run.
        match self.rng.below(3) {
            0 => ok!(Cap::<Endpoint>::from_slot(e0).nb_send(mi(1, 1), &[cycle])),
            1 => ok!(Cap::<Notification>::from_slot(ntfns).signal()),
            _ => {}
        }
        if cycle % 128 == 64 && (self.chain == CHAIN || cycle < 128) {
            self.chain(slots)?;
        }
        Ok(Made {
            endpoint: Cap::from_slot(e0),
            cnode: cn,
            blocked: t(0),
            frame: Cap::from_slot(frames),
            nested: Some(nested),
        })
    }

    /// A chain of `self.chain` CNodes, each reachable only through slot 1 of
    /// the one before, the last holding the only cap to a notification
    /// bound to the root task; deleting the head must destroy all of them
    /// (iteratively), down to the notification (which unbinds it).
    fn chain(&mut self, slots: &mut Slots) -> TestResult {
        let root = init::CNODE;
        let (head, next, prev, canary) =
            (slots.take(1)?, slots.take(1)?, slots.take(1)?, slots.take(1)?);
        let ut = self.uc.ut;
        ok!(ut.retype(CapType::Notification, 0, root, canary, 1));
        ok!(init::THREAD.bind_notification(Cap::from_slot(canary)));
        ok!(ut.retype(CapType::CNode, 1, root, head, 1));
        ok!(root.copy(prev, root, head, Rights::ALL));
        for _ in 0..self.chain {
            ok!(ut.retype(CapType::CNode, 1, root, next, 1));
            ok!(Cap::<CNode>::from_slot(prev).copy(1, root, next, Rights::ALL));
            ok!(root.delete(prev));
            ok!(root.move_(prev, root, next));
        }
        ok!(Cap::<CNode>::from_slot(prev).move_(1, root, canary));
        ok!(root.delete(prev));
        // Still bound: the notification lives on at the bottom.
        let probe = Cap::<Notification>::from_slot(canary);
        ok!(ut.retype(CapType::Notification, 0, root, canary, 1));
        expect_err!(init::THREAD.bind_notification(probe), Error::IllegalOperation);
        ok!(root.delete(head));
        // Gone: the root task can bind another.
        ok!(init::THREAD.bind_notification(probe));
        ok!(init::THREAD.unbind_notification());
        self.objects += self.chain + 3;
        self.chains += 1;
        Ok(())
    }
}
