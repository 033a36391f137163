//! The boot info, the root task's layout and initial capabilities, and the
//! syscalls without objects (DebugWrite, Yield).

use core::fmt::Write;
use core::sync::atomic::AtomicU64;

use libipc::abi::{
    BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BOOT_MAX_UNTYPED, Error, SlotRange, Syscall, slots,
};
use libipc::cap::{Cap, Frame, init};
use libipc::sys;

use crate::arch::{NO_TABLES, REGION};
use crate::env::Env;
use crate::fmt::{StrBuf, TestResult};

fn overlaps(a: &SlotRange, b: &SlotRange) -> bool {
    a.start < b.end && b.start < a.end
}

pub fn boot_info(env: &mut Env) -> TestResult {
    let b = env.boot;
    check_eq!(b.magic, BOOT_INFO_MAGIC);
    check_eq!(b.version, BOOT_INFO_VERSION);
    let radix = b.cnode_radix_bits;
    check!((1..=20).contains(&radix), "cnode_radix_bits {radix}");
    check!(
        b.ipc_buffer != 0 && b.ipc_buffer.is_multiple_of(4096),
        "ipc_buffer {:#x}",
        b.ipc_buffer
    );
    let slots_end = 1u64 << radix;
    for (name, r) in [("empty", b.empty), ("untyped", b.untyped), ("archive", b.archive_frames)] {
        check!(
            r.start >= slots::FIRST_DYNAMIC && r.start <= r.end && r.end <= slots_end,
            "{name} slots {r:?} outside {}..{slots_end}",
            slots::FIRST_DYNAMIC
        );
    }
    check!(
        b.empty.end - b.empty.start >= 512,
        "only {:?} free slots (ktest needs about 500)",
        b.empty
    );
    check!(!overlaps(&b.empty, &b.untyped), "empty and untyped slots overlap");
    check!(!overlaps(&b.empty, &b.archive_frames), "empty and archive slots overlap");
    check!(!overlaps(&b.untyped, &b.archive_frames), "untyped and archive slots overlap");
    let n = env.untyped_count();
    check!(n > 0 && n <= BOOT_MAX_UNTYPED as u64, "{n} untypeds");
    let mut ram = 0u64;
    for i in 0..n {
        let Some((_, d)) = env.untyped_at(i) else { return Err(fail!("untyped {i} missing")) };
        check!((4..=47).contains(&d.size_bits), "untyped {i}: size_bits {}", d.size_bits);
        check!(d.paddr.is_multiple_of(1 << d.size_bits), "untyped {i}: paddr {:#x}", d.paddr);
        check!(d.is_device <= 1, "untyped {i}: is_device {}", d.is_device);
        if d.is_device == 0 {
            ram += 1 << d.size_bits;
        }
    }
    check!(ram >= 16 << 20, "only {ram:#x} bytes of RAM untyped");
    check!(b.archive_size > 0, "no boot archive");
    let frames = b.archive_frames.end - b.archive_frames.start;
    check!(frames > 0, "no archive frames");
    check!(b.tick_hz > 0, "tick_hz 0");
    check!(b.clock_hz >= 1_000_000, "clock_hz {}", b.clock_hz);
    Ok(())
}

static DATA_PROBE: AtomicU64 = AtomicU64::new(0);

/// The test regions must hold none of the root task's own mappings: the
/// raw accesses in `arch` rely on it.
pub fn layout(env: &mut Env) -> TestResult {
    let b = env.boot;
    let stack_probe = 0u64;
    let point = |a: u64| a..a.saturating_add(1);
    let archive = b.archive_vaddr..b.archive_vaddr.saturating_add(b.archive_size);
    let ranges = [
        ("boot info", point(b as *const _ as usize as u64)),
        ("IPC buffer", b.ipc_buffer..b.ipc_buffer + 4096),
        ("boot archive", archive),
        ("code", point(layout as *const () as usize as u64)),
        ("data", point(&DATA_PROBE as *const _ as usize as u64)),
        ("stack", point(&stack_probe as *const u64 as usize as u64)),
    ];
    for (what, r) in ranges {
        for region in [&REGION, &NO_TABLES] {
            check!(
                r.end <= region.start || r.start >= region.end,
                "{what} at {r:#x?} is inside the test region {region:#x?}"
            );
        }
    }
    env.layout_ok = true;
    Ok(())
}

pub fn initial_caps(env: &mut Env) -> TestResult {
    let (boot_pa, size) = ok!(init::BOOT_INFO_FRAME.get_address());
    check_eq!(size, 4096);
    check!(boot_pa.is_multiple_of(4096), "boot info frame at {boot_pa:#x}");
    let (ipc_pa, size) = ok!(init::IPC_BUFFER.get_address());
    check_eq!(size, 4096);
    check!(ipc_pa != boot_pa, "boot info and IPC buffer share a frame");
    let first: Cap<Frame> = Cap::from_slot(env.boot.archive_frames.start);
    let (_, size) = ok!(first.get_address());
    check!(size == 4096 || size == 2 << 20, "archive frame of {size:#x} bytes");
    // The root CNode copies: a copy of the boot-info frame cap names the
    // same frame.
    let copy = env.copy(init::BOOT_INFO_FRAME, libipc::abi::Rights::READ)?;
    check_eq!(ok!(copy.get_address()).0, boot_pa);
    // The event trace: the kernel has recorded events by now (this task
    // was switched to, at least).
    let head = ok!(init::TRACE.read(u64::MAX, &mut []));
    check!(head.next > 0 && head.count == 0, "trace head {head:?}");
    // Scheduling control: configuring this task's own context (round robin,
    // as the kernel set it) works.
    ok!(init::SCHED_CONTROL.configure(init::THREAD, libipc::abi::sched::Params::rr(0)));
    Ok(())
}

pub fn debug_write(_env: &mut Env) -> TestResult {
    // Nothing to write is fine.
    let r = sys::syscall(Syscall::DebugWrite, [0; 6]);
    ok!(sys::check(r[0]));
    // Exactly one full chunk: twelve lines of 80 bytes.
    let mut chunk = [b'.'; sys::DEBUG_WRITE_MAX];
    for (i, line) in chunk.chunks_mut(80).enumerate() {
        let mut s = StrBuf::<80>::new();
        let _ = write!(s, "ktest:   debug_write: 960 bytes in one syscall, line {:2}/12 ", i + 1);
        line.iter_mut().zip(s.as_str().as_bytes()).for_each(|(d, c)| *d = *c);
        if let Some(last) = line.last_mut() {
            *last = b'\n';
        }
    }
    ok!(sys::debug_write(&chunk));
    // More than the message area holds.
    let r = sys::syscall(Syscall::DebugWrite, [sys::DEBUG_WRITE_MAX as u64 + 1, 0, 0, 0, 0, 0]);
    expect_err!(
        sys::check(r[0]),
        [Error::TruncatedMessage, Error::RangeError, Error::InvalidArgument]
    );
    let r = sys::syscall(Syscall::DebugWrite, [u64::MAX, 0, 0, 0, 0, 0]);
    expect_err!(
        sys::check(r[0]),
        [Error::TruncatedMessage, Error::RangeError, Error::InvalidArgument]
    );
    Ok(())
}

pub fn yield_now(_env: &mut Env) -> TestResult {
    let r = sys::syscall(Syscall::Yield, [0; 6]);
    ok!(sys::check(r[0]));
    sys::yield_now();
    Ok(())
}
