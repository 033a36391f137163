//! The bookkeeping of a Linux process's memory, pure (tested on the host):
//! [`Regions`], the address ranges the process may touch and how (the
//! Linux VMAs), and [`Pages`], which pages are mapped and by which frame
//! cap.

use liblinux::abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};
use os::layout::{PAGE, Range};

/// Most regions one process has.
pub const MAX_REGIONS: usize = 64;
/// Most pages one process has mapped at once (8 MiB).
pub const MAX_PAGES: usize = 2048;

/// What a region's pages hold when first touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Zeros (anonymous memory, heap, stack, bss).
    Zero,
    /// The file bytes of an ELF segment: `filesz` bytes from `offset` in the
    /// program's file belong at `vaddr`; zeros elsewhere.
    File { vaddr: u64, offset: u64, filesz: u64 },
}

/// What a region is for (in reports and for `brk`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Image,
    Heap,
    Stack,
    Mmap,
}

impl Kind {
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Heap => "heap",
            Kind::Stack => "stack",
            Kind::Mmap => "mmap",
        }
    }
}

/// A page-aligned range with one protection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub range: Range,
    /// `PROT_*` bits.
    pub prot: u64,
    pub kind: Kind,
    pub backing: Backing,
}

/// An access the process made (a page fault's kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

impl Access {
    /// From a page-fault message's access word (0 read, 1 write, 2 execute).
    pub const fn from_word(w: u64) -> Access {
        match w {
            1 => Access::Write,
            2 => Access::Exec,
            _ => Access::Read,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Exec => "execute",
        }
    }
}

impl Region {
    /// Whether `prot` allows `access` (as on x86_64 and riscv64: any
    /// mapping but `PROT_NONE` is readable).
    pub const fn allows(&self, access: Access) -> bool {
        match access {
            Access::Read => self.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
            Access::Write => self.prot & PROT_WRITE != 0,
            Access::Exec => self.prot & PROT_EXEC != 0,
        }
    }

    const fn with_range(&self, range: Range) -> Region {
        Region { range, ..*self }
    }
}

/// A table was full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The regions of one process, sorted by address, never overlapping.
#[derive(Clone, Debug)]
pub struct Regions {
    items: [Option<Region>; MAX_REGIONS],
    len: usize,
}

impl Default for Regions {
    fn default() -> Self {
        Self::new()
    }
}

