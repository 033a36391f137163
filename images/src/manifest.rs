//! Image manifests: `images/<name>.toml`, one bootable system each.
//!
//! ```toml
//! [image]
//! description = "What this system is for"
//!
//! [kernel]
//! cmdline = "rint.test=boot"       # optional kernel command line
//!
//! [[program]]                      # one table per user program, in start order
//! name = "init"                    # archive entry name (1..=40 bytes)
//! package = "rint-init"            # a workspace package, built for the target
//! bin = "init"                     # optional: which binary of the package
//!
//! [[program]]
//! name = "hello.txt"
//! path = "images/files/hello.txt"  # or a file, relative to the repository
//!
//! [[program]]
//! name = "hello"
//! linux_c = "tests/linux/hello.c"  # or a C source, built as a static Linux program
//! ```
//! Exactly one of `package`, `path` and `linux_c` per program. Unknown fields are errors,
//! so a typo never goes unnoticed.
//!
//! Programs other than `init` built from a `package` are **servers**: init
//! starts them (`start = false` opts out, `start = true` opts a `path`
//! program in). A server's table may also say what it provides and needs,
//! its memory quota, restart policy, files, interrupts, I/O ports and device
//! regions ([`plan`](Manifest::plan) turns them into the boot plan,
//! `libipc::plan`, and checks them; `docs/images.md` is the reference):
//!
//! ```toml
//! [[program]]
//! name = "kv-mem"
//! package = "rint-kv-mem"
//! provides = [{ protocol = "kv", version = 1 }]   # or { name = "cache", protocol = "kv", version = 1 }
//! memory = "1M"                                   # untyped quota, a power of two
//! restart = "always"                              # or "never", or { max = 3 }
//!
//! [[program]]
//! name = "kv-client"
//! package = "rint-kv-client"
//! needs = ["kv"]                                  # or [{ name = "kv", version = 1 }]
//! files = ["hello.txt"]                           # archive entries, mapped read-only
//! irqs = [4, { line = 10, arch = "riscv64" }]
//! ioports = [{ base = 0x3f8, count = 8 }]         # x86_64 only
//! mmio = [{ name = "uart", paddr = 0x10000000, size = 0x1000, arch = "riscv64" }]
//! ```

use libipc::plan::{self, Plan};
use libipc::proto::{List, Str};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub image: ImageSection,
    #[serde(default)]
    pub kernel: KernelSection,
    #[serde(default, rename = "program")]
    pub programs: Vec<Program>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    pub description: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    #[serde(default)]
    pub cmdline: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub name: String,
    pub package: Option<String>,
    pub bin: Option<String>,
    pub path: Option<PathBuf>,
    /// A C source compiled into a static Linux executable (`crate::linux`).
    pub linux_c: Option<PathBuf>,
    /// Whether init starts it: by default, packages other than `init`.
    pub start: Option<Spanned<bool>>,
    #[serde(default)]
    pub provides: Vec<Spanned<Provide>>,
    #[serde(default)]
    pub needs: Vec<Spanned<Need>>,
    /// Untyped memory quota in bytes (a power of two; default 1 MiB).
    pub memory: Option<Spanned<Size>>,
    /// Heap and stack sizes in bytes (default 64 KiB each).
    pub heap: Option<Spanned<Size>>,
    pub stack: Option<Spanned<Size>>,
    pub restart: Option<Spanned<RestartSpec>>,
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    #[serde(default)]
    pub irqs: Vec<Spanned<IrqSpec>>,
    #[serde(default)]
    pub ioports: Vec<Spanned<PortSpec>>,
    #[serde(default)]
    pub mmio: Vec<Spanned<MmioSpec>>,
    /// Scheduling parameters of its thread.
    pub sched: Option<Spanned<SchedSpec>>,
}

/// A service a server provides.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Provide {
    /// The name clients use; the protocol's name by default.
    pub name: Option<String>,
    pub protocol: String,
    pub version: u32,
}

/// A service a server needs: its name, optionally the version it expects.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Need {
    Name(String),
    Table(NeedTable),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NeedTable {
    pub name: String,
    pub version: Option<u32>,
}

impl Need {
    pub fn name(&self) -> &str {
        match self {
            Need::Name(n) => n,
            Need::Table(t) => &t.name,
        }
    }
    pub fn version(&self) -> Option<u32> {
        match self {
            Need::Name(_) => None,
            Need::Table(t) => t.version,
        }
    }
}

/// A size: bytes, or a string with a `K`/`M`/`G` (KiB, MiB, GiB) suffix.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Size::Bytes(b) => Ok(*b),
            Size::Text(t) => {
                let t = t.trim();
                let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
                let (num, shift) = match t.char_indices().last() {
                    Some((i, 'K' | 'k')) => (&t[..i], 10),
                    Some((i, 'M' | 'm')) => (&t[..i], 20),
                    Some((i, 'G' | 'g')) => (&t[..i], 30),
                    _ => (t, 0),
                };
                let n: u64 = num.trim().parse().map_err(|_| {
                    format!("{t:?} is not a size (bytes, or a number with K, M or G)")
                })?;
                n.checked_shl(shift)
                    .filter(|v| v >> shift == n)
                    .ok_or_else(|| format!("{t:?} is too large"))
            }
        }
    }
}

/// A thread's scheduling class and parameters:
/// `{ class = "edf", budget = "2ms", period = "10ms" [, deadline = "5ms"] [, adaptive = true] }`
/// or `{ class = "rr" [, quantum = "5ms"] [, adaptive = true] }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SchedSpec {
    pub class: String,
    pub budget: Option<Duration>,
    pub period: Option<Duration>,
    pub deadline: Option<Duration>,
    pub quantum: Option<Duration>,
    pub adaptive: Option<bool>,
}

/// A time: nanoseconds, or a string with `ns`, `us`, `ms` or `s`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Duration {
    Ns(u64),
    Text(String),
}

