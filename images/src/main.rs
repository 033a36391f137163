//! `rint-image`: build and boot rint images.
//!
//! ```text
//! rint-image list                                   the images in images/
//! rint-image check NAME                             check a manifest
//! rint-image build [--arch A] [--image NAME]        build kernel, programs, archive
//! rint-image run   [--arch A] [--image NAME] [--gdb] [--accel auto|kvm|tcg]
//!                  [--append ARGS] [--memory MIB] [--smp N]
//! ```
//! Defaults: `--arch x86_64 --image default --accel auto`. `run` boots the
//! image in QEMU with the serial console on the terminal (Ctrl-A X quits) and
//! exits 0 if the kernel ended the machine reporting success, 1 on a reported
//! failure, 2 otherwise.

use rint_image::qemu::{self, Accel, Options, Outcome};
use rint_image::{Arch, Builder, list_images, repo_root};
use std::process::ExitCode;

const USAGE: &str = "usage: rint-image list | check NAME | build [--arch A] [--image NAME] | \
run [--arch A] [--image NAME] [--gdb] [--accel auto|kvm|tcg] [--append ARGS] [--memory MIB] [--smp N]";

struct Args {
    command: String,
    arch: Arch,
    image: String,
    opts: Options,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or_else(|| USAGE.to_string())?;
    let mut a = Args {
        command,
        arch: Arch::X86_64,
        image: "default".into(),
        opts: Options { interactive: true, memory_mib: 512, ..Default::default() },
    };
    while let Some(flag) = it.next() {
        let mut value =
            |name: &str| it.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--arch" => a.arch = value("--arch")?.parse()?,
            "--image" => a.image = value("--image")?,
            "--gdb" => a.opts.gdb = true,
            "--accel" => a.opts.accel = value("--accel")?.parse()?,
            "--append" => a.opts.append = Some(value("--append")?),
            "--memory" => {
                a.opts.memory_mib =
                    value("--memory")?.parse().map_err(|e| format!("--memory: {e}"))?
            }
            "--smp" => a.opts.cpus = value("--smp")?.parse().map_err(|e| format!("--smp: {e}"))?,
            "-h" | "--help" => return Err(USAGE.into()),
            other if a.command == "check" && !other.starts_with('-') => a.image = other.into(),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let builder = Builder::new(repo_root());
    match args.command.as_str() {
        "list" => {
            for name in list_images(&builder.root) {
                let desc = builder
                    .load(&name)
                    .map(|l| l.manifest.image.description)
                    .unwrap_or_else(|e| format!("(invalid: {e})"));
                println!("{name:<20} {desc}");
            }
            ExitCode::SUCCESS
        }
        "check" => match builder.load(&args.image) {
            Ok(l) => {
                println!("{}: ok, {} programs", l.file.display(), l.sources.len());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        "build" | "run" => {
            let image = match builder.build(&args.image, args.arch) {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            eprintln!("image {} ({}):", image.name, image.arch);
            eprintln!("  kernel  {}", image.kernel.display());
            eprintln!("  archive {}", image.archive.display());
            for (name, size) in &image.entries {
                eprintln!("    {name:<24} {size:>9} bytes");
            }
            if args.command == "build" {
                return ExitCode::SUCCESS;
            }
            let accel = qemu::resolve_accel(args.arch, args.opts.accel);
            if args.opts.accel == Accel::Kvm && accel != Accel::Kvm {
                eprintln!("note: KVM is not available for {}; using TCG", args.arch);
            }
            let mut cmd = qemu::command(&image, &args.opts);
            eprintln!(
                "booting with {} ({}); Ctrl-A X quits{}",
                if accel == Accel::Kvm { "KVM" } else { "TCG" },
                cmd.get_program().to_string_lossy(),
                if args.opts.gdb { "; waiting for gdb on localhost:1234" } else { "" }
            );
            match cmd.status() {
                Ok(status) => match qemu::outcome(args.arch, status) {
                    Outcome::Success => ExitCode::SUCCESS,
                    Outcome::Failure => ExitCode::FAILURE,
                    Outcome::Other(_) => ExitCode::from(2),
                },
                Err(e) => {
                    eprintln!(
                        "error: starting {}: {e} (run scripts/setup)",
                        cmd.get_program().to_string_lossy()
                    );
                    ExitCode::from(2)
                }
            }
        }
        other => {
            eprintln!("unknown command {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
