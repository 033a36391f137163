//! Typed capabilities: [`Cap<T>`] is a CPtr that knows what it points to,
//! with one method per invocation of `abi::Invocation` (like rust-sel4's
//! `Cap<Endpoint>`, `Cap<Tcb>`). Errors are `abi::Error`, the kernel's own
//! codes, one to one.
//!
//! - [`Cap`] and the object markers ([`Untyped`], [`CNode`], [`Endpoint`],
//!   ...) are plain data, as is [`encode`], which turns each invocation's
//!   typed arguments into its label, words and capability arguments exactly
//!   as documented on `abi::Invocation`. Both are tested on the host.
//! - The methods that invoke (`impl Cap<Frame> { fn map(..) }`, ...) exist
//!   only on the bare-metal targets, where [`crate::sys`] does. They use the
//!   calling thread's registered IPC buffer (`sys::ipc_buffer`); a thread
//!   with another buffer invokes through `sys::IpcBuf::invoke` with the
//!   same [`encode`] requests.
//! - [`init`] names the root task's well-known capabilities.
//!
//! Slot arguments (`dest_index`, `src_index`, ...) are indices in the CNode
//! the capability argument names; for the root CNode they equal CPtrs.

use core::fmt;
use core::marker::PhantomData;

use crate::abi::{self, CPtr, Invocation, MSG_MAX_WORDS, MessageInfo, Rights};

/// What a [`Cap`] points to: a marker type per capability type.
pub trait ObjectType {
    const TYPE: abi::CapType;
}

macro_rules! markers {
    ($($(#[$m:meta])* $name:ident,)+) => {
        $(
            $(#[$m])*
            #[derive(Debug)]
            pub enum $name {}
            impl ObjectType for $name {
                const TYPE: abi::CapType = abi::CapType::$name;
            }
        )+
    };
}

markers! {
    /// Untyped memory, retyped into objects.
    Untyped,
    /// A node of capability slots.
    CNode,
    /// A synchronous IPC endpoint.
    Endpoint,
    /// A word of signal bits.
    Notification,
    /// A thread control block.
    Thread,
    /// A page of memory (4 KiB or 2 MiB).
    Frame,
    /// A page-table page below the root.
    PageTable,
    /// An address-space root.
    VSpace,
    /// The authority to create IRQ handlers.
    IrqControl,
    /// The handler of one interrupt.
    IrqHandler,
    /// A range of x86_64 I/O ports.
    IoPort,
    /// The right to read the kernel's event trace.
    Trace,
    /// The authority to set threads' scheduling parameters.
    SchedControl,
}

/// A capability pointer to an object of type `T`.
pub struct Cap<T: ObjectType> {
    cptr: CPtr,
    _type: PhantomData<fn() -> T>,
}

impl<T: ObjectType> Cap<T> {
    /// The capability at `cptr`. Nothing is checked: invoking a CPtr that
    /// holds another type fails with `WrongType` (or `InvalidCapability`).
    pub const fn from_cptr(cptr: CPtr) -> Self {
        Cap { cptr, _type: PhantomData }
    }

    /// The capability in slot `slot` of the root CNode.
    pub const fn from_slot(slot: u64) -> Self {
        Self::from_cptr(CPtr(slot))
    }

    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    pub const fn slot(self) -> u64 {
        self.cptr.0
    }

    /// The same CPtr seen as another type (for tests of `WrongType`).
    pub const fn cast<U: ObjectType>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }
}

impl<T: ObjectType> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ObjectType> Copy for Cap<T> {}
impl<T: ObjectType> PartialEq for Cap<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}
impl<T: ObjectType> Eq for Cap<T> {}
impl<T: ObjectType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({})", T::TYPE.as_str(), self.cptr.0)
    }
}

/// The root task's well-known capabilities (`abi::slots`).
pub mod init {
    use super::*;
    use crate::abi::slots;

