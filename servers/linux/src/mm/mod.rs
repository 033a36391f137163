//! A Linux process's memory. Every page is mapped on first touch, through
//! [`Mm::page_in`]: when the process faults on it (the kernel sends the page
//! fault to the server), or when the server reads or writes the process's
//! memory for a syscall (as Linux's `copy_from_user` would fault it in).
//! A region's [`map::Backing`] says what a new page holds: zeros, or the
//! bytes of an ELF segment copied from the program's file. An address no
//! region holds, or an access its protection forbids, is a [`Fault`]: the
//! server kills the process (SIGSEGV) and carries on.
//!
//! [`Pool`] holds the process's frames outside the server's CSpace (so the
//! server's 256 slots do not bound a process's memory) and keeps frames the
//! process gave back (munmap, mprotect to `PROT_NONE`) for its next
//! page-ins. When the process ends, all its frames go with the server's
//! arena (`crate::arena`).

pub mod map;

#[cfg(target_os = "none")]
pub use sys::*;

#[cfg(target_os = "none")]
mod sys {
    use core::fmt;

    use libipc::abi::Rights;
    use libipc::cap::{CNode, Cap, Frame, VSpace};
    use liblinux::abi::mman::{PROT_EXEC, PROT_WRITE};
    use os::layout::{PAGE, Range, page_floor};
    use os::{Env, SlotAlloc};

    use super::map::{Access, Backing, Full, Pages, Region, Regions};

    /// Unmapped frames kept for reuse.
    const SPARE: usize = 512;

    static ZERO_PAGE: [u8; PAGE as usize] = [0; PAGE as usize];

    /// Marks a page of [`Pages`] whose frame is kept but not mapped (its
    /// protection is `PROT_NONE`); the rest of the word is its store slot.
    const UNMAPPED: u64 = 1 << 63;

    /// The process's frames. Mapped ones live in `store`, a CNode carved
    /// from the arena that is in no CSpace: the server reaches its slots
    /// only as the source or destination of CNode operations (move, copy),
    /// never through a CPtr, so they take none of the server's own 256
    /// slots and the process (whose CSpace is another, empty CNode) cannot
    /// touch them. To unmap or remap a frame the server moves its cap into
    /// one of its own slots for the call and back; to read or write it, it
    /// copies the cap into one of its slots for the time of the copy.
    /// Frames the process gives back (munmap, `PROT_NONE`) stay in the
    /// store, unmapped, for its next page-ins, zeroed before they are
    /// handed out again.
    pub struct Pool {
        store: Cap<CNode>,
        /// Free store slots.
        index: SlotAlloc,
        /// Store slots holding unmapped frames.
        spare: [u64; SPARE],
        len: usize,
    }

    impl Pool {
        /// A store of `2^radix` slots (one is the kernel's: slot 0), carved
        /// from `env`.
        pub fn new(env: &mut Env, radix: u8) -> os::Result<Pool> {
            let store: Cap<CNode> = env.alloc(radix)?;
            let index = SlotAlloc::new(1, 1u64 << radix);
            Ok(Pool { store, index, spare: [0; SPARE], len: 0 })
        }

        /// Move the cap in store slot `i` into a new slot of the server's.
        fn take(&mut self, env: &mut Env, i: u64) -> os::Result<Cap<Frame>> {
            let slot = env.slot()?;
            if let Err(error) = env.cnode.move_(slot, self.store, i) {
                env.slots.free(slot);
                return Err(os::Error::Kernel { op: "CNodeMove", error, at: i });
            }
            Ok(Cap::from_slot(slot))
        }

        /// Move `f` from the server's slot into store slot `i` (empty).
        fn stow(&mut self, env: &mut Env, f: Cap<Frame>, i: u64) -> os::Result<()> {
            self.store.move_(i, env.cnode, f.slot()).map_err(|error| os::Error::Kernel {
                op: "CNodeMove",
                error,
                at: i,
            })?;
            env.slots.free(f.slot());
            Ok(())
        }

