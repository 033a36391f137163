//! What a server finds when init starts it: the fixed layout of its
//! address space ([`layout`]), the fixed slots of its CNode ([`slots`]) and
//! the [`StartInfo`] init writes at [`layout::START_INFO`]: its name, the
//! capabilities it holds by name, its memory, files and devices.
//!
//! Shared by init (which builds the address space), the server runtime
//! (`servers/rt`, which reads it) and `servers/os` (whose ELF loader keeps
//! program segments out of these areas).

/// A native server's address space. Every address here is in the user half
/// on both arches (riscv64 Sv39 ends user space at 256 GiB).
///
/// ```text
/// 0x1000 .. IMAGE_END            the program's ELF segments
/// IPC_BUFFER                     the main thread's IPC buffer (one page)
/// START_INFO ..+START_INFO_SIZE  the start info (read-only)
/// STACK_TOP - stack size         the main thread's stack, an unmapped
///   .. STACK_TOP                 guard page below it
/// HEAP ..                        the heap (read-write, size in the start info)
/// FILES ..                       archive files, read-only, one after another
/// MMIO ..                        device regions, one after another
/// RESERVED_END                   end of the runtime's areas
/// ```
pub mod layout {
    pub const PAGE: u64 = 4096;
    /// Program segments must start at or above this (page 0 stays unmapped).
    pub const IMAGE_START: u64 = 0x1000;
    /// ... and end at or below this.
    pub const IMAGE_END: u64 = 0x1_0000_0000;
    /// Start of the areas the runtime owns: no program segment may go here.
    pub const RESERVED_START: u64 = IMAGE_END;
    /// The main thread's IPC buffer.
    pub const IPC_BUFFER: u64 = 0x1_0000_0000;
    /// The start info (read-only), up to [`START_INFO_SIZE`] bytes.
    pub const START_INFO: u64 = 0x1_0000_1000;
    pub const START_INFO_SIZE: u64 = 4 * PAGE;
    /// Top of the main thread's stack (it grows down).
    pub const STACK_TOP: u64 = 0x1_0100_0000;
    /// Largest main-thread stack (the page below it stays unmapped).
    pub const STACK_MAX: u64 = 0x80_0000;
    /// The heap.
    pub const HEAP: u64 = 0x1_1000_0000;
    pub const HEAP_MAX: u64 = 0xf000_0000;
    /// Archive files, read-only.
    pub const FILES: u64 = 0x2_0000_0000;
    pub const FILES_MAX: u64 = 0x1_0000_0000;
    /// Device (MMIO) regions.
    pub const MMIO: u64 = 0x3_0000_0000;
    pub const MMIO_MAX: u64 = 0x1_0000_0000;
    /// End of the runtime's areas.
    pub const RESERVED_END: u64 = 0x4_0000_0000;

    const _: () = assert!(START_INFO + START_INFO_SIZE <= STACK_TOP - STACK_MAX - PAGE);
    const _: () = assert!(STACK_TOP <= HEAP && HEAP + HEAP_MAX <= FILES);
    const _: () = assert!(FILES + FILES_MAX <= MMIO && MMIO + MMIO_MAX <= RESERVED_END);
}

use serde::{Deserialize, Serialize};

use crate::abi::CapType;
use crate::plan::{MAX_FILES, MAX_IOPORTS, MAX_IRQS, MAX_MMIO, Name};
use crate::proto::{List, Str};

/// The fixed slots of a server's own CNode (its CSpace root, whose guard
/// makes CPtrs plain slot indices). Everything else it holds is listed in
/// its [`StartInfo`].
pub mod slots {
    /// Its main thread.
    pub const THREAD: u64 = 1;
    /// Its CNode (the guarded CSpace root cap).
    pub const CNODE: u64 = 2;
    /// Its VSpace.
    pub const VSPACE: u64 = 3;
    /// init's endpoint, badged for this server (WRITE and GRANT): the
    /// `init` protocol (name service, exit).
    pub const INIT: u64 = 4;
    /// First slot init fills from the plan.
    pub const FIRST_PLANNED: u64 = 8;
}

/// log2 of the slots of a server's CNode.
pub const CNODE_RADIX: u8 = 8;

/// [`StartInfo::version`]. 2: `args` (argv and environment) added; 3:
/// `clock_hz` added.
pub const VERSION: u32 = 3;
/// The first word of the start-info page: "RINTSTRT" little-endian; the
/// second holds the encoded length.
pub const MAGIC: u64 = u64::from_le_bytes(*b"RINTSTRT");
/// Bytes before the encoded start info: magic and length words.
pub const HEADER: usize = 16;

