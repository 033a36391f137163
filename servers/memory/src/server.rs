//! The server itself (bare metal): setup, the receive loop, faults and the
//! `mem` ops.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use libipc::abi::{
    CapType, Error as KError, FAULT_LABEL_BASE, FaultKind, MSG_MAX_WORDS, NOTIFICATION_LABEL,
    Rights,
};
use libipc::cap::{CNode, Cap, Endpoint, Frame, Notification, PageTable, VSpace};
use libipc::proto::mem::{self, FaultReport, Pool, Prot, Reason, ShmId, SpaceId, Usage};
use libipc::proto::{Caller, Incoming, Reply};
use libipc::start::slots;
use os::buddy::{BlockRef, Pool as BuddyPool};
use os::elf::Machine;
use os::layout::{PAGE, Range, page_floor, user_end};
use os::untyped::Block;
use os::{SlotAlloc, UntypedAlloc, Window};

use crate::regions::{Kind, Region, Regions, check_range};

rt::server!(main);

/// The server's CSpace root (CPtrs are slot indices).
const ROOT: Cap<CNode> = rt::server::CNODE;
const OWN_VSPACE: Cap<VSpace> = Cap::from_slot(slots::VSPACE);
/// Where the server maps a recycled frame to zero it (its own VSpace,
/// above the runtime's areas).
const WINDOW: u64 = 0x8_0000_0000;
/// The pool CNode: 511 slots for buddy nodes.
const POOL_RADIX: u8 = 9;
const MAX_SPACES: usize = 32;
const MAX_SHM: usize = 64;
const MAX_REPORTS: usize = 64;
/// Page-table levels below the root: at most this many tables are missing
/// for one 4 KiB mapping.
const TABLE_LEVELS: u32 = if cfg!(target_arch = "x86_64") { 3 } else { 2 };
/// Slot of a space's CNode that holds its manager's notification.
const NOTIFY_SLOT: u64 = 1;
/// Largest space CNode radix (slots for 16384 pages).
const SPACE_RADIX_MAX: u8 = 14;
/// Heap the server keeps free: below it, it maps no more pages (its
/// bookkeeping grows with them) rather than fail an allocation.
const HEAP_RESERVE: usize = 32 * 1024;

/// Whether the server's heap has room for the bookkeeping of more pages.
fn heap_ok() -> bool {
    let (_, free) = rt::heap::usage();
    if free < HEAP_RESERVE {
        rt::println!("memory: its heap is nearly full ({free} bytes free): no more pages mapped");
        return false;
    }
    true
}

static ZERO: [u8; PAGE as usize] = [0; PAGE as usize];

fn main(start: &'static rt::Start) -> i32 {
    let ep = match start.cap::<Endpoint>("mem") {
        Ok(ep) => ep,
        Err(e) => {
            rt::println!("{e}");
            return 2;
        }
    };
    let mut m = match Memory::new(start, ep) {
        Ok(m) => m,
        Err(e) => {
            rt::println!("memory: cannot set up its pool: {e}");
            return 1;
        }
    };
    let p = m.pool_info();
    rt::println!(
        "memory: pool of {} KiB ({} KiB in the largest block), up to {} spaces, serving",
        p.total >> 10,
        p.largest >> 10,
        MAX_SPACES
    );
    m.serve()
}

/// The root slots the server moves caps into to invoke them, and where
/// caps sent with a call arrive.
#[derive(Clone, Copy)]
struct Scratch {
    frame: u64,
    table: u64,
    cap: u64,
    /// Three consecutive slots: the receive window.
    recv: u64,
}

/// An attached address space.
struct Space {
    id: SpaceId,
    /// Its block in the pool (to give back) and, while attached, its cap
    /// in a root slot (`block.slot`) with the carving model.
    buddy: BlockRef,
    block: Block,
    /// Its CNode (root slot): the caps of its frames and page tables.
    cnode: Cap<CNode>,
    cslots: SlotAlloc,
    vspace: Cap<VSpace>,
    notify: bool,
    regions: Regions,
    /// Mapped pages: address to the slot of the frame cap in `cnode`.
    pages: BTreeMap<u64, u64>,
    /// Frames unmapped by `unmap`, kept for reuse (zeroed again first).
    spare: Vec<u64>,
    faults: u64,
}

