//! CNodes: copy, mint, move, delete, revoke, nested CNodes, and their
//! errors. Whether a slot holds a working capability is probed with
//! `NbSend` on an endpoint (`WouldBlock`: the cap works, nobody waits) or a
//! signal on a notification.

use libipc::abi::{Error, Invocation, Rights};
use libipc::cap::{CNode, Cap, Endpoint, init};

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
