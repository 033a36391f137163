//! The processor: feature detection and control registers (SMEP, SMAP, UMIP,
//! FSGSBASE, global pages, x87/SSE for user mode), the `Cpu` trait (interrupt flag, `hlt`, `rdtsc`,
//! `ud2`, entering user mode), port I/O, and ending the machine through
//! QEMU's isa-debug-exit device.

use super::{Arch, gdt, user};
use crate::api::{Cpu, ExitCode, PortIo};
use core::arch::asm;
use core::arch::x86_64::{__cpuid, __cpuid_count};
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::instructions::port::Port;
use x86_64::instructions::{hlt, interrupts};
use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::{Efer, EferFlags};

/// I/O port of QEMU's `isa-debug-exit` device: writing `v` ends QEMU with
/// status `(v << 1) | 1`.
const DEBUG_EXIT_PORT: u16 = 0xf4;
const EXIT_SUCCESS: u32 = 0x10; // QEMU exit status 33
const EXIT_FAILURE: u32 = 0x11; // QEMU exit status 35

static NX: AtomicBool = AtomicBool::new(false);
static PAGES_1G: AtomicBool = AtomicBool::new(false);
static SMAP: AtomicBool = AtomicBool::new(false);
static FSGSBASE: AtomicBool = AtomicBool::new(false);

/// Whether EFER.NXE is on, so page-table entries may carry the NX bit.
pub(super) fn nx_enabled() -> bool {
    NX.load(Ordering::Relaxed)
}

/// Whether the CPU supports 1-GiB pages (CPUID pdpe1gb).
pub(super) fn has_1g_pages() -> bool {
    PAGES_1G.load(Ordering::Relaxed)
}

/// Whether CR4.SMAP is on (and so `clac`/`stac` exist).
pub(super) fn smap_enabled() -> bool {
    SMAP.load(Ordering::Relaxed)
}

/// Whether CR4.FSGSBASE is on (`rdfsbase`, `wrfsbase`, `rdgsbase`,
/// `wrgsbase` work, in user mode too).
pub(super) fn fsgsbase_enabled() -> bool {
    FSGSBASE.load(Ordering::Relaxed)
}

/// Clear RFLAGS.AC (what `clac` does), so SMAP applies. Done with
/// `pushfq`/`popfq` because `clac` and `stac` are not emulated by every
/// hypervisor (KVM PVM fails on them), and they do not exist without SMAP.
pub(super) fn clear_ac() {
    // SAFETY: rewrites RFLAGS with only AC (bit 18) cleared; every other
    // flag, IF included, keeps its value. Uses 8 bytes of stack.
    unsafe { asm!("pushfq", "and qword ptr [rsp], -0x40001", "popfq") };
}

/// CPUID.80000001H:EDX bit 26 (pdpe1gb).
fn cpuid_1g_pages() -> bool {
    let max_ext = __cpuid(0x8000_0000).eax;
    max_ext >= 0x8000_0001 && __cpuid(0x8000_0001).edx & (1 << 26) != 0
}

