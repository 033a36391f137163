//! Channels: fill and drain, wrap-around, full and empty, hostile headers
//! and indices, and two threads at full speed.

extern crate std;

use core::sync::atomic::{AtomicU64, Ordering};
use std::vec::Vec;

use crate::proto::Bytes;
use crate::proto::channel::*;

fn region(ring_words: usize) -> Vec<AtomicU64> {
    let r: Vec<AtomicU64> = (0..HEADER_WORDS + ring_words).map(|_| AtomicU64::new(0)).collect();
    init(&r).unwrap();
    r
}

fn ring_word(r: &[AtomicU64], i: usize) -> &AtomicU64 {
    &r[HEADER_WORDS + i]
}

#[test]
fn too_small_regions() {
    let r: Vec<AtomicU64> = (0..HEADER_WORDS + 1).map(|_| AtomicU64::new(0)).collect();
    assert_eq!(Producer::new(&r).err(), Some(ChannelError::RegionTooSmall));
    assert_eq!(Consumer::new(&r).err(), Some(ChannelError::RegionTooSmall));
    assert_eq!(init(&r[..3]), Err(ChannelError::RegionTooSmall));
}

#[test]
fn fill_and_drain() {
    let r = region(32);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    assert!(c.is_empty());
    assert_eq!(c.pop::<u64>(), Ok(None));
    // A u64 as postcard varint: up to 10 bytes, 1 + 2 words a frame.
    let mut n = 0u64;
    while p.push(&(u64::MAX - n)).is_ok() {
        n += 1;
    }
    assert_eq!(n, 10); // 32 words / 3
    assert_eq!(p.push(&u64::MAX), Err(ChannelError::Full));
    for i in 0..n {
        assert_eq!(c.pop::<u64>(), Ok(Some(u64::MAX - i)));
    }
    assert_eq!(c.pop::<u64>(), Ok(None));
    assert!(c.is_empty());
    assert_eq!(p.push(&1u64), Ok(()));
}

#[test]
fn wrap_around_with_padding() {
    let r = region(10);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    // Frames of 3 words (16 bytes): 3 fit, the 4th needs the 1 word left
    // padded and word 0 free.
    let f = |i: u8| Bytes::<15>::from_slice(&[i; 15]).unwrap();
    for round in 0..100u8 {
        p.push(&f(round)).unwrap();
        p.push(&f(round.wrapping_add(1))).unwrap();
        assert_eq!(c.pop::<Bytes<15>>(), Ok(Some(f(round))));
        assert_eq!(c.pop::<Bytes<15>>(), Ok(Some(f(round.wrapping_add(1)))));
        assert_eq!(c.pop::<Bytes<15>>(), Ok(None));
    }
    // With unread frames, a frame that would need the padded space waits.
    p.push(&f(1)).unwrap();
    p.push(&f(2)).unwrap();
    p.push(&f(3)).unwrap();
    assert_eq!(p.push(&f(4)), Err(ChannelError::Full));
    assert_eq!(c.pop::<Bytes<15>>(), Ok(Some(f(1))));
    p.push(&f(4)).unwrap();
    for i in 2..=4 {
        assert_eq!(c.pop::<Bytes<15>>(), Ok(Some(f(i))));
    }
}

#[test]
fn frame_sizes() {
    let r = region(8);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    // 8 words: the largest frame is 7 payload words.
    assert_eq!(p.push_bytes(&[1; 57]), Err(ChannelError::TooLarge));
    p.push_bytes(&[1; 56]).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(c.pop_into(&mut buf), Ok(Some(56)));
    p.push_bytes(&[]).unwrap();
    assert_eq!(c.pop_into(&mut buf), Ok(Some(0)));
    // A frame longer than the reader's buffer is skipped and reported.
    p.push_bytes(&[2; 20]).unwrap();
    p.push_bytes(&[3; 4]).unwrap();
    assert_eq!(c.pop_into(&mut buf[..10]), Err(ChannelError::TooLarge));
    assert_eq!(c.pop_into(&mut buf), Ok(Some(4)));
    assert_eq!(&buf[..4], &[3; 4]);
    let big = region(1024);
    let mut p = Producer::new(&big).unwrap();
    assert_eq!(p.push_bytes(&[0; FRAME_MAX + 1]), Err(ChannelError::TooLarge));
    assert_eq!(
        p.push(&Bytes::<5000>::from_slice(&[0; 5000]).unwrap()),
        Err(ChannelError::TooLarge)
    );
}

#[test]
fn undecodable_frames_are_skipped() {
    let r = region(16);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    p.push(&300u32).unwrap();
    p.push(&7u8).unwrap();
    assert_eq!(c.pop::<u8>(), Err(ChannelError::Decode));
    assert_eq!(c.pop::<u8>(), Ok(Some(7)));
}

/// A consumer that sees `corrupt` applied to the ring after one valid push
/// reports Corrupt, and keeps reporting it.
fn consumer_rejects(corrupt: impl Fn(&[AtomicU64])) {
    let r = region(16);
    let mut p = Producer::new(&r).unwrap();
    p.push(&Bytes::<12>::from_slice(b"hello world!").unwrap()).unwrap();
    corrupt(&r);
    let mut c = Consumer::new(&r).unwrap();
    assert_eq!(c.pop::<Bytes<12>>(), Err(ChannelError::Corrupt));
    assert_eq!(c.pop::<Bytes<12>>(), Err(ChannelError::Corrupt));
    assert!(!c.is_empty());
}

