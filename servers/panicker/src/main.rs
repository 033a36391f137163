//! panicker: the supervision test's server. In its first two generations
//! it panics (the runtime reports exit code 101 and the message to init);
//! in the third it returns exit code 3. Its manifest entry says
//! `restart = { max = 2 }`, so init restarts it twice and then leaves it
//! stopped.

#![cfg_attr(target_os = "none", no_std)]
#![cfg_attr(target_os = "none", no_main)]
#![forbid(unsafe_code)]

#[cfg(target_os = "none")]
mod server {
    rt::server!(main);

    fn main(start: &'static rt::Start) -> i32 {
        let g = start.generation();
        rt::println!("generation {g}, pid {}", start.pid());
        if g < 2 {
            panic!("deliberate panic in generation {g}");
        }
        3
    }
}

#[cfg(not(target_os = "none"))]
fn main() {}