    pub const THREAD: Cap<Thread> = Cap::from_slot(slots::INIT_THREAD);
    pub const CNODE: Cap<CNode> = Cap::from_slot(slots::INIT_CNODE);
    pub const VSPACE: Cap<VSpace> = Cap::from_slot(slots::INIT_VSPACE);
    pub const IRQ_CONTROL: Cap<IrqControl> = Cap::from_slot(slots::IRQ_CONTROL);
    pub const IO_PORTS: Cap<IoPort> = Cap::from_slot(slots::IO_PORTS);
    pub const BOOT_INFO_FRAME: Cap<Frame> = Cap::from_slot(slots::BOOT_INFO_FRAME);
    pub const IPC_BUFFER: Cap<Frame> = Cap::from_slot(slots::IPC_BUFFER);
    pub const TRACE: Cap<Trace> = Cap::from_slot(slots::TRACE);
    pub const SCHED_CONTROL: Cap<SchedControl> = Cap::from_slot(slots::SCHED_CONTROL);
}

/// What `CNodeIdentify` says about the cap in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `Null` for an empty slot.
    pub ty: abi::CapType,
    pub rights: Rights,
    /// A badged endpoint or notification.
    pub badged: bool,
}

impl Identity {
    /// Decode the reply words (`abi::IDENTIFY_WORDS` of them);
    /// `InvalidArgument` if they are not a `CNodeIdentify` reply (too
    /// short, a type or rights bits this side does not know).
    pub fn from_words(w: &[u64]) -> Result<Identity, abi::Error> {
        let bad = abi::Error::InvalidArgument;
        let [ty, rights, badged] = match w.get(..abi::IDENTIFY_WORDS) {
            Some(&[t, r, b]) => [t, r, b],
            _ => return Err(bad),
        };
        let ty = u32::try_from(ty).ok().and_then(|t| abi::CapType::try_from(t).ok()).ok_or(bad)?;
        let rights = u32::try_from(rights).ok().and_then(Rights::from_bits).ok_or(bad)?;
        let badged = match badged {
            0 => false,
            1 => true,
            _ => return Err(bad),
        };
        Ok(Identity { ty, rights, badged })
    }

    /// The reply words.
    pub const fn to_words(&self) -> [u64; abi::IDENTIFY_WORDS] {
        [self.ty as u64, self.rights.bits() as u64, self.badged as u64]
    }

    /// Whether the slot holds a cap of type `T`.
    pub fn is<T: ObjectType>(&self) -> bool {
        self.ty == T::TYPE
    }
}

/// Each invocation's arguments as the kernel reads them: label, words
/// (`w[i]`) and capability arguments (`c[i]`), in the order documented on
/// `abi::Invocation`. Pure: tested on the host.
pub mod encode {
    use super::*;
    use crate::abi::{CapType, Error};

