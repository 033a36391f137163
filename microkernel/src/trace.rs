//! The event trace: a ring of the kernel's most recent events (context
//! switches, IPC, signals, interrupts, faults, thread state changes), each
//! with a timestamp, the CPU, the thread it concerns and up to three
//! details (`libipc::abi::TraceKind` says what they mean per kind).
//!
//! The ring is static kernel data inside [`crate::state::Kernel`], so the
//! big kernel lock guards it and recording is a handful of stores: no
//! allocation, no lock of its own, nothing that can fail. Every event gets
//! the next sequence number; when the ring is full the newest overwrites
//! the oldest, and a reader sees what it missed as a gap in the sequence
//! numbers (`TraceRead` says how many were lost).
//!
//! Time stamps are per kernel entry: the first event a kernel entry records
//! reads the clock, the others of the same entry (a call and the switch it
//! causes, say) share that time, and the way out of the kernel
//! (`Kernel::ran`) clears it. A round trip through the IPC fastpath records
//! five events but reads the clock twice: a clock read (on riscv64 a CSR
//! read and a 128-bit multiply in the hal) costs more than the rest of
//! recording.
//! Within one time stamp, the sequence numbers give the order.
//!
//! User space reads the ring through the trace capability the root task
//! gets (`object::trace`). With `rint.trace` on the command line the kernel
//! also prints it as CSV on the serial console when the machine stops
//! through `rint.exit_on_idle` ([`dump`]); `tools/trace` turns such a log
//! into Chrome/Perfetto trace JSON. The CSV format is documented in
//! `docs/kernel.md` ("The event trace").

use crate::kprintln;
use crate::state::Kernel;
use core::sync::atomic::{AtomicU64, Ordering};
use hal::{Arch, Cpu, Timer};
use libipc::abi::TraceKind;
use libipc::abi::trace::{EVENT_WORDS, Event, info_word};

/// Events the ring holds: a power of two, so a sequence number's slot is a
/// mask away.
pub const CAPACITY: usize = 8192;
const _: () = assert!(CAPACITY.is_power_of_two());

/// How many events to print when the machine stops (`rint.trace`: all of
/// them, `rint.trace=N`: the newest N; 0: no dump).
pub static DUMP_EVENTS: AtomicU64 = AtomicU64::new(0);
/// The root task's thread, named `init` in the dump.
pub static ROOT_THREAD: AtomicU64 = AtomicU64::new(0);

pub struct Ring {
    /// Event `seq` sits at `seq % CAPACITY`: time_ns, info, thread, a, b
    /// (`libipc::abi::trace`).
    events: [[u64; EVENT_WORDS]; CAPACITY],
    /// The sequence number the next event gets.
    next: u64,
}

impl Ring {
    pub const fn new() -> Ring {
        Ring { events: [[0; EVENT_WORDS]; CAPACITY], next: 0 }
    }

    /// Record one event: its words (time_ns, info, thread, a, b).
    #[inline]
    pub fn record(&mut self, words: [u64; EVENT_WORDS]) {
        let seq = self.next;
        self.events[seq as usize & (CAPACITY - 1)] = words;
        self.next = seq.wrapping_add(1);
    }

    /// The sequence number the next event gets.
    pub fn next(&self) -> u64 {
        self.next
    }

    /// The oldest sequence number still in the ring.
    pub fn oldest(&self) -> u64 {
        self.next.saturating_sub(CAPACITY as u64)
    }

    /// The words of event `seq`, if it is still in the ring.
    pub fn get(&self, seq: u64) -> Option<&[u64; EVENT_WORDS]> {
        if seq < self.oldest() || seq >= self.next {
            return None;
        }
        self.events.get(seq as usize & (CAPACITY - 1))
    }
}

impl Kernel {
    /// Record a trace event on this CPU, stamped with this kernel entry's
    /// time (meanings of `thread`, `a`, `b`, `c` per kind in `TraceKind`).
    #[inline]
    pub fn event(&mut self, kind: TraceKind, thread: u64, a: u64, b: u64, c: u32) {
        let cpu = <Arch as Cpu>::id();
        let now = stamp(&mut self.cpu().stamp);
        self.trace.record([now, info_word(kind, cpu as u8, c), thread, a, b]);
    }
}

/// This kernel entry's time stamp `s`, read from the clock if it has none
/// yet (0). Out of line: it keeps the recording inlined at each call site
/// to a few stores.
#[inline(never)]
fn stamp(s: &mut u64) -> u64 {
    if *s == 0 {
        *s = Arch::now_ns().max(1);
    }
    *s
}

/// Print the newest `limit` events of `ring` as CSV (`rint.trace`): a
/// summary line, the root task's name, a header, one line per event (oldest
/// first) and an end line with the number of events printed.
///
/// ```text
/// kernel: trace: N events, seq F..L (rint.trace)
/// trace-name,0x<thread>,init
/// trace,seq,time_ns,cpu,kind,thread,a,b,c
/// trace,<seq>,<time_ns>,<cpu>,<kind>,0x<thread>,0x<a>,0x<b>,0x<c>
/// trace-end,N
/// ```
pub fn dump(ring: &Ring, limit: u64) {
    let next = ring.next();
    let first = ring.oldest().max(next.saturating_sub(limit));
    kprintln!("kernel: trace: {} events, seq {}..{} (rint.trace)", next - first, first, next);
    let root = ROOT_THREAD.load(Ordering::Relaxed);
    if root != 0 {
        kprintln!("trace-name,{:#x},init", root);
    }
    kprintln!("trace,seq,time_ns,cpu,kind,thread,a,b,c");
    for seq in first..next {
        let Some(w) = ring.get(seq) else { continue };
        let e = Event::from_words(seq, w);
        kprintln!(
            "trace,{},{},{},{},{:#x},{:#x},{:#x},{:#x}",
            e.seq,
            e.time_ns,
            e.cpu,
            e.kind().map_or("unknown", TraceKind::as_str),
            e.thread,
            e.a,
            e.b,
            e.c
        );
    }
    kprintln!("trace-end,{}", next - first);
}
