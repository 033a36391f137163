//! Program start, exit and panic.
//!
//! The only unsafe code of the runtime: the `_start` stub, and turning the
//! kernel-given boot-info address into a reference and registering the
//! IPC buffer.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use libipc::abi::{BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BootInfo, slots};
use libipc::cap::{Cap, Thread};
use libipc::sys;

// `_start`: the kernel enters here with the stack pointer set and the start
// argument (the root task's BootInfo address) in the first argument
// register. Align the stack as the C ABI wants at a call, clear the frame
// pointer so backtraces end here, and call the program's `__rint_main`
// (from `rt::entry!`), which never returns.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    r#"
    .section .text._start, "ax", @progbits
    .global _start
    .type _start, @function
_start:
    xor ebp, ebp
    and rsp, -16
    call __rint_main
    ud2
    .size _start, . - _start
    "#
);

#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    r#"
    .section .text._start, "ax", @progbits
    .global _start
    .type _start, @function
_start:
    li s0, 0
    li ra, 0
    andi sp, sp, -16
    call __rint_main
    unimp
    .size _start, . - _start
    "#
);

/// The thread [`exit`] suspends (the root task's own thread).
const SELF_THREAD: Cap<Thread> = Cap::from_slot(slots::INIT_THREAD);

/// Start a root task: check the boot info at `arg0`, register the IPC
/// buffer, run `main`, exit. Called by [`crate::entry!`].
pub fn start_root(arg0: u64, main: fn(&'static BootInfo)) -> ! {
    let Some(boot) = boot_info(arg0) else {
        // No boot info, so no IPC buffer to print through.
        exit()
    };
    // SAFETY: the kernel maps the root task's IPC buffer read-write at
    // `boot.ipc_buffer` for the task's lifetime and registers it for this
    // thread; nothing in the program makes a Rust reference to it.
    unsafe { sys::set_ipc_buffer(boot.ipc_buffer) };
    if boot.version != BOOT_INFO_VERSION {
        crate::println!(
            "rt: boot info version {} (this program knows {})",
            boot.version,
            BOOT_INFO_VERSION
        );
        exit();
    }
    main(boot);
    exit()
}

/// The boot info at `addr`, if it is one.
fn boot_info(addr: u64) -> Option<&'static BootInfo> {
    if addr == 0 || !addr.is_multiple_of(core::mem::align_of::<BootInfo>() as u64) {
        return None;
    }
    let p = core::ptr::with_exposed_provenance::<BootInfo>(addr as usize);
    // SAFETY: the kernel starts the root task with the address of its
    // boot-info page in the first argument register (checked non-null and
    // aligned above); the page is mapped readable for the task's lifetime
    // and nothing writes it after the task starts. Every bit pattern is a
    // valid `BootInfo` (integers only), and the magic is checked next.
    let boot = unsafe { &*p };
    (boot.magic == BOOT_INFO_MAGIC).then_some(boot)
}

/// The boot archive as the kernel mapped it into the root task (read-only,
/// at `BootInfo::archive_vaddr`); empty if there is none.
pub fn boot_archive(boot: &'static BootInfo) -> &'static [u8] {
    let (addr, len) = (boot.archive_vaddr, boot.archive_size);
    if addr == 0 || len == 0 || addr.checked_add(len).is_none() {
        return &[];
    }
    let p = core::ptr::with_exposed_provenance::<u8>(addr as usize);
    // SAFETY: the kernel maps the whole archive (`archive_size` bytes) at
    // `archive_vaddr` read-only for the root task's lifetime, and nothing
    // writes those frames; bytes are valid for any content.
    unsafe { core::slice::from_raw_parts(p, len as usize) }
}

/// End the program: suspend its thread. If that fails, give the CPU away
/// forever.
pub fn exit() -> ! {
    let _ = SELF_THREAD.suspend();
    loop {
        sys::yield_now();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    if !PANICKED.swap(true, Ordering::Relaxed) {
        crate::println!("rt: {info}");
    }
    exit()
}
