//! FP/vector state is per thread: x86_64 xmm0-xmm15, MXCSR, the x87
//! control word and stack; riscv64 f0-f31 and fcsr. Every value is loaded
//! and checked by one asm gadget ([`arch::fp_cycle`]) around a spin loop
//! and a syscall, so no compiled code touches the registers in between
//! (see the FP section of `arch.rs` for why).
//!
//! `fp_state_switches`: a client and a server ping-pong [`ROUNDS`] calls
//! (every sixteenth round the client yields instead), each holding its
//! own values through the call or reply-and-receive and through a spin
//! loop; a third thread spins with its values loaded and never makes a
//! syscall, so it runs only when the timer preempts the pair and gives the
//! CPU back only when the timer preempts it. Each thread counts its
//! rounds in which the other side made progress (it was preempted with
//! its values loaded) and every value that did not come back.
//!
//! `fp_state_fresh_thread`: a thread loads its values and blocks; a new
//! thread that runs next reports the FP state of its very first
//! instruction: the architecture's initial state, none of the other
//! thread's values. The blocked thread's values are intact afterwards.
//! (On x86_64 that instruction, `fxsave64`, is also the thread's first FP
//! instruction, which traps once to the kernel: the state is seen after
//! the kernel made the thread an FP user.)
//!
//! `fp_state_survives_fault`: a thread faults (an unknown syscall) with
//! its values loaded; the root task, its handler, loads its own and
//! yields before it replies; the thread's values are intact.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use libipc::abi::{CPtr, FAULT_LABEL_BASE, FaultKind, Rights, Syscall, regs as abi_regs};

use crate::arch::{self, FpCycle, regs};
use crate::env::{Env, RW, child_ctx, child_exit, mi};
use crate::fmt::TestResult;
use rt::println;

/// Calls the client makes; where kernel entries are slow
/// ([`Env::slow_entries`]) fewer.
const ROUNDS: u64 = 400;
const SLOW_ROUNDS: u64 = 100;
/// Spin-loop iterations: the client's and server's vary per round up to
/// this; the spinner's every time (long enough that timer interrupts land
/// inside its gadget, short enough to check the stop flag often).
const PAIR_SPINS: u64 = 16_000;
const SPINNER_SPINS: u64 = 1 << 16;
/// The spinner gives up after this many gadget runs even if never told to
/// stop (so a broken client cannot hang the suite in it).
const SPINNER_CAP: u64 = 200_000;

/// The three threads of `fp_state_switches`, as indexes of [`STATS`].
const CLIENT: usize = 0;
const SERVER: usize = 1;
const SPINNER: usize = 2;

/// Per thread: rounds done, rounds in which another thread ran inside its
/// gadget, values that did not come back, IPC results that were wrong, and
/// the first bad value (index, loaded, stored).
struct Stats {
    rounds: AtomicU64,
    preempted: AtomicU64,
    bad: AtomicU64,
    ipc_errors: AtomicU64,
    first_bad: [AtomicU64; 3],
}

impl Stats {
    const fn new() -> Stats {
        Stats {
            rounds: AtomicU64::new(0),
            preempted: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            ipc_errors: AtomicU64::new(0),
            first_bad: [const { AtomicU64::new(0) }; 3],
        }
    }

