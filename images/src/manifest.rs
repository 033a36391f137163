//! Image manifests: `images/<name>.toml`, one bootable system each.
//!
//! ```toml
//! [image]
//! description = "What this system is for"
//!
//! [kernel]
//! cmdline = "rint.test=boot"       # optional kernel command line
//!
//! [[program]]                      # one table per user program, in start order
//! name = "init"                    # archive entry name (1..=40 bytes)
//! package = "rint-init"            # a workspace package, built for the target
//! bin = "init"                     # optional: which binary of the package
//!
//! [[program]]
//! name = "hello.txt"
//! path = "images/files/hello.txt"  # or a file, relative to the repository
//!
//! [[program]]
//! name = "hello"
//! linux_c = "tests/linux/hello.c"  # or a C source, built as a static Linux program
//! ```
//! Exactly one of `package`, `path` and `linux_c` per program. Unknown fields are errors,
//! so a typo never goes unnoticed. Per-server settings (capabilities, memory
//! quota, scheduling parameters, restart policy) will be added to the
//! `[[program]]` table as the servers that honour them arrive; until then the
//! builder rejects them like any unknown field.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub image: ImageSection,
    #[serde(default)]
    pub kernel: KernelSection,
    #[serde(default, rename = "program")]
    pub programs: Vec<Program>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    pub description: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KernelSection {
    #[serde(default)]
    pub cmdline: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Program {
    pub name: String,
    pub package: Option<String>,
    pub bin: Option<String>,
    pub path: Option<PathBuf>,
    /// A C source compiled into a static Linux executable (`crate::linux`).
    pub linux_c: Option<PathBuf>,
}

/// Where a program's bytes come from, once checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Binary `bin` of workspace package `package`, built for the target.
    Package { package: String, bin: String },
    /// A file, absolute path.
    File(PathBuf),
    /// A C source (absolute path) to compile for Linux on the target.
    LinuxC(PathBuf),
}

/// A manifest error: which file, which field, what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestError {
    pub file: PathBuf,
    /// Dotted path of the field, e.g. `program[1].package`; empty for errors
    /// about the whole file.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.file.display(), self.field, self.message)
        }
    }
}

impl std::error::Error for ManifestError {}

/// A workspace package the builder can build for the target.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkspacePackage {
    pub name: String,
    pub bins: Vec<String>,
}

/// Parse manifest text. `file` is only used in error messages.
pub fn parse(file: &Path, text: &str) -> Result<Manifest, ManifestError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
        let message = e.message().to_string();
        ManifestError {
            file: file.to_path_buf(),
            field: line.map(|l| format!("line {l}")).unwrap_or_default(),
            message,
        }
    })
}

