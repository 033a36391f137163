#![allow(clippy::unwrap_used)]

use std::vec;
use std::vec::Vec;

use super::*;
use crate::testutil::{Store, XorShift, brute_final, check, sibling_list};

fn s(i: usize) -> SlotId {
    Store::id(i)
}

#[track_caller]
fn ok(store: &Store) {
    if let Err(e) = check(store) {
        panic!("invariant broken: {e}");
    }
}

const BASE: u64 = 0x10_0000;

/// Untyped root in slot 1; retyped endpoint (2), notification (3), thread (4).
fn objects() -> Store {
    let mut st = Store::new(32);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 20, false).unwrap()).unwrap();
    insert_child(&mut st, s(1), s(2), Cap::endpoint(BASE)).unwrap();
    insert_child(&mut st, s(1), s(3), Cap::notification(BASE + 0x20)).unwrap();
    insert_child(&mut st, s(1), s(4), Cap::thread(BASE + 0x800)).unwrap();
    ok(&st);
    st
}

/// `objects()` plus: 5 = copy of 2, 6 = mint of 2 (badge 7, read-only),
/// 7 = copy of 5, 8 = copy of 3.
fn tree() -> Store {
    let mut st = objects();
    copy(&mut st, s(2), s(5)).unwrap();
    mint(&mut st, s(2), s(6), Rights::READ, 7).unwrap();
    copy(&mut st, s(5), s(7)).unwrap();
    copy(&mut st, s(3), s(8)).unwrap();
    ok(&st);
    st
}

#[test]
fn slot_layout_is_64_zeroed_bytes() {
    assert_eq!(core::mem::size_of::<Slot>(), 64);
    assert_eq!(core::mem::size_of::<Links>(), 32);
    assert_eq!(Slot::default(), Slot::EMPTY);
    assert!(Slot::EMPTY.is_empty());
    assert_eq!(SlotId::NONE.get(), None);
    assert_eq!(SlotId(64).get(), Some(SlotId(64)));
}

#[test]
fn insert_child_links_and_errors() {
    let mut st = objects();
    assert_eq!(st.links(s(2)).parent, s(1));
    // Retyped objects go first after the parent's copies (it has none).
    assert_eq!(st.children(s(1)), vec![s(4), s(3), s(2)]);
    let before = st.clone();
    let ep = Cap::endpoint(BASE + 0x40);
    assert_eq!(insert_child(&mut st, s(1), s(2), ep), Err(Error::SlotOccupied));
    assert_eq!(insert_child(&mut st, s(9), s(10), ep), Err(Error::InvalidCapability));
    assert_eq!(insert_child(&mut st, s(1), s(10), Cap::null()), Err(Error::InvalidArgument));
    assert_eq!(insert_child(&mut st, s(1), SlotId(65), ep), Err(Error::InvalidCapability));
    assert_eq!(insert_child(&mut st, s(1), SlotId::NONE, ep), Err(Error::InvalidCapability));
    assert_eq!(insert_root(&mut st, s(1), ep), Err(Error::SlotOccupied));
    assert_eq!(insert_root(&mut st, s(9), Cap::null()), Err(Error::InvalidArgument));
    assert_eq!(st, before, "errors have no side effects");
}

#[test]
fn copies_and_mints_are_children_copies_first() {
    let st = tree();
    assert_eq!(st.children(s(2)), vec![s(6), s(5)], "newest copy first");
    assert_eq!(st.children(s(5)), vec![s(7)]);
    assert_eq!(st.cap(s(6)).badge(), 7);
    assert_eq!(st.cap(s(6)).rights(), Rights::READ);
    assert_eq!(st.cap(s(7)), st.cap(s(2)));
    assert!(has_children(&st, s(2)));
    assert!(!has_children(&st, s(7)));
    assert!(!has_children(&st, s(30)));
}

