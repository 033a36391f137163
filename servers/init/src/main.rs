//! init: the root task of the system images.
//!
//! 1. Reports what the kernel handed it (memory as untyped, the boot archive).
//! 2. Decodes the boot plan (`libipc::plan`, the archive entry `boot.plan`
//!    the image builder wrote from the manifest) and starts every server in
//!    the plan's order, each with exactly the capabilities its entry names
//!    (`procs`): its memory quota as untyped, endpoints of the services it
//!    provides and needs, files, interrupt handlers, I/O ports.
//! 3. Serves the `init` protocol on its endpoint (`names`: lookup and
//!    register; exit) and supervises: each server's fault endpoint and init
//!    endpoint are init's endpoint badged with its pid and generation. On a
//!    fault or an exit, init tears the server down (one revoke of its
//!    memory quota destroys everything it was made of) and starts it again
//!    as its restart policy says, pointing its names at the new endpoints.
//!
//! `docs/userspace.md` describes the whole arrangement.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod fail;
#[cfg(target_os = "none")]
mod names;
#[cfg(target_os = "none")]
mod procs;

#[cfg(target_os = "none")]
mod root {
    use libipc::abi::{BootInfo, CapType, FAULT_LABEL_BASE, FaultKind, MSG_MAX_WORDS};
    use libipc::bootarchive::{BootArchive, EntryKind};
    use libipc::cap::{Cap, Endpoint, init as rootcaps};
    use libipc::plan::{self, Name, Plan};
    use libipc::proto::init::{self as initp, Found, Message};
    use libipc::proto::{Caller, Incoming};
    use os::Env;

    use crate::names::Names;
    use crate::procs::{self, Proc, State, World};

    rt::entry!(main);

    /// Where init maps a frame to fill it (its own VSpace: above the
    /// archive at `root_layout::ARCHIVE`, below riscv64's user end).
    const WINDOW: u64 = 0x30_0000_0000;

    /// Most interrupt lines init hands out.
    const MAX_IRQS: usize = 32;

    /// Most device regions init hands out.
    const MAX_DEVICES: usize = 16;

    /// init's own heap (its state, start-info buffers): mapped by init
    /// from its memory, below the window.
    const HEAP: u64 = 0x20_0000_0000;
    const HEAP_SIZE: u64 = 1 << 20;

    fn main(boot: &'static BootInfo) {
        let count = (boot.untyped.end - boot.untyped.start) as usize;
        let list = boot.untyped_list.get(..count).unwrap_or(&[]);
        let ram: u64 = list.iter().filter(|u| u.is_device == 0).map(|u| 1u64 << u.size_bits).sum();
        let device = list.iter().filter(|u| u.is_device != 0).count();
        rt::println!(
            "init: running as the root task; {} untyped caps ({} MiB of RAM, {} device regions), {} free slots",
            count,
            ram >> 20,
            device,
            boot.empty.end - boot.empty.start
        );
        let archive = match BootArchive::parse(rt::boot_archive(boot)) {
            Ok(a) => a,
            Err(e) => {
                rt::println!("init: the boot archive does not parse: {}", e);
                return;
            }
        };
        rt::println!("init: boot archive at {:#x}, {} entries:", boot.archive_vaddr, archive.len());
        for e in archive.entries() {
            rt::println!("init:   {:<24} {:>9} bytes  {}", e.name, e.data.len(), e.kind.name());
        }
        let mut env = match Env::from_boot(boot, rootcaps::CNODE, rootcaps::VSPACE, WINDOW) {
            Ok(e) => e,
            Err(e) => {
                rt::println!("init: cannot set up its own resources: {e}");
                return;
            }
        };
        if let Err(e) = rt::heap::map_own(&mut env, rootcaps::VSPACE, HEAP, HEAP_SIZE) {
            rt::println!("init: cannot map its heap: {e}");
            return;
        }
        // The plan, decoded one server at a time onto the heap (a whole
        // plan is tens of KiB).
        let Some(entry) = archive.entries().find(|e| e.kind == EntryKind::Plan) else {
            rt::println!("init: no boot plan in the archive; nothing to start");
            return;
        };
        let mut plan = alloc::boxed::Box::<Plan>::default();
        if let Err(e) = plan::decode_into(entry.data, &mut plan) {
            rt::println!("init: {e}; nothing started");
            return;
        }
        if plan.servers.is_empty() {
            rt::println!("init: the boot plan lists no servers; nothing to start");
            return;
        }
        let init_ep: Cap<Endpoint> = match env.alloc(0) {
            Ok(ep) => ep,
            Err(e) => {
                rt::println!("init: cannot make its endpoint: {e}");
                return;
            }
        };
        let mut init = alloc::boxed::Box::new(Init {
            env,
            archive,
            archive_frames: boot.archive_frames.start,
            clock_hz: boot.clock_hz,
            plan,
            procs: core::array::from_fn(|_| Proc::new(0, Name::new())),
            names: Names::from_plan(&Plan::default()),
            init_ep,
            irqs: [(0, 0); MAX_IRQS],
            nirqs: 0,
            devices: [(0, 0, 0, 0); MAX_DEVICES],
            ndevices: 0,
        });
        init.names = Names::from_plan(&init.plan);
        for (i, s) in init.plan.servers.iter().enumerate() {
            if let Some(p) = init.procs.get_mut(i) {
                *p = Proc::new(i as u32 + 1, s.name);
            }
        }
        for i in 0..init.plan.servers.len() {
            init.start(i);
        }
        init.summary();
        init.serve();
    }

