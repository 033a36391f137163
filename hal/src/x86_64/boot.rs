//! Boot through the Xen PVH entry point (how QEMU's `-kernel` starts an
//! ELF64 with a `XEN_ELFNOTE_PHYS32_ENTRY` note), early paging, and the
//! [`BootInfo`] handed to the kernel.
//!
//! The loader enters [`rint_pvh_start`] in 32-bit protected mode with paging
//! off and `ebx` = physical address of `struct hvm_start_info`. The asm:
//! 1. checks for long mode (prints a message on COM1 and stops if absent);
//! 2. builds the early page tables in `.boot.bss`: low 4 GiB identity mapped
//!    with 2-MiB pages (for the switch itself), the same 4 GiB at the direct
//!    map (`PHYS_OFFSET`), and the first GiB at `KERNEL_VMA` for the kernel
//!    image; 0xfe000000..4 GiB (IOAPIC, LAPIC, firmware) is uncached;
//! 3. enables PAE, EFER.LME (+ NXE if supported), paging and CR0.WP, loads a
//!    64-bit GDT and far-jumps to 64-bit code, then jumps to the higher half;
//! 4. clears `.bss`, switches to the boot stack (in `.stack`, above an
//!    unmapped guard page once the kernel's own page table is active) and
//!    calls [`boot_main`].
//!
//! [`boot_main`] brings up the console, GDT/TSS, IDT, interrupt controllers
//! and timer, copies everything it needs out of `hvm_start_info` (which lives
//! in low memory the kernel will not map) into statics, extends the early
//! direct map over the RAM above 4 GiB (the kernel builds its page tables in
//! any usable frame, through the direct map, before it switches to them), and
//! enters the kernel.
//!
//! The direct-map extension uses 1-GiB pages where the CPU has them (no
//! memory needed); otherwise 2-MiB pages, with one page directory per GiB of
//! RAM taken from the usable frames right after the kernel image. Those
//! frames are reported as part of `BootInfo::kernel_image`, so the kernel
//! never hands them out.

use super::{KERNEL_PHYS, KERNEL_VMA, cpu, irq, lapic, phys_ptr, serial, timer, trap};
use crate::api::Cpu;
use crate::api::{
    BootInfo, ExitCode, KernelSection, MAX_CMDLINE, MAX_MEMORY_REGIONS, MAX_MMIO_REGIONS, MapFlags,
    MemoryKind, MemoryRegion, PhysAddr, PhysRange, VirtAddr,
};
use core::arch::global_asm;
use spin::Once;
use x86_64::registers::control::Cr3;

const PAGE: u64 = 4096;

// ---------------------------------------------------------------------------
// Entry: 32-bit PVH start, early page tables, long mode, higher half.
// ---------------------------------------------------------------------------

