//! console-chat: prints many long lines through the console server, for
//! the line-atomicity test (`tests/tests/console.rs`): two of these print
//! at once and every line must come out whole.
//!
//! It subscribes to console input, says so (`chat: subscribed`, through
//! `DebugWrite`), and prints nothing more until the first input arrives: by then init has finished printing (init's output goes through
//! the kernel's `DebugWrite`, which may land inside a console line; see
//! `docs/console.md`). After its lines it stays, waiting, rather than exit
//! (an exit makes init print).

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod chat {
    use rt::console::Input;

    rt::server!(main);

    /// Lines each instance prints.
    pub const LINES: u32 = 100;
    /// What follows the line number: long enough that a line takes the
    /// console server many register writes.
    pub const FILLER: &str = "the quick brown fox jumps over the lazy dog 0123456789 \
                              ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz end";

    fn main(start: &'static rt::Start) -> i32 {
        let input = match Input::open(start) {
            Ok(i) => i,
            Err(e) => {
                rt::println!("chat: {e}");
                return 2;
            }
        };
        // Tell the test it may type: input that arrives before this
        // subscription could be taken by echo alone, and the chats would
        // wait forever. Through `DebugWrite`, which is one kernel call per
        // line like init's own output, so the two cannot mix mid-line (no
        // console client prints before the first input).
        let mut w = rt::DebugWriter::new();
        let _ = core::fmt::Write::write_fmt(
            &mut w,
            format_args!("[{}] chat: subscribed\n", start.name()),
        );
        w.flush();
        let _ = input.notification().wait();
        for i in 0..LINES {
            rt::println!("chat line {i:03} of {}: {FILLER}", start.name());
        }
        rt::println!("chat: done");
        loop {
            if input.notification().wait().is_err() {
                return 1;
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