#[test]
fn copy_and_mint_errors_have_no_side_effects() {
    let mut st = tree();
    insert_child(&mut st, s(1), s(9), Cap::reply(BASE + 0x800)).unwrap();
    let before = st.clone();
    assert_eq!(copy(&mut st, s(20), s(21)), Err(Error::InvalidCapability));
    assert_eq!(copy(&mut st, s(2), s(3)), Err(Error::SlotOccupied));
    assert_eq!(copy(&mut st, s(2), s(2)), Err(Error::SlotOccupied));
    assert_eq!(copy(&mut st, s(9), s(20)), Err(Error::IllegalOperation));
    assert_eq!(mint(&mut st, s(6), s(20), Rights::ALL, 9), Err(Error::IllegalOperation));
    assert_eq!(mint(&mut st, s(4), s(20), Rights::ALL, 9), Err(Error::InvalidArgument));
    assert_eq!(copy(&mut st, s(1), s(20)), Err(Error::RevokeFirst), "untyped with children");
    assert_eq!(st, before);
    // A re-mint of a badged cap without a new badge is fine.
    mint(&mut st, s(6), s(20), Rights::NONE, 0).unwrap();
    assert_eq!(st.cap(s(20)).badge(), 7);
    assert_eq!(st.cap(s(20)).rights(), Rights::NONE);
    ok(&st);
}

#[test]
fn untyped_copy_needs_no_children() {
    let mut st = Store::new(8);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 16, false).unwrap()).unwrap();
    copy(&mut st, s(1), s(2)).unwrap();
    assert_eq!(copy(&mut st, s(1), s(3)), Err(Error::RevokeFirst), "second copy");
    // The copy carves; the original may not while the copy exists.
    assert_eq!(retype_source(&st, s(1)), Err(Error::RevokeFirst));
    let ut = retype_source(&st, s(2)).unwrap();
    assert_eq!(ut.watermark, 0);
    insert_child(&mut st, s(2), s(3), Cap::endpoint(BASE)).unwrap();
    ok(&st);
    assert_eq!(copy(&mut st, s(2), s(4)), Err(Error::RevokeFirst));
    assert_eq!(retype_source(&st, s(3)), Err(Error::WrongType));
    assert_eq!(retype_source(&st, s(6)), Err(Error::InvalidCapability));
}

#[test]
fn retype_source_resets_only_without_children() {
    let mut st = Store::new(8);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 16, false).unwrap()).unwrap();
    st.get_mut(s(1)).unwrap().cap_mut().set_untyped_watermark(0x100).unwrap();
    assert_eq!(retype_source(&st, s(1)).unwrap().watermark, 0, "no children: reset");
    insert_child(&mut st, s(1), s(2), Cap::endpoint(BASE)).unwrap();
    assert_eq!(retype_source(&st, s(1)).unwrap().watermark, 0x100, "children: keep");
}

#[test]
fn deleting_an_untyped_copy_hands_its_watermark_up() {
    let mut st = Store::new(8);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 16, false).unwrap()).unwrap();
    copy(&mut st, s(1), s(2)).unwrap();
    insert_child(&mut st, s(2), s(3), Cap::endpoint(BASE)).unwrap();
    st.get_mut(s(2)).unwrap().cap_mut().set_untyped_watermark(0x20).unwrap();
    let d = delete(&mut st, s(2)).unwrap();
    assert!(!d.is_final);
    ok(&st);
    assert_eq!(st.links(s(3)).parent, s(1));
    assert_eq!(st.cap(s(1)).untyped_watermark(), 0x20);
    // The original now carves after the endpoint, not over it.
    let ut = retype_source(&st, s(1)).unwrap();
    assert_eq!(ut.plan_retype(5, 1).unwrap().first, BASE + 0x20);
}