    struct Init {
        env: Env,
        archive: BootArchive<'static>,
        archive_frames: u64,
        /// `BootInfo::clock_hz`, for the start infos.
        clock_hz: u64,
        plan: alloc::boxed::Box<Plan>,
        procs: [Proc; plan::MAX_SERVERS],
        names: Names,
        init_ep: Cap<Endpoint>,
        irqs: [(u32, u64); MAX_IRQS],
        nirqs: usize,
        devices: [(u32, usize, u64, u64); MAX_DEVICES],
        ndevices: usize,
    }

    impl Init {
        /// (Re)start server `i`, printing what happened.
        fn start(&mut self, i: usize) {
            let Some(s) = self.plan.servers.get(i).cloned().map(alloc::boxed::Box::new) else {
                return;
            };
            let mut needs = [None; plan::MAX_NEEDS];
            for (k, svc) in s.needs.iter().enumerate() {
                let found = self.names.get(svc.name.as_str()).and_then(|e| {
                    let up = self.procs.get(e.owner).is_some_and(|p| p.state == State::Running);
                    e.ep.filter(|_| up).map(|ep| (ep, e.protocol, e.version))
                });
                if let Some(n) = needs.get_mut(k) {
                    *n = found;
                }
            }
            let Some(p) = self.procs.get_mut(i) else { return };
            let mut w = World {
                env: &mut self.env,
                archive: &self.archive,
                archive_frames: self.archive_frames,
                clock_hz: self.clock_hz,
                init_ep: self.init_ep,
                irqs: &mut self.irqs,
                nirqs: &mut self.nirqs,
                devices: &mut self.devices,
                ndevices: &mut self.ndevices,
            };
            match procs::start(&mut w, p, &s, &needs) {
                Ok(()) => {
                    let mut line = Line::new();
                    procs::describe(&s, &mut line);
                    if p.starts == 1 {
                        rt::println!("init: started {} (pid {}): {}", p.name, p.pid, line.as_str());
                    } else {
                        rt::println!(
                            "init: restarted {} (pid {}, restart {}): {}",
                            p.name,
                            p.pid,
                            p.starts - 1,
                            line.as_str()
                        );
                    }
                    let p = &self.procs[i];
                    self.names.started(i, p, &self.plan);
                }
                Err(e) => {
                    p.state = State::Stopped;
                    rt::println!("init: cannot start {} (pid {}): {e}", p.name, p.pid);
                }
            }
        }

