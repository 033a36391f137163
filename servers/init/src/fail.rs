//! init's error values: what it was doing, and why that failed.

use core::fmt;

use libipc::abi;
use os::elf::ElfError;

/// A failed step.
#[derive(Clone, Copy, Debug)]
pub struct Fail {
    pub what: &'static str,
    pub error: Option<abi::Error>,
    pub detail: Option<Detail>,
}

#[derive(Clone, Copy, Debug)]
pub enum Detail {
    Os(os::Error),
    Elf(ElfError),
}

pub type Res<T> = Result<T, Fail>;

impl Fail {
    pub const fn msg(what: &'static str) -> Fail {
        Fail { what, error: None, detail: None }
    }

    pub fn os(what: &'static str) -> impl Fn(os::Error) -> Fail + Copy {
        move |e| Fail { what, error: None, detail: Some(Detail::Os(e)) }
    }

    pub fn kernel(what: &'static str) -> impl Fn(abi::Error) -> Fail + Copy {
        move |e| Fail { what, error: Some(e), detail: None }
    }

    pub fn elf(e: ElfError) -> Fail {
        Fail { what: "its ELF file is refused", error: None, detail: Some(Detail::Elf(e)) }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        if let Some(e) = self.error {
            write!(f, ": {}", e.as_str())?;
        }
        match self.detail {
            Some(Detail::Os(e)) => write!(f, ": {e}"),
            Some(Detail::Elf(e)) => write!(f, ": {e}"),
            None => Ok(()),
        }
    }
}