#[test]
fn delete_leaf_and_final_detection() {
    let mut st = tree();
    // The thread has one cap: final.
    let d = delete(&mut st, s(4)).unwrap();
    assert_eq!(d, Deleted { cap: Cap::thread(BASE + 0x800), is_final: true });
    ok(&st);
    assert!(st.cap(s(4)).is_null());
    // A copy of the notification: not final, then the last one is.
    assert!(!delete(&mut st, s(8)).unwrap().is_final);
    assert!(delete(&mut st, s(3)).unwrap().is_final);
    ok(&st);
    assert_eq!(delete(&mut st, s(3)), Err(Error::InvalidCapability));
    assert_eq!(st.children(s(1)), vec![s(2)]);
    assert!(is_final(&st, s(1)).unwrap());
}

#[test]
fn delete_non_top_splices_children_in_place() {
    let mut st = tree();
    // 5 is a copy of 2 with child 7; 2's children are [6, 5].
    let d = delete(&mut st, s(5)).unwrap();
    assert!(!d.is_final);
    ok(&st);
    assert_eq!(st.children(s(2)), vec![s(6), s(7)]);
    assert_eq!(st.links(s(7)).parent, s(2));
}

#[test]
fn delete_top_with_copies_keeps_them_together() {
    let mut st = tree();
    // The endpoint's original cap (a top, child of the untyped) goes; its
    // copies 6 and 5 take its place among the untyped's children.
    assert!(!delete(&mut st, s(2)).unwrap().is_final);
    ok(&st);
    assert_eq!(st.children(s(1)), vec![s(4), s(3), s(6), s(5)]);
    assert!(!is_final(&st, s(6)).unwrap());
    delete(&mut st, s(5)).unwrap();
    ok(&st);
    assert_eq!(st.children(s(1)), vec![s(4), s(3), s(6), s(7)]);
    assert!(!delete(&mut st, s(6)).unwrap().is_final);
    assert!(is_final(&st, s(7)).unwrap());
    assert!(delete(&mut st, s(7)).unwrap().is_final);
    ok(&st);
}

#[test]
fn delete_untyped_moves_objects_up_after_the_run() {
    // U (1) has a sub-untyped V (2) and an endpoint (3); W (4) is a copy
    // of V, and objects are carved from W.
    let mut st = Store::new(16);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 20, false).unwrap()).unwrap();
    let sub = Cap::untyped(BASE, 16, false).unwrap();
    insert_child(&mut st, s(1), s(2), sub).unwrap();
    insert_child(&mut st, s(1), s(3), Cap::endpoint(BASE + 0x1_0000)).unwrap();
    copy(&mut st, s(2), s(4)).unwrap();
    copy(&mut st, s(3), s(9)).unwrap();
    insert_child(&mut st, s(4), s(5), Cap::thread(BASE)).unwrap();
    insert_child(&mut st, s(4), s(6), Cap::endpoint(BASE + 0x800)).unwrap();
    ok(&st);
    // Delete V: its copy W becomes a top in V's place; objects stay under W.
    assert!(!delete(&mut st, s(2)).unwrap().is_final);
    ok(&st);
    assert_eq!(st.children(s(1)), vec![s(3), s(4)]);
    assert_eq!(st.children(s(4)), vec![s(6), s(5)]);
    // Delete W (final cap to the sub-region): the objects go to U.
    assert!(delete(&mut st, s(4)).unwrap().is_final);
    ok(&st);
    assert_eq!(st.children(s(1)), vec![s(3), s(6), s(5)]);
}

