//! How a client's request reaches a server and the reply comes back.
//!
//! A generated `Client<T: Transport>` encodes each call and hands the words
//! to its transport:
//!
//! - [`Direct`]: a function that plays the server, on every target. Host
//!   tests run client and server in one process with it (the function calls
//!   the protocol's `dispatch`); a program can use it for a server that
//!   lives in its own address space.
//! - `Endpoint` (bare metal): a `Call` on an endpoint capability through the
//!   thread's IPC buffer. Kernel errors that mean the server is gone (its
//!   thread or endpoint destroyed mid-call, the endpoint cap revoked) become
//!   [`ProtoError::ServerGone`]; an idempotent op is then retried once after
//!   [`Transport::reconnect`].
//! - `serve` (bare metal): the server's loop: receive, dispatch, reply and
//!   receive again; a malformed request gets its error reply like any other.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire::{self, REPLY_ERR, REPLY_OK};
use super::{ProtoError, Reply};
use crate::abi::MSG_MAX_WORDS;

/// A way to send a request and get its reply.
pub trait Transport {
    /// Send the request `label`/`words`, wait for the reply, write the
    /// reply's words into `reply` and return its label and length.
    fn call(
        &mut self,
        label: u32,
        words: &[u64],
        reply: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<Reply, ProtoError>;

    /// Called after `ServerGone`, before an idempotent op is sent again:
    /// get a fresh connection (look the server up again). The default
    /// cannot, and reports `ServerGone`.
    fn reconnect(&mut self) -> Result<(), ProtoError> {
        Err(ProtoError::ServerGone)
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn call(
        &mut self,
        label: u32,
        words: &[u64],
        reply: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<Reply, ProtoError> {
        (**self).call(label, words, reply)
    }

    fn reconnect(&mut self) -> Result<(), ProtoError> {
        (**self).reconnect()
    }
}

/// A transport that is a function: `f(label, words, reply)`, typically
/// `|label, words, out| Ok(proto::kv::dispatch(&mut server, Incoming::new(0, label, words), out))`.
pub struct Direct<F>(pub F);

impl<F> Direct<F>
where
    F: FnMut(u32, &[u64], &mut [u64; MSG_MAX_WORDS]) -> Result<Reply, ProtoError>,
{
    pub fn new(f: F) -> Self {
        Direct(f)
    }
}

impl<F> Transport for Direct<F>
where
    F: FnMut(u32, &[u64], &mut [u64; MSG_MAX_WORDS]) -> Result<Reply, ProtoError>,
{
    fn call(
        &mut self,
        label: u32,
        words: &[u64],
        reply: &mut [u64; MSG_MAX_WORDS],
    ) -> Result<Reply, ProtoError> {
        (self.0)(label, words, reply)
    }
}

impl<F> core::fmt::Debug for Direct<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Direct")
    }
}

/// One client call, as every generated client method makes it: encode
/// `req`, call op `op` through `t` (again once after a reconnect if the
/// server was gone and the op is idempotent), decode the reply or the error.
pub fn call<T, Req, Rep, E>(
    t: &mut T,
    version: u32,
    op: u32,
    idempotent: bool,
    req: &Req,
) -> Result<Rep, E>
where
    T: Transport + ?Sized,
    Req: Serialize + ?Sized,
    Rep: DeserializeOwned,
    E: DeserializeOwned + From<ProtoError>,
{
    let mut words = [0u64; MSG_MAX_WORDS];
    let n = wire::encode(version, req, &mut words)?;
    let request = words.get(..n).ok_or(ProtoError::TooLarge)?;
    let mut reply = [0u64; MSG_MAX_WORDS];
    let mut r = t.call(op, request, &mut reply);
    if idempotent && r == Err(ProtoError::ServerGone) {
        t.reconnect()?;
        r = t.call(op, request, &mut reply);
    }
    let r = r?;
    let words = reply.get(..r.len).ok_or(ProtoError::BadReply)?;
    let frame = wire::Frame::from_words(words).map_err(|_| ProtoError::BadReply)?;
    match r.label {
        REPLY_OK if frame.header.version != version => {
            Err(ProtoError::VersionMismatch { client: version, server: frame.header.version }
                .into())
        }
        REPLY_OK => frame.decode().map_err(|_| ProtoError::BadReply.into()),
        // An error reply is read whatever its version: a `VersionMismatch`
        // comes with the server's.
        REPLY_ERR => Err(frame.decode::<E>().map_err(|_| ProtoError::BadReply)?),
        _ => Err(ProtoError::BadReply.into()),
    }
}

#[cfg(target_os = "none")]
pub(crate) use bare::ipc_error;
#[cfg(target_os = "none")]
pub use bare::{Endpoint, serve};

#[cfg(target_os = "none")]
mod bare {
    use super::*;
    use crate::abi::{Error, MessageInfo};
    use crate::cap::{self, Cap};
    use crate::proto::Incoming;
    use crate::sys::{self, IpcBuf};

