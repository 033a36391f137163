//! The hart: interrupt enable, idling, counters and stopping the machine.
//!
//! `Cpu::cycles` reads the `cycle` CSR (`rdcycle`). S-mode may read it
//! because OpenSBI sets `mcounteren.CY` (together with TM and IR) for the
//! next stage; QEMU (TCG) backs it with the host's cycle counter. `time`
//! (`rdtime`, 10 MHz on virt) is what the timer uses.
//!
//! `Cpu::exit` writes the SiFive test device (QEMU virt's `sifive,test0`,
//! found in the device tree): 0x5555 ends QEMU with status 0,
//! `(code << 16) | 0x3333` with status `code`. Without that device it asks
//! the firmware for a system reset (SBI SRST), and halts if even that
//! returns.
//!
//! `Cpu::enter_user` is implemented in [`trap`] (it shares the frame layout
//! and the return path). RISC-V has no I/O ports: `PortIo` always fails.

use super::{Arch, phys_to_virt, sbi, trap};
use crate::api::{Cpu, ExitCode, PortIo};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};
use riscv::register::sstatus;

/// Direct-map address of the test/poweroff device; 0 if there is none.
static TEST_DEVICE: AtomicU64 = AtomicU64::new(0);

const TEST_PASS: u32 = 0x5555;
const TEST_FAIL: u32 = 0x3333;

/// Record the test device's physical address (from the device tree).
pub(crate) fn set_test_device(pa: u64) {
    TEST_DEVICE.store(phys_to_virt(pa), Ordering::Relaxed);
}

impl Cpu for Arch {
    fn id() -> usize {
        // Only the boot hart runs; it is CPU 0 whatever its hart id.
        0
    }

    fn wait_for_interrupt() {
        let were_enabled = Self::interrupts_enabled();
        // `wfi` wakes on any interrupt pending and enabled in `sie`, even
        // with sstatus.SIE clear. Sleeping with SIE clear and enabling it
        // afterwards cannot miss a wake-up that arrives between the two.
        Self::disable_interrupts();
        // SAFETY: `wfi` only stalls the hart until an interrupt is pending;
        // it touches no memory and no registers.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
        // Take the pending interrupt here.
        Self::enable_interrupts();
        if !were_enabled {
            Self::disable_interrupts();
        }
    }

    fn enable_interrupts() {
        // SAFETY: setting sstatus.SIE lets the enabled interrupt sources
        // trap; the trap vector is installed by the boot code before the
        // kernel runs, so every trap is handled.
        unsafe { sstatus::set_sie() };
    }

    fn disable_interrupts() {
        // SAFETY: clearing sstatus.SIE only holds interrupts off.
        unsafe { sstatus::clear_sie() };
    }

    fn interrupts_enabled() -> bool {
        sstatus::read().sie()
    }

    fn cycles() -> u64 {
        let c: u64;
        // SAFETY: reading the cycle counter has no side effects; OpenSBI
        // enables it for S-mode (see the module docs).
        unsafe { asm!("rdcycle {}", out(reg) c, options(nomem, nostack, preserves_flags)) };
        c
    }

    fn exit(code: ExitCode) -> ! {
        Self::disable_interrupts();
        let dev = TEST_DEVICE.load(Ordering::Relaxed);
        if dev != 0 {
            let value = match code {
                ExitCode::Success => TEST_PASS,
                ExitCode::Failure => (1 << 16) | TEST_FAIL,
            };
            // SAFETY: `dev` is the direct-map address of the SiFive test
            // device from the device tree, mapped as device memory in the
            // boot table and the kernel's table (BootInfo::mmio). Writing its
            // first register ends the machine.
            unsafe { core::ptr::write_volatile(dev as *mut u32, value) };
        }
        sbi::system_shutdown(code == ExitCode::Failure);
        loop {
            // SAFETY: as in `wait_for_interrupt`; interrupts are off, so this
            // halts the hart for good.
            unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
        }
    }

    fn illegal_instruction() {
        // SAFETY: `unimp` raises an illegal-instruction exception, which the
        // trap handler reports; no state of ours changes before it.
        unsafe { asm!("unimp", options(nomem, nostack)) };
    }

    fn enter_user(frame: &crate::TrapFrame) -> ! {
        trap::enter_user(frame)
    }
}

impl PortIo for Arch {
    const HAS_PORTS: bool = false;

    fn port_in(_port: u16, _width: u8) -> Option<u32> {
        None
    }

    fn port_out(_port: u16, _width: u8, _value: u32) -> bool {
        false
    }
}