impl Duration {
    pub fn ns(&self) -> Result<u64, String> {
        match self {
            Duration::Ns(n) => Ok(*n),
            Duration::Text(t) => {
                let t = t.trim();
                let (num, mul) = if let Some(n) = t.strip_suffix("ns") {
                    (n, 1)
                } else if let Some(n) = t.strip_suffix("us") {
                    (n, 1_000)
                } else if let Some(n) = t.strip_suffix("ms") {
                    (n, 1_000_000)
                } else if let Some(n) = t.strip_suffix('s') {
                    (n, 1_000_000_000)
                } else {
                    return Err(format!("{t:?} is not a time (a number with ns, us, ms or s)"));
                };
                let n: u64 = num.trim().parse().map_err(|_| format!("{t:?} is not a time"))?;
                n.checked_mul(mul).ok_or_else(|| format!("{t:?} is too long"))
            }
        }
    }
}

/// Most EDF bandwidth (budget / deadline, in percent) the servers of one
/// image may reserve: the kernel admits at most 90% per CPU.
pub const EDF_MAX_PERCENT: u64 = 90;

/// `"never"`, `"always"` or `{ max = N }`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RestartSpec {
    Word(String),
    Max(MaxRestarts),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MaxRestarts {
    pub max: u32,
}

/// An interrupt line, on every arch or on one.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum IrqSpec {
    Line(u32),
    Table(IrqTable),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IrqTable {
    pub line: u32,
    pub arch: Option<String>,
}

/// x86_64 I/O ports `base..base + count`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub base: u32,
    pub count: u32,
}

/// A device region, on every arch or on one.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MmioSpec {
    pub name: String,
    pub paddr: u64,
    pub size: u64,
    pub arch: Option<String>,
}

/// The archive entry names the builder itself uses.
pub const RESERVED_NAMES: [&str; 3] = ["manifest.toml", "cmdline", plan::ENTRY];
/// Known arch names (for `arch` keys).
pub const ARCHES: [&str; 2] = ["x86_64", "riscv64"];

/// Defaults for servers.
pub const DEFAULT_MEMORY: u64 = 1 << 20;
pub const DEFAULT_HEAP: u64 = 64 << 10;
pub const DEFAULT_STACK: u64 = 64 << 10;

/// Where a program's bytes come from, once checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Binary `bin` of workspace package `package`, built for the target.
    Package { package: String, bin: String },
    /// A file, absolute path.
    File(PathBuf),
    /// A C source (absolute path) to compile for Linux on the target.
    LinuxC(PathBuf),
}

/// A manifest error: which file, which line, which field, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestError {
    pub file: PathBuf,
    /// The line (1-based), where known.
    pub line: Option<usize>,
    /// Dotted path of the field, e.g. `program[1].package`; empty for errors
    /// about the whole file.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ManifestError {}

/// A workspace package the builder can build for the target.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspacePackage {
    pub name: String,
    pub bins: Vec<String>,
}

/// Parse manifest text. `file` is only used in error messages.
pub fn parse(file: &Path, text: &str) -> Result<Manifest, ManifestError> {
    toml::from_str(text).map_err(|e| ManifestError {
        file: file.to_path_buf(),
        line: e.span().map(|s| line_of(text, s.start)),
        field: String::new(),
        message: e.message().to_string(),
    })
}

/// The 1-based line of byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

impl Manifest {
    /// Check the manifest against the workspace and the file system: names,
    /// sources, packages and binaries. Returns each program's source.
    pub fn check(
        &self,
        file: &Path,
        root: &Path,
        packages: &[WorkspacePackage],
    ) -> Result<Vec<(String, Source)>, ManifestError> {
        let err = |field: String, message: String| ManifestError {
            file: file.to_path_buf(),
            line: None,
            field,
            message,
        };
        if self.kernel.cmdline.len() > 1024 {
            return Err(err("kernel.cmdline".into(), "longer than 1024 bytes".into()));
        }
        let mut out: Vec<(String, Source)> = Vec::new();
        for (i, p) in self.programs.iter().enumerate() {
            let at = |f: &str| format!("program[{i}].{f}");
            if p.name.is_empty() || p.name.len() > 40 || p.name.contains(['\0', '/']) {
                return Err(err(
                    at("name"),
                    format!("{:?} must be 1 to 40 bytes without '/' or NUL", p.name),
                ));
            }
            if RESERVED_NAMES.contains(&p.name.as_str()) {
                return Err(err(
                    at("name"),
                    format!("{:?} is reserved for the builder's own entries", p.name),
                ));
            }
            if out.iter().any(|(n, _)| *n == p.name) {
                return Err(err(
                    at("name"),
                    format!("a program named {:?} is already listed", p.name),
                ));
            }
            if let Some(c) = &p.linux_c {
                if p.package.is_some() || p.path.is_some() || p.bin.is_some() || p.start.is_some() {
                    return Err(err(
                        at("linux_c"),
                        "`linux_c` goes alone, without `package`, `bin`, `path` or `start` (init does not start Linux programs)".into(),
                    ));
                }
                let full =
                    crate::linux::check_source(root, c).map_err(|m| err(at("linux_c"), m))?;
                out.push((p.name.clone(), Source::LinuxC(full)));
                continue;
            }
            let source = match (&p.package, &p.path) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        at("path"),
                        "give either `package` or `path`, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(err(
                        format!("program[{i}]"),
                        format!("program {:?} needs `package`, `path` or `linux_c`", p.name),
                    ));
                }
                (None, Some(path)) => {
                    if p.bin.is_some() {
                        return Err(err(at("bin"), "`bin` only goes with `package`".into()));
                    }
                    let full = root.join(path);
                    if !full.is_file() {
                        return Err(err(at("path"), format!("no such file: {}", full.display())));
                    }
                    Source::File(full)
                }
                (Some(pkg), None) => {
                    let Some(found) = packages.iter().find(|w| w.name == *pkg) else {
                        let known: Vec<&str> = packages
                            .iter()
                            .filter(|w| !w.bins.is_empty())
                            .map(|w| w.name.as_str())
                            .collect();
                        return Err(err(
                            at("package"),
                            format!(
                                "no workspace package {pkg:?} (packages with binaries: {})",
                                known.join(", ")
                            ),
                        ));
                    };
                    let bin = match (&p.bin, found.bins.as_slice()) {
                        (Some(b), bins) if bins.contains(b) => b.clone(),
                        (Some(b), bins) => {
                            return Err(err(
                                at("bin"),
                                format!(
                                    "package {pkg:?} has no binary {b:?} (it has: {})",
                                    bins.join(", ")
                                ),
                            ));
                        }
                        (None, [only]) => only.clone(),
                        (None, []) => {
                            return Err(err(
                                at("package"),
                                format!("package {pkg:?} has no binary"),
                            ));
                        }
                        (None, bins) => {
                            return Err(err(
                                at("bin"),
                                format!(
                                    "package {pkg:?} has several binaries ({}): name one with `bin`",
                                    bins.join(", ")
                                ),
                            ));
                        }
                    };
                    Source::Package { package: pkg.clone(), bin }
                }
            };
            out.push((p.name.clone(), source));
        }
        Ok(out)
    }
}

