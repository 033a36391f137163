//! The kernel ABI: syscall numbers, capability types, rights, the
//! message-info word, error codes, invocation labels and fault kinds. The
//! kernel and user space both import these; nothing here is written twice.
//!
//! Every enum is `#[repr(u32)]`/`#[repr(u64)]` with a checked `TryFrom`, so a
//! number that arrives from the other side of the boundary is decoded once,
//! and an unknown one is an error rather than a panic.
//!
//! Status: this is the first cut of the ABI that the kernel-core issue
//! implements; until the kernel dispatches syscalls it is a specification.

/// Declare a `#[repr($repr)]` enum with `TryFrom<$repr>` and `as_str`.
macro_rules! abi_enum {
    ($(#[$m:meta])* pub enum $name:ident : $repr:ty { $($(#[$vm:meta])* $v:ident = $n:expr,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr($repr)]
        pub enum $name { $($(#[$vm])* $v = $n,)+ }

        impl TryFrom<$repr> for $name {
            type Error = $repr;
            fn try_from(v: $repr) -> Result<Self, $repr> {
                match v {
                    $($n => Ok($name::$v),)+
                    other => Err(other),
                }
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)+];
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => stringify!($v),)+ }
            }
        }
    };
}

abi_enum! {
    /// The syscalls. Everything else is an invocation: a `Call` on a
    /// capability with a label from [`Invocation`].
    ///
    /// On the wire a syscall number is the *negation* of these values
    /// ([`Syscall::to_raw`]), as in seL4: every number a Linux program puts
    /// in the syscall register is non-negative, so it can never be mistaken
    /// for a rint syscall and reaches the thread's fault handler as an
    /// unknown-syscall fault instead.
    pub enum Syscall: u64 {
        /// Blocking send on an endpoint; signal on a notification; on any
        /// other object, an invocation whose reply is discarded.
        Send = 1,
        /// Send that never blocks: `WouldBlock` if no receiver waits.
        NbSend = 2,
        /// Send and wait for the reply (IPC call or object invocation).
        Call = 3,
        /// Wait for a message on an endpoint or a signal on a notification.
        Recv = 4,
        /// Receive without blocking (poll): `WouldBlock` if nothing is there.
        NbRecv = 5,
        /// Reply to the last caller, then wait on an endpoint.
        ReplyRecv = 6,
        /// Reply to the last caller.
        Reply = 7,
        /// Give up the CPU: a round-robin context goes to the back of the
        /// queue with a fresh quantum; an EDF context ends its current job
        /// and waits for its next period.
        Yield = 8,
        /// Write `arg0` bytes from the IPC buffer's message area to the kernel
        /// console (bring-up and tests).
        DebugWrite = 9,
    }
}

impl Syscall {
    /// The value in the syscall-number register.
    pub const fn to_raw(self) -> u64 {
        (self as u64).wrapping_neg()
    }
    /// Decode the syscall-number register; `None` means "not a rint
    /// syscall" (an unknown-syscall fault).
    pub fn from_raw(raw: u64) -> Option<Syscall> {
        Syscall::try_from(raw.wrapping_neg()).ok()
    }
}

/// Syscall argument and result positions (the registers behind them are in
/// `hal::TrapFrameOps`: x86_64 rdi, rsi, rdx, r10, r8, r9 in, rax first out;
/// riscv64 a0..a5 in, a0..a6 out).
pub mod regs {
    /// In: the capability invoked, sent to or received on.
    pub const ARG_CPTR: usize = 0;
    /// In: the message-info word.
    pub const ARG_INFO: usize = 1;
    /// In: message words 0..4 (`ARG_MR0 + i`).
    pub const ARG_MR0: usize = 2;
    /// Out: the error code (`Error::Ok` = 0).
    pub const RES_ERROR: usize = 0;
    /// Out: the badge of the capability a message came through (or the
    /// notification word).
    pub const RES_BADGE: usize = 1;
    /// Out: the message-info word of the received message or reply.
    pub const RES_INFO: usize = 2;
    /// Out: message words 0..4 (`RES_MR0 + i`).
    pub const RES_MR0: usize = 3;
}

/// Label of the message-info word when a `Recv` on an endpoint was woken by
/// the thread's bound notification instead: the badge result holds the
/// notification word.
pub const NOTIFICATION_LABEL: u32 = 0xffff_fffe;