impl Space {
    fn usage(&self) -> Usage {
        Usage {
            quota: self.block.size(),
            used: self.block.watermark,
            mapped: self.pages.len() as u64,
            spare: self.spare.len() as u64,
            regions: self.regions.len() as u32,
            faults: self.faults,
        }
    }
}

/// A shared object: frames in its owner's CNode.
struct Shm {
    id: ShmId,
    owner: SpaceId,
    frames: Vec<u64>,
    grants: Vec<SpaceId>,
}

struct Memory {
    ep: Cap<Endpoint>,
    /// Free slots of the root.
    slots: SlotAlloc,
    s: Scratch,
    window: Window,
    pool: Box<BuddyPool>,
    spaces: Vec<Space>,
    next_id: SpaceId,
    shm: Vec<Shm>,
    next_shm: ShmId,
    reports: VecDeque<FaultReport>,
    user_end: u64,
}

/// Kernel rights for `mem` rights.
fn rights(p: Prot) -> Rights {
    let mut r = Rights::READ;
    if p & mem::WRITE != 0 {
        r = r.union(Rights::WRITE);
    }
    if p & mem::EXEC != 0 {
        r = r.union(Rights::EXECUTE);
    }
    r
}

/// The block size for a quota: a power of two, at least `QUOTA_MIN`.
fn quota_bits(quota: u64) -> Result<u8, mem::Error> {
    if quota > mem::QUOTA_MAX {
        return Err(mem::Error::BadSize);
    }
    let q = quota.max(mem::QUOTA_MIN).next_power_of_two();
    Ok(q.trailing_zeros() as u8)
}

impl Memory {
    /// Take the untyped of the start info: carve the window's page tables
    /// and the pool CNode, and give every whole untyped (and the free
    /// parts of the one carved from, as aligned blocks) to the buddy.
    fn new(start: &'static rt::Start, ep: Cap<Endpoint>) -> Result<Memory, os::Error> {
        let (a, b) = start.info.free_slots;
        let mut slots = SlotAlloc::new(a, b);
        let mut ut = Box::new(UntypedAlloc::new());
        for u in start.untyped() {
            ut.add(u.slot, u.paddr, u.size_bits, false)?;
        }
        let window = Window::create(ROOT, &mut slots, &mut ut, OWN_VSPACE, WINDOW)?;
        let pool = Box::new(BuddyPool::new(ROOT, &mut ut, &mut slots, POOL_RADIX)?);
        let s = Scratch {
            frame: slots.alloc()?,
            table: slots.alloc()?,
            cap: slots.alloc()?,
            recv: slots.alloc_run(3)?,
        };
        Ok(Memory {
            ep,
            slots,
            s,
            window,
            pool,
            spaces: Vec::new(),
            next_id: 1,
            shm: Vec::new(),
            next_shm: 1,
            reports: VecDeque::new(),
            user_end: user_end(Machine::native()),
        })
    }

    fn pool_info(&self) -> Pool {
        let buddy = &self.pool.buddy;
        let largest = buddy.largest_free_bits();
        Pool {
            total: buddy.total_bytes(),
            free: buddy.free_bytes(),
            largest: if largest == 0 { 0 } else { 1 << largest },
            spaces: self.spaces.len() as u32,
            shared: self.shm.len() as u32,
        }
    }

    fn index(&self, id: SpaceId) -> Option<usize> {
        self.spaces.iter().position(|s| s.id == id)
    }

