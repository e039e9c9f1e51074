//! Compiles the v1 contracts with protox (pure Rust, so no system `protoc` is needed) and writes
//! one encoded descriptor set per service for gRPC server reflection, so that each service
//! lists only its own API.

use std::{env, fs, path::PathBuf};

use prost::Message;

/// Each contract and the name of its descriptor set.
const PROTOS: &[(&str, &str)] = &[
    ("chat/v1/chat.proto", "chat_descriptor"),
    ("presence/v1/presence.proto", "presence_descriptor"),
    ("friends/v1/friends.proto", "friends_descriptor"),
    ("media/v1/media.proto", "media_descriptor"),
    ("calls/v1/calls.proto", "calls_descriptor"),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    for (proto, descriptor) in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
        let own = protox::compile([proto], [&root])?;
        fs::write(
            out_dir.join(format!("{descriptor}.bin")),
            own.encode_to_vec(),
        )?;
    }

    let descriptors = protox::compile(PROTOS.iter().map(|(proto, _)| proto), [&root])?;
    tonic_prost_build::configure()
        // Operations that a later version implements answer UNIMPLEMENTED instead of failing
        // the build of every service while the contract grows ahead of them.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
