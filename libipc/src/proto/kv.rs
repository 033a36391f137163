//! `kv`: a small key-value store, the example protocol (and the one the
//! "two interchangeable implementations selected by the manifest" test
//! uses). Keys are 1..=64 bytes, values up to 768 bytes, all inline in the
//! message; `list_keys` pages through the keys in byte order, 8 at a time.
//!
//! | op | arguments | returns | errors |
//! |---|---|---|---|
//! | 1 `get` | key | the value | `NotFound`, `InvalidKey` |
//! | 2 `put` | key, value | nothing | `NoSpace`, `InvalidKey` |
//! | 3 `delete` | key | whether the key was there | `InvalidKey` |
//! | 4 `list_keys` | `after`: the last key of the previous page, or none | up to 8 keys after it, and whether more follow | none |
//!
//! All four are idempotent: repeating one leaves the store as doing it
//! once (a repeated `delete` answers `false` the second time). Every op can
//! also fail with `Error::Protocol(..)`.

use serde::{Deserialize, Serialize};

use super::{Bytes, List};

/// Longest key, in bytes.
pub const KEY_MAX: usize = 64;
/// Longest value, in bytes: a `put` of the longest key and value fits in
/// one message (64 + 768 bytes plus 3 bytes of length prefixes, of 952).
pub const VALUE_MAX: usize = 768;
/// Most keys in one `list_keys` page.
pub const LIST_MAX: usize = 8;

pub type Key = Bytes<KEY_MAX>;
pub type Value = Bytes<VALUE_MAX>;

/// A page of keys from `list_keys`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPage {
    /// Up to `LIST_MAX` keys, in ascending byte order.
    pub keys: List<Key, LIST_MAX>,
    /// More keys follow the last one: ask again with `after` = the last.
    pub more: bool,
}

crate::protocol! {
    name = "kv", version = 1;
    errors {
        /// No value is stored under the key.
        NotFound = 1,
        /// The store has no room for another key.
        NoSpace = 2,
        /// The key is empty.
        InvalidKey = 3,
    }
    ops {
        /// The value stored under `key`.
        1 get(key: Key) -> Value, idempotent;
        /// Store `value` under `key`, replacing what was there.
        2 put(key: Key, value: Value) -> (), idempotent;
        /// Remove `key` and its value; `true` if it was there.
        3 delete(key: Key) -> bool, idempotent;
        /// Up to `LIST_MAX` keys in ascending byte order, from the first
        /// (`after` = `None`) or from the first after `after`.
        4 list_keys(after: Option<Key>) -> KeyPage, idempotent;
    }
}
