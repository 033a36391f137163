//! The capability derivation tree (CDT): who was derived from whom.
//!
//! Every occupied slot is a node. A copy or mint is a child of its source;
//! an object made by retype is a child of the untyped cap it came from.
//! Revoking a cap deletes its descendants; deleting a cap re-parents its
//! children to its parent. The tree is kept in explicit links stored next to
//! each cap (parent, first child, next and previous sibling), so a slot is
//! 64 bytes: the cap (4 words) and the links (4 words), `#[repr(C)]`.
//!
//! The tree does not know where slots live. It works through [`SlotStore`]:
//! the kernel implements it over CNode memory (a [`SlotId`] is then the
//! physical address of the slot, reached through the direct map), the tests
//! over an array. [`SlotId::NONE`] is 0, so zeroed memory is a valid empty
//! slot with no links: the kernel zeroes a CNode when it creates it.
//!
//! Each operation first validates everything it will touch (no side effect
//! on error), then performs a change that cannot fail (seL4 style).
//!
//! # The final-cap invariants
//!
//! [`delete`] reports whether the deleted cap was the *final* cap to its
//! object (the kernel then destroys the object). Searching the whole tree
//! would be too slow, so the tree keeps three invariants that make it a
//! constant-time look at the neighbours ([`is_final`]). Call a cap to object
//! X a *top* if its parent is not a cap to X ([`Cap::same_object`]).
//!
//! 1. **Copies first**: in every child list, the caps to the parent's own
//!    object (copies of the parent) come before all other children.
//! 2. **Tops together**: all tops of one object are in one sibling list
//!    (the same parent, or the same parent-less list) ...
//! 3. ... **and contiguous** there.
//!
//! Then a cap to X has another cap to X somewhere iff its parent, its first
//! child, or its previous or next sibling is a cap to X: walking up from any
//! other cap to X through caps to X ends at a top; if that top is this cap,
//! its first child is a copy (1); otherwise there are two tops, and by (2, 3)
//! one is a neighbour of this one.
//!
//! Copies are inserted at the front of the source's children and new
//! objects after the copies, which keeps (1). [`delete`] splices the
//! children into the deleted cap's place among its siblings, except that
//! children which are *not* copies of the deleted cap are placed after the
//! run of caps to the deleted cap's object it sat in; that keeps (1)-(3)
//! (see [`delete`]). Revoke deletes leaves only.
//!
//! [`insert_child`] and [`insert_root`] must be given a cap to an object no
//! other cap refers to (a freshly made object, a boot-time cap); the kernel
//! guarantees that (retype carves fresh memory, IRQ handlers are issued
//! once per IRQ).
//!
//! # Untyped copies
//!
//! Copying an untyped cap is allowed only while it has no children (as in
//! seL4), so the caps to one untyped region form a chain of copies in which
//! only the last one can have objects below it. [`retype_source`] refuses a
//! cap with a copy below it, so only one cap per region carves at a time;
//! deleting a copy hands its watermark up to its parent along with its
//! objects. Together these keep two caps from carving the same memory.
//!
//! # What the kernel must do
//!
//! - Zero a CNode's memory when it creates it (all-zero is an empty slot),
//!   and change links only through this module.
//! - Empty a CNode before its final cap goes: this module does not look
//!   inside objects, so caps left in a destroyed CNode's slots would stay
//!   linked into the tree from freed memory. (seL4 uses "zombie" caps to
//!   delete such contents preemptibly; rint must do that or refuse.)
//! - Costs: `is_final`, copy and mint are O(1); insert_child walks the
//!   parent's copies (none for an untyped that may retype); move is
//!   O(children) (it re-points them); delete is O(children + the run of
//!   caps to the same object); revoke is O(1) amortised per deleted cap.
//!   Walks trust the links: a corrupted store can make them loop.

use libipc::abi::{CapType, Error, Rights};

