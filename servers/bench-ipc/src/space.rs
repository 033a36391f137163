//! Building the benchmark's threads with `os` (rint-os), as init builds
//! servers: the root task's free slots and untyped memory as an [`Env`]
//! (with its fill window at [`WINDOW`]), the server's address space (a
//! [`Space`] with this program's image loaded from the boot archive, a
//! stack and an IPC buffer), and started server threads
//! ([`os::thread::spawn`]).

use libipc::abi::BootInfo;
use libipc::bootarchive::{BootArchive, EntryKind};
use libipc::cap::{CNode, Cap, Endpoint, Frame, Thread, VSpace, init};
use libipc::sys::arch::initial_sp;
use os::arch::Start;
use os::elf::{self, Machine, Policy};
use os::thread::{self, Spec};
use os::{Env, Space};

use crate::bench::{Fail, Res};

const PAGE: u64 = 4096;
/// Read-write.
const RW: libipc::abi::Rights = libipc::abi::Rights::READ.union(libipc::abi::Rights::WRITE);

/// Where the root task maps a frame to fill it (`os::Window`): 1 GiB, far
/// above its image (which ends below `root_layout::IMAGE_END`, in practice
/// within a few MiB of the linker's base) and below its IPC buffer.
pub const WINDOW: u64 = 0x4000_0000;

/// Where the server's IPC buffer and stack go in its address space: the
/// same places as the root task's (`root_layout`), above any image.
const SERVER_IPC_BUFFER: u64 = 0x1_0000_0000;
const SERVER_STACK_TOP: u64 = 0x1_0010_0000;
/// 16 KiB: the server loop needs a few words.
const SERVER_STACK_PAGES: u64 = 4;

/// The local server's IPC buffer, in the root VSpace next to [`WINDOW`]
/// (same page tables).
const LOCAL_IPC_BUFFER: u64 = WINDOW + PAGE;

/// The root task's resources: its free slots and every untyped.
pub fn env(boot: &'static BootInfo) -> Res<Env> {
    Ok(Env::from_boot(boot, init::CNODE, init::VSPACE, WINDOW)?)
}

/// The `init` program's ELF in the boot archive: this very program, as the
/// kernel loaded it.
pub fn own_elf(boot: &'static BootInfo) -> Res<&'static [u8]> {
    let archive = BootArchive::parse(rt::boot_archive(boot))
        .map_err(|_| Fail::Bench("the boot archive does not parse"))?;
    let e = archive.find("init").ok_or(Fail::Bench("no init entry in the boot archive"))?;
    if e.kind != EntryKind::Program {
        return Err(Fail::Bench("the init entry is not a program"));
    }
    Ok(e.data)
}

/// A new address space holding `file`'s loadable segments at their link
/// addresses, in fresh frames, with the segments' rights (checked as init
/// checks a server's image; the kernel's own loader does the same for the
/// root task). Returns the VSpace and the number of pages copied.
pub fn image_space(env: &mut Env, file: &[u8]) -> Res<(Cap<VSpace>, u64)> {
    let image = elf::check(file, &Policy::server(Machine::native())).map_err(os::Error::from)?;
    let mut space = Space::new(env)?;
    let loaded = space.load(env, file, &image)?;
    Ok((space.vs, loaded.pages))
}

/// A server thread's entry: `fn(endpoint CPtr) -> !`.
pub type Entry = extern "C" fn(u64) -> !;

/// Start a thread running `entry(ep)` in the CSpace `cspace` and the
/// address space `vs` (from [`image_space`], with the same code at the
/// same addresses), on a new stack and IPC buffer of its own at the root
/// task's layout addresses.
pub fn start_remote(
    env: &mut Env,
    cspace: Cap<CNode>,
    vs: Cap<VSpace>,
    entry: Entry,
    ep: Cap<Endpoint>,
) -> Res<Cap<Thread>> {
    let mut space = Space::from_cap(vs);
    space.stack(env, SERVER_STACK_TOP, SERVER_STACK_PAGES * PAGE)?;
    let ipc = space.map_new(env, SERVER_IPC_BUFFER, RW)?;
    start(env, cspace, vs, (ipc, SERVER_IPC_BUFFER), (entry, SERVER_STACK_TOP, ep))
}

/// Start a thread running `entry(ep)` in the root task's CSpace and
/// VSpace, on `stack_top` (in the root task's memory) with a new IPC
/// buffer.
pub fn start_local(
    env: &mut Env,
    entry: Entry,
    stack_top: u64,
    ep: Cap<Endpoint>,
) -> Res<Cap<Thread>> {
    let ipc = env.frame()?;
    env.map_frame(init::VSPACE, ipc, LOCAL_IPC_BUFFER, RW)?;
    let code = (entry, stack_top, ep);
    start(env, init::CNODE, init::VSPACE, (ipc, LOCAL_IPC_BUFFER), code)
}

fn start(
    env: &mut Env,
    cspace: Cap<CNode>,
    vspace: Cap<VSpace>,
    (ipc_frame, ipc_va): (Cap<Frame>, u64),
    (entry, stack_top, ep): (Entry, u64, Cap<Endpoint>),
) -> Res<Cap<Thread>> {
    let start = Start {
        pc: entry as usize as u64,
        sp: initial_sp(stack_top),
        args: [ep.slot(), 0, 0, 0, 0, 0],
        tls: 0,
    };
    let spec = Spec { cspace, vspace, ipc_frame, ipc_va, fault_ep: None, start };
    Ok(thread::spawn(env, &spec)?)
}
