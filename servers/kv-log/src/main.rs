//! kv-log: a key-value server speaking libipc's `kv` protocol, keeping an
//! append-only log of its puts and deletes on the heap. A `get` scans the
//! log for the key's last record; `list_keys` collects the live keys. When
//! the log reaches [`LOG_MAX`] bytes it is compacted (rewritten with the
//! live entries only); a put that still does not fit is `NoSpace`. The log
//! is in memory: a restart starts empty.
//!
//! Record: tag (1 put, 2 delete), key length (1 byte), value length (2
//! bytes, little-endian), key, value.
//!
//! Fault injection for the supervision test, as in kv-mem: `get` of the
//! key `@crash` overflows the stack into its guard page.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod server {
    use alloc::vec::Vec;

    use libipc::cap::Endpoint;
    use libipc::proto::Caller;
    use libipc::proto::kv::{self, Error, Key, KeyPage, LIST_MAX, Value};

    /// Largest log, in bytes.
    pub const LOG_MAX: usize = 32 * 1024;
    const PUT: u8 = 1;
    const DELETE: u8 = 2;

    rt::server!(main);

    fn main(start: &'static rt::Start) -> i32 {
        let ep = match start.cap::<Endpoint>("kv") {
            Ok(ep) => ep,
            Err(e) => {
                rt::println!("{e}");
                return 2;
            }
        };
        rt::println!(
            "kv-log: append-only log of up to {LOG_MAX} bytes, serving (generation {})",
            start.generation()
        );
        let mut log = Log { bytes: Vec::new(), compactions: 0 };
        let e = kv::serve(ep, &mut log);
        rt::println!("kv-log: receiving failed: {}", e.as_str());
        1
    }

    struct Log {
        bytes: Vec<u8>,
        compactions: u32,
    }

    /// One record, borrowed from the log.
    struct Record<'a> {
        tag: u8,
        key: &'a [u8],
        value: &'a [u8],
    }

    /// The records of `log`, oldest first; stops at a damaged tail.
    fn records(log: &[u8]) -> impl Iterator<Item = Record<'_>> {
        let mut at = 0usize;
        core::iter::from_fn(move || {
            let head = log.get(at..at + 4)?;
            let (tag, klen) = (head[0], usize::from(head[1]));
            let vlen = usize::from(u16::from_le_bytes([head[2], head[3]]));
            let key = log.get(at + 4..at + 4 + klen)?;
            let value = log.get(at + 4 + klen..at + 4 + klen + vlen)?;
            at += 4 + klen + vlen;
            Some(Record { tag, key, value })
        })
    }

    fn append(out: &mut Vec<u8>, tag: u8, key: &[u8], value: &[u8]) -> Result<(), Error> {
        let need = 4 + key.len() + value.len();
        if out.try_reserve(need).is_err() {
            return Err(Error::NoSpace);
        }
        out.push(tag);
        out.push(key.len() as u8);
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(value);
        Ok(())
    }

    impl Log {
        /// The key's current value, if it has one.
        fn lookup(&self, key: &[u8]) -> Option<&[u8]> {
            let mut found = None;
            for r in records(&self.bytes).filter(|r| r.key == key) {
                found = (r.tag == PUT).then_some(r.value);
            }
            found
        }

        /// The live keys, sorted.
        fn live_keys(&self) -> Vec<Key> {
            let mut keys: Vec<Key> = Vec::new();
            for r in records(&self.bytes) {
                let Some(k) = Key::from_slice(r.key) else { continue };
                match keys.binary_search(&k) {
                    Ok(i) if r.tag == DELETE => {
                        keys.remove(i);
                    }
                    Err(i) if r.tag == PUT => keys.insert(i, k),
                    _ => {}
                }
            }
            keys
        }

        /// Rewrite the log with one put per live key.
        fn compact(&mut self) -> Result<(), Error> {
            let mut fresh = Vec::new();
            for k in self.live_keys() {
                if let Some(v) = self.lookup(&k) {
                    append(&mut fresh, PUT, &k, v)?;
                }
            }
            self.bytes = fresh;
            self.compactions += 1;
            Ok(())
        }

        fn record(&mut self, tag: u8, key: &[u8], value: &[u8]) -> Result<(), Error> {
            let need = 4 + key.len() + value.len();
            if self.bytes.len() + need > LOG_MAX {
                self.compact()?;
                if self.bytes.len() + need > LOG_MAX {
                    return Err(Error::NoSpace);
                }
            }
            append(&mut self.bytes, tag, key, value)
        }
    }

    impl kv::Server for Log {
        fn get(&mut self, _c: &Caller, key: Key) -> Result<Value, Error> {
            if key.is_empty() {
                return Err(Error::InvalidKey);
            }
            if key.as_slice() == b"@crash" {
                crash();
            }
            let v = self.lookup(&key).ok_or(Error::NotFound)?;
            Value::from_slice(v).ok_or(Error::NotFound)
        }

        fn put(&mut self, _c: &Caller, key: Key, value: Value) -> Result<(), Error> {
            if key.is_empty() {
                return Err(Error::InvalidKey);
            }
            self.record(PUT, &key, &value)
        }

        fn delete(&mut self, _c: &Caller, key: Key) -> Result<bool, Error> {
            if key.is_empty() {
                return Err(Error::InvalidKey);
            }
            if self.lookup(&key).is_none() {
                return Ok(false);
            }
            self.record(DELETE, &key, &[])?;
            Ok(true)
        }

        fn list_keys(&mut self, _c: &Caller, after: Option<Key>) -> Result<KeyPage, Error> {
            let keys = self.live_keys();
            let from = match &after {
                None => 0,
                Some(a) => keys.partition_point(|k| k <= a),
            };
            let mut page = KeyPage::default();
            for k in keys.iter().skip(from) {
                if page.keys.len() == LIST_MAX {
                    page.more = true;
                    break;
                }
                let _ = page.keys.push(*k);
            }
            Ok(page)
        }
    }

    /// Fault on purpose: recurse until the stack runs into its guard page.
    fn crash() -> ! {
        rt::println!("kv-log: crashing on purpose (key @crash): overflowing the stack");
        let n = deep(1);
        panic!("the stack did not overflow ({n})");
    }

    fn deep(n: u64) -> u64 {
        let frame = core::hint::black_box([n; 64]);
        if core::hint::black_box(n) == 0 {
            return 0;
        }
        deep(n + 1).wrapping_add(frame[7])
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
