//! Linux errno values (identical on x86_64 and riscv64). A syscall returns
//! `-errno` in its result register.

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const ESRCH: i32 = 3;
pub const EINTR: i32 = 4;
pub const EIO: i32 = 5;
pub const ENXIO: i32 = 6;
pub const E2BIG: i32 = 7;
pub const ENOEXEC: i32 = 8;
pub const EBADF: i32 = 9;
pub const ECHILD: i32 = 10;
pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
pub const EACCES: i32 = 13;
pub const EFAULT: i32 = 14;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const EXDEV: i32 = 18;
pub const ENODEV: i32 = 19;
pub const ENOTDIR: i32 = 20;
pub const EISDIR: i32 = 21;
pub const EINVAL: i32 = 22;
pub const ENFILE: i32 = 23;
pub const EMFILE: i32 = 24;
pub const ENOTTY: i32 = 25;
pub const EFBIG: i32 = 27;
pub const ENOSPC: i32 = 28;
pub const ESPIPE: i32 = 29;
pub const EROFS: i32 = 30;
pub const EPIPE: i32 = 32;
pub const ERANGE: i32 = 34;
pub const EDEADLK: i32 = 35;
pub const ENAMETOOLONG: i32 = 36;
pub const ENOSYS: i32 = 38;
pub const ENOTEMPTY: i32 = 39;
pub const ELOOP: i32 = 40;
pub const EOVERFLOW: i32 = 75;
pub const ENOTSOCK: i32 = 88;
pub const EOPNOTSUPP: i32 = 95;
pub const ETIMEDOUT: i32 = 110;

/// The result-register value of a syscall that fails with `errno`
/// (`-errno` as a 64-bit two's-complement word).
pub const fn ret(errno: i32) -> u64 {
    (-(errno as i64)) as u64
}

/// The errno of a result-register value, if it is an error (Linux returns
/// errors as -4095..=-1).
pub const fn of(ret: u64) -> Option<i32> {
    let v = ret as i64;
    if v < 0 && v >= -4095 { Some(-v as i32) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_encoding() {
        assert_eq!(
            (EPERM, EBADF, ENOMEM, EFAULT, EINVAL, ENOTTY, ENOSYS),
            (1, 9, 12, 14, 22, 25, 38)
        );
        assert_eq!(ret(ENOSYS), 0xffff_ffff_ffff_ffda);
        assert_eq!(of(ret(ENOSYS)), Some(ENOSYS));
        assert_eq!(of(0), None);
        assert_eq!(of(0x7fff_0000_0000), None);
        // Errors are -4095..=-1 only: -4096 is a value (an address), not an error.
        assert_eq!(of((-4096i64) as u64), None);
        assert_eq!(of((-4095i64) as u64), Some(4095));
    }
}
