//! Frames and page tables: map, unmap, remap, rights, and a page-table
//! walk built by hand in a new VSpace.

use libipc::abi::{Error, Invocation, Rights};
use libipc::cap::{Cap, PageTable, VSpace, init};

use crate::arch::{self, KERNEL_ADDR, NO_TABLES, Page, REGION};
use crate::env::{Env, RW};
use crate::fmt::TestResult;

fn pattern(i: usize) -> u64 {
    0x5a5a_0000_0000_0000 ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

pub fn frame_map_write_read(env: &mut Env) -> TestResult {
    let f = env.frame()?;
    let va = env.free_va()?;
    let p = ok!(Page::map(f, va, RW));
    for i in 0..Page::WORDS {
        check!(p.write(i, pattern(i)), "write refused");
    }
    for i in 0..Page::WORDS {
        check_eq!(p.read(i), pattern(i), "(word {i})");
    }
    ok!(p.unmap());
    // The frame keeps its contents at a second address.
    let va2 = env.free_va()?;
    let p2 = ok!(Page::map(f, va2, Rights::READ));
    for i in [0, 1, 255, 511] {
        check_eq!(p2.read(i), pattern(i), "(word {i} at the second address)");
    }
    // Another frame at the first address: the old translation is gone.
    let g = env.frame()?;
    let p3 = ok!(Page::map(g, va, RW));
    check_eq!(p3.read(0), 0, "(stale TLB entry?)");
    ok!(p3.unmap());
    ok!(p2.unmap());
    Ok(())
}

pub fn frame_remap(env: &mut Env) -> TestResult {
    let mut p = env.page(RW)?;
    check!(p.write(0, 0xabc), "write refused");
    ok!(p.remap(Rights::READ));
    check_eq!(p.read(0), 0xabc);
    ok!(p.remap(RW));
    check!(p.write(1, 0xdef), "write refused");
    check_eq!(p.read(1), 0xdef);
    let wx = Rights::READ.union(Rights::WRITE).union(Rights::EXECUTE);
    expect_err!(p.frame().remap(wx), Error::InvalidArgument);
    ok!(p.remap(Rights::READ.union(Rights::EXECUTE)));
    check_eq!(p.read(0), 0xabc);
    Ok(())
}

pub fn frame_map_errors(env: &mut Env) -> TestResult {
    let f = env.frame()?;
    let va = env.free_va()?;
    let vs = init::VSPACE;
    let wx = Rights::WRITE.union(Rights::EXECUTE);
    expect_err!(f.map(vs, va, wx.union(Rights::READ)), Error::InvalidArgument);
    expect_err!(f.map(vs, va, wx), Error::InvalidArgument);
    expect_err!(f.map(vs, va + 8, RW), Error::AlignmentError);
    expect_err!(f.map(vs, NO_TABLES.start, RW), Error::NotMapped);
    expect_err!(
        f.map(vs, KERNEL_ADDR, RW),
        [Error::InvalidArgument, Error::RangeError, Error::BadUserPointer]
    );
    let words = [va, 0x40];
    expect_err!(
        f.invoke(Invocation::FrameMap, &words, &[vs.cptr()]).map(drop),
        Error::InvalidArgument
    );
    let grant = Rights::READ.union(Rights::GRANT);
    expect_err!(f.map(vs, va, grant), Error::InsufficientRights);
    // Unmapping what is not mapped does nothing; remapping it fails.
    ok!(f.unmap());
    expect_err!(f.remap(RW), Error::NotMapped);
    // Where the root task's own code is mapped.
    let code = arch::load_address() & !0xfff;
    expect_err!(f.map(vs, code, Rights::READ), Error::AlreadyMapped);
    let p = ok!(Page::map(f, va, RW));
    let va2 = env.free_va()?;
    expect_err!(f.map(vs, va2, RW), Error::AlreadyMapped);
    let g = env.frame()?;
    expect_err!(g.map(vs, va, RW), Error::AlreadyMapped);
    ok!(p.unmap());
    ok!(f.unmap());
    // The address is free again.
    ok!(g.map(vs, va, RW));
    ok!(g.unmap());
    Ok(())
}

pub fn frame_rights(env: &mut Env) -> TestResult {
    let f = env.frame()?;
    let ro = env.copy(f, Rights::READ)?;
    let va = env.free_va()?;
    expect_err!(ro.map(init::VSPACE, va, RW), Error::InsufficientRights);
    expect_err!(
        ro.map(init::VSPACE, va, Rights::READ.union(Rights::EXECUTE)),
        Error::InsufficientRights
    );
    let p = ok!(Page::map(ro, va, Rights::READ));
    expect_err!(ro.remap(RW), Error::InsufficientRights);
    check_eq!(p.read(0), 0);
    ok!(p.unmap());
    Ok(())
}

pub fn page_tables_in_new_vspace(env: &mut Env) -> TestResult {
    let vs: Cap<VSpace> = env.retype(0)?;
    let va = REGION.start;
    let mut tables: [Option<Cap<PageTable>>; 4] = [None; 4];
    let mut n = 0;
    loop {
        let pt: Cap<PageTable> = env.retype(0)?;
        match pt.map(vs, va) {
            Ok(()) => {
                check!(n < arch::TABLE_LEVELS, "more than {} tables mapped", arch::TABLE_LEVELS);
                tables[n] = Some(pt);
                n += 1;
            }
            Err(Error::AlreadyMapped) => break,
            Err(e) => return Err(fail!("PageTableMap #{n}: {e:?}")),
        }
    }
    check_eq!(n, arch::TABLE_LEVELS);
    let (Some(top), Some(last)) = (tables[0], tables[n - 1]) else {
        return Err(fail!("no tables"));
    };
    let f = env.frame()?;
    ok!(f.map(vs, va, RW));
    ok!(f.unmap());
    // The same last-level table covers the next page.
    ok!(f.map(vs, va + 0x1000, RW));
    ok!(f.unmap());
    expect_err!(top.map(vs, va + (1 << 30)), Error::AlreadyMapped);
    // Without the last-level table no frame can be mapped there.
    ok!(last.unmap());
    ok!(last.unmap());
    expect_err!(f.map(vs, va, RW), Error::NotMapped);
    ok!(last.map(vs, va));
    ok!(f.map(vs, va, RW));
    ok!(f.get_address());
    let spare: Cap<PageTable> = env.retype(0)?;
    expect_err!(spare.map(f.cast(), va + (2 << 20)), Error::WrongType);
    // Only the sole cap to a table may link it.
    let copy = env.copy(spare, Rights::ALL)?;
    expect_err!(spare.map(vs, va + (2 << 20)), Error::RevokeFirst);
    expect_err!(copy.map(vs, va + (2 << 20)), Error::RevokeFirst);
    ok!(init::CNODE.delete(copy.slot()));
    ok!(spare.map(vs, va + (2 << 20)));
    ok!(f.unmap());
    Ok(())
}
