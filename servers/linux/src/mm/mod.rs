//! A Linux process's memory. Every page is mapped on first touch, through
//! [`Mm::page_in`]: when the process faults on it (the kernel sends the page
//! fault to the server), or when the server reads or writes the process's
//! memory for a syscall (as Linux's `copy_from_user` would fault it in).
//! A region's [`map::Backing`] says what a new page holds: zeros, or the
//! bytes of an ELF segment copied from the program's file. An address no
//! region holds, or an access its protection forbids, is a [`Fault`]: the
//! server kills the process (SIGSEGV) and carries on.
//!
//! [`Pool`] keeps frames the process gave back (munmap, mprotect to
//! `PROT_NONE`) for its next page-ins, zeroed before they are handed out
//! again. When the process ends, all its frames go with the server's arena
//! (`crate::arena`).

pub mod map;

#[cfg(target_os = "none")]
pub use sys::*;

#[cfg(target_os = "none")]
mod sys {
    use core::fmt;

    use libipc::abi::Rights;
    use libipc::cap::{Cap, Frame, VSpace};
    use liblinux::abi::mman::{PROT_EXEC, PROT_WRITE};
    use os::Env;
    use os::layout::{PAGE, Range, page_floor};

    use super::map::{Access, Backing, Full, Pages, Region, Regions};

    /// Frames kept for reuse.
    const POOL: usize = 512;

    static ZERO_PAGE: [u8; PAGE as usize] = [0; PAGE as usize];

    /// Frames the process gave back, for its next page-in.
    pub struct Pool {
        slots: [u64; POOL],
        len: usize,
    }

    impl Pool {
        pub const fn new() -> Pool {
            Pool { slots: [0; POOL], len: 0 }
        }

        /// A zeroed 4 KiB frame: a kept one (zeroed now) or a new one.
        pub fn get(&mut self, env: &mut Env) -> os::Result<Cap<Frame>> {
            if self.len > 0 {
                self.len -= 1;
                let f = Cap::from_slot(self.slots[self.len]);
                env.window.write(f, 0, &ZERO_PAGE)?;
                return Ok(f);
            }
            env.frame()
        }

        /// Take back `f`, unmapping it; delete it if the pool is full.
        pub fn put(&mut self, env: &mut Env, f: Cap<Frame>) {
            let _ = f.unmap();
            if let Some(s) = self.slots.get_mut(self.len) {
                *s = f.slot();
                self.len += 1;
            } else {
                let _ = env.delete(f);
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

        /// The frame at the page holding `va`, mapped now if it is not yet,
        /// if the region there allows `access`.
        pub fn page_in(
            &mut self,
            env: &mut Env,
            pool: &mut Pool,
            va: u64,
            access: Access,
        ) -> Result<Cap<Frame>, Fault> {
            let page = page_floor(va);
            let region = self.regions.find(va).ok_or(Fault::Unmapped(va))?;
            if !region.allows(access) {
                return Err(Fault::Denied(va, region));
            }
            if let Some(slot) = self.pages.get(page) {
                return Ok(Cap::from_slot(slot));
            }
            let f = pool.get(env)?;
            if let Err(e) = self.fill_and_map(env, f, page, &region) {
                pool.put(env, f);
                return Err(e);
            }
            Ok(f)
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
            if self.pages.count() == super::map::MAX_PAGES {
                return Err(Fault::TooManyPages);
            }
            env.map_frame(self.vs, f, page, rights(region.prot))?;
            self.pages.insert(page, f.slot()).map_err(|Full| Fault::TooManyPages)
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
                let f = self.page_in(env, pool, at, Access::Read)?;
                let view = env.copy(f, Rights::READ)?;
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
                let f = self.page_in(env, pool, at, Access::Write)?;
                let view = env.copy(f, Rights::READ.union(Rights::WRITE))?;
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
            while let Some((_, slot)) = self.pages.take_in(range) {
                pool.put(env, Cap::from_slot(slot));
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
            if prot & 7 == 0 {
                // PROT_NONE: no page may stay mapped.
                while let Some((_, slot)) = self.pages.take_in(range) {
                    pool.put(env, Cap::from_slot(slot));
                }
                return Ok(());
            }
            for (_, slot) in self.pages.in_range(range) {
                let f: Cap<Frame> = Cap::from_slot(slot);
                let _ = f.remap(rights(prot));
            }
            Ok(())
        }
    }
}