/// Checks the server settings and builds the boot plan. `text` is the
/// manifest's text (for line numbers).
struct Planner<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Planner<'_> {
    fn err(
        &self,
        span: Option<std::ops::Range<usize>>,
        field: String,
        message: String,
    ) -> ManifestError {
        ManifestError {
            file: self.file.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)),
            field,
            message,
        }
    }
}

fn name_of(s: &str) -> Option<plan::Name> {
    Str::from_str(s)
}

fn push<T: Default, const N: usize>(list: &mut List<T, N>, v: T) -> Result<(), String> {
    list.push(v).map_err(|_| format!("at most {N} allowed"))
}

impl Program {
    /// Whether init starts this program.
    pub fn is_server(&self) -> bool {
        match &self.start {
            Some(s) => *s.get_ref(),
            None => self.package.is_some() && self.name != "init",
        }
    }

    /// The first server-only setting present, with its span.
    fn server_setting(&self) -> Option<(&'static str, std::ops::Range<usize>)> {
        let first = |v: &[Spanned<_>]| v.first().map(|x: &Spanned<_>| x.span());
        None.or(self.provides.first().map(|x| ("provides", x.span())))
            .or(self.needs.first().map(|x| ("needs", x.span())))
            .or(self.memory.as_ref().map(|x| ("memory", x.span())))
            .or(self.heap.as_ref().map(|x| ("heap", x.span())))
            .or(self.stack.as_ref().map(|x| ("stack", x.span())))
            .or(self.restart.as_ref().map(|x| ("restart", x.span())))
            .or(first(&self.files).map(|s| ("files", s)))
            .or(self.irqs.first().map(|x| ("irqs", x.span())))
            .or(self.ioports.first().map(|x| ("ioports", x.span())))
            .or(self.mmio.first().map(|x| ("mmio", x.span())))
            .or(self.sched.as_ref().map(|x| ("sched", x.span())))
    }
}

fn arch_matches(arch: &Option<String>, target: &str) -> Result<bool, String> {
    match arch {
        None => Ok(true),
        Some(a) if ARCHES.contains(&a.as_str()) => Ok(a == target),
        Some(a) => Err(format!("unknown arch {a:?} (known: {})", ARCHES.join(", "))),
    }
}

