//! `calls-svc`: one-to-one voice and video calls between the two members of a DM room
//! (docs/API.md "/calls"). It owns the Postgres schema `calls`, every call's state and every
//! deadline; media flows peer to peer, and this service carries the signaling.
//!
//! Other services and tests start it in-process as `main` does:
//!
//! ```no_run
//! # async fn start() -> anyhow::Result<()> {
//! use clap::Parser as _;
//! let config = parley_calls_svc::config::Config::try_parse_from([
//!     "calls-svc", "--listen-addr", "127.0.0.1:0", "--metrics-addr", "",
//!     "--chat-url", "http://127.0.0.1:50053", "--friends-url", "http://127.0.0.1:50051",
//! ])?;
//! let app = parley_calls_svc::startup::Application::build(&config).await?;
//! let addr = app.local_addr()?;
//! tokio::spawn(app.run_until_stopped(std::future::pending::<()>()));
//! # let _ = addr; Ok(()) }
//! ```

mod blocks;
pub mod config;
pub mod domain;
pub mod error;
mod events;
mod grpc;
mod repo;
pub mod service;
pub mod startup;
pub mod sweeper;
pub mod turn;

/// The Postgres schema this service owns, its migrations table included.
pub const SCHEMA: &str = "calls";
