//! The kernel's own state: the scheduler's run queues, the current thread
//! of each CPU, the address-space (ASID) table, the interrupt table and the
//! event trace. All of it is static kernel data; kernel objects themselves
//! live in memory user space retyped from untyped.
//!
//! One lock (the big kernel lock) guards it: the kernel's paths are short,
//! and seL4 shows that one lock is a sound first design for SMP.

use crate::trace::Ring;
use spin::Mutex;

/// Most CPUs the kernel keeps state for.
pub const MAX_CPUS: usize = 4;
/// Address-space ids: index bits of an ASID; the rest is a generation.
pub const ASID_BITS: u32 = 10;
pub const MAX_ASIDS: usize = 1 << ASID_BITS;
/// Interrupt lines the kernel routes to notifications.
pub const MAX_IRQS: usize = 256;
/// Priorities 0 (lowest) ..= 255.
pub const PRIORITIES: usize = 256;
/// Timer ticks in a round-robin time slice.
pub const TIMESLICE_TICKS: u64 = 5;

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
}

#[derive(Clone, Copy, Default)]
pub struct IrqSlot {
    pub claimed: bool,
    /// Notification to signal (0 = none) and the badge to OR in.
    pub notification: u64,
    pub badge: u64,
}

pub struct Kernel {
    /// Run queues: head and tail TCB per priority.
    pub queue_head: [u64; PRIORITIES],
    pub queue_tail: [u64; PRIORITIES],
    /// Bit per non-empty priority.
    pub queue_bitmap: [u64; PRIORITIES / 64],
    pub cpus: [PerCpu; MAX_CPUS],
    /// VSpace root per ASID index (0 = free) and the generation in use.
    pub asid_root: [u64; MAX_ASIDS],
    pub asid_generation: [u64; MAX_ASIDS],
    pub irqs: [IrqSlot; MAX_IRQS],
    /// The kernel's own page-table root (user spaces copy its kernel half).
    pub kernel_root: u64,
    /// Head of the list of CNodes and TCBs waiting to be emptied.
    pub destroy_list: u64,
    /// Timer ticks since boot.
    pub ticks: u64,
    /// The event trace (`trace`).
    pub trace: Ring,
}

impl Kernel {
    pub const fn new() -> Kernel {
        Kernel {
            queue_head: [0; PRIORITIES],
            queue_tail: [0; PRIORITIES],
            queue_bitmap: [0; PRIORITIES / 64],
            cpus: [PerCpu { current: 0, active_root: 0, ran: 0, stamp: 0 }; MAX_CPUS],
            asid_root: [0; MAX_ASIDS],
            asid_generation: [0; MAX_ASIDS],
            irqs: [IrqSlot { claimed: false, notification: 0, badge: 0 }; MAX_IRQS],
            kernel_root: 0,
            destroy_list: 0,
            ticks: 0,
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
