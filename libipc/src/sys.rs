//! Syscalls and the IPC buffer: the one place user space traps into the
//! kernel (bare-metal targets only; `cfg(target_os = "none")`).
//!
//! - [`syscall`]: the trap itself, a number and six argument words in, seven
//!   result words out, in the registers of `hal::TrapFrameOps`' table:
//!
//!   | | number | arguments 0..6 | results 0..7 |
//!   |---|---|---|---|
//!   | x86_64 (`syscall`, clobbers rcx, r11) | rax | rdi, rsi, rdx, r10, r8, r9 | rax, rdi, rsi, rdx, r10, r8, r9 |
//!   | riscv64 (`ecall`) | a7 | a0..a5 | a0..a6 |
//!
//!   `abi::regs` gives the positions their meaning: capability, message-info
//!   word and message words 0..4 in; error, badge, message-info word and
//!   message words 0..4 out.
//! - [`IpcBuf`]: a handle to a thread's IPC buffer, the page holding message
//!   words 4.. and the capability slots. The runtime registers the buffer of
//!   the thread it starts ([`set_ipc_buffer`]); the free functions here
//!   ([`send`], [`call`], ...) use that one. Other threads of the same
//!   address space have their own buffers and use the same operations as
//!   methods of their own [`IpcBuf`].
//! - [`Message`]: a received message or reply: badge, message-info word and
//!   its words (0..4 from registers, the rest read from the IPC buffer).
//!
//! - [`arch`]: the rest of what user space needs of the machine: its name,
//!   the stack pointer a thread starts a function with, the clock and cycle
//!   counters user mode reads, and CPU busy work timed with the clock.
//!
//! Every operation returns `Err(abi::Error)` for a non-zero error code; an
//! error code this crate does not know is reported as `InvalidArgument`
//! (it cannot happen while kernel and user space share `abi`).
//!
//! The unsafe code is the trap ([`syscall`]), the raw accesses to the IPC
//! buffer page, which the kernel writes too, so every access is volatile and
//! no Rust reference to the page is ever made, and the counter reads of
//! [`arch`].

pub mod arch;

use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::abi::{
    CPtr, Error, Invocation, IpcBuffer, MSG_MAX_CAPS, MSG_MAX_WORDS, MSG_REGISTERS, MessageInfo,
    Rights, Syscall, regs,
};

/// Most bytes one `DebugWrite` carries: the IPC buffer's message area.
pub const DEBUG_WRITE_MAX: usize = MSG_MAX_WORDS * 8;

// ---------------------------------------------------------------------------
// The trap
// ---------------------------------------------------------------------------

/// Trap into the kernel with syscall `num` and `args`; returns the seven
/// result registers. The kernel preserves every other register.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn syscall(num: Syscall, args: [u64; 6]) -> [u64; 7] {
    let (r0, r1, r2, r3, r4, r5, r6);
    // SAFETY: `syscall` enters the kernel, which reads the argument
    // registers, may read and write this thread's IPC buffer (the asm is not
    // `nomem`, so the compiler assumes memory changed), writes the result
    // registers and returns to the next instruction with all other registers
    // as they were; the CPU itself clobbers rcx and r11, declared here. No
    // stack is used.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") num.to_raw() => r0,
            inlateout("rdi") args[0] => r1,
            inlateout("rsi") args[1] => r2,
            inlateout("rdx") args[2] => r3,
            inlateout("r10") args[3] => r4,
            inlateout("r8") args[4] => r5,
            inlateout("r9") args[5] => r6,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    [r0, r1, r2, r3, r4, r5, r6]
}

