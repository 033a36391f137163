//! Hand-made ELF files, each valid but for the one field a test breaks.

use super::*;
use std::vec::Vec;

const EHDR: usize = 64;
const PHDR: usize = 56;

/// A program header.
#[derive(Clone, Copy)]
struct Ph {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

const fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph { ty: PT_LOAD, flags, offset, vaddr, filesz, memsz, align: 0x1000 }
}

/// The default program: code at 0x20_0000 (R+X), data at 0x20_1000
/// (R+W, with bss), entry at the code's start.
fn phdrs() -> Vec<Ph> {
    std::vec![
        load(PF_R | PF_X, 0x1000, 0x20_0000, 0x100, 0x100),
        load(PF_R | PF_W, 0x2000, 0x20_1000, 0x10, 0x3000),
    ]
}

struct File {
    machine: u16,
    ty: u16,
    entry: u64,
    ph: Vec<Ph>,
}

impl File {
    fn new() -> File {
        File { machine: EM_X86_64, ty: ET_EXEC, entry: 0x20_0000, ph: phdrs() }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut b = std::vec![0u8; 0x3000];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // ELFCLASS64
        b[5] = 1; // little-endian
        b[6] = 1; // EV_CURRENT
        b[16..18].copy_from_slice(&self.ty.to_le_bytes());
        b[18..20].copy_from_slice(&self.machine.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[24..32].copy_from_slice(&self.entry.to_le_bytes());
        b[32..40].copy_from_slice(&(EHDR as u64).to_le_bytes()); // e_phoff
        b[52..54].copy_from_slice(&(EHDR as u16).to_le_bytes());
        b[54..56].copy_from_slice(&(PHDR as u16).to_le_bytes());
        b[56..58].copy_from_slice(&(self.ph.len() as u16).to_le_bytes());
        for (i, p) in self.ph.iter().enumerate() {
            let o = EHDR + i * PHDR;
            b[o..o + 4].copy_from_slice(&p.ty.to_le_bytes());
            b[o + 4..o + 8].copy_from_slice(&p.flags.to_le_bytes());
            b[o + 8..o + 16].copy_from_slice(&p.offset.to_le_bytes());
            b[o + 16..o + 24].copy_from_slice(&p.vaddr.to_le_bytes());
            b[o + 24..o + 32].copy_from_slice(&p.vaddr.to_le_bytes());
            b[o + 32..o + 40].copy_from_slice(&p.filesz.to_le_bytes());
            b[o + 40..o + 48].copy_from_slice(&p.memsz.to_le_bytes());
            b[o + 48..o + 56].copy_from_slice(&p.align.to_le_bytes());
        }
        b
    }
}

fn policy() -> Policy<'static> {
    Policy::server(Machine::X86_64)
}

fn check_file(f: &File) -> Result<Image, ElfError> {
    check(&f.bytes(), &policy())
}

fn with_ph(edit: impl FnOnce(&mut Vec<Ph>)) -> Result<Image, ElfError> {
    let mut f = File::new();
    edit(&mut f.ph);
    check_file(&f)
}

#[test]
fn a_good_file() {
    let f = File::new();
    let img = check_file(&f).unwrap();
    assert_eq!(img.entry, 0x20_0000);
    assert_eq!(img.segments().len(), 2);
    let code = img.segments()[0];
    assert_eq!(code.perm, Perm { read: true, write: false, exec: true });
    assert_eq!(code.bytes(&f.bytes()).len(), 0x100);
    assert_eq!(img.extent(), Range::new(0x20_0000, 0x20_4000));
    assert_eq!(img.pages(), 4);
    assert_eq!(img.tls, None);
}

#[test]
fn header_fields() {
    let mut b = File::new().bytes();
    b[4] = 1;
    assert_eq!(check(&b, &policy()), Err(ElfError::Parse), "32-bit header is too short");
    let mut b = File::new().bytes();
    b[5] = 2;
    assert!(check(&b, &policy()).is_err(), "big-endian");
    let mut b = File::new().bytes();
    b[6] = 0;
    assert!(check(&b, &policy()).is_err());
    let mut b = File::new().bytes();
    b[7] = 9;
    assert_eq!(check(&b, &policy()), Err(ElfError::BadOsAbi(9)));
    let mut b = File::new().bytes();
    b[0] = b'X';
    assert_eq!(check(&b, &policy()), Err(ElfError::Parse));
    let mut b = File::new().bytes();
    b[20] = 2;
    assert_eq!(check(&b, &policy()), Err(ElfError::BadVersion(2)));
    let mut b = File::new().bytes();
    b[52] = 63;
    assert_eq!(check(&b, &policy()), Err(ElfError::BadHeaderSize(63)));
    let mut b = File::new().bytes();
    b[54] = 57;
    assert!(check(&b, &policy()).is_err(), "phentsize");

    let f = File { ty: 3, ..File::new() };
    assert_eq!(check_file(&f), Err(ElfError::NotExecutable(3)), "ET_DYN (PIE) refused");
    let f = File { machine: EM_RISCV, ..File::new() };
    assert_eq!(
        check_file(&f),
        Err(ElfError::WrongMachine { found: EM_RISCV, expected: EM_X86_64 })
    );
    let f = File { machine: EM_RISCV, ..File::new() };
    assert!(check(&f.bytes(), &Policy::server(Machine::Riscv64)).is_ok());
}

