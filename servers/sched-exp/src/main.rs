//! sched-exp: the in-kernel scheduling experiment. The root task of
//! `images/sched-exp.toml` starts [`HOGS`] CPU hogs (round robin with a
//! quantum of [`HOG_QUANTUM_MS`]) and one periodic latency task with an EDF reservation
//! ([`BUDGET_MS`] every [`PERIOD_MS`], deadline = period), lets them run
//! for [`JOBS`] periods, and prints what the latency task measured:
//!
//! ```text
//! sched-exp: policy=joint jobs=N misses=M miss_rate=0.000 worst_response_us=N mean_response_us=N hogs=6
//! ```
//!
//! The kernel's policy is chosen on its command line (`rint.sched=joint`,
//! the default, or `rint.sched=rr`); the program tells them apart by
//! admission, which only the joint policy has (a reservation of a whole
//! CPU is refused there and accepted, and ignored, by round robin).
//!
//! **The latency task.** Job `k` is released at `t0 + k * period` (`t0`:
//! when the task first runs) and must be done by its release plus the
//! deadline. For each job the task waits for its release (yielding: under
//! EDF a yield ends the current job, so the kernel runs the task again at
//! its next replenishment, on the period's grid; under round robin it
//! goes to the back of the queue), does [`WORK_MS`] of CPU work (a loop
//! calibrated by the root task before anything else runs), and reads the
//! clock: later than the deadline is a miss. Jobs whose deadline passed
//! before the task even got to them count as misses too (it skips them,
//! as a real-time task that cannot catch up would). The clock is the
//! counter user mode reads (`libipc::sys::arch::clock`, `BootInfo::clock_hz`
//! ticks per second), the one the kernel's own time comes from.
//!
//! **Why it shows the policies apart.** Under joint, the task's EDF context
//! preempts the hogs at each release (only the RR reserve's 1 ms in 10 ms
//! can come first), so a job of about 2 ms finishes a few milliseconds
//! after its release, far inside the 100 ms deadline (generous on purpose:
//! under QEMU's TCG on a loaded host the whole machine can stand still for
//! tens of milliseconds, which the guest sees as time passing). Under round
//! robin the task waits behind every hog's 20 ms quantum ([`HOGS`] of
//! them: 120 ms) each time it yields, longer than the deadline.
//!
//! The hogs count their loops; the root task prints the counts (every hog
//! ran). Then it suspends everything and returns; the kernel ends the
//! machine (`rint.exit_on_idle`).

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

/// CPU hogs, and their round-robin quantum.
pub const HOGS: usize = 6;
pub const HOG_QUANTUM_MS: u64 = 20;
/// The latency task's reservation (deadline = period) and job.
pub const PERIOD_MS: u64 = 100;
pub const BUDGET_MS: u64 = 20;
pub const WORK_MS: u64 = 2;
/// Periods the experiment runs (4 s).
pub const JOBS: u64 = 40;

#[cfg(target_os = "none")]
mod exp {
    use core::sync::atomic::{AtomicU64, Ordering};

    use libipc::abi::sched::Params;
    use libipc::abi::{BootInfo, Error, MessageInfo, Rights, Syscall};
    use libipc::cap::{self, Cap, Endpoint, Frame, ObjectType, Thread, init};
    use libipc::sys::{self, arch::NAME, arch::clock, arch::work};
    use os::arch::{Start, initial_regs};
    use os::elf::Machine;
    use rt::println;

    use crate::{BUDGET_MS, HOG_QUANTUM_MS, HOGS, JOBS, PERIOD_MS, WORK_MS};

    const PAGE: u64 = 4096;
    const MS: u64 = 1_000_000;
    /// Where the threads' IPC buffers go in the root VSpace (one page
    /// each, in one 2 MiB region), far from the program's image.
    const IPC_BASE: u64 = 0x4000_0000;
    const TABLE_LEVELS: usize = if cfg!(target_arch = "x86_64") { 3 } else { 2 };
    const RW: Rights = Rights::READ.union(Rights::WRITE);

    /// The latency task's report: label and words (jobs, misses, worst and
    /// mean response of the jobs it ran, in microseconds).
    const REPORT_LABEL: u32 = 0x5ced;

    /// Parameters the root task sets before starting the threads.
    static CLOCK_HZ: AtomicU64 = AtomicU64::new(1);
    static WORK_STEPS: AtomicU64 = AtomicU64::new(0);
    /// Loops of each hog.
    static HOG_LOOPS: [AtomicU64; HOGS] = [const { AtomicU64::new(0) }; HOGS];