use crate::cap::Cap;
use crate::untyped::Untyped;

/// Where a slot is: an opaque non-zero number chosen by the store (the
/// kernel uses the slot's physical address). 0 is [`SlotId::NONE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(transparent)]
pub struct SlotId(pub u64);

impl SlotId {
    /// No slot: a missing link.
    pub const NONE: SlotId = SlotId(0);

    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
    pub const fn is_some(self) -> bool {
        self.0 != 0
    }
    /// `None` for [`SlotId::NONE`].
    pub const fn get(self) -> Option<SlotId> {
        if self.is_none() { None } else { Some(self) }
    }
}

/// A slot's place in the derivation tree. Read-only outside this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Links {
    pub parent: SlotId,
    pub first_child: SlotId,
    pub next: SlotId,
    pub prev: SlotId,
}

impl Links {
    pub const NONE: Links = Links {
        parent: SlotId::NONE,
        first_child: SlotId::NONE,
        next: SlotId::NONE,
        prev: SlotId::NONE,
    };
}

/// One capability slot: 64 bytes, all-zero when empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Slot {
    cap: Cap,
    links: Links,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 64);
const _: () = assert!(core::mem::align_of::<Slot>() == 8);

impl Slot {
    pub const EMPTY: Slot = Slot { cap: Cap::null(), links: Links::NONE };

    pub const fn cap(&self) -> &Cap {
        &self.cap
    }
    /// For in-place state changes of the cap (untyped watermark, frame
    /// mapping): [`Cap`]'s mutators never change which object it names.
    /// Storing a different cap through this bypasses the tree: don't.
    pub fn cap_mut(&mut self) -> &mut Cap {
        &mut self.cap
    }
    pub const fn links(&self) -> &Links {
        &self.links
    }
    pub const fn is_empty(&self) -> bool {
        self.cap.is_null()
    }
}

/// Where slots live. `get` returns `None` for ids that are not slots
/// (including [`SlotId::NONE`]).
pub trait SlotStore {
    fn get(&self, id: SlotId) -> Option<&Slot>;
    fn get_mut(&mut self, id: SlotId) -> Option<&mut Slot>;
    /// The slot `index` of the CNode object at `cnode_addr` (the kernel:
    /// `cnode_addr + index * 64`). Called only with `index < 2^radix`.
    fn slot_of(&self, cnode_addr: u64, index: u64) -> SlotId;
}

/// What [`delete`] removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub cap: Cap,
    /// No other cap refers to the object: the kernel destroys it.
    pub is_final: bool,
}

/// How far [`revoke`] got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoke {
    /// No descendants are left.
    Done,
    /// The budget ran out; call again to continue.
    Incomplete,
}

// ---- reading -------------------------------------------------------------

/// The slot `id` if it holds a cap, else `InvalidCapability`.
fn occupied<S: SlotStore + ?Sized>(store: &S, id: SlotId) -> Result<Slot, Error> {
    match slot(store, id) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::InvalidCapability),
    }
}

/// `Ok` if `id` is an empty slot; `SlotOccupied` if it holds a cap.
fn vacant<S: SlotStore + ?Sized>(store: &S, id: SlotId) -> Result<(), Error> {
    match slot(store, id) {
        None => Err(Error::InvalidCapability),
        Some(s) if !s.is_empty() => Err(Error::SlotOccupied),
        Some(_) => Ok(()),
    }
}

fn slot<S: SlotStore + ?Sized>(store: &S, id: SlotId) -> Option<Slot> {
    if id.is_none() { None } else { store.get(id).copied() }
}

fn links_of<S: SlotStore + ?Sized>(store: &S, id: SlotId) -> Links {
    slot(store, id).map_or(Links::NONE, |s| s.links)
}

fn cap_at<S: SlotStore + ?Sized>(store: &S, id: SlotId) -> Cap {
    slot(store, id).map_or(Cap::null(), |s| s.cap)
}

