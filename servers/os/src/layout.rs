//! Page arithmetic and address ranges. Pure: tested on the host.

pub use libipc::start::layout::PAGE;

/// `a` rounded down to a page boundary.
pub const fn page_floor(a: u64) -> u64 {
    a & !(PAGE - 1)
}

/// `a` rounded up to a page boundary; `None` on overflow.
pub const fn page_ceil(a: u64) -> Option<u64> {
    match a.checked_add(PAGE - 1) {
        Some(x) => Some(x & !(PAGE - 1)),
        None => None,
    }
}

/// Pages needed for `bytes` bytes.
pub const fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(PAGE)
}

/// A half-open address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    pub start: u64,
    pub end: u64,
}

impl Range {
    pub const fn new(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    /// `[start, start + len)`; `None` if it wraps.
    pub const fn sized(start: u64, len: u64) -> Option<Range> {
        match start.checked_add(len) {
            Some(end) => Some(Range { start, end }),
            None => None,
        }
    }

    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    pub const fn contains(&self, a: u64) -> bool {
        self.start <= a && a < self.end
    }

    /// Whether the two share an address (empty ranges share none).
    pub const fn overlaps(&self, other: &Range) -> bool {
        !self.is_empty() && !other.is_empty() && self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies wholly inside.
    pub const fn covers(&self, other: &Range) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    /// The range grown to page boundaries; `None` if that wraps.
    pub const fn pages(&self) -> Option<Range> {
        match page_ceil(self.end) {
            Some(end) => Some(Range { start: page_floor(self.start), end }),
            None => None,
        }
    }
}

/// The end of the user half of an address space: x86_64 canonical lower
/// half, riscv64 Sv39 (`hal`'s `USER_END` on each arch).
pub const fn user_end(machine: crate::elf::Machine) -> u64 {
    match machine {
        crate::elf::Machine::X86_64 => 0x0000_8000_0000_0000,
        crate::elf::Machine::Riscv64 => 0x0000_0040_0000_0000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_math() {
        assert_eq!(page_floor(0x1fff), 0x1000);
        assert_eq!(page_ceil(0x1001), Some(0x2000));
        assert_eq!(page_ceil(0x1000), Some(0x1000));
        assert_eq!(page_ceil(u64::MAX), None);
        assert_eq!(pages(0), 0);
        assert_eq!(pages(1), 1);
        assert_eq!(pages(4097), 2);
    }

    #[test]
    fn ranges() {
        let a = Range::new(0x1000, 0x3000);
        assert!(a.contains(0x1000) && a.contains(0x2fff) && !a.contains(0x3000));
        assert!(a.overlaps(&Range::new(0x2fff, 0x4000)));
        assert!(!a.overlaps(&Range::new(0x3000, 0x4000)));
        assert!(!a.overlaps(&Range::new(0x2000, 0x2000)), "empty ranges overlap nothing");
        assert!(a.covers(&Range::new(0x1000, 0x3000)));
        assert!(!a.covers(&Range::new(0x1000, 0x3001)));
        assert_eq!(Range::sized(u64::MAX, 2), None);
        assert_eq!(Range::new(0x1234, 0x2001).pages(), Some(Range::new(0x1000, 0x3000)));
        assert_eq!(Range::new(0, u64::MAX).pages(), None);
        assert_eq!(a.len(), 0x2000);
    }
}
