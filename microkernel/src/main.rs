//! rint: a capability-based microkernel.
//!
//! Design principles, in order of precedence:
//! 1. **Simple before fast.** Short, obvious paths; a fastpath is only ever an
//!    optimisation of a slow path that already works and is tested.
//! 2. **Safe before clever.** Nothing user space does may panic the kernel:
//!    every argument is checked and an error returned. `unsafe` is confined to
//!    the hal and the kernel's memory primitives, each block justified.
//! 3. **No policy in the kernel.** Address spaces, capabilities, IPC, faults
//!    and scheduling mechanisms live here; everything else is a server.
//! 4. **No cfg(target_arch).** The kernel sees the hal's traits only.
//!
//! Modules:
//! - [`console`]: `kprint!`/`kprintln!` over the hal serial console.
//! - [`cmdline`]: the kernel command line (`rint.test=...`).
//! - [`mem`]: boot frame allocator and the kernel's own address space.
//! - [`archive`]: reading the boot archive.
//! - [`trap`]: trap dispatch, timer ticks and fatal fault reports.
//! - [`trace`]: the event trace (a ring of recent kernel events).
//! - [`selftest`]: boot-time self tests selected by the command line.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

mod archive;
mod cmdline;
mod console;
mod fastpath;
mod fault;
mod ipc;
mod mem;
mod object;
mod root;
mod sched;
mod selftest;
mod state;
mod syscall;
mod trace;
mod trap;
mod umem;

use core::sync::atomic::Ordering;
use hal::{Arch, BootInfo, Cpu, ExitCode, Mmu, Timer};

hal::kernel_entry!(main = kernel_main, trap = trap::handle);

/// Timer frequency of the periodic tick before the scheduler takes over
/// (`rint.test=boot` counts its ticks); then the timer is one-shot.
pub const TICK_HZ: u32 = 100;

fn kernel_main(info: &'static BootInfo) -> ! {
    kprintln!();
    kprintln!(
        "rint {} microkernel on {} ({})",
        env!("CARGO_PKG_VERSION"),
        info.arch,
        info.boot_protocol
    );

    mem::print_memory_map(info);

    let archive = archive::load(info);
    let cmdline = cmdline::Cmdline::new(info.cmdline, archive.as_ref().and_then(archive::cmdline));
    if !cmdline.is_empty() {
        kprintln!("cmdline: {}", cmdline);
    }
    if let Some(a) = archive.as_ref() {
        archive::print_entries(a);
    }

    let mut frames = mem::BootFrames::new(info);
    match mem::build_kernel_space(info, &mut frames) {
        Ok(stats) => {
            kprintln!(
                "mmu: kernel address space active: {} sections, direct map {} MiB at {:#x}, {} page-table pages",
                stats.sections,
                stats.direct_map_bytes >> 20,
                <Arch as Mmu>::PHYS_OFFSET,
                stats.table_pages
            );
            state::KERNEL.lock().kernel_root = stats.root.0;
        }
        Err(e) => fatal_boot_error(format_args!("building the kernel address space: {e:?}")),
    }
    kprintln!("memory: {} MiB free after boot", frames.free_bytes() >> 20);

    // Interrupts stay off in the kernel: they are taken while idling and in
    // user mode only.
    Arch::start_periodic(TICK_HZ);
    kprintln!("timer: periodic tick at {} Hz", TICK_HZ);

    selftest::run(&cmdline);
    match cmdline.get("rint.sched") {
        Some("rr") => state::KERNEL.lock().use_round_robin(),
        None | Some("joint") => {}
        Some(other) => kprintln!("kernel: unknown rint.sched={} (joint, rr); using joint", other),
    }
    kprintln!(
        "sched: policy {}, tickless (one-shot timer, re-armed at least every {} ms), {} contexts per CPU",
        state::KERNEL.lock().policy_name(),
        state::MAX_SLICE_NS / 1_000_000,
        state::SC_MAX
    );
    if cmdline.get("rint.fastpath") == Some("off") {
        fastpath::ENABLED.store(false, Ordering::Relaxed);
        kprintln!("kernel: IPC fastpath off (rint.fastpath=off)");
    }
    if cmdline.get("rint.exit_on_idle").is_some() {
        trap::EXIT_ON_IDLE.store(true, Ordering::Relaxed);
    }
    if let Some(v) = cmdline.get("rint.trace") {
        let events = if v.is_empty() { trace::CAPACITY as u64 } else { v.parse().unwrap_or(0) };
        trace::DUMP_EVENTS.store(events, Ordering::Relaxed);
    }

    let started = {
        let mut k = state::KERNEL.lock();
        root::start(&mut k, info, archive.as_ref(), &mut frames)
    };
    match started {
        Ok(t) => {
            trace::ROOT_THREAD.store(t, Ordering::Relaxed);
            kprintln!("kernel: boot complete; starting init")
        }
        Err(e) => kprintln!("kernel: boot complete; no root task: {}", e),
    }
    trap::enter_user_first()
}

/// A boot step that cannot go on: report and stop the machine.
fn fatal_boot_error(args: core::fmt::Arguments<'_>) -> ! {
    kprintln!("kernel: boot failed: {}", args);
    Arch::exit(ExitCode::Failure)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    Arch::disable_interrupts();
    console::force_unlock();
    kprintln!("KERNEL PANIC: {}", info);
    Arch::exit(ExitCode::Failure)
}
