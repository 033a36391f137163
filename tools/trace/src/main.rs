//! rint-trace: turn the kernel's event trace, as printed on the serial
//! console (`rint.trace rint.exit_on_idle`), into Chrome/Perfetto trace
//! JSON. See the crate documentation (`lib.rs`) and `docs/kernel.md`.

use std::io::{Read, Write};
use std::process::ExitCode;

const HELP: &str = "\
rint-trace: the kernel's event trace (CSV lines in a serial log) as Chrome/Perfetto trace JSON

USAGE: rint-trace [OPTIONS] [LOG]

  LOG              the serial log (default: standard input); lines that are
                   not the trace's are ignored
  -o, --output F   write the JSON to F (default: standard output)
  --strict         exit with status 2 if any trace line is malformed
  -h, --help       this text

Malformed trace lines are reported on standard error with their line
numbers and skipped. Open the JSON in https://ui.perfetto.dev or
chrome://tracing. Exit status: 0 ok, 1 no trace or an I/O error, 2
malformed lines with --strict.
";

struct Args {
    input: Option<String>,
    output: Option<String>,
    strict: bool,
}

fn args() -> Result<Option<Args>, String> {
    let mut a = Args { input: None, output: None, strict: false };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "-o" | "--output" => {
                a.output = Some(it.next().ok_or("-o needs a file name")?);
            }
            "--strict" => a.strict = true,
            s if s.starts_with('-') && s != "-" => return Err(format!("unknown option {s}")),
            s => {
                if a.input.replace(s.to_string()).is_some() {
                    return Err("more than one input".into());
                }
            }
        }
    }
    Ok(Some(a))
}

fn run(a: &Args) -> Result<ExitCode, String> {
    let bytes = match a.input.as_deref() {
        None | Some("-") => {
            let mut b = Vec::new();
            std::io::stdin().read_to_end(&mut b).map_err(|e| format!("reading stdin: {e}"))?;
            b
        }
        Some(path) => std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?,
    };
    // Serial logs may hold stray bytes: read them lossily.
    let trace = rint_trace::parse(&String::from_utf8_lossy(&bytes));
    let name = a.input.as_deref().unwrap_or("<stdin>");
    for e in &trace.errors {
        eprintln!("rint-trace: {name}: {e}");
    }
    if trace.events.is_empty() {
        return Err(format!("{name}: no trace events (boot with rint.trace rint.exit_on_idle)"));
    }
    let json = rint_trace::to_chrome(&trace);
    let text = serde_json::to_string(&json).map_err(|e| format!("encoding JSON: {e}"))?;
    match a.output.as_deref() {
        None | Some("-") => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| format!("writing stdout: {e}"))?;
        }
        Some(path) => {
            std::fs::write(path, text + "\n").map_err(|e| format!("writing {path}: {e}"))?
        }
    }
    eprintln!(
        "rint-trace: {} events ({} threads), {} malformed lines",
        trace.events.len(),
        json["traceEvents"].as_array().map_or(0, |v| v
            .iter()
            .filter(|e| e["name"] == "thread_name" && e["pid"] == 2)
            .count()),
        trace.errors.len()
    );
    if a.strict && !trace.errors.is_empty() {
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match args() {
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Ok(Some(a)) => run(&a).unwrap_or_else(|e| {
            eprintln!("rint-trace: {e}");
            ExitCode::from(1)
        }),
        Err(e) => {
            eprintln!("rint-trace: {e}\n\n{HELP}");
            ExitCode::from(1)
        }
    }
}
