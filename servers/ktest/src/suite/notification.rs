//! Notifications: badges OR'd into the word, poll and wait, a wait that
//! blocks until a child signals, and a bound notification waking a receive
//! on an endpoint.

use libipc::abi::{CPtr, Error, NOTIFICATION_LABEL, Rights};
use libipc::cap::init;

use crate::env::{Env, child_ctx, child_exit, mi};
use crate::fmt::TestResult;

pub fn notification_signal_poll(env: &mut Env) -> TestResult {
    let n = env.notification()?;
    expect_err!(n.poll(), Error::WouldBlock);
    let b1 = env.mint(n, Rights::ALL, 0b01)?;
    let b2 = env.mint(n, Rights::ALL, 0b10)?;
    ok!(b1.signal());
    ok!(b2.signal());
    ok!(b2.signal());
    check_eq!(ok!(n.poll()), 0b11);
    expect_err!(n.poll(), Error::WouldBlock);
    ok!(b1.signal());
    // Pending bits: wait returns at once and clears them.
    check_eq!(ok!(n.wait()), 0b01);
    expect_err!(b2.poll(), Error::WouldBlock);
    Ok(())
}

/// Signal notification `a[0]` (a send with an empty message).
extern "C" fn signaller(idx: u64) -> ! {
    let c = child_ctx(idx);
    let _ = c.buf.send(CPtr(c.a[0]), mi(0, 0), &[]);
    child_exit(&c)
}

pub fn notification_wait_blocks(env: &mut Env) -> TestResult {
    let n = env.notification()?;
    let b4 = env.mint(n, Rights::ALL, 0b100)?;
    env.spawn(signaller, [b4.slot(), 0, 0, 0])?;
    check_eq!(ok!(n.wait()), 0b100);
    expect_err!(n.poll(), Error::WouldBlock);
    Ok(())
}

pub fn notification_bound(env: &mut Env) -> TestResult {
    let n = env.notification()?;
    let b8 = env.mint(n, Rights::ALL, 0x8)?;
    let ep = env.endpoint()?;
    ok!(init::THREAD.bind_notification(n));
    expect_err!(init::THREAD.bind_notification(n), Error::IllegalOperation);
    let other = env.notification()?;
    expect_err!(init::THREAD.bind_notification(other), Error::IllegalOperation);
    ok!(b8.signal());
    // Nobody sends on the endpoint: the bound notification wakes the
    // receive instead.
    let m = ok!(ep.recv());
    check_eq!(m.label(), NOTIFICATION_LABEL);
    check_eq!(m.badge, 0x8);
    expect_err!(ep.nb_recv(), Error::WouldBlock);
    ok!(init::THREAD.unbind_notification());
    ok!(init::THREAD.unbind_notification());
    // Unbound, a signal no longer reaches the endpoint.
    ok!(b8.signal());
    expect_err!(ep.nb_recv(), Error::WouldBlock);
    check_eq!(ok!(n.poll()), 0x8);
    // A notification cap is required.
    expect_err!(init::THREAD.bind_notification(ep.cast()), Error::WrongType);
    Ok(())
}