impl Manifest {
    /// Check the manifest against the workspace and the file system: names,
    /// sources, packages and binaries. Returns each program's source.
    pub fn check(
        &self,
        file: &Path,
        root: &Path,
        packages: &[WorkspacePackage],
    ) -> Result<Vec<(String, Source)>, ManifestError> {
        let err = |field: String, message: String| ManifestError {
            file: file.to_path_buf(),
            field,
            message,
        };
        if self.kernel.cmdline.len() > 1024 {
            return Err(err("kernel.cmdline".into(), "longer than 1024 bytes".into()));
        }
        let mut out: Vec<(String, Source)> = Vec::new();
        for (i, p) in self.programs.iter().enumerate() {
            let at = |f: &str| format!("program[{i}].{f}");
            if p.name.is_empty() || p.name.len() > 40 || p.name.contains(['\0', '/']) {
                return Err(err(
                    at("name"),
                    format!("{:?} must be 1 to 40 bytes without '/' or NUL", p.name),
                ));
            }
            if matches!(p.name.as_str(), "manifest.toml" | "cmdline") {
                return Err(err(
                    at("name"),
                    format!("{:?} is reserved for the builder's own entries", p.name),
                ));
            }
            if out.iter().any(|(n, _)| *n == p.name) {
                return Err(err(
                    at("name"),
                    format!("a program named {:?} is already listed", p.name),
                ));
            }
            if let Some(c) = &p.linux_c {
                if p.package.is_some() || p.path.is_some() || p.bin.is_some() {
                    return Err(err(
                        at("linux_c"),
                        "`linux_c` goes alone, without `package`, `bin` or `path`".into(),
                    ));
                }
                let full =
                    crate::linux::check_source(root, c).map_err(|m| err(at("linux_c"), m))?;
                out.push((p.name.clone(), Source::LinuxC(full)));
                continue;
            }
            let source = match (&p.package, &p.path) {
                (Some(_), Some(_)) => {
                    return Err(err(
                        at("path"),
                        "give either `package` or `path`, not both".into(),
                    ));
                }
                (None, None) => {
                    return Err(err(
                        format!("program[{i}]"),
                        format!("program {:?} needs `package`, `path` or `linux_c`", p.name),
                    ));
                }
                (None, Some(path)) => {
                    if p.bin.is_some() {
                        return Err(err(at("bin"), "`bin` only goes with `package`".into()));
                    }
                    let full = root.join(path);
                    if !full.is_file() {
                        return Err(err(at("path"), format!("no such file: {}", full.display())));
                    }
                    Source::File(full)
                }
                (Some(pkg), None) => {
                    let Some(found) = packages.iter().find(|w| w.name == *pkg) else {
                        let known: Vec<&str> = packages
                            .iter()
                            .filter(|w| !w.bins.is_empty())
                            .map(|w| w.name.as_str())
                            .collect();
                        return Err(err(
                            at("package"),
                            format!(
                                "no workspace package {pkg:?} (packages with binaries: {})",
                                known.join(", ")
                            ),
                        ));
                    };
                    let bin = match (&p.bin, found.bins.as_slice()) {
                        (Some(b), bins) if bins.contains(b) => b.clone(),
                        (Some(b), bins) => {
                            return Err(err(
                                at("bin"),
                                format!(
                                    "package {pkg:?} has no binary {b:?} (it has: {})",
                                    bins.join(", ")
                                ),
                            ));
                        }
                        (None, [only]) => only.clone(),
                        (None, []) => {
                            return Err(err(
                                at("package"),
                                format!("package {pkg:?} has no binary"),
                            ));
                        }
                        (None, bins) => {
                            return Err(err(
                                at("bin"),
                                format!(
                                    "package {pkg:?} has several binaries ({}): name one with `bin`",
                                    bins.join(", ")
                                ),
                            ));
                        }
                    };
                    Source::Package { package: pkg.clone(), bin }
                }
            };
            out.push((p.name.clone(), source));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pkgs() -> Vec<WorkspacePackage> {
        vec![
            WorkspacePackage { name: "rint-init".into(), bins: vec!["init".into()] },
            WorkspacePackage { name: "multi".into(), bins: vec!["a".into(), "b".into()] },
            WorkspacePackage { name: "lib-only".into(), bins: vec![] },
        ]
    }

    fn check(text: &str) -> Result<Vec<(String, Source)>, ManifestError> {
        let f = Path::new("images/t.toml");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        parse(f, text)?.check(f, root, &pkgs())
    }

    #[test]
    fn good_manifest() {
        let got = check(
            r#"
            [image]
            description = "t"
            [kernel]
            cmdline = "rint.test=boot"
            [[program]]
            name = "init"
            package = "rint-init"
            [[program]]
            name = "b"
            package = "multi"
            bin = "b"
            [[program]]
            name = "readme"
            path = "images/Cargo.toml"
            "#,
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[0],
            ("init".into(), Source::Package { package: "rint-init".into(), bin: "init".into() })
        );
        assert_eq!(got[1].1, Source::Package { package: "multi".into(), bin: "b".into() });
        assert!(matches!(&got[2].1, Source::File(p) if p.ends_with("images/Cargo.toml")));
    }

    fn error_of(text: &str) -> String {
        check(text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackge = \"rint-init\"\n",
        );
        assert!(e.starts_with("images/t.toml: line 5: unknown field `packge`"), "{e}");
    }

    #[test]
    fn missing_description() {
        let e = error_of("[image]\n");
        assert!(e.contains("images/t.toml") && e.contains("description"), "{e}");
    }

    #[test]
    fn unknown_package() {
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"nope\"\n",
        );
        assert!(
            e.starts_with("images/t.toml: program[0].package: no workspace package \"nope\""),
            "{e}"
        );
        assert!(e.contains("rint-init") && !e.contains("lib-only"), "{e}");
    }

    #[test]
    fn missing_file() {
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npath = \"no/such/file\"\n",
        );
        assert!(e.starts_with("images/t.toml: program[0].path: no such file:"), "{e}");
    }

    #[test]
    fn bin_choice() {
        let base = "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"multi\"\n";
        assert!(error_of(base).contains("program[0].bin: package \"multi\" has several binaries"));
        assert!(error_of(&format!("{base}bin = \"c\"\n")).contains("has no binary \"c\""));
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"lib-only\"\n",
        );
        assert!(e.contains("has no binary"), "{e}");
    }

    #[test]
    fn names_are_checked() {
        let p = |name: &str| {
            format!(
                "[image]\ndescription = \"t\"\n[[program]]\nname = \"{name}\"\npackage = \"rint-init\"\n"
            )
        };
        assert!(error_of(&p("")).contains("program[0].name"));
        assert!(error_of(&p(&"n".repeat(41))).contains("program[0].name"));
        assert!(error_of(&p("a/b")).contains("program[0].name"));
        assert!(error_of(&p("cmdline")).contains("reserved"));
        let dup = format!("{}[[program]]\nname = \"init\"\npackage = \"rint-init\"\n", p("init"));
        assert!(
            error_of(&dup).contains("program[1].name: a program named \"init\" is already listed")
        );
    }

    #[test]
    fn exactly_one_source() {
        let e = error_of("[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\n");
        assert!(e.contains("program[0]: program \"x\" needs `package`, `path`"), "{e}");
        let e = error_of(
            "[image]\ndescription = \"t\"\n[[program]]\nname = \"x\"\npackage = \"rint-init\"\npath = \"a\"\n",
        );
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn wrong_type() {
        let e = error_of("[image]\ndescription = 5\n");
        assert!(e.starts_with("images/t.toml: line 2:"), "{e}");
    }

    /// Every manifest in images/ parses (their sources are checked by the
    /// system tests that build them).
    #[test]
    fn shipped_manifests_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml")
                && path.file_name() != Some("Cargo.toml".as_ref())
            {
                let text = std::fs::read_to_string(&path).unwrap();
                parse(&path, &text).unwrap();
                n += 1;
            }
        }
        assert!(n >= 1);
    }
}