/// Trap into the kernel with syscall `num` and `args`; returns the seven
/// result registers. The kernel preserves every other register.
#[cfg(target_arch = "riscv64")]
#[allow(unsafe_code)]
#[inline(always)]
pub fn syscall(num: Syscall, args: [u64; 6]) -> [u64; 7] {
    let (r0, r1, r2, r3, r4, r5, r6);
    // SAFETY: `ecall` enters the kernel, which reads a0..a5 and a7, may read
    // and write this thread's IPC buffer (the asm is not `nomem`), writes
    // a0..a6 and returns past the `ecall` with all other registers as they
    // were (a7 is declared clobbered all the same). No stack is used.
    unsafe {
        core::arch::asm!(
            "ecall",
            inlateout("a0") args[0] => r0,
            inlateout("a1") args[1] => r1,
            inlateout("a2") args[2] => r2,
            inlateout("a3") args[3] => r3,
            inlateout("a4") args[4] => r4,
            inlateout("a5") args[5] => r5,
            lateout("a6") r6,
            inlateout("a7") num.to_raw() => _,
            options(nostack),
        );
    }
    [r0, r1, r2, r3, r4, r5, r6]
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "riscv64")))]
compile_error!("libipc::sys: no syscall stub for this architecture");

/// The error result of a syscall: `Ok` for `Error::Ok`, `Err` otherwise.
pub fn check(raw: u64) -> Result<(), Error> {
    match Error::try_from(raw) {
        Ok(Error::Ok) => Ok(()),
        Ok(e) => Err(e),
        Err(_) => Err(Error::InvalidArgument),
    }
}

// ---------------------------------------------------------------------------
// The IPC buffer
// ---------------------------------------------------------------------------

/// Words in [`IpcBuffer`] (all its fields are `u64`).
const BUFFER_WORDS: usize = core::mem::size_of::<IpcBuffer>() / 8;
const MSG: usize = offset_of!(IpcBuffer, msg) / 8;
const CAPS: usize = offset_of!(IpcBuffer, caps_or_badges) / 8;
const RECV_CNODE: usize = offset_of!(IpcBuffer, receive_cnode) / 8;
const RECV_INDEX: usize = offset_of!(IpcBuffer, receive_index) / 8;
const RECV_DEPTH: usize = offset_of!(IpcBuffer, receive_depth) / 8;

/// A handle to one thread's IPC buffer (an [`IpcBuffer`] page the thread
/// registered with the kernel). `Copy`: it is an address, not ownership.
///
/// The handle with address 0 ([`IpcBuf::NONE`]) has no buffer: reads give 0,
/// and operations that need the buffer (more than four message words,
/// `DebugWrite`, capability arguments) fail with `BadUserPointer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpcBuf(u64);

impl IpcBuf {
    /// No buffer.
    pub const NONE: IpcBuf = IpcBuf(0);

    /// The buffer at `vaddr`.
    ///
    /// # Safety
    /// `vaddr` is 0, or the 4 KiB-aligned address of a read-write mapping of
    /// a 4 KiB frame that stays mapped while any copy of the handle is used,
    /// that is reached only through `IpcBuf` handles (never through a Rust
    /// reference), and that is the IPC buffer the kernel has registered for
    /// every thread that uses the handle.
    #[allow(unsafe_code)]
    pub const unsafe fn from_vaddr(vaddr: u64) -> IpcBuf {
        IpcBuf(vaddr)
    }

    /// Map `frame` read-write at `vaddr` in `vspace` (a `FrameMap`
    /// invocation through the calling thread's buffer) and return the handle
    /// to it, for a new thread's IPC buffer. The mapping is new, so no Rust
    /// object lives there; it stays valid until the frame is unmapped, which
    /// the owner of the handle must not do while the handle is in use.
    pub fn map(frame: CPtr, vspace: CPtr, vaddr: u64) -> Result<IpcBuf, Error> {
        let rights = Rights::READ.union(Rights::WRITE);
        ipc_buffer().invoke(
            frame,
            Invocation::FrameMap,
            &[vaddr, u64::from(rights.bits())],
            &[vspace],
        )?;
        Ok(IpcBuf(vaddr))
    }

    /// The buffer's virtual address (0 for none).
    pub const fn vaddr(self) -> u64 {
        self.0
    }

    pub const fn is_none(self) -> bool {
        self.0 == 0
    }