        fn summary(&self) {
            let running = self.procs.iter().filter(|p| p.state == State::Running).count();
            rt::println!("init: {} of {} servers running:", running, self.plan.servers.len());
            for (i, s) in self.plan.servers.iter().enumerate() {
                let Some(p) = self.procs.get(i) else { continue };
                let mut line = Line::new();
                procs::describe(s, &mut line);
                let state = if p.state == State::Running { "running" } else { "stopped" };
                rt::println!(
                    "init:   pid {:<3} {:<20} {:<8} {}",
                    p.pid,
                    p.name.as_str(),
                    state,
                    line.as_str()
                );
            }
        }

        /// The running server a message's badge names (pid and
        /// generation must both match).
        fn caller(&self, badge: u64) -> Option<usize> {
            let pid = (badge & 0xffff_ffff) as u32;
            self.procs.iter().position(|p| {
                p.pid == pid && p.pid != 0 && p.state == State::Running && p.badge() == badge
            })
        }

        /// Server `i` stopped (`why`): tear it down and restart it as its
        /// policy says.
        fn stopped(&mut self, i: usize) {
            let Some(p) = self.procs.get_mut(i) else { return };
            procs::teardown(&mut self.env, p);
            self.names.stopped(i, &mut self.env);
            let Some(s) = self.plan.servers.get(i) else { return };
            let restarts = p.starts.saturating_sub(1);
            if s.restart.again(restarts) {
                self.start(i);
            } else {
                let why = match s.restart {
                    plan::Restart::Never => "its restart policy is never",
                    _ => "its restarts are used up",
                };
                rt::println!("init: {} (pid {}) stays stopped: {}", p.name, p.pid, why);
                if self.procs.iter().all(|p| p.state != State::Running) {
                    rt::println!("init: all servers have stopped");
                }
            }
        }

        /// Receive forever: faults, name-service calls, exits.
        fn serve(&mut self) -> ! {
            // Where a capability sent with a request lands; with no free
            // slot, no window (the kernel then transfers no caps).
            let mut incoming = self.fresh_incoming();
            let mut words = [0u64; MSG_MAX_WORDS];
            let mut out = [0u64; MSG_MAX_WORDS];
            let mut reply: Option<libipc::proto::Reply> = None;
            loop {
                let (ep, cnode) = (self.init_ep, rootcaps::CNODE);
                let msg = rt::server::reply_recv("init", ep, cnode, incoming, reply.take(), &out);
                let n = msg.copy_words(&mut words);
                let caps = msg.info.extra_caps();
                let label = msg.label();
                let mut cap_used = false;
                match self.caller(msg.badge) {
                    None => {
                        // A stale badge (a server already torn down) or no
                        // badge: nothing to answer for.
                        let e = initp::Error::NotPermitted;
                        reply = Some(libipc::proto::wire::error_reply(initp::VERSION, e, &mut out));
                    }
                    Some(i)
                        if u64::from(label) >= FAULT_LABEL_BASE
                            && u64::from(label) < FAULT_LABEL_BASE + 0x100 =>
                    {
                        self.fault(
                            i,
                            (u64::from(label) - FAULT_LABEL_BASE) as u32,
                            words.get(..n).unwrap_or(&[]),
                        );
                        self.stopped(i);
                    }
                    Some(i) => {
                        let mut svc = Service {
                            init: self,
                            caller: i,
                            cap: if caps > 0 { incoming } else { None },
                            cap_used: false,
                            exit: None,
                        };
                        let inc = Incoming::new(msg.badge, label, words.get(..n).unwrap_or(&[]));
                        let rep = initp::dispatch(&mut svc, inc, &mut out);
                        cap_used = svc.cap_used;
                        match svc.exit {
                            Some((code, text)) => {
                                let p = &self.procs[i];
                                if text.is_empty() {
                                    rt::println!(
                                        "init: {} (pid {}) exited with code {}",
                                        p.name,
                                        p.pid,
                                        code
                                    );
                                } else {
                                    rt::println!(
                                        "init: {} (pid {}) exited with code {}: {}",
                                        p.name,
                                        p.pid,
                                        code,
                                        text
                                    );
                                }
                                self.stopped(i);
                            }
                            None => reply = Some(rep),
                        }
                    }
                }
                if caps > 0 {
                    if cap_used {
                        incoming = self.fresh_incoming();
                    } else if let Some(slot) = incoming {
                        let _ = rootcaps::CNODE.delete(slot);
                    }
                }
                if incoming.is_none() {
                    incoming = self.fresh_incoming();
                }
            }
        }