#[test]
fn program_header_count() {
    assert_eq!(with_ph(|p| p.clear()), Err(ElfError::BadPhnum(0)));
    let many = || load(PF_R, 0, 0, 0, 0);
    assert!(matches!(with_ph(|p| p.resize(65, many())), Err(ElfError::BadPhnum(65))));
    // A table running past the end of the file.
    let mut f = File::new();
    f.ph.resize(40, many());
    let mut b = f.bytes();
    b.truncate(EHDR + 10 * PHDR);
    assert_eq!(check(&b, &policy()), Err(ElfError::Parse));
}

#[test]
fn dynamic_and_stack() {
    let interp =
        Ph { ty: PT_INTERP, flags: PF_R, offset: 0, vaddr: 0, filesz: 1, memsz: 1, align: 1 };
    assert_eq!(with_ph(|p| p.push(interp)), Err(ElfError::Dynamic));
    let dynamic = Ph { ty: PT_DYNAMIC, ..interp };
    assert_eq!(with_ph(|p| p.push(dynamic)), Err(ElfError::Dynamic));
    let stack = Ph {
        ty: PT_GNU_STACK,
        flags: PF_R | PF_W,
        offset: 0,
        vaddr: 0,
        filesz: 0,
        memsz: 0,
        align: 16,
    };
    assert!(with_ph(|p| p.push(stack)).is_ok());
    let xstack = Ph { flags: PF_R | PF_W | PF_X, ..stack };
    assert_eq!(with_ph(|p| p.push(xstack)), Err(ElfError::ExecutableStack));
}

#[test]
fn segments() {
    let note = Ph { ty: 4, flags: PF_R, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 4 };
    assert_eq!(with_ph(|p| *p = std::vec![note]), Err(ElfError::NoSegments));
    assert_eq!(with_ph(|p| p[1].align = 3), Err(ElfError::BadAlignment { index: 1 }));
    assert_eq!(with_ph(|p| p[1].offset = 0x2008), Err(ElfError::BadAlignment { index: 1 }));
    assert!(with_ph(|p| p[1].align = 0).is_ok(), "no alignment asked");
    assert_eq!(with_ph(|p| p[1].filesz = 0x4000), Err(ElfError::FileLargerThanMemory { index: 1 }));
    assert_eq!(with_ph(|p| p[1].filesz = 0x1001), Err(ElfError::OutsideFile { index: 1 }));
    assert_eq!(
        with_ph(|p| p[1].offset = u64::MAX - 0xfff),
        Err(ElfError::OutsideFile { index: 1 }),
        "offset + filesz wraps"
    );
    assert_eq!(
        with_ph(|p| {
            p[1].offset = 0;
            p[1].align = 0;
            p[1].filesz = u64::MAX;
            p[1].memsz = u64::MAX;
        }),
        Err(ElfError::OutsideFile { index: 1 })
    );
    assert_eq!(
        with_ph(|p| {
            p[1].vaddr = u64::MAX - 0xfff;
            p[1].offset = 0x2000;
            p[1].align = 0;
        }),
        Err(ElfError::Wraps { index: 1 })
    );
    assert_eq!(
        with_ph(|p| p[1].flags = PF_R | PF_W | PF_X),
        Err(ElfError::WriteAndExecute { index: 1 })
    );
    // Sharing a page with the code, or lying on it.
    assert_eq!(with_ph(|p| p[1].vaddr = 0x20_0800), Err(ElfError::BadAlignment { index: 1 }));
    assert_eq!(
        with_ph(|p| {
            p[1].vaddr = 0x20_0000;
            p[1].align = 0;
        }),
        Err(ElfError::Overlap { index: 1, vaddr: 0x20_0000 })
    );
    // Empty segments map nothing and are skipped.
    assert!(with_ph(|p| p.push(load(PF_R | PF_W | PF_X, 0, 0, 0, 0))).is_ok());
    let many = |i: u64| load(PF_R, 0, 0x40_0000 + i * 0x1000, 0, 8);
    assert_eq!(with_ph(|p| (0..15).for_each(|i| p.push(many(i)))), Err(ElfError::TooManySegments));
}

