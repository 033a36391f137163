//! The scheduler: one `sched` policy per CPU (the joint RR+EDF scheduler of
//! `microkernel/sched`, or plain round robin with `rint.sched=rr`), the
//! scheduling contexts of threads, donation over calls, and the tickless
//! one-shot timer. `docs/scheduler.md` describes the policy.
//!
//! **Contexts.** Every thread has one scheduling context of its own, an
//! entry of its CPU's policy (`Id` below [`SC_MAX`]), taken when the thread
//! is retyped (`TableFull` when none is free) and released when it is
//! destroyed. A new context is adaptive round robin with the default
//! quantum; the holder of the SchedControl capability sets other parameters
//! (`object::schedcontrol`). A context is *ready* for the policy exactly
//! when the thread running on it (its *runner*) is `Running`.
//!
//! **Donation.** A call lends the caller's context to the receiver
//! ([`Kernel::lend`]): the server runs on it until it replies, and the reply
//! gives it back ([`Kernel::take_back`]). For the policy a call is no event
//! at all (the context stays ready while its runner changes); the server's
//! own context stays blocked meanwhile. Nested calls pass the context on. A
//! call cut short (suspend, destroy, a receiver dropping an old caller)
//! gives the context back the same way; a receiver that dropped an old
//! caller this way runs the new call on the new caller's context.
//!
//! **Scheduling points.** Kernel code changes thread states as before and
//! calls [`Kernel::wake`] and [`Kernel::deschedule`]; those only mark the
//! thread's context *dirty*. On the way out of the kernel,
//! [`Kernel::schedule`] tells the policy about the dirty contexts (`wake`
//! or `block`, so a thread that blocks and is woken within one syscall is
//! no event), asks it to `pick`, and arms the one-shot timer for the
//! decision's end (at most [`MAX_SLICE_NS`] away). When nothing changed and
//! the decision has not ended, the running thread goes on without asking
//! the policy. The fastpath's IPC round trip, which donation keeps on one
//! context, never calls it; the general IPC path marks the contexts a loan
//! moves and asks the policy once per message (`docs/scheduler.md`).
//!
//! **Trace.** The policy's events (throttling, reclassification) go into
//! the event trace, attributed to the thread that owns the context.

use crate::kprintln;
use crate::object::tcb::{ThreadState, tcb};
use crate::state::{CpuSched, DEFAULT_QUANTUM_NS, Kernel, MAX_CPUS, MAX_SLICE_NS, SC_MAX};
use hal::{Arch, Cpu, Timer};
use libipc::abi::{Error, TraceKind, sched as abi};
use sched::{AdmitError, Event, Id, NEVER, Params, Policy};

/// "No context" in a TCB's `sc`, `on_sc` and `lent`.
pub const SC_NONE: u64 = u64::MAX;
/// `CpuSched::run` when the CPU idles.
const IDLE: u16 = u16::MAX;
/// Longest chain of nested calls `take_back` walks (a chain cannot be
/// longer than the number of threads; this only bounds a broken one).
const CHAIN_LIMIT: usize = 4 * SC_MAX * MAX_CPUS;

/// A new thread's context: adaptive round robin, default quantum.
pub const DEFAULT_PARAMS: Params = Params::rr(DEFAULT_QUANTUM_NS).adaptive(true);

/// A context reference as TCBs store it: CPU and id.
fn sc_ref(cpu: usize, id: u16) -> u64 {
    ((cpu as u64) << 16) | u64::from(id)
}

fn sc_split(r: u64) -> Option<(usize, u16)> {
    if r == SC_NONE {
        return None;
    }
    let (cpu, id) = ((r >> 16) as usize, (r & 0xffff) as u16);
    (cpu < MAX_CPUS && usize::from(id) < SC_MAX).then_some((cpu, id))
}

fn this_cpu() -> usize {
    <Arch as Cpu>::id() % MAX_CPUS
}

impl CpuSched {
    fn policy(&mut self) -> &mut dyn Policy {
        if self.use_rr { &mut self.rr } else { &mut self.joint }
    }

    fn mark(&mut self, id: u16) {
        if let Some(w) = self.dirty.get_mut(usize::from(id) / 64) {
            *w |= 1 << (id % 64);
        }
        self.repick = true;
    }

    fn runner(&self, id: u16) -> u64 {
        self.runner.get(usize::from(id)).copied().unwrap_or(0)
    }

    fn owner(&self, id: u16) -> u64 {
        self.owner.get(usize::from(id)).copied().unwrap_or(0)
    }

    fn set_runner(&mut self, id: u16, t: u64) {
        if let Some(r) = self.runner.get_mut(usize::from(id)) {
            *r = t;
        }
    }
}

