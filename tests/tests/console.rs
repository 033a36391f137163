//! The console server on both arches (`images/test-console.toml`): it
//! drives the 16550 from user space (COM1's I/O ports and IRQ 4 on x86_64,
//! the mapped UART page and PLIC source 10 on riscv64). The test types into
//! QEMU's serial input once init has printed its summary; `echo` receives
//! the lines through the console server (by interrupt: it checks the
//! server's interrupt count), answers each, and checks that malformed
//! requests get error replies; two `chat` programs print 100 long lines
//! each at the same time, and every line must come out whole.

use rint_systest::{Arch, Boot, Run, both_arches};

/// init's last summary line: from here on init is quiet, so only console
/// output follows (kernel output may land inside a console line).
const INIT_DONE: &str = "init:   pid 4   chat-b";
/// What follows the line number in a chat line (`servers/console-test`).
const FILLER: &str = "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz end";
const CHAT_LINES: usize = 100;

const CHECKS: &[&str] = &[
    "console: a garbage request gets BadRequest",
    "console: an empty request gets BadRequest",
    "console: a truncated payload gets BadRequest",
    "console: an unknown op gets UnknownOp",
    "console: another protocol version gets VersionMismatch",
    "console: subscribe without a capability gets NoNotification",
    "console: subscribe with an endpoint gets NoNotification",
    "console: a capability sent with info is ignored",
    "console: the server keeps serving after garbage",
    "console: the input came by interrupt",
];

/// Every line of chat program `name` is in the output exactly once, whole.
fn chat_lines_are_whole(run: &Run, name: &str) {
    let tag = format!("[{name}] chat line ");
    let mut seen = vec![0usize; CHAT_LINES];
    for line in run.output.lines() {
        let Some(at) = line.find(&tag) else { continue };
        // Anything may precede the tag on the terminal line (an echo
        // without a newline), but the write itself must be whole.
        let rest = &line[at + tag.len()..];
        let want_tail = format!(" of {name}: {FILLER}");
        let ok = rest.len() == 3 + want_tail.len() && rest.ends_with(&want_tail);
        assert!(ok, "a broken line of {name}: {line:?}\n{}", run.output);
        let i: usize = rest[..3].parse().expect("line number");
        seen[i] += 1;
    }
    assert!(seen.iter().all(|&n| n == 1), "{name}: lines seen {seen:?}\n{}", run.output);
}

both_arches!(typed_lines_reach_a_program_and_output_stays_whole, |arch: Arch| {
    let long: String = (0..300).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let got_long = format!("[echo] console: got \"{long}\"");
    let run = Boot::new("test-console", arch)
        // "hex", Delete, "llo", Enter: the line is "hello".
        // Both chats must have subscribed to input before the first byte:
        // echo may otherwise take it alone and the chats never wake.
        .feed(
            &[
                INIT_DONE,
                "[console] console: 16550 at ",
                "[chat-a] chat: subscribed",
                "[chat-b] chat: subscribed",
            ],
            b"hex\x7fllo\r",
        )
        .feed(
            &["[chat-a] chat: done", "[chat-b] chat: done", "ok: console: the input came by"],
            format!("{long}\r").as_bytes(),
        )
        .feed(&[got_long.as_str()], b"quit\r")
        .until("init: echo (pid 2) exited with code 0")
        .run();
    run.expect_matched()
        .expect("init: started console (pid 1): provides console (v1)")
        .expect("[echo] console: got \"hello\"")
        .expect(&got_long)
        .expect("[echo] console: got \"quit\"")
        .expect("[echo] echo: 10 checks passed, 0 failed")
        .expect_not("FAIL")
        .expect_not("kernel: thread")
        .expect_not("panicked");
    match arch {
        Arch::X86_64 => {
            run.expect("[console] console: 16550 at I/O ports 0x3f8..0x3ff, IRQ 4, serving")
        }
        Arch::Riscv64 => {
            run.expect("[console] console: 16550 at 0x10000000 (mapped), IRQ 10, serving")
        }
    };
    for c in CHECKS {
        run.expect(&format!("[echo] ok: {c}"));
    }
    // "hex", Delete, "llo\r" (8), 300 + 1, "quit\r" (5): every byte
    // arrived, none dropped, by interrupt.
    let stats = run.line("[echo] echo: ").filter(|l| l.contains("bytes in")).unwrap_or_default();
    let want = format!("[echo] echo: {} bytes in, ", 8 + 301 + 5);
    assert!(stats.starts_with(&want), "{stats:?} does not start with {want:?}\n{}", run.output);
    assert!(stats.contains(" 0 dropped, "), "{stats:?}");
    let irqs: u64 = stats
        .split(", ")
        .find_map(|p| p.strip_suffix(" interrupts"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(irqs > 0, "no interrupts counted: {stats:?}");
    chat_lines_are_whole(&run, "chat-a");
    chat_lines_are_whole(&run, "chat-b");
});