#[test]
fn address_ranges() {
    // Page 0.
    assert_eq!(
        with_ph(|p| {
            p[1].vaddr = 0;
            p[1].offset = 0;
        }),
        Err(ElfError::OutsideRange { index: 1, vaddr: 0 })
    );
    // The kernel half (x86_64: from 2^47).
    let high = 0x0000_8000_0000_0000 - 0x1000;
    assert_eq!(
        with_ph(|p| p[1].vaddr = high),
        Err(ElfError::OutsideRange { index: 1, vaddr: high })
    );
    // Past the riscv64 user half, fine on x86_64.
    let rv_high = 0x40_0000_0000;
    let mut f = File::new();
    f.ph[1].vaddr = rv_high;
    assert!(check(&f.bytes(), &policy()).is_ok());
    f.machine = EM_RISCV;
    assert!(matches!(
        check(&f.bytes(), &Policy::server(Machine::Riscv64)),
        Err(ElfError::OutsideRange { .. })
    ));
    // The runtime's areas: IPC buffer, stack, heap, files.
    for va in [0x1_0000_0000u64, 0x1_00ff_f000, 0x1_1000_0000, 0x3_ffff_f000] {
        assert_eq!(
            with_ph(|p| p[1].vaddr = va),
            Err(ElfError::Forbidden { index: 1, vaddr: va }),
            "{va:#x}"
        );
    }
    // Ending exactly where the runtime's areas start is fine.
    assert!(with_ph(|p| p[1].vaddr = 0x1_0000_0000 - 0x3000).is_ok());
    assert!(with_ph(|p| p[1].vaddr = 0x1_0000_0000 - 0x2000).is_err());
    // A custom policy (a Linux program's) with its own forbidden range.
    let forbidden = [Range::new(0x20_1000, 0x20_2000)];
    let pol = Policy { forbidden: &forbidden, ..policy() };
    assert!(matches!(check(&File::new().bytes(), &pol), Err(ElfError::Forbidden { .. })));
}

#[test]
fn entry_point() {
    let f = File { entry: 0x20_1000, ..File::new() };
    assert_eq!(check_file(&f), Err(ElfError::BadEntry(0x20_1000)), "entry in data");
    let f = File { entry: 0x20_0100, ..File::new() };
    assert_eq!(check_file(&f), Err(ElfError::BadEntry(0x20_0100)), "just past the code");
    let f = File { entry: 0x20_00ff, ..File::new() };
    assert!(check_file(&f).is_ok());
}

#[test]
fn tls() {
    let t = Ph {
        ty: PT_TLS,
        flags: PF_R,
        offset: 0x2000,
        vaddr: 0x20_1000,
        filesz: 8,
        memsz: 64,
        align: 8,
    };
    let img = with_ph(|p| p.push(t)).unwrap();
    assert_eq!(img.tls, Some(Tls { vaddr: 0x20_1000, filesz: 8, memsz: 64, align: 8 }));
    assert_eq!(with_ph(|p| p.push(Ph { vaddr: 0x30_0000, ..t })), Err(ElfError::BadTls));
    assert_eq!(with_ph(|p| p.push(Ph { filesz: 65, ..t })), Err(ElfError::BadTls));
    // `.tbss` only (as lld links musl programs): no bytes to load, anywhere.
    let bss_only = Ph { vaddr: 0x30_0000, filesz: 0, ..t };
    assert!(with_ph(|p| p.push(bss_only)).unwrap().tls.is_some());
}

/// Random corruption of a good file: an error or an image, never a panic.
#[test]
fn fuzz_never_panics() {
    let good = File::new().bytes();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..20_000 {
        let mut b = good.clone();
        for _ in 0..(next() % 8 + 1) {
            let i = (next() % (EHDR as u64 + 2 * PHDR as u64)) as usize;
            b[i] = next() as u8;
        }
        let len = if next() % 4 == 0 { (next() % b.len() as u64) as usize } else { b.len() };
        if let Ok(img) = check(&b[..len], &policy()) {
            for s in img.segments() {
                assert!(s.filesz <= s.memsz && !(s.perm.write && s.perm.exec));
                assert_eq!(s.bytes(&b[..len]).len() as u64, s.filesz);
            }
        }
    }
}

/// The system test's corrupt program (`images/files/corrupt.elf`, which the
/// process server is asked to spawn): a valid header whose program-header
/// table runs past the end of the file. Refused the same way on both
/// machines.
#[test]
fn the_system_tests_corrupt_file() {
    let file = include_bytes!("../../../../images/files/corrupt.elf");
    for m in [Machine::X86_64, Machine::Riscv64] {
        assert_eq!(check(file, &Policy::server(m)).err(), Some(ElfError::Parse), "{m:?}");
    }
}
