//! [`Space`]: a new address space, filled from the builder's side.

use libipc::abi::Rights;
use libipc::cap::Cap;
use libipc::cap::{Frame, VSpace};

use crate::elf::{Image, Perm};
use crate::env::{Env, RW};
use crate::layout::{PAGE, Range, page_floor};
use crate::{Error, Result};

/// Most guard pages one space records.
const MAX_GUARDS: usize = 16;

/// A VSpace being built: page tables are added as mappings need them (from
/// the [`Env`] given to each call), and guard pages are remembered so that
/// nothing is ever mapped on one.
pub struct Space {
    pub vs: Cap<VSpace>,
    guards: [u64; MAX_GUARDS],
    nguards: usize,
    /// Page tables added so far.
    pub tables: u32,
    /// Frames mapped so far.
    pub pages: u64,
}

/// What [`Space::load`] mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub entry: u64,
    /// Page-rounded, lowest segment start to highest segment end.
    pub extent: Range,
    pub pages: u64,
}

/// Frame rights for a segment's permissions (read is implied: every
/// mapping is readable).
pub fn rights(p: Perm) -> Rights {
    let mut r = Rights::READ;
    if p.write {
        r = r.union(Rights::WRITE);
    }
    if p.exec {
        r = r.union(Rights::EXECUTE);
    }
    r
}

impl Space {
    /// A new, empty VSpace from `env`'s memory.
    pub fn new(env: &mut Env) -> Result<Space> {
        Ok(Space::from_cap(env.alloc(0)?))
    }

    /// A VSpace made elsewhere.
    pub const fn from_cap(vs: Cap<VSpace>) -> Space {
        Space { vs, guards: [u64::MAX; MAX_GUARDS], nguards: 0, tables: 0, pages: 0 }
    }

    fn is_guard(&self, va: u64) -> bool {
        self.guards.iter().take(self.nguards).any(|&g| g == page_floor(va))
    }

    /// Keep the page at `va` unmapped from now on.
    pub fn guard(&mut self, va: u64) -> Result<()> {
        let g = self.guards.get_mut(self.nguards).ok_or(Error::TooMany("guard pages"))?;
        *g = page_floor(va);
        self.nguards += 1;
        Ok(())
    }

    /// Map `frame` (4 KiB) at `va` with `rights`.
    pub fn map(&mut self, env: &mut Env, frame: Cap<Frame>, va: u64, rights: Rights) -> Result<()> {
        if !va.is_multiple_of(PAGE) {
            return Err(Error::Layout { what: "mapping address not page-aligned", at: va });
        }
        if self.is_guard(va) {
            return Err(Error::Layout { what: "mapping over a guard page", at: va });
        }
        self.tables += env.map_frame(self.vs, frame, va, rights)?;
        self.pages += 1;
        Ok(())
    }

    /// A fresh (zeroed) frame mapped at `va` with `rights`.
    pub fn map_new(&mut self, env: &mut Env, va: u64, rights: Rights) -> Result<Cap<Frame>> {
        let f = env.frame()?;
        self.map(env, f, va, rights)?;
        Ok(f)
    }

    /// Fresh zeroed frames over `range` (grown to pages), parked if the
    /// environment parks.
    pub fn map_zeroed(&mut self, env: &mut Env, range: Range, rights: Rights) -> Result<()> {
        let r = range.pages().ok_or(Error::Layout { what: "range wraps", at: range.start })?;
        let mut va = r.start;
        while va < r.end {
            let f = self.map_new(env, va, rights)?;
            env.park(f)?;
            va += PAGE;
        }
        Ok(())
    }

    /// Fresh frames at `va` (page-aligned) holding `bytes`, then zeros to
    /// the end of the last page, mapped with `rights` (and parked if the
    /// environment parks).
    pub fn map_bytes(
        &mut self,
        env: &mut Env,
        va: u64,
        bytes: &[u8],
        rights: Rights,
    ) -> Result<()> {
        if !va.is_multiple_of(PAGE) {
            return Err(Error::Layout { what: "mapping address not page-aligned", at: va });
        }
        for (i, chunk) in bytes.chunks(PAGE as usize).enumerate() {
            let at = va + i as u64 * PAGE;
            let f = env.frame()?;
            env.window.write(f, 0, chunk)?;
            self.map(env, f, at, rights)?;
            env.park(f)?;
        }
        Ok(())
    }

    /// Load checked `image` (from [`crate::elf::check`] on `file`): each
    /// segment's pages in fresh frames, file bytes copied in through the
    /// window, the rest zero, mapped with the segment's rights (and parked
    /// if the environment parks).
    pub fn load(&mut self, env: &mut Env, file: &[u8], image: &Image) -> Result<Loaded> {
        let mut pages = 0;
        for s in image.segments() {
            let bytes = s.bytes(file);
            let file_end = s.vaddr + bytes.len() as u64;
            let r =
                s.range().pages().ok_or(Error::Layout { what: "segment wraps", at: s.vaddr })?;
            let mut va = r.start;
            while va < r.end {
                let f = env.frame()?;
                let (lo, hi) = (va.max(s.vaddr), (va + PAGE).min(file_end));
                if lo < hi {
                    let from = (lo - s.vaddr) as usize;
                    let chunk = bytes.get(from..from + (hi - lo) as usize).unwrap_or(&[]);
                    env.window.write(f, (lo - va) as usize, chunk)?;
                }
                self.map(env, f, va, rights(s.perm))?;
                env.park(f)?;
                va += PAGE;
                pages += 1;
            }
        }
        Ok(Loaded { entry: image.entry, extent: image.extent(), pages })
    }

    /// A stack of `size` bytes (rounded up to pages) ending at `top`, with
    /// the page below it kept unmapped as a guard.
    pub fn stack(&mut self, env: &mut Env, top: u64, size: u64) -> Result<()> {
        let size = crate::layout::page_ceil(size).unwrap_or(0).max(PAGE);
        let bottom = top
            .checked_sub(size)
            .filter(|b| *b >= PAGE && top.is_multiple_of(PAGE))
            .ok_or(Error::Layout { what: "stack does not fit below its top", at: top })?;
        self.guard(bottom - PAGE)?;
        self.map_zeroed(env, Range::new(bottom, top), RW)
    }
}
