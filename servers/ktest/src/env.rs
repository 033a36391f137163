//! The suite's resources: a bump allocator over the root CNode's free slots
//! and the untyped list in `BootInfo`, free test addresses, and child
//! threads (each with its own IPC buffer, stack and start parameters).
//!
//! Nothing is freed between tests except threads, which are suspended after
//! each test so that a failed test leaves nothing running; slots, memory and
//! addresses are plentiful for one run.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use libipc::abi::{BootInfo, CapType, Error, MessageInfo, Rights};
use libipc::cap::{self, Cap, Endpoint, Frame, Notification, ObjectType, Thread, init};
use libipc::sys::{self, IpcBuf};

use crate::arch::{self, Page, REGION, regs};
use crate::fmt::Fail;

/// The scheduling context of the suite's threads: round robin with the
/// default quantum, not adaptive, like the root task's. Round robin runs a
/// thread the root task resumes only once the root task blocks (or after a
/// whole quantum of it), which keeps the tests deterministic; with
/// classification off no thread becomes a reservation that would preempt
/// the root task. (The `sched_*` tests configure threads of their own.)
pub const CHILD_SCHED: libipc::abi::sched::Params = libipc::abi::sched::Params::rr(0);

/// Give thread `t` the suite's scheduling context ([`CHILD_SCHED`]).
pub fn best_effort(t: Cap<Thread>) -> Result<(), Fail> {
    cap::init::SCHED_CONTROL
        .configure(t, CHILD_SCHED)
        .map_err(|e| fail!("SchedControlConfigure: {e:?}"))
}

/// A message-info word with `label` and `len` words, no capabilities.
pub fn mi(label: u32, len: usize) -> MessageInfo {
    MessageInfo::new(label, len, 0).unwrap_or_default()
}

/// A message-info word with `label`, `len` words and `caps` capabilities.
pub fn mi_caps(label: u32, len: usize, caps: usize) -> MessageInfo {
    MessageInfo::new(label, len, caps).unwrap_or_default()
}

pub const RW: Rights = Rights::READ.union(Rights::WRITE);

// ---------------------------------------------------------------------------
// Child threads
// ---------------------------------------------------------------------------

/// What a child thread gets: its IPC buffer, its own thread cap and four
/// test-defined words.
#[derive(Clone, Copy)]
pub struct ChildCtx {
    pub buf: IpcBuf,
    pub thread: Cap<Thread>,
    pub a: [u64; 4],
}

/// Child start parameters, one per child ever started (index in the first
/// argument register); written once by the root task before the child
/// runs.
const MAX_CHILDREN: usize = 64;
static CHILDREN: [spin::Once<ChildCtx>; MAX_CHILDREN] = [const { spin::Once::new() }; MAX_CHILDREN];
static CHILDREN_USED: AtomicUsize = AtomicUsize::new(0);

/// Child stacks, reused by every test (children of a finished test are
/// suspended).
const STACK_WORDS: usize = 2048;
const MAX_LIVE: usize = 6;
#[repr(align(16))]
struct Stack([AtomicU64; STACK_WORDS]);
static STACKS: [Stack; MAX_LIVE] =
    [const { Stack([const { AtomicU64::new(0) }; STACK_WORDS]) }; MAX_LIVE];

/// The start parameters of child `idx` (from its first argument). A child
/// without them has nothing to do: it gives the CPU away forever.
pub fn child_ctx(idx: u64) -> ChildCtx {
    match CHILDREN.get(idx as usize).and_then(|c| c.get()) {
        Some(c) => *c,
        None => loop {
            sys::yield_now();
        },
    }
}

/// End a child: suspend its own thread.
pub fn child_exit(c: &ChildCtx) -> ! {
    let _ = c.buf.invoke(c.thread.cptr(), libipc::abi::Invocation::ThreadSuspend, &[], &[]);
    loop {
        sys::yield_now();
    }
}

/// A child thread, configured and ready to run (not yet resumed).
#[derive(Clone, Copy)]
pub struct Child {
    pub thread: Cap<Thread>,
    /// The registers it starts with (`regs` order).
    pub regs: [u64; regs::COUNT],
}

/// log2 of an object's size (as the kernel's `kcore::object_size_bits`),
/// to skip untypeds too small to hold it.
fn object_bits(ty: CapType, size_bits: u8) -> u8 {
    match ty {
        CapType::Frame | CapType::Untyped => size_bits,
        CapType::CNode => size_bits.saturating_add(6),
        CapType::Thread => 11,
        CapType::PageTable | CapType::VSpace => 12,
        _ => 5,
    }
}

