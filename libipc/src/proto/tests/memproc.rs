//! The `mem` and `process` protocols: declarations, the largest messages
//! fit, round trips through `Direct`, malformed requests.

extern crate std;

use crate::abi::MSG_MAX_WORDS;
use crate::plan::Name;
use crate::proto::mem::{self, FaultReport, Pool, Reason, Usage};
use crate::proto::process::{self, Args, Cause, Exit, Spawned, Stats, Status};
use crate::proto::{Caller, Direct, Incoming, ProtoError, Str, wire};
use crate::start::{ARG_LEN, ARGS_MAX, ENV_LEN, ENV_MAX};

use super::XorShift;

#[test]
fn declarations() {
    assert_eq!((mem::NAME, mem::VERSION), ("mem", 1));
    assert_eq!((process::NAME, process::VERSION), ("process", 1));
    assert!(crate::proto::declared("mem").is_some());
    assert!(crate::proto::declared("process").is_some());
    assert_eq!(mem::OPS.len(), 10);
    assert_eq!(process::OPS.len(), 7);
    const {
        assert!(!mem::attach::IDEMPOTENT && !mem::shm_create::IDEMPOTENT);
        assert!(!process::spawn::IDEMPOTENT && !process::wait::IDEMPOTENT);
        assert!(process::kill::IDEMPOTENT && mem::usage::IDEMPOTENT);
    }
}

#[test]
fn rights() {
    assert!(mem::valid_prot(mem::READ));
    assert!(mem::valid_prot(mem::RW));
    assert!(mem::valid_prot(mem::READ | mem::EXEC));
    assert!(!mem::valid_prot(mem::WRITE | mem::EXEC));
    assert!(!mem::valid_prot(8));
}

fn full_args() -> Args {
    let mut a = Args::default();
    for _ in 0..ARGS_MAX {
        a.argv.push(Str::from_str(&"a".repeat(ARG_LEN)).unwrap()).unwrap();
    }
    for _ in 0..ENV_MAX {
        a.env.push(Str::from_str(&"e".repeat(ENV_LEN)).unwrap()).unwrap();
    }
    a
}

#[test]
fn largest_messages_fit() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let name = Name::from_str(&"p".repeat(crate::plan::NAME_MAX)).unwrap();
    let req = process::spawn::Request {
        program: name,
        args: full_args(),
        memory: u64::MAX,
        suspended: true,
    };
    assert!(wire::encode(process::VERSION, &req, &mut words).is_ok(), "the largest spawn fits");
    let exit = Exit {
        code: i32::MIN,
        cause: Cause::OutOfMemory,
        message: Str::from_str(&"m".repeat(process::MESSAGE_MAX)).unwrap(),
    };
    let r: Result<Status, process::Error> = Ok(Status::Exited(exit));
    assert!(wire::encode(process::VERSION, &r, &mut words).is_ok());
    let f = FaultReport {
        space: u64::MAX,
        kind: u32::MAX,
        pc: u64::MAX,
        addr: u64::MAX,
        access: u32::MAX,
        reason: Reason::Internal,
    };
    let r: Result<Option<FaultReport>, mem::Error> = Ok(Some(f));
    assert!(wire::encode(mem::VERSION, &r, &mut words).is_ok());
    let req = mem::map_anon::Request {
        space: u64::MAX,
        va: u64::MAX,
        len: u64::MAX,
        rights: u8::MAX,
        populate: true,
    };
    assert!(wire::encode(mem::VERSION, &req, &mut words).is_ok());
}

/// A process server that knows one program and one process.
#[derive(Default)]
struct Procs {
    exited: bool,
}

