//! The test harness: a whole Parley system per test, tokens, and a Socket.IO client.

pub mod acks;
pub mod client;
pub mod processes;
pub mod system;
pub mod tokens;

pub use client::SioClient;
pub use system::TestSystem;
