//! The SchedControl capability: the authority to set threads' scheduling
//! parameters. It names no object (the policy is kernel data); the root
//! task gets it in `slots::SCHED_CONTROL` and may copy it to whoever should
//! set parameters. Without it a thread cannot change any context, its own
//! included: holding a thread's cap is not enough to raise its share.
//!
//! `SchedControlConfigure` (c0: thread; w: class, budget_ns, period_ns,
//! deadline_ns, quantum_ns, flags; `libipc::abi::sched`) checks every word,
//! then sets the thread's own context through the policy's `set_params`,
//! which runs admission for EDF: a refusal is `NoBandwidth` and changes
//! nothing.

use crate::object::Call;
use crate::state::{DEFAULT_QUANTUM_NS, Kernel};
use libipc::abi::{CapType, Error, Rights, TraceKind, sched as abi};
use sched::{Params, Reservation};

/// Shortest budget, deadline, period or quantum accepted: a context cannot
/// make the timer fire more often than this.
pub const MIN_TIME_NS: u64 = 10_000;

/// The words of a `SchedControlConfigure`, checked: the policy's parameters.
pub fn decode(w: &abi::Params) -> Result<Params, Error> {
    if w.flags & !abi::FLAGS_ALL != 0 {
        return Err(Error::InvalidArgument);
    }
    let in_range = |v: u64| (MIN_TIME_NS..=abi::MAX_TIME_NS).contains(&v);
    let adaptive = w.flags & abi::FLAG_ADAPTIVE != 0;
    let p = match w.class {
        abi::CLASS_EDF => {
            let deadline = if w.deadline_ns == 0 { w.period_ns } else { w.deadline_ns };
            let r = Reservation::new(w.budget_ns, w.period_ns, deadline);
            if !in_range(r.budget) || !in_range(r.period) || !in_range(r.deadline) || !r.is_valid()
            {
                return Err(Error::InvalidArgument);
            }
            Params::edf(r)
        }
        abi::CLASS_RR => {
            let q = if w.quantum_ns == 0 { DEFAULT_QUANTUM_NS } else { w.quantum_ns };
            if !in_range(q) {
                return Err(Error::InvalidArgument);
            }
            Params::rr(q)
        }
        _ => return Err(Error::InvalidArgument),
    };
    Ok(p.adaptive(adaptive))
}

pub fn configure(k: &mut Kernel, call: &Call<'_>) -> Result<(), Error> {
    if !call.cap.rights().contains(Rights::WRITE) {
        return Err(Error::InsufficientRights);
    }
    let mut words = [0u64; 6];
    for (i, w) in words.iter_mut().enumerate() {
        *w = call.arg(i)?;
    }
    let w = abi::Params::from_words(&words);
    let params = decode(&w)?;
    let (_, thread) = call.extra_typed(0, CapType::Thread)?;
    k.sc_configure(thread.addr(), params)?;
    let (a, b) = match params.class {
        sched::Class::Edf(r) => (r.budget, r.period),
        sched::Class::Rr { quantum } => (quantum, 0),
    };
    k.event(TraceKind::SchedConfigure, thread.addr(), a, b, w.class as u32);
    Ok(())
}