    /// One encoded invocation with `W` words and `C` capability arguments.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Request<const W: usize, const C: usize> {
        pub label: Invocation,
        pub words: [u64; W],
        pub caps: [CPtr; C],
    }

    impl<const W: usize, const C: usize> Request<W, C> {
        /// The message-info word the request is sent with.
        pub fn info(&self) -> Option<MessageInfo> {
            MessageInfo::new(self.label as u32, W, C)
        }
    }

    const fn req<const W: usize, const C: usize>(
        label: Invocation,
        words: [u64; W],
        caps: [CPtr; C],
    ) -> Request<W, C> {
        Request { label, words, caps }
    }

    fn rights(r: Rights) -> u64 {
        u64::from(r.bits())
    }

    pub fn untyped_retype(
        ty: CapType,
        size_bits: u8,
        dest: Cap<super::CNode>,
        dest_index: u64,
        count: u64,
    ) -> Request<4, 1> {
        let w = [ty as u64, u64::from(size_bits), dest_index, count];
        req(Invocation::UntypedRetype, w, [dest.cptr()])
    }

    pub fn cnode_copy(
        dest_index: u64,
        src: Cap<super::CNode>,
        src_index: u64,
        r: Rights,
    ) -> Request<3, 1> {
        req(Invocation::CNodeCopy, [dest_index, src_index, rights(r)], [src.cptr()])
    }

    pub fn cnode_mint(
        dest_index: u64,
        src: Cap<super::CNode>,
        src_index: u64,
        r: Rights,
        badge: u64,
    ) -> Request<4, 1> {
        req(Invocation::CNodeMint, [dest_index, src_index, rights(r), badge], [src.cptr()])
    }

    pub fn cnode_move(dest_index: u64, src: Cap<super::CNode>, src_index: u64) -> Request<2, 1> {
        req(Invocation::CNodeMove, [dest_index, src_index], [src.cptr()])
    }

    pub fn cnode_delete(index: u64) -> Request<1, 0> {
        req(Invocation::CNodeDelete, [index], [])
    }

    pub fn cnode_revoke(index: u64) -> Request<1, 0> {
        req(Invocation::CNodeRevoke, [index], [])
    }

    pub fn cnode_identify(index: u64) -> Request<1, 0> {
        req(Invocation::CNodeIdentify, [index], [])
    }

    /// A new thread runs on an adaptive round-robin scheduling context;
    /// [`sched_control_configure`] changes it.
    pub fn thread_configure(
        cspace: Cap<super::CNode>,
        vspace: Cap<super::VSpace>,
        ipc_frame: Cap<super::Frame>,
        ipc_vaddr: u64,
    ) -> Request<1, 3> {
        let caps = [cspace.cptr(), vspace.cptr(), ipc_frame.cptr()];
        req(Invocation::ThreadConfigure, [ipc_vaddr], caps)
    }

    pub fn thread_read_registers(count: u64) -> Request<1, 0> {
        req(Invocation::ThreadReadRegisters, [count], [])
    }

    /// The words of `ThreadWriteRegisters` (resume, count, registers...)
    /// into `out`; returns how many. More registers than a message holds:
    /// `RangeError`.
    pub fn thread_write_registers(
        resume: bool,
        regs: &[u64],
        out: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<usize, Error> {
        let n = regs.len();
        if n > MSG_MAX_WORDS - 2 {
            return Err(Error::RangeError);
        }
        out[0] = u64::from(resume);
        out[1] = n as u64;
        out.iter_mut().skip(2).zip(regs).for_each(|(o, r)| *o = *r);
        Ok(n + 2)
    }

    pub fn thread_resume() -> Request<0, 0> {
        req(Invocation::ThreadResume, [], [])
    }

    pub fn thread_suspend() -> Request<0, 0> {
        req(Invocation::ThreadSuspend, [], [])
    }

    pub fn thread_set_ipc_buffer(vaddr: u64, frame: Cap<super::Frame>) -> Request<1, 1> {
        req(Invocation::ThreadSetIpcBuffer, [vaddr], [frame.cptr()])
    }

    pub fn thread_set_tls(value: u64) -> Request<1, 0> {
        req(Invocation::ThreadSetTls, [value], [])
    }

    pub fn thread_bind_notification(ntfn: Cap<super::Notification>) -> Request<0, 1> {
        req(Invocation::ThreadBindNotification, [], [ntfn.cptr()])
    }

    pub fn thread_unbind_notification() -> Request<0, 0> {
        req(Invocation::ThreadUnbindNotification, [], [])
    }

    /// Fault messages go to `ep` (with its badge).
    pub fn thread_set_fault_endpoint(ep: Cap<super::Endpoint>) -> Request<0, 1> {
        req(Invocation::ThreadSetFaultEndpoint, [], [ep.cptr()])
    }

    /// No fault endpoint: the same label without a capability argument.
    pub fn thread_clear_fault_endpoint() -> Request<0, 0> {
        req(Invocation::ThreadSetFaultEndpoint, [], [])
    }

    pub fn frame_map(vspace: Cap<super::VSpace>, vaddr: u64, r: Rights) -> Request<2, 1> {
        req(Invocation::FrameMap, [vaddr, rights(r)], [vspace.cptr()])
    }

    pub fn frame_unmap() -> Request<0, 0> {
        req(Invocation::FrameUnmap, [], [])
    }

    pub fn frame_remap(r: Rights) -> Request<1, 0> {
        req(Invocation::FrameRemap, [rights(r)], [])
    }

    pub fn frame_get_address() -> Request<0, 0> {
        req(Invocation::FrameGetAddress, [], [])
    }

    pub fn page_table_map(vspace: Cap<super::VSpace>, vaddr: u64) -> Request<1, 1> {
        req(Invocation::PageTableMap, [vaddr], [vspace.cptr()])
    }

    pub fn page_table_unmap() -> Request<0, 0> {
        req(Invocation::PageTableUnmap, [], [])
    }

    pub fn irq_control_get(irq: u64, dest: Cap<super::CNode>, dest_index: u64) -> Request<2, 1> {
        req(Invocation::IrqControlGet, [irq, dest_index], [dest.cptr()])
    }

    pub fn irq_handler_ack() -> Request<0, 0> {
        req(Invocation::IrqHandlerAck, [], [])
    }

    pub fn irq_handler_set_notification(ntfn: Cap<super::Notification>) -> Request<0, 1> {
        req(Invocation::IrqHandlerSetNotification, [], [ntfn.cptr()])
    }

    pub fn irq_handler_clear() -> Request<0, 0> {
        req(Invocation::IrqHandlerClear, [], [])
    }

    pub fn io_port_in(port: u16, width: u8) -> Request<2, 0> {
        req(Invocation::IoPortIn, [u64::from(port), u64::from(width)], [])
    }

    pub fn io_port_out(port: u16, width: u8, value: u32) -> Request<3, 0> {
        let w = [u64::from(port), u64::from(width), u64::from(value)];
        req(Invocation::IoPortOut, w, [])
    }

    /// Read the event trace from sequence number `start` on (decode the
    /// reply with `abi::trace::decode_read`).
    pub fn trace_read(start: u64) -> Request<1, 0> {
        req(Invocation::TraceRead, [start], [])
    }

    /// Set `thread`'s scheduling parameters (on the SchedControl cap).
    pub fn sched_control_configure(
        thread: Cap<super::Thread>,
        params: abi::sched::Params,
    ) -> Request<6, 1> {
        req(Invocation::SchedControlConfigure, params.to_words(), [thread.cptr()])
    }
}

