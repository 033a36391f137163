//! CNodes: copy, mint, move, delete, revoke, identify, nested CNodes, and
//! their errors. Whether a slot holds a working capability is probed with
//! `NbSend` on an endpoint (`WouldBlock`: the cap works, nobody waits) or a
//! signal on a notification.

use libipc::abi::{CapType, Error, Invocation, Rights};
use libipc::cap::{CNode, Cap, Endpoint, Identity, PageTable, VSpace, init};

use crate::arch::FREE_IRQ;

use crate::env::{Env, mi};
use crate::fmt::TestResult;

/// `Ok` if `ep` is a working endpoint cap with the write right.
fn probe(ep: Cap<Endpoint>) -> Result<(), Error> {
    match ep.nb_send(mi(0, 0), &[]) {
        Err(Error::WouldBlock) => Ok(()),
        Ok(()) => Err(Error::IllegalOperation),
        Err(e) => Err(e),
    }
}

pub fn cnode_copy_rights(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let all = env.copy(ep, Rights::ALL)?;
    ok!(probe(all));
    let read_only = env.copy(ep, Rights::READ)?;
    expect_err!(probe(read_only), Error::InsufficientRights);
    // Rights only shrink: a copy of the read-only copy asking for all
    // rights is still read-only.
    let again = env.copy(read_only, Rights::ALL)?;
    expect_err!(probe(again), Error::InsufficientRights);
    let none = env.copy(ep, Rights::NONE)?;
    expect_err!(probe(none), Error::InsufficientRights);
    Ok(())
}

pub fn cnode_mint_badge(env: &mut Env) -> TestResult {
    let n = env.notification()?;
    let b40 = env.mint(n, Rights::ALL, 0x40)?;
    let b01 = env.mint(n, Rights::WRITE, 0x01)?;
    ok!(b40.signal());
    ok!(b01.signal());
    check_eq!(ok!(n.poll()), 0x41);
    // The write-only mint cannot wait.
    expect_err!(b01.poll(), Error::InsufficientRights);
    // Minting an endpoint with fewer rights.
    let ep = env.endpoint()?;
    let read_only = env.mint(ep, Rights::READ, 7)?;
    expect_err!(probe(read_only), Error::InsufficientRights);
    let writer = env.mint(ep, Rights::WRITE, 8)?;
    ok!(probe(writer));
    Ok(())
}

pub fn cnode_move(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let dest = env.slot()?;
    ok!(init::CNODE.move_(dest, init::CNODE, ep.slot()));
    expect_err!(probe(ep), Error::InvalidCapability);
    ok!(probe(Cap::from_slot(dest)));
    // Moving into an occupied slot fails and changes nothing.
    let other = env.endpoint()?;
    expect_err!(init::CNODE.move_(other.slot(), init::CNODE, dest), Error::SlotOccupied);
    ok!(probe(Cap::from_slot(dest)));
    ok!(probe(other));
    Ok(())
}

pub fn cnode_delete(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let copy = env.copy(ep, Rights::ALL)?;
    ok!(init::CNODE.delete(copy.slot()));
    expect_err!(probe(copy), Error::InvalidCapability);
    ok!(probe(ep));
    // The slot is free again.
    ok!(init::CNODE.copy(copy.slot(), init::CNODE, ep.slot(), Rights::ALL));
    ok!(probe(copy));
    Ok(())
}

pub fn cnode_revoke(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let child = env.copy(ep, Rights::ALL)?;
    let grandchild = env.mint(child, Rights::ALL, 5)?;
    let unrelated = env.endpoint()?;
    ok!(init::CNODE.revoke(ep.slot()));
    expect_err!(probe(child), Error::InvalidCapability);
    expect_err!(probe(grandchild), Error::InvalidCapability);
    ok!(probe(ep));
    ok!(probe(unrelated));
    // Revoking a cap without children is fine.
    ok!(init::CNODE.revoke(ep.slot()));
    ok!(probe(ep));
    Ok(())
}

pub fn cnode_nested(env: &mut Env) -> TestResult {
    let k: Cap<CNode> = env.retype(4)?;
    let ep = env.endpoint()?;
    ok!(k.copy(3, init::CNODE, ep.slot(), Rights::ALL));
    ok!(k.move_(4, k, 3));
    let out = env.slot()?;
    expect_err!(init::CNODE.copy(out, k, 3, Rights::ALL), Error::InvalidCapability);
    ok!(init::CNODE.copy(out, k, 4, Rights::ALL));
    ok!(probe(Cap::from_slot(out)));
    // Revoking the original reaches into the other CNode.
    ok!(init::CNODE.revoke(ep.slot()));
    expect_err!(probe(Cap::from_slot(out)), Error::InvalidCapability);
    let out2 = env.slot()?;
    expect_err!(init::CNODE.copy(out2, k, 4, Rights::ALL), Error::InvalidCapability);
    Ok(())
}

