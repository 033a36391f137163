//! `init`: what init offers every server it starts, on the endpoint in the
//! server's slot `start::slots::INIT` (badged per server, so init knows who
//! calls): the **name service** and **exit**.
//!
//! | op | arguments | returns | errors |
//! |---|---|---|---|
//! | 1 `lookup` | a service name, a free slot of the caller's CNode | the protocol and version; the provider's endpoint is now in that slot | `NotFound`, `NotPermitted`, `BadSlot`, `Unavailable` |
//! | 2 `register` | a service name, its protocol and version; the endpoint cap travels with the call | nothing | `NotPermitted`, `NoCap`, `Full` |
//! | 3 `exit` | an exit code and a message | never answered: init tears the caller down | none |
//!
//! **Lookup installs the cap itself.** The kernel moves capabilities with
//! a message but not with a reply, so init, which holds every server's
//! CNode, copies the provider's endpoint (WRITE and GRANT: calls that may
//! carry caps) into the slot the caller names: an empty slot of its own
//! free range. A server may look
//! up the services its manifest entry `needs`, and any name registered at
//! run time. After the provider restarts, the copy is gone (it came from the
//! dead server's memory) and a fresh lookup gets the new endpoint.
//!
//! **Register** needs the endpoint cap in the call (the caller's init cap
//! has GRANT; init receives it into a slot of its own). A server may
//! register a name it provides in the plan (replacing the endpoint init made
//! for it) or a name no plan entry uses.
//!
//! `lookup` is idempotent; `register` and `exit` are not.

use serde::{Deserialize, Serialize};

use super::Str;
use crate::plan::Name;

/// Longest exit message, in bytes.
pub const MESSAGE_MAX: usize = 200;
pub type Message = Str<MESSAGE_MAX>;

/// What a lookup found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    /// The slot the endpoint is now in (the one asked for).
    pub slot: u64,
    pub protocol: Name,
    pub version: u32,
}

/// The exit code a server's panic handler reports.
pub const EXIT_PANIC: i32 = 101;

crate::protocol! {
    name = "init", version = 1;
    errors {
        /// No service of that name.
        NotFound = 1,
        /// The caller may not look up or register that name.
        NotPermitted = 2,
        /// The slot is out of range or not empty.
        BadSlot = 3,
        /// `register` arrived without an endpoint cap (none, or another type).
        NoCap = 4,
        /// No room for another registered name.
        Full = 5,
        /// The provider is not running (stopped for good).
        Unavailable = 6,
    }
    ops {
        /// Put the endpoint of service `name` into the caller's slot `slot`.
        1 lookup(name: Name, slot: u64) -> Found, idempotent;
        /// Register the endpoint sent with the call under `name`.
        2 register(name: Name, protocol: Name, version: u32) -> (), once;
        /// The caller is done: init reports `code` and `message`, tears it
        /// down and restarts it as its manifest entry says. No reply.
        3 exit(code: i32, message: Message) -> (), once;
    }
}
