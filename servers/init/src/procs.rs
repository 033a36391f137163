//! Building a server from its plan entry, and tearing it down.
//!
//! Everything a server is made of comes from one untyped of its memory
//! quota (its *container*), carved from init's memory: its CNode, VSpace,
//! thread, page tables, image, stack, heap, IPC buffer and start-info
//! frames, the endpoints it provides, and (as untyped caps in its CNode)
//! whatever of the quota is left. Revoking the container destroys all of
//! it, and every copy of those caps anywhere (clients' endpoint copies
//! included). The caps init keeps while the server runs live in a run of
//! init's own slots reserved for the server; after the revoke init deletes
//! whatever is left there (copies of init's own caps: the badged fault
//! endpoint, archive frames).

use libipc::abi::{CapType, Rights};
use libipc::bootarchive::{BootArchive, EntryKind};
use libipc::cap::{CNode, Cap, Endpoint, Frame, Thread, Untyped, init as root};
use libipc::plan::{self, Name};
use libipc::start::{self as st, Area, NamedCap, Role, StartInfo, layout};
use os::elf::{self, Machine, Policy};
use os::thread;
use os::{Child, Env, SlotAlloc, UntypedAlloc};

use crate::fail::{Fail, Res};

/// Read-only, read-write.
const RO: Rights = Rights::READ;
const RW: Rights = Rights::READ.union(Rights::WRITE);
/// A server's own copy of an endpoint it provides: receive, call, and hand
/// out copies that may send caps (the process server gives its processes
/// such copies of its endpoint).
const SERVE: Rights = RW.union(Rights::GRANT);
/// What a server's copy of init's endpoint may do: call, and send caps
/// (`register`).
const TO_INIT: Rights = Rights::WRITE.union(Rights::GRANT);
/// A client's copy of a provider's endpoint: call, and send caps with a
/// request (console `subscribe` sends a notification, the memory server
/// takes an address space to page, the process server a notification to
/// signal). A server receives caps only into a receive window it sets, so
/// GRANT gives it nothing it did not ask for; servers that set none get no
/// caps.
pub const TO_SERVER: Rights = Rights::WRITE.union(Rights::GRANT);

/// Why a server is not running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    /// Stopped for good (restart policy spent, or it could not start).
    Stopped,
}

/// One server of the plan.
pub struct Proc {
    pub pid: u32,
    pub name: Name,
    pub state: State,
    /// Starts so far, the first included (its badge's generation).
    pub starts: u32,
    /// init's slots for it: `[base, base + count)`.
    pub slot_base: u64,
    pub slot_count: u64,
    /// The container untyped (slot `slot_base`).
    pub container: Cap<Untyped>,
    /// Its CNode (init's raw cap).
    pub cnode: Cap<CNode>,
    pub thread: Cap<Thread>,
    /// The endpoint init made for each service it provides (init's slots),
    /// by the plan's `provides` order.
    pub provided: [Option<Cap<Endpoint>>; plan::MAX_PROVIDES],
}

impl Proc {
    pub fn new(pid: u32, name: Name) -> Proc {
        Proc {
            pid,
            name,
            state: State::Stopped,
            starts: 0,
            slot_base: 0,
            slot_count: 0,
            container: Cap::from_slot(0),
            cnode: Cap::from_slot(0),
            thread: Cap::from_slot(0),
            provided: [None; plan::MAX_PROVIDES],
        }
    }

    /// The badge of its copy of init's endpoint: pid and generation.
    pub fn badge(&self) -> u64 {
        u64::from(self.pid) | (u64::from(self.starts) << 32)
    }
}

