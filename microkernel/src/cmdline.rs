//! The kernel command line: the boot archive's `cmdline` entry followed by the
//! loader's (QEMU `-append`). Words are `key=value` or bare `key`; a later
//! word overrides an earlier one with the same key.
//!
//! Keys the kernel knows:
//! - `rint.test=boot`: after boot, wait for `rint.ticks` timer ticks (default
//!   10), report them and end the machine with success.
//! - `rint.test=pagefault` / `rint.test=illegal`: after boot, fault on purpose
//!   to prove that an unexpected exception is reported and ends the machine
//!   with failure.
//! - `rint.ticks=N`: ticks for `rint.test=boot`.
//! - `rint.exit_on_idle`: end the machine once nothing can run any more.
//! - `rint.fastpath=off`: take the general IPC path only.
//! - `rint.sched=rr`: schedule with plain round robin instead of the joint
//!   RR+EDF policy (`rint.sched=joint`, the default); EDF parameters are
//!   then accepted and ignored (the scheduling experiment's baseline).
//! - `rint.trace` / `rint.trace=N`: when `rint.exit_on_idle` ends the
//!   machine, print the event trace (all of it, or the newest N events) as
//!   CSV on the console.

use core::fmt;

#[derive(Clone, Copy)]
pub struct Cmdline {
    archive: &'static str,
    loader: &'static str,
}

impl Cmdline {
    pub fn new(loader: &'static str, archive: Option<&'static str>) -> Self {
        Self { archive: archive.unwrap_or("").trim(), loader: loader.trim() }
    }

    pub fn is_empty(&self) -> bool {
        self.archive.is_empty() && self.loader.is_empty()
    }

    fn words(&self) -> impl Iterator<Item = &'static str> {
        self.archive.split_ascii_whitespace().chain(self.loader.split_ascii_whitespace())
    }

    /// The last value given for `key` (`""` for a bare `key`).
    pub fn get(&self, key: &str) -> Option<&'static str> {
        self.words()
            .filter_map(|w| match w.split_once('=') {
                Some((k, v)) if k == key => Some(v),
                None if w == key => Some(""),
                _ => None,
            })
            .last()
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.parse().ok())
    }
}

impl fmt::Display for Cmdline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for w in self.words() {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(w)?;
            first = false;
        }
        Ok(())
    }
}
