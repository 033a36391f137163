//! rint kernel core: pure algorithms the kernel runs, split out so they are
//! tested on the host (in progress).
#![no_std]
#![forbid(unsafe_code)]
