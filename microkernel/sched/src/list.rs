//! Fixed-capacity run queues: a FIFO ring for round robin and a list sorted
//! by a time key for EDF (deadlines) and throttled contexts (replenishment
//! times). Every operation adds the entries it visits or moves to a step
//! counter, so the cost of a decision is measurable and deterministic.
//!
//! Both are O(length) at worst; with the tens of contexts a CPU runs, a
//! sorted array beats a heap on constant factors and keeps ties ordered
//! (by key, then by id) so decisions are reproducible.

/// FIFO of context indices.
#[derive(Clone, Debug)]
pub(crate) struct Ring<const N: usize> {
    buf: [u16; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Ring<N> {
    pub(crate) const fn new() -> Self {
        Self { buf: [0; N], head: 0, len: 0 }
    }

    #[cfg(test)]
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, i: usize) -> usize {
        (self.head + i) % N
    }

    pub(crate) fn front(&self) -> Option<u16> {
        if self.len == 0 { None } else { self.buf.get(self.head).copied() }
    }

    /// Append `id`; false if full.
    pub(crate) fn push_back(&mut self, id: u16, steps: &mut u64) -> bool {
        *steps += 1;
        if self.len >= N {
            return false;
        }
        let s = self.slot(self.len);
        match self.buf.get_mut(s) {
            Some(x) => {
                *x = id;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Remove `id` wherever it is; false if absent.
    pub(crate) fn remove(&mut self, id: u16, steps: &mut u64) -> bool {
        let Some(pos) = (0..self.len).find(|&i| {
            *steps += 1;
            self.buf.get(self.slot(i)) == Some(&id)
        }) else {
            return false;
        };
        if pos == 0 {
            self.head = self.slot(1);
        } else {
            // Close the gap by moving the later entries forward.
            for i in pos..self.len - 1 {
                *steps += 1;
                let next = self.buf.get(self.slot(i + 1)).copied().unwrap_or(0);
                let s = self.slot(i);
                if let Some(x) = self.buf.get_mut(s) {
                    *x = next;
                }
            }
        }
        self.len -= 1;
        true
    }

    /// Move `id` to the back; false if absent.
    pub(crate) fn rotate_to_back(&mut self, id: u16, steps: &mut u64) -> bool {
        self.remove(id, steps) && self.push_back(id, steps)
    }
}

/// Context indices sorted by `(key, id)`.
#[derive(Clone, Debug)]
pub(crate) struct Sorted<const N: usize> {
    buf: [(u64, u16); N],
    len: usize,
}

impl<const N: usize> Sorted<N> {
    pub(crate) const fn new() -> Self {
        Self { buf: [(0, 0); N], len: 0 }
    }

    #[cfg(test)]
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// The entry with the smallest key.
    pub(crate) fn first(&self) -> Option<(u64, u16)> {
        if self.len == 0 { None } else { self.buf.first().copied() }
    }

    /// Insert `id` with `key`; false if full. The caller keeps ids unique.
    pub(crate) fn insert(&mut self, key: u64, id: u16, steps: &mut u64) -> bool {
        if self.len >= N {
            return false;
        }
        // Walk from the back: new deadlines tend to be the latest.
        let mut i = self.len;
        while i > 0 {
            *steps += 1;
            let prev = self.buf.get(i - 1).copied().unwrap_or((0, 0));
            if prev <= (key, id) {
                break;
            }
            if let Some(x) = self.buf.get_mut(i) {
                *x = prev;
            }
            i -= 1;
        }
        *steps += 1;
        if let Some(x) = self.buf.get_mut(i) {
            *x = (key, id);
        }
        self.len += 1;
        true
    }

    /// Remove `id`; false if absent.
    pub(crate) fn remove(&mut self, id: u16, steps: &mut u64) -> bool {
        let Some(pos) = (0..self.len).find(|&i| {
            *steps += 1;
            self.buf.get(i).map(|e| e.1) == Some(id)
        }) else {
            return false;
        };
        for i in pos..self.len - 1 {
            *steps += 1;
            let next = self.buf.get(i + 1).copied().unwrap_or((0, 0));
            if let Some(x) = self.buf.get_mut(i) {
                *x = next;
            }
        }
        self.len -= 1;
        true
    }

    /// Remove and return the first entry if its key is at most `limit`.
    pub(crate) fn pop_due(&mut self, limit: u64, steps: &mut u64) -> Option<(u64, u16)> {
        let first = self.first()?;
        if first.0 > limit {
            return None;
        }
        self.remove(first.1, steps);
        Some(first)
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u16)> + '_ {
        self.buf.iter().take(self.len).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn ring_ids<const N: usize>(r: &Ring<N>) -> Vec<u16> {
        let mut r = r.clone();
        let mut out = Vec::new();
        let mut s = 0;
        while let Some(x) = r.front() {
            out.push(x);
            r.remove(x, &mut s);
        }
        out
    }

    #[test]
    fn ring_fifo_remove_rotate() {
        let mut s = 0;
        let mut r = Ring::<4>::new();
        for i in 1..=4 {
            assert!(r.push_back(i, &mut s));
        }
        assert!(!r.push_back(5, &mut s));
        assert_eq!(ring_ids(&r), [1, 2, 3, 4]);
        assert!(r.remove(3, &mut s));
        assert!(!r.remove(3, &mut s));
        assert_eq!(ring_ids(&r), [1, 2, 4]);
        assert!(r.rotate_to_back(1, &mut s));
        assert_eq!(ring_ids(&r), [2, 4, 1]);
        // Wrap around the end of the buffer.
        assert!(r.push_back(7, &mut s));
        assert!(r.remove(2, &mut s));
        assert!(r.push_back(8, &mut s));
        assert_eq!(ring_ids(&r), [4, 1, 7, 8]);
        assert_eq!(r.len(), 4);
        assert!(s > 0);
    }

    #[test]
    fn sorted_orders_by_key_then_id() {
        let mut s = 0;
        let mut l = Sorted::<5>::new();
        assert!(l.insert(30, 1, &mut s));
        assert!(l.insert(10, 2, &mut s));
        assert!(l.insert(20, 3, &mut s));
        assert!(l.insert(10, 0, &mut s));
        assert!(l.insert(40, 4, &mut s));
        assert!(!l.insert(5, 5, &mut s));
        let v: Vec<_> = l.iter().collect();
        assert_eq!(v, [(10, 0), (10, 2), (20, 3), (30, 1), (40, 4)]);
        assert!(l.remove(3, &mut s));
        assert_eq!(l.pop_due(9, &mut s), None);
        assert_eq!(l.pop_due(10, &mut s), Some((10, 0)));
        assert_eq!(l.pop_due(10, &mut s), Some((10, 2)));
        assert_eq!(l.first(), Some((30, 1)));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn zero_capacity_is_harmless() {
        let mut s = 0;
        let mut r = Ring::<0>::new();
        assert!(!r.push_back(1, &mut s));
        assert_eq!(r.front(), None);
        let mut l = Sorted::<0>::new();
        assert!(!l.insert(1, 1, &mut s));
        assert_eq!(l.first(), None);
    }
}
