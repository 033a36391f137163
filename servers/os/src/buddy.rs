//! [`Buddy`]: a buddy allocator of untyped *caps*, so that blocks of a
//! memory pool can be handed out and taken back one at a time.
//!
//! The kernel reuses an untyped's memory only once everything carved from
//! it is gone (its watermark resets when it has no children), so a pool
//! that carves blocks for clients one after the other from one untyped can
//! only take them all back at once. The buddy allocator splits instead: a
//! free untyped of `2^b` bytes is retyped into two untyped halves of
//! `2^(b-1)` (its only children), recursively, down to the size asked for.
//! A block is given back by revoking it (the owner does that: everything
//! carved from it goes, and it is whole again); when both halves of a split
//! untyped are free, revoking the parent deletes them and the parent is
//! free again (the merge).
//!
//! The caps live in slots of a *pool CNode* the allocator owns the slot
//! range of; the kernel operations are behind [`Ops`] so the bookkeeping is
//! tested on the host. The bare-metal [`PoolOps`] moves a node into a
//! scratch slot of the owner's CSpace root to invoke it (a node in the pool
//! CNode has no CPtr of its own), which is how a server with a small
//! CSpace root manages thousands of slots.

use crate::slots::SlotAlloc;
use crate::{Error, Result};

/// Most nodes (free, split or in use) one allocator tracks.
pub const MAX_NODES: usize = 512;

/// A node's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Whole and not handed out.
    Free,
    /// Retyped into two halves (its children).
    Split,
    /// Handed out.
    Used,
}

const NONE: u16 = u16::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Its slot in the pool CNode.
    slot: u64,
    bits: u8,
    state: State,
    /// Index of the node it was split from (`NONE` for a root).
    parent: u16,
    live: bool,
}

const DEAD: Node = Node { slot: 0, bits: 0, state: State::Free, parent: NONE, live: false };

/// The kernel operations the allocator needs, on caps in pool slots.
pub trait Ops {
    /// Retype the whole untyped in pool slot `slot` into two untyped halves
    /// of `2^half_bits` bytes in pool slots `first` and `first + 1`.
    fn split(&mut self, slot: u64, half_bits: u8, first: u64) -> Result<()>;
    /// Revoke the untyped in pool slot `slot`: its two halves (free, with
    /// nothing carved from them) are deleted and it is whole again.
    fn merge(&mut self, slot: u64) -> Result<()>;
}

/// A block handed out: its node index (to give it back), where its cap is
/// and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockRef {
    pub id: u16,
    /// Its slot in the pool CNode.
    pub slot: u64,
    pub bits: u8,
}

impl BlockRef {
    pub fn size(&self) -> u64 {
        1u64.checked_shl(self.bits.into()).unwrap_or(0)
    }
}

/// The allocator: roots (the untyped caps the pool started with) and the
/// nodes split from them.
pub struct Buddy {
    nodes: [Node; MAX_NODES],
    /// Free slots of the pool CNode.
    slots: SlotAlloc,
    /// Smallest block it splits down to.
    min_bits: u8,
}

impl Buddy {
    /// An empty allocator over the pool CNode slots `slots`; blocks are
    /// never smaller than `2^min_bits` bytes.
    pub fn new(slots: SlotAlloc, min_bits: u8) -> Buddy {
        Buddy { nodes: [DEAD; MAX_NODES], slots, min_bits: min_bits.max(12) }
    }

    /// A free pool slot for a root the caller is about to move in.
    pub fn root_slot(&mut self) -> Result<u64> {
        self.slots.alloc()
    }

    /// Take the whole untyped of `2^bits` bytes in pool slot `slot` (from
    /// [`Buddy::root_slot`]) as a root.
    pub fn add_root(&mut self, slot: u64, bits: u8) -> Result<()> {
        let i = self.free_node()?;
        self.nodes[i] = Node { slot, bits, state: State::Free, parent: NONE, live: true };
        Ok(())
    }

    fn free_node(&self) -> Result<usize> {
        self.nodes.iter().position(|n| !n.live).ok_or(Error::TooMany("buddy nodes"))
    }