/// The invoking methods: bare-metal targets only.
#[cfg(target_os = "none")]
mod invoke {
    use super::encode::{self, Request};
    use super::*;
    use crate::abi::{CapType, Error};
    use crate::sys::{self, Message};

    fn invoke<T: ObjectType, const W: usize, const C: usize>(
        cap: Cap<T>,
        r: Request<W, C>,
    ) -> Result<Message, Error> {
        sys::ipc_buffer().invoke(cap.cptr(), r.label, &r.words, &r.caps)
    }

    impl<T: ObjectType> Cap<T> {
        /// Any invocation, unchecked: for what the typed methods cannot
        /// express (and for tests of malformed invocations).
        pub fn invoke(
            self,
            label: Invocation,
            words: &[u64],
            caps: &[CPtr],
        ) -> Result<Message, Error> {
            sys::ipc_buffer().invoke(self.cptr, label, words, caps)
        }
    }

    impl Cap<Untyped> {
        /// Carve `count` objects of type `ty` (`size_bits`: CNode radix,
        /// frame or untyped size; ignored otherwise) into slots
        /// `dest_index..dest_index + count` of `dest`.
        pub fn retype(
            self,
            ty: CapType,
            size_bits: u8,
            dest: Cap<CNode>,
            dest_index: u64,
            count: u64,
        ) -> Result<(), Error> {
            invoke(self, encode::untyped_retype(ty, size_bits, dest, dest_index, count)).map(drop)
        }
    }

    impl Cap<CNode> {
        /// Copy `src[src_index]` into `self[dest_index]` with `rights` (can
        /// only shrink).
        pub fn copy(
            self,
            dest_index: u64,
            src: Cap<CNode>,
            src_index: u64,
            rights: Rights,
        ) -> Result<(), Error> {
            invoke(self, encode::cnode_copy(dest_index, src, src_index, rights)).map(drop)
        }

        /// Copy with `rights` and `badge` (endpoints and notifications).
        pub fn mint(
            self,
            dest_index: u64,
            src: Cap<CNode>,
            src_index: u64,
            rights: Rights,
            badge: u64,
        ) -> Result<(), Error> {
            invoke(self, encode::cnode_mint(dest_index, src, src_index, rights, badge)).map(drop)
        }

        /// Move `src[src_index]` to `self[dest_index]`.
        pub fn move_(self, dest_index: u64, src: Cap<CNode>, src_index: u64) -> Result<(), Error> {
            invoke(self, encode::cnode_move(dest_index, src, src_index)).map(drop)
        }

        pub fn delete(self, index: u64) -> Result<(), Error> {
            invoke(self, encode::cnode_delete(index)).map(drop)
        }

        /// Delete every capability derived from the one at `index`.
        pub fn revoke(self, index: u64) -> Result<(), Error> {
            invoke(self, encode::cnode_revoke(index)).map(drop)
        }