// ---------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------

pub struct Env {
    pub boot: &'static BootInfo,
    next_slot: u64,
    /// First untyped worth trying for small objects.
    untyped_cur: u64,
    next_va: u64,
    /// The 2 MiB region whose page tables are known to be present.
    tables_for: Option<u64>,
    threads: [Option<Cap<Thread>>; 8],
    stacks_used: usize,
    /// The test regions hold none of the root task's mappings.
    pub layout_ok: bool,
    /// Set by a test that could not run here; printed with its `ok`.
    pub skipped: Option<&'static str>,
    /// What one kernel entry costs here, in steps of a simple loop
    /// ([`Env::entry_cost`]; 0 until measured).
    entry_cost: u64,
}

fn entry_cost_once() -> u64 {
    const YIELDS: u64 = 64;
    const STEPS: u64 = 1 << 18;
    let t0 = sys::arch::clock();
    for _ in 0..YIELDS {
        sys::yield_now();
    }
    let t1 = sys::arch::clock();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..STEPS {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = core::hint::black_box(x);
    }
    let t2 = sys::arch::clock();
    let per_entry = t1.saturating_sub(t0).max(1).saturating_mul(STEPS);
    per_entry / t2.saturating_sub(t1).max(1).saturating_mul(YIELDS)
}

/// Above this many loop steps per kernel entry, kernel entries are slow
/// (nested virtualisation makes them cost about a millisecond): the
/// long-running tests then do the least their requirements allow. Under
/// TCG an entry costs a few hundred steps, under nested KVM about 300,000.
pub const SLOW_ENTRY: u64 = 100_000;

impl Env {
    pub fn new(boot: &'static BootInfo) -> Env {
        Env {
            boot,
            next_slot: boot.empty.start,
            untyped_cur: 0,
            next_va: REGION.start,
            tables_for: None,
            threads: [None; 8],
            stacks_used: 0,
            layout_ok: false,
            skipped: None,
            entry_cost: 0,
        }
    }

    /// What a kernel entry (a `Yield`) costs, in steps of a loop of
    /// xorshifts: the ratio of two timings on the same clock, so the same
    /// on any machine whose kernel entries are as fast as its code, and
    /// orders of magnitude higher where they are not. The median of five
    /// measurements (the host may stop the machine during any one of
    /// them), measured once.
    pub fn entry_cost(&mut self) -> u64 {
        if self.entry_cost == 0 {
            let mut m = [0u64; 5];
            for r in m.iter_mut() {
                *r = entry_cost_once();
            }
            m.sort_unstable();
            self.entry_cost = m[2].max(1);
        }
        self.entry_cost
    }

    /// Whether kernel entries are slow here (see [`SLOW_ENTRY`]).
    pub fn slow_entries(&mut self) -> bool {
        self.entry_cost() > SLOW_ENTRY
    }

    /// After each test: suspend its threads, unbind the root task's
    /// notification, reuse the stacks.
    pub fn cleanup(&mut self) {
        for t in self.threads.iter_mut() {
            if let Some(t) = t.take() {
                let _ = t.suspend();
                // A reservation a failed test left would hold bandwidth.
                let _ = best_effort(t);
            }
        }
        let _ = init::THREAD.unbind_notification();
        self.stacks_used = 0;
        self.skipped = None;
    }

    pub fn radix(&self) -> u64 {
        self.boot.cnode_radix_bits
    }

    /// Number of untypeds in the boot info.
    pub fn untyped_count(&self) -> u64 {
        self.boot.untyped.end.saturating_sub(self.boot.untyped.start)
    }