    /// A client's connection: `Call`s on an endpoint capability through an
    /// IPC buffer (the thread's registered one by default).
    #[derive(Debug)]
    pub struct Endpoint {
        ep: Cap<cap::Endpoint>,
        buf: IpcBuf,
        lookup: Option<fn() -> Option<Cap<cap::Endpoint>>>,
    }

    impl Endpoint {
        /// Calls through `ep` with the calling thread's registered buffer.
        pub fn new(ep: Cap<cap::Endpoint>) -> Endpoint {
            Endpoint { ep, buf: sys::ipc_buffer(), lookup: None }
        }

        /// Use `buf` (a thread with its own IPC buffer).
        pub fn with_buffer(self, buf: IpcBuf) -> Endpoint {
            Endpoint { buf, ..self }
        }

        /// After the server is gone, `lookup` finds its new endpoint (from
        /// the name service); idempotent ops are then retried once.
        pub fn with_reconnect(self, lookup: fn() -> Option<Cap<cap::Endpoint>>) -> Endpoint {
            Endpoint { lookup: Some(lookup), ..self }
        }

        pub fn cap(&self) -> Cap<cap::Endpoint> {
            self.ep
        }
    }

    /// The kernel's answer to a failed `Call`, as the protocol layer sees it.
    pub(crate) fn ipc_error(e: Error) -> ProtoError {
        match e {
            // The server's thread or endpoint was destroyed while we waited,
            // the endpoint cap is gone, or the server took another call
            // before answering (it restarted its loop).
            Error::InvalidCapability | Error::IllegalOperation => ProtoError::ServerGone,
            e => ProtoError::Ipc(e as u64),
        }
    }

    impl Transport for Endpoint {
        fn call(
            &mut self,
            label: u32,
            words: &[u64],
            reply: &mut [u64; MSG_MAX_WORDS],
        ) -> Result<Reply, ProtoError> {
            let info = MessageInfo::new(label, words.len(), 0).ok_or(ProtoError::TooLarge)?;
            let m = self.buf.call(self.ep.cptr(), info, words).map_err(ipc_error)?;
            // Words 4.. live in the IPC buffer until our next IPC: copy now.
            let len = m.copy_words(reply);
            Ok(Reply { label: m.label(), len })
        }

        fn reconnect(&mut self) -> Result<(), ProtoError> {
            let ep = self.lookup.and_then(|f| f()).ok_or(ProtoError::ServerGone)?;
            self.ep = ep;
            Ok(())
        }
    }

    /// Serve requests on `ep` forever: receive, `handle` (typically a
    /// protocol's `dispatch`, after attaching the caller's shared region to
    /// the [`Incoming`] if the protocol has bulk ops), reply and receive the
    /// next. Returns only if receiving fails.
    pub fn serve<F>(ep: Cap<cap::Endpoint>, mut handle: F) -> Error
    where
        F: FnMut(Incoming<'_>, &mut [u64; MSG_MAX_WORDS]) -> Reply,
    {
        let buf = sys::ipc_buffer();
        let mut msg = match buf.recv(ep.cptr()) {
            Ok(m) => m,
            Err(e) => return e,
        };
        let mut words = [0u64; MSG_MAX_WORDS];
        let mut out = [0u64; MSG_MAX_WORDS];
        loop {
            let n = msg.copy_words(&mut words);
            let r = handle(
                Incoming::new(msg.badge, msg.label(), words.get(..n).unwrap_or(&[])),
                &mut out,
            );
            let next = MessageInfo::new(r.label, r.len, 0)
                .and_then(|info| Some(buf.reply_recv(ep.cptr(), info, out.get(..r.len)?)));
            msg = match next {
                Some(Ok(m)) => m,
                // The reply could not be sent (the caller is gone, or the
                // reply was malformed): the server keeps serving.
                _ => match buf.recv(ep.cptr()) {
                    Ok(m) => m,
                    Err(e) => return e,
                },
            };
        }
    }
}
