//! The server itself (bare metal): setup, spawning, the receive loop,
//! exits, fault reports, teardown.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt::Write as _;

use libipc::abi::{CapType, MSG_MAX_WORDS, NOTIFICATION_LABEL, Rights};
use libipc::cap::{CNode, Cap, Endpoint, Notification, Thread, VSpace};
use libipc::plan::Name;
use libipc::proto::init::{self as initp, Found};
use libipc::proto::mem::{self, Reason, SpaceId};
use libipc::proto::process::{
    self as pp, Args, Cause, EXIT_FAULT, EXIT_KILLED, EXIT_NO_MEMORY, Exit, Message, Pid, Program,
    Spawned, Stats, Status,
};
use libipc::proto::{Caller, Incoming, Reply};
use libipc::start::{self as st, Area, NamedCap, Role, StartInfo, layout, slots};
use os::buddy::{BlockRef, Pool};
use os::elf::{self, Machine, Policy};
use os::{Child, Env, Park, SlotAlloc, UntypedAlloc, Window, thread};

use crate::sizes::{container_bits, keeper_radix};

rt::server!(main);

const ROOT: Cap<CNode> = rt::server::CNODE;
const OWN_VSPACE: Cap<VSpace> = Cap::from_slot(slots::VSPACE);
const OWN_THREAD: Cap<Thread> = Cap::from_slot(slots::THREAD);
/// Where the server maps a frame to fill it (its own VSpace).
const WINDOW: u64 = 0x8_0000_0000;
const POOL_RADIX: u8 = 8;
const MAX_PROCS: usize = 32;
const MAX_WATCHES: usize = 16;
/// A process's memory quota at the memory server when `spawn` asks for 0.
const DEFAULT_QUOTA: u64 = 256 * 1024;
/// Its main stack (demand-zero; an unmapped page below it).
const STACK: u64 = 64 * 1024;
/// Badges of the caps a process holds to this server (pid in the low 32
/// bits): its slot 4 (the runtime's `init` protocol: exit) and its
/// "process" cap.
const EXIT_BADGE: u64 = 1 << 32;
const PROC_BADGE: u64 = 2 << 32;
const PID_MASK: u64 = 0xffff_ffff;
/// Rights of those caps: call, and send caps with the call (`watch`).
const TO_US: Rights = Rights::WRITE.union(Rights::GRANT);

fn main(start: &'static rt::Start) -> i32 {
    let (ep, mem_ep) = match (start.cap::<Endpoint>("process"), start.cap::<Endpoint>("mem")) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            rt::println!("{e}");
            return 2;
        }
    };
    let mut p = match Procs::new(start, ep, mem_ep) {
        Ok(p) => p,
        Err(e) => {
            rt::println!("process: cannot set up: {e}");
            return 1;
        }
    };
    let programs = start.info.files.len();
    rt::println!(
        "process: {} program files, a pool of {} KiB for {} processes at most, serving",
        programs,
        p.pool.buddy.total_bytes() >> 10,
        MAX_PROCS
    );
    p.serve()
}

/// Where a process is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Suspended,
    Running,
    Exited(Exit),
}

struct Proc {
    pid: Pid,
    /// Who spawned it: 0 for unbadged callers, else a pid.
    parent: Pid,
    /// Its parent ended before it: nobody will wait for it, so its record
    /// goes as soon as it ends.
    orphan: bool,
    name: Name,
    state: State,
    /// Its container (root slot `container_slot`) while it lives.
    container: Option<BlockRef>,
    container_slot: u64,
    /// Its thread and its keeper CNode (root slots, carved from the
    /// container).
    tcb: Cap<Thread>,
    keeper: u64,
    /// Its address space at the memory server.
    space: Option<SpaceId>,
}

struct Procs {
    start: &'static rt::Start,
    ep: Cap<Endpoint>,
    mem: Cap<Endpoint>,
    /// The badged copy of our notification the memory server signals.
    mem_note: Cap<Notification>,
    /// Free slots of the root.
    slots: SlotAlloc,
    window: Window,
    pool: Box<Pool>,
    procs: Vec<Proc>,
    next_pid: Pid,
    spawned: u64,
    /// (pid, root slot of the notification to signal when it ends).
    watches: Vec<(Pid, u64)>,
    /// Where a cap sent with a call arrives.
    recv: u64,
}