#[test]
fn delete_with_a_run_on_both_sides() {
    // Three top caps to one endpoint side by side: delete the middle one,
    // which has a copy and a foreign child; the copy takes its place, the
    // foreign child goes after the run.
    let mut st = Store::new(16);
    let ep = Cap::endpoint(0x40);
    insert_root(&mut st, s(1), Cap::untyped(0, 12, false).unwrap()).unwrap();
    insert_child(&mut st, s(1), s(2), ep).unwrap();
    copy(&mut st, s(2), s(3)).unwrap();
    copy(&mut st, s(2), s(4)).unwrap();
    copy(&mut st, s(2), s(5)).unwrap();
    insert_child(&mut st, s(1), s(10), Cap::thread(0x800)).unwrap();
    // 2's children: [5, 4, 3]. Give 4 a copy (6) and a foreign child (7).
    copy(&mut st, s(4), s(6)).unwrap();
    insert_child(&mut st, s(4), s(7), Cap::notification(0x60)).unwrap();
    assert_eq!(st.children(s(4)), vec![s(6), s(7)]);
    delete(&mut st, s(2)).unwrap();
    ok(&st);
    assert_eq!(st.children(s(1)), vec![s(10), s(5), s(4), s(3)]);
    delete(&mut st, s(4)).unwrap();
    ok(&st);
    assert_eq!(st.children(s(1)), vec![s(10), s(5), s(6), s(3), s(7)]);
}

#[test]
fn foreign_children_of_a_middle_top_go_after_the_run() {
    // Parent-less runs: copies of a boot-time root cap whose root goes.
    let mut st = Store::new(16);
    insert_root(&mut st, s(1), Cap::irq_control()).unwrap();
    copy(&mut st, s(1), s(2)).unwrap();
    copy(&mut st, s(1), s(3)).unwrap();
    // A foreign child under 3 (as if issued from it) and a copy of 3.
    insert_child(&mut st, s(3), s(4), Cap::irq_handler(5)).unwrap();
    copy(&mut st, s(3), s(5)).unwrap();
    assert_eq!(st.children(s(3)), vec![s(5), s(4)]);
    // Root goes: 3 and 2 become parent-less siblings.
    delete(&mut st, s(1)).unwrap();
    ok(&st);
    assert_eq!(sibling_list(&st, s(3)), vec![s(3), s(2)]);
    delete(&mut st, s(3)).unwrap();
    ok(&st);
    assert_eq!(sibling_list(&st, s(2)), vec![s(5), s(2), s(4)]);
    assert!(st.links(s(4)).parent.is_none());
    assert!(is_final(&st, s(4)).unwrap());
    assert!(!is_final(&st, s(2)).unwrap());
}

#[test]
fn delete_root_level_children_become_parentless_siblings() {
    let mut st = tree();
    let d = delete(&mut st, s(1)).unwrap();
    assert!(d.is_final);
    ok(&st);
    for id in [s(2), s(3), s(4)] {
        assert!(st.links(id).parent.is_none());
    }
    assert_eq!(sibling_list(&st, s(3)), vec![s(4), s(3), s(2)]);
    assert!(is_final(&st, s(4)).unwrap());
    delete(&mut st, s(3)).unwrap();
    ok(&st);
    assert_eq!(sibling_list(&st, s(2)), vec![s(4), s(8), s(2)]);
    assert!(is_final(&st, s(8)).unwrap());
}

#[test]
fn untyped_children_are_other_objects() {
    let mut st = Store::new(8);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 20, false).unwrap()).unwrap();
    // Same base, smaller: another object.
    insert_child(&mut st, s(1), s(2), Cap::untyped(BASE, 12, false).unwrap()).unwrap();
    assert!(is_final(&st, s(1)).unwrap());
    assert!(is_final(&st, s(2)).unwrap());
    // A frame at the untyped's base is another object too.
    insert_child(&mut st, s(2), s(3), Cap::frame(BASE, 12, false).unwrap()).unwrap();
    assert!(is_final(&st, s(2)).unwrap());
    assert!(is_final(&st, s(3)).unwrap());
    ok(&st);
    // A full-size sub-untyped is the same region: not final, and treated
    // like a copy (placed first, blocks the parent from carving).
    let mut st = Store::new(8);
    insert_root(&mut st, s(1), Cap::untyped(BASE, 16, false).unwrap()).unwrap();
    insert_child(&mut st, s(1), s(2), Cap::untyped(BASE, 16, false).unwrap()).unwrap();
    assert!(!is_final(&st, s(1)).unwrap());
    assert_eq!(retype_source(&st, s(1)), Err(Error::RevokeFirst));
    ok(&st);
}

