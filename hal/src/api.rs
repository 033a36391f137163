//! The contract between the kernel and the hardware: small traits that every
//! arch implements on its zero-sized `Arch` type, plus the plain data types
//! (boot information, traps, mapping flags) they exchange.
//!
//! The kernel only ever names these traits and `hal::Arch`; it never tests
//! `cfg(target_arch)`. Adding an arch means implementing this file's traits in
//! `hal/src/<arch>/` under the same module names (`boot`, `cpu`, `fpu`, `irq`, `mmu`,
//! `timer`, `trap`, `serial`).

use core::fmt;

/// A physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

/// A virtual address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtAddr(pub u64);

impl fmt::Debug for PhysAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{:#x}", self.0)
    }
}
impl fmt::Debug for VirtAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "V{:#x}", self.0)
    }
}

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysRange {
    pub start: PhysAddr,
    pub end: PhysAddr,
}

impl PhysRange {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start: PhysAddr(start), end: PhysAddr(end) }
    }
    pub const fn len(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.start.0 < other.end.0 && other.start.0 < self.end.0
    }
}

/// What the firmware says a physical memory region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// RAM free for the kernel and user space (before the kernel image and the
    /// boot archive are taken out of it: see `BootInfo::kernel_image` and
    /// `BootInfo::boot_archive`).
    Usable,
    /// Reserved by the machine or firmware; never touch.
    Reserved,
    /// ACPI tables, reclaimable once read.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Faulty RAM.
    Bad,
}

impl MemoryKind {
    pub const fn name(self) -> &'static str {
        match self {
            MemoryKind::Usable => "usable",
            MemoryKind::Reserved => "reserved",
            MemoryKind::AcpiReclaimable => "acpi-reclaimable",
            MemoryKind::AcpiNvs => "acpi-nvs",
            MemoryKind::Bad => "bad",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    pub range: PhysRange,
    pub kind: MemoryKind,
}

/// Most memory-map entries the boot code keeps; later entries are dropped with
/// a warning on the console (QEMU gives fewer than ten).
pub const MAX_MEMORY_REGIONS: usize = 64;
/// Most MMIO regions the hal asks the kernel to map.
pub const MAX_MMIO_REGIONS: usize = 16;
/// Longest kernel command line kept; longer ones are truncated.
pub const MAX_CMDLINE: usize = 1024;

/// A section of the kernel image, for building the kernel's own page table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelSection {
    pub name: &'static str,
    pub virt: VirtAddr,
    pub phys: PhysAddr,
    /// Size in bytes, rounded up to the page size.
    pub size: u64,
    pub flags: MapFlags,
}

/// Everything the arch boot code found, handed to the kernel's main function.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// `"x86_64"` or `"riscv64"`.
    pub arch: &'static str,
    /// How the machine booted, e.g. `"PVH"` or `"OpenSBI, hart 0"`.
    pub boot_protocol: &'static str,
    /// Firmware memory map, sorted by address, non-overlapping.
    pub memory: [MemoryRegion; MAX_MEMORY_REGIONS],
    pub memory_len: usize,
    /// Physical extent of the loaded kernel image (all sections).
    pub kernel_image: PhysRange,
    /// The kernel image's sections with the rights they need.
    pub kernel_sections: [KernelSection; 4],
    /// The boot archive (QEMU `-initrd`), if the loader passed one.
    pub boot_archive: Option<PhysRange>,
    /// Device registers the hal drives, to be mapped uncached at
    /// `phys_offset + pa` in the kernel address space.
    pub mmio: [PhysRange; MAX_MMIO_REGIONS],
    pub mmio_len: usize,
    /// Kernel command line (QEMU `-append`), UTF-8, possibly empty.
    pub cmdline: &'static str,
}

impl BootInfo {
    pub fn memory(&self) -> &[MemoryRegion] {
        self.memory.get(..self.memory_len).unwrap_or(&[])
    }
    pub fn mmio(&self) -> &[PhysRange] {
        self.mmio.get(..self.mmio_len).unwrap_or(&[])
    }
}

/// How the machine should end (see `Cpu::exit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    Success,
    Failure,
}