/// Why a build failed: the protocol error and what to print.
struct Failed(pp::Error, &'static str, Option<os::Error>);

impl Procs {
    fn new(
        start: &'static rt::Start,
        ep: Cap<Endpoint>,
        mem: Cap<Endpoint>,
    ) -> Result<Procs, os::Error> {
        let (a, b) = start.info.free_slots;
        let mut slots = SlotAlloc::new(a, b);
        let mut ut = Box::new(UntypedAlloc::new());
        for u in start.untyped() {
            ut.add(u.slot, u.paddr, u.size_bits, false)?;
        }
        let window = Window::create(ROOT, &mut slots, &mut ut, OWN_VSPACE, WINDOW)?;
        // Our notification: bound to our thread, so the memory server's
        // signals end our receive on the endpoint.
        let note_slot = slots.alloc()?;
        let note: Cap<Notification> = ut.carve(0, ROOT, note_slot)?;
        OWN_THREAD.bind_notification(note).map_err(|error| os::Error::Kernel {
            op: "ThreadBindNotification",
            error,
            at: 0,
        })?;
        let mem_note_slot = slots.alloc()?;
        ROOT.mint(mem_note_slot, ROOT, note_slot, Rights::WRITE, 1).map_err(|error| {
            os::Error::Kernel { op: "CNodeMint (notification for the memory server)", error, at: 0 }
        })?;
        let pool = Box::new(Pool::new(ROOT, &mut ut, &mut slots, POOL_RADIX)?);
        let recv = slots.alloc()?;
        Ok(Procs {
            start,
            ep,
            mem,
            mem_note: Cap::from_slot(mem_note_slot),
            slots,
            window,
            pool,
            procs: Vec::new(),
            next_pid: 1,
            spawned: 0,
            watches: Vec::new(),
            recv,
        })
    }

    fn find(&self, pid: Pid) -> Option<usize> {
        self.procs.iter().position(|p| p.pid == pid)
    }

    /// Process `pid`, if the caller `who` (0 or a pid) spawned it.
    fn mine(&self, who: Pid, pid: Pid) -> Result<usize, pp::Error> {
        let i = self.find(pid).ok_or(pp::Error::NoSuchProcess)?;
        if self.procs[i].parent != who {
            return Err(pp::Error::NotPermitted);
        }
        Ok(i)
    }

    /// Receive forever: requests, exits of processes, the memory server's
    /// fault reports.
    fn serve(&mut self) -> ! {
        let mut words = [0u64; MSG_MAX_WORDS];
        let mut out = [0u64; MSG_MAX_WORDS];
        let mut reply: Option<Reply> = None;
        loop {
            let msg = rt::server::reply_recv(
                "process",
                self.ep,
                ROOT,
                Some(self.recv),
                reply.take(),
                &out,
            );
            let n = msg.copy_words(&mut words);
            let words = words.get(..n).unwrap_or(&[]);
            let label = msg.label();
            let caps = msg.info.extra_caps();
            let kind = msg.badge & !PID_MASK;
            let pid = (msg.badge & PID_MASK) as Pid;
            if label == NOTIFICATION_LABEL {
                self.take_fault_reports();
            } else if msg.badge == 0 || kind == PROC_BADGE {
                let who = if msg.badge == 0 { 0 } else { pid };
                let mut svc = Service { p: self, who, caps };
                let rep = pp::dispatch(&mut svc, Incoming::new(msg.badge, label, words), &mut out);
                reply = Some(rep);
            } else if kind == EXIT_BADGE {
                let mut svc = InitService { exit: None };
                let rep =
                    initp::dispatch(&mut svc, Incoming::new(msg.badge, label, words), &mut out);
                match svc.exit {
                    Some((code, text)) => {
                        let message = message(format_args!("{text}"));
                        self.ended(pid, Exit { code, cause: Cause::Exited, message });
                    }
                    None => reply = Some(rep),
                }
            }
            let _ = ROOT.delete(self.recv);
        }
    }

    /// The memory server signalled: take its reports and end the processes
    /// whose faults nobody served.
    fn take_fault_reports(&mut self) {
        let mut c = mem::Client::connect(self.mem);
        for _ in 0..64 {
            let f = match c.next_fault() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    rt::println!("process: taking fault reports: {e}");
                    return;
                }
            };
            let Some(i) = self.procs.iter().position(|p| p.space == Some(f.space)) else {
                continue;
            };
            let (code, cause) = match f.reason {
                Reason::QuotaExceeded => (EXIT_NO_MEMORY, Cause::OutOfMemory),
                _ => (EXIT_FAULT, Cause::Faulted),
            };
            let pid = self.procs[i].pid;
            self.ended(pid, Exit { code, cause, message: message(format_args!("{f}")) });
        }
    }

    /// Process `pid` ended with `exit`: print it, tear it down, tell its
    /// watchers. Its children that ended are forgotten; those still
    /// running become orphans (the unbadged callers' to kill; forgotten
    /// when they end).
    fn ended(&mut self, pid: Pid, exit: Exit) {
        let Some(i) = self.find(pid) else { return };
        if matches!(self.procs[i].state, State::Exited(_)) {
            return;
        }
        let name = self.procs[i].name;
        if exit.message.is_empty() {
            rt::println!("process: {name} (pid {pid}) exited with code {}", exit.code);
        } else {
            rt::println!(
                "process: {name} (pid {pid}) exited with code {}: {}",
                exit.code,
                exit.message
            );
        }
        self.teardown(i);
        self.procs[i].state = State::Exited(exit);
        if self.procs[i].orphan {
            self.procs.swap_remove(i);
        }
        self.procs.retain(|p| p.parent != pid || !matches!(p.state, State::Exited(_)));
        for p in self.procs.iter_mut().filter(|p| p.parent == pid) {
            p.parent = 0;
            p.orphan = true;
        }
        let mut k = 0;
        while k < self.watches.len() {
            if self.watches[k].0 == pid {
                let (_, slot) = self.watches.swap_remove(k);
                let _ = Cap::<Notification>::from_slot(slot).signal();
                let _ = ROOT.delete(slot);
                self.slots.free(slot);
            } else {
                k += 1;
            }
        }
    }

    /// Destroy process `i`'s objects (one revoke of its container: thread
    /// first of all) and give its memory back (its block to our pool, its
    /// space to the memory server).
    fn teardown(&mut self, i: usize) {
        let p = &mut self.procs[i];
        if let Some(b) = p.container.take() {
            if let Err(e) = self.pool.give_back(b, p.container_slot) {
                rt::println!("process: giving {}'s container back: {e}", p.name);
            }
            for s in [p.container_slot, p.tcb.slot(), p.keeper] {
                if s != 0 {
                    let _ = ROOT.delete(s);
                    self.slots.free(s);
                }
            }
        }
        if let Some(space) = p.space.take()
            && let Err(e) = mem::Client::connect(self.mem).detach(space)
        {
            rt::println!("process: detaching {}'s address space: {e}", p.name);
        }
    }

    fn spawn(
        &mut self,
        who: Pid,
        program: Program,
        args: Args,
        memory: u64,
        suspended: bool,
    ) -> Result<Spawned, pp::Error> {
        if self.procs.len() >= MAX_PROCS {
            return Err(pp::Error::TooMany);
        }
        let file = self.start.file(program.as_str()).ok_or(pp::Error::NotFound)?;
        let image = match elf::check(file, &Policy::server(Machine::native())) {
            Ok(i) => i,
            Err(e) => {
                rt::println!("process: {program} is refused: {e}");
                return Err(pp::Error::BadElf);
            }
        };
        let container_slot = self.slots.alloc().map_err(|_| pp::Error::TooMany)?;
        let bits = container_bits(image.pages());
        let block = match self.pool.take(bits, container_slot) {
            Ok(b) => b,
            Err(_) => {
                self.slots.free(container_slot);
                return Err(pp::Error::NoMemory);
            }
        };
        let pid = self.next_pid;
        self.next_pid += 1;
        self.procs.push(Proc {
            pid,
            parent: who,
            orphan: false,
            name: program,
            state: if suspended { State::Suspended } else { State::Running },
            container: Some(block),
            container_slot,
            tcb: Cap::from_slot(0),
            keeper: 0,
            space: None,
        });
        let i = self.procs.len() - 1;
        // Build with our root slots; whatever the build leaves in root
        // slots it took (copies it no longer needs) is deleted after.
        let before = self.slots.clone();
        let mut ut = Box::new(UntypedAlloc::new());
        let _ = ut.add(container_slot, 0, block.bits, false);
        let slots = core::mem::replace(&mut self.slots, SlotAlloc::new(0, 0));
        let mut e = Env::new(ROOT, slots, *ut, self.window);
        let r = self.build(&mut e, i, file, &image, args, memory, suspended);
        self.slots = core::mem::replace(&mut e.slots, SlotAlloc::new(0, 0));
        let keep = match &r {
            Ok((tcb, keeper)) => [tcb.slot(), *keeper],
            Err(_) => [0, 0],
        };
        let (first, end) = self.slots.range();
        for s in first..end {
            if self.slots.is_used(s) && !before.is_used(s) && !keep.contains(&s) {
                let _ = ROOT.delete(s);
                self.slots.free(s);
            }
        }
        match r {
            Ok((tcb, keeper)) => {
                self.procs[i].tcb = tcb;
                self.procs[i].keeper = keeper;
                self.spawned += 1;
                let space = self.procs[i].space.unwrap_or(0);
                Ok(Spawned { pid, space })
            }
            Err(Failed(err, what, detail)) => {
                match detail {
                    Some(d) => rt::println!("process: cannot spawn {program}: {what}: {d}"),
                    None => rt::println!("process: cannot spawn {program}: {what}"),
                }
                self.teardown(i);
                self.procs.swap_remove(i);
                Err(err)
            }
        }
    }

    /// Build process `i` in `e` (its container): see the module docs.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        e: &mut Env,
        i: usize,
        file: &[u8],
        image: &elf::Image,
        args: Args,
        memory: u64,
        suspended: bool,
    ) -> Result<(Cap<Thread>, u64), Failed> {
        let nomem = |what| move |d| Failed(pp::Error::NoMemory, what, Some(d));
        let (pid, name) = (self.procs[i].pid, self.procs[i].name);
        // The keeper first: what is built goes there once it is mapped.
        let kr = keeper_radix(image.pages());
        let keeper: Cap<CNode> = e.alloc(kr).map_err(nomem("its keeper CNode"))?;
        e.park = Some(Park { cnode: keeper, slots: SlotAlloc::new(1, 1 << kr) });
        let mut child = Child::new(e).map_err(nomem("its CNode and VSpace"))?;
        let loaded = child.load(e, file, image).map_err(nomem("loading its ELF"))?;
        let ipc = child.ipc_buffer(e).map_err(nomem("its IPC buffer"))?;
        let note: Cap<Notification> = e.alloc(0).map_err(nomem("its notification"))?;
        let slot = |c: &mut Child| c.take_slot().map_err(nomem("its CNode"));
        let (mem_slot, proc_slot, note_slot) =
            (slot(&mut child)?, slot(&mut child)?, slot(&mut child)?);
        let give = |r: os::Result<()>| r.map_err(nomem("its caps"));
        give(child.give_badged(e, slots::INIT, self.ep, TO_US, EXIT_BADGE | u64::from(pid)))?;
        give(child.give_badged(e, proc_slot, self.ep, TO_US, PROC_BADGE | u64::from(pid)))?;
        give(child.give(e, note_slot, note, Rights::ALL))?;

        // Its address space at the memory server: heap and stack on demand.
        let quota = if memory == 0 { DEFAULT_QUOTA } else { memory };
        let vs = child.space.vs;
        let space =
            mem::attach(self.mem, vs, quota, Some((child.cnode, mem_slot)), Some(self.mem_note))
                .map_err(|err| {
                    rt::println!(
                        "process: the memory server refused {name}'s address space: {err}"
                    );
                    Failed(pp::Error::MemoryServer, "attaching its address space", None)
                })?;
        self.procs[i].space = Some(space);
        let heap = quota.clamp(mem::QUOTA_MIN, layout::HEAP_MAX);
        let mut m = mem::Client::connect(self.mem);
        let stack_bottom = layout::STACK_TOP - STACK;
        for (va, len) in [(stack_bottom, STACK), (layout::HEAP, heap)] {
            m.map_anon(space, va, len, mem::RW, false).map_err(|err| {
                rt::println!("process: mapping {name}'s stack or heap: {err}");
                Failed(pp::Error::MemoryServer, "its stack and heap", None)
            })?;
        }

        // Its start info.
        let mut info = Box::new(StartInfo {
            version: st::VERSION,
            name,
            pid,
            generation: 0,
            cnode_radix: st::CNODE_RADIX,
            heap: Area { vaddr: layout::HEAP, size: heap },
            stack: Area { vaddr: stack_bottom, size: STACK },
            args,
            // The rate of the counter it can read: the same as ours.
            clock_hz: rt::start_info().map_or(0, |s| s.clock_hz()),
            ..Default::default()
        });
        let named = |n: &str, ty: CapType, slot: u64, proto: &str, version: u32| NamedCap {
            name: Name::from_str(n).unwrap_or_default(),
            cap_type: ty as u32,
            slot,
            role: Role::Needed,
            protocol: Name::from_str(proto).unwrap_or_default(),
            version,
        };
        let caps = [
            named("mem", CapType::Endpoint, mem_slot, mem::NAME, mem::VERSION),
            named("process", CapType::Endpoint, proc_slot, pp::NAME, pp::VERSION),
            named("notify", CapType::Notification, note_slot, "", 0),
        ];
        for c in caps {
            let _ = info.caps.push(c);
        }
        info.free_slots = (child.next_slot(), 1 << st::CNODE_RADIX);
        let mut bytes = alloc::vec![0u8; layout::START_INFO_SIZE as usize];
        child.start_info(e, &info, &mut bytes).map_err(nomem("its start info"))?;

        // Its thread: faults to the memory server, badged with its space.
        let tcb = child.thread(e).map_err(nomem("its thread"))?;
        let fault_ep = e
            .mint(self.mem, Rights::WRITE, space)
            .map_err(|d| Failed(pp::Error::MemoryServer, "its fault endpoint", Some(d)))?;
        let spec = child.spec(ipc, Some(fault_ep), loaded.entry);
        thread::prepare(tcb, &spec, !suspended)
            .map_err(|d| Failed(pp::Error::NoMemory, "starting its thread", Some(d)))?;
        e.park(ipc).map_err(nomem("keeping its IPC buffer"))?;
        // The keeper is carved from the container: it goes with it.
        Ok((tcb, keeper.slot()))
    }
}