/// `id` holds a cap to the same object as `cap`.
fn same<S: SlotStore + ?Sized>(store: &S, id: SlotId, cap: &Cap) -> bool {
    id.is_some() && cap_at(store, id).same_object(cap)
}

/// Whether the cap in `slot` has children (false for an empty slot).
pub fn has_children<S: SlotStore + ?Sized>(store: &S, slot: SlotId) -> bool {
    links_of(store, slot).first_child.is_some()
}

/// Whether the cap in `slot` is the only cap to its object. Constant time;
/// see the module documentation for why looking at the parent, the first
/// child and the two siblings is enough.
pub fn is_final<S: SlotStore + ?Sized>(store: &S, slot: SlotId) -> Result<bool, Error> {
    let s = occupied(store, slot)?;
    let l = s.links;
    let other =
        [l.parent, l.first_child, l.prev, l.next].into_iter().any(|id| same(store, id, &s.cap));
    Ok(!other)
}

/// The Untyped state to retype from the untyped cap in `slot`: with a fresh
/// watermark if it has no children (every object carved from it is gone).
/// `WrongType` for other caps, `RevokeFirst` if a copy of it exists below
/// it (then only that copy may carve). Commit the plan into the cap with
/// [`Cap::set_untyped_watermark`] after inserting the objects.
pub fn retype_source<S: SlotStore + ?Sized>(store: &S, slot: SlotId) -> Result<Untyped, Error> {
    let s = occupied(store, slot)?;
    let mut ut = Untyped::from_cap(&s.cap)?;
    if same(store, s.links.first_child, &s.cap) {
        return Err(Error::RevokeFirst);
    }
    if s.links.first_child.is_none() {
        ut.reset();
    }
    Ok(ut)
}

// ---- linking (infallible; missing slots are skipped) ----------------------

fn edit<S: SlotStore + ?Sized>(store: &mut S, id: SlotId, f: impl FnOnce(&mut Links)) {
    if id.is_some()
        && let Some(s) = store.get_mut(id)
    {
        f(&mut s.links);
    }
}

/// Make `b` follow `a` in the child list of `parent`. `a` NONE: `b` is the
/// head (the parent's first child); `b` NONE: `a` is the tail.
fn join<S: SlotStore + ?Sized>(store: &mut S, parent: SlotId, a: SlotId, b: SlotId) {
    if a.is_some() {
        edit(store, a, |l| l.next = b);
    } else {
        edit(store, parent, |l| l.first_child = b);
    }
    edit(store, b, |l| l.prev = a);
}

/// A run of siblings, first and last; `None` if empty.
type Seg = Option<(SlotId, SlotId)>;

/// Put `seg` between `a` and `b` (or join `a` to `b` if it is empty).
fn chain<S: SlotStore + ?Sized>(store: &mut S, parent: SlotId, a: SlotId, seg: Seg, b: SlotId) {
    match seg {
        Some((first, last)) => {
            join(store, parent, a, first);
            join(store, parent, last, b);
        }
        None => join(store, parent, a, b),
    }
}

/// Write `cap` into the empty slot `dst` as a child of `parent`: at the
/// front if it is a copy of the parent's cap, else after the copies
/// (invariant 1).
fn place_child<S: SlotStore + ?Sized>(
    store: &mut S,
    parent: SlotId,
    dst: SlotId,
    cap: Cap,
) -> Result<(), Error> {
    let parent_cap = cap_at(store, parent);
    let mut after = SlotId::NONE;
    if !cap.same_object(&parent_cap) {
        let mut cur = links_of(store, parent).first_child;
        while same(store, cur, &parent_cap) {
            after = cur;
            cur = links_of(store, cur).next;
        }
    }
    let before = if after.is_some() {
        links_of(store, after).next
    } else {
        links_of(store, parent).first_child
    };
    let dst_slot = store.get_mut(dst).ok_or(Error::InvalidCapability)?;
    *dst_slot = Slot { cap, links: Links { parent, ..Links::NONE } };
    chain(store, parent, after, Some((dst, dst)), before);
    Ok(())
}