/// The processor.
pub trait Cpu {
    /// Index of the executing CPU (0 on the boot CPU).
    fn id() -> usize;
    /// Wait for the next interrupt with interrupts enabled, then return with
    /// interrupts in the state they were in before the call.
    fn wait_for_interrupt();
    fn enable_interrupts();
    fn disable_interrupts();
    fn interrupts_enabled() -> bool;
    /// A cycle counter for benchmarks (`rdtsc`, `rdcycle`/`rdtime`).
    fn cycles() -> u64;
    /// Stop the machine. Under QEMU this ends QEMU with an exit status that
    /// tells success from failure (isa-debug-exit on x86_64, the virt test
    /// device on riscv64); on anything else it halts forever.
    fn exit(code: ExitCode) -> !;
    /// Execute an instruction the CPU rejects (`ud2`, `unimp`): lets a test
    /// image prove that unexpected exceptions are reported.
    fn illegal_instruction();
    /// Leave the kernel for user mode with the registers in `frame`.
    ///
    /// Discards the whole kernel stack of this CPU (nothing on it may be
    /// needed again) and resumes the frame, which must come from
    /// `TrapFrameOps::new_user` or from a trap taken in user mode. The next
    /// trap from user mode starts again at the top of this CPU's kernel stack.
    fn enter_user(frame: &crate::TrapFrame) -> !;
}

/// x86 I/O ports (for IoPort capabilities). On arches without port I/O every
/// call fails.
pub trait PortIo {
    /// Whether this arch has I/O ports at all.
    const HAS_PORTS: bool;
    /// Read `width` bytes (1, 2 or 4) from `port`; `None` for a bad width or
    /// no port I/O.
    fn port_in(port: u16, width: u8) -> Option<u32>;
    /// Write `width` bytes (1, 2 or 4) to `port`; `false` for a bad width or
    /// no port I/O.
    fn port_out(port: u16, width: u8, value: u32) -> bool;
}

/// The serial console.
pub trait Console {
    /// Write bytes, translating `\n` to `\r\n`. Callable from any context,
    /// including trap handlers and the panic handler; never blocks forever.
    fn write_bytes(bytes: &[u8]);
    /// The console UART's register page, if it is memory-mapped (riscv64):
    /// the kernel hands it to user space as device untyped so that the
    /// console server can map it, while the kernel keeps writing the
    /// transmitter for its own output (`DebugWrite`, kernel messages). The
    /// kernel never reads the receiver and never enables the UART's
    /// interrupts: input belongs to the console server. `None` when the
    /// UART is reached otherwise (x86_64 I/O ports).
    fn shared_region() -> Option<PhysRange>;
}

/// The timer that drives `Trap::Timer`.
pub trait Timer {
    /// Start periodic ticks at `hz` (each one a `TrapKind::Timer`).
    fn start_periodic(hz: u32);
    /// Arm a single timer interrupt `delta_ns` from now, replacing any
    /// periodic or pending one (for a tickless scheduler).
    fn arm_oneshot(delta_ns: u64);
    /// Stop timer interrupts.
    fn stop();
    /// Monotonic nanoseconds since an arbitrary point at boot.
    fn now_ns() -> u64;
    /// Ticks per second of the clock counter user mode may read (x86_64
    /// `rdtsc`, riscv64 `rdtime`), the one `now_ns` is derived from.
    fn clock_hz() -> u64;
    /// Acknowledge a timer interrupt; called by the kernel from its trap
    /// handler for every `TrapKind::Timer` (re-arms the next periodic tick
    /// where the hardware has no periodic mode).
    fn ack();
}

/// Errors from the interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqError {
    /// No such interrupt line on this machine.
    NoSuchIrq,
}

/// The interrupt controller for device interrupts (the timer has its own).
pub trait InterruptController {
    /// Unmask device interrupt `irq` (GSI on x86_64, PLIC source on riscv64).
    fn enable_irq(irq: u32) -> Result<(), IrqError>;
    fn disable_irq(irq: u32) -> Result<(), IrqError>;
    /// Signal completion of `irq`, delivered earlier as `TrapKind::External`.
    fn end_of_interrupt(irq: u32);
}

