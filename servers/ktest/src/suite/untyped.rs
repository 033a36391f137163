//! Untyped memory: retype into every object type, and every way retype can
//! fail.

use libipc::abi::{CapType, Error, Invocation, Rights};
use libipc::cap::{CNode, Cap, Endpoint, Frame, PageTable, Thread, Untyped, VSpace, init};

use crate::arch::{Page, REGION};
use crate::env::{Env, RW, mi};
use crate::fmt::TestResult;

pub fn retype_endpoint_and_notification(env: &mut Env) -> TestResult {
    let ep = env.endpoint()?;
    expect_err!(ep.nb_send(mi(0, 0), &[]), Error::WouldBlock);
    let n = env.notification()?;
    expect_err!(n.poll(), Error::WouldBlock);
    Ok(())
}

pub fn retype_frame(env: &mut Env) -> TestResult {
    let f = env.frame()?;
    let (pa, size) = ok!(f.get_address());
    check_eq!(size, 4096);
    check!(pa.is_multiple_of(4096), "frame at {pa:#x}");
    let from_ram = (0..env.untyped_count())
        .filter_map(|i| env.untyped_at(i))
        .any(|(_, d)| d.is_device == 0 && pa >= d.paddr && pa - d.paddr < 1 << d.size_bits);
    check!(from_ram, "frame at {pa:#x} is in no RAM untyped");
    // Memory from RAM untypeds is zeroed.
    let va = env.free_va()?;
    let page = ok!(Page::map(f, va, RW));
    for i in 0..Page::WORDS {
        check_eq!(page.read(i), 0, "(word {i} of a new frame)");
    }
    Ok(())
}

pub fn retype_large_frame(env: &mut Env) -> TestResult {
    let f: Cap<Frame> = env.retype(21)?;
    let (pa, size) = ok!(f.get_address());
    check_eq!(size, 2 << 20);
    check!(pa.is_multiple_of(2 << 20), "2 MiB frame at {pa:#x}");
    Ok(())
}

pub fn retype_cnode(env: &mut Env) -> TestResult {
    let k: Cap<CNode> = env.retype(4)?;
    let ep = env.endpoint()?;
    ok!(k.copy(15, init::CNODE, ep.slot(), Rights::ALL));
    expect_err!(k.copy(16, init::CNODE, ep.slot(), Rights::ALL), Error::RangeError);
    let back = env.slot()?;
    ok!(init::CNODE.copy(back, k, 15, Rights::ALL));
    expect_err!(Cap::<Endpoint>::from_slot(back).nb_send(mi(0, 0), &[]), Error::WouldBlock);
    Ok(())
}

pub fn retype_thread(env: &mut Env) -> TestResult {
    let t: Cap<Thread> = env.retype(0)?;
    let mut r = [0u64; 2];
    ok!(t.read_registers(&mut r));
    Ok(())
}

pub fn retype_vspace_and_page_table(env: &mut Env) -> TestResult {
    let vs: Cap<VSpace> = env.retype(0)?;
    let pt: Cap<PageTable> = env.retype(0)?;
    // Unmapping what is not mapped does nothing.
    ok!(pt.unmap());
    ok!(pt.map(vs, REGION.start));
    ok!(pt.unmap());
    Ok(())
}

pub fn retype_untyped(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(16)?;
    // A child as large as its parent would look like a copy of it: refused.
    let slot = env.slot()?;
    expect_err!(u.retype(CapType::Untyped, 16, init::CNODE, slot, 1), Error::RangeError);
    ok!(u.retype(CapType::Endpoint, 0, init::CNODE, slot, 1));
    expect_err!(Cap::<Endpoint>::from_slot(slot).nb_send(mi(0, 0), &[]), Error::WouldBlock);
    let slot = env.slot()?;
    ok!(u.retype(CapType::Untyped, 12, init::CNODE, slot, 1));
    let slot2 = env.slot()?;
    ok!(Cap::<Untyped>::from_slot(slot).retype(CapType::Frame, 12, init::CNODE, slot2, 1));
    check_eq!(ok!(Cap::<Frame>::from_slot(slot2).get_address()).1, 4096);
    Ok(())
}

pub fn retype_count(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(12)?;
    let first = env.slot()?;
    env.slot()?;
    env.slot()?;
    ok!(u.retype(CapType::Notification, 0, init::CNODE, first, 3));
    // Three distinct notifications: a signal through one shows in it alone.
    let badged = env.mint(Cap::from_slot(first + 1), Rights::ALL, 0x10)?;
    ok!(badged.signal());
    for i in [0, 2] {
        expect_err!(
            Cap::<libipc::cap::Notification>::from_slot(first + i).poll(),
            Error::WouldBlock
        );
    }
    check_eq!(ok!(Cap::<libipc::cap::Notification>::from_slot(first + 1).poll()), 0x10);
    Ok(())
}

/// The raw words of a retype into the root CNode.
fn retype_raw(
    u: Cap<Untyped>,
    ty: u64,
    size_bits: u64,
    slot: u64,
    count: u64,
) -> Result<(), Error> {
    let words = [ty, size_bits, slot, count];
    u.invoke(Invocation::UntypedRetype, &words, &[init::CNODE.cptr()]).map(drop)
}

