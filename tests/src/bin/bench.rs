//! `rint-bench`: boot a benchmark image and print its figures.
//!
//! ```text
//! rint-bench ipc [--arch x86_64|riscv64] [--accel auto|kvm|tcg]
//! ```
//!
//! Without `--arch` it runs on both arches in turn. A benchmark image's
//! root task prints `bench: <name> <arch> key=value...` lines; this tool
//! prints each with ` accel=kvm|tcg` appended (the accelerator QEMU used).
//! Slow figures are never an error: the exit status is non-zero only if
//! the image did not build, or did not print its main line (boot failure,
//! timeout, an error in the benchmark), and then the serial log is printed.
//! `scripts/bench` runs this.

use rint_image::qemu::{self, Accel, Options};
use rint_image::{Arch, Builder, repo_root};
use rint_systest::run_qemu;
use std::process::ExitCode;
use std::time::Duration;

/// A benchmark: its name on the command line, its image, and the result
/// line it must print (`bench: <line> <arch> ...`).
struct Bench {
    name: &'static str,
    image: &'static str,
    line: &'static str,
}

const BENCHES: &[Bench] = &[Bench { name: "ipc", image: "bench-ipc", line: "ipc_call_reply" }];

/// Generous: under the nested KVM of some hosts every syscall costs about
/// a millisecond, and the IPC benchmark makes tens of thousands.
const TIMEOUT: Duration = Duration::from_secs(600);

fn usage() -> String {
    let names: Vec<_> = BENCHES.iter().map(|b| b.name).collect();
    format!(
        "usage: rint-bench BENCHMARK [--arch x86_64|riscv64] [--accel auto|kvm|tcg]\nbenchmarks: {}",
        names.join(", ")
    )
}

struct Args {
    bench: &'static Bench,
    arches: Vec<Arch>,
    accel: Accel,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut bench = None;
    let mut arches = Vec::new();
    let mut accel = Accel::Auto;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => {
                let v = it.next().ok_or("--arch needs a value")?;
                arches.push(v.parse::<Arch>()?);
            }
            "--accel" => {
                let v = it.next().ok_or("--accel needs a value")?;
                accel = v.parse::<Accel>()?;
            }
            "-h" | "--help" => return Err(usage()),
            o if o.starts_with('-') => return Err(format!("unknown option {o:?}\n{}", usage())),
            name if bench.is_none() => {
                let known: Vec<_> = BENCHES.iter().map(|b| b.name).collect();
                let b = BENCHES.iter().find(|b| b.name == name).ok_or_else(|| {
                    format!("unknown benchmark {name:?} (known: {})", known.join(", "))
                })?;
                bench = Some(b);
            }
            extra => return Err(format!("unexpected argument {extra:?}\n{}", usage())),
        }
    }
    let bench = bench.ok_or_else(usage)?;
    if arches.is_empty() {
        arches = Arch::ALL.to_vec();
    }
    Ok(Args { bench, arches, accel })
}

fn accel_name(a: Accel) -> &'static str {
    match a {
        Accel::Kvm => "kvm",
        Accel::Tcg | Accel::Auto => "tcg",
    }
}

/// Build and boot `bench` on `arch` with kernel arguments `append`; print
/// its lines (names suffixed with `suffix`). The main line's median, or
/// `None` if it never came.
fn run(bench: &Bench, arch: Arch, accel: Accel, append: Option<&str>, suffix: &str) -> Option<u64> {
    let mut builder = Builder::new(repo_root());
    builder.quiet = true;
    let image = match builder.build(bench.image, arch) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("rint-bench: building image {} for {arch}: {e}", bench.image);
            return None;
        }
    };
    let options = Options { accel, append: append.map(String::from), ..Options::default() };
    let used = accel_name(qemu::resolve_accel(arch, accel));
    let run = run_qemu(&image, &options, None, TIMEOUT);
    let main = format!("bench: {} {arch} ", bench.line);
    let mut found = None;
    for line in run.output.lines().map(str::trim_end).filter(|l| l.starts_with("bench: ")) {
        let mut parts = line.splitn(3, ' ');
        let (_, name, rest) =
            (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        println!("bench: {name}{suffix} {rest} accel={used}");
        if line.starts_with(&main) {
            found = rest
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("median_cycles="))
                .and_then(|v| v.parse().ok());
        }
    }
    if found.is_none() {
        eprintln!(
            "rint-bench: {} on {arch} printed no \"{}\" line (outcome {:?}, timed out {}, {:.1} s)",
            bench.name,
            main.trim_end(),
            run.outcome,
            run.timed_out,
            run.elapsed.as_secs_f64()
        );
        eprintln!("----- serial output -----\n{}\n-------------------------", run.output);
    }
    found
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rint-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let mut ok = true;
    for &arch in &args.arches {
        // The kernel as it runs, then the same with the IPC fastpath off,
        // side by side: the fastpath has to pay for itself.
        let fast = run(args.bench, arch, args.accel, None, "");
        let slow = run(args.bench, arch, args.accel, Some("rint.fastpath=off"), "_slowpath");
        match (fast, slow) {
            (Some(f), Some(s)) if f > 0 => {
                println!(
                    "bench: {}_fastpath_gain {arch} slowpath_over_fastpath={:.2}",
                    args.bench.line,
                    s as f64 / f as f64
                );
            }
            _ => ok = false,
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Args, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn arguments() {
        let a = p(&["ipc"]).expect("valid");
        assert_eq!(
            (a.bench.image, a.arches, a.accel),
            ("bench-ipc", Arch::ALL.to_vec(), Accel::Auto)
        );
        let a = p(&["ipc", "--arch", "riscv64", "--accel", "tcg"]).expect("valid");
        assert_eq!((a.arches, a.accel), (vec![Arch::Riscv64], Accel::Tcg));
        let e = p(&["ipx"]).err().unwrap_or_default();
        assert!(e.contains("unknown benchmark \"ipx\" (known: ipc)"), "{e}");
        assert!(p(&[]).is_err());
        assert!(p(&["ipc", "--arch"]).is_err());
        assert!(p(&["ipc", "--arch", "arm"]).is_err());
        assert!(p(&["ipc", "--bogus"]).is_err());
        assert!(p(&["ipc", "ipc"]).is_err());
    }
}
