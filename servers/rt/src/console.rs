//! The console server (`servers/console`, protocol `console`) from a
//! program's side.
//!
//! - Output: a server whose manifest entry `needs` a service speaking
//!   `console` prints through it: [`crate::print!`] and
//!   [`crate::println!`] send each call's text as one `write` (up to
//!   `WRITE_MAX` bytes), so lines of different servers never mix. Without
//!   such a capability (init, root tasks, servers that do not need the
//!   console, servers started before it), or when a write fails, output
//!   goes through the kernel's `DebugWrite` as before. After the console
//!   server restarts, the next print looks it up again.
//! - Input: [`Input::open`] subscribes to the console's input with a
//!   notification made from the program's own memory; [`Input::read`]
//!   blocks until bytes arrive, [`Input::try_read`] does not.
//! - [`write`]: raw bytes, no `[name]` prefix (an echo of typed keys).

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use libipc::abi::{CapType, Rights};
use libipc::cap::{Cap, Endpoint, Notification};
use libipc::plan::Name;
use libipc::proto::ProtoError;
use libipc::proto::console::{self, Error, Info, Text, WRITE_MAX};
use libipc::proto::grant::WithCaps;
use libipc::start::{Role, StartInfo};

use crate::server::{CNODE, Start};

/// The console endpoint's slot (0: none).
static CONSOLE: AtomicU64 = AtomicU64::new(0);
/// Its name in the start info (for a lookup after a restart).
static NAME: spin::Once<Name> = spin::Once::new();

/// Find the console capability the start info lists: an endpoint the
/// program needs whose provider speaks `console`.
pub(crate) fn init(info: &StartInfo) {
    let found = info.caps.iter().find(|c| {
        c.role == Role::Needed
            && c.cap_type == CapType::Endpoint as u32
            && c.protocol.as_str() == console::NAME
    });
    if let Some(c) = found {
        NAME.call_once(|| c.name);
        CONSOLE.store(c.slot, Ordering::Relaxed);
    }
}

/// The console server's endpoint, if the program has one.
pub fn endpoint() -> Option<Cap<Endpoint>> {
    match CONSOLE.load(Ordering::Relaxed) {
        0 => None,
        slot => Some(Cap::from_slot(slot)),
    }
}

/// The console server is gone: look its name up again for the next write
/// (the server restarted), or stop using it (it stays stopped).
fn reconnect(old: Cap<Endpoint>) {
    let fresh = match (crate::start_info(), NAME.get()) {
        (Some(start), Some(name)) => start.relookup(name.as_str(), old).ok(),
        _ => None,
    };
    CONSOLE.store(fresh.map_or(0, |c| c.slot()), Ordering::Relaxed);
}

/// Write `bytes` to the console server, `WRITE_MAX` at a time (each piece
/// one `write`, printed as a unit). `Err` without a console capability or
/// when a write fails (what was written stays written); a server that is
/// gone is looked up again for the next call.
pub fn write(bytes: &[u8]) -> Result<(), Error> {
    let ep = endpoint().ok_or(Error::Protocol(ProtoError::ServerGone))?;
    let mut c = console::Client::connect(ep);
    for chunk in bytes.chunks(WRITE_MAX) {
        let text = Text::from_slice(chunk).ok_or(Error::Protocol(ProtoError::TooLarge))?;
        if let Err(e) = c.write(text) {
            if e == Error::Protocol(ProtoError::ServerGone) {
                reconnect(ep);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// `print!`'s way out: [`write`], with the whole of `bytes` as one write
/// (the runtime's buffer is `WRITE_MAX` bytes).
pub(crate) fn print(bytes: &[u8]) -> Result<(), Error> {
    write(bytes)
}

/// The console server's counters.
pub fn info() -> Result<Info, Error> {
    let ep = endpoint().ok_or(Error::Protocol(ProtoError::ServerGone))?;
    console::Client::connect(ep).info()
}

/// Why [`Input::open`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputError {
    /// The program has no console capability (add `needs = ["console"]`).
    NoConsole,
    /// No memory or slot for the notification.
    Memory(os::Error),
    /// The console server refused the subscription.
    Console(Error),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NoConsole => f.write_str(
                "no console capability (add `needs = [\"console\"]` to the manifest entry)",
            ),
            InputError::Memory(e) => write!(f, "making a notification: {e}"),
            InputError::Console(e) => write!(f, "subscribing to console input: {e}"),
        }
    }
}

/// Input from the console: a subscription (a notification the console
/// server signals when bytes arrive) and reads.
#[derive(Debug)]
pub struct Input {
    ep: Cap<Endpoint>,
    notification: Cap<Notification>,
    /// The send-only copy the server's copy derives from: revoking it ends
    /// the subscription.
    sent: Cap<Notification>,
}

/// The badge the console server's signals carry.
pub const INPUT_BADGE: u64 = 1;

impl Input {
    /// Subscribe to console input: a notification from the program's
    /// memory quota, and a send-only copy of it (badge [`INPUT_BADGE`])
    /// sent with `subscribe`.
    pub fn open(start: &Start) -> Result<Input, InputError> {
        let ep = endpoint().ok_or(InputError::NoConsole)?;
        let notification: Cap<Notification> = start.alloc(0).map_err(InputError::Memory)?;
        let slot = start.slot().map_err(InputError::Memory)?;
        if let Err(e) = CNODE.mint(slot, CNODE, notification.slot(), Rights::WRITE, INPUT_BADGE) {
            start.free_slot(slot);
            return Err(InputError::Memory(os::Error::Kernel { op: "CNodeMint", error: e, at: 0 }));
        }
        let sent: Cap<Notification> = Cap::from_slot(slot);
        let caps = [sent.cptr()];
        let mut c = console::Client::new(WithCaps::new(ep, &caps));
        match c.subscribe() {
            Ok(_) => Ok(Input { ep, notification, sent }),
            Err(e) => {
                let _ = CNODE.delete(slot);
                start.free_slot(slot);
                Err(InputError::Console(e))
            }
        }
    }

    /// The notification the console server signals (to wait on it together
    /// with other events: its word has [`INPUT_BADGE`] set).
    pub fn notification(&self) -> Cap<Notification> {
        self.notification
    }

    /// Up to `buf.len()` waiting bytes; 0 if none (never blocks).
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        let max = buf.len().min(console::READ_MAX) as u32;
        if max == 0 {
            return Ok(0);
        }
        let got = console::Client::connect(self.ep).read(max)?;
        let n = got.len().min(buf.len());
        if let (Some(d), Some(s)) = (buf.get_mut(..n), got.get(..n)) {
            d.copy_from_slice(s);
        }
        Ok(n)
    }

    /// At least one byte (up to `buf.len()`): waits for the console
    /// server's signal while nothing is there. A signal sent between an
    /// empty read and the wait stays in the notification word, so none is
    /// missed.
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let n = self.try_read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            self.notification.wait().map_err(|e| Error::Protocol(ProtoError::Ipc(e as u64)))?;
        }
    }

    /// End the subscription: revoking the sent copy deletes the server's.
    pub fn close(self) {
        let _ = CNODE.revoke(self.sent.slot());
        let _ = CNODE.delete(self.sent.slot());
    }
}