pub const MAX_CAPS: usize = 24;
pub const MAX_UNTYPED: usize = 8;

/// Why a server holds a named endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// It serves it (receives on it).
    #[default]
    Provided,
    /// It calls it.
    Needed,
}

/// A capability init gave the server, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedCap {
    pub name: Name,
    /// `abi::CapType` number.
    pub cap_type: u32,
    pub slot: u64,
    pub role: Role,
    /// The protocol it speaks and its version (endpoints).
    pub protocol: Name,
    pub version: u32,
}

impl NamedCap {
    pub fn cap_type(&self) -> Option<CapType> {
        CapType::try_from(self.cap_type).ok()
    }
}

/// An untyped cap of the server's memory quota.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UntypedCap {
    pub slot: u64,
    pub paddr: u64,
    pub size_bits: u8,
}

/// A mapped area: `[vaddr, vaddr + size)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Area {
    pub vaddr: u64,
    pub size: u64,
}

/// A file of the boot archive, mapped read-only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub name: Name,
    pub vaddr: u64,
    /// Its length in bytes (the mapping is rounded up to pages, zero-padded).
    pub len: u64,
}

/// A device region, mapped read-write (uncached where the arch needs it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub name: Name,
    pub vaddr: u64,
    pub paddr: u64,
    pub size: u64,
}

/// The handler cap of interrupt `line`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irq {
    pub line: u32,
    pub slot: u64,
}

/// An I/O port cap covering `base..base + count` (x86_64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ports {
    pub base: u16,
    pub count: u16,
    pub slot: u64,
    /// The cap covers all 65536 ports: the kernel cannot narrow one yet.
    pub whole: bool,
}

/// Most program arguments in [`Args::argv`], and the longest one in bytes.
pub const ARGS_MAX: usize = 8;
pub const ARG_LEN: usize = 48;
/// Most environment entries (`NAME=value`) in [`Args::env`], and the
/// longest one in bytes.
pub const ENV_MAX: usize = 8;
pub const ENV_LEN: usize = 48;
pub type Arg = Str<ARG_LEN>;
pub type EnvVar = Str<ENV_LEN>;

/// A program's arguments and environment: what the process server's
/// `spawn` passes on; for servers init starts, the `args` of their
/// manifest entry (no environment).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Args {
    pub argv: List<Arg, ARGS_MAX>,
    /// `NAME=value` entries.
    pub env: List<EnvVar, ENV_MAX>,
}

impl Args {
    /// The value of environment entry `name` (the part after the first
    /// `=` of the first entry `name=...`).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|e| {
            let (k, v) = e.as_str().split_once('=')?;
            (k == name).then_some(v)
        })
    }

    /// Argument `i` (`argv[0]` is the program name by convention).
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.argv.get(i).map(|a| a.as_str())
    }
}

/// What init tells a server it started: written postcard-encoded at
/// [`layout::START_INFO`] after a [`HEADER`] (magic, length), read-only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StartInfo {
    pub version: u32,
    /// Its name in the plan.
    pub name: Name,
    /// init's number for it (1 = the first server started).
    pub pid: u32,
    /// How many times it was restarted before this start.
    pub generation: u32,
    pub cnode_radix: u8,
    /// Its CNode's free slots `[start, end)`.
    pub free_slots: (u64, u64),
    /// Named endpoints: those it provides and those it needs.
    pub caps: List<NamedCap, MAX_CAPS>,
    /// What is left of its memory quota, as untyped caps.
    pub untyped: List<UntypedCap, MAX_UNTYPED>,
    pub heap: Area,
    pub stack: Area,
    pub files: List<File, MAX_FILES>,
    pub devices: List<Device, MAX_MMIO>,
    pub irqs: List<Irq, MAX_IRQS>,
    pub ports: List<Ports, MAX_IOPORTS>,
    /// Its arguments and environment (empty for servers init starts).
    pub args: Args,
    /// Ticks per second of the counter user mode reads
    /// (`sys::arch::clock`: x86_64 `rdtsc`, riscv64 `rdtime`), from the
    /// kernel's `BootInfo::clock_hz`; 0 if unknown.
    pub clock_hz: u64,
}

impl StartInfo {
    /// The named cap `name`.
    pub fn named(&self, name: &str) -> Option<&NamedCap> {
        self.caps.iter().find(|c| c.name.as_str() == name)
    }

    /// The file `name`.
    pub fn file(&self, name: &str) -> Option<&File> {
        self.files.iter().find(|f| f.name.as_str() == name)
    }
}