        /// What the cap at `index` is: its type (`Null` if the slot is
        /// empty), rights and whether it is badged. Check a cap someone
        /// handed over before invoking it.
        pub fn identify(self, index: u64) -> Result<Identity, Error> {
            let m = invoke(self, encode::cnode_identify(index))?;
            let mut words = [0u64; abi::IDENTIFY_WORDS];
            let n = m.copy_words(&mut words);
            Identity::from_words(words.get(..n).unwrap_or(&[]))
        }
    }

    impl Cap<Thread> {
        /// Set the CSpace, VSpace and IPC buffer. The thread's scheduling
        /// context is set through SchedControl ([`Cap::<SchedControl>::configure`]).
        pub fn configure(
            self,
            cspace: Cap<CNode>,
            vspace: Cap<VSpace>,
            ipc_frame: Cap<Frame>,
            ipc_vaddr: u64,
        ) -> Result<(), Error> {
            let r = encode::thread_configure(cspace, vspace, ipc_frame, ipc_vaddr);
            invoke(self, r).map(drop)
        }

        /// Read the first `out.len()` user registers (arch order); returns
        /// how many the kernel sent.
        pub fn read_registers(self, out: &mut [u64]) -> Result<usize, Error> {
            let m = invoke(self, encode::thread_read_registers(out.len() as u64))?;
            Ok(m.copy_words(out))
        }

        /// Write the first `regs.len()` user registers, then resume the
        /// thread if `resume`.
        pub fn write_registers(self, resume: bool, regs: &[u64]) -> Result<(), Error> {
            let mut words = [0u64; MSG_MAX_WORDS];
            let n = encode::thread_write_registers(resume, regs, &mut words)?;
            let words = words.get(..n).ok_or(Error::RangeError)?;
            self.invoke(Invocation::ThreadWriteRegisters, words, &[]).map(drop)
        }

        pub fn resume(self) -> Result<(), Error> {
            invoke(self, encode::thread_resume()).map(drop)
        }

        pub fn suspend(self) -> Result<(), Error> {
            invoke(self, encode::thread_suspend()).map(drop)
        }

        pub fn set_ipc_buffer(self, vaddr: u64, frame: Cap<Frame>) -> Result<(), Error> {
            invoke(self, encode::thread_set_ipc_buffer(vaddr, frame)).map(drop)
        }

        pub fn set_tls(self, value: u64) -> Result<(), Error> {
            invoke(self, encode::thread_set_tls(value)).map(drop)
        }

        pub fn bind_notification(self, ntfn: Cap<Notification>) -> Result<(), Error> {
            invoke(self, encode::thread_bind_notification(ntfn)).map(drop)
        }

        pub fn unbind_notification(self) -> Result<(), Error> {
            invoke(self, encode::thread_unbind_notification()).map(drop)
        }

        /// `Some(ep)`: faults go to `ep`; `None`: no fault endpoint.
        pub fn set_fault_endpoint(self, ep: Option<Cap<Endpoint>>) -> Result<(), Error> {
            match ep {
                Some(ep) => invoke(self, encode::thread_set_fault_endpoint(ep)).map(drop),
                None => invoke(self, encode::thread_clear_fault_endpoint()).map(drop),
            }
        }
    }

    impl Cap<Frame> {
        pub fn map(self, vspace: Cap<VSpace>, vaddr: u64, rights: Rights) -> Result<(), Error> {
            invoke(self, encode::frame_map(vspace, vaddr, rights)).map(drop)
        }

        pub fn unmap(self) -> Result<(), Error> {
            invoke(self, encode::frame_unmap()).map(drop)
        }

        pub fn remap(self, rights: Rights) -> Result<(), Error> {
            invoke(self, encode::frame_remap(rights)).map(drop)
        }

        /// (physical address, size in bytes).
        pub fn get_address(self) -> Result<(u64, u64), Error> {
            let m = invoke(self, encode::frame_get_address())?;
            Ok((m.word(0), m.word(1)))
        }
    }

    impl Cap<PageTable> {
        pub fn map(self, vspace: Cap<VSpace>, vaddr: u64) -> Result<(), Error> {
            invoke(self, encode::page_table_map(vspace, vaddr)).map(drop)
        }

        pub fn unmap(self) -> Result<(), Error> {
            invoke(self, encode::page_table_unmap()).map(drop)
        }
    }