global_asm!(
    r#"
    /* Xen PVH entry note: name "Xen", type XEN_ELFNOTE_PHYS32_ENTRY (18),
       4-byte descriptor = physical address of the 32-bit entry point.
       (QEMU reads 8 bytes for an ELF64 but keeps only the low 32 bits.) */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .balign 4
    .long rint_pvh_start
    .balign 4

    .section .boot.bss, "aw", @nobits
    .balign 4096
rint_boot_tables:
rint_boot_pml4:     .skip 4096
rint_boot_pdpt_id:  .skip 4096      /* PML4[0]: identity, 0..4 GiB */
rint_boot_pdpt_dm:  .skip 4096      /* PML4[256]: direct map at PHYS_OFFSET;
                                       above 4 GiB filled in by boot_main */
rint_boot_pdpt_hi:  .skip 4096      /* PML4[511]: kernel at KERNEL_VMA */
rint_boot_pd:       .skip 4 * 4096  /* 2-MiB pages for 0..4 GiB */
rint_boot_tables_end:

    .section .boot.text, "ax", @progbits
    .code32
    .global rint_pvh_start
    .type rint_pvh_start, @function
rint_pvh_start:
    cli
    cld
    mov %ebx, %esi                  /* hvm_start_info: kept in esi throughout */

    /* Long mode? (CPUID 0x80000001 EDX bit 29). Remember EDX in ebp:
       bit 20 = NX. */
    mov $0x80000000, %eax
    cpuid
    cmp $0x80000001, %eax
    jb rint_boot_no_long_mode
    mov $0x80000001, %eax
    cpuid
    bt $29, %edx
    jnc rint_boot_no_long_mode
    mov %edx, %ebp

    /* Clear the early page tables (the loader need not zero NOLOAD memory). */
    mov $rint_boot_tables, %edi
    mov $rint_boot_tables_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl

    /* PD0..PD3: 2048 2-MiB pages, phys 0..4 GiB; 0xfe000000+ uncached. */
    mov $rint_boot_pd, %edi
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax                  /* present, writable, 2-MiB page */
    cmp $0x7f0, %ecx
    jb 2f
    or $0x18, %eax                  /* PWT | PCD */
2:  mov %eax, (%edi,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jb 1b

    /* PDPT_id[0..4] and PDPT_dm[0..4] -> PD0..PD3. */
    mov $rint_boot_pd + 0x3, %eax
    xor %ecx, %ecx
3:  mov %eax, rint_boot_pdpt_id(,%ecx,8)
    mov %eax, rint_boot_pdpt_dm(,%ecx,8)
    add $4096, %eax
    inc %ecx
    cmp $4, %ecx
    jb 3b

    /* PDPT_hi[510] -> PD0: KERNEL_VMA + (0..1 GiB). */
    movl $rint_boot_pd + 0x3, rint_boot_pdpt_hi + 510 * 8

    movl $rint_boot_pdpt_id + 0x3, rint_boot_pml4
    movl $rint_boot_pdpt_dm + 0x3, rint_boot_pml4 + 256 * 8
    movl $rint_boot_pdpt_hi + 0x3, rint_boot_pml4 + 511 * 8

    /* PAE, then the page table. */
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $rint_boot_pml4, %eax
    mov %eax, %cr3

    /* EFER: long mode enable, and no-execute enable if supported. */
    mov $0xc0000080, %ecx
    rdmsr
    or $0x100, %eax
    bt $20, %ebp
    jnc 6f
    or $0x800, %eax
6:  wrmsr

    /* Paging, write protection in ring 0, numeric errors native. */
    mov %cr0, %eax
    or $0x80010021, %eax
    mov %eax, %cr0

    lgdt rint_boot_gdt_ptr
    ljmp $0x08, $rint_boot_long_mode

rint_boot_no_long_mode:
    mov $rint_boot_no_lm_msg, %esi
7:  lodsb
    test %al, %al
    jz 9f
    mov %al, %bl
    mov $0x3fd, %dx                 /* COM1 LSR: wait for THR empty */
8:  in %dx, %al
    test $0x20, %al
    jz 8b
    mov $0x3f8, %dx
    mov %bl, %al
    out %al, %dx
    jmp 7b
9:  hlt
    jmp 9b

    .balign 8
rint_boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08: 64-bit kernel code */
    .quad 0x00cf92000000ffff        /* 0x10: kernel data */
rint_boot_gdt_ptr:
    .word rint_boot_gdt_ptr - rint_boot_gdt - 1
    .long rint_boot_gdt
rint_boot_no_lm_msg:
    .asciz "rint: this CPU has no 64-bit long mode; stopping.\r\n"

    .code64
rint_boot_long_mode:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $rint_boot_high, %rax
    jmp *%rax

    /* --- higher half --- */
    .section .text.rint_boot_high, "ax", @progbits
    .global rint_boot_high
    .type rint_boot_high, @function
rint_boot_high:
    /* Clear .bss (rep stosq uses rdi, rcx, rax; esi still holds the
       start-info address). */
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq

    lea rint_boot_stack_top(%rip), %rsp
    xor %ebp, %ebp
    mov %esi, %edi                  /* zero-extends: hvm_start_info paddr */
    call {boot_main}
    ud2

    /* Stacks: boot stack first (the guard page below it is unmapped in the
       kernel's page table), then the IST stacks. */
    .section .stack, "aw", @nobits
    .balign 4096
    .global rint_boot_stack_top, rint_ist1_top, rint_ist2_top, rint_ist3_top
rint_boot_stack_bottom:
    .skip 64 * 1024
rint_boot_stack_top:
    .skip 16 * 1024
rint_ist1_top:
    .skip 16 * 1024
rint_ist2_top:
    .skip 16 * 1024
rint_ist3_top:
    "#,
    boot_main = sym boot_main,
    options(att_syntax)
);

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __data_end: u8;
    static __stack_start: u8;
    static __stack_end: u8;
    static __kernel_virt_end: u8;
}

// ---------------------------------------------------------------------------
// hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h)
// ---------------------------------------------------------------------------

const HVM_START_MAGIC: u32 = 0x336e_c578;