    /// Untyped `i` of the boot info: its cap and descriptor.
    pub fn untyped_at(&self, i: u64) -> Option<(Cap<cap::Untyped>, libipc::abi::UntypedDesc)> {
        let d = *self.boot.untyped_list.get(usize::try_from(i).ok()?)?;
        (i < self.untyped_count()).then(|| (Cap::from_slot(self.boot.untyped.start + i), d))
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Result<u64, Fail> {
        if self.next_slot >= self.boot.empty.end {
            return Err(fail!("out of free slots ({} used)", self.next_slot));
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// A new object of type `T` (`size_bits` as for `UntypedRetype`) from
    /// the first non-device untyped with room.
    pub fn retype<T: ObjectType>(&mut self, size_bits: u8) -> Result<Cap<T>, Fail> {
        let slot = self.slot()?;
        let bits = object_bits(T::TYPE, size_bits);
        let small = bits <= 12;
        let mut i = self.untyped_cur;
        while let Some((ut, desc)) = self.untyped_at(i) {
            // An untyped child as large as its parent would count as a copy
            // of it (the parent could never carve again): only smaller ones.
            let fits = match T::TYPE {
                CapType::Untyped => desc.size_bits > bits,
                _ => desc.size_bits >= bits,
            };
            if desc.is_device == 0 && fits {
                match ut.retype(T::TYPE, size_bits, init::CNODE, slot, 1) {
                    Ok(()) => return Ok(Cap::from_slot(slot)),
                    Err(Error::NotEnoughMemory) => {
                        // Small objects: this untyped is (nearly) full.
                        if small && i == self.untyped_cur {
                            self.untyped_cur += 1;
                        }
                    }
                    Err(Error::RevokeFirst) => {
                        // Only a copy of it may carve now.
                        if i == self.untyped_cur {
                            self.untyped_cur += 1;
                        }
                    }
                    Err(e) => {
                        return Err(fail!(
                            "retype {}/{} from untyped {}: {:?}",
                            T::TYPE.as_str(),
                            size_bits,
                            ut.slot(),
                            e
                        ));
                    }
                }
            } else if desc.is_device != 0 && i == self.untyped_cur {
                self.untyped_cur += 1;
            }
            i += 1;
        }
        Err(fail!("no untyped has room for {}/{}", T::TYPE.as_str(), size_bits))
    }

    pub fn endpoint(&mut self) -> Result<Cap<Endpoint>, Fail> {
        self.retype(0)
    }

    pub fn notification(&mut self) -> Result<Cap<Notification>, Fail> {
        self.retype(0)
    }

    pub fn frame(&mut self) -> Result<Cap<Frame>, Fail> {
        self.retype(12)
    }

    /// Copy `cap` into a new slot with `rights`.
    pub fn copy<T: ObjectType>(&mut self, cap: Cap<T>, rights: Rights) -> Result<Cap<T>, Fail> {
        let slot = self.slot()?;
        match init::CNODE.copy(slot, init::CNODE, cap.slot(), rights) {
            Ok(()) => Ok(Cap::from_slot(slot)),
            Err(e) => Err(fail!("copy of {:?}: {:?}", cap, e)),
        }
    }

    /// Mint `cap` into a new slot with `rights` and `badge`.
    pub fn mint<T: ObjectType>(
        &mut self,
        cap: Cap<T>,
        rights: Rights,
        badge: u64,
    ) -> Result<Cap<T>, Fail> {
        let slot = self.slot()?;
        match init::CNODE.mint(slot, init::CNODE, cap.slot(), rights, badge) {
            Ok(()) => Ok(Cap::from_slot(slot)),
            Err(e) => Err(fail!("mint of {:?}: {:?}", cap, e)),
        }
    }

    /// A free, page-aligned test address whose page tables are present.
    pub fn free_va(&mut self) -> Result<u64, Fail> {
        if !self.layout_ok {
            return Err(fail!("the test regions are not free (see the layout test)"));
        }
        let va = self.next_va;
        if !REGION.contains(&va) {
            return Err(fail!("test region used up"));
        }
        self.next_va += 4096;
        self.ensure_tables(va)?;
        Ok(va)
    }

    /// Map page tables in the root VSpace until a 4 KiB frame can be mapped
    /// at `va` (`PageTableMap` installs the first missing level each time
    /// and says `AlreadyMapped` when none is missing).
    pub fn ensure_tables(&mut self, va: u64) -> Result<(), Fail> {
        let region = va & !0x1f_ffff;
        if self.tables_for == Some(region) {
            return Ok(());
        }
        for _ in 0..=arch::TABLE_LEVELS {
            let pt: Cap<cap::PageTable> = self.retype(0)?;
            match pt.map(init::VSPACE, va) {
                Ok(()) => {}
                Err(Error::AlreadyMapped) => {
                    let _ = init::CNODE.delete(pt.slot());
                    self.tables_for = Some(region);
                    return Ok(());
                }
                Err(e) => return Err(fail!("PageTableMap at {va:#x}: {e:?}")),
            }
        }
        Err(fail!("PageTableMap at {va:#x} never said AlreadyMapped"))
    }

    /// A new frame mapped at a free test address.
    pub fn page(&mut self, rights: Rights) -> Result<Page, Fail> {
        let frame = self.frame()?;
        let va = self.free_va()?;
        Page::map(frame, va, rights).map_err(|e| fail!("FrameMap at {va:#x}: {e:?}"))
    }

    /// A new frame mapped at `va` (from [`Env::free_va`]).
    pub fn page_at(&mut self, va: u64, rights: Rights) -> Result<Page, Fail> {
        let frame = self.frame()?;
        Page::map(frame, va, rights).map_err(|e| fail!("FrameMap at {va:#x}: {e:?}"))
    }

    fn stack_top(&mut self) -> Result<u64, Fail> {
        let s = STACKS.get(self.stacks_used).ok_or_else(|| fail!("out of child stacks"))?;
        self.stacks_used += 1;
        Ok(s.0.as_ptr() as usize as u64 + (STACK_WORDS * 8) as u64)
    }

    fn track(&mut self, t: Cap<Thread>) -> Result<(), Fail> {
        let free = self.threads.iter_mut().find(|t| t.is_none());
        *free.ok_or_else(|| fail!("too many threads in one test"))? = Some(t);
        Ok(())
    }

    /// A thread of its own (configured with the root CSpace and VSpace and a
    /// new IPC buffer, not started), tracked for cleanup.
    pub fn thread(&mut self) -> Result<(Cap<Thread>, Cap<Frame>, u64), Fail> {
        let thread: Cap<Thread> = self.retype(0)?;
        self.track(thread)?;
        let frame = self.frame()?;
        let va = self.free_va()?;
        if let Err(e) = thread.configure(init::CNODE, init::VSPACE, frame, va) {
            return Err(fail!("ThreadConfigure: {e:?}"));
        }
        best_effort(thread)?;
        Ok((thread, frame, va))
    }

    /// A child thread that will run `entry(idx)` with `a` in its context,
    /// on its own stack and IPC buffer, with the suite's scheduling context
    /// ([`CHILD_SCHED`]). Not resumed.
    pub fn spawn_at(&mut self, entry: extern "C" fn(u64) -> !, a: [u64; 4]) -> Result<Child, Fail> {
        let thread: Cap<Thread> = self.retype(0)?;
        self.track(thread)?;
        let frame = self.frame()?;
        let va = self.free_va()?;
        let buf = IpcBuf::map(frame.cptr(), init::VSPACE.cptr(), va)
            .map_err(|e| fail!("mapping an IPC buffer at {va:#x}: {e:?}"))?;
        if let Err(e) = thread.configure(init::CNODE, init::VSPACE, frame, va) {
            return Err(fail!("ThreadConfigure: {e:?}"));
        }
        best_effort(thread)?;
        let idx = CHILDREN_USED.fetch_add(1, Ordering::Relaxed);
        let once = CHILDREN.get(idx).ok_or_else(|| fail!("more than {MAX_CHILDREN} children"))?;
        once.call_once(|| ChildCtx { buf, thread, a });
        let mut r = [0u64; regs::COUNT];
        r[regs::PC] = entry as usize as u64;
        r[regs::SP] = sys::arch::initial_sp(self.stack_top()?);
        r[regs::ARG0] = idx as u64;
        if let Err(e) = thread.write_registers(false, &r) {
            return Err(fail!("ThreadWriteRegisters: {e:?}"));
        }
        Ok(Child { thread, regs: r })
    }

    /// [`Env::spawn_at`], resumed.
    pub fn spawn(&mut self, entry: extern "C" fn(u64) -> !, a: [u64; 4]) -> Result<Child, Fail> {
        let c = self.spawn_at(entry, a)?;
        match c.thread.resume() {
            Ok(()) => Ok(c),
            Err(e) => Err(fail!("ThreadResume: {e:?}")),
        }
    }
}

// ---------------------------------------------------------------------------
// Pseudo-random numbers
// ---------------------------------------------------------------------------

/// xorshift64*: a seeded generator, so every run makes the same choices.
#[derive(Clone, Copy, Debug)]
pub struct Rng(u64);

impl Rng {
    pub const fn new(seed: u64) -> Rng {
        Rng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `xs` (0 if empty).
    pub fn pick(&mut self, xs: &[u64]) -> u64 {
        let i = self.below(xs.len() as u64) as usize;
        xs.get(i).copied().unwrap_or(0)
    }
}