    /// The space a request names: a manager names any; a space's cap only
    /// its own (`SELF` or its id).
    fn resolve(&self, caller: &Caller, space: SpaceId) -> Result<usize, mem::Error> {
        if caller.badge == 0 {
            self.index(space).ok_or(mem::Error::NoSuchSpace)
        } else if space != mem::SELF && space != caller.badge {
            Err(mem::Error::NotPermitted)
        } else {
            self.index(caller.badge).ok_or(mem::Error::NoSuchSpace)
        }
    }

    /// Receive forever: faults of attached spaces and `mem` requests.
    fn serve(&mut self) -> ! {
        let mut words = [0u64; MSG_MAX_WORDS];
        let mut out = [0u64; MSG_MAX_WORDS];
        let mut reply: Option<Reply> = None;
        loop {
            let msg = rt::server::reply_recv(
                "memory",
                self.ep,
                ROOT,
                Some(self.s.recv),
                reply.take(),
                &out,
            );
            let n = msg.copy_words(&mut words);
            let words = words.get(..n).unwrap_or(&[]);
            let label = msg.label();
            let fault = u64::from(label).wrapping_sub(FAULT_LABEL_BASE);
            if fault < 0x100 {
                let served = self.fault(msg.badge, fault as u32, words);
                // Label 0 resumes the thread; any other leaves it stopped.
                // No words: the thread's registers stay as they are.
                reply = Some(Reply { label: u32::from(!served), len: 0 });
            } else if label == NOTIFICATION_LABEL {
                reply = None;
            } else {
                let caps = msg.info.extra_caps();
                let mut svc = Service { m: self, caps };
                let rep = mem::dispatch(&mut svc, Incoming::new(msg.badge, label, words), &mut out);
                reply = Some(rep);
            }
            // Whatever arrived with the message and was not taken.
            for k in 0..3 {
                let _ = ROOT.delete(self.s.recv + k);
            }
        }
    }

    /// A fault of a thread of space `badge`: serve it (true) or report it.
    fn fault(&mut self, badge: u64, kind: u32, w: &[u64]) -> bool {
        let word = |k: usize| w.get(k).copied().unwrap_or(0);
        let (pc, addr, access) = (word(0), word(1), word(2).min(2));
        let Some(i) = self.index(badge) else {
            rt::println!("memory: a fault from no attached space (badge {badge:#x}): left stopped");
            return false;
        };
        let r = if kind == FaultKind::PageFault as u32 {
            self.page_fault(i, addr, access)
        } else {
            Err(Reason::NotPageFault)
        };
        match r {
            Ok(()) => true,
            Err(reason) => {
                let f = FaultReport { space: badge, kind, pc, addr, access: access as u32, reason };
                self.report(i, f);
                false
            }
        }
    }

    /// Queue `f` for the manager and signal its notification.
    fn report(&mut self, i: usize, f: FaultReport) {
        rt::println!("memory: space {}: {f}: reported", f.space);
        if self.reports.len() >= MAX_REPORTS {
            rt::println!("memory: too many fault reports not taken: the oldest is dropped");
            self.reports.pop_front();
        }
        self.reports.push_back(f);
        let Some(sp) = self.spaces.get(i) else { return };
        if sp.notify && ROOT.move_(self.s.cap, sp.cnode, NOTIFY_SLOT).is_ok() {
            let n: Cap<Notification> = Cap::from_slot(self.s.cap);
            let _ = n.signal();
            let _ = sp.cnode.move_(NOTIFY_SLOT, ROOT, self.s.cap);
        }
    }

    fn page_fault(&mut self, i: usize, addr: u64, access: u64) -> Result<(), Reason> {
        let (s, window) = (self.s, self.window);
        let sp = self.spaces.get_mut(i).ok_or(Reason::Internal)?;
        let region = *sp.regions.find(addr).ok_or(Reason::Unmapped)?;
        if !region.allows(access) {
            return Err(Reason::Protection);
        }
        let va = page_floor(addr);
        // Shared regions are mapped whole; a mapped page faulting again
        // with an allowed access would fault forever.
        if region.kind != Kind::Anon || sp.pages.contains_key(&va) {
            return Err(Reason::Internal);
        }
        new_page(sp, &s, &window, va, region.prot)?;
        sp.faults += 1;
        Ok(())
    }