/// `args` formatted into an exit message, cut (at a character boundary)
/// to what fits.
fn message(args: core::fmt::Arguments<'_>) -> Message {
    struct Text {
        buf: [u8; pp::MESSAGE_MAX],
        len: usize,
    }
    impl core::fmt::Write for Text {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for ch in s.chars() {
                let mut b = [0u8; 4];
                let b = ch.encode_utf8(&mut b).as_bytes();
                let end = self.len + b.len();
                let Some(dst) = self.buf.get_mut(self.len..end) else { break };
                dst.copy_from_slice(b);
                self.len = end;
            }
            Ok(())
        }
    }
    let mut t = Text { buf: [0; pp::MESSAGE_MAX], len: 0 };
    let _ = t.write_fmt(args);
    core::str::from_utf8(t.buf.get(..t.len).unwrap_or(&[]))
        .ok()
        .and_then(Message::from_str)
        .unwrap_or_default()
}

/// The `init` protocol as a process's runtime speaks it on slot 4: only
/// `exit` means something here.
struct InitService {
    exit: Option<(i32, initp::Message)>,
}

impl initp::Server for InitService {
    fn lookup(&mut self, _: &Caller, _: Name, _: u64) -> Result<Found, initp::Error> {
        // Processes get their caps in the start info; there is no name
        // service for them (yet).
        Err(initp::Error::NotFound)
    }

