//! init: the root task of the default image.
//!
//! Today it reports what the kernel handed it (memory as untyped, the boot
//! archive and its programs) and checks that the archive it sees matches the
//! one the kernel listed. Starting the image's servers from the manifest,
//! the name service and supervision come with the user-space system.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod root {
    use libipc::abi::BootInfo;
    use libipc::bootarchive::BootArchive;

    rt::entry!(main);

    fn main(boot: &'static BootInfo) {
        let count = (boot.untyped.end - boot.untyped.start) as usize;
        let list = boot.untyped_list.get(..count).unwrap_or(&[]);
        let ram: u64 = list.iter().filter(|u| u.is_device == 0).map(|u| 1u64 << u.size_bits).sum();
        let device = list.iter().filter(|u| u.is_device != 0).count();
        rt::println!(
            "init: running as the root task; {} untyped caps ({} MiB of RAM, {} device regions), {} free slots",
            count,
            ram >> 20,
            device,
            boot.empty.end - boot.empty.start
        );
        match BootArchive::parse(rt::boot_archive(boot)) {
            Ok(a) => {
                rt::println!(
                    "init: boot archive at {:#x}, {} entries:",
                    boot.archive_vaddr,
                    a.len()
                );
                for e in a.entries() {
                    rt::println!("init:   {:<24} {:>9} bytes  {}", e.name, e.data.len(), e.kind.name());
                }
            }
            Err(e) => rt::println!("init: the boot archive does not parse: {}", e),
        }
        rt::println!("init: nothing more to start yet (servers come with the user-space system)");
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
