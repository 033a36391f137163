//! Links the kernel with the linker script of the arch being built; the hal
//! owns the memory layout and says where its script is (`links = "rint-hal"`).
fn main() {
    match std::env::var("DEP_RINT_HAL_LINKER_SCRIPT") {
        Ok(script) => {
            println!("cargo:rustc-link-arg-bins=-T{script}");
            println!("cargo:rerun-if-changed={script}");
        }
        Err(_) => println!("cargo:warning=rint-hal did not report a linker script"),
    }
    println!("cargo:rerun-if-env-changed=DEP_RINT_HAL_LINKER_SCRIPT");
}
