//! init: rint's first user program.
//!
//! The kernel does not start user programs yet (the kernel-core issue adds
//! threads, address spaces and the root task); until then this binary is
//! built and packed into every image so the build and archive pipeline for
//! user programs is exercised end to end. Started today, it would only spin:
//! there is no syscall to make.

#![no_std]
#![no_main]
#![deny(unsafe_code)]

// The entry symbol must be unmangled for the linker; the runtime crate will
// own this once servers share one.
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn _start() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
