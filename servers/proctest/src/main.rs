//! proctest: the memory and process servers' system test
//! (`images/test-memproc.toml`, `tests/tests/memproc.rs`). init starts it
//! after the two servers; it spawns `memtest` (see there) through the
//! process server in its modes and checks what comes back: argv and the
//! environment, exit codes, suspended starts, demand paging, quotas,
//! shared memory between two processes, kill, a fault, a corrupt ELF file,
//! malformed requests, and that after many spawn/exit cycles the memory
//! server's and the process server's pools are as full as before (the
//! largest block the memory server has is allocated again each cycle).
//!
//! Prints `[proctest] ok: ...` or `FAIL: ...` per check, then
//! `proctest: N passed, M failed`, and exits with 0 or 1.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod program {
    use libipc::abi::{MSG_MAX_WORDS, MessageInfo};
    use libipc::cap::{Cap, Endpoint, Notification};
    use libipc::plan::Name;
    use libipc::proto::mem;
    use libipc::proto::process::{self as pp, Args, Cause, Exit, Status};
    use libipc::proto::wire::{self, REPLY_ERR};
    use libipc::proto::{ProtoError, Str};
    use libipc::sys;
    use os::UntypedAlloc;
    use rt::check::Tally;

    rt::server!(main);

    /// Spawn/exit cycles of the memory-comes-back check.
    const CYCLES: u32 = 12;

    struct T {
        procs: Cap<Endpoint>,
        mem: Cap<Endpoint>,
        note: Cap<Notification>,
        t: Tally,
    }

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap_or_default()
    }

    fn args(argv: &[&str], env: &[&str]) -> Args {
        let mut a = Args::default();
        for s in argv {
            let _ = a.argv.push(Str::from_str(s).unwrap_or_default());
        }
        for s in env {
            let _ = a.env.push(Str::from_str(s).unwrap_or_default());
        }
        a
    }

    impl T {
        fn client(&self) -> pp::Client<libipc::proto::transport::Endpoint> {
            pp::Client::connect(self.procs)
        }

        /// Spawn memtest with `argv` (after "memtest"), wait for it.
        fn run(&mut self, argv: &[&str], env: &[&str], memory: u64) -> Result<Exit, pp::Error> {
            let mut all = [""; 8];
            all[0] = "memtest";
            for (d, s) in all.iter_mut().skip(1).zip(argv) {
                *d = s;
            }
            let a = args(&all[..argv.len() + 1], env);
            let s = self.client().spawn(name("memtest"), a, memory, false)?;
            pp::wait_blocking(self.procs, s.pid, self.note)
        }
    }

    fn main(start: &'static rt::Start) -> i32 {
        let (Ok(procs), Ok(mem_ep)) =
            (start.cap::<Endpoint>("process"), start.cap::<Endpoint>("mem"))
        else {
            rt::println!("needs \"process\" and \"mem\"");
            return 2;
        };
        // A notification to wait with, from our own memory.
        let mut ut = UntypedAlloc::new();
        for u in start.untyped() {
            let _ = ut.add(u.slot, u.paddr, u.size_bits, false);
        }
        let note =
            start.slot().ok().and_then(|s| ut.carve::<Notification>(0, rt::server::CNODE, s).ok());
        let Some(note) = note else {
            rt::println!("cannot make a notification");
            return 2;
        };
        let mut t = T { procs, mem: mem_ep, note, t: Tally { passed: 0, failed: 0 } };
        spawning(&mut t);
        memory(&mut t);
        lifecycle(&mut t);
        errors(&mut t);
        cycles(&mut t);
        let (p, f) = (t.t.passed, t.t.failed);
        rt::println!("proctest: {p} passed, {f} failed");
        i32::from(f != 0)
    }

    fn spawning(t: &mut T) {
        let r = t.run(&["args", "one", "two"], &["GREETING=hello", "MODE=test"], 0);
        t.t.check(
            "spawn with argv and environment: the exit code is argc (4)",
            matches!(&r, Ok(e) if e.code == 4 && e.cause == Cause::Exited),
            format_args!("{r:?}"),
        );
        // Suspended: built, not running until resumed.
        let mut c = t.client();
        let s = c.spawn(name("memtest"), args(&["memtest", "args"], &[]), 0, true);
        let Ok(s) = s else {
            t.t.check("spawn suspended", false, format_args!("{s:?}"));
            return;
        };
        let st = c.status(s.pid);
        t.t.check(
            "a process spawned suspended is Suspended",
            st == Ok(Status::Suspended),
            format_args!("{st:?}"),
        );
        let w = c.wait(s.pid);
        t.t.check(
            "wait on a process that has not ended is StillRunning",
            w == Err(pp::Error::StillRunning),
            format_args!("{w:?}"),
        );
        let r = c.resume(s.pid);
        let again = c.resume(s.pid);
        let e = pp::wait_blocking(t.procs, s.pid, t.note);
        t.t.check(
            "resume starts it (exit code 2 = argc), a second resume is NotSuspended",
            r.is_ok()
                && again == Err(pp::Error::NotSuspended)
                && matches!(&e, Ok(x) if x.code == 2),
            format_args!("{r:?} {again:?} {e:?}"),
        );
        let w = t.client().wait(s.pid);
        t.t.check(
            "a pid is gone once waited for",
            w == Err(pp::Error::NoSuchProcess),
            format_args!("{w:?}"),
        );
    }

    fn memory(t: &mut T) {
        let r = t.run(&["touch", "256"], &["EXIT=7"], 512 * 1024);
        t.t.check(
            "demand paging: 64 pages read zero on first touch, reused frames zeroed (exit code 7)",
            matches!(&r, Ok(e) if e.code == 7),
            format_args!("{r:?}"),
        );
        let r = t.run(&["quota"], &[], 256 * 1024);
        t.t.check(
            "quota: map ops past it are QuotaExceeded, a fault past it ends the process (-12)",
            matches!(&r, Ok(e) if e.code == pp::EXIT_NO_MEMORY && e.cause == Cause::OutOfMemory
                && e.message.contains("memory quota exceeded")),
            format_args!("{r:?}"),
        );
        let r = t.run(&["share"], &[], 0);
        t.t.check(
            "shared memory: two processes see each other's writes (exit code 0)",
            matches!(&r, Ok(e) if e.code == 0),
            format_args!("{r:?}"),
        );
        let r = t.run(&["segv"], &[], 0);
        t.t.check(
            "a fault outside every region ends the process (-11) with the fault",
            matches!(&r, Ok(e) if e.code == pp::EXIT_FAULT && e.cause == Cause::Faulted
                && e.message.contains("outside any region")),
            format_args!("{r:?}"),
        );
    }

    fn lifecycle(t: &mut T) {
        let mut c = t.client();
        let s = c.spawn(name("memtest"), args(&["memtest", "spin"], &[]), 0, false);
        let Ok(s) = s else {
            t.t.check("spawn a spinning process", false, format_args!("{s:?}"));
            return;
        };
        // Let it run a little.
        for _ in 0..20 {
            sys::yield_now();
        }
        let st = c.status(s.pid);
        let k = c.kill(s.pid);
        let w = c.wait(s.pid);
        t.t.check(
            "kill ends a running process: exit code -9, Killed",
            st == Ok(Status::Running)
                && k.is_ok()
                && matches!(&w, Ok(e) if e.code == pp::EXIT_KILLED && e.cause == Cause::Killed),
            format_args!("{st:?} {k:?} {w:?}"),
        );
        let k = c.kill(s.pid);
        t.t.check(
            "kill of a pid already waited for is NoSuchProcess",
            k == Err(pp::Error::NoSuchProcess),
            format_args!("{k:?}"),
        );
    }

    fn raw(
        ep: Cap<Endpoint>,
        label: u32,
        words: &[u64],
    ) -> Option<(u32, [u64; MSG_MAX_WORDS], usize)> {
        let info = MessageInfo::new(label, words.len(), 0)?;
        let m = sys::call(ep.cptr(), info, words).ok()?;
        let mut out = [0u64; MSG_MAX_WORDS];
        let n = m.copy_words(&mut out);
        Some((m.label(), out, n))
    }

    fn error_of<E: serde::de::DeserializeOwned>(
        r: &Option<(u32, [u64; MSG_MAX_WORDS], usize)>,
    ) -> Option<E> {
        let (label, words, n) = r.as_ref()?;
        if *label != REPLY_ERR {
            return None;
        }
        wire::Frame::from_words(words.get(..*n)?).ok()?.decode::<E>().ok()
    }

    fn errors(t: &mut T) {
        let mut c = t.client();
        let r = c.spawn(name("corrupt.elf"), args(&["corrupt.elf"], &[]), 0, false);
        t.t.check(
            "spawning a corrupt ELF file is BadElf",
            r == Err(pp::Error::BadElf),
            format_args!("{r:?}"),
        );
        let r = c.spawn(name("no-such-program"), Args::default(), 0, false);
        t.t.check(
            "spawning a program that is not there is NotFound",
            r == Err(pp::Error::NotFound),
            format_args!("{r:?}"),
        );
        let r = c.spawn(name("memtest"), Args::default(), u64::MAX, false);
        t.t.check(
            "a quota the memory server cannot give is MemoryServer",
            r == Err(pp::Error::MemoryServer),
            format_args!("{r:?}"),
        );
        let r = c.status(9999);
        t.t.check(
            "status of an unknown pid is NoSuchProcess",
            r == Err(pp::Error::NoSuchProcess),
            format_args!("{r:?}"),
        );
        let bad = pp::Error::Protocol(ProtoError::BadRequest);
        let r = raw(t.procs, pp::spawn::OP, &[0xdead_beef_dead_beef, 1, 2, 3]);
        let e = error_of::<pp::Error>(&r);
        t.t.check(
            "process: a garbage request gets BadRequest",
            e == Some(bad),
            format_args!("{e:?}"),
        );
        let r = raw(t.mem, mem::attach::OP, &[wire::Header::new(9, mem::VERSION).to_word(), 7, 7]);
        let e = error_of::<mem::Error>(&r);
        t.t.check(
            "mem: a truncated request gets BadRequest",
            e == Some(mem::Error::Protocol(ProtoError::BadRequest)),
            format_args!("{e:?}"),
        );
        let mut m = mem::Client::connect(t.mem);
        let u = m.usage(12345);
        let f = m.next_fault();
        let a = m.attach(1 << 20, None, false);
        t.t.check(
            "mem: an unknown space is NoSuchSpace, no faults are pending, attach without a VSpace is NoCap",
            u == Err(mem::Error::NoSuchSpace) && f == Ok(None) && a == Err(mem::Error::NoCap),
            format_args!("{u:?} {f:?} {a:?}"),
        );
        // An endpoint where the VSpace should be: the server asks the
        // kernel what it got (CNodeIdentify) and refuses it.
        let a = mem::attach(t.mem, t.mem.cast(), 1 << 20, None, None);
        t.t.check(
            "mem: attach with an endpoint for the VSpace is NoCap",
            a == Err(mem::Error::NoCap),
            format_args!("{a:?}"),
        );
        let s = c.stats();
        t.t.check(
            "both servers keep serving after garbage",
            s.is_ok() && m.pool().is_ok(),
            format_args!("{s:?}"),
        );
    }

    /// Memory comes back: the largest block the memory server has, again
    /// and again, and both pools as full as before at the end.
    fn cycles(t: &mut T) {
        let mut m = mem::Client::connect(t.mem);
        let (Ok(pool0), Ok(st0)) = (m.pool(), t.client().stats()) else {
            t.t.check("pool and stats", false, format_args!("unavailable"));
            return;
        };
        let quota = pool0.largest;
        let kib = (quota >> 10).min(2048) / 2;
        let mut text = [0u8; 20];
        let arg = fmt_u64(kib, &mut text);
        let mut ok = 0;
        let mut last: Option<Result<Exit, pp::Error>> = None;
        for _ in 0..CYCLES {
            let r = t.run(&["touch", arg], &["EXIT=5"], quota);
            if matches!(&r, Ok(e) if e.code == 5) {
                ok += 1;
            } else {
                last = Some(r);
            }
        }
        t.t.check(
            "memory comes back: the largest block, half touched, spawned and ended 12 times",
            ok == CYCLES,
            format_args!("{ok} of {CYCLES} ran, last failure {last:?}"),
        );
        rt::println!(
            "{CYCLES} cycles with a quota of {} KiB, touching {kib} KiB each",
            quota >> 10
        );
        let (pool1, st1) = (m.pool(), t.client().stats());
        t.t.check(
            "the memory server's pool is as full as before the cycles",
            pool1.map(|p| (p.free, p.largest, p.spaces))
                == Ok((pool0.free, pool0.largest, pool0.spaces)),
            format_args!("before {pool0:?}, after {pool1:?}"),
        );
        t.t.check(
            "the process server's pool is as full as before, nothing left running",
            st1.map(|s| (s.pool_free, s.live, s.zombies)) == Ok((st0.pool_free, 0, 0)),
            format_args!("before {st0:?}, after {st1:?}"),
        );
    }

    /// `v` in decimal.
    fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &str {
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 || i == 0 {
                break;
            }
        }
        core::str::from_utf8(&buf[i..]).unwrap_or("0")
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
