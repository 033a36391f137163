//! The kv protocol against an in-memory reference server, client and
//! dispatch in one process over a `Direct` transport.

extern crate std;

use std::collections::BTreeMap;
use std::vec::Vec;

use crate::abi::MSG_MAX_WORDS;
use crate::proto::kv::{self, Client, Error, Key, KeyPage, LIST_MAX, Server, Value};
use crate::proto::wire::{self, Header, REPLY_ERR, REPLY_OK};
use crate::proto::{Caller, Direct, Incoming, ProtoError, Reply, Transport};

/// The reference implementation: a map with a key limit.
pub(crate) struct MemKv {
    map: BTreeMap<Vec<u8>, Value>,
    limit: usize,
    badges: Vec<u64>,
}

impl MemKv {
    pub(crate) fn new(limit: usize) -> Self {
        MemKv { map: BTreeMap::new(), limit, badges: Vec::new() }
    }
}

fn check(key: &Key) -> Result<(), Error> {
    if key.is_empty() { Err(Error::InvalidKey) } else { Ok(()) }
}

impl Server for MemKv {
    fn get(&mut self, caller: &Caller, key: Key) -> Result<Value, Error> {
        self.badges.push(caller.badge);
        check(&key)?;
        self.map.get(&key[..]).copied().ok_or(Error::NotFound)
    }

    fn put(&mut self, _: &Caller, key: Key, value: Value) -> Result<(), Error> {
        check(&key)?;
        if !self.map.contains_key(&key[..]) && self.map.len() >= self.limit {
            return Err(Error::NoSpace);
        }
        self.map.insert(key.to_vec(), value);
        Ok(())
    }

    fn delete(&mut self, _: &Caller, key: Key) -> Result<bool, Error> {
        check(&key)?;
        Ok(self.map.remove(&key[..]).is_some())
    }

    fn list_keys(&mut self, _: &Caller, after: Option<Key>) -> Result<KeyPage, Error> {
        let mut page = KeyPage::default();
        let mut keys = self.map.keys().filter(|k| after.as_ref().is_none_or(|a| k[..] > a[..]));
        for k in keys.by_ref() {
            if page.keys.push(Key::from_slice(k).unwrap()).is_err() {
                page.more = true;
                return Ok(page);
            }
            if page.keys.is_full() {
                break;
            }
        }
        page.more = keys.next().is_some();
        Ok(page)
    }
}

fn key(s: &str) -> Key {
    Key::from_slice(s.as_bytes()).unwrap()
}

fn value(s: &[u8]) -> Value {
    Value::from_slice(s).unwrap()
}

/// A client of `srv` with badge `badge`.
fn client(srv: &mut MemKv, badge: u64) -> Client<impl Transport + '_> {
    Client::new(Direct::new(move |label, words: &[u64], out: &mut [u64; MSG_MAX_WORDS]| {
        Ok(kv::dispatch(srv, Incoming::new(badge, label, words), out))
    }))
}

/// Send raw words to `srv` and decode the reply's error.
fn raw(srv: &mut MemKv, label: u32, words: &[u64]) -> Result<Reply, Error> {
    let mut out = [0u64; MSG_MAX_WORDS];
    let r = kv::dispatch(srv, Incoming::new(0, label, words), &mut out);
    match r.label {
        REPLY_OK => Ok(r),
        REPLY_ERR => Err(wire::decode::<Error>(&out[..r.len]).unwrap().1),
        l => panic!("reply label {l}"),
    }
}

#[test]
fn declaration_constants() {
    assert_eq!(kv::NAME, "kv");
    assert_eq!(kv::VERSION, 1);
    assert_eq!(kv::OPS.len(), 4);
    assert_eq!(kv::get::OP, 1);
    assert_eq!(kv::list_keys::OP, 4);
    assert!(kv::OPS.iter().all(|o| o.idempotent && o.bulk == crate::proto::BulkDir::None));
    assert_eq!(kv::op_info(3).map(|o| o.name), Some("delete"));
    assert_eq!(kv::op_info(5), None);
    assert_eq!(kv::put::BULK_MAX, 0);
}

#[test]
fn put_get_delete_round_trip() {
    let mut srv = MemKv::new(16);
    let mut c = client(&mut srv, 42);
    assert_eq!(c.get(key("a")), Err(Error::NotFound));
    assert_eq!(c.put(key("a"), value(b"one")), Ok(()));
    assert_eq!(c.get(key("a")), Ok(value(b"one")));
    assert_eq!(c.put(key("a"), value(b"two")), Ok(()));
    assert_eq!(c.get(key("a")), Ok(value(b"two")));
    assert_eq!(c.put(key("b"), value(b"")), Ok(()));
    assert_eq!(c.get(key("b")), Ok(value(b"")));
    assert_eq!(c.delete(key("a")), Ok(true));
    assert_eq!(c.delete(key("a")), Ok(false));
    assert_eq!(c.get(key("a")), Err(Error::NotFound));
    drop(c);
    // The server saw the client's badge.
    assert!(srv.badges.iter().all(|&b| b == 42));
}