/// Access rights and attributes of a mapping.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct MapFlags(u32);

impl MapFlags {
    pub const READ: MapFlags = MapFlags(1 << 0);
    pub const WRITE: MapFlags = MapFlags(1 << 1);
    pub const EXECUTE: MapFlags = MapFlags(1 << 2);
    /// Accessible from user mode.
    pub const USER: MapFlags = MapFlags(1 << 3);
    /// Present in every address space (kernel mappings).
    pub const GLOBAL: MapFlags = MapFlags(1 << 4);
    /// Device memory: uncached, no speculation.
    pub const DEVICE: MapFlags = MapFlags(1 << 5);

    pub const fn empty() -> Self {
        MapFlags(0)
    }
    pub const fn bits(self) -> u32 {
        self.0
    }
    pub const fn contains(self, other: MapFlags) -> bool {
        self.0 & other.0 == other.0
    }
    pub const fn union(self, other: MapFlags) -> MapFlags {
        MapFlags(self.0 | other.0)
    }
}

impl core::ops::BitOr for MapFlags {
    type Output = MapFlags;
    fn bitor(self, rhs: MapFlags) -> MapFlags {
        self.union(rhs)
    }
}

impl fmt::Debug for MapFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (MapFlags::READ, 'r'),
            (MapFlags::WRITE, 'w'),
            (MapFlags::EXECUTE, 'x'),
            (MapFlags::USER, 'u'),
            (MapFlags::GLOBAL, 'g'),
            (MapFlags::DEVICE, 'd'),
        ];
        for (flag, c) in names {
            let c = if self.contains(flag) { c } else { '-' };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// Page sizes a mapping can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    Size4K,
    Size2M,
    Size1G,
}

impl PageSize {
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 4096,
            PageSize::Size2M => 2 * 1024 * 1024,
            PageSize::Size1G => 1024 * 1024 * 1024,
        }
    }
}

/// Why a page-table operation failed. No state changed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Something is already mapped there.
    AlreadyMapped,
    /// Nothing is mapped there.
    NotMapped,
    /// The frame allocator ran dry while allocating a page-table page.
    OutOfMemory,
    /// Address not aligned to the page size.
    Misaligned,
    /// Address outside the range this table maps (non-canonical, or in the
    /// wrong half).
    BadAddress,
    /// A larger page covers the address.
    HugePage,
    /// The flags ask for something the arch cannot express (e.g. W without R).
    BadFlags,
}

/// Hands out zeroed 4 KiB physical frames for page-table pages.
pub trait FrameAllocator {
    fn alloc_frame(&mut self) -> Option<PhysAddr>;
}

/// One address space's page table (x86_64 4-level, riscv64 Sv39).
///
/// Page-table pages are reached through the direct physical map at
/// `Mmu::PHYS_OFFSET`, which the boot code sets up before the kernel runs.
pub trait PageTable: Sized {
    /// A new, empty root table.
    fn new(alloc: &mut dyn FrameAllocator) -> Result<Self, MapError>;
    /// Physical address of the root table.
    fn root(&self) -> PhysAddr;
    /// Map one page of `size` at `va` to `pa`.
    fn map(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: PageSize,
        flags: MapFlags,
        alloc: &mut dyn FrameAllocator,
    ) -> Result<(), MapError>;
    /// Remove the mapping at `va`; returns what it mapped. Flushes the TLB
    /// entry on this CPU.
    fn unmap(&mut self, va: VirtAddr) -> Result<(PhysAddr, PageSize), MapError>;
    /// Where `va` leads, with the mapping's flags.
    fn translate(&self, va: VirtAddr) -> Option<(PhysAddr, MapFlags)>;
    /// Switch this CPU to this address space.
    ///
    /// # Safety
    /// The table must map the running kernel (code, stack, data, the direct
    /// map and the devices the hal uses) exactly as the current one does.
    unsafe fn activate(&self);
    /// Rebuild a handle for a table whose root is `root` (for the kernel,
    /// which keeps only the root address in its objects).
    ///
    /// # Safety
    /// `root` must be the root of a table built by this type and still alive.
    unsafe fn from_root(root: PhysAddr) -> Self;
    /// Share the kernel half: copy `kernel`'s top-level entries for the
    /// kernel half of the address space into this table. The kernel half's
    /// top-level entries never change after boot, so a copy stays valid.
    fn copy_kernel_half(&mut self, kernel: &Self);
    /// Install `table`, a zeroed 4 KiB frame, as the first missing
    /// intermediate table on the path to `va` (a user-half address). Returns
    /// the size of the region the new table covers (e.g. 2 MiB for a table of
    /// 4 KiB entries). `AlreadyMapped` if no table is missing down to the
    /// 4 KiB level, `HugePage` if a large page covers `va`.
    fn map_table(&mut self, va: VirtAddr, table: PhysAddr) -> Result<PageSize, MapError>;
    /// Remove the intermediate table `table` from wherever it is linked on the
    /// path to `va`; it must be empty of mappings the caller still tracks
    /// (the kernel unmaps a table's frames first). `NotMapped` if `table` is
    /// not on that path. Flushes the TLB for the region.
    fn unmap_table(&mut self, va: VirtAddr, table: PhysAddr) -> Result<(), MapError>;
    /// Change the flags of the existing mapping at `va` (same size, same
    /// frame). Flushes the TLB entry.
    fn protect(&mut self, va: VirtAddr, flags: MapFlags) -> Result<(), MapError>;
}

