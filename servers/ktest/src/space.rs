//! Address spaces and threads beyond the root task's own, for the tests
//! that need several (the hostile task, the stress tests):
//!
//! - [`Pool`]: objects carved from one untyped into root CNode slots, so a
//!   test can tear everything down with one revoke and then prove the
//!   untyped whole again ([`Pool::check_whole`]).
//! - [`Space`]: a new VSpace whose page tables are added on demand.
//! - [`Image`]: the root task's read-only segments (code and constants)
//!   copied into fresh frames, mapped at the same addresses into any number
//!   of spaces (the frames once, then copies of their caps), plus a private
//!   copy of its initialised data per space. A thread there runs the
//!   suite's own functions, as long as they touch no static (`.bss` is not
//!   mapped: a stray access is a page fault the test reports). Such
//!   functions get everything in their four arguments and reach their IPC
//!   buffer through [`arch::ipc_buf`].
//! - [`start`]: a configured thread started at such a function.
//!
//! Thread areas in a new space: per thread `k` an IPC buffer at
//! [`ipc_va`]`(k)` and a stack of [`STACK_PAGES`] pages below
//! [`stack_top`]`(k)` with an unmapped guard page under it, high in
//! `REGION`, away from the addresses the root task maps frames at (which a
//! test may map into a new space as shared pages).

use libipc::abi::{CapType, Rights};
use libipc::cap::{CNode, Cap, Frame, ObjectType, PageTable, Thread, Untyped, VSpace, init};

use crate::arch::{self, Page, REGION, regs};
use crate::env::{Env, RW};
use crate::fmt::{Fail, TestResult};

/// The entry of a thread started with [`start`]: four argument words.
pub type Entry = extern "C" fn(u64, u64, u64, u64) -> !;

/// Per-thread areas in new spaces start here (the upper half of `REGION`).
const AREAS: u64 = REGION.start + (REGION.end - REGION.start) / 2;
/// Bytes per thread area: IPC buffer, guard page, stack.
const AREA: u64 = 0x1_0000;
pub const STACK_PAGES: u64 = 4;

/// The IPC buffer address of thread area `k` in a new space.
pub const fn ipc_va(k: u64) -> u64 {
    AREAS + k * AREA
}

/// The lowest stack page of thread area `k` (a guard page below it).
pub const fn stack_bottom(k: u64) -> u64 {
    AREAS + k * AREA + 0x2000
}

pub const fn stack_top(k: u64) -> u64 {
    stack_bottom(k) + STACK_PAGES * 4096
}

// ---------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------

/// An untyped of `2^bits` bytes that a test carves everything from.
#[derive(Clone, Copy)]
pub struct Pool {
    pub ut: Cap<Untyped>,
    pub bits: u8,
}

impl Pool {
    pub fn new(env: &mut Env, bits: u8) -> Result<Pool, Fail> {
        Ok(Pool { ut: env.retype(bits)?, bits })
    }

    /// One object of type `T` in a new root slot.
    pub fn make<T: ObjectType>(&self, env: &mut Env, size_bits: u8) -> Result<Cap<T>, Fail> {
        let slot = env.slot()?;
        self.make_at(slot, size_bits)
    }

    /// One object of type `T` in root slot `slot` (empty).
    pub fn make_at<T: ObjectType>(&self, slot: u64, size_bits: u8) -> Result<Cap<T>, Fail> {
        match self.ut.retype(T::TYPE, size_bits, init::CNODE, slot, 1) {
            Ok(()) => Ok(Cap::from_slot(slot)),
            Err(e) => Err(fail!("retype {}/{size_bits} from the pool: {e:?}", T::TYPE.as_str())),
        }
    }

    /// `r`, after revoking everything made from the pool if it is a
    /// failure: nothing of a failed test (its threads above all) runs on
    /// into the next one.
    pub fn guard(&self, r: TestResult) -> TestResult {
        if r.is_err() {
            let _ = init::CNODE.revoke(self.ut.slot());
        }
        r
    }

