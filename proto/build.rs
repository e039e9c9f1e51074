//! Compiles the v1 contracts with protox (pure Rust, so no system `protoc` is needed) and writes
//! one encoded descriptor set for gRPC server reflection.

use std::{env, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "chat/v1/chat.proto",
    "presence/v1/presence.proto",
    "friends/v1/friends.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }

    let descriptors = protox::compile(PROTOS, [&root])?;
    fs::write(
        out_dir.join("parley_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        // Operations that a later version implements answer UNIMPLEMENTED instead of failing
        // the build of every service while the contract grows ahead of them.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