impl Manifest {
    /// The boot plan for `arch` ("x86_64" or "riscv64"), after checking
    /// every server setting: each needed name provided by exactly one
    /// program, protocols known to `libipc` at the versions it declares,
    /// no dependency cycle, quotas, files, interrupts, ports and device
    /// regions in range. Servers are listed in start order: each after the
    /// servers it needs, otherwise in manifest order.
    pub fn plan(&self, file: &Path, text: &str, arch: &str) -> Result<Plan, ManifestError> {
        let pl = Planner { file, text };
        let programs: Vec<(usize, &Program)> = self.programs.iter().enumerate().collect();
        // Settings only servers take.
        for &(i, p) in &programs {
            if p.name == "init" && p.start.as_ref().is_some_and(|s| *s.get_ref()) {
                let span = p.start.as_ref().map(|s| s.span());
                return Err(pl.err(
                    span,
                    format!("program[{i}].start"),
                    "init is the root task: the kernel starts it, not init".into(),
                ));
            }
            if !p.is_server()
                && let Some((field, span)) = p.server_setting()
            {
                return Err(pl.err(
                    Some(span),
                    format!("program[{i}].{field}"),
                    format!("{:?} is not a server init starts (it is init, has `start = false` or is a `path` program without `start = true`): server settings do not apply", p.name),
                ));
            }
        }
        let servers: Vec<(usize, &Program)> =
            programs.iter().copied().filter(|(_, p)| p.is_server()).collect();
        if servers.len() > plan::MAX_SERVERS {
            return Err(pl.err(
                None,
                String::new(),
                format!("{} servers; init starts at most {}", servers.len(), plan::MAX_SERVERS),
            ));
        }

        // What each server provides: names unique across the image.
        let mut provided: Vec<(String, usize, plan::Service, std::ops::Range<usize>)> = Vec::new();
        for &(i, p) in &servers {
            for (k, pr) in p.provides.iter().enumerate() {
                let at = format!("program[{i}].provides[{k}]");
                let v = pr.get_ref();
                let Some(decl) = libipc::proto::declared(&v.protocol) else {
                    let known: Vec<&str> = libipc::proto::DECLARED.iter().map(|d| d.name).collect();
                    return Err(pl.err(
                        Some(pr.span()),
                        at,
                        format!(
                            "no protocol {:?} is declared in libipc (declared: {})",
                            v.protocol,
                            known.join(", ")
                        ),
                    ));
                };
                if decl.version != v.version {
                    return Err(pl.err(
                        Some(pr.span()),
                        at,
                        format!(
                            "protocol {:?} is version {} in libipc, the manifest says {}",
                            v.protocol, decl.version, v.version
                        ),
                    ));
                }
                let name = v.name.clone().unwrap_or_else(|| v.protocol.clone());
                if name == "init" {
                    return Err(pl.err(
                        Some(pr.span()),
                        at,
                        "the name \"init\" is init's own (its name service)".into(),
                    ));
                }
                let Some(n) = name_of(&name).filter(|_| !name.is_empty()) else {
                    return Err(pl.err(
                        Some(pr.span()),
                        at,
                        format!("service name {name:?} must be 1 to {} bytes", plan::NAME_MAX),
                    ));
                };
                if let Some((_, other, _, _)) = provided.iter().find(|(n2, ..)| *n2 == name) {
                    return Err(pl.err(Some(pr.span()), at, format!("{name:?} is already provided by {:?}: every name is provided by exactly one program", self.programs[*other].name)));
                }
                let service = plan::Service {
                    name: n,
                    protocol: name_of(&v.protocol).unwrap_or_default(),
                    version: v.version,
                };
                provided.push((name, i, service, pr.span()));
            }
        }

        // What each server needs: provided by exactly one other program, at
        // the version asked for.
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); self.programs.len()];
        for &(i, p) in &servers {
            for (k, nd) in p.needs.iter().enumerate() {
                let at = format!("program[{i}].needs[{k}]");
                let want = nd.get_ref().name();
                let found: Vec<_> = provided.iter().filter(|(n, ..)| n == want).collect();
                let (_, by, service, _) = match found.as_slice() {
                    [one] => *one,
                    [] => {
                        let names: Vec<&str> = provided.iter().map(|(n, ..)| n.as_str()).collect();
                        return Err(pl.err(
                            Some(nd.span()),
                            at,
                            format!(
                                "no program provides {want:?} (provided: {})",
                                if names.is_empty() { "nothing".into() } else { names.join(", ") }
                            ),
                        ));
                    }
                    _ => {
                        return Err(pl.err(
                            Some(nd.span()),
                            at,
                            format!("{want:?} is provided more than once"),
                        ));
                    }
                };
                if *by == i {
                    return Err(pl.err(
                        Some(nd.span()),
                        at,
                        format!("{:?} provides {want:?} itself", p.name),
                    ));
                }
                if let Some(v) = nd.get_ref().version()
                    && v != service.version
                {
                    return Err(pl.err(Some(nd.span()), at, format!("needs {want:?} version {v}, but {:?} provides version {} (protocol {:?})", self.programs[*by].name, service.version, service.protocol.as_str())));
                }
                if deps[i].contains(by) {
                    return Err(pl.err(Some(nd.span()), at, format!("{want:?} is listed twice")));
                }
                deps[i].push(*by);
            }
        }

        // Start order: Kahn's algorithm, lowest manifest index first.
        let mut order: Vec<usize> = Vec::new();
        let mut left: Vec<usize> = servers.iter().map(|(i, _)| *i).collect();
        while !left.is_empty() {
            let ready = left.iter().position(|&i| deps[i].iter().all(|d| order.contains(d)));
            match ready {
                Some(pos) => order.push(left.remove(pos)),
                None => {
                    // Every server left waits for another one left: follow
                    // the first's needs until a name repeats.
                    let mut path = vec![left[0]];
                    loop {
                        let cur = *path.last().unwrap_or(&left[0]);
                        let next =
                            deps[cur].iter().copied().find(|d| left.contains(d)).unwrap_or(cur);
                        if let Some(start) = path.iter().position(|&x| x == next) {
                            let cycle: Vec<&str> = path[start..]
                                .iter()
                                .chain([&next])
                                .map(|&x| self.programs[x].name.as_str())
                                .collect();
                            let first = path[start];
                            let k = self.programs[first]
                                .needs
                                .iter()
                                .position(|n| {
                                    provided.iter().any(|(name, by, ..)| {
                                        name == n.get_ref().name()
                                            && *by == path.get(start + 1).copied().unwrap_or(next)
                                    })
                                })
                                .unwrap_or(0);
                            let span = self.programs[first].needs.get(k).map(|n| n.span());
                            return Err(pl.err(
                                span,
                                format!("program[{first}].needs[{k}]"),
                                format!("dependency cycle: {}", cycle.join(" -> ")),
                            ));
                        }
                        path.push(next);
                    }
                }
            }
        }

        // EDF bandwidth reserved so far, in percent of a CPU.
        let mut edf_percent = 0u64;
        // Claimed interrupt lines, across the image.
        let mut irq_owner: Vec<(u32, usize)> = Vec::new();
        let mut out = Plan { version: plan::VERSION, ..Default::default() };
        for &i in &order {
            let p = &self.programs[i];
            let at = |f: &str| format!("program[{i}].{f}");
            let size = |s: &Option<Spanned<Size>>,
                        f: &str,
                        default: u64|
             -> Result<u64, ManifestError> {
                match s {
                    None => Ok(default),
                    Some(v) => v.get_ref().bytes().map_err(|m| pl.err(Some(v.span()), at(f), m)),
                }
            };
            let memory = size(&p.memory, "memory", DEFAULT_MEMORY)?;
            let bits = memory.trailing_zeros() as u8;
            if !memory.is_power_of_two()
                || !(plan::MEMORY_BITS_MIN..=plan::MEMORY_BITS_MAX).contains(&bits)
            {
                return Err(pl.err(
                    p.memory.as_ref().map(|m| m.span()),
                    at("memory"),
                    format!(
                        "{memory} bytes: the quota must be a power of two from {} KiB to {} MiB",
                        1u64 << (plan::MEMORY_BITS_MIN - 10),
                        1u64 << (plan::MEMORY_BITS_MAX - 20)
                    ),
                ));
            }
            let heap = size(&p.heap, "heap", DEFAULT_HEAP)?;
            let stack = size(&p.stack, "stack", DEFAULT_STACK)?;
            for (v, f, max, span) in [
                (heap, "heap", libipc::start::layout::HEAP_MAX, p.heap.as_ref().map(|s| s.span())),
                (
                    stack,
                    "stack",
                    libipc::start::layout::STACK_MAX,
                    p.stack.as_ref().map(|s| s.span()),
                ),
            ] {
                if v % 4096 != 0 || v > max || (f == "stack" && v == 0) {
                    return Err(pl.err(span, at(f), format!("{v} bytes: must be a multiple of 4096 (stack at least one page), at most {max}")));
                }
            }
            if heap + stack >= memory {
                let span = p.memory.as_ref().map(|m| m.span());
                return Err(pl.err(span, at("memory"), format!("{memory} bytes cannot hold the heap ({heap}) and stack ({stack}), let alone the program")));
            }
            let restart = match &p.restart {
                None => plan::Restart::Never,
                Some(r) => match r.get_ref() {
                    RestartSpec::Word(w) if w == "never" => plan::Restart::Never,
                    RestartSpec::Word(w) if w == "always" => plan::Restart::Always,
                    RestartSpec::Max(MaxRestarts { max }) if (1..=1000).contains(max) => {
                        plan::Restart::Max(*max)
                    }
                    other => {
                        return Err(pl.err(Some(r.span()), at("restart"), format!("{other:?}: restart is \"never\", \"always\" or {{ max = N }} with N from 1 to 1000")));
                    }
                },
            };
            let sched = match &p.sched {
                None => None,
                Some(sch) => {
                    let sp = sch.get_ref();
                    let e = |m: String| pl.err(Some(sch.span()), at("sched"), m);
                    let t = |d: &Option<Duration>| -> Result<u64, ManifestError> {
                        match d {
                            None => Ok(0),
                            Some(d) => d.ns().map_err(e),
                        }
                    };
                    let (budget, period, deadline, quantum) =
                        (t(&sp.budget)?, t(&sp.period)?, t(&sp.deadline)?, t(&sp.quantum)?);
                    let max = libipc::abi::sched::MAX_TIME_NS;
                    if [budget, period, deadline, quantum].iter().any(|&v| v > max) {
                        return Err(e(format!("times are at most {max} ns")));
                    }
                    let class = match sp.class.as_str() {
                        "edf" => {
                            let dl = if deadline == 0 { period } else { deadline };
                            if quantum != 0 {
                                return Err(e("an EDF context has no quantum".into()));
                            }
                            if !(budget > 0 && budget <= dl && dl <= period) {
                                return Err(e(format!(
                                    "EDF needs 0 < budget <= deadline <= period (budget {budget} ns, deadline {dl} ns, period {period} ns)"
                                )));
                            }
                            edf_percent += budget.saturating_mul(100).div_ceil(dl);
                            if edf_percent > EDF_MAX_PERCENT {
                                return Err(e(format!(
                                    "the image's EDF reservations add up to {edf_percent}% of a CPU; the kernel admits at most {EDF_MAX_PERCENT}%"
                                )));
                            }
                            plan::SchedClass::Edf
                        }
                        "rr" => {
                            if budget != 0 || period != 0 || deadline != 0 {
                                return Err(e("a round-robin context has only a quantum".into()));
                            }
                            plan::SchedClass::RoundRobin
                        }
                        other => return Err(e(format!("class {other:?}: \"edf\" or \"rr\""))),
                    };
                    Some(plan::Sched {
                        class,
                        budget_ns: budget,
                        period_ns: period,
                        deadline_ns: deadline,
                        quantum_ns: quantum,
                        adaptive: sp.adaptive.unwrap_or(false),
                    })
                }
            };
            let mut srv = plan::Server {
                name: name_of(&p.name).unwrap_or_default(),
                memory_bits: bits,
                heap,
                stack,
                restart,
                sched,
                ..Default::default()
            };
            for (_, by, service, span) in provided.iter().filter(|(_, by, ..)| *by == i) {
                let _ = by;
                push(&mut srv.provides, service.clone())
                    .map_err(|m| pl.err(Some(span.clone()), at("provides"), m))?;
            }
            for (k, nd) in p.needs.iter().enumerate() {
                let service = provided
                    .iter()
                    .find(|(n, ..)| n == nd.get_ref().name())
                    .map(|(_, _, s, _)| s.clone())
                    .unwrap_or_default();
                push(&mut srv.needs, service)
                    .map_err(|m| pl.err(Some(nd.span()), at(&format!("needs[{k}]")), m))?;
            }
            for (k, f) in p.files.iter().enumerate() {
                let fname = f.get_ref();
                let fat = at(&format!("files[{k}]"));
                if *fname == p.name || !self.programs.iter().any(|q| q.name == *fname) {
                    return Err(pl.err(
                        Some(f.span()),
                        fat,
                        format!("{fname:?} is not another entry of this manifest"),
                    ));
                }
                let n = name_of(fname).unwrap_or_default();
                if srv.files.contains(&n) {
                    return Err(pl.err(Some(f.span()), fat, format!("{fname:?} is listed twice")));
                }
                push(&mut srv.files, n).map_err(|m| pl.err(Some(f.span()), fat, m))?;
            }
            for (k, q) in p.irqs.iter().enumerate() {
                let qat = at(&format!("irqs[{k}]"));
                let (line, arch_spec) = match q.get_ref() {
                    IrqSpec::Line(l) => (*l, None),
                    IrqSpec::Table(t) => (t.line, t.arch.clone()),
                };
                if !arch_matches(&arch_spec, arch)
                    .map_err(|m| pl.err(Some(q.span()), qat.clone(), m))?
                {
                    continue;
                }
                if line >= 256 {
                    return Err(pl.err(
                        Some(q.span()),
                        qat,
                        format!("interrupt line {line}: lines are 0..255"),
                    ));
                }
                if let Some((_, other)) = irq_owner.iter().find(|(l, _)| *l == line) {
                    return Err(pl.err(
                        Some(q.span()),
                        qat,
                        format!(
                            "interrupt line {line} already goes to {:?}",
                            self.programs[*other].name
                        ),
                    ));
                }
                irq_owner.push((line, i));
                push(&mut srv.irqs, line).map_err(|m| pl.err(Some(q.span()), qat, m))?;
            }
            for (k, io) in p.ioports.iter().enumerate() {
                let iat = at(&format!("ioports[{k}]"));
                let v = io.get_ref();
                if v.count == 0 || v.base.checked_add(v.count).is_none_or(|end| end > 0x1_0000) {
                    return Err(pl.err(
                        Some(io.span()),
                        iat,
                        format!(
                            "ports {:#x}+{}: a non-empty range inside 0..0x10000",
                            v.base, v.count
                        ),
                    ));
                }
                if arch == "x86_64" {
                    let r =
                        plan::PortRange { base: v.base as u16, count: v.count.min(0xffff) as u16 };
                    push(&mut srv.ioports, r).map_err(|m| pl.err(Some(io.span()), iat, m))?;
                }
            }
            for (k, m) in p.mmio.iter().enumerate() {
                let mat = at(&format!("mmio[{k}]"));
                let v = m.get_ref();
                if !arch_matches(&v.arch, arch)
                    .map_err(|e| pl.err(Some(m.span()), mat.clone(), e))?
                {
                    continue;
                }
                let aligned = v.paddr % 4096 == 0 && v.size % 4096 == 0 && v.size > 0;
                if !aligned
                    || v.paddr.checked_add(v.size).is_none()
                    || v.size > libipc::start::layout::MMIO_MAX
                {
                    return Err(pl.err(Some(m.span()), mat, format!("region {:#x}+{:#x}: address and size must be page multiples, size non-zero", v.paddr, v.size)));
                }
                let Some(n) = name_of(&v.name).filter(|_| !v.name.is_empty()) else {
                    return Err(pl.err(
                        Some(m.span()),
                        mat,
                        format!("name {:?} must be 1 to {} bytes", v.name, plan::NAME_MAX),
                    ));
                };
                push(&mut srv.mmio, plan::Mmio { name: n, paddr: v.paddr, size: v.size })
                    .map_err(|e| pl.err(Some(m.span()), mat, e))?;
            }
            out.servers
                .push(srv)
                .map_err(|_| pl.err(None, String::new(), "too many servers".into()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pkgs() -> Vec<WorkspacePackage> {
        vec![
            WorkspacePackage { name: "rint-init".into(), bins: vec!["init".into()] },
            WorkspacePackage { name: "multi".into(), bins: vec!["a".into(), "b".into()] },
            WorkspacePackage { name: "lib-only".into(), bins: vec![] },
        ]
    }

    fn check(text: &str) -> Result<Vec<(String, Source)>, ManifestError> {
        let f = Path::new("images/t.toml");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        parse(f, text)?.check(f, root, &pkgs())
    }

    #[test]
    fn good_manifest() {
        let got = check(
            r#"
            [image]
            description = "t"
            [kernel]
            cmdline = "rint.test=boot"
            [[program]]
            name = "init"
            package = "rint-init"
            [[program]]
            name = "b"
            package = "multi"
            bin = "b"
            [[program]]
            name = "readme"
            path = "images/Cargo.toml"
            "#,
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            ("init".into(), Source::Package { package: "rint-init".into(), bin: "init".into() })
        );
        assert_eq!(got[1].1, Source::Package { package: "multi".into(), bin: "b".into() });
        assert!(matches!(&got[2].1, Source::File(p) if p.ends_with("images/Cargo.toml")));
    }

    fn error_of(text: &str) -> String {
        check(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackge = \"rint-init\"\n",
        );
        assert!(e.starts_with("images/t.toml: line 5: unknown field `packge`"), "{e}");
    }

    #[test]
    fn missing_description() {
        let e = error_of("[image]\n");
        assert!(e.contains("images/t.toml") && e.contains("description"), "{e}");
    }

    #[test]
    fn unknown_package() {
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"nope\"\n",
        );
        assert!(
            e.starts_with("images/t.toml: program[0].package: no workspace package \"nope\""),
            "{e}"
        );
        assert!(e.contains("rint-init") && !e.contains("lib-only"), "{e}");
    }

    #[test]
    fn missing_file() {
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npath = \"no/such/file\"\n",
        );
        assert!(e.starts_with("images/t.toml: program[0].path: no such file:"), "{e}");
    }

    #[test]
    fn bin_choice() {
        let base = "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"multi\"\n";
        assert!(error_of(base).contains("program[0].bin: package \"multi\" has several binaries"));
        assert!(error_of(&format!("{base}bin = \"c\"\n")).contains("has no binary \"c\""));
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"lib-only\"\n",
        );
        assert!(e.contains("has no binary"), "{e}");
    }

    #[test]
    fn names_are_checked() {
        let p = |name: &str| {
            format!(
                "[image]\ndescription = \"t\"\n[[program]]\nname = \"{name}\"\npackage = \"rint-init\"\n"
            )
        };
        assert!(error_of(&p("")).contains("program[0].name"));
        assert!(error_of(&p(&"n".repeat(41))).contains("program[0].name"));
        assert!(error_of(&p("a/b")).contains("program[0].name"));
        assert!(error_of(&p("cmdline")).contains("reserved"));
        let dup = format!("{}[[program]]\nname = \"init\"\npackage = \"rint-init\"\n", p("init"));
        assert!(
            error_of(&dup).contains("program[1].name: a program named \"init\" is already listed")
        );
    }

    #[test]
    fn exactly_one_source() {
        let e = error_of("[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\n");
        assert!(e.contains("program[0]: program \"x\" needs `package`, `path`"), "{e}");
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"rint-init\"\npath = \"a\"\n",
        );
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn wrong_type() {
        let e = error_of("[image]\ndescription = 5\n");
        assert!(e.starts_with("images/t.toml: line 2:"), "{e}");
    }

    fn plan_of(text: &str, arch: &str) -> Result<Plan, ManifestError> {
        let f = Path::new("images/t.toml");
        parse(f, text)?.plan(f, text, arch)
    }

    fn plan_err(text: &str) -> String {
        plan_of(text, "x86_64").unwrap_err().to_string()
    }

    const HEAD: &str =
        "[image]\ndescription = \"t\"\n[[program]]\nname = \"init\"\npackage = \"rint-init\"\n";

    #[test]
    fn plan_orders_by_dependency_and_fills_defaults() {
        let text = format!(
            "{HEAD}[[program]]\nname = \"client\"\npackage = \"c\"\nneeds = [\"kv\", {{ name = \"cache\", version = 1 }}]\nfiles = [\"hello.txt\"]\n\
             [[program]]\nname = \"kv-mem\"\npackage = \"k\"\nprovides = [{{ protocol = \"kv\", version = 1 }}]\nmemory = \"2M\"\nrestart = \"always\"\n\
             [[program]]\nname = \"cache\"\npackage = \"k2\"\nprovides = [{{ name = \"cache\", protocol = \"kv\", version = 1 }}]\nrestart = {{ max = 3 }}\nheap = 8192\n\
             [[program]]\nname = \"hello.txt\"\npath = \"images/files/hello.txt\"\n"
        );
        let p = plan_of(&text, "x86_64").unwrap();
        let names: Vec<&str> = p.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["kv-mem", "cache", "client"], "providers first, else manifest order");
        let kv = &p.servers[0];
        assert_eq!((kv.memory_bits, kv.heap, kv.stack), (21, DEFAULT_HEAP, DEFAULT_STACK));
        assert_eq!(kv.restart, plan::Restart::Always);
        assert_eq!(kv.provides[0].name.as_str(), "kv");
        assert_eq!(p.servers[1].restart, plan::Restart::Max(3));
        assert_eq!(p.servers[1].heap, 8192);
        let c = &p.servers[2];
        assert_eq!(c.memory_bits, 20);
        assert_eq!(c.restart, plan::Restart::Never);
        let needs: Vec<(&str, &str, u32)> =
            c.needs.iter().map(|n| (n.name.as_str(), n.protocol.as_str(), n.version)).collect();
        assert_eq!(needs, [("kv", "kv", 1), ("cache", "kv", 1)]);
        assert_eq!(c.files[0].as_str(), "hello.txt");
        // init and files are not servers.
        assert!(p.server("init").is_none() && p.server("hello.txt").is_none());
        // The plan survives encoding.
        let mut buf = vec![0u8; 65536];
        let n = plan::encode(&p, &mut buf).unwrap();
        assert_eq!(plan::decode(&buf[..n]).unwrap(), p);
    }

    fn server(extra: &str) -> String {
        format!("{HEAD}[[program]]\nname = \"s\"\npackage = \"p\"\n{extra}")
    }

    #[test]
    fn plan_needs_must_be_provided_once() {
        let e = plan_err(&server("needs = [\"kv\"]\n"));
        assert_eq!(
            e,
            "images/t.toml: line 9: program[1].needs[0]: no program provides \"kv\" (provided: nothing)"
        );
        let two = format!(
            "{}[[program]]\nname = \"t\"\npackage = \"q\"\nprovides = [{{ protocol = \"kv\", version = 1 }}]\n",
            server("provides = [{ protocol = \"kv\", version = 1 }]\n")
        );
        let e = plan_err(&two);
        assert!(e.starts_with("images/t.toml: line 13: program[2].provides[0]: \"kv\" is already provided by \"s\""), "{e}");
        let e = plan_err(&server(
            "provides = [{ protocol = \"kv\", version = 1 }]\nneeds = [\"kv\"]\n",
        ));
        assert!(e.contains("program[1].needs[0]: \"s\" provides \"kv\" itself"), "{e}");
    }

    #[test]
    fn plan_protocol_versions() {
        let e = plan_err(&server("provides = [{ protocol = \"kv\", version = 2 }]\n"));
        assert_eq!(
            e,
            "images/t.toml: line 9: program[1].provides[0]: protocol \"kv\" is version 1 in libipc, the manifest says 2"
        );
        let e = plan_err(&server("provides = [{ protocol = \"fs\", version = 1 }]\n"));
        // The list goes on as protocols are added (mem, process, ...).
        assert!(e.contains("no protocol \"fs\" is declared in libipc (declared: kv, init"), "{e}");
        let text = format!(
            "{}[[program]]\nname = \"c\"\npackage = \"q\"\nneeds = [{{ name = \"kv\", version = 3 }}]\n",
            server("provides = [{ protocol = \"kv\", version = 1 }]\n")
        );
        let e = plan_err(&text);
        assert!(e.starts_with("images/t.toml: line 13: program[2].needs[0]: needs \"kv\" version 3, but \"s\" provides version 1"), "{e}");
        let e =
            plan_err(&server("provides = [{ name = \"init\", protocol = \"kv\", version = 1 }]\n"));
        assert!(e.contains("init's own"), "{e}");
    }

    #[test]
    fn plan_dependency_cycles() {
        let text = format!(
            "{HEAD}[[program]]\nname = \"a\"\npackage = \"p\"\nprovides = [{{ name = \"A\", protocol = \"kv\", version = 1 }}]\nneeds = [\"B\"]\n\
             [[program]]\nname = \"b\"\npackage = \"p\"\nprovides = [{{ name = \"B\", protocol = \"kv\", version = 1 }}]\nneeds = [\"C\"]\n\
             [[program]]\nname = \"c\"\npackage = \"p\"\nprovides = [{{ name = \"C\", protocol = \"kv\", version = 1 }}]\nneeds = [\"A\"]\n"
        );
        let e = plan_err(&text);
        assert_eq!(
            e,
            "images/t.toml: line 10: program[1].needs[0]: dependency cycle: a -> b -> c -> a"
        );
    }

    #[test]
    fn plan_sizes_and_policies() {
        assert!(
            plan_err(&server("memory = 1000000\n"))
                .contains("program[1].memory: 1000000 bytes: the quota must be a power of two")
        );
        assert!(
            plan_err(&server("memory = \"512M\"\n"))
                .contains("power of two from 64 KiB to 256 MiB")
        );
        assert!(plan_err(&server("memory = \"lots\"\n")).contains("is not a size"));
        assert!(
            plan_err(&server("memory = \"64K\"\nheap = \"64K\"\n"))
                .contains("cannot hold the heap")
        );
        assert!(
            plan_err(&server("heap = 100\n"))
                .contains("program[1].heap: 100 bytes: must be a multiple of 4096")
        );
        assert!(plan_err(&server("stack = 0\n")).contains("program[1].stack"));
        let e = plan_err(&server("restart = \"sometimes\"\n"));
        assert!(e.starts_with("images/t.toml: line 9: program[1].restart:"), "{e}");
        assert!(plan_err(&server("restart = { max = 0 }\n")).contains("N from 1 to 1000"));
        let e = plan_err(&server("sched = { period_us = 1000, budget_us = 100 }\n"));
        assert!(e.contains("unknown field `period_us`"), "{e}");
    }

    #[test]
    fn plan_settings_only_for_servers() {
        let e = plan_err(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"init\"\npackage = \"rint-init\"\nneeds = [\"kv\"]\n",
        );
        assert!(
            e.starts_with("images/t.toml: line 6: program[0].needs: \"init\" is not a server"),
            "{e}"
        );
        let e = plan_err(&server("start = false\nmemory = \"1M\"\n"));
        assert!(e.contains("program[1].memory: \"s\" is not a server"), "{e}");
        let e = plan_err(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"init\"\npackage = \"rint-init\"\nstart = true\n",
        );
        assert!(e.contains("program[0].start: init is the root task"), "{e}");
        // A path program opts in.
        let p = plan_of(
            &format!("{HEAD}[[program]]\nname = \"x\"\npath = \"a\"\nstart = true\n"),
            "x86_64",
        )
        .unwrap();
        assert_eq!(p.servers[0].name.as_str(), "x");
    }

    #[test]
    fn plan_files_irqs_ports_mmio() {
        let e = plan_err(&server("files = [\"nope\"]\n"));
        assert_eq!(
            e,
            "images/t.toml: line 9: program[1].files[0]: \"nope\" is not another entry of this manifest"
        );
        assert!(plan_err(&server("files = [\"s\"]\n")).contains("not another entry"));
        assert!(plan_err(&server("files = [\"init\", \"init\"]\n")).contains("listed twice"));
        assert!(
            plan_err(&server("irqs = [256]\n")).contains("program[1].irqs[0]: interrupt line 256")
        );
        let two = format!(
            "{}[[program]]\nname = \"t\"\npackage = \"q\"\nirqs = [4]\n",
            server("irqs = [4]\n")
        );
        assert!(
            plan_err(&two).contains("program[2].irqs[0]: interrupt line 4 already goes to \"s\"")
        );
        assert!(
            plan_err(&server("irqs = [{ line = 4, arch = \"arm\" }]\n"))
                .contains("unknown arch \"arm\"")
        );
        assert!(
            plan_err(&server("ioports = [{ base = 0xfff8, count = 9 }]\n"))
                .contains("program[1].ioports[0]")
        );
        assert!(
            plan_err(&server("mmio = [{ name = \"u\", paddr = 0x1001, size = 4096 }]\n"))
                .contains("page multiples")
        );
        assert!(
            plan_err(&server("mmio = [{ name = \"\", paddr = 0x1000, size = 4096 }]\n"))
                .contains("name \"\"")
        );
        // Per-arch settings.
        let text = server(
            "irqs = [4, { line = 10, arch = \"riscv64\" }]\nioports = [{ base = 0x3f8, count = 8 }]\n\
             mmio = [{ name = \"uart\", paddr = 0x10000000, size = 4096, arch = \"riscv64\" }]\n",
        );
        let x = plan_of(&text, "x86_64").unwrap();
        assert_eq!(x.servers[0].irqs.as_slice(), &[4]);
        assert_eq!(x.servers[0].ioports.as_slice(), &[plan::PortRange { base: 0x3f8, count: 8 }]);
        assert!(x.servers[0].mmio.is_empty());
        let r = plan_of(&text, "riscv64").unwrap();
        assert_eq!(r.servers[0].irqs.as_slice(), &[4, 10]);
        assert!(r.servers[0].ioports.is_empty(), "no I/O ports on riscv64");
        assert_eq!(r.servers[0].mmio[0].paddr, 0x1000_0000);
    }

    #[test]
    fn plan_sched() {
        let p = plan_of(&server("sched = { class = \"edf\", budget = \"2ms\", period = \"10ms\", deadline = \"5ms\" }\n"), "x86_64").unwrap();
        let s = p.servers[0].sched.unwrap();
        assert_eq!(
            (s.class, s.budget_ns, s.period_ns, s.deadline_ns),
            (plan::SchedClass::Edf, 2_000_000, 10_000_000, 5_000_000)
        );
        assert!(!s.adaptive);
        let p = plan_of(
            &server("sched = { class = \"rr\", quantum = 500000, adaptive = true }\n"),
            "x86_64",
        )
        .unwrap();
        let s = p.servers[0].sched.unwrap();
        assert_eq!(
            (s.class, s.quantum_ns, s.adaptive),
            (plan::SchedClass::RoundRobin, 500_000, true)
        );
        assert!(plan_of(&server(""), "x86_64").unwrap().servers[0].sched.is_none());
        let e = plan_err(&server(
            "sched = { class = \"edf\", budget = \"20ms\", period = \"10ms\" }\n",
        ));
        assert!(e.starts_with("images/t.toml: line 9: program[1].sched: EDF needs 0 < budget <= deadline <= period"), "{e}");
        assert!(
            plan_err(&server("sched = { class = \"edf\", period = \"10ms\" }\n"))
                .contains("EDF needs")
        );
        assert!(
            plan_err(&server("sched = { class = \"rr\", period = \"10ms\" }\n"))
                .contains("only a quantum")
        );
        assert!(plan_err(&server("sched = { class = \"fifo\" }\n")).contains("class \"fifo\""));
        assert!(
            plan_err(&server("sched = { class = \"rr\", quantum = \"5 parsecs\" }\n"))
                .contains("not a time")
        );
        // Admission at build time: 60% + 40% > 90%.
        let two = format!(
            "{}[[program]]\nname = \"t\"\npackage = \"q\"\nsched = {{ class = \"edf\", budget = \"4ms\", period = \"10ms\" }}\n",
            server("sched = { class = \"edf\", budget = \"6ms\", period = \"10ms\" }\n")
        );
        let e = plan_err(&two);
        assert!(
            e.contains("program[2].sched: the image's EDF reservations add up to 100% of a CPU"),
            "{e}"
        );
        assert_eq!(Duration::Text("1s".into()).ns(), Ok(1_000_000_000));
        assert_eq!(Duration::Text("250us".into()).ns(), Ok(250_000));
    }

    #[test]
    fn sizes() {
        assert_eq!(Size::Text("64K".into()).bytes(), Ok(65536));
        assert_eq!(Size::Text("1 MiB".into()).bytes(), Ok(1 << 20));
        assert_eq!(Size::Text("2M".into()).bytes(), Ok(2 << 20));
        assert_eq!(Size::Text("4096".into()).bytes(), Ok(4096));
        assert_eq!(Size::Bytes(7).bytes(), Ok(7));
        assert!(Size::Text("99999999999999G".into()).bytes().is_err());
        assert!(Size::Text("K".into()).bytes().is_err());
    }

    /// Every manifest in images/ parses (their sources are checked by the
    /// system tests that build them).
    #[test]
    fn shipped_manifests_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml")
                && path.file_name() != Some("Cargo.toml".as_ref())
            {
                let text = std::fs::read_to_string(&path).unwrap();
                parse(&path, &text).unwrap();
                n += 1;
            }
        }
        assert!(n >= 1);
    }
}
