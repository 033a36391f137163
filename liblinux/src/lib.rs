//! Linux ABI definitions for the compatibility server (`servers/linux`, to
//! come): syscall numbers per arch, errno values, struct layouts.
//!
//! Nothing here yet but the errno values every later module needs; the
//! compatibility issue fills it in.

#![no_std]
#![forbid(unsafe_code)]

/// Linux errno values (identical on x86_64 and riscv64).
pub mod errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EBADF: i32 = 9;
    pub const ENOMEM: i32 = 12;
    pub const EFAULT: i32 = 14;
    pub const EINVAL: i32 = 22;
    pub const ENOSYS: i32 = 38;
}
