//! CSpace lookup: from a capability pointer to a slot, seL4 style.
//!
//! A thread's CSpace is a tree of CNodes rooted at its CSpace root cap. A
//! capability pointer (CPtr) is a bit string of `depth` bits, read from the
//! top: each CNode on the way consumes its guard (`guard_bits` bits that
//! must equal the cap's guard) and then `radix` bits that index its slots.
//! Lookup continues into the next CNode while bits remain, and the slot
//! where the bits run out exactly is the result. The guard lets a CSpace be
//! sparse without levels of one-slot CNodes.
//!
//! Every number here comes from user space (cptr, depth), so nothing can
//! overflow or panic: shifts stay below 64 and each level consumes at least
//! one bit (a CNode's radix is at least 1), so the walk ends within 64 levels.
//! The kernel maps every [`LookupError`] to `InvalidCapability`; the detail
//! (bits left, guard found) is for fault messages and debugging.

use libipc::abi::{CapType, Error};

use crate::cap::Cap;
use crate::cdt::{SlotId, SlotStore};

/// Why a lookup failed. `bits_left` counts the CPtr bits not yet consumed
/// when the lookup stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// `depth` is 0 or more than 64.
    InvalidDepth { depth: u32 },
    /// The root (or a cap on the path, with bits left) is not a CNode.
    NotCNode { bits_left: u32, found: CapType },
    /// The guard bits of the CPtr do not match the CNode's guard (or fewer
    /// bits are left than the guard needs; `guard_found` is then those bits).
    GuardMismatch { bits_left: u32, guard_found: u64, guard_bits: u32 },
    /// The depth ends inside a CNode's radix: `bits_needed` more were needed.
    DepthMismatch { bits_left: u32, bits_needed: u32 },
    /// A slot on the path (with bits left), or the final slot of
    /// [`lookup_cap`], is empty.
    EmptySlot { bits_left: u32 },
}

impl From<LookupError> for Error {
    fn from(_: LookupError) -> Error {
        Error::InvalidCapability
    }
}

/// The `n` bits of `cptr` just below bit `top` (bits `top - n .. top`).
/// Requires `n <= top <= 64`.
fn take_bits(cptr: u64, top: u32, n: u32) -> u64 {
    if n == 0 {
        return 0;
    }
    let shifted = cptr.checked_shr(top - n).unwrap_or(0);
    let mask = u64::MAX.checked_shr(64 - n).unwrap_or(0);
    shifted & mask
}

/// Resolve the low `depth` bits of `cptr` in the CSpace rooted at `root`
/// to a slot. The slot may be empty (a destination for copy or retype).
pub fn resolve<S: SlotStore + ?Sized>(
    store: &S,
    root: &Cap,
    cptr: u64,
    depth: u32,
) -> Result<SlotId, LookupError> {
    if depth == 0 || depth > 64 {
        return Err(LookupError::InvalidDepth { depth });
    }
    let mut node = *root;
    let mut left = depth;
    loop {
        if node.cap_type() != CapType::CNode {
            return Err(LookupError::NotCNode { bits_left: left, found: node.cap_type() });
        }
        let (slot, rest) = step(store, &node, cptr, left)?;
        if rest == 0 {
            return Ok(slot);
        }
        left = rest;
        node = match store.get(slot) {
            Some(s) if !s.is_empty() => *s.cap(),
            _ => return Err(LookupError::EmptySlot { bits_left: left }),
        };
    }
}

/// One level: check the guard of CNode cap `node`, index it. Returns the
/// slot and the bits left after this level.
fn step<S: SlotStore + ?Sized>(
    store: &S,
    node: &Cap,
    cptr: u64,
    left: u32,
) -> Result<(SlotId, u32), LookupError> {
    let guard_bits = u32::from(node.cnode_guard_bits());
    let radix = u32::from(node.cnode_radix());
    let guard = take_bits(cptr, left, guard_bits.min(left));
    if guard_bits > left || guard != node.cnode_guard() {
        return Err(LookupError::GuardMismatch { bits_left: left, guard_found: guard, guard_bits });
    }
    let left = left - guard_bits;
    if radix > left {
        return Err(LookupError::DepthMismatch { bits_left: left, bits_needed: radix - left });
    }
    let index = take_bits(cptr, left, radix);
    Ok((store.slot_of(node.addr(), index), left - radix))
}