#[test]
fn final_detection_in_every_position() {
    let mut st = tree();
    // Walk every deletion order of the endpoint's four caps (2, 5, 6, 7):
    // only the last deletion is final.
    let caps = [s(2), s(5), s(6), s(7)];
    for perm in permutations(&caps) {
        let mut t = st.clone();
        for (i, &id) in perm.iter().enumerate() {
            assert_eq!(is_final(&t, id), Ok(brute_final(&t, id)));
            let d = delete(&mut t, id).unwrap();
            assert_eq!(d.is_final, i == 3, "order {perm:?} step {i}");
            ok(&t);
        }
    }
    // And the notification's two caps, with the untyped deleted first.
    delete(&mut st, s(1)).unwrap();
    assert!(!delete(&mut st, s(3)).unwrap().is_final);
    assert!(delete(&mut st, s(8)).unwrap().is_final);
}

fn permutations(items: &[SlotId]) -> Vec<Vec<SlotId>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

#[test]
fn move_preserves_structure() {
    let mut st = tree();
    let before = st.clone();
    // Move a middle node (5: parent 2, sibling 6, child 7).
    move_cap(&mut st, s(5), s(20)).unwrap();
    ok(&st);
    assert!(st.cap(s(5)).is_null());
    assert_eq!(st.children(s(2)), vec![s(6), s(20)]);
    assert_eq!(st.children(s(20)), vec![s(7)]);
    assert_eq!(st.links(s(7)).parent, s(20));
    // Move the root and a head-of-list node.
    move_cap(&mut st, s(1), s(21)).unwrap();
    move_cap(&mut st, s(6), s(22)).unwrap();
    ok(&st);
    assert_eq!(st.children(s(21)), vec![s(4), s(3), s(2)]);
    assert_eq!(st.children(s(2)), vec![s(22), s(20)]);
    // And back: identical to the start.
    move_cap(&mut st, s(22), s(6)).unwrap();
    move_cap(&mut st, s(21), s(1)).unwrap();
    move_cap(&mut st, s(20), s(5)).unwrap();
    assert_eq!(st, before);
    assert_eq!(move_cap(&mut st, s(5), s(6)), Err(Error::SlotOccupied));
    assert_eq!(move_cap(&mut st, s(5), s(5)), Err(Error::SlotOccupied));
    assert_eq!(move_cap(&mut st, s(25), s(26)), Err(Error::InvalidCapability));
    assert_eq!(move_cap(&mut st, s(5), SlotId(7)), Err(Error::InvalidCapability));
    assert_eq!(st, before);
}

#[test]
fn revoke_in_small_steps_until_done() {
    let mut st = tree();
    let mut log: Vec<(Cap, bool)> = Vec::new();
    let mut rounds = 0;
    loop {
        let r = revoke(&mut st, s(1), 2, &mut |cap, fin| log.push((cap, fin))).unwrap();
        ok(&st);
        rounds += 1;
        if r == Revoke::Done {
            break;
        }
        assert!(rounds < 10);
    }
    assert_eq!(log.len(), 7);
    assert_eq!(rounds, 4, "7 deletions, 2 per round");
    assert_eq!(st.occupied(), vec![s(1)]);
    assert!(!has_children(&st, s(1)));
    // Exactly one final per object, and it is its last deletion.
    let finals: Vec<Cap> = log.iter().filter(|(_, f)| *f).map(|(c, _)| *c).collect();
    assert_eq!(finals.len(), 3);
    for (i, (cap, fin)) in log.iter().enumerate() {
        let later = log[i + 1..].iter().any(|(c, _)| c.same_object(cap));
        assert_eq!(*fin, !later);
    }
}

