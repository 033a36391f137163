//! Reading the flattened device tree OpenSBI passes in `a1` (with the `fdt`
//! crate): RAM, reserved memory, the initrd, the command line and the
//! devices the hal drives.
//!
//! The blob is read through the direct map while the boot page table is
//! active; everything the kernel needs later is copied out (see `boot`), as
//! the kernel's own page table does not map the (reserved) blob.

use crate::api::PhysRange;
use fdt::Fdt;
use fdt::node::FdtNode;

const PAGE: u64 = 4096;

/// Most RAM ranges and reserved ranges collected (each).
pub const MAX_RANGES: usize = 32;

/// A fixed-capacity list of physical ranges.
#[derive(Clone, Copy)]
pub struct Ranges {
    items: [PhysRange; MAX_RANGES],
    len: usize,
    /// Entries that did not fit.
    pub dropped: usize,
}

impl Ranges {
    pub const fn new() -> Self {
        Ranges { items: [PhysRange::new(0, 0); MAX_RANGES], len: 0, dropped: 0 }
    }

    pub fn push(&mut self, r: PhysRange) {
        if r.is_empty() {
            return;
        }
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = r;
                self.len += 1;
            }
            None => self.dropped += 1,
        }
    }

    pub fn as_slice(&self) -> &[PhysRange] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// Sort by start and merge overlapping or touching ranges.
    pub fn normalize(&mut self) {
        let n = self.len;
        let items = &mut self.items[..n];
        items.sort_unstable_by_key(|r| r.start.0);
        let mut out = 0;
        for i in 0..n {
            let r = items[i];
            if out > 0 && items[out - 1].end.0 >= r.start.0 {
                items[out - 1].end.0 = items[out - 1].end.0.max(r.end.0);
            } else {
                items[out] = r;
                out += 1;
            }
        }
        self.len = out;
    }
}

/// A device found in the tree.
#[derive(Clone, Copy, Debug, Default)]
pub struct Device {
    pub base: u64,
    pub size: u64,
}

/// What the hal needs from the device tree.
pub struct Platform<'a> {
    pub ram: Ranges,
    pub reserved: Ranges,
    pub initrd: Option<PhysRange>,
    pub bootargs: &'a str,
    pub timebase_hz: u64,
    pub uart: Option<Device>,
    pub uart_reg_shift: u32,
    pub plic: Option<Device>,
    pub plic_ndev: u32,
    /// PLIC context of this hart's S-mode external interrupt.
    pub plic_context: u64,
    pub test_device: Option<Device>,
}

fn first_reg(node: FdtNode<'_, '_>) -> Option<Device> {
    let r = node.reg()?.next()?;
    Some(Device { base: r.starting_address as u64, size: r.size.unwrap_or(0) as u64 })
}

fn u32_prop(node: FdtNode<'_, '_>, name: &str) -> Option<u64> {
    node.property(name)?.as_usize().map(|v| v as u64)
}

fn be32(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// Read the tree (the blob at physical `dtb_pa`) as seen by `hartid`.
pub fn parse<'a>(fdt: &Fdt<'a>, dtb_pa: u64, hartid: u64) -> Platform<'a> {
    let mut p = Platform {
        ram: Ranges::new(),
        reserved: Ranges::new(),
        initrd: None,
        bootargs: "",
        timebase_hz: 0,
        uart: None,
        uart_reg_shift: 0,
        plic: None,
        plic_ndev: 0,
        plic_context: 2 * hartid + 1,
        test_device: None,
    };

    // RAM: every /memory@... node (device_type = "memory").
    for node in fdt.find_all_nodes("/memory") {
        if let Some(regs) = node.reg() {
            for r in regs {
                let start = r.starting_address as u64;
                p.ram.push(PhysRange::new(start, start.saturating_add(r.size.unwrap_or(0) as u64)));
            }
        }
    }
    p.ram.normalize();

    // Reserved: /reserved-memory children, the header's reservation block,
    // and the blob itself.
    if let Some(rm) = fdt.find_node("/reserved-memory") {
        for child in rm.children() {
            if let Some(regs) = child.reg() {
                for r in regs {
                    let start = r.starting_address as u64;
                    p.reserved.push(PhysRange::new(
                        start,
                        start.saturating_add(r.size.unwrap_or(0) as u64),
                    ));
                }
            }
        }
    }
    for r in fdt.memory_reservations() {
        let start = r.address() as u64;
        p.reserved.push(PhysRange::new(start, start.saturating_add(r.size() as u64)));
    }
    p.reserved.push(PhysRange::new(dtb_pa, dtb_pa + fdt.total_size() as u64));
    // Whole pages: what shares a page with a reserved range is reserved too.
    for r in p.reserved.items.iter_mut().take(p.reserved.len) {
        *r =
            PhysRange::new(r.start.0 & !(PAGE - 1), r.end.0.saturating_add(PAGE - 1) & !(PAGE - 1));
    }
    p.reserved.normalize();

    // /chosen: initrd and command line.
    if let Some(chosen) = fdt.find_node("/chosen") {
        let start = u32_prop(chosen, "linux,initrd-start");
        let end = u32_prop(chosen, "linux,initrd-end");
        if let (Some(s), Some(e)) = (start, end)
            && e > s
        {
            p.initrd = Some(PhysRange::new(s, e));
        }
        p.bootargs = chosen.property("bootargs").and_then(|b| b.as_str()).unwrap_or("");
    }

    // Timebase: on /cpus, or on the cpu nodes.
    if let Some(cpus) = fdt.find_node("/cpus") {
        p.timebase_hz = u32_prop(cpus, "timebase-frequency")
            .or_else(|| cpus.children().find_map(|c| u32_prop(c, "timebase-frequency")))
            .unwrap_or(0);
    }

    if let Some(uart) = fdt.find_compatible(&["ns16550a", "ns16550"]) {
        p.uart = first_reg(uart);
        p.uart_reg_shift = u32_prop(uart, "reg-shift").unwrap_or(0) as u32;
    }
    if let Some(test) = fdt.find_compatible(&["sifive,test0", "sifive,test1"]) {
        p.test_device = first_reg(test);
    }
    if let Some(plic) = fdt.find_compatible(&["riscv,plic0", "sifive,plic-1.0.0"]) {
        p.plic = first_reg(plic);
        p.plic_ndev = u32_prop(plic, "riscv,ndev").unwrap_or(0).min(1023) as u32;
        if let Some(ctx) = plic_context(fdt, plic, hartid) {
            p.plic_context = ctx;
        }
    }
    p
}

/// The PLIC context wired to `hartid`'s S-mode external interrupt (9): the
/// index of the `(phandle, 9)` pair in the PLIC's `interrupts-extended`
/// whose phandle is the hart's local interrupt controller.
fn plic_context(fdt: &Fdt<'_>, plic: FdtNode<'_, '_>, hartid: u64) -> Option<u64> {
    let cpus = fdt.find_node("/cpus")?;
    let cpu = cpus
        .children()
        .find(|c| c.name.split('@').next() == Some("cpu") && u32_prop(*c, "reg") == Some(hartid))?;
    let intc = cpu.children().find(|c| c.property("interrupt-controller").is_some())?;
    let phandle = be32(intc.property("phandle")?.value)?;
    let ext = plic.property("interrupts-extended")?.value;
    ext.chunks_exact(8)
        .position(|pair| be32(&pair[..4]) == Some(phandle) && be32(&pair[4..]) == Some(9))
        .map(|i| i as u64)
}