    fn reset(&self) {
        self.rounds.store(0, Ordering::Relaxed);
        self.preempted.store(0, Ordering::Relaxed);
        self.bad.store(0, Ordering::Relaxed);
        self.ipc_errors.store(0, Ordering::Relaxed);
        for w in &self.first_bad {
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Count `c`'s mismatches (recording the first ever seen).
    fn check(&self, c: &FpCycle) {
        if let Some((i, loaded, stored)) = c.mismatch()
            && self.bad.fetch_add(1, Ordering::Relaxed) == 0
        {
            self.first_bad[0].store(i as u64, Ordering::Relaxed);
            self.first_bad[1].store(loaded, Ordering::Relaxed);
            self.first_bad[2].store(stored, Ordering::Relaxed);
        }
    }

    fn first_bad(&self) -> [u64; 3] {
        [0, 1, 2].map(|i| self.first_bad[i].load(Ordering::Relaxed))
    }
}

static STATS: [Stats; 3] = [const { Stats::new() }; 3];
static STOP: AtomicBool = AtomicBool::new(false);

/// The values thread `tag` loads in round `r`.
fn pattern(tag: u64, r: u64) -> arch::FpRegs {
    arch::fp_pattern((tag << 40) ^ r)
}

fn syscall_io(sc: Syscall, args: [u64; 6]) -> [u64; 7] {
    let mut io = [sc.to_raw(), 0, 0, 0, 0, 0, 0];
    io[1..].copy_from_slice(&args);
    io
}

/// What the server answers to word `w`.
fn answer(w: u64) -> u64 {
    w ^ 0x0b0b_0b0b_0b0b_0b0b
}

/// The client: `a[0]` the endpoint, `a[1]` a notification cap to signal
/// when done, `a[2]` the rounds.
extern "C" fn fp_client(idx: u64) -> ! {
    let c = child_ctx(idx);
    let st = &STATS[CLIENT];
    for r in 0..c.a[2] {
        let before = STATS[SPINNER].rounds.load(Ordering::Relaxed);
        let calls = r % 16 != 15;
        let io = if calls {
            syscall_io(Syscall::Call, [c.a[0], mi(0xf1, 1).raw(), r, 0, 0, 0])
        } else {
            syscall_io(Syscall::Yield, [0; 6])
        };
        let mut cyc = FpCycle::new(pattern(1, r), (r % 8) * (PAIR_SPINS / 8), io);
        arch::fp_cycle(&mut cyc);
        st.check(&cyc);
        if STATS[SPINNER].rounds.load(Ordering::Relaxed) != before {
            st.preempted.fetch_add(1, Ordering::Relaxed);
        }
        if calls && (cyc.io[abi_regs::RES_ERROR] != 0 || cyc.io[abi_regs::RES_MR0] != answer(r)) {
            st.ipc_errors.fetch_add(1, Ordering::Relaxed);
        }
        st.rounds.store(r + 1, Ordering::Relaxed);
    }
    STOP.store(true, Ordering::Relaxed);
    let _ = c.buf.send(CPtr(c.a[1]), mi(0, 0), &[]);
    child_exit(&c)
}

/// The server: `a[0]` the endpoint. Receives, then answers each call and
/// waits for the next one, in the gadget; never returns from the last
/// wait (the test's cleanup suspends it).
extern "C" fn fp_server(idx: u64) -> ! {
    let c = child_ctx(idx);
    let st = &STATS[SERVER];
    let mut io = syscall_io(Syscall::Recv, [c.a[0], 0, 0, 0, 0, 0]);
    let mut r = 0u64;
    loop {
        let before = STATS[SPINNER].rounds.load(Ordering::Relaxed);
        let mut cyc = FpCycle::new(pattern(2, r), (r % 5) * (PAIR_SPINS / 5), io);
        arch::fp_cycle(&mut cyc);
        st.check(&cyc);
        if STATS[SPINNER].rounds.load(Ordering::Relaxed) != before {
            st.preempted.fetch_add(1, Ordering::Relaxed);
        }
        // Call `r` carries the client's round number, which skips every
        // sixteenth round (a yield).
        let w = cyc.io[abi_regs::RES_MR0];
        if cyc.io[abi_regs::RES_ERROR] != 0 || w != r + r / 15 {
            st.ipc_errors.fetch_add(1, Ordering::Relaxed);
        }
        r += 1;
        st.rounds.store(r, Ordering::Relaxed);
        io = syscall_io(Syscall::ReplyRecv, [c.a[0], mi(0xf2, 1).raw(), answer(w), 0, 0, 0]);
    }
}

/// The spinner: `a[0]` a notification cap to signal when done. Its gadget
/// makes no syscall: another thread runs inside it only by preemption.
extern "C" fn fp_spinner(idx: u64) -> ! {
    let c = child_ctx(idx);
    let st = &STATS[SPINNER];
    let mut r = 0u64;
    while !STOP.load(Ordering::Relaxed) && r < SPINNER_CAP {
        let before = STATS[CLIENT].rounds.load(Ordering::Relaxed);
        let mut cyc = FpCycle::new(pattern(3, r), SPINNER_SPINS, [0; 7]);
        arch::fp_cycle(&mut cyc);
        st.check(&cyc);
        if STATS[CLIENT].rounds.load(Ordering::Relaxed) != before {
            st.preempted.fetch_add(1, Ordering::Relaxed);
        }
        r += 1;
        st.rounds.store(r, Ordering::Relaxed);
    }
    let _ = c.buf.send(CPtr(c.a[0]), mi(0, 0), &[]);
    child_exit(&c)
}

pub fn fp_state_switches(env: &mut Env) -> TestResult {
    for s in &STATS {
        s.reset();
    }
    STOP.store(false, Ordering::Relaxed);
    let rounds = if env.slow_entries() { SLOW_ROUNDS } else { ROUNDS };
    let ep = env.endpoint()?;
    let n = env.notification()?;
    let client_done = env.mint(n, RW, 1)?;
    let spinner_done = env.mint(n, RW, 2)?;
    env.spawn(fp_server, [ep.slot(), 0, 0, 0])?;
    env.spawn(fp_client, [ep.slot(), client_done.slot(), rounds, 0])?;
    env.spawn(fp_spinner, [spinner_done.slot(), 0, 0, 0])?;
    let mut word = 0;
    while word != 3 {
        word |= ok!(n.wait());
    }
    let calls = rounds - rounds / 16;
    for (name, i) in [("client", CLIENT), ("server", SERVER), ("spinner", SPINNER)] {
        let st = &STATS[i];
        check_eq!(
            st.bad.load(Ordering::Relaxed),
            0,
            "({name}: FP values changed; first: [index, loaded, stored] = {:x?})",
            st.first_bad()
        );
        check_eq!(st.ipc_errors.load(Ordering::Relaxed), 0, "({name}: wrong IPC results)");
    }
    check_eq!(STATS[CLIENT].rounds.load(Ordering::Relaxed), rounds);
    check_eq!(STATS[SERVER].rounds.load(Ordering::Relaxed), calls);
    // The spinner never gives the CPU away: the client progressed during
    // its gadget only because the timer preempted it there; and the pair
    // saw the spinner progress during theirs only by being preempted.
    let spinner_preempted = STATS[SPINNER].preempted.load(Ordering::Relaxed);
    let pair_preempted = STATS[CLIENT].preempted.load(Ordering::Relaxed)
        + STATS[SERVER].preempted.load(Ordering::Relaxed);
    println!(
        "ktest: fp: {rounds} rounds ({calls} calls); preempted with FP values loaded: spinner {spinner_preempted} of {} runs, client and server {pair_preempted}",
        STATS[SPINNER].rounds.load(Ordering::Relaxed)
    );
    check!(spinner_preempted > 0, "the spinner was never preempted with its values loaded");
    check!(pair_preempted > 0, "the client and server were never preempted with values loaded");
    Ok(())
}

// ---------------------------------------------------------------------------
// A new thread's initial state
// ---------------------------------------------------------------------------

static MARKED: AtomicBool = AtomicBool::new(false);

/// Loads its values and waits on endpoint `a[0]` with them; once woken,
/// sends on `a[1]` whether they all came back (label 0xf4: 1 yes, 0 no,
/// then the first bad index).
extern "C" fn fp_marker(idx: u64) -> ! {
    let c = child_ctx(idx);
    let mut cyc =
        FpCycle::new(pattern(4, 0), 0, syscall_io(Syscall::Recv, [c.a[0], 0, 0, 0, 0, 0]));
    MARKED.store(true, Ordering::Relaxed);
    arch::fp_cycle(&mut cyc);
    let (ok, i) = match cyc.mismatch() {
        None => (1, 0),
        Some((i, _, _)) => (0, i as u64),
    };
    let _ = c.buf.send(CPtr(c.a[1]), mi(0xf4, 2), &[ok, i]);
    child_exit(&c)
}

/// Started at `arch::fp_entry_address`, which stored its initial FP state:
/// sends on `a[0]` whether the marker thread had loaded its values first
/// (label 0xf5).
extern "C" fn fp_fresh(idx: u64) -> ! {
    let c = child_ctx(idx);
    let marked = u64::from(MARKED.load(Ordering::Relaxed));
    let _ = c.buf.send(CPtr(c.a[0]), mi(0xf5, 1), &[marked]);
    child_exit(&c)
}

pub fn fp_state_fresh_thread(env: &mut Env) -> TestResult {
    MARKED.store(false, Ordering::Relaxed);
    arch::fp_dump_clear();
    let wait = env.endpoint()?;
    let report = env.endpoint()?;
    // Round robin runs them in this order once the root task waits: the
    // marker loads its values and blocks, then the new thread starts.
    env.spawn(fp_marker, [wait.slot(), report.slot(), 0, 0])?;
    let fresh = env.spawn_at(fp_fresh, [report.slot(), 0, 0, 0])?;
    let mut r = fresh.regs;
    r[regs::PC] = arch::fp_entry_address();
    r[regs::CALL_ARGS[1]] = arch::fp_dump_address();
    r[regs::CALL_ARGS[2]] = fp_fresh as *const () as usize as u64;
    ok!(fresh.thread.write_registers(true, &r));
    let m = ok!(report.recv());
    check_eq!(m.label(), 0xf5);
    check_eq!(m.word(0), 1, "(the marker thread had not loaded its values first)");
    for i in 0..64 {
        if let Some((want, mask)) = arch::fp_initial_word(i) {
            let got = arch::fp_dump_word(i);
            check_eq!(got & mask, want, "(initial FP state, word {i}; mask {mask:#x})");
        }
    }
    // Wake the marker: its values survived the new thread.
    ok!(wait.send(mi(0, 0), &[]));
    let m = ok!(report.recv());
    check_eq!(m.label(), 0xf4);
    check_eq!(m.word(0), 1, "(marker's FP values changed; first bad index {})", m.word(1));
    Ok(())
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/// Faults with its values loaded (a Linux syscall number), then sends on
/// `a[0]`: whether they came back, the first bad index, and the result
/// register the handler set (label 0xf6).
extern "C" fn fp_faulter(idx: u64) -> ! {
    let c = child_ctx(idx);
    let mut cyc = FpCycle::new(pattern(6, 0), 1000, [arch::LINUX_GETPID, 0, 0, 0, 0, 0, 0]);
    arch::fp_cycle(&mut cyc);
    let (ok, i) = match cyc.mismatch() {
        None => (1, 0),
        Some((i, _, _)) => (0, i as u64),
    };
    let _ = c.buf.send(CPtr(c.a[0]), mi(0xf6, 3), &[ok, i, cyc.io[0]]);
    child_exit(&c)
}

pub fn fp_state_survives_fault(env: &mut Env) -> TestResult {
    const FAULT_BADGE: u64 = 0xfb;
    let ep = env.endpoint()?;
    let fault_ep = env.mint(ep, Rights::ALL, FAULT_BADGE)?;
    let child = env.spawn_at(fp_faulter, [ep.slot(), 0, 0, 0])?;
    ok!(child.thread.set_fault_endpoint(Some(fault_ep)));
    ok!(child.thread.resume());
    let m = ok!(ep.recv());
    check_eq!(m.badge, FAULT_BADGE);
    check_eq!(u64::from(m.label()), FAULT_LABEL_BASE + FaultKind::UnknownSyscall as u64);
    let mut r = [0u64; regs::COUNT];
    m.copy_words(&mut r);
    // The handler's own values, through a kernel entry of its own.
    let mut mine = FpCycle::new(pattern(5, 0), 1000, syscall_io(Syscall::Yield, [0; 6]));
    arch::fp_cycle(&mut mine);
    check!(mine.mismatch().is_none(), "the handler's FP values changed: {:x?}", mine.mismatch());
    r[regs::RESULT0] = 0x4242;
    ok!(libipc::sys::reply(mi(0, regs::COUNT), &r));
    let m = ok!(ep.recv());
    check_eq!(m.label(), 0xf6, "(a second fault instead of the report?)");
    check_eq!(m.word(2), 0x4242, "(the handler's result register)");
    check_eq!(
        m.word(0),
        1,
        "(the faulting thread's FP values changed; first bad index {})",
        m.word(1)
    );
    Ok(())
}
