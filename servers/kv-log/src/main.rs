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
//! The protocol side (the ops over a store, the serve loop, the `@crash`
//! fault injection for the supervision test) is kv-common's, shared with
//! kv-mem.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod server {
    use alloc::vec::Vec;

    use libipc::proto::kv::{Error, Key, Value};

    /// Largest log, in bytes.
    pub const LOG_MAX: usize = 32 * 1024;
    const PUT: u8 = 1;
    const DELETE: u8 = 2;

    rt::server!(main);

    fn main(start: &'static rt::Start) -> i32 {
        let log = Log { bytes: Vec::new(), compactions: 0 };
        kv_common::run(start, format_args!("append-only log of up to {LOG_MAX} bytes"), log)
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

    impl kv_common::Store for Log {
        const NAME: &'static str = "kv-log";

        fn get(&self, key: &Key) -> Option<Value> {
            self.lookup(key).and_then(Value::from_slice)
        }

        fn put(&mut self, key: Key, value: Value) -> Result<(), Error> {
            self.record(PUT, &key, &value)
        }

        fn delete(&mut self, key: &Key) -> Result<bool, Error> {
            if self.lookup(key).is_none() {
                return Ok(false);
            }
            self.record(DELETE, key, &[])?;
            Ok(true)
        }

        fn keys_after(&self, after: Option<&Key>) -> impl Iterator<Item = Key> + '_ {
            let keys = self.live_keys();
            let from = match after {
                None => 0,
                Some(a) => keys.partition_point(|k| k <= a),
            };
            keys.into_iter().skip(from)
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