abi_enum! {
    /// What a capability refers to.
    pub enum CapType: u32 {
        Null = 0,
        Untyped = 1,
        CNode = 2,
        Endpoint = 3,
        Notification = 4,
        Thread = 5,
        Frame = 6,
        /// A page-table page below the root (x86_64 PDPT/PD/PT, Sv39 levels 1-2).
        PageTable = 7,
        /// The root of an address space (x86_64 PML4, Sv39 root).
        VSpace = 8,
        /// Authority to create IRQ handlers.
        IrqControl = 9,
        IrqHandler = 10,
        /// A range of x86_64 I/O ports.
        IoPort = 11,
        /// The right to reply to one caller.
        Reply = 12,
        /// The right to read the kernel's event trace ([`trace`]).
        Trace = 13,
        /// The authority to set threads' scheduling parameters
        /// ([`Invocation::SchedControlConfigure`]).
        SchedControl = 14,
    }
}

abi_enum! {
    /// Error codes returned by syscalls and invocations. `Ok` is zero.
    pub enum Error: u64 {
        Ok = 0,
        /// The capability pointer does not lead to a capability (empty slot,
        /// revoked, or a path through a non-CNode).
        InvalidCapability = 1,
        /// The capability is of the wrong type for this operation.
        WrongType = 2,
        /// The capability lacks a right the operation needs.
        InsufficientRights = 3,
        /// An argument is invalid (unknown label, bad flag, bad size).
        InvalidArgument = 4,
        /// A number is out of the allowed range.
        RangeError = 5,
        /// An address or size is not aligned as required.
        AlignmentError = 6,
        /// The destination slot is not empty.
        SlotOccupied = 7,
        /// The object still has derived capabilities or children.
        RevokeFirst = 8,
        /// Not enough free memory in the untyped.
        NotEnoughMemory = 9,
        /// A user pointer is unaligned, wraps, or leaves the user half.
        BadUserPointer = 10,
        /// The message is longer than the IPC buffer allows.
        TruncatedMessage = 11,
        /// The operation is not allowed on this object in its state.
        IllegalOperation = 12,
        /// A non-blocking operation found nothing to do.
        WouldBlock = 13,
        /// Something is already mapped or bound there.
        AlreadyMapped = 14,
        /// Nothing is mapped or bound there.
        NotMapped = 15,
        /// The blocking operation was cancelled: the thread was suspended
        /// (and later resumed) while it waited.
        Cancelled = 16,
        /// Admission refused an EDF reservation: the total EDF bandwidth of
        /// the CPU would exceed its bound. Nothing changed.
        NoBandwidth = 17,
        /// A kernel table with a fixed size is full (scheduling contexts:
        /// a thread retype when every context of the CPU is in use).
        TableFull = 18,
    }
}