pub fn untyped_bad_type(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(12)?;
    let slot = env.slot()?;
    let not_retypeable = [
        CapType::Null as u64,
        CapType::IrqControl as u64,
        CapType::IrqHandler as u64,
        CapType::IoPort as u64,
        CapType::Reply as u64,
        13,
        99,
        u64::from(u32::MAX),
        u64::MAX,
    ];
    for ty in not_retypeable {
        expect_err!(retype_raw(u, ty, 12, slot, 1), Error::InvalidArgument);
    }
    // Nothing happened: the slot is still free.
    ok!(u.retype(CapType::Endpoint, 0, init::CNODE, slot, 1));
    Ok(())
}

pub fn untyped_bad_size(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(12)?;
    let slot = env.slot()?;
    let bad = [
        (CapType::Frame, 11),
        (CapType::Frame, 13),
        (CapType::Frame, 0),
        (CapType::Frame, 255),
        (CapType::CNode, 0),
        (CapType::CNode, 21),
        (CapType::Untyped, 3),
        (CapType::Untyped, 48),
        // Bigger than the 4 KiB untyped itself.
        (CapType::Untyped, 13),
        (CapType::Frame, 21),
    ];
    for (ty, bits) in bad {
        expect_err!(retype_raw(u, ty as u64, bits, slot, 1), Error::RangeError);
    }
    ok!(u.retype(CapType::Frame, 12, init::CNODE, slot, 1));
    Ok(())
}

pub fn untyped_bad_destination(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(12)?;
    let ep = env.endpoint()?;
    let free = env.slot()?;
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, free, 0), Error::RangeError);
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, ep.slot(), 1), Error::SlotOccupied);
    // A range whose second slot is taken: nothing is created.
    let a = env.slot()?;
    let b = env.endpoint()?;
    check_eq!(b.slot(), a + 1, "(slots are handed out in order)");
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, a, 2), Error::SlotOccupied);
    let slots = 1u64 << env.radix();
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, slots, 1), Error::RangeError);
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, slots - 1, 2), Error::RangeError);
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, free, u64::MAX), Error::RangeError);
    ok!(u.retype(CapType::Endpoint, 0, init::CNODE, a, 1));
    ok!(u.retype(CapType::Endpoint, 0, init::CNODE, free, 1));
    Ok(())
}

pub fn untyped_exhausted(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(12)?;
    let (s1, s2, s3) = (env.slot()?, env.slot()?, env.slot()?);
    ok!(u.retype(CapType::Frame, 12, init::CNODE, s1, 1));
    expect_err!(u.retype(CapType::Frame, 12, init::CNODE, s2, 1), Error::NotEnoughMemory);
    expect_err!(u.retype(CapType::Endpoint, 0, init::CNODE, s2, 1), Error::NotEnoughMemory);
    // Two 2 KiB CNodes fill another 4 KiB untyped exactly.
    let u: Cap<Untyped> = env.retype(12)?;
    ok!(u.retype(CapType::CNode, 5, init::CNODE, s2, 1));
    ok!(u.retype(CapType::CNode, 5, init::CNODE, s3, 1));
    let s4 = env.slot()?;
    expect_err!(u.retype(CapType::Notification, 0, init::CNODE, s4, 1), Error::NotEnoughMemory);
    Ok(())
}

pub fn untyped_revoke_reuses_memory(env: &mut Env) -> TestResult {
    let u: Cap<Untyped> = env.retype(12)?;
    let f1: Cap<Frame> = Cap::from_slot(env.slot()?);
    ok!(u.retype(CapType::Frame, 12, init::CNODE, f1.slot(), 1));
    let (pa1, _) = ok!(f1.get_address());
    ok!(init::CNODE.revoke(u.slot()));
    expect_err!(f1.get_address(), Error::InvalidCapability);
    // With no children left the whole untyped is free again.
    let f2: Cap<Frame> = Cap::from_slot(env.slot()?);
    ok!(u.retype(CapType::Frame, 12, init::CNODE, f2.slot(), 1));
    check_eq!(ok!(f2.get_address()).0, pa1);
    Ok(())
}

pub fn untyped_device(env: &mut Env) -> TestResult {
    let device = (0..env.untyped_count())
        .filter_map(|i| env.untyped_at(i))
        .find(|(_, d)| d.is_device == 1 && d.size_bits >= 12);
    let Some((u, desc)) = device else {
        env.skipped = Some("no device untyped in BootInfo");
        return Ok(());
    };
    let slot = env.slot()?;
    for ty in [CapType::Endpoint, CapType::Notification, CapType::Thread, CapType::CNode] {
        let bits = if ty == CapType::CNode { 4 } else { 0 };
        expect_err!(
            u.retype(ty, bits, init::CNODE, slot, 1),
            [Error::InvalidArgument, Error::IllegalOperation]
        );
    }
    ok!(u.retype(CapType::Frame, 12, init::CNODE, slot, 1));
    let (pa, size) = ok!(Cap::<Frame>::from_slot(slot).get_address());
    check_eq!((pa, size), (desc.paddr, 4096));
    Ok(())
}