    impl Cap<IrqControl> {
        /// Put the handler of interrupt `irq` into `dest[dest_index]`.
        pub fn get(self, irq: u64, dest: Cap<CNode>, dest_index: u64) -> Result<(), Error> {
            invoke(self, encode::irq_control_get(irq, dest, dest_index)).map(drop)
        }
    }

    impl Cap<IrqHandler> {
        pub fn ack(self) -> Result<(), Error> {
            invoke(self, encode::irq_handler_ack()).map(drop)
        }

        pub fn set_notification(self, ntfn: Cap<Notification>) -> Result<(), Error> {
            invoke(self, encode::irq_handler_set_notification(ntfn)).map(drop)
        }

        pub fn clear(self) -> Result<(), Error> {
            invoke(self, encode::irq_handler_clear()).map(drop)
        }
    }

    impl Cap<IoPort> {
        pub fn port_in(self, port: u16, width: u8) -> Result<u32, Error> {
            let m = invoke(self, encode::io_port_in(port, width))?;
            Ok(m.word(0) as u32)
        }

        pub fn port_out(self, port: u16, width: u8, value: u32) -> Result<(), Error> {
            invoke(self, encode::io_port_out(port, width, value)).map(drop)
        }
    }

    impl Cap<Trace> {
        /// Read events from sequence number `start` on into `out` (at most
        /// `abi::trace::MAX_EVENTS_PER_READ` per call, oldest first). The
        /// batch says where to go on (`next`) and how many events were
        /// overwritten before they could be read (`lost`); a `count` of 0
        /// means `start` is past the newest event.
        pub fn read(
            self,
            start: u64,
            out: &mut [abi::trace::Event],
        ) -> Result<abi::trace::Batch, Error> {
            let m = invoke(self, encode::trace_read(start))?;
            let mut words = [0u64; MSG_MAX_WORDS];
            let n = m.copy_words(&mut words);
            abi::trace::decode_read(start, words.get(..n).unwrap_or(&[]), out)
        }
    }

    impl Cap<SchedControl> {
        /// Set `thread`'s scheduling context: `NoBandwidth` if admission
        /// refuses an EDF reservation, `InvalidArgument` for invalid
        /// numbers (nothing changes then).
        pub fn configure(
            self,
            thread: Cap<Thread>,
            params: abi::sched::Params,
        ) -> Result<(), Error> {
            invoke(self, encode::sched_control_configure(thread, params)).map(drop)
        }
    }

    impl Cap<Endpoint> {
        pub fn send(self, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
            sys::send(self.cptr, info, words)
        }

        pub fn nb_send(self, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
            sys::nb_send(self.cptr, info, words)
        }

        pub fn call(self, info: MessageInfo, words: &[u64]) -> Result<Message, Error> {
            sys::call(self.cptr, info, words)
        }

        pub fn recv(self) -> Result<Message, Error> {
            sys::recv(self.cptr)
        }

        pub fn nb_recv(self) -> Result<Message, Error> {
            sys::nb_recv(self.cptr)
        }

        pub fn reply_recv(self, info: MessageInfo, words: &[u64]) -> Result<Message, Error> {
            sys::reply_recv(self.cptr, info, words)
        }
    }

    impl Cap<Notification> {
        /// OR this capability's badge into the notification word.
        pub fn signal(self) -> Result<(), Error> {
            sys::send(self.cptr, MessageInfo::default(), &[])
        }

        /// Wait until the word is non-zero; returns and clears it.
        pub fn wait(self) -> Result<u64, Error> {
            sys::recv(self.cptr).map(|m| m.badge)
        }

