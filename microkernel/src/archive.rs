//! The boot archive handed over by the loader (format: `libipc::bootarchive`,
//! `docs/boot-archive.md`). The kernel checks it, lists it and keeps its
//! frames away from the frame allocator; init (issue 3 on) receives them.

use crate::{kprintln, mem};
use elf::ElfBytes;
use elf::endian::AnyEndian;
use hal::BootInfo;
use libipc::bootarchive::{BootArchive, EntryKind};

/// The checked archive, if the loader passed a valid one.
pub fn load(info: &'static BootInfo) -> Option<BootArchive<'static>> {
    let Some(range) = info.boot_archive else {
        kprintln!("archive: none (boot without -initrd)");
        return None;
    };
    let blob = mem::boot_phys_slice(range);
    match BootArchive::parse(blob) {
        Ok(a) => Some(a),
        Err(e) => {
            kprintln!("archive: rejected the {} bytes at {:#x}: {}", range.len(), range.start.0, e);
            None
        }
    }
}

/// The archive's kernel command line entry.
pub fn cmdline(a: &BootArchive<'static>) -> Option<&'static str> {
    let e = a.entries().find(|e| e.kind == EntryKind::Cmdline)?;
    core::str::from_utf8(e.data).ok()
}

pub fn print_entries(a: &BootArchive<'static>) {
    kprintln!("archive: {} entries, {} KiB", a.len(), a.size() >> 10);
    for e in a.entries() {
        kprint_entry(&e);
    }
}

fn kprint_entry(e: &libipc::bootarchive::Entry<'static>) {
    match e.kind {
        EntryKind::Program => match ElfBytes::<AnyEndian>::minimal_parse(e.data) {
            Ok(elf) => kprintln!(
                "  {:<24} {:>9} bytes  program  ELF {} entry {:#x}",
                e.name,
                e.data.len(),
                machine_name(elf.ehdr.e_machine),
                elf.ehdr.e_entry
            ),
            Err(err) => kprintln!(
                "  {:<24} {:>9} bytes  program  NOT A VALID ELF: {}",
                e.name,
                e.data.len(),
                err
            ),
        },
        kind => kprintln!("  {:<24} {:>9} bytes  {}", e.name, e.data.len(), kind.name()),
    }
}

fn machine_name(m: u16) -> &'static str {
    match m {
        elf::abi::EM_X86_64 => "x86_64",
        elf::abi::EM_RISCV => "riscv64",
        _ => "other-machine",
    }
}