pub fn cnode_errors(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let occupied = env.endpoint()?;
    let empty = env.slot()?;
    let dest = env.slot()?;
    let slots = 1u64 << env.radix();
    let c = init::CNODE;
    expect_err!(c.copy(occupied.slot(), c, ep.slot(), Rights::ALL), Error::SlotOccupied);
    expect_err!(c.copy(dest, c, empty, Rights::ALL), Error::InvalidCapability);
    expect_err!(c.mint(dest, c, empty, Rights::ALL, 1), Error::InvalidCapability);
    expect_err!(c.move_(dest, c, empty), Error::InvalidCapability);
    expect_err!(c.copy(slots, c, ep.slot(), Rights::ALL), Error::RangeError);
    expect_err!(c.copy(dest, c, slots, Rights::ALL), Error::RangeError);
    expect_err!(c.delete(slots), Error::RangeError);
    expect_err!(c.revoke(u64::MAX), Error::RangeError);
    // Unknown rights bits.
    let words = [dest, ep.slot(), 0x20];
    expect_err!(
        c.invoke(Invocation::CNodeCopy, &words, &[c.cptr()]).map(drop),
        Error::InvalidArgument
    );
    // Slot 0 is the kernel's.
    expect_err!(c.copy(0, c, ep.slot(), Rights::ALL), Error::RangeError);
    expect_err!(c.copy(dest, c, 0, Rights::ALL), Error::RangeError);
    // Revoking an empty slot fails; deleting one is fine.
    expect_err!(c.revoke(empty), Error::InvalidCapability);
    ok!(c.delete(empty));
    // The source CNode argument must be a CNode.
    expect_err!(c.copy(dest, ep.cast(), ep.slot(), Rights::ALL), Error::WrongType);
    // Badges: set once, and only on endpoints and notifications.
    let badged = env.mint(ep, Rights::ALL, 9)?;
    expect_err!(c.mint(dest, c, badged.slot(), Rights::ALL, 10), Error::IllegalOperation);
    let f = env.frame()?;
    expect_err!(c.mint(dest, c, f.slot(), Rights::ALL, 1), Error::InvalidArgument);
    // An untyped that has carved objects is not copied.
    let u: Cap<libipc::cap::Untyped> = env.retype(12)?;
    let obj = env.slot()?;
    ok!(u.retype(libipc::abi::CapType::Endpoint, 0, c, obj, 1));
    expect_err!(c.copy(dest, c, u.slot(), Rights::ALL), Error::RevokeFirst);
    // Nothing above created anything.
    expect_err!(probe(Cap::from_slot(dest)), Error::InvalidCapability);
    Ok(())
}

/// `CNodeIdentify` on the root CNode's slot `slot` is `ty` with `rights`
/// and `badged`.
fn identify_is(
    cnode: Cap<CNode>,
    slot: u64,
    ty: CapType,
    rights: Rights,
    badged: bool,
) -> Result<(), crate::fmt::Fail> {
    let id = ok!(cnode.identify(slot));
    check_eq!(id, Identity { ty, rights, badged }, "(slot {slot})");
    Ok(())
}