#[test]
fn server_errors() {
    let mut srv = MemKv::new(2);
    let mut c = client(&mut srv, 0);
    assert_eq!(c.get(Key::new()), Err(Error::InvalidKey));
    assert_eq!(c.put(Key::new(), value(b"x")), Err(Error::InvalidKey));
    assert_eq!(c.delete(Key::new()), Err(Error::InvalidKey));
    c.put(key("1"), value(b"x")).unwrap();
    c.put(key("2"), value(b"x")).unwrap();
    assert_eq!(c.put(key("3"), value(b"x")), Err(Error::NoSpace));
    // Replacing needs no room.
    assert_eq!(c.put(key("2"), value(b"y")), Ok(()));
}

#[test]
fn list_keys_pages_in_order() {
    let mut srv = MemKv::new(64);
    let mut c = client(&mut srv, 0);
    let page = c.list_keys(None).unwrap();
    assert!(page.keys.is_empty() && !page.more);
    for i in (0..20).rev() {
        c.put(key(&std::format!("k{i:02}")), value(b"v")).unwrap();
    }
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = c.list_keys(after).unwrap();
        assert!(page.keys.len() <= LIST_MAX);
        all.extend(page.keys.iter().map(|k| std::string::String::from_utf8(k.to_vec()).unwrap()));
        if !page.more {
            break;
        }
        after = page.keys.last().copied();
    }
    let want: Vec<_> = (0..20).map(|i| std::format!("k{i:02}")).collect();
    assert_eq!(all, want);
}

#[test]
fn largest_put_fits_in_one_message() {
    let mut srv = MemKv::new(4);
    let mut c = client(&mut srv, 0);
    let k = Key::from_slice(&[b'k'; kv::KEY_MAX]).unwrap();
    let v = Value::from_slice(&[0x5a; kv::VALUE_MAX]).unwrap();
    assert_eq!(c.put(k, v), Ok(()));
    assert_eq!(c.get(k), Ok(v));
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = wire::encode(kv::VERSION, &kv::put::Request { key: k, value: v }, &mut words).unwrap();
    assert!(n <= MSG_MAX_WORDS);
    // A full page of the longest keys fits in a reply.
    let mut page = KeyPage::default();
    while page.keys.push(k).is_ok() {}
    page.more = true;
    assert!(wire::encode(kv::VERSION, &page, &mut words).is_ok());
}

#[test]
fn malformed_requests_get_error_replies_and_the_server_keeps_serving() {
    let mut srv = MemKv::new(4);
    let bad = Err(Error::Protocol(ProtoError::BadRequest));
    // No header at all.
    assert_eq!(raw(&mut srv, kv::get::OP, &[]), bad);
    // A header with reserved bits.
    assert_eq!(raw(&mut srv, kv::get::OP, &[1 << 20 | 1 << 32]), bad);
    // An empty payload where a key is expected.
    assert_eq!(raw(&mut srv, kv::get::OP, &[Header::new(0, 1).to_word()]), bad);
    // A key longer than KEY_MAX.
    let long = crate::proto::Bytes::<100>::from_slice(&[b'x'; 100]).unwrap();
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = wire::encode(1, &long, &mut words).unwrap();
    assert_eq!(raw(&mut srv, kv::get::OP, &words[..n]), bad);
    // Every truncation of a valid put.
    let req = kv::put::Request { key: key("k"), value: value(&[7; 100]) };
    let n = wire::encode(1, &req, &mut words).unwrap();
    for cut in 0..n {
        assert_eq!(raw(&mut srv, kv::put::OP, &words[..cut]), bad, "cut {cut}");
    }
    // The header claiming fewer bytes than follow.
    let mut lying = words;
    lying[0] = Header::new(Header::from_word(words[0]).unwrap().len - 8, 1).to_word();
    assert_eq!(raw(&mut srv, kv::put::OP, &lying[..n]), bad);
    // A get's request sent as a put.
    let n2 = wire::encode(1, &kv::get::Request { key: key("k") }, &mut words).unwrap();
    assert_eq!(raw(&mut srv, kv::put::OP, &words[..n2]), bad);
    // And the server still serves.
    let mut c = client(&mut srv, 0);
    assert_eq!(c.put(key("k"), value(b"fine")), Ok(()));
    assert_eq!(c.get(key("k")), Ok(value(b"fine")));
}

#[test]
fn unknown_ops() {
    let mut srv = MemKv::new(4);
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = wire::encode(1, &kv::get::Request { key: key("k") }, &mut words).unwrap();
    for label in [0, 5, 99, 0x7fff, 0xfa01, u32::MAX] {
        assert_eq!(
            raw(&mut srv, label, &words[..n]),
            Err(Error::Protocol(ProtoError::UnknownOp)),
            "label {label:#x}"
        );
    }
}