abi_enum! {
    /// Invocation labels: the operation a `Call` on a capability performs.
    /// Numbers are stable; new labels are appended.
    ///
    /// Arguments are message words (`w[i]`) and extra capabilities (`c[i]`,
    /// CPtrs in the IPC buffer's `caps_or_badges`, resolved in the caller's
    /// CSpace, *not* transferred). Slots are indices in a CNode. Every
    /// invocation returns an [`Error`]; results are in the reply's words.
    pub enum Invocation: u32 {
        /// w: type, size_bits, dest_index, count; c0: destination CNode.
        /// Objects go to `dest_index..dest_index + count`, which must be empty.
        UntypedRetype = 1,
        /// On the destination CNode. w: dest_index, src_index, rights;
        /// c0: source CNode. Rights can only shrink.
        CNodeCopy = 10,
        /// w: dest_index, src_index, rights, badge; c0: source CNode.
        CNodeMint = 11,
        /// w: dest_index, src_index; c0: source CNode.
        CNodeMove = 12,
        /// w: index.
        CNodeDelete = 13,
        /// w: index. Deletes every capability derived from the one there.
        CNodeRevoke = 14,
        /// w: index. Reply w: the type of the cap there ([`CapType`] as a
        /// word; `Null` for an empty slot), its rights bits, and 1 if it
        /// carries a badge (a badged endpoint or notification), else 0.
        /// Changes nothing; needs no rights on the CNode cap. How a
        /// program checks what a capability it was handed really is
        /// before it uses it ([`IDENTIFY_WORDS`]).
        CNodeIdentify = 15,
        /// w: ipc_buffer_vaddr; c0: CSpace root CNode, c1: VSpace, c2: IPC
        /// buffer frame. (A second word, the priority of the first
        /// scheduler, is ignored: scheduling parameters are set with
        /// [`Invocation::SchedControlConfigure`].)
        ThreadConfigure = 20,
        /// w: count. Reply words: the first `count` user registers.
        ThreadReadRegisters = 21,
        /// w: resume (0/1), count, registers...
        ThreadWriteRegisters = 22,
        ThreadResume = 23,
        ThreadSuspend = 24,
        /// Removed with fixed priorities (scheduling contexts replace
        /// them): always `IllegalOperation`. The label stays reserved.
        ThreadSetPriority = 25,
        /// w: vaddr; c0: frame.
        ThreadSetIpcBuffer = 26,
        /// w: value.
        ThreadSetTls = 27,
        /// c0: notification.
        ThreadBindNotification = 28,
        ThreadUnbindNotification = 29,
        /// c0: endpoint (with the badge fault messages carry), or no cap to
        /// clear it.
        ThreadSetFaultEndpoint = 30,
        /// w: vaddr, rights (READ/WRITE/EXECUTE bits); c0: VSpace. W and X
        /// together are refused.
        FrameMap = 40,
        FrameUnmap = 41,
        /// w: rights. Changes the rights of the existing mapping.
        FrameRemap = 42,
        /// Reply w: physical address, size in bytes.
        FrameGetAddress = 43,
        /// w: vaddr; c0: VSpace.
        PageTableMap = 50,
        PageTableUnmap = 51,
        /// w: irq, dest_index; c0: destination CNode.
        IrqControlGet = 60,
        IrqHandlerAck = 61,
        /// c0: notification (its badge is what the IRQ signals).
        IrqHandlerSetNotification = 62,
        IrqHandlerClear = 63,
        /// w: port, width (1, 2, 4). Reply w: value.
        IoPortIn = 70,
        /// w: port, width, value.
        IoPortOut = 71,
        /// w: start (a sequence number). Reply w: next, lost, count, then
        /// `count` events of [`trace::EVENT_WORDS`] words ([`trace::decode_read`]).
        TraceRead = 80,
        /// On the SchedControl capability: set the scheduling context of
        /// thread c0. w: class ([`sched::CLASS_RR`] or [`sched::CLASS_EDF`]),
        /// budget_ns, period_ns, deadline_ns, quantum_ns, flags
        /// ([`sched::FLAG_ADAPTIVE`]). EDF needs `0 < budget <= deadline <=
        /// period` (deadline 0: the period) and passes admission or fails
        /// with `NoBandwidth`; RR needs a quantum (0: the default). Invalid
        /// numbers are `InvalidArgument`. See [`sched`].
        SchedControlConfigure = 90,
    }
}

abi_enum! {
    /// Why a thread stopped and its fault handler got a message. The label
    /// of a fault message is `FAULT_LABEL_BASE + kind`.
    pub enum FaultKind: u32 {
        /// Page fault: words are pc, address, access (0 read, 1 write, 2 exec).
        PageFault = 1,
        /// Illegal instruction: words are pc, instruction bits if known.
        IllegalInstruction = 2,
        /// A syscall that is not a rint syscall: words are the thread's
        /// saved registers in the arch's trap-frame order.
        UnknownSyscall = 3,
        /// A capability lookup failed in a syscall: words are pc, cptr.
        CapFault = 4,
        /// Any other exception: words are pc, arch cause, arch detail.
        UserException = 5,
    }
}

/// Words in the reply of [`Invocation::CNodeIdentify`]: type, rights, badged.
pub const IDENTIFY_WORDS: usize = 3;

/// Fault messages carry labels from here up, away from invocation labels.
pub const FAULT_LABEL_BASE: u64 = 0xfa00;