    /// Word `w` of the [`IpcBuffer`] (0 without a buffer or past the end).
    #[allow(unsafe_code)]
    fn read(self, w: usize) -> u64 {
        if self.0 == 0 || w >= BUFFER_WORDS {
            return 0;
        }
        let p = core::ptr::with_exposed_provenance::<u64>(self.0 as usize).wrapping_add(w);
        // SAFETY: by the `from_vaddr` contract (or the successful map in
        // `IpcBuf::map`) `self.0` is an aligned, mapped, read-write page that
        // no Rust reference covers; `w < BUFFER_WORDS` keeps the 8-byte,
        // 8-aligned access inside the `IpcBuffer`, which fits in the page.
        // Volatile: the kernel writes the page between our accesses.
        unsafe { core::ptr::read_volatile(p) }
    }

    /// Set word `w` of the [`IpcBuffer`]; `BadUserPointer` without a buffer.
    #[allow(unsafe_code)]
    fn write(self, w: usize, value: u64) -> Result<(), Error> {
        if self.0 == 0 || w >= BUFFER_WORDS {
            return Err(Error::BadUserPointer);
        }
        let p = core::ptr::with_exposed_provenance_mut::<u64>(self.0 as usize).wrapping_add(w);
        // SAFETY: as in `read`: an aligned access inside the mapped,
        // writable IPC buffer page, which no Rust reference covers.
        unsafe { core::ptr::write_volatile(p, value) };
        Ok(())
    }

    /// Message word `i` as stored in the buffer (words 0..4 travel in
    /// registers and are not stored here); 0 past the end.
    pub fn msg(self, i: usize) -> u64 {
        if i >= MSG_MAX_WORDS {
            return 0;
        }
        self.read(MSG + i)
    }

    /// Store message word `i` in the buffer.
    pub fn set_msg(self, i: usize, value: u64) -> Result<(), Error> {
        if i >= MSG_MAX_WORDS {
            return Err(Error::RangeError);
        }
        self.write(MSG + i, value)
    }

    /// `caps_or_badges[i]`: after a receive, the badge of unwrapped
    /// capability `i` (see `MessageInfo::caps_unwrapped`).
    pub fn cap_or_badge(self, i: usize) -> u64 {
        if i >= MSG_MAX_CAPS {
            return 0;
        }
        self.read(CAPS + i)
    }

    /// The capabilities the next message carries (`c0..`): as invocation
    /// arguments, or transferred with an IPC message through a GRANT
    /// endpoint. The message-info word's extra-caps count says how many.
    pub fn set_caps(self, caps: &[CPtr]) -> Result<(), Error> {
        if caps.len() > MSG_MAX_CAPS {
            return Err(Error::InvalidArgument);
        }
        for (i, c) in caps.iter().enumerate() {
            self.write(CAPS + i, c.0)?;
        }
        Ok(())
    }

    /// Where a received capability goes: slot `index` of the CNode `cnode`
    /// (a CPtr in the receiver's CSpace), looked up `depth` bits deep.
    pub fn set_receive_window(self, cnode: CPtr, index: u64, depth: u64) -> Result<(), Error> {
        self.write(RECV_CNODE, cnode.0)?;
        self.write(RECV_INDEX, index)?;
        self.write(RECV_DEPTH, depth)
    }

    /// The receive window: (cnode, index, depth).
    pub fn receive_window(self) -> (CPtr, u64, u64) {
        (CPtr(self.read(RECV_CNODE)), self.read(RECV_INDEX), self.read(RECV_DEPTH))
    }

