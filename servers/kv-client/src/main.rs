//! kv-client: the client test of the `kv` protocol. It runs the same checks
//! against whatever provides "kv" in its image (kv-mem or kv-log: the
//! manifest decides), plus the name service, malformed messages and a
//! crash of the provider, and prints one line per check:
//!
//! ```text
//! [kv-client] ok: put then get returns the value
//! [kv-client] FAIL: ...: what happened
//! [kv-client] kv client test: N passed, M failed
//! ```
//!
//! Its exit code (reported to init) is 0 if every check passed, 1 if not.
//!
//! The crash check asks the provider to fault (`get("@crash")`, its fault
//! injection), expects the call to fail with `ServerGone` (the kernel
//! fails a call whose server thread is destroyed; init destroys it when it
//! handles the fault), looks "kv" up again (init has restarted the
//! provider) and expects the store to be empty: both implementations keep
//! their data in memory, so a restart loses it.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod client {
    use libipc::abi::{MSG_MAX_WORDS, MessageInfo};
    use libipc::cap::{Cap, Endpoint};
    use libipc::plan::Name;
    use libipc::proto::ProtoError;
    use libipc::proto::init as initp;
    use libipc::proto::kv::{self, Key, Value};
    use libipc::proto::transport::Endpoint as Conn;
    use libipc::proto::wire::{self, REPLY_ERR};
    use libipc::sys;
    use rt::check::Tally;

    rt::server!(main);

    fn key(s: &str) -> Key {
        Key::from_slice(s.as_bytes()).unwrap_or_default()
    }

    fn value(s: &[u8]) -> Value {
        Value::from_slice(s).unwrap_or_default()
    }

    /// Look "kv" up again after its provider restarted.
    fn reconnect() -> Option<Cap<Endpoint>> {
        rt::start_info()?.lookup("kv").ok()
    }

    fn main(start: &'static rt::Start) -> i32 {
        let mut t = Tally { passed: 0, failed: 0 };
        let ep = match start.cap::<Endpoint>("kv") {
            Ok(ep) => ep,
            Err(e) => {
                rt::println!("FAIL: the start info has no kv endpoint: {e}");
                return 1;
            }
        };
        names(&mut t, start);
        device(&mut t, start);
        operations(&mut t, ep);
        malformed(&mut t, ep);
        // Only an image that turns fault injection on in the provider asks
        // the client to crash it (`args = ["crash-test"]`).
        if start.info.args.argv.iter().any(|a| a.as_str() == "crash-test") {
            crash(&mut t, start, ep);
        } else {
            rt::println!("crash: not tested here (no `crash-test` argument)");
        }
        rt::println!("kv client test: {} passed, {} failed", t.passed, t.failed);
        if t.failed == 0 { 0 } else { 1 }
    }

    /// The name service: lookups, registration, refusals.
    fn names(t: &mut Tally, start: &'static rt::Start) {
        let looked = start.lookup("kv");
        t.check(
            "name service: lookup of \"kv\" gives an endpoint",
            looked.is_ok(),
            format_args!("{looked:?}"),
        );
        if let Ok(ep) = looked {
            let mut c = kv::Client::connect(ep);
            let r = c.put(key("via-lookup"), value(b"1")).and_then(|_| c.delete(key("via-lookup")));
            t.check(
                "name service: the looked-up endpoint reaches the kv server",
                r == Ok(true),
                format_args!("{r:?}"),
            );
        }
        let r = start.lookup("no-such-service");
        t.check(
            "name service: an unknown name is NotFound",
            r == Err(initp::Error::NotFound),
            format_args!("{r:?}"),
        );
        let n = Name::from_str("kv").unwrap_or_default();
        let r = initp::Client::connect(rt::server::INIT).lookup(n, 1);
        t.check(
            "name service: a lookup into an occupied slot is BadSlot",
            r == Err(initp::Error::BadSlot),
            format_args!("{r:?}"),
        );
        // Register an endpoint of its own under a new name, find it again;
        // a name another server provides is refused.
        let mine = start.lookup("kv");
        let r = match mine {
            Ok(ep) => start.register("kv-client.echo", "kv", kv::VERSION, ep),
            Err(e) => Err(e),
        };
        t.check("name service: registering a new name", r.is_ok(), format_args!("{r:?}"));
        let r = start.lookup("kv-client.echo");
        t.check(
            "name service: a registered name can be looked up",
            r.is_ok(),
            format_args!("{r:?}"),
        );
        let r = match start.lookup("kv") {
            Ok(ep) => start.register("kv", "kv", kv::VERSION, ep),
            Err(e) => Err(e),
        };
        t.check(
            "name service: registering another server's name is NotPermitted",
            r == Err(initp::Error::NotPermitted),
            format_args!("{r:?}"),
        );
        let r = start.register("kv-client.cnode", "kv", kv::VERSION, rt::server::CNODE.cast());
        t.check(
            "name service: registering a CNode is NoCap",
            r == Err(initp::Error::NoCap),
            format_args!("{r:?}"),
        );
    }

    /// If the manifest gives it a device region named `probe`, check that
    /// init mapped the device there: the first register of QEMU's first
    /// virtio-mmio slot reads "virt" (riscv64); the HPET's capability
    /// register names Intel as vendor (x86_64).
    fn device(t: &mut Tally, start: &'static rt::Start) {
        let Ok(dev) = start.device("probe") else { return };
        let v = dev.read32(0);
        let (what, ok) = if cfg!(target_arch = "riscv64") {
            ("virtio-mmio magic \"virt\"", v == Some(0x7472_6976))
        } else {
            ("HPET vendor 0x8086", v.map(|v| v >> 16) == Some(0x8086))
        };
        t.check(
            "device: the mapped region reads as the device",
            ok,
            format_args!("read {v:x?} at {:#x}, expected the {what}", dev.paddr),
        );
        let outside = dev.read32(dev.size());
        t.check(
            "device: a read past the region is refused",
            outside.is_none(),
            format_args!("{outside:?}"),
        );
    }

    /// The kv protocol, as every implementation must answer it.
    fn operations(t: &mut Tally, ep: Cap<Endpoint>) {
        let mut c = kv::Client::new(Conn::new(ep).with_reconnect(reconnect));
        let r = c.put(key("alpha"), value(b"one")).and_then(|_| c.get(key("alpha")));
        t.check(
            "put then get returns the value",
            r.as_ref().map(|v| v.as_slice()) == Ok(b"one".as_slice()),
            format_args!("{r:?}"),
        );
        let r = c.put(key("alpha"), value(b"two")).and_then(|_| c.get(key("alpha")));
        t.check(
            "put replaces the value",
            r.as_ref().map(|v| v.as_slice()) == Ok(b"two".as_slice()),
            format_args!("{r:?}"),
        );
        let r = c.delete(key("alpha"));
        t.check("delete of a present key is true", r == Ok(true), format_args!("{r:?}"));
        let r = c.delete(key("alpha"));
        t.check("delete again is false", r == Ok(false), format_args!("{r:?}"));
        let r = c.get(key("alpha"));
        t.check(
            "get of a deleted key is NotFound",
            r.as_ref().err() == Some(&kv::Error::NotFound),
            format_args!("{r:?}"),
        );
        let r = c.put(Key::new(), value(b"x"));
        t.check(
            "an empty key is InvalidKey",
            r == Err(kv::Error::InvalidKey),
            format_args!("{r:?}"),
        );
        let big = [0xa5u8; kv::VALUE_MAX];
        let long_key = [b'k'; kv::KEY_MAX];
        let r = c
            .put(Key::from_slice(&long_key).unwrap_or_default(), value(&big))
            .and_then(|_| c.get(Key::from_slice(&long_key).unwrap_or_default()));
        t.check(
            "the longest key and value round-trip",
            r.as_ref().map(|v| v.as_slice()) == Ok(big.as_slice()),
            format_args!("{:?}", r.map(|v| v.len())),
        );
        let _ = c.delete(Key::from_slice(&long_key).unwrap_or_default());
        // 20 keys, listed in pages of 8 in byte order.
        let mut ok = true;
        for i in (0..20u8).rev() {
            let mut k = [b'n', b'0' + i / 10, b'0' + i % 10];
            k[0] = b'n';
            ok &= c.put(Key::from_slice(&k).unwrap_or_default(), value(&[i])).is_ok();
        }
        let mut seen = 0u8;
        let mut pages = 0;
        let mut after = None;
        let mut sorted = true;
        loop {
            let Ok(page) = c.list_keys(after) else {
                ok = false;
                break;
            };
            pages += 1;
            for k in page.keys.iter() {
                let want = [b'n', b'0' + seen / 10, b'0' + seen % 10];
                sorted &= k.as_slice() == want;
                seen += 1;
            }
            after = page.keys.last().copied();
            if !page.more || pages > 10 {
                break;
            }
        }
        t.check(
            "list_keys pages through 20 keys in order",
            ok && sorted && seen == 20 && pages == 3,
            format_args!("ok {ok} sorted {sorted} seen {seen} pages {pages}"),
        );
        for i in 0..20u8 {
            let k = [b'n', b'0' + i / 10, b'0' + i % 10];
            let _ = c.delete(Key::from_slice(&k).unwrap_or_default());
        }
        let r = c.list_keys(None);
        t.check(
            "after deleting them the store is empty",
            r.as_ref().map(|p| p.keys.len()) == Ok(0),
            format_args!("{r:?}"),
        );
    }

    /// A raw call: the reply's label and words.
    fn raw(
        ep: Cap<Endpoint>,
        label: u32,
        words: &[u64],
    ) -> Result<(u32, [u64; MSG_MAX_WORDS], usize), libipc::abi::Error> {
        let info =
            MessageInfo::new(label, words.len(), 0).ok_or(libipc::abi::Error::InvalidArgument)?;
        let m = sys::call(ep.cptr(), info, words)?;
        let mut out = [0u64; MSG_MAX_WORDS];
        let n = m.copy_words(&mut out);
        Ok((m.label(), out, n))
    }

    /// The error a raw reply carries, if it is an error reply.
    fn error_of<E: serde::de::DeserializeOwned>(
        r: &Result<(u32, [u64; MSG_MAX_WORDS], usize), libipc::abi::Error>,
    ) -> Option<E> {
        let (label, words, n) = r.as_ref().ok()?;
        if *label != REPLY_ERR {
            return None;
        }
        wire::Frame::from_words(words.get(..*n)?).ok()?.decode::<E>().ok()
    }

    /// Garbage gets error replies, and the servers keep serving.
    fn malformed(t: &mut Tally, ep: Cap<Endpoint>) {
        let bad = kv::Error::Protocol(ProtoError::BadRequest);
        let r = raw(ep, kv::get::OP, &[0xdead_beef_dead_beef, 1, 2, 3, 4, 5]);
        let e = error_of::<kv::Error>(&r);
        t.check("kv: a garbage request gets BadRequest", e == Some(bad), format_args!("{e:?}"));
        let r = raw(ep, kv::put::OP, &[]);
        let e = error_of::<kv::Error>(&r);
        t.check("kv: an empty request gets BadRequest", e == Some(bad), format_args!("{e:?}"));
        // A valid header and a truncated postcard payload.
        let r = raw(ep, kv::get::OP, &[wire::Header::new(9, kv::VERSION).to_word(), 0x4242, 0]);
        let e = error_of::<kv::Error>(&r);
        t.check("kv: a truncated payload gets BadRequest", e == Some(bad), format_args!("{e:?}"));
        let r = raw(ep, 0x7777, &[wire::Header::new(0, kv::VERSION).to_word()]);
        let e = error_of::<kv::Error>(&r);
        t.check(
            "kv: an unknown op gets UnknownOp",
            e == Some(kv::Error::Protocol(ProtoError::UnknownOp)),
            format_args!("{e:?}"),
        );
        let mut words = [0u64; MSG_MAX_WORDS];
        let n = wire::encode(kv::VERSION + 7, &kv::get::Request { key: key("x") }, &mut words)
            .unwrap_or(0);
        let r = raw(ep, kv::get::OP, words.get(..n).unwrap_or(&[]));
        let e = error_of::<kv::Error>(&r);
        let want = kv::Error::Protocol(ProtoError::VersionMismatch {
            client: kv::VERSION + 7,
            server: kv::VERSION,
        });
        t.check(
            "kv: another protocol version gets VersionMismatch",
            e == Some(want),
            format_args!("{e:?}"),
        );
        let mut c = kv::Client::connect(ep);
        let r = c.put(key("still"), value(b"here")).and_then(|_| c.get(key("still")));
        t.check(
            "kv: the server keeps serving after garbage",
            r.as_ref().map(|v| v.as_slice()) == Ok(b"here".as_slice()),
            format_args!("{r:?}"),
        );
        let _ = c.delete(key("still"));
        // init's name service, likewise.
        let r = raw(rt::server::INIT, initp::lookup::OP, &[0xffff_ffff_ffff_ffff, 7]);
        let e = error_of::<initp::Error>(&r);
        t.check(
            "init: a garbage request gets BadRequest",
            e == Some(initp::Error::Protocol(ProtoError::BadRequest)),
            format_args!("{e:?}"),
        );
        let r = raw(rt::server::INIT, 0x4000, &[wire::Header::new(0, initp::VERSION).to_word()]);
        let e = error_of::<initp::Error>(&r);
        t.check(
            "init: an unknown op gets UnknownOp",
            e == Some(initp::Error::Protocol(ProtoError::UnknownOp)),
            format_args!("{e:?}"),
        );
        let r = rt::start_info().map(|s| s.lookup("kv").is_ok());
        t.check(
            "init: the name service keeps serving after garbage",
            r == Some(true),
            format_args!("{r:?}"),
        );
    }

    /// Crash the provider, see the error, reconnect after the restart.
    fn crash(t: &mut Tally, start: &'static rt::Start, ep: Cap<Endpoint>) {
        // A second endpoint copy, kept for after the crash.
        let stale = start.lookup("kv");
        let mut c = kv::Client::connect(ep);
        let r = c.put(key("survivor"), value(b"before the crash"));
        t.check("crash: a key stored before the crash", r.is_ok(), format_args!("{r:?}"));
        // No reconnect here: the call must fail, not be retried.
        let r = c.get(key("@crash"));
        t.check(
            "crash: the call to the crashing server fails with ServerGone",
            r == Err(kv::Error::Protocol(ProtoError::ServerGone)),
            format_args!("{r:?}"),
        );
        let r = c.get(key("survivor"));
        t.check(
            "crash: the old endpoint is dead (ServerGone)",
            r == Err(kv::Error::Protocol(ProtoError::ServerGone)),
            format_args!("{r:?}"),
        );
        // init restarted the provider while handling the fault.
        let fresh = start.relookup("kv", ep);
        t.check(
            "crash: \"kv\" can be looked up again after the restart",
            fresh.is_ok(),
            format_args!("{fresh:?}"),
        );
        let Ok(fresh) = fresh else { return };
        let mut c = kv::Client::connect(fresh);
        let r = c.get(key("survivor"));
        t.check(
            "crash: the restarted store is empty (data in memory is lost)",
            r == Err(kv::Error::NotFound),
            format_args!("{r:?}"),
        );
        let r = c.put(key("after"), value(b"restart")).and_then(|_| c.get(key("after")));
        t.check(
            "crash: the restarted server serves",
            r.as_ref().map(|v| v.as_slice()) == Ok(b"restart".as_slice()),
            format_args!("{r:?}"),
        );
        // A client holding a stale endpoint, with reconnect: its idempotent
        // op fails with ServerGone, it looks "kv" up again and retries.
        if let Ok(stale) = stale {
            let mut auto = kv::Client::new(Conn::new(stale).with_reconnect(reconnect));
            let r = auto.get(key("after"));
            t.check(
                "crash: a client with a stale endpoint reconnects and retries by itself",
                r.as_ref().map(|v| v.as_slice()) == Ok(b"restart".as_slice()),
                format_args!("{r:?}"),
            );
        }
        let _ = c.delete(key("after"));
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
