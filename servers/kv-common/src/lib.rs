//! kv-common: what the two key-value servers share. kv-mem and kv-log are
//! two implementations of libipc's `kv` protocol that differ only in how
//! they store entries; each is a [`Store`], and this crate does the rest:
//!
//! - [`Kv`]: the protocol's ops over a store (`kv::Server`): empty keys are
//!   `InvalidKey` before the store sees them, `get` misses are `NotFound`,
//!   and `list_keys` pages through the store's keys ([`page`]).
//! - [`run`] (bare metal): a server's `main` after `rt::server!`: the `kv`
//!   endpoint from the start info, the greeting line, `kv::serve` until
//!   receiving fails (exit code 1; 2 without the endpoint).
//! - Fault injection for the supervision test, only when the server's
//!   manifest entry has `args = ["fault-injection"]` ([`FAULT_INJECTION`]):
//!   `get` of the key `@crash` then overflows the stack into its guard
//!   page, so init sees a page fault and restarts the server. Without it
//!   `@crash` is an ordinary key: no client can crash a production store.
//!
//! Pure but for [`run`] and the crash: the op handling is tested on the
//! host with a toy store.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

use libipc::proto::Caller;
use libipc::proto::kv::{self, Error, Key, KeyPage, LIST_MAX, Value};

/// The key whose `get` crashes the server on purpose (with fault
/// injection on).
pub const CRASH_KEY: &[u8] = b"@crash";

/// The program argument that turns fault injection on.
pub const FAULT_INJECTION: &str = "fault-injection";

/// How one server stores its entries. Keys handed to it are never empty.
pub trait Store {
    /// The server's name, which its messages start with.
    const NAME: &'static str;

    /// The value stored under `key`, if any.
    fn get(&self, key: &Key) -> Option<Value>;

    /// Store `value` under `key`, replacing what was there (`NoSpace` if
    /// there is no room).
    fn put(&mut self, key: Key, value: Value) -> Result<(), Error>;

    /// Remove `key` and its value; whether it was there.
    fn delete(&mut self, key: &Key) -> Result<bool, Error>;

    /// The keys after `after` (all keys for `None`), in ascending byte
    /// order.
    fn keys_after(&self, after: Option<&Key>) -> impl Iterator<Item = Key> + '_;
}

/// A [`Store`] serving the `kv` protocol.
pub struct Kv<S> {
    pub store: S,
    /// `get("@crash")` faults on purpose (the supervision test).
    pub fault_injection: bool,
}

impl<S> Kv<S> {
    /// Serve `store`, without fault injection.
    pub fn new(store: S) -> Self {
        Kv { store, fault_injection: false }
    }
}

/// The first page of `keys`: up to `LIST_MAX` of them, and whether more
/// follow.
pub fn page(keys: impl Iterator<Item = Key>) -> KeyPage {
    let mut page = KeyPage::default();
    for k in keys {
        if page.keys.len() == LIST_MAX {
            page.more = true;
            break;
        }
        let _ = page.keys.push(k);
    }
    page
}

impl<S: Store> kv::Server for Kv<S> {
    fn get(&mut self, _c: &Caller, key: Key) -> Result<Value, Error> {
        if key.is_empty() {
            return Err(Error::InvalidKey);
        }
        if self.fault_injection && key.as_slice() == CRASH_KEY {
            crash(S::NAME);
        }
        self.store.get(&key).ok_or(Error::NotFound)
    }

    fn put(&mut self, _c: &Caller, key: Key, value: Value) -> Result<(), Error> {
        if key.is_empty() {
            return Err(Error::InvalidKey);
        }
        self.store.put(key, value)
    }

    fn delete(&mut self, _c: &Caller, key: Key) -> Result<bool, Error> {
        if key.is_empty() {
            return Err(Error::InvalidKey);
        }
        self.store.delete(&key)
    }

    fn list_keys(&mut self, _c: &Caller, after: Option<Key>) -> Result<KeyPage, Error> {
        Ok(page(self.store.keys_after(after.as_ref())))
    }
}

/// Serve the `kv` protocol from `store` on the start info's `kv` endpoint,
/// after printing `<name>: <about>, serving (generation N)`; returns the
/// exit code when receiving fails (1), or 2 without the endpoint.
#[cfg(target_os = "none")]
pub fn run<S: Store>(start: &rt::Start, about: core::fmt::Arguments<'_>, store: S) -> i32 {
    let ep = match start.cap::<libipc::cap::Endpoint>("kv") {
        Ok(ep) => ep,
        Err(e) => {
            rt::println!("{e}");
            return 2;
        }
    };
    let fault_injection = start.info.args.argv.iter().any(|a| a.as_str() == FAULT_INJECTION);
    let injecting = if fault_injection { ", fault injection on" } else { "" };
    rt::println!("{}: {about}, serving (generation {}){injecting}", S::NAME, start.generation());
    let e = kv::serve(ep, &mut Kv { store, fault_injection });
    rt::println!("{}: receiving failed: {}", S::NAME, e.as_str());
    1
}

