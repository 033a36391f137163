//! Program start, exit and panic.
//!
//! Most of the runtime's unsafe code: the `_start` stub, turning the
//! kernel-given boot-info address and init's start-info page into
//! references, registering the IPC buffer, and the read-only file mappings.

use core::fmt::Write as _;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use libipc::abi::{BOOT_INFO_MAGIC, BOOT_INFO_VERSION, BootInfo, slots};
use libipc::cap::{Cap, Thread};
use libipc::proto::init::EXIT_PANIC;
use libipc::start::{self as st, layout};
use libipc::sys;

use crate::server::Start;

/// Whether this program is a server started by init (exit and panic go to
/// init) rather than a root task.
static SERVER: AtomicBool = AtomicBool::new(false);
/// The server's start info, once decoded.
static START: spin::Once<Start> = spin::Once::new();

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

/// The thread [`exit`] suspends: the root task's own thread, and a
/// server's (`start::slots::THREAD`, the same slot).
const SELF_THREAD: Cap<Thread> = Cap::from_slot(slots::INIT_THREAD);
const _: () = assert!(slots::INIT_THREAD == st::slots::THREAD);

/// Start a server: register the IPC buffer init mapped, decode the start
/// info at `arg0` (`layout::START_INFO`), set up the heap and the output
/// prefix, run `main` and report its exit code to init. Called by
/// [`crate::server!`].
pub fn start_server(arg0: u64, main: fn(&'static Start) -> i32) -> ! {
    SERVER.store(true, Ordering::Relaxed);
    // SAFETY: init maps the main thread's IPC buffer read-write at
    // `layout::IPC_BUFFER` for the server's lifetime and registers it for
    // this thread; nothing in the program makes a Rust reference to it.
    unsafe { sys::set_ipc_buffer(layout::IPC_BUFFER) };
    if arg0 != layout::START_INFO {
        crate::server::exit_with(1, "rt: started without start info");
    }
    let Some(page) = mapped_bytes(
        layout::START_INFO,
        layout::START_INFO_SIZE,
        layout::START_INFO,
        layout::START_INFO_SIZE,
    ) else {
        crate::server::exit_with(1, "rt: start info not mapped");
    };
    let info = match st::decode(page) {
        Ok(i) => i,
        Err(e) => {
            let mut m = Line::new();
            let _ = write!(m, "rt: bad start info: {e}");
            crate::server::exit_with(1, m.as_str())
        }
    };
    crate::io::set_prefix(info.name);
    let heap = info.heap;
    let heap_ok = heap.vaddr >= layout::HEAP
        && heap.vaddr.checked_add(heap.size).is_some_and(|e| e <= layout::HEAP + layout::HEAP_MAX);
    if heap_ok {
        // SAFETY: init maps the heap area read-write for the server's
        // lifetime (checked to lie in the heap's part of the layout, where
        // nothing else is), and only the allocator uses it.
        unsafe { crate::heap::init(heap.vaddr, heap.size) };
    }
    let start = START.call_once(|| Start::new(info));
    crate::console::init(&start.info);
    let code = main(start);
    crate::server::exit_with(code, "")
}

/// The server's start info (`None` in a root task).
pub fn start_info() -> Option<&'static Start> {
    START.get()
}

/// `len` bytes at `vaddr`, which init mapped read-only for the program's
/// lifetime, if they lie inside `[area, area + area_len)`.
pub(crate) fn mapped_bytes(
    vaddr: u64,
    len: u64,
    area: u64,
    area_len: u64,
) -> Option<&'static [u8]> {
    let end = vaddr.checked_add(len)?;
    if vaddr < area || end > area.checked_add(area_len)? || len == 0 {
        return None;
    }
    let p = core::ptr::with_exposed_provenance::<u8>(vaddr as usize);
    // SAFETY: init maps these areas (start info, files) read-only, in
    // whole pages, for the server's lifetime, and nothing writes them; the
    // range was checked to lie inside the area. Bytes are valid for any
    // content.
    Some(unsafe { core::slice::from_raw_parts(p, len as usize) })
}

/// A short line of text on the stack, for messages to init.
pub(crate) struct Line {
    buf: [u8; 200],
    len: usize,
}

impl Line {
    pub(crate) const fn new() -> Line {
        Line { buf: [0; 200], len: 0 }
    }
    pub(crate) fn as_str(&self) -> &str {
        let b = self.buf.get(..self.len).unwrap_or(&[]);
        match core::str::from_utf8(b) {
            Ok(s) => s,
            // Cut inside a character: keep the valid part.
            Err(e) => core::str::from_utf8(b.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
        }
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

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

/// End the program: a server reports exit code 0 to init (which tears it
/// down); a root task suspends its thread.
pub fn exit() -> ! {
    if SERVER.load(Ordering::Relaxed) {
        crate::server::exit_with(0, "");
    }
    stop()
}

/// Suspend the thread; if that fails, give the CPU away forever.
pub(crate) fn stop() -> ! {
    let _ = SELF_THREAD.suspend();
    loop {
        sys::yield_now();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    static PANICKED: AtomicBool = AtomicBool::new(false);
    if PANICKED.swap(true, Ordering::Relaxed) {
        // A panic while panicking (in the report itself): stop quietly.
        stop()
    }
    if SERVER.load(Ordering::Relaxed) {
        crate::println!("panicked: {info}");
        let mut m = Line::new();
        let _ = write!(m, "{}", info.message());
        if let Some(l) = info.location() {
            let _ = write!(m, " at {}:{}", l.file(), l.line());
        }
        crate::server::exit_with(EXIT_PANIC, m.as_str());
    }
    crate::println!("rt: {info}");
    stop()
}

/// A volatile 32-bit load from device register `addr` (inside a device
/// region init mapped: checked by `server::Mmio`).
pub(crate) fn mmio_read32(addr: u64) -> u32 {
    let p = core::ptr::with_exposed_provenance::<u32>(addr as usize);
    // SAFETY: `addr` is 4-aligned and inside a device region init mapped
    // read-write for the server's lifetime (`Mmio::reg` checked both
    // against the start info's region, itself checked to lie in the MMIO
    // area). Device memory is not a Rust object; volatile keeps the access.
    unsafe { core::ptr::read_volatile(p) }
}

/// A volatile 32-bit store to device register `addr` (as `mmio_read32`).
pub(crate) fn mmio_write32(addr: u64, value: u32) {
    let p = core::ptr::with_exposed_provenance_mut::<u32>(addr as usize);
    // SAFETY: as in `mmio_read32`, with the region mapped writable.
    unsafe { core::ptr::write_volatile(p, value) }
}

/// A volatile byte load from device register `addr` (inside a device region
/// init mapped: checked by `server::Mmio`).
pub(crate) fn mmio_read8(addr: u64) -> u8 {
    let p = core::ptr::with_exposed_provenance::<u8>(addr as usize);
    // SAFETY: `addr` is inside a device region init mapped read-write for
    // the server's lifetime (`Mmio::reg8` checked it against the start
    // info's region, itself checked to lie in the MMIO area). Device memory
    // is not a Rust object; volatile keeps the access and its width.
    unsafe { core::ptr::read_volatile(p) }
}

/// A volatile byte store to device register `addr` (as `mmio_read8`).
pub(crate) fn mmio_write8(addr: u64, value: u8) {
    let p = core::ptr::with_exposed_provenance_mut::<u8>(addr as usize);
    // SAFETY: as in `mmio_read8`, with the region mapped writable.
    unsafe { core::ptr::write_volatile(p, value) }
}