/// Bring up the boot CPU: GDT and TSS, the protection features the CPU
/// supports, then `syscall` and the per-CPU area (`user.rs`).
pub(super) fn init() {
    gdt::init();

    NX.store(Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE), Ordering::Relaxed);
    PAGES_1G.store(cpuid_1g_pages(), Ordering::Relaxed);

    let max_leaf = __cpuid(0).eax;
    let (ebx7, ecx7) = if max_leaf >= 7 {
        let r = __cpuid_count(7, 0);
        (r.ebx, r.ecx)
    } else {
        (0, 0)
    };
    // x87 and SSE for user mode: CR0.MP with EM and TS clear (x87 and SSE
    // instructions execute, `fwait` checks for x87 exceptions; CR0.NE, x87
    // errors as #MF, is set at boot), CR4.OSFXSR (SSE, FXSAVE/FXRSTOR) and
    // CR4.OSXMMEXCPT (SIMD exceptions as #XM). Every x86_64 CPU has them
    // and the x86_64 Linux ABI assumes them (musl uses SSE registers
    // throughout). The kernel and rint's own programs are built soft-float
    // and never touch this state; each thread has its own, switched with
    // the thread, and `fpu.rs` sets TS again while a thread that has not
    // used FP runs, to catch its first FP instruction.
    // SAFETY: MP only makes `fwait` honour TS, and clearing EM and TS
    // lets x87/SSE instructions execute instead of raising #UD/#NM; the
    // kernel executes none but `fxsave64`/`fxrstor64` (fpu.rs), which
    // need EM clear and TS clear when they run.
    unsafe {
        Cr0::update(|f| {
            f.insert(Cr0Flags::MONITOR_COPROCESSOR);
            f.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
        })
    };
    let mut flags = Cr4Flags::PAGE_GLOBAL | Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE;
    let mut names = ["", "", "", ""];
    if ebx7 & (1 << 7) != 0 {
        flags |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
        names[0] = " smep";
    }
    // SMAP: the kernel never touches user pages through user addresses (it
    // reads and writes user memory through the direct map, after walking
    // the user's page table), so AC stays clear in the kernel.
    if ebx7 & (1 << 20) != 0 {
        flags |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
        names[1] = " smap";
    }
    if ecx7 & (1 << 2) != 0 {
        flags |= Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION;
        names[2] = " umip";
    }
    // FSGSBASE: cheap FS base switches for TLS (see `user.rs` for what
    // user mode may then do with its FS and GS bases).
    if ebx7 & (1 << 0) != 0 {
        flags |= Cr4Flags::FSGSBASE;
        names[3] = " fsgsbase";
    }
    // SAFETY: every flag set is supported by this CPU (checked above; SSE
    // and FXSR by every x86_64 CPU) and none changes how the kernel runs:
    // OSFXSR/OSXMMEXCPT only let user mode execute SSE instructions (the
    // kernel is soft-float), global pages only affect TLB
    // flushing, SMEP/SMAP/UMIP only restrict access to user pages and
    // descriptor-table instructions from user mode (the kernel reaches user
    // memory only through the direct map), and FSGSBASE only makes four
    // instructions available.
    unsafe { Cr4::update(|f| f.insert(flags)) };
    SMAP.store(flags.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION), Ordering::Relaxed);
    FSGSBASE.store(flags.contains(Cr4Flags::FSGSBASE), Ordering::Relaxed);
    hal_println!(
        "x86_64: cpu features: nx={} 1g-pages={}{}{}{}{}",
        nx_enabled(),
        has_1g_pages(),
        names[0],
        names[1],
        names[2],
        names[3]
    );
    user::init();
}

impl Cpu for Arch {
    fn id() -> usize {
        0
    }

    fn wait_for_interrupt() {
        let were_enabled = interrupts::are_enabled();
        // `sti; hlt`: the interrupt shadow of `sti` makes sure an interrupt
        // pending now wakes the `hlt` instead of being taken before it.
        interrupts::enable_and_hlt();
        if !were_enabled {
            interrupts::disable();
        }
    }

    fn enable_interrupts() {
        interrupts::enable();
    }

    fn disable_interrupts() {
        interrupts::disable();
    }

    fn interrupts_enabled() -> bool {
        interrupts::are_enabled()
    }

    fn cycles() -> u64 {
        // SAFETY: `rdtsc` only reads the time-stamp counter (CR4.TSD is
        // clear, and this runs in ring 0 anyway).
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    fn exit(code: ExitCode) -> ! {
        let value = match code {
            ExitCode::Success => EXIT_SUCCESS,
            ExitCode::Failure => EXIT_FAILURE,
        };
        interrupts::disable();
        // SAFETY: port 0xf4 is QEMU's isa-debug-exit device (a write ends
        // QEMU); on a machine without it the write goes nowhere.
        unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(value) };
        halt_forever()
    }

    fn illegal_instruction() {
        // SAFETY: `ud2` raises #UD, which the trap code reports to the
        // kernel; it touches no memory or registers.
        unsafe { asm!("ud2", options(nomem, nostack)) };
    }

    fn enter_user(frame: &crate::TrapFrame) -> ! {
        user::enter_user(frame)
    }
}

/// Port I/O for IoPort capabilities: the kernel checks the capability, the
/// hal does the access (in ring 0; user mode has no port access).
impl PortIo for Arch {
    const HAS_PORTS: bool = true;

    fn port_in(port: u16, width: u8) -> Option<u32> {
        // SAFETY: an `in` touches no memory; which device register it reads
        // is the kernel's decision (an IoPort capability).
        unsafe {
            match width {
                1 => Some(u32::from(Port::<u8>::new(port).read())),
                2 => Some(u32::from(Port::<u16>::new(port).read())),
                4 => Some(Port::<u32>::new(port).read()),
                _ => None,
            }
        }
    }

    fn port_out(port: u16, width: u8, value: u32) -> bool {
        // SAFETY: an `out` touches no memory; which device register it
        // writes is the kernel's decision (an IoPort capability). Narrow
        // widths write the low bytes of `value`.
        unsafe {
            match width {
                1 => Port::<u8>::new(port).write(value as u8),
                2 => Port::<u16>::new(port).write(value as u16),
                4 => Port::<u32>::new(port).write(value),
                _ => return false,
            }
        }
        true
    }
}

/// Stop this CPU for good: interrupts off, `hlt` in a loop (an NMI may
/// still wake it; it halts again).
pub(super) fn halt_forever() -> ! {
    interrupts::disable();
    loop {
        hlt();
    }
}
