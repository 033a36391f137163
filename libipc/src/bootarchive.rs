//! The boot archive: the files of one bootable image (programs, the manifest,
//! the kernel command line) packed into a single blob that the loader hands to
//! the kernel as its initrd.
//!
//! # Format (version 1, all integers little-endian)
//! ```text
//! offset  size  header
//!      0     8  magic "RINTBOOT"
//!      8     4  version (1)
//!     12     4  entry count N (at most MAX_ENTRIES)
//!     16     8  total size of the archive in bytes (multiple of 4096)
//!     24     4  header size (64)
//!     28     4  entry size (64)
//!     32     4  FNV-1a 32 checksum of the entry table
//!     36    28  reserved, zero
//!     64  64*N  entry table
//!
//! entry (64 bytes)
//!      0    40  name: UTF-8, NUL-padded, 1..=40 bytes, no NUL inside, unique
//!     40     8  data offset from the archive start (multiple of 4096)
//!     48     8  data size in bytes
//!     56     4  kind (0 file, 1 program, 2 manifest, 3 kernel command line, 4 boot plan)
//!     60     4  FNV-1a 32 checksum of the data
//! ```
//! Each entry's data starts on a 4 KiB boundary (so its frames can be mapped
//! into a user address space as they are) and is zero-padded to the next one.
//! Data regions appear in entry-table order and never overlap.
//!
//! [`BootArchive::parse`] checks every field and returns a [`ArchiveError`]
//! naming what is wrong; it never panics on any input.

use core::fmt;

pub const MAGIC: [u8; 8] = *b"RINTBOOT";
pub const VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 64;
pub const ENTRY_SIZE: usize = 64;
pub const NAME_LEN: usize = 40;
pub const ALIGN: u64 = 4096;
pub const MAX_ENTRIES: u32 = 1024;

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum EntryKind {
    /// Any file.
    File = 0,
    /// An ELF program.
    Program = 1,
    /// The image manifest (TOML).
    Manifest = 2,
    /// The kernel command line (UTF-8 text).
    Cmdline = 3,
    /// The boot plan: what init starts, with which capabilities
    /// (`crate::plan`, postcard).
    Plan = 4,
}

impl EntryKind {
    pub const fn name(self) -> &'static str {
        match self {
            EntryKind::File => "file",
            EntryKind::Program => "program",
            EntryKind::Manifest => "manifest",
            EntryKind::Cmdline => "cmdline",
            EntryKind::Plan => "plan",
        }
    }
}

impl TryFrom<u32> for EntryKind {
    type Error = u32;
    fn try_from(v: u32) -> Result<Self, u32> {
        Ok(match v {
            0 => EntryKind::File,
            1 => EntryKind::Program,
            2 => EntryKind::Manifest,
            3 => EntryKind::Cmdline,
            4 => EntryKind::Plan,
            other => return Err(other),
        })
    }
}

