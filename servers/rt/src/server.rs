//! Servers started by init: their start info, capabilities by name, the
//! name service, exit.

use core::fmt;

use libipc::abi::{CPtr, CapType, MessageInfo, Rights};
use libipc::cap::{CNode, Cap, Endpoint, ObjectType};
use libipc::plan::Name;
use libipc::proto::Reply;
use libipc::proto::grant::WithCaps;
use libipc::proto::init::{self as initp, Message};
use libipc::start::{StartInfo, UntypedCap, layout, slots};
use libipc::sys;
use os::{SlotAlloc, UntypedAlloc};
use spin::Mutex;

/// What a server knows about itself: the start info init wrote, and the
/// free slots of its CNode.
pub struct Start {
    pub info: StartInfo,
    slots: Mutex<SlotAlloc>,
    /// The untyped memory of [`Start::untyped`], for [`Start::alloc`].
    mem: Mutex<UntypedAlloc>,
}

/// Why [`Start::cap`] found no capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// The start info names no capability `name`: the manifest entry does
    /// not provide or need it.
    Absent(Name),
    /// It names one of another type.
    WrongType { name: Name, found: u32, wanted: CapType },
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapError::Absent(n) => write!(
                f,
                "no capability named {:?} in the start info (add it to the manifest's `needs` or `provides`)",
                n.as_str()
            ),
            CapError::WrongType { name, found, wanted } => {
                let found = CapType::try_from(*found).map_or("unknown", |t| t.as_str());
                write!(f, "capability {:?} is a {found}, not a {}", name.as_str(), wanted.as_str())
            }
        }
    }
}

/// The server's own CNode (its guarded CSpace root).
pub const CNODE: Cap<CNode> = Cap::from_slot(slots::CNODE);
/// init's endpoint, badged for this server.
pub const INIT: Cap<Endpoint> = Cap::from_slot(slots::INIT);

impl Start {
    pub(crate) fn new(info: StartInfo) -> Start {
        let (a, b) = info.free_slots;
        let mut mem = UntypedAlloc::new();
        for u in info.untyped.iter() {
            // More untyped caps than the allocator takes: the rest stay
            // unused by `alloc`.
            let _ = mem.add(u.slot, u.paddr, u.size_bits, false);
        }
        Start { info, slots: Mutex::new(SlotAlloc::new(a, b)), mem: Mutex::new(mem) }
    }

    /// Its name in the plan.
    pub fn name(&self) -> &str {
        self.info.name.as_str()
    }

    /// init's number for it.
    pub fn pid(&self) -> u32 {
        self.info.pid
    }

    /// How many times it was restarted before this start.
    pub fn generation(&self) -> u32 {
        self.info.generation
    }

    /// Ticks per second of the counter user mode reads
    /// (`libipc::sys::arch::clock`: x86_64 `rdtsc`, riscv64 `rdtime`); 0
    /// if unknown.
    pub fn clock_hz(&self) -> u64 {
        self.info.clock_hz
    }

    /// The capability named `name` (an endpoint it provides or needs), of
    /// type `T`.
    pub fn cap<T: ObjectType>(&self, name: &str) -> Result<Cap<T>, CapError> {
        let absent = || CapError::Absent(Name::from_str(name).unwrap_or_default());
        let c = self.info.named(name).ok_or_else(absent)?;
        if c.cap_type != T::TYPE as u32 {
            return Err(CapError::WrongType { name: c.name, found: c.cap_type, wanted: T::TYPE });
        }
        Ok(Cap::from_slot(c.slot))
    }

    /// The archive file `name` it was given (`files` in the manifest),
    /// mapped read-only.
    pub fn file(&self, name: &str) -> Option<&'static [u8]> {
        let f = self.info.file(name)?;
        crate::start::mapped_bytes(f.vaddr, f.len, layout::FILES, layout::FILES_MAX)
    }

    /// The device region `name` it was given (`mmio` in the manifest),
    /// mapped read-write and uncached.
    pub fn device(&self, name: &str) -> Result<Mmio, CapError> {
        let absent = || CapError::Absent(Name::from_str(name).unwrap_or_default());
        let d = self.info.devices.iter().find(|d| d.name.as_str() == name).ok_or_else(absent)?;
        let end = d.vaddr.checked_add(d.size).ok_or_else(absent)?;
        if d.vaddr < layout::MMIO || end > layout::MMIO + layout::MMIO_MAX {
            return Err(absent());
        }
        Ok(Mmio { base: d.vaddr, size: d.size, paddr: d.paddr })
    }

    /// What is left of its memory quota.
    pub fn untyped(&self) -> &[UntypedCap] {
        &self.info.untyped
    }

    /// A free slot of its CNode.
    pub fn slot(&self) -> Result<u64, os::Error> {
        self.slots.lock().alloc()
    }

    /// A new kernel object `T` (`size_bits` as for `UntypedRetype`: the
    /// size of frames, CNodes and untyped; 0 for the others) carved from
    /// the server's untyped memory, in a free slot. The runtime's model of
    /// that memory assumes nothing else carves from it; a program that
    /// does its own carving should not mix the two.
    pub fn alloc<T: ObjectType>(&self, size_bits: u8) -> Result<Cap<T>, os::Error> {
        let slot = self.slot()?;
        let r = self.mem.lock().carve::<T>(size_bits, CNODE, slot);
        if r.is_err() {
            self.free_slot(slot);
        }
        r
    }

    /// Give back a slot (emptied by the caller).
    pub fn free_slot(&self, slot: u64) {
        self.slots.lock().free(slot);
    }

    /// Look service `name` up with init's name service: its endpoint, in a
    /// new slot.
    pub fn lookup(&self, name: &str) -> Result<Cap<Endpoint>, initp::Error> {
        let slot = self.slot().map_err(|_| initp::Error::BadSlot)?;
        let r = lookup_into(name, slot);
        if r.is_err() {
            self.free_slot(slot);
        }
        r
    }

    /// Look `name` up again into `old`'s slot (after its server restarted:
    /// the old cap is gone or stale; it is deleted first).
    pub fn relookup(&self, name: &str, old: Cap<Endpoint>) -> Result<Cap<Endpoint>, initp::Error> {
        let _ = CNODE.delete(old.slot());
        lookup_into(name, old.slot())
    }

    /// Register `ep` under `name` (speaking `protocol` at `version`) with
    /// init's name service.
    pub fn register(
        &self,
        name: &str,
        protocol: &str,
        version: u32,
        ep: Cap<Endpoint>,
    ) -> Result<(), initp::Error> {
        let name = Name::from_str(name).ok_or(initp::Error::NotFound)?;
        let protocol = Name::from_str(protocol).ok_or(initp::Error::NotFound)?;
        let caps = [ep.cptr()];
        let mut c = initp::Client::new(WithCaps::new(INIT, &caps));
        c.register(name, protocol, version)
    }
}

