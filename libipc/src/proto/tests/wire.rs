use crate::abi::MSG_MAX_WORDS;
use crate::proto::wire::*;
use crate::proto::{Bytes, ProtoError};
use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Sample {
    a: u32,
    b: Bytes<16>,
    c: Option<i64>,
}

fn sample() -> Sample {
    Sample { a: 0xdead_beef, b: Bytes::from_slice(b"hello").unwrap(), c: Some(-5) }
}

#[test]
fn header_word_round_trips() {
    let h = Header::new(952, 0x1234_5678);
    assert_eq!(Header::from_word(h.to_word()), Ok(h));
    assert_eq!(h.words(), 120);
    assert_eq!(Header::new(0, 1).words(), 1);
    assert_eq!(Header::new(9, 1).words(), 3);
}

#[test]
fn header_rejects_reserved_bits_and_long_lengths() {
    assert_eq!(Header::from_word(1 << 16), Err(ProtoError::BadRequest));
    assert_eq!(Header::from_word(1 << 31), Err(ProtoError::BadRequest));
    assert_eq!(Header::from_word(PAYLOAD_MAX as u64 + 1), Err(ProtoError::BadRequest));
    assert_eq!(Header::from_word(0xffff), Err(ProtoError::BadRequest));
}

#[test]
fn pack_unpack_round_trip_every_length() {
    let src: [u8; 40] = core::array::from_fn(|i| i as u8 + 1);
    for len in 0..=40 {
        let mut words = [0u64; 5];
        let n = pack(&src[..len], &mut words).unwrap();
        assert_eq!(n, len.div_ceil(8));
        let mut out = [0u8; 40];
        unpack(&words[..n], len, &mut out).unwrap();
        assert_eq!(&out[..len], &src[..len]);
    }
}

#[test]
fn pack_is_little_endian() {
    let mut w = [0u64; 2];
    assert_eq!(pack(&[1, 2, 3, 4, 5, 6, 7, 8, 9], &mut w), Ok(2));
    assert_eq!(w, [0x0807_0605_0403_0201, 9]);
}

#[test]
fn unpack_rejects_nonzero_padding_and_wrong_word_counts() {
    let mut out = [0u8; 16];
    assert_eq!(unpack(&[0x0100], 1, &mut out), Err(ProtoError::BadRequest));
    assert_eq!(unpack(&[1, 0], 1, &mut out), Err(ProtoError::BadRequest));
    assert_eq!(unpack(&[], 1, &mut out), Err(ProtoError::BadRequest));
    assert_eq!(unpack(&[1, 2, 3], 17, &mut out), Err(ProtoError::BadRequest));
    assert_eq!(unpack(&[1], 1, &mut out), Ok(()));
}

#[test]
fn message_round_trip() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = encode(7, &sample(), &mut words).unwrap();
    let (h, v): (Header, Sample) = decode(&words[..n]).unwrap();
    assert_eq!(h.version, 7);
    assert_eq!(h.words(), n);
    assert_eq!(v, sample());
}

#[test]
fn unit_and_empty_messages() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = encode(1, &(), &mut words).unwrap();
    assert_eq!(n, 1);
    assert_eq!(words[0], 1 << 32);
    let (_, ()) = decode::<()>(&words[..1]).unwrap();
    assert_eq!(decode::<()>(&[]), Err(ProtoError::BadRequest));
}

#[test]
fn every_truncation_is_an_error() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = encode(1, &sample(), &mut words).unwrap();
    for cut in 0..n {
        assert_eq!(decode::<Sample>(&words[..cut]), Err(ProtoError::BadRequest), "cut {cut}");
    }
    // A header that claims fewer bytes than the payload holds.
    let mut short = words;
    short[0] = Header::new(Header::from_word(words[0]).unwrap().len - 1, 1).to_word();
    assert!(decode::<Sample>(&short[..n]).is_err());
}

#[test]
fn trailing_bytes_are_an_error() {
    // A u8 followed by garbage the header still counts.
    let mut words = [0u64; 2];
    words[0] = Header::new(3, 1).to_word();
    words[1] = 0x03_02_05;
    assert_eq!(decode::<u8>(&words), Err(ProtoError::BadRequest));
    words[0] = Header::new(1, 1).to_word();
    words[1] = 5;
    assert_eq!(decode::<u8>(&words), Ok((Header::new(1, 1), 5)));
}

