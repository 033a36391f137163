//! The boot plan: what init starts and with which capabilities.
//!
//! The image builder turns the manifest's server settings into a [`Plan`],
//! checks it (every needed name provided by exactly one program, protocol
//! versions as `libipc` declares them, no dependency cycle) and packs it
//! postcard-encoded into the boot archive as the entry [`ENTRY`] (kind
//! `Plan`). init decodes it with [`decode`] and starts the servers in the
//! order listed, which is a dependency order (providers before the programs
//! that need them).
//!
//! Every list is bounded ([`crate::proto::List`]), so decoding is bounded
//! and never allocates; a malformed plan is a [`PlanError`].

use serde::{Deserialize, Serialize};

use crate::proto::{List, Str};

/// The archive entry holding the plan.
pub const ENTRY: &str = "boot.plan";
/// The plan format's version; init refuses another.
pub const VERSION: u32 = 2;

/// Longest name (an archive entry's, a service's, a protocol's).
pub const NAME_MAX: usize = 40;
pub type Name = Str<NAME_MAX>;

pub const MAX_SERVERS: usize = 16;
pub const MAX_PROVIDES: usize = 4;
pub const MAX_NEEDS: usize = 8;
pub const MAX_FILES: usize = 8;
pub const MAX_IRQS: usize = 8;
pub const MAX_IOPORTS: usize = 4;
pub const MAX_MMIO: usize = 4;

/// Smallest and largest memory quota, log2 bytes (64 KiB .. 256 MiB).
pub const MEMORY_BITS_MIN: u8 = 16;
pub const MEMORY_BITS_MAX: u8 = 28;

/// The whole plan.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`VERSION`].
    pub version: u32,
    /// In start order: each after every server it needs.
    pub servers: List<Server, MAX_SERVERS>,
}

/// One server init starts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// Its program's archive entry.
    pub name: Name,
    /// Its memory quota: `2^memory_bits` bytes of untyped, from which init
    /// builds it (image, stack, heap, page tables, kernel objects) and whose
    /// rest it gets as untyped.
    pub memory_bits: u8,
    /// Heap and main-thread stack sizes in bytes (page multiples).
    pub heap: u64,
    pub stack: u64,
    pub restart: Restart,
    /// Services it provides: init makes an endpoint for each.
    pub provides: List<Service, MAX_PROVIDES>,
    /// Services it needs: init gives it the provider's endpoint. The
    /// version is the provider's (checked against the protocol's at build
    /// time).
    pub needs: List<Service, MAX_NEEDS>,
    /// Archive entries mapped read-only into it.
    pub files: List<Name, MAX_FILES>,
    /// Its program arguments (the manifest's `args`), passed on in its
    /// start info (`StartInfo::args.argv`).
    pub args: List<crate::start::Arg, { crate::start::ARGS_MAX }>,
    /// Interrupt lines whose handler caps it gets.
    pub irqs: List<u32, MAX_IRQS>,
    /// I/O port ranges (x86_64).
    pub ioports: List<PortRange, MAX_IOPORTS>,
    /// Device memory mapped into it.
    pub mmio: List<Mmio, MAX_MMIO>,
    /// Scheduling parameters for its thread's scheduling context (applied
    /// by init through SchedControl); none: the kernel's default (adaptive
    /// round robin).
    pub sched: Option<Sched>,
}

/// A named endpoint speaking a protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    /// The name clients look up (the protocol's name unless the manifest
    /// says otherwise).
    pub name: Name,
    pub protocol: Name,
    pub version: u32,
}

/// What init does when the server faults or exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Restart {
    /// Leave it stopped.
    #[default]
    Never,
    /// Start it again, every time.
    Always,
    /// Start it again at most this many times.
    Max(u32),
}

impl Restart {
    /// Whether a server that has been restarted `restarts` times already
    /// is started again.
    pub const fn again(self, restarts: u32) -> bool {
        match self {
            Restart::Never => false,
            Restart::Always => true,
            Restart::Max(n) => restarts < n,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub base: u16,
    pub count: u16,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mmio {
    pub name: Name,
    /// Page-aligned physical address and size.
    pub paddr: u64,
    pub size: u64,
}

/// A scheduling class and its parameters (`abi::sched`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchedClass {
    /// Round robin (best effort).
    #[default]
    RoundRobin,
    /// Earliest deadline first within a reservation.
    Edf,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sched {
    pub class: SchedClass,
    /// EDF: `budget_ns` every `period_ns`, each job done within
    /// `deadline_ns` (0: the period).
    pub budget_ns: u64,
    pub period_ns: u64,
    pub deadline_ns: u64,
    /// Round robin: the quantum (0: the kernel's default).
    pub quantum_ns: u64,
    /// Whether the kernel's dynamic classification may move it.
    pub adaptive: bool,
}

impl Sched {
    /// The words of `SchedControlConfigure`.
    pub const fn params(&self) -> crate::abi::sched::Params {
        let p = match self.class {
            SchedClass::RoundRobin => crate::abi::sched::Params::rr(self.quantum_ns),
            SchedClass::Edf => crate::abi::sched::Params::edf(self.budget_ns, self.period_ns)
                .with_deadline(self.deadline_ns),
        };
        p.adaptive(self.adaptive)
    }
}

impl Plan {
    /// The server named `name` and its index.
    pub fn server(&self, name: &str) -> Option<(usize, &Server)> {
        self.servers.iter().enumerate().find(|(_, s)| s.name.as_str() == name)
    }

    /// The server providing service `name`, and its index.
    pub fn provider(&self, name: &str) -> Option<(usize, &Server, &Service)> {
        self.servers.iter().enumerate().find_map(|(i, s)| {
            s.provides.iter().find(|p| p.name.as_str() == name).map(|p| (i, s, p))
        })
    }
}

/// Why a plan was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// Not a postcard-encoded plan, a bound exceeded, or bytes left over.
    Malformed,
    /// Another plan format.
    Version(u32),
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PlanError::Malformed => f.write_str("the boot plan does not decode"),
            PlanError::Version(v) => write!(f, "boot plan version {v} (this init reads {VERSION})"),
        }
    }
}