/// Why an archive was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveError {
    TooSmall,
    BadMagic,
    UnsupportedVersion(u32),
    BadHeaderSize(u32),
    BadEntrySize(u32),
    TooManyEntries(u32),
    /// The header's total size disagrees with the blob, or is not aligned.
    BadTotalSize {
        header: u64,
        actual: u64,
    },
    TableChecksum {
        expected: u32,
        actual: u32,
    },
    /// Entry `index`'s name is empty, not UTF-8 or has a NUL inside.
    BadName {
        index: u32,
    },
    DuplicateName {
        index: u32,
    },
    BadKind {
        index: u32,
        kind: u32,
    },
    /// Entry `index`'s data is misaligned, out of bounds or overlaps the
    /// previous entry or the table.
    BadExtent {
        index: u32,
    },
    DataChecksum {
        index: u32,
    },
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ArchiveError::TooSmall => write!(f, "archive smaller than its header"),
            ArchiveError::BadMagic => write!(f, "bad magic (not a rint boot archive)"),
            ArchiveError::UnsupportedVersion(v) => write!(f, "unsupported version {v}"),
            ArchiveError::BadHeaderSize(v) => write!(f, "bad header size {v}"),
            ArchiveError::BadEntrySize(v) => write!(f, "bad entry size {v}"),
            ArchiveError::TooManyEntries(n) => write!(f, "too many entries ({n})"),
            ArchiveError::BadTotalSize { header, actual } => {
                write!(f, "header says {header} bytes, blob has {actual}")
            }
            ArchiveError::TableChecksum { expected, actual } => {
                write!(f, "entry table checksum {actual:#010x}, expected {expected:#010x}")
            }
            ArchiveError::BadName { index } => write!(f, "entry {index}: bad name"),
            ArchiveError::DuplicateName { index } => write!(f, "entry {index}: duplicate name"),
            ArchiveError::BadKind { index, kind } => {
                write!(f, "entry {index}: unknown kind {kind}")
            }
            ArchiveError::BadExtent { index } => write!(f, "entry {index}: bad data extent"),
            ArchiveError::DataChecksum { index } => {
                write!(f, "entry {index}: data checksum mismatch")
            }
        }
    }
}

/// FNV-1a, 32 bit: cheap, dependency-free corruption check (not security).
pub fn fnv1a32(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in data {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        w.copy_from_slice(s);
    }
    u64::from_le_bytes(w)
}

/// One entry of a checked archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: &'a str,
    pub kind: EntryKind,
    /// Offset of the data from the archive start (4 KiB aligned).
    pub offset: u64,
    pub data: &'a [u8],
}

/// A checked, borrowed boot archive.
#[derive(Clone, Copy, Debug)]
pub struct BootArchive<'a> {
    blob: &'a [u8],
    count: u32,
}