    /// Put back what an attach took before it failed.
    fn undo_attach(&mut self, b: BlockRef, block_slot: u64, vs_slot: Option<u64>) {
        if let Err(e) = self.pool.give_back(b, block_slot) {
            rt::println!("memory: giving a block back after a failed attach: {e}");
        }
        self.slots.free(block_slot);
        if let Some(v) = vs_slot {
            let _ = ROOT.delete(v);
            self.slots.free(v);
        }
    }

    fn attach(
        &mut self,
        caller: &Caller,
        caps: usize,
        quota: u64,
        install: Option<u64>,
        notify: bool,
    ) -> Result<SpaceId, mem::Error> {
        if caller.badge != 0 {
            return Err(mem::Error::NotPermitted);
        }
        let want = 1 + usize::from(install.is_some()) + usize::from(notify);
        if caps < want {
            return Err(mem::Error::NoCap);
        }
        // The caps must be what they claim (the kernel says what a slot
        // holds): a VSpace, then the client's CNode, then a notification.
        let is = |slot: u64, ty: CapType| ROOT.identify(slot).is_ok_and(|id| id.ty == ty);
        let last = self.s.recv + want as u64 - 1;
        if !is(self.s.recv, CapType::VSpace)
            || (install.is_some() && !is(self.s.recv + 1, CapType::CNode))
            || (notify && !is(last, CapType::Notification))
        {
            return Err(mem::Error::NoCap);
        }
        let bits = quota_bits(quota)?;
        if self.spaces.len() >= MAX_SPACES || self.slots.free_count() < 3 || !heap_ok() {
            return Err(mem::Error::TooMany);
        }
        let block_slot = self.slots.alloc().map_err(|_| mem::Error::TooMany)?;
        let b = match self.pool.take(bits, block_slot) {
            Ok(b) => b,
            Err(e) => {
                self.slots.free(block_slot);
                return Err(match e {
                    os::Error::OutOfMemory { .. } => mem::Error::OutOfMemory,
                    _ => mem::Error::Kernel,
                });
            }
        };
        let mut block = Block::new(block_slot, b.bits);
        // One slot per page of the block, twice over: its own frames and
        // page tables, and copies of other spaces' shared frames.
        let radix = (b.bits - 12 + 1).clamp(4, SPACE_RADIX_MAX);
        let Ok(cnode_slot) = self.slots.alloc() else {
            self.undo_attach(b, block_slot, None);
            return Err(mem::Error::TooMany);
        };
        let cnode: Cap<CNode> = match block.carve(radix, ROOT, cnode_slot) {
            Ok(c) => c,
            Err(_) => {
                self.slots.free(cnode_slot);
                self.undo_attach(b, block_slot, None);
                return Err(mem::Error::Kernel);
            }
        };
        // The cnode is carved from the block: the revoke in `undo_attach`
        // empties its slot.
        let vs_slot = match self.slots.alloc() {
            Ok(v) if ROOT.move_(v, ROOT, self.s.recv).is_ok() => v,
            Ok(v) => {
                self.slots.free(v);
                self.slots.free(cnode_slot);
                self.undo_attach(b, block_slot, None);
                return Err(mem::Error::NoCap);
            }
            Err(_) => {
                self.slots.free(cnode_slot);
                self.undo_attach(b, block_slot, None);
                return Err(mem::Error::TooMany);
            }
        };
        let id = self.next_id;
        if let Some(slot) = install {
            let theirs: Cap<CNode> = Cap::from_slot(self.s.recv + 1);
            if theirs.mint(slot, ROOT, self.ep.slot(), Rights::WRITE, id).is_err() {
                self.slots.free(cnode_slot);
                self.undo_attach(b, block_slot, Some(vs_slot));
                return Err(mem::Error::NoCap);
            }
        }
        let mut cslots = SlotAlloc::new(1, 1 << radix);
        let _ = cslots.reserve(NOTIFY_SLOT);
        if notify {
            let from = self.s.recv + want as u64 - 1;
            if cnode.move_(NOTIFY_SLOT, ROOT, from).is_err() {
                self.slots.free(cnode_slot);
                self.undo_attach(b, block_slot, Some(vs_slot));
                return Err(mem::Error::NoCap);
            }
        }
        self.next_id += 1;
        self.spaces.push(Space {
            id,
            buddy: b,
            block,
            cnode,
            cslots,
            vspace: Cap::from_slot(vs_slot),
            notify,
            regions: Regions::default(),
            pages: BTreeMap::new(),
            spare: Vec::new(),
            faults: 0,
        });
        Ok(id)
    }

