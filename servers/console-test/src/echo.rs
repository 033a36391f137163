//! console-echo: reads lines typed on the console (input through the
//! console server, by interrupt) and answers each with
//! `console: got "LINE"`; `quit` ends it. Typed characters are echoed as
//! they arrive, Backspace erases.
//!
//! After the first line it checks the console server's handling of
//! malformed requests (each must get an error reply while the server keeps
//! serving) and that the input came by interrupt, printing `ok: ...` or
//! `FAIL: ...` per check. It prints nothing before the first input: until
//! then init may still be printing through the kernel (see
//! `docs/console.md`), and the system test starts typing once init is done.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod echo {
    use libipc::abi::{CPtr, MSG_MAX_WORDS, MessageInfo};
    use libipc::cap::{Cap, Endpoint};
    use libipc::proto::ProtoError;
    use libipc::proto::console::{self, Error, Text};
    use libipc::proto::wire::{self, REPLY_ERR};
    use libipc::sys;
    use rt::check::Tally;
    use rt::console::Input;

    rt::server!(main);

    /// Longest line kept (more is dropped, not echoed).
    const LINE_MAX: usize = 512;

    /// Typed bytes to echo, sent as one write per chunk read.
    struct Echo {
        buf: [u8; 128],
        len: usize,
    }

    impl Echo {
        fn push(&mut self, b: &[u8]) {
            if self.len + b.len() > self.buf.len() {
                self.flush();
            }
            if let Some(d) = self.buf.get_mut(self.len..self.len + b.len()) {
                d.copy_from_slice(b);
                self.len += b.len();
            }
        }

        fn flush(&mut self) {
            if self.len > 0 {
                let _ = rt::console::write(self.buf.get(..self.len).unwrap_or(&[]));
                self.len = 0;
            }
        }
    }

    fn main(start: &'static rt::Start) -> i32 {
        let mut input = match Input::open(start) {
            Ok(i) => i,
            Err(e) => {
                rt::println!("echo: {e}");
                return 2;
            }
        };
        let mut tally = Tally::default();
        let mut first = true;
        let mut line = [0u8; LINE_MAX];
        let mut len = 0;
        let mut after_cr = false;
        let mut buf = [0u8; 64];
        let mut echo = Echo { buf: [0; 128], len: 0 };
        loop {
            let n = match input.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    rt::println!("echo: reading failed: {e}");
                    return 1;
                }
            };
            for &b in buf.get(..n).unwrap_or(&[]) {
                let was_cr = core::mem::replace(&mut after_cr, b == b'\r');
                match b {
                    // The \n of a \r\n.
                    b'\n' if was_cr => {}
                    b'\r' | b'\n' => {
                        echo.push(b"\n");
                        echo.flush();
                        let text = line.get(..len).unwrap_or(&[]);
                        rt::println!("console: got \"{}\"", text.escape_ascii());
                        if first {
                            first = false;
                            checks(&mut tally);
                        }
                        if text == b"quit" {
                            return finish(&tally);
                        }
                        len = 0;
                    }
                    // Backspace, Delete: erase the last character.
                    0x08 | 0x7f => {
                        if len > 0 {
                            len -= 1;
                            echo.push(b"\x08 \x08");
                        }
                    }
                    _ => {
                        if let Some(slot) = line.get_mut(len) {
                            *slot = b;
                            len += 1;
                            echo.push(&[b]);
                        }
                    }
                }
            }
            echo.flush();
        }
    }

    /// The counters, a summary, the exit code.
    fn finish(t: &Tally) -> i32 {
        match rt::console::info() {
            Ok(i) => rt::println!(
                "echo: {} bytes in, {} interrupts, {} dropped, {} bytes out, {} subscribers",
                i.rx_bytes,
                i.interrupts,
                i.rx_dropped,
                i.tx_bytes,
                i.subscribers
            ),
            Err(e) => rt::println!("echo: info failed: {e}"),
        }
        rt::println!("echo: {} checks passed, {} failed", t.passed, t.failed);
        if t.failed == 0 { 0 } else { 1 }
    }

    /// A raw call, with `cap` sent along if given: the reply's label and,
    /// for an error reply, its error (`None` if the call failed).
    fn raw(
        ep: Cap<Endpoint>,
        label: u32,
        words: &[u64],
        cap: Option<CPtr>,
    ) -> Option<(u32, Option<Error>)> {
        let buf = sys::ipc_buffer();
        let caps: &[CPtr] = match &cap {
            Some(c) => core::slice::from_ref(c),
            None => &[],
        };
        buf.set_caps(caps).ok()?;
        let info = MessageInfo::new(label, words.len(), caps.len())?;
        let m = buf.call(ep.cptr(), info, words).ok()?;
        let mut out = [0u64; MSG_MAX_WORDS];
        let n = m.copy_words(&mut out);
        let err = if m.label() == REPLY_ERR {
            wire::Frame::from_words(out.get(..n)?).ok()?.decode::<Error>().ok()
        } else {
            None
        };
        Some((m.label(), err))
    }

    /// The error of a raw call's error reply.
    fn raw_error(ep: Cap<Endpoint>, label: u32, words: &[u64], cap: Option<CPtr>) -> Option<Error> {
        raw(ep, label, words, cap).and_then(|(_, e)| e)
    }

    /// Malformed requests get error replies; the server keeps serving; the
    /// input came by interrupt.
    fn checks(t: &mut Tally) {
        let Some(ep) = rt::console::endpoint() else {
            t.check("console: a console capability", false, format_args!("none"));
            return;
        };
        let bad = Some(Error::Protocol(ProtoError::BadRequest));
        let e = raw_error(ep, console::write::OP, &[0xdead_beef_dead_beef, 1, 2, 3, 4, 5], None);
        t.check("console: a garbage request gets BadRequest", e == bad, format_args!("{e:?}"));
        let e = raw_error(ep, console::read::OP, &[], None);
        t.check("console: an empty request gets BadRequest", e == bad, format_args!("{e:?}"));
        let e =
            raw_error(ep, console::write::OP, &[wire::Header::new(9, 1).to_word(), 0x4242], None);
        t.check("console: a truncated payload gets BadRequest", e == bad, format_args!("{e:?}"));
        let e = raw_error(ep, 0x7777, &[wire::Header::new(0, console::VERSION).to_word()], None);
        t.check(
            "console: an unknown op gets UnknownOp",
            e == Some(Error::Protocol(ProtoError::UnknownOp)),
            format_args!("{e:?}"),
        );
        let e = raw_error(ep, console::info::OP, &[wire::Header::new(0, 99).to_word()], None);
        t.check(
            "console: another protocol version gets VersionMismatch",
            e == Some(Error::Protocol(ProtoError::VersionMismatch {
                client: 99,
                server: console::VERSION,
            })),
            format_args!("{e:?}"),
        );
        let hdr = [wire::Header::new(0, console::VERSION).to_word()];
        let e = raw_error(ep, console::subscribe::OP, &hdr, None);
        t.check(
            "console: subscribe without a capability gets NoNotification",
            e == Some(Error::NoNotification),
            format_args!("{e:?}"),
        );
        // The console endpoint itself is no notification.
        let e = raw_error(ep, console::subscribe::OP, &hdr, Some(ep.cptr()));
        t.check(
            "console: subscribe with an endpoint gets NoNotification",
            e == Some(Error::NoNotification),
            format_args!("{e:?}"),
        );
        // A cap sent with another op is dropped, and the op still served.
        let r = raw(ep, console::info::OP, &hdr, Some(ep.cptr()));
        t.check(
            "console: a capability sent with info is ignored",
            matches!(r, Some((wire::REPLY_OK, None))),
            format_args!("{r:?}"),
        );
        let w = console::Client::connect(ep).write(Text::from_slice(b"").unwrap_or_default());
        t.check(
            "console: the server keeps serving after garbage",
            w == Ok(0),
            format_args!("{w:?}"),
        );
        match rt::console::info() {
            Ok(i) => t.check(
                "console: the input came by interrupt",
                i.interrupts > 0 && i.rx_bytes > 0,
                format_args!("{i:?}"),
            ),
            Err(e) => t.check("console: the input came by interrupt", false, format_args!("{e}")),
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
