//! rint's system-test harness: build an image, boot it in QEMU headless with a
//! timeout, capture the serial console, and let a test assert on the output
//! and on how the machine ended (see `rint_image::qemu` for the exit-status
//! conventions per arch).
//!
//! The tests themselves are in `tests/tests/*.rs`; each one runs on both
//! arches through [`both_arches!`].

use rint_image::{Builder, BuiltImage, repo_root};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use rint_image::Arch;
pub use rint_image::qemu::{Accel, Options, Outcome};

/// Generous enough for TCG on a loaded 2-core machine; a healthy boot takes
/// a few seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Build `image` for `arch` once per test process (tests run in parallel
/// threads; builds are serialised so two never write the same files).
pub fn build(image: &str, arch: Arch) -> BuiltImage {
    static BUILT: OnceLock<Mutex<HashMap<(String, Arch), BuiltImage>>> = OnceLock::new();
    let cache = BUILT.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = cache.get(&(image.to_string(), arch)) {
        return b.clone();
    }
    let mut builder = Builder::new(repo_root());
    builder.quiet = true;
    match builder.build(image, arch) {
        Ok(b) => {
            cache.insert((image.to_string(), arch), b.clone());
            b
        }
        Err(e) => panic!("building image {image} for {arch}: {e}"),
    }
}

/// How a boot ended.
#[derive(Debug)]
pub struct Run {
    pub arch: Arch,
    pub image: String,
    /// Everything the serial console printed.
    pub output: String,
    /// How QEMU exited; `None` if the harness stopped it (pattern seen or
    /// timeout).
    pub outcome: Option<Outcome>,
    pub timed_out: bool,
    /// The `until` pattern appeared.
    pub matched: bool,
    pub elapsed: Duration,
}

impl Run {
    fn report(&self) -> String {
        format!(
            "image {} on {}: outcome {:?}, timed out {}, {:.1} s\n----- serial output -----\n{}\n-------------------------",
            self.image,
            self.arch,
            self.outcome,
            self.timed_out,
            self.elapsed.as_secs_f64(),
            self.output
        )
    }

    /// Assert the output contains `needle`.
    #[track_caller]
    pub fn expect(&self, needle: &str) -> &Self {
        assert!(
            self.output.contains(needle),
            "expected {needle:?} in the output\n{}",
            self.report()
        );
        self
    }

    /// Assert the output does not contain `needle`.
    #[track_caller]
    pub fn expect_not(&self, needle: &str) -> &Self {
        assert!(
            !self.output.contains(needle),
            "did not expect {needle:?} in the output\n{}",
            self.report()
        );
        self
    }

    /// Assert the kernel ended the machine with `want`.
    #[track_caller]
    pub fn expect_outcome(&self, want: Outcome) -> &Self {
        assert_eq!(self.outcome, Some(want), "wrong outcome\n{}", self.report());
        self
    }

    /// Assert the `until` pattern was seen (and the machine was stopped).
    #[track_caller]
    pub fn expect_matched(&self) -> &Self {
        assert!(self.matched, "the expected line never came\n{}", self.report());
        self
    }

    /// The line containing `needle`, if any.
    pub fn line(&self, needle: &str) -> Option<&str> {
        self.output.lines().find(|l| l.contains(needle))
    }
}

/// What to boot and how long to wait.
pub struct Boot<'a> {
    pub image: &'a str,
    pub arch: Arch,
    pub options: Options,
    /// Stop the machine once this text appears (for images that never end).
    pub until: Option<&'a str>,
    pub timeout: Duration,
    /// Boot this archive file instead of the image's.
    pub archive: Option<PathBuf>,
    /// Bytes to type into the serial console, each once its markers appear.
    pub feed: Vec<Feed>,
}

/// Bytes written to QEMU's standard input (the serial console's input)
/// once every one of `after` has appeared in the output and the feeds
/// before it have been written.
#[derive(Clone, Debug)]
pub struct Feed {
    pub after: Vec<String>,
    pub bytes: Vec<u8>,
}

impl<'a> Boot<'a> {
    pub fn new(image: &'a str, arch: Arch) -> Self {
        Boot {
            image,
            arch,
            options: test_options(),
            until: None,
            timeout: DEFAULT_TIMEOUT,
            archive: None,
            feed: Vec::new(),
        }
    }