    /// Syscall arguments for sending `words` with `info`: words 4.. go to
    /// this buffer, the rest to registers. `info.length()` must equal
    /// `words.len()` (`InvalidArgument` otherwise, without a trap).
    fn load(self, cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<[u64; 6], Error> {
        if words.len() != info.length() {
            return Err(Error::InvalidArgument);
        }
        let mut args = [0u64; 6];
        args[regs::ARG_CPTR] = cptr.0;
        args[regs::ARG_INFO] = info.raw();
        for (i, &w) in words.iter().enumerate() {
            if i < MSG_REGISTERS {
                args[regs::ARG_MR0 + i] = w;
            } else {
                self.set_msg(i, w)?;
            }
        }
        Ok(args)
    }

    /// The message in the results of a receiving syscall.
    fn message(self, r: &[u64; 7]) -> Result<Message, Error> {
        check(r[regs::RES_ERROR])?;
        let info = MessageInfo::from_raw(r[regs::RES_INFO])?;
        let mut mr = [0u64; MSG_REGISTERS];
        for (i, m) in mr.iter_mut().enumerate() {
            *m = r[regs::RES_MR0 + i];
        }
        Ok(Message { badge: r[regs::RES_BADGE], info, regs: mr, buf: self })
    }

    /// Blocking send on an endpoint (signal on a notification).
    pub fn send(self, cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
        let r = syscall(Syscall::Send, self.load(cptr, info, words)?);
        check(r[regs::RES_ERROR])
    }

    /// Send only if a receiver waits: `WouldBlock` otherwise.
    pub fn nb_send(self, cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
        let r = syscall(Syscall::NbSend, self.load(cptr, info, words)?);
        check(r[regs::RES_ERROR])
    }

    /// Send and wait for the reply (IPC call or object invocation).
    pub fn call(self, cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<Message, Error> {
        let r = syscall(Syscall::Call, self.load(cptr, info, words)?);
        self.message(&r)
    }

    /// Wait for a message on an endpoint or a signal on a notification.
    pub fn recv(self, cptr: CPtr) -> Result<Message, Error> {
        let r = syscall(Syscall::Recv, [cptr.0, 0, 0, 0, 0, 0]);
        self.message(&r)
    }

    /// Receive without blocking: `WouldBlock` if nothing is there.
    pub fn nb_recv(self, cptr: CPtr) -> Result<Message, Error> {
        let r = syscall(Syscall::NbRecv, [cptr.0, 0, 0, 0, 0, 0]);
        self.message(&r)
    }

    /// Reply to the last caller with `info`/`words`, then wait on `cptr`.
    pub fn reply_recv(
        self,
        cptr: CPtr,
        info: MessageInfo,
        words: &[u64],
    ) -> Result<Message, Error> {
        let r = syscall(Syscall::ReplyRecv, self.load(cptr, info, words)?);
        self.message(&r)
    }

    /// Reply to the last caller.
    pub fn reply(self, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
        let r = syscall(Syscall::Reply, self.load(CPtr(0), info, words)?);
        check(r[regs::RES_ERROR])
    }

    /// Invoke the capability at `cptr`: a `Call` labelled `label` with
    /// argument words `words` and capability arguments `caps` (`c0..`).
    pub fn invoke(
        self,
        cptr: CPtr,
        label: Invocation,
        words: &[u64],
        caps: &[CPtr],
    ) -> Result<Message, Error> {
        let info = MessageInfo::new(label as u32, words.len(), caps.len())
            .ok_or(Error::InvalidArgument)?;
        self.set_caps(caps)?;
        self.call(cptr, info, words)
    }

    /// Write `bytes` to the kernel console, through this buffer's message
    /// area in chunks of at most [`DEBUG_WRITE_MAX`] bytes.
    pub fn debug_write(self, bytes: &[u8]) -> Result<(), Error> {
        for chunk in bytes.chunks(DEBUG_WRITE_MAX) {
            for (i, word) in chunk.chunks(8).enumerate() {
                let mut le = [0u8; 8];
                le.iter_mut().zip(word).for_each(|(d, s)| *d = *s);
                self.set_msg(i, u64::from_le_bytes(le))?;
            }
            let r = syscall(Syscall::DebugWrite, [chunk.len() as u64, 0, 0, 0, 0, 0]);
            check(r[regs::RES_ERROR])?;
        }
        Ok(())
    }
}

/// A received message or reply. Words 4.. are read from the IPC buffer it
/// arrived in, so read them before that thread's next IPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    /// Badge of the capability the message came through (0 if unbadged), or
    /// the notification word for signals.
    pub badge: u64,
    pub info: MessageInfo,
    regs: [u64; MSG_REGISTERS],
    buf: IpcBuf,
}

impl Message {
    pub fn label(&self) -> u32 {
        self.info.label()
    }