        /// A zeroed 4 KiB frame in a slot of the server's: a spare one
        /// (zeroed now) or a new one.
        pub fn get(&mut self, env: &mut Env) -> os::Result<Cap<Frame>> {
            if self.len > 0 {
                let i = self.spare[self.len - 1];
                let f = self.take(env, i)?;
                self.len -= 1;
                self.index.free(i);
                env.window.write(f, 0, &ZERO_PAGE)?;
                return Ok(f);
            }
            env.frame()
        }

        /// Keep `f` (mapped, in a slot of the server's) in the store; its
        /// store slot.
        pub fn keep(&mut self, env: &mut Env, f: Cap<Frame>) -> os::Result<u64> {
            let i = self.index.alloc()?;
            if let Err(e) = self.stow(env, f, i) {
                self.index.free(i);
                return Err(e);
            }
            Ok(i)
        }

        /// Take back `f` (in a slot of the server's, never kept), unmapping
        /// it; delete it if there is no room for a spare.
        pub fn put(&mut self, env: &mut Env, f: Cap<Frame>) {
            let _ = f.unmap();
            if self.len < SPARE
                && let Ok(i) = self.index.alloc()
            {
                if self.stow(env, f, i).is_ok() {
                    self.spare[self.len] = i;
                    self.len += 1;
                    return;
                }
                self.index.free(i);
            }
            let _ = env.delete(f);
        }

        /// The frame in store slot `i` is no longer mapped where it was:
        /// unmap it and keep it as a spare (or delete it).
        pub fn release(&mut self, env: &mut Env, i: u64) {
            let kept = self.len < SPARE
                && match self.take(env, i) {
                    Ok(f) => {
                        let _ = f.unmap();
                        self.stow(env, f, i).is_ok() || {
                            let _ = env.delete(f);
                            false
                        }
                    }
                    Err(_) => false,
                };
            if kept {
                self.spare[self.len] = i;
                self.len += 1;
            } else {
                // Deleting a mapped frame cap unmaps it.
                let _ = self.store.delete(i);
                self.index.free(i);
            }
        }

        /// Change the rights of the mapping of the frame in store slot `i`.
        pub fn remap(&mut self, env: &mut Env, i: u64, rights: Rights) -> os::Result<()> {
            let f = self.take(env, i)?;
            let r = f.remap(rights).map_err(|error| os::Error::Kernel {
                op: "FrameRemap",
                error,
                at: i,
            });
            self.stow(env, f, i)?;
            r
        }

        /// Unmap the frame in store slot `i`, keeping it (and its bytes).
        pub fn unmap_keep(&mut self, env: &mut Env, i: u64) -> os::Result<()> {
            let f = self.take(env, i)?;
            let r = f.unmap().map_err(|error| os::Error::Kernel { op: "FrameUnmap", error, at: i });
            self.stow(env, f, i)?;
            r
        }

        /// Map the (unmapped) frame in store slot `i` at `va` in `vs`.
        pub fn map_again(
            &mut self,
            env: &mut Env,
            i: u64,
            vs: Cap<VSpace>,
            va: u64,
            rights: Rights,
        ) -> os::Result<()> {
            let f = self.take(env, i)?;
            let r = env.map_frame(vs, f, va, rights).map(drop);
            self.stow(env, f, i)?;
            r
        }

        /// A copy of the frame cap in store slot `i` with `rights`, in a new
        /// slot of the server's (delete it after use).
        pub fn view(&mut self, env: &mut Env, i: u64, rights: Rights) -> os::Result<Cap<Frame>> {
            let slot = env.slot()?;
            match env.cnode.copy(slot, self.store, i, rights) {
                Ok(()) => Ok(Cap::from_slot(slot)),
                Err(error) => {
                    env.slots.free(slot);
                    Err(os::Error::Kernel { op: "CNodeCopy", error, at: i })
                }
            }
        }
    }

