//! bench-ipc: the IPC benchmark. The root task of `images/bench-ipc.toml`
//! times `Call` + `ReplyRecv` round trips between two address spaces and
//! prints one line per variant, which `scripts/bench ipc` collects:
//!
//! ```text
//! bench: ipc_call_reply <arch> median_cycles=N min_cycles=N iters=N counter=rdtsc|rdcycle
//! bench: ipc_call_reply_same_as <arch> median_cycles=N min_cycles=N iters=N counter=...
//! ```
//!
//! Each round trip is the client (this thread) making a `Call` with one
//! message word on an endpoint and a server thread answering with
//! `ReplyRecv` (one word back: the word plus one, checked). After
//! [`WARMUP`] untimed round trips, each of [`ITERS`] round trips is timed on
//! its own with the cycle counter around the raw syscall
//! (`libipc::sys::arch::cycles`: x86_64 `lfence; rdtsc; lfence`, riscv64
//! `rdcycle`; under QEMU's TCG both count host time-stamp ticks, not guest
//! cycles). The samples are sorted in a
//! fixed array; median and minimum are printed. The server runs on the
//! client's scheduling context while it serves a call (donation), so a
//! round trip involves no scheduling decision. The benchmark never fails on a
//! slow result: an error line (`bench-ipc: error: ...`) appears only if a
//! step fails, and then no result line does.
//!
//! # The server's address space
//!
//! The first variant runs the server in a second address space: a new
//! VSpace with its own page tables, stack and IPC buffer. Its code is this
//! same program: the server thread starts at [`serve`] at the address it
//! has here. The root task holds no capabilities to the frames the kernel
//! loaded its image into, so the image is loaded again, with `os` (rint-os)
//! as init loads a server: the root task checks its own ELF, the archive
//! entry `init` (the boot archive is mapped read-only at
//! `root_layout::ARCHIVE`), and copies each loadable segment into fresh
//! frames (through `os`'s fill window in its own VSpace), which it then
//! maps at the segment's addresses with the segment's rights in the new
//! VSpace, as the kernel's loader did for the root task. Copying from the archive
//! rather than from the root task's own mapping gives the server pristine
//! statics (those of a freshly loaded program, not a snapshot of the
//! root's), needs no linker symbols, and reads only memory nothing writes.
//!
//! The server's CSpace is the root task's CNode (a copy of its cap), holding
//! an endpoint cap for the server (read-only). A CSpace of its own is not
//! possible yet: CPtrs resolve with a depth of 64 bits, which a new CNode
//! can only cover with a guard, and user space cannot set the guard of a
//! CNode cap (only the root CNode gets one, from the kernel). The lookup
//! cost is the same either way: one level.
//!
//! The server uses no IPC-buffer handle: messages of up to four words move
//! in registers, so its loop never touches the buffer (the kernel has one
//! registered for it all the same).
//!
//! The second variant, `ipc_call_reply_same_as`, is the baseline without an
//! address-space switch: the same server loop in a thread of the root task's
//! own VSpace, on a stack in its `.bss`.
//!
//! On the host this binary only says where it runs; [`stats`] has host
//! unit tests.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

#[cfg_attr(not(target_os = "none"), allow(dead_code))]
mod stats;

#[cfg(target_os = "none")]
mod space;

/// Untimed round trips before measuring.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub const WARMUP: usize = 1_000;
/// Timed round trips per variant.
#[cfg_attr(not(target_os = "none"), allow(dead_code))]
pub const ITERS: usize = 10_000;

#[cfg(target_os = "none")]
mod bench {
    use core::fmt;
    use core::sync::atomic::AtomicU64;

    use libipc::abi::{BootInfo, MessageInfo, Rights, Syscall, regs};
    use libipc::cap::{Cap, Endpoint, init};
    use libipc::sys::arch::{CYCLES_COUNTER, NAME, cycles};
    use libipc::sys::{check, syscall, yield_now};
    use os::Context;
    use rt::println;

    use crate::space;
    use crate::stats::{Summary, summarize};
    use crate::{ITERS, WARMUP};

    /// A failed step: building the threads (`os`), or the benchmark's own.
    #[derive(Debug)]
    pub enum Fail {
        Os(os::Error),
        Bench(&'static str),
    }

    impl From<os::Error> for Fail {
        fn from(e: os::Error) -> Fail {
            Fail::Os(e)
        }
    }