    fn detach(&mut self, caller: &Caller, space: SpaceId) -> Result<Usage, mem::Error> {
        if caller.badge != 0 {
            return Err(mem::Error::NotPermitted);
        }
        let i = self.index(space).ok_or(mem::Error::NoSuchSpace)?;
        let usage = self.spaces[i].usage();
        // Its shared objects go: first their mappings in other spaces.
        let owned: Vec<ShmId> =
            self.shm.iter().filter(|o| o.owner == space).map(|o| o.id).collect();
        for id in owned {
            for sp in self.spaces.iter_mut().filter(|sp| sp.id != space) {
                for r in sp.regions.take_shm(id) {
                    drop_pages(sp, r.range);
                }
            }
        }
        self.shm.retain(|o| o.owner != space);
        for o in self.shm.iter_mut() {
            o.grants.retain(|&g| g != space);
        }
        let sp = self.spaces.swap_remove(i);
        // One revoke: every frame, page table and shared frame carved from
        // its block (and every copy of them), and its CNode.
        match self.pool.give_back(sp.buddy, sp.block.slot) {
            Ok(()) => self.slots.free(sp.block.slot),
            Err(e) => rt::println!("memory: giving space {space}'s block back: {e}"),
        }
        let _ = ROOT.delete(sp.vspace.slot());
        let _ = ROOT.delete(sp.cnode.slot());
        self.slots.free(sp.vspace.slot());
        self.slots.free(sp.cnode.slot());
        Ok(usage)
    }

    fn map_anon(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        va: u64,
        len: u64,
        prot: Prot,
        populate: bool,
    ) -> Result<(), mem::Error> {
        let i = self.resolve(caller, space)?;
        if !mem::valid_prot(prot) {
            return Err(mem::Error::BadRights);
        }
        let range = check_range(va, len, self.user_end)?;
        let (s, window) = (self.s, self.window);
        let sp = &mut self.spaces[i];
        if len > sp.block.size() {
            return Err(mem::Error::QuotaExceeded);
        }
        sp.regions.insert(Region { range, prot, kind: Kind::Anon })?;
        if populate {
            let mut at = range.start;
            while at < range.end {
                if let Err(reason) = new_page(sp, &s, &window, at, prot) {
                    unmap_anon(sp, &s, Range::new(range.start, at));
                    sp.regions.remove_at(range.start);
                    return Err(match reason {
                        Reason::QuotaExceeded => mem::Error::QuotaExceeded,
                        _ => mem::Error::Kernel,
                    });
                }
                at += PAGE;
            }
        }
        Ok(())
    }

    fn unmap(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        va: u64,
        len: u64,
    ) -> Result<u64, mem::Error> {
        let i = self.resolve(caller, space)?;
        let range = check_range(va, len, self.user_end)?;
        let s = self.s;
        let sp = &mut self.spaces[i];
        let taken = sp.regions.take_within(range)?;
        let mut n = 0;
        for r in taken {
            n += match r.kind {
                Kind::Anon => unmap_anon(sp, &s, r.range),
                Kind::Shm(_) => drop_pages(sp, r.range),
            };
        }
        Ok(n)
    }