    fn live(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.live)
    }

    /// Bytes in free blocks.
    pub fn free_bytes(&self) -> u64 {
        self.live().filter(|(_, n)| n.state == State::Free).map(|(_, n)| 1u64 << n.bits).sum()
    }

    /// Bytes of all roots.
    pub fn total_bytes(&self) -> u64 {
        self.live().filter(|(_, n)| n.parent == NONE).map(|(_, n)| 1u64 << n.bits).sum()
    }

    /// Blocks handed out.
    pub fn used_blocks(&self) -> usize {
        self.live().filter(|(_, n)| n.state == State::Used).count()
    }

    /// The largest free block's size bits (0: none).
    pub fn largest_free_bits(&self) -> u8 {
        self.live().filter(|(_, n)| n.state == State::Free).map(|(_, n)| n.bits).max().unwrap_or(0)
    }

    /// A block of at least `2^bits` bytes (at least the minimum): the
    /// smallest free block that fits, split down to size.
    pub fn alloc(&mut self, bits: u8, ops: &mut dyn Ops) -> Result<BlockRef> {
        let want = bits.max(self.min_bits);
        let mut best: Option<usize> = None;
        for (i, n) in self.live() {
            if n.state == State::Free
                && n.bits >= want
                && best.is_none_or(|b| n.bits < self.nodes[b].bits)
            {
                best = Some(i);
            }
        }
        let mut i = best.ok_or(Error::OutOfMemory { bits: want })?;
        while self.nodes[i].bits > want {
            i = self.split(i, ops)?;
        }
        self.nodes[i].state = State::Used;
        Ok(BlockRef { id: i as u16, slot: self.nodes[i].slot, bits: self.nodes[i].bits })
    }

    /// Split free node `i` into two halves; returns the first.
    fn split(&mut self, i: usize, ops: &mut dyn Ops) -> Result<usize> {
        let (slot, half) = (self.nodes[i].slot, self.nodes[i].bits - 1);
        // Two node entries before anything changes.
        let a = self.free_node()?;
        self.nodes[a].live = true;
        let b = self.free_node();
        self.nodes[a].live = false;
        let b = b?;
        let first = self.slots.alloc_run(2)?;
        if let Err(e) = ops.split(slot, half, first) {
            self.slots.free_run(first, 2);
            return Err(e);
        }
        self.nodes[i].state = State::Split;
        let parent = i as u16;
        self.nodes[a] = Node { slot: first, bits: half, state: State::Free, parent, live: true };
        self.nodes[b] =
            Node { slot: first + 1, bits: half, state: State::Free, parent, live: true };
        Ok(a)
    }

    /// Give block `b` back. The caller has emptied it (revoked everything
    /// carved from it) and its cap is back in its pool slot. Free halves
    /// are merged as far as they go; a merge the kernel refuses leaves the
    /// halves free and separate (nothing is lost but the merge).
    pub fn free(&mut self, b: BlockRef, ops: &mut dyn Ops) -> Result<()> {
        let mut i = b.id as usize;
        match self.nodes.get(i) {
            Some(n) if n.live && n.state == State::Used && n.slot == b.slot => {}
            _ => return Err(Error::Layout { what: "not a block in use", at: b.slot }),
        }
        self.nodes[i].state = State::Free;
        loop {
            let parent = self.nodes[i].parent;
            if parent == NONE {
                return Ok(());
            }
            if self.live().any(|(_, n)| n.parent == parent && n.state != State::Free) {
                return Ok(());
            }
            let p = parent as usize;
            ops.merge(self.nodes[p].slot)?;
            for k in 0..MAX_NODES {
                if self.nodes[k].live && self.nodes[k].parent == parent {
                    self.slots.free(self.nodes[k].slot);
                    self.nodes[k] = DEAD;
                }
            }
            self.nodes[p].state = State::Free;
            i = p;
        }
    }
}

#[cfg(target_os = "none")]
pub use bare::{Pool, PoolOps};

#[cfg(target_os = "none")]
mod bare {
    use super::*;
    use crate::Context;
    use libipc::cap::{CNode, Cap, Untyped};

    /// The kernel side of [`Buddy`]: the pool CNode (its cap in the
    /// owner's root, `root`) and one empty scratch slot of the root where a
    /// node is moved to be invoked.
    #[derive(Clone, Copy, Debug)]
    pub struct PoolOps {
        pub root: Cap<CNode>,
        pub pool: Cap<CNode>,
        pub scratch: u64,
    }

    impl Ops for PoolOps {
        fn split(&mut self, slot: u64, half_bits: u8, first: u64) -> Result<()> {
            self.root.move_(self.scratch, self.pool, slot).op("CNodeMove (buddy node in)")?;
            let ut: Cap<Untyped> = Cap::from_slot(self.scratch);
            let r = ut
                .retype(libipc::abi::CapType::Untyped, half_bits, self.pool, first, 2)
                .op("UntypedRetype (buddy split)");
            // Back to its pool slot whatever happened.
            let back =
                self.pool.move_(slot, self.root, self.scratch).op("CNodeMove (buddy node out)");
            r.and(back)
        }

