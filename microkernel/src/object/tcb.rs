//! The thread control block: what a Thread object holds.
//!
//! A TCB sits in a 2 KiB object carved from untyped. Besides the saved
//! registers (the trap frame and, on x86_64, the x87/SSE image), IPC state
//! and its scheduling context (an entry of its CPU's scheduler,
//! `crate::sched`), it holds four capability slots
//! of its own (CSpace root, VSpace, IPC buffer frame, fault endpoint), so
//! the objects a thread depends on are in the derivation tree like any other
//! copy: revoking them reaches into the TCB, and the kernel always reads the
//! current cap from the slot rather than a cached address.

use crate::mem::phys::PhysRef;
use hal::{FpState, FpStateOps, TrapFrame, TrapFrameOps};
use kcore::{Slot, SlotId};

/// Index of a TCB's own slots.
pub const SLOT_CSPACE: usize = 0;
pub const SLOT_VSPACE: usize = 1;
pub const SLOT_IPC_BUFFER: usize = 2;
pub const SLOT_FAULT_EP: usize = 3;
pub const TCB_SLOTS: usize = 4;

/// Scheduling and IPC state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ThreadState {
    /// Not started, suspended, or stopped after an unhandled fault.
    Inactive = 0,
    /// Runnable (its scheduling context is ready, or it runs).
    Running = 1,
    /// Queued on an endpoint to send (`blocked_on`).
    BlockedOnSend = 2,
    /// Queued on an endpoint to receive (`blocked_on`).
    BlockedOnRecv = 3,
    /// Sent a call (or a fault); waits for the reply from `reply_from`.
    BlockedOnReply = 4,
    /// Waiting on a notification (`blocked_on`).
    BlockedOnNotification = 5,
}

impl ThreadState {
    fn from_raw(v: u64) -> ThreadState {
        match v {
            1 => ThreadState::Running,
            2 => ThreadState::BlockedOnSend,
            3 => ThreadState::BlockedOnRecv,
            4 => ThreadState::BlockedOnReply,
            5 => ThreadState::BlockedOnNotification,
            _ => ThreadState::Inactive,
        }
    }
}

/// The pending send is a call (the sender waits for a reply).
pub const FLAG_CALL: u64 = 1 << 0;
/// The pending send may transfer capabilities (its endpoint cap had GRANT).
pub const FLAG_GRANT: u64 = 1 << 1;

#[repr(C)]
pub struct Tcb {
    /// User registers while the thread is not running on a CPU (and, during
    /// a syscall, the registers it trapped with).
    pub regs: TrapFrame,
    /// FP/vector registers the frame does not carry (x86_64 x87/SSE; empty
    /// on riscv64, whose frame has them). Valid while no CPU's `fp_owner`
    /// is this thread; while one is, that CPU's registers hold the state,
    /// and it is saved here when that CPU switches to another thread.
    /// (Once threads can move between CPUs, a move must save it first.)
    pub fp: FpState,
    /// The thread has executed an FP instruction (`TrapKind::FpUnavailable`):
    /// from then on its FP state is switched with it. Until then it is the
    /// initial state and nothing needs saving.
    pub fp_used: bool,
    state: u64,
    pub flags: u64,
    /// This thread's own scheduling context (`crate::sched::ScRef`,
    /// `SC_NONE` until retype gives it one).
    pub sc: u64,
    /// The context it runs on now: its own, one lent to it by a caller
    /// (donation), or `SC_NONE` while its own is lent away.
    pub on_sc: u64,
    /// The context this thread lent over the call it waits on (`SC_NONE`:
    /// none); it comes back with the reply.
    pub lent: u64,
    /// Endpoint or notification wait-queue links.
    pub queue_next: u64,
    pub queue_prev: u64,
    /// The endpoint or notification this thread is queued on.
    pub blocked_on: u64,
    /// Badge of the endpoint cap of a pending send.
    pub send_badge: u64,
    /// The thread waiting for this thread's reply (it called us).
    pub caller: u64,
    /// The thread whose reply this thread waits for.
    pub reply_from: u64,
    /// The notification bound to this thread (0 = none).
    pub bound_notification: u64,
    /// A pending fault (`libipc::abi::FaultKind` as u64, 0 = none) and its data.
    pub fault: u64,
    pub fault_data: [u64; 3],
    /// Link in the kernel's list of containers waiting to be emptied.
    pub destroy_next: u64,
    pub slots: [Slot; TCB_SLOTS],
}

const _: () = assert!(core::mem::size_of::<Tcb>() <= 1 << kcore::untyped::THREAD_BITS);

impl Tcb {
    pub fn new() -> Tcb {
        Tcb {
            regs: TrapFrame::new_user(0, 0, 0),
            fp: FpState::initial(),
            fp_used: false,
            state: ThreadState::Inactive as u64,
            flags: 0,
            sc: crate::sched::SC_NONE,
            on_sc: crate::sched::SC_NONE,
            lent: crate::sched::SC_NONE,
            queue_next: 0,
            queue_prev: 0,
            blocked_on: 0,
            send_badge: 0,
            caller: 0,
            reply_from: 0,
            bound_notification: 0,
            fault: 0,
            fault_data: [0; 3],
            destroy_next: 0,
            slots: [Slot::EMPTY; TCB_SLOTS],
        }
    }

    pub fn state(&self) -> ThreadState {
        ThreadState::from_raw(self.state)
    }

    pub fn set_state(&mut self, s: ThreadState) {
        self.state = s as u64;
    }
}

/// A thread, by the physical address of its TCB.
pub type TcbRef = PhysRef<Tcb>;

/// The slot id of a TCB's own slot `i`.
pub fn tcb_slot(tcb: u64, i: usize) -> SlotId {
    let off = core::mem::offset_of!(Tcb, slots) + i * core::mem::size_of::<Slot>();
    SlotId(tcb + off as u64)
}

/// The TCB at `pa`.
///
/// Callers pass addresses taken from thread caps or from kernel links
/// (queues, caller/reply links), which always name live TCBs: destroying a
/// thread unlinks it from all of them first.
pub fn tcb(pa: u64) -> TcbRef {
    // SAFETY: see above; the kernel never stores a TCB address anywhere it
    // does not remove from when the thread is destroyed.
    unsafe { PhysRef::new(pa) }
}