    fn shm_create(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        pages: u32,
    ) -> Result<ShmId, mem::Error> {
        let i = self.resolve(caller, space)?;
        if pages == 0 || pages > mem::SHM_PAGES_MAX {
            return Err(mem::Error::BadSize);
        }
        if self.shm.len() >= MAX_SHM || !heap_ok() {
            return Err(mem::Error::TooMany);
        }
        let s = self.s;
        let sp = &mut self.spaces[i];
        let bytes = u64::from(pages) * PAGE;
        if sp.block.free_bytes() < bytes || sp.cslots.free_count() < u64::from(pages) {
            return Err(mem::Error::QuotaExceeded);
        }
        let mut frames = Vec::new();
        for _ in 0..pages {
            let made = sp.cslots.alloc().ok().and_then(|slot| {
                let ok = sp.block.carve::<Frame>(12, ROOT, s.frame).is_ok()
                    && sp.cnode.move_(slot, ROOT, s.frame).is_ok();
                if !ok {
                    let _ = ROOT.delete(s.frame);
                    sp.cslots.free(slot);
                }
                ok.then_some(slot)
            });
            match made {
                Some(slot) => frames.push(slot),
                None => {
                    for f in frames {
                        let _ = sp.cnode.delete(f);
                        sp.cslots.free(f);
                    }
                    return Err(mem::Error::QuotaExceeded);
                }
            }
        }
        let id = self.next_shm;
        self.next_shm += 1;
        self.shm.push(Shm { id, owner: self.spaces[i].id, frames, grants: Vec::new() });
        Ok(id)
    }

    fn shm_map(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        shm: ShmId,
        va: u64,
        prot: Prot,
    ) -> Result<(), mem::Error> {
        let i = self.resolve(caller, space)?;
        if !mem::valid_prot(prot) || prot & mem::EXEC != 0 {
            return Err(mem::Error::BadRights);
        }
        let o = self.shm.iter().find(|o| o.id == shm).ok_or(mem::Error::NoSuchObject)?;
        let me = self.spaces[i].id;
        if o.owner != me && !o.grants.contains(&me) {
            return Err(mem::Error::NotPermitted);
        }
        let owner = self.index(o.owner).ok_or(mem::Error::NoSuchObject)?;
        let from = self.spaces[owner].cnode;
        let frames = o.frames.clone();
        let range = check_range(va, frames.len() as u64 * PAGE, self.user_end)?;
        let s = self.s;
        let sp = &mut self.spaces[i];
        sp.regions.insert(Region { range, prot, kind: Kind::Shm(shm) })?;
        for (k, &f) in frames.iter().enumerate() {
            let at = range.start + k as u64 * PAGE;
            if let Err(e) = map_copy(sp, &s, from, f, at, prot) {
                drop_pages(sp, range);
                sp.regions.remove_at(range.start);
                return Err(e);
            }
        }
        Ok(())
    }

    fn shm_grant(&mut self, caller: &Caller, shm: ShmId, to: SpaceId) -> Result<(), mem::Error> {
        if self.index(to).is_none() {
            return Err(mem::Error::NoSuchSpace);
        }
        let o = self.shm.iter_mut().find(|o| o.id == shm).ok_or(mem::Error::NoSuchObject)?;
        if caller.badge != 0 && caller.badge != o.owner {
            return Err(mem::Error::NotPermitted);
        }
        if !o.grants.contains(&to) {
            o.grants.push(to);
        }
        Ok(())
    }
}