    impl fmt::Display for Fail {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Fail::Os(e) => e.fmt(f),
                Fail::Bench(what) => f.write_str(what),
            }
        }
    }

    pub type Res<T> = Result<T, Fail>;

    /// The message-info word of requests and replies: label 1, one word.
    const INFO: u64 = match MessageInfo::new(1, 1, 0) {
        Some(m) => m.raw(),
        None => 0,
    };

    /// The stack of the same-address-space server.
    const LOCAL_STACK_WORDS: usize = 2048;
    #[repr(align(16))]
    struct Stack([AtomicU64; LOCAL_STACK_WORDS]);
    static LOCAL_STACK: Stack = Stack([const { AtomicU64::new(0) }; LOCAL_STACK_WORDS]);

    pub fn main(boot: &'static BootInfo) {
        println!(
            "bench-ipc: {WARMUP} warm-up and {ITERS} timed Call+ReplyRecv round trips on {NAME}"
        );
        if let Err(f) = run(boot) {
            println!("bench-ipc: error: {f}");
        }
    }

    fn run(boot: &'static BootInfo) -> Res<()> {
        let mut env = space::env(boot)?;
        let mut samples = [0u64; ITERS];

        // Client and server in two address spaces.
        let elf = space::own_elf(boot)?;
        let (vs, pages) = space::image_space(&mut env, elf)?;
        println!("bench-ipc: server address space: {pages} image pages copied from the archive");
        let ep: Cap<Endpoint> = env.alloc(0)?;
        let server_ep = env.copy(ep, Rights::READ)?;
        let server = space::start_remote(&mut env, init::CNODE, vs, serve, server_ep)?;
        let s = measure(ep, &mut samples)?;
        report("ipc_call_reply", &s);
        server.suspend().op("ThreadSuspend")?;

        // The baseline: both threads in the root task's address space.
        let ep: Cap<Endpoint> = env.alloc(0)?;
        let server_ep = env.copy(ep, Rights::READ)?;
        let top = LOCAL_STACK.0.as_ptr_range().end as usize as u64;
        let server = space::start_local(&mut env, serve, top, server_ep)?;
        let s = measure(ep, &mut samples)?;
        report("ipc_call_reply_same_as", &s);
        server.suspend().op("ThreadSuspend")?;
        Ok(())
    }

    fn report(name: &str, s: &Summary) {
        println!("bench-ipc: {name}: max_cycles={} (includes timer interrupts)", s.max);
        println!(
            "bench: {name} {NAME} median_cycles={} min_cycles={} iters={} counter={CYCLES_COUNTER}",
            s.median, s.min, s.iters
        );
    }

    /// [`WARMUP`] round trips, then one timed round trip per sample.
    fn measure(ep: Cap<Endpoint>, samples: &mut [u64]) -> Res<Summary> {
        for i in 0..WARMUP {
            round_trip(ep, i as u64)?;
        }
        for (i, s) in samples.iter_mut().enumerate() {
            *s = round_trip(ep, i as u64)?;
        }
        summarize(samples).ok_or(Fail::Bench("no samples"))
    }

    /// One `Call` carrying `w`; returns the cycles it took. The server
    /// answers `w + 1`.
    #[inline(always)]
    fn round_trip(ep: Cap<Endpoint>, w: u64) -> Res<u64> {
        let mut args = [0u64; 6];
        args[regs::ARG_CPTR] = ep.slot();
        args[regs::ARG_INFO] = INFO;
        args[regs::ARG_MR0] = w;
        let t0 = cycles();
        let r = syscall(Syscall::Call, args);
        let t1 = cycles();
        check(r[regs::RES_ERROR]).op("Call")?;
        if r[regs::RES_MR0] != w.wrapping_add(1) {
            return Err(Fail::Bench("the server's reply is not the request plus one"));
        }
        Ok(t1.wrapping_sub(t0))
    }

    /// The server: answer every request on endpoint `ep` (a CPtr) with its
    /// first word plus one. Runs in either address space; touches no
    /// statics and never returns (the root task suspends it).
    pub extern "C" fn serve(ep: u64) -> ! {
        let mut r = syscall(Syscall::Recv, [ep, 0, 0, 0, 0, 0]);
        loop {
            if r[regs::RES_ERROR] != 0 {
                // Nothing to reply to; let the client run and wait again.
                yield_now();
                r = syscall(Syscall::Recv, [ep, 0, 0, 0, 0, 0]);
                continue;
            }
            let mut args = [0u64; 6];
            args[regs::ARG_CPTR] = ep;
            args[regs::ARG_INFO] = INFO;
            args[regs::ARG_MR0] = r[regs::RES_MR0].wrapping_add(1);
            r = syscall(Syscall::ReplyRecv, args);
        }
    }
}

#[cfg(target_os = "none")]
rt::entry!(bench::main);

#[cfg(not(target_os = "none"))]
fn main() {
    println!(
        "bench-ipc runs as the root task of a rint image: scripts/bench ipc (or cargo run -p rint-image -- run --image bench-ipc)"
    );
}