abi_enum! {
    /// What one event of the kernel's event trace records ([`trace`]). Each
    /// event names a `thread` (a TCB's physical address; 0 is the idle CPU
    /// or the kernel itself) and up to three details `a`, `b` (words) and
    /// `c` (32 bits); what they mean depends on the kind. Numbers are
    /// stable; new kinds are appended.
    pub enum TraceKind: u32 {
        /// The CPU returned to another thread. thread: the one now running
        /// (0: the CPU idles); a: the one before (0: it idled).
        Switch = 1,
        /// A `Send` was delivered. thread: sender; a: receiver; b: badge;
        /// c: label.
        Send = 2,
        /// A `Call` (or a fault message) was delivered. thread: caller;
        /// a: receiver; b: badge; c: label.
        Call = 3,
        /// A reply was delivered. thread: replier; a: caller; c: label.
        Reply = 4,
        /// A send or call found no receiver and blocked. thread: sender;
        /// a: endpoint; b: badge; c: label.
        SendBlock = 5,
        /// A receive found nothing and blocked. thread: receiver;
        /// a: endpoint or notification.
        RecvBlock = 6,
        /// A notification was signalled. thread: signaller (0: an
        /// interrupt); a: notification; b: thread woken (0: none, the bits
        /// wait in the word); c: the badge's low 32 bits.
        Signal = 7,
        /// A device interrupt arrived. thread: the thread interrupted (0:
        /// idle); a: the line; b: the notification it signals (0: none).
        Irq = 8,
        /// A thread faulted. thread: it; a: pc; b: the fault's first word
        /// (address, arch detail or syscall number); c: [`FaultKind`].
        Fault = 9,
        /// A thread was stopped (`ThreadSuspend`, or its address space is
        /// gone). thread: it; a: its state before (0 inactive, 1 running,
        /// 2 blocked sending, 3 blocked receiving, 4 waiting for a reply,
        /// 5 waiting on a notification).
        Suspend = 10,
        /// An inactive thread was started (`ThreadResume`). thread: it.
        Resume = 11,
        /// Dynamic classification moved a thread's scheduling context to
        /// another class. thread: the context's thread; a: the budget (ns)
        /// of the new reservation (0: now round robin); b: its period (ns);
        /// c: the class now ([`sched::CLASS_RR`] or [`sched::CLASS_EDF`]).
        Reclassify = 12,
        /// An EDF context used up its budget and waits for its next period.
        /// thread: the context's thread; a: when the budget comes back
        /// (ns, the trace's clock); b: the thread running on the context
        /// (differs from `thread` while it is lent over a call).
        Throttle = 13,
        /// An adaptive EDF context got a reservation derived from its own
        /// jobs. thread: the context's thread; a: budget (ns); b: period
        /// (ns).
        Retune = 14,
        /// A promotion to EDF was due but admission refused it; the context
        /// stays round robin. thread: the context's thread; a: bandwidth
        /// asked for (parts per million); b: bandwidth available.
        PromotionRefused = 15,
        /// `SchedControlConfigure` set a context's parameters. thread: the
        /// context's thread; a: budget (EDF) or quantum (RR), ns; b: period
        /// (EDF) or 0; c: the class ([`sched::CLASS_RR`] or
        /// [`sched::CLASS_EDF`]).
        SchedConfigure = 16,
    }
}

/// The kernel's event trace: a ring of the most recent events (context
/// switches, IPC, signals, interrupts, faults, thread state changes) that
/// the root task reads through its trace capability (`slots::TRACE`) with
/// [`Invocation::TraceRead`].
///
/// Every event gets the next sequence number. A `TraceRead` names the first
/// sequence number it wants and gets the events from there on, oldest
/// first, as many as fit in one message:
///
/// ```text
/// word 0      next: the sequence number to ask for next time
/// word 1      lost: events from `start` on that were overwritten before
///             this read (the first event returned is `start + lost`)
/// word 2      count: events in this reply
/// words 3..   count events of EVENT_WORDS words each:
///             time_ns, info, thread, a, b
///             info: bits 0..8 kind (TraceKind), 8..16 CPU, 32..64 c
/// ```
///
/// A `start` past the newest event returns no events, with `next` the
/// sequence number the next event will get (how a reader skips to "now").
pub mod trace {
    use super::{Error, MSG_MAX_WORDS, TraceKind};

    /// Words per event in a `TraceRead` reply.
    pub const EVENT_WORDS: usize = 5;
    /// Words before the first event: next, lost, count.
    pub const HEADER_WORDS: usize = 3;
    /// Most events one `TraceRead` returns.
    pub const MAX_EVENTS_PER_READ: usize = (MSG_MAX_WORDS - HEADER_WORDS) / EVENT_WORDS;

