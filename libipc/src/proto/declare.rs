//! [`protocol!`](crate::protocol): one declaration per protocol, from which
//! the constants, the error enum, the request types, the typed client, the
//! server trait and `dispatch` are generated.
//!
//! The macro is invoked inside the protocol's module (`proto/kv.rs`) and
//! expands into it. Argument and reply types are named as in that module
//! (the per-op modules it generates `use super::*`). The invoking crate
//! must depend on `serde` (the request types derive its traits). Argument
//! names `caller`, `data` and `bulk` are taken by the generated signatures.

/// Declare a server protocol. See `docs/protocols.md`; `proto/kv.rs` is the
/// example:
///
/// ```ignore
/// libipc::protocol! {
///     name = "kv", version = 1;
///     errors {
///         /// No value is stored under the key.
///         NotFound = 1,
///     }
///     ops {
///         /// The value stored under `key`.
///         1 get(key: Key) -> Value, idempotent;
///         /// Write the bytes of the shared buffer under `key`.
///         5 put_bulk(key: Key) -> (), idempotent, bulk_in(4096);
///     }
/// }
/// ```
///
/// - `name` (a string) and `version` (a `u32`): the `NAME` and `VERSION`
///   constants. Every request carries the client's version; a server of
///   another version answers `VersionMismatch`.
/// - `errors`: the protocol's own errors, numbered 1, 2, 3 ... in order
///   (checked at compile time): the generated `Error` enum has
///   `Protocol(ProtoError)` first, then these. Append only.
/// - `ops`: per op its number (the request label: 1..=0x7fff, unique,
///   checked at compile time; stable, new ops get new numbers), name,
///   arguments, reply type, `idempotent` (safe to send again after a
///   server restart) or `once` (not), and optionally `bulk_in(MAX)` (the
///   client passes a [`Bulk`](crate::proto::Bulk) reference the server
///   reads, at most `MAX` bytes) or `bulk_out(MAX)` (the server writes).
///
/// Generated in the invoking module, for each op `op`:
/// - `mod op { struct Request { args.. }, const OP, IDEMPOTENT, BULK, BULK_MAX, INFO }`;
/// - `NAME`, `VERSION`, `OPS: &[OpInfo]`, `op_info(label)`;
/// - `enum Error { Protocol(ProtoError), errors.. }`;
/// - `struct Client<T: Transport>` with `fn op(&mut self, args.. [, bulk: Bulk]) -> Result<Reply, Error>`
///   (and `Client::connect(ep)` on bare metal);
/// - `trait Server` with `fn op(&mut self, caller: &Caller, args.. [, data: &[u8] | &mut [u8]]) -> Result<Reply, Error>`;
/// - `fn dispatch(server, Incoming, out) -> proto::Reply` (and, on bare
///   metal, `fn serve(ep, server)`: the receive-dispatch-reply loop).
///
/// Op names `new`, `transport`, `into_transport` and `connect` are taken by
/// the client's own methods.
#[macro_export]
macro_rules! protocol {
    (
        name = $name:literal, version = $version:literal;
        errors {
            $( $(#[$emeta:meta])* $err:ident = $ecode:literal ),* $(,)?
        }
        ops {
            $(
                $(#[$ometa:meta])*
                $num:literal $op:ident ( $( $arg:ident : $ty:ty ),* $(,)? ) -> $ret:ty ,
                    $retry:ident $( , $bulk:ident ( $max:expr ) )? ;
            )*
        }
    ) => {
        /// The protocol's name (what the manifest and the name service use).
        pub const NAME: &str = $name;
        /// The protocol's version: client and server must agree.
        pub const VERSION: u32 = $version;

        const _: () = $crate::proto::check_ops(&[$($num),*]);
        const _: () = $crate::proto::check_errors(&[$($ecode),*]);

        $(
            $(#[$ometa])*
            ///
            /// The op's request type and what the protocol declares about it.
            pub mod $op {
                #[allow(unused_imports)]
                use super::*;

                /// The op's arguments, as they go on the wire.
                #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
                pub struct Request {
                    $( pub $arg: $ty, )*
                }

                /// The op number: the request's label.
                pub const OP: u32 = $num;
                /// Safe to send again after a server restart.
                pub const IDEMPOTENT: bool = $crate::__proto_retry!($retry);
                /// Whether the op carries a shared-buffer reference.
                pub const BULK: $crate::proto::BulkDir = $crate::__proto_bulk!([$($bulk $max)?]);
                /// The longest bulk reference the op accepts (0: none).
                pub const BULK_MAX: u32 = match BULK {
                    $crate::proto::BulkDir::None => 0,
                    $crate::proto::BulkDir::In { max } | $crate::proto::BulkDir::Out { max } => max,
                };
                /// All of the above.
                pub const INFO: $crate::proto::OpInfo = $crate::proto::OpInfo {
                    op: OP,
                    name: stringify!($op),
                    idempotent: IDEMPOTENT,
                    bulk: BULK,
                };
            }
        )*

        /// Every op of the protocol, in declaration order.
        pub const OPS: &[$crate::proto::OpInfo] = &[$($op::INFO),*];

        /// What the protocol declares about the op with number `label`.
        pub fn op_info(label: u32) -> Option<&'static $crate::proto::OpInfo> {
            OPS.iter().find(|o| o.op == label)
        }

        /// The protocol's errors: the protocol layer's first, then its own.
        /// On the wire by serde variant index: append only.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum Error {
            /// A protocol-level error (malformed request, unknown op,
            /// version mismatch, bulk reference out of bounds, server gone).
            Protocol($crate::proto::ProtoError),
            $( $(#[$emeta])* $err, )*
        }

        impl From<$crate::proto::ProtoError> for Error {
            fn from(e: $crate::proto::ProtoError) -> Error {
                Error::Protocol(e)
            }
        }

        impl core::fmt::Display for Error {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    Error::Protocol(e) => core::fmt::Display::fmt(e, f),
                    $( Error::$err => f.write_str(stringify!($err)), )*
                }
            }
        }

        /// The typed client: one method per op; each encodes its request,
        /// calls through the transport (label = op number) and decodes the
        /// reply. An idempotent op is sent again once after a reconnect if
        /// the server was gone.
        #[derive(Debug)]
        pub struct Client<T: $crate::proto::Transport> {
            transport: T,
        }

        impl<T: $crate::proto::Transport> Client<T> {
            pub const fn new(transport: T) -> Self {
                Client { transport }
            }

            pub fn transport(&mut self) -> &mut T {
                &mut self.transport
            }

            pub fn into_transport(self) -> T {
                self.transport
            }

            $(
                $crate::__proto_client_method! {
                    [$($bulk $max)?] $(#[$ometa])* $op ( $( $arg : $ty ),* ) -> $ret
                }
            )*
        }

        #[cfg(target_os = "none")]
        impl Client<$crate::proto::transport::Endpoint> {
            /// A client that calls the server through `ep`.
            pub fn connect(ep: $crate::cap::Cap<$crate::cap::Endpoint>) -> Self {
                Client::new($crate::proto::transport::Endpoint::new(ep))
            }
        }

        /// Serve this protocol on `ep` with `server` until receiving fails
        /// (`proto::transport::serve` with this protocol's `dispatch`; a
        /// server with bulk ops attaches regions with its own loop).
        #[cfg(target_os = "none")]
        pub fn serve<S: Server + ?Sized>(
            ep: $crate::cap::Cap<$crate::cap::Endpoint>,
            server: &mut S,
        ) -> $crate::abi::Error {
            $crate::proto::transport::serve(ep, |msg, out| dispatch(server, msg, out))
        }

        /// What a server of this protocol implements: one method per op.
        /// `dispatch` decodes and checks the request (bulk references
        /// included) before calling it.
        pub trait Server {
            $(
                $crate::__proto_server_method! {
                    [$($bulk $max)?] $(#[$ometa])* $op ( $( $arg : $ty ),* ) -> $ret
                }
            )*
        }

        /// Serve one request: check the header and version, decode the
        /// request of op `msg.label`, call `server`'s method and encode its
        /// result into `out`. A malformed request, an unknown op or a bad
        /// bulk reference gets an error reply; nothing here panics.
        pub fn dispatch<S: Server + ?Sized>(
            server: &mut S,
            msg: $crate::proto::Incoming<'_>,
            out: &mut [u64; $crate::abi::MSG_MAX_WORDS],
        ) -> $crate::proto::Reply {
            let frame = match $crate::proto::wire::Frame::from_words(msg.words) {
                Ok(f) => f,
                Err(e) => return $crate::proto::wire::error_reply(VERSION, Error::from(e), out),
            };
            if frame.header.version != VERSION {
                let e = $crate::proto::ProtoError::VersionMismatch {
                    client: frame.header.version,
                    server: VERSION,
                };
                return $crate::proto::wire::error_reply(VERSION, Error::from(e), out);
            }
            let caller = $crate::proto::Caller { badge: msg.badge };
            match msg.label {
                $(
                    $num => $crate::__proto_dispatch_op! {
                        [$($bulk $max)?] server, caller, frame, msg, out, $op ( $( $arg ),* )
                    },
                )*
                _ => {
                    let e = Error::from($crate::proto::ProtoError::UnknownOp);
                    $crate::proto::wire::error_reply(VERSION, e, out)
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proto_retry {
    (idempotent) => {
        true
    };
    (once) => {
        false
    };
    ($other:ident) => {
        compile_error!(concat!(
            "retry safety must be `idempotent` or `once`, not `",
            stringify!($other),
            "`"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proto_bulk {
    ([]) => {
        $crate::proto::BulkDir::None
    };
    ([bulk_in $max:expr]) => {
        $crate::proto::BulkDir::In { max: $max }
    };
    ([bulk_out $max:expr]) => {
        $crate::proto::BulkDir::Out { max: $max }
    };
    ([$other:ident $max:expr]) => {
        compile_error!(concat!(
            "a bulk buffer is `bulk_in(MAX)` or `bulk_out(MAX)`, not `",
            stringify!($other),
            "`"
        ))
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proto_client_method {
    ([] $(#[$m:meta])* $op:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty) => {
        $(#[$m])*
        pub fn $op(&mut self, $( $arg: $ty ),* ) -> Result<$ret, Error> {
            $crate::proto::transport::call(
                &mut self.transport,
                VERSION,
                $op::OP,
                $op::IDEMPOTENT,
                &$op::Request { $( $arg ),* },
            )
        }
    };
    ([$bulk:ident $max:expr] $(#[$m:meta])* $op:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty) => {
        $(#[$m])*
        ///
        /// `bulk`: the shared-buffer reference (at most `BULK_MAX` bytes).
        pub fn $op(&mut self, $( $arg: $ty, )* bulk: $crate::proto::Bulk) -> Result<$ret, Error> {
            if bulk.len > $op::BULK_MAX {
                return Err(Error::from($crate::proto::ProtoError::BadBulk));
            }
            $crate::proto::transport::call(
                &mut self.transport,
                VERSION,
                $op::OP,
                $op::IDEMPOTENT,
                &(bulk, $op::Request { $( $arg ),* }),
            )
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proto_server_method {
    ([] $(#[$m:meta])* $op:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty) => {
        $(#[$m])*
        fn $op(&mut self, caller: &$crate::proto::Caller, $( $arg: $ty ),* ) -> Result<$ret, Error>;
    };
    ([bulk_in $max:expr] $(#[$m:meta])* $op:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty) => {
        $(#[$m])*
        ///
        /// `data`: the client's bytes in the shared region (checked).
        fn $op(
            &mut self,
            caller: &$crate::proto::Caller,
            $( $arg: $ty, )*
            data: &[u8],
        ) -> Result<$ret, Error>;
    };
    ([bulk_out $max:expr] $(#[$m:meta])* $op:ident ( $( $arg:ident : $ty:ty ),* ) -> $ret:ty) => {
        $(#[$m])*
        ///
        /// `data`: where to write in the shared region (checked).
        fn $op(
            &mut self,
            caller: &$crate::proto::Caller,
            $( $arg: $ty, )*
            data: &mut [u8],
        ) -> Result<$ret, Error>;
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proto_dispatch_op {
    ([] $server:ident, $caller:ident, $frame:ident, $msg:ident, $out:ident,
        $op:ident ( $( $arg:ident ),* )) => {{
        let r = match $frame.decode::<$op::Request>() {
            Ok($op::Request { $( $arg ),* }) => $server.$op(&$caller, $( $arg ),* ),
            Err(e) => Err(Error::from(e)),
        };
        $crate::proto::wire::reply(VERSION, &r, $out)
    }};
    ([bulk_in $max:expr] $server:ident, $caller:ident, $frame:ident, $msg:ident, $out:ident,
        $op:ident ( $( $arg:ident ),* )) => {{
        let r = match ($frame.decode::<($crate::proto::Bulk, $op::Request)>(), $msg.region) {
            (Err(e), _) => Err(Error::from(e)),
            (Ok(_), None) => Err(Error::from($crate::proto::ProtoError::NoRegion)),
            (Ok((bulk, $op::Request { $( $arg ),* })), Some(region)) => {
                match bulk.slice(region, $op::BULK_MAX) {
                    Ok(data) => $server.$op(&$caller, $( $arg, )* data),
                    Err(e) => Err(Error::from(e)),
                }
            }
        };
        $crate::proto::wire::reply(VERSION, &r, $out)
    }};
    ([bulk_out $max:expr] $server:ident, $caller:ident, $frame:ident, $msg:ident, $out:ident,
        $op:ident ( $( $arg:ident ),* )) => {{
        let r = match ($frame.decode::<($crate::proto::Bulk, $op::Request)>(), $msg.region) {
            (Err(e), _) => Err(Error::from(e)),
            (Ok(_), None) => Err(Error::from($crate::proto::ProtoError::NoRegion)),
            (Ok((bulk, $op::Request { $( $arg ),* })), Some(region)) => {
                match bulk.slice_mut(region, $op::BULK_MAX) {
                    Ok(data) => $server.$op(&$caller, $( $arg, )* data),
                    Err(e) => Err(Error::from(e)),
                }
            }
        };
        $crate::proto::wire::reply(VERSION, &r, $out)
    }};
}
