//! Fixed-capacity containers for protocol types: [`Bytes<N>`], [`Str<N>`]
//! and [`List<T, N>`]. They hold up to `N` items inline (no heap), encode as
//! postcard byte strings / strings / sequences, and refuse to decode more
//! than `N`: the bound is checked against the length prefix before any
//! element is read, so a hostile length costs nothing.
//!
//! Why not `heapless`: three small types with the exact decode behaviour we
//! want are less than a dependency, and keep the bound visible in the
//! protocol declaration (`Bytes<64>`).

use core::fmt;
use core::marker::PhantomData;
use core::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, Serializer};

// ---------------------------------------------------------------------------
// Bytes
// ---------------------------------------------------------------------------

/// Up to `N` bytes, stored inline.
#[derive(Clone, Copy)]
pub struct Bytes<const N: usize> {
    len: usize,
    buf: [u8; N],
}

impl<const N: usize> Bytes<N> {
    /// Capacity.
    pub const MAX: usize = N;

    /// No bytes.
    pub const fn new() -> Self {
        Bytes { len: 0, buf: [0; N] }
    }

    /// A copy of `bytes`; `None` if longer than `N`.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let mut b = Self::new();
        b.buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        b.len = bytes.len();
        Some(b)
    }

    pub fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// Append `bytes`; `None` (and nothing appended) if they do not fit.
    pub fn extend(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }
}

impl<const N: usize> Default for Bytes<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Deref for Bytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl<const N: usize> PartialEq for Bytes<N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl<const N: usize> Eq for Bytes<N> {}

impl<const N: usize> PartialOrd for Bytes<N> {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<const N: usize> Ord for Bytes<N> {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl<const N: usize> fmt::Debug for Bytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.as_slice()) {
            Ok(s) => write!(f, "b{s:?}"),
            Err(_) => write!(f, "{:02x?}", self.as_slice()),
        }
    }
}

impl<'a, const N: usize> TryFrom<&'a [u8]> for Bytes<N> {
    type Error = ();
    fn try_from(bytes: &'a [u8]) -> Result<Self, ()> {
        Self::from_slice(bytes).ok_or(())
    }
}

impl<const N: usize> Serialize for Bytes<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_slice())
    }
}

struct BytesVisitor<const N: usize>;

impl<'de, const N: usize> Visitor<'de> for BytesVisitor<N> {
    type Value = Bytes<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at most {N} bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes<N>, E> {
        Bytes::from_slice(v).ok_or_else(|| E::invalid_length(v.len(), &self))
    }

    // Formats that write bytes as a sequence of numbers.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes<N>, A::Error> {
        let mut b = Bytes::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            b.extend(&[byte]).ok_or_else(|| de::Error::invalid_length(N + 1, &self))?;
        }
        Ok(b)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Bytes<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(BytesVisitor::<N>)
    }
}

// ---------------------------------------------------------------------------
// Str
// ---------------------------------------------------------------------------

/// A UTF-8 string of up to `N` bytes, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Str<const N: usize>(Bytes<N>);

impl<const N: usize> Str<N> {
    pub const MAX: usize = N;

    pub const fn new() -> Self {
        Str(Bytes::new())
    }

    /// A copy of `s`; `None` if longer than `N` bytes.
    // Not `FromStr`: a string that does not fit is `None`, not a parse error.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(s: &str) -> Option<Self> {
        Bytes::from_slice(s.as_bytes()).map(Str)
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from whole `&str`s, so always UTF-8.
        core::str::from_utf8(self.0.as_slice()).unwrap_or("")
    }
}

impl<const N: usize> Deref for Str<N> {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl<const N: usize> fmt::Debug for Str<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<const N: usize> fmt::Display for Str<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> Serialize for Str<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

struct StrVisitor<const N: usize>;

impl<const N: usize> Visitor<'_> for StrVisitor<N> {
    type Value = Str<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a string of at most {N} bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<N>, E> {
        Str::from_str(v).ok_or_else(|| E::invalid_length(v.len(), &self))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Str<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor::<N>)
    }
}

// ---------------------------------------------------------------------------
// List
// ---------------------------------------------------------------------------

/// Up to `N` values of `T`, stored inline (`T: Default` fills the unused
/// places).
#[derive(Clone)]
pub struct List<T, const N: usize> {
    len: usize,
    items: [T; N],
}

impl<T: Default, const N: usize> List<T, N> {
    pub const MAX: usize = N;

    pub fn new() -> Self {
        List { len: 0, items: core::array::from_fn(|_| T::default()) }
    }

    /// Append `v`; gives it back if the list is full.
    pub fn push(&mut self, v: T) -> Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = v;
                self.len += 1;
                Ok(())
            }
            None => Err(v),
        }
    }
}

impl<T, const N: usize> List<T, N> {
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    pub fn is_full(&self) -> bool {
        self.len >= N
    }
}

impl<T: Default, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> Deref for List<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: PartialEq, const N: usize> PartialEq for List<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}
impl<T: Eq, const N: usize> Eq for List<T, N> {}

impl<T: fmt::Debug, const N: usize> fmt::Debug for List<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<T: Serialize, const N: usize> Serialize for List<T, N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len))?;
        for v in self.as_slice() {
            seq.serialize_element(v)?;
        }
        seq.end()
    }
}

struct ListVisitor<T, const N: usize>(PhantomData<fn() -> T>);

impl<'de, T: Deserialize<'de> + Default, const N: usize> Visitor<'de> for ListVisitor<T, N> {
    type Value = List<T, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {N} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T, N>, A::Error> {
        // postcard knows the length before the first element: refuse early.
        if let Some(n) = seq.size_hint()
            && n > N
        {
            return Err(de::Error::invalid_length(n, &self));
        }
        let mut list = List::new();
        while let Some(v) = seq.next_element::<T>()? {
            list.push(v).map_err(|_| de::Error::invalid_length(N + 1, &self))?;
        }
        Ok(list)
    }
}

impl<'de, T: Deserialize<'de> + Default, const N: usize> Deserialize<'de> for List<T, N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ListVisitor::<T, N>(PhantomData))
    }
}