    /// One event, decoded.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Event {
        pub seq: u64,
        /// Monotonic nanoseconds since boot.
        pub time_ns: u64,
        pub cpu: u8,
        /// A [`TraceKind`] number (kept raw: a newer kernel may know more).
        pub kind: u8,
        pub thread: u64,
        pub a: u64,
        pub b: u64,
        pub c: u32,
    }

    /// The `info` word of an event.
    pub const fn info_word(kind: TraceKind, cpu: u8, c: u32) -> u64 {
        (kind as u64 & 0xff) | ((cpu as u64) << 8) | ((c as u64) << 32)
    }

    impl Event {
        pub fn kind(&self) -> Option<TraceKind> {
            TraceKind::try_from(u32::from(self.kind)).ok()
        }

        /// The event with sequence number `seq` from its words.
        pub const fn from_words(seq: u64, w: &[u64; EVENT_WORDS]) -> Event {
            let info = w[1];
            Event {
                seq,
                time_ns: w[0],
                cpu: (info >> 8) as u8,
                kind: info as u8,
                thread: w[2],
                a: w[3],
                b: w[4],
                c: (info >> 32) as u32,
            }
        }

        pub const fn to_words(&self) -> [u64; EVENT_WORDS] {
            let info = (self.kind as u64) | ((self.cpu as u64) << 8) | ((self.c as u64) << 32);
            [self.time_ns, info, self.thread, self.a, self.b]
        }
    }

    /// What a `TraceRead` reply says besides its events.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Batch {
        /// The sequence number to read from next.
        pub next: u64,
        /// Events overwritten before they could be read.
        pub lost: u64,
        /// Events decoded into the caller's array.
        pub count: usize,
    }

    /// Decode the words of a `TraceRead` reply into `out` (at most
    /// `out.len()` events; the rest are dropped and `next` names the first
    /// of them, so nothing is skipped). `InvalidArgument` if the words are
    /// not a reply (too short for the count they claim).
    pub fn decode_read(start: u64, words: &[u64], out: &mut [Event]) -> Result<Batch, Error> {
        let [next, lost, count] = match words.get(..HEADER_WORDS) {
            Some(&[n, l, c]) => [n, l, c],
            _ => return Err(Error::InvalidArgument),
        };
        let count = usize::try_from(count).map_err(|_| Error::InvalidArgument)?;
        let body = words.get(HEADER_WORDS..).unwrap_or(&[]);
        if count > MAX_EVENTS_PER_READ || body.len() < count * EVENT_WORDS {
            return Err(Error::InvalidArgument);
        }
        let first = start.saturating_add(lost);
        let n = count.min(out.len());
        for (i, (o, w)) in out.iter_mut().zip(body.chunks_exact(EVENT_WORDS)).take(n).enumerate() {
            let mut ev = [0u64; EVENT_WORDS];
            ev.copy_from_slice(w);
            *o = Event::from_words(first + i as u64, &ev);
        }
        let next = if n < count { first + n as u64 } else { next };
        Ok(Batch { next, lost, count: n })
    }
}

/// Scheduling contexts (`docs/scheduler.md`): every thread has one, set
/// through the root task's SchedControl capability (`slots::SCHED_CONTROL`)
/// with [`Invocation::SchedControlConfigure`]; a thread cannot raise its
/// own share. A new thread gets an adaptive round-robin context with the
/// default quantum.
pub mod sched {
    /// Round robin (best effort) with a quantum.
    pub const CLASS_RR: u64 = 0;
    /// Earliest deadline first within a reservation (budget every period,
    /// each job done by its deadline), admitted against a bound.
    pub const CLASS_EDF: u64 = 1;
    /// Dynamic classification may move the context between the classes.
    pub const FLAG_ADAPTIVE: u64 = 1 << 0;
    /// Every flag the kernel knows; others are `InvalidArgument`.
    pub const FLAGS_ALL: u64 = FLAG_ADAPTIVE;
    /// Longest budget, period, deadline or quantum accepted (about 18
    /// minutes): keeps the kernel's time arithmetic far from overflow.
    pub const MAX_TIME_NS: u64 = 1 << 40;

    /// The words of a `SchedControlConfigure`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Params {
        pub class: u64,
        pub budget_ns: u64,
        pub period_ns: u64,
        /// Relative deadline; 0 means the period (implicit deadline).
        pub deadline_ns: u64,
        /// Round-robin quantum; 0 means the kernel's default.
        pub quantum_ns: u64,
        pub flags: u64,
    }

    impl Params {
        /// An EDF reservation of `budget_ns` every `period_ns`, deadline =
        /// period, not adaptive.
        pub const fn edf(budget_ns: u64, period_ns: u64) -> Params {
            Params {
                class: CLASS_EDF,
                budget_ns,
                period_ns,
                deadline_ns: 0,
                quantum_ns: 0,
                flags: 0,
            }
        }

        /// Round robin with `quantum_ns` (0: the default), not adaptive.
        pub const fn rr(quantum_ns: u64) -> Params {
            Params {
                class: CLASS_RR,
                budget_ns: 0,
                period_ns: 0,
                deadline_ns: 0,
                quantum_ns,
                flags: 0,
            }
        }

        /// The same with a relative deadline shorter than the period.
        pub const fn with_deadline(self, deadline_ns: u64) -> Params {
            Params { deadline_ns, ..self }
        }

        /// The same with dynamic classification on or off.
        pub const fn adaptive(self, on: bool) -> Params {
            let flags = if on { self.flags | FLAG_ADAPTIVE } else { self.flags & !FLAG_ADAPTIVE };
            Params { flags, ..self }
        }

        /// The invocation's words, in order.
        pub const fn to_words(&self) -> [u64; 6] {
            [
                self.class,
                self.budget_ns,
                self.period_ns,
                self.deadline_ns,
                self.quantum_ns,
                self.flags,
            ]
        }

        pub const fn from_words(w: &[u64; 6]) -> Params {
            Params {
                class: w[0],
                budget_ns: w[1],
                period_ns: w[2],
                deadline_ns: w[3],
                quantum_ns: w[4],
                flags: w[5],
            }
        }
    }
}

