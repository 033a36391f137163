//! Where things go in a Linux process's address space (both arches: riscv64
//! Sv39 ends user space at 256 GiB, so everything stays below that).
//!
//! ```text
//! 0x10000 ..                 the program's ELF segments (ELF_MIN ..)
//!  image end ..              the heap (brk), up to BRK_MAX bytes
//! MMAP_AREA                  mmap, top down
//! STACK_TOP - STACK_SIZE     the stack (grows down), demand-zero
//!   .. STACK_TOP
//! IPC_BUFFER                 never mapped: the address the kernel records
//!                            for the thread's IPC buffer, which a Linux
//!                            program never uses
//! ```

use os::layout::Range;

/// Lowest address a segment may use (Linux's default `mmap_min_addr`).
pub const ELF_MIN: u64 = 0x1_0000;
/// Top of the initial stack.
pub const STACK_TOP: u64 = 0x3f_f000_0000;
/// Size of the stack region (touched pages only are mapped).
pub const STACK_SIZE: u64 = 8 << 20;
/// Where `mmap` places mappings without a fixed address.
pub const MMAP_AREA: Range = Range::new(0x10_0000_0000, STACK_TOP - STACK_SIZE - 0x10_0000);
/// Segments must end below the mmap area.
pub const ELF_MAX: u64 = MMAP_AREA.start;
/// Most the heap grows.
pub const BRK_MAX: u64 = 1 << 30;
/// The thread's IPC buffer address (page never mapped).
pub const IPC_BUFFER: u64 = 0x3f_ffff_f000;