/// What building needs from init besides the plan entry.
pub struct World<'a> {
    pub env: &'a mut Env,
    pub archive: &'a BootArchive<'static>,
    /// The first slot of the archive's frame caps in init's CNode.
    pub archive_frames: u64,
    /// The user-readable counter's rate (`BootInfo::clock_hz`), passed on
    /// in each start info.
    pub clock_hz: u64,
    /// init's endpoint (unbadged original).
    pub init_ep: Cap<Endpoint>,
    /// IRQ handler caps init got so far (line, slot): each line is issued
    /// once, kept across restarts, copied into each incarnation.
    pub irqs: &'a mut [(u32, u64)],
    pub nirqs: &'a mut usize,
    /// Device frames init carved so far, kept across restarts like IRQ
    /// handlers: (pid, region index, first slot, pages).
    pub devices: &'a mut [(u32, usize, u64, u64)],
    pub ndevices: &'a mut usize,
}

/// The endpoint a needed service is reached through: (the provider's
/// endpoint in init's CNode, protocol, version).
pub type Needed = (Cap<Endpoint>, Name, u32);

/// Slots init reserves for a server: its kernel objects, one per mapped
/// page, page tables.
fn slots_needed(image_pages: u64, s: &plan::Server, file_pages: u64) -> u64 {
    let pages = |b: u64| b.div_ceil(layout::PAGE);
    32 + image_pages
        + pages(s.stack)
        + pages(s.heap)
        + pages(layout::START_INFO_SIZE)
        + 1
        + file_pages
        + 48
}

/// Build and start `p` as plan entry `s` says; `needs[k]` is the provider's
/// endpoint of `s.needs[k]` (none if it is not running). On failure everything made so
/// far is torn down again.
pub fn start(
    w: &mut World<'_>,
    p: &mut Proc,
    s: &plan::Server,
    needs: &[Option<Needed>],
) -> Res<()> {
    let entry = w
        .archive
        .find(s.name.as_str())
        .filter(|e| e.kind == EntryKind::Program)
        .ok_or(Fail::msg("no program of that name in the boot archive"))?;
    let image = elf::check(entry.data, &Policy::server(Machine::native())).map_err(Fail::elf)?;
    let mut file_pages = 0;
    for f in s.files.iter() {
        let e =
            w.archive.find(f.as_str()).ok_or(Fail::msg("a file it lists is not in the archive"))?;
        file_pages += (e.data.len() as u64).div_ceil(layout::PAGE);
    }
    let mmio_pages: u64 = s.mmio.iter().map(|m| m.size.div_ceil(layout::PAGE)).sum();
    let count = slots_needed(image.pages(), s, file_pages + mmio_pages);
    let base = w.env.slots.alloc_run(count).map_err(Fail::os("reserving init slots"))?;
    p.slot_base = base;
    p.slot_count = count;
    p.starts += 1;
    let r = build(w, p, s, entry.data, &image, needs);
    if r.is_err() {
        teardown(w.env, p);
    }
    r
}