    /// Why an access to the process's memory failed.
    #[derive(Clone, Copy, Debug)]
    pub enum Fault {
        /// No region holds the address.
        Unmapped(u64),
        /// The region's protection forbids the access.
        Denied(u64, Region),
        /// The server could not map it (out of memory, slots, table room).
        Server(os::Error),
        /// The table of mapped pages is full.
        TooManyPages,
    }

    impl fmt::Display for Fault {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Fault::Unmapped(a) => write!(f, "nothing is mapped at {a:#x}"),
                Fault::Denied(a, r) => write!(
                    f,
                    "{a:#x} is in a {} region {:#x}..{:#x} with protection {}",
                    r.kind.name(),
                    r.range.start,
                    r.range.end,
                    prot_str(r.prot)
                ),
                Fault::Server(e) => write!(f, "the server could not map it: {e}"),
                Fault::TooManyPages => {
                    write!(f, "more than {} pages mapped", super::map::MAX_PAGES)
                }
            }
        }
    }

    impl From<os::Error> for Fault {
        fn from(e: os::Error) -> Self {
            Fault::Server(e)
        }
    }

    /// `PROT_*` bits as `rwx`.
    pub fn prot_str(prot: u64) -> &'static str {
        const S: [&str; 8] = ["---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"];
        S.get((prot & 7) as usize).copied().unwrap_or("???")
    }

    /// Frame rights for `PROT_*` bits: every mapping is readable.
    pub fn rights(prot: u64) -> Rights {
        let mut r = Rights::READ;
        if prot & PROT_WRITE != 0 {
            r = r.union(Rights::WRITE);
        }
        if prot & PROT_EXEC != 0 {
            r = r.union(Rights::EXECUTE);
        }
        r
    }

    /// One process's address space.
    pub struct Mm {
        pub vs: Cap<VSpace>,
        /// The program's file (ELF segments are paged in from it).
        pub file: &'static [u8],
        pub regions: Regions,
        pub pages: Pages,
        /// Pages mapped on a fault of the process (not by the server).
        pub faults: u64,
    }

    impl Mm {
        pub fn new(vs: Cap<VSpace>, file: &'static [u8]) -> Mm {
            Mm { vs, file, regions: Regions::new(), pages: Pages::new(), faults: 0 }
        }

        /// The store slot of the frame at the page holding `va`, mapped
        /// now if it is not yet, if the region there allows `access`.
        pub fn page_in(
            &mut self,
            env: &mut Env,
            pool: &mut Pool,
            va: u64,
            access: Access,
        ) -> Result<u64, Fault> {
            let page = page_floor(va);
            let region = self.regions.find(va).ok_or(Fault::Unmapped(va))?;
            if !region.allows(access) {
                return Err(Fault::Denied(va, region));
            }
            if let Some(i) = self.pages.get(page) {
                if i & UNMAPPED == 0 {
                    return Ok(i);
                }
                // Kept while its protection was PROT_NONE: map it again.
                let i = i & !UNMAPPED;
                pool.map_again(env, i, self.vs, page, rights(region.prot))?;
                self.pages.set(page, i);
                return Ok(i);
            }
            if self.pages.count() == super::map::MAX_PAGES {
                return Err(Fault::TooManyPages);
            }
            let f = pool.get(env)?;
            if let Err(e) = self.fill_and_map(env, f, page, &region) {
                pool.put(env, f);
                return Err(e);
            }
            let i = match pool.keep(env, f) {
                Ok(i) => i,
                Err(e) => {
                    pool.put(env, f);
                    return Err(e.into());
                }
            };
            self.pages.insert(page, i).map_err(|Full| Fault::TooManyPages)?;
            Ok(i)
        }

        fn fill_and_map(
            &mut self,
            env: &mut Env,
            f: Cap<Frame>,
            page: u64,
            region: &Region,
        ) -> Result<(), Fault> {
            if let Backing::File { vaddr, offset, filesz } = region.backing {
                let (lo, hi) = (page.max(vaddr), (page + PAGE).min(vaddr.saturating_add(filesz)));
                if lo < hi {
                    let from = offset.saturating_add(lo - vaddr);
                    let bytes = usize::try_from(from)
                        .ok()
                        .and_then(|from| self.file.get(from..from + (hi - lo) as usize))
                        .ok_or(Fault::Server(os::Error::Layout {
                            what: "segment bytes outside the file",
                            at: lo,
                        }))?;
                    env.window.write(f, (lo - page) as usize, bytes)?;
                }
            }
            env.map_frame(self.vs, f, page, rights(region.prot))?;
            Ok(())
        }

        /// Copy the process's memory at `va` into `out` (faulting pages in
        /// as a read would).
        pub fn read(
            &mut self,
            env: &mut Env,
            pool: &mut Pool,
            va: u64,
            out: &mut [u8],
        ) -> Result<(), Fault> {
            let mut done = 0;
            while done < out.len() {
                let at = va.checked_add(done as u64).ok_or(Fault::Unmapped(u64::MAX))?;
                let off = (at % PAGE) as usize;
                let n = (PAGE as usize - off).min(out.len() - done);
                let i = self.page_in(env, pool, at, Access::Read)?;
                let view = pool.view(env, i, Rights::READ)?;
                let r = match out.get_mut(done..done + n) {
                    Some(chunk) => env.window.read(view, off, chunk),
                    None => Ok(()),
                };
                let _ = env.delete(view);
                r?;
                done += n;
            }
            Ok(())
        }

        /// Copy `bytes` into the process's memory at `va` (faulting pages
        /// in as a write would).
        pub fn write(
            &mut self,
            env: &mut Env,
            pool: &mut Pool,
            va: u64,
            bytes: &[u8],
        ) -> Result<(), Fault> {
            let mut done = 0;
            while done < bytes.len() {
                let at = va.checked_add(done as u64).ok_or(Fault::Unmapped(u64::MAX))?;
                let off = (at % PAGE) as usize;
                let n = (PAGE as usize - off).min(bytes.len() - done);
                let i = self.page_in(env, pool, at, Access::Write)?;
                let view = pool.view(env, i, Rights::READ.union(Rights::WRITE))?;
                let r = env.window.write(view, off, bytes.get(done..done + n).unwrap_or(&[]));
                let _ = env.delete(view);
                r?;
                done += n;
            }
            Ok(())
        }

        /// Unmap every page in `range` and forget the regions there.
        pub fn unmap(&mut self, env: &mut Env, pool: &mut Pool, range: Range) -> Result<(), Full> {
            self.regions.remove(range)?;
            while let Some((_, i)) = self.pages.take_in(range) {
                pool.release(env, i & !UNMAPPED);
            }
            Ok(())
        }

        /// Change the protection of `range`: regions and mapped pages.
        pub fn protect(
            &mut self,
            env: &mut Env,
            pool: &mut Pool,
            range: Range,
            prot: u64,
        ) -> Result<(), Full> {
            self.regions.protect(range, prot)?;
            let mut at = range.start;
            loop {
                let next = self.pages.in_range(Range::new(at, range.end)).next();
                let Some((va, i)) = next else { break };
                at = va + PAGE;
                if i & UNMAPPED != 0 {
                    // Mapped again, with the region's protection, when
                    // touched.
                    continue;
                }
                let r = if prot & 7 == 0 {
                    // PROT_NONE: no access, so no mapping; the page and
                    // its bytes are kept for a later mprotect.
                    pool.unmap_keep(env, i).map(|()| {
                        self.pages.set(va, i | UNMAPPED);
                    })
                } else {
                    pool.remap(env, i, rights(prot))
                };
                if r.is_err() {
                    // The server could not change the mapping: drop the
                    // page rather than leave it with the old rights (its
                    // bytes are lost; CAVEATS.md).
                    let _ = self.pages.take_in(Range::new(va, at));
                    pool.release(env, i);
                }
            }
            Ok(())
        }
    }
}