impl process::Server for Procs {
    fn spawn(
        &mut self,
        c: &Caller,
        program: process::Program,
        args: Args,
        memory: u64,
        suspended: bool,
    ) -> Result<Spawned, process::Error> {
        if program.as_str() != "hello" {
            return Err(process::Error::NotFound);
        }
        assert_eq!(args.arg(0), Some("hello"));
        assert_eq!(args.var("X"), Some("1"));
        assert!(!suspended && memory == 4096);
        Ok(Spawned { pid: 7, space: c.badge + 1 })
    }
    fn resume(&mut self, _: &Caller, _: process::Pid) -> Result<(), process::Error> {
        Err(process::Error::NotSuspended)
    }
    fn status(&mut self, _: &Caller, pid: process::Pid) -> Result<Status, process::Error> {
        match pid {
            7 if self.exited => Ok(Status::Exited(exit())),
            7 => Ok(Status::Running),
            _ => Err(process::Error::NoSuchProcess),
        }
    }
    fn wait(&mut self, c: &Caller, pid: process::Pid) -> Result<Exit, process::Error> {
        match self.status(c, pid)? {
            Status::Exited(e) => Ok(e),
            _ => Err(process::Error::StillRunning),
        }
    }
    fn watch(&mut self, _: &Caller, _: process::Pid) -> Result<(), process::Error> {
        Err(process::Error::NoCap)
    }
    fn kill(&mut self, _: &Caller, pid: process::Pid) -> Result<(), process::Error> {
        self.exited = pid == 7;
        Ok(())
    }
    fn stats(&mut self, _: &Caller) -> Result<Stats, process::Error> {
        Ok(Stats { live: u32::from(!self.exited), spawned: 1, ..Default::default() })
    }
}

fn exit() -> Exit {
    Exit {
        code: process::EXIT_KILLED,
        cause: Cause::Killed,
        message: Str::from_str("killed").unwrap(),
    }
}

#[test]
fn process_round_trips() {
    let mut srv = Procs::default();
    let mut c = process::Client::new(Direct::new(|label, words: &[u64], out| {
        Ok(process::dispatch(&mut srv, Incoming::new(3, label, words), out))
    }));
    let mut args = Args::default();
    args.argv.push(Str::from_str("hello").unwrap()).unwrap();
    args.env.push(Str::from_str("X=1").unwrap()).unwrap();
    let name = |s| Name::from_str(s).unwrap();
    assert_eq!(c.spawn(name("hello"), args.clone(), 4096, false), Ok(Spawned { pid: 7, space: 4 }));
    assert_eq!(c.spawn(name("nope"), args, 0, false), Err(process::Error::NotFound));
    assert_eq!(c.wait(7), Err(process::Error::StillRunning));
    assert_eq!(c.status(7), Ok(Status::Running));
    assert_eq!(c.resume(7), Err(process::Error::NotSuspended));
    assert_eq!(c.kill(7), Ok(()));
    assert_eq!(c.wait(7), Ok(exit()));
    assert_eq!(c.status(8), Err(process::Error::NoSuchProcess));
    assert_eq!(c.stats().map(|s| s.live), Ok(0));
}

/// A memory server that only checks arguments.
struct Mem;

impl mem::Server for Mem {
    fn attach(
        &mut self,
        c: &Caller,
        quota: u64,
        _: Option<u64>,
        _: bool,
    ) -> Result<mem::SpaceId, mem::Error> {
        if c.badge != 0 {
            return Err(mem::Error::NotPermitted);
        }
        if quota > mem::QUOTA_MAX {
            return Err(mem::Error::BadSize);
        }
        Err(mem::Error::NoCap)
    }
    fn detach(&mut self, _: &Caller, _: mem::SpaceId) -> Result<Usage, mem::Error> {
        Err(mem::Error::NoSuchSpace)
    }
    fn map_anon(
        &mut self,
        _: &Caller,
        _: mem::SpaceId,
        va: u64,
        len: u64,
        rights: mem::Prot,
        _: bool,
    ) -> Result<(), mem::Error> {
        if !mem::valid_prot(rights) {
            return Err(mem::Error::BadRights);
        }
        if !va.is_multiple_of(4096) || len == 0 {
            return Err(mem::Error::BadAddress);
        }
        Err(mem::Error::QuotaExceeded)
    }
    fn unmap(&mut self, _: &Caller, _: mem::SpaceId, _: u64, _: u64) -> Result<u64, mem::Error> {
        Err(mem::Error::NotMapped)
    }
    fn usage(&mut self, _: &Caller, _: mem::SpaceId) -> Result<Usage, mem::Error> {
        Ok(Usage { quota: 1 << 20, ..Default::default() })
    }
    fn pool(&mut self, _: &Caller) -> Result<Pool, mem::Error> {
        Ok(Pool::default())
    }
    fn shm_create(&mut self, _: &Caller, _: mem::SpaceId, _: u32) -> Result<u64, mem::Error> {
        Ok(9)
    }
    fn shm_map(
        &mut self,
        _: &Caller,
        _: mem::SpaceId,
        _: mem::ShmId,
        _: u64,
        _: mem::Prot,
    ) -> Result<(), mem::Error> {
        Err(mem::Error::NoSuchObject)
    }
    fn shm_grant(&mut self, _: &Caller, _: mem::ShmId, _: mem::SpaceId) -> Result<(), mem::Error> {
        Ok(())
    }
    fn next_fault(&mut self, _: &Caller) -> Result<Option<FaultReport>, mem::Error> {
        Ok(None)
    }
}