        /// The word, cleared; `WouldBlock` if it is zero.
        pub fn poll(self) -> Result<u64, Error> {
            sys::nb_recv(self.cptr).map(|m| m.badge)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;
    use crate::abi::{CapType, Error, slots};

    const DEST: Cap<CNode> = Cap::from_slot(40);

    #[test]
    fn caps_are_cptrs() {
        let c: Cap<Endpoint> = Cap::from_slot(9);
        assert_eq!(c.cptr(), CPtr(9));
        assert_eq!(c.cast::<Frame>().slot(), 9);
        assert_eq!(init::CNODE.slot(), slots::INIT_CNODE);
        assert_eq!(init::IPC_BUFFER.slot(), slots::IPC_BUFFER);
        assert_eq!(alloc::format!("{:?}", c), "Cap<Endpoint>(9)");
        assert_eq!(<IrqHandler as ObjectType>::TYPE, CapType::IrqHandler);
        assert_eq!(<Trace as ObjectType>::TYPE, CapType::Trace);
        assert_eq!(init::TRACE.slot(), slots::TRACE);
    }

    #[test]
    fn untyped_retype_layout() {
        let r = untyped_retype(CapType::Frame, 12, DEST, 100, 3);
        assert_eq!(r.label, Invocation::UntypedRetype);
        assert_eq!(r.words, [CapType::Frame as u64, 12, 100, 3]);
        assert_eq!(r.caps, [CPtr(40)]);
        let info = r.info().expect("fits");
        assert_eq!(info.label(), Invocation::UntypedRetype as u32);
        assert_eq!((info.length(), info.extra_caps()), (4, 1));
    }

    #[test]
    fn cnode_layouts() {
        let rw = Rights::READ.union(Rights::WRITE);
        let r = cnode_copy(7, DEST, 8, rw);
        assert_eq!((r.label, r.words, r.caps), (Invocation::CNodeCopy, [7, 8, 3], [CPtr(40)]));
        let r = cnode_mint(7, DEST, 8, Rights::READ, 0xbad0);
        assert_eq!((r.label, r.words), (Invocation::CNodeMint, [7, 8, 1, 0xbad0]));
        let r = cnode_move(1, DEST, 2);
        assert_eq!((r.label, r.words, r.caps), (Invocation::CNodeMove, [1, 2], [CPtr(40)]));
        assert_eq!(cnode_delete(5).words, [5]);
        assert_eq!(cnode_revoke(6).label, Invocation::CNodeRevoke);
        assert_eq!(cnode_delete(5).info().expect("fits").extra_caps(), 0);
        let r = cnode_identify(9);
        assert_eq!((r.label, r.words, r.caps), (Invocation::CNodeIdentify, [9], []));
        assert_eq!(r.info().expect("fits").raw(), (15u64 << 32) | 1);
    }

    #[test]
    fn identity_words() {
        let id = Identity { ty: CapType::Endpoint, rights: Rights::WRITE, badged: true };
        assert_eq!(id.to_words(), [3, 2, 1]);
        assert_eq!(Identity::from_words(&id.to_words()), Ok(id));
        assert!(id.is::<Endpoint>() && !id.is::<Notification>());
        let empty = Identity::from_words(&[0, 0, 0]).expect("null");
        assert_eq!((empty.ty, empty.badged), (CapType::Null, false));
        // Longer is fine (the extra words are ignored); anything else is not a reply.
        assert_eq!(Identity::from_words(&[4, 0x1f, 0, 7]).map(|i| i.ty), Ok(CapType::Notification));
        for bad in [&[3u64, 2][..], &[99, 0, 0], &[3, 0x20, 0], &[3, 0, 2], &[1 << 32, 0, 0]] {
            assert_eq!(Identity::from_words(bad), Err(Error::InvalidArgument));
        }
    }

    #[test]
    fn thread_layouts() {
        let r = thread_configure(init::CNODE, init::VSPACE, Cap::from_slot(77), 0x4000_0000);
        assert_eq!(r.label, Invocation::ThreadConfigure);
        assert_eq!(r.words, [0x4000_0000]);
        assert_eq!(r.caps, [CPtr(2), CPtr(3), CPtr(77)]);
        assert_eq!(r.info().expect("fits").extra_caps(), 3);
        assert_eq!(thread_read_registers(19).words, [19]);
        assert_eq!(thread_set_tls(0x1234).words, [0x1234]);
        let r = thread_set_ipc_buffer(0x5000, Cap::from_slot(3));
        assert_eq!((r.words, r.caps), ([0x5000], [CPtr(3)]));
        assert_eq!(thread_bind_notification(Cap::from_slot(12)).caps, [CPtr(12)]);
        assert_eq!(thread_set_fault_endpoint(Cap::from_slot(13)).caps, [CPtr(13)]);
        let clear = thread_clear_fault_endpoint();
        assert_eq!(clear.label, Invocation::ThreadSetFaultEndpoint);
        assert_eq!(clear.info().expect("fits").extra_caps(), 0);
        assert_eq!(thread_resume().info().expect("fits").length(), 0);
        assert_eq!(thread_suspend().label, Invocation::ThreadSuspend);
        assert_eq!(thread_unbind_notification().label, Invocation::ThreadUnbindNotification);
    }

    #[test]
    fn write_registers_layout() {
        let mut out = [0u64; MSG_MAX_WORDS];
        assert_eq!(thread_write_registers(true, &[0x1000, 0x2000], &mut out), Ok(4));
        assert_eq!(out[..4], [1, 2, 0x1000, 0x2000]);
        assert_eq!(thread_write_registers(false, &[], &mut out), Ok(2));
        assert_eq!(out[..2], [0, 0]);
        let many = [7u64; MSG_MAX_WORDS - 2];
        assert_eq!(thread_write_registers(false, &many, &mut out), Ok(MSG_MAX_WORDS));
        assert_eq!(out[MSG_MAX_WORDS - 1], 7);
        let too_many = [7u64; MSG_MAX_WORDS - 1];
        assert_eq!(thread_write_registers(false, &too_many, &mut out), Err(Error::RangeError));
    }

    #[test]
    fn memory_layouts() {
        let rx = Rights::READ.union(Rights::EXECUTE);
        let r = frame_map(init::VSPACE, 0x4000_0000, rx);
        assert_eq!((r.label, r.words, r.caps), (Invocation::FrameMap, [0x4000_0000, 5], [CPtr(3)]));
        assert_eq!(frame_remap(Rights::READ).words, [1]);
        assert_eq!(frame_unmap().label, Invocation::FrameUnmap);
        assert_eq!(frame_get_address().label, Invocation::FrameGetAddress);
        let r = page_table_map(Cap::from_slot(30), 0x20_0000);
        assert_eq!((r.label, r.words, r.caps), (Invocation::PageTableMap, [0x20_0000], [CPtr(30)]));
        assert_eq!(page_table_unmap().label, Invocation::PageTableUnmap);
    }

    #[test]
    fn irq_and_port_layouts() {
        let r = irq_control_get(10, DEST, 50);
        assert_eq!((r.label, r.words, r.caps), (Invocation::IrqControlGet, [10, 50], [CPtr(40)]));
        assert_eq!(irq_handler_ack().label, Invocation::IrqHandlerAck);
        assert_eq!(irq_handler_set_notification(Cap::from_slot(8)).caps, [CPtr(8)]);
        assert_eq!(irq_handler_clear().label, Invocation::IrqHandlerClear);
        assert_eq!(io_port_in(0x3f8, 1).words, [0x3f8, 1]);
        let r = io_port_out(0x80, 4, 0xdead_beef);
        assert_eq!((r.label, r.words), (Invocation::IoPortOut, [0x80, 4, 0xdead_beef]));
    }

    #[test]
    fn trace_layouts() {
        let r = trace_read(1234);
        assert_eq!((r.label, r.words, r.caps), (Invocation::TraceRead, [1234], []));
        assert_eq!(r.info().expect("fits").raw(), (80u64 << 32) | 1);
    }

    #[test]
    fn sched_control_layouts() {
        use crate::abi::sched::{self, Params};
        assert_eq!(init::SCHED_CONTROL.slot(), slots::SCHED_CONTROL);
        assert_eq!(<SchedControl as ObjectType>::TYPE, CapType::SchedControl);
        let p = Params::edf(2_000_000, 20_000_000).with_deadline(10_000_000);
        let r = sched_control_configure(Cap::from_slot(33), p);
        assert_eq!(r.label, Invocation::SchedControlConfigure);
        assert_eq!(r.words, [sched::CLASS_EDF, 2_000_000, 20_000_000, 10_000_000, 0, 0]);
        assert_eq!(r.caps, [CPtr(33)]);
        assert_eq!(Params::from_words(&r.words), p);
        let rr = Params::rr(5_000_000).adaptive(true);
        assert_eq!(rr.to_words(), [sched::CLASS_RR, 0, 0, 0, 5_000_000, sched::FLAG_ADAPTIVE]);
        assert_eq!(rr.adaptive(false).flags, 0);
        let info = r.info().expect("fits");
        assert_eq!((info.length(), info.extra_caps()), (6, 1));
    }
}
