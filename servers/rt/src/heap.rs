//! The heap: a global allocator (`linked_list_allocator`, locked with a
//! spin lock) over the area init maps for a server
//! (`StartInfo::heap`). Until [`init`] runs, every allocation fails (and
//! `alloc` reports it through the panic handler).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use linked_list_allocator::Heap;
use spin::Mutex;

struct Locked(Mutex<Heap>);

// SAFETY: every method goes through the lock; `Heap` hands out each block
// once and takes back only blocks it handed out (the `GlobalAlloc` contract
// of the callers).
unsafe impl GlobalAlloc for Locked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.0.lock().allocate_first_fit(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this `layout` (the
            // `GlobalAlloc::dealloc` contract).
            unsafe { self.0.lock().deallocate(p, layout) };
        }
    }
}

#[global_allocator]
static HEAP: Locked = Locked(Mutex::new(Heap::empty()));

/// Give the heap `[base, base + size)`. Once only: later calls do nothing.
///
/// # Safety
/// The range is mapped read-write, stays mapped for the rest of the
/// program, and nothing else uses it.
pub unsafe fn init(base: u64, size: u64) {
    let mut h = HEAP.0.lock();
    if h.size() == 0 && size > 0 {
        // SAFETY: the caller's contract.
        unsafe { h.init(base as usize as *mut u8, size as usize) };
    }
}

/// (bytes in use, bytes free).
pub fn usage() -> (usize, usize) {
    let h = HEAP.0.lock();
    (h.used(), h.free())
}

/// Give a root task a heap: map `size` bytes of fresh frames from `env` at
/// `va` in its own VSpace `vspace` and hand them to the allocator. Refused
/// if the heap already has memory, or if anything is mapped in the range
/// already (the kernel refuses a mapping over another).
pub fn map_own(
    env: &mut os::Env,
    vspace: libipc::cap::Cap<libipc::cap::VSpace>,
    va: u64,
    size: u64,
) -> Result<(), os::Error> {
    if HEAP.0.lock().size() != 0 {
        return Err(os::Error::Layout { what: "the heap has memory already", at: va });
    }
    let mut space = os::Space::from_cap(vspace);
    let range = os::layout::Range::sized(va, size)
        .ok_or(os::Error::Layout { what: "heap range wraps", at: va })?;
    space.map_zeroed(env, range, libipc::abi::Rights::READ.union(libipc::abi::Rights::WRITE))?;
    // SAFETY: every page of the range was just mapped read-write with a
    // fresh frame (the kernel refuses to map over an existing mapping, so
    // nothing of the program lived there), it stays mapped (the frame caps
    // stay in the caller's CNode), and only the allocator uses it.
    unsafe { init(va, size) };
    Ok(())
}