    /// Type `bytes` into the serial console once all of `after` have
    /// appeared in the output (and the earlier feeds were typed).
    pub fn feed(mut self, after: &[&str], bytes: &[u8]) -> Self {
        self.feed.push(Feed {
            after: after.iter().map(|s| s.to_string()).collect(),
            bytes: bytes.to_vec(),
        });
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn until(mut self, text: &'a str) -> Self {
        self.until = Some(text);
        self
    }

    pub fn append(mut self, args: &str) -> Self {
        self.options.append = Some(args.into());
        self
    }

    /// Use `accel` unless `RINT_TEST_ACCEL` says otherwise.
    pub fn accel(mut self, accel: rint_image::qemu::Accel) -> Self {
        if std::env::var_os("RINT_TEST_ACCEL").is_none() {
            self.options.accel = accel;
        }
        self
    }

    pub fn no_archive(mut self) -> Self {
        self.options.no_archive = true;
        self
    }

    pub fn archive(mut self, path: PathBuf) -> Self {
        self.archive = Some(path);
        self
    }

    /// Build (once) and boot.
    pub fn run(self) -> Run {
        let image = build(self.image, self.arch);
        let mut options = self.options;
        options.archive_override = self.archive;
        run_qemu_with_input(&image, &options, self.until, self.timeout, &self.feed)
    }
}

/// Options for headless test boots: `RINT_TEST_ACCEL` (auto, kvm, tcg)
/// picks the accelerator, TCG by default: it is deterministic, the one
/// accelerator every machine has, and on a nested-KVM host far faster for
/// syscall-heavy images than KVM. Tests that want KVM where it opens ask
/// for it with [`Boot::accel`].
pub fn test_options() -> Options {
    let accel = std::env::var("RINT_TEST_ACCEL").ok().and_then(|a| a.parse().ok());
    Options { accel: accel.unwrap_or(rint_image::qemu::Accel::Tcg), ..Options::default() }
}

/// Boot `image`, capturing serial output, until it exits, `until` appears,
/// or `timeout` passes.
pub fn run_qemu(
    image: &BuiltImage,
    options: &Options,
    until: Option<&str>,
    timeout: Duration,
) -> Run {
    run_qemu_with_input(image, options, until, timeout, &[])
}

/// [`run_qemu`], typing each of `feed` into the serial console (QEMU's
/// standard input) when its markers have appeared. Without feeds standard
/// input is empty.
pub fn run_qemu_with_input(
    image: &BuiltImage,
    options: &Options,
    until: Option<&str>,
    timeout: Duration,
    feed: &[Feed],
) -> Run {
    let mut cmd = rint_image::qemu::command(image, options);
    let stdin = if feed.is_empty() { Stdio::null() } else { Stdio::piped() };
    cmd.stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {:?}: {e} (run scripts/setup)", cmd.get_program()));

    // Pump stdout and stderr into one channel so a pattern is seen as soon as
    // it arrives.
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let mut pumps = Vec::new();
    let streams: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("stdout is piped")),
        Box::new(child.stderr.take().expect("stderr is piped")),
    ];
    for mut stream in streams {
        let tx = tx.clone();
        pumps.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    // Kept open until the end: closing it would tell QEMU the input ended.
    let mut input = child.stdin.take();
    let mut fed = 0;

    let mut raw = Vec::new();
    let mut matched = false;
    let mut timed_out = false;
    let mut status = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => raw.extend_from_slice(&chunk),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Both streams closed: QEMU is gone or going.
                status = child.wait().ok();
                break;
            }
        }
        while let Some(f) = feed.get(fed) {
            let out = String::from_utf8_lossy(&raw);
            if !f.after.iter().all(|m| out.contains(m.as_str())) {
                break;
            }
            if let Some(i) = input.as_mut() {
                // QEMU gone: the loop sees it exit.
                let _ = i.write_all(&f.bytes).and_then(|()| i.flush());
            }
            fed += 1;
        }
        if let Some(pat) = until
            && String::from_utf8_lossy(&raw).contains(pat)
        {
            matched = true;
            break;
        }
        if let Ok(Some(st)) = child.try_wait() {
            status = Some(st);
            break;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            break;
        }
    }
    drop(input);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    // Collect whatever is still buffered.
    for p in pumps {
        let _ = p.join();
    }
    while let Ok(chunk) = rx.try_recv() {
        raw.extend_from_slice(&chunk);
    }
    let output = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
    Run {
        arch: image.arch,
        image: image.name.clone(),
        output,
        outcome: status.map(|s| rint_image::qemu::outcome(image.arch, s)),
        timed_out,
        matched,
        elapsed: start.elapsed(),
    }
}

/// Define one `#[test]` per arch: `both_arches!(name, |arch| { ... });`
#[macro_export]
macro_rules! both_arches {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn x86_64() {
                ($body)($crate::Arch::X86_64)
            }
            #[test]
            fn riscv64() {
                ($body)($crate::Arch::Riscv64)
            }
        }
    };
}
