//! [`SlotAlloc`]: which slots of a range of a CNode are free. Pure: tested
//! on the host.

use crate::{Error, Result};

/// Most slots one allocator tracks.
pub const CAPACITY: u64 = 16384;
const WORDS: usize = (CAPACITY / 64) as usize;

/// A bitmap over the slots `[start, end)` of a CNode (one bit per slot,
/// set = in use). A range longer than [`CAPACITY`] is cut to it.
#[derive(Clone, Debug)]
pub struct SlotAlloc {
    start: u64,
    end: u64,
    used: [u64; WORDS],
    /// Where to start looking for a free slot.
    hint: u64,
    in_use: u64,
}

impl SlotAlloc {
    /// All of `[start, end)` free (at most [`CAPACITY`] slots of it).
    pub fn new(start: u64, end: u64) -> SlotAlloc {
        let end = end.max(start).min(start.saturating_add(CAPACITY));
        SlotAlloc { start, end, used: [0; WORDS], hint: 0, in_use: 0 }
    }

    /// The slots tracked.
    pub const fn range(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// Slots not in use.
    pub const fn free_count(&self) -> u64 {
        self.end - self.start - self.in_use
    }

    fn bit(&self, i: u64) -> bool {
        self.used.get((i / 64) as usize).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: u64, on: bool) {
        if let Some(w) = self.used.get_mut((i / 64) as usize) {
            if on {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }

    /// Whether `slot` is allocated (slots outside the range: `false`).
    pub fn is_used(&self, slot: u64) -> bool {
        slot >= self.start && slot < self.end && self.bit(slot - self.start)
    }

    /// One free slot.
    pub fn alloc(&mut self) -> Result<u64> {
        self.alloc_run(1)
    }

    /// `n` consecutive free slots; returns the first.
    pub fn alloc_run(&mut self, n: u64) -> Result<u64> {
        let len = self.end - self.start;
        if n == 0 || n > len {
            return Err(Error::OutOfSlots);
        }
        // Two passes: from the hint to the end, then from the start.
        for from in [self.hint, 0] {
            let mut i = from;
            let mut run = 0;
            while i < len {
                if self.bit(i) {
                    run = 0;
                } else {
                    run += 1;
                    if run == n {
                        let first = i + 1 - n;
                        for j in first..=i {
                            self.set(j, true);
                        }
                        self.in_use += n;
                        self.hint = i + 1;
                        return Ok(self.start + first);
                    }
                }
                i += 1;
            }
        }
        Err(Error::OutOfSlots)
    }

    /// Mark `slot` (in the range) in use, for slots filled by other means.
    pub fn reserve(&mut self, slot: u64) -> Result<()> {
        if slot < self.start || slot >= self.end || self.bit(slot - self.start) {
            return Err(Error::OutOfSlots);
        }
        self.set(slot - self.start, true);
        self.in_use += 1;
        Ok(())
    }

    /// Give `slot` back (the caller has emptied it). Freeing a slot outside
    /// the range or not in use does nothing.
    pub fn free(&mut self, slot: u64) {
        if self.is_used(slot) {
            let i = slot - self.start;
            self.set(i, false);
            self.in_use -= 1;
            self.hint = self.hint.min(i);
        }
    }

    /// Give back `n` slots from `first` on.
    pub fn free_run(&mut self, first: u64, n: u64) {
        for s in first..first.saturating_add(n) {
            self.free(s);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn alloc_and_free() {
        let mut a = SlotAlloc::new(10, 20);
        assert_eq!(a.free_count(), 10);
        assert_eq!(a.alloc().unwrap(), 10);
        assert_eq!(a.alloc().unwrap(), 11);
        assert!(a.is_used(10) && !a.is_used(12) && !a.is_used(5));
        a.free(10);
        a.free(10);
        a.free(99);
        assert_eq!(a.free_count(), 9);
        assert_eq!(a.alloc().unwrap(), 10, "freed slots come back");
        for _ in 0..8 {
            a.alloc().unwrap();
        }
        assert_eq!(a.alloc(), Err(Error::OutOfSlots));
    }

    #[test]
    fn runs() {
        let mut a = SlotAlloc::new(100, 116);
        assert_eq!(a.alloc_run(4).unwrap(), 100);
        assert_eq!(a.alloc_run(4).unwrap(), 104);
        a.free_run(100, 4);
        a.reserve(102).unwrap();
        assert_eq!(a.reserve(102), Err(Error::OutOfSlots));
        // 100..102 is only 2 long: the next run of 3 starts after 104..108.
        assert_eq!(a.alloc_run(3).unwrap(), 108);
        assert_eq!(a.alloc_run(2).unwrap(), 111);
        assert_eq!(a.alloc_run(3).unwrap(), 113);
        assert_eq!(a.alloc_run(2).unwrap(), 100);
        assert_eq!(a.alloc_run(2), Err(Error::OutOfSlots));
        assert_eq!(a.alloc_run(1).unwrap(), 103);
        assert_eq!(a.alloc_run(0), Err(Error::OutOfSlots));
        assert_eq!(a.free_count(), 0);
    }

    #[test]
    fn capacity() {
        let mut a = SlotAlloc::new(9, u64::MAX);
        assert_eq!(a.range(), (9, 9 + CAPACITY));
        assert_eq!(a.alloc_run(CAPACITY).unwrap(), 9);
        assert_eq!(a.alloc(), Err(Error::OutOfSlots));
        let mut e = SlotAlloc::new(5, 3);
        assert_eq!(e.alloc(), Err(Error::OutOfSlots));
    }
}
