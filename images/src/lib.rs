//! rint's image builder.
//!
//! An image is one bootable system, described by `images/<name>.toml` (see
//! [`manifest`]). Building it means: build the kernel and every program for
//! the target arch, then pack the programs, the manifest and the kernel
//! command line into one boot archive (`libipc::bootarchive`, documented in
//! `docs/boot-archive.md`). [`qemu`] knows how to boot the result; the
//! `scripts/run` command and the system tests (`tests/`) both go through it.

pub mod linux;
pub mod manifest;
pub mod qemu;

use libipc::bootarchive::{ArchiveWriter, EntryKind};
use manifest::{Source, WorkspacePackage};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A target architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    Riscv64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Riscv64];

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The Rust target both the kernel and the native programs are built for.
    pub fn target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-none",
            Arch::Riscv64 => "riscv64gc-unknown-none-elf",
        }
    }

    /// rustc flags for the kernel: a static, higher-half image (the linker
    /// script comes from the hal through microkernel/build.rs).
    fn kernel_rustflags(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => {
                &["-Crelocation-model=static", "-Ccode-model=kernel", "-Cforce-frame-pointers=yes"]
            }
            Arch::Riscv64 => &["-Ccode-model=medium", "-Cforce-frame-pointers=yes"],
        }
    }

    /// rustc flags for native user programs: static executables at the
    /// linker's default low address, without debug info (the archive holds
    /// what runs; the kernel image keeps its debug info for gdb). On
    /// riscv64 the linker also drops the assembler's local labels, which
    /// linker relaxation otherwise keeps by the ten thousand (a 650 KiB
    /// symbol table in a 100 KiB program); function symbols stay.
    fn user_rustflags(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => {
                &["-Crelocation-model=static", "-Cforce-frame-pointers=yes", "-Cstrip=debuginfo"]
            }
            Arch::Riscv64 => {
                &["-Cforce-frame-pointers=yes", "-Cstrip=debuginfo", "-Clink-arg=--discard-locals"]
            }
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Arch {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            "riscv64" | "riscv" | "rv64" => Ok(Arch::Riscv64),
            other => Err(format!("unknown arch {other:?} (known: x86_64, riscv64)")),
        }
    }
}

/// Any failure while building an image.
#[derive(Debug)]
pub enum BuildError {
    Manifest(manifest::ManifestError),
    NoSuchImage { name: String, known: Vec<String> },
    Io { what: String, error: std::io::Error },
    Cargo { what: String, status: String },
    Archive(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Manifest(e) => write!(f, "{e}"),
            BuildError::NoSuchImage { name, known } => {
                write!(
                    f,
                    "no image {name:?}: images/{name}.toml does not exist (images: {})",
                    known.join(", ")
                )
            }
            BuildError::Io { what, error } => write!(f, "{what}: {error}"),
            BuildError::Cargo { what, status } => write!(f, "building {what} failed ({status})"),
            BuildError::Archive(e) => write!(f, "packing the boot archive: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<manifest::ManifestError> for BuildError {
    fn from(e: manifest::ManifestError) -> Self {
        BuildError::Manifest(e)
    }
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |error| BuildError::Io { what, error }
}

/// The repository root: `RINT_ROOT` if set, else where this crate was built.
pub fn repo_root() -> PathBuf {
    if let Some(r) = std::env::var_os("RINT_ROOT") {
        return PathBuf::from(r);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The names of the images in `images/`.
pub fn list_images(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("images"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            let stem = p.file_stem()?.to_str()?.to_string();
            (p.extension()? == "toml" && stem != "Cargo").then_some(stem)
        })
        .collect();
    names.sort();
    names
}

/// A checked manifest.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The manifest's path relative to the repository, for messages.
    pub file: PathBuf,
    pub text: String,
    pub manifest: manifest::Manifest,
    /// Each program's archive name and where its bytes come from.
    pub sources: Vec<(String, Source)>,
}

/// A built image, ready to boot.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub name: String,
    pub arch: Arch,
    pub kernel: PathBuf,
    pub archive: PathBuf,
    /// Archive entries: name and size in bytes.
    pub entries: Vec<(String, usize)>,
}

/// Builds images. Cargo output goes to stderr; `quiet` passes `-q` to cargo.
pub struct Builder {
    pub root: PathBuf,
    pub quiet: bool,
}

impl Builder {
    pub fn new(root: PathBuf) -> Self {
        Builder { root, quiet: false }
    }

    fn cargo(&self) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut c = Command::new(cargo);
        c.current_dir(&self.root);
        // Nested inside `cargo test`/`cargo run`: do not inherit the outer
        // build's flags or target directory.
        for var in
            ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"]
        {
            c.env_remove(var);
        }
        c
    }

