//! kv-mem: a key-value server speaking libipc's `kv` protocol, keeping its
//! entries in a sorted array on the heap (binary search; at most
//! [`CAPACITY`] keys, then `NoSpace`). Everything lives in memory: a
//! restart starts empty.
//!
//! Fault injection for the supervision test: `get` of the key `@crash`
//! faults on purpose (it overflows its stack into the guard page), so init
//! sees a page fault and restarts the server.

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

    /// Most keys.
    pub const CAPACITY: usize = 64;

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
            "kv-mem: sorted array, up to {CAPACITY} keys, serving (generation {})",
            start.generation()
        );
        let mut store = Store { entries: Vec::new() };
        let e = kv::serve(ep, &mut store);
        rt::println!("kv-mem: receiving failed: {}", e.as_str());
        1
    }

    struct Store {
        /// Sorted by key.
        entries: Vec<(Key, Value)>,
    }

    impl Store {
        fn find(&self, key: &Key) -> Result<usize, usize> {
            self.entries.binary_search_by(|(k, _)| k.as_slice().cmp(key.as_slice()))
        }
    }

    impl kv::Server for Store {
        fn get(&mut self, _c: &Caller, key: Key) -> Result<Value, Error> {
            if key.is_empty() {
                return Err(Error::InvalidKey);
            }
            if key.as_slice() == b"@crash" {
                crash();
            }
            let i = self.find(&key).map_err(|_| Error::NotFound)?;
            self.entries.get(i).map(|(_, v)| *v).ok_or(Error::NotFound)
        }

        fn put(&mut self, _c: &Caller, key: Key, value: Value) -> Result<(), Error> {
            if key.is_empty() {
                return Err(Error::InvalidKey);
            }
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

        fn delete(&mut self, _c: &Caller, key: Key) -> Result<bool, Error> {
            if key.is_empty() {
                return Err(Error::InvalidKey);
            }
            match self.find(&key) {
                Ok(i) => {
                    self.entries.remove(i);
                    Ok(true)
                }
                Err(_) => Ok(false),
            }
        }

        fn list_keys(&mut self, _c: &Caller, after: Option<Key>) -> Result<KeyPage, Error> {
            let from = match &after {
                None => 0,
                Some(k) => match self.find(k) {
                    Ok(i) => i + 1,
                    Err(i) => i,
                },
            };
            let mut page = KeyPage::default();
            for (k, _) in self.entries.iter().skip(from) {
                if page.keys.len() == LIST_MAX {
                    page.more = true;
                    break;
                }
                let _ = page.keys.push(*k);
            }
            Ok(page)
        }
    }

    /// Fault on purpose: recurse until the stack runs into its guard page
    /// (a page fault, which init handles).
    fn crash() -> ! {
        rt::println!("kv-mem: crashing on purpose (key @crash): overflowing the stack");
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
}

#[cfg(not(target_os = "none"))]
fn main() {}