    /// Thread stacks.
    const STACK_WORDS: usize = 2048;
    #[repr(align(16))]
    struct Stack([AtomicU64; STACK_WORDS]);
    static STACKS: [Stack; HOGS + 1] =
        [const { Stack([const { AtomicU64::new(0) }; STACK_WORDS]) }; HOGS + 1];

    fn stack_top(i: usize) -> u64 {
        STACKS.get(i).map_or(0, |s| s.0.as_ptr_range().end as usize as u64)
    }

    /// `ms` milliseconds in clock ticks.
    fn ticks(ms: u64) -> u64 {
        CLOCK_HZ.load(Ordering::Relaxed) / 1000 * ms
    }

    /// Clock ticks in microseconds.
    fn us(t: u64) -> u64 {
        (u128::from(t) * 1_000_000 / u128::from(CLOCK_HZ.load(Ordering::Relaxed).max(1))) as u64
    }

    /// Steps of [`work`] in `ms` milliseconds, measured now (nothing else
    /// runs yet): the fastest of five.
    fn calibrate(ms: u64) -> u64 {
        sys::arch::calibrate(ticks(ms), 5)
    }

    /// Hog `i`: count loops forever.
    extern "C" fn hog(i: u64) -> ! {
        let counter = HOG_LOOPS.get(i as usize);
        loop {
            work(1000);
            if let Some(c) = counter {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The latency task (see the crate documentation); reports on endpoint
    /// `ep` (a CPtr) after [`JOBS`] periods and waits forever.
    extern "C" fn latency(ep: u64) -> ! {
        let period = ticks(PERIOD_MS);
        let deadline = period;
        let steps = WORK_STEPS.load(Ordering::Relaxed);
        let t0 = clock();
        let (mut k, mut jobs, mut misses, mut worst, mut sum) = (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut ran = 0u64;
        while k < JOBS {
            let release = t0 + k * period;
            // Not released yet (a quarter period of slack: the kernel's
            // replenishment may come a hair before the clock says so).
            if clock().wrapping_add(period / 4) < release {
                sys::yield_now();
                continue;
            }
            work(steps);
            let done = clock();
            let response = done.saturating_sub(release);
            jobs += 1;
            ran += 1;
            sum += response;
            worst = worst.max(response);
            if response > deadline {
                misses += 1;
            }
            k += 1;
            // Jobs whose deadline already passed: missed without a start.
            while k < JOBS && t0 + k * period + deadline <= done {
                jobs += 1;
                misses += 1;
                k += 1;
            }
            // Done until the next release.
            sys::yield_now();
        }
        let info = MessageInfo::new(REPORT_LABEL, 4, 0).map_or(0, |m| m.raw());
        let mean = sum / ran.max(1);
        let _ = sys::syscall(Syscall::Send, [ep, info, jobs, misses, us(worst), us(mean)]);
        loop {
            let _ = sys::syscall(Syscall::Recv, [ep, 0, 0, 0, 0, 0]);
        }
    }

    /// The root task's allocator: free slots and the first RAM untyped
    /// with room.
    struct Alloc {
        boot: &'static BootInfo,
        next_slot: u64,
        next_ipc: u64,
    }

    impl Alloc {
        fn slot(&mut self) -> Result<u64, &'static str> {
            if self.next_slot >= self.boot.empty.end {
                return Err("out of free slots");
            }
            self.next_slot += 1;
            Ok(self.next_slot - 1)
        }

        fn retype<T: ObjectType>(&mut self, size_bits: u8) -> Result<Cap<T>, &'static str> {
            let slot = self.slot()?;
            let n = self.boot.untyped.end.saturating_sub(self.boot.untyped.start);
            for i in 0..n {
                let Some(d) = self.boot.untyped_list.get(i as usize) else { break };
                if d.is_device != 0 || d.size_bits < 16 {
                    continue;
                }
                let ut: Cap<cap::Untyped> = Cap::from_slot(self.boot.untyped.start + i);
                match ut.retype(T::TYPE, size_bits, init::CNODE, slot, 1) {
                    Ok(()) => return Ok(Cap::from_slot(slot)),
                    Err(Error::NotEnoughMemory | Error::RevokeFirst) => {}
                    Err(_) => return Err("UntypedRetype failed"),
                }
            }
            Err("no untyped has room")
        }

        /// A fresh IPC-buffer page mapped in the root VSpace; its address.
        fn ipc_buffer(&mut self) -> Result<(Cap<Frame>, u64), &'static str> {
            let va = IPC_BASE + self.next_ipc * PAGE;
            self.next_ipc += 1;
            if self.next_ipc == 1 {
                for _ in 0..=TABLE_LEVELS {
                    let pt: Cap<cap::PageTable> = self.retype(0)?;
                    match pt.map(init::VSPACE, va) {
                        Ok(()) => {}
                        Err(Error::AlreadyMapped) => break,
                        Err(_) => return Err("PageTableMap failed"),
                    }
                }
            }
            let f: Cap<Frame> = self.retype(12)?;
            f.map(init::VSPACE, va, RW).map_err(|_| "FrameMap failed")?;
            Ok((f, va))
        }

        /// A thread running `entry(arg)` on stack `i`, with `params`, not
        /// started.
        fn thread(
            &mut self,
            entry: extern "C" fn(u64) -> !,
            arg: u64,
            i: usize,
            params: Params,
        ) -> Result<Cap<Thread>, &'static str> {
            let t: Cap<Thread> = self.retype(0)?;
            let (f, va) = self.ipc_buffer()?;
            t.configure(init::CNODE, init::VSPACE, f, va).map_err(|_| "ThreadConfigure failed")?;
            init::SCHED_CONTROL.configure(t, params).map_err(|_| "SchedControlConfigure failed")?;
            let start = Start {
                pc: entry as usize as u64,
                sp: sys::arch::initial_sp(stack_top(i)),
                args: [arg, 0, 0, 0, 0, 0],
                tls: 0,
            };
            let (r, n) = initial_regs(Machine::native(), &start);
            let r = r.get(..n).unwrap_or(&[]);
            t.write_registers(false, r).map_err(|_| "ThreadWriteRegisters failed")?;
            Ok(t)
        }
    }

