//! How large a process's container and keeper are. Pure: tested on the
//! host.

use libipc::start::{CNODE_RADIX, layout};

/// Page-table pages a process's image, IPC buffer and start info can need
/// at most (x86_64: a PDPT, and a PD and PT per area, with room to spare).
const TABLES: u64 = 12;

/// The keeper CNode's radix for an image of `image_pages` pages: a slot
/// per image page, page table, IPC buffer and start-info page, and a few
/// more.
pub fn keeper_radix(image_pages: u64) -> u8 {
    let slots = image_pages + TABLES + 1 + layout::START_INFO_SIZE / layout::PAGE + 8;
    (slots.next_power_of_two().trailing_zeros() as u8).max(4)
}

/// log2 of the container for an image of `image_pages` pages: the CNode,
/// the keeper, VSpace, thread, notification, image, page tables, IPC
/// buffer and start info, rounded up to a power of two with a quarter to
/// spare for alignment.
pub fn container_bits(image_pages: u64) -> u8 {
    let page = layout::PAGE;
    let cnode = 1u64 << (CNODE_RADIX + 6);
    let keeper = 1u64 << (keeper_radix(image_pages) + 6);
    let pages = image_pages + TABLES + 1 + layout::START_INFO_SIZE / page + 2;
    let bytes = cnode + keeper + pages * page;
    let with_slack = bytes + bytes / 4;
    with_slack.next_power_of_two().trailing_zeros() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        // A small program: 16 KiB CNode + keeper of 64 slots + ~36 pages.
        assert_eq!(keeper_radix(10), 6);
        assert_eq!(container_bits(10), 18);
        // Radix grows with the image; never below 16 slots.
        assert_eq!(keeper_radix(0), 5);
        assert_eq!(keeper_radix(200), 8);
        assert!(container_bits(200) >= 20);
        // Enough for everything, always.
        for pages in [0u64, 1, 7, 50, 100, 1000] {
            let need = (1u64 << (CNODE_RADIX + 6))
                + (1u64 << (keeper_radix(pages) + 6))
                + (pages + TABLES + 7) * layout::PAGE;
            assert!(1u64 << container_bits(pages) >= need, "{pages} pages");
            assert!(1u64 << keeper_radix(pages) >= pages + TABLES + 5);
        }
    }
}
