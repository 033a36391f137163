//! Starting a thread in a space built with [`crate::Space`].

use libipc::cap::{CNode, Cap, Endpoint, Frame, Thread, VSpace};

use crate::arch::{Start, initial_regs};
use crate::elf::Machine;
use crate::env::Env;
use crate::{Context, Result};

/// Everything a new thread needs.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The CSpace root it resolves CPtrs in (a CNode cap whose guard makes
    /// its CPtrs plain slot indices: [`guard_for_radix`]).
    pub cspace: Cap<CNode>,
    pub vspace: Cap<VSpace>,
    /// Its IPC buffer: a 4 KiB frame mapped read-write at `ipc_va` in
    /// `vspace`.
    pub ipc_frame: Cap<Frame>,
    pub ipc_va: u64,
    /// Where its faults go (with this cap's badge), if anywhere.
    pub fault_ep: Option<Cap<Endpoint>>,
    /// Its initial registers.
    pub start: Start,
}

/// The guard data (a `CNodeMint` badge) that makes a CNode of `radix`
/// bits a CSpace root whose CPtrs are plain slot indices: a guard of
/// `64 - radix` zero bits.
pub const fn guard_for_radix(radix: u8) -> u64 {
    (64 - radix as u64) & 0x3f
}

/// Configure `tcb` as `spec` says and start it.
pub fn start(tcb: Cap<Thread>, spec: &Spec) -> Result<()> {
    prepare(tcb, spec, true)
}

/// Configure `tcb` as `spec` says; start it if `resume`, else leave it
/// stopped until a `ThreadResume`.
pub fn prepare(tcb: Cap<Thread>, spec: &Spec, resume: bool) -> Result<()> {
    tcb.configure(spec.cspace, spec.vspace, spec.ipc_frame, spec.ipc_va).op("ThreadConfigure")?;
    tcb.set_fault_endpoint(spec.fault_ep).op("ThreadSetFaultEndpoint")?;
    let (regs, n) = initial_regs(Machine::native(), &spec.start);
    tcb.write_registers(resume, regs.get(..n).unwrap_or(&[])).op("ThreadWriteRegisters")
}

/// A new thread from `env`'s memory, configured and started.
pub fn spawn(env: &mut Env, spec: &Spec) -> Result<Cap<Thread>> {
    let tcb: Cap<Thread> = env.alloc(0)?;
    start(tcb, spec)?;
    Ok(tcb)
}
