//! Tells dependants (the kernel) where the linker scripts live, and rebuilds
//! when they change. Each arch keeps its `kernel.ld` next to its boot code.
fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let script = dir.join(&arch).join("kernel.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    // Read by microkernel/build.rs as DEP_RINT_HAL_LINKER_SCRIPT.
    println!("cargo:linker_script={}", script.display());
}