fn lookup_into(name: &str, slot: u64) -> Result<Cap<Endpoint>, initp::Error> {
    let n = Name::from_str(name).ok_or(initp::Error::NotFound)?;
    let found = initp::Client::connect(INIT).lookup(n, slot)?;
    Ok(Cap::from_slot(found.slot))
}

/// One turn of a server's receive loop: send `reply` (the answer to the
/// last request, its words in `out`) if there is one, and wait on `ep` for
/// the next message, with the receive window at slot `window` of `cnode`
/// (where a cap sent with the message lands; `None`: no window, the kernel
/// transfers no caps). A failed receive prints `NAME: receiving failed:
/// ERROR` and waits again, without a reply.
pub fn reply_recv(
    name: &str,
    ep: Cap<Endpoint>,
    cnode: Cap<CNode>,
    window: Option<u64>,
    mut reply: Option<Reply>,
    out: &[u64],
) -> sys::Message {
    let buf = sys::ipc_buffer();
    let (root, index) = match window {
        Some(slot) => (cnode.cptr(), slot),
        None => (CPtr(0), 0),
    };
    loop {
        let _ = buf.set_receive_window(root, index, 64);
        let r = match reply.take() {
            Some(rep) => match MessageInfo::new(rep.label, rep.len, 0) {
                Some(info) => buf.reply_recv(ep.cptr(), info, out.get(..rep.len).unwrap_or(&[])),
                None => buf.recv(ep.cptr()),
            },
            None => buf.recv(ep.cptr()),
        };
        match r {
            Ok(m) => return m,
            Err(e) => crate::println!("{name}: receiving failed: {}", e.as_str()),
        }
    }
}

/// Report `code` and `message` to init, which tears the server down; if
/// init cannot be told, stop the thread.
pub fn exit_with(code: i32, message: &str) -> ! {
    let mut msg = Message::new();
    // Cut at a character boundary so the message stays UTF-8.
    let mut end = message.len().min(initp::MESSAGE_MAX);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(m) = message.get(..end).and_then(Message::from_str) {
        msg = m;
    }
    let _ = initp::Client::connect(INIT).exit(code, msg);
    crate::start::stop()
}

/// A device region init mapped for the server: 32-bit and byte register
/// accesses, bounds- and alignment-checked, volatile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mmio {
    base: u64,
    size: u64,
    /// Its physical address.
    pub paddr: u64,
}

impl Mmio {
    pub const fn size(&self) -> u64 {
        self.size
    }

    /// The address of the 32-bit register at `offset`, if it lies inside.
    fn reg(&self, offset: u64) -> Option<u64> {
        (offset.is_multiple_of(4) && offset.checked_add(4)? <= self.size)
            .then_some(self.base + offset)
    }

    /// Read the register at `offset` (`None` outside the region or
    /// unaligned).
    pub fn read32(&self, offset: u64) -> Option<u32> {
        self.reg(offset).map(crate::start::mmio_read32)
    }

    /// Write the register at `offset`; `false` outside the region or
    /// unaligned.
    pub fn write32(&self, offset: u64, value: u32) -> bool {
        self.reg(offset).map(|a| crate::start::mmio_write32(a, value)).is_some()
    }

    /// The address of the byte register at `offset`, if it lies inside.
    fn reg8(&self, offset: u64) -> Option<u64> {
        (offset < self.size).then_some(self.base + offset)
    }

    /// Read the byte register at `offset` (`None` outside the region), for
    /// devices with byte-wide registers (a 16550 UART).
    pub fn read8(&self, offset: u64) -> Option<u8> {
        self.reg8(offset).map(crate::start::mmio_read8)
    }

    /// Write the byte register at `offset`; `false` outside the region.
    pub fn write8(&self, offset: u64, value: u8) -> bool {
        self.reg8(offset).map(|a| crate::start::mmio_write8(a, value)).is_some()
    }
}

/// Rights a server's own endpoint copies need to serve (receive) and be
/// called.
pub const SERVE: Rights = Rights::READ.union(Rights::WRITE);