impl Regions {
    pub const fn new() -> Regions {
        Regions { items: [None; MAX_REGIONS], len: 0 }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Region> {
        self.items.iter().take(self.len).flatten()
    }

    /// The region holding `addr`.
    pub fn find(&self, addr: u64) -> Option<Region> {
        self.iter().find(|r| r.range.contains(addr)).copied()
    }

    /// Whether no region touches `range`.
    pub fn is_free(&self, range: Range) -> bool {
        !self.iter().any(|r| r.range.overlaps(&range))
    }

    /// Whether regions cover every page of `range`.
    pub fn covers(&self, range: Range) -> bool {
        let mut at = range.start;
        for r in self.iter() {
            if r.range.end <= at {
                continue;
            }
            if r.range.start > at {
                return false;
            }
            at = r.range.end;
            if at >= range.end {
                return true;
            }
        }
        at >= range.end
    }

    /// Add `region` where nothing is (the caller checked [`Regions::is_free`]).
    pub fn insert(&mut self, region: Region) -> Result<(), Full> {
        if self.len == MAX_REGIONS {
            return Err(Full);
        }
        let at = self.iter().take_while(|r| r.range.start < region.range.start).count();
        let mut i = self.len;
        while i > at {
            self.items[i] = self.items[i - 1];
            i -= 1;
        }
        self.items[at] = Some(region);
        self.len += 1;
        Ok(())
    }

    fn remove_at(&mut self, at: usize) {
        for i in at..self.len - 1 {
            self.items[i] = self.items[i + 1];
        }
        self.len -= 1;
        self.items[self.len] = None;
    }

    /// Cut `range` out of every region (splitting one that straddles it).
    /// `Full` (and nothing changed) if a split needs a slot there is not.
    pub fn remove(&mut self, range: Range) -> Result<(), Full> {
        let splits = self.iter().filter(|r| r.range.start < range.start && range.end < r.range.end);
        if splits.count() > 0 && self.len == MAX_REGIONS {
            return Err(Full);
        }
        let mut i = 0;
        while i < self.len {
            let Some(r) = self.items[i] else { break };
            if !r.range.overlaps(&range) {
                i += 1;
                continue;
            }
            let below = Range::new(r.range.start, range.start.max(r.range.start));
            let above = Range::new(range.end.min(r.range.end), r.range.end);
            self.remove_at(i);
            if !above.is_empty() {
                self.insert(r.with_range(above))?;
            }
            if !below.is_empty() {
                self.insert(r.with_range(below))?;
                i += 1;
            }
        }
        Ok(())
    }

    /// Split the region holding `addr` (if it starts below it) in two at `addr`.
    fn split_at(&mut self, addr: u64) -> Result<(), Full> {
        let Some(r) = self.find(addr) else { return Ok(()) };
        if r.range.start == addr {
            return Ok(());
        }
        if self.len == MAX_REGIONS {
            return Err(Full);
        }
        self.remove(r.range)?;
        self.insert(r.with_range(Range::new(r.range.start, addr)))?;
        self.insert(r.with_range(Range::new(addr, r.range.end)))
    }

    /// Set the protection of `range` (page-aligned), splitting the regions
    /// at its ends. Addresses no region holds stay without one.
    pub fn protect(&mut self, range: Range, prot: u64) -> Result<(), Full> {
        // Splits at both ends add at most two regions.
        if self.len + 2 > MAX_REGIONS {
            return Err(Full);
        }
        self.split_at(range.start)?;
        self.split_at(range.end)?;
        for r in self.items.iter_mut().take(self.len).flatten() {
            if range.covers(&r.range) {
                r.prot = prot;
            }
        }
        Ok(())
    }

    /// The highest free `len` bytes inside `within` (top-down first fit).
    pub fn find_free(&self, len: u64, within: Range) -> Option<u64> {
        let mut end = within.end;
        for r in self.iter().rev() {
            if r.range.start >= end {
                continue;
            }
            let gap_start = r.range.end.max(within.start);
            if end >= gap_start && end - gap_start >= len {
                return Some(end - len);
            }
            end = r.range.start;
            if end <= within.start {
                return None;
            }
        }
        (end >= within.start && end - within.start >= len).then(|| end - len)
    }
}

/// The mapped pages of one process: address and the slot of the frame cap
/// mapped there (in the process's frame store, `super::Pool`), sorted by
/// address.
#[derive(Clone, Debug)]
pub struct Pages {
    items: [(u64, u64); MAX_PAGES],
    len: usize,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    pub const fn new() -> Pages {
        Pages { items: [(0, 0); MAX_PAGES], len: 0 }
    }

    /// Pages mapped.
    pub const fn count(&self) -> usize {
        self.len
    }

    fn search(&self, va: u64) -> Result<usize, usize> {
        self.items.get(..self.len).unwrap_or(&[]).binary_search_by_key(&va, |&(v, _)| v)
    }

    /// The frame's slot of the page `va`.
    pub fn get(&self, va: u64) -> Option<u64> {
        self.search(va).ok().and_then(|i| self.items.get(i)).map(|&(_, s)| s)
    }

    /// Record `slot` mapped at page `va` (not mapped before).
    pub fn insert(&mut self, va: u64, slot: u64) -> Result<(), Full> {
        let Err(at) = self.search(va) else { return Err(Full) };
        if self.len == MAX_PAGES {
            return Err(Full);
        }
        self.items.copy_within(at..self.len, at + 1);
        self.items[at] = (va, slot);
        self.len += 1;
        Ok(())
    }

    /// Change what is recorded for page `va`; `false` if it has no entry.
    pub fn set(&mut self, va: u64, slot: u64) -> bool {
        match self.search(va).ok().and_then(|i| self.items.get_mut(i)) {
            Some(item) => {
                item.1 = slot;
                true
            }
            None => false,
        }
    }

    /// Forget the first mapped page inside `range`, returning it.
    pub fn take_in(&mut self, range: Range) -> Option<(u64, u64)> {
        let at = match self.search(range.start) {
            Ok(i) | Err(i) => i,
        };
        let item = *self.items.get(..self.len)?.get(at)?;
        if item.0 >= range.end {
            return None;
        }
        self.items.copy_within(at + 1..self.len, at);
        self.len -= 1;
        Some(item)
    }

    /// The mapped pages inside `range`.
    pub fn in_range(&self, range: Range) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.items.iter().take(self.len).copied().filter(move |&(va, _)| range.contains(va))
    }
}

