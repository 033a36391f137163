//! memtest: the program the process server runs in the memory and process
//! system test (`servers/proctest` drives it). `argv[1]` picks what it
//! does:
//!
//! - `args ...`: print its arguments and environment, and whether its start
//!   info carries the clock's rate (`clock_hz`), exit with argc.
//! - `touch KIB`: map an anonymous region of KIB KiB through the memory
//!   server, check every page reads zero on first touch (demand paging),
//!   write and read back a pattern, unmap it, map it again and check the
//!   reused frames read zero again; also use the heap (demand-zero too).
//!   Exit code: `$EXIT` (default 0), or 1 if a check failed.
//! - `quota`: a region larger than its quota and a populate past it are
//!   refused with `QuotaExceeded`; then it touches pages of a region until
//!   the quota runs out, and the memory server stops it (the process
//!   server reports exit code -12).
//! - `share`: create a shared object, write into it, spawn `memtest peek`
//!   suspended, grant it the object, start it, wait for it (blocking, with
//!   its `notify` notification) and read its answer from the object.
//! - `peek ID`: map shared object ID, check the greeting, write an answer.
//! - `spin`: yield forever (until killed).
//! - `segv`: recurse into the stack's guard page (a fault outside every
//!   region: the process server reports exit code -11).

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod program {
    use alloc::vec::Vec;
    use core::fmt::Write as _;

    use libipc::cap::{Cap, Endpoint, Notification};
    use libipc::proto::Str;
    use libipc::proto::mem::{self, SELF};
    use libipc::proto::process::{self as pp, Args};

    rt::server!(main);

    /// Where it maps its anonymous region and the shared object.
    const REGION: u64 = 0x5_0000_0000;
    const SHM_VA: u64 = 0x6_0000_0000;
    const PAGE: u64 = 4096;
    /// Where `peek` writes its answer in the shared object.
    const ANSWER: u64 = 2048;

    fn main(start: &'static rt::Start) -> i32 {
        let args = &start.info.args;
        let mem = match start.cap::<Endpoint>("mem") {
            Ok(c) => c,
            Err(e) => {
                rt::println!("{e}");
                return 2;
            }
        };
        match args.arg(1).unwrap_or("") {
            "args" => show_args(start, args),
            "touch" => touch(start, mem, args),
            "quota" => quota(start, mem),
            "share" => share(start, mem),
            "peek" => peek(start, mem, args),
            "spin" => loop {
                libipc::sys::yield_now();
            },
            "segv" => {
                rt::println!("pid {}: recursing into the stack's guard page", start.pid());
                recurse(0) as i32
            }
            other => {
                rt::println!("unknown mode {other:?}");
                2
            }
        }
    }

    /// A byte of a region this program mapped through the memory server.
    #[allow(unsafe_code)]
    fn peek_byte(va: u64) -> u8 {
        let p = core::ptr::with_exposed_provenance::<u8>(va as usize);
        // SAFETY: callers pass addresses inside a region they mapped with
        // read rights (anonymous or shared) and have not unmapped; a page
        // not present yet is paged in by the memory server on this access.
        // No Rust object lives there; volatile, since another process may
        // write shared pages.
        unsafe { core::ptr::read_volatile(p) }
    }

    /// Write a byte of a region mapped writable (as `peek_byte`).
    #[allow(unsafe_code)]
    fn poke_byte(va: u64, v: u8) {
        let p = core::ptr::with_exposed_provenance_mut::<u8>(va as usize);
        // SAFETY: as in `peek_byte`, the region mapped with write rights.
        unsafe { core::ptr::write_volatile(p, v) }
    }

    fn poke_str(va: u64, s: &str) {
        for (i, b) in s.bytes().chain(core::iter::once(0)).enumerate() {
            poke_byte(va + i as u64, b);
        }
    }

    /// The NUL-terminated text at `va` (at most 64 bytes).
    fn read_str(va: u64, out: &mut [u8; 64]) -> &str {
        let mut n = 0;
        while n < out.len() {
            let b = peek_byte(va + n as u64);
            if b == 0 {
                break;
            }
            out[n] = b;
            n += 1;
        }
        core::str::from_utf8(&out[..n]).unwrap_or("?")
    }

    fn show_args(start: &rt::Start, args: &Args) -> i32 {
        let mut line = Text::new();
        let _ = write!(line, "pid {}: argc {}:", start.pid(), args.argv.len());
        for a in args.argv.iter() {
            let _ = write!(line, " {:?}", a.as_str());
        }
        rt::println!("{}", line.as_str());
        for e in args.env.iter() {
            rt::println!("pid {}: env {}", start.pid(), e.as_str());
        }
        if let Some(g) = args.var("GREETING") {
            rt::println!("pid {}: GREETING is {g:?}", start.pid());
        }
        let known = if start.clock_hz() > 0 { "known" } else { "unknown" };
        rt::println!("pid {}: clock rate {known}", start.pid());
        args.argv.len() as i32
    }

    fn touch(start: &rt::Start, ep: Cap<Endpoint>, args: &Args) -> i32 {
        let pid = start.pid();
        let kib: u64 = args.arg(2).and_then(|s| s.parse().ok()).unwrap_or(64);
        let code: i32 = args.var("EXIT").and_then(|s| s.parse().ok()).unwrap_or(0);
        let len = kib * 1024;
        let mut m = mem::Client::connect(ep);
        let before = m.usage(SELF);
        if let Err(e) = m.map_anon(SELF, REGION, len, mem::RW, false) {
            rt::println!("FAIL: pid {pid}: map_anon of {kib} KiB: {e}");
            return 1;
        }
        let pages = len / PAGE;
        // First touch: every byte reads zero; then a pattern.
        let mut ok = true;
        for p in 0..pages {
            let va = REGION + p * PAGE;
            ok &= peek_byte(va) == 0 && peek_byte(va + PAGE - 1) == 0;
            poke_byte(va, p as u8 ^ 0x5a);
            poke_byte(va + PAGE - 1, 0xa5);
        }
        for p in 0..pages {
            let va = REGION + p * PAGE;
            ok &= peek_byte(va) == p as u8 ^ 0x5a && peek_byte(va + PAGE - 1) == 0xa5;
        }
        let after = m.usage(SELF);
        let faults = match (&before, &after) {
            (Ok(b), Ok(a)) => a.faults - b.faults,
            _ => 0,
        };
        if !ok || faults < pages {
            rt::println!(
                "FAIL: pid {pid}: demand paging: pages ok {ok}, {faults} faults for {pages} pages"
            );
            return 1;
        }
        rt::println!(
            "pid {pid}: {pages} pages demand-zero on first touch, pattern read back ({faults} faults)"
        );
        // Unmap; map again: the frames are reused, and read zero again.
        match m.unmap(SELF, REGION, len) {
            Ok(n) if n == pages => {}
            r => {
                rt::println!("FAIL: pid {pid}: unmap: {r:?}");
                return 1;
            }
        }
        let used = m.usage(SELF).map(|u| u.used).unwrap_or(0);
        if m.map_anon(SELF, REGION, len, mem::RW, false).is_err() {
            rt::println!("FAIL: pid {pid}: map_anon again");
            return 1;
        }
        let mut zero = true;
        for p in 0..pages {
            zero &= peek_byte(REGION + p * PAGE) == 0;
        }
        let reused = m.usage(SELF).map(|u| u.used).unwrap_or(0) == used;
        if !zero || !reused {
            rt::println!("FAIL: pid {pid}: remapped pages: zero {zero}, frames reused {reused}");
            return 1;
        }
        rt::println!("pid {pid}: unmapped and mapped again: frames reused, read zero again");
        // The heap is demand-zero too.
        let v: Vec<u64> = (0..8192u64).collect();
        if v.iter().sum::<u64>() != 8191 * 8192 / 2 {
            return 1;
        }
        if let Ok(u) = m.usage(SELF) {
            rt::println!(
                "pid {pid}: usage: {} of {} KiB, {} pages mapped, {} faults",
                u.used >> 10,
                u.quota >> 10,
                u.mapped,
                u.faults
            );
        }
        code
    }

    fn quota(start: &rt::Start, ep: Cap<Endpoint>) -> i32 {
        let pid = start.pid();
        let mut m = mem::Client::connect(ep);
        let Ok(u) = m.usage(SELF) else { return 1 };
        let q = u.quota;
        let r = m.map_anon(SELF, REGION, 2 * q, mem::RW, false);
        if r != Err(mem::Error::QuotaExceeded) {
            rt::println!("FAIL: pid {pid}: a region twice the quota: {r:?}");
            return 1;
        }
        rt::println!("pid {pid}: a region of twice its quota ({} KiB): QuotaExceeded", q >> 9);
        let r = m.map_anon(SELF, REGION, q, mem::RW, true);
        if r != Err(mem::Error::QuotaExceeded) {
            rt::println!("FAIL: pid {pid}: populating the whole quota: {r:?}");
            return 1;
        }
        rt::println!("pid {pid}: populating a region of its whole quota: QuotaExceeded, undone");
        if let Err(e) = m.map_anon(SELF, REGION, q, mem::RW, false) {
            rt::println!("FAIL: pid {pid}: the region after the undo: {e}");
            return 1;
        }
        rt::println!("pid {pid}: touching a region of its whole quota, page by page");
        for p in 0..q / PAGE {
            poke_byte(REGION + p * PAGE, 1);
        }
        rt::println!("FAIL: pid {pid}: touched {} KiB without running out", q >> 10);
        1
    }

    fn share(start: &rt::Start, ep: Cap<Endpoint>) -> i32 {
        let pid = start.pid();
        let (Ok(procs), Ok(note)) =
            (start.cap::<Endpoint>("process"), start.cap::<Notification>("notify"))
        else {
            rt::println!("FAIL: pid {pid}: no process or notify cap");
            return 2;
        };
        let mut m = mem::Client::connect(ep);
        let shm = match m.shm_create(SELF, 2) {
            Ok(s) => s,
            Err(e) => {
                rt::println!("FAIL: pid {pid}: shm_create: {e}");
                return 1;
            }
        };
        if let Err(e) = m.shm_map(SELF, shm, SHM_VA, mem::RW) {
            rt::println!("FAIL: pid {pid}: shm_map: {e}");
            return 1;
        }
        let mut hello = Text::new();
        let _ = write!(hello, "hello from pid {pid}");
        poke_str(SHM_VA, hello.as_str());
        poke_byte(SHM_VA + PAGE + 7, 0x77);
        // The reader: suspended until it may map the object.
        let mut args = Args::default();
        let mut id = Text::new();
        let _ = write!(id, "{shm}");
        for a in ["memtest", "peek", id.as_str()] {
            let _ = args.argv.push(Str::from_str(a).unwrap_or_default());
        }
        let mut p = pp::Client::connect(procs);
        let name = libipc::plan::Name::from_str("memtest").unwrap_or_default();
        let child = match p.spawn(name, args, 0, true) {
            Ok(c) => c,
            Err(e) => {
                rt::println!("FAIL: pid {pid}: spawning the reader: {e}");
                return 1;
            }
        };
        let granted = m.shm_grant(shm, child.space);
        let resumed = p.resume(child.pid);
        if granted.is_err() || resumed.is_err() {
            rt::println!("FAIL: pid {pid}: grant {granted:?}, resume {resumed:?}");
            return 1;
        }
        let exit = pp::wait_blocking(procs, child.pid, note);
        let mut buf = [0u8; 64];
        let answer = read_str(SHM_VA + ANSWER, &mut buf);
        rt::println!("pid {pid}: reader pid {} exited: {exit:?}; it wrote {answer:?}", child.pid);
        let ok = matches!(&exit, Ok(e) if e.code == 0) && answer.starts_with("answer from pid");
        if ok { 0 } else { 1 }
    }

    fn peek(start: &rt::Start, ep: Cap<Endpoint>, args: &Args) -> i32 {
        let pid = start.pid();
        let Some(shm) = args.arg(2).and_then(|s| s.parse::<u64>().ok()) else { return 2 };
        let mut m = mem::Client::connect(ep);
        if let Err(e) = m.shm_map(SELF, shm, SHM_VA, mem::RW) {
            rt::println!("FAIL: pid {pid}: shm_map of object {shm}: {e}");
            return 1;
        }
        let mut buf = [0u8; 64];
        let text = read_str(SHM_VA, &mut buf);
        let ok = text.starts_with("hello from pid") && peek_byte(SHM_VA + PAGE + 7) == 0x77;
        rt::println!("pid {pid}: shared object {shm} says {text:?}");
        let mut a = Text::new();
        let _ = write!(a, "answer from pid {pid}");
        poke_str(SHM_VA + ANSWER, a.as_str());
        if ok { 0 } else { 3 }
    }

    /// Recurse until the stack runs into its guard page.
    fn recurse(depth: u64) -> u64 {
        let pad = [depth; 64];
        core::hint::black_box(&pad);
        if depth > u64::MAX / 2 {
            return 0;
        }
        recurse(depth + 1) + core::hint::black_box(pad[7])
    }

    /// A short line of text on the stack.
    struct Text {
        buf: [u8; 160],
        len: usize,
    }

    impl Text {
        fn new() -> Text {
            Text { buf: [0; 160], len: 0 }
        }
        fn as_str(&self) -> &str {
            core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
        }
    }

    impl core::fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let end = self.len + s.len();
            let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
            dst.copy_from_slice(s.as_bytes());
            self.len = end;
            Ok(())
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