/// Capability rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct Rights(u32);

impl Rights {
    pub const READ: Rights = Rights(1 << 0);
    pub const WRITE: Rights = Rights(1 << 1);
    /// Frames: may be mapped executable.
    pub const EXECUTE: Rights = Rights(1 << 2);
    /// Endpoints: capabilities may be sent along with messages.
    pub const GRANT: Rights = Rights(1 << 3);
    /// Endpoints: the callee may send capabilities in its reply.
    pub const GRANT_REPLY: Rights = Rights(1 << 4);
    pub const ALL: Rights = Rights(0x1f);
    pub const NONE: Rights = Rights(0);

    /// Rights from raw bits; unknown bits are an error.
    pub const fn from_bits(bits: u32) -> Option<Rights> {
        if bits & !Self::ALL.0 != 0 { None } else { Some(Rights(bits)) }
    }
    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn contains(self, other: Rights) -> bool {
        self.0 & other.0 == other.0
    }
    /// The rights both have: minting can only take rights away.
    pub const fn intersect(self, other: Rights) -> Rights {
        Rights(self.0 & other.0)
    }
    pub const fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }
}

/// Most message words in one message (registers plus IPC buffer).
pub const MSG_MAX_WORDS: usize = 120;
/// Most capabilities transferred with one message.
pub const MSG_MAX_CAPS: usize = 3;
/// Message words passed in registers; the rest go through the IPC buffer.
pub const MSG_REGISTERS: usize = 4;

/// The message-info word: label, length and capability count of a message.
///
/// ```text
/// bits 63..32  label (invocation, protocol op or fault label)
/// bits 31..12  reserved, zero
/// bits 11..9   caps unwrapped (badges delivered instead of caps; set by kernel)
/// bits  8..7   extra caps (0..=3)
/// bits  6..0   length in words (0..=120)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MessageInfo(u64);

impl MessageInfo {
    /// A message-info word; `None` if a field is out of range.
    pub const fn new(label: u32, length: usize, extra_caps: usize) -> Option<Self> {
        if length > MSG_MAX_WORDS || extra_caps > MSG_MAX_CAPS {
            return None;
        }
        Some(MessageInfo(((label as u64) << 32) | ((extra_caps as u64) << 7) | length as u64))
    }
    /// Decode a raw word; reserved bits set or fields out of range is an error.
    pub const fn from_raw(raw: u64) -> Result<Self, Error> {
        let m = MessageInfo(raw);
        if raw & 0xffff_f000 != 0 || m.length() > MSG_MAX_WORDS || m.extra_caps() > MSG_MAX_CAPS {
            return Err(Error::InvalidArgument);
        }
        Ok(m)
    }
    pub const fn raw(self) -> u64 {
        self.0
    }
    pub const fn label(self) -> u32 {
        (self.0 >> 32) as u32
    }
    pub const fn length(self) -> usize {
        (self.0 & 0x7f) as usize
    }
    pub const fn extra_caps(self) -> usize {
        ((self.0 >> 7) & 0x3) as usize
    }
    pub const fn caps_unwrapped(self) -> u32 {
        ((self.0 >> 9) & 0x7) as u32
    }
    pub const fn with_caps_unwrapped(self, mask: u32) -> Self {
        MessageInfo((self.0 & !(0x7 << 9)) | (((mask & 0x7) as u64) << 9))
    }
}

/// A capability pointer: an index into the caller's CSpace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct CPtr(pub u64);

/// The IPC buffer: one page per thread, shared between the thread and the
/// kernel, holding the message words beyond the registers and the
/// capability-transfer slots.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct IpcBuffer {
    pub tag: u64,
    pub msg: [u64; MSG_MAX_WORDS],
    pub user_data: u64,
    /// Capabilities to send (CPtrs) or, on receive, badges of unwrapped caps.
    pub caps_or_badges: [u64; MSG_MAX_CAPS],
    /// Where received capabilities go: a CNode CPtr, a slot index and depth.
    pub receive_cnode: u64,
    pub receive_index: u64,
    pub receive_depth: u64,
}

const _: () = assert!(core::mem::size_of::<IpcBuffer>() <= 4096);

