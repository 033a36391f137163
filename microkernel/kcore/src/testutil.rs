//! Test support: an array slot store laid out like the kernel's (a slot id
//! is a "physical address", 64 bytes apart), a checker for every tree
//! invariant, and a seeded PRNG.

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use crate::cap::Cap;
use crate::cdt::{self, Links, Slot, SlotId, SlotStore};

/// `n` slots with ids 64, 128, ..., `n * 64` (id 0 is NONE).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Store {
    pub slots: Vec<Slot>,
}

impl Store {
    pub fn new(n: usize) -> Store {
        Store { slots: vec![Slot::EMPTY; n + 1] }
    }
    pub fn id(i: usize) -> SlotId {
        SlotId(i as u64 * 64)
    }
    pub fn ids(&self) -> impl Iterator<Item = SlotId> + use<> {
        (1..self.slots.len()).map(Store::id)
    }
    pub fn cap(&self, id: SlotId) -> Cap {
        self.get(id).map_or(Cap::null(), |s| *s.cap())
    }
    pub fn links(&self, id: SlotId) -> Links {
        self.get(id).map_or(Links::NONE, |s| *s.links())
    }
    pub fn occupied(&self) -> Vec<SlotId> {
        self.ids().filter(|&id| !self.cap(id).is_null()).collect()
    }
    pub fn empty(&self) -> Vec<SlotId> {
        self.ids().filter(|&id| self.cap(id).is_null()).collect()
    }
    /// The children of `id` in list order.
    pub fn children(&self, id: SlotId) -> Vec<SlotId> {
        let mut out = Vec::new();
        let mut cur = self.links(id).first_child;
        while cur.is_some() && out.len() < self.slots.len() {
            out.push(cur);
            cur = self.links(cur).next;
        }
        out
    }
    fn index(id: SlotId) -> Option<usize> {
        (id.0 != 0 && id.0.is_multiple_of(64)).then_some((id.0 / 64) as usize)
    }
}

impl SlotStore for Store {
    fn get(&self, id: SlotId) -> Option<&Slot> {
        self.slots.get(Store::index(id)?)
    }
    fn get_mut(&mut self, id: SlotId) -> Option<&mut Slot> {
        self.slots.get_mut(Store::index(id)?)
    }
    fn slot_of(&self, cnode_addr: u64, index: u64) -> SlotId {
        SlotId(cnode_addr.wrapping_add(index.wrapping_mul(64)))
    }
}

/// No other cap in the store names the same object (by a full scan).
pub fn brute_final(store: &Store, id: SlotId) -> bool {
    let cap = store.cap(id);
    store.ids().all(|o| o == id || !store.cap(o).same_object(&cap))
}

/// Check every structural invariant and the final-cap invariants 1-3 of
/// [`crate::cdt`], and that `is_final` agrees with a full scan.
pub fn check(store: &Store) -> Result<(), String> {
    let n = store.slots.len();
    for id in store.ids() {
        check_slot(store, id, n)?;
    }
    check_tops(store)?;
    for id in store.occupied() {
        let fast = cdt::is_final(store, id).map_err(|e| format!("is_final({id:?}): {e:?}"))?;
        if fast != brute_final(store, id) {
            return Err(format!("is_final({id:?}) = {fast}, scan says otherwise"));
        }
    }
    Ok(())
}

fn check_slot(store: &Store, id: SlotId, n: usize) -> Result<(), String> {
    let l = store.links(id);
    if store.cap(id).is_null() {
        return if l == Links::NONE {
            Ok(())
        } else {
            Err(format!("empty {id:?} has links {l:?}"))
        };
    }
    for link in [l.parent, l.first_child, l.next, l.prev] {
        if link.is_some() && store.cap(link).is_null() {
            return Err(format!("{id:?} links to empty or missing {link:?}"));
        }
    }
    let fail = |what: &str| Err(format!("{id:?}: {what} ({l:?})"));
    if l.next.is_some()
        && (store.links(l.next).prev != id || store.links(l.next).parent != l.parent)
    {
        return fail("next.prev or next.parent wrong");
    }
    if l.prev.is_some() && store.links(l.prev).next != id {
        return fail("prev.next wrong");
    }
    if l.prev.is_none() && l.parent.is_some() && store.links(l.parent).first_child != id {
        return fail("head of list but parent.first_child differs");
    }
    if l.first_child.is_some() && store.links(l.first_child).prev.is_some() {
        return fail("first child has a prev");
    }
    // Parent chain ends (no cycles through parents).
    let mut up = l.parent;
    for _ in 0..n {
        if up.is_none() {
            break;
        }
        up = store.links(up).parent;
    }
    if up.is_some() {
        return fail("parent chain has a cycle");
    }
    let kids = store.children(id);
    if kids.len() >= n {
        return fail("child list has a cycle");
    }
    if kids.iter().any(|&k| store.links(k).parent != id) {
        return fail("a child names another parent");
    }
    // Invariant 1: copies of this cap's object first.
    let cap = store.cap(id);
    let copies = kids.iter().take_while(|&&k| store.cap(k).same_object(&cap)).count();
    if kids[copies..].iter().any(|&k| store.cap(k).same_object(&cap)) {
        return fail("a copy after a non-copy child");
    }
    Ok(())
}

/// Invariants 2 and 3: the tops of each object are contiguous in one list.
fn check_tops(store: &Store) -> Result<(), String> {
    let tops: Vec<SlotId> = store
        .occupied()
        .into_iter()
        .filter(|&id| !store.cap(store.links(id).parent).same_object(&store.cap(id)))
        .collect();
    for &t in &tops {
        let cap = store.cap(t);
        let mine: Vec<SlotId> =
            tops.iter().copied().filter(|&o| store.cap(o).same_object(&cap)).collect();
        let list = sibling_list(store, t);
        let pos: Vec<usize> =
            mine.iter().filter_map(|m| list.iter().position(|x| x == m)).collect();
        if pos.len() != mine.len() {
            return Err(format!("tops of {cap:?} are in different lists: {mine:?}"));
        }
        let (lo, hi) = (pos.iter().min(), pos.iter().max());
        if let (Some(lo), Some(hi)) = (lo, hi)
            && hi - lo + 1 != pos.len()
        {
            return Err(format!("tops of {cap:?} not contiguous in {list:?}"));
        }
    }
    Ok(())
}

/// The whole sibling list `id` is in, in order.
pub fn sibling_list(store: &Store, id: SlotId) -> Vec<SlotId> {
    let mut head = id;
    for _ in 0..store.slots.len() {
        let prev = store.links(head).prev;
        if prev.is_none() {
            break;
        }
        head = prev;
    }
    let mut out = Vec::new();
    let mut cur = head;
    while cur.is_some() && out.len() <= store.slots.len() {
        out.push(cur);
        cur = store.links(cur).next;
    }
    out
}

/// xorshift64*: small, seeded, good enough for test inputs.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        items.get(self.below(items.len() as u64) as usize).copied()
    }
}