impl<'a> BootArchive<'a> {
    /// Check `blob` completely (header, table, names, extents, checksums).
    /// `blob` may be longer than the archive (loaders round up), never shorter.
    pub fn parse(blob: &'a [u8]) -> Result<Self, ArchiveError> {
        let header = blob.get(..HEADER_SIZE).ok_or(ArchiveError::TooSmall)?;
        if header.get(..8) != Some(&MAGIC[..]) {
            return Err(ArchiveError::BadMagic);
        }
        let version = le_u32(header, 8);
        if version != VERSION {
            return Err(ArchiveError::UnsupportedVersion(version));
        }
        let count = le_u32(header, 12);
        let total = le_u64(header, 16);
        let hsize = le_u32(header, 24);
        let esize = le_u32(header, 28);
        let table_sum = le_u32(header, 32);
        if hsize as usize != HEADER_SIZE {
            return Err(ArchiveError::BadHeaderSize(hsize));
        }
        if esize as usize != ENTRY_SIZE {
            return Err(ArchiveError::BadEntrySize(esize));
        }
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries(count));
        }
        let actual = blob.len() as u64;
        if total > actual || !total.is_multiple_of(ALIGN) {
            return Err(ArchiveError::BadTotalSize { header: total, actual });
        }
        let blob = blob.get(..total as usize).ok_or(ArchiveError::TooSmall)?;
        let table_end = HEADER_SIZE + count as usize * ENTRY_SIZE;
        let table = blob
            .get(HEADER_SIZE..table_end)
            .ok_or(ArchiveError::BadTotalSize { header: total, actual })?;
        let sum = fnv1a32(table);
        if sum != table_sum {
            return Err(ArchiveError::TableChecksum { expected: table_sum, actual: sum });
        }
        let archive = BootArchive { blob, count };
        // Entries: valid names, kinds, ordered non-overlapping aligned extents.
        let mut data_floor = (table_end as u64).div_ceil(ALIGN) * ALIGN;
        for index in 0..count {
            let raw = archive.raw_entry(index).ok_or(ArchiveError::BadExtent { index })?;
            let name = entry_name(raw).ok_or(ArchiveError::BadName { index })?;
            let kind_raw = le_u32(raw, 56);
            EntryKind::try_from(kind_raw).map_err(|kind| ArchiveError::BadKind { index, kind })?;
            let offset = le_u64(raw, 40);
            let size = le_u64(raw, 48);
            let end = offset.checked_add(size).ok_or(ArchiveError::BadExtent { index })?;
            if !offset.is_multiple_of(ALIGN) || offset < data_floor || end > total {
                return Err(ArchiveError::BadExtent { index });
            }
            data_floor = end.div_ceil(ALIGN) * ALIGN;
            let data =
                blob.get(offset as usize..end as usize).ok_or(ArchiveError::BadExtent { index })?;
            if fnv1a32(data) != le_u32(raw, 60) {
                return Err(ArchiveError::DataChecksum { index });
            }
            for earlier in 0..index {
                let other = archive.raw_entry(earlier).and_then(entry_name);
                if other == Some(name) {
                    return Err(ArchiveError::DuplicateName { index });
                }
            }
        }
        Ok(archive)
    }

    fn raw_entry(&self, index: u32) -> Option<&'a [u8]> {
        let at = HEADER_SIZE + index as usize * ENTRY_SIZE;
        self.blob.get(at..at + ENTRY_SIZE)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Total size in bytes (a multiple of 4096).
    pub fn size(&self) -> u64 {
        self.blob.len() as u64
    }

    /// Entry `index`, if it exists.
    pub fn entry(&self, index: usize) -> Option<Entry<'a>> {
        let index = u32::try_from(index).ok().filter(|&i| i < self.count)?;
        let raw = self.raw_entry(index)?;
        let name = entry_name(raw)?;
        let kind = EntryKind::try_from(le_u32(raw, 56)).ok()?;
        let offset = le_u64(raw, 40);
        let size = le_u64(raw, 48);
        let data = self.blob.get(offset as usize..(offset + size) as usize)?;
        Some(Entry { name, kind, offset, data })
    }

    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + '_ {
        (0..self.len()).filter_map(|i| self.entry(i))
    }

    /// The entry called `name`.
    pub fn find(&self, name: &str) -> Option<Entry<'a>> {
        self.entries().find(|e| e.name == name)
    }
}

fn entry_name(raw: &[u8]) -> Option<&str> {
    let field = raw.get(..NAME_LEN)?;
    let len = field.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    let (name, pad) = field.split_at(len);
    if name.is_empty() || pad.iter().any(|&b| b != 0) {
        return None;
    }
    core::str::from_utf8(name).ok()
}

/// Why [`ArchiveWriter::add`] refused an entry.
#[cfg(any(feature = "alloc", test))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// Names are 1..=40 bytes of UTF-8 without NUL.
    BadName(alloc::string::String),
    DuplicateName(alloc::string::String),
    TooManyEntries,
}

#[cfg(any(feature = "alloc", test))]
impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::BadName(n) => {
                write!(f, "entry name {n:?} must be 1 to {NAME_LEN} bytes without NUL")
            }
            WriteError::DuplicateName(n) => write!(f, "two entries are named {n:?}"),
            WriteError::TooManyEntries => write!(f, "more than {MAX_ENTRIES} entries"),
        }
    }
}

/// Builds an archive in memory (host image builder).
#[cfg(any(feature = "alloc", test))]
#[derive(Default)]
pub struct ArchiveWriter {
    entries: alloc::vec::Vec<(alloc::string::String, EntryKind, alloc::vec::Vec<u8>)>,
}

