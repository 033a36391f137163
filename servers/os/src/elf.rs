//! Checking an ELF executable before it is loaded. Pure: tested on the host
//! with hand-made files.
//!
//! [`check`] parses the file with the `elf` crate and checks every field a
//! loader relies on:
//!
//! - identification: magic, 64-bit class, little-endian, ELF version 1, an
//!   OS ABI of System V or Linux;
//! - header: type `ET_EXEC` (static, not position-independent), the
//!   machine of the policy, `e_version` 1, header and program-header entry
//!   sizes, 1..=[`MAX_PHDRS`] program headers inside the file;
//! - no `PT_INTERP` or `PT_DYNAMIC` (dynamically linked programs are
//!   refused), no executable stack (`PT_GNU_STACK` with X);
//! - per loadable segment: `p_align` 0 or a power of two with `p_vaddr`
//!   congruent to `p_offset` modulo it; `p_filesz <= p_memsz`; the file
//!   bytes inside the file; the memory range neither wrapping nor leaving
//!   the policy's range (the user half, above page 0) nor touching one of
//!   its forbidden ranges (the runtime's fixed areas); not writable and
//!   executable at once (W^X); no page shared with another segment;
//! - at least one loadable segment, at most [`MAX_SEGMENTS`];
//! - the entry point inside an executable segment;
//! - a `PT_TLS` segment's initialised bytes, if any, inside a loadable one.
//!
//! Every failure is an [`ElfError`]; nothing here panics or allocates.

use core::fmt;

use elf::ElfBytes;
use elf::abi::{
    EI_DATA, EI_OSABI, EI_VERSION, ELFDATA2LSB, ELFOSABI_LINUX, ELFOSABI_NONE, EM_RISCV, EM_X86_64,
    ET_EXEC, EV_CURRENT, PF_R, PF_W, PF_X, PT_DYNAMIC, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_TLS,
};
use elf::endian::AnyEndian;

use crate::layout::{PAGE, Range, user_end};
use libipc::start::layout as server_layout;

/// Most program headers a file may have.
pub const MAX_PHDRS: usize = 64;
/// Most loadable segments.
pub const MAX_SEGMENTS: usize = 16;

/// The machines rint runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    X86_64,
    Riscv64,
}

impl Machine {
    /// The machine this code was built for.
    #[cfg(target_arch = "riscv64")]
    pub const fn native() -> Machine {
        Machine::Riscv64
    }
    /// The machine this code was built for (x86_64, and the host in tests).
    #[cfg(not(target_arch = "riscv64"))]
    pub const fn native() -> Machine {
        Machine::X86_64
    }

    /// `e_machine` of its executables.
    pub const fn e_machine(self) -> u16 {
        match self {
            Machine::X86_64 => EM_X86_64,
            Machine::Riscv64 => EM_RISCV,
        }
    }
}

/// Why a file was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The `elf` crate could not parse the header or the program-header
    /// table (bad magic, truncated, table outside the file).
    Parse,
    NotElf64,
    NotLittleEndian,
    BadIdentVersion,
    /// An OS ABI other than System V or Linux.
    BadOsAbi(u8),
    /// Not `ET_EXEC` (a shared object, PIE, relocatable or core file).
    NotExecutable(u16),
    /// Built for another machine.
    WrongMachine {
        found: u16,
        expected: u16,
    },
    BadVersion(u32),
    BadHeaderSize(u16),
    BadPhentsize(u16),
    /// No program headers, or more than [`MAX_PHDRS`].
    BadPhnum(u16),
    /// `PT_INTERP` or `PT_DYNAMIC`: a dynamically linked program.
    Dynamic,
    /// `PT_GNU_STACK` asks for an executable stack.
    ExecutableStack,
    /// No loadable segment.
    NoSegments,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// Segment `index` (among the program headers): `p_align` is not 0 or a
    /// power of two, or `p_vaddr` and `p_offset` differ modulo it.
    BadAlignment {
        index: usize,
    },
    /// `p_filesz > p_memsz`.
    FileLargerThanMemory {
        index: usize,
    },
    /// The file bytes lie (partly) outside the file.
    OutsideFile {
        index: usize,
    },
    /// The segment wraps around the address space.
    Wraps {
        index: usize,
    },
    /// The segment leaves the allowed range (page 0, the kernel half).
    OutsideRange {
        index: usize,
        vaddr: u64,
    },
    /// The segment touches a forbidden range (the runtime's fixed areas).
    Forbidden {
        index: usize,
        vaddr: u64,
    },
    /// Writable and executable.
    WriteAndExecute {
        index: usize,
    },
    /// The segment shares a page with an earlier one.
    Overlap {
        index: usize,
        vaddr: u64,
    },
    /// The entry point is not inside an executable segment.
    BadEntry(u64),
    /// The TLS segment is not inside a loadable segment.
    BadTls,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::Parse => f.write_str("not an ELF file (header or program headers)"),
            ElfError::NotElf64 => f.write_str("not 64-bit"),
            ElfError::NotLittleEndian => f.write_str("not little-endian"),
            ElfError::BadIdentVersion => f.write_str("identification version is not 1"),
            ElfError::BadOsAbi(a) => write!(f, "OS ABI {a} (System V or Linux only)"),
            ElfError::NotExecutable(t) => write!(f, "type {t} is not ET_EXEC (static executable)"),
            ElfError::WrongMachine { found, expected } => {
                write!(f, "built for machine {found}, this is {expected}")
            }
            ElfError::BadVersion(v) => write!(f, "e_version {v}"),
            ElfError::BadHeaderSize(s) => write!(f, "e_ehsize {s} (64 expected)"),
            ElfError::BadPhentsize(s) => write!(f, "e_phentsize {s} (56 expected)"),
            ElfError::BadPhnum(n) => write!(f, "{n} program headers (1..={MAX_PHDRS})"),
            ElfError::Dynamic => f.write_str("dynamically linked (PT_INTERP or PT_DYNAMIC)"),
            ElfError::ExecutableStack => f.write_str("asks for an executable stack"),
            ElfError::NoSegments => f.write_str("no loadable segment"),
            ElfError::TooManySegments => write!(f, "more than {MAX_SEGMENTS} loadable segments"),
            ElfError::BadAlignment { index } => write!(f, "segment {index}: bad alignment"),
            ElfError::FileLargerThanMemory { index } => {
                write!(f, "segment {index}: file size larger than memory size")
            }
            ElfError::OutsideFile { index } => write!(f, "segment {index}: bytes outside the file"),
            ElfError::Wraps { index } => write!(f, "segment {index}: wraps around"),
            ElfError::OutsideRange { index, vaddr } => {
                write!(f, "segment {index} at {vaddr:#x}: outside the allowed address range")
            }
            ElfError::Forbidden { index, vaddr } => {
                write!(f, "segment {index} at {vaddr:#x}: over an area the runtime owns")
            }
            ElfError::WriteAndExecute { index } => {
                write!(f, "segment {index}: writable and executable (W^X)")
            }
            ElfError::Overlap { index, vaddr } => {
                write!(f, "segment {index} at {vaddr:#x}: shares a page with another segment")
            }
            ElfError::BadEntry(e) => write!(f, "entry point {e:#x} outside executable code"),
            ElfError::BadTls => f.write_str("TLS segment outside the loadable segments"),
        }
    }
}