#[test]
fn revoke_post_order_deepest_first() {
    // A chain 1 -> 2 -> 3 -> 4 of copies plus a sibling 5 of 2.
    let mut st = Store::new(8);
    insert_root(&mut st, s(1), Cap::endpoint(0x40)).unwrap();
    copy(&mut st, s(1), s(2)).unwrap();
    copy(&mut st, s(2), s(3)).unwrap();
    copy(&mut st, s(3), s(4)).unwrap();
    copy(&mut st, s(1), s(5)).unwrap();
    // Order: 1's children are [5, 2]; 5 first, then 4, 3, 2.
    let mut order = Vec::new();
    loop {
        let r = revoke(&mut st, s(1), 1, &mut |_, fin| assert!(!fin)).unwrap();
        order.push(st.occupied());
        if r == Revoke::Done {
            break;
        }
    }
    assert_eq!(order.len(), 4);
    assert_eq!(order[0], vec![s(1), s(2), s(3), s(4)]);
    assert_eq!(order[1], vec![s(1), s(2), s(3)]);
    assert_eq!(order[2], vec![s(1), s(2)]);
    assert_eq!(order[3], vec![s(1)]);
    assert!(is_final(&st, s(1)).unwrap());
}

#[test]
fn revoke_edge_cases() {
    let mut st = tree();
    let before = st.clone();
    let mut calls = 0;
    let mut count = |_: Cap, _: bool| calls += 1;
    assert_eq!(revoke(&mut st, s(7), 5, &mut count), Ok(Revoke::Done), "a leaf");
    assert_eq!(revoke(&mut st, s(2), 0, &mut count), Ok(Revoke::Incomplete), "budget 0");
    assert_eq!(revoke(&mut st, s(30), 5, &mut count), Err(Error::InvalidCapability));
    assert_eq!(calls, 0);
    assert_eq!(st, before);
    // Revoking a copy leaves the other copies of the object alone.
    let mut n = 0;
    assert_eq!(
        revoke(&mut st, s(5), 9, &mut |_, fin| {
            n += 1;
            assert!(!fin)
        }),
        Ok(Revoke::Done)
    );
    assert_eq!(n, 1);
    assert!(st.cap(s(7)).is_null());
    assert!(!st.cap(s(6)).is_null());
    ok(&st);
}

// ---- randomized --------------------------------------------------------

const RETYPE_TYPES: [(CapType, u8); 6] = [
    (CapType::Endpoint, 0),
    (CapType::Notification, 0),
    (CapType::Thread, 0),
    (CapType::Frame, 12),
    (CapType::CNode, 2),
    (CapType::Untyped, 0), // size chosen at random
];

struct World {
    st: Store,
    root: SlotId,
    rng: XorShift,
}

impl World {
    fn random_slot(&mut self, occupied: bool) -> Option<SlotId> {
        let ids = if occupied { self.st.occupied() } else { self.st.empty() };
        self.rng.pick(&ids)
    }

    /// Retype from a random untyped the way the kernel will.
    fn retype(&mut self) -> Result<(), Error> {
        let untypeds: Vec<SlotId> = self
            .st
            .occupied()
            .into_iter()
            .filter(|&id| self.st.cap(id).cap_type() == CapType::Untyped)
            .collect();
        let u = self.rng.pick(&untypeds).ok_or(Error::InvalidCapability)?;
        let mut ut = retype_source(&self.st, u)?;
        let (ty, mut bits) = self.rng.pick(&RETYPE_TYPES).ok_or(Error::InvalidArgument)?;
        if ty == CapType::Untyped {
            bits = 4 + self.rng.below(u64::from(ut.size_bits) - 3) as u8;
        }
        let count = 1 + self.rng.below(3);
        let plan = ut.plan_retype(crate::untyped::object_size_bits(ty, bits)?, count)?;
        let dsts: Vec<SlotId> = self.st.empty().into_iter().take(count as usize).collect();
        if dsts.len() < count as usize {
            return Err(Error::SlotOccupied);
        }
        for (i, &dst) in dsts.iter().enumerate() {
            let addr = plan.object_addr(i as u64).ok_or(Error::RangeError)?;
            insert_child(&mut self.st, u, dst, Cap::for_object(ty, addr, bits, ut.device)?)?;
        }
        ut.commit(&plan);
        self.st
            .get_mut(u)
            .ok_or(Error::InvalidCapability)?
            .cap_mut()
            .set_untyped_watermark(ut.watermark)
    }