fn build(
    w: &mut World<'_>,
    p: &mut Proc,
    s: &plan::Server,
    file: &[u8],
    image: &elf::Image,
    needs: &[Option<Needed>],
) -> Res<()> {
    // The container, from init's memory, and an environment carving from it.
    p.container = w
        .env
        .mem
        .carve(s.memory_bits, root::CNODE, p.slot_base)
        .map_err(Fail::os("carving the memory quota from init's memory"))?;
    let mut mem = UntypedAlloc::new();
    mem.add(p.container.slot(), 0, s.memory_bits, false).map_err(Fail::os("container"))?;
    let slots = SlotAlloc::new(p.slot_base + 1, p.slot_base + p.slot_count);
    let mut e = Env::new(root::CNODE, slots, mem, w.env.window);
    let quota = Fail::os("building it inside its memory quota");

    // CSpace and address space (`os::Child`, shared with the process
    // server): the CNode with its guarded cap in its slot, the VSpace, the
    // image; then the stack, heap and IPC buffer.
    let mut child = Child::new(&mut e).map_err(quota)?;
    p.cnode = child.cnode;
    let loaded = child.load(&mut e, file, image).map_err(Fail::os("loading its ELF"))?;
    let space = &mut child.space;
    space.stack(&mut e, layout::STACK_TOP, s.stack).map_err(Fail::os("mapping its stack"))?;
    let heap = Area { vaddr: layout::HEAP, size: s.heap };
    if s.heap > 0 {
        let r = os::layout::Range::new(layout::HEAP, layout::HEAP + s.heap);
        space.map_zeroed(&mut e, r, RW).map_err(Fail::os("mapping its heap"))?;
    }
    let ipc: Cap<Frame> = child.ipc_buffer(&mut e).map_err(Fail::os("mapping its IPC buffer"))?;

    let mut info = alloc::boxed::Box::new(StartInfo {
        version: st::VERSION,
        name: s.name,
        pid: p.pid,
        generation: p.starts - 1,
        cnode_radix: st::CNODE_RADIX,
        heap,
        stack: Area { vaddr: layout::STACK_TOP - s.stack, size: s.stack },
        args: st::Args { argv: s.args.clone(), ..Default::default() },
        clock_hz: w.clock_hz,
        ..Default::default()
    });
    let cnode = child.cnode;

    // init's endpoint, badged for it (name service, exit) and as its
    // fault endpoint.
    put(
        cnode.mint(st::slots::INIT, root::CNODE, w.init_ep.slot(), TO_INIT, p.badge()),
        "its init endpoint",
    )?;
    let fault_ep =
        e.mint(w.init_ep, Rights::WRITE, p.badge()).map_err(Fail::os("its fault endpoint"))?;

    // Endpoints it provides.
    for (k, svc) in s.provides.iter().enumerate() {
        let ep: Cap<Endpoint> = e.alloc(0).map_err(quota)?;
        let slot = take(&mut child)?;
        put(cnode.copy(slot, root::CNODE, ep.slot(), SERVE), "a provided endpoint")?;
        if let Some(x) = p.provided.get_mut(k) {
            *x = Some(ep);
        }
        push(
            &mut info.caps,
            NamedCap {
                name: svc.name,
                cap_type: CapType::Endpoint as u32,
                slot,
                role: Role::Provided,
                protocol: svc.protocol,
                version: svc.version,
            },
        )?;
    }
    // Endpoints it needs: copies of the providers'.
    for (k, svc) in s.needs.iter().enumerate() {
        let (ep, protocol, version) = needs
            .get(k)
            .copied()
            .flatten()
            .ok_or(Fail::msg("a service it needs has no running provider"))?;
        let slot = take(&mut child)?;
        put(cnode.copy(slot, root::CNODE, ep.slot(), TO_SERVER), "a needed endpoint")?;
        push(
            &mut info.caps,
            NamedCap {
                name: svc.name,
                cap_type: CapType::Endpoint as u32,
                slot,
                role: Role::Needed,
                protocol,
                version,
            },
        )?;
    }
    // Files: the archive's frames, mapped read-only.
    let mut va = layout::FILES;
    for f in s.files.iter() {
        let entry =
            w.archive.find(f.as_str()).ok_or(Fail::msg("a file it lists is not in the archive"))?;
        let first = w.archive_frames + entry.offset / layout::PAGE;
        let pages = (entry.data.len() as u64).div_ceil(layout::PAGE);
        map_copies(
            &mut e,
            &mut child,
            (first, pages),
            va,
            RO,
            ("copying an archive frame", "mapping a file"),
        )?;
        push(&mut info.files, st::File { name: *f, vaddr: va, len: entry.data.len() as u64 })?;
        va += pages.max(1) * layout::PAGE;
    }
    // Device regions: frames carved from device untyped once and kept; the
    // server gets copies mapped read-write (the kernel maps device frames
    // uncached).
    let mut va = layout::MMIO;
    for (k, m) in s.mmio.iter().enumerate() {
        let pages = m.size.div_ceil(layout::PAGE);
        let have =
            w.devices.iter().take(*w.ndevices).find(|d| d.0 == p.pid && d.1 == k).map(|d| d.2);
        let first = match have {
            Some(f) => f,
            None => {
                let f = w
                    .env
                    .device_frames(m.paddr, pages)
                    .map_err(Fail::os("carving its device region"))?;
                let rec =
                    w.devices.get_mut(*w.ndevices).ok_or(Fail::msg("too many device regions"))?;
                *rec = (p.pid, k, f, pages);
                *w.ndevices += 1;
                f
            }
        };
        if va + pages * layout::PAGE > layout::MMIO + layout::MMIO_MAX {
            return Err(Fail::msg("its device regions do not fit the MMIO area"));
        }
        map_copies(
            &mut e,
            &mut child,
            (first, pages),
            va,
            RW,
            ("copying a device frame", "mapping a device region"),
        )?;
        push(
            &mut info.devices,
            st::Device { name: m.name, vaddr: va, paddr: m.paddr, size: pages * layout::PAGE },
        )?;
        va += pages * layout::PAGE;
    }
    // Interrupts: each line's handler is issued once and kept; the server
    // gets a copy.
    for &line in s.irqs.iter() {
        let have = w.irqs.iter().take(*w.nirqs).find(|(l, _)| *l == line).map(|(_, s)| *s);
        let handler = match have {
            Some(h) => h,
            None => {
                let h = w.env.slot().map_err(Fail::os("a slot for an IRQ handler"))?;
                root::IRQ_CONTROL
                    .get(u64::from(line), root::CNODE, h)
                    .map_err(Fail::kernel("IrqControlGet"))?;
                let rec = w.irqs.get_mut(*w.nirqs).ok_or(Fail::msg("too many interrupt lines"))?;
                *rec = (line, h);
                *w.nirqs += 1;
                h
            }
        };
        let slot = take(&mut child)?;
        put(cnode.copy(slot, root::CNODE, handler, Rights::ALL), "an IRQ handler")?;
        push(&mut info.irqs, st::Irq { line, slot })?;
    }
    // I/O ports: the kernel cannot narrow a port cap yet, so the server
    // gets init's whole one (said in the start info and on the console).
    for r in s.ioports.iter() {
        let slot = take(&mut child)?;
        put(cnode.copy(slot, root::CNODE, root::IO_PORTS.slot(), Rights::ALL), "the I/O port cap")?;
        push(&mut info.ports, st::Ports { base: r.base, count: r.count, slot, whole: true })?;
        rt::println!(
            "init: warning: {} asked for ports {:#x}+{}; it gets all ports (the kernel cannot narrow an I/O port cap yet)",
            s.name,
            r.base,
            r.count
        );
    }

    // The thread (its cap in the server's CNode too).
    let tcb: Cap<Thread> = child.thread(&mut e).map_err(quota)?;
    p.thread = tcb;

    // What is left of the quota goes to the server as untyped. Carving in
    // address order keeps the model's watermark in step with the kernel's.
    let used = e.mem.entries().next().map_or(0, |x| x.watermark);
    // The start info's frames come next: leave room for them first.
    let info_pages = layout::START_INFO_SIZE / layout::PAGE;
    let reserve = used.next_multiple_of(layout::PAGE) + info_pages * layout::PAGE;
    let mut blocks = [(0u64, 0u8); st::MAX_UNTYPED];
    let n = os::untyped::free_blocks(reserve, s.memory_bits, 12, &mut blocks);
    // Map the start info before carving the blocks (they are above it).
    let mut bytes = alloc::vec![0u8; layout::START_INFO_SIZE as usize];
    let mut untyped_slots = [0u64; st::MAX_UNTYPED];
    for (i, slot) in untyped_slots.iter_mut().enumerate().take(n) {
        *slot = take(&mut child)?;
        let (off, bits) = blocks[i];
        push(&mut info.untyped, st::UntypedCap { slot: *slot, paddr: off, size_bits: bits })?;
    }
    info.free_slots = (child.next_slot(), 1 << st::CNODE_RADIX);
    child.start_info(&mut e, &info, &mut bytes).map_err(Fail::os("mapping its start info"))?;
    for (i, &slot) in untyped_slots.iter().enumerate().take(n) {
        let (_, bits) = blocks[i];
        e.mem.carve::<Untyped>(bits, cnode, slot).map_err(Fail::os("carving its untyped"))?;
    }

    // Its scheduling context, as the plan says (else the kernel's default:
    // adaptive round robin).
    if let Some(sc) = &s.sched {
        root::SCHED_CONTROL.configure(tcb, sc.params()).map_err(|e| match e {
            libipc::abi::Error::NoBandwidth => Fail {
                what: "its EDF reservation is refused: the CPU has no bandwidth left",
                error: Some(e),
                detail: None,
            },
            e => Fail { what: "SchedControlConfigure", error: Some(e), detail: None },
        })?;
    }

    // Go.
    let spec = child.spec(ipc, Some(fault_ep), loaded.entry);
    thread::start(tcb, &spec).map_err(Fail::os("starting its thread"))?;
    p.state = State::Running;
    Ok(())
}