/// Where a program may be loaded.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    pub machine: Machine,
    /// Segments must lie inside this range.
    pub allowed: Range,
    /// ... and touch none of these (page-rounded).
    pub forbidden: &'a [Range],
}

/// The runtime's fixed areas of a native server (`libipc::start::layout`).
pub const SERVER_RESERVED: [Range; 1] =
    [Range::new(server_layout::RESERVED_START, server_layout::RESERVED_END)];

impl Policy<'static> {
    /// A native server for `machine`: above page 0, in the user half, away
    /// from the runtime's areas.
    pub const fn server(machine: Machine) -> Policy<'static> {
        Policy {
            machine,
            allowed: Range::new(server_layout::IMAGE_START, user_end(machine)),
            forbidden: &SERVER_RESERVED,
        }
    }
}

/// Access rights of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perm {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// One checked loadable segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Segment {
    pub vaddr: u64,
    pub memsz: u64,
    /// Where its file bytes start in the file, and how many.
    pub offset: u64,
    pub filesz: u64,
    pub perm: Perm,
}

impl Segment {
    pub const fn range(&self) -> Range {
        Range::new(self.vaddr, self.vaddr + self.memsz)
    }

    /// The file bytes (checked to lie inside `file` by [`check`]).
    pub fn bytes<'a>(&self, file: &'a [u8]) -> &'a [u8] {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let len = usize::try_from(self.filesz).unwrap_or(usize::MAX);
        start.checked_add(len).and_then(|end| file.get(start..end)).unwrap_or(&[])
    }
}

/// The TLS template (`PT_TLS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Tls {
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// A checked executable: what a loader needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    pub entry: u64,
    segments: [Segment; MAX_SEGMENTS],
    count: usize,
    pub tls: Option<Tls>,
}

impl Image {
    pub fn segments(&self) -> &[Segment] {
        self.segments.get(..self.count).unwrap_or(&[])
    }

    /// The page-rounded range from the lowest segment to the end of the
    /// highest (where a heap above the image, `brk`, may start).
    pub fn extent(&self) -> Range {
        let lo = self.segments().iter().map(|s| s.vaddr).min().unwrap_or(0);
        let hi = self.segments().iter().map(|s| s.vaddr + s.memsz).max().unwrap_or(0);
        Range::new(lo, hi).pages().unwrap_or_default()
    }

    /// Pages a loader maps for the segments.
    pub fn pages(&self) -> u64 {
        self.segments().iter().filter_map(|s| s.range().pages()).map(|r| r.len() / PAGE).sum()
    }
}

