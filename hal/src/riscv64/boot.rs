//! Entry from OpenSBI, the early page table, and the boot information.
//!
//! OpenSBI (`-bios default`) starts the kernel in S-mode at its physical
//! load address (0x8020_0000) with the MMU off, `a0` = hart id and `a1` =
//! physical address of the device tree. The kernel is linked at
//! `0xffff_ffff_8020_0000` and loaded at `0x8020_0000` (`kernel.ld`), so
//! `_start` runs position-independent code only (`lla`, no absolute
//! addresses) until it has switched to the higher half:
//!
//! 1. The first hart to arrive claims the boot; any other parks (`wfi`
//!    forever). Under SBI HSM only one hart is started anyway.
//! 2. Zero `.bss`, then fill the boot root table (`.bss`, one page) with
//!    1 GiB pages: identity for `0x8000_0000..0xc000_0000` (the code that
//!    is running), the kernel at `0xffff_ffff_8000_0000` (slot 510) and the
//!    direct map `PHYS_OFFSET + [0, 64 GiB)` (slots 256..320, RW, no X).
//! 3. Turn on Sv39, jump to the higher half, switch to the boot stack
//!    (`.bss`), set `sscratch` = 0, `stvec`, `sstatus.FS` = Initial (the
//!    riscv64gc target may use FP registers), and call [`rv_boot_main`].
//!
//! `rv_boot_main` reads the device tree, sets up the UART, timer, PLIC and
//! test device, fills the static [`BootInfo`] and enters the kernel. Nothing
//! it leaves for later lives outside the kernel image or the direct map: the
//! kernel drops the identity map when it activates its own table.

use super::dtb::{self, Platform, Ranges};
use super::{Arch, PHYS_MAP_SIZE, PHYS_OFFSET, cpu, irq, phys_to_virt, serial, timer};
use crate::api::{
    BootInfo, Cpu, ExitCode, KernelSection, MAX_CMDLINE, MAX_MEMORY_REGIONS, MAX_MMIO_REGIONS,
    MapFlags, MemoryKind, MemoryRegion, PhysAddr, PhysRange, VirtAddr,
};
use crate::uart16550::Writer;
use core::arch::global_asm;
use core::fmt::Write;
use spin::Once;

/// Virtual minus physical address of the kernel image.
const KERNEL_OFFSET: u64 = 0xffff_ffff_0000_0000;
/// Physical base of the 1 GiB the kernel is loaded in (QEMU virt's RAM).
const KERNEL_PHYS_GIB: u64 = 0x8000_0000;
/// Boot stack size (also the kernel's stack until threads exist).
const BOOT_STACK_SIZE: usize = 64 * 1024;

// PTE bits for the boot table's gigapages (see `mmu` for their meaning).
const PTE_V: u64 = 1 << 0;
const PTE_R: u64 = 1 << 1;
const PTE_W: u64 = 1 << 2;
const PTE_X: u64 = 1 << 3;
const PTE_G: u64 = 1 << 5;
const PTE_A: u64 = 1 << 6;
const PTE_D: u64 = 1 << 7;
const BOOT_RWX: u64 = PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D;
const BOOT_KERNEL: u64 = BOOT_RWX | PTE_G;
const BOOT_DIRECT: u64 = PTE_V | PTE_R | PTE_W | PTE_G | PTE_A | PTE_D;