    /// Revoke everything made from the pool, then prove it whole again:
    /// its two halves can be carved (only from a region with no object
    /// left; one child as large as the pool itself the kernel refuses).
    /// `halves` is a pair of empty root slots, left empty.
    pub fn check_whole(&self, halves: u64) -> TestResult {
        if let Err(e) = init::CNODE.revoke(self.ut.slot()) {
            return Err(fail!("revoking the pool: {e:?}"));
        }
        let half = self.bits - 1;
        if let Err(e) = self.ut.retype(CapType::Untyped, half, init::CNODE, halves, 2) {
            return Err(fail!("the pool is not whole after its revoke: two halves: {e:?}"));
        }
        if let Err(e) = init::CNODE.revoke(self.ut.slot()) {
            return Err(fail!("revoking the halves: {e:?}"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Address spaces
// ---------------------------------------------------------------------------

/// A VSpace, with the 2 MiB regions whose tables are present.
pub struct Space {
    pub vs: Cap<VSpace>,
    regions: [u64; 8],
    n: usize,
    /// The root task's: its tables come from [`Env::ensure_tables`] (a
    /// pool's revoke must not take a table the root task's other mappings
    /// hang from).
    root: bool,
}

impl Space {
    pub fn new(env: &mut Env, pool: &Pool) -> Result<Space, Fail> {
        Ok(Space::from_cap(pool.make(env, 0)?))
    }

    /// A VSpace made elsewhere.
    pub fn from_cap(vs: Cap<VSpace>) -> Space {
        Space { vs, regions: [u64::MAX; 8], n: 0, root: false }
    }

    /// The root task's own VSpace (for thread areas there).
    pub fn root() -> Space {
        Space { vs: init::VSPACE, regions: [u64::MAX; 8], n: 0, root: true }
    }

    /// Map page tables from `pool` (the root task's own: from `env`) until
    /// a 4 KiB frame can be mapped at `va` (`PageTableMap` installs the
    /// first missing level each time and says `AlreadyMapped` when none is
    /// missing).
    pub fn tables(&mut self, env: &mut Env, pool: &Pool, va: u64) -> TestResult {
        let region = va & !0x1f_ffff;
        if self.regions.iter().take(self.n).any(|&r| r == region) {
            return Ok(());
        }
        if self.root {
            env.ensure_tables(va)?;
            if let Some(r) = self.regions.get_mut(self.n) {
                *r = region;
                self.n += 1;
            }
            return Ok(());
        }
        for _ in 0..=arch::TABLE_LEVELS {
            let pt: Cap<PageTable> = pool.make(env, 0)?;
            match pt.map(self.vs, va) {
                Ok(()) => {}
                Err(libipc::abi::Error::AlreadyMapped) => {
                    let _ = init::CNODE.delete(pt.slot());
                    if let Some(r) = self.regions.get_mut(self.n) {
                        *r = region;
                        self.n += 1;
                    }
                    return Ok(());
                }
                Err(e) => return Err(fail!("PageTableMap at {va:#x} in a new space: {e:?}")),
            }
        }
        Err(fail!("PageTableMap at {va:#x} never said AlreadyMapped"))
    }

    /// Map `frame` at `va` with `rights`.
    pub fn map(
        &mut self,
        env: &mut Env,
        pool: &Pool,
        frame: Cap<Frame>,
        va: u64,
        rights: Rights,
    ) -> TestResult {
        self.tables(env, pool, va)?;
        match frame.map(self.vs, va, rights) {
            Ok(()) => Ok(()),
            Err(e) => Err(fail!("FrameMap at {va:#x} in a new space: {e:?}")),
        }
    }

    /// A fresh frame mapped read-write at `va`.
    pub fn page(&mut self, env: &mut Env, pool: &Pool, va: u64) -> Result<Cap<Frame>, Fail> {
        let f: Cap<Frame> = pool.make(env, 12)?;
        self.map(env, pool, f, va, RW)?;
        Ok(f)
    }

    /// Thread area `k`: an IPC buffer and a stack. Returns the IPC buffer's
    /// frame.
    pub fn area(&mut self, env: &mut Env, pool: &Pool, k: u64) -> Result<Cap<Frame>, Fail> {
        let ipc = self.page(env, pool, ipc_va(k))?;
        for p in 0..STACK_PAGES {
            self.page(env, pool, stack_bottom(k) + p * 4096)?;
        }
        Ok(ipc)
    }
}

// ---------------------------------------------------------------------------
// The root task's image
// ---------------------------------------------------------------------------

const MAX_IMAGE_PAGES: usize = 256;
const MAX_DATA_PAGES: usize = 16;

/// Copies of the root task's read-only pages, and where its writable
/// pages with file bytes are.
pub struct Image {
    pages: [(u64, Cap<Frame>, bool); MAX_IMAGE_PAGES],
    n: usize,
    data: [u64; MAX_DATA_PAGES],
    ndata: usize,
    used: bool,
    scratch: u64,
}

impl Image {
    /// Copy every page of the root task's read-only segments into a fresh
    /// frame from `pool` (through one scratch mapping in the root task).
    pub fn copy(env: &mut Env, pool: &Pool) -> Result<Image, Fail> {
        let mut segs = [arch::Segment::default(); 8];
        let nsegs = arch::image_segments(&mut segs);
        check!(nsegs > 0, "no loadable segments in the root task's headers");
        let mut img = Image {
            pages: [(0, Cap::from_slot(0), false); MAX_IMAGE_PAGES],
            n: 0,
            data: [0; MAX_DATA_PAGES],
            ndata: 0,
            used: false,
            scratch: env.free_va()?,
        };
        for s in segs.iter().take(nsegs) {
            if s.writable {
                let mut va = s.start;
                while va < s.file_end {
                    let slot =
                        img.data.get_mut(img.ndata).ok_or_else(|| fail!("data too large"))?;
                    *slot = va;
                    img.ndata += 1;
                    va += 4096;
                }
                continue;
            }
            let mut va = s.start;
            while va < s.end {
                let f = img.copy_page(env, pool, va)?;
                let slot = img.pages.get_mut(img.n).ok_or_else(|| fail!("image too large"))?;
                *slot = (va, f, s.executable);
                img.n += 1;
                va += 4096;
            }
        }
        Ok(img)
    }

    /// A fresh frame holding the root task's page at `va`.
    fn copy_page(&self, env: &mut Env, pool: &Pool, va: u64) -> Result<Cap<Frame>, Fail> {
        let f: Cap<Frame> = pool.make(env, 12)?;
        let p = ok!(Page::map(f, self.scratch, RW));
        check!(arch::copy_image_page(va, &p), "page {va:#x} of the image not copied");
        ok!(p.unmap());
        Ok(f)
    }

    /// Pages in the image (shared read-only ones; each space also gets
    /// private copies of the data pages).
    pub fn len(&self) -> usize {
        self.n
    }

    /// Map the image into `space` at its own addresses: the read-only
    /// pages (executable where the root task's segment is), and a private
    /// copy of each writable page with file bytes (`.data`, and on x86_64
    /// the GOT the code calls `memcpy` and `memset` through). The `.bss`
    /// stays unmapped: a thread there must not touch a static.
    pub fn map_into(&mut self, env: &mut Env, pool: &Pool, space: &mut Space) -> TestResult {
        let first = !self.used;
        self.used = true;
        for i in 0..self.n {
            let Some(&(va, f, exec)) = self.pages.get(i) else { break };
            let f = if first { f } else { env.copy(f, Rights::ALL)? };
            let rights = if exec { Rights::READ.union(Rights::EXECUTE) } else { Rights::READ };
            space.map(env, pool, f, va, rights)?;
        }
        for i in 0..self.ndata {
            let Some(&va) = self.data.get(i) else { break };
            let f = self.copy_page(env, pool, va)?;
            space.map(env, pool, f, va, RW)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------

/// Configure `thread` (CSpace `cspace`, VSpace `vs`, IPC buffer `ipc` at
/// `ipc_va`) with the suite's scheduling context (`env::CHILD_SCHED`).
pub fn configure(
    thread: Cap<Thread>,
    cspace: Cap<CNode>,
    vs: Cap<VSpace>,
    ipc: Cap<Frame>,
    ipc_va: u64,
) -> TestResult {
    if let Err(e) = thread.configure(cspace, vs, ipc, ipc_va) {
        return Err(fail!("ThreadConfigure: {e:?}"));
    }
    crate::env::best_effort(thread)
}

/// The registers that start `entry(args)` on the stack below `stack_top`.
pub fn entry_regs(entry: Entry, args: [u64; 4], stack_top: u64) -> [u64; regs::COUNT] {
    let mut r = [0u64; regs::COUNT];
    r[regs::PC] = entry as usize as u64;
    r[regs::SP] = libipc::sys::arch::initial_sp(stack_top);
    for (i, a) in regs::CALL_ARGS.iter().zip(args) {
        r[*i] = a;
    }
    r
}

/// Start configured `thread` at `entry(args)`; returns its registers.
pub fn start(
    thread: Cap<Thread>,
    entry: Entry,
    args: [u64; 4],
    stack_top: u64,
) -> Result<[u64; regs::COUNT], Fail> {
    let r = entry_regs(entry, args, stack_top);
    match thread.write_registers(true, &r) {
        Ok(()) => Ok(r),
        Err(e) => Err(fail!("ThreadWriteRegisters: {e:?}")),
    }
}