#[cfg(any(feature = "alloc", test))]
impl ArchiveWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(
        &mut self,
        name: &str,
        kind: EntryKind,
        data: alloc::vec::Vec<u8>,
    ) -> Result<(), WriteError> {
        use alloc::string::ToString;
        if name.is_empty() || name.len() > NAME_LEN || name.contains('\0') {
            return Err(WriteError::BadName(name.to_string()));
        }
        if self.entries.iter().any(|(n, _, _)| n == name) {
            return Err(WriteError::DuplicateName(name.to_string()));
        }
        if self.entries.len() >= MAX_ENTRIES as usize {
            return Err(WriteError::TooManyEntries);
        }
        self.entries.push((name.to_string(), kind, data));
        Ok(())
    }

    /// The finished archive.
    pub fn finish(&self) -> alloc::vec::Vec<u8> {
        let align = |n: usize| n.div_ceil(ALIGN as usize) * ALIGN as usize;
        let table_end = HEADER_SIZE + self.entries.len() * ENTRY_SIZE;
        let mut offsets = alloc::vec::Vec::with_capacity(self.entries.len());
        let mut at = align(table_end);
        for (_, _, data) in &self.entries {
            offsets.push(at);
            at = align(at + data.len());
        }
        let total = at;
        let mut out = alloc::vec![0u8; total];
        for (i, ((name, kind, data), &offset)) in self.entries.iter().zip(&offsets).enumerate() {
            let e = HEADER_SIZE + i * ENTRY_SIZE;
            out[e..e + name.len()].copy_from_slice(name.as_bytes());
            out[e + 40..e + 48].copy_from_slice(&(offset as u64).to_le_bytes());
            out[e + 48..e + 56].copy_from_slice(&(data.len() as u64).to_le_bytes());
            out[e + 56..e + 60].copy_from_slice(&(*kind as u32).to_le_bytes());
            out[e + 60..e + 64].copy_from_slice(&fnv1a32(data).to_le_bytes());
            out[offset..offset + data.len()].copy_from_slice(data);
        }
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out[16..24].copy_from_slice(&(total as u64).to_le_bytes());
        out[24..28].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
        out[28..32].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
        let sum = fnv1a32(&out[HEADER_SIZE..table_end]);
        out[32..36].copy_from_slice(&sum.to_le_bytes());
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn sample() -> Vec<u8> {
        let mut w = ArchiveWriter::new();
        w.add("init", EntryKind::Program, vec![0x7f, b'E', b'L', b'F', 1, 2, 3]).unwrap();
        w.add("manifest.toml", EntryKind::Manifest, b"[image]\n".to_vec()).unwrap();
        w.add("empty", EntryKind::File, Vec::new()).unwrap();
        w.add("big", EntryKind::File, vec![0xab; 10_000]).unwrap();
        w.finish()
    }

    #[test]
    fn round_trip() {
        let blob = sample();
        assert_eq!(blob.len() % 4096, 0);
        let a = BootArchive::parse(&blob).unwrap();
        assert_eq!(a.len(), 4);
        let names: Vec<_> = a.entries().map(|e| e.name).collect();
        assert_eq!(names, ["init", "manifest.toml", "empty", "big"]);
        let init = a.find("init").unwrap();
        assert_eq!(init.kind, EntryKind::Program);
        assert_eq!(init.data, &[0x7f, b'E', b'L', b'F', 1, 2, 3]);
        assert_eq!(init.offset % ALIGN, 0);
        assert_eq!(a.find("big").unwrap().data.len(), 10_000);
        assert!(a.find("empty").unwrap().data.is_empty());
        assert!(a.find("nope").is_none());
    }

    #[test]
    fn longer_blob_is_fine() {
        let mut blob = sample();
        blob.extend_from_slice(&[0u8; 8192]);
        assert_eq!(BootArchive::parse(&blob).unwrap().len(), 4);
    }

    #[test]
    fn rejects_corruption() {
        let blob = sample();
        assert_eq!(BootArchive::parse(&blob[..10]).unwrap_err(), ArchiveError::TooSmall);
        let mut b = blob.clone();
        b[0] = b'X';
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::BadMagic);
        let mut b = blob.clone();
        b[8] = 2;
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::UnsupportedVersion(2));
        // Truncated blob.
        assert!(matches!(
            BootArchive::parse(&blob[..blob.len() - 4096]).unwrap_err(),
            ArchiveError::BadTotalSize { .. }
        ));
        // A flipped data byte.
        let mut b = blob.clone();
        let off = BootArchive::parse(&blob).unwrap().find("big").unwrap().offset as usize;
        b[off + 5] ^= 1;
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::DataChecksum { index: 3 });
        // A flipped table byte is caught by the table checksum.
        let mut b = blob.clone();
        b[HEADER_SIZE + 1] ^= 1;
        assert!(matches!(BootArchive::parse(&b).unwrap_err(), ArchiveError::TableChecksum { .. }));
    }

    /// Re-seal the table checksum so the per-entry checks are what fails.
    fn reseal(b: &mut [u8]) {
        let n = (le_u32(b, 12) as usize).min((b.len() - HEADER_SIZE) / ENTRY_SIZE);
        let sum = fnv1a32(&b[HEADER_SIZE..HEADER_SIZE + n * ENTRY_SIZE]);
        b[32..36].copy_from_slice(&sum.to_le_bytes());
    }

    #[test]
    fn rejects_bad_entries() {
        let blob = sample();
        // Out-of-bounds size.
        let mut b = blob.clone();
        b[HEADER_SIZE + 48..HEADER_SIZE + 56].copy_from_slice(&u64::MAX.to_le_bytes());
        reseal(&mut b);
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::BadExtent { index: 0 });
        // Misaligned offset.
        let mut b = blob.clone();
        b[HEADER_SIZE + 40] = 1;
        reseal(&mut b);
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::BadExtent { index: 0 });
        // Offset pointing into the table.
        let mut b = blob.clone();
        b[HEADER_SIZE + 40..HEADER_SIZE + 48].copy_from_slice(&0u64.to_le_bytes());
        reseal(&mut b);
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::BadExtent { index: 0 });
        // Unknown kind.
        let mut b = blob.clone();
        b[HEADER_SIZE + 56] = 9;
        reseal(&mut b);
        assert_eq!(
            BootArchive::parse(&b).unwrap_err(),
            ArchiveError::BadKind { index: 0, kind: 9 }
        );
        // Duplicate name: rename entry 1 to "init".
        let mut b = blob.clone();
        let e1 = HEADER_SIZE + ENTRY_SIZE;
        b[e1..e1 + NAME_LEN].fill(0);
        b[e1..e1 + 4].copy_from_slice(b"init");
        reseal(&mut b);
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::DuplicateName { index: 1 });
        // Empty name.
        let mut b = blob.clone();
        b[e1..e1 + NAME_LEN].fill(0);
        reseal(&mut b);
        assert_eq!(BootArchive::parse(&b).unwrap_err(), ArchiveError::BadName { index: 1 });
    }

    #[test]
    fn writer_rejects_bad_names() {
        let mut w = ArchiveWriter::new();
        assert!(w.add("", EntryKind::File, Vec::new()).is_err());
        assert!(w.add(&"x".repeat(41), EntryKind::File, Vec::new()).is_err());
        assert!(w.add("a\0b", EntryKind::File, Vec::new()).is_err());
        w.add("a", EntryKind::File, Vec::new()).unwrap();
        assert_eq!(
            w.add("a", EntryKind::File, Vec::new()),
            Err(WriteError::DuplicateName("a".into()))
        );
    }

    /// Parsing arbitrary bytes never panics (a small deterministic fuzz).
    #[test]
    fn garbage_never_panics() {
        let base = sample();
        let mut x: u64 = 0x1234_5678_9abc_def0;
        for _ in 0..2000 {
            let mut b = base.clone();
            for _ in 0..8 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % 512;
                b[i] = (x >> 32) as u8;
            }
            if x.is_multiple_of(3) {
                reseal(&mut b);
            }
            let _ = BootArchive::parse(&b);
        }
    }
}
