//! Kernel console output: `kprint!` and `kprintln!` over the hal's serial
//! console, serialised by a spin lock so lines from traps do not interleave.

use core::fmt::{self, Write};
use hal::{Arch, Console, Cpu};
use spin::Mutex;

struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        Arch::write_bytes(s.as_bytes());
        Ok(())
    }
}

static LOCK: Mutex<()> = Mutex::new(());

/// Print formatted text; interrupts are held off while the lock is held so a
/// trap on this CPU cannot deadlock on it.
pub fn print(args: fmt::Arguments<'_>) {
    let were_enabled = Arch::interrupts_enabled();
    Arch::disable_interrupts();
    {
        let _guard = LOCK.lock();
        // Serial::write_str never fails.
        let _ = Serial.write_fmt(args);
    }
    if were_enabled {
        Arch::enable_interrupts();
    }
}

/// Write raw bytes (user output through DebugWrite), under the same lock.
pub fn write_bytes(bytes: &[u8]) {
    let were_enabled = Arch::interrupts_enabled();
    Arch::disable_interrupts();
    {
        let _guard = LOCK.lock();
        Arch::write_bytes(bytes);
    }
    if were_enabled {
        Arch::enable_interrupts();
    }
}

/// Break the lock for the panic path (the panicking code may hold it).
pub fn force_unlock() {
    if LOCK.is_locked() {
        // SAFETY: only called on the panic path with interrupts off on a
        // single CPU: whoever holds the lock will never run again.
        unsafe { LOCK.force_unlock() };
    }
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}
