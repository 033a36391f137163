//! `linux.conf`: the server's settings, an optional file of its manifest
//! entry's `files` (the kernel command line does not reach a server).
//!
//! ```text
//! # Comments run to the end of the line.
//! strace                  # log every syscall with its arguments and result
//! run hello enosys        # the programs to run, in this order
//! ```
//!
//! Without `run` the server runs every other file it was given, in the
//! manifest's order. Pure: tested on the host.

use core::fmt;

/// The name of the settings file among the server's files.
pub const FILE: &str = "linux.conf";

/// Most programs `run` names (a server gets at most this many files).
pub const MAX_RUN: usize = libipc::plan::MAX_FILES;

/// The settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config<'a> {
    /// Log every syscall.
    pub strace: bool,
    run: [&'a str; MAX_RUN],
    nrun: usize,
    /// Whether `run` was given.
    pub has_run: bool,
}

impl<'a> Config<'a> {
    /// The programs `run` names, in order (empty without `run`).
    pub fn run(&self) -> &[&'a str] {
        self.run.get(..self.nrun).unwrap_or(&[])
    }
}

/// Why `linux.conf` was refused: the line (from 1) and what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError<'a> {
    pub line: usize,
    pub what: &'static str,
    pub word: &'a str,
}

impl fmt::Display for ConfigError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", FILE, self.line, self.what)?;
        if !self.word.is_empty() {
            write!(f, ": {:?}", self.word)?;
        }
        Ok(())
    }
}

/// Parse the text of `linux.conf`.
pub fn parse(text: &str) -> Result<Config<'_>, ConfigError<'_>> {
    let mut c = Config::default();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let bad = |what, word| ConfigError { line, what, word };
        let content = raw.split('#').next().unwrap_or("");
        let mut words = content.split_ascii_whitespace();
        let Some(key) = words.next() else { continue };
        match key {
            "strace" => {
                if let Some(w) = words.next() {
                    return Err(bad("`strace` takes no value", w));
                }
                c.strace = true;
            }
            "run" => {
                if c.has_run {
                    return Err(bad("`run` given twice", ""));
                }
                c.has_run = true;
                for w in words {
                    if w == FILE {
                        return Err(bad("the settings file is not a program", w));
                    }
                    if c.run().contains(&w) {
                        return Err(bad("a program named twice in `run`", w));
                    }
                    let slot =
                        c.run.get_mut(c.nrun).ok_or(bad("`run` names too many programs", w))?;
                    *slot = w;
                    c.nrun += 1;
                }
                if c.nrun == 0 {
                    return Err(bad("`run` names no program", ""));
                }
            }
            other => return Err(bad("unknown setting (known: strace, run)", other)),
        }
    }
    Ok(c)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn settings() {
        let c = parse("").unwrap();
        assert!(!c.strace && !c.has_run && c.run().is_empty());
        let c = parse("# the test image\n\nstrace   # every syscall\n  run hello  segv\n").unwrap();
        assert!(c.strace && c.has_run);
        assert_eq!(c.run(), &["hello", "segv"]);
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("strace\nverbose\n").unwrap_err();
        assert_eq!((e.line, e.word), (2, "verbose"));
        assert_eq!(
            e.to_string(),
            "linux.conf line 2: unknown setting (known: strace, run): \"verbose\""
        );
        assert_eq!(parse("strace yes").unwrap_err().what, "`strace` takes no value");
        assert_eq!(parse("run a\nrun b").unwrap_err().line, 2);
        assert_eq!(parse("run").unwrap_err().what, "`run` names no program");
        assert_eq!(parse("run a a").unwrap_err().word, "a");
        assert_eq!(parse("run linux.conf").unwrap_err().word, "linux.conf");
        let many = "run a b c d e f g h i";
        assert_eq!(parse(many).unwrap_err().word, "i");
        assert!(parse("run a b c d e f g h").is_ok());
    }
}