global_asm!(
    r#"
    .section .text.boot, "ax"
    // Module-level asm does not see the target features: name them.
    .option push
    .option arch, +a, +d
    .global _start
_start:
    // Only one hart boots; a late one parks.
    lla     t0, __rv_boot_claim
    li      t1, 1
    amoswap.w.aq t1, t1, (t0)
    bnez    t1, .Lpark

    // Zero .bss (at its physical address: lla is pc-relative).
    lla     t0, __bss_start
    lla     t1, __bss_end
1:
    bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:
    // The boot root table. Direct map: slots 256.. map 1 GiB each from 0.
    lla     t0, __rv_boot_root
    li      t1, 256 * 8
    add     t1, t0, t1
    li      t2, {direct}
    li      t3, (1 << 30) >> 2
    li      t4, {direct_gib}
3:
    sd      t2, 0(t1)
    add     t2, t2, t3
    addi    t1, t1, 8
    addi    t4, t4, -1
    bnez    t4, 3b
    // Identity for the running code's GiB, and the kernel slot 510.
    li      t2, ({kphys} >> 2) | {rwx}
    li      t1, ({kphys} >> 30) * 8
    add     t1, t0, t1
    sd      t2, 0(t1)
    li      t2, ({kphys} >> 2) | {kernel}
    li      t1, 510 * 8
    add     t1, t0, t1
    sd      t2, 0(t1)

    // Sv39 on.
    srli    t1, t0, 12
    li      t2, 8 << 60
    or      t1, t1, t2
    csrw    satp, t1
    sfence.vma

    // Continue in the higher half.
    li      t0, {offset}
    lla     t1, .Lhigh
    add     t1, t1, t0
    jr      t1
.Lhigh:
    lla     sp, __rv_boot_stack_top
    li      fp, 0
    li      ra, 0
    // No per-CPU block yet (tp), no global pointer relaxation (gp).
    li      tp, 0
    li      gp, 0
    csrw    sscratch, zero
    csrw    sie, zero
    csrci   sstatus, 2
    li      t0, 1 << 13
    csrs    sstatus, t0
    fscsr   zero
    // User mode may read cycle, time and instret (benchmarks, clocks):
    // scounteren.CY | TM | IR.
    li      t0, 7
    csrw    scounteren, t0
    lla     t0, __rv_trap_entry
    csrw    stvec, t0
    // a0 = hart id, a1 = device tree: untouched so far.
    call    {main}
.Lpark:
    csrw    sie, zero
    csrci   sstatus, 2
    wfi
    j       .Lpark
    .option pop

    .section .data.rv_boot_claim, "aw"
    .balign 4
__rv_boot_claim:
    .word   0

    .section .bss.rv_boot_root, "aw", @nobits
    .balign 4096
    .global __rv_boot_root
__rv_boot_root:
    .space  4096

    .section .bss.rv_boot_stack, "aw", @nobits
    .balign 4096
    .global __rv_boot_stack_bottom
__rv_boot_stack_bottom:
    .space  {stack}
    .global __rv_boot_stack_top
__rv_boot_stack_top:
    "#,
    direct = const BOOT_DIRECT,
    direct_gib = const PHYS_MAP_SIZE >> 30,
    kphys = const KERNEL_PHYS_GIB,
    rwx = const BOOT_RWX,
    kernel = const BOOT_KERNEL,
    offset = const KERNEL_OFFSET,
    stack = const BOOT_STACK_SIZE,
    main = sym rv_boot_main,
);

// The direct map's slots must not reach the kernel's slot 510.
const _: () = assert!(256 + (PHYS_MAP_SIZE >> 30) <= 510);
const _: () = assert!(PHYS_OFFSET == 256 << 30 | 0xffff_ff80_0000_0000);

// Section bounds from `kernel.ld` (virtual addresses, page aligned).
unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __bss_end: u8;
}

/// A string kept in a static buffer for the kernel's lifetime.
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text { buf: [0; N], len: 0 }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

impl<const N: usize> Write for Text<N> {
    /// Appends as much of `s` as fits, cut at a character boundary.
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = N - self.len;
        let mut n = s.len().min(room);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

static CMDLINE: Once<Text<MAX_CMDLINE>> = Once::new();
static PROTOCOL: Once<Text<32>> = Once::new();
static BOOT_INFO: Once<BootInfo> = Once::new();

fn stored<const N: usize>(
    cell: &'static Once<Text<N>>,
    args: core::fmt::Arguments<'_>,
) -> &'static str {
    cell.call_once(|| {
        let mut t = Text::new();
        // Text::write_str never fails (it truncates).
        let _ = t.write_fmt(args);
        t
    })
    .as_str()
}

/// A kernel section from linker symbols.
fn section(name: &'static str, start: *const u8, end: *const u8, flags: MapFlags) -> KernelSection {
    let (start, end) = (start as u64, end as u64);
    KernelSection {
        name,
        virt: VirtAddr(start),
        phys: PhysAddr(start - KERNEL_OFFSET),
        size: end.saturating_sub(start).div_ceil(4096) * 4096,
        flags,
    }
}

/// RAM minus the reserved ranges as `Usable`, plus the reserved ranges, sorted.
/// Returns the number of entries that did not fit.
fn memory_map(
    ram: &Ranges,
    reserved: &Ranges,
    out: &mut [MemoryRegion; MAX_MEMORY_REGIONS],
) -> (usize, usize) {
    let mut len = 0;
    let mut dropped = 0;
    let mut push = |range: PhysRange, kind: MemoryKind| {
        if range.is_empty() {
            return;
        }
        match out.get_mut(len) {
            Some(slot) => {
                *slot = MemoryRegion { range, kind };
                len += 1;
            }
            None => dropped += 1,
        }
    };
    for r in ram.as_slice() {
        let mut cursor = r.start.0;
        for res in reserved.as_slice().iter().filter(|res| res.overlaps(r)) {
            if res.start.0 > cursor {
                push(PhysRange::new(cursor, res.start.0), MemoryKind::Usable);
            }
            cursor = cursor.max(res.end.0);
        }
        if cursor < r.end.0 {
            push(PhysRange::new(cursor, r.end.0), MemoryKind::Usable);
        }
    }
    for res in reserved.as_slice() {
        push(*res, MemoryKind::Reserved);
    }
    out[..len].sort_unstable_by_key(|m| m.range.start.0);
    (len, dropped)
}

