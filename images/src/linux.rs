//! Linux test programs in images: a manifest program with
//! `linux_c = "tests/linux/hello.c"` is a C source that the builder compiles
//! into a static Linux executable for the image's arch and packs like any
//! other program (an ELF, so `EntryKind::Program`).
//!
//! | arch | compiler |
//! |---|---|
//! | x86_64 | `musl-gcc -static` (Debian's musl-tools) |
//! | riscv64 | `python3 -m ziglang cc -target riscv64-linux-musl -static` (PyPI ziglang) |
//!
//! Both come from `scripts/setup`; a missing one is an error that says so.
//! Every build compiles afresh (a second or less; zig caches its libc), into
//! `target/linux/<arch>/<stem>`. The result is checked to be what the Linux
//! server loads: a 64-bit little-endian `ET_EXEC` for the arch, with no
//! interpreter (`PT_INTERP`) and no dynamic section: static, not PIE.

use crate::{Arch, BuildError};
use std::path::{Path, PathBuf};
use std::process::Command;

use elf::ElfBytes;
use elf::abi::{EM_RISCV, EM_X86_64, ET_EXEC, PT_DYNAMIC, PT_INTERP};
use elf::endian::AnyEndian;
use elf::file::Class;

/// Flags for both compilers: optimised, static, not position independent,
/// no debug info in the archive.
const CFLAGS: &[&str] = &["-static", "-fno-pie", "-no-pie", "-O2", "-s", "-Wall"];

/// The compiler command for `arch`, and how to name it in messages.
fn compiler(arch: Arch) -> (Command, &'static str) {
    match arch {
        Arch::X86_64 => (Command::new("musl-gcc"), "musl-gcc (Debian package musl-tools)"),
        Arch::Riscv64 => {
            let mut c = Command::new("python3");
            c.args(["-m", "ziglang", "cc", "-target", "riscv64-linux-musl"]);
            (c, "zig cc (PyPI package ziglang, `python3 -m ziglang`)")
        }
    }
}

/// Check a manifest's `linux_c` path: a `.c` file under the repository.
/// Returns its absolute path, or the message for the manifest error.
pub fn check_source(root: &Path, source: &Path) -> Result<PathBuf, String> {
    if source.extension().is_none_or(|e| e != "c") {
        return Err(format!("{} is not a C source (.c)", source.display()));
    }
    let full = root.join(source);
    if !full.is_file() {
        return Err(format!("no such file: {}", full.display()));
    }
    Ok(full)
}

/// Compile `source` into a static Linux executable for `arch`; returns the
/// executable's path.
pub fn build(root: &Path, source: &Path, arch: Arch) -> Result<PathBuf, BuildError> {
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("program");
    let out_dir = root.join("target/linux").join(arch.name());
    std::fs::create_dir_all(&out_dir).map_err(|error| BuildError::Io {
        what: format!("creating {}", out_dir.display()),
        error,
    })?;
    let out = out_dir.join(stem);
    let (mut cmd, name) = compiler(arch);
    cmd.args(CFLAGS).arg("-o").arg(&out).arg(source);
    let what = format!("{} for Linux on {arch}", source.display());
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BuildError::Cargo {
                what,
                status: format!("{name} is not installed: run scripts/setup"),
            });
        }
        Err(error) => return Err(BuildError::Io { what: format!("running {name}"), error }),
    };
    if !status.success() {
        let hint = if arch == Arch::Riscv64 && status.code() == Some(1) {
            " (if the ziglang module is missing: run scripts/setup)"
        } else {
            ""
        };
        return Err(BuildError::Cargo { what, status: format!("{name}: {status}{hint}") });
    }
    let bytes = std::fs::read(&out)
        .map_err(|error| BuildError::Io { what: format!("reading {}", out.display()), error })?;
    check_static(&bytes, arch)
        .map_err(|e| BuildError::Archive(format!("{}: {e}", out.display())))?;
    Ok(out)
}

/// Check that `bytes` is a static Linux executable for `arch`.
pub fn check_static(bytes: &[u8], arch: Arch) -> Result<(), String> {
    let file = ElfBytes::<AnyEndian>::minimal_parse(bytes).map_err(|e| format!("not ELF: {e}"))?;
    let h = &file.ehdr;
    let machine = match arch {
        Arch::X86_64 => EM_X86_64,
        Arch::Riscv64 => EM_RISCV,
    };
    if h.class != Class::ELF64 || h.endianness != AnyEndian::Little {
        return Err("not a 64-bit little-endian ELF".into());
    }
    if h.e_machine != machine {
        return Err(format!("machine {} is not {arch}", h.e_machine));
    }
    if h.e_type != ET_EXEC {
        return Err(format!("type {} is not ET_EXEC (a PIE or a library?)", h.e_type));
    }
    let phdrs = file.segments().ok_or("no program headers")?;
    if phdrs.iter().any(|p| p.p_type == PT_INTERP) {
        return Err("has an interpreter (PT_INTERP): not static".into());
    }
    if phdrs.iter().any(|p| p.p_type == PT_DYNAMIC) {
        return Err("has a dynamic section: not static".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_checked() {
        let root = crate::repo_root();
        assert!(check_source(&root, Path::new("tests/linux/hello.c")).is_ok());
        let e = check_source(&root, Path::new("tests/linux/nope.c")).unwrap_err();
        assert!(e.starts_with("no such file:"), "{e}");
        let e = check_source(&root, Path::new("images/Cargo.toml")).unwrap_err();
        assert!(e.contains("not a C source"), "{e}");
    }

    #[test]
    fn non_static_files_are_refused() {
        assert!(
            check_static(b"not an elf at all", Arch::X86_64).unwrap_err().starts_with("not ELF")
        );
        // The host's own test binary: dynamically linked (or PIE), or at
        // least not for riscv64.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(check_static(&me, Arch::Riscv64).is_err());
    }

    #[test]
    fn manifests_name_c_sources() {
        use crate::manifest::{Source, parse};
        let f = Path::new("images/t.toml");
        let root = crate::repo_root();
        let check = |text: &str| parse(f, text).unwrap().check(f, &root, &[]);
        let head = "[image]\ndescription = \"t\"\n[[program]]\nname = \"hello\"\n";
        let got = check(&format!("{head}linux_c = \"tests/linux/hello.c\"\n")).unwrap();
        assert!(matches!(&got[0].1, Source::LinuxC(p) if p.ends_with("tests/linux/hello.c")));
        let e = check(&format!("{head}linux_c = \"tests/linux/hello.c\"\npath = \"x\"\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("program[0].linux_c: `linux_c` goes alone"), "{e}");
        let e = check(&format!("{head}linux_c = \"tests/linux/missing.c\"\n")).unwrap_err();
        assert!(e.to_string().contains("program[0].linux_c: no such file"), "{e}");
    }
}