    /// The workspace's packages and their binaries (`cargo metadata`).
    pub fn workspace_packages(&self) -> Result<Vec<WorkspacePackage>, BuildError> {
        let out = self
            .cargo()
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .map_err(io("running cargo metadata"))?;
        if !out.status.success() {
            return Err(BuildError::Cargo {
                what: "workspace metadata".into(),
                status: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| BuildError::Archive(format!("cargo metadata output: {e}")))?;
        let mut pkgs = Vec::new();
        for p in meta["packages"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().unwrap_or_default().to_string();
            let bins = p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect();
            pkgs.push(WorkspacePackage { name, bins });
        }
        Ok(pkgs)
    }

    /// Read and check `images/<name>.toml`.
    pub fn load(&self, name: &str) -> Result<Loaded, BuildError> {
        let file = self.root.join("images").join(format!("{name}.toml"));
        let shown = PathBuf::from("images").join(format!("{name}.toml"));
        if !file.is_file() || name.contains('/') {
            return Err(BuildError::NoSuchImage {
                name: name.into(),
                known: list_images(&self.root),
            });
        }
        let text =
            std::fs::read_to_string(&file).map_err(io(format!("reading {}", file.display())))?;
        let m = manifest::parse(&shown, &text)?;
        let pkgs = self.workspace_packages()?;
        // The kernel is built separately and is not a program.
        let pkgs: Vec<_> = pkgs.into_iter().filter(|p| p.name != "rint-kernel").collect();
        let sources = m.check(&shown, &self.root, &pkgs)?;
        // The server settings, for every arch (each build packs its own).
        for arch in Arch::ALL {
            m.plan(&shown, &text, arch.name())?;
        }
        Ok(Loaded { file: shown, text, manifest: m, sources })
    }

    fn run_cargo(&self, what: &str, args: &[&str], rustflags: &[&str]) -> Result<(), BuildError> {
        let mut c = self.cargo();
        c.args(args);
        if self.quiet {
            c.arg("-q");
        }
        c.env("CARGO_ENCODED_RUSTFLAGS", rustflags.join("\x1f"));
        let status = c.status().map_err(io(format!("running cargo for {what}")))?;
        if !status.success() {
            return Err(BuildError::Cargo { what: what.into(), status: status.to_string() });
        }
        Ok(())
    }

    /// Build the kernel for `arch`; returns the ELF's path.
    pub fn build_kernel(&self, arch: Arch) -> Result<PathBuf, BuildError> {
        let dir = "target/kernel";
        self.run_cargo(
            &format!("the kernel for {arch}"),
            &[
                "build",
                "--release",
                "-p",
                "rint-kernel",
                "--target",
                arch.target(),
                "--target-dir",
                dir,
            ],
            arch.kernel_rustflags(),
        )?;
        Ok(self.root.join(dir).join(arch.target()).join("release").join("rint-kernel"))
    }

    /// Build image `name` for `arch`.
    pub fn build(&self, name: &str, arch: Arch) -> Result<BuiltImage, BuildError> {
        let Loaded { file: shown, text, manifest: m, sources } = self.load(name)?;
        let plan = m.plan(&shown, &text, arch.name())?;
        let kernel = self.build_kernel(arch)?;

        // All package programs in one cargo run.
        let dir = "target/user";
        let mut pkgs: Vec<&str> = Vec::new();
        for (_, s) in &sources {
            if let Source::Package { package, .. } = s
                && !pkgs.contains(&package.as_str())
            {
                pkgs.push(package);
            }
        }
        if !pkgs.is_empty() {
            let mut args = vec![
                "build",
                "--release",
                "--bins",
                "--target",
                arch.target(),
                "--target-dir",
                dir,
            ];
            for p in &pkgs {
                args.extend(["-p", p]);
            }
            self.run_cargo(
                &format!("the programs of {}", shown.display()),
                &args,
                arch.user_rustflags(),
            )?;
        }
        let bin_dir = self.root.join(dir).join(arch.target()).join("release");

        let mut w = ArchiveWriter::new();
        let mut entries = Vec::new();
        for (name, source) in &sources {
            let (path, kind) = match source {
                Source::Package { bin, .. } => (bin_dir.join(bin), EntryKind::Program),
                Source::File(p) => {
                    let elf = std::fs::read(p).map(|b| b.starts_with(b"\x7fELF")).unwrap_or(false);
                    (p.clone(), if elf { EntryKind::Program } else { EntryKind::File })
                }
                Source::LinuxC(src) => (linux::build(&self.root, src, arch)?, EntryKind::Program),
            };
            let data = std::fs::read(&path).map_err(io(format!("reading {}", path.display())))?;
            entries.push((name.clone(), data.len()));
            w.add(name, kind, data).map_err(|e| BuildError::Archive(e.to_string()))?;
        }
        // The boot plan, when init has servers to start (images whose root
        // task is something else, or that start nothing, go without).
        if !plan.servers.is_empty() {
            let mut buf = vec![0u8; 1 << 16];
            let n = libipc::plan::encode(&plan, &mut buf)
                .ok_or_else(|| BuildError::Archive("the boot plan does not fit 64 KiB".into()))?;
            buf.truncate(n);
            entries.push((libipc::plan::ENTRY.into(), n));
            w.add(libipc::plan::ENTRY, EntryKind::Plan, buf)
                .map_err(|e| BuildError::Archive(e.to_string()))?;
        }
        entries.push(("manifest.toml".into(), text.len()));
        w.add("manifest.toml", EntryKind::Manifest, text.into_bytes())
            .map_err(|e| BuildError::Archive(e.to_string()))?;
        let cmdline = m.kernel.cmdline.trim();
        if !cmdline.is_empty() {
            entries.push(("cmdline".into(), cmdline.len()));
            w.add("cmdline", EntryKind::Cmdline, cmdline.as_bytes().to_vec())
                .map_err(|e| BuildError::Archive(e.to_string()))?;
        }

        let out_dir = self.root.join("target/images").join(arch.name());
        std::fs::create_dir_all(&out_dir).map_err(io(format!("creating {}", out_dir.display())))?;
        let archive = out_dir.join(format!("{name}.img"));
        // Write beside and rename, so a concurrent reader never sees half a file.
        let tmp = out_dir.join(format!(".{name}.img.{}", std::process::id()));
        std::fs::write(&tmp, w.finish()).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &archive).map_err(io(format!("writing {}", archive.display())))?;
        Ok(BuiltImage { name: name.into(), arch, kernel, archive, entries })
    }
}
