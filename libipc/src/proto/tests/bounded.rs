use crate::proto::wire::{from_bytes, to_bytes};
use crate::proto::{Bytes, List, ProtoError, Str};

#[test]
fn bytes_round_trip_and_bound() {
    let b = Bytes::<8>::from_slice(b"abc").unwrap();
    assert_eq!(&*b, b"abc");
    let mut buf = [0u8; 32];
    let n = to_bytes(&b, &mut buf).unwrap();
    assert_eq!(&buf[..n], &[3, b'a', b'b', b'c']);
    assert_eq!(from_bytes::<Bytes<8>>(&buf[..n]), Ok(b));
    assert_eq!(from_bytes::<Bytes<3>>(&buf[..n]).map(|b| b.len()), Ok(3));
    assert_eq!(from_bytes::<Bytes<2>>(&buf[..n]), Err(ProtoError::BadRequest));
    assert!(Bytes::<2>::from_slice(b"abc").is_none());
    let mut e = Bytes::<4>::new();
    assert_eq!(e.extend(b"ab"), Some(()));
    assert_eq!(e.extend(b"cde"), None);
    assert_eq!(&*e, b"ab");
}

#[test]
fn a_huge_length_prefix_is_refused_without_reading() {
    // Length 2^32 as a varint, then nothing.
    let evil = [0x80, 0x80, 0x80, 0x80, 0x10];
    assert!(from_bytes::<Bytes<64>>(&evil).is_err());
    assert!(from_bytes::<Str<64>>(&evil).is_err());
    assert!(from_bytes::<List<u8, 4>>(&evil).is_err());
}

#[test]
fn str_checks_utf8_and_bound() {
    let s = Str::<8>::from_str("héllo").unwrap();
    assert_eq!(&*s, "héllo");
    let mut buf = [0u8; 16];
    let n = to_bytes(&s, &mut buf).unwrap();
    assert_eq!(from_bytes::<Str<8>>(&buf[..n]), Ok(s));
    assert!(from_bytes::<Str<4>>(&buf[..n]).is_err());
    assert!(from_bytes::<Str<8>>(&[2, 0xff, 0xfe]).is_err());
}

#[test]
fn list_round_trip_and_bound() {
    let mut l = List::<Bytes<4>, 3>::new();
    for k in [&b"a"[..], b"bb", b"ccc"] {
        l.push(Bytes::from_slice(k).unwrap()).unwrap();
    }
    assert!(l.is_full());
    assert!(l.push(Bytes::new()).is_err());
    let mut buf = [0u8; 32];
    let n = to_bytes(&l, &mut buf).unwrap();
    assert_eq!(from_bytes::<List<Bytes<4>, 3>>(&buf[..n]), Ok(l.clone()));
    assert!(from_bytes::<List<Bytes<4>, 2>>(&buf[..n]).is_err());
    assert!(from_bytes::<List<Bytes<2>, 3>>(&buf[..n]).is_err());
    assert_eq!(l.len(), 3);
}
