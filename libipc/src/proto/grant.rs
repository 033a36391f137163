//! Sending capabilities with a request.
//!
//! The generated transports send words only. A few ops hand the server
//! capabilities with the call (the memory server's `attach` takes the
//! address space to page, the process server's `watch` a notification to
//! signal): the kernel moves up to 3 caps with a message when the
//! sender's endpoint cap has `GRANT` and the receiver set a receive window.
//! [`WithCaps`] is the bare-metal transport that names them; on the
//! server's side, the receive loop sets the window and tells `dispatch`
//! how many arrived (the message-info word says so), the way init's loop
//! does for `register`.
//!
//! Replies carry no caps (the kernel does not move caps with a reply): a
//! server that gives a client a cap installs it into a CNode the client
//! named and handed over, as init's `lookup` does.

#[cfg(target_os = "none")]
pub use bare::WithCaps;

#[cfg(target_os = "none")]
mod bare {
    use crate::abi::{CPtr, MSG_MAX_WORDS, MessageInfo};
    use crate::cap::{self, Cap};
    use crate::proto::transport::ipc_error;
    use crate::proto::{ProtoError, Reply, Transport};
    use crate::sys::{self, IpcBuf};

    /// A `Call` on `ep` that sends `caps` (at most 3, CPtrs in the caller's
    /// CSpace) with every request: build one per call that needs them.
    #[derive(Debug)]
    pub struct WithCaps<'a> {
        ep: Cap<cap::Endpoint>,
        caps: &'a [CPtr],
        buf: IpcBuf,
    }

    impl<'a> WithCaps<'a> {
        pub fn new(ep: Cap<cap::Endpoint>, caps: &'a [CPtr]) -> WithCaps<'a> {
            WithCaps { ep, caps, buf: sys::ipc_buffer() }
        }

        /// Use `buf` (a thread with its own IPC buffer).
        pub fn with_buffer(self, buf: IpcBuf) -> WithCaps<'a> {
            WithCaps { buf, ..self }
        }
    }

    impl Transport for WithCaps<'_> {
        fn call(
            &mut self,
            label: u32,
            words: &[u64],
            reply: &mut [u64; MSG_MAX_WORDS],
        ) -> Result<Reply, ProtoError> {
            self.buf.set_caps(self.caps).map_err(|e| ProtoError::Ipc(e as u64))?;
            let info = MessageInfo::new(label, words.len(), self.caps.len())
                .ok_or(ProtoError::TooLarge)?;
            let m = self.buf.call(self.ep.cptr(), info, words).map_err(ipc_error)?;
            let len = m.copy_words(reply);
            Ok(Reply { label: m.label(), len })
        }
    }
}