/// Map a zeroed frame at `va` in `sp`: a spare one (zeroed through the
/// window) or a fresh one carved from its block (the kernel zeroes those),
/// with the page tables that are missing; its cap goes into `sp.cnode`.
fn new_page(
    sp: &mut Space,
    s: &Scratch,
    window: &Window,
    va: u64,
    prot: Prot,
) -> Result<(), Reason> {
    if !heap_ok() {
        return Err(Reason::Internal);
    }
    let slot = sp.cslots.alloc().map_err(|_| Reason::QuotaExceeded)?;
    let frame: Cap<Frame> = Cap::from_slot(s.frame);
    if let Some(f) = sp.spare.pop() {
        if ROOT.move_(s.frame, sp.cnode, f).is_err() {
            sp.cslots.free(slot);
            return Err(Reason::Internal);
        }
        sp.cslots.free(f);
        if window.write(frame, 0, &ZERO).is_err() {
            let _ = ROOT.delete(s.frame);
            sp.cslots.free(slot);
            return Err(Reason::Internal);
        }
    } else if let Err(e) = sp.block.carve::<Frame>(12, ROOT, s.frame) {
        sp.cslots.free(slot);
        return Err(match e {
            os::Error::OutOfMemory { .. } => Reason::QuotaExceeded,
            _ => Reason::Internal,
        });
    }
    match map_scratch(sp, s, va, prot) {
        Ok(()) => {
            if sp.cnode.move_(slot, ROOT, s.frame).is_err() {
                // Deleting the cap unmaps it again.
                let _ = ROOT.delete(s.frame);
                sp.cslots.free(slot);
                return Err(Reason::Internal);
            }
            sp.pages.insert(va, slot);
            Ok(())
        }
        Err(r) => {
            // Keep the frame for later.
            if sp.cnode.move_(slot, ROOT, s.frame).is_ok() {
                sp.spare.push(slot);
            } else {
                let _ = ROOT.delete(s.frame);
                sp.cslots.free(slot);
            }
            Err(r)
        }
    }
}

/// Map the frame in the scratch slot at `va` in `sp`, carving the page
/// tables that are missing from its block (their caps go into its CNode).
fn map_scratch(sp: &mut Space, s: &Scratch, va: u64, prot: Prot) -> Result<(), Reason> {
    let frame: Cap<Frame> = Cap::from_slot(s.frame);
    let mut added = 0;
    loop {
        match frame.map(sp.vspace, va, rights(prot)) {
            Ok(()) => return Ok(()),
            Err(KError::NotMapped) if added < TABLE_LEVELS => {}
            Err(e) => {
                rt::println!("memory: space {}: mapping {va:#x}: {}", sp.id, e.as_str());
                return Err(Reason::Internal);
            }
        }
        let slot = sp.cslots.alloc().map_err(|_| Reason::QuotaExceeded)?;
        let pt: Cap<PageTable> = match sp.block.carve(0, ROOT, s.table) {
            Ok(pt) => pt,
            Err(e) => {
                sp.cslots.free(slot);
                return Err(match e {
                    os::Error::OutOfMemory { .. } => Reason::QuotaExceeded,
                    _ => Reason::Internal,
                });
            }
        };
        if pt.map(sp.vspace, va).is_err() || sp.cnode.move_(slot, ROOT, s.table).is_err() {
            let _ = ROOT.delete(s.table);
            sp.cslots.free(slot);
            return Err(Reason::Internal);
        }
        added += 1;
    }
}

/// Map a copy of frame `f` of CNode `from` at `va` in `sp`.
fn map_copy(
    sp: &mut Space,
    s: &Scratch,
    from: Cap<CNode>,
    f: u64,
    va: u64,
    prot: Prot,
) -> Result<(), mem::Error> {
    if !heap_ok() {
        return Err(mem::Error::TooMany);
    }
    let slot = sp.cslots.alloc().map_err(|_| mem::Error::QuotaExceeded)?;
    let fail = |sp: &mut Space, e| {
        let _ = ROOT.delete(s.frame);
        let _ = sp.cnode.delete(slot);
        sp.cslots.free(slot);
        Err(e)
    };
    if ROOT.copy(s.frame, from, f, rights(prot)).is_err() {
        return fail(sp, mem::Error::Kernel);
    }
    if let Err(r) = map_scratch(sp, s, va, prot) {
        let e = match r {
            Reason::QuotaExceeded => mem::Error::QuotaExceeded,
            _ => mem::Error::Kernel,
        };
        return fail(sp, e);
    }
    if sp.cnode.move_(slot, ROOT, s.frame).is_err() {
        return fail(sp, mem::Error::Kernel);
    }
    sp.pages.insert(va, slot);
    Ok(())
}