    /// Number of message words.
    pub fn len(&self) -> usize {
        self.info.length()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Message word `i` (0 past the message's length).
    pub fn word(&self, i: usize) -> u64 {
        if i >= self.len() {
            0
        } else if i < MSG_REGISTERS {
            self.regs[i]
        } else {
            self.buf.msg(i)
        }
    }

    /// Copy the message's words into `out`; returns how many were copied.
    pub fn copy_words(&self, out: &mut [u64]) -> usize {
        let n = self.len().min(out.len());
        for (i, w) in out.iter_mut().take(n).enumerate() {
            *w = self.word(i);
        }
        n
    }

    /// The badge delivered for unwrapped capability `i`.
    pub fn unwrapped_badge(&self, i: usize) -> u64 {
        self.buf.cap_or_badge(i)
    }
}

// ---------------------------------------------------------------------------
// The calling thread's buffer
// ---------------------------------------------------------------------------

/// The IPC buffer of the thread the runtime started (0: none yet).
static IPC_BUFFER: AtomicU64 = AtomicU64::new(0);

/// Register the IPC buffer the free functions of this module use: the
/// runtime calls this once, before `main`, with the address the kernel
/// gave (`BootInfo::ipc_buffer` for the root task).
///
/// # Safety
/// As for [`IpcBuf::from_vaddr`]: `vaddr` is this thread's registered IPC
/// buffer, mapped read-write for the rest of the program, and reached only
/// through this module. Threads with other buffers must not use the free
/// functions.
#[allow(unsafe_code)]
pub unsafe fn set_ipc_buffer(vaddr: u64) {
    IPC_BUFFER.store(vaddr, Ordering::Relaxed);
}

/// The buffer registered with [`set_ipc_buffer`] ([`IpcBuf::NONE`] before).
pub fn ipc_buffer() -> IpcBuf {
    IpcBuf(IPC_BUFFER.load(Ordering::Relaxed))
}

/// [`IpcBuf::send`] on the registered buffer.
pub fn send(cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
    ipc_buffer().send(cptr, info, words)
}

/// [`IpcBuf::nb_send`] on the registered buffer.
pub fn nb_send(cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<(), Error> {
    ipc_buffer().nb_send(cptr, info, words)
}

/// [`IpcBuf::call`] on the registered buffer.
pub fn call(cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<Message, Error> {
    ipc_buffer().call(cptr, info, words)
}

/// [`IpcBuf::recv`] on the registered buffer.
pub fn recv(cptr: CPtr) -> Result<Message, Error> {
    ipc_buffer().recv(cptr)
}

/// [`IpcBuf::nb_recv`] on the registered buffer.
pub fn nb_recv(cptr: CPtr) -> Result<Message, Error> {
    ipc_buffer().nb_recv(cptr)
}

/// [`IpcBuf::reply_recv`] on the registered buffer.
pub fn reply_recv(cptr: CPtr, info: MessageInfo, words: &[u64]) -> Result<Message, Error> {
    ipc_buffer().reply_recv(cptr, info, words)
}

/// [`IpcBuf::reply`] on the registered buffer.
pub fn reply(info: MessageInfo, words: &[u64]) -> Result<(), Error> {
    ipc_buffer().reply(info, words)
}

/// [`IpcBuf::debug_write`] on the registered buffer.
pub fn debug_write(bytes: &[u8]) -> Result<(), Error> {
    ipc_buffer().debug_write(bytes)
}

/// Give up the rest of the time slice.
pub fn yield_now() {
    syscall(Syscall::Yield, [0; 6]);
}
