//! Builds kv's float helpers (`csrc/redis_float.c`): Redis's own C library
//! calls for long double arithmetic, which Rust cannot express.
fn main() {
    println!("cargo:rerun-if-changed=csrc/redis_float.c");
    cc::Build::new()
        .file("csrc/redis_float.c")
        .warnings(true)
        .compile("redis_float");
}
