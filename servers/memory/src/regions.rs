//! A space's regions: address ranges with rights and what backs them.
//! Pure: tested on the host.

use alloc::vec::Vec;

use libipc::proto::mem::{self, Prot, ShmId};
use os::layout::{PAGE, Range};

/// Most regions one space has.
pub const MAX_REGIONS: usize = 64;

/// What backs a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Zeroed frames on first touch, from the space's quota.
    Anon,
    /// A shared object's frames, all mapped when the region is made.
    Shm(ShmId),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub range: Range,
    pub prot: Prot,
    pub kind: Kind,
}

impl Region {
    /// Whether the region allows `access` (0 read, 1 write, 2 execute).
    pub fn allows(&self, access: u64) -> bool {
        match access {
            0 => true,
            1 => self.prot & mem::WRITE != 0,
            _ => self.prot & mem::EXEC != 0,
        }
    }
}

/// `[va, va + len)` as a range a client may map: page-aligned, not empty,
/// not wrapping, above page 0 and below `user_end`.
pub fn check_range(va: u64, len: u64, user_end: u64) -> Result<Range, mem::Error> {
    let r = Range::sized(va, len).ok_or(mem::Error::BadAddress)?;
    if len == 0
        || !va.is_multiple_of(PAGE)
        || !len.is_multiple_of(PAGE)
        || va < PAGE
        || r.end > user_end
    {
        return Err(mem::Error::BadAddress);
    }
    Ok(r)
}

/// The regions of one space, sorted by address, never overlapping.
#[derive(Debug, Default)]
pub struct Regions {
    list: Vec<Region>,
}

impl Regions {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    #[cfg(test)]
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.list.iter()
    }

    /// The region containing `addr`.
    pub fn find(&self, addr: u64) -> Option<&Region> {
        self.list.iter().find(|r| r.range.contains(addr))
    }

    /// Add `r` unless it overlaps one.
    pub fn insert(&mut self, r: Region) -> Result<(), mem::Error> {
        if self.list.iter().any(|x| x.range.overlaps(&r.range)) {
            return Err(mem::Error::Overlap);
        }
        if self.list.len() >= MAX_REGIONS {
            return Err(mem::Error::TooMany);
        }
        let at = self.list.iter().position(|x| x.range.start > r.range.start);
        self.list.insert(at.unwrap_or(self.list.len()), r);
        Ok(())
    }

    /// Take out every region inside `range`. A region that `range` cuts
    /// (overlaps without containing) refuses the whole request
    /// (`BadAddress`); none inside is `NotMapped`.
    pub fn take_within(&mut self, range: Range) -> Result<Vec<Region>, mem::Error> {
        if self.list.iter().any(|x| x.range.overlaps(&range) && !range.covers(&x.range)) {
            return Err(mem::Error::BadAddress);
        }
        let (out, keep): (Vec<Region>, Vec<Region>) =
            self.list.iter().partition(|x| range.covers(&x.range));
        if out.is_empty() {
            return Err(mem::Error::NotMapped);
        }
        self.list = keep;
        Ok(out)
    }

    /// Take out every region backed by shared object `id`.
    pub fn take_shm(&mut self, id: ShmId) -> Vec<Region> {
        let (out, keep): (Vec<Region>, Vec<Region>) =
            self.list.iter().partition(|x| x.kind == Kind::Shm(id));
        self.list = keep;
        out
    }

    /// Take out the region that starts at `start` (undoing an insert).
    pub fn remove_at(&mut self, start: u64) {
        self.list.retain(|x| x.range.start != start);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64) -> Region {
        Region { range: Range::new(start, end), prot: mem::RW, kind: Kind::Anon }
    }

    #[test]
    fn ranges() {
        let end = 1 << 39;
        assert!(check_range(0x1000, 0x2000, end).is_ok());
        assert_eq!(check_range(0, 0x1000, end), Err(mem::Error::BadAddress), "page 0");
        assert_eq!(check_range(0x1001, 0x1000, end), Err(mem::Error::BadAddress));
        assert_eq!(check_range(0x1000, 0x1001, end), Err(mem::Error::BadAddress));
        assert_eq!(check_range(0x1000, 0, end), Err(mem::Error::BadAddress));
        assert_eq!(check_range(!0xfff, 0x2000, end), Err(mem::Error::BadAddress));
        assert_eq!(check_range(end - 0x1000, 0x2000, end), Err(mem::Error::BadAddress));
        assert!(check_range(end - 0x1000, 0x1000, end).is_ok());
    }

    #[test]
    fn insert_find_take() {
        let mut r = Regions::default();
        r.insert(anon(0x5000, 0x8000)).unwrap();
        r.insert(anon(0x1000, 0x3000)).unwrap();
        assert_eq!(r.insert(anon(0x2000, 0x6000)), Err(mem::Error::Overlap));
        r.insert(anon(0x3000, 0x5000)).unwrap();
        let starts: Vec<u64> = r.iter().map(|x| x.range.start).collect();
        assert_eq!(starts, [0x1000, 0x3000, 0x5000]);
        assert_eq!(r.find(0x4fff).map(|x| x.range.start), Some(0x3000));
        assert_eq!(r.find(0x8000), None);
        // Cutting a region is refused; whole ones come out.
        assert_eq!(r.take_within(Range::new(0x2000, 0x5000)), Err(mem::Error::BadAddress));
        assert_eq!(r.take_within(Range::new(0x9000, 0xa000)), Err(mem::Error::NotMapped));
        let out = r.take_within(Range::new(0x1000, 0x5000)).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(r.len(), 1);
        let shm =
            Region { range: Range::new(0x10000, 0x12000), prot: mem::READ, kind: Kind::Shm(4) };
        r.insert(shm).unwrap();
        assert!(!shm.allows(1) && shm.allows(0) && !shm.allows(2));
        assert_eq!(r.take_shm(4), [shm]);
        assert_eq!(r.take_shm(4), []);
        r.remove_at(0x5000);
        assert_eq!(r.len(), 0);
        for i in 0..MAX_REGIONS as u64 {
            r.insert(anon(0x1000 * (i + 1), 0x1000 * (i + 2))).unwrap();
        }
        assert_eq!(r.insert(anon(0x100_0000, 0x100_1000)), Err(mem::Error::TooMany));
    }
}