/// Fault on purpose: recurse until the stack runs into its guard page (a
/// page fault, which init handles).
#[cfg_attr(not(target_os = "none"), allow(unused_variables))]
fn crash(name: &str) -> ! {
    #[cfg(target_os = "none")]
    rt::println!("{name}: crashing on purpose (key @crash): overflowing the stack");
    let n = deep(1);
    // Never reached: the recursion faults first.
    panic!("the stack did not overflow ({n})");
}

fn deep(n: u64) -> u64 {
    let frame = core::hint::black_box([n; 64]);
    if core::hint::black_box(n) == 0 {
        return 0;
    }
    deep(n + 1).wrapping_add(frame[7])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use libipc::proto::kv::Server;

    use super::*;

    /// A toy store: a sorted map, at most four keys.
    struct Map(BTreeMap<Key, Value>);

    impl Store for Map {
        const NAME: &'static str = "kv-test";

        fn get(&self, key: &Key) -> Option<Value> {
            self.0.get(key).copied()
        }

        fn put(&mut self, key: Key, value: Value) -> Result<(), Error> {
            if self.0.len() >= 4 && !self.0.contains_key(&key) {
                return Err(Error::NoSpace);
            }
            self.0.insert(key, value);
            Ok(())
        }

        fn delete(&mut self, key: &Key) -> Result<bool, Error> {
            Ok(self.0.remove(key).is_some())
        }

        fn keys_after(&self, after: Option<&Key>) -> impl Iterator<Item = Key> + '_ {
            let after = after.copied();
            self.0.keys().filter(move |k| after.as_ref().is_none_or(|a| *k > a)).copied()
        }
    }

    #[test]
    fn crash_key_is_ordinary_without_fault_injection() {
        let c = Caller::default();
        let mut kv = Kv::new(Map(BTreeMap::new()));
        assert_eq!(kv.get(&c, key("@crash")), Err(Error::NotFound));
        kv.put(&c, key("@crash"), value("kept")).expect("put");
        assert_eq!(kv.get(&c, key("@crash")), Ok(value("kept")));
    }

    fn key(s: &str) -> Key {
        Key::from_slice(s.as_bytes()).expect("short key")
    }

    fn value(s: &str) -> Value {
        Value::from_slice(s.as_bytes()).expect("short value")
    }

    #[test]
    fn empty_keys_never_reach_the_store() {
        let mut kv = Kv::new(Map(BTreeMap::new()));
        let c = Caller::default();
        assert_eq!(kv.get(&c, Key::default()), Err(Error::InvalidKey));
        assert_eq!(kv.put(&c, Key::default(), value("v")), Err(Error::InvalidKey));
        assert_eq!(kv.delete(&c, Key::default()), Err(Error::InvalidKey));
        assert!(kv.store.0.is_empty());
    }

    #[test]
    fn ops_reach_the_store() {
        let mut kv = Kv::new(Map(BTreeMap::new()));
        let c = Caller::default();
        assert_eq!(kv.get(&c, key("a")), Err(Error::NotFound));
        assert_eq!(kv.put(&c, key("a"), value("1")), Ok(()));
        assert_eq!(kv.get(&c, key("a")), Ok(value("1")));
        assert_eq!(kv.delete(&c, key("a")), Ok(true));
        assert_eq!(kv.delete(&c, key("a")), Ok(false));
        for k in ["a", "b", "c", "d"] {
            assert_eq!(kv.put(&c, key(k), value(k)), Ok(()));
        }
        assert_eq!(kv.put(&c, key("e"), value("e")), Err(Error::NoSpace));
    }

    #[test]
    fn pages_hold_list_max_keys_and_say_whether_more_follow() {
        let keys: std::vec::Vec<Key> =
            (0..LIST_MAX + 1).map(|i| key(&std::format!("k{i:02}"))).collect();
        let p = page(keys.iter().copied());
        assert_eq!(p.keys.len(), LIST_MAX);
        assert!(p.more);
        assert_eq!(p.keys.as_slice(), &keys[..LIST_MAX]);
        let p = page(keys.iter().copied().take(LIST_MAX));
        assert_eq!(p.keys.len(), LIST_MAX);
        assert!(!p.more);
        assert_eq!(page(core::iter::empty()), KeyPage::default());
    }

    #[test]
    fn list_keys_starts_after_the_given_key() {
        let mut kv = Kv::new(Map(BTreeMap::new()));
        let c = Caller::default();
        for k in ["a", "b", "c"] {
            assert_eq!(kv.put(&c, key(k), value(k)), Ok(()));
        }
        let p = kv.list_keys(&c, Some(key("a"))).expect("list");
        assert_eq!(p.keys.as_slice(), &[key("b"), key("c")]);
        assert!(!p.more);
        let p = kv.list_keys(&c, None).expect("list");
        assert_eq!(p.keys.len(), 3);
    }
}
