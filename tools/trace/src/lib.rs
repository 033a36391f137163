//! rint-trace: reads the kernel's event trace as the kernel prints it on the
//! serial console (`rint.trace` with `rint.exit_on_idle`, format in
//! `docs/kernel.md`, "The event trace") and turns it into Chrome/Perfetto
//! trace JSON (the "Trace Event Format": open it in `ui.perfetto.dev` or
//! `chrome://tracing`).
//!
//! - [`parse`]: picks the trace lines out of a whole serial log (anything
//!   else is ignored) into a [`Trace`]; a malformed trace line is reported
//!   with its line number ([`LineError`]) and skipped, never a panic.
//! - [`chrome`]: the JSON: per thread, a "running" slice between the
//!   context switches that start and end its turns on a CPU, the same per
//!   CPU (named after the thread, or "idle"); instant events for IPC,
//!   signals, interrupts, faults and state changes; flow arrows from each
//!   call to its reply; thread names from the kernel's `trace-name` lines,
//!   else from the TCB address.
//!
//! Event kinds and their fields are `libipc::abi::TraceKind`'s: the
//! kernel and this tool share one definition.

pub mod chrome;
pub mod parse;

pub use chrome::to_chrome;
pub use parse::{Event, Kind, LineError, Trace, parse};