/// Whether thread `t` is runnable on context `r`.
fn runs_on(t: u64, r: u64) -> bool {
    t != 0 && tcb(t).get().state() == ThreadState::Running && tcb(t).get().on_sc == r
}

/// Contexts of one CPU taken for threads a retype is making
/// ([`Kernel::sc_reserve`]): in the policy already, not yet in the owner
/// table.
#[must_use]
pub struct ScReservation {
    cpu: usize,
    ids: [u16; SC_MAX],
    len: usize,
    /// The next one [`Kernel::sc_attach`] hands out.
    next: usize,
}

impl Kernel {
    fn sc_mark(&mut self, r: u64) {
        if let Some((cpu, id)) = sc_split(r) {
            self.sched[cpu].mark(id);
        }
    }

    fn sc_runner(&self, r: u64) -> u64 {
        sc_split(r).map_or(0, |(cpu, id)| self.sched[cpu].runner(id))
    }

    fn sc_set_runner(&mut self, r: u64, t: u64) {
        if let Some((cpu, id)) = sc_split(r) {
            self.sched[cpu].set_runner(id, t);
        }
    }

    /// Schedule every CPU with plain round robin (`rint.sched=rr`). Only
    /// before the first context exists.
    pub fn use_round_robin(&mut self) {
        for s in self.sched.iter_mut() {
            s.use_rr = true;
        }
    }

