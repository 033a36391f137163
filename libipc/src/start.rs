//! What a server finds when init starts it: the fixed layout of its
//! address space ([`layout`]). The start-info structure init writes at
//! [`layout::START_INFO`] comes with the server runtime.
//!
//! Shared by init (which builds the address space), the server runtime
//! (`servers/rt`, which reads it) and `servers/os` (whose ELF loader keeps
//! program segments out of these areas).

/// A native server's address space. Every address here is in the user half
/// on both arches (riscv64 Sv39 ends user space at 256 GiB).
///
/// ```text
/// 0x1000 .. IMAGE_END            the program's ELF segments
/// IPC_BUFFER                     the main thread's IPC buffer (one page)
/// START_INFO ..+START_INFO_SIZE  the start info (read-only)
/// STACK_TOP - stack size         the main thread's stack, an unmapped
///   .. STACK_TOP                 guard page below it
/// HEAP ..                        the heap (read-write, size in the start info)
/// FILES ..                       archive files, read-only, one after another
/// MMIO ..                        device regions, one after another
/// RESERVED_END                   end of the runtime's areas
/// ```
pub mod layout {
    pub const PAGE: u64 = 4096;
    /// Program segments must start at or above this (page 0 stays unmapped).
    pub const IMAGE_START: u64 = 0x1000;
    /// ... and end at or below this.
    pub const IMAGE_END: u64 = 0x1_0000_0000;
    /// Start of the areas the runtime owns: no program segment may go here.
    pub const RESERVED_START: u64 = IMAGE_END;
    /// The main thread's IPC buffer.
    pub const IPC_BUFFER: u64 = 0x1_0000_0000;
    /// The start info (read-only), up to [`START_INFO_SIZE`] bytes.
    pub const START_INFO: u64 = 0x1_0000_1000;
    pub const START_INFO_SIZE: u64 = 4 * PAGE;
    /// Top of the main thread's stack (it grows down).
    pub const STACK_TOP: u64 = 0x1_0100_0000;
    /// Largest main-thread stack (the page below it stays unmapped).
    pub const STACK_MAX: u64 = 0x80_0000;
    /// The heap.
    pub const HEAP: u64 = 0x1_1000_0000;
    pub const HEAP_MAX: u64 = 0xf000_0000;
    /// Archive files, read-only.
    pub const FILES: u64 = 0x2_0000_0000;
    pub const FILES_MAX: u64 = 0x1_0000_0000;
    /// Device (MMIO) regions.
    pub const MMIO: u64 = 0x3_0000_0000;
    pub const MMIO_MAX: u64 = 0x1_0000_0000;
    /// End of the runtime's areas.
    pub const RESERVED_END: u64 = 0x4_0000_0000;

    const _: () = assert!(START_INFO + START_INFO_SIZE <= STACK_TOP - STACK_MAX - PAGE);
    const _: () = assert!(STACK_TOP <= HEAP && HEAP + HEAP_MAX <= FILES);
    const _: () = assert!(FILES + FILES_MAX <= MMIO && MMIO + MMIO_MAX <= RESERVED_END);
}