fn device_range(d: &dtb::Device, min_size: u64) -> PhysRange {
    PhysRange::new(d.base, d.base.saturating_add(d.size.max(min_size)))
}

fn build_boot_info(p: &Platform<'_>, hartid: u64) -> BootInfo {
    let mut memory = [MemoryRegion { range: PhysRange::default(), kind: MemoryKind::Reserved };
        MAX_MEMORY_REGIONS];
    let (memory_len, dropped) = memory_map(&p.ram, &p.reserved, &mut memory);
    if dropped + p.ram.dropped + p.reserved.dropped > 0 {
        let _ = writeln!(
            Writer,
            "riscv64: warning: memory map too long, {} entries dropped",
            dropped + p.ram.dropped + p.reserved.dropped
        );
    }

    let mut mmio = [PhysRange::default(); MAX_MMIO_REGIONS];
    let mut mmio_len = 0;
    let devices = [
        p.uart.map(|d| device_range(&d, 0x1000)),
        p.plic.map(|d| device_range(&d, 0x1000)),
        p.test_device.map(|d| device_range(&d, 0x1000)),
    ];
    for r in devices.into_iter().flatten() {
        if let Some(slot) = mmio.get_mut(mmio_len) {
            *slot = r;
            mmio_len += 1;
        }
    }

    let rx = MapFlags::READ | MapFlags::EXECUTE;
    let r = MapFlags::READ;
    let rw = MapFlags::READ | MapFlags::WRITE;
    let kernel_sections = [
        section(".text", &raw const __text_start, &raw const __text_end, rx),
        section(".rodata", &raw const __rodata_start, &raw const __rodata_end, r),
        section(".data", &raw const __data_start, &raw const __data_end, rw),
        section(".bss", &raw const __bss_start, &raw const __bss_end, rw),
    ];
    let kstart = (&raw const __kernel_start) as u64 - KERNEL_OFFSET;
    let kend = ((&raw const __kernel_end) as u64 - KERNEL_OFFSET).div_ceil(4096) * 4096;

    BootInfo {
        arch: "riscv64",
        boot_protocol: stored(&PROTOCOL, format_args!("OpenSBI, hart {hartid}")),
        memory,
        memory_len,
        kernel_image: PhysRange::new(kstart, kend),
        kernel_sections,
        boot_archive: p.initrd,
        mmio,
        mmio_len,
        cmdline: stored(&CMDLINE, format_args!("{}", p.bootargs)),
    }
}

/// Stop early: no console-independent way to report more.
fn boot_failed(args: core::fmt::Arguments<'_>) -> ! {
    let _ = writeln!(Writer, "riscv64: boot failed: {args}");
    Arch::exit(ExitCode::Failure)
}

/// The first Rust code, on the boot stack in the higher half with the boot
/// page table (called by `_start` only).
extern "C" fn rv_boot_main(hartid: u64, dtb_pa: u64) -> ! {
    if dtb_pa == 0 || dtb_pa >= PHYS_MAP_SIZE {
        boot_failed(format_args!("no device tree (a1 = {dtb_pa:#x})"));
    }
    // SAFETY: OpenSBI passes the physical address of a flattened device
    // tree in a1; it is in RAM below PHYS_MAP_SIZE (checked), so the boot
    // table's direct map covers it, and nothing writes to it. `from_ptr`
    // reads the header first and then only `totalsize` bytes. The borrow
    // does not outlive this function's use of `fdt` (copies are kept).
    let fdt = match unsafe { fdt::Fdt::from_ptr(phys_to_virt(dtb_pa) as *const u8) } {
        Ok(f) => f,
        Err(e) => boot_failed(format_args!("bad device tree at {dtb_pa:#x}: {e:?}")),
    };
    let p = dtb::parse(&fdt, dtb_pa, hartid);

    if let Some(uart) = p.uart {
        serial::init(uart.base, p.uart_reg_shift);
    }
    if let Some(test) = p.test_device {
        cpu::set_test_device(test.base);
    }
    timer::init(p.timebase_hz);
    if let Some(plic) = p.plic {
        irq::init(plic.base, p.plic_ndev, p.plic_context);
    }
    if p.ram.as_slice().is_empty() {
        boot_failed(format_args!("the device tree lists no memory"));
    }

    let _ = writeln!(
        Writer,
        "riscv64: hart {}, timebase {} Hz, uart {:#x}, plic {:#x} ({} sources, context {}), test device {:#x}",
        hartid,
        timer::timebase_hz(),
        p.uart.map_or(0, |d| d.base),
        p.plic.map_or(0, |d| d.base),
        p.plic_ndev,
        p.plic_context,
        p.test_device.map_or(0, |d| d.base),
    );

    let info = BOOT_INFO.call_once(|| build_boot_info(&p, hartid));
    crate::enter_kernel(info)
}