/// Unmap the anonymous pages of `range` and keep their frames as spares.
fn unmap_anon(sp: &mut Space, s: &Scratch, range: Range) -> u64 {
    let vas: Vec<u64> = sp.pages.range(range.start..range.end).map(|(&va, _)| va).collect();
    for va in &vas {
        let Some(slot) = sp.pages.remove(va) else { continue };
        let frame: Cap<Frame> = Cap::from_slot(s.frame);
        if ROOT.move_(s.frame, sp.cnode, slot).is_ok() {
            let _ = frame.unmap();
            if sp.cnode.move_(slot, ROOT, s.frame).is_ok() {
                sp.spare.push(slot);
                continue;
            }
            let _ = ROOT.delete(s.frame);
        } else {
            let _ = sp.cnode.delete(slot);
        }
        sp.cslots.free(slot);
    }
    vas.len() as u64
}

/// Delete the frame caps of `range` (shared pages: copies), which unmaps
/// them.
fn drop_pages(sp: &mut Space, range: Range) -> u64 {
    let vas: Vec<u64> = sp.pages.range(range.start..range.end).map(|(&va, _)| va).collect();
    for va in &vas {
        if let Some(slot) = sp.pages.remove(va) {
            let _ = sp.cnode.delete(slot);
            sp.cslots.free(slot);
        }
    }
    vas.len() as u64
}

/// One `mem` request, with how many caps came with it.
struct Service<'a> {
    m: &'a mut Memory,
    caps: usize,
}

impl mem::Server for Service<'_> {
    fn attach(
        &mut self,
        caller: &Caller,
        quota: u64,
        install: Option<u64>,
        notify: bool,
    ) -> Result<SpaceId, mem::Error> {
        self.m.attach(caller, self.caps, quota, install, notify)
    }

    fn detach(&mut self, caller: &Caller, space: SpaceId) -> Result<Usage, mem::Error> {
        self.m.detach(caller, space)
    }

    fn map_anon(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        va: u64,
        len: u64,
        rights: Prot,
        populate: bool,
    ) -> Result<(), mem::Error> {
        self.m.map_anon(caller, space, va, len, rights, populate)
    }

    fn unmap(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        va: u64,
        len: u64,
    ) -> Result<u64, mem::Error> {
        self.m.unmap(caller, space, va, len)
    }

    fn usage(&mut self, caller: &Caller, space: SpaceId) -> Result<Usage, mem::Error> {
        let i = self.m.resolve(caller, space)?;
        Ok(self.m.spaces[i].usage())
    }

    fn pool(&mut self, _caller: &Caller) -> Result<Pool, mem::Error> {
        Ok(self.m.pool_info())
    }

    fn shm_create(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        pages: u32,
    ) -> Result<ShmId, mem::Error> {
        self.m.shm_create(caller, space, pages)
    }

    fn shm_map(
        &mut self,
        caller: &Caller,
        space: SpaceId,
        shm: ShmId,
        va: u64,
        rights: Prot,
    ) -> Result<(), mem::Error> {
        self.m.shm_map(caller, space, shm, va, rights)
    }

    fn shm_grant(&mut self, caller: &Caller, shm: ShmId, to: SpaceId) -> Result<(), mem::Error> {
        self.m.shm_grant(caller, shm, to)
    }

    fn next_fault(&mut self, caller: &Caller) -> Result<Option<FaultReport>, mem::Error> {
        if caller.badge != 0 {
            return Err(mem::Error::NotPermitted);
        }
        Ok(self.m.reports.pop_front())
    }
}