// ---- operations ----------------------------------------------------------

/// Put a parent-less cap into the empty slot `dst` (boot-time caps: the
/// root untypeds, IRQ control, the initial objects' first caps).
pub fn insert_root<S: SlotStore + ?Sized>(
    store: &mut S,
    dst: SlotId,
    cap: Cap,
) -> Result<(), Error> {
    if cap.is_null() {
        return Err(Error::InvalidArgument);
    }
    vacant(store, dst)?;
    let dst_slot = store.get_mut(dst).ok_or(Error::InvalidCapability)?;
    *dst_slot = Slot { cap, links: Links::NONE };
    Ok(())
}

/// Put `cap` (to a fresh object) into the empty slot `dst` as a child of
/// the cap in `parent` (retype: the untyped). `dst` occupied:
/// `SlotOccupied`; `parent` empty: `InvalidCapability`.
pub fn insert_child<S: SlotStore + ?Sized>(
    store: &mut S,
    parent: SlotId,
    dst: SlotId,
    cap: Cap,
) -> Result<(), Error> {
    if cap.is_null() {
        return Err(Error::InvalidArgument);
    }
    occupied(store, parent)?;
    vacant(store, dst)?;
    place_child(store, parent, dst, cap)
}

/// Copy the cap in `src` into the empty slot `dst`, as a child of `src`.
/// See [`Cap::derive`]; an untyped cap with children cannot be copied
/// (`RevokeFirst`).
pub fn copy<S: SlotStore + ?Sized>(store: &mut S, src: SlotId, dst: SlotId) -> Result<(), Error> {
    derive_into(store, src, dst, |cap| cap.derive())
}

/// Like [`copy`], with rights reduced and optionally a badge ([`Cap::mint`]).
pub fn mint<S: SlotStore + ?Sized>(
    store: &mut S,
    src: SlotId,
    dst: SlotId,
    rights: Rights,
    badge: u64,
) -> Result<(), Error> {
    derive_into(store, src, dst, |cap| cap.mint(rights, badge))
}

fn derive_into<S: SlotStore + ?Sized>(
    store: &mut S,
    src: SlotId,
    dst: SlotId,
    make: impl FnOnce(&Cap) -> Result<Cap, Error>,
) -> Result<(), Error> {
    let s = occupied(store, src)?;
    vacant(store, dst)?;
    let cap = make(&s.cap)?;
    if s.cap.cap_type() == CapType::Untyped && s.links.first_child.is_some() {
        return Err(Error::RevokeFirst);
    }
    place_child(store, src, dst, cap)
}

/// Move the cap in `src` to the empty slot `dst`, with its place in the
/// tree (parent, children, siblings); `src` becomes empty.
pub fn move_cap<S: SlotStore + ?Sized>(
    store: &mut S,
    src: SlotId,
    dst: SlotId,
) -> Result<(), Error> {
    let s = occupied(store, src)?;
    vacant(store, dst)?;
    *store.get_mut(dst).ok_or(Error::InvalidCapability)? = s;
    if let Some(old) = store.get_mut(src) {
        *old = Slot::EMPTY;
    }
    let l = s.links;
    join(store, l.parent, l.prev, dst);
    join(store, l.parent, dst, l.next);
    let mut child = l.first_child;
    while child.is_some() {
        edit(store, child, |c| c.parent = dst);
        child = links_of(store, child).next;
    }
    Ok(())
}