/// Resolve and require a cap in the final slot (for invoking a cap).
pub fn lookup_cap<S: SlotStore + ?Sized>(
    store: &S,
    root: &Cap,
    cptr: u64,
    depth: u32,
) -> Result<(SlotId, Cap), LookupError> {
    let slot = resolve(store, root, cptr, depth)?;
    match store.get(slot) {
        Some(s) if !s.is_empty() => Ok((slot, *s.cap())),
        _ => Err(LookupError::EmptySlot { bits_left: 0 }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    // CPtr literals are grouped by level (guard, index), not by nibble.
    #![allow(clippy::unusual_byte_groupings)]
    use super::*;
    use crate::cdt::insert_root;
    use crate::testutil::{Store, XorShift};

    // Store slots are at ids 64*i; a CNode at address A has its slots at
    // A + 64*index, like the kernel's physical layout.
    const TOP: u64 = 0x1_0000; // radix 4: slots 1024..1040
    const SUB: u64 = 0x2_0000; // radix 3: slots 2048..2056

    fn store() -> Store {
        Store::new(4096)
    }

    fn slot(addr: u64, index: u64) -> SlotId {
        SlotId(addr + index * 64)
    }

    fn put(st: &mut Store, id: SlotId, cap: Cap) {
        insert_root(st, id, cap).unwrap();
    }

    #[test]
    fn one_level() {
        let mut st = store();
        let root = Cap::cnode(TOP, 4).unwrap();
        put(&mut st, slot(TOP, 5), Cap::endpoint(0x40));
        assert_eq!(resolve(&st, &root, 5, 4), Ok(slot(TOP, 5)));
        assert_eq!(lookup_cap(&st, &root, 5, 4), Ok((slot(TOP, 5), Cap::endpoint(0x40))));
        // Bits above the depth are ignored.
        assert_eq!(resolve(&st, &root, 0xff05, 4), Ok(slot(TOP, 5)));
        assert_eq!(resolve(&st, &root, 15, 4), Ok(slot(TOP, 15)), "empty slot resolves");
        assert_eq!(lookup_cap(&st, &root, 15, 4), Err(LookupError::EmptySlot { bits_left: 0 }));
    }

    #[test]
    fn two_levels() {
        let mut st = store();
        let root = Cap::cnode(TOP, 4).unwrap();
        put(&mut st, slot(TOP, 2), Cap::cnode(SUB, 3).unwrap());
        put(&mut st, slot(SUB, 6), Cap::notification(0x80));
        // 4 bits (index 2) then 3 bits (index 6): 0b0010_110.
        assert_eq!(
            lookup_cap(&st, &root, 0b0010_110, 7),
            Ok((slot(SUB, 6), Cap::notification(0x80)))
        );
        // Depth 4 names the CNode cap itself.
        assert_eq!(lookup_cap(&st, &root, 0b0010, 4).unwrap().1, Cap::cnode(SUB, 3).unwrap());
        // The 7-bit path through an empty top slot.
        assert_eq!(
            resolve(&st, &root, 0b0011_110, 7),
            Err(LookupError::EmptySlot { bits_left: 3 })
        );
    }

    #[test]
    fn guards() {
        let mut st = store();
        // A 64-bit CPtr space: guard of 60 bits (value 0xabc) + radix 4.
        let root = Cap::cnode(TOP, 4).unwrap().with_guard(60, 0xabc).unwrap();
        put(&mut st, slot(TOP, 9), Cap::thread(0x800));
        assert_eq!(resolve(&st, &root, (0xabc << 4) | 9, 64), Ok(slot(TOP, 9)));
        let bad = (0xabd << 4) | 9;
        assert_eq!(
            resolve(&st, &root, bad, 64),
            Err(LookupError::GuardMismatch { bits_left: 64, guard_found: 0xabd, guard_bits: 60 })
        );
        // Guard on a second level: 2 guard bits (0b10) + radix 3.
        let root = Cap::cnode(TOP, 4).unwrap();
        put(&mut st, slot(TOP, 1), Cap::cnode(SUB, 3).unwrap().with_guard(2, 0b10).unwrap());
        put(&mut st, slot(SUB, 3), Cap::endpoint(0x20));
        assert_eq!(resolve(&st, &root, 0b0001_10_011, 9), Ok(slot(SUB, 3)));
        assert_eq!(
            resolve(&st, &root, 0b0001_11_011, 9),
            Err(LookupError::GuardMismatch { bits_left: 5, guard_found: 0b11, guard_bits: 2 })
        );
        // Fewer bits left than the guard needs.
        assert_eq!(
            resolve(&st, &root, 0b0001_1, 5),
            Err(LookupError::GuardMismatch { bits_left: 1, guard_found: 1, guard_bits: 2 })
        );
    }

    #[test]
    fn error_paths() {
        let mut st = store();
        let root = Cap::cnode(TOP, 4).unwrap();
        put(&mut st, slot(TOP, 1), Cap::endpoint(0x40));
        put(&mut st, slot(TOP, 2), Cap::cnode(SUB, 3).unwrap());
        assert_eq!(resolve(&st, &root, 1, 0), Err(LookupError::InvalidDepth { depth: 0 }));
        assert_eq!(resolve(&st, &root, 1, 65), Err(LookupError::InvalidDepth { depth: 65 }));
        assert_eq!(
            resolve(&st, &root, 1, u32::MAX),
            Err(LookupError::InvalidDepth { depth: u32::MAX })
        );
        let ep = Cap::endpoint(0x40);
        assert_eq!(
            resolve(&st, &ep, 1, 4),
            Err(LookupError::NotCNode { bits_left: 4, found: CapType::Endpoint })
        );
        assert_eq!(
            resolve(&st, &Cap::null(), 1, 4),
            Err(LookupError::NotCNode { bits_left: 4, found: CapType::Null })
        );
        // Through a non-CNode with bits left.
        assert_eq!(
            resolve(&st, &root, 0b0001_000, 7),
            Err(LookupError::NotCNode { bits_left: 3, found: CapType::Endpoint })
        );
        // Depth that ends inside the root's radix, then inside the second's.
        assert_eq!(
            resolve(&st, &root, 0, 3),
            Err(LookupError::DepthMismatch { bits_left: 3, bits_needed: 1 })
        );
        assert_eq!(
            resolve(&st, &root, 0b0010_1, 5),
            Err(LookupError::DepthMismatch { bits_left: 1, bits_needed: 2 })
        );
        assert_eq!(Error::from(LookupError::EmptySlot { bits_left: 0 }), Error::InvalidCapability);
    }

    #[test]
    fn full_64_bit_depth_and_self_loop() {
        let mut st = store();
        // A CNode whose slot 0 holds a cap to itself: 64 bits of zeros walk
        // it 16 times and end in slot 0; the walk always terminates.
        let root = Cap::cnode(TOP, 4).unwrap();
        put(&mut st, slot(TOP, 0), root);
        assert_eq!(resolve(&st, &root, 0, 64), Ok(slot(TOP, 0)));
        assert_eq!(resolve(&st, &root, 1 << 63, 64), Err(LookupError::EmptySlot { bits_left: 60 }));
        assert_eq!(resolve(&st, &root, 1, 64), Ok(slot(TOP, 1)));
        assert_eq!(
            resolve(&st, &root, 0, 62),
            Err(LookupError::DepthMismatch { bits_left: 2, bits_needed: 2 })
        );
    }

    #[test]
    fn take_bits_edges() {
        assert_eq!(take_bits(u64::MAX, 64, 64), u64::MAX);
        assert_eq!(take_bits(0x8000_0000_0000_0000, 64, 1), 1);
        assert_eq!(take_bits(0b1011, 4, 2), 0b10);
        assert_eq!(take_bits(0b1011, 2, 2), 0b11);
        assert_eq!(take_bits(u64::MAX, 5, 0), 0);
    }

    #[test]
    fn randomized_lookups_never_panic() {
        let mut st = store();
        let mut rng = XorShift(0x1234_5678_9abc_def1);
        // A random CSpace: CNodes of random radix and guard, linked at
        // random, plus endpoints, in the store's address range.
        let addrs = [0x1_0000u64, 0x2_0000, 0x3_0000];
        let mut cnodes = [Cap::null(); 3];
        for (i, &a) in addrs.iter().enumerate() {
            let radix = 1 + rng.below(8) as u8;
            // Mostly short guards so that random CPtrs sometimes match.
            let max_guard = if i == 0 { u64::from(64 - radix) } else { 3 };
            let gbits = rng.below(max_guard + 1) as u8;
            let guard = rng.next().checked_shr(64 - u32::from(gbits)).unwrap_or(0);
            cnodes[i] = Cap::cnode(a, radix).unwrap().with_guard(gbits, guard).unwrap();
        }
        for _ in 0..200 {
            let i = rng.below(3) as usize;
            let index = rng.below(1 << cnodes[i].cnode_radix());
            let cap = match rng.below(3) {
                0 => cnodes[rng.below(3) as usize],
                1 => Cap::endpoint(0x40),
                _ => continue,
            };
            let _ = insert_root(&mut st, slot(addrs[i], index), cap);
        }
        let mut hits = 0;
        for _ in 0..20_000 {
            let root = cnodes[rng.below(3) as usize];
            let cptr = match rng.below(3) {
                0 => rng.next(),
                1 => rng.below(1 << 12),
                _ => {
                    (root.cnode_guard() << (64 - u32::from(root.cnode_guard_bits()).max(1)))
                        | rng.below(256)
                }
            };
            let depth = match rng.below(4) {
                0 => rng.next() as u32,
                _ => rng.below(70) as u32,
            };
            if let Ok(id) = resolve(&st, &root, cptr, depth) {
                hits += 1;
                assert!(st.get(id).is_some(), "resolved outside the store: {id:?}");
            }
            let _ = lookup_cap(&st, &root, cptr, depth);
        }
        assert!(hits > 0);
    }
}