/// Fixed facts of the arch's memory layout.
pub trait Mmu {
    /// Virtual address of physical address 0 in the direct physical map.
    const PHYS_OFFSET: u64;
    /// Size of the direct map's window (the highest physical address it can
    /// cover, exclusive).
    const PHYS_MAP_SIZE: u64;
    /// Lowest kernel-half virtual address; user addresses are below
    /// `USER_END`.
    const KERNEL_BASE: u64;
    const USER_END: u64;
    /// Largest page size the arch supports for mappings.
    const LARGEST_PAGE: PageSize;

    /// Direct-map virtual address of a physical address.
    fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
        VirtAddr(pa.0.wrapping_add(Self::PHYS_OFFSET))
    }
}

/// Kind of memory access in a page fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// What a trap was, decoded from the arch's vector or cause register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// Timer interrupt (call `Timer::ack`).
    Timer,
    /// Device interrupt `irq`, already claimed (call
    /// `InterruptController::end_of_interrupt`).
    External {
        irq: u32,
    },
    /// Spurious interrupt; nothing to do.
    Spurious,
    PageFault {
        addr: u64,
        access: Access,
    },
    IllegalInstruction,
    Breakpoint,
    /// `syscall` / `ecall` from user mode.
    Syscall,
    /// Misaligned access.
    Alignment {
        addr: u64,
    },
    /// Divide error and other arithmetic faults.
    Arithmetic,
    /// A user FP instruction while FP use traps (`FpStateOps::trap_use`,
    /// x86_64 #NM); the instruction runs again when the thread resumes.
    FpUnavailable,
    /// Protection fault not tied to an address (x86 #GP).
    GeneralProtection,
    /// Double fault and other unrecoverable machine conditions.
    Fatal,
    /// Anything else.
    Other,
}

/// One trap as the kernel sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    pub kind: TrapKind,
    /// The trap came from user mode.
    pub from_user: bool,
    /// Raw vector number (x86_64) or `scause` (riscv64).
    pub cause: u64,
    /// Raw error code (x86_64) or `stval` (riscv64).
    pub detail: u64,
    /// Human-readable name of the cause ("page fault", "illegal instruction").
    pub name: &'static str,
}