pub fn cnode_identify(env: &mut Env) -> TestResult {
    let c = init::CNODE;
    let all = Rights::ALL;
    // The root task's initial caps, each its own type.
    identify_is(c, init::THREAD.slot(), CapType::Thread, all, false)?;
    identify_is(c, c.slot(), CapType::CNode, all, false)?;
    identify_is(c, init::VSPACE.slot(), CapType::VSpace, all, false)?;
    identify_is(c, init::IRQ_CONTROL.slot(), CapType::IrqControl, all, false)?;
    #[cfg(target_arch = "x86_64")]
    identify_is(c, init::IO_PORTS.slot(), CapType::IoPort, all, false)?;
    #[cfg(target_arch = "riscv64")]
    identify_is(c, init::IO_PORTS.slot(), CapType::Null, Rights::NONE, false)?;
    let boot_frame = ok!(c.identify(init::BOOT_INFO_FRAME.slot()));
    check_eq!(boot_frame.ty, CapType::Frame);
    check_eq!(ok!(c.identify(init::IPC_BUFFER.slot())).ty, CapType::Frame);
    identify_is(c, init::TRACE.slot(), CapType::Trace, all, false)?;
    identify_is(c, init::SCHED_CONTROL.slot(), CapType::SchedControl, all, false)?;
    check_eq!(ok!(c.identify(env.boot.archive_frames.start)).ty, CapType::Frame);
    check_eq!(ok!(c.identify(env.boot.untyped.start)).ty, CapType::Untyped);
    // New objects of every other type.
    let ep = env.endpoint()?;
    identify_is(c, ep.slot(), CapType::Endpoint, all, false)?;
    let n = env.notification()?;
    identify_is(c, n.slot(), CapType::Notification, all, false)?;
    identify_is(c, env.frame()?.slot(), CapType::Frame, all, false)?;
    let pt: Cap<PageTable> = env.retype(0)?;
    identify_is(c, pt.slot(), CapType::PageTable, all, false)?;
    let vs: Cap<VSpace> = env.retype(0)?;
    identify_is(c, vs.slot(), CapType::VSpace, all, false)?;
    let k: Cap<CNode> = env.retype(4)?;
    identify_is(c, k.slot(), CapType::CNode, all, false)?;
    let (t, _, _) = env.thread()?;
    identify_is(c, t.slot(), CapType::Thread, all, false)?;
    let u: Cap<libipc::cap::Untyped> = env.retype(12)?;
    identify_is(c, u.slot(), CapType::Untyped, all, false)?;
    let h = env.slot()?;
    ok!(init::IRQ_CONTROL.get(FREE_IRQ, c, h));
    let handler = c.identify(h);
    ok!(c.delete(h));
    check_eq!(ok!(handler), Identity { ty: CapType::IrqHandler, rights: all, badged: false });
    // Rights and badges as minted; a badge of 0 is no badge.
    let rw = Rights::READ.union(Rights::WRITE);
    let sender = env.mint(ep, Rights::WRITE, 0x77)?;
    identify_is(c, sender.slot(), CapType::Endpoint, Rights::WRITE, true)?;
    let signaller = env.mint(n, rw, 1)?;
    identify_is(c, signaller.slot(), CapType::Notification, rw, true)?;
    identify_is(c, env.mint(ep, rw, 0)?.slot(), CapType::Endpoint, rw, false)?;
    identify_is(c, env.copy(ep, Rights::NONE)?.slot(), CapType::Endpoint, Rights::NONE, false)?;
    // An empty slot holds the null cap.
    identify_is(c, env.slot()?, CapType::Null, Rights::NONE, false)?;
    // Another CNode's slots, empty or not.
    ok!(k.copy(3, c, n.slot(), Rights::READ));
    identify_is(k, 3, CapType::Notification, Rights::READ, false)?;
    identify_is(k, 4, CapType::Null, Rights::NONE, false)?;
    // Identifying changed nothing: the caps still work.
    ok!(probe(ep));
    ok!(signaller.signal());
    check_eq!(ok!(n.poll()), 1);
    Ok(())
}

pub fn cnode_identify_errors(env: &mut Env) -> TestResult {
    let c = init::CNODE;
    let slots = 1u64 << env.radix();
    // Slot 0 is the kernel's; past the radix is out of range.
    expect_err!(c.identify(0), Error::RangeError);
    expect_err!(c.identify(slots), Error::RangeError);
    expect_err!(c.identify(u64::MAX), Error::RangeError);
    let k: Cap<CNode> = env.retype(2)?;
    expect_err!(k.identify(4), Error::RangeError);
    ok!(k.identify(3));
    // No index word.
    expect_err!(c.invoke(Invocation::CNodeIdentify, &[], &[]).map(drop), Error::InvalidArgument);
    // Only a CNode identifies: on another object the label is unknown,
    // and an empty CPtr is no cap.
    let f = env.frame()?;
    expect_err!(
        f.invoke(Invocation::CNodeIdentify, &[f.slot()], &[]).map(drop),
        Error::IllegalOperation
    );
    expect_err!(f.cast::<CNode>().identify(f.slot()), Error::IllegalOperation);
    let empty = env.slot()?;
    expect_err!(Cap::<CNode>::from_slot(empty).identify(1), Error::InvalidCapability);
    // No right is needed: a CNode cap without any still identifies.
    let bare = env.copy(c, Rights::NONE)?;
    check_eq!(ok!(bare.identify(f.slot())).ty, CapType::Frame);
    Ok(())
}