/// Page-aligned `[addr, addr + len)`, if `addr` is aligned and the range
/// neither is empty nor wraps.
pub fn page_range(addr: u64, len: u64) -> Option<Range> {
    if !addr.is_multiple_of(PAGE) || len == 0 {
        return None;
    }
    Range::sized(addr, len)?.pages()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use liblinux::abi::mman::PROT_NONE;

    const RW: u64 = PROT_READ | PROT_WRITE;

    fn anon(start: u64, end: u64) -> Region {
        Region { range: Range::new(start, end), prot: RW, kind: Kind::Mmap, backing: Backing::Zero }
    }

    fn ranges(r: &Regions) -> std::vec::Vec<(u64, u64, u64)> {
        r.iter().map(|r| (r.range.start, r.range.end, r.prot)).collect()
    }

    #[test]
    fn insert_find_remove() {
        let mut r = Regions::new();
        r.insert(anon(0x5000, 0x8000)).unwrap();
        r.insert(anon(0x1000, 0x2000)).unwrap();
        assert_eq!(ranges(&r), [(0x1000, 0x2000, RW), (0x5000, 0x8000, RW)]);
        assert_eq!(r.find(0x6fff).unwrap().range.start, 0x5000);
        assert!(r.find(0x2000).is_none());
        assert!(r.is_free(Range::new(0x2000, 0x5000)));
        assert!(!r.is_free(Range::new(0x2000, 0x5001)));
        // A hole in the middle splits the region.
        r.remove(Range::new(0x6000, 0x7000)).unwrap();
        assert_eq!(ranges(&r), [(0x1000, 0x2000, RW), (0x5000, 0x6000, RW), (0x7000, 0x8000, RW)]);
        // Across several regions.
        r.remove(Range::new(0x1000, 0x7800)).unwrap();
        assert_eq!(ranges(&r), [(0x7800, 0x8000, RW)]);
    }

    #[test]
    fn protect_splits() {
        let mut r = Regions::new();
        r.insert(anon(0x1000, 0x5000)).unwrap();
        assert!(r.covers(Range::new(0x2000, 0x3000)));
        r.protect(Range::new(0x2000, 0x3000), PROT_NONE).unwrap();
        assert_eq!(
            ranges(&r),
            [(0x1000, 0x2000, RW), (0x2000, 0x3000, PROT_NONE), (0x3000, 0x5000, RW)]
        );
        assert!(!r.find(0x2800).unwrap().allows(Access::Read));
        assert!(r.find(0x3800).unwrap().allows(Access::Write));
        assert!(!r.find(0x3800).unwrap().allows(Access::Exec));
        assert!(!r.covers(Range::new(0x4000, 0x6000)));
        assert!(r.covers(Range::new(0x1000, 0x5000)));
    }

    #[test]
    fn free_space_top_down() {
        let mut r = Regions::new();
        let within = Range::new(0x10_0000, 0x20_0000);
        assert_eq!(r.find_free(0x1000, within), Some(0x1f_f000));
        r.insert(anon(0x1f_0000, 0x20_0000)).unwrap();
        r.insert(anon(0x1e_0000, 0x1e_f000)).unwrap();
        assert_eq!(r.find_free(0x1000, within), Some(0x1e_f000));
        assert_eq!(r.find_free(0x2000, within), Some(0x1d_e000));
        assert_eq!(r.find_free(0x10_0000, within), None);
        assert_eq!(r.find_free(0xe_0000, within), Some(0x10_0000));
    }

    #[test]
    fn pages_table() {
        let mut p = Pages::new();
        p.insert(0x3000, 30).unwrap();
        p.insert(0x1000, 10).unwrap();
        p.insert(0x2000, 20).unwrap();
        assert_eq!(p.insert(0x2000, 21), Err(Full));
        assert_eq!(p.get(0x2000), Some(20));
        assert_eq!(p.get(0x4000), None);
        assert_eq!(p.in_range(Range::new(0x2000, 0x4000)).count(), 2);
        assert_eq!(p.take_in(Range::new(0x1800, 0x3000)), Some((0x2000, 20)));
        assert_eq!(p.take_in(Range::new(0x1800, 0x3000)), None);
        assert_eq!(p.count(), 2);
        assert!(p.set(0x3000, 31) && !p.set(0x2000, 1));
        assert_eq!(p.get(0x3000), Some(31));
        assert_eq!(page_range(0x1000, 1), Some(Range::new(0x1000, 0x2000)));
        assert_eq!(page_range(0x1001, 1), None);
        assert_eq!(page_range(0x1000, 0), None);
        assert_eq!(page_range(!0xfffu64, 0x2000), None);
    }
}