#[allow(clippy::type_complexity)]
fn mem_client(
    badge: u64,
) -> mem::Client<
    Direct<
        impl FnMut(u32, &[u64], &mut [u64; MSG_MAX_WORDS]) -> Result<crate::proto::Reply, ProtoError>,
    >,
> {
    let mut srv = Mem;
    mem::Client::new(Direct::new(move |label, words: &[u64], out| {
        Ok(mem::dispatch(&mut srv, Incoming::new(badge, label, words), out))
    }))
}

#[test]
fn mem_round_trips_and_garbage() {
    let mut c = mem_client(0);
    assert_eq!(c.attach(1 << 20, Some(9), true), Err(mem::Error::NoCap));
    assert_eq!(c.attach(u64::MAX, None, false), Err(mem::Error::BadSize));
    assert_eq!(c.map_anon(mem::SELF, 0x1001, 4096, mem::RW, false), Err(mem::Error::BadAddress));
    assert_eq!(
        c.map_anon(mem::SELF, 0x1000, 4096, mem::WRITE | mem::EXEC, false),
        Err(mem::Error::BadRights)
    );
    assert_eq!(c.usage(mem::SELF).map(|u| u.quota), Ok(1 << 20));
    assert_eq!(c.next_fault(), Ok(None));
    assert_eq!(c.shm_create(mem::SELF, 2), Ok(9));
    let mut c = mem_client(5);
    assert_eq!(c.attach(1 << 20, None, false), Err(mem::Error::NotPermitted));
    let mut srv = Mem;
    // Garbage: random words under every label; the server answers each.
    let mut rng = XorShift(0x6d656d);
    let mut out = [0u64; MSG_MAX_WORDS];
    for _ in 0..5000 {
        let label = rng.below(14) as u32;
        let n = rng.below(12) as usize;
        let words: std::vec::Vec<u64> = (0..n).map(|_| rng.next()).collect();
        let r = mem::dispatch(&mut srv, Incoming::new(0, label, &words), &mut out);
        assert!(r.len <= MSG_MAX_WORDS);
    }
    let mut c = mem::Client::new(Direct::new(|label, words: &[u64], out| {
        Ok(mem::dispatch(&mut srv, Incoming::new(5, label, words), out))
    }));
    assert_eq!(c.usage(mem::SELF).map(|u| u.quota), Ok(1 << 20), "still serving");
    assert_eq!(c.unmap(1, 0, 1), Err(mem::Error::NotMapped));
}

#[test]
fn fault_reports_read_well() {
    let f =
        |reason, kind| FaultReport { space: 1, kind, pc: 0x2000, addr: 0x5000, access: 1, reason };
    let s = |r: FaultReport| std::format!("{r}");
    assert_eq!(
        s(f(Reason::Unmapped, 1)),
        "page fault (write) at 0x5000 outside any region, pc 0x2000"
    );
    assert_eq!(
        s(f(Reason::QuotaExceeded, 1)),
        "page fault (write) at 0x5000: memory quota exceeded, pc 0x2000"
    );
    assert!(s(f(Reason::NotPageFault, 2)).starts_with("illegal instruction at pc 0x2000"));
}
