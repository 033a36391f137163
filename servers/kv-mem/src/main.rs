//! kv-mem: a key-value server speaking libipc's `kv` protocol, keeping its
//! entries in a sorted array on the heap (binary search; at most
//! [`CAPACITY`] keys, then `NoSpace`). Everything lives in memory: a
//! restart starts empty. The protocol side (the ops over a store, the
//! serve loop, the `@crash` fault injection for the supervision test) is
//! kv-common's, shared with kv-log.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
extern crate alloc;

#[cfg(target_os = "none")]
mod server {
    use alloc::vec::Vec;

    use libipc::proto::kv::{Error, Key, Value};

    /// Most keys.
    pub const CAPACITY: usize = 64;

    rt::server!(main);

    fn main(start: &'static rt::Start) -> i32 {
        let store = Sorted { entries: Vec::new() };
        kv_common::run(start, format_args!("sorted array, up to {CAPACITY} keys"), store)
    }

    struct Sorted {
        /// Sorted by key.
        entries: Vec<(Key, Value)>,
    }

    impl Sorted {
        fn find(&self, key: &Key) -> Result<usize, usize> {
            self.entries.binary_search_by(|(k, _)| k.as_slice().cmp(key.as_slice()))
        }
    }

    impl kv_common::Store for Sorted {
        const NAME: &'static str = "kv-mem";

        fn get(&self, key: &Key) -> Option<Value> {
            let i = self.find(key).ok()?;
            self.entries.get(i).map(|(_, v)| *v)
        }

        fn put(&mut self, key: Key, value: Value) -> Result<(), Error> {
            match self.find(&key) {
                Ok(i) => {
                    if let Some(e) = self.entries.get_mut(i) {
                        e.1 = value;
                    }
                }
                Err(_) if self.entries.len() >= CAPACITY => return Err(Error::NoSpace),
                Err(i) => {
                    if self.entries.try_reserve(1).is_err() {
                        return Err(Error::NoSpace);
                    }
                    self.entries.insert(i, (key, value));
                }
            }
            Ok(())
        }

        fn delete(&mut self, key: &Key) -> Result<bool, Error> {
            match self.find(key) {
                Ok(i) => {
                    self.entries.remove(i);
                    Ok(true)
                }
                Err(_) => Ok(false),
            }
        }

        fn keys_after(&self, after: Option<&Key>) -> impl Iterator<Item = Key> + '_ {
            let from = match after {
                None => 0,
                Some(k) => match self.find(k) {
                    Ok(i) => i + 1,
                    Err(i) => i,
                },
            };
            self.entries.iter().skip(from).map(|(k, _)| *k)
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