#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // mirrors the ABI layout; not every field is used
struct HvmStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    // Version 1 and later:
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // mirrors the ABI layout; not every field is used
struct HvmModlistEntry {
    paddr: u64,
    size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
#[allow(dead_code)] // mirrors the ABI layout; not every field is used
struct HvmMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

const GIB: u64 = 1 << 30;
/// Physical memory the asm's boot page tables reach at `PHYS_OFFSET`.
const BOOT_DIRECT_MAP: u64 = 4 * GIB;
/// Physical memory one PDPT reaches at `PHYS_OFFSET` (`Mmu::PHYS_MAP_SIZE`).
const MAX_DIRECT_MAP: u64 = 512 * GIB;
/// Page-table entry bits used here.
const PTE_PRESENT_WRITABLE: u64 = 0x3;
const PTE_HUGE: u64 = 0x80;
const PTE_ADDR: u64 = 0x000f_ffff_ffff_f000;

/// Read a `T` at physical address `pa` through the boot direct map, if the
/// whole object lies inside its first 4 GiB.
fn read_phys<T: Copy>(pa: u64) -> Option<T> {
    let end = pa.checked_add(core::mem::size_of::<T>() as u64)?;
    if pa == 0 || end > BOOT_DIRECT_MAP {
        return None;
    }
    // SAFETY: the boot page tables map [0, 4 GiB) at PHYS_OFFSET (checked
    // above); what is read is plain data in RAM (the loader's structures or
    // the boot page tables), unaligned-tolerant.
    Some(unsafe { phys_ptr::<T>(pa).read_unaligned() })
}

/// Write a page-table entry at physical `pa` (< 4 GiB, 8-byte aligned)
/// through the boot direct map.
fn write_pte(pa: u64, value: u64) {
    debug_assert!(pa + 8 <= BOOT_DIRECT_MAP && pa.is_multiple_of(8));
    // SAFETY: `pa` is an entry of the boot PDPT for the direct map (in
    // `.boot.bss`) or of a page directory just taken for it (a free usable
    // frame after the kernel image, see `extend_direct_map`), both below
    // 4 GiB and so mapped at PHYS_OFFSET; nothing else uses them during
    // boot, and the entries written map RAM only at PHYS_OFFSET + pa, which
    // no code refers to yet.
    unsafe { phys_ptr::<u64>(pa).write_volatile(value) }
}

// ---------------------------------------------------------------------------
// Rust entry
// ---------------------------------------------------------------------------

static BOOT_INFO: Once<BootInfo> = Once::new();
static CMDLINE: Once<CmdlineBuf> = Once::new();

struct CmdlineBuf {
    bytes: [u8; MAX_CMDLINE],
    len: usize,
}

impl CmdlineBuf {
    fn as_str(&self) -> &str {
        let b = self.bytes.get(..self.len).unwrap_or(&[]);
        match core::str::from_utf8(b) {
            Ok(s) => s,
            // Keep the valid prefix of a malformed command line.
            Err(e) => core::str::from_utf8(b.get(..e.valid_up_to()).unwrap_or(&[])).unwrap_or(""),
        }
    }
}

/// Called by the boot asm on the boot stack, in the higher half, with the
/// early page tables active and interrupts off.
extern "C" fn boot_main(start_info_pa: u64) -> ! {
    serial::init();
    cpu::init();
    trap::init();

    let Some(si) = read_phys::<HvmStartInfo>(start_info_pa).filter(|s| s.magic == HVM_START_MAGIC)
    else {
        hal_println!("x86_64: no PVH start info at {:#x} (bad magic); stopping", start_info_pa);
        super::Arch::exit(ExitCode::Failure);
    };
    if si.version < 1 || si.memmap_entries == 0 {
        hal_println!("x86_64: PVH start info version {} has no memory map; stopping", si.version);
        super::Arch::exit(ExitCode::Failure);
    }

    let cmdline = CMDLINE.call_once(|| read_cmdline(si.cmdline_paddr)).as_str();
    let info = BOOT_INFO.call_once(|| build_boot_info(&si, cmdline));

    lapic::init();
    irq::init();
    timer::init();

    crate::enter_kernel(info)
}

fn read_cmdline(pa: u64) -> CmdlineBuf {
    let mut buf = CmdlineBuf { bytes: [0; MAX_CMDLINE], len: 0 };
    if pa == 0 {
        return buf;
    }
    for (i, slot) in buf.bytes.iter_mut().enumerate() {
        match read_phys::<u8>(pa + i as u64) {
            Some(0) | None => break,
            Some(b) => {
                *slot = b;
                buf.len = i + 1;
            }
        }
    }
    buf
}

fn build_boot_info(si: &HvmStartInfo, cmdline: &'static str) -> BootInfo {
    let mut info = BootInfo {
        arch: "x86_64",
        boot_protocol: "PVH",
        memory: [MemoryRegion { range: PhysRange::default(), kind: MemoryKind::Reserved };
            MAX_MEMORY_REGIONS],
        memory_len: 0,
        kernel_image: PhysRange::default(),
        kernel_sections: kernel_sections(),
        boot_archive: None,
        mmio: [PhysRange::default(); MAX_MMIO_REGIONS],
        mmio_len: 0,
        cmdline,
    };

    let len = read_memory_map(si, &mut info.memory);
    let archive = read_first_module(si);
    let image_end = &raw const __kernel_virt_end as u64 - KERNEL_VMA;
    let (reach, image_end) = extend_direct_map(&info.memory[..len], archive, image_end);
    info.memory_len = clip_usable(&mut info.memory, len, reach);
    info.kernel_image = PhysRange::new(KERNEL_PHYS, image_end);
    info.boot_archive = archive.filter(|a| {
        let ok = a.end.0 <= reach;
        if !ok {
            hal_println!("x86_64: boot module at {:#x} is out of reach; ignoring it", a.start.0);
        }
        ok
    });

    let mmio = [
        PhysRange::new(lapic::phys_base(), lapic::phys_base() + PAGE),
        PhysRange::new(irq::IOAPIC_PHYS, irq::IOAPIC_PHYS + PAGE),
    ];
    for (slot, r) in info.mmio.iter_mut().zip(mmio) {
        *slot = r;
        info.mmio_len += 1;
    }
    info
}

fn section(name: &'static str, start: *const u8, end: *const u8, flags: MapFlags) -> KernelSection {
    let (start, end) = (start as u64, end as u64);
    KernelSection {
        name,
        virt: VirtAddr(start),
        phys: PhysAddr(start - KERNEL_VMA),
        size: (end - start).div_ceil(PAGE) * PAGE,
        flags,
    }
}

fn kernel_sections() -> [KernelSection; 4] {
    let r = MapFlags::READ;
    [
        section("text", &raw const __text_start, &raw const __text_end, r | MapFlags::EXECUTE),
        section("rodata", &raw const __rodata_start, &raw const __rodata_end, r),
        section("data", &raw const __data_start, &raw const __data_end, r | MapFlags::WRITE),
        section("stack", &raw const __stack_start, &raw const __stack_end, r | MapFlags::WRITE),
    ]
}

fn memory_kind(e820: u32) -> MemoryKind {
    match e820 {
        1 => MemoryKind::Usable,
        3 => MemoryKind::AcpiReclaimable,
        4 => MemoryKind::AcpiNvs,
        5 => MemoryKind::Bad,
        _ => MemoryKind::Reserved,
    }
}

/// Copy the E820-style memory map into `out`: sorted by address, empty
/// entries dropped, overlaps resolved in favour of the non-usable entry.
/// Returns the number of entries.
fn read_memory_map(si: &HvmStartInfo, out: &mut [MemoryRegion; MAX_MEMORY_REGIONS]) -> usize {
    let total = si.memmap_entries as usize;
    let mut n = 0;
    let entry_size = core::mem::size_of::<HvmMemmapEntry>() as u64;
    for i in 0..total {
        let Some(e) = read_phys::<HvmMemmapEntry>(si.memmap_paddr + i as u64 * entry_size) else {
            hal_println!("x86_64: memory map entry {} unreadable; ignoring the rest", i);
            break;
        };
        let end = e.addr.saturating_add(e.size);
        if e.size == 0 {
            continue;
        }
        let Some(slot) = out.get_mut(n) else {
            hal_println!(
                "x86_64: memory map has {} entries, keeping the first {}",
                total,
                MAX_MEMORY_REGIONS
            );
            break;
        };
        *slot = MemoryRegion { range: PhysRange::new(e.addr, end), kind: memory_kind(e.kind) };
        n += 1;
    }
    let map = &mut out[..n];
    // Insertion sort by start address (a handful of entries).
    for i in 1..map.len() {
        let mut j = i;
        while j > 0 && map[j - 1].range.start > map[j].range.start {
            map.swap(j - 1, j);
            j -= 1;
        }
    }
    // Overlaps: never report a byte usable that another entry reserves.
    for i in 1..map.len() {
        let (prev, cur) = (map[i - 1], map[i]);
        if prev.range.end <= cur.range.start {
            continue;
        }
        if prev.kind == MemoryKind::Usable && cur.kind != MemoryKind::Usable {
            map[i - 1].range.end = cur.range.start;
        } else {
            map[i].range.start = prev.range.end.min(cur.range.end);
        }
    }
    compact(out, n)
}

/// Drop the empty entries of `map[..n]`, keeping the order; returns the new
/// length.
fn compact(map: &mut [MemoryRegion], n: usize) -> usize {
    let mut kept = 0;
    for i in 0..n {
        if !map[i].range.is_empty() {
            map[kept] = map[i];
            kept += 1;
        }
    }
    kept
}

/// Usable RAM at or above `reach` cannot be used (the kernel could not zero
/// its page tables there before switching to them): cut it from `map[..n]`
/// with a warning. Returns the new length.
fn clip_usable(map: &mut [MemoryRegion], n: usize, reach: u64) -> usize {
    let mut dropped = 0;
    for r in map[..n].iter_mut().filter(|r| r.kind == MemoryKind::Usable && r.range.end.0 > reach) {
        let start = r.range.start.0.max(reach);
        dropped += r.range.end.0 - start;
        r.range.end.0 = start;
    }
    if dropped > 0 {
        hal_println!(
            "x86_64: ignoring {} MiB of RAM above {} GiB (out of the direct map's reach)",
            dropped >> 20,
            reach >> 30
        );
    }
    compact(map, n)
}

/// Whether the kernel touches GiB `g` through the direct map before it
/// switches to its own page table: usable RAM (page-table frames) or the
/// boot archive.
fn needed_before_kernel_tables(map: &[MemoryRegion], archive: Option<PhysRange>, g: u64) -> bool {
    let gib = PhysRange::new(g * GIB, (g + 1) * GIB);
    map.iter().any(|r| r.kind == MemoryKind::Usable && r.range.overlaps(&gib))
        || archive.is_some_and(|a| a.overlaps(&gib))
}

/// Whether the frame at `pa` is free usable RAM reachable now: inside a
/// usable region and the boot direct map, outside the boot archive.
fn frame_is_free(map: &[MemoryRegion], archive: Option<PhysRange>, pa: u64) -> bool {
    let frame = PhysRange::new(pa, pa + PAGE);
    frame.end.0 <= BOOT_DIRECT_MAP
        && map.iter().any(|r| {
            r.kind == MemoryKind::Usable && r.range.start <= frame.start && frame.end <= r.range.end
        })
        && !archive.is_some_and(|a| a.overlaps(&frame))
}

/// Extend the boot direct map (4 GiB from the asm) over the RAM and the boot
/// archive above 4 GiB, up to `MAX_DIRECT_MAP`: 1-GiB pages if the CPU has
/// them, else 2-MiB pages in page directories taken from the frames at
/// `image_end` (the end of the kernel image). Returns `(reach, image_end)`:
/// everything the kernel needs below `reach` is mapped, and the kernel image
/// with the page directories taken ends at the new `image_end`.
fn extend_direct_map(
    map: &[MemoryRegion],
    archive: Option<PhysRange>,
    mut image_end: u64,
) -> (u64, u64) {
    let (pml4, _) = Cr3::read_raw();
    let pml4 = pml4.start_address().as_u64();
    let Some(pdpt) = read_phys::<u64>(pml4 + 256 * 8).map(|e| e & PTE_ADDR) else {
        return (BOOT_DIRECT_MAP, image_end);
    };
    let mut reach = MAX_DIRECT_MAP;
    for g in BOOT_DIRECT_MAP / GIB..MAX_DIRECT_MAP / GIB {
        if !needed_before_kernel_tables(map, archive, g) {
            continue;
        }
        let entry = if cpu::has_1g_pages() {
            (g * GIB) | PTE_HUGE | PTE_PRESENT_WRITABLE
        } else {
            let pd = image_end;
            if !frame_is_free(map, archive, pd) {
                reach = g * GIB;
                break;
            }
            for i in 0..512 {
                write_pte(pd + 8 * i, (g * GIB + i * (2 << 20)) | PTE_HUGE | PTE_PRESENT_WRITABLE);
            }
            image_end += PAGE;
            pd | PTE_PRESENT_WRITABLE
        };
        write_pte(pdpt + 8 * g, entry);
    }
    // The entries were not present before, so nothing stale can be cached;
    // reloading CR3 makes that obvious.
    let (frame, flags) = Cr3::read_raw();
    // SAFETY: reloads the current page table unchanged (plus the mappings
    // just added), which maps everything running now.
    unsafe { Cr3::write_raw(frame, flags) };
    (reach, image_end)
}

/// The first PVH module (QEMU's `-initrd`): the boot archive.
fn read_first_module(si: &HvmStartInfo) -> Option<PhysRange> {
    if si.nr_modules == 0 {
        return None;
    }
    let m = read_phys::<HvmModlistEntry>(si.modlist_paddr)?;
    let end = m.paddr.checked_add(m.size)?;
    (m.size != 0).then(|| PhysRange::new(m.paddr, end))
}
