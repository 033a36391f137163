//! Booting a built image in QEMU: the one place that knows QEMU's command
//! line for each arch, which accelerator to use and what its exit status
//! means.
//!
//! | arch    | machine                       | exit device                    | success | failure |
//! |---------|-------------------------------|--------------------------------|---------|---------|
//! | x86_64  | `q35`, `-kernel` via PVH note | isa-debug-exit at port 0xf4    | 33      | 35      |
//! | riscv64 | `virt`, OpenSBI `-bios default` | sifive test device (virt)    | 0       | 1       |
//!
//! x86_64 uses KVM (`-cpu host,-arch-capabilities`) when `/dev/kvm` opens, TCG (`-cpu max`)
//! otherwise; riscv64 always runs under TCG.

use crate::{Arch, BuiltImage};
use std::process::Command;

/// Which accelerator to ask QEMU for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// KVM where it works (x86_64 guest on an x86_64 host with /dev/kvm).
    Auto,
    Kvm,
    Tcg,
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Accel::Auto),
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            o => Err(format!("unknown accelerator {o:?} (auto, kvm, tcg)")),
        }
    }
}

/// True if this process can open /dev/kvm read-write.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok()
}

/// Resolve `Auto` for `arch` on this host.
pub fn resolve_accel(arch: Arch, accel: Accel) -> Accel {
    match (arch, accel) {
        (Arch::X86_64, Accel::Auto) if cfg!(target_arch = "x86_64") && kvm_usable() => Accel::Kvm,
        (Arch::Riscv64, _) => Accel::Tcg,
        (_, Accel::Auto) => Accel::Tcg,
        (_, a) => a,
    }
}

/// How to run QEMU.
#[derive(Clone, Debug)]
pub struct Options {
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Wait for a debugger on tcp::1234 before the first instruction.
    pub gdb: bool,
    /// Kernel command line added after the archive's own (QEMU `-append`).
    pub append: Option<String>,
    /// Interactive: serial multiplexed with the QEMU monitor on stdio
    /// (Ctrl-A X quits). Otherwise plain serial on stdio, for tests.
    pub interactive: bool,
    /// Boot without the image's boot archive.
    pub no_archive: bool,
    /// Use this file as the boot archive instead of the image's.
    pub archive_override: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            accel: Accel::Auto,
            memory_mib: 256,
            cpus: 1,
            gdb: false,
            append: None,
            interactive: false,
            no_archive: false,
            archive_override: None,
        }
    }
}

/// The QEMU command that boots `image`.
pub fn command(image: &BuiltImage, opts: &Options) -> Command {
    let accel = resolve_accel(image.arch, opts.accel);
    let mut c = match image.arch {
        Arch::X86_64 => {
            let mut c = Command::new("qemu-system-x86_64");
            c.args(["-machine", "q35"]);
            match accel {
                // `-arch-capabilities`: nested KVM (kvm_pvm) refuses to set
                // MSR 0x10a and QEMU aborts before the guest runs; the guest
                // has no use for the MSR.
                Accel::Kvm => c.args(["-accel", "kvm", "-cpu", "host,-arch-capabilities"]),
                _ => c.args(["-accel", "tcg", "-cpu", "max"]),
            };
            c.args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]);
            c
        }
        Arch::Riscv64 => {
            let mut c = Command::new("qemu-system-riscv64");
            c.args(["-machine", "virt", "-bios", "default", "-accel", "tcg"]);
            c
        }
    };
    c.args(["-m", &format!("{}M", opts.memory_mib)]);
    c.args(["-smp", &opts.cpus.to_string()]);
    c.args(["-display", "none", "-no-reboot"]);
    if opts.interactive {
        c.args(["-serial", "mon:stdio"]);
    } else {
        c.args(["-serial", "stdio", "-monitor", "none"]);
    }
    c.arg("-kernel").arg(&image.kernel);
    if !opts.no_archive {
        let archive = opts.archive_override.as_ref().unwrap_or(&image.archive);
        c.arg("-initrd").arg(archive);
    }
    if let Some(a) = &opts.append {
        c.args(["-append", a]);
    }
    if opts.gdb {
        c.args(["-s", "-S"]);
    }
    c
}

/// What a QEMU exit status means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel ended the machine reporting success.
    Success,
    /// The kernel ended the machine reporting failure.
    Failure,
    /// QEMU ended some other way (its own error, a signal, a triple fault...).
    Other(Option<i32>),
}

/// Interpret QEMU's exit status for `arch`.
pub fn outcome(arch: Arch, status: std::process::ExitStatus) -> Outcome {
    match (arch, status.code()) {
        (Arch::X86_64, Some(33)) | (Arch::Riscv64, Some(0)) => Outcome::Success,
        (Arch::X86_64, Some(35)) | (Arch::Riscv64, Some(1)) => Outcome::Failure,
        (_, code) => Outcome::Other(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(arch: Arch) -> BuiltImage {
        BuiltImage {
            name: "t".into(),
            arch,
            kernel: "/k".into(),
            archive: "/a.img".into(),
            entries: vec![],
        }
    }

    fn args(c: &Command) -> Vec<String> {
        c.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn x86_command() {
        let opts = Options {
            accel: Accel::Tcg,
            append: Some("rint.test=boot".into()),
            ..Default::default()
        };
        let c = command(&image(Arch::X86_64), &opts);
        assert_eq!(c.get_program(), "qemu-system-x86_64");
        let a = args(&c).join(" ");
        assert!(a.contains("-accel tcg -cpu max"), "{a}");
        assert!(a.contains("isa-debug-exit,iobase=0xf4"), "{a}");
        assert!(a.contains("-kernel /k -initrd /a.img -append rint.test=boot"), "{a}");
        assert!(!a.contains("-S"), "{a}");
    }

    #[test]
    fn riscv_command_is_always_tcg() {
        let opts = Options { accel: Accel::Kvm, gdb: true, no_archive: true, ..Default::default() };
        let c = command(&image(Arch::Riscv64), &opts);
        let a = args(&c).join(" ");
        assert!(a.contains("-machine virt -bios default -accel tcg"), "{a}");
        assert!(!a.contains("-initrd"), "{a}");
        assert!(a.ends_with("-s -S"), "{a}");
    }

    #[test]
    fn exit_codes() {
        use std::os::unix::process::ExitStatusExt;
        let st = |c: i32| std::process::ExitStatus::from_raw(c << 8);
        assert_eq!(outcome(Arch::X86_64, st(33)), Outcome::Success);
        assert_eq!(outcome(Arch::X86_64, st(35)), Outcome::Failure);
        assert_eq!(outcome(Arch::X86_64, st(0)), Outcome::Other(Some(0)));
        assert_eq!(outcome(Arch::Riscv64, st(0)), Outcome::Success);
        assert_eq!(outcome(Arch::Riscv64, st(1)), Outcome::Failure);
    }
}
