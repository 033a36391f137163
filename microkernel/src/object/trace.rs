//! The trace capability: the right to read the kernel's event trace
//! (`crate::trace`). It names no object (the ring is kernel data); the
//! root task gets it in `slots::TRACE` and may copy it (with fewer rights)
//! to whoever should read the trace.
//!
//! `TraceRead` (w: start) returns the events from sequence number `start`
//! on, oldest first, as many as one message holds, behind three header
//! words (next, lost, count): the layout is `libipc::abi::trace`'s.

use crate::ipc::{Message, ipc_buffer};
use crate::object::Call;
use crate::state::Kernel;
use libipc::abi::trace::MAX_EVENTS_PER_READ;
use libipc::abi::{Error, Rights};

pub fn read(k: &Kernel, call: &Call<'_>, reply: &mut Message) -> Result<(), Error> {
    if !call.cap.rights().contains(Rights::READ) {
        return Err(Error::InsufficientRights);
    }
    let start = call.arg(0)?;
    // The events travel in the IPC buffer: without one only the header
    // would arrive.
    if ipc_buffer(call.caller).is_none() {
        return Err(Error::InvalidArgument);
    }
    let ring = &k.trace;
    let (next, oldest) = (ring.next(), ring.oldest());
    let (first, lost) = if start >= next {
        (next, 0)
    } else if start < oldest {
        (oldest, oldest - start)
    } else {
        (start, 0)
    };
    let count = (next - first).min(MAX_EVENTS_PER_READ as u64);
    reply.push(first + count);
    reply.push(lost);
    reply.push(count);
    for seq in first..first + count {
        if let Some(words) = ring.get(seq) {
            words.iter().for_each(|w| reply.push(*w));
        }
    }
    Ok(())
}