/// Well-known slots of the root task's CNode (its CSpace root).
pub mod slots {
    pub const NULL: u64 = 0;
    /// The root task's own thread.
    pub const INIT_THREAD: u64 = 1;
    /// The root task's CSpace root CNode.
    pub const INIT_CNODE: u64 = 2;
    /// The root task's VSpace.
    pub const INIT_VSPACE: u64 = 3;
    pub const IRQ_CONTROL: u64 = 4;
    /// All I/O ports (x86_64; empty elsewhere).
    pub const IO_PORTS: u64 = 5;
    /// The frame holding [`super::BootInfo`].
    pub const BOOT_INFO_FRAME: u64 = 6;
    /// The root task's IPC buffer frame.
    pub const IPC_BUFFER: u64 = 7;
    /// The kernel's event trace ([`super::trace`]).
    pub const TRACE: u64 = 8;
    /// The authority to configure scheduling contexts ([`super::sched`]).
    pub const SCHED_CONTROL: u64 = 9;
    /// First slot of the ranges described in `BootInfo`.
    pub const FIRST_DYNAMIC: u64 = 10;
}

/// A range of slots `[start, end)` in the root CNode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SlotRange {
    pub start: u64,
    pub end: u64,
}

/// One untyped capability given to the root task.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct UntypedDesc {
    pub paddr: u64,
    pub size_bits: u8,
    /// Device memory (MMIO): retype into frames only; never zeroed.
    pub is_device: u8,
    pub _pad: [u8; 6],
}

/// Most untyped descriptors in `BootInfo`.
pub const BOOT_MAX_UNTYPED: usize = 230;

/// The boot-info page the kernel gives the root task (its address is the
/// root task's first argument register; `slots::BOOT_INFO_FRAME` is its frame).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BootInfo {
    /// [`BOOT_INFO_MAGIC`].
    pub magic: u64,
    /// [`BOOT_INFO_VERSION`].
    pub version: u64,
    /// Radix bits of the root CNode (its guard makes CPtrs plain indices).
    pub cnode_radix_bits: u64,
    /// Where the root task's IPC buffer is mapped.
    pub ipc_buffer: u64,
    /// Free slots of the root CNode.
    pub empty: SlotRange,
    /// Untyped capabilities, described in `untyped[..count]` in slot order.
    pub untyped: SlotRange,
    /// Frame capabilities of the boot archive, in order (read-only).
    pub archive_frames: SlotRange,
    /// Where the boot archive is mapped read-only in the root task.
    pub archive_vaddr: u64,
    /// Its size in bytes.
    pub archive_size: u64,
    /// The kernel's timer is tickless (one-shot, armed for the
    /// scheduler's next decision); it fires at least this many times a
    /// second while a thread runs (the fallback re-arm, `docs/scheduler.md`).
    pub tick_hz: u64,
    pub untyped_list: [UntypedDesc; BOOT_MAX_UNTYPED],
    /// Ticks per second of the clock counter user mode can read: x86_64
    /// `rdtsc`, riscv64 `rdtime` (the kernel's own clock runs on it).
    pub clock_hz: u64,
}

/// The root task's fixed layout (its ELF image goes where its headers say,
/// below these).
pub mod root_layout {
    /// The root task's IPC buffer (one page, read-write).
    pub const IPC_BUFFER: u64 = 0x1_0000_0000;
    /// The boot-info page (read-only); also the first argument register.
    pub const BOOT_INFO: u64 = 0x1_0000_1000;
    /// Top of the initial stack (grows down `STACK_SIZE` bytes).
    pub const STACK_TOP: u64 = 0x1_0010_0000;
    pub const STACK_SIZE: u64 = 256 * 1024;
    /// Where the boot archive is mapped read-only.
    pub const ARCHIVE: u64 = 0x2_0000_0000;
    /// Root-task ELF segments must end below this.
    pub const IMAGE_END: u64 = IPC_BUFFER;
}