/// Delete the cap in `slot`. Its children move up to its parent, spliced
/// into its place among its siblings; children that are not copies of it
/// go after the run of caps to its object that it sat in (so the caps to
/// one object stay together, module invariants 1-3). If it was an untyped
/// copy, its parent's watermark rises to cover what it carved.
pub fn delete<S: SlotStore + ?Sized>(store: &mut S, slot: SlotId) -> Result<Deleted, Error> {
    let s = occupied(store, slot)?;
    let is_final = is_final(store, slot)?;
    let (cap, l) = (s.cap, s.links);
    let (copies, others) = split_children(store, l.first_child, &cap);
    let run_tail = run_tail(store, l.next, &cap);

    let mut child = l.first_child;
    while child.is_some() {
        edit(store, child, |c| c.parent = l.parent);
        child = links_of(store, child).next;
    }
    chain(store, l.parent, l.prev, copies, l.next);
    if others.is_some() {
        let (a, b) = match (run_tail.get(), copies) {
            (Some(tail), _) => (tail, links_of(store, tail).next),
            (None, Some((_, last))) => (last, l.next),
            (None, None) => (l.prev, l.next),
        };
        chain(store, l.parent, a, others, b);
    }
    if cap.cap_type() == CapType::Untyped
        && let Some(p) = store.get_mut(l.parent).filter(|p| p.cap.same_object(&cap))
    {
        p.cap.raise_untyped_watermark(cap.untyped_watermark());
    }
    if let Some(old) = store.get_mut(slot) {
        *old = Slot::EMPTY;
    }
    Ok(Deleted { cap, is_final })
}

/// Split a child list into the leading copies of `cap` and the rest.
fn split_children<S: SlotStore + ?Sized>(store: &S, first: SlotId, cap: &Cap) -> (Seg, Seg) {
    let mut last_copy = SlotId::NONE;
    let mut cur = first;
    while same(store, cur, cap) {
        last_copy = cur;
        cur = links_of(store, cur).next;
    }
    let copies = last_copy.get().map(|last| (first, last));
    let others = cur.get().map(|f| (f, last_in_list(store, f)));
    (copies, others)
}

fn last_in_list<S: SlotStore + ?Sized>(store: &S, mut id: SlotId) -> SlotId {
    loop {
        let next = links_of(store, id).next;
        if next.is_none() {
            return id;
        }
        id = next;
    }
}

/// The last of the caps to `cap`'s object that follow, one after another,
/// from `from` on; NONE if `from` is not one.
fn run_tail<S: SlotStore + ?Sized>(store: &S, from: SlotId, cap: &Cap) -> SlotId {
    let mut tail = SlotId::NONE;
    let mut cur = from;
    while same(store, cur, cap) {
        tail = cur;
        cur = links_of(store, cur).next;
    }
    tail
}

/// Delete every descendant of the cap in `slot`, deepest first, calling
/// `on_delete(cap, is_final)` after each so the kernel can destroy final
/// objects. Stops after `budget` deletions with [`Revoke::Incomplete`]
/// (a preemption point: call again to continue). The cap in `slot` stays.
pub fn revoke<S: SlotStore + ?Sized>(
    store: &mut S,
    slot: SlotId,
    budget: u64,
    on_delete: &mut dyn FnMut(Cap, bool),
) -> Result<Revoke, Error> {
    occupied(store, slot)?;
    let mut cursor = slot;
    let mut deleted = 0u64;
    loop {
        let leaf = deepest_first_descendant(store, cursor);
        if leaf == slot {
            return Ok(Revoke::Done);
        }
        if deleted >= budget {
            return Ok(Revoke::Incomplete);
        }
        cursor = links_of(store, leaf).parent;
        let d = delete(store, leaf)?;
        on_delete(d.cap, d.is_final);
        deleted += 1;
    }
}

/// Follow first-child links from `id` down to a cap without children.
fn deepest_first_descendant<S: SlotStore + ?Sized>(store: &S, mut id: SlotId) -> SlotId {
    loop {
        let child = links_of(store, id).first_child;
        if child.is_none() {
            return id;
        }
        id = child;
    }
}

#[cfg(test)]
mod tests;
