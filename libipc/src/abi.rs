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
    pub enum Syscall: u64 {
        /// Blocking send on an endpoint; signal on a notification; invoke an
        /// object without waiting for the reply.
        Send = 1,
        /// Send that never blocks: dropped if no receiver waits.
        NbSend = 2,
        /// Send and wait for the reply (IPC call or object invocation).
        Call = 3,
        /// Wait for a message on an endpoint or a signal on a notification.
        Recv = 4,
        /// Receive without blocking (poll).
        NbRecv = 5,
        /// Reply to the last caller, then wait on an endpoint.
        ReplyRecv = 6,
        /// Reply to the last caller.
        Reply = 7,
        /// Give up the rest of the time slice.
        Yield = 8,
        /// Write bytes from the IPC buffer to the kernel console (bring-up).
        DebugWrite = 9,
    }
}

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
    }
}

abi_enum! {
    /// Invocation labels: the operation a `Call` on a capability performs.
    /// Numbers are stable; new labels are appended.
    pub enum Invocation: u32 {
        UntypedRetype = 1,
        CNodeCopy = 10,
        CNodeMint = 11,
        CNodeMove = 12,
        CNodeDelete = 13,
        CNodeRevoke = 14,
        ThreadConfigure = 20,
        ThreadReadRegisters = 21,
        ThreadWriteRegisters = 22,
        ThreadResume = 23,
        ThreadSuspend = 24,
        ThreadSetPriority = 25,
        ThreadSetIpcBuffer = 26,
        ThreadSetTls = 27,
        ThreadBindNotification = 28,
        ThreadUnbindNotification = 29,
        ThreadSetFaultEndpoint = 30,
        FrameMap = 40,
        FrameUnmap = 41,
        FrameRemap = 42,
        FrameGetAddress = 43,
        PageTableMap = 50,
        PageTableUnmap = 51,
        IrqControlGet = 60,
        IrqHandlerAck = 61,
        IrqHandlerSetNotification = 62,
        IrqHandlerClear = 63,
        IoPortIn = 70,
        IoPortOut = 71,
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

/// Fault messages carry labels from here up, away from invocation labels.
pub const FAULT_LABEL_BASE: u64 = 0xfa00;

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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rights() {
        let rw = Rights::READ.union(Rights::WRITE);
        assert!(rw.contains(Rights::READ));
        assert!(!rw.contains(Rights::GRANT));
        assert_eq!(rw.intersect(Rights::READ), Rights::READ);
        assert_eq!(Rights::from_bits(0x20), None);
        assert_eq!(Rights::from_bits(0x1f), Some(Rights::ALL));
    }
}