/// Why a start-info page was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartError {
    BadMagic,
    BadLength,
    Malformed,
    Version(u32),
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::BadMagic => f.write_str("no start info (bad magic)"),
            StartError::BadLength => f.write_str("start info length out of range"),
            StartError::Malformed => f.write_str("start info does not decode"),
            StartError::Version(v) => write!(f, "start info version {v} (expected {VERSION})"),
        }
    }
}

/// Encode `info` as a start-info page image into `out` (header included);
/// the bytes used, or `None` if it does not fit.
pub fn encode(info: &StartInfo, out: &mut [u8]) -> Option<usize> {
    let (head, body) = out.split_at_mut_checked(HEADER)?;
    let n = postcard::to_slice(info, body).ok()?.len();
    head.get_mut(..8)?.copy_from_slice(&MAGIC.to_le_bytes());
    head.get_mut(8..16)?.copy_from_slice(&(n as u64).to_le_bytes());
    Some(HEADER + n)
}

/// Decode a start-info page image (at most [`layout::START_INFO_SIZE`]
/// bytes are looked at).
pub fn decode(page: &[u8]) -> Result<StartInfo, StartError> {
    let word = |i: usize| -> Option<u64> {
        let b: [u8; 8] = page.get(i..i + 8)?.try_into().ok()?;
        Some(u64::from_le_bytes(b))
    };
    if word(0) != Some(MAGIC) {
        return Err(StartError::BadMagic);
    }
    let len = word(8).ok_or(StartError::BadLength)?;
    let max = layout::START_INFO_SIZE as usize - HEADER;
    let len = usize::try_from(len).ok().filter(|l| *l <= max).ok_or(StartError::BadLength)?;
    let body = page.get(HEADER..HEADER + len).ok_or(StartError::BadLength)?;
    match postcard::take_from_bytes::<StartInfo>(body) {
        Ok((s, [])) if s.version == VERSION => Ok(s),
        Ok((s, [])) => Err(StartError::Version(s.version)),
        _ => Err(StartError::Malformed),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn start_info_round_trip() {
        let mut s =
            StartInfo { version: VERSION, pid: 3, cnode_radix: CNODE_RADIX, ..Default::default() };
        s.name = Name::from_str("kv-mem").unwrap();
        s.caps
            .push(NamedCap {
                name: Name::from_str("kv").unwrap(),
                cap_type: CapType::Endpoint as u32,
                slot: 9,
                role: Role::Provided,
                protocol: Name::from_str("kv").unwrap(),
                version: 1,
            })
            .unwrap();
        s.heap = Area { vaddr: layout::HEAP, size: 65536 };
        s.args.argv.push(Arg::from_str("kv-mem").unwrap()).unwrap();
        s.args.env.push(EnvVar::from_str("MODE=fast=yes").unwrap()).unwrap();
        s.clock_hz = 2_500_000_000;
        let mut page = [0u8; 4096];
        let n = encode(&s, &mut page).unwrap();
        let d = decode(&page).unwrap();
        assert_eq!(d, s);
        assert_eq!(d.named("kv").unwrap().cap_type(), Some(CapType::Endpoint));
        assert!(d.named("fs").is_none());
        assert_eq!(d.args.arg(0), Some("kv-mem"));
        assert_eq!(d.args.arg(1), None);
        assert_eq!(d.args.var("MODE"), Some("fast=yes"));
        assert_eq!(d.args.var("MOD"), None);
        // Damage: magic, length, body.
        let mut bad = page;
        bad[0] ^= 1;
        assert_eq!(decode(&bad), Err(StartError::BadMagic));
        let mut bad = page;
        bad[8] = bad[8].wrapping_add(1);
        assert!(decode(&bad).is_err());
        let mut bad = page;
        bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode(&bad), Err(StartError::BadLength));
        for cut in 0..n {
            assert!(decode(&page[..cut]).is_err());
        }
        assert_eq!(d.clock_hz, 2_500_000_000);
    }

    #[test]
    fn other_versions_refused() {
        let s = StartInfo { version: VERSION - 1, clock_hz: 10_000_000, ..Default::default() };
        let mut page = [0u8; 4096];
        encode(&s, &mut page).unwrap();
        assert_eq!(decode(&page), Err(StartError::Version(VERSION - 1)));
        // A body that ends before `clock_hz` (a version-2 writer's) does
        // not decode.
        let s = StartInfo { version: VERSION, clock_hz: u64::MAX, ..Default::default() };
        let n = encode(&s, &mut page).unwrap();
        // postcard writes u64::MAX as a 10-byte varint at the end.
        let short = (n - HEADER - 10) as u64;
        page[8..16].copy_from_slice(&short.to_le_bytes());
        assert_eq!(decode(&page), Err(StartError::Malformed));
    }
}
