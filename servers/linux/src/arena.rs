//! The server's memory and slots, split in two: what the server itself
//! keeps (its fault endpoint, the page tables of its window) and the
//! [`Arena`] every Linux process is built in and which is taken back whole
//! when the process ends.
//!
//! init gives the server its memory quota as up to 8 untyped caps
//! (`rt::Start::untyped`) and its CNode's free slots. The server carves its
//! own few objects first (from the smallest untyped that fits); every
//! untyped it has not touched, and all but a few of its free slots, become
//! the arena. A process's objects (VSpace, CNode, thread, page tables,
//! frames) are carved only from the arena's untyped into the arena's slots,
//! so ending one is one `CNodeRevoke` per untyped (destroying every object
//! carved from it and every copy of their caps) and a sweep of the slots
//! (caps that are copies of the server's own, such as the badged fault
//! endpoint): nothing of a process outlives it.

use libipc::cap::{CNode, Cap, VSpace};
use os::{Env, SlotAlloc, UntypedAlloc, Window};

/// Slots the server keeps free for itself after the arena takes the rest.
const SPARE_SLOTS: u64 = 4;

/// Where the server maps a frame to fill or read it: outside every area of
/// a server's layout (`libipc::start::layout`, which ends at
/// `0x4_0000_0000`), inside the user half on both arches.
pub const WINDOW: u64 = 0x8_0000_0000;

/// Why the server could not set itself up.
#[derive(Clone, Copy, Debug)]
pub enum SetupError {
    Os(os::Error),
    /// Every untyped was needed for the server's own objects.
    NoMemory,
    /// Fewer than this many slots were left for processes.
    NoSlots(u64),
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::Os(e) => write!(f, "{e}"),
            SetupError::NoMemory => f.write_str(
                "no untyped memory left for Linux processes (give the server a larger `memory` quota)",
            ),
            SetupError::NoSlots(n) => write!(f, "only {n} CNode slots left for Linux processes"),
        }
    }
}

impl From<os::Error> for SetupError {
    fn from(e: os::Error) -> Self {
        SetupError::Os(e)
    }
}

/// The server's own resources, given by init.
pub struct Home {
    pub env: Env,
}

impl Home {
    /// Resources from the start info: `untyped` as `(slot, size_bits)`, the
    /// CNode's free slots `free`, and a window in the server's VSpace.
    pub fn new(
        cnode: Cap<CNode>,
        vspace: Cap<VSpace>,
        untyped: impl Iterator<Item = (u64, u8)>,
        free: (u64, u64),
    ) -> Result<Home, SetupError> {
        let mut slots = SlotAlloc::new(free.0, free.1);
        let mut mem = UntypedAlloc::new();
        for (slot, bits) in untyped {
            // Only sizes matter to the allocator: the start info's
            // addresses are offsets in the quota.
            mem.add(slot, 0, bits, false)?;
        }
        let window = Window::create(cnode, &mut slots, &mut mem, vspace, WINDOW)?;
        Ok(Home { env: Env::new(cnode, slots, mem, window) })
    }

    /// Make the arena from every untyped not carved from yet and all but
    /// [`SPARE_SLOTS`] free slots. Call after the server made its own
    /// objects.
    pub fn arena(&mut self, min_slots: u64) -> Result<Arena, SetupError> {
        let mut mem = UntypedAlloc::new();
        let mut i = 0;
        while let Some(e) = self.env.mem.entry(i).copied() {
            if e.watermark == 0 && !e.device {
                mem.add(e.slot, e.paddr, e.size_bits, false)?;
                self.env.mem.exhaust(i);
            }
            i += 1;
        }
        if mem.free_bytes() == 0 {
            return Err(SetupError::NoMemory);
        }
        let n = self.env.slots.free_count().saturating_sub(SPARE_SLOTS);
        if n < min_slots {
            return Err(SetupError::NoSlots(n));
        }
        let first = self.env.slots.alloc_run(n)?;
        Ok(Arena { cnode: self.env.cnode, mem, slots: (first, first + n), window: self.env.window })
    }
}

/// Memory and slots for one Linux process at a time.
pub struct Arena {
    cnode: Cap<CNode>,
    /// The arena's untyped, nothing carved (the state after [`Arena::reclaim`]).
    mem: UntypedAlloc,
    slots: (u64, u64),
    window: Window,
}

impl Arena {
    /// An environment for building a process in the whole arena.
    pub fn env(&self) -> Env {
        Env::new(
            self.cnode,
            SlotAlloc::new(self.slots.0, self.slots.1),
            self.mem.clone(),
            self.window,
        )
    }

    /// Bytes of memory in the arena.
    pub fn bytes(&self) -> u64 {
        self.mem.free_bytes()
    }

    /// Slots in the arena.
    pub fn slot_count(&self) -> u64 {
        self.slots.1 - self.slots.0
    }

    /// Destroy everything built in the arena: revoke each untyped (every
    /// object carved from it and all copies of their caps), then empty
    /// every arena slot (copies of the server's own caps). Errors are
    /// ignored: a slot already empty is what is wanted.
    pub fn reclaim(&self) {
        for e in self.mem.entries() {
            let _ = self.cnode.revoke(e.slot);
        }
        for s in self.slots.0..self.slots.1 {
            let _ = self.cnode.delete(s);
        }
    }
}
