//! A test protocol with bulk ops: the macro's bulk support, and `Bulk`
//! validation.

extern crate std;

use core::cell::RefCell;

use crate::abi::MSG_MAX_WORDS;
use crate::proto::wire::{self, REPLY_ERR};
use crate::proto::{Bulk, BulkDir, Bytes, Caller, Direct, Incoming, ProtoError, Reply, Transport};

#[allow(dead_code)]
mod blob {
    use crate::proto::Bytes;

    /// A slot's name.
    pub type Name = Bytes<8>;

    crate::protocol! {
        name = "blob", version = 3;
        errors {
            /// No such slot.
            NoSlot = 1,
            /// Nothing stored in the slot.
            Empty = 2,
        }
        ops {
            /// Store the shared buffer's bytes in `slot`; returns the count.
            1 store(slot: u8, name: Name) -> u32, once, bulk_in(64);
            /// Copy `slot` into the shared buffer; returns the count.
            2 load(slot: u8) -> u32, idempotent, bulk_out(64);
            /// Nothing.
            7 ping() -> (), idempotent;
        }
    }
}

use blob::{Client, Error, Server};

#[derive(Default)]
struct Blobs {
    slots: [Option<Bytes<64>>; 4],
}

impl Server for Blobs {
    fn store(
        &mut self,
        _: &Caller,
        slot: u8,
        _name: blob::Name,
        data: &[u8],
    ) -> Result<u32, Error> {
        let s = self.slots.get_mut(slot as usize).ok_or(Error::NoSlot)?;
        // Copy first, then use the copy (the region is the client's too).
        *s = Bytes::from_slice(data);
        Ok(data.len() as u32)
    }

    fn load(&mut self, _: &Caller, slot: u8, data: &mut [u8]) -> Result<u32, Error> {
        let s = self.slots.get(slot as usize).ok_or(Error::NoSlot)?;
        let b = s.as_ref().ok_or(Error::Empty)?;
        let n = b.len().min(data.len());
        data[..n].copy_from_slice(&b[..n]);
        Ok(n as u32)
    }

    fn ping(&mut self, _: &Caller) -> Result<(), Error> {
        Ok(())
    }
}

/// The server's view of the region and the client's are the same cells.
fn client<'a>(
    srv: &'a RefCell<Blobs>,
    region: &'a RefCell<[u8; 256]>,
    with_region: bool,
) -> Client<impl Transport + 'a> {
    Client::new(Direct::new(move |label, words: &[u64], out: &mut [u64; MSG_MAX_WORDS]| {
        let mut r = region.borrow_mut();
        let msg = Incoming::new(0, label, words);
        let msg = if with_region { msg.with_region(&mut r[..]) } else { msg };
        Ok(blob::dispatch(&mut *srv.borrow_mut(), msg, out))
    }))
}

#[test]
fn declaration_constants() {
    assert_eq!(blob::store::BULK, BulkDir::In { max: 64 });
    assert_eq!(blob::load::BULK, BulkDir::Out { max: 64 });
    assert_eq!(blob::ping::BULK, BulkDir::None);
    const { assert!(!blob::store::IDEMPOTENT) };
    const { assert!(blob::load::IDEMPOTENT) };
    assert_eq!(blob::op_info(7).map(|o| o.name), Some("ping"));
    assert_eq!(blob::VERSION, 3);
}

#[test]
fn bulk_in_and_out_through_the_region() {
    let srv = RefCell::new(Blobs::default());
    let region = RefCell::new([0u8; 256]);
    let mut c = client(&srv, &region, true);
    let b = Bulk::put(&mut region.borrow_mut()[..], 100, b"shared bytes", 64).unwrap();
    assert_eq!(b, Bulk::new(100, 12));
    let name = blob::Name::from_slice(b"n").unwrap();
    assert_eq!(c.store(1, name, b), Ok(12));
    assert_eq!(c.load(1, Bulk::new(200, 56)), Ok(12));
    assert_eq!(&region.borrow()[200..212], b"shared bytes");
    assert_eq!(c.load(2, Bulk::new(0, 64)), Err(Error::Empty));
    assert_eq!(c.load(9, Bulk::new(0, 64)), Err(Error::NoSlot));
    assert_eq!(c.ping(), Ok(()));
}

#[test]
fn bulk_references_are_checked() {
    let srv = RefCell::new(Blobs::default());
    let region = RefCell::new([0u8; 256]);
    let name = blob::Name::new();
    let bad = Err(Error::Protocol(ProtoError::BadBulk));
    // The client refuses a length over the declared maximum itself.
    let mut c = client(&srv, &region, true);
    assert_eq!(c.store(0, name, Bulk::new(0, 65)), bad);
    drop(c);
    // The server refuses what a hostile client sends anyway.
    let send = |bulk: Bulk| {
        let mut words = [0u64; MSG_MAX_WORDS];
        let req = blob::store::Request { slot: 0, name };
        let n = wire::encode(3, &(bulk, req), &mut words).unwrap();
        let mut out = [0u64; MSG_MAX_WORDS];
        let mut r = region.borrow_mut();
        let msg = Incoming::new(0, blob::store::OP, &words[..n]).with_region(&mut r[..]);
        let rep: Reply = blob::dispatch(&mut *srv.borrow_mut(), msg, &mut out);
        assert_eq!(rep.label, REPLY_ERR);
        wire::decode::<Error>(&out[..rep.len]).unwrap().1
    };
    let bad = Error::Protocol(ProtoError::BadBulk);
    assert_eq!(send(Bulk::new(0, 65)), bad);
    assert_eq!(send(Bulk::new(250, 7)), bad);
    assert_eq!(send(Bulk::new(256, 1)), bad);
    assert_eq!(send(Bulk::new(u32::MAX, 64)), bad);
    assert_eq!(send(Bulk::new(u32::MAX, u32::MAX)), bad);
    // A bulk op without a shared region.
    let mut c = client(&srv, &region, false);
    assert_eq!(c.store(0, name, Bulk::new(0, 4)), Err(Error::Protocol(ProtoError::NoRegion)));
    assert_eq!(c.load(0, Bulk::new(0, 4)), Err(Error::Protocol(ProtoError::NoRegion)));
    // Ops without bulk need none.
    assert_eq!(c.ping(), Ok(()));
}

#[test]
fn bulk_ranges() {
    assert_eq!(Bulk::new(0, 0).range(0, 0), Ok(0..0));
    assert_eq!(Bulk::new(10, 0).range(10, 0), Ok(10..10));
    assert_eq!(Bulk::new(11, 0).range(10, 0), Err(ProtoError::BadBulk));
    assert_eq!(Bulk::new(4, 6).range(10, 6), Ok(4..10));
    assert_eq!(Bulk::new(4, 7).range(10, 7), Err(ProtoError::BadBulk));
    assert_eq!(Bulk::new(0, 8).range(10, 7), Err(ProtoError::BadBulk));
    assert_eq!(
        Bulk::new(u32::MAX, u32::MAX).range(usize::MAX, u32::MAX).map(|r| r.len()),
        Ok(u32::MAX as usize)
    );
    let mut region = [0u8; 8];
    assert_eq!(Bulk::put(&mut region, 6, b"abc", 16), Err(ProtoError::BadBulk));
    assert_eq!(Bulk::put(&mut region, 5, b"abc", 2), Err(ProtoError::BadBulk));
    assert_eq!(Bulk::put(&mut region, 5, b"abc", 3), Ok(Bulk::new(5, 3)));
    assert_eq!(Bulk::new(5, 3).slice(&region, 3), Ok(&b"abc"[..]));
}
