//! rt: the runtime of native rint programs. What runs between the kernel
//! starting a thread and the program's `main`, and what runs when the
//! program ends or panics.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use libipc::abi::BootInfo;
//!
//! rt::entry!(main);
//!
//! fn main(boot: &'static BootInfo) {
//!     rt::println!("hello from the root task, {} untypeds", boot.untyped.end - boot.untyped.start);
//! }
//! ```
//!
//! - `_start` (per arch, in `start.rs`): aligns the stack the kernel gave
//!   and calls the program's `__rint_main` with the first argument register
//!   untouched, nothing else. [`entry!`] defines `__rint_main`.
//! - [`entry!`]`(main)`: a root task, started with the address of its
//!   `BootInfo` as argument. The runtime checks the boot info, registers the
//!   IPC buffer the kernel mapped (`BootInfo::ipc_buffer`) with
//!   `libipc::sys`, and calls `main(boot)`. Programs that init starts will
//!   get their own form of the macro (their start argument will describe
//!   their capabilities); `_start` and the rest stay as they are.
//! - [`server!`]`(main)`: a server started by init, with
//!   `fn main(start: &'static rt::Start) -> i32`. The runtime registers the
//!   IPC buffer init mapped (`libipc::start::layout::IPC_BUFFER`), decodes
//!   the start info (`libipc::start::StartInfo`) from the page at the
//!   address in the first argument register, gives the heap area to the
//!   global allocator, and sets the output prefix `[name] `. [`Start`] looks
//!   capabilities up by name (`start.cap::<Endpoint>("kv")`, an error naming
//!   what is missing), files, untyped memory, free slots, and talks to
//!   init's name service (`lookup`, `relookup`, `register`).
//!   [`server::reply_recv`] is one turn of a server's receive loop (reply
//!   to the last request, receive the next with a cap window set).
//! - Exit: a root task's `main` returning, or [`exit`], suspends its thread.
//!   A server's `main` returns its exit code, which the runtime reports to
//!   init (`init` protocol `exit`; init tears the server down and restarts
//!   it as the manifest says). A panic prints its message and, in a server,
//!   reports exit code 101 (`EXIT_PANIC`) with the message to init.
//! - [`heap`]: the global allocator (`linked_list_allocator` behind a spin
//!   lock) over the server's heap area; a root task has none unless it calls
//!   [`heap::init`] with memory it mapped.
//! - [`print!`]/[`println!`] write through the console server when the
//!   server `needs` one ([`console`]: each call one `write` of up to 896
//!   bytes, so lines of different servers never mix), through the
//!   `DebugWrite` syscall otherwise (root tasks, servers without a console
//!   capability, or when the console server fails). They use the IPC
//!   buffer of the thread the runtime started: other threads of the program
//!   must not print through them (they have their own buffers; see
//!   `libipc::sys::IpcBuf::debug_write`).
//! - [`console`]: console input ([`console::Input`]: subscribe, blocking
//!   and polling reads) and raw writes.
//! - [`check::Tally`]: a test program's checks, each printed as `ok: NAME`
//!   or `FAIL: NAME: DETAIL` and counted.
//!
//! Bare-metal targets only: on the host the crate is empty, so that
//! `cargo test --workspace` and host clippy still build it.

#![no_std]
#![deny(unsafe_code)]

#[cfg(target_os = "none")]
pub use libipc;

#[cfg(target_os = "none")]
pub mod check;
#[cfg(target_os = "none")]
pub mod console;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
pub mod heap;
#[cfg(target_os = "none")]
mod io;
#[cfg(target_os = "none")]
pub mod server;
#[cfg(target_os = "none")]
#[allow(unsafe_code)]
mod start;

#[cfg(target_os = "none")]
pub use io::{_print, DebugWriter};
#[cfg(target_os = "none")]
pub use server::{CapError, Mmio, Start, exit_with};
#[cfg(target_os = "none")]
pub use start::{boot_archive, exit, start_info, start_root, start_server};

/// Declare the program's `main`: `rt::entry!(main)` with
/// `fn main(boot: &'static BootInfo)` makes a root task.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        /// The program's entry, called by the runtime's `_start` with the
        /// first argument register.
        #[unsafe(no_mangle)]
        pub extern "C" fn __rint_main(arg0: u64) -> ! {
            let main: fn(&'static $crate::libipc::abi::BootInfo) = $main;
            $crate::start_root(arg0, main)
        }
    };
}

/// Declare a server's `main`: `rt::server!(main)` with
/// `fn main(start: &'static rt::Start) -> i32` (the exit code).
#[macro_export]
macro_rules! server {
    ($main:path) => {
        /// The program's entry, called by the runtime's `_start` with the
        /// first argument register (the start-info address).
        #[unsafe(no_mangle)]
        pub extern "C" fn __rint_main(arg0: u64) -> ! {
            let main: fn(&'static $crate::Start) -> i32 = $main;
            $crate::start_server(arg0, main)
        }
    };
}

/// Print to the console (the console server if the program has one, else
/// the kernel console through `DebugWrite`).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::_print(format_args!($($arg)*)) };
}

/// Print a line to the console (as [`print!`]).
#[macro_export]
macro_rules! println {
    () => { $crate::_print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