/// The saved registers of an interrupted context. `Display` prints every
/// register, for fault reports.
///
/// # The syscall register convention
/// A rint syscall passes a number and six arguments and returns seven words:
///
/// | | number | arguments 0..6 | results 0..7 |
/// |---|---|---|---|
/// | x86_64 (`syscall`) | rax | rdi, rsi, rdx, r10, r8, r9 | rax, rdi, rsi, rdx, r10, r8, r9 |
/// | riscv64 (`ecall`) | a7 | a0..a5 | a0..a6 |
///
/// `libipc::abi` gives the arguments and results their meaning.
pub trait TrapFrameOps: fmt::Display + Clone {
    /// Number of registers in [`user_reg`](Self::user_reg) order.
    const USER_REGS: usize;
    /// Names of the registers in `user_reg` order (for docs and reports).
    const USER_REG_NAMES: &'static [&'static str];

    fn pc(&self) -> u64;
    fn set_pc(&mut self, pc: u64);
    fn sp(&self) -> u64;
    /// A frame that starts user-mode execution at `pc` with stack `sp` and
    /// `arg0` in the first argument register, interrupts enabled, all other
    /// registers zero.
    fn new_user(pc: u64, sp: u64, arg0: u64) -> Self;
    /// The syscall number register.
    fn syscall_number(&self) -> u64;
    /// Syscall argument `i` (0..6); 0 for any other `i`.
    fn syscall_arg(&self, i: usize) -> u64;
    /// Set syscall result `i` (0..7); ignored for any other `i`.
    fn set_syscall_result(&mut self, i: usize, value: u64);
    /// The frame's pc is on a syscall instruction (riscv64 `ecall` traps with
    /// the pc on it): move past it. No-op where the CPU already did (x86_64).
    fn skip_syscall_instruction(&mut self);
    /// User-visible register `i` (general registers, pc, sp, flags, TLS
    /// base) in the arch's fixed order; 0 past the end.
    fn user_reg(&self, i: usize) -> u64;
    /// Set user register `i`. Privileged state cannot be reached this way:
    /// the arch keeps user mode, interrupts on, and only user flag bits.
    fn set_user_reg(&mut self, i: usize, value: u64);
    /// The thread-local-storage base (x86_64 FS base, riscv64 `tp`).
    fn tls(&self) -> u64;
    fn set_tls(&mut self, value: u64);
}

/// A thread's floating-point and vector registers, where the trap frame
/// does not carry them.
///
/// The kernel keeps one per thread and, for each CPU, whose state the
/// CPU's registers hold: a thread's, the initial state, or nothing worth
/// keeping. A thread that has never executed an FP instruction runs with
/// [`trap_use`](Self::trap_use) on and the registers in the initial state
/// (its own state, since it never changed it); its first FP instruction
/// traps (`TrapKind::FpUnavailable`) and from then on it is an FP user,
/// whose registers the kernel switches with the thread: when it switches a
/// CPU to another thread it calls [`save`](Self::save) for the holder (if
/// that thread still exists) and then [`load`](Self::load) or
/// [`load_initial`](Self::load_initial); otherwise it never calls them. So
/// the hal must keep the live state untouched across every kernel entry
/// and exit, idling included: on x86_64 the kernel is soft-float, the
/// x87/SSE registers are moved with FXSAVE/FXRSTOR and the trap is
/// CR0.TS (`x86_64/fpu.rs`). The registers never hold another thread's
/// values while the trap is on, so nothing leaks even to speculative FP
/// instructions (the LazyFP problem of classic lazy switching).
///
/// Where the trap frame already carries the FP state (riscv64: the kernel
/// itself may use FP registers, so every trap saves `f0..f31` and `fcsr`
/// in the frame) this is a zero-sized type whose functions do nothing:
/// the registers are always the running thread's.
pub trait FpStateOps: Sized {
    /// The state a new thread starts with: the architecture's initial
    /// state (x86_64: as after FNINIT, MXCSR 0x1f80, all registers zero),
    /// never another thread's values.
    fn initial() -> Self;
    /// Store the FP state live on this CPU into `self`. Only with
    /// `trap_use(false)`.
    fn save(&mut self);
    /// Make `self` the FP state this CPU's registers hold, for user mode
    /// to run with. Only with `trap_use(false)`.
    fn load(&self);
    /// Put this CPU's FP registers in the initial state (as `load` of
    /// `initial()`). Only with `trap_use(false)`.
    fn load_initial();
    /// Whether user mode's next FP instruction on this CPU traps
    /// (`TrapKind::FpUnavailable`) instead of running. Cheap when
    /// nothing changes.
    fn trap_use(on: bool);
}