    pub fn main(boot: &'static BootInfo) {
        if let Err(e) = run(boot) {
            println!("sched-exp: error: {e}");
        }
    }

    fn run(boot: &'static BootInfo) -> Result<(), &'static str> {
        CLOCK_HZ.store(boot.clock_hz.max(1_000_000), Ordering::Relaxed);
        WORK_STEPS.store(calibrate(WORK_MS), Ordering::Relaxed);
        let mut a = Alloc { boot, next_slot: boot.empty.start, next_ipc: 0 };
        let ep: Cap<Endpoint> = a.retype(0)?;

        let edf = Params::edf(BUDGET_MS * MS, PERIOD_MS * MS);
        let lat = a.thread(latency, ep.slot(), HOGS, edf)?;
        let mut hogs = [Cap::<Thread>::from_slot(0); HOGS];
        for (i, h) in hogs.iter_mut().enumerate() {
            *h = a.thread(hog, i as u64, i, Params::rr(HOG_QUANTUM_MS * MS))?;
        }
        // Which policy: only the joint one has admission control.
        let policy = match init::SCHED_CONTROL.configure(hogs[0], Params::edf(100 * MS, 100 * MS)) {
            Err(Error::NoBandwidth) => "joint",
            Ok(()) => "rr",
            Err(_) => return Err("probing the policy failed"),
        };
        init::SCHED_CONTROL
            .configure(hogs[0], Params::rr(HOG_QUANTUM_MS * MS))
            .map_err(|_| "reconfiguring a hog failed")?;
        println!(
            "sched-exp: {NAME} policy={policy}: {HOGS} CPU hogs (round robin, {HOG_QUANTUM_MS} ms quantum) and a latency task (EDF {BUDGET_MS} ms every {PERIOD_MS} ms, deadline {PERIOD_MS} ms, {WORK_MS} ms of work per job) for {JOBS} periods"
        );
        for h in hogs.iter() {
            h.resume().map_err(|_| "ThreadResume failed")?;
        }
        lat.resume().map_err(|_| "ThreadResume failed")?;
        let m = ep.recv().map_err(|_| "receiving the report failed")?;
        for t in hogs.iter().chain([lat].iter()) {
            let _ = t.suspend();
        }
        if m.label() != REPORT_LABEL {
            return Err("not the latency task's report");
        }
        let (jobs, misses, worst_us, mean_us) = (m.word(0), m.word(1), m.word(2), m.word(3));
        let mut loops = [0u64; HOGS];
        for (l, c) in loops.iter_mut().zip(HOG_LOOPS.iter()) {
            *l = c.load(Ordering::Relaxed);
        }
        println!("sched-exp: hog loops {loops:?}");
        let rate_milli = misses * 1000 / jobs.max(1);
        println!(
            "sched-exp: policy={policy} jobs={jobs} misses={misses} miss_rate={}.{:03} worst_response_us={worst_us} mean_response_us={mean_us} hogs={HOGS}",
            rate_milli / 1000,
            rate_milli % 1000,
        );
        Ok(())
    }
}

#[cfg(target_os = "none")]
rt::entry!(exp::main);

#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "sched-exp runs as the root task of a rint image: cargo run -p rint-image -- run --image sched-exp --append rint.sched=rr"
    );
}