/// Map copies (with `rights`) of the frames in the `pages` slots from
/// `first` on into `child`, from `va` on; `what` names the copy and the
/// map step in an error.
fn map_copies(
    e: &mut Env,
    child: &mut Child,
    (first, pages): (u64, u64),
    va: u64,
    rights: Rights,
    (copying, mapping): (&'static str, &'static str),
) -> Res<()> {
    for i in 0..pages {
        let frame: Cap<Frame> =
            e.copy(Cap::from_slot(first + i), rights).map_err(Fail::os(copying))?;
        child.space.map(e, frame, va + i * layout::PAGE, rights).map_err(Fail::os(mapping))?;
    }
    Ok(())
}

/// The next slot of the server's CNode for a named cap.
fn take(child: &mut Child) -> Res<u64> {
    child.take_slot().map_err(|_| Fail::msg("its CNode is full"))
}

fn put(r: Result<(), libipc::abi::Error>, what: &'static str) -> Res<()> {
    r.map_err(|e| Fail { what, error: Some(e), detail: None })
}

fn push<T: Default, const N: usize>(l: &mut libipc::proto::List<T, N>, v: T) -> Res<()> {
    l.push(v).map_err(|_| Fail::msg("too many entries for its start info"))
}

/// Destroy everything of `p`'s current incarnation and give its init slots
/// back: revoke the container (every object built from the quota, and all
/// copies of their caps), then empty the rest of its slots (copies of
/// init's own caps).
pub fn teardown(env: &mut Env, p: &mut Proc) {
    if p.slot_count == 0 {
        return;
    }
    let _ = root::CNODE.revoke(p.container.slot());
    for s in p.slot_base..p.slot_base + p.slot_count {
        let _ = root::CNODE.delete(s);
    }
    env.slots.free_run(p.slot_base, p.slot_count);
    p.slot_count = 0;
    p.provided = [None; plan::MAX_PROVIDES];
    p.state = State::Stopped;
}

/// A line naming what a server provides and needs, for init's listing.
pub fn describe(s: &plan::Server, out: &mut impl core::fmt::Write) {
    let mut sep = "";
    for svc in s.provides.iter() {
        let _ = write!(out, "{sep}provides {} (v{})", svc.name, svc.version);
        sep = ", ";
    }
    for svc in s.needs.iter() {
        let _ = write!(out, "{sep}needs {}", svc.name);
        sep = ", ";
    }
    let _ = write!(out, "{sep}{} KiB", (1u64 << s.memory_bits) >> 10);
    let us = |ns: u64| ns / 1000;
    match &s.sched {
        None => {}
        Some(sc) if sc.class == plan::SchedClass::Edf => {
            let _ = write!(out, ", EDF {} us every {} us", us(sc.budget_ns), us(sc.period_ns));
        }
        Some(sc) => {
            let _ = write!(out, ", round robin (quantum {} us)", us(sc.quantum_ns));
        }
    }
}
