//! Errors common to every invocation and syscall: bad capability pointers,
//! capabilities of the wrong type, missing rights, unknown labels and
//! malformed message-info words. (Only forms that cannot block if the
//! kernel wrongly accepted them.)

use libipc::abi::{CapType, Error, Invocation, Rights, Syscall};
use libipc::cap::{Cap, Endpoint, Frame, Thread, Untyped, init};
use libipc::sys;

use crate::env::{Env, RW, mi};
use crate::fmt::TestResult;

pub fn errors_bad_cptr(env: &mut Env) -> TestResult {
    let empty = env.slot()?;
    let ep: Cap<Endpoint> = Cap::from_slot(empty);
    expect_err!(ep.nb_send(mi(0, 0), &[]), Error::InvalidCapability);
    expect_err!(ep.send(mi(0, 0), &[]), Error::InvalidCapability);
    expect_err!(ep.nb_recv(), Error::InvalidCapability);
    expect_err!(ep.recv(), Error::InvalidCapability);
    expect_err!(ep.call(mi(0, 0), &[]), Error::InvalidCapability);
    expect_err!(Cap::<Frame>::from_slot(empty).get_address(), Error::InvalidCapability);
    for cptr in [0, 1 << env.radix(), 1 << 40, u64::MAX] {
        let c: Cap<Frame> = Cap::from_slot(cptr);
        expect_err!(c.get_address(), Error::InvalidCapability);
        expect_err!(c.cast::<Endpoint>().nb_send(mi(0, 0), &[]), Error::InvalidCapability);
    }
    // A capability argument that is not there.
    let u: Cap<Untyped> = env.retype(12)?;
    let dest = env.slot()?;
    expect_err!(
        u.retype(CapType::Endpoint, 0, Cap::from_slot(empty), dest, 1),
        Error::InvalidCapability
    );
    Ok(())
}

pub fn errors_wrong_type(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let f = env.frame()?;
    let u: Cap<Untyped> = env.retype(12)?;
    let slot = env.slot()?;
    let va = env.free_va()?;
    expect_err!(u.retype(CapType::Endpoint, 0, ep.cast(), slot, 1), Error::WrongType);
    expect_err!(f.map(ep.cast(), va, RW), Error::WrongType);
    expect_err!(f.cast::<Endpoint>().nb_recv(), Error::WrongType);
    expect_err!(f.cast::<Endpoint>().recv(), Error::WrongType);
    let (t, _, _) = env.thread()?;
    expect_err!(t.set_fault_endpoint(Some(f.cast())), Error::WrongType);
    expect_err!(t.bind_notification(ep.cast()), Error::WrongType);
    Ok(())
}

pub fn errors_unknown_label(env: &mut Env) -> TestResult {
    let f = env.frame()?;
    let t: Cap<Thread> = env.retype(0)?;
    let n = env.notification()?;
    // A label the cap's type does not have.
    let illegal = |r: Result<sys::Message, Error>| r.map(drop);
    expect_err!(illegal(f.invoke(Invocation::CNodeDelete, &[1], &[])), Error::IllegalOperation);
    expect_err!(
        illegal(init::CNODE.invoke(Invocation::FrameGetAddress, &[], &[])),
        Error::IllegalOperation
    );
    // A Call on a notification is an invocation, and it has none.
    expect_err!(
        illegal(n.cast::<Frame>().invoke(Invocation::FrameGetAddress, &[], &[])),
        Error::IllegalOperation
    );
    // A label that is no invocation at all.
    expect_err!(sys::call(f.cptr(), mi(9999, 0), &[]), Error::InvalidArgument);
    expect_err!(sys::call(t.cptr(), mi(0, 0), &[]), Error::InvalidArgument);
    expect_err!(sys::call(init::CNODE.cptr(), mi(u32::MAX, 0), &[]), Error::InvalidArgument);
    // An invocation by Send: performed, the reply dropped.
    let label = Invocation::FrameGetAddress as u32;
    ok!(sys::send(f.cptr(), mi(label, 0), &[]));
    ok!(sys::nb_send(f.cptr(), mi(label, 0), &[]));
    Ok(())
}

pub fn errors_missing_rights(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    let read_only = env.copy(ep, Rights::READ)?;
    let write_only = env.copy(ep, Rights::WRITE)?;
    expect_err!(read_only.nb_send(mi(0, 0), &[]), Error::InsufficientRights);
    expect_err!(write_only.nb_recv(), Error::InsufficientRights);
    let n = env.notification()?;
    let read_only = env.mint(n, Rights::READ, 1)?;
    let write_only = env.mint(n, Rights::WRITE, 2)?;
    expect_err!(read_only.signal(), Error::InsufficientRights);
    expect_err!(write_only.poll(), Error::InsufficientRights);
    let f = env.frame()?;
    let va = env.free_va()?;
    let ro = env.copy(f, Rights::READ)?;
    expect_err!(ro.map(init::VSPACE, va, RW), Error::InsufficientRights);
    Ok(())
}

pub fn errors_bad_message_info(env: &mut Env) -> TestResult {
    let f = env.frame()?;
    let ep = env.endpoint()?;
    let label = (Invocation::FrameGetAddress as u64) << 32;
    let garbage = [label | 1 << 20, label | 1 << 31, label | 121, label | 127];
    for info in garbage {
        let r = sys::syscall(Syscall::Call, [f.slot(), info, 0, 0, 0, 0]);
        expect_err!(sys::check(r[0]), Error::InvalidArgument);
        let r = sys::syscall(Syscall::NbSend, [ep.slot(), info, 0, 0, 0, 0]);
        expect_err!(sys::check(r[0]), Error::InvalidArgument);
    }
    // The same words with a valid info work.
    let r = sys::syscall(Syscall::Call, [f.slot(), label, 0, 0, 0, 0]);
    ok!(sys::check(r[0]));
    check_eq!(r[libipc::abi::regs::RES_MR0 + 1], 4096);
    // An invocation with fewer words than it needs.
    let va = env.free_va()?;
    expect_err!(
        f.invoke(Invocation::FrameMap, &[va], &[init::VSPACE.cptr()]).map(drop),
        [Error::InvalidArgument, Error::TruncatedMessage]
    );
    Ok(())
}