    fn register(&mut self, _: &Caller, _: Name, _: Name, _: u32) -> Result<(), initp::Error> {
        Err(initp::Error::NotPermitted)
    }

    fn exit(&mut self, _: &Caller, code: i32, message: initp::Message) -> Result<(), initp::Error> {
        self.exit = Some((code, message));
        Ok(())
    }
}

/// One `process` request from `who` (0: an unbadged caller; else a pid),
/// with how many caps came with it.
struct Service<'a> {
    p: &'a mut Procs,
    who: Pid,
    caps: usize,
}

impl pp::Server for Service<'_> {
    fn spawn(
        &mut self,
        _: &Caller,
        program: Program,
        args: Args,
        memory: u64,
        suspended: bool,
    ) -> Result<Spawned, pp::Error> {
        self.p.spawn(self.who, program, args, memory, suspended)
    }

    fn resume(&mut self, _: &Caller, pid: Pid) -> Result<(), pp::Error> {
        let i = self.p.mine(self.who, pid)?;
        let p = &mut self.p.procs[i];
        if p.state != State::Suspended {
            return Err(pp::Error::NotSuspended);
        }
        p.tcb.resume().map_err(|_| pp::Error::NoSuchProcess)?;
        p.state = State::Running;
        Ok(())
    }

    fn status(&mut self, _: &Caller, pid: Pid) -> Result<Status, pp::Error> {
        let i = self.p.mine(self.who, pid)?;
        Ok(match &self.p.procs[i].state {
            State::Suspended => Status::Suspended,
            State::Running => Status::Running,
            State::Exited(e) => Status::Exited(e.clone()),
        })
    }

    fn wait(&mut self, _: &Caller, pid: Pid) -> Result<Exit, pp::Error> {
        let i = self.p.mine(self.who, pid)?;
        match &self.p.procs[i].state {
            State::Exited(e) => {
                let e = e.clone();
                self.p.procs.swap_remove(i);
                Ok(e)
            }
            _ => Err(pp::Error::StillRunning),
        }
    }

    fn watch(&mut self, _: &Caller, pid: Pid) -> Result<(), pp::Error> {
        if self.caps == 0 {
            return Err(pp::Error::NoCap);
        }
        let i = self.p.mine(self.who, pid)?;
        let note: Cap<Notification> = Cap::from_slot(self.p.recv);
        if matches!(self.p.procs[i].state, State::Exited(_)) {
            let _ = note.signal();
            return Ok(());
        }
        if self.p.watches.len() >= MAX_WATCHES {
            return Err(pp::Error::TooMany);
        }
        let slot = self.p.slots.alloc().map_err(|_| pp::Error::TooMany)?;
        if ROOT.move_(slot, ROOT, self.p.recv).is_err() {
            self.p.slots.free(slot);
            return Err(pp::Error::NoCap);
        }
        self.p.watches.push((pid, slot));
        Ok(())
    }

    fn kill(&mut self, _: &Caller, pid: Pid) -> Result<(), pp::Error> {
        let i = self.p.mine(self.who, pid)?;
        if !matches!(self.p.procs[i].state, State::Exited(_)) {
            let message = Message::from_str("killed").unwrap_or_default();
            self.p.ended(pid, Exit { code: EXIT_KILLED, cause: Cause::Killed, message });
        }
        Ok(())
    }

    fn stats(&mut self, _: &Caller) -> Result<Stats, pp::Error> {
        let procs = &self.p.procs;
        let zombies = procs.iter().filter(|p| matches!(p.state, State::Exited(_))).count();
        Ok(Stats {
            live: (procs.len() - zombies) as u32,
            zombies: zombies as u32,
            spawned: self.p.spawned,
            pool_free: self.p.pool.buddy.free_bytes(),
            pool_total: self.p.pool.buddy.total_bytes(),
        })
    }
}
