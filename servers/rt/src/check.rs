//! A test program's tally of checks: each check prints `ok: NAME` or
//! `FAIL: NAME: DETAIL` and is counted.

/// Checks passed and failed so far.
#[derive(Debug, Default)]
pub struct Tally {
    pub passed: u32,
    pub failed: u32,
}

impl Tally {
    /// Count the check `name`; print `ok: name`, or `FAIL: name: detail`
    /// if it failed.
    pub fn check(&mut self, name: &str, ok: bool, detail: core::fmt::Arguments<'_>) {
        if ok {
            self.passed += 1;
            crate::println!("ok: {name}");
        } else {
            self.failed += 1;
            crate::println!("FAIL: {name}: {detail}");
        }
    }
}
