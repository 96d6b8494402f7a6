// The standard under `schemas/` is embedded with include_dir, which cannot tell cargo
// what it read; this makes a schema edit rebuild the crate.
fn main() {
    println!("cargo:rerun-if-changed=../../schemas");
}