        /// An empty slot of init's for a capability that comes with a call.
        fn fresh_incoming(&mut self) -> Option<u64> {
            self.env.slot().ok()
        }

        fn fault(&self, i: usize, kind: u32, w: &[u64]) {
            let p = &self.procs[i];
            let word = |k: usize| w.get(k).copied().unwrap_or(0);
            match FaultKind::try_from(kind) {
                Ok(FaultKind::PageFault) => {
                    let access = match word(2) {
                        0 => "read",
                        1 => "write",
                        _ => "execute",
                    };
                    rt::println!(
                        "init: {} (pid {}) faulted: page fault ({access}) at address {:#x}, pc {:#x}",
                        p.name,
                        p.pid,
                        word(1),
                        word(0)
                    );
                }
                Ok(FaultKind::UnknownSyscall) => {
                    rt::println!("init: {} (pid {}) faulted: unknown syscall", p.name, p.pid);
                }
                Ok(k) => rt::println!(
                    "init: {} (pid {}) faulted: {} at pc {:#x} ({:#x})",
                    p.name,
                    p.pid,
                    k.as_str(),
                    word(0),
                    word(1)
                ),
                Err(k) => rt::println!("init: {} (pid {}) faulted: kind {k}", p.name, p.pid),
            }
        }
    }

    /// The `init` protocol, for one call from server `caller`.
    struct Service<'a> {
        init: &'a mut Init,
        caller: usize,
        /// The slot a cap sent with the call arrived in.
        cap: Option<u64>,
        cap_used: bool,
        exit: Option<(i32, Message)>,
    }

    impl initp::Server for Service<'_> {
        fn lookup(&mut self, _c: &Caller, name: Name, slot: u64) -> Result<Found, initp::Error> {
            let i = &self.init;
            i.names.lookup(&i.plan, &i.procs, self.caller, &name, slot)
        }

        fn register(
            &mut self,
            _c: &Caller,
            name: Name,
            protocol: Name,
            version: u32,
        ) -> Result<(), initp::Error> {
            let slot = self.cap.ok_or(initp::Error::NoCap)?;
            // Only an endpoint: clients `Call` what they look up, and a call
            // on any other object (a CNode, an untyped, a thread of the
            // registering server's) would invoke that object for them.
            let ty = rootcaps::CNODE.identify(slot).map(|id| id.ty);
            if ty != Ok(CapType::Endpoint) {
                let p = &self.init.procs[self.caller];
                let what = match ty {
                    Ok(CapType::Null) => "no capability",
                    Ok(t) => t.as_str(),
                    Err(e) => e.as_str(),
                };
                rt::println!(
                    "init: {} (pid {}) may not register {}: it sent {}, not an endpoint",
                    p.name,
                    p.pid,
                    name,
                    what
                );
                return Err(initp::Error::NoCap);
            }
            self.init.names.register(
                self.caller,
                &name,
                &protocol,
                version,
                Cap::from_slot(slot),
            )?;
            self.cap_used = true;
            let p = &self.init.procs[self.caller];
            rt::println!(
                "init: {} (pid {}) registered {} ({} v{})",
                p.name,
                p.pid,
                name,
                protocol,
                version
            );
            Ok(())
        }

        fn exit(&mut self, _c: &Caller, code: i32, message: Message) -> Result<(), initp::Error> {
            self.exit = Some((code, message));
            Ok(())
        }
    }

    /// A line of text on the stack.
    struct Line {
        buf: [u8; 256],
        len: usize,
    }

    impl Line {
        fn new() -> Line {
            Line { buf: [0; 256], len: 0 }
        }
        fn as_str(&self) -> &str {
            core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
        }
    }

    impl core::fmt::Write for Line {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let b = s.as_bytes();
            let end = self.len + b.len();
            if let Some(dst) = self.buf.get_mut(self.len..end) {
                dst.copy_from_slice(b);
                self.len = end;
            }
            Ok(())
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
