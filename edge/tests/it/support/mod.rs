//! The test harness: a whole Parley system per test, tokens, and a Socket.IO client.

pub mod acks;
pub mod calls;
pub mod client;
pub mod control;
pub mod isolation;
pub mod media;
pub mod processes;
pub mod scratch;
pub mod stack;
pub mod suite;
pub mod supervised;
pub mod system;
pub mod tokens;
pub mod turn;

pub use client::SioClient;
pub use system::TestSystem;

/// Held by the tests that load the machine (a flood of messages) or start processes of their
/// own, so that they do not run at the same time and starve each other on a 2-core CI.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
}
