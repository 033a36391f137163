//! The kernel's own state: the scheduler of each CPU (`sched`), the current
//! thread of each CPU, the address-space (ASID) table, the interrupt table
//! and the event trace. All of it is static kernel data; kernel objects themselves
//! live in memory user space retyped from untyped.
//!
//! One lock (the big kernel lock) guards it: the kernel's paths are short,
//! and seL4 shows that one lock is a sound first design for SMP.

use crate::trace::Ring;
use sched::{Config, RoundRobin, Scheduler};
use spin::Mutex;

/// Most CPUs the kernel keeps state for.
pub const MAX_CPUS: usize = 4;
/// Address-space ids: index bits of an ASID; the rest is a generation.
pub const ASID_BITS: u32 = 10;
pub const MAX_ASIDS: usize = 1 << ASID_BITS;
/// Interrupt lines the kernel routes to notifications.
pub const MAX_IRQS: usize = 256;
/// Scheduling contexts per CPU: one per thread, so also the most threads
/// a CPU can have (a thread retype beyond it fails with `TableFull`).
pub const SC_MAX: usize = 256;
/// The joint policy's configuration: EDF up to 90%, RR reserve 1 ms every
/// 10 ms, 10 ms default quantum (`sched::Config::DEFAULT`).
pub const SCHED_CONFIG: Config = Config::DEFAULT;
/// The quantum of a context nobody configured (and of every context under
/// `rint.sched=rr`).
pub const DEFAULT_QUANTUM_NS: u64 = SCHED_CONFIG.default_quantum;
/// The one-shot timer is armed at least this often while a thread runs (a
/// fallback: every decision has an end of its own, the quantum at most).
pub const MAX_SLICE_NS: u64 = 10_000_000;

const JOINT: Scheduler<SC_MAX> = match Scheduler::new(SCHED_CONFIG) {
    Ok(s) => s,
    Err(_) => panic!("invalid scheduler configuration"),
};

/// One CPU's scheduler: the policy, and which threads the contexts belong
/// to and run. See `sched`.
pub struct CpuSched {
    /// The joint RR+EDF policy (the default).
    pub joint: Scheduler<SC_MAX>,
    /// Plain round robin, with `rint.sched=rr` (the experiment's baseline).
    pub rr: RoundRobin<SC_MAX>,
    pub use_rr: bool,
    /// The thread each context belongs to (0: the context is free).
    pub owner: [u64; SC_MAX],
    /// The thread running on each context: its owner, or the thread the
    /// owner's call lent it to (0: none).
    pub runner: [u64; SC_MAX],
    /// Contexts whose runner or runner's state changed since the policy
    /// last heard of them (a bit each).
    pub dirty: [u64; SC_MAX / 64],
    /// The policy must decide again (dirty contexts, a yield, new
    /// parameters, the timer).
    pub repick: bool,
    /// The last decision: the context it runs (`u16::MAX`: idle) and until
    /// when.
    pub run: u16,
    pub until: u64,
    /// When the one-shot timer will fire (0: not armed).
    pub armed: u64,
}

impl CpuSched {
    const fn new() -> CpuSched {
        CpuSched {
            joint: JOINT,
            rr: RoundRobin::new(DEFAULT_QUANTUM_NS),
            use_rr: false,
            owner: [0; SC_MAX],
            runner: [0; SC_MAX],
            dirty: [0; SC_MAX / 64],
            repick: true,
            run: u16::MAX,
            until: 0,
            armed: 0,
        }
    }
}

/// `PerCpu::fp_owner`: the registers hold the initial FP state (which is
/// every thread's that has not used FP yet).
pub const FP_INITIAL: u64 = 0;
/// `PerCpu::fp_owner`: the registers hold values of no live thread (the
/// firmware's at boot, a destroyed thread's): to be replaced before any
/// thread runs, and never saved. (TCB addresses are 2 KiB aligned, so
/// neither value is one.)
pub const FP_STALE: u64 = 1;

#[derive(Clone, Copy)]
pub struct PerCpu {
    /// The thread running (or about to run) on this CPU; 0 = idle.
    pub current: u64,
    /// Root of the address space last activated (0 = the kernel's).
    pub active_root: u64,
    /// The thread this CPU last returned to (0 = it idled): a return to
    /// another one is a context switch in the trace.
    pub ran: u64,
    /// The time stamp of this kernel entry's trace events (0: none read
    /// yet; cleared on the way out of the kernel).
    pub stamp: u64,
    /// Whose FP state this CPU's registers hold: a thread (saved into its
    /// TCB only when this CPU switches to another thread,
    /// `trap::switch_fp`), [`FP_INITIAL`] or [`FP_STALE`].
    pub fp_owner: u64,
}

#[derive(Clone, Copy, Default)]
pub struct IrqSlot {
    pub claimed: bool,
    /// Notification to signal (0 = none) and the badge to OR in.
    pub notification: u64,
    pub badge: u64,
}

pub struct Kernel {
    /// The scheduler of each CPU.
    pub sched: [CpuSched; MAX_CPUS],
    pub cpus: [PerCpu; MAX_CPUS],
    /// VSpace root per ASID index (0 = free) and the generation in use.
    pub asid_root: [u64; MAX_ASIDS],
    pub asid_generation: [u64; MAX_ASIDS],
    pub irqs: [IrqSlot; MAX_IRQS],
    /// The kernel's own page-table root (user spaces copy its kernel half).
    pub kernel_root: u64,
    /// Head of the list of CNodes and TCBs waiting to be emptied.
    pub destroy_list: u64,
    /// The event trace (`trace`).
    pub trace: Ring,
}

impl Kernel {
    pub const fn new() -> Kernel {
        Kernel {
            sched: [const { CpuSched::new() }; MAX_CPUS],
            cpus: [PerCpu { current: 0, active_root: 0, ran: 0, stamp: 0, fp_owner: FP_STALE };
                MAX_CPUS],
            asid_root: [0; MAX_ASIDS],
            asid_generation: [0; MAX_ASIDS],
            irqs: [IrqSlot { claimed: false, notification: 0, badge: 0 }; MAX_IRQS],
            kernel_root: 0,
            destroy_list: 0,
            trace: Ring::new(),
        }
    }

    pub fn cpu(&mut self) -> &mut PerCpu {
        let id = <hal::Arch as hal::Cpu>::id() % MAX_CPUS;
        &mut self.cpus[id]
    }

    /// The thread this CPU runs (0 = idle).
    pub fn current(&mut self) -> u64 {
        self.cpu().current
    }
}

pub static KERNEL: Mutex<Kernel> = Mutex::new(Kernel::new());