/// Decode a plan: exactly `bytes`, bounded, the right version.
pub fn decode(bytes: &[u8]) -> Result<Plan, PlanError> {
    let mut p = Plan::default();
    decode_into(bytes, &mut p)?;
    Ok(p)
}

/// [`decode`] into `out` (which may live on the heap: a whole [`Plan`] is
/// tens of KiB), one server at a time, so decoding needs little stack. The
/// bytes are those of the postcard encoding of a `Plan`: the version, the
/// server count, then each server. On error `out` is left empty.
pub fn decode_into(bytes: &[u8], out: &mut Plan) -> Result<(), PlanError> {
    out.servers = List::new();
    let r = decode_servers(bytes, out);
    if r.is_err() {
        out.servers = List::new();
    }
    r
}

fn decode_servers(bytes: &[u8], out: &mut Plan) -> Result<(), PlanError> {
    let (version, rest) =
        postcard::take_from_bytes::<u32>(bytes).map_err(|_| PlanError::Malformed)?;
    let (count, mut rest) =
        postcard::take_from_bytes::<usize>(rest).map_err(|_| PlanError::Malformed)?;
    if count > MAX_SERVERS {
        return Err(PlanError::Malformed);
    }
    for _ in 0..count {
        let (s, r) = postcard::take_from_bytes::<Server>(rest).map_err(|_| PlanError::Malformed)?;
        out.servers.push(s).map_err(|_| PlanError::Malformed)?;
        rest = r;
    }
    if !rest.is_empty() {
        return Err(PlanError::Malformed);
    }
    out.version = version;
    if version != VERSION {
        return Err(PlanError::Version(version));
    }
    Ok(())
}

/// Encode `plan` into `out`; the bytes used, or `None` if it does not fit.
pub fn encode(plan: &Plan, out: &mut [u8]) -> Option<usize> {
    postcard::to_slice(plan, out).ok().map(|b| b.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    fn sample() -> Plan {
        let mut kv = Server {
            name: name("kv-mem"),
            memory_bits: 20,
            heap: 65536,
            stack: 65536,
            ..Default::default()
        };
        kv.provides.push(Service { name: name("kv"), protocol: name("kv"), version: 1 }).unwrap();
        kv.restart = Restart::Max(3);
        let mut client = Server { name: name("kv-client"), memory_bits: 20, ..Default::default() };
        client.needs.push(Service { name: name("kv"), protocol: name("kv"), version: 1 }).unwrap();
        client.files.push(name("hello.txt")).unwrap();
        client.irqs.push(4).unwrap();
        client.ioports.push(PortRange { base: 0x3f8, count: 8 }).unwrap();
        client.mmio.push(Mmio { name: name("uart"), paddr: 0x1000_0000, size: 4096 }).unwrap();
        client.sched = Some(Sched {
            class: SchedClass::Edf,
            budget_ns: 1_000_000,
            period_ns: 10_000_000,
            ..Default::default()
        });
        let mut p = Plan { version: VERSION, ..Default::default() };
        p.servers.push(kv).unwrap();
        p.servers.push(client).unwrap();
        p
    }

    #[test]
    fn round_trip_and_lookups() {
        let p = sample();
        let mut buf = [0u8; 4096];
        let n = encode(&p, &mut buf).unwrap();
        assert_eq!(decode(&buf[..n]).unwrap(), p);
        assert_eq!(p.server("kv-client").unwrap().0, 1);
        assert_eq!(p.provider("kv").unwrap().1.name.as_str(), "kv-mem");
        assert!(p.provider("fs").is_none());
        assert!(Restart::Max(3).again(2) && !Restart::Max(3).again(3));
        assert!(Restart::Always.again(1000) && !Restart::Never.again(0));
    }

    #[test]
    fn malformed_plans_are_errors() {
        let p = sample();
        let mut buf = [0u8; 4096];
        let n = encode(&p, &mut buf).unwrap();
        // Every truncation, and trailing bytes.
        for len in 0..n {
            assert!(decode(&buf[..len]).is_err(), "{len}");
        }
        assert_eq!(decode(&buf[..n + 1]), Err(PlanError::Malformed));
        // Another version.
        let old = Plan { version: 7, ..p.clone() };
        let n2 = encode(&old, &mut buf).unwrap();
        assert_eq!(decode(&buf[..n2]), Err(PlanError::Version(7)));
        // Random bytes never panic.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let len = (seed % 300) as usize;
            let mut b = [0u8; 300];
            for x in b.iter_mut().take(len) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *x = seed as u8;
            }
            let _ = decode(&b[..len]);
        }
    }
}
