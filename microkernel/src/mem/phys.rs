//! Kernel objects in physical memory.
//!
//! Every kernel object (thread, endpoint, notification, CNode, page tables)
//! lives in memory retyped from untyped, or in boot memory for the root
//! task's first objects, and is reached through the direct map. [`PhysRef`]
//! is the one way the kernel turns a physical address into a reference.
//!
//! # The aliasing discipline
//! The kernel runs on one CPU at a time with interrupts off (the big kernel
//! lock), so no two contexts touch objects concurrently. What remains is
//! Rust's rule that a `&mut` must be unique: kernel code takes a reference
//! to an object, uses it, and drops it before calling anything that may
//! reach the same object (a function that walks a queue, the derivation
//! tree, a destroy). References never outlive the function that made them
//! and are never stored.

use core::marker::PhantomData;
use hal::{Arch, Mmu, PhysAddr};

/// A `T` at a physical address.
pub struct PhysRef<T> {
    pa: u64,
    _t: PhantomData<*mut T>,
}

impl<T> Clone for PhysRef<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for PhysRef<T> {}

impl<T> PhysRef<T> {
    /// # Safety
    /// `pa` must hold a live, initialised `T` inside the direct map, aligned
    /// for `T`, for as long as any reference made from this handle is used:
    /// the kernel only makes handles from the addresses of objects it
    /// created (retype, boot) and that a capability still names.
    pub const unsafe fn new(pa: u64) -> Self {
        PhysRef { pa, _t: PhantomData }
    }

    fn ptr(self) -> *mut T {
        Arch::phys_to_virt(PhysAddr(self.pa)).0 as *mut T
    }

    /// Shared access (see the aliasing discipline above).
    pub fn get(self) -> &'static T {
        // SAFETY: `new`'s contract makes the address a live T in the direct
        // map; the module's discipline keeps a `&mut` to it from coexisting.
        unsafe { &*self.ptr() }
    }

    /// Exclusive access (see the aliasing discipline above).
    #[allow(clippy::mut_from_ref)]
    pub fn get_mut(self) -> &'static mut T {
        // SAFETY: as for `get`; the discipline makes this the only live
        // reference to the object while it is used.
        unsafe { &mut *self.ptr() }
    }

    /// Write a fresh value (object creation); the old bytes are not dropped.
    pub fn init(self, value: T) {
        // SAFETY: `new`'s contract: the address is valid for writes of T.
        unsafe { core::ptr::write(self.ptr(), value) };
    }
}

/// Zero `len` bytes of physical memory at `pa` (fresh objects and frames).
///
/// # Safety
/// The range must be RAM inside the direct map that nothing else refers to:
/// memory just carved from an untyped whose earlier objects are all gone.
pub unsafe fn zero(pa: u64, len: u64) {
    let va = Arch::phys_to_virt(PhysAddr(pa)).0 as *mut u8;
    // SAFETY: the caller guarantees the range is unused RAM in the direct map.
    unsafe { core::ptr::write_bytes(va, 0, len as usize) };
}

/// Copy bytes into physical memory (loading the root task's image).
///
/// # Safety
/// `pa..pa + bytes.len()` must be RAM in the direct map owned by the caller.
pub unsafe fn copy_to(pa: u64, bytes: &[u8]) {
    let va = Arch::phys_to_virt(PhysAddr(pa)).0 as *mut u8;
    // SAFETY: the caller guarantees the destination; `bytes` is a separate
    // kernel buffer (the boot archive), so the ranges cannot overlap.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), va, bytes.len()) };
}