#[test]
fn hostile_producer() {
    // head beyond tail + cap.
    consumer_rejects(|r| r[HEAD].store(17, Ordering::Relaxed));
    consumer_rejects(|r| r[HEAD].store(u64::MAX, Ordering::Relaxed));
    // A frame longer than what was published.
    consumer_rejects(|r| ring_word(r, 0).store(40, Ordering::Relaxed));
    // A frame running past the end of the ring.
    consumer_rejects(|r| {
        ring_word(r, 0).store(200, Ordering::Relaxed);
        r[HEAD].store(16, Ordering::Relaxed);
    });
    // A length over FRAME_MAX.
    consumer_rejects(|r| {
        ring_word(r, 0).store(u32::MAX as u64 - 1, Ordering::Relaxed);
        r[HEAD].store(16, Ordering::Relaxed);
    });
    // The wrong sequence number.
    consumer_rejects(|r| {
        let h = ring_word(r, 0).load(Ordering::Relaxed);
        ring_word(r, 0).store(h | 5 << 32, Ordering::Relaxed);
    });
    // A pad at word 0.
    consumer_rejects(|r| ring_word(r, 0).store(u32::MAX as u64, Ordering::Relaxed));
}

#[test]
fn hostile_pads() {
    // A pad whose skip runs past the published head.
    let r = region(16);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    p.push_bytes(&[1; 8]).unwrap(); // words 0..2
    assert_eq!(c.pop_into(&mut [0; 8]), Ok(Some(8)));
    ring_word(&r, 2).store(u64::from(u32::MAX) | 1 << 32, Ordering::Relaxed);
    r[HEAD].store(4, Ordering::Relaxed);
    assert_eq!(c.pop_into(&mut [0; 8]), Err(ChannelError::Corrupt));
    // A pad followed by another pad.
    let r = region(16);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    p.push_bytes(&[1; 8]).unwrap();
    assert_eq!(c.pop_into(&mut [0; 8]), Ok(Some(8)));
    ring_word(&r, 2).store(u64::from(u32::MAX) | 1 << 32, Ordering::Relaxed);
    ring_word(&r, 0).store(u64::from(u32::MAX) | 1 << 32, Ordering::Relaxed);
    r[HEAD].store(16 + 2, Ordering::Relaxed);
    assert_eq!(c.pop_into(&mut [0; 8]), Err(ChannelError::Corrupt));
}

#[test]
fn hostile_consumer() {
    let r = region(16);
    let mut p = Producer::new(&r).unwrap();
    p.push(&1u8).unwrap();
    // tail ahead of head.
    r[TAIL].store(5, Ordering::Relaxed);
    assert_eq!(p.push(&1u8), Err(ChannelError::Corrupt));
    r[TAIL].store(0, Ordering::Relaxed);
    // Broken for good.
    assert_eq!(p.push(&1u8), Err(ChannelError::Corrupt));
    assert_eq!(p.push_bytes(&[1]), Err(ChannelError::Corrupt));
}

#[test]
fn random_hostile_rings_never_panic() {
    let mut rng = super::XorShift(0xfeed_f00d_dead_beef);
    for _ in 0..5_000 {
        let words = 2 + rng.below(40) as usize;
        let r = region(words);
        for w in r.iter() {
            if rng.below(3) == 0 {
                w.store(rng.next() >> rng.below(64), Ordering::Relaxed);
            }
        }
        let mut c = Consumer::new(&r).unwrap();
        let mut buf = [0u8; 64];
        for _ in 0..4 {
            let _ = c.pop_into(&mut buf);
            let _ = c.pop::<(u8, Bytes<32>)>();
        }
        let mut p = Producer::new(&r).unwrap();
        for _ in 0..4 {
            let _ = p.push(&(1u8, 2u64));
        }
    }
}

#[test]
fn two_threads_stress() {
    const FRAMES: u32 = 200_000;
    // An odd ring size, so frames land everywhere and pads happen.
    let r = region(61);
    let mut p = Producer::new(&r).unwrap();
    let mut c = Consumer::new(&r).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..FRAMES {
                let len = (i % 40) as usize;
                let v = (i, Bytes::<40>::from_slice(&[i as u8; 40][..len]).unwrap());
                loop {
                    match p.push(&v) {
                        Ok(()) => break,
                        Err(ChannelError::Full) => std::thread::yield_now(),
                        Err(e) => panic!("push {i}: {e:?}"),
                    }
                }
            }
        });
        s.spawn(move || {
            let mut next = 0u32;
            while next < FRAMES {
                match c.pop::<(u32, Bytes<40>)>() {
                    Ok(Some((i, b))) => {
                        assert_eq!(i, next);
                        assert_eq!(b.len(), (i % 40) as usize);
                        assert!(b.iter().all(|&x| x == i as u8));
                        next += 1;
                    }
                    Ok(None) => std::thread::yield_now(),
                    Err(e) => panic!("pop {next}: {e:?}"),
                }
            }
            assert_eq!(c.pop::<(u32, Bytes<40>)>(), Ok(None));
        });
    });
}