/// Check `file` against `policy`; the checked image, or why not.
pub fn check(file: &[u8], policy: &Policy<'_>) -> Result<Image, ElfError> {
    let ident = file.get(..16).ok_or(ElfError::Parse)?;
    let parsed = ElfBytes::<AnyEndian>::minimal_parse(file).map_err(|_| ElfError::Parse)?;
    let h = &parsed.ehdr;
    if h.class != elf::file::Class::ELF64 {
        return Err(ElfError::NotElf64);
    }
    if ident.get(EI_DATA) != Some(&ELFDATA2LSB) {
        return Err(ElfError::NotLittleEndian);
    }
    if ident.get(EI_VERSION) != Some(&EV_CURRENT) {
        return Err(ElfError::BadIdentVersion);
    }
    let osabi = ident.get(EI_OSABI).copied().unwrap_or(0xff);
    if osabi != ELFOSABI_NONE && osabi != ELFOSABI_LINUX {
        return Err(ElfError::BadOsAbi(osabi));
    }
    if h.e_type != ET_EXEC {
        return Err(ElfError::NotExecutable(h.e_type));
    }
    let expected = policy.machine.e_machine();
    if h.e_machine != expected {
        return Err(ElfError::WrongMachine { found: h.e_machine, expected });
    }
    if h.version != u32::from(EV_CURRENT) {
        return Err(ElfError::BadVersion(h.version));
    }
    if h.e_ehsize != 64 {
        return Err(ElfError::BadHeaderSize(h.e_ehsize));
    }
    if h.e_phentsize != 56 {
        return Err(ElfError::BadPhentsize(h.e_phentsize));
    }
    if h.e_phnum == 0 || usize::from(h.e_phnum) > MAX_PHDRS {
        return Err(ElfError::BadPhnum(h.e_phnum));
    }
    let phdrs = parsed.segments().ok_or(ElfError::BadPhnum(0))?;

    let mut img = Image {
        entry: h.e_entry,
        segments: [Segment::default(); MAX_SEGMENTS],
        count: 0,
        tls: None,
    };
    let mut tls = None;
    for (index, p) in phdrs.iter().enumerate() {
        match p.p_type {
            PT_INTERP | PT_DYNAMIC => return Err(ElfError::Dynamic),
            PT_GNU_STACK if p.p_flags & PF_X != 0 => return Err(ElfError::ExecutableStack),
            PT_TLS => {
                tls = Some(Tls {
                    vaddr: p.p_vaddr,
                    filesz: p.p_filesz,
                    memsz: p.p_memsz,
                    align: p.p_align,
                });
                continue;
            }
            PT_LOAD => {}
            _ => continue,
        }
        if p.p_memsz == 0 {
            // Maps nothing: nothing to check against.
            continue;
        }
        let align = p.p_align;
        if align != 0 && (!align.is_power_of_two() || p.p_vaddr % align != p.p_offset % align) {
            return Err(ElfError::BadAlignment { index });
        }
        if p.p_filesz > p.p_memsz {
            return Err(ElfError::FileLargerThanMemory { index });
        }
        match p.p_offset.checked_add(p.p_filesz) {
            Some(end) if end <= file.len() as u64 => {}
            _ => return Err(ElfError::OutsideFile { index }),
        }
        let mem = Range::sized(p.p_vaddr, p.p_memsz).ok_or(ElfError::Wraps { index })?;
        let pages = mem.pages().ok_or(ElfError::Wraps { index })?;
        if !policy.allowed.covers(&pages) {
            return Err(ElfError::OutsideRange { index, vaddr: p.p_vaddr });
        }
        if policy.forbidden.iter().any(|f| f.pages().is_some_and(|f| f.overlaps(&pages))) {
            return Err(ElfError::Forbidden { index, vaddr: p.p_vaddr });
        }
        let perm = Perm {
            read: p.p_flags & PF_R != 0,
            write: p.p_flags & PF_W != 0,
            exec: p.p_flags & PF_X != 0,
        };
        if perm.write && perm.exec {
            return Err(ElfError::WriteAndExecute { index });
        }
        if img.segments().iter().any(|s| s.range().pages().is_some_and(|r| r.overlaps(&pages))) {
            return Err(ElfError::Overlap { index, vaddr: p.p_vaddr });
        }
        let slot = img.segments.get_mut(img.count).ok_or(ElfError::TooManySegments)?;
        *slot = Segment {
            vaddr: p.p_vaddr,
            memsz: p.p_memsz,
            offset: p.p_offset,
            filesz: p.p_filesz,
            perm,
        };
        img.count += 1;
    }
    if img.count == 0 {
        return Err(ElfError::NoSegments);
    }
    if !img.segments().iter().any(|s| s.perm.exec && s.range().contains(img.entry)) {
        return Err(ElfError::BadEntry(img.entry));
    }
    if let Some(t) = tls {
        let r = Range::sized(t.vaddr, t.memsz).ok_or(ElfError::BadTls)?;
        let init = Range::new(r.start, r.start.saturating_add(t.filesz));
        // Only the initialised part must be loaded: a TLS segment of
        // `.tbss` alone (filesz 0) may lie anywhere (lld puts it past the
        // last loadable byte).
        let loaded = t.filesz == 0 || img.segments().iter().any(|s| s.range().covers(&init));
        if t.filesz > t.memsz || !loaded {
            return Err(ElfError::BadTls);
        }
        img.tls = Some(t);
    }
    Ok(img)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
