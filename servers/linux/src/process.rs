//! A Linux process: its address space, thread and state, built from a
//! static ELF executable (`load`), started with its faults going to the
//! server (`start`); when it ends the server reclaims its arena.

use core::fmt;

use libipc::abi::Rights;
use libipc::cap::{CNode, Cap, Endpoint, Frame, Thread, VSpace};
use liblinux::abi::PAGE_SIZE;
use liblinux::abi::auxv::*;
use liblinux::abi::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};
use os::Env;
use os::arch::Start;
use os::elf::{ElfError, Machine, Policy};
use os::layout::Range;
use os::thread::Spec;

use crate::arch;
use crate::console::Console;
use crate::layout::{ELF_MAX, ELF_MIN, IPC_BUFFER, STACK_SIZE, STACK_TOP};
use crate::mm::map::{Backing, Full, Kind, Region};
use crate::mm::{Fault, Mm, Pool};
use crate::stack::{self, Init, StackError};

/// What a process is served with: the arena's resources (`env`, taken
/// back whole when the process ends), the frame pool, the server's
/// endpoint every process's faults arrive on, and the server's settings.
pub struct Sys {
    pub env: Env,
    pub pool: Pool,
    pub ep: Cap<Endpoint>,
    /// `strace` in `linux.conf`: log every syscall.
    pub strace: bool,
    /// Ticks per second of the user-readable counter (the start info's
    /// `clock_hz`; 0 if unknown): the time syscalls.
    pub clock_hz: u64,
}

/// The environment every process starts with.
const ENVP: &[&[u8]] = &[b"PATH=/bin", b"HOME=/"];

/// Why a program could not be started.
#[derive(Clone, Copy, Debug)]
pub enum LoadError {
    Elf(ElfError),
    /// No loadable segment holds the program headers (`AT_PHDR` would
    /// point at nothing).
    PhdrNotLoaded,
    Stack(StackError),
    Server(os::Error),
    Memory(Fault),
    TooManyRegions,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Elf(e) => write!(f, "bad ELF: {e}"),
            LoadError::PhdrNotLoaded => {
                f.write_str("bad ELF: program headers outside every loadable segment")
            }
            LoadError::Stack(e) => write!(f, "initial stack: {e:?}"),
            LoadError::Server(e) => write!(f, "{e}"),
            LoadError::Memory(e) => write!(f, "initial stack: {e}"),
            LoadError::TooManyRegions => f.write_str("too many segments"),
        }
    }
}

impl From<ElfError> for LoadError {
    fn from(e: ElfError) -> Self {
        LoadError::Elf(e)
    }
}
impl From<os::Error> for LoadError {
    fn from(e: os::Error) -> Self {
        LoadError::Server(e)
    }
}
impl From<Fault> for LoadError {
    fn from(e: Fault) -> Self {
        LoadError::Memory(e)
    }
}
impl From<Full> for LoadError {
    fn from(_: Full) -> Self {
        LoadError::TooManyRegions
    }
}

/// One Linux process (one thread).
pub struct Process {
    /// Its process id, also the badge of its fault endpoint.
    pub pid: u64,
    pub name: &'static str,
    pub mm: Mm,
    cnode: Cap<CNode>,
    ipc: Cap<Frame>,
    entry: u64,
    sp: u64,
    /// The heap: `brk_start..brk` (page-rounded regions of kind Heap).
    pub brk_start: u64,
    pub brk: u64,
    pub console: Console,
    /// `set_tid_address`: where the thread id is cleared at thread exit.
    pub clear_child_tid: u64,
    /// Syscalls handled.
    pub syscalls: u64,
    /// ENOSYS lines logged (capped).
    pub enosys_logged: u32,
}

/// Where the program headers are in memory: `PT_PHDR` if there is one,
/// else inside the loadable segment that holds them in the file.
fn phdr_addr(file: &[u8]) -> Option<(u64, u64, u64)> {
    use elf::ElfBytes;
    use elf::abi::{PT_LOAD, PT_PHDR};
    use elf::endian::AnyEndian;
    let parsed = ElfBytes::<AnyEndian>::minimal_parse(file).ok()?;
    let h = &parsed.ehdr;
    let (phent, phnum) = (u64::from(h.e_phentsize), u64::from(h.e_phnum));
    let size = phent.checked_mul(phnum)?;
    let segs = parsed.segments()?;
    let at = segs.iter().find(|p| p.p_type == PT_PHDR).map(|p| p.p_vaddr).or_else(|| {
        segs.iter()
            .find(|p| {
                p.p_type == PT_LOAD
                    && p.p_offset <= h.e_phoff
                    && h.e_phoff.checked_add(size).is_some_and(|end| end <= p.p_offset + p.p_filesz)
            })
            .map(|p| p.p_vaddr + (h.e_phoff - p.p_offset))
    })?;
    Some((at, phent, phnum))
}