    /// The name of the policy in force.
    pub fn policy_name(&mut self) -> &'static str {
        self.sched[this_cpu()].policy().name()
    }

    /// Give the new thread `t` a context of its own on this CPU, with the
    /// default parameters. `TableFull` if every context is in use.
    pub fn sc_create(&mut self, t: u64) -> Result<(), Error> {
        let mut r = self.sc_reserve(1)?;
        let attached = self.sc_attach(&mut r, t);
        self.sc_unreserve(r);
        if attached { Ok(()) } else { Err(Error::TableFull) }
    }

    /// Take `n` free contexts of this CPU for threads about to be made,
    /// all or none: `TableFull` (nothing taken) if fewer are free. Each is
    /// in the policy from here on, with the default parameters; the
    /// threads get them with [`Kernel::sc_attach`] and what is left goes
    /// back with [`Kernel::sc_unreserve`], within the same invocation.
    pub fn sc_reserve(&mut self, n: usize) -> Result<ScReservation, Error> {
        let cpu = this_cpu();
        let mut r = ScReservation { cpu, ids: [0; SC_MAX], len: 0, next: 0 };
        let s = &mut self.sched[cpu];
        for (i, _) in s.owner.iter().enumerate().filter(|(_, o)| **o == 0) {
            if r.len == n {
                break;
            }
            let (Some(slot), Ok(id)) = (r.ids.get_mut(r.len), u16::try_from(i)) else { break };
            *slot = id;
            r.len += 1;
        }
        if r.len < n {
            return Err(Error::TableFull);
        }
        for k in 0..r.len {
            let id = r.ids[k];
            if let Err(e) = s.policy().add(Id(id), DEFAULT_PARAMS) {
                // Free in the table but not in the policy: the two are out
                // of step. Undo what was added and refuse.
                kprintln!("kernel: sched: context {} free but refused by the policy: {:?}", id, e);
                let now = Arch::now_ns();
                for &added in r.ids.iter().take(k) {
                    let _ = s.policy().remove(Id(added), now);
                }
                return Err(Error::TableFull);
            }
        }
        Ok(r)
    }

    /// Give the new thread `t` the next context of `r` (its own, and the
    /// one it runs on). `false` if `r` has none left (a caller that
    /// reserved fewer than it attaches: reported).
    pub fn sc_attach(&mut self, r: &mut ScReservation, t: u64) -> bool {
        let Some(&id) = r.ids.get(r.next).filter(|_| r.next < r.len) else {
            kprintln!("kernel: sched: context for {:#x} was not reserved", t);
            return false;
        };
        r.next += 1;
        let i = usize::from(id);
        let s = &mut self.sched[r.cpu];
        if let (Some(o), Some(run)) = (s.owner.get_mut(i), s.runner.get_mut(i)) {
            *o = t;
            *run = t;
        }
        let sc = sc_ref(r.cpu, id);
        let th = tcb(t).get_mut();
        th.sc = sc;
        th.on_sc = sc;
        th.lent = SC_NONE;
        true
    }

    /// Give back the contexts of `r` no thread got.
    pub fn sc_unreserve(&mut self, r: ScReservation) {
        let now = Arch::now_ns();
        let s = &mut self.sched[r.cpu];
        for &id in r.ids.iter().take(r.len).skip(r.next) {
            let _ = s.policy().remove(Id(id), now);
        }
    }

    /// Thread `t` is being destroyed: contexts it holds go back to their
    /// owners, and its own is released.
    pub fn sc_destroy(&mut self, t: u64) {
        self.take_back(t);
        let (own, on) = (tcb(t).get().sc, tcb(t).get().on_sc);
        if on != SC_NONE && on != own {
            // A context lent to `t` whose lender no longer waits for it.
            tcb(t).get_mut().on_sc = SC_NONE;
            self.return_to_owner(on);
        }
        for (cpu, s) in self.sched.iter_mut().enumerate() {
            for i in 0..SC_MAX {
                if s.runner[i] == t && sc_ref(cpu, i as u16) != own {
                    s.runner[i] = 0;
                    s.mark(i as u16);
                }
            }
        }
        if let Some((cpu, id)) = sc_split(own) {
            let now = Arch::now_ns();
            let s = &mut self.sched[cpu];
            let _ = s.policy().remove(Id(id), now);
            let i = usize::from(id);
            s.owner[i] = 0;
            s.runner[i] = 0;
            if let Some(w) = s.dirty.get_mut(i / 64) {
                *w &= !(1 << (i % 64));
            }
            s.repick = true;
        }
        let th = tcb(t).get_mut();
        th.sc = SC_NONE;
        th.on_sc = SC_NONE;
        th.lent = SC_NONE;
    }

    /// Context `r` lost its runner: its owner gets it back (ending a loan
    /// the owner still counts on), or it has none until its owner runs.
    fn return_to_owner(&mut self, r: u64) {
        let Some((cpu, id)) = sc_split(r) else { return };
        let o = self.sched[cpu].owner(id);
        if o != 0 && tcb(o).get().lent == r {
            self.take_back(o);
        } else {
            self.sc_set_runner(r, 0);
            self.sc_mark(r);
        }
    }

    /// Run thread `t` on its own context (it lends none and holds none).
    fn attach_own(&mut self, t: u64) {
        let own = tcb(t).get().sc;
        if own == SC_NONE {
            return;
        }
        let h = self.sc_runner(own);
        if h != 0 && h != t && tcb(h).get().on_sc == own {
            // Cannot happen: only a loan puts another thread on a context,
            // and a loan ends before its lender runs again.
            kprintln!("kernel: sched: context of {:#x} still held by {:#x}; taken back", t, h);
            tcb(h).get_mut().on_sc = SC_NONE;
        }
        self.sc_set_runner(own, t);
        tcb(t).get_mut().on_sc = own;
        self.sc_mark(own);
    }

    /// Make `t` runnable.
    pub fn wake(&mut self, t: u64) {
        tcb(t).get_mut().set_state(ThreadState::Running);
        if tcb(t).get().lent != SC_NONE {
            self.take_back(t);
        }
        if tcb(t).get().on_sc == SC_NONE {
            self.attach_own(t);
        }
        self.sc_mark(tcb(t).get().on_sc);
    }

    /// `t` stopped running (its state is already set): its context may
    /// block, and it is not this CPU's current thread any more.
    pub fn deschedule(&mut self, t: u64) {
        self.sc_mark(tcb(t).get().on_sc);
        if self.current() == t {
            self.cpu().current = 0;
        }
    }

    /// Caller `c` called `r`, which now runs on `c`'s context until it
    /// replies (donation). `r` is on its own context, or on none: a
    /// receiver that dropped an earlier caller (a plain `Recv` without
    /// replying) gave that caller's context back when the new call arrived
    /// (`endpoint::cancel_reply_wait`), and takes its own again here before
    /// the loan. A receiver on any other context keeps it (and `c`'s
    /// context waits with `c`); no path leads there today.
    pub fn lend(&mut self, c: u64, r: u64) {
        if tcb(r).get().on_sc == SC_NONE && tcb(r).get().lent == SC_NONE {
            self.attach_own(r);
        }
        let x = tcb(c).get().on_sc;
        let own = tcb(r).get().sc;
        if x == SC_NONE
            || own == SC_NONE
            || tcb(r).get().on_sc != own
            || tcb(c).get().lent != SC_NONE
        {
            return;
        }
        self.lend_quiet(c, r);
        self.sc_mark(own);
        self.sc_mark(x);
    }

    /// The thread running on context `r` (0: none).
    pub fn sc_runner_of(&self, r: u64) -> u64 {
        self.sc_runner(r)
    }

    /// [`Kernel::lend`] for the IPC fastpath, which checked its conditions:
    /// the policy is not told (the caller's context is the one running and
    /// stays ready; the receiver's own was blocked and stays blocked).
    pub fn lend_quiet(&mut self, c: u64, r: u64) {
        let x = tcb(c).get().on_sc;
        self.sc_set_runner(tcb(r).get().sc, 0);
        self.sc_set_runner(x, r);
        tcb(r).get_mut().on_sc = x;
        let th = tcb(c).get_mut();
        th.on_sc = SC_NONE;
        th.lent = x;
    }

    /// The reply half for the fastpath: server `s`, which holds the context
    /// `c` lent it, gives it back and returns to its own context (blocked
    /// for the policy since the loan, and `s` blocks at once).
    pub fn give_back_quiet(&mut self, s: u64, c: u64) {
        let x = tcb(c).get().lent;
        let own = tcb(s).get().sc;
        self.sc_set_runner(x, c);
        {
            let th = tcb(c).get_mut();
            th.on_sc = x;
            th.lent = SC_NONE;
        }
        self.sc_set_runner(own, s);
        tcb(s).get_mut().on_sc = own;
    }

    /// The call `l` waits on ends (reply, cancel): the context it lent
    /// comes back, from whichever thread along the call chain holds it
    /// (which goes on on its own context if it is runnable).
    pub fn take_back(&mut self, l: u64) {
        let x = tcb(l).get().lent;
        if x == SC_NONE {
            return;
        }
        tcb(l).get_mut().lent = SC_NONE;
        let mut t = tcb(l).get().reply_from;
        for _ in 0..CHAIN_LIMIT {
            if t == 0 || tcb(t).get().lent != x {
                break;
            }
            tcb(t).get_mut().lent = SC_NONE;
            t = tcb(t).get().reply_from;
        }
        let h = self.sc_runner(x);
        if h != 0 && h != l && tcb(h).get().on_sc == x {
            tcb(h).get_mut().on_sc = SC_NONE;
            if tcb(h).get().state() == ThreadState::Running {
                self.attach_own(h);
            }
        }
        let prev = tcb(l).get().on_sc;
        if prev != SC_NONE && prev != x && self.sc_runner(prev) == l {
            self.sc_set_runner(prev, 0);
            self.sc_mark(prev);
        }
        self.sc_set_runner(x, l);
        tcb(l).get_mut().on_sc = x;
        self.sc_mark(x);
    }

    /// Tell this CPU's policy about its dirty contexts.
    fn sync(&mut self, now: u64) {
        let cpu = this_cpu();
        let s = &mut self.sched[cpu];
        for w in 0..s.dirty.len() {
            let mut bits = core::mem::take(&mut s.dirty[w]);
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let id = i as u16;
                if s.owner(id) == 0 {
                    continue;
                }
                let ready = runs_on(s.runner(id), sc_ref(cpu, id));
                let p = s.policy();
                let _ = if ready { p.wake(Id(id), now) } else { p.block(Id(id), now) };
            }
        }
    }

    /// The Yield syscall of thread `t`: RR to the back of the queue with a
    /// fresh quantum, EDF done until its next period.
    pub fn yield_(&mut self, t: u64) {
        let now = Arch::now_ns();
        self.sync(now);
        if let Some((cpu, id)) = sc_split(tcb(t).get().on_sc) {
            let s = &mut self.sched[cpu];
            let _ = s.policy().yield_(Id(id), now);
            s.repick = true;
        }
        self.drain_events(this_cpu());
    }

    /// Set the parameters of thread `t`'s own context (SchedControl).
    pub fn sc_configure(&mut self, t: u64, p: Params) -> Result<(), Error> {
        let (cpu, id) = sc_split(tcb(t).get().sc).ok_or(Error::IllegalOperation)?;
        let now = Arch::now_ns();
        if cpu == this_cpu() {
            self.sync(now);
        }
        let s = &mut self.sched[cpu];
        s.policy().set_params(Id(id), p, now).map_err(|e| match e {
            AdmitError::Overload { .. } => Error::NoBandwidth,
            AdmitError::InvalidParams => Error::InvalidArgument,
            AdmitError::BadId | AdmitError::InUse | AdmitError::NotFound => Error::IllegalOperation,
        })?;
        s.repick = true;
        self.drain_events(cpu);
        Ok(())
    }

    /// Choose what this CPU runs next (`current`, 0: idle) and arm the
    /// timer for the end of the decision.
    pub fn schedule(&mut self) {
        let cpu = this_cpu();
        let now = Arch::now_ns();
        let cur = self.cpus[cpu].current;
        {
            let s = &self.sched[cpu];
            if !s.repick
                && s.run != IDLE
                && now < s.until
                && s.runner(s.run) == cur
                && runs_on(cur, sc_ref(cpu, s.run))
            {
                return;
            }
        }
        self.sync(now);
        let mut chosen = None;
        for _ in 0..SC_MAX {
            let s = &mut self.sched[cpu];
            let d = s.policy().pick(now);
            s.repick = false;
            let Some(Id(id)) = d.run else {
                chosen = Some((IDLE, d.until, 0));
                break;
            };
            let t = s.runner(id);
            if runs_on(t, sc_ref(cpu, id)) {
                chosen = Some((id, d.until, t));
                break;
            }
            // Cannot happen (the sync above made the policy agree with the
            // threads): a ready context without a runnable thread.
            kprintln!("kernel: sched: context {} ready without a runnable thread; blocked", id);
            let _ = s.policy().block(Id(id), now);
        }
        let (run, until, t) = chosen.unwrap_or((IDLE, NEVER, 0));
        {
            let s = &mut self.sched[cpu];
            s.run = run;
            s.until = until;
        }
        self.cpus[cpu].current = t;
        self.drain_events(cpu);
        self.arm(cpu, now, until, run != IDLE);
    }

    /// Arm the one-shot timer for `until` (running: at most
    /// [`MAX_SLICE_NS`] away), unless it will fire before that anyway.
    fn arm(&mut self, cpu: usize, now: u64, until: u64, running: bool) {
        let target = if running { until.min(now.saturating_add(MAX_SLICE_NS)) } else { until };
        if target == NEVER {
            return;
        }
        let target = target.max(now + 1);
        let s = &mut self.sched[cpu];
        if s.armed == 0 || s.armed <= now || target < s.armed {
            Arch::arm_oneshot(target - now);
            s.armed = target;
        }
    }

    /// The timer fired: decide again.
    pub fn timer_fired(&mut self) {
        let s = &mut self.sched[this_cpu()];
        s.armed = 0;
        s.repick = true;
    }

    /// This CPU idles and nothing will ever become ready by itself (no
    /// throttled context waits for its budget).
    pub fn idle_forever(&self) -> bool {
        let s = &self.sched[this_cpu()];
        s.run == IDLE && s.until == NEVER
    }

    /// One line about this CPU's policy (when the machine stops).
    pub fn sched_report(&mut self) {
        let s = &mut self.sched[this_cpu()];
        let used = s.owner.iter().filter(|&&o| o != 0).count();
        let p = s.policy();
        let st = p.stats();
        kprintln!(
            "kernel: sched: policy {}, {} contexts in use, {} decisions, {} throttles, {} promotions ({} refused), {} retunes, {} demotions",
            p.name(),
            used,
            st.picks,
            st.throttles,
            st.promotions,
            st.refusals,
            st.retunes,
            st.demotions
        );
    }

    /// Record the policy's events in the trace.
    fn drain_events(&mut self, cpu: usize) {
        while let Some(e) = self.sched[cpu].policy().pop_event() {
            let s = &self.sched[cpu];
            let owner = |id: Id| s.owner(id.0);
            let (kind, thread, a, b, c) = match e {
                Event::Promoted { id, reservation: r, .. } => {
                    (TraceKind::Reclassify, owner(id), r.budget, r.period, abi::CLASS_EDF)
                }
                Event::Demoted { id, .. } => {
                    (TraceKind::Reclassify, owner(id), 0, 0, abi::CLASS_RR)
                }
                Event::Retuned { id, reservation: r, .. } => {
                    (TraceKind::Retune, owner(id), r.budget, r.period, 0)
                }
                Event::PromotionRefused { id, error, .. } => {
                    let (req, avail) = match error {
                        AdmitError::Overload { requested, available } => (requested, available),
                        _ => (0, 0),
                    };
                    (TraceKind::PromotionRefused, owner(id), req.into(), avail.into(), 0)
                }
                Event::Throttled { id, until, .. } => {
                    (TraceKind::Throttle, owner(id), until, s.runner(id.0), 0)
                }
            };
            self.event(kind, thread, a, b, c as u32);
        }
    }

    /// This CPU leaves the kernel for thread `t` (0: it idles). A thread
    /// other than last time is a context switch: the trace records it here,
    /// on the way out, so every path (the IPC fastpath too) records it the
    /// same way. The next kernel entry stamps its events afresh.
    pub fn ran(&mut self, t: u64) {
        let from = self.cpu().ran;
        if from != t {
            self.cpu().ran = t;
            self.event(TraceKind::Switch, t, from, 0, 0);
        }
        self.cpu().stamp = 0;
    }
}