#[test]
fn version_mismatch_both_ways() {
    let mut srv = MemKv::new(4);
    // A version-2 client talking to the version-1 server.
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = wire::encode(2, &kv::get::Request { key: key("k") }, &mut words).unwrap();
    assert_eq!(
        raw(&mut srv, kv::get::OP, &words[..n]),
        Err(Error::Protocol(ProtoError::VersionMismatch { client: 2, server: 1 }))
    );
    // A server that answers with another version's header.
    let mut c = Client::new(Direct::new(|_, _: &[u64], out: &mut [u64; MSG_MAX_WORDS]| {
        let len = wire::encode(9, &value(b"x"), out).unwrap();
        Ok(Reply { label: REPLY_OK, len })
    }));
    assert_eq!(
        c.get(key("k")),
        Err(Error::Protocol(ProtoError::VersionMismatch { client: 1, server: 9 }))
    );
}

#[test]
fn bad_replies_are_reported() {
    let replies: [(u32, &[u64]); 4] = [
        (REPLY_OK, &[]),
        (REPLY_OK, &[Header::new(3, 1).to_word()]),
        (REPLY_ERR, &[Header::new(1, 1).to_word(), 200]),
        (7, &[Header::new(0, 1).to_word()]),
    ];
    for (label, words) in replies {
        let mut c =
            Client::new(Direct::new(move |_, _: &[u64], out: &mut [u64; MSG_MAX_WORDS]| {
                out[..words.len()].copy_from_slice(words);
                Ok(Reply { label, len: words.len() })
            }));
        assert_eq!(c.get(key("k")), Err(Error::Protocol(ProtoError::BadReply)));
    }
    // A reply length beyond the buffer.
    let mut c = Client::new(Direct::new(|_, _: &[u64], _: &mut [u64; MSG_MAX_WORDS]| {
        Ok(Reply { label: REPLY_OK, len: 500 })
    }));
    assert_eq!(c.get(key("k")), Err(Error::Protocol(ProtoError::BadReply)));
}

/// A transport whose server "restarts": the first call fails with
/// ServerGone; `reconnect` brings it back.
struct Flaky<'a> {
    srv: &'a mut MemKv,
    gone: bool,
    calls: usize,
    reconnects: usize,
}

impl Transport for Flaky<'_> {
    fn call(
        &mut self,
        label: u32,
        words: &[u64],
        out: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<Reply, ProtoError> {
        self.calls += 1;
        if self.gone {
            return Err(ProtoError::ServerGone);
        }
        Ok(kv::dispatch(self.srv, Incoming::new(0, label, words), out))
    }

    fn reconnect(&mut self) -> Result<(), ProtoError> {
        self.reconnects += 1;
        self.gone = false;
        Ok(())
    }
}

#[test]
fn idempotent_ops_are_retried_after_a_reconnect() {
    let mut srv = MemKv::new(4);
    let mut c = Client::new(Flaky { srv: &mut srv, gone: true, calls: 0, reconnects: 0 });
    assert_eq!(c.put(key("k"), value(b"v")), Ok(()));
    assert_eq!(c.transport().calls, 2);
    assert_eq!(c.transport().reconnects, 1);
    c.transport().gone = true;
    assert_eq!(c.get(key("k")), Ok(value(b"v")));
    // A transport that cannot reconnect reports ServerGone.
    let mut gone = Client::new(Direct::new(|_, _: &[u64], _: &mut [u64; MSG_MAX_WORDS]| {
        Err(ProtoError::ServerGone)
    }));
    assert_eq!(gone.get(key("k")), Err(Error::Protocol(ProtoError::ServerGone)));
}

#[test]
fn dispatch_survives_random_messages() {
    let mut srv = MemKv::new(8);
    let mut rng = super::XorShift(0x1234_5678_9abc_def1);
    let mut valid = [0u64; MSG_MAX_WORDS];
    let n =
        wire::encode(1, &kv::put::Request { key: key("key"), value: value(&[3; 50]) }, &mut valid)
            .unwrap();
    for i in 0..20_000 {
        let label = rng.below(6) as u32;
        let mut words = [0u64; MSG_MAX_WORDS];
        let len = if i % 2 == 0 {
            // Bit flips in a valid request.
            words = valid;
            for _ in 0..=rng.below(4) {
                let w = rng.below(n as u64) as usize;
                words[w] ^= 1 << rng.below(64);
            }
            n
        } else {
            let len = rng.below(MSG_MAX_WORDS as u64 + 1) as usize;
            words.iter_mut().take(len).for_each(|w| *w = rng.next());
            if len > 0 {
                words[0] = Header::new(rng.below(((len - 1) * 8 + 1) as u64) as usize, 1).to_word();
            }
            len
        };
        let mut out = [0u64; MSG_MAX_WORDS];
        let r = kv::dispatch(&mut srv, Incoming::new(0, label, &words[..len]), &mut out);
        assert!(r.label == REPLY_OK || r.label == REPLY_ERR);
        assert!(r.len >= 1 && r.len <= MSG_MAX_WORDS);
        if r.label == REPLY_ERR {
            wire::decode::<Error>(&out[..r.len]).unwrap();
        }
    }
    // Still serving.
    let mut c = client(&mut srv, 0);
    assert!(c.list_keys(None).is_ok());
}

#[test]
fn errors_display() {
    assert_eq!(std::format!("{}", Error::NotFound), "NotFound");
    assert_eq!(std::format!("{}", Error::Protocol(ProtoError::UnknownOp)), "unknown op");
}
