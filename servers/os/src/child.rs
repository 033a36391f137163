//! [`Child`]: the parts of a native rint program's process that every
//! builder makes the same way (init for the servers of the boot plan, the
//! process server for the programs it spawns): the CNode with its guarded
//! CSpace-root cap and the fixed slots of `libipc::start::slots`, the
//! VSpace, the checked ELF image, the IPC buffer, the start-info pages and
//! the thread, started at the ELF entry with the stack top of
//! `libipc::start::layout` and the start-info address as its argument (what
//! `rt::server!` expects).
//!
//! What differs between builders stays with them: where the stack and the
//! heap come from (init maps them eagerly; the process server has the
//! memory server page them on demand), which endpoints and devices go into
//! the CNode, where faults go, scheduling.

use libipc::abi::Rights;
use libipc::cap::{CNode, Cap, Endpoint, Frame, ObjectType, Thread};
use libipc::start::{self as st, StartInfo, layout};

use crate::arch::Start;
use crate::elf::Image;
use crate::env::{Env, RW};
use crate::space::{Loaded, Space};
use crate::thread::{Spec, guard_for_radix};
use crate::{Context, Error, Result};

/// A process being built.
pub struct Child {
    /// Its CNode (the builder's own cap to it).
    pub cnode: Cap<CNode>,
    /// The guarded cap that makes its CPtrs plain slot indices: its
    /// thread's CSpace root.
    pub cspace: Cap<CNode>,
    pub space: Space,
    /// The next slot to fill from `slots::FIRST_PLANNED` on.
    next: u64,
}

impl Child {
    /// A CNode of `start::CNODE_RADIX` slots and a VSpace from `e`'s
    /// memory; the CNode's own (guarded) cap goes into its slot
    /// `slots::CNODE`, the VSpace's into `slots::VSPACE`.
    pub fn new(e: &mut Env) -> Result<Child> {
        let cnode: Cap<CNode> = e.alloc(st::CNODE_RADIX)?;
        let guard = guard_for_radix(st::CNODE_RADIX);
        let cspace = e.mint(cnode, Rights::ALL, guard)?;
        cnode
            .mint(st::slots::CNODE, e.cnode, cnode.slot(), Rights::ALL, guard)
            .op("CNodeMint (its own CNode cap)")?;
        let space = Space::new(e)?;
        cnode
            .copy(st::slots::VSPACE, e.cnode, space.vs.slot(), Rights::ALL)
            .op("CNodeCopy (its VSpace cap)")?;
        Ok(Child { cnode, cspace, space, next: st::slots::FIRST_PLANNED })
    }

    /// A slot of its CNode for the next named capability (from
    /// `slots::FIRST_PLANNED` on, in order).
    pub fn take_slot(&mut self) -> Result<u64> {
        let n = self.next;
        if n >= 1 << st::CNODE_RADIX {
            return Err(Error::TooMany("capabilities for its CNode"));
        }
        self.next += 1;
        Ok(n)
    }

    /// The first slot not handed out by [`Child::take_slot`]: where its
    /// free slots begin.
    pub const fn next_slot(&self) -> u64 {
        self.next
    }

    /// Copy the builder's `cap` into its slot `slot` with `rights`.
    pub fn give<T: ObjectType>(
        &self,
        e: &Env,
        slot: u64,
        cap: Cap<T>,
        rights: Rights,
    ) -> Result<()> {
        self.cnode.copy(slot, e.cnode, cap.slot(), rights).op("CNodeCopy (a cap for it)")
    }

    /// Mint the builder's `cap` into its slot `slot` with `rights` and
    /// `badge`.
    pub fn give_badged<T: ObjectType>(
        &self,
        e: &Env,
        slot: u64,
        cap: Cap<T>,
        rights: Rights,
        badge: u64,
    ) -> Result<()> {
        self.cnode.mint(slot, e.cnode, cap.slot(), rights, badge).op("CNodeMint (a cap for it)")
    }

    /// Load the checked ELF `image` of `file` (`elf::check`).
    pub fn load(&mut self, e: &mut Env, file: &[u8], image: &Image) -> Result<Loaded> {
        self.space.load(e, file, image)
    }

    /// Its IPC buffer: a fresh frame at `layout::IPC_BUFFER` (the cap stays
    /// the builder's until the thread is configured with it).
    pub fn ipc_buffer(&mut self, e: &mut Env) -> Result<Cap<Frame>> {
        self.space.map_new(e, layout::IPC_BUFFER, RW)
    }

    /// Encode `info` into `buf` (at least `layout::START_INFO_SIZE` bytes
    /// long is always enough) and map it read-only at `layout::START_INFO`.
    pub fn start_info(&mut self, e: &mut Env, info: &StartInfo, buf: &mut [u8]) -> Result<()> {
        let len = st::encode(info, buf)
            .ok_or(Error::Layout { what: "its start info does not fit", at: layout::START_INFO })?;
        let bytes = buf.get(..len).unwrap_or(&[]);
        self.space.map_bytes(e, layout::START_INFO, bytes, Rights::READ)
    }

    /// Its thread, from `e`'s memory, with a copy of the cap in its slot
    /// `slots::THREAD` (for `rt::exit`'s suspend).
    pub fn thread(&self, e: &mut Env) -> Result<Cap<Thread>> {
        let tcb: Cap<Thread> = e.alloc(0)?;
        self.cnode
            .copy(st::slots::THREAD, e.cnode, tcb.slot(), Rights::ALL)
            .op("CNodeCopy (its thread cap)")?;
        Ok(tcb)
    }

    /// How its main thread starts: at `entry`, on the stack below
    /// `layout::STACK_TOP`, with the start-info address as its argument
    /// and its faults going to `fault_ep`.
    pub fn spec(&self, ipc: Cap<Frame>, fault_ep: Option<Cap<Endpoint>>, entry: u64) -> Spec {
        Spec {
            cspace: self.cspace,
            vspace: self.space.vs,
            ipc_frame: ipc,
            ipc_va: layout::IPC_BUFFER,
            fault_ep,
            start: Start {
                pc: entry,
                sp: layout::STACK_TOP,
                args: [layout::START_INFO, 0, 0, 0, 0, 0],
                tls: 0,
            },
        }
    }
}