#[test]
fn garbage_never_panics() {
    let mut rng = super::XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20_000 {
        let n = rng.below(MSG_MAX_WORDS as u64 + 1) as usize;
        let mut words = [0u64; MSG_MAX_WORDS];
        for w in words.iter_mut().take(n) {
            *w = rng.next();
        }
        // Make some headers plausible so postcard itself gets garbage.
        if n > 0 && rng.below(2) == 0 {
            let len = rng.below((n as u64 - 1) * 8 + 1) as usize;
            words[0] = Header::new(len, 1).to_word();
        }
        let _ = decode::<Sample>(&words[..n]);
        let _ = decode::<(u8, Bytes<952>, Option<bool>)>(&words[..n]);
    }
}

#[test]
fn max_size_fits_and_one_more_does_not() {
    // Bytes<N> costs its length prefix (2 bytes for 128..16383) plus N.
    let max = Bytes::<{ PAYLOAD_MAX - 2 }>::from_slice(&[0xab; PAYLOAD_MAX - 2]).unwrap();
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = encode(1, &max, &mut words).unwrap();
    assert_eq!(n, MSG_MAX_WORDS);
    let (h, back) = decode::<Bytes<{ PAYLOAD_MAX - 2 }>>(&words).unwrap();
    assert_eq!(h.len, PAYLOAD_MAX);
    assert_eq!(back, max);

    let over = Bytes::<{ PAYLOAD_MAX - 1 }>::from_slice(&[1; PAYLOAD_MAX - 1]).unwrap();
    assert_eq!(encode(1, &over, &mut words), Err(ProtoError::TooLarge));
    // An output too short for the message.
    let mut short = [0u64; 2];
    assert_eq!(encode(1, &sample(), &mut short), Err(ProtoError::TooLarge));
    assert_eq!(encode(1, &(), &mut []), Err(ProtoError::TooLarge));
}

#[test]
fn decode_payload_takes_words_and_byte_length() {
    let mut bytes = [0u8; 64];
    let len = to_bytes(&sample(), &mut bytes).unwrap();
    let mut words = [0u64; 8];
    let n = pack(&bytes[..len], &mut words).unwrap();
    assert_eq!(decode_payload::<Sample>(&words[..n], len), Ok(sample()));
    assert!(decode_payload::<Sample>(&words[..n], len - 1).is_err());
    assert_eq!(decode_payload::<Sample>(&words, PAYLOAD_MAX + 1), Err(ProtoError::TooLarge));
}

#[test]
fn frame_can_be_borrowed_from() {
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = encode(1, &("borrowed", 3u8), &mut words).unwrap();
    let f = Frame::from_words(&words[..n]).unwrap();
    let (s, x): (&str, u8) = f.decode().unwrap();
    assert_eq!((s, x), ("borrowed", 3));
}

#[test]
fn replies_carry_status_in_the_label() {
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    enum E {
        P(ProtoError),
    }
    impl From<ProtoError> for E {
        fn from(p: ProtoError) -> E {
            E::P(p)
        }
    }
    let mut out = [0u64; MSG_MAX_WORDS];
    let r = reply::<u32, E>(4, &Ok(9), &mut out);
    assert_eq!(r.label, REPLY_OK);
    assert_eq!(decode::<u32>(&out[..r.len]).unwrap().1, 9);
    let r = reply::<u32, E>(4, &Err(E::P(ProtoError::UnknownOp)), &mut out);
    assert_eq!(r.label, REPLY_ERR);
    assert_eq!(decode::<E>(&out[..r.len]).unwrap().1, E::P(ProtoError::UnknownOp));
    // A reply too large for a message becomes a TooLarge error reply.
    let big = Bytes::<2000>::from_slice(&[0; 2000]).unwrap();
    let r = reply::<_, E>(4, &Ok(big), &mut out);
    assert_eq!(r.label, REPLY_ERR);
    assert_eq!(decode::<E>(&out[..r.len]).unwrap().1, E::P(ProtoError::TooLarge));
}