/// 16 bytes for `AT_RANDOM`: splitmix64 over the cycle counter and the pid.
fn random_bytes(pid: u64) -> [u8; 16] {
    let mut x = arch::cycles() ^ pid.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut next = || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&next().to_le_bytes());
    out[8..].copy_from_slice(&next().to_le_bytes());
    out
}

impl Process {
    /// Check `file` and build its address space and initial stack (nothing
    /// runs yet). On an error, everything made so far is given back.
    pub fn load(
        sys: &mut Sys,
        pid: u64,
        name: &'static str,
        file: &'static [u8],
    ) -> Result<Process, LoadError> {
        let policy = Policy {
            machine: Machine::native(),
            allowed: Range::new(ELF_MIN, ELF_MAX),
            forbidden: &[],
        };
        let image = os::elf::check(file, &policy)?;
        let (phdr, phent, phnum) = phdr_addr(file).ok_or(LoadError::PhdrNotLoaded)?;
        // Everything below comes from the arena, which the server reclaims
        // whole when the process ends, started or not (`crate::arena`).
        let vs: Cap<VSpace> = sys.env.alloc(0)?;
        let cnode: Cap<CNode> = sys.env.alloc(1)?;
        let ipc = sys.pool.get(&mut sys.env)?;
        let mut p = Process {
            pid,
            name,
            mm: Mm::new(vs, file),
            cnode,
            ipc,
            entry: image.entry,
            sp: 0,
            brk_start: image.extent().end,
            brk: image.extent().end,
            console: Console::new(),
            clear_child_tid: 0,
            syscalls: 0,
            enosys_logged: 0,
        };
        p.build(sys, &image, (phdr, phent, phnum))?;
        Ok(p)
    }

    fn build(
        &mut self,
        sys: &mut Sys,
        image: &os::elf::Image,
        (phdr, phent, phnum): (u64, u64, u64),
    ) -> Result<(), LoadError> {
        for s in image.segments() {
            let mut prot = PROT_READ;
            if s.perm.write {
                prot |= PROT_WRITE;
            }
            if s.perm.exec {
                prot |= PROT_EXEC;
            }
            let range = s.range().pages().ok_or(LoadError::Elf(ElfError::Parse))?;
            let backing = Backing::File { vaddr: s.vaddr, offset: s.offset, filesz: s.filesz };
            self.mm.regions.insert(Region { range, prot, kind: Kind::Image, backing })?;
        }
        let stack = Range::new(STACK_TOP - STACK_SIZE, STACK_TOP);
        self.mm.regions.insert(Region {
            range: stack,
            prot: PROT_READ | PROT_WRITE,
            kind: Kind::Stack,
            backing: Backing::Zero,
        })?;
        let auxv = [
            (AT_PHDR, phdr),
            (AT_PHENT, phent),
            (AT_PHNUM, phnum),
            (AT_PAGESZ, PAGE_SIZE),
            (AT_BASE, 0),
            (AT_FLAGS, 0),
            (AT_ENTRY, image.entry),
            (AT_UID, 0),
            (AT_EUID, 0),
            (AT_GID, 0),
            (AT_EGID, 0),
            (AT_SECURE, 0),
            (AT_HWCAP, arch::HWCAP),
            (AT_CLKTCK, 100),
        ];
        let init = Init {
            argv: &[self.name.as_bytes()],
            envp: ENVP,
            execfn: self.name.as_bytes(),
            auxv: &auxv,
            random: random_bytes(self.pid),
        };
        let built = stack::build(STACK_TOP, &init).map_err(LoadError::Stack)?;
        self.mm.write(&mut sys.env, &mut sys.pool, built.base, built.bytes())?;
        self.sp = built.sp;
        Ok(())
    }

    /// Start the process's thread, its faults going to the server's
    /// endpoint with the pid as badge.
    pub fn start(&mut self, sys: &mut Sys) -> Result<(), os::Error> {
        let ep = sys.env.mint(sys.ep, Rights::WRITE.union(Rights::GRANT_REPLY), self.pid)?;
        let spec = Spec {
            cspace: self.cnode,
            vspace: self.mm.vs,
            ipc_frame: self.ipc,
            ipc_va: IPC_BUFFER,
            fault_ep: Some(ep),
            start: Start { pc: self.entry, sp: self.sp, args: [0; 6], tls: 0 },
        };
        let tcb = sys.env.alloc::<Thread>(0)?;
        os::thread::start(tcb, &spec)
    }

    /// The process has ended: write out what its streams still buffer.
    /// Its thread, memory and capabilities all live in the arena, which
    /// the server reclaims next (`crate::arena::Arena::reclaim`).
    pub fn end(&mut self) {
        self.console.flush();
    }
}