        fn merge(&mut self, slot: u64) -> Result<()> {
            self.pool.revoke(slot).op("CNodeRevoke (buddy merge)")
        }
    }

    /// A server's memory pool: a buddy allocator whose nodes live in a
    /// pool CNode, set up from the untyped caps the server was given.
    pub struct Pool {
        pub ops: PoolOps,
        pub buddy: Buddy,
    }

    impl Pool {
        /// Carve a pool CNode of `radix` slots from `ut` (CPtrs into
        /// `root` are slot indices; `slots` are its free slots), then hand
        /// all that is left of `ut` to the buddy: untouched untyped caps
        /// whole (moved into the pool CNode), the free part of a carved one
        /// as naturally aligned blocks (at most 16 per untyped; the
        /// smallest pieces are left out). `ut` is empty afterwards.
        pub fn new(
            root: Cap<CNode>,
            ut: &mut crate::UntypedAlloc,
            slots: &mut SlotAlloc,
            radix: u8,
        ) -> Result<Pool> {
            let pool_slot = slots.alloc()?;
            let pool: Cap<CNode> = ut.carve(radix, root, pool_slot)?;
            let ops = PoolOps { root, pool, scratch: slots.alloc()? };
            let mut buddy = Buddy::new(SlotAlloc::new(1, 1 << radix), 12);
            let n = ut.entries().count();
            for i in 0..n {
                let Some(e) = ut.entry(i).copied() else { continue };
                if e.device {
                    continue;
                }
                if e.watermark == 0 {
                    let ps = buddy.root_slot()?;
                    pool.move_(ps, root, e.slot).op("CNodeMove (a pool root)")?;
                    buddy.add_root(ps, e.size_bits)?;
                } else {
                    let mut blocks = [(0u64, 0u8); 16];
                    let k = crate::untyped::free_blocks(e.watermark, e.size_bits, 12, &mut blocks);
                    for &(_, bits) in blocks.iter().take(k) {
                        let ps = buddy.root_slot()?;
                        ut.carve_from::<Untyped>(i, bits, pool, ps)?;
                        buddy.add_root(ps, bits)?;
                    }
                }
                ut.exhaust(i);
            }
            Ok(Pool { ops, buddy })
        }

        /// A block of at least `2^bits` bytes, its cap moved into the empty
        /// root slot `slot` (where it is invoked to carve).
        pub fn take(&mut self, bits: u8, slot: u64) -> Result<BlockRef> {
            let b = self.buddy.alloc(bits, &mut self.ops)?;
            if let Err(e) = self.ops.root.move_(slot, self.ops.pool, b.slot) {
                let _ = self.buddy.free(b, &mut self.ops);
                return Err(crate::Error::Kernel {
                    op: "CNodeMove (a block out)",
                    error: e,
                    at: 0,
                });
            }
            Ok(b)
        }