pub const BOOT_INFO_MAGIC: u64 = u64::from_le_bytes(*b"RINTBOOT");
/// 2: `slots::SCHED_CONTROL` joined the well-known slots (`FIRST_DYNAMIC`
/// moved from 9 to 10).
pub const BOOT_INFO_VERSION: u64 = 2;
const _: () = assert!(core::mem::size_of::<BootInfo>() <= 4096);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_numbers_are_negative() {
        for s in Syscall::ALL {
            assert!((s.to_raw() as i64) < 0);
            assert_eq!(Syscall::from_raw(s.to_raw()), Some(*s));
        }
        // Linux syscall numbers (0..~460) are never rint syscalls.
        for n in 0..1000u64 {
            assert_eq!(Syscall::from_raw(n), None);
        }
    }

    #[test]
    fn enums_round_trip_and_reject_unknown() {
        for s in Syscall::ALL {
            assert_eq!(Syscall::try_from(*s as u64), Ok(*s));
        }
        assert_eq!(Syscall::try_from(0), Err(0));
        assert_eq!(Syscall::try_from(u64::MAX), Err(u64::MAX));
        for c in CapType::ALL {
            assert_eq!(CapType::try_from(*c as u32), Ok(*c));
        }
        for e in Error::ALL {
            assert_eq!(Error::try_from(*e as u64), Ok(*e));
        }
        for i in Invocation::ALL {
            assert_eq!(Invocation::try_from(*i as u32), Ok(*i));
        }
        for k in TraceKind::ALL {
            assert_eq!(TraceKind::try_from(*k as u32), Ok(*k));
            assert!((*k as u32) < 256, "trace kinds fit the info word's 8 bits");
        }
        assert!(Invocation::try_from(9999).is_err());
        assert_eq!(Error::Ok.as_str(), "Ok");
    }

    #[test]
    fn message_info_fields() {
        let m = MessageInfo::new(0xdead_beef, 120, 3).expect("in range");
        assert_eq!(m.label(), 0xdead_beef);
        assert_eq!(m.length(), 120);
        assert_eq!(m.extra_caps(), 3);
        assert_eq!(m.caps_unwrapped(), 0);
        let u = m.with_caps_unwrapped(0b101);
        assert_eq!(u.caps_unwrapped(), 0b101);
        assert_eq!(u.length(), 120);
        assert_eq!(MessageInfo::from_raw(m.raw()), Ok(m));
        assert!(MessageInfo::new(1, 121, 0).is_none());
        assert!(MessageInfo::new(1, 0, 4).is_none());
        // Length 127 fits the field but exceeds the buffer.
        assert_eq!(MessageInfo::from_raw(127), Err(Error::InvalidArgument));
        // Reserved bits.
        assert_eq!(MessageInfo::from_raw(1 << 20), Err(Error::InvalidArgument));
    }

    #[test]
    fn trace_events_round_trip() {
        let e = trace::Event {
            seq: 7,
            time_ns: 123_456_789,
            cpu: 3,
            kind: TraceKind::Call as u8,
            thread: 0x8012_3800,
            a: 0x8012_4000,
            b: 0xb0b,
            c: 0xfa01,
        };
        let w = e.to_words();
        assert_eq!(w[1], trace::info_word(TraceKind::Call, 3, 0xfa01));
        assert_eq!(trace::Event::from_words(7, &w), e);
        assert_eq!(e.kind(), Some(TraceKind::Call));
        let unknown = trace::Event { kind: 200, ..e };
        assert_eq!(unknown.kind(), None);
        assert_eq!(trace::MAX_EVENTS_PER_READ, 23);
    }

    #[test]
    fn trace_read_replies_decode() {
        let ev = |i: u64| trace::Event {
            seq: 0,
            time_ns: 1000 + i,
            kind: TraceKind::Switch as u8,
            thread: i,
            ..Default::default()
        };
        // start 10, 2 lost, 3 events (seq 12, 13, 14), next 15.
        let mut words = alloc::vec![15, 2, 3];
        for i in 0..3 {
            words.extend_from_slice(&ev(i).to_words());
        }
        let mut out = [trace::Event::default(); 8];
        let b = trace::decode_read(10, &words, &mut out).expect("decodes");
        assert_eq!(b, trace::Batch { next: 15, lost: 2, count: 3 });
        assert_eq!((out[0].seq, out[2].seq, out[2].time_ns), (12, 14, 1002));
        // A short array: the rest is read again from `next`.
        let mut two = [trace::Event::default(); 2];
        let b = trace::decode_read(10, &words, &mut two).expect("decodes");
        assert_eq!((b.next, b.count), (14, 2));
        // Malformed replies.
        assert_eq!(trace::decode_read(0, &[1, 0], &mut out), Err(Error::InvalidArgument));
        assert_eq!(trace::decode_read(0, &[5, 0, 2, 1, 2], &mut out), Err(Error::InvalidArgument));
        assert_eq!(trace::decode_read(0, &[5, 0, u64::MAX], &mut out), Err(Error::InvalidArgument));
        assert_eq!(trace::decode_read(0, &[9, 0, 0], &mut out).map(|b| b.count), Ok(0));
    }

    #[test]
    fn rights() {
        let rw = Rights::READ.union(Rights::WRITE);
        assert!(rw.contains(Rights::READ));
        assert!(!rw.contains(Rights::GRANT));
        assert_eq!(rw.intersect(Rights::READ), Rights::READ);
        assert_eq!(Rights::from_bits(0x20), None);
        assert_eq!(Rights::from_bits(0x1f), Some(Rights::ALL));
    }
}