    fn step(&mut self) {
        let before = self.st.clone();
        let src = self.random_slot(true).unwrap_or(SlotId::NONE);
        let any = Store::id(1 + self.rng.below(self.st.slots.len() as u64 - 1) as usize);
        let dst = if self.rng.below(4) == 0 { any } else { self.random_slot(false).unwrap_or(any) };
        let irq_cap = self.random_irq_cap();
        // Keep the store from filling up: then mostly deletions.
        let kind = if self.st.empty().len() < 12 { 6 } else { self.rng.below(13) };
        let result = match kind {
            0..=2 => self.retype(),
            9 => self.issue_irq_handler(dst),
            10 if irq_cap.is_none() => insert_root(&mut self.st, dst, Cap::irq_control()),
            10 => copy(&mut self.st, irq_cap, dst),
            11 if self.rng.below(2) == 0 => delete(&mut self.st, irq_cap).map(|d| {
                assert_eq!(d.is_final, brute_final(&before, irq_cap));
            }),
            3 => copy(&mut self.st, src, dst),
            4 => {
                let rights = Rights::from_bits(self.rng.below(32) as u32).unwrap_or(Rights::ALL);
                let badge = self.rng.below(3);
                mint(&mut self.st, src, dst, rights, badge)
            }
            5 => {
                let r = move_cap(&mut self.st, src, dst);
                if r.is_ok() && src == self.root {
                    self.root = dst;
                }
                r
            }
            6 | 7 | 12 if src != self.root => delete(&mut self.st, src).map(|d| {
                assert_eq!(d.is_final, brute_final(&before, src));
            }),
            8 => self.partial_revoke(src),
            _ => Ok(()),
        };
        if result.is_err() {
            assert_eq!(self.st, before, "error {result:?} had side effects");
        }
        ok(&self.st);
        check_no_overlap(&self.st);
    }

    fn random_irq_cap(&mut self) -> SlotId {
        let irq = |c: Cap| matches!(c.cap_type(), CapType::IrqControl | CapType::IrqHandler);
        let caps: Vec<SlotId> =
            self.st.occupied().into_iter().filter(|&id| irq(self.st.cap(id))).collect();
        self.rng.pick(&caps).unwrap_or(SlotId::NONE)
    }

    /// IRQ control issues a handler, once per IRQ (the kernel checks its
    /// IRQ table; here: no cap to that handler exists).
    fn issue_irq_handler(&mut self, dst: SlotId) -> Result<(), Error> {
        let controls: Vec<SlotId> = self
            .st
            .occupied()
            .into_iter()
            .filter(|&id| self.st.cap(id).cap_type() == CapType::IrqControl)
            .collect();
        let ctl = self.rng.pick(&controls).ok_or(Error::InvalidCapability)?;
        let handler = Cap::irq_handler(self.rng.below(16));
        if self.st.occupied().iter().any(|&id| self.st.cap(id).same_object(&handler)) {
            return Err(Error::RevokeFirst);
        }
        insert_child(&mut self.st, ctl, dst, handler)
    }