        /// Give block `b` back from root slot `slot`: revoke it (everything
        /// carved from it, and every copy of those caps, goes), move it
        /// back into the pool and free it.
        pub fn give_back(&mut self, b: BlockRef, slot: u64) -> Result<()> {
            self.ops.root.revoke(slot).op("CNodeRevoke (a block)")?;
            self.ops.pool.move_(b.slot, self.ops.root, slot).op("CNodeMove (a block back)")?;
            self.buddy.free(b, &mut self.ops)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    /// A model of the kernel: which pool slots hold an untyped of what
    /// size, and which have children.
    #[derive(Default)]
    struct Model {
        caps: BTreeMap<u64, (u8, Vec<u64>)>,
        fail_split: bool,
    }

    impl Ops for Model {
        fn split(&mut self, slot: u64, half: u8, first: u64) -> Result<()> {
            if self.fail_split {
                return Err(Error::OutOfMemory { bits: half });
            }
            let (bits, kids) = self.caps.get(&slot).unwrap().clone();
            assert_eq!(bits, half + 1);
            assert!(kids.is_empty(), "split of an untyped with children");
            assert!(!self.caps.contains_key(&first) && !self.caps.contains_key(&(first + 1)));
            self.caps.insert(first, (half, Vec::new()));
            self.caps.insert(first + 1, (half, Vec::new()));
            self.caps.get_mut(&slot).unwrap().1 = std::vec![first, first + 1];
            Ok(())
        }
        fn merge(&mut self, slot: u64) -> Result<()> {
            let kids = core::mem::take(&mut self.caps.get_mut(&slot).unwrap().1);
            assert_eq!(kids.len(), 2);
            for k in kids {
                let (_, grandkids) = self.caps.remove(&k).unwrap();
                assert!(grandkids.is_empty(), "merge over a split half");
            }
            Ok(())
        }
    }

    fn pool(roots: &[u8]) -> (Buddy, Model) {
        let mut b = Buddy::new(SlotAlloc::new(1, 1024), 12);
        let mut m = Model::default();
        for &bits in roots {
            let s = b.root_slot().unwrap();
            b.add_root(s, bits).unwrap();
            m.caps.insert(s, (bits, Vec::new()));
        }
        (b, m)
    }

    #[test]
    fn split_and_merge_back() {
        let (mut b, mut m) = pool(&[20]); // 1 MiB
        assert_eq!(b.total_bytes(), 1 << 20);
        let x = b.alloc(16, &mut m).unwrap();
        assert_eq!(x.bits, 16);
        // 1M -> 512K + 512K -> ... -> 64K: four splits, free 1M - 64K.
        assert_eq!(b.free_bytes(), (1 << 20) - (1 << 16));
        let y = b.alloc(16, &mut m).unwrap();
        assert_ne!(x.slot, y.slot);
        let z = b.alloc(18, &mut m).unwrap();
        assert_eq!(b.used_blocks(), 3);
        b.free(y, &mut m).unwrap();
        b.free(x, &mut m).unwrap();
        b.free(z, &mut m).unwrap();
        // All merged: one whole root, the model agrees.
        assert_eq!(b.free_bytes(), 1 << 20);
        assert_eq!(b.largest_free_bits(), 20);
        assert_eq!(m.caps.len(), 1);
        // Freeing twice is refused.
        assert!(b.free(z, &mut m).is_err());
    }

    #[test]
    fn sizes_and_exhaustion() {
        let (mut b, mut m) = pool(&[16, 14]);
        // Below the minimum: rounded up to 4 KiB.
        let a = b.alloc(3, &mut m).unwrap();
        assert_eq!(a.bits, 12);
        // The 16 KiB root was split (smallest fit), the 64 KiB one is whole.
        assert_eq!(b.largest_free_bits(), 16);
        let big = b.alloc(16, &mut m).unwrap();
        assert_eq!(b.alloc(15, &mut m), Err(Error::OutOfMemory { bits: 15 }));
        b.free(big, &mut m).unwrap();
        assert_eq!(b.alloc(15, &mut m).unwrap().bits, 15);
        // A split the kernel refuses changes nothing.
        // Free now: 4 KiB, 8 KiB (halves of the 16 KiB root), 32 KiB.
        assert_eq!(b.free_bytes(), (1 << 12) + (1 << 13) + (1 << 15));
        m.fail_split = true;
        assert!(b.alloc(13, &mut m).is_ok(), "an exact fit needs no split");
        assert!(b.alloc(12, &mut m).is_ok(), "an exact fit needs no split");
        assert!(b.alloc(14, &mut m).is_err(), "the 32 KiB block cannot be split");
        assert_eq!(b.free_bytes(), 1 << 15, "the failed split changed nothing");
    }

    #[test]
    fn many_cycles_leave_the_pool_whole() {
        let (mut b, mut m) = pool(&[22, 20]);
        let total = b.free_bytes();
        let mut live: Vec<BlockRef> = Vec::new();
        let mut seed = 12345u64;
        for round in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if live.len() < 12 && (!seed.is_multiple_of(3) || live.is_empty()) {
                let bits = 12 + (seed >> 8) as u8 % 8;
                if let Ok(x) = b.alloc(bits, &mut m) {
                    live.push(x);
                }
            } else {
                let k = (seed >> 16) as usize % live.len();
                let x = live.swap_remove(k);
                b.free(x, &mut m).unwrap();
            }
            let used: u64 = live.iter().map(|x| x.size()).sum();
            assert_eq!(b.free_bytes() + used, total, "round {round}");
        }
        for x in live.drain(..) {
            b.free(x, &mut m).unwrap();
        }
        assert_eq!(b.free_bytes(), total);
        assert_eq!(m.caps.len(), 2, "everything merged back into the two roots");
    }
}
