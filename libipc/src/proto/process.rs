//! `process`: the process server (`servers/process`, `docs/memory.md`). It
//! creates processes from the ELF files its manifest entry lists, with
//! arguments and environment; a process's heap and stack are paged by the
//! memory server, and all its memory comes back when it ends.
//!
//! | op | arguments | returns | errors |
//! |---|---|---|---|
//! | 1 `spawn` | program (a file name), args and environment, memory quota, whether to start suspended | pid and memory space | `NotFound`, `BadElf`, `NoMemory`, `TooMany`, `MemoryServer` |
//! | 2 `resume` | pid | nothing | `NoSuchProcess`, `NotPermitted`, `NotSuspended` |
//! | 3 `status` | pid | `Status` | `NoSuchProcess`, `NotPermitted` |
//! | 4 `wait` | pid | its `Exit` (and the pid is gone) | `StillRunning`, `NoSuchProcess`, `NotPermitted` |
//! | 5 `watch` | pid; a notification cap with the call | nothing: the notification is signalled when it exits | `NoCap`, `NoSuchProcess`, `NotPermitted`, `TooMany` |
//! | 6 `kill` | pid | nothing | `NoSuchProcess`, `NotPermitted` |
//! | 7 `stats` | none | `Stats` | none |
//!
//! **Callers.** Servers whose manifest entry `needs` "process" call
//! through an unbadged cap; every process the server spawns gets a cap
//! badged with its pid (named "process" in its start info), so processes
//! can spawn processes. A process may resume, wait for, watch and kill
//! the processes it spawned; unbadged callers those spawned through
//! unbadged caps.
//!
//! **Waiting.** A server answers one call at a time and the kernel keeps
//! one caller per server thread, so `wait` does not block in the server: it
//! answers `StillRunning` until the process has ended. To block, a client
//! `watch`es the pid with a notification and waits on it between `wait`s
//! ([`wait_blocking`] on bare metal).
//!
//! **Exit.** A process ends by returning from `main` or `rt::exit_with`
//! (the runtime's `init` protocol `exit`, which the process server serves
//! on the cap in the process's slot 4), by a panic (code 101), by a fault
//! the memory server does not serve (code [`EXIT_FAULT`], or
//! [`EXIT_NO_MEMORY`] when its quota ran out), or by `kill`
//! ([`EXIT_KILLED`]). Its exit stays until a `wait` collects it.

use serde::{Deserialize, Serialize};

use super::Str;
pub use crate::start::{Arg, Args, EnvVar};

/// A process id: 1, 2, 3 ... never reused while the server runs.
pub type Pid = u32;
/// A program: the name of a file the server's manifest entry lists.
pub type Program = crate::plan::Name;

/// The exit code of a killed process.
pub const EXIT_KILLED: i32 = -9;
/// The exit code of a process stopped by a fault nobody served.
pub const EXIT_FAULT: i32 = -11;
/// The exit code of a process whose memory quota ran out on a page fault.
pub const EXIT_NO_MEMORY: i32 = -12;

/// Longest exit message, in bytes.
pub const MESSAGE_MAX: usize = 120;
pub type Message = Str<MESSAGE_MAX>;

/// What `spawn` made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spawned {
    pub pid: Pid,
    /// Its address space's id at the memory server (to `shm_grant` it
    /// shared memory).
    pub space: u64,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// It exited (returned from `main`, `rt::exit_with`, a panic).
    Exited,
    /// `kill`.
    Killed,
    /// A fault nobody served (the message says which).
    Faulted,
    /// A page fault its memory quota had no room for.
    OutOfMemory,
}

/// A process's end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub code: i32,
    pub cause: Cause,
    /// Its exit message, or what the fault was.
    pub message: Message,
}

/// Where a process is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Built, not started yet (`spawn` with `suspended`).
    Suspended,
    Running,
    Exited(Exit),
}

/// The server's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Processes running or suspended.
    pub live: u32,
    /// Ended, not yet waited for.
    pub zombies: u32,
    /// Spawned since the server started.
    pub spawned: u64,
    /// The server's own pool (CNodes, threads, images): free and total
    /// bytes.
    pub pool_free: u64,
    pub pool_total: u64,
}

crate::protocol! {
    name = "process", version = 1;
    errors {
        /// No program file of that name.
        NotFound = 1,
        /// The program file is not an ELF executable the server runs
        /// (the server prints why).
        BadElf = 2,
        /// The server's pool has no room for the process.
        NoMemory = 3,
        /// No process with that pid (or it was waited for already).
        NoSuchProcess = 4,
        /// It has not ended yet.
        StillRunning = 5,
        /// Not a process the caller spawned.
        NotPermitted = 6,
        /// The process table (or the watch table) is full.
        TooMany = 7,
        /// `resume` of a process that is not suspended.
        NotSuspended = 8,
        /// `watch` arrived without a notification cap.
        NoCap = 9,
        /// The memory server refused the process's address space.
        MemoryServer = 10,
    }
    ops {
        /// Create a process running `program` with `args` and a memory
        /// quota of `memory` bytes at the memory server (0: the default),
        /// started unless `suspended`.
        1 spawn(program: Program, args: Args, memory: u64, suspended: bool) -> Spawned, once;
        /// Start a process spawned suspended.
        2 resume(pid: Pid) -> (), idempotent;
        /// Where it is.
        3 status(pid: Pid) -> Status, idempotent;
        /// Its exit, once it has ended (`StillRunning` before); the pid is
        /// then gone.
        4 wait(pid: Pid) -> Exit, once;
        /// Signal the notification sent with the call when it ends (at
        /// once if it has).
        5 watch(pid: Pid) -> (), once;
        /// End it now (exit code `EXIT_KILLED`).
        6 kill(pid: Pid) -> (), idempotent;
        /// The server's counters.
        7 stats() -> Stats, idempotent;
    }
}

/// Wait until process `pid` ends and collect its exit (bare metal):
/// `watch` it with `ntfn` (any bits of it may be set: it is waited on until
/// `wait` stops answering `StillRunning`). `ep` needs `GRANT`.
#[cfg(target_os = "none")]
pub fn wait_blocking(
    ep: crate::cap::Cap<crate::cap::Endpoint>,
    pid: Pid,
    ntfn: crate::cap::Cap<crate::cap::Notification>,
) -> Result<Exit, Error> {
    let caps = [ntfn.cptr()];
    Client::new(super::grant::WithCaps::new(ep, &caps)).watch(pid)?;
    let mut c = Client::connect(ep);
    loop {
        match c.wait(pid) {
            Err(Error::StillRunning) => {
                ntfn.wait().map_err(|e| Error::Protocol(super::ProtoError::Ipc(e as u64)))?;
            }
            r => return r,
        }
    }
}