    fn partial_revoke(&mut self, slot: SlotId) -> Result<(), Error> {
        let budget = self.rng.below(4);
        let mut log = Vec::new();
        revoke(&mut self.st, slot, budget, &mut |cap, fin| log.push((cap, fin)))?;
        assert!(log.len() as u64 <= budget);
        check_final_reports(&self.st, &log);
        Ok(())
    }
}

/// A final report must be the last deletion of its object, with no cap to
/// it left; and an object whose last cap went must have been reported.
fn check_final_reports(st: &Store, log: &[(Cap, bool)]) {
    for (i, (cap, fin)) in log.iter().enumerate() {
        let later = log[i + 1..].iter().any(|(c, _)| c.same_object(cap));
        let alive = st.occupied().iter().any(|&id| st.cap(id).same_object(cap));
        assert_eq!(*fin, !later && !alive, "{cap:?}");
    }
}

/// The memory `[start, end)` a cap's object occupies; `None` for caps to
/// objects that are not in memory (IRQ control, IRQ handlers).
fn region(c: &Cap) -> Option<(u64, u64)> {
    let user_bits = match c.cap_type() {
        CapType::CNode => c.cnode_radix(),
        _ => c.size_bits().unwrap_or(0),
    };
    let bits = crate::untyped::object_size_bits(c.cap_type(), user_bits).ok()?;
    Some((c.addr(), c.addr() + (1u64 << bits)))
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// Live objects never overlap each other, nor the free part of an untyped
/// that may carve (other than untyped regions containing that untyped).
fn check_no_overlap(st: &Store) {
    let caps: Vec<Cap> = st.occupied().iter().map(|&id| st.cap(id)).collect();
    let objects: Vec<(Cap, (u64, u64))> = caps
        .iter()
        .filter(|c| c.cap_type() != CapType::Untyped)
        .filter_map(|c| Some((*c, region(c)?)))
        .collect();
    for (i, (a, ra)) in objects.iter().enumerate() {
        for (b, rb) in &objects[i + 1..] {
            assert!(!overlap(*ra, *rb) || a.same_object(b), "{a:?} overlaps {b:?}");
        }
    }
    for id in st.occupied() {
        let Ok(ut) = retype_source(st, id) else { continue };
        let whole = (ut.base, ut.base + ut.size());
        let free = (ut.base + ut.watermark, whole.1);
        for c in &caps {
            let Some(r) = region(c) else { continue };
            let encloses = c.cap_type() == CapType::Untyped && r.0 <= whole.0 && whole.1 <= r.1;
            assert!(encloses || !overlap(r, free), "free part of {ut:?} overlaps live {c:?}");
        }
    }
}

#[test]
fn randomized_operations_keep_every_invariant() {
    for seed in 1..=5u64 {
        let mut w = World {
            st: Store::new(96),
            root: s(1),
            rng: XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        };
        insert_root(&mut w.st, s(1), Cap::untyped(BASE, 20, false).unwrap()).unwrap();
        // A second tree, whose root may be deleted: parent-less runs of
        // IRQ-control copies with handlers below them.
        insert_root(&mut w.st, s(2), Cap::irq_control()).unwrap();
        for _ in 0..1500 {
            w.step();
        }
        // Revoking the root in small steps always leaves only the root.
        let mut log = Vec::new();
        loop {
            let budget = 1 + w.rng.below(7);
            let r = revoke(&mut w.st, w.root, budget, &mut |c, f| log.push((c, f))).unwrap();
            ok(&w.st);
            if r == Revoke::Done {
                break;
            }
        }
        check_final_reports(&w.st, &log);
        let is_irq = |id: &SlotId| {
            matches!(w.st.cap(*id).cap_type(), CapType::IrqControl | CapType::IrqHandler)
        };
        let rest: Vec<SlotId> = w.st.occupied().into_iter().filter(|id| !is_irq(id)).collect();
        assert_eq!(rest, vec![w.root], "seed {seed}");
        assert_eq!(retype_source(&w.st, w.root).unwrap().watermark, 0);
    }
}
